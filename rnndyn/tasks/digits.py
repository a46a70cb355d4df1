"""Pixel-by-pixel digits: scikit-learn's bundled 8×8 digits read one pixel per step (64 steps).

A small, offline stand-in for sequential MNIST (784 steps). Input ``(N, 64, 1)``: pixel
intensity / 16 in ``[0, 1]``, row-major; ``digits_perm`` applies one fixed permutation of the 64
pixel positions (drawn from ``perm_seed``, the same for every data seed), like permuted MNIST.
The 1797 images are shuffled by the data seed and split train / val / test (defaults 1197/300/300).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar

import numpy as np

from rnndyn.errors import UsageError
from rnndyn.tasks.base import SIZE_KEYS, BaseTask, TaskData, TaskSpec

N_IMAGES = 1797


@cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64)


class DigitsTask(BaseTask):
    """8×8 digits as a 64-step sequence in row-major pixel order."""

    PARAMS: ClassVar[Mapping[str, object]] = {}
    permute = False

    def make_spec(self) -> TaskSpec:
        what = "a fixed permutation of the pixels" if self.permute else "row-major pixel order"
        return TaskSpec(
            name=self.name,
            kind="classification",
            description=f"scikit-learn 8x8 digits, one pixel per step ({what}), 10 classes",
            input_size=1,
            output_size=10,
            seq_len=64,
            readout="last",
            loss="ce",
            metric="accuracy",
            higher_is_better=True,
            baseline=0.1,
            defaults={
                "hidden": 64,
                "epochs": 40,
                "lr": 5e-3,
                "batch_size": 64,
                "n_train": 1197,
                "n_val": 300,
                "n_test": 300,
                "patience": 8,
                "min_delta": 1e-3,
                "clip": 1.0,
            },
            params=self.plain_params(),
        )

    def generate(self, seed: int, **overrides: Any) -> TaskData:
        """The 1797 images shuffled by ``seed``; sizes may be lowered (their sum ≤ 1797)."""
        if int(seed) < 0:
            raise UsageError(f"seed {seed} must be non-negative")
        sizes = self.sizes(overrides)
        if sum(sizes.values()) > N_IMAGES:
            raise UsageError(
                f"task {self.name!r}: n_train + n_val + n_test = {sum(sizes.values())} "
                f"exceeds the {N_IMAGES} bundled images"
            )
        x, y = _digits()
        if self.permute:
            x = x[:, np.random.default_rng(self.params["perm_seed"]).permutation(64)]
        order = np.random.default_rng(np.random.SeedSequence(int(seed))).permutation(N_IMAGES)
        out, start = [], 0
        for key in SIZE_KEYS:
            idx = order[start : start + sizes[key]]
            start += sizes[key]
            out += self._tensors(x[idx][..., None], y[idx])
        return TaskData(*out)

    @staticmethod
    def _tensors(x: np.ndarray, y: np.ndarray) -> list[Any]:
        import torch

        return [torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.copy())]


class PermutedDigitsTask(DigitsTask):
    """8×8 digits with one fixed, seeded permutation of the 64 pixel positions."""

    PARAMS: ClassVar[Mapping[str, object]] = {"perm_seed": 0}
    permute = True

    def check_params(self) -> None:
        if self.params["perm_seed"] < 0:
            raise UsageError(f"task {self.name!r}: perm_seed must be non-negative")

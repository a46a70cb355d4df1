"""Running parity: after every bit, is the number of 1s so far odd? (classification per step.)

Input ``(N, T, 1)``: bits in {0, 1}. Target ``(N, T)`` int64: ``y_t = x_1 ⊕ … ⊕ x_t``. The readout is
read at *every* step and the metric is the per-step accuracy (trivial baseline 0.5). A perfect
solution is a two-state flip-flop that holds its state under input 0 and flips under input 1.
``test_long`` uses sequences of length ``2T``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from rnndyn.tasks.base import BaseTask, TaskSpec


class ParityTask(BaseTask):
    """Running parity over ``T`` bits."""

    PARAMS: ClassVar[Mapping[str, object]] = {"T": 50}

    def make_spec(self) -> TaskSpec:
        t = self.params["T"]
        return TaskSpec(
            name=self.name,
            kind="classification",
            description=f"running parity of {t} random bits, classified at every step "
            f"(test_long: {2 * t} bits)",
            input_size=1,
            output_size=2,
            seq_len=t,
            readout="every",
            loss="ce",
            metric="accuracy",
            higher_is_better=True,
            baseline=0.5,
            defaults={
                "hidden": 32,
                "epochs": 30,
                "lr": 1e-2,
                "batch_size": 64,
                "n_train": 2000,
                "n_val": 500,
                "n_test": 1000,
                "patience": 8,
                "min_delta": 1e-3,
                "clip": 1.0,
            },
            params=self.plain_params(),
        )

    def extra_splits(self) -> tuple[str, ...]:
        return ("test_long",)

    def sample(self, rng: np.random.Generator, n: int, split: str) -> tuple[Any, Any]:
        t = self.params["T"] * (2 if split == "test_long" else 1)
        bits = rng.integers(0, 2, size=(n, t))
        return bits[..., None].astype(np.float32), np.cumsum(bits, axis=1) % 2

"""The k-bit flip-flop (in the spirit of Sussillo & Barak 2013): hold the last pulse of each channel.

Input ``(N, T, k)``: sparse pulses of ±1, each channel independently, with probability ``p`` per step;
every channel also gets a pulse at step 0, so the target is always a corner of ``{−1, +1}^k``.
Target ``(N, T, k)`` float32: per channel, the sign of its most recent pulse (the current step's
included). Read at every step; MSE. Predicting 0 everywhere scores 1 (the trivial baseline).
A perfect solution stores the ``2^k`` memories as ``2^k`` stable fixed points under zero input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from rnndyn.errors import UsageError
from rnndyn.tasks.base import BaseTask, TaskSpec


class FlipFlopTask(BaseTask):
    """``k`` independent flip-flops over ``T`` steps, pulse probability ``p`` per step and channel."""

    PARAMS: ClassVar[Mapping[str, object]] = {"k": 3, "T": 100, "p": 0.05}

    def check_params(self) -> None:
        super().check_params()
        k, p = self.params["k"], self.params["p"]
        if k < 1:
            raise UsageError(f"task {self.name!r}: k={k} must be at least 1")
        if not 0.0 < p <= 1.0:
            raise UsageError(f"task {self.name!r}: p={p} must lie in (0, 1]")

    def make_spec(self) -> TaskSpec:
        k, t, p = self.params["k"], self.params["T"], self.params["p"]
        return TaskSpec(
            name=self.name,
            kind="regression",
            description=f"{k}-bit flip-flop: hold the last ±1 pulse of each of {k} channels "
            f"over {t} steps (pulse probability {p:g})",
            input_size=k,
            output_size=k,
            seq_len=t,
            readout="every",
            loss="mse",
            metric="mse",
            higher_is_better=False,
            baseline=1.0,
            defaults={
                "hidden": 16,
                "epochs": 30,
                "lr": 1e-2,
                "batch_size": 64,
                "n_train": 1000,
                "n_val": 200,
                "n_test": 500,
                "patience": 8,
                "min_delta": 1e-4,
                "clip": 1.0,
            },
            params=self.plain_params(),
        )

    def sample(self, rng: np.random.Generator, n: int, split: str) -> tuple[Any, Any]:
        k, t, p = self.params["k"], self.params["T"], self.params["p"]
        pulse = rng.random((n, t, k)) < p
        pulse[:, 0] = True
        signs = np.where(rng.random((n, t, k)) < 0.5, -1.0, 1.0)
        x = np.where(pulse, signs, 0.0)
        # index of the most recent pulse at or before each step (step 0 always pulses)
        last = np.maximum.accumulate(np.where(pulse, np.arange(t)[None, :, None], 0), axis=1)
        y = np.take_along_axis(x, last, axis=1)
        return x.astype(np.float32), y.astype(np.float32)

"""Long-memory benchmarks: the adding problem (regression) and the copy task (classification).

Adding (Hochreiter & Schmidhuber; Le et al. 2015 layout): input ``(N, T, 2)``: channel 0 values
``U[0, 1]``, channel 1 two markers, one in each half of the sequence; target ``(N, 1)`` the sum of
the two marked values. MSE; always predicting 1 scores ``Var = 2/12 = 1/6``.

Copy (Arjovsky et al. 2016 layout): ``S = 10`` symbols from ``K = 8``, then ``T − 1`` blanks, a
delimiter, ``S`` blanks; the output must be blank for ``T + S`` steps and then reproduce the
symbols. Input one-hot over 10 tokens (0 blank, 1–8 symbols, 9 delimiter), ``(N, T + 20, 10)``;
target ``(N, T + 20)`` labels in 0–8; trained with cross-entropy per step, so it is a
classification task. Its metric is the accuracy over the ``S`` recalled symbols (the steps whose
label is not blank): guessing scores ``1/K``. (Predicting blanks and then uniform symbols scores a
cross-entropy of ``S·log K / (T + 2S)`` nats per step.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from rnndyn.errors import UsageError
from rnndyn.tasks.base import BaseTask, TaskSpec

COPY_SYMBOLS, COPY_LENGTH = 8, 10


class AddingTask(BaseTask):
    """Adding problem of length ``T``."""

    PARAMS: ClassVar[Mapping[str, object]] = {"T": 100}

    def check_params(self) -> None:
        if self.params["T"] < 2:
            raise UsageError(f"task {self.name!r}: T={self.params['T']} must be at least 2")

    def make_spec(self) -> TaskSpec:
        t = self.params["T"]
        return TaskSpec(
            name=self.name,
            kind="regression",
            description=f"adding problem: sum of the 2 marked values among {t} (MSE)",
            input_size=2,
            output_size=1,
            seq_len=t,
            readout="last",
            loss="mse",
            metric="mse",
            higher_is_better=False,
            baseline=1.0 / 6.0,
            defaults={
                "hidden": 32,
                "epochs": 30,
                "lr": 5e-3,
                "batch_size": 64,
                "n_train": 2000,
                "n_val": 500,
                "n_test": 1000,
                "patience": 10,  # the loss sits near 1/6 for several epochs before it drops
                "clip": 1.0,
            },
            params=self.plain_params(),
        )

    def sample(self, rng: np.random.Generator, n: int, split: str) -> tuple[Any, Any]:
        t = self.params["T"]
        values = rng.random((n, t))
        half = t // 2
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, t, size=n)
        markers = np.zeros((n, t))
        rows = np.arange(n)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        target = values[rows, first] + values[rows, second]
        return np.stack([values, markers], axis=-1), target[:, None].astype(np.float32)


class CopyTask(BaseTask):
    """Copy task with delay ``T`` (sequence length ``T + 20``)."""

    PARAMS: ClassVar[Mapping[str, object]] = {"T": 50}

    def make_spec(self) -> TaskSpec:
        t = self.params["T"]
        return TaskSpec(
            name=self.name,
            kind="classification",
            description=f"copy task: recall {COPY_LENGTH} symbols of {COPY_SYMBOLS} after a "
            f"delay of {t} steps (accuracy over the recalled symbols)",
            input_size=COPY_SYMBOLS + 2,
            output_size=COPY_SYMBOLS + 1,
            seq_len=t + 2 * COPY_LENGTH,
            readout="every",
            loss="ce",
            metric="recall_accuracy",
            higher_is_better=True,
            baseline=1.0 / COPY_SYMBOLS,
            defaults={
                "hidden": 64,
                "epochs": 40,
                "lr": 1e-2,
                "batch_size": 32,  # copy needs many updates; the slowest task (~90 CPU s)
                "n_train": 2000,
                "n_val": 500,
                "n_test": 1000,
                "patience": 8,
                "clip": 1.0,
            },
            params=self.plain_params(),
        )

    def sample(self, rng: np.random.Generator, n: int, split: str) -> tuple[Any, Any]:
        t, s = self.params["T"], COPY_LENGTH
        symbols = rng.integers(1, COPY_SYMBOLS + 1, size=(n, s))
        tokens = np.zeros((n, t + 2 * s), dtype=np.int64)
        tokens[:, :s] = symbols
        tokens[:, t + s - 1] = COPY_SYMBOLS + 1  # delimiter
        target = np.zeros((n, t + 2 * s), dtype=np.int64)
        target[:, t + s :] = symbols
        return np.eye(COPY_SYMBOLS + 2, dtype=np.float32)[tokens], target

"""Time-series regression: sine-mixture, Mackey-Glass (τ = 17) and NARMA-10 prediction.

All three read out at every step, train on MSE and report the NRMSE (RMSE / std of the target;
predicting the mean scores 1). Every sequence is an independent draw (own phases, own chaotic
initial history, own input), so splits never overlap in time.

- ``sine``: ``x_t = Σ_k a_k sin(2π t / P_k + φ_k)`` with fixed periods ``P`` (default 7, 13, 29
  steps), ``a_k ~ U[0.1, 0.5]``, ``φ_k ~ U[0, 2π)``; predict ``x_{t+1}`` from ``x_{≤t}``. The
  optimal predictor is linear with eigenvalues ``exp(±2πi/P_k)``: a planted answer for spectra.
- ``mackey_glass``: ``dx/dt = 0.2 x(t−τ) / (1 + x(t−τ)^10) − 0.1 x``, RK4 with ``dt = 0.1`` from a
  constant random history ``U[0.5, 1.3]``, 300 time units discarded, sampled every ``step`` time
  units; predict ``horizon`` samples ahead. Values are shifted/scaled by fixed constants
  (0.93, 0.23) to roughly zero mean and unit variance.
- ``narma10``: ``y_{t+1} = 0.3 y_t + 0.05 y_t Σ_{i<10} y_{t−i} + 1.5 u_{t−9} u_t + 0.1``,
  ``u ~ U[0, 0.5]``; 100 steps discarded; the rare diverging draws (|y| > 2) are redrawn.
  Input ``4u − 1``, target ``(y − 0.39) / 0.11``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from rnndyn.errors import UsageError
from rnndyn.tasks.base import BaseTask, TaskSpec

DEFAULTS = {
    "hidden": 32,
    "epochs": 30,
    "lr": 5e-3,
    "batch_size": 64,
    "n_train": 1000,
    "n_val": 300,
    "n_test": 500,
    "patience": 6,
    "min_delta": 1e-5,
    "clip": 1.0,
}


class _SeriesTask(BaseTask):
    DESCRIPTION = ""
    DEFAULTS: ClassVar[Mapping[str, object]] = {}

    def make_spec(self) -> TaskSpec:
        return TaskSpec(
            name=self.name,
            kind="regression",
            description=self.DESCRIPTION.format(**self.params),
            input_size=1,
            output_size=1,
            seq_len=self.params["T"],
            readout="every",
            loss="mse",
            metric="nrmse",
            higher_is_better=False,
            baseline=1.0,
            defaults={**DEFAULTS, **self.DEFAULTS},
            params=self.plain_params(),
        )


class SineTask(_SeriesTask):
    """Next-step prediction of a mixture of sines with fixed periods."""

    PARAMS: ClassVar[Mapping[str, object]] = {"T": 100, "periods": (7.0, 13.0, 29.0), "noise": 0.0}
    DESCRIPTION = "next-step prediction of a sum of sines, periods {periods} steps (NRMSE)"

    def check_params(self) -> None:
        super().check_params()
        periods = self.params["periods"]
        if not periods or min(periods) < 2 or self.params["noise"] < 0:
            raise UsageError(
                f"task {self.name!r}: periods must be ≥ 2 steps and noise ≥ 0",
                hint="e.g. periods=7,13,29 noise=0.",
            )

    def sample(self, rng: np.random.Generator, n: int, split: str) -> tuple[Any, Any]:
        t, periods = self.params["T"], np.asarray(self.params["periods"])
        amp = rng.uniform(0.1, 0.5, size=(n, 1, len(periods)))
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1, len(periods)))
        steps = np.arange(t + 1)[None, :, None]
        x = (amp * np.sin(2 * np.pi * steps / periods + phase)).sum(-1)
        x = x + self.params["noise"] * rng.standard_normal(x.shape)
        return x[:, :-1, None].astype(np.float32), x[:, 1:, None].astype(np.float32)


def mackey_glass(
    rng: np.random.Generator,
    n: int,
    length: int,
    *,
    tau: float = 17.0,
    step: float = 1.0,
    dt: float = 0.1,
    washout: float = 300.0,
) -> np.ndarray:
    """``(n, length)`` Mackey-Glass samples every ``step`` time units, one trajectory per row.

    RK4 on the grid ``dt``; the delayed value at the half step is the mean of its grid neighbours.
    The loop runs over time, vectorised over the ``n`` independent trajectories.
    """
    lag, every = round(tau / dt), max(1, round(step / dt))
    buf = np.tile(rng.uniform(0.5, 1.3, size=n), (lag + 1, 1))  # x(t_j) lives at j % (lag + 1)
    x = buf[0].copy()
    n_wash = round(washout / dt)
    out = np.empty((length, n))

    def f(x: np.ndarray, xd: np.ndarray) -> np.ndarray:
        return 0.2 * xd / (1.0 + xd**10) - 0.1 * x

    for i in range(n_wash + (length - 1) * every + 1):
        j = i - n_wash
        if j >= 0 and j % every == 0:
            out[j // every] = x
        xd0, xd1 = buf[(i + 1) % (lag + 1)], buf[(i + 2) % (lag + 1)]  # x(t_i − τ), x(t_i+1 − τ)
        xdm = 0.5 * (xd0 + xd1)
        k1 = f(x, xd0)
        k2 = f(x + 0.5 * dt * k1, xdm)
        k3 = f(x + 0.5 * dt * k2, xdm)
        k4 = f(x + dt * k3, xd1)
        x = x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        buf[(i + 1) % (lag + 1)] = x
    return out.T


class MackeyGlassTask(_SeriesTask):
    """Mackey-Glass (τ = 17 by default) prediction ``horizon`` samples ahead."""

    PARAMS: ClassVar[Mapping[str, object]] = {"T": 100, "tau": 17.0, "step": 1.0, "horizon": 1}
    DESCRIPTION = (
        "Mackey-Glass tau={tau}, sampled every {step} time units, predict {horizon} sample(s) "
        "ahead (NRMSE)"
    )

    def check_params(self) -> None:
        super().check_params()
        p = self.params
        if p["tau"] <= 0 or p["step"] <= 0 or p["horizon"] < 1:
            raise UsageError(f"task {self.name!r}: tau > 0, step > 0 and horizon ≥ 1 required")

    def sample(self, rng: np.random.Generator, n: int, split: str) -> tuple[Any, Any]:
        t, h = self.params["T"], self.params["horizon"]
        s = mackey_glass(rng, n, t + h, tau=self.params["tau"], step=self.params["step"])
        s = (s - 0.93) / 0.23
        return s[:, :t, None].astype(np.float32), s[:, h:, None].astype(np.float32)


def narma10(rng: np.random.Generator, n: int, length: int, washout: int = 100):
    """``(u, y)`` each ``(n, length)``: input at step t and the target ``y_{t+1}``."""
    total = length + washout
    u = rng.uniform(0.0, 0.5, size=(n, total))
    y = np.zeros((n, total + 1))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(9, total):
            window = y[:, t - 9 : t + 1].sum(1)
            y[:, t + 1] = (
                0.3 * y[:, t] + 0.05 * y[:, t] * window + 1.5 * u[:, t - 9] * u[:, t] + 0.1
            )
    return u[:, washout:], y[:, washout + 1 :], ~(np.abs(y) <= 2.0).all(1)


class Narma10Task(_SeriesTask):
    """NARMA-10 system identification."""

    PARAMS: ClassVar[Mapping[str, object]] = {"T": 100}
    DESCRIPTION = "NARMA-10: predict y(t+1) from inputs u(<=t), {T} steps (NRMSE)"
    DEFAULTS: ClassVar[Mapping[str, object]] = {"lr": 1e-2}

    def sample(self, rng: np.random.Generator, n: int, split: str) -> tuple[Any, Any]:
        u, y, bad = narma10(rng, n, self.params["T"])
        while bad.any():  # redraw the rare diverging sequences (deterministic for a seed)
            u[bad], y[bad], bad_new = narma10(rng, int(bad.sum()), self.params["T"])
            bad[bad] = bad_new
        x = (4.0 * u - 1.0)[..., None]
        return x.astype(np.float32), ((y - 0.39) / 0.11)[..., None].astype(np.float32)

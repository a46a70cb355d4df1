"""Rates from propagated perturbations, each with its validity: fitted only where the data support it.

- **Own rate** of a mode: the per-step factor by which the perturbation's coordinates in the mode's own
  eigenspace shrink, i.e. the least-squares slope of the log own-amplitude against the step. It is
  fitted over the longest prefix ``0..m`` of the window on which (i) at least ``purity`` (default
  half) of the perturbation's norm is still in the mode's eigenspace and (ii) the batch-mean log
  amplitude stays within ``linear_tol`` nats (RMS) of a straight line — and only if ``m ≥ min_steps``
  (default 5). Otherwise the rate is null and ``reason`` says why ("left its eigenspace: 24% remains
  after 1 step"). Goodness of fit: the RMS residual (nats) and R² of that line.
- **Whole rate**: the per-step growth of the whole perturbation started along the mode,
  ``(‖δ_K‖/‖δ_0‖)^{1/K}`` (geometric mean over the batch) — what survives when modes mix; for long
  windows it tends to the top Lyapunov exponent's ``e^{λ₁}``.

Intervals are 95 % t-intervals over the batch elements (NaN for one element).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnndyn.decay.propagation import Propagation

PURITY = 0.5
MIN_FIT_STEPS = 5
LINEAR_TOL = 0.1  # nats RMS about the fitted line (≈ ±10 % in amplitude)


@dataclass(frozen=True, eq=False)
class Rates:
    """Per-group rates ``(G,)`` with intervals ``(G, 2)``; NaN where not measured (see ``reason``)."""

    own: np.ndarray = field(repr=False)
    own_ci: np.ndarray = field(repr=False)
    fit_steps: np.ndarray = field(repr=False)  # last step of the fit window (0: no fit)
    fit_rmse: np.ndarray = field(repr=False)
    fit_r2: np.ndarray = field(repr=False)
    reason: tuple[str | None, ...]
    whole: np.ndarray = field(repr=False)
    whole_ci: np.ndarray = field(repr=False)
    whole_reason: tuple[str | None, ...]


def t_interval(values: np.ndarray, level: float = 0.95) -> np.ndarray:
    """``(G, 2)`` t-interval of the mean of ``values`` ``(B, G)`` over axis 0 (NaN for B < 2)."""
    b = values.shape[0]
    if b < 2:
        return np.full((values.shape[1], 2), np.nan)
    from scipy.special import stdtrit

    mean = values.mean(axis=0)
    half = stdtrit(b - 1, 0.5 + level / 2) * values.std(axis=0, ddof=1) / np.sqrt(b)
    return np.stack([mean - half, mean + half], axis=1)


def prefix_fits(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares lines through ``y[0..m]`` for every prefix ``m``: ``y`` ``(K+1, G)`` →
    slope, RMS residual and R² ``(K+1, G)`` (row ``m``; NaN for ``m = 0``). Cumulative sums, no loop."""
    k = np.arange(y.shape[0], dtype=float)[:, None]
    n = k + 1
    s1, s2 = np.cumsum(k, 0), np.cumsum(k * k, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sy, sky, syy = np.cumsum(y, 0), np.cumsum(k * y, 0), np.cumsum(y * y, 0)
        sxx = s2 - s1 * s1 / n
        sxy = sky - s1 * sy / n
        syy_c = syy - sy * sy / n
        slope = sxy / sxx
        sse = np.clip(syy_c - slope * sxy, 0.0, None)
        rmse = np.sqrt(sse / n)
        r2 = np.where(syy_c > 1e-12, 1 - sse / syy_c, np.nan)
    return slope, rmse, r2


def _own_window(prop: Propagation, purity: float, linear_tol: float) -> tuple[np.ndarray, ...]:
    """Per group: last step where the mode is still itself, and the last linear step before it."""
    y = prop.log_amplitude.mean(axis=1)  # (K+1, G); -inf once any element vanished
    frac = prop.eigenspace.mean(axis=1)
    ok = np.isfinite(y) & (frac >= purity)
    pure_end = np.argmin(np.vstack([ok, np.zeros_like(ok[:1])]), axis=0) - 1  # last True of prefix
    _, rmse, r2 = prefix_fits(np.where(np.isfinite(y), y, 0.0))
    k = np.arange(y.shape[0])[:, None]
    linear = (rmse <= linear_tol) & (k <= pure_end) & (k >= 1)
    lin_end = np.where(linear.any(0), y.shape[0] - 1 - np.argmax(linear[::-1], axis=0), 0)
    return pure_end, lin_end, rmse, r2, y, frac


def _reason(g: int, pure_end, lin_end, rmse, y, frac, min_steps: int, linear_tol: float) -> str:
    k_out = int(pure_end[g]) + 1
    steps = y.shape[0] - 1
    if steps < min_steps:
        return f"the window ({steps} steps) is shorter than the {min_steps} steps a fit needs"
    if pure_end[g] < min_steps:
        if not np.isfinite(y[k_out, g]):
            return f"vanished: the Jacobians map it to exactly zero by step {k_out}"
        share = frac[k_out, g]
        return f"left its eigenspace: {share:.0%} remains after {k_out} step{'s' * (k_out != 1)}"
    worst = float(rmse[min_steps, g])
    return (
        f"not geometric: its log-amplitude departs from a straight line by {worst:.2g} nats "
        f"(RMS, over {min_steps} steps; limit {linear_tol:g})"
    )


def fit_rates(
    prop: Propagation,
    *,
    min_steps: int = MIN_FIT_STEPS,
    linear_tol: float = LINEAR_TOL,
    purity: float = PURITY,
) -> Rates:
    """Own and whole rates of every group of ``prop`` (see the module docstring)."""
    pure_end, lin_end, rmse, r2, y, frac = _own_window(prop, purity, linear_tol)
    n_groups = y.shape[1]
    fitted = lin_end >= min_steps
    slopes = _slopes(prop.log_amplitude, np.where(fitted, lin_end, 1))
    own = np.where(fitted, np.exp(slopes.mean(0)), np.nan)
    own_ci = np.where(fitted[:, None], np.exp(t_interval(slopes)), np.nan)
    idx = (lin_end, np.arange(n_groups))
    reason = tuple(
        None if fitted[g] else _reason(g, pure_end, lin_end, rmse, y, frac, min_steps, linear_tol)
        for g in range(n_groups)
    )
    whole, whole_ci, whole_reason = _whole(prop)
    return Rates(
        own=own,
        own_ci=own_ci,
        fit_steps=np.where(fitted, lin_end, 0),
        fit_rmse=np.where(fitted, rmse[idx], np.nan),
        fit_r2=np.where(fitted, r2[idx], np.nan),
        reason=reason,
        whole=whole,
        whole_ci=whole_ci,
        whole_reason=whole_reason,
    )


def _slopes(y: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per-element least-squares slopes ``(B, G)`` of ``y`` ``(K+1, B, G)`` over steps ``0..end[g]``."""
    k = np.arange(y.shape[0], dtype=float)[:, None, None]
    w = (k <= end[None, None, :]).astype(float)
    yw = np.where(w > 0, y, 0.0)
    sw = w.sum(0)
    kbar = (w * k).sum(0) / sw
    with np.errstate(invalid="ignore"):  # -inf (vanished) only where the caller discards the fit
        ybar = (w * yw).sum(0) / sw
        dk = (k - kbar) * w
        return (dk * (yw - ybar)).sum(0) / (dk * (k - kbar)).sum(0)


def _whole(prop: Propagation) -> tuple[np.ndarray, np.ndarray, tuple[str | None, ...]]:
    """Geometric-mean per-step norm growth over the whole window, per group."""
    steps = prop.steps
    end = prop.log_norm[-1] / max(steps, 1)  # (B, G)
    finite = np.isfinite(end).all(0)
    safe = np.where(np.isfinite(end), end, 0.0)
    rate = np.where(finite, np.exp(safe.mean(0)), np.nan)
    ci = np.where(finite[:, None], np.exp(t_interval(safe)), np.nan)
    first_zero = np.argmax(~np.isfinite(prop.log_norm).all(1), axis=0)
    reason = tuple(
        None if ok else f"vanished: the Jacobians map it to exactly zero by step {int(k)}"
        for ok, k in zip(finite, first_zero, strict=True)
    )
    if steps == 0:
        return np.full_like(rate, np.nan), np.full_like(ci, np.nan), ("no steps",) * rate.size
    return rate, ci, reason

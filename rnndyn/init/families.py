"""The one-dimensional families of the eigen law: parameters, quantile, CDF and density of each.

Radius families (laws on ``|λ| ≥ 0``): ``beta`` (``(r − low)/(high − low) ~ Beta(a, b)``),
``truncnorm`` (``N(mu, sigma²)`` truncated to ``[low, high]``), ``ring`` (``r² ~ U[r_min²,
r_max²]``, as in the LRU), ``empirical`` (a piecewise-linear quantile function on equal-mass bins),
``point``. Phase families (laws on a pair's angle, folded onto ``[0, π]`` because ``θ`` and
``2π − θ`` give the same conjugate pair): ``uniform`` (``θ ~ U[low, high] ⊂ [0, 2π]``),
``vonmises`` (``θ = |φ|``, ``φ`` a von Mises mixture on the circle), ``empirical``, ``point``.

Each family's maths sits together below; :func:`quantile`, :func:`cdf` and :func:`pdf` dispatch
on the family name. Parameters are the validated mapping of :class:`rnndyn.init.law.Dist`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["PHASE_FAMILIES", "RADIUS_FAMILIES", "cdf", "pdf", "quantile"]

RADIUS_FAMILIES: dict[str, tuple[str, ...]] = {
    "beta": ("a", "b", "low", "high"),
    "truncnorm": ("mu", "sigma", "low", "high"),
    "ring": ("r_min", "r_max"),
    "empirical": ("quantiles",),
    "point": ("value",),
}
PHASE_FAMILIES: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "vonmises": ("weights", "locs", "kappas"),
    "empirical": ("quantiles",),
    "point": ("value",),
}
_VM_GRID = np.linspace(0.0, math.pi, 8193)
Params = Mapping[str, Any]


# -- beta on [low, high] -------------------------------------------------------------------------


def _beta_ppf(p: Params, u: np.ndarray) -> np.ndarray:
    from scipy import stats

    return p["low"] + (p["high"] - p["low"]) * stats.beta.ppf(u, p["a"], p["b"])


def _beta_cdf(p: Params, x: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.beta.cdf((x - p["low"]) / (p["high"] - p["low"]), p["a"], p["b"])


def _beta_pdf(p: Params, x: np.ndarray) -> np.ndarray:
    from scipy import stats

    width = p["high"] - p["low"]
    return stats.beta.pdf((x - p["low"]) / width, p["a"], p["b"]) / width


# -- truncated normal on [low, high] -------------------------------------------------------------


def _tn(p: Params) -> tuple[float, float]:
    return (p["low"] - p["mu"]) / p["sigma"], (p["high"] - p["mu"]) / p["sigma"]


def _truncnorm_ppf(p: Params, u: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.truncnorm.ppf(u, *_tn(p), loc=p["mu"], scale=p["sigma"])


def _truncnorm_cdf(p: Params, x: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.truncnorm.cdf(x, *_tn(p), loc=p["mu"], scale=p["sigma"])


def _truncnorm_pdf(p: Params, x: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.truncnorm.pdf(x, *_tn(p), loc=p["mu"], scale=p["sigma"])


# -- ring: r² ~ U[r_min², r_max²] ----------------------------------------------------------------


def _ring_ppf(p: Params, u: np.ndarray) -> np.ndarray:
    return np.sqrt(u * (p["r_max"] ** 2 - p["r_min"] ** 2) + p["r_min"] ** 2)


def _ring_cdf(p: Params, x: np.ndarray) -> np.ndarray:
    lo2, hi2 = p["r_min"] ** 2, p["r_max"] ** 2
    return np.clip((x**2 - lo2) / (hi2 - lo2), 0.0, 1.0) * (x >= 0)


def _ring_pdf(p: Params, x: np.ndarray) -> np.ndarray:
    ok = (x >= p["r_min"]) & (x <= p["r_max"])
    return np.where(ok, 2 * x / (p["r_max"] ** 2 - p["r_min"] ** 2), 0.0)


# -- empirical: piecewise-linear quantile function -----------------------------------------------


def _empirical_ppf(p: Params, u: np.ndarray) -> np.ndarray:
    q = np.asarray(p["quantiles"])
    return np.interp(u, np.linspace(0, 1, len(q)), q)


def _empirical_cdf(p: Params, x: np.ndarray) -> np.ndarray:
    q = np.asarray(p["quantiles"])
    return np.interp(x, q, np.linspace(0, 1, len(q)))


def _empirical_pdf(p: Params, x: np.ndarray) -> np.ndarray:
    q = np.asarray(p["quantiles"])
    k = np.clip(np.searchsorted(q, x, side="right") - 1, 0, len(q) - 2)
    return np.where((x >= q[0]) & (x <= q[-1]), 1.0 / ((len(q) - 1) * np.diff(q)[k]), 0.0)


# -- point mass ----------------------------------------------------------------------------------


def _point_ppf(p: Params, u: np.ndarray) -> np.ndarray:
    return np.full(u.shape, p["value"])


def _point_cdf(p: Params, x: np.ndarray) -> np.ndarray:
    return (x >= p["value"]).astype(np.float64)


def _point_pdf(p: Params, x: np.ndarray) -> np.ndarray:
    return np.where(x == p["value"], np.inf, 0.0)


# -- uniform phase on [low, high] ⊂ [0, 2π], folded onto [0, π] ----------------------------------


def _uniform_ppf(p: Params, u: np.ndarray) -> np.ndarray:
    return p["low"] + (p["high"] - p["low"]) * u


def _uniform_cdf(p: Params, x: np.ndarray) -> np.ndarray:
    lo, hi, xf = p["low"], p["high"], np.clip(x, 0.0, math.pi)
    inside = np.clip(np.minimum(xf, hi) - lo, 0, None)
    wrapped = np.clip(hi - np.maximum(2 * math.pi - xf, lo), 0, None)
    return (inside + wrapped) / (hi - lo)


def _uniform_pdf(p: Params, x: np.ndarray) -> np.ndarray:
    lo, hi, mirror = p["low"], p["high"], 2 * math.pi - x
    hits = ((x >= lo) & (x <= hi)).astype(float) + (
        (mirror > math.pi) & (mirror >= lo) & (mirror <= hi)
    )
    return np.where((x >= 0) & (x <= math.pi), hits / (hi - lo), 0.0)


# -- folded von Mises mixture: θ = |φ| -----------------------------------------------------------


def _vm_folded(p: Params, x: np.ndarray, fn: Callable, sign: float) -> np.ndarray:
    """``Σ w_k (fn(x) ± fn(−x))`` over the mixture: the folded CDF (``−``) or density (``+``)."""
    args = zip(p["weights"], p["locs"], p["kappas"], strict=True)
    return sum(w * (fn(x, k, loc=m) + sign * fn(-x, k, loc=m)) for w, m, k in args)


def _vonmises_cdf(p: Params, x: np.ndarray) -> np.ndarray:
    from scipy import stats  # scipy's CDF is cumulative over turns: arcs are differences

    xf = np.clip(x, 0.0, math.pi)
    return np.clip(_vm_folded(p, xf, stats.vonmises.cdf, -1.0), 0.0, 1.0)


def _vonmises_ppf(p: Params, u: np.ndarray) -> np.ndarray:
    """Tabulated: the CDF on 8193 points of ``[0, π]``, inverted by interpolation."""
    return np.interp(u, np.maximum.accumulate(_vonmises_cdf(p, _VM_GRID)), _VM_GRID)


def _vonmises_pdf(p: Params, x: np.ndarray) -> np.ndarray:
    from scipy import stats

    inside = (x >= 0) & (x <= math.pi)
    return np.where(inside, _vm_folded(p, x, stats.vonmises.pdf, 1.0), 0.0)


# -- dispatch ------------------------------------------------------------------------------------

_MATHS: dict[str, tuple[Callable, Callable, Callable]] = {
    "beta": (_beta_ppf, _beta_cdf, _beta_pdf),
    "truncnorm": (_truncnorm_ppf, _truncnorm_cdf, _truncnorm_pdf),
    "ring": (_ring_ppf, _ring_cdf, _ring_pdf),
    "empirical": (_empirical_ppf, _empirical_cdf, _empirical_pdf),
    "point": (_point_ppf, _point_cdf, _point_pdf),
    "uniform": (_uniform_ppf, _uniform_cdf, _uniform_pdf),
    "vonmises": (_vonmises_ppf, _vonmises_cdf, _vonmises_pdf),
}


def quantile(family: str, params: Params, u: np.ndarray) -> np.ndarray:
    """Inverse CDF of ``family(params)`` at uniforms ``u`` ``(m,)`` in ``[0, 1]``."""
    return _MATHS[family][0](params, np.asarray(u, dtype=np.float64))


def cdf(family: str, params: Params, x: np.ndarray) -> np.ndarray:
    """CDF of ``family(params)``; for phases, of the angle folded onto ``[0, π]``."""
    return _MATHS[family][1](params, np.asarray(x, dtype=np.float64))


def pdf(family: str, params: Params, x: np.ndarray) -> np.ndarray:
    """Density of ``family(params)`` (``inf`` at a point mass; folded onto ``[0, π]`` for phases)."""
    return _MATHS[family][2](params, np.asarray(x, dtype=np.float64))

"""Candidate one-dimensional families for the eigen law and their selection by an information criterion.

Radius families (beta on [0, r_max], truncated normal, LRU-style ring, empirical quantiles) and phase
families (uniform, folded von Mises mixture, empirical) are each fitted by maximum likelihood and
returned with their log-likelihood and parameter count; ``fit_radius`` / ``fit_phase`` pick one by
BIC (or AIC) and report every candidate's Kolmogorov–Smirnov distance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rnndyn.init.law import Dist

# -- candidate families: each returns (Dist, log-likelihood, number of parameters) ---------------


def _beta(r: np.ndarray, high: float) -> tuple[Dist, float, int]:
    from scipy import optimize, special

    x = np.clip(r / high, 1e-12, 1 - 1e-12)
    s1, s2, n = np.log(x).sum(), np.log1p(-x).sum(), len(x)
    m, v = x.mean(), max(x.var(), 1e-12)
    common = max(m * (1 - m) / v - 1, 1e-3)

    def nll(t: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = np.exp(t)
        dg = special.digamma(a + b)
        f = -((a - 1) * s1 + (b - 1) * s2 - n * special.betaln(a, b))
        g = -np.array(
            [a * (s1 - n * (special.digamma(a) - dg)), b * (s2 - n * (special.digamma(b) - dg))]
        )
        return f, g

    t0 = np.log(np.clip([m * common, (1 - m) * common], 1e-4, 1e5))
    res = optimize.minimize(nll, t0, jac=True, method="L-BFGS-B", bounds=[(-9.0, 13.0)] * 2)
    a, b = np.exp(res.x)
    return (
        Dist("beta", {"a": a, "b": b, "low": 0.0, "high": high}),
        -res.fun - n * math.log(high),
        3,
    )


def _truncnorm(r: np.ndarray, high: float) -> tuple[Dist, float, int]:
    from scipy import optimize, stats

    def nll(t: np.ndarray) -> float:
        mu, sigma = t[0], math.exp(t[1])
        with np.errstate(all="ignore"):
            ll = stats.truncnorm.logpdf(
                r, -mu / sigma, (high - mu) / sigma, loc=mu, scale=sigma
            ).sum()
        return -ll if np.isfinite(ll) else 1e300

    t0 = [r.mean(), math.log(max(r.std(), 1e-6))]
    bounds = [(-high * 10, high * 10), (math.log(1e-6 * high), math.log(100 * high))]
    res = optimize.minimize(nll, t0, method="L-BFGS-B", bounds=bounds)
    mu, sigma = float(res.x[0]), float(math.exp(res.x[1]))
    return Dist("truncnorm", {"mu": mu, "sigma": sigma, "low": 0.0, "high": high}), -res.fun, 3


def _ring(r: np.ndarray) -> tuple[Dist, float, int]:
    lo, hi = float(r.min()), float(r.max())
    with np.errstate(divide="ignore"):
        ll = float(np.sum(np.log(2 * r / (hi**2 - lo**2))))
    return Dist("ring", {"r_min": lo, "r_max": hi}), ll, 2


def _empirical(x: np.ndarray, kind: str) -> tuple[Dist, float, int] | None:
    k = int(np.clip(round(2 * len(x) ** (1 / 3)), 2, 64))
    q = np.quantile(x, np.linspace(0, 1, k + 1))
    if np.any(np.diff(q) <= 0):
        return None
    counts = np.bincount(np.clip(np.searchsorted(q, x, side="right") - 1, 0, k - 1), minlength=k)
    ll = float(np.sum(counts * -np.log(k * np.diff(q))))
    return Dist("empirical", {"quantiles": q.tolist()}, kind), ll, k + 1


def _vm_kappa(rbar: np.ndarray) -> np.ndarray:
    """Solve ``I1(κ)/I0(κ) = R̄`` (Banerjee et al. start, two Newton steps)."""
    from scipy import special

    r = np.clip(rbar, 1e-8, 1 - 1e-8)
    k = r * (2 - r**2) / (1 - r**2)
    for _ in range(2):
        a = special.i1e(k) / special.i0e(k)
        k = k - (a - r) / np.maximum(1 - a**2 - a / k, 1e-12)
    return np.clip(k, 1e-6, 1e4)


def _folded_vonmises(
    theta: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[Dist, float, int]:
    """EM for ``θ = |φ|``, ``φ`` ~ a ``k``-component von Mises mixture (the sign is latent).

    Two starts (quantiles, random); EM runs on at most 20 000 of the angles."""
    from scipy import special

    t = theta if len(theta) <= 20_000 else rng.choice(theta, 20_000, replace=False)
    cos, sin = np.cos(t)[:, None], np.sin(t)[:, None]
    best = None
    starts = [np.quantile(t, (np.arange(k) + 0.5) / k), *rng.uniform(0, np.pi, (1, k))]
    for mu in starts:
        w, kap, prev = np.full(k, 1 / k), np.full(k, 4.0), -np.inf
        for _ in range(150):
            base = np.log(w) - np.log(2 * np.pi * special.i0e(kap)) - kap
            cc, ss = cos * np.cos(mu), sin * np.sin(mu)
            lp, lm = base + kap * (cc + ss), base + kap * (cc - ss)  # φ = +θ, φ = −θ: (n, k)
            top = np.maximum(lp.max(1, keepdims=True), lm.max(1, keepdims=True))
            rp, rm = np.exp(lp - top), np.exp(lm - top)
            z = rp.sum(1, keepdims=True) + rm.sum(1, keepdims=True)
            ll = float(np.sum(np.log(z) + top))
            rp, rm = rp / z, rm / z
            nk = (rp + rm).sum(0) + 1e-300
            c, s = ((rp + rm) * cos).sum(0), ((rp - rm) * sin).sum(0)
            w = np.clip(nk / nk.sum(), 1e-12, None)
            w, mu, kap = w / w.sum(), np.arctan2(s, c), _vm_kappa(np.hypot(c, s) / nk)
            if ll - prev < 1e-7 * max(1.0, abs(ll)):
                break
            prev = ll
        if best is None or ll > best[1]:
            best = (w, ll, np.abs(mu), kap)
    w, ll, mu, kap = best
    params = {"weights": w.tolist(), "locs": mu.tolist(), "kappas": kap.tolist()}
    d = Dist("vonmises", params, "phase")
    return d, float(np.sum(np.log(np.maximum(d.pdf(theta), 1e-300)))), 3 * k - 1


def _choose(x: np.ndarray, cands: dict[str, Any], criterion: str, kind: str) -> tuple[Dist, dict]:
    """Pick the candidate with the lowest criterion; report all with their KS distances."""
    from scipy import stats

    n, rows = len(x), []
    for name, c in cands.items():
        if c is None or not np.isfinite(c[1]):
            continue
        dist, ll, k = c
        ic = k * math.log(n) - 2 * ll if criterion == "bic" else 2 * k - 2 * ll
        ks = stats.kstest(x, dist.cdf)
        rows.append(
            {
                "family": name,
                "log_likelihood": ll,
                "n_params": k,
                criterion: ic,
                "ks_statistic": float(ks.statistic),
                "ks_pvalue": float(ks.pvalue),
                "_d": dist,
            }
        )
    rows.sort(key=lambda row: row[criterion])
    best = rows[0]
    nxt = ""
    if len(rows) > 1:
        delta = rows[1][criterion] - best[criterion]
        nxt = f"; next {rows[1]['family']} (Δ{criterion.upper()} = {delta:.4g})"
    diag = {
        "family": best["family"],
        "n": n,
        "criterion": criterion,
        "reason": f"lowest {criterion.upper()} among {', '.join(r['family'] for r in rows)}{nxt}",
        "ks_statistic": best["ks_statistic"],
        "ks_pvalue": best["ks_pvalue"],
        "candidates": [{k: v for k, v in r.items() if k != "_d"} for r in rows],
    }
    return best["_d"], diag


def _degenerate(x: np.ndarray, kind: str) -> tuple[Dist, dict] | None:
    if np.ptp(x) > 1e-12 * max(1.0, float(np.abs(x).max())):
        return None
    value = float(np.clip(x.mean(), 0.0, np.pi if kind == "phase" else 1e3))
    return Dist("point", {"value": value}, kind), {
        "family": "point",
        "n": len(x),
        "reason": "all values equal",
        "ks_statistic": 0.0,
    }


def fit_radius(r: np.ndarray, families: Sequence[str], criterion: str = "bic") -> tuple[Dist, dict]:
    """Radius law for moduli ``r`` ``(m,)``: the best of ``families`` by ``criterion``."""
    point = _degenerate(r, "radius")
    if point is not None:
        return point
    high = float(r.max()) * (1 + 1 / len(r))
    make = {
        "beta": lambda: _beta(r, high),
        "truncnorm": lambda: _truncnorm(r, high),
        "ring": lambda: _ring(r),
        "empirical": lambda: _empirical(r, "radius"),
    }
    return _choose(r, {f: make[f]() for f in families}, criterion, "radius")


def fit_phase(
    theta: np.ndarray,
    families: Sequence[str],
    criterion: str = "bic",
    *,
    max_components: int = 3,
    seed: int = 0,
) -> tuple[Dist, dict]:
    """Phase law for pair angles ``theta`` ``(m,)`` in ``(0, π)``."""
    point = _degenerate(theta, "phase")
    if point is not None:
        return point
    rng = np.random.default_rng(seed)
    cands: dict[str, Any] = {}
    if "uniform" in families:
        cands["uniform"] = (
            Dist("uniform", {"low": 0.0, "high": np.pi}, "phase"),
            -len(theta) * math.log(np.pi),
            0,
        )
    if "vonmises" in families:
        for k in range(1, max_components + 1):
            cands[f"vonmises{k}" if k > 1 else "vonmises"] = _folded_vonmises(theta, k, rng)
    if "empirical" in families:
        cands["empirical"] = _empirical(theta, "phase")
    return _choose(theta, cands, criterion, "phase")


# -- inputs: checkpoints, Checkpoint objects, spectra, or {target: eigenvalues} -------------------

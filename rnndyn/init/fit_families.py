"""Fitting the eigen law's one-dimensional families, and choosing one by an information criterion.

Radius families (beta on ``[0, high]``, truncated normal, LRU-style ring, empirical quantiles) and
phase families (uniform, folded von Mises mixture, empirical) are each fitted (maximum likelihood;
the ring's support by its unbiased order-statistic estimates) and returned as a
:class:`Candidate`: the law, its log-likelihood, its parameter count, and the parameters that
ended at an optimiser bound. ``fit_radius`` / ``fit_phase`` pick the lowest BIC (or AIC) among
the candidates with no parameter at a bound (such a fit is the optimiser's edge, not the data's
optimum: e.g. a truncated normal whose ``mu`` runs to ``−10·high``), falling back to the next.

Goodness of fit is reported as the Kolmogorov–Smirnov distance ``D`` with ``n``, and no p-value:
the parameters are fitted to the same eigenvalues, which are pooled over matrices and dependent
within each, so the KS null distribution does not apply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from rnndyn.init.law import Dist

KAPPA_MAX = 1e4  # von Mises concentration cap (a spike narrower than ~0.01 rad)


class Candidate(NamedTuple):
    """A fitted family: law, log-likelihood, parameter count, parameters at an optimiser bound."""

    dist: Dist
    ll: float
    k: int
    at_bound: tuple[str, ...] = ()


def _at_bounds(x: Sequence[float], bounds: Sequence[tuple[float, float]], names: Sequence[str]):
    """Names of the parameters within 1 % of the box's width from an edge. The boxes are far
    wider than any sensible fit (μ within ±10·high, σ and the beta shapes over 8–10 decades), and
    L-BFGS-B stops short of an edge along a flat likelihood by a scipy-version-dependent margin
    (seen: 0.15 % of the width), so "near the edge" is what says the fit ran away."""
    return tuple(
        n
        for n, v, (lo, hi) in zip(names, x, bounds, strict=True)
        if min(v - lo, hi - v) <= 1e-2 * (hi - lo)
    )


# -- candidate families ---------------------------------------------------------------------------


def _beta(r: np.ndarray, high: float) -> Candidate:
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
    bounds = [(-9.0, 13.0)] * 2
    res = optimize.minimize(nll, t0, jac=True, method="L-BFGS-B", bounds=bounds)
    a, b = np.exp(res.x)
    return Candidate(
        Dist("beta", {"a": a, "b": b, "low": 0.0, "high": high}),
        -res.fun - n * math.log(high),
        3,
        _at_bounds(res.x, bounds, ("a", "b")),
    )


def _truncnorm(r: np.ndarray, high: float) -> Candidate:
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
    dist = Dist("truncnorm", {"mu": mu, "sigma": sigma, "low": 0.0, "high": high})
    return Candidate(dist, -res.fun, 3, _at_bounds(res.x, bounds, ("mu", "sigma")))


def _ring(r: np.ndarray) -> Candidate:
    """``r² ~ U[a, b]``: ``a, b`` the unbiased (minimum-variance) estimates from the extremes of
    ``r²``, one mean spacing beyond them (``a`` clipped at 0), not the extremes themselves."""
    s = np.sort(r.astype(np.float64) ** 2)
    spacing = (s[-1] - s[0]) / max(len(s) - 1, 1)
    a, b = max(s[0] - spacing, 0.0), s[-1] + spacing
    dist = Dist("ring", {"r_min": math.sqrt(a), "r_max": math.sqrt(b)})
    with np.errstate(divide="ignore"):
        ll = float(np.sum(np.log(2 * r / (b - a))))
    return Candidate(dist, ll, 2)


def _empirical(x: np.ndarray, kind: str) -> Candidate | None:
    """Equal-mass bins at the sample quantiles. Tied quantiles (an atom, e.g. untouched units
    whose ``|λ|`` stays exactly 1) become bins of width ``1e-4 × range`` so the atom is kept."""
    k = int(np.clip(round(2 * len(x) ** (1 / 3)), 2, 64))
    q = np.quantile(x, np.linspace(0, 1, k + 1))
    width = 1e-4 * float(np.ptp(x))
    if width <= 0:
        return None
    q = q + np.arange(k + 1) * width  # strictly increasing; an atom keeps its mass
    q = q[0] + (q - q[0]) * (float(np.ptp(x)) / (q[-1] - q[0]))  # ends at the data's min, max
    if np.any(np.diff(q) <= 0):
        return None
    counts = np.bincount(np.clip(np.searchsorted(q, x, side="right") - 1, 0, k - 1), minlength=k)
    ll = float(np.sum(counts * -np.log(k * np.diff(q))))
    return Candidate(Dist("empirical", {"quantiles": q.tolist()}, kind), ll, k + 1)


def _vm_kappa(rbar: np.ndarray) -> np.ndarray:
    """Solve ``I1(κ)/I0(κ) = R̄`` (Banerjee et al. start, two Newton steps)."""
    from scipy import special

    r = np.clip(rbar, 1e-8, 1 - 1e-8)
    k = r * (2 - r**2) / (1 - r**2)
    for _ in range(2):
        a = special.i1e(k) / special.i0e(k)
        k = k - (a - r) / np.maximum(1 - a**2 - a / k, 1e-12)
    return np.clip(k, 1e-6, KAPPA_MAX)


def _folded_vonmises(theta: np.ndarray, k: int, rng: np.random.Generator) -> Candidate:
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
    assert best is not None
    w, ll, mu, kap = best
    params = {"weights": w.tolist(), "locs": mu.tolist(), "kappas": kap.tolist()}
    d = Dist("vonmises", params, "phase")
    ll = float(np.sum(np.log(np.maximum(d.pdf(theta), 1e-300))))
    return Candidate(d, ll, 3 * k - 1, ("kappas",) if kap.max() >= KAPPA_MAX else ())


GOODNESS_NOTE = (
    "KS distance D only, no p-value: the parameters are fitted to the same eigenvalues, pooled "
    "over matrices and dependent within each"
)


def _row(name: str, c: Candidate, x: np.ndarray, criterion: str) -> dict[str, Any]:
    from scipy import stats

    n = len(x)
    ic = c.k * math.log(n) - 2 * c.ll if criterion == "bic" else 2 * c.k - 2 * c.ll
    support = [float(v) for v in c.dist.ppf(np.array([0.0, 1.0]))]
    return {
        "family": name,
        "log_likelihood": c.ll,
        "n_params": c.k,
        criterion: ic,
        "ks_statistic": float(stats.kstest(x, c.dist.cdf).statistic),
        "support": support,
        "at_bound": list(c.at_bound),
        "_d": c.dist,
    }


def _choose(
    x: np.ndarray, cands: Mapping[str, Candidate | None], criterion: str
) -> tuple[Dist, dict]:
    """The lowest-criterion candidate with no parameter at a bound (else the lowest overall);
    every candidate reported with its KS distance, support and bound flags."""
    rows = [_row(name, c, x, criterion) for name, c in cands.items() if c and np.isfinite(c.ll)]
    rows.sort(key=lambda row: row[criterion])
    free = [r for r in rows if not r["at_bound"]]
    best = (free or rows)[0]
    label = criterion.upper()
    skipped = [r for r in rows[: rows.index(best)] if r["at_bound"]]
    reason = f"lowest {label} among {', '.join(r['family'] for r in free)}"
    if skipped:
        reason += "; passed over (a parameter at its optimiser bound): " + ", ".join(
            f"{r['family']} ({', '.join(r['at_bound'])})" for r in skipped
        )
    if not free:
        reason = f"every candidate has a parameter at a bound; lowest {label} kept"
    rest = [r for r in free if r is not best]
    if rest:
        reason += (
            f"; next {rest[0]['family']} (Δ{label} = {rest[0][criterion] - best[criterion]:.4g})"
        )
    diag = {
        "family": best["family"],
        "n": len(x),
        "criterion": criterion,
        "reason": reason,
        "ks_statistic": best["ks_statistic"],
        "goodness": GOODNESS_NOTE,
        "support": best["support"],
        "data_range": [float(x.min()), float(x.max())],
        "at_bound": best["at_bound"],
        "candidates": [{k: v for k, v in r.items() if k != "_d"} for r in rows],
    }
    return best["_d"], diag


def _degenerate(x: np.ndarray, kind: str) -> tuple[Dist, dict] | None:
    """A point law when every value is equal to rounding (``|λ| ≡ 1`` of orthogonal matrices)."""
    if np.ptp(x) > 1e-10 * max(1.0, float(np.abs(x).max())):
        return None
    value = float(np.clip(x.mean(), 0.0, np.pi if kind == "phase" else 1e3))
    return Dist("point", {"value": value}, kind), {
        "family": "point",
        "n": len(x),
        "reason": f"all values equal to within {float(np.ptp(x)):.2g}",
        "ks_statistic": 0.0,
        "support": [value, value],
        "data_range": [float(x.min()), float(x.max())],
        "at_bound": [],
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
    return _choose(r, {f: make[f]() for f in families}, criterion)


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
    cands: dict[str, Candidate | None] = {}
    if "uniform" in families:
        uniform = Dist("uniform", {"low": 0.0, "high": np.pi}, "phase")
        cands["uniform"] = Candidate(uniform, -len(theta) * math.log(np.pi), 0)
    if "vonmises" in families:
        for k in range(1, max_components + 1):
            cands[f"vonmises{k}" if k > 1 else "vonmises"] = _folded_vonmises(theta, k, rng)
    if "empirical" in families:
        cands["empirical"] = _empirical(theta, "phase")
    return _choose(theta, cands, criterion)


# -- inputs: checkpoints, Checkpoint objects, spectra, or {target: eigenvalues} -------------------

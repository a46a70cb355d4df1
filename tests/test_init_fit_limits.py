"""The fitter on spectra of real matrices with known limits, not only on its own sampler's output.

- real Ginibre ``G/√N`` (circular law): eigenvalues uniform in the unit disk, so ``|λ|`` has
  density ``2r`` on ``[0, 1]`` (quantile ``√u``), pair phases uniform, real eigenvalues uniform on
  ``[−1, 1]``, and ``E[#real] ≈ √(2N/π) + 1/2`` (Edelman, Kostlan & Shub 1994);
- Haar orthogonal matrices: ``|λ| ≡ 1``;
- a trained network: the reported KS distance is the data's distance to the law, and the law's
  sampler reproduces the data's radii to that distance.
Also: bounded families at an optimiser bound are passed over; the ring's support is estimated.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from rnndyn.init.fit import EigenInitFitter, fit_radius
from rnndyn.init.law import Dist, TargetLaw
from rnndyn.init.sample import sample_eigenvalues

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "examples"
N, M = 160, 16  # Ginibre size and count


@pytest.fixture(scope="module")
def ginibre() -> EigenInitFitter:
    rng = np.random.default_rng(7)
    eigs = [np.linalg.eigvals(rng.standard_normal((N, N)) / math.sqrt(N)) for _ in range(M)]
    return EigenInitFitter(min_separate=30).fit({"hh": eigs})


def test_circular_law_radius_quantiles(ginibre):
    law, diag = ginibre.params_.targets["hh"], ginibre.params_.diagnostics["hh"]
    u = np.linspace(0.05, 0.95, 19)
    # finite N softens the edge over ~1/√N ≈ 0.08; the bulk follows √u
    assert np.max(np.abs(law.radius.ppf(u) - np.sqrt(u))) < 0.05, diag["radius"]["reason"]
    lo, hi = diag["radius"]["support"]
    assert lo >= 0 and 1.0 <= hi <= 1 + 4 / math.sqrt(N)
    assert diag["radius"]["ks_statistic"] < 0.06 and diag["radius"]["n"] == diag["n_pairs"]


def test_circular_law_phases_and_real_eigenvalues(ginibre):
    law, diag = ginibre.params_.targets["hh"], ginibre.params_.diagnostics["hh"]
    theta = np.linspace(0.1, math.pi - 0.1, 30)
    assert np.max(np.abs(law.phase.cdf(theta) - theta / math.pi)) < 0.05, diag["phase"]["reason"]
    expected = (math.sqrt(2 * N / math.pi) + 0.5) / N  # E[#real]/N, Edelman–Kostlan–Shub
    assert law.real_fraction == pytest.approx(expected, rel=0.2)
    assert law.positive_fraction == pytest.approx(0.5, abs=0.1)
    assert law.real_radius is not None  # ~190 real moduli: fitted apart (min_separate=30)
    u = np.linspace(0.1, 0.9, 9)
    assert np.max(np.abs(law.real_radius.ppf(u) - u)) < 0.1  # |x| of U[−1, 1] is U[0, 1]


def test_orthogonal_matrices_have_radius_one():
    from scipy.stats import ortho_group

    eigs = [np.linalg.eigvals(ortho_group.rvs(48, random_state=s)) for s in range(4)]
    f = EigenInitFitter().fit({"hh": eigs})
    radius = f.params_.targets["hh"].radius
    assert radius.family == "point" and radius.params["value"] == pytest.approx(1.0, abs=1e-12)
    assert f.params_.diagnostics["hh"]["radius"]["support"] == pytest.approx([1.0, 1.0])


def test_a_truncnorm_at_its_mu_bound_is_reported_and_passed_over():
    r = np.random.default_rng(0).exponential(0.1, 3000)  # the mode at 0: μ runs to −10·high
    dist, diag = fit_radius(r, ("truncnorm", "beta", "ring", "empirical"))
    rows = {c["family"]: c for c in diag["candidates"]}
    assert rows["truncnorm"]["at_bound"] == ["mu"]
    assert dist.family != "truncnorm" and "passed over" in diag["reason"]
    assert diag["at_bound"] == [] and "ks_pvalue" not in diag
    alone, d2 = fit_radius(r, ("truncnorm",))  # nothing to fall back to: kept, and said so
    assert alone.family == "truncnorm" and d2["at_bound"] == ["mu"] and "every" in d2["reason"]


def test_ring_support_is_estimated_beyond_the_sample_extremes():
    ring = TargetLaw(Dist("ring", {"r_min": 0.5, "r_max": 0.95}), real_fraction=0.0)
    g = torch.Generator().manual_seed(3)
    r = np.abs(np.concatenate([sample_eigenvalues(ring, 100, generator=g) for _ in range(4)]))
    r = r[::2]  # one modulus per conjugate pair: 200 independent draws
    dist, diag = fit_radius(r, ("ring", "beta", "truncnorm"))
    assert dist.family == "ring", diag["reason"]
    lo, hi = dist.params["r_min"], dist.params["r_max"]
    assert lo < r.min() and hi > r.max()  # not the extremes themselves
    s = np.sort(r**2)
    gap = (s[-1] - s[0]) / (len(s) - 1)  # the unbiased estimates: one spacing beyond
    assert lo**2 == pytest.approx(s[0] - gap) and hi**2 == pytest.approx(s[-1] + gap)
    assert lo == pytest.approx(0.5, abs=0.01) and hi == pytest.approx(0.95, abs=0.01)


def test_an_atom_in_the_radii_is_kept_by_the_empirical_law():
    """IRNN-trained ReLU networks keep untouched units at |λ| = 1 exactly: 40 % of the radii here.
    Tied quantiles used to drop the empirical family, leaving a truncnorm that smears the atom."""
    rng = np.random.default_rng(5)
    r = np.concatenate([np.ones(120), rng.uniform(0.2, 1.5, 180)])
    dist, diag = fit_radius(r, ("truncnorm", "beta", "ring", "empirical"))
    assert dist.family == "empirical", diag["reason"]
    q = np.asarray(dist.params["quantiles"])
    assert np.all(np.diff(q) > 0) and q[0] == r.min() and q[-1] == pytest.approx(r.max())
    draws = dist.ppf(rng.random(20_000))
    near_one = np.mean(np.abs(draws - 1.0) < 1e-3)
    assert near_one == pytest.approx(0.4, abs=0.07)  # the atom's mass survives sampling
    smooth, _ = fit_radius(r, ("truncnorm",))  # what was chosen before: the atom smeared out
    assert np.mean(np.abs(smooth.ppf(rng.random(20_000)) - 1.0) < 1e-3) < 0.01


@pytest.mark.skipif(not (EXAMPLES / "lstm_sine.pt").exists(), reason="no example checkpoint")
def test_trained_network_goodness_is_the_data_distance_and_the_sampler_agrees():
    f = EigenInitFitter(min_separate=10_000).fit([EXAMPLES / "lstm_sine.pt"])
    g = torch.Generator().manual_seed(0)
    for t, law in f.params_.targets.items():
        w = f.eigenvalues_[t]
        pairs = w[w.imag > 1e-10 * np.maximum(1, np.abs(w))]
        reals = w[np.abs(w.imag) <= 1e-10 * np.maximum(1, np.abs(w))]
        data = np.concatenate([np.abs(pairs), np.abs(reals)])
        d = f.params_.diagnostics[t]["radius"]
        if law.radius.family != "point":  # the reported D is the data's distance to the law
            assert stats.kstest(data, law.radius.cdf).statistic == pytest.approx(d["ks_statistic"])
        drawn = np.concatenate([sample_eigenvalues(law, 64, generator=g) for _ in range(40)])
        drawn_r = np.concatenate([np.abs(drawn[drawn.imag > 0]), np.abs(drawn[drawn.imag == 0])])
        two = stats.ks_2samp(data, drawn_r).statistic
        assert two < d["ks_statistic"] + 1.95 * math.sqrt(1 / len(data) + 1 / len(drawn_r))


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "data" / "init").glob("*.json"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_laws_fitted_by_the_old_fitter_still_load_and_sample(path):
    from rnndyn.init.law import EigenInitParams
    from rnndyn.init.sample import sample_matrix

    law = EigenInitParams.load(path)  # old diagnostics (ks_pvalue, no bound flags) are accepted
    g = torch.Generator().manual_seed(0)
    for t in law.targets:
        w, lam = sample_matrix(law, 12, target=t, generator=g, return_eigenvalues=True)
        assert np.isfinite(lam).all() and torch.isfinite(w).all()

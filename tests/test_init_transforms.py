"""Radius-law transforms (how the shipped round-2/3 law files were made), against closed forms."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnndyn.init import EigenInitParams, capped_radius, map_radii, slow_radius
from rnndyn.init.law import Dist

U = np.linspace(0.0, 1.0, 1001)
BETA = Dist("truncnorm", {"mu": 0.9, "sigma": 0.2, "low": 0.0, "high": 1.3})


def test_capped_radius_is_the_law_clipped_at_the_cap():
    out = capped_radius(BETA, 1.0)
    assert out.family == "empirical"
    q = out.ppf(U)
    assert q.max() <= 1.0 + 1e-12 and np.all(np.diff(q) >= 0)
    # below the cap the quantiles are the original's (up to the 129-point interpolation)
    orig = BETA.ppf(U)
    below = (orig < 0.95) & (U > 0.02)  # the first of 128 segments is linear
    assert np.max(np.abs(q[below] - orig[below])) < 0.02
    # the mass above the cap sits at the cap
    frac_above = 1.0 - float(BETA.cdf(np.array([1.0]))[0])
    assert np.mean(q >= 1.0 - 1e-6) == pytest.approx(frac_above, abs=0.02)


def test_slow_radius_spreads_the_top_fraction_over_low_to_one():
    out = slow_radius(BETA, fraction=0.25, low=0.8)
    q = out.ppf(U)
    top = q[U > 0.75 + 1e-9]
    assert top.min() >= 0.8 - 1e-6 and top.max() <= 1.0 + 1e-6
    # uniform over [0.8, 1]: its median is 0.9
    assert np.median(top) == pytest.approx(0.9, abs=0.01)
    assert np.all(q[U < 0.74] <= 0.8 + 1e-6)


@pytest.mark.parametrize("bad", [(0.0, 0.5), (1.0, 0.5), (0.2, 1.0)])
def test_slow_radius_refuses_impossible_settings(bad):
    with pytest.raises(ValueError):
        slow_radius(BETA, *bad)


def test_map_radii_changes_radius_and_real_radius_only():
    law = EigenInitParams.load("data/init/eigen3.regression.json")
    targets = dict(law.targets)
    out = map_radii(targets, lambda d: capped_radius(d, 0.5))
    for t, new in out.items():
        assert new.radius.ppf(U).max() <= 0.5 + 1e-12
        if targets[t].real_radius is not None:
            assert new.real_radius.ppf(U).max() <= 0.5 + 1e-12
        assert (
            dataclasses.replace(new, radius=targets[t].radius, real_radius=targets[t].real_radius)
            == targets[t]
        )

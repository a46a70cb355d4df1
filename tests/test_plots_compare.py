"""Compare figures: points for small samples, readable labels, per-network spread."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from test_compare import FAST, write_population

from rnndyn.compare.spectra import compare_spectra
from rnndyn.plots.compare import (
    STAT_LABELS,
    eigenvalue_density,
    modulus_ecdf,
    statistic_strips,
)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    paths = write_population(tmp_path_factory.mktemp("pop"), 3)  # 3 nets × 16 eigenvalues
    return compare_spectra(paths["classification"] + paths["regression"], **FAST)


def _gid(artists, prefix):
    return [a for a in artists if str(a.get_gid()).startswith(prefix)]


def test_few_eigenvalues_are_points_not_a_hexbin(result):
    fig = eigenvalue_density(result)
    pts = [c for ax in fig.axes for c in _gid(ax.collections, "points-")]
    assert [len(c.get_offsets()) for c in pts] == [48, 48]  # every eigenvalue is a point
    assert not [c for ax in fig.axes for c in _gid(ax.collections, "density-")]
    assert len(fig.axes) == 2  # no colour bar without a colour scale
    a, b = pts
    assert to_rgb(a.get_facecolor()[0]) != to_rgb(b.get_facecolor()[0])
    # the marker differs too (told apart without colour)
    va, vb = (c.get_paths()[0].vertices for c in pts)
    assert va.shape != vb.shape or not np.allclose(va, vb)
    assert "3 networks, 48 eigenvalues" in fig.axes[0].get_title()
    plt.close("all")


def test_many_eigenvalues_hexbin_has_dark_cmap_and_clear_label(result):
    fig = eigenvalue_density(result, scatter_below=10)
    hexes = [c for ax in fig.axes for c in _gid(ax.collections, "density-")]
    assert [float(h.get_array().sum()) for h in hexes] == pytest.approx([3.0, 3.0])
    top = np.array(hexes[0].get_cmap()(1.0)[:3])
    assert top @ [0.2126, 0.7152, 0.0722] < 0.75  # no light-yellow end on white
    bar = fig.axes[-1]
    assert "density" in bar.get_ylabel() and "network" in bar.get_ylabel()
    plt.close("all")


def test_ecdf_shows_each_network_and_the_pooled_curve(result):
    ax = modulus_ecdf(result)
    per_net = _gid(ax.lines, "network-ecdf-")
    pooled = _gid(ax.lines, "ecdf-")
    assert len(per_net) == 6 and len(pooled) == 2
    assert all(line.get_ydata()[-1] == pytest.approx(1.0) for line in per_net + pooled)
    assert all(line.get_linewidth() < pooled[0].get_linewidth() for line in per_net)
    texts = [t.get_text() for leg in ax.findobj(matplotlib.legend.Legend) for t in leg.get_texts()]
    assert "one network" in texts and any("pooled" in t for t in texts)
    plt.close("all")


def test_statistic_panels_have_human_labels_and_name_the_correction(result):
    fig = statistic_strips(result, statistics=["spectral_radius", "longest_timescale"], ncols=2)
    t0, t1 = (ax.get_title() for ax in fig.axes[:2])
    assert t0.startswith(STAT_LABELS["spectral_radius"]) and "_" not in t0
    assert t1.startswith("longest timescale") and "(steps)" in t1
    # regression radii > 1 give infinite timescales: the panel says which group lost them
    assert "∞ not shown (regression: 3)" in t1
    assert "Holm" in t0 and "p_holm" not in t0 and "≤ 1" not in t0
    plt.close("all")


def test_correction_name_follows_the_run(tmp_path):
    paths = write_population(tmp_path, 3)
    res = compare_spectra(paths["classification"] + paths["regression"], correction="bh", **FAST)
    fig = statistic_strips(res, statistics=["spectral_radius"], ncols=1)
    title = fig.axes[0].get_title()
    assert "BH-adjusted p" in title or "n.s. after BH" in title
    assert "BH = Benjamini–Hochberg" in fig._supxlabel.get_text()  # spelled out once, below
    plt.close("all")

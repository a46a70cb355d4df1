"""Bench figures: no boxes for small groups, one colour per initializer everywhere, bands explained."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.collections as mc
import matplotlib.patches as mp
import numpy as np
import pytest
from matplotlib.colors import to_hex
from test_bench import bench

from rnndyn.plots import bench as plots


@pytest.fixture(scope="module")
def res3(tmp_path_factory):
    return bench(tmp_path_factory.mktemp("b3") / "b", seeds=3)


def _legend_texts(fig):
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_few_runs_get_points_and_a_median_tick_not_a_box(res3):
    ax = plots.final_metric(res3, "adding")
    # boxplot draws PathPatch boxes; 3 runs per group is below BOX_MIN
    assert not [p for p in ax.patches if isinstance(p, mp.PathPatch)]
    ticks = [line for line in ax.lines if str(line.get_gid()).startswith("median-")]
    assert len(ticks) == 5  # 2 rnn + 3 gru initializers
    runs = res3.runs_frame()
    for tick in ticks:
        _, init, arch = tick.get_gid().split("-")
        sel = runs[(runs.task == "adding") & (runs.init == init) & (runs.arch == arch)]["test"]
        assert tick.get_ydata()[0] == pytest.approx(float(np.median(sel.dropna())))


def test_enough_runs_get_a_box(tmp_path):
    res = bench(tmp_path / "b", seeds=5)
    ax = plots.final_metric(res, "adding")
    assert len([p for p in ax.patches if isinstance(p, mp.PathPatch)]) == 5


def test_one_colour_per_initializer_in_both_figures(res3):
    want = {init: to_hex(st["color"]) for init, st in plots.init_styles(res3).items()}
    assert len(set(want.values())) == len(want)
    lc = plots.learning_curve(res3, "adding", "gru")
    for line in lc.get_lines():
        if line.get_label() in want:
            assert to_hex(line.get_color()) == want[line.get_label()]
    fm = plots.final_metric(res3, "adding")
    for c in fm.collections:
        if isinstance(c, mc.PathCollection):
            init = c.get_gid().split("-")[1]
            assert to_hex(c.get_facecolor()[0], keep_alpha=False) == want[init]
    # and both figure legends carry the initializers with those colours
    texts_lc = _legend_texts(plots.learning_curves(res3))
    texts_fm = _legend_texts(plots.final_metrics(res3))
    assert set(want) <= set(texts_lc) and set(want) <= set(texts_fm)
    assert {"RNN", "GRU"} <= set(texts_fm)  # marker = architecture, said in the legend


def test_diverged_runs_are_drawn_off_scale_not_stretching_the_axis(tmp_path):
    import dataclasses

    res = bench(tmp_path / "b", seeds=3)
    recs = list(res.records)
    hit = [i for i, r in enumerate(recs) if r["task"] == "adding" and r["init"] == "irnn"]
    for i, value in zip(hit[:2], (1e49, float("nan")), strict=True):
        recs[i] = {
            **recs[i],
            "status": "diverged",
            "metrics": {**recs[i]["metrics"], "test": value},
        }
    res = dataclasses.replace(res, records=tuple(recs))
    ax = plots.final_metric(res, "adding")
    base = recs[0]["spec"]["baseline"]
    assert ax.get_ylim()[1] == pytest.approx(10 * base)  # not 1e49
    off = [c for c in ax.collections if str(c.get_gid()).startswith("offscale-")]
    assert sum(len(c.get_offsets()) for c in off) == 2
    assert "2 run(s) off scale" in ax.get_title()  # the note sits above the axes, off the data
    assert not any("off scale" in t.get_text() for t in ax.texts)
    assert ax.get_yscale() == "linear"  # the fake errors span less than a decade
    clean = plots.final_metric(bench(tmp_path / "c", seeds=3), "adding")
    assert not [c for c in clean.collections if str(c.get_gid()).startswith("offscale-")]


def test_band_is_explained_in_the_legend(res3):
    texts = _legend_texts(plots.learning_curves(res3))
    assert plots.BAND_LABEL in texts and "trivial baseline" in texts


def test_single_seed_has_no_band_and_no_band_entry(tmp_path):
    res = bench(tmp_path / "b", seeds=1)
    ax = plots.learning_curve(res, "adding", "gru")
    assert not [c for c in ax.collections if isinstance(c, mc.PolyCollection)]
    assert plots.BAND_LABEL not in ax.get_legend_handles_labels()[1]


def test_fourteen_initializers_never_share_colour_and_marker(tmp_path):
    """Every initializer keeps its own (colour, marker) in both bench figures, well past the
    9-colour palette that made ``default`` and ``eigen3`` both blue."""
    import dataclasses

    from matplotlib.colors import to_hex
    from matplotlib.markers import MarkerStyle

    res = bench(tmp_path / "b", tasks=("adding",), archs=("gru",), inits=("orthogonal",), seeds=2)
    recs = [{**r, "init": f"init{k:02d}"} for k in range(14) for r in res.records]
    res = dataclasses.replace(res, records=tuple(recs))
    styles = plots.init_styles(res)
    assert len({(to_hex(s["color"]), s["marker"]) for s in styles.values()}) == 14
    ax = plots.final_metric(res, "adding")
    drawn = {}
    for c in ax.collections:
        if str(c.get_gid()).startswith("runs-"):
            init = c.get_gid().split("-")[1]
            ms = MarkerStyle(styles[init]["marker"])
            path = ms.get_path().transformed(ms.get_transform())
            np.testing.assert_allclose(c.get_paths()[0].vertices, path.vertices)  # drawn marker
            drawn[init] = (to_hex(c.get_facecolor()[0], keep_alpha=False), styles[init]["marker"])
    assert len(drawn) == 14 and len(set(drawn.values())) == 14
    lc = plots.learning_curve(res, "adding", "gru")
    pairs = {
        (to_hex(ln.get_color()), ln.get_marker())
        for ln in lc.get_lines()
        if str(ln.get_gid()).startswith("curve-")
    }
    assert len(pairs) == 14

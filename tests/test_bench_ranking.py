"""Method comparison over cells (Demšar 2006): ranks, Friedman, CDs, paired tests, the CD diagram.

Independent routes: Demšar's worked example (Table 6 and §3.1.3's Wilcoxon), scipy's
``friedmanchisquare`` / ``wilcoxon`` / ``binomtest``, closed forms, and brute force.
"""

from __future__ import annotations

import itertools
import math

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rnndyn.errors import InvalidInputError, UsageError
from rnndyn.training.bench.paired import (
    EXACT_MAX,
    control_vs_baselines,
    exact_floor,
    paired_cells,
    signed_rank_test,
)
from rnndyn.training.bench.ranking import (
    block_summaries,
    bonferroni_dunn_cd,
    bonferroni_dunn_q,
    cliques,
    friedman,
    iman_davenport,
    nemenyi_cd,
    nemenyi_q,
    rank_blocks,
    rank_methods,
)

# Demšar (2006), Table 6: AUC of C4.5 variants on 14 data sets. On `voting` the paper prints
# 0.975 for both cf variants but ranks them 2 and 3 (unrounded values differ): 0.9752 / 0.9748.
METHODS = ["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"]
AUC = [
    [0.763, 0.768, 0.771, 0.798], [0.599, 0.591, 0.590, 0.569], [0.954, 0.971, 0.968, 0.967],
    [0.628, 0.661, 0.654, 0.657], [0.882, 0.888, 0.886, 0.898], [0.936, 0.931, 0.916, 0.931],
    [0.661, 0.668, 0.609, 0.685], [0.583, 0.583, 0.563, 0.625], [0.775, 0.838, 0.866, 0.875],
    [1.000, 1.000, 1.000, 1.000], [0.940, 0.962, 0.965, 0.962], [0.619, 0.666, 0.614, 0.669],
    [0.972, 0.981, 0.9752, 0.9748], [0.957, 0.978, 0.946, 0.970],
]  # fmt: skip
CONTROL = "C4.5+m+cf"


@pytest.fixture(scope="module")
def demsar():
    return rank_methods(pd.DataFrame(AUC, columns=METHODS), control=CONTROL)


def test_demsar_table6_average_ranks_friedman_and_cd(demsar):
    # exact rank sums of the paper's table: 44, 28, 40.5, 27.5 over 14 data sets
    want = {"C4.5": 44 / 14, "C4.5+m": 2.0, "C4.5+cf": 40.5 / 14, CONTROL: 27.5 / 14}
    for m, r in want.items():
        assert demsar.average_ranks[m] == pytest.approx(r, abs=1e-12)
    assert list(demsar.average_ranks.round(3)) == [1.964, 2.0, 2.893, 3.143]
    f = demsar.friedman
    assert (f.n_blocks, f.k) == (14, 4)
    assert f.chi2_uncorrected == pytest.approx(9.28, abs=0.005)  # Demšar's χ²_F (no tie term)
    assert iman_davenport(f.chi2_uncorrected, 14, 4)[0] == pytest.approx(3.69, abs=0.005)
    assert demsar.cd_nemenyi == pytest.approx(1.25, abs=0.005)
    # ties (mushroom, iris, lung cancer, primary tumor) → the corrected χ² is scipy's
    ref = scipy.stats.friedmanchisquare(*np.asarray(AUC).T)
    assert f.chi2 == pytest.approx(ref.statistic, rel=1e-12)
    assert f.p_chi2 == pytest.approx(ref.pvalue, rel=1e-10)
    assert f.chi2 > f.chi2_uncorrected
    fid = (14 - 1) * f.chi2 / (14 * 3 - f.chi2)
    assert f.f == pytest.approx(fid) and f.p_f == pytest.approx(scipy.stats.f.sf(fid, 3, 39))
    # Nemenyi at 0.05: no pair differs, one clique; at 0.10 CD = 1.12 (Demšar, §3.2.2)
    assert not demsar.pairs["significant"].any() and demsar.cliques == [tuple(demsar.average_ranks.index)]  # fmt: skip
    assert nemenyi_cd(4, 14, 0.10) == pytest.approx(1.12, abs=0.005)


def test_demsar_bonferroni_dunn_against_the_control(demsar):
    """Demšar: with C4.5+m+cf as control, only C4.5 lies beyond the Bonferroni–Dunn CD."""
    assert demsar.cd_bonferroni_dunn == pytest.approx(2.394 * math.sqrt(20 / 84), abs=1e-3)
    vs = demsar.versus_control.set_index("method")
    assert vs["significant"].to_dict() == {"C4.5+m": False, "C4.5+cf": False, "C4.5": True}
    assert (vs["p_bonferroni"] < 0.05).to_dict() == vs["significant"].to_dict()
    t = demsar.table()
    assert t["method"].tolist() == [CONTROL, "C4.5+m", "C4.5+cf", "C4.5"]
    assert t["significant_vs_control"].tolist() == [False, False, False, True]
    assert t["is_control"].sum() == 1 and t["position"].tolist() == [1, 2, 3, 4]
    z = (44 / 14 - 27.5 / 14) / math.sqrt(20 / 84)
    assert vs.loc["C4.5", "p"] == pytest.approx(2 * scipy.stats.norm.sf(z))


def test_demsar_wilcoxon_c45_vs_c45m_rank_sums():
    """§3.1.3: C4.5+m vs C4.5, zeros split: R+ = 93, R− = 12; p below 0.05."""
    a = np.asarray(AUC)
    d = np.round(a[:, 1] - a[:, 0], 6)
    assert scipy.stats.wilcoxon(d, zero_method="zsplit").statistic == pytest.approx(12.0)
    p, rb, how = signed_rank_test(d, "zsplit")
    assert rb > 0 and p < 0.05 and how.startswith("exact")
    assert p == pytest.approx(_brute_force_p(d, "zsplit"), abs=1e-12)


def _brute_force_p(d, zero_method):
    """Two-sided signed-rank p by enumerating every sign pattern of the nonzero differences."""
    x = d[d != 0] if zero_method == "wilcox" else d
    r = scipy.stats.rankdata(np.abs(x))[x != 0]
    signs = np.array(list(itertools.product((0, 1), repeat=r.size)))
    t, t_obs, centre = signs @ r, r[x[x != 0] > 0].sum(), r.sum() / 2
    return float(np.mean(np.abs(t - centre) >= abs(t_obs - centre) - 1e-9))


@pytest.mark.parametrize("k", range(2, 11))
def test_q_values_match_demsar_table5(k):
    nemenyi = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
    nemenyi_10 = [1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920]
    assert nemenyi_q(k) == pytest.approx(nemenyi[k - 2], abs=1.5e-3)
    assert nemenyi_q(k, 0.10) == pytest.approx(nemenyi_10[k - 2], abs=1.5e-3)
    if k != 9:  # the paper prints 2.724 for k = 9; z at 1 − 0.05/16 is 2.734
        bd = [1.960, 2.241, 2.394, 2.498, 2.576, 2.638, 2.690, None, 2.773]
        assert bonferroni_dunn_q(k) == pytest.approx(bd[k - 2], abs=1.5e-3)
    assert bonferroni_dunn_cd(k, 10) < nemenyi_cd(k, 10) or k == 2


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.int64, st.tuples(st.integers(2, 12), st.integers(2, 7)), elements=st.integers(0, 3))
)
def test_friedman_matches_scipy_with_ties(x):
    ranks = rank_blocks(pd.DataFrame(x.astype(float)))
    n, k = x.shape
    assert np.allclose(ranks.sum(axis=1), k * (k + 1) / 2)
    assert ranks.mean().sum() == pytest.approx(k * (k + 1) / 2)
    f = friedman(ranks)
    if not np.isfinite(f.chi2):  # every block all-tied: nothing to test
        assert (x == x[:, :1]).all()
        return
    if k >= 3:
        ref = scipy.stats.friedmanchisquare(*x.T.astype(float))
        assert f.chi2 == pytest.approx(ref.statistic, rel=1e-9, abs=1e-9)
    assert 0 <= f.chi2 <= n * (k - 1) + 1e-9
    if all(len(set(row)) == k for row in x):
        assert f.chi2 == pytest.approx(f.chi2_uncorrected)


def test_all_tied_blocks_leave_the_corrected_chi2_alone_but_pull_ranks_inward():
    rng = np.random.default_rng(3)
    v = pd.DataFrame(rng.normal(size=(8, 4)) + np.array([1.0, 0.5, 0, 0]), columns=list("abcd"))
    tied = pd.DataFrame(np.ones((5, 4)), columns=list("abcd"))
    base, more = rank_methods(v), rank_methods(pd.concat([v, tied], ignore_index=True))
    assert more.friedman.chi2 == pytest.approx(base.friedman.chi2)
    assert abs(more.average_ranks - 2.5).max() < abs(base.average_ranks - 2.5).max()
    assert more.friedman.f != pytest.approx(base.friedman.f)


def _runs(values, hib, seeds=5, noise=0.01, seed=0):
    """Tidy runs: ``values`` {(task, arch): {init: centre}}, hib {(task, arch): bool}."""
    rng = np.random.default_rng(seed)
    rows = [
        {"task": t, "arch": a, "init": m, "seed": s, "value": c + noise * rng.normal(),
         "higher_is_better": hib[(t, a)]}
        for (t, a), per in values.items() for m, c in per.items() for s in range(seeds)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _planted(n_tasks=10, seed=0):
    """eigen best in every block; half the blocks lower-is-better (eigen lowest there)."""
    rng = np.random.default_rng(seed)
    values, hib = {}, {}
    for i, arch in itertools.product(range(n_tasks), ("rnn", "gru")):
        up = i % 2 == 0
        others = rng.uniform(0, 1, 4)
        centres = {"eigen": 2.0, **{f"b{j}": o for j, o in enumerate(others)}}
        values[(f"t{i}", arch)] = {m: c if up else -c for m, c in centres.items()}
        hib[(f"t{i}", arch)] = up
    return _runs(values, hib, seed=seed)


def test_planted_dominant_method_ranks_first_and_differs():
    m = block_summaries(_planted())
    assert m.n_blocks == 20 and m.dropped.empty and not m.ceiling
    res = rank_methods(m, control="eigen")
    assert res.average_ranks.index[0] == "eigen" and res.average_ranks["eigen"] == 1.0
    assert res.friedman.p_chi2 < 1e-6 and res.friedman.p_f < 1e-6
    assert res.versus_control["significant"].all()
    assert res.pairs[(res.pairs.method_a == "eigen")]["significant"].all()
    vs = control_vs_baselines(m, "eigen")
    assert (vs["wins"] == 20).all() and (vs["losses"] == 0).all()
    assert vs["p_sign"].tolist() == pytest.approx([2 / 2**20] * 4)
    assert vs["p_wilcoxon"].tolist() == pytest.approx([2 / 2**20] * 4)  # exact, ties and all
    assert (vs["p_wilcoxon_holm"] < 1e-4).all() and (vs["verdict"] == "eigen better").all()
    assert (vs["rank_biserial"] == 1.0).all() and (vs["median_diff"] > 0).all()


def test_lower_is_better_orientation_flips_ranks():
    rng = np.random.default_rng(1)
    v = pd.DataFrame(rng.normal(size=(6, 5)), columns=list("abcde"))
    hib = pd.Series([True] * 6)
    r = rank_blocks(v, hib)
    flipped = hib.copy()
    flipped[2] = False
    r2 = rank_blocks(v, flipped)
    assert np.allclose(r2.iloc[2], 6 - r.iloc[2]) and r2.drop(index=2).equals(r.drop(index=2))
    v3 = v.copy()
    v3.iloc[2] *= -1
    assert rank_blocks(v3, flipped).equals(r)  # negated values, lower is better: same ranks
    assert r.iloc[0].idxmin() == v.iloc[0].idxmax()


def test_sign_and_wilcoxon_across_blocks_match_scipy():
    rng = np.random.default_rng(7)
    values = {(f"t{i}", "gru"): {"eigen": rng.normal(), "x": rng.normal(), "y": 0.0} for i in range(20)}  # fmt: skip
    hib = dict.fromkeys(values, True)
    m = block_summaries(_runs(values, hib, noise=0.0))
    vs = control_vs_baselines(m, "eigen", scale="none", zero_method="wilcox").set_index("baseline")
    d = (m.values["eigen"] - m.values["x"]).to_numpy()
    w, loss = int((d > 0).sum()), int((d < 0).sum())
    assert (vs.loc["x", "wins"], vs.loc["x", "losses"]) == (w, loss)
    assert vs.loc["x", "p_sign"] == pytest.approx(scipy.stats.binomtest(w, w + loss).pvalue)
    # 20 nonzero differences without ties: scipy's exact distribution
    assert vs.loc["x", "p_wilcoxon"] == pytest.approx(scipy.stats.wilcoxon(d, method="exact").pvalue)  # fmt: skip
    from rnndyn.compare.family import holm

    assert vs["p_wilcoxon_holm"].tolist() == pytest.approx(list(holm(vs["p_wilcoxon"])))
    # range scaling: each block's difference over its range; ranks and signs change only by scale
    vr = control_vs_baselines(m, "eigen").set_index("baseline")
    assert (vr.loc["x", "wins"], vr.loc["x", "losses"]) == (w, loss)
    assert vr["median_diff"].abs().max() <= 1.0


@settings(max_examples=80, deadline=None)
@given(
    arrays(np.float64, 5, elements=st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0])),
    st.sampled_from(["zsplit", "pratt", "wilcox"]),
)
def test_five_seeds_never_below_0_0625_and_equal_scipy(d, zero_method):
    p, rb, _ = signed_rank_test(d, zero_method)
    assert p >= 0.0625 - 1e-12
    nz = d[d != 0]
    if nz.size:
        r = scipy.stats.rankdata(np.abs(nz))
        assert rb == pytest.approx((r[nz > 0].sum() - r[nz < 0].sum()) / r.sum())
        assert p == pytest.approx(_brute_force_p(d, zero_method), abs=1e-12)
        x = nz if zero_method == "wilcox" else d
        if x.size >= 2:  # scipy's permutation test needs two observations
            perm = scipy.stats.PermutationMethod(n_resamples=np.inf)
            ref = scipy.stats.wilcoxon(x, zero_method=zero_method, method=perm).pvalue
            assert p == pytest.approx(min(1.0, ref), abs=1e-12)
    else:
        assert (p, rb) == (1.0, 0.0)


def test_exact_test_equals_scipy_exact_and_permutation():
    d = np.array([0.3, -1.2, 2.5, 0.7, 1.9, 3.1, -0.2, 4.4, 0.05])
    p, _, how = signed_rank_test(d)
    assert p == pytest.approx(scipy.stats.wilcoxon(d, method="exact").pvalue)
    assert how.startswith("exact") and exact_floor(5) == 0.0625
    rng = np.random.default_rng(5)
    tied = rng.integers(-3, 6, 15).astype(float)  # ties and zeros, 15 differences
    for zm in ("zsplit", "pratt", "wilcox"):
        assert signed_rank_test(tied, zm)[0] == pytest.approx(_brute_force_p(tied, zm), abs=1e-12)
    big = rng.normal(0.1, 1.0, EXACT_MAX + 1)
    p_big, _, how_big = signed_rank_test(big)
    assert how_big.startswith("normal") and p_big == pytest.approx(
        scipy.stats.wilcoxon(big, zero_method="zsplit", method="asymptotic").pvalue
    )
    p_edge = signed_rank_test(big[:EXACT_MAX])[0]  # the exact p at the limit ≈ the normal one
    ref_edge = scipy.stats.wilcoxon(big[:EXACT_MAX], method="exact").pvalue
    assert p_edge == pytest.approx(ref_edge, rel=1e-6)


def test_paired_cells_with_five_seeds_cannot_reach_0_05():
    runs = _planted(n_tasks=3)
    table = paired_cells(runs, "eigen")
    assert len(table) == 6 * 4 and set(table["n"]) == {5}
    assert (table["p_wilcoxon"] >= 0.0625 - 1e-12).all() and (table["p_floor"] == 0.0625).all()
    assert not table["can_reach_alpha"].any()
    assert table["note"].str.contains("cannot reach α = 0.05").all()
    # eigen is better in every seed of every cell, lower-is-better blocks included
    assert (table["wins"] == 5).all() and (table["median_diff"] > 0).all()
    assert (table["rank_biserial"] == 1.0).all() and (table["p_wilcoxon"] == 0.0625).all()
    low = table[~table["higher_is_better"]]
    assert (low["control_median"] < low["baseline_median"]).all()


def test_paired_cells_pair_by_seed_not_by_row_order():
    runs = _planted(n_tasks=1).sample(frac=1.0, random_state=0)
    runs = runs[~((runs.init == "b0") & (runs.seed == 0))]  # b0 lacks seed 0
    table = paired_cells(runs, "eigen").set_index(["task", "arch", "baseline"])
    ordered = paired_cells(_planted(n_tasks=1), "eigen").set_index(["task", "arch", "baseline"])
    assert table.loc[("t0", "rnn", "b0"), "n"] == 4 and table.loc[("t0", "rnn", "b1"), "n"] == 5
    b1 = ("t0", "rnn", "b1")
    assert table.loc[b1, "median_diff"] == pytest.approx(ordered.loc[b1, "median_diff"])


def test_ceiling_blocks_are_detected_and_optionally_dropped():
    values = {("tomita", "gru"): {"a": 1.0, "b": 1.0, "c": 1.0}, ("adding", "gru"): {"a": 0.1, "b": 0.3, "c": 0.2}}  # fmt: skip
    hib = {("tomita", "gru"): True, ("adding", "gru"): False}
    runs = _runs(values, hib, noise=0.0)
    m = block_summaries(runs)
    assert m.ceiling == [("tomita", "gru")] and m.n_blocks == 2 and m.dropped.empty
    dropped = block_summaries(runs, drop_ceiling=True)
    assert dropped.n_blocks == 1 and list(dropped.values.index) == [("adding", "gru")]
    assert dropped.dropped["block"].tolist() == ["tomita/gru"]
    assert dropped.dropped["reason"].str.startswith("ceiling").all()
    near = _runs({("tomita", "gru"): {"a": 1.0, "b": 0.999, "c": 1.0}}, {("tomita", "gru"): True}, noise=0.0)  # fmt: skip
    assert block_summaries(near).ceiling == [] and block_summaries(near, ceiling_atol=0.01).ceiling  # fmt: skip


def test_incomplete_blocks_and_methods_are_dropped_and_reported():
    values = {(f"t{i}", "gru"): {"a": 0.1 * i, "b": 0.2, "c": 0.3} for i in range(4)}
    hib = dict.fromkeys(values, True)
    runs = _runs(values, hib)
    runs = runs[~((runs.task == "t1") & (runs.init == "c"))]  # c never ran in t1
    runs.loc[(runs.task == "t2") & (runs.init == "b") & (runs.seed == 3), "value"] = np.nan
    m = block_summaries(runs)  # default: c is not in every block → c dropped; t2 unpaired
    assert m.methods == ["a", "b"] and list(m.values.index.get_level_values("task")) == ["t0", "t1", "t3"]  # fmt: skip
    reasons = dict(zip(m.dropped["block"] + "|" + m.dropped["method"], m.dropped["reason"], strict=True))  # fmt: skip
    assert reasons["*|c"].startswith("not run in every block (in 3 of 4)")
    assert "not paired" in reasons["t2/gru|*"] and "3" in reasons["t2/gru|*"]
    m2 = block_summaries(runs, methods=["a", "b", "c"])  # explicit: the block lacking c goes
    assert list(m2.values.index.get_level_values("task")) == ["t0", "t3"]
    assert m2.dropped.set_index("block").loc["t1/gru", "reason"] == "no runs of c"
    assert set(m2.runs["task"]) == {"t0", "t3"} and len(m2.runs) == 2 * 3 * 5
    assert block_summaries(runs, methods=["a", "b"], min_seeds=6).n_blocks == 0


def test_bad_input_is_refused_with_a_message():
    runs = _planted(n_tasks=1)
    with pytest.raises(InvalidInputError, match="lacks the column"):
        block_summaries(runs.drop(columns="seed"))
    with pytest.raises(InvalidInputError, match="repeated"):
        block_summaries(pd.concat([runs, runs.iloc[:1]]))
    mixed = runs.copy()
    mixed.loc[mixed.index[0], "higher_is_better"] = not mixed["higher_is_better"].iloc[0]
    with pytest.raises(InvalidInputError, match="differs within"):
        block_summaries(mixed)
    with pytest.raises(UsageError, match="control"):
        rank_methods(block_summaries(runs), control="nope")
    with pytest.raises(UsageError, match="zero_method"):
        signed_rank_test(np.ones(3), "drop")


def test_cliques_equal_the_brute_force_definition():
    rng = np.random.default_rng(11)
    for _ in range(40):
        k = int(rng.integers(2, 7))
        avg = pd.Series(np.round(rng.uniform(1, k, k), 1), index=[f"m{i}" for i in range(k)])
        cd = float(rng.uniform(0.2, 2.5))
        ok = [set(s) for n in range(2, k + 1) for s in itertools.combinations(avg.index, n)
              if avg[list(s)].max() - avg[list(s)].min() < cd]  # fmt: skip
        maximal = {frozenset(s) for s in ok if not any(s < t for t in ok)}
        assert {frozenset(c) for c in cliques(avg, cd)} == maximal


def test_critical_difference_diagram_draws_every_part(demsar):
    from matplotlib.colors import to_hex

    from rnndyn.plots.ranking import CONTROL_COLOR, critical_difference

    ax = critical_difference(demsar, subset="gated cells")
    assert ax.get_title().startswith(
        "gated cells: "
    )  # the subset is named, not only in a file name
    texts = {t.get_gid(): t for t in ax.texts if t.get_gid()}
    for m in METHODS:
        assert texts[f"label-{m}"].get_text() == m
        line = next(ln for ln in ax.lines if ln.get_gid() == f"method-{m}")
        assert line.get_xdata()[0] == pytest.approx(demsar.average_ranks[m])
    assert texts[f"label-{CONTROL}"].get_fontweight() == "bold"
    assert to_hex(texts[f"label-{CONTROL}"].get_color()) == to_hex(CONTROL_COLOR)
    bar = next(ln for ln in ax.lines if ln.get_gid() == "cd-bar")
    assert np.ptp(bar.get_xdata()) == pytest.approx(demsar.cd_nemenyi)
    cl = [ln for ln in ax.lines if str(ln.get_gid()).startswith("clique-")]
    assert len(cl) == len(demsar.cliques) == 1
    assert np.ptp(cl[0].get_xdata()) == pytest.approx(44 / 14 - 27.5 / 14 + 0.06)
    title = ax.get_title()
    assert "N = 14" in title and "k = 4" in title and "CD = 1.25" in title and "α = 0.05" in title
    assert f"p = {demsar.friedman.p_chi2:.2g}" in title
    ax.figure.canvas.draw()  # renders without error


def test_bonferroni_dunn_diagram_centres_the_cd_on_the_control(demsar):
    from matplotlib.figure import Figure

    from rnndyn.plots.ranking import critical_difference

    given_ax = Figure().add_subplot()
    ax = critical_difference(demsar, ax=given_ax, test="bonferroni-dunn", labels={"C4.5": "J48"})
    assert ax is given_ax
    bar = next(ln for ln in ax.lines if ln.get_gid() == "cd-bar")
    assert np.mean(bar.get_xdata()) == pytest.approx(demsar.average_ranks[CONTROL])
    assert np.ptp(bar.get_xdata()) == pytest.approx(2 * demsar.cd_bonferroni_dunn)
    assert not [ln for ln in ax.lines if str(ln.get_gid()).startswith("clique-")]
    assert "J48" in [t.get_text() for t in ax.texts]
    with pytest.raises(UsageError):
        critical_difference(demsar, test="tukey")
    with pytest.raises(UsageError, match="control"):
        critical_difference(rank_methods(pd.DataFrame(AUC)), test="bonferroni-dunn")

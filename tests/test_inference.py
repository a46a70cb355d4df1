"""Inference around compare_spectra: one family per run, floors, tasks as the unit, strata,
confounds. Every expected value comes from an independent route (closed forms with math.comb,
brute-force pairwise sums, a from-scratch Holm/BH written from their definitions)."""

import itertools
import json
import math

import numpy as np
import pytest
import scipy.stats
from test_compare import FAST, planted_matrix, write_net, write_population

from rnndyn.compare.confounds import confounds, design_of, flatten
from rnndyn.compare.family import (
    adjust,
    at_floor,
    format_p,
    mann_whitney_floor,
    permutation_floor,
    plan_family,
)
from rnndyn.compare.permutation import (
    Design,
    blocked_test,
    cluster_median_ci,
    delta_from_ranks,
)
from rnndyn.compare.spectra import compare_spectra
from rnndyn.compare.stats import cliffs_delta
from rnndyn.errors import UsageError

# --- multiplicity: recomputed from the JSON from the definitions --------------------------------


def holm_by_definition(p):
    """Holm: p_(i) adjusted = max_{j ≤ i} min(1, (m − j + 1) p_(j)), written without numpy tricks."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def bh_by_definition(p):
    """BH: p_i adjusted = min over all j with p_j ≥ p_i of min(1, m p_j / rank_j)."""
    m = len(p)
    ranks = {i: r + 1 for r, i in enumerate(sorted(range(m), key=lambda i: p[i]))}
    return [min(min(1.0, m * p[j] / ranks[j]) for j in range(m) if p[j] >= p[i]) for i in range(m)]


def _rows(doc):
    return doc["tests"] + doc["distances"]


@pytest.mark.parametrize("correction", ["holm", "bh", "none"])
def test_one_family_per_run_recomputed_from_the_json(tmp_path, correction):
    # 4 gates: 4 strata × 15 tests, less frac_complex (0.5 in every planted matrix: untestable)
    paths = write_population(tmp_path, 5, arch="lstm")
    res = compare_spectra(
        paths["classification"] + paths["regression"], correction=correction, seed=3, **FAST
    )
    doc = json.loads(json.dumps(res.to_dict()))
    rows = _rows(doc)
    assert doc["family"]["correction"] == correction and doc["family"]["size"] == len(rows) == 56
    assert len(doc["untestable"]) == 4 and all(
        u.endswith("frac_complex") for u in doc["untestable"]
    )
    assert doc["settings"]["correction"] == correction
    raw = [r["p_value"] for r in rows]
    expected = {"holm": holm_by_definition, "bh": bh_by_definition, "none": list}[correction](raw)
    assert [r["p_adjusted"] for r in rows] == pytest.approx(expected, rel=1e-12)
    frame = res.tests_frame()
    assert {"p_value", "p_adjusted", "p_floor", "p_bound", "correction"} <= set(frame.columns)
    assert (frame["family_size"] == 56).all()


def test_the_family_is_not_split_by_stratum(tmp_path):
    """A per-stratum Holm would multiply by 14; over the run it multiplies by up to 56 (4 strata ×
    15 tests, less the untestable frac_complex of each)."""
    paths = write_population(tmp_path, 8, arch="lstm")
    res = compare_spectra(paths["classification"] + paths["regression"], **FAST)
    smallest = min((*res.tests, *res.distances), key=lambda r: r.p_value)
    assert smallest.p_adjusted == pytest.approx(min(1.0, 56 * smallest.p_value))


# --- the smallest attainable p -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_a", "n_b", "m", "reachable"),
    [
        (3, 3, 1, False),
        (5, 5, 1, True),
        (5, 5, 10, False),
        (6, 6, 10, True),
        (8, 8, 121, True),
        (5, 5, 121, False),
        (4, 7, 5, True),
        (2, 2, 1, False),
    ],
)
def test_smallest_attainable_p_for_sizes_and_family(n_a, n_b, m, reachable):
    exact = 2 / math.comb(n_a + n_b, n_a)  # inference.md's closed form
    assert mann_whitney_floor(n_a, n_b) == pytest.approx(exact, rel=1e-9)
    plan = plan_family([exact] * m, "holm", 0.05)
    assert plan.size == m and plan.smallest_adjusted == pytest.approx(min(1.0, m * exact))
    assert plan.reachable is reachable and bool(plan.notes) is (not reachable)
    if not reachable:
        assert "no test can reach" in plan.notes[0] and "do not differ" not in plan.notes[0]
    bh = plan_family([exact] * m, "bh", 0.05)
    assert bh.best_case_adjusted == pytest.approx(exact)  # every member at its floor


def test_inference_md_table():
    for n, expected in [(3, 0.1), (5, 0.0079), (6, 0.0022), (8, 1.6e-4), (10, 1.1e-5)]:
        assert 2 / math.comb(2 * n, n) == pytest.approx(expected, rel=0.03)
        assert Design.from_labels(range(2 * n), [True] * n + [False] * n).floor(10**6) == (
            pytest.approx(2 / math.comb(2 * n, n))
        )
    assert permutation_floor(10**6, 999, True) == pytest.approx(1 / 1000)
    assert format_p(0.001, True, 999) == "≤ 0.001 (999 permutations)"
    assert format_p(0.0079, True, None, exact=True) == "≤ 0.0079 (exact)"
    assert format_p(0.012, False) == "0.012" and format_p(0.05, True, adjusted=True) == "≤ 0.05"


def test_three_vs_three_says_alpha_is_out_of_reach(tmp_path):
    paths = write_population(tmp_path, 3)
    res = compare_spectra(paths["classification"] + paths["regression"], **FAST)
    doc = res.to_dict()
    assert doc["family"]["alpha_reachable"] is False
    assert any("no test can reach α = 0.05" in n for n in res.notes)
    radius = next(t for t in res.tests if t.statistic == "spectral_radius")
    assert radius.p_value == pytest.approx(0.1) and radius.p_bound  # separated: at the floor
    assert "≤ 0.1" in res.to_markdown() and "do not differ" not in res.to_markdown()


def test_p_values_never_go_below_their_floor(tmp_path):
    paths = write_population(tmp_path, 4)
    for test in ("mann-whitney", "permutation"):
        res = compare_spectra(paths["classification"] + paths["regression"], test=test, **FAST)
        for r in (*res.tests, *res.distances):
            if r.exact or r.n_permutations:  # not the normal approximation (n > 8 with ties)
                assert r.p_value >= r.p_floor * (1 - 1e-9), (test, r)
            assert r.p_bound == at_floor(r.p_value, r.p_floor)


# --- tasks as the unit: the blocked permutation ------------------------------------------------


def test_delta_from_ranks_matches_pairwise_signs():
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=11), 1)  # ties on purpose
    in_a = rng.permuted(np.tile(np.arange(11) < 5, (20, 1)), axis=1)
    got = delta_from_ranks(scipy.stats.rankdata(x), in_a)
    for row, d in zip(in_a, got, strict=True):
        a, b = x[row], x[~row]
        assert d == pytest.approx(np.sign(a[:, None] - b[None, :]).mean())
        assert d == pytest.approx(cliffs_delta(a, b))


def test_blocked_labelings_keep_tasks_and_strata_together():
    units = ["t0", "t0", "t1", "t2", "t2", "t3", "t4", "t5"]
    kind = [u in ("t0", "t1", "t4") for u in units]  # 2 of 4 tasks in stratum s, 1 of 2 in z
    strata = ["s" if u in ("t0", "t1", "t2", "t3") else "z" for u in units]
    d = Design.from_labels(units, kind, strata)
    labelings, exact = d.labelings(10_000, np.random.default_rng(0))
    assert exact and d.n_labelings() == math.comb(4, 2) * math.comb(2, 1) == len(labelings)
    for row in labelings:
        assert row[d.stratum == 0].sum() == 2 and row[d.stratum == 1].sum() == 1
    net = labelings[:, d.unit]
    assert (net[:, 0] == net[:, 1]).all() and (net[:, 3] == net[:, 4]).all()
    assert len({tuple(r) for r in labelings}) == len(labelings)


def test_perfect_separation_of_tasks_hits_the_exact_floor():
    rng = np.random.default_rng(1)
    units = np.repeat(np.arange(10), 3)  # 10 tasks × 3 networks
    values = units * 10.0 + rng.normal(size=30)
    d = Design.from_labels(units.tolist(), (units < 5).tolist())
    r = blocked_test(values, d, n_permutations=10_000, rng=rng)
    assert r.exact and r.n_permutations == math.comb(10, 5)
    assert r.p_value == pytest.approx(2 / math.comb(10, 5)) == pytest.approx(r.floor)
    assert r.delta == -1.0 and r.ci_high == -1.0


def _nested(rng, n_tasks, per_task, shift, task_sd=1.0, net_sd=0.3):
    """Networks nested in tasks: value = task effect (+ shift for kind A) + network noise."""
    effects = (
        rng.normal(0.0, task_sd, 2 * n_tasks) + np.r_[np.full(n_tasks, shift), np.zeros(n_tasks)]
    )
    units = np.repeat(np.arange(2 * n_tasks), per_task)
    values = effects[units] + rng.normal(0.0, net_sd, units.size)
    return values, Design.from_labels(units.tolist(), (units < n_tasks).tolist())


def test_blocked_permutation_detects_a_planted_task_level_difference():
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(20):
        values, d = _nested(rng, 8, 3, shift=3.0)
        hits += blocked_test(values, d, n_permutations=999, n_bootstrap=200, rng=rng).p_value < 0.01
    assert hits >= 18


@pytest.mark.slow
def test_blocked_permutation_is_calibrated_where_the_network_level_test_is_not():
    rng = np.random.default_rng(11)
    blocked, naive = [], []
    for _ in range(400):
        values, d = _nested(rng, 6, 4, shift=0.0, task_sd=1.0, net_sd=0.2)
        blocked.append(blocked_test(values, d, n_permutations=999, n_bootstrap=50, rng=rng).p_value)
        a = d.network_in_a()
        naive.append(scipy.stats.mannwhitneyu(values[a], values[~a]).pvalue)
    rate = np.mean(np.array(blocked) < 0.05)
    assert 0.02 <= rate <= 0.085, rate  # binomial 400 × 0.05: ±3.5 sd
    assert np.mean(np.array(naive) < 0.05) > 0.2  # networks as replicates: badly anti-conservative


def test_cluster_median_ci_covers_and_resamples_units():
    rng = np.random.default_rng(2)
    x = np.array([1.0, 1.1, 1.2, 5.0, 5.1, 5.2, 9.0, 9.1, 9.2])
    units = np.repeat([0, 1, 2], 3)
    med, lo, hi = cluster_median_ci(x, units, 2000, 0.95, rng)
    assert med == 5.1 and lo <= 1.2 and hi >= 9.0  # whole tasks move: wide
    med1, lo1, hi1 = cluster_median_ci(x, np.zeros(9, int), 200, 0.95, rng)
    assert med1 == lo1 == hi1 == 5.1  # one unit: nothing to resample


def test_compare_defaults_to_tasks_as_the_unit(tmp_path):
    rng = np.random.default_rng(3)
    paths = []
    for kind, (lo, hi) in {"classification": (0.1, 0.6), "regression": (0.6, 1.1)}.items():
        for t in range(3):
            for s in range(2):
                meta = {"task_kind": kind, "task": f"{kind}{t}", "seed": s}
                paths.append(
                    str(
                        write_net(
                            tmp_path / f"{kind}{t}_{s}.pt", planted_matrix(rng, lo, hi, 8), meta
                        )
                    )
                )
    res = compare_spectra(paths, **FAST)
    assert res.unit == "task" and res.units == {"classification": 3, "regression": 3}
    radius = next(t for t in res.tests if t.statistic == "spectral_radius")
    assert (radius.units_a, radius.units_b, radius.n_a, radius.n_b) == (3, 3, 6, 6)
    assert radius.test == "blocked-permutation" and radius.p_value == pytest.approx(0.1)
    assert any("tasks are the unit" in n and "classification: 3" in n for n in res.notes)
    net = compare_spectra(paths, unit="network", **FAST)
    assert (
        net.unit == "network"
        and next(t for t in net.tests if t.statistic == "spectral_radius").p_value < 0.01
    )
    one_task = [p for p in paths if "classification0" in p or "regression" in p]
    with pytest.raises(UsageError, match="at least two tasks"):
        compare_spectra(one_task, **FAST)


# --- strata and confounds ---------------------------------------------------------------------


def test_strata_remove_a_stratum_effect(tmp_path):
    rng = np.random.default_rng(4)
    paths = []
    # group A mostly in the short stratum; the stratum alone sets the radius
    layout = [("a", 10, 7), ("a", 50, 1), ("b", 10, 1), ("b", 50, 7)]
    for group, t, count in layout:
        lo, hi = (0.1, 0.5) if t == 10 else (0.7, 1.1)
        for i in range(count):
            meta = {"group": group, "task_params": {"T": t}, "seed": i}
            paths.append(
                str(
                    write_net(tmp_path / f"{group}{t}_{i}.pt", planted_matrix(rng, lo, hi, 8), meta)
                )
            )
    plain = compare_spectra(paths, by="group", **FAST)
    strat = compare_spectra(paths, by="group", strata="task_params.T", **FAST)
    get = lambda r: next(t for t in r.tests if t.statistic == "spectral_radius")  # noqa: E731
    assert get(plain).p_value < 0.05 and get(strat).p_value > 0.05
    assert strat.settings["strata"] == "task_params.T" and get(strat).test == "blocked-permutation"
    assert any(c["key"] == "task_params.T" for c in plain.confounds)


def test_confounds_list_keys_that_differ_between_groups(tmp_path):
    meta = {
        "input_size": 3,
        "readout": "last",
        "training": {"loss": "ce"},
        "seed": 1,
        "metrics": {"test": 0.9},
        "task_params": {"T": 20},
        "init": "default",
    }
    flat = flatten(meta)
    assert flat["training.loss"] == "ce" and "metrics.test" not in flat
    assert design_of(flat) == {
        "task": None,
        "input_size": 3,
        "seq_len": 20,
        "readout": "last",
        "loss": "ce",
        "init": "default",
        "hidden_size": None,
        "num_layers": None,
        "nonlinearity": None,
    }
    other = {**flat, "readout": "every", "seed": 2}
    found = confounds({"a": [flat, flat], "b": [other, flat]})
    assert [c["key"] for c in found] == ["readout"]  # seed is an identifier, not a confound
    assert found[0]["values"] == {"a": {"last": 2}, "b": {"every": 1, "last": 1}}
    paths = write_population(tmp_path, 3)
    res = compare_spectra(paths["classification"] + paths["regression"], **FAST)
    assert res.confounds == () and not any("confound" in n for n in res.notes)
    assert list(res.design_frame().columns[:3]) == ["group", "path", "task"]


def test_bad_inference_options_are_usage_errors(tmp_path):
    paths = write_population(tmp_path, 3)
    every = paths["classification"] + paths["regression"]
    for kwargs, match in [
        ({"correction": "bonferroni"}, "correction"),
        ({"unit": "seed"}, "unit"),
        ({"alpha": 1.5}, "alpha"),
        ({"strata": "nope"}, "strata nope"),
        ({"unit": "task"}, "task"),
    ]:
        with pytest.raises(UsageError, match=match):
            compare_spectra(every, **kwargs, **FAST)


def test_adjust_rejects_unknown_methods():
    with pytest.raises(ValueError):
        adjust([0.1], "sidak")
    assert list(itertools.islice(adjust([0.01, 0.04], "bh"), 2)) == pytest.approx([0.02, 0.04])


def test_tied_small_sample_mann_whitney_is_scipys_exact_permutation_p():
    from rnndyn.compare.stats import two_sample

    rng = np.random.default_rng(5)
    for n_a, n_b in [(4, 4), (3, 7), (6, 6)]:
        a = rng.integers(0, 4, n_a).astype(float)
        b = rng.integers(1, 5, n_b).astype(float)
        r = two_sample(a, b, n_permutations=99, n_bootstrap=50, rng=0)
        ref = scipy.stats.mannwhitneyu(
            a, b, method=scipy.stats.PermutationMethod(n_resamples=10**6)
        )
        assert r.exact and r.n_permutations == math.comb(n_a + n_b, n_a)
        assert r.p_value == pytest.approx(ref.pvalue) and r.statistic == pytest.approx(
            ref.statistic
        )
        assert r.p_floor == pytest.approx(2 / math.comb(n_a + n_b, n_a))


def test_infinite_statistics_in_both_groups_raise_no_warning(tmp_path):
    """Timescales are ∞ for radii ≥ 1: ∞ − ∞ must count as a tie, silently (warnings are errors)."""
    rng = np.random.default_rng(9)
    paths = []
    for kind in ("classification", "regression"):
        for t in range(3):
            for s in range(2):
                meta = {"task_kind": kind, "task": f"{kind}{t}", "seed": s}
                w = planted_matrix(rng, 0.5, 1.1, 8)  # radii either side of 1: some τ = ∞
                paths.append(str(write_net(tmp_path / f"{kind}{t}_{s}.pt", w, meta)))
    for unit in ("task", "network"):
        for test in ("mann-whitney", "permutation"):
            res = compare_spectra(paths, unit=unit, test=test, **FAST)
            tau = next(t for t in res.tests if t.statistic == "longest_timescale")
            assert np.isfinite(tau.p_value) and -1 <= tau.cliffs_delta <= 1
    res.to_markdown()


def test_auto_unit_falls_back_to_networks_when_tasks_are_not_nested(tmp_path):
    rng = np.random.default_rng(6)
    paths = []
    for kind in ("classification", "regression"):
        for s in range(3):
            meta = {"task_kind": kind, "task": "planted", "seed": s}  # one task in both groups
            paths.append(
                str(write_net(tmp_path / f"{kind}{s}.pt", planted_matrix(rng, 0.2, 0.9, 8), meta))
            )
    assert compare_spectra(paths, **FAST).unit == "network"
    with pytest.raises(UsageError, match="not nested"):
        compare_spectra(paths, unit="task", **FAST)


def test_an_adjusted_p_capped_at_one_is_printed_as_one_not_as_a_bound():
    from rnndyn.compare.family import format_p

    assert format_p(1.0, bound=True, adjusted=True) == "1"
    assert format_p(0.012, bound=True, adjusted=True) == "≤ 0.012"
    assert format_p(0.001, bound=True, n_permutations=999) == "≤ 0.001 (999 permutations)"

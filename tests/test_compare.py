"""compare_spectra against planted spectra: detection, calibration, grouping, bad input, plots."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from planted import planted

from rnndyn._util.atomic import dumps_json
from rnndyn.compare.grouping import expand_group_specs, read_manifest
from rnndyn.compare.population import STATISTICS, spectrum_statistics, summarise
from rnndyn.compare.spectra import ComparisonResult, compare_spectra
from rnndyn.errors import CheckpointError, RnndynError, RnndynWarning, UsageError
from rnndyn.spectrum import eigendecompose

LAWS = {"classification": (0.1, 0.7), "regression": (0.5, 1.1)}  # |λ| ~ U[lo, hi]


def planted_matrix(rng, lo, hi, h=16):
    """A real h×h matrix with h/2 real eigenvalues and h/4 conjugate pairs, |λ| ~ U[lo, hi]."""
    n_pairs = h // 4
    n_real = h - 2 * n_pairs
    real = rng.uniform(lo, hi, n_real) * rng.choice([-1.0, 1.0], n_real)
    pairs = rng.uniform(lo, hi, n_pairs) * np.exp(1j * rng.uniform(0.2, 2.9, n_pairs))
    return planted(real, pairs, rng)[0]


def write_net(path, w, meta=None, arch="rnn"):
    """A bare state_dict with an rnndyn metadata block (or none), saved with torch.save."""
    w = torch.tensor(w, dtype=torch.float64)
    h = w.shape[1]
    if arch == "rnn":
        sd = {"rnn.weight_hh_l0": w, "rnn.weight_ih_l0": torch.zeros(h, 2)}
    else:
        gates = 4 if arch == "lstm" else 3
        sd = {
            f"{arch}.weight_hh_l0": torch.cat([w] * gates),
            f"{arch}.weight_ih_l0": torch.zeros(gates * h, 2),
        }
    obj = dict(sd)
    if meta is not None:
        obj["rnndyn"] = meta
    torch.save(obj, path)
    return path


def write_population(folder, n, *, laws=LAWS, h=16, seed=0, arch="rnn"):
    rng = np.random.default_rng(seed)
    paths = {}
    for kind, (lo, hi) in laws.items():
        paths[kind] = [
            str(
                write_net(
                    folder / f"{arch}_{kind}_{i}.pt",
                    planted_matrix(rng, lo, hi, h),
                    {"task_kind": kind, "seed": i, "training": {"epochs": 3}},
                    arch,
                )
            )
            for i in range(n)
        ]
    return paths


def spectra(rng, n, lo, hi, h=12):
    return [eigendecompose(planted_matrix(rng, lo, hi, h), keep_vectors=False) for _ in range(n)]


FAST = {"n_permutations": 199, "n_bootstrap": 200}


def test_statistics_of_a_planted_spectrum():
    w, eigs = planted(
        [1.2, 0.5, -0.3], [0.9 * np.exp(1j * np.pi / 4), 0.2 + 0.1j], np.random.default_rng(0)
    )
    v = dict(zip(STATISTICS, spectrum_statistics(eigendecompose(w)[0]), strict=True))
    r = np.abs(eigs)
    assert v["spectral_radius"] == pytest.approx(1.2)
    assert v["frac_above_1"] == pytest.approx(1 / 7) and v["frac_above_0.9"] == pytest.approx(1 / 7)
    assert v["frac_complex"] == pytest.approx(4 / 7)
    assert v["modulus_q50"] == pytest.approx(np.quantile(r, 0.5))
    assert v["modulus_q10"] == pytest.approx(np.quantile(r, 0.1))
    assert v["dominant_period"] == pytest.approx(8.0)  # the largest oscillatory mode: 0.9·e^{iπ/4}
    assert v["longest_timescale"] == math.inf
    assert v["log10_eigvec_condition"] == pytest.approx(0.0, abs=1e-8)  # orthogonal P: normal W
    assert v["departure_from_normality"] == pytest.approx(0.0, abs=1e-6)
    w2, _ = planted([0.5, -0.9], [], np.random.default_rng(1))
    v2 = dict(zip(STATISTICS, spectrum_statistics(eigendecompose(w2)[0]), strict=True))
    assert v2["longest_timescale"] == pytest.approx(-1 / math.log(0.9)) and v2[
        "dominant_period"
    ] == pytest.approx(2)


def test_different_laws_are_detected_with_the_right_sign(tmp_path):
    paths = write_population(tmp_path, 8)
    res = compare_spectra(paths["classification"] + paths["regression"], seed=1)
    assert isinstance(res, ComparisonResult) and res.group_names == ("classification", "regression")
    tests = {t.statistic: t for t in res.tests}
    for stat in ("spectral_radius", "modulus_q50", "frac_above_0.9"):
        t = tests[stat]
        assert (t.group_a, t.group_b, t.n_a, t.n_b) == ("classification", "regression", 8, 8)
        assert t.p_value < 0.01 and t.p_adjusted < 0.05  # one family of 14 tests
        assert t.cliffs_delta < -0.8 and t.ci_high < 0  # classification has the smaller moduli
        assert t.median_a < t.median_b
    # planted: the same fraction in every network, so it is untestable and left out of the family
    assert "frac_complex" not in tests and res.untestable == ("rnn l0.fwd.hh frac_complex",)
    assert res.family.size == 14 and any("frac_complex: untestable" in n for n in res.notes)
    dist = {(d.distribution, d.metric): d for d in res.distances}
    assert set(dist) == {
        ("modulus", "wasserstein1"),
        ("modulus", "energy"),
        ("complex", "sliced_wasserstein1"),
        ("complex", "energy"),
    }
    for d in dist.values():
        assert d.p_value < 0.01 and (d.n_a, d.n_b) == (8, 8) and not d.exact
    assert dist["modulus", "wasserstein1"].distance == pytest.approx(
        0.4, abs=0.12
    )  # shift of the law


def _calibration_pvalues(reps, n, seed):
    rng = np.random.default_rng(seed)
    pvals = []
    for r in range(reps):
        groups = {"a": spectra(rng, n, 0.3, 1.0), "b": spectra(rng, n, 0.3, 1.0)}
        res = compare_spectra(groups=groups, seed=r, n_permutations=99, n_bootstrap=50)
        by = {t.statistic: t.p_value for t in res.tests}
        dist = {(d.distribution, d.metric): d.p_value for d in res.distances}
        pvals.append(
            [
                by["spectral_radius"],
                by["modulus_q50"],
                dist["modulus", "wasserstein1"],
                dist["complex", "energy"],
            ]
        )
    return np.array(pvals)


def _assert_uniform(p, z=3.5):
    """Discrete p-values (exact Mann–Whitney, permutation) are uniform when P(p ≤ a) = a at every
    attainable level a; check it near 5%, 10%, 25% and 50% within z binomial standard errors."""
    n = len(p)
    for col in p.T:
        values = np.unique(col)
        for target in (0.05, 0.1, 0.25, 0.5):
            a = values[values <= target + 1e-12].max()
            rate = (col <= a + 1e-12).mean()
            assert abs(rate - a) < z * math.sqrt(a * (1 - a) / n) + 1 / n, (target, a, rate)


def test_same_law_p_values_are_calibrated_fast():
    _assert_uniform(_calibration_pvalues(60, 6, seed=11))


@pytest.mark.slow
def test_same_law_p_values_are_calibrated_many_seeds():
    _assert_uniform(_calibration_pvalues(600, 8, seed=12))


def test_single_network_group_is_an_error(tmp_path):
    paths = write_population(tmp_path, 3)
    with pytest.raises(UsageError, match=r"group 'regression' has 1 network.*at least two") as err:
        compare_spectra(paths["classification"] + paths["regression"][:1])
    assert paths["regression"][0] in str(err.value)
    with pytest.raises(
        UsageError,
        match="nothing to compare: all usable checkpoints have task_kind='classification'",
    ):
        compare_spectra(paths["classification"])
    with pytest.raises(UsageError, match="more than once"):
        compare_spectra(paths["classification"] + paths["classification"][:1] + paths["regression"])


def test_missing_group_key_names_the_files(tmp_path):
    paths = write_population(tmp_path, 3)
    rng = np.random.default_rng(2)
    orphan = str(write_net(tmp_path / "orphan.pt", planted_matrix(rng, 0.1, 0.9), {"seed": 3}))
    bare = str(write_net(tmp_path / "bare.pt", planted_matrix(rng, 0.1, 0.9), None))
    every = paths["classification"] + paths["regression"] + [orphan, bare]
    with pytest.raises(UsageError, match="2 of 8 checkpoints could not be used") as err:
        compare_spectra(every, **FAST)
    assert orphan in str(err.value) and bare in str(err.value) and "'task_kind'" in str(err.value)
    res = compare_spectra(every, skip_bad=True, **FAST)
    assert sorted(b.path for b in res.skipped) == sorted([orphan, bare])
    assert all(t.n_a == 3 and t.n_b == 3 for t in res.tests)
    res = compare_spectra([p for p in every if p != orphan], by="seed", skip_bad=True, **FAST)
    assert res.group_names == ("0", "1", "2")  # an int-valued key; three groups: every pair
    assert {(t.group_a, t.group_b) for t in res.tests} == {("0", "1"), ("0", "2"), ("1", "2")}
    # frac_complex is the same in every planted network: untestable, left out of each pair
    assert len(res.tests) == 3 * (len(STATISTICS) - 1) and len(res.distances) == 3 * 4


def test_bad_files_are_listed_and_skipped(tmp_path):
    paths = write_population(tmp_path, 3)
    trunc = tmp_path / "truncated.pt"
    trunc.write_bytes(Path(paths["regression"][0]).read_bytes()[:300])
    pickled = tmp_path / "module.pt"
    torch.save(torch.nn.RNN(2, 4), pickled)
    every = paths["classification"] + paths["regression"] + [str(trunc), str(pickled)]
    with pytest.raises(CheckpointError) as err:
        compare_spectra(every, **FAST)
    assert (
        str(trunc) in str(err.value)
        and str(pickled) in str(err.value)
        and "--skip-bad" in str(err.value)
    )
    res = compare_spectra(every, skip_bad=True, **FAST)
    assert {b.path: b.exit_code for b in res.skipped} == {str(trunc): 4, str(pickled): 3}
    doc = json.loads(dumps_json(res.to_dict()))
    assert {s["path"] for s in doc["skipped"]} == {str(trunc), str(pickled)}
    assert sum(g["n_networks"] for g in doc["groups"]) == 6


def test_explicit_groups_with_checkpoints_spectra_and_globs(tmp_path):
    write_population(tmp_path, 4)
    groups = expand_group_specs(
        [f"slow={tmp_path}/rnn_regression_*.pt", f"fast={tmp_path}/rnn_class*.pt"]
    )
    assert list(groups) == ["slow", "fast"] and len(groups["slow"]) == 4
    res = compare_spectra(groups=groups, **FAST)
    assert res.group_names == ("slow", "fast")
    assert next(t for t in res.tests if t.statistic == "spectral_radius").cliffs_delta > 0.8
    with pytest.raises(UsageError, match="matches no file"):
        expand_group_specs([f"x={tmp_path}/nothing*.pt"])
    with pytest.raises(UsageError, match="NAME=GLOB"):
        expand_group_specs(["justaglob*.pt"])
    rng = np.random.default_rng(0)
    res = compare_spectra(
        groups={"a": spectra(rng, 3, 0.1, 0.5), "b": spectra(rng, 3, 0.6, 0.9)}, **FAST
    )
    assert res.tests[0].p_value < 0.2 and res.groups[0][1][0].sha256 is None


def test_manifest(tmp_path):
    paths = write_population(tmp_path, 2)
    (tmp_path / "m.csv").write_text(
        "path,group\n"
        + "".join(f"{p.split('/')[-1]},{k[:3]}\n" for k, ps in paths.items() for p in ps)
    )
    groups = read_manifest(tmp_path / "m.csv")
    assert set(groups) == {"cla", "reg"} and all(p.is_file() for ps in groups.values() for p in ps)
    (tmp_path / "bad.csv").write_text("file;kind\na.pt;x\n")
    with pytest.raises(RnndynError, match="columns 'path' and 'group'"):
        read_manifest(tmp_path / "bad.csv")


def test_architectures_and_gates_are_never_pooled(tmp_path):
    rnn = write_population(tmp_path, 3, arch="rnn", h=8)
    gru = write_population(tmp_path, 2, arch="gru", h=8, seed=1)
    one = write_population(tmp_path, 1, arch="lstm", h=8, seed=2)  # a single LSTM per group
    res = compare_spectra([p for d in (rnn, gru, one) for ps in d.values() for p in ps], **FAST)
    strata = res.strata
    assert ("rnn", "l0.fwd.hh") in strata
    assert {s for s in strata if s[0] == "gru"} == {("gru", f"l0.fwd.{g}") for g in "rzn"}
    assert not any(s[0] == "lstm" for s in strata)
    assert any("lstm" in n and "not tested" in n for n in res.notes)
    for t in res.tests:
        assert (t.n_a, t.n_b) == ((3, 3) if t.architecture == "rnn" else (2, 2))
    frame = res.to_frame()
    assert len(frame) == (6 * 1 + 4 * 3 + 2 * 4) * len(STATISTICS)
    assert set(frame["gate"]) == {"hh", "r", "z", "n", "i", "f", "g", "o"}


def test_module_names_do_not_split_strata_unless_a_network_has_several(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(3):
        for kind, (lo, hi) in LAWS.items():
            w = torch.tensor(planted_matrix(rng, lo, hi, 8))
            name = "encoder" if kind == "regression" else "model.rnn"
            torch.save(
                {f"{name}.weight_hh_l0": w, "rnndyn": {"task_kind": kind}},
                tmp_path / f"{kind}{i}.pt",
            )
    res = compare_spectra(sorted(map(str, tmp_path.glob("*.pt"))), **FAST)
    assert res.strata == (("rnn", "l0.fwd.hh"),) and res.tests[0].n_a == 3
    two = tmp_path / "two.pt"
    torch.save({"enc.weight_hh_l0": w, "dec.weight_hh_l0": w, "rnndyn": {"task_kind": "x"}}, two)
    assert [op.operator for op in summarise(str(two)).operators] == [
        "enc:l0.fwd.hh",
        "dec:l0.fwd.hh",
    ]


def test_jacobian_at_the_zero_fixed_point_is_its_own_stratum(tmp_path):
    paths = write_population(tmp_path, 3, h=8)  # no biases, zero input: h* = 0, so J = W
    res = compare_spectra(paths["classification"] + paths["regression"], jacobian=True, **FAST)
    assert res.strata == (("rnn", "l0.fwd.hh"), ("rnn", "l0.fwd.jacfp"))
    frame = res.to_frame().set_index(["path", "statistic", "gate"])["value"].unstack("gate")
    spectral = frame.drop(index=["log10_eigvec_condition", "departure_from_normality"], level=1)
    np.testing.assert_allclose(spectral["jac"], spectral["hh"], rtol=1e-9, atol=1e-12)


def _rounded(x):
    """Floats to 9 significant digits (two processes may differ in the last bit), recursively."""
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return float(f"{x:.9g}") if isinstance(x, float) else x


def test_parallel_analysis_gives_the_same_result(tmp_path):
    # non-normal W (κ(V) ≈ 10): with an orthogonal basis, κ(V) − 1 and the departure from
    # normality are round-off, whose ranks may differ between processes
    rng = np.random.default_rng(0)
    every = []
    for kind, (lo, hi) in LAWS.items():
        for i in range(3):
            r = rng.uniform(lo, hi, 8) * rng.choice([-1.0, 1.0], 8)
            w, _ = planted(
                r, rng.uniform(lo, hi, 4) * np.exp(1j * rng.uniform(0.2, 2.9, 4)), rng, cond=10.0
            )
            every.append(str(write_net(tmp_path / f"{kind}{i}.pt", w, {"task_kind": kind})))
    seen = []
    serial = compare_spectra(every, **FAST, progress=lambda d, t: seen.append((d, t)))
    parallel = compare_spectra(every, jobs=2, **FAST)
    assert seen[-1] == (6, 6)
    a, b = serial.to_dict(), parallel.to_dict()  # (NaN != NaN; the JSON form has None)
    for key in ("tests", "distances", "groups"):
        assert _rounded(a[key]) == _rounded(b[key]), key


def test_tables_and_json_document(tmp_path):
    paths = write_population(tmp_path, 3)
    res = compare_spectra(paths["classification"] + paths["regression"], **FAST)
    tests = res.tests_frame()
    assert len(tests) == len(STATISTICS) - len(res.untestable) + 4 and set(tests["kind"]) == {
        "statistic",
        "distance",
    }
    assert (tests[["n_a", "n_b"]] == 3).all().all()
    assert len(res.eigenvalues_frame()) == 6 * 16
    assert len(res.group_frame()) == 2 * len(STATISTICS)
    doc = json.loads(dumps_json(res.to_dict()))  # strict JSON: no NaN/inf
    assert doc["schema"] == "rnndyn.compare.spectra/2"
    members = doc["groups"][0]["members"]
    assert len(members) == 3 and all(len(m["sha256"]) == 64 for m in members)
    assert members[0]["operators"][0]["statistics"]["longest_timescale"] is not None
    assert {"p_value", "p_adjusted", "cliffs_delta", "ci_low", "ci_high", "hedges_g"} <= set(
        doc["tests"][0]
    )
    assert "| spectral_radius | classification | regression | 3 | 3 |" in res.to_markdown()


def test_plots_draw_every_network(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnndyn.plots.compare import (
        comparison_figures,
        eigenvalue_density,
        modulus_ecdf,
        statistic_strips,
    )

    paths = write_population(tmp_path, 3)
    res = compare_spectra(paths["classification"] + paths["regression"], **FAST)
    fig = eigenvalue_density(res, scatter_below=0)  # force the hexbin density
    hexes = [
        c for ax in fig.axes for c in ax.collections if str(c.get_gid()).startswith("density-")
    ]
    assert [float(h.get_array().sum()) for h in hexes] == pytest.approx(
        [3.0, 3.0]
    )  # one per network
    assert sum(line.get_gid() == "unit-circle" for ax in fig.axes for line in ax.lines) == 2
    ax = modulus_ecdf(res)
    lines = [line for line in ax.lines if str(line.get_gid()).startswith("ecdf-")]
    assert len(lines) == 2 and lines[0].get_linestyle() != lines[1].get_linestyle()
    assert all(line.get_ydata()[-1] == pytest.approx(1.0) for line in lines)
    fig2 = statistic_strips(res, statistics=["spectral_radius", "longest_timescale"], ncols=2)
    strips = [c for c in fig2.axes[0].collections if str(c.get_gid()).startswith("strip-")]
    assert [len(c.get_offsets()) for c in strips] == [3, 3]
    assert "∞ not shown" in fig2.axes[1].get_title()  # regression radii > 1: infinite timescales
    assert len(list(comparison_figures(res))) == 3
    plt.close("all")


@pytest.mark.slow
def test_study_with_real_training(tmp_path):
    from rnndyn.studies.regression_vs_classification import Settings, regression_vs_classification

    settings = Settings(
        design="original", archs=("rnn",), per_group=3, hidden=6, epochs=1, n_permutations=99
    )
    with pytest.warns(RnndynWarning, match="no test can reach"):  # 3 vs 3 tasks: p ≥ 0.1
        res = regression_vs_classification(tmp_path / "s", settings, formats=("png",))
    assert len(res.runs) == 6 and res.trained_now == 6 and res.report.is_file()
    assert {r["kind"] for r in res.runs} == {"regression", "classification"}
    assert res.comparison.group_names == ("classification", "regression")
    assert res.comparison.strata == (("rnn", "l0.fwd.hh"), ("rnn", "l0.fwd.jacfp"))
    meta = torch.load(tmp_path / "s" / res.runs[0]["checkpoint"], weights_only=True)["rnndyn"]
    assert meta["training"]["n_train"] == 1000 and meta["study"] == "regression-vs-classification"
    assert {"seq_len", "readout", "input_size"} <= set(meta)
    assert any(c["key"] == "readout" for c in res.comparison.confounds)  # the original design
    assert len(res.findings()) == 2


def test_planted_unit_modulus_float32_networks_give_no_finite_timescale(tmp_path):
    """Orthogonal float32 W (|λ| = 1 within rounding) against a planted |λ| = 0.9 group: the
    orthogonal group's longest timescale is ∞ (not ~1e15), nothing is counted above 1, and
    Hedges' g is null with a reason instead of a rounding-sized ratio."""

    def save32(path, w):
        h = w.shape[1]
        torch.save({"rnn.weight_hh_l0": w.float(), "rnn.weight_ih_l0": torch.zeros(h, 2)}, path)
        return path

    groups: dict[str, list] = {"orth": [], "decay": []}
    for k in range(4):
        torch.manual_seed(k)
        w = torch.empty(16, 16)
        torch.nn.init.orthogonal_(w)
        groups["orth"].append(save32(tmp_path / f"orth{k}.pt", w))
        w2, _ = planted(np.full(16, 0.9), [], np.random.default_rng(k))
        groups["decay"].append(save32(tmp_path / f"dec{k}.pt", torch.tensor(w2)))
    res = compare_spectra(groups=groups, n_bootstrap=200, n_permutations=99)
    vals = res.to_frame()
    orth = vals[vals.group == "orth"].set_index("statistic")["value"]
    assert np.isinf(orth["longest_timescale"]).all()
    assert (orth["frac_above_1"] == 0).all()
    tests = res.tests_frame().set_index("quantity")
    assert math.isnan(tests.loc["longest_timescale", "hedges_g"])
    assert "non-finite" in tests.loc["longest_timescale", "hedges_g_note"]
    # every eigenvalue at 1 (orth) or 0.9 (decay), within rounding: no spread to standardise by
    assert math.isnan(tests.loc["modulus_q50", "hedges_g"])
    assert "spread" in tests.loc["modulus_q50", "hedges_g_note"]

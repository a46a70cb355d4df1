"""`rnndyn compare` and `rnndyn study` through the CLI: exit codes, stdout/stderr, outputs, resume."""

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from test_compare import planted_matrix, write_net, write_population
from typer.testing import CliRunner

import rnndyn.studies.regression_vs_classification
from rnndyn.tasks.twins import FIRST_EIGHT
from rnndyn_cli.app import app

FAST = ["--permutations", "99", "--bootstrap", "100"]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def population(tmp_path):
    paths = write_population(tmp_path, 4)
    return tmp_path, paths["classification"] + paths["regression"]


def test_json_document(runner, population):
    _, paths = population
    res = runner.invoke(app, ["compare", *paths, "--json", *FAST])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "rnndyn.compare.spectra/2" and doc["settings"]["by"] == "task_kind"
    assert [g["name"] for g in doc["groups"]] == ["classification", "regression"]
    assert all(len(m["sha256"]) == 64 for g in doc["groups"] for m in g["members"])
    radius = next(t for t in doc["tests"] if t["statistic"] == "spectral_radius")
    assert (
        radius["p_value"] < 0.05
        and radius["cliffs_delta"] < 0
        and (radius["n_a"], radius["n_b"]) == (4, 4)
    )
    assert len(doc["distances"]) == 4


def test_readable_table_shows_group_sizes(runner, population):
    _, paths = population
    res = runner.invoke(app, ["compare", *paths, *FAST])
    assert res.exit_code == 0, res.output
    assert "A = classification vs B = regression" in res.stdout
    assert "spectral_radius" in res.stdout and "wasserstein1" in res.stdout and "n A" in res.stdout


def test_out_folder_has_tables_figures_and_report(runner, population):
    folder, paths = population
    out = folder / "out"
    res = runner.invoke(
        app,
        [
            "compare",
            "--group",
            f"reg={folder}/rnn_regression_*.pt",
            "--group",
            f"cls={folder}/rnn_classification_*.pt",
            "--out",
            str(out),
            "--format",
            "png",
            *FAST,
        ],
    )
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    for n in (
        "comparison.json",
        "statistics.csv",
        "tests.csv",
        "group_statistics.csv",
        "eigenvalues.csv",
        "report.md",
        "eigenvalues_rnn_l0.fwd.hh.png",
        "modulus_ecdf_rnn_l0.fwd.hh.png",
        "statistics_rnn_l0.fwd.hh.png",
    ):
        assert n in names
    import pandas as pd

    tests = pd.read_csv(out / "tests.csv")
    assert set(tests["group_a"]) == {"reg"} and (tests["n_a"] == 4).all()
    again = runner.invoke(app, ["compare", *paths, "--out", str(out), *FAST])
    assert again.exit_code == 5 and "--force" in again.stderr


def test_usage_errors(runner, population, tmp_path):
    folder, paths = population
    res = runner.invoke(
        app, ["compare", "--group", f"a={folder}/nothing*.pt", "--group", f"b={folder}/*.pt"]
    )
    assert res.exit_code == 2 and "matches no file" in res.stderr and res.stdout == ""
    res = runner.invoke(app, ["compare", *paths, "--group", f"a={folder}/*.pt"])
    assert res.exit_code == 2 and "exactly one" in res.stderr
    res = runner.invoke(app, ["compare", *paths[:5]])  # one regression network
    assert res.exit_code == 2 and "group 'regression' has 1 network" in res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    res = runner.invoke(app, ["compare", *paths, "--test", "t-test"])
    assert res.exit_code == 2 and "unknown test" in res.stderr


def test_bad_files_and_skip_bad(runner, population):
    folder, paths = population
    bad = folder / "notes.pt"
    bad.write_text("not a checkpoint")
    nokey = write_net(
        folder / "nokey.pt", planted_matrix(np.random.default_rng(0), 0.2, 0.8), {"seed": 1}
    )
    res = runner.invoke(app, ["compare", *paths, str(bad), str(nokey), "--json", *FAST])
    assert (
        res.exit_code == 4
        and str(bad) in res.stderr
        and str(nokey) in res.stderr
        and res.stdout == ""
    )
    res = runner.invoke(
        app, ["compare", *paths, str(bad), str(nokey), "--json", "--skip-bad", *FAST]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert {s["path"] for s in doc["skipped"]} == {str(bad), str(nokey)}
    assert f"left out {bad}" in res.stderr
    res = runner.invoke(app, ["compare", *paths, str(nokey)])
    assert res.exit_code == 2 and "has no 'task_kind' entry" in res.stderr


def test_refused_pickle_exit_code(runner, population):
    folder, paths = population
    pickled = folder / "module.pt"
    torch.save(torch.nn.RNN(2, 4), pickled)
    res = runner.invoke(app, ["compare", *paths, str(pickled)])
    assert res.exit_code == 3 and "--trust-pickle" in res.stderr


def test_installed_command_runs_in_a_subprocess(population, tmp_path):
    _, paths = population
    exe = Path(sys.executable).parent / "rnndyn"
    res = subprocess.run(
        [str(exe), "compare", *paths, "--json", "--jobs", "2", *FAST],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["schema"] == "rnndyn.compare.spectra/2"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        Path(p).name for p in paths
    )  # nothing written


def fake_train(task, arch, *, hidden, epochs, seed):
    """Stands in for rnndyn.training.train.train: a planted W whose radius depends on the task kind."""
    rng = np.random.default_rng(seed + 100 * len(task.spec.name))
    lo, hi = (0.1, 0.6) if task.spec.kind == "classification" else (0.6, 1.1)
    model = torch.nn.Module()
    model.rnn = torch.nn.RNN(task.spec.input_size, hidden, batch_first=True)
    with torch.no_grad():
        model.rnn.weight_hh_l0.copy_(torch.tensor(planted_matrix(rng, lo, hi, hidden)))
    meta = {
        "schema": "rnndyn.checkpoint/1",
        "arch": arch,
        "task": task.spec.name,
        "task_kind": task.spec.kind,
        "seed": seed,
        "hidden_size": hidden,
        "training": {"epochs": epochs, **task.spec.defaults},
    }
    metrics = {
        "metric": task.spec.metric,
        "test": 0.5,
        "baseline": float(task.spec.baseline),
        "epochs_run": 1,
        "seconds": 0.01,
    }
    return types.SimpleNamespace(model=model, meta=meta, metrics=metrics)


def test_study_trains_compares_reports_and_resumes(runner, tmp_path, monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[0].spec.name)
        return fake_train(*args, **kwargs)

    original = rnndyn.studies.regression_vs_classification.regression_vs_classification
    monkeypatch.setattr(
        rnndyn.studies.regression_vs_classification,
        "regression_vs_classification",
        lambda *a, **k: original(*a, **k, trainer=counting),
    )
    out = tmp_path / "study"
    args = [
        "study",
        "regression-vs-classification",
        "--design",
        "matched",
        "--archs",
        "rnn",
        "--per-group",
        "8",
        "--hidden",
        "8",
        "--out",
        str(out),
        "--format",
        "png",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "warning" not in res.stderr  # 8 vs 8 tasks, all 12870 labelings: α is reachable
    assert len(calls) == 16 and set(calls) == {
        f"twin_{q}_{k}" for q in FIRST_EIGHT for k in ("reg", "cls")
    }
    assert "spectral_radius higher in regression" in res.stdout
    assert "n = 8 vs 8 tasks" in res.stdout  # tasks are the unit
    report = (out / "report" / "report.md").read_text()
    assert "## Findings" in report
    assert "| rnn | twin_mean_reg | regression | 1 | nrmse | 0.5 | 1 |" in report
    assert "one family of 30 tests" in report and "holm" in report
    assert "statistics_rnn_l0.fwd.hh.png" in report and (out / "report" / "runs.csv").is_file()
    study = json.loads((out / "report" / "study.json").read_text())
    assert study["plan"]["size"] == 30 and study["plan"]["alpha_reachable"]
    assert "--design matched" in study["command"]
    assert len(list((out / "checkpoints").glob("*.pt"))) == 16
    res = runner.invoke(app, [*args, "--per-group", "9"])  # resume the 16, train 2 more
    assert res.exit_code == 0 and len(calls) == 18
    assert "18 networks (2 trained now)" in res.stderr
    res = runner.invoke(app, [*args, "--epochs", "3"])
    assert res.exit_code == 2 and "epochs 10 there, 3 now" in res.stderr


def test_study_refuses_foreign_folder(runner, tmp_path):
    (tmp_path / "mine.txt").write_text("hello")
    res = runner.invoke(app, ["study", "regression-vs-classification", "--out", str(tmp_path)])
    assert res.exit_code == 5 and "did not write" in res.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_manifest_groups(runner, population):
    folder, paths = population
    manifest = folder / "groups.csv"
    manifest.write_text(
        "path,group\n"
        + "".join(f"{Path(p).name},{'slow' if 'regr' in p else 'fast'}\n" for p in paths)
    )
    res = runner.invoke(app, ["compare", "--manifest", str(manifest), "--json", *FAST])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [g["name"] for g in doc["groups"]] == ["fast", "slow"] and doc["settings"]["by"] is None
    res = runner.invoke(app, ["compare", "--manifest", str(manifest), "--by", "seed"])
    assert res.exit_code == 2 and "--by" in res.stderr


def test_correction_unit_and_strata_options(runner, population):
    _, paths = population
    res = runner.invoke(app, ["compare", *paths, "--correction", "bh", "--json", *FAST])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    rows = doc["tests"] + doc["distances"]
    # 11 statistics + 4 distances, less one untestable statistic (equal in every network)
    assert doc["family"]["correction"] == "bh" and doc["family"]["size"] == len(rows) == 14
    assert len(doc["untestable"]) == 1 and doc["untestable"][0].startswith("rnn l0.fwd.hh ")
    assert all("p_adjusted" in r and "p_floor" in r for r in rows)
    res = runner.invoke(app, ["compare", *paths, *FAST])  # 4 vs 4: radius separated, at the floor
    assert res.exit_code == 0 and "p holm" in res.stdout and "≤ 0.029 (exact)" in res.stdout
    assert "One family: 14 tests (statistics and distances) (1 untestable" in res.stdout
    res = runner.invoke(app, ["compare", *paths, "--unit", "task", *FAST])
    assert res.exit_code == 2 and "task" in res.stderr and "Traceback" not in res.output
    res = runner.invoke(app, ["compare", *paths, "--strata", "training.lr", *FAST])
    assert res.exit_code == 2 and "--strata training.lr" in res.stderr
    res = runner.invoke(app, ["compare", *paths, "--strata", "training.epochs", "--json", *FAST])
    assert res.exit_code == 0 and json.loads(res.stdout)["settings"]["strata"] == "training.epochs"
    res = runner.invoke(app, ["compare", *paths, "--correction", "sidak", *FAST])
    assert res.exit_code == 2 and "holm, bh, none" in res.stderr


def learned_fake_train(task, arch, *, hidden, epochs, seed):
    """``fake_train`` whose networks learned (accuracy 0.9 / NRMSE 0.3), except twin_rank_cls."""
    res = fake_train(task, arch, hidden=hidden, epochs=epochs, seed=seed)
    good = 0.9 if task.spec.kind == "classification" else 0.3
    res.metrics["test"] = 0.6 if task.spec.name == "twin_rank_cls" else good
    return res


def test_paired_study_prints_its_design_first_and_tests_within_pairs(runner, tmp_path, monkeypatch):
    original = rnndyn.studies.regression_vs_classification.regression_vs_classification
    monkeypatch.setattr(
        rnndyn.studies.regression_vs_classification,
        "regression_vs_classification",
        lambda *a, **k: original(*a, **k, trainer=learned_fake_train),
    )
    out = tmp_path / "paired"
    res = runner.invoke(
        app,
        [
            *("study", "regression-vs-classification", "--archs", "rnn", "--seeds", "1"),
            *("--hidden", "8", "--out", str(out), "--format", "png"),
        ],
    )
    assert res.exit_code == 0, res.output
    first = res.stderr.splitlines()[0]
    assert "12 twin pairs × 1 seeds" in first and "24 networks" in first
    assert "floor 2/2^12 = 0.00049" in res.stderr and "reachable" in res.stderr
    assert "PRIMARY RNN spectral_radius of `l0.fwd.jacfp`" in res.stdout
    assert "lower in classification than in regression" in res.stdout  # planted: cls radius lower
    assert "SECONDARY (exploratory" in res.stdout
    report = (out / "report" / "report.md").read_text()
    assert report.index("## Design (declared before training)") < report.index("## Primary family")
    assert report.index("## Primary family") < report.index("## Findings")
    assert "| rnn | 11 | 22 | 24 | 22 | rank |" in report  # the rank pair left out: not learned
    study = json.loads((out / "report" / "study.json").read_text())
    assert study["family"]["size"] == 1 and study["secondary_family"]["correction"] == "bh"
    assert {"arch": "rnn", "task": "twin_rank_cls", "why": "task not learned", "n": 1} in study[
        "excluded"
    ]
    tests = json.loads((out / "report" / "comparison.json").read_text())["tests"]
    primary = [t for t in tests if t["family"] == "primary"]
    assert len(primary) == 1 and primary[0]["n_pairs"] == 11
    assert (
        primary[0]["p_floor"] == pytest.approx(2 / 2**11)
        and primary[0]["p_value"] >= (primary[0]["p_floor"])
    )
    assert primary[0]["test"] == "paired-sign-flip"
    assert all(t["family"] == "secondary" for t in tests if t is not primary[0])


def test_compare_pairs_tests_within_twin_pairs_from_the_cli(runner, tmp_path):
    """`compare --pairs pair --primary`: the exact sign flip over 6 pairs (floor 2/2^6), planted
    shift inside every pair (regression radius above its twin's) found; pair levels vary widely,
    so tasks as unpaired units could not see it as clearly."""
    rng = np.random.default_rng(3)
    paths = []
    for i in range(6):
        level = rng.uniform(0.3, 0.8)
        for kind, shift in (("classification", 0.0), ("regression", 0.15)):
            r = level + shift
            meta = {"task_kind": kind, "task": f"t{i}_{kind[:3]}", "pair": f"t{i}", "seed": 0}
            path = tmp_path / f"t{i}_{kind}.pt"
            paths.append(str(write_net(path, planted_matrix(rng, r - 0.01, r, 8), meta)))
    opts = ["--pairs", "pair", "--primary", "spectral_radius@hh", *FAST, "--json"]
    res = runner.invoke(app, ["compare", *paths, *opts])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    primary = [t for t in doc["tests"] if t["family"] == "primary"]
    assert len(primary) == 1 and primary[0]["test"] == "paired-sign-flip"
    row = primary[0]
    assert row["n_pairs"] == 6 and row["p_floor"] == pytest.approx(2 / 2**6)
    assert row["p_value"] == pytest.approx(2 / 2**6)  # every pair agrees: the floor is reached
    assert row["cliffs_delta"] == pytest.approx(-1.0)  # A = classification below its twin
    assert all(t["p_value"] >= t["p_floor"] for t in doc["tests"] if t["p_value"] is not None)
    assert all(t["family"] == "secondary" for t in doc["tests"] if t is not row)
    # a pair with one side missing is left out, and the floor printed follows (5 pairs)
    res = runner.invoke(app, ["compare", *paths[:-1], *opts])
    assert res.exit_code == 0, res.output
    row = next(t for t in json.loads(res.stdout)["tests"] if t["family"] == "primary")
    assert row["n_pairs"] == 5 and row["p_floor"] == pytest.approx(2 / 2**5)

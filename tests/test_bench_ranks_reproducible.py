"""Bench summaries follow one divergence rule, and every committed rank file is rebuilt from its
committed summary (the summary's medians are the ones the rankings use)."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnndyn.tasks import get_task
from rnndyn.training.bench.results import DIVERGED_MULTIPLE, BenchResult, score_runs

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "bench"
RANKED = [("eigen_round3", "eigen3"), ("eigen_round3b", "eigen3b")]


def report_script():
    spec = importlib.util.spec_from_file_location(
        "eigen_round3_report", ROOT / "scripts" / "eigen_round3_report.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cells_from_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per task × arch × init holding its median (the rankings' per-cell value)."""
    cells = summary.copy()
    cells["seed"] = 0
    cells["value"] = cells["median"]
    cells["baseline"] = cells["task"].map(lambda t: float(get_task(t).spec.baseline))
    return cells


@pytest.mark.parametrize(("stem", "control"), RANKED)
def test_committed_rank_files_are_rebuilt_from_the_committed_summaries(stem, control):
    summary = pd.read_csv(DATA / f"{stem}_summary.csv")
    committed = pd.read_csv(DATA / f"{stem}_ranks.csv")
    rebuilt = pd.concat(
        [
            res.table().assign(ranking=name)
            for name, _, res in report_script().rankings(cells_from_summary(summary), control)
        ],
        ignore_index=True,
    )
    assert len(rebuilt) == len(committed)
    both = rebuilt.merge(committed, on=["ranking", "method"], suffixes=("", "_committed"))
    assert len(both) == len(committed)
    for col in ("position", "n_blocks", "is_control"):
        assert (both[col] == both[f"{col}_committed"]).all(), col
    for col in ("average_rank", "rank_diff_vs_control", "p_bonferroni"):
        assert np.allclose(both[col], both[f"{col}_committed"], equal_nan=True), col


@pytest.mark.parametrize(("stem", "control"), RANKED)
def test_committed_summaries_follow_the_divergence_rule(stem, control):
    s = pd.read_csv(DATA / f"{stem}_summary.csv")
    assert (s["n"] == s["n_ok"] + s["n_diverged"]).all()
    base = s["task"].map(lambda t: float(get_task(t).spec.baseline))
    lower = ~s["higher_is_better"].astype(bool)
    for col in ("median", "q25", "q75", "best"):
        assert np.isfinite(s[col]).all()
        assert not (lower & (s[col] > DIVERGED_MULTIPLE * base)).any(), col
    relu = s[(s["task"] == "adding") & (s["arch"] == "rnn_relu") & (s["init"] == "eigen3")]
    assert int(relu["n_diverged"].iloc[0]) >= 4  # the cell: 4 of 5 (round 3), 5 of 5 (3b)
    assert float(relu["median"].iloc[0]) == pytest.approx(1 / 6)  # scored as the trivial MSE


def record(i, status, test, higher=False, baseline=1.0):
    return {
        "id": f"c{i}",
        "task": "t",
        "kind": "classification" if higher else "regression",
        "arch": "rnn",
        "init": "default",
        "seed": i,
        "status": status,
        "metrics": {"test": test},
        "history": [],
        "spec": {
            "metric": "acc" if higher else "mse",
            "higher_is_better": higher,
            "baseline": baseline,
        },
    }


def test_summary_counts_diverged_runs_and_scores_them_as_the_baseline():
    records = [
        record(0, "ok", 0.1),
        record(1, "ok", 0.2),
        record(2, "diverged", 0.15),  # non-finite training loss, finite test: still diverged
        record(3, "ok", math.nan),  # non-finite test
        record(4, "ok", 2e42),  # above 10 × the baseline
        record(5, "error", None),  # not finished: neither ok nor diverged
    ]
    result = BenchResult("x", tuple(records))
    row = result.summary().iloc[0]
    assert (row["n"], row["n_ok"], row["n_diverged"]) == (6, 2, 3)
    assert row["median"] == pytest.approx(1.0)  # [0.1, 0.2, 1, 1, 1]
    assert row["best"] == pytest.approx(0.1) and row["q75"] == pytest.approx(1.0)
    runs = score_runs(result.runs_frame().query("status != 'error'"))
    assert runs["diverged"].tolist() == [False, False, True, True, True]
    assert runs["value"].tolist() == pytest.approx([0.1, 0.2, 1.0, 1.0, 1.0])
    acc = BenchResult("y", (record(0, "ok", 0.9, True, 0.5), record(1, "ok", 0.4, True, 0.5)))
    assert acc.summary().iloc[0]["n_diverged"] == 0  # below chance is a result, not divergence

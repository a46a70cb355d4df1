"""The bench grid runner: grid expansion, resume, parallel workers, folder safety, reports, CLI.

Most tests use ``fake_train`` (a deterministic stand-in with ``rnndyn.training.train.train``'s signature,
whose final metric is known in closed form); one end-to-end test trains real networks.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from interrupt import ctrl_c_when_ready
from typer.testing import CliRunner

from rnndyn.errors import InvalidInputError, OutputError, UsageError
from rnndyn.outputs.manifest import MANIFEST_NAME
from rnndyn.plots import bench_figures
from rnndyn.training.bench import PRESETS, BenchResult, load_cells, resolve_grid, run_bench
from rnndyn.training.bench.folder import LEGACY_MARKER, LOCK
from rnndyn_cli.app import app

QUALITY = {"orthogonal": 0.9, "irnn": 0.8, "chrono": 0.7, "default": 0.6}


@dataclass(frozen=True)
class FakeResult:
    model: Any
    spec: Any
    metrics: dict
    history: list
    meta: dict


def fake_final(task_hib: bool, arch: str, init: str, seed: int) -> float:
    """The fake trainer's final test metric (accuracy-like if higher is better, else an error)."""
    q = QUALITY.get(init, 0.5) + 0.01 * seed + (0.05 if arch == "gru" else 0.0)
    return q if task_hib else 1.0 - q


def fake_train(
    task,
    arch,
    *,
    hidden=None,
    init="default",
    init_params=None,
    init_options=None,
    seed=0,
    epochs=None,
    nonlinearity="tanh",
    **_,
):
    """Deterministic stand-in for rnndyn.training.train.train. Seed 99 fails, seed 98 warns, seed
    97 is a usage error for an LSTM. FAKE_TRAIN_GATE: see below. With FAKE_TRAIN_BLOCK set, seeds ≥ 2 report their pid in that
    folder and then block forever (like a long C++ op, Ctrl-C does not cut them short)."""
    import torch

    if seed == 99:
        raise RuntimeError("boom")
    if seed == 97 and arch == "lstm":
        raise UsageError("the fake law has no LSTM target")
    if seed == 98:
        import warnings

        warnings.warn("fake trainer warning", UserWarning, stacklevel=1)
    gate = os.environ.get("FAKE_TRAIN_GATE")  # report the run, then wait for gate/go (≤ 120 s)
    if gate:
        Path(gate, f"{os.getpid()}_{init}_{seed}.run").touch()
        deadline = time.monotonic() + 120
        while not Path(gate, "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    block = os.environ.get("FAKE_TRAIN_BLOCK")
    if block and seed >= 2:
        Path(block, f"{os.getpid()}.pid").touch()
        while True:
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(3600)
    spec = task.spec
    final = fake_final(spec.higher_is_better, arch, init, seed)
    n = epochs or 3
    history = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "val_loss": 1 / e,
            "time": 0.01 * e,
            "val_metric": spec.baseline + (final - spec.baseline) * e / n,
        }
        for e in range(1, n + 1)
    ]
    metrics = {
        "metric": spec.metric,
        "higher_is_better": spec.higher_is_better,
        "baseline": spec.baseline,
        "test": final,
        "val": final,
        "best_epoch": n,
        "epochs_run": n,
        "threads": torch.get_num_threads(),
        "nonlinearity": nonlinearity,
        "t_max": (init_options or {}).get("t_max"),
        "law": init_params,
        "n_train": spec.defaults["n_train"],
        "T": spec.params.get("T"),
    }
    return FakeResult(torch.nn.GRU(1, 2), spec, metrics, history, {"task": spec.name})


def bench(
    out,
    *,
    tasks=("tomita4", "adding"),
    archs=("rnn", "gru"),
    inits=("orthogonal", "irnn", "chrono"),
    seeds=2,
    **kw,
) -> BenchResult:
    kw = {"trainer": fake_train, "checkpoints": False, "figures": (), "draw": bench_figures, **kw}
    return run_bench(list(tasks), list(archs), list(inits), seeds, out, **kw)


def bench_state(folder: Path) -> dict:
    """The bench state the folder's manifest carries (``run.bench``)."""
    return json.loads((folder / MANIFEST_NAME).read_text())["run"]["bench"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "cells").glob("*.json"))}


# -- grid and tables -------------------------------------------------------------------------------


def test_grid_runs_every_cell_and_writes_tidy_tables(tmp_path):
    res = bench(tmp_path / "b", epochs=4)
    # per task: rnn × {orthogonal, irnn} + gru × {orthogonal, irnn, chrono}, 2 seeds
    assert res.ran == 20 and res.skipped == 0 and len(res.records) == 20
    assert set(res.not_applicable) == {"tomita4__rnn__chrono", "adding__rnn__chrono"}
    results = pd.read_csv(tmp_path / "b" / "results.csv")
    assert len(results) == 20 * 4 and set(results["epoch"]) == {1, 2, 3, 4}
    runs = pd.read_csv(tmp_path / "b" / "runs.csv")
    assert len(runs) == 20 and set(runs["status"]) == {"ok"}
    summary = pd.read_csv(tmp_path / "b" / "summary.csv")
    assert len(summary) == 10 and set(summary["n_ok"]) == {2}
    row = summary.query("task == 'tomita4' and arch == 'gru' and init == 'orthogonal'").iloc[0]
    seeds = [fake_final(True, "gru", "orthogonal", s) for s in (0, 1)]
    assert row["median"] == pytest.approx(sum(seeds) / 2) and row["rank"] == 1
    assert row["iqr"] == pytest.approx(0.5 * (seeds[1] - seeds[0]))
    adding = summary.query("task == 'adding' and arch == 'rnn'").set_index("init")
    assert adding.loc["orthogonal", "rank"] == 1 and adding.loc["irnn", "rank"] == 2  # lower MSE
    doc = json.loads((tmp_path / "b" / "bench.json").read_text())
    assert doc["schema"] == "rnndyn.training.bench-result/1" and doc["counts"]["ok"] == 20
    assert set(doc["files"]) >= {"results.csv", "runs.csv", "summary.csv", "bench.json"}


def test_cells_get_the_right_training_arguments(tmp_path):
    res = bench(tmp_path / "b", preset="quick", tasks=["adding"], archs=["rnn", "lstm"])
    m = {(r["arch"], r["init"]): r["metrics"] for r in res.records if r["seed"] == 0}
    assert m[("rnn", "irnn")]["nonlinearity"] == "relu"  # IRNN means a ReLU RNN
    assert m[("lstm", "irnn")]["nonlinearity"] == "tanh"  # ... and just identity when gated
    assert m[("lstm", "chrono")]["t_max"] == 30.0  # T_max = the (preset) sequence length
    assert m[("lstm", "orthogonal")]["n_train"] == 800 and m[("lstm", "orthogonal")]["T"] == 30
    assert all(r["metrics"]["threads"] == 1 for r in res.records)


def test_fixed_unit_archs_train_a_vanilla_rnn_with_that_unit(tmp_path):
    archs = ["rnn_tanh", "rnn_relu"]
    res = bench(
        tmp_path / "b",
        tasks=["adding"],
        archs=archs,
        inits=["irnn", "chrono", "xavier_uniform"],
        seeds=1,
    )
    got = {
        (r["arch"], r["init"]): (r["nonlinearity"], r["metrics"]["nonlinearity"])
        for r in res.records
    }
    assert got == {
        ("rnn_tanh", "irnn"): ("tanh", "tanh"),  # the arch's unit wins over the init's pairing
        ("rnn_tanh", "xavier_uniform"): ("tanh", "tanh"),
        ("rnn_relu", "irnn"): ("relu", "relu"),
        ("rnn_relu", "xavier_uniform"): ("relu", "relu"),
    }
    assert set(res.not_applicable) == {"adding__rnn_tanh__chrono", "adding__rnn_relu__chrono"}
    assert res.levels()["arch"] == archs
    with pytest.raises(UsageError, match="rnn_relu"):
        resolve_grid(["adding"], ["rnn_sigmoid"], ["default"], 1)


def test_warnings_in_a_run_are_kept_in_its_record(tmp_path):
    res = bench(tmp_path / "b", tasks=["tomita4"], archs=["gru"], inits=["irnn"], seeds=[0, 98])
    by_seed = {r["seed"]: r for r in res.records}
    assert by_seed[98]["status"] == "ok" and by_seed[98]["warnings"] == ["fake trainer warning"]
    assert by_seed[0]["warnings"] == []


def test_thresholds_and_epochs_to_reach_them(tmp_path):
    res = bench(
        tmp_path / "b",
        tasks=["tomita4"],
        archs=["gru"],
        inits=["orthogonal", "chrono"],
        seeds=1,
        epochs=10,
    )
    runs = res.runs_frame().set_index("init")
    best = fake_final(True, "gru", "orthogonal", 0)
    thr = 0.5 + 0.9 * (best - 0.5)
    assert runs["threshold"].iloc[0] == pytest.approx(thr)
    # the fake val metric rises linearly to its final value: it reaches thr at epoch ceil(9)
    assert runs.loc["orthogonal", "epochs_to_threshold"] == 9
    assert pd.isna(runs.loc["chrono", "epochs_to_threshold"])  # final 0.75 < thr
    s = res.summary().set_index("init")
    assert s.loc["orthogonal", "reached"] == 1.0 and s.loc["chrono", "reached"] == 0.0


# -- resume, extend, errors ------------------------------------------------------------------------


def test_rerun_skips_finished_cells_and_retries_errors(tmp_path):
    out = tmp_path / "b"
    first = bench(out, seeds=[0, 99])  # seed 99 fails in the fake trainer
    assert first.ran == 20 and sum(r["status"] == "error" for r in first.records) == 10
    assert "boom" in next(r["error"] for r in first.records if r["status"] == "error")
    before = snapshot(out)
    (out / "cells" / "adding__gru__irnn__s0.json").unlink()
    again = bench(out, seeds=[0, 99])
    assert again.ran == 11 and again.skipped == 9  # the deleted cell + the 10 failed ones
    after = snapshot(out)
    for name, data in before.items():
        if "__s0" in name and name != "adding__gru__irnn__s0.json":
            assert after[name] == data, name  # finished results untouched


def test_another_grid_extends_the_folder(tmp_path):
    out = tmp_path / "b"
    bench(out)
    res = bench(out, inits=["orthogonal", "default"])
    assert res.ran == 8 and res.skipped == 8 and len(res.records) == 28
    assert len(bench_state(out)["grids"]) == 2
    assert set(pd.read_csv(out / "summary.csv")["init"]) == {
        "orthogonal",
        "irnn",
        "chrono",
        "default",
    }


def test_other_settings_are_refused(tmp_path):
    out = tmp_path / "b"
    bench(out, epochs=3)
    before = snapshot(out)
    with pytest.raises(UsageError, match="epochs") as err:  # exit 2, as `study` says it
        bench(out, epochs=5)
    assert err.value.exit_code == 2
    with pytest.raises(UsageError, match=r"tasks\.adding"):
        bench(out, epochs=3, preset="quick", tasks=["adding"])  # quick uses T=30
    assert snapshot(out) == before and not (out / LOCK).exists()


def test_foreign_folder_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(OutputError, match="did not write") as err:
        bench(out)
    assert err.value.exit_code == 5
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        bench(tmp_path / "file")


def test_edited_reports_are_not_overwritten(tmp_path):
    out = tmp_path / "b"
    bench(out)
    (out / "summary.csv").write_text("my edits\n")
    with pytest.raises(OutputError, match=r"summary\.csv"):
        bench(out)
    assert (out / "summary.csv").read_text() == "my edits\n"


def test_lock_of_a_live_run_refuses_and_a_stale_one_is_taken_over(tmp_path):
    out = tmp_path / "b"
    bench(out, tasks=["tomita4"], archs=["gru"], inits=["irnn"], seeds=1)
    (out / LOCK).write_text(str(os.getpid()))  # a live process holds it
    with pytest.raises(OutputError, match="another rnndyn bench"):
        bench(out, tasks=["tomita4"], archs=["gru"], inits=["irnn"], seeds=1)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (out / LOCK).write_text(dead)
    res = bench(out, tasks=["tomita4"], archs=["gru"], inits=["irnn"], seeds=1)
    assert res.skipped == 1 and not (out / LOCK).exists()


def test_bad_arguments_name_the_valid_choices(tmp_path):
    out = tmp_path / "b"
    cases = [
        ({"tasks": ["tomita9"]}, "tomita4"),
        ({"archs": ["transformer"]}, "rnn, lstm, gru"),
        ({"inits": ["xavier"]}, "xavier_uniform"),
        ({"seeds": 0}, "at least 1"),
        ({"jobs": 0}, "jobs"),
        ({"preset": "huge"}, "quick, full"),
        ({"inits": ["eigen"]}, "law file"),
        ({"init_params": "law.json"}, "only used by the 'eigen'"),
        ({"inits": ["eigen"], "init_params": {"timeseries": "x"}}, "regression, classification"),
    ]
    for kwargs, text in cases:
        with pytest.raises(UsageError, match=text) as err:
            bench(out, **kwargs)
        assert err.value.exit_code == 2
    with pytest.raises(InvalidInputError):
        bench(out, inits=["eigen"], init_params=tmp_path / "missing.json")
    assert not out.exists()  # nothing written on bad input


def test_presets_resolve_to_valid_grids():
    quick = resolve_grid(None, None, None, None, preset="quick")
    kinds = {c.kind for c in quick.cells}
    assert kinds == {"regression", "classification"} and len({c.task for c in quick.cells}) >= 4
    assert len({c.init for c in quick.cells}) >= 6 and {c.seed for c in quick.cells} == {0, 1, 2}
    assert {c.arch for c in quick.cells} == {"rnn", "lstm", "gru"} and len(quick.cells) == 216
    full = resolve_grid(None, None, None, None, preset="full")
    assert len(full.cells) == 11 * 41 * 5 and full.epochs is None
    assert PRESETS["quick"].note and PRESETS["full"].note
    arena = resolve_grid(None, None, None, None, preset="eigen3")
    per_arch = {
        a: len({c.init for c in arena.cells if c.arch == a}) for a in arena.describe()["arch"]
    }
    assert per_arch == {"rnn_tanh": 7, "rnn_relu": 7, "lstm": 8, "gru": 8}  # ≥ 6 baselines per cell
    assert len(arena.cells) == 450 and "450 baseline runs" in PRESETS["eigen3"].note
    sizes = arena.sizes["n_train"] + arena.sizes["n_val"] + arena.sizes["n_test"]
    assert sizes <= 1797  # every split fits in scikit-learn's digits (digits_perm)


# -- parallel workers and interruption -------------------------------------------------------------


def test_parallel_workers_match_serial(tmp_path):
    serial = bench(tmp_path / "s", tasks=["tomita4"], jobs=1)
    parallel = bench(tmp_path / "p", tasks=["tomita4"], jobs=2)
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("time_s", "cpu_s")} for r in rs]  # noqa: E731
    assert strip(parallel.records) == strip(serial.records)
    assert all(r["metrics"]["threads"] == 1 for r in parallel.records)


def test_ctrl_c_keeps_finished_cells_stops_workers_quietly_and_resume_completes(tmp_path):
    """Event-based: seeds 0 and 1 finish, every later run blocks forever. The parent reports each
    finished run on stdout; after two, the whole process group gets SIGINT (a terminal's Ctrl-C).
    The command can only return if the blocked workers were stopped."""
    import psutil

    out, pids = tmp_path / "b", tmp_path / "pids"
    pids.mkdir()
    script = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_bench import fake_train\nfrom rnndyn.training.bench import run_bench\n"
        "def say(done, total, record):\n"
        "    if record is not None: print(record['id'], flush=True)\n"
        "try:\n"
        f"    run_bench(['tomita4'], ['gru'], ['orthogonal'], 4, {str(out)!r},"
        " jobs=2, trainer=fake_train, checkpoints=False, figures=(), progress=say)\n"
        "except KeyboardInterrupt:\n    sys.exit(130)\n"
    )
    env = {**os.environ, "FAKE_TRAIN_BLOCK": str(pids)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
    )

    def ready() -> None:
        finished = [proc.stdout.readline() for _ in range(2)]  # seeds 0 and 1
        assert all(b"__s0" in x or b"__s1" in x for x in finished), finished
        while len(list(pids.glob("*.pid"))) < 2:  # both workers are now inside a blocked run
            time.sleep(0.02)

    err = ctrl_c_when_ready(proc, ready, watchdog_s=120, timeout_s=60)  # never hangs CI
    assert proc.returncode == 130
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()[-2000:]
    procs = []
    for pid in (int(p.stem) for p in pids.glob("*.pid")):
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(procs, timeout=10)
    assert not alive  # no orphaned worker goes on
    cells = load_cells(out)
    assert len(cells) == 2 and all(r["status"] == "ok" for r in cells)
    assert not (out / LOCK).exists()
    res = bench(out, tasks=["tomita4"], archs=["gru"], inits=["orthogonal", "irnn"], seeds=[0, 1])
    assert res.skipped == 2 and res.ran == 2
    assert not list((out / "cells").glob("*tmp*"))


# -- reports after an interruption, failed runs, unwritable folders ---------------------------------


@pytest.mark.parametrize("stop", ["ctrl-c", "disk-full"])
def test_reports_interrupted_half_way_are_rewritten_on_resume(tmp_path, monkeypatch, stop):
    """Ctrl-C (or a full disk) after results.csv was staged but before the other reports: nothing
    is published, the folder stays rnndyn's, and the next run writes every report from the cells."""
    from rnndyn.outputs.staging import StagedOutput

    out = tmp_path / "b"
    real = StagedOutput.write_bytes
    written: list[str] = []

    def write_then_stop(self, name, data):
        if written:
            if stop == "ctrl-c":
                raise KeyboardInterrupt
            raise OutputError("could not write the file (No space left on device)", path=name)
        written.append(name)
        return real(self, name, data)

    monkeypatch.setattr(StagedOutput, "write_bytes", write_then_stop)
    with pytest.raises(KeyboardInterrupt if stop == "ctrl-c" else OutputError):
        bench(out, figures=("png",))
    assert written == ["results.csv"] and not (out / "results.csv").exists()
    assert not list(out.glob(".rnndyn-staging-*"))
    monkeypatch.setattr(StagedOutput, "write_bytes", real)
    res = bench(out, figures=("png",))
    assert res.ran == 0 and res.skipped == 20
    for name in ("results.csv", "runs.csv", "summary.csv", "bench.json", "final_metric.png"):
        assert (out / name).stat().st_size > 0, name
    listed = {e["path"] for e in json.loads((out / MANIFEST_NAME).read_text())["files"]}
    assert {"summary.csv", "bench.json", "final_metric.png"} <= listed
    assert not any(p.startswith(("cells/", "checkpoints/")) for p in listed)
    (out / "summary.csv").write_text("my edits\n")  # a real edit is still refused
    with pytest.raises(OutputError, match=r"summary\.csv"):
        bench(out, figures=("png",))
    assert (out / "summary.csv").read_text() == "my edits\n"


def test_user_files_in_a_bench_folder_are_left_alone(tmp_path):
    out = tmp_path / "b"
    bench(out, tasks=["tomita4"], archs=["gru"], inits=["irnn"], seeds=1)
    (out / "notes.txt").write_text("mine")
    res = bench(out, tasks=["tomita4"], archs=["gru"], inits=["irnn"], seeds=2)
    assert res.ran == 1 and (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    (out / "summary.csv").unlink()
    (out / "summary.csv").write_text("my own summary\n")  # unlisted bytes in a report's place
    with pytest.raises(OutputError, match=r"summary\.csv"):
        bench(out, tasks=["tomita4"], archs=["gru"], inits=["irnn"], seeds=2)
    assert (out / "summary.csv").read_text() == "my own summary\n"


def test_a_folder_with_the_old_bench_marker_is_resumed_and_moved_to_the_manifest(tmp_path):
    """A bench folder written before the manifest held the bench state (``.rnndyn-bench.json``
    with report hashes) is recognised: resume skips its cells, its reports are replaced, its
    state moves into the manifest; an edited report is still refused."""
    out = tmp_path / "b"
    small = dict(tasks=["tomita4"], archs=["gru"], inits=["irnn"])
    bench(out, seeds=1, **small)

    def make_legacy() -> None:
        doc = json.loads((out / MANIFEST_NAME).read_text())
        state = doc["run"]["bench"]
        reports = {e["path"]: e["sha256"] for e in doc["files"] if e["path"] != "manifest.json"}
        (out / "manifest.json").unlink()
        (out / MANIFEST_NAME).unlink()
        legacy = {**state, "reports": reports}
        (out / LEGACY_MARKER).write_text(json.dumps(legacy))

    make_legacy()
    res = bench(out, seeds=2, **small)
    assert res.ran == 1 and res.skipped == 1
    assert not (out / LEGACY_MARKER).exists() and len(bench_state(out)["grids"]) == 2
    assert pd.read_csv(out / "runs.csv").shape[0] == 2
    make_legacy()
    (out / "summary.csv").write_text("my edits\n")
    with pytest.raises(OutputError, match=r"summary\.csv"):
        bench(out, seeds=2, **small)
    assert (out / "summary.csv").read_text() == "my edits\n" and (out / LEGACY_MARKER).exists()


def test_bench_where_every_run_fails_says_so_on_every_rerun(tmp_path):
    res = bench(tmp_path / "b", tasks=["tomita4"], archs=["lstm"], inits=["orthogonal"], seeds=[97])
    assert [r["status"] for r in res.records] == ["error"] and res.records[0]["exit_code"] == 2
    assert res.summary().empty and "epochs_to_threshold" in res.runs_frame()
    runner = CliRunner()
    law = Path(__file__).parents[1] / "data" / "init" / "eigen-rnn.classification.json"
    args = ["bench", "--tasks", "parity", "--archs", "lstm", "--inits", "eigen", "--seeds", "1"]
    args += ["--epochs", "1", "--hidden", "4", "--init-params", str(law)]
    args += ["--out", str(tmp_path / "c")]
    for _ in range(2):  # KeyError 'Column not found: epochs_to_threshold' (exit 1) before the fix
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        assert "every run failed (1 of 1)" in res.stderr and "no target" in res.stderr
        assert "KeyError" not in res.output


def test_partly_failing_bench_draws_its_figures_without_warnings(tmp_path):
    # pytest turns warnings into errors: a RuntimeWarning from an empty LSTM panel fails this
    res = bench(
        tmp_path / "b",
        tasks=["tomita4"],
        archs=["gru", "lstm"],
        inits=["orthogonal"],
        seeds=[97],
        figures=("png",),
    )
    assert sorted(r["status"] for r in res.records) == ["error", "ok"]
    assert (tmp_path / "b" / "learning_curves.png").stat().st_size > 0


def assert_output_error(out):
    with pytest.raises(OutputError) as err:  # exit 1 (a raw OSError) before the fix
        bench(out)
    assert err.value.exit_code == 5
    args = ["bench", "--tasks", "parity", "--archs", "rnn", "--inits", "irnn", "--seeds", "1"]
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 5 and "cannot create" in res.stderr, res.output


def test_out_below_a_regular_file_is_an_output_error(tmp_path):
    (tmp_path / "file").write_text("x")
    assert_output_error(tmp_path / "file" / "b")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder_is_an_output_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert_output_error(locked / "b")
    finally:
        locked.chmod(0o700)


# -- figures ---------------------------------------------------------------------------------------


def test_figures_draw_one_line_per_init_and_one_point_per_run(tmp_path):
    import matplotlib.collections as mc

    from rnndyn.plots import bench as plots

    res = bench(tmp_path / "b", seeds=3)
    ax = plots.learning_curve(res, "tomita4", "gru")
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["orthogonal", "irnn", "chrono", "trivial baseline"]  # registry order
    assert sum(isinstance(c, mc.PolyCollection) for c in ax.collections) == 3  # IQR bands
    ax = plots.final_metric(res, "adding")
    points = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, mc.PathCollection))
    assert points == 15  # (2 rnn + 3 gru inits) × 3 seeds
    assert [t.get_text() for t in ax.get_xticklabels()] == ["orthogonal", "irnn", "chrono"]
    fig = plots.learning_curves(res)
    assert len([a for a in fig.axes if a.get_visible()]) == 4  # 2 tasks × 2 archs
    assert [a.get_title() for a in fig.axes][:2] == ["tomita4 · RNN", "tomita4 · GRU"]
    assert len(plots.final_metrics(res).axes) == 2


# -- real training, end to end ---------------------------------------------------------------------


def test_end_to_end_with_real_training(tmp_path):
    import rnndyn

    out = tmp_path / "b"
    res = run_bench(
        ["tomita4"],
        ["gru"],
        ["orthogonal", "chrono"],
        1,
        out,
        preset="quick",
        epochs=1,
        hidden=8,
        draw=bench_figures,
    )
    assert [r["status"] for r in res.records] == ["ok", "ok"], [r.get("error") for r in res.records]
    for r in res.records:
        ckpt = rnndyn.load(out / r["checkpoint"])
        assert ckpt.metadata["init"] == r["init"] and ckpt.metadata["task"] == "tomita4"
        assert 0.0 <= r["metrics"]["test"] <= 1.0
    for name in ("learning_curves.pdf", "learning_curves.png", "final_metric.pdf", "summary.csv"):
        assert (out / name).stat().st_size > 0
    assert len(res.summary()) == 2


# -- command line ----------------------------------------------------------------------------------


def test_cli_usage_errors_exit_2_with_the_choices(tmp_path):
    runner = CliRunner()
    base = ["bench", "--out", str(tmp_path / "b"), "--archs", "gru", "--inits", "orthogonal"]
    res = runner.invoke(app, [*base, "--tasks", "nope", "--seeds", "1"])
    assert res.exit_code == 2 and "tomita4" in res.stderr and res.stdout == ""
    res = runner.invoke(app, [*base, "--tasks", "tomita4", "--seeds", "0"])
    assert res.exit_code == 2 and "at least 1" in res.stderr
    res = runner.invoke(app, [*base, "--tasks", "tomita4", "--seeds", "1", "--archs", "cnn"])
    assert res.exit_code == 2 and "rnn, lstm, gru" in res.stderr
    res = runner.invoke(app, [*base, "--tasks", "tomita4", "--seeds", "1", "--init-params", "x=y"])
    assert res.exit_code == 2
    assert not (tmp_path / "b").exists()


def test_cli_json_run_and_resume(tmp_path):
    runner = CliRunner()
    args = [
        "bench",
        "--tasks",
        "parity",
        "--archs",
        "rnn",
        "--inits",
        "irnn",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--hidden",
        "4",
        "--out",
        str(tmp_path / "b"),
        "--json",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["counts"] == {"cells": 1, "ok": 1, "diverged": 0, "error": 0, "ran": 1, "skipped": 0}
    assert doc["summary"][0]["init"] == "irnn"
    res = runner.invoke(app, args[:-1])  # table on stdout, counts on stderr
    assert res.exit_code == 0 and "irnn" in res.stdout and "1 already done" in res.stderr


def test_cli_seed_start_runs_held_out_seeds(tmp_path):
    runner = CliRunner()
    out = tmp_path / "b"
    args = ["bench", "--tasks", "parity", "--archs", "rnn", "--inits", "irnn", "--epochs", "1"]
    args += ["--hidden", "4", "--seeds", "2", "--seed-start", "7", "--out", str(out), "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["counts"]["cells"] == 2
    cells = sorted(p.name for p in (out / "cells").glob("*.json"))
    assert len(cells) == 2 and all("s7" in c or "s8" in c for c in cells), cells
    res = runner.invoke(
        app, ["bench", "--out", str(tmp_path / "c"), "--tasks", "parity", "--seed-start", "3"]
    )
    assert res.exit_code == 2 and "--seeds" in res.stderr


def test_ctrl_c_message_says_finished_work_is_kept(tmp_path, capsys):
    """`bench` and `study` (which keeps its trained networks) must not say "no outputs were
    changed" on Ctrl-C."""
    import typer

    from rnndyn_cli.commands.bench import resumable

    with pytest.raises(typer.Exit) as err, resumable(tmp_path, "networks"):
        raise KeyboardInterrupt
    assert err.value.exit_code == 130
    said = capsys.readouterr().err
    assert "finished networks are kept" in said and "no outputs were changed" not in said


def test_save_every_keeps_weights_along_training_for_track(tmp_path):
    """bench --save-every K: every run's epoch-0 and every K-th epoch weights, loadable and in
    epoch order, and the first snapshot is the initial network (same seed → same weights)."""
    import torch

    out = tmp_path / "b"
    runner = CliRunner()
    args = ["bench", "--tasks", "parity", "--archs", "gru", "--inits", "orthogonal", "--seeds", "1"]
    args += ["--epochs", "3", "--hidden", "6", "--save-every", "1", "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    snaps = sorted((out / "snapshots").glob("*/epoch_*.pt"))
    epochs = [torch.load(p, weights_only=True)["rnndyn"]["epoch"] for p in snaps]
    assert epochs[0] == 0 and epochs == sorted(epochs) and len(epochs) >= 2
    w0 = torch.load(snaps[0], weights_only=True)["state_dict"]["rnn.weight_hh_l0"]
    q = w0[12:18].double()  # the n block of an orthogonal init: Q Qᵀ = I
    assert torch.allclose(q @ q.T, torch.eye(6, dtype=torch.float64), atol=1e-5)

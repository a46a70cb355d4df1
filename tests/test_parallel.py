"""The shared executor: local worker processes (quiet Ctrl-C) and the Dask backend (LocalCluster).

The Dask tests start real LocalClusters (3–5 s each on 2 idle cores; the two that train real
networks or run a subprocess take ≈ 10 s and are marked slow); the bench cells use
``test_bench.fake_train`` unless they check real training.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rnndyn.errors import UsageError
from rnndyn.parallel import execute
from rnndyn.training.bench import load_cells, run_bench

sys.path.insert(0, str(Path(__file__).parent))
from executor_jobs import square_or_block
from interrupt import ctrl_c_when_ready
from test_bench import bench

pytest.importorskip("distributed")


def test_execute_collects_every_result_once_in_any_mode(tmp_path):
    for kwargs in ({"jobs": 1}, {"jobs": 2}):
        got: dict[int, int] = {}
        execute(square_or_block, [(x, "") for x in (0, 1)], on_result=got.__setitem__, **kwargs)
        assert got == {0: 0, 1: 1}


def test_ctrl_c_stops_spawned_workers_without_tracebacks(tmp_path):
    """The path `compare --jobs` and `study --jobs` take (spawned workers): Ctrl-C on the whole
    process group must end the command with no worker's KeyboardInterrupt traceback."""
    script = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from executor_jobs import square_or_block\n"
        "from rnndyn.parallel import execute\n"
        "try:\n"
        f"    execute(square_or_block, [(x, {str(tmp_path)!r}) for x in range(6)], jobs=2,"
        " on_result=lambda i, v: print(i, flush=True))\n"
        "except KeyboardInterrupt:\n    sys.exit(130)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )

    def ready() -> None:
        assert {proc.stdout.readline().strip() for _ in range(2)} == {b"0", b"1"}
        while len(list(tmp_path.glob("*.pid"))) < 2:
            time.sleep(0.02)

    err = ctrl_c_when_ready(proc, ready, watchdog_s=120, timeout_s=60)
    assert proc.returncode == 130
    assert b"Traceback" not in err, err.decode()[-2000:]
    assert_all_gone([int(p.stem) for p in tmp_path.glob("*.pid")])


def assert_all_gone(pids: list[int]) -> None:
    import psutil

    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(procs, timeout=10)
    assert not alive


def test_bad_cluster_specs_are_usage_errors(tmp_path, monkeypatch):
    from rnndyn import parallel as executor

    monkeypatch.setattr(executor, "CONNECT_S", 1.0)
    for spec in ("local:0", "local:x", "ssh://a", "head:8786"):
        with pytest.raises(UsageError, match="--cluster") as err:
            bench(tmp_path / "b", cluster=spec)
        assert err.value.exit_code == 2
    with pytest.raises(UsageError, match="could not connect"):
        bench(tmp_path / "c", cluster="tcp://127.0.0.1:9")  # nothing listens on port 9


def strip(records):
    """Records without what measures time (wall or CPU seconds, anywhere in them)."""
    out = []
    for r in records:
        r = {k: v for k, v in r.items() if k not in ("time_s", "cpu_s")}
        r["metrics"] = {k: v for k, v in r["metrics"].items() if k != "seconds"}
        r["history"] = [{k: v for k, v in h.items() if k != "time"} for h in r["history"]]
        out.append(r)
    return out


def test_dask_local_cluster_gives_the_local_runners_results(tmp_path):
    grid = {"tasks": ["tomita4"], "archs": ["gru"], "inits": ["orthogonal", "irnn"], "seeds": 2}
    local = bench(tmp_path / "local", **grid)
    dask = bench(tmp_path / "dask", cluster="local:2", **grid)
    assert strip(dask.records) == strip(local.records) and len(dask.records) == 4
    assert all(r["metrics"]["threads"] == 1 for r in dask.records)  # one torch thread per task
    again = bench(tmp_path / "dask", **grid)  # the same folder format: the local runner resumes
    assert again.skipped == 4 and again.ran == 0


@pytest.mark.slow
def test_dask_real_training_metrics_equal_the_local_runners(tmp_path):
    args = (["parity"], ["rnn", "gru"], ["orthogonal"], 2)
    kw = {"epochs": 1, "hidden": 6, "preset": "quick", "figures": ()}
    local = run_bench(*args, tmp_path / "local", jobs=2, **kw)
    dask = run_bench(*args, tmp_path / "dask", cluster="local:2", **kw)
    assert strip(dask.records) == strip(local.records)
    assert all(r["metrics"]["test"] > 0 and len(r["history"]) == 1 for r in dask.records)
    assert all(r["status"] == "ok" for r in dask.records)


def test_a_killed_dask_worker_is_replaced_and_every_run_appears_once(tmp_path, monkeypatch):
    """Both workers block inside a run; one is SIGKILLed; its run is retried elsewhere."""
    import psutil

    gate = tmp_path / "gate"
    gate.mkdir()
    monkeypatch.setenv("FAKE_TRAIN_GATE", str(gate))  # inherited by the spawned workers
    seen: list[str] = []

    def kill_one_then_open() -> None:
        deadline = time.monotonic() + 120
        while len(list(gate.glob("*.run"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = int(sorted(gate.glob("*.run"))[0].name.split("_")[0])
        psutil.Process(victim).kill()
        (gate / "go").touch()

    killer = threading.Thread(target=kill_one_then_open, daemon=True)
    killer.start()
    res = bench(
        tmp_path / "b",
        tasks=["tomita4"],
        archs=["gru"],
        inits=["orthogonal", "irnn"],
        seeds=3,
        cluster="local:2",
        progress=lambda done, total, rec: rec and seen.append(rec["id"]),
    )
    killer.join(5)
    assert (gate / "go").exists()
    assert len(seen) == 6 == len(set(seen)) and res.ran == 6
    assert sorted(r["id"] for r in load_cells(tmp_path / "b")) == sorted(seen)
    assert all(r["status"] == "ok" for r in res.records)
    starts: dict[str, set[str]] = {}
    for f in gate.glob("*.run"):
        pid, run = f.stem.split("_", 1)
        starts.setdefault(run, set()).add(pid)
    assert len(starts) == 6 and max(map(len, starts.values())) == 2  # the killed run, retried


BLOCK_RNDYN = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "rnndyn" or name.startswith("rnndyn."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Block())
for m in [m for m in sys.modules if m == "rnndyn" or m.startswith("rnndyn.")]:
    del sys.modules[m]
"""
OTHER_VERSION = "import rnndyn._version as v\nv.__version__ = '0.0.0+other'\n"


@pytest.mark.parametrize(
    ("preload", "message"),
    [(BLOCK_RNDYN, "rnndyn cannot be imported"), (OTHER_VERSION, "runs rnndyn 0.0.0")],
)
def test_a_worker_without_rnndyn_or_with_another_version_is_refused(tmp_path, preload, message):
    from distributed import LocalCluster

    script = tmp_path / "preload_worker.py"
    script.write_text(preload)
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        dashboard_address=":0",
        silence_logs=50,
        preload=[str(script)],
    ) as cluster:
        started = time.monotonic()
        with pytest.raises(UsageError, match=message):
            bench(
                tmp_path / "b", tasks=["tomita4"], archs=["gru"], cluster=cluster.scheduler_address
            )
        assert time.monotonic() - started < 60  # an error, not a hang
    assert not load_cells(tmp_path / "b")


def test_compare_on_a_dask_cluster_gives_the_local_result(tmp_path):
    from test_compare import FAST, write_population

    from rnndyn.compare.spectra import compare_spectra

    paths = write_population(tmp_path, 3)
    every = paths["classification"] + paths["regression"]
    a = compare_spectra(every, jobs=1, **FAST).to_dict()
    b = compare_spectra(every, cluster="local:2", **FAST).to_dict()
    assert a["tests"] == b["tests"] and a["distances"] == b["distances"]
    assert a["groups"] == b["groups"]


@pytest.mark.slow
def test_ctrl_c_on_a_dask_bench_keeps_finished_runs_quietly(tmp_path):
    """Seeds 0, 1 finish and later runs block forever on the LocalCluster's workers; SIGINT to the
    whole process group must end the command (exit 130), with no worker traceback."""
    out, pids = tmp_path / "b", tmp_path / "pids"
    pids.mkdir()
    script = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_bench import fake_train\nfrom rnndyn.training.bench import run_bench\n"
        "def say(done, total, record):\n"
        "    if record is not None: print(record['id'], flush=True)\n"
        "if __name__ == '__main__':\n"
        "  try:\n"
        f"    run_bench(['tomita4'], ['gru'], ['orthogonal'], 4, {str(out)!r}, cluster='local:2',"
        " trainer=fake_train, checkpoints=False, figures=(), progress=say)\n"
        "  except KeyboardInterrupt:\n    sys.exit(130)\n"
    )
    (tmp_path / "run.py").write_text(script)
    env = {**os.environ, "FAKE_TRAIN_BLOCK": str(pids)}
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "run.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
    )

    def ready() -> None:
        assert {proc.stdout.readline().strip()[-3:] for _ in range(2)} == {b"_s0", b"_s1"}
        while len(list(pids.glob("*.pid"))) < 2:
            time.sleep(0.02)

    err = ctrl_c_when_ready(proc, ready, watchdog_s=180, timeout_s=90)
    assert proc.returncode == 130
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()[-2000:]
    assert_all_gone([int(p.stem) for p in pids.glob("*.pid")])
    assert sorted(r["seed"] for r in load_cells(out)) == [0, 1]
    res = bench(out, tasks=["tomita4"], archs=["gru"], inits=["orthogonal"], seeds=[0, 1, 3])
    assert res.skipped == 2 and res.ran == 1  # resumed (locally) from the same folder

"""The Dask backend of `bench` against the built-in runner (issue 16). Prints figures; asserts nothing.

One small grid (default: parity and sine × rnn, gru × default, orthogonal × 2 seeds = 16 runs,
quick-preset data, 2 epochs, hidden 16) is trained four times, each into a fresh folder:

1. built-in runner, --jobs 1 and --jobs 2 (forkserver worker processes);
2. Dask, a LocalCluster of 1 and of 2 single-thread workers, started beforehand and reached by its
   tcp:// address (as on a real cluster, whose start-up is not rnndyn's), fresh for each run.

Printed: wall times, the scaling ratio Dask 2 workers / 1 worker, the ratio Dask / built-in at the
same number of workers, the overhead per run ((Dask − built-in) / runs), and whether every run's
metrics are identical across the four (time fields left out). On a loaded machine all four suffer
alike only roughly: the load average is printed. Usage: python benchmarks/bench_dask.py [--seeds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from rnndyn.training.bench import run_bench

GRID = (["parity", "sine"], ["rnn", "gru"], ["default", "orthogonal"])


def metrics(records: tuple[dict, ...]) -> list:
    return [
        (
            r["id"],
            {k: v for k, v in r["metrics"].items() if k != "seconds"},
            [{k: v for k, v in h.items() if k != "time"} for h in r["history"]],
        )
        for r in records
    ]


def timed(out: Path, seeds: int, **kw: object) -> tuple[float, list]:
    start = time.perf_counter()
    res = run_bench(*GRID, seeds, out, preset="quick", epochs=2, hidden=16, figures=(), **kw)
    assert all(r["status"] == "ok" for r in res.records), [r.get("error") for r in res.records]
    return time.perf_counter() - start, metrics(res.records)


def dask_run(out: Path, seeds: int, workers: int) -> tuple[float, list]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=workers, threads_per_worker=1, dashboard_address=None, silence_logs=50
    ) as cluster:
        return timed(out, seeds, cluster=cluster.scheduler_address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    n = len(GRID[0]) * len(GRID[1]) * len(GRID[2]) * args.seeds
    print(f"{n} runs; cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    tmp = Path(tempfile.mkdtemp(prefix="rnndyn-bench-dask-"))
    try:
        b1, m_b1 = timed(tmp / "b1", args.seeds, jobs=1)
        b2, m_b2 = timed(tmp / "b2", args.seeds, jobs=2)
        d1, m_d1 = dask_run(tmp / "d1", args.seeds, 1)
        d2, m_d2 = dask_run(tmp / "d2", args.seeds, 2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"built-in --jobs 1: {b1:.1f} s   --jobs 2: {b2:.1f} s")
    print(f"Dask 1 worker:     {d1:.1f} s   2 workers: {d2:.1f} s")
    print(f"scaling, Dask 2 workers / 1 worker: {d2 / d1:.2f} (built-in 2/1: {b2 / b1:.2f})")
    print(f"Dask / built-in: 1 worker {d1 / b1:.2f}, 2 workers {d2 / b2:.2f}")
    print(
        f"overhead per run (worker-seconds): 1 worker {(d1 - b1) / n:+.2f} s, "
        f"2 workers {(d2 - b2) * 2 / n:+.2f} s"
    )
    same = m_b1 == m_b2 == m_d1 == m_d2
    print(f"identical per-run metrics across all four: {same}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

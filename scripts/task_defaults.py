"""Measure what each task reaches with its default settings (the task table in docs/commands/train.md).

    python scripts/task_defaults.py                      # every task, its listed arch/init, seed 0
    python scripts/task_defaults.py --tasks adding copy --archs gru lstm --inits default orthogonal
    python scripts/task_defaults.py --json results.json  # also write the rows as JSON

One thread (``torch.set_num_threads(1)``), one run per (task, arch, init). Prints a Markdown table:
task, kind, arch, init, metric, test value, baseline, test_long, epochs run, CPU seconds of the
run (process time: on a shared machine wall time overstates it; the JSON has both). Run it in a
fresh process: the first run also pays torch's one-off optimizer import (~2 CPU s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from rnndyn.tasks import task_names
from rnndyn.training.train import train

# the arch/init measured for each task when no --archs/--inits are given
CHOICES = {name: ("gru", "orthogonal") for name in task_names()}


def run(task: str, arch: str, init: str, seed: int, **kw) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    result = train(task, arch, init=init, seed=seed, **kw)
    m = result.metrics
    return {
        "task": task,
        "kind": result.spec.kind,
        "arch": arch,
        "init": init,
        "metric": m["metric"],
        "test": m["test"],
        "baseline": m["baseline"],
        "test_long": m.get("test_long"),
        "epochs_run": m["epochs_run"],
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
    }


def row(r: dict) -> str:
    long = "" if r["test_long"] is None else f"{r['test_long']:.3f}"
    return (
        f"| {r['task']} | {r['kind']} | {r['arch']} | {r['init']} | {r['metric']} | "
        f"{r['test']:.4g} | {r['baseline']:.4g} | {long} | {r['epochs_run']} | {r['cpu_seconds']:.1f} |"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", nargs="*", default=task_names())
    ap.add_argument("--archs", nargs="*", default=None)
    ap.add_argument("--inits", nargs="*", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("| task | kind | arch | init | metric | test | baseline | test_long | epochs | cpu s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for task in args.tasks:
        archs = args.archs or [CHOICES[task][0]]
        inits = args.inits or [CHOICES[task][1]]
        for arch in archs:
            for init in inits:
                rows.append(run(task, arch, init, args.seed))
                print(row(rows[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of the batched fixed-point search against a per-point loop (issue 15, item 3). Prints
figures; asserts nothing.

The 3-bit flip-flop GRU (tests/data/gru_flipflop3.pt, H = 16): its points from N = 1024 initial
states drawn along the task's trajectories, found by

- batched: ``solve_layer`` on one (N, H) tensor — one Adam over all rows, batched Newton,
  de-duplication and eigenvalues in single calls;
- loop: the same ``solve_layer`` (same settings, same initial states) called once per initial state,
  as FixedPointFinder-style tools optimise one point at a time.

The loop is timed on the first ``--loop-inits`` states and scaled to N (it is linear in the number of
states; pass ``--loop-inits 1024`` to time all of them). Runs are interleaved; medians of
``--repeats``. Usage: python benchmarks/bench_fixedpoints.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from rnndyn.dynamics.fixedpoints.solver import Settings, sample_inits, solve_layer
from rnndyn.dynamics.network import layer_params, pick_module
from rnndyn.dynamics.probes import make_probe
from rnndyn.dynamics.trajectories import simulate
from rnndyn.readers.checkpoint import load

CKPT = Path(__file__).resolve().parent.parent / "tests" / "data" / "gru_flipflop3.pt"


def setup(n: int, seed: int = 0):
    ckpt = load(CKPT)
    mod = pick_module(ckpt)
    probe = make_probe("task:flipflop", mod, steps=100, batch=64, seed=seed)
    traj = simulate(ckpt, probe.inputs, dtype=torch.float64)
    states = traj.states(0, "forward", full=True).reshape(-1, mod.hidden_size)
    inits, _ = sample_inits(states, n, Settings().jitter, np.random.default_rng(seed))
    p = layer_params(ckpt, mod, 0, "forward", input_size=mod.input_size)
    x = torch.zeros(n, mod.input_size, dtype=torch.float64)
    return p, inits, x


def batched(p, inits, x, cfg) -> tuple[float, int, int]:
    t = time.perf_counter()
    lay = solve_layer(p, inits, x, cfg)
    return time.perf_counter() - t, len(lay), int(lay.stable.sum())


def loop(p, inits, x, cfg, k: int) -> tuple[float, int]:
    t = time.perf_counter()
    found = [solve_layer(p, inits[i : i + 1], x[i : i + 1], cfg) for i in range(k)]
    secs = time.perf_counter() - t
    pts = np.concatenate([f.states for f in found if len(f)])
    distinct = np.unique(np.round(pts, 6), axis=0).shape[0] if len(pts) else 0
    return secs, distinct


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024, help="initial states")
    ap.add_argument("--loop-inits", type=int, default=64, help="states the loop is timed on")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads [torch's default]")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Settings()
    p, inits, x = setup(args.n)
    k = min(args.loop_inits, args.n)
    solve_layer(p, inits[:8], x[:8], cfg)  # warm-up (first-call overheads)
    tb, tl = [], []
    for _ in range(args.repeats):
        secs, n_pts, n_stable = batched(p, inits, x, cfg)
        tb.append(secs)
        secs, distinct = loop(p, inits, x, cfg, k)
        tl.append(secs * args.n / k)
    mb, ml = statistics.median(tb), statistics.median(tl)
    print(
        f"flip-flop GRU (H={p.hidden_size}), {args.n} initial states, torch threads "
        f"{torch.get_num_threads()}, medians of {args.repeats}"
    )
    print(f"  batched: {mb:8.2f} s  -> {n_pts} distinct points, {n_stable} stable")
    print(
        f"  loop:    {ml:8.2f} s  (timed on {k} states, scaled ×{args.n / k:g}; "
        f"{distinct} distinct points among those {k})"
    )
    print(f"  ratio loop / batched: {ml / mb:.1f}×")
    print(
        f"  all batched runs: {[round(v, 2) for v in tb]}; loop runs: {[round(v, 2) for v in tl]}"
    )


if __name__ == "__main__":
    main()

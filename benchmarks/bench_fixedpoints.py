"""Speed of the batched fixed-point search against an FPF-style per-point loop at equal coverage
(issue 23, item 6). Prints figures; asserts nothing.

The bundled 3-bit flip-flop GRU (tests/data/gru_flipflop3.pt, H = 16), zero input:

- batched: ``find_fixed_points`` with its defaults (1024 starts from trajectories, the box and its
  corners; one Adam over all rows, batched Newton, de-duplication, Jacobians and eigenvalues in
  single calls; the trajectory simulation included);
- loop: one optimisation per start, in the style of FixedPointFinder's ``sequential`` method
  (Golub & Sussillo 2018) with its default settings: Adam (ε = 0.01) on q, an adaptive learning rate
  starting at 1 (×0.95 after q rises, ÷0.95 after 5 steps of steady decrease, ≥ 1e-3), gradient
  norms clipped at the 95th percentile of the last 100, stop at q < 1e-12, |Δq| < 1e-20·rate or
  5000 steps; points closer than 1e-3 in every coordinate merged (``tol_unique``). It gets the very
  same starts as the batched search (in random order: a better seeding than FPF's own), in float64.

- same: rnndyn's own solver (Adam, then Newton) called on one start at a time, the same starts.

Coverage is counted against the independent scipy reference (tests/fp_reference.py; FPF-style end
points matched at FPF's ``tol_unique`` 1e-3, the others at 1e-5). Each loop runs until it has
found as many reference points as the batched search ("time to equal coverage") or for
``--loop-budget`` seconds; a loop that hits the budget gives a lower bound on the ratio (≥). Runs are interleaved; medians of ``--repeats``.
Usage: python benchmarks/bench_fixedpoints.py [--repeats 3] [--threads 1] [--loop-budget 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fp_reference import FLIPFLOP, flipflop_module, matched, reference_points

from rnndyn.dynamics.fixedpoints import find_fixed_points
from rnndyn.dynamics.fixedpoints.solver import _q
from rnndyn.dynamics.network import layer_params, pick_module
from rnndyn.readers.checkpoint import load


def fpf_point(p, s0: torch.Tensor, gi: torch.Tensor) -> tuple[np.ndarray, float]:
    """One start, optimised alone (see the module docstring)."""
    s = s0.clone()[None]
    m, v = torch.zeros_like(s), torch.zeros_like(s)
    b1, b2, eps = 0.9, 0.999, 0.01
    rate, last_dec, run, q_prev = 1.0, 0, 0, float("inf")
    norms: list[float] = []
    for it in range(5000):
        s.requires_grad_(True)
        q = _q(p, s, gi)
        (g,) = torch.autograd.grad(q.sum(), s)
        s = s.detach()
        qv = float(q.detach())
        if qv < 1e-12 or abs(q_prev - qv) < 1e-20 * rate:
            break
        gn = float(g.norm())
        norms = [*norms, gn][-100:]
        clip = float(np.percentile(norms, 95))
        if gn > clip > 0:
            g = g * (clip / gn)
        if qv > q_prev and it - last_dec >= 5:
            rate, last_dec, run = max(rate * 0.95, 1e-3), it, 0
        else:
            run = run + 1 if qv < q_prev else 0
            if run >= 5:
                rate, run = rate / 0.95, 0
        q_prev = qv
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        mh, vh = m / (1 - b1 ** (it + 1)), v / (1 - b2 ** (it + 1))
        s = s - rate * mh / (vh.sqrt() + eps)
    return s[0].numpy(), q_prev


def loop(
    p, inits: np.ndarray, ref: np.ndarray, target: int, budget: float, kind: str
) -> tuple[float, int]:
    """Seconds until the loop's distinct points cover ``target`` reference points (or ``budget``).

    ``fpf``: ``fpf_point`` per start, every end point kept (as FPF keeps them), merged and matched
    at FPF's ``tol_unique`` 1e-3; ``same``: rnndyn's own ``solve_layer`` (Adam, Newton) called on one
    start at a time, matched at 1e-5."""
    from rnndyn.dynamics.fixedpoints.solver import Settings, solve_layer

    x = torch.zeros(1, p.w_ih.shape[1], dtype=torch.float64)
    gi = x @ p.w_ih.T + p.b_ih
    tol = 1e-3 if kind == "fpf" else 1e-5
    found: list[np.ndarray] = []
    t = time.perf_counter()
    covered = 0
    for s0 in inits:
        if kind == "fpf":
            ends = [fpf_point(p, torch.from_numpy(s0), gi)[0]]
        else:
            lay = solve_layer(p, torch.from_numpy(s0[None]), x, Settings())
            ends = list(lay.states[lay.isolated])
        for s in ends:
            if not any(np.abs(f - s).max() < tol for f in found):
                found.append(s)
                covered = int(matched(np.stack(found), ref, tol).sum())
        if covered >= target or time.perf_counter() - t > budget:
            break
    return time.perf_counter() - t, covered


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads [torch's default]")
    ap.add_argument("--loop-budget", type=float, default=300.0, help="seconds per loop run")
    ap.add_argument("--ref-starts", type=int, default=1000)
    ap.add_argument("--loops", default="fpf,same", help="per-point loops to time: fpf, same")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ref = reference_points(flipflop_module(), n_starts=args.ref_starts).isolated
    ckpt = load(FLIPFLOP)
    p = layer_params(ckpt, pick_module(ckpt), 0, "forward", input_size=3)
    find_fixed_points(ckpt, n_inits=16, iters=10)  # warm-up (first-call overheads)
    kinds = [k.strip() for k in args.loops.split(",") if k.strip()]
    tb: list[float] = []
    cb: list[int] = []
    tl: dict[str, list[float]] = {k: [] for k in kinds}
    cl: dict[str, list[int]] = {k: [] for k in kinds}
    rng = np.random.default_rng(0)
    for _ in range(args.repeats):
        t = time.perf_counter()
        res = find_fixed_points(ckpt)
        tb.append(time.perf_counter() - t)
        lay = res.layer(0)
        hit = int(matched(lay.states[lay.isolated], ref, 1e-5).sum())
        cb.append(hit)
        inits = rng.permutation(_starts())
        for k in kinds:
            secs, covered = loop(p, inits, ref, hit, args.loop_budget, k)
            tl[k].append(secs)
            cl[k].append(covered)
    mb = statistics.median(tb)
    print(
        f"flip-flop GRU (H={p.hidden_size}), zero input, torch threads {torch.get_num_threads()}, "
        f"medians of {args.repeats} interleaved runs; reference {len(ref)} isolated points"
    )
    print(f"  batched (defaults): {mb:8.2f} s -> {cb} reference points found")
    for k in kinds:
        ml = statistics.median(tl[k])
        capped = min(cl[k]) < min(cb)
        name = "FPF-style loop" if k == "fpf" else "rnndyn solver, one start at a time"
        print(f"  {name}: {ml:8.2f} s -> {cl[k]} reference points found")
        print(
            f"    ratio loop / batched: {'≥ ' if capped else ''}{ml / mb:.1f}× (to equal coverage)"
        )
        print(f"    runs: batched {[round(v, 2) for v in tb]}; loop {[round(v, 2) for v in tl[k]]}")


def _starts() -> np.ndarray:
    """The batched search's own starts, rebuilt with the same seed (the loop gets the same)."""
    from rnndyn.dynamics.fixedpoints.seeding import Seeding, draw_seeds, reachable_box
    from rnndyn.dynamics.probes import make_probe
    from rnndyn.dynamics.trajectories import simulate

    ckpt = load(FLIPFLOP)
    mod = pick_module(ckpt)
    pr = make_probe("task:flipflop", mod, steps=100, batch=64, seed=0,
                    task_params=ckpt.metadata.get("task_params"))  # fmt: skip
    flat = simulate(ckpt, pr.inputs, dtype=torch.float64).states(0, "forward", full=True)
    flat = flat.reshape(-1, flat.shape[-1])
    box = reachable_box("gru", "tanh", flat, mod.hidden_size, False)
    inits, _, _ = draw_seeds(flat, 1024, box, Seeding(), np.random.default_rng(0))
    return inits


if __name__ == "__main__":
    main()

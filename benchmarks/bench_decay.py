"""Speed of the perturbation propagation of `rnndyn decay` (issue 4, item 7). Prints figures; asserts nothing.

A tanh RNN with H=1024 on a noise probe, window T=100 steps, 64 modes, batch 32. Measured in one run,
interleaved, medians of REPEATS:

1. the float32 matmul rate of this machine on the same GEMM shape ``(H, H) @ (H, B·c)``;
2. ``rnndyn.decay.propagation.propagate`` (per step: one batched GEMM, the elementwise Jacobian factor,
   column renormalisation and the modal read-back), rated by its GEMM flops ``2·H²·B·c·T`` alone;
3. the bare loop ``D ← (1 − h²) ⊙ (W D)`` for reference;
4. with ``--vmap``: ``torch.func.vmap(jvp)`` of the tanh step over the B·c tangents.

The ratio (2)/(1) is the figure of merit (target ≥ 0.6). Memory: the tangents are ``(H, B, c)``; the
Jacobian coefficients are computed 64 steps at a time, so nothing grows like ``(T, B·c, H, H)``.

Usage: python benchmarks/bench_decay.py [--repeats 5] [--threads 1] [--vmap]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from rnndyn.decay.propagation import propagate
from rnndyn.dynamics.modal import real_basis
from rnndyn.dynamics.network import layer_params
from rnndyn.dynamics.trajectories import simulate
from rnndyn.operators import extract_operators, find_modules
from rnndyn.readers.checkpoint import Checkpoint
from rnndyn.spectrum import eigendecompose


def setup(h: int, t: int, modes: int, batch: int):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(h, h, generator=g) * (1.2 / np.sqrt(h))
    sd = {"weight_ih_l0": torch.randn(h, 1, generator=g), "weight_hh_l0": w}
    ckpt = Checkpoint("bench.pt", "0" * 64, "torch-zip", sd, {})
    (mod,) = find_modules(ckpt)
    x = np.random.default_rng(0).standard_normal((batch, t, 1))
    traj = simulate(ckpt, x, dtype=torch.float64)
    spec = eigendecompose(extract_operators(ckpt))[0]
    basis = real_basis(spec, modes)
    p = layer_params(ckpt, mod, 0)
    return p, basis, traj.trace(0), traj


def median_time(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--modes", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--vmap", action="store_true", help="also time torch.func.vmap(jvp)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    h, t, b = args.hidden, args.steps, args.batch
    p, basis, trace, traj = setup(h, t, args.modes, b)
    c = basis.columns.shape[1]
    flops = 2.0 * h * h * b * c * t
    w32 = p.w_hh.float()
    d = torch.randn(h, b * c)
    out = torch.empty(h, b * c)
    gain = (
        torch.from_numpy(1 - traj.states(0) ** 2).float().transpose(1, 2).contiguous()
    )  # (T, H, B)

    def matmul():
        for _ in range(t):
            torch.mm(w32, d, out=out)

    def ours():
        propagate(p, basis, trace, t, dtype=torch.float32)

    def bare():
        dd = torch.randn(h, b, c)
        for k in range(t):
            dd = (w32 @ dd.view(h, b * c)).view(h, b, c).mul_(gain[k][..., None])

    times = {"matmul": [], "propagate": [], "bare loop": []}
    matmul(), ours()  # warm up
    for _ in range(args.repeats):  # interleaved, so that load from other processes hits all alike
        times["matmul"].append(median_time(matmul, 1))
        times["propagate"].append(median_time(ours, 1))
        times["bare loop"].append(median_time(bare, 1))
    if args.vmap:
        times["vmap(jvp)"] = [
            median_time(lambda: vmap_jvp(w32, gain, h, b, c, t), 1)
            for _ in range(max(1, args.repeats // 2))
        ]
    ref = statistics.median(times["matmul"])
    print(
        f"tanh RNN H={h}, T={t}, modes={args.modes} ({c} real columns), batch={b}, "
        f"threads={torch.get_num_threads()}, GEMM flops per run {flops / 1e9:.1f} G"
    )
    for name, ts in times.items():
        m = statistics.median(ts)
        print(
            f"  {name:10s} {m:7.3f} s  {flops / m / 1e9:7.1f} GFLOP/s  ratio to matmul {ref / m:5.2f}"
        )


def vmap_jvp(w32, gain, h, b, c, t):
    from torch.func import jvp, vmap

    hs = torch.zeros(b, h)

    def step(hv, dv, k):
        return jvp(lambda s: torch.tanh(s @ w32.T + torch.atanh(1 - gain[k].T)), (hv,), (dv,))[1]

    d = torch.randn(c, b, h)
    for k in range(t):
        d = vmap(lambda dv, k=k: step(hs, dv, k))(d)


if __name__ == "__main__":
    main()

"""Time `rnndyn compare` on a population of planted-spectrum checkpoints.

    python benchmarks/bench_compare.py                      # 500 checkpoints, H=128, --jobs 2
    python benchmarks/bench_compare.py --n 100 --hidden 64 --jobs 1 --out

Writes the checkpoints (nn.RNN state dicts in rnndyn's own format, half ``task_kind=regression``,
half ``classification``, with slightly different eigenvalue laws) into a temporary folder, runs the
installed ``rnndyn compare`` on them as a user would (one process, imports included), and prints
the wall time and the peak memory of the command. Target (issue 5): 500 × H=128 within 5 minutes
with ``--jobs 2`` on a 2-core machine.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def planted(rng: np.random.Generator, h: int, r_max: float) -> np.ndarray:
    """W = P·B·Pᵀ: h/2 real eigenvalues and h/4 conjugate pairs with |λ| ~ U[0.05, r_max]."""
    n_pairs = h // 4
    n_real = h - 2 * n_pairs
    b = np.zeros((h, h))
    b[np.arange(n_real), np.arange(n_real)] = rng.uniform(0.05, r_max, n_real) * rng.choice(
        [-1, 1], n_real
    )
    rad, ang = rng.uniform(0.05, r_max, n_pairs), rng.uniform(0.1, np.pi - 0.1, n_pairs)
    for k in range(n_pairs):
        i = n_real + 2 * k
        c, s = rad[k] * np.cos(ang[k]), rad[k] * np.sin(ang[k])
        b[i : i + 2, i : i + 2] = [[c, -s], [s, c]]
    p, _ = np.linalg.qr(rng.standard_normal((h, h)))
    return p @ b @ p.T


def make_population(folder: Path, n: int, hidden: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        kind = "regression" if i % 2 else "classification"
        w = planted(rng, hidden, 1.05 if kind == "regression" else 0.95)
        sd = {
            "rnn.weight_ih_l0": torch.randn(hidden, 3) * 0.1,
            "rnn.weight_hh_l0": torch.tensor(w, dtype=torch.float32),
            "rnn.bias_ih_l0": torch.zeros(hidden),
            "rnn.bias_hh_l0": torch.zeros(hidden),
            "readout.weight": torch.randn(2, hidden) * 0.1,
            "readout.bias": torch.zeros(2),
        }
        meta = {
            "schema": "rnndyn.checkpoint/1",
            "arch": "rnn",
            "hidden_size": hidden,
            "task_kind": kind,
            "task": "planted",
            "seed": i,
        }
        path = folder / f"net{i:04d}.pt"
        torch.save({"state_dict": sd, "rnndyn": meta}, path)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="number of checkpoints")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--out", action="store_true", help="also write tables, JSON and figures (--out)"
    )
    args = ap.parse_args()
    exe = shutil.which("rnndyn") or str(Path(sys.executable).parent / "rnndyn")
    with tempfile.TemporaryDirectory(prefix="rnndyn-bench-compare-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        paths = make_population(folder, args.n, args.hidden)
        made = time.perf_counter() - t0
        cmd = [exe, "--quiet", "compare", *map(str, paths), "--jobs", str(args.jobs), "--json"]
        if args.out:
            cmd += ["--out", str(folder / "out")]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            sys.exit(f"rnndyn compare failed ({res.returncode}): {res.stderr}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"made {args.n} checkpoints (H={args.hidden}) in {made:.1f} s")
    print(
        f"rnndyn compare --jobs {args.jobs}{' --out' if args.out else ''}: {wall:.1f} s wall, "
        f"peak RSS of the largest process {peak:.0f} MiB"
    )
    print(
        f"target: 500 checkpoints at H=128 within 300 s with --jobs 2 -> "
        f"{'met' if wall <= 300 or (args.n, args.hidden) != (500, 128) else 'MISSED'}"
    )


if __name__ == "__main__":
    main()

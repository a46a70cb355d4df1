"""Scaling of `analyze` (full, --top 32, --eigvals-only) and `decay` with the LSTM size (issue 29, item 5).

Writes LSTMs (input 1, hidden H, float32, ``.npz``: read without torch) whose gate blocks have a
random bulk plus 32 outlying eigenvalues (``gate_block``; a pure random block, whose top eigenvalues
crowd the bulk's edge, is Arnoldi's worst case: several times slower) and runs each command
in a fresh process under ``/usr/bin/time``: wall seconds and peak resident memory. A command that
runs past ``--timeout`` is reported as ``> T s``; a full eigendecomposition that the memory check
refuses is reported as refused. Prints one markdown table (docs/scaling.md holds a measured copy).

Usage: python benchmarks/bench_scaling.py [--sizes 256,1024,4096,8192] [--timeout 300]
       [--only full,top,eigvals,decay] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "full": ["analyze", "{path}", "--json", "--full"],
    "top": ["analyze", "{path}", "--json", "--top", "32"],
    "eigvals": ["analyze", "{path}", "--json", "--eigvals-only"],
    "decay": ["decay", "{path}", "--json", "--steps", "50", "--batch", "8", "--length", "200"],
}


def gate_block(rng: np.random.Generator, h: int, rank: int = 32) -> np.ndarray:
    """A trained-like block: a random bulk of radius 0.5 plus ``rank`` outlying eigenvalues in
    [0.7, 1.05] (a low-rank part ``Q·diag(s)·Qᵀ``, as learning leaves in recurrent weights)."""
    w = rng.standard_normal((h, h), dtype=np.float32) * np.float32(0.5 / np.sqrt(h))
    q = np.linalg.qr(rng.standard_normal((h, rank)))[0].astype(np.float32)
    s = rng.uniform(0.7, 1.05, rank).astype(np.float32)
    return w + (q * s) @ q.T


def write_lstm(folder: Path, h: int) -> Path:
    path = folder / f"lstm{h}.npz"
    if not path.exists():
        rng = np.random.default_rng(h)
        w = np.concatenate([gate_block(rng, h) for _ in range(4)])
        np.savez(
            path,
            weight_hh_l0=w,
            weight_ih_l0=rng.standard_normal((4 * h, 1), dtype=np.float32),
            bias_ih_l0=np.zeros(4 * h, np.float32),
            bias_hh_l0=np.zeros(4 * h, np.float32),
        )
    return path


def run(args: list[str], timeout: float) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "cli")]))
    cmd = ["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "rnndyn", *args]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # time's child too, not only time itself
        proc.communicate()
        return f"> {timeout:.0f} s"
    res = subprocess.CompletedProcess(cmd, proc.returncode, "", err)
    if res.returncode == 2 and "GiB" in res.stderr:
        return "refused (memory)"
    if res.returncode != 0:
        return f"exit {res.returncode}"
    wall, kib = res.stderr.strip().splitlines()[-1].split()
    return f"{float(wall):.1f} s, {int(kib) / 1024**2:.2f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,1024,4096,8192")
    parser.add_argument("--only", default="full,top,eigvals,decay")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--dir", default=None, help="where the LSTM files are kept")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    which = args.only.split(",")
    folder = Path(args.dir or tempfile.mkdtemp(prefix="rnndyn-scaling-"))
    folder.mkdir(parents=True, exist_ok=True)
    print("| H | " + " | ".join(which) + " |")
    print("|---|" + "---|" * len(which))
    for h in sizes:
        path = write_lstm(folder, h)
        cells = []
        for name in which:
            cmd = [a.format(path=path) for a in COMMANDS[name]]
            cells.append(run(cmd, args.timeout))
            print(f"  H={h} {name}: {cells[-1]}", file=sys.stderr, flush=True)
        print(f"| {h} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

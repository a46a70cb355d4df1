"""Speed of `rnndyn analyze` against its floor (issues 2 and 16). Prints figures; asserts nothing.

1. LSTM H=1024: `rnndyn analyze --json` (whole process, default --jobs: every core) against the
   sequential floor — a process that does `torch.load` + `numpy.linalg.eig` (float64, with
   vectors) of the four gate blocks one after another, with numpy's default BLAS threads and pinned
   to one BLAS thread (on a loaded machine the default-thread floor slows far more). Target
   (issue 16): ratio ≤ 0.75 on 2 cores.
2. LSTM H=64: the whole command against `python -c "import torch; torch.load(...)"` (≤ 1.3).
3. `rnndyn --help` must not import torch (checked with -X importtime).
4. With --ab: the same command with and without the early start (gate blocks decomposed while
   torch is imported; rnndyn.analysis), both through one `python -c` harness, as ratios.

Runs are interleaved, so a load on the machine hits both sides alike; medians of REPEATS, and the
load average is printed. The early start only helps while a core is idle: on a saturated machine
the CPU time is what counts, and rnndyn spends more of it (the trust diagnostics).
Usage: python benchmarks/bench_analyze.py [--repeats 5] [--jobs N] [--ab]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

FLOOR = (
    "import sys, numpy as np, torch\n"
    "sd = torch.load(sys.argv[1], map_location='cpu', weights_only=True)\n"
    "w = sd['weight_hh_l0'].double().numpy(); h = w.shape[1]\n"
    "for g in range(4): np.linalg.eig(w[g*h:(g+1)*h])\n"
)
LOAD_ONLY = "import sys, torch; torch.load(sys.argv[1], map_location='cpu', weights_only=True)"
HARNESS = (  # the CLI with _early_start.EARLY_MIN_HIDDEN set (a huge value: no early start)
    "import sys, rnndyn._early_start as a; a.EARLY_MIN_HIDDEN = int(sys.argv.pop(1)); "
    "from rnndyn_cli.app import main; sys.argv[0] = 'rnndyn'; sys.exit(main())"
)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def compare3(ours: list[str], floor: list[str], repeats: int) -> None:
    """H=1024: rnndyn against the floor with numpy's default BLAS threads and with one thread."""
    one = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    a, b, c = [], [], []
    timed(ours), timed(floor)  # warm the page cache
    for _ in range(repeats):
        a.append(timed(ours))
        b.append(timed(floor))
        c.append(timed(floor, one))
    ma, mb, mc = (statistics.median(x) for x in (a, b, c))
    print(
        f"LSTM H=1024, analyze --json: rnndyn {ma:.2f} s; floor {mb:.2f} s with default BLAS "
        f"threads (ratio {ma / mb:.2f}), {mc:.2f} s with one BLAS thread (ratio {ma / mc:.2f}); "
        f"medians of {repeats}"
    )


def early_ab(ckpt: Path, floor: list[str], repeats: int, jobs: list[str]) -> None:
    """The early start on and off, in one interleaved run, against the default-thread floor."""
    on, off = (
        [sys.executable, "-c", HARNESS, h, "analyze", str(ckpt), "--json", *jobs]
        for h in ("128", "1000000000")
    )
    runs: dict[str, list[float]] = {"on": [], "off": [], "floor": []}
    timed(on), timed(off)
    for _ in range(repeats):
        for key, cmd in (("on", on), ("off", off), ("floor", floor)):
            runs[key].append(timed(cmd))
    m = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"early start A/B: on {m['on']:.2f} s (ratio {m['on'] / m['floor']:.2f}), off {m['off']:.2f} s "
        f"(ratio {m['off'] / m['floor']:.2f}), floor {m['floor']:.2f} s; on/off {m['on'] / m['off']:.2f}"
    )


def compare(name: str, ours: list[str], floor: list[str], repeats: int) -> float:
    a, b = [], []
    timed(ours), timed(floor)  # warm the page cache
    for _ in range(repeats):
        a.append(timed(ours))
        b.append(timed(floor))
    ma, mb = statistics.median(a), statistics.median(b)
    print(
        f"{name}: rnndyn {ma:.2f} s, floor {mb:.2f} s (medians of {repeats}); ratio {ma / mb:.2f}"
    )
    return ma / mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=None, help="analyze --jobs (default: all)")
    parser.add_argument("--ab", action="store_true", help="also time the early start on and off")
    args = parser.parse_args()
    jobs = [] if args.jobs is None else ["--jobs", str(args.jobs)]
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    rnndyn = shutil.which("rnndyn") or sys.exit("rnndyn is not installed in this environment")
    tmp = Path(tempfile.mkdtemp(prefix="rnndyn-bench-"))
    try:
        torch.manual_seed(0)
        big, small = tmp / "lstm1024.pt", tmp / "lstm64.pt"
        torch.save(torch.nn.LSTM(32, 1024).state_dict(), big)
        torch.save(torch.nn.LSTM(8, 64).state_dict(), small)
        compare3(
            [rnndyn, "analyze", str(big), "--json", *jobs],
            [sys.executable, "-c", FLOOR, str(big)],
            args.repeats,
        )
        if args.ab:
            early_ab(big, [sys.executable, "-c", FLOOR, str(big)], args.repeats, jobs)
        r2 = compare(
            "LSTM H=64, analyze --json",
            [rnndyn, "analyze", str(small), "--json"],
            [sys.executable, "-c", LOAD_ONLY, str(small)],
            args.repeats,
        )
        imports = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "rnndyn", "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        heavy = sorted(
            {
                m
                for m in ("torch", "pandas", "matplotlib", "seaborn", "scipy")
                if f"| {m}\n" in imports or f"|   {m}\n" in imports or f" {m}\n" in imports
            }
        )
        print(f"rnndyn --help imports heavy modules: {heavy or 'none'}")
        print(
            "targets: H=1024 ≤ 0.75 (issue 16: against the default-thread floor), H=64 ≤ 1.3 "
            f"(H=64 {'met' if r2 <= 1.3 else 'NOT met'})"
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""How many fixed points the default search finds, against an independent reference (issue 23).

For three networks — a tanh RNN with W_hh = 2I, H = 3 and no input weights; nn.GRU(2, 6) (seed 0)
with W_hh × 4 under zero input; the bundled 3-bit flip-flop GRU — prints: isolated points found by
``find_fixed_points`` with its defaults, the reference count (scipy.optimize.root from
``--ref-starts`` uniform starts plus box corners, each root verified by the torch module's own
step: tests/fp_reference.py), how many reference points were found, slow manifolds and marginal
points reported, the coverage estimate and the time. Asserts nothing.

Usage: python benchmarks/fixedpoints_coverage.py [--ref-starts 2000] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fp_reference import (
    FLIPFLOP,
    ckpt_of,
    flipflop_module,
    gru_x4,
    identity_no_input,
    matched,
    reference_points,
)

from rnndyn.dynamics.fixedpoints import find_fixed_points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref-starts", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=None, help="torch threads [torch's default]")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = [
        ("tanh RNN W=2I H=3, no input weights", identity_no_input(), lambda n: ckpt_of(n)),
        ("GRU H=6 W_hh×4, zero input", gru_x4(0), lambda n: ckpt_of(n)),
        ("flip-flop GRU H=16 (bundled)", flipflop_module(), lambda n: FLIPFLOP),
    ]
    print(f"torch threads {torch.get_num_threads()}; reference: {args.ref_starts} scipy starts")
    for name, net, source in cases:
        t = time.perf_counter()
        ref = reference_points(net, n_starts=args.ref_starts)
        t_ref = time.perf_counter() - t
        t = time.perf_counter()
        res = find_fixed_points(source(net))
        secs = time.perf_counter() - t
        lay = res.layer(0)
        hit = matched(lay.states[lay.isolated], ref.isolated, 1e-6)
        cov = lay.coverage()
        print(f"{name}:")
        print(
            f"  found {int(lay.isolated.sum())} isolated points "
            f"({int((lay.stable & lay.isolated).sum())} stable) in {secs:.1f} s; "
            f"{int((lay.kind == 'slow').sum())} slow points"
        )
        print(
            f"  reference {ref.n_isolated} isolated (+{int(ref.marginal.sum())} marginal roots) "
            f"in {t_ref:.0f} s; found {int(hit.sum())}/{ref.n_isolated} of them "
            f"({100 * hit.mean() if len(hit) else 100:.0f}%)"
        )
        print(
            f"  slow manifolds {len(lay.manifolds)} "
            f"(dimensions {[m.dimension for m in lay.manifolds]}, "
            f"{int(lay.marginal.sum())} marginal points)"
        )
        lo, hi = cov.interval
        print(
            f"  coverage: found {cov.found}, estimated {cov.estimated_total:.1f} "
            f"[{lo:.1f}, {hi:.1f}], complete {cov.complete} (f1 {cov.f1}, f2 {cov.f2})"
        )


if __name__ == "__main__":
    main()

"""Which rnndyn modules ``measure_decay`` enters, and how often, on a bundled checkpoint.

    python benchmarks/decay_path.py [CHECKPOINT] [--steps K] [--calls]

A module is *entered* each time it comes onto the call stack from outside (its count of live frames
goes 0 → 1): calls inside a module, and calls that leave it and come back while it is still on the
stack, are not new entries. ``--calls`` also lists every call between two different modules
(caller → callee: count). The checkpoint is read before profiling (``as_checkpoint``), so the
counts are of ``measure_decay(ckpt)`` itself. Also reported: how many tensors were converted to
another dtype (``Tensor.to``/``.double``/``torch.as_tensor``/``torch.from_numpy`` calls, counted
from rnndyn frames) — weights should be converted once per job.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module(filename: str, pkg: str) -> str | None:
    i = filename.find(pkg)
    return filename[i + len(pkg) :] if i >= 0 else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", nargs="?", default=str(ROOT / "data/examples/rnn_adding.pt"))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--calls", action="store_true")
    args = ap.parse_args()

    import warnings

    import rnndyn
    from rnndyn.readers.checkpoint import as_checkpoint

    pkg = str(Path(rnndyn.__file__).parent) + "/"
    ckpt = as_checkpoint(args.checkpoint)
    live: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    edges: Counter[tuple[str, str]] = Counter()
    conversions: Counter[str] = Counter()
    convert = {"to", "double", "float", "as_tensor", "from_numpy", "tensor", "numpy"}

    def prof(frame, event, arg):
        if event == "c_call":
            name = getattr(arg, "__name__", "")
            caller = _module(frame.f_code.co_filename, pkg)
            if caller and name in convert:
                conversions[f"{caller} {name}"] += 1
            return
        if event not in ("call", "return"):
            return
        mod = _module(frame.f_code.co_filename, pkg)
        if mod is None:
            return
        if event == "call":
            back = frame.f_back
            caller = _module(back.f_code.co_filename, pkg) if back is not None else None
            if caller != mod:
                edges[(caller or "(outside)", mod)] += 1
            if live[mod] == 0:
                entries[mod] += 1
            live[mod] += 1
        else:
            live[mod] -= 1

    warnings.simplefilter("ignore")
    sys.setprofile(prof)
    try:
        rnndyn.measure_decay(ckpt, steps=args.steps, length=4 * args.steps, batch=8)
    finally:
        sys.setprofile(None)
    print(f"measure_decay({Path(args.checkpoint).name}, steps={args.steps}): modules entered")
    for mod, n in sorted(entries.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:3d}  rnndyn/{mod}")
    print(
        f"  most entries: {max(entries.values())}; modules entered more than twice: "
        f"{sum(n > 2 for n in entries.values())}"
    )
    print("dtype conversions called from rnndyn frames (C calls):")
    for key, n in sorted(conversions.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4d}  {key}")
    if args.calls:
        print("calls between modules (caller -> callee: count):")
        for (a, b), n in sorted(edges.items(), key=lambda kv: -kv[1]):
            print(f"  {n:5d}  {a} -> {b}")


if __name__ == "__main__":
    main()

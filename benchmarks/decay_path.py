"""Which rnndyn modules ``measure_decay`` enters, and how often, on a bundled checkpoint.

    python benchmarks/decay_path.py [CHECKPOINT] [--steps K] [--calls]

Per module, two counts (the checkpoint is read before profiling, so they are of
``measure_decay(ckpt)`` itself):

- **calls in**: calls into the module's functions and methods from another module, not counting
  reads of a property of a value it defines (``op.n``, ``mod.directions``: attribute access). This
  is the count the regroup issue quotes ("enters dynamics/network.py 9 times").
- **stack entries**: how often the module comes onto the call stack from outside (its live frames
  go 0 → 1), properties included.

Per-step kernels (``dynamics/jacobian.py``'s ``apply``/``step_pre``) are called once per time step
or chunk by the recurrence itself; ``--calls`` lists every caller → callee function pair. Also
reported: tensor dtype conversions called from rnndyn frames.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import warnings
from collections import Counter
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _property_codes(pkg: str) -> set[object]:
    """Code objects of every property / cached_property getter defined in rnndyn."""
    codes: set[object] = set()
    for name, mod in list(sys.modules.items()):
        if not (name == "rnndyn" or name.startswith("rnndyn.")) or mod is None:
            continue
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if not getattr(cls, "__module__", "").startswith("rnndyn"):
                continue
            for attr in vars(cls).values():
                if isinstance(attr, property) and attr.fget is not None:
                    codes.add(attr.fget.__code__)
                elif isinstance(attr, cached_property):
                    codes.add(attr.func.__code__)
    return codes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", nargs="?", default=str(ROOT / "data/examples/rnn_adding.pt"))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--calls", action="store_true")
    args = ap.parse_args()

    import rnndyn
    from rnndyn.readers.checkpoint import as_checkpoint

    pkg = str(Path(rnndyn.__file__).parent) + "/"

    def module(filename: str) -> str | None:
        return filename[len(pkg) :] if filename.startswith(pkg) else None

    ckpt = as_checkpoint(args.checkpoint)
    live: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    calls: Counter[tuple[str, str, object]] = Counter()
    conversions: Counter[str] = Counter()
    convert = {"to", "double", "float", "as_tensor", "from_numpy", "tensor", "numpy"}

    def prof(frame, event, arg):
        if event == "c_call":
            caller = module(frame.f_code.co_filename)
            if caller and getattr(arg, "__name__", "") in convert:
                conversions[f"{caller} {arg.__name__}"] += 1
            return
        if event not in ("call", "return"):
            return
        mod = module(frame.f_code.co_filename)
        if mod is None:
            return
        if event == "call":
            back = frame.f_back
            caller = module(back.f_code.co_filename) if back is not None else None
            if caller is not None and caller != mod:
                calls[(caller, mod, frame.f_code)] += 1
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
    props = _property_codes(pkg)
    calls_in: Counter[str] = Counter()
    for (_, callee, code), n in calls.items():
        if code not in props:
            calls_in[callee] += n
    print(f"measure_decay({Path(args.checkpoint).name}, steps={args.steps})")
    print("  calls in  stack entries  module")
    for mod in sorted(entries, key=lambda m: (-calls_in[m], -entries[m], m)):
        print(f"  {calls_in[mod]:8d}  {entries[mod]:13d}  rnndyn/{mod}")
    over = sorted(m for m, n in calls_in.items() if n > 2)
    print(f"  modules with more than two calls in: {len(over)} ({', '.join(over)})")
    print("dtype conversions called from rnndyn frames (C calls):")
    for key, n in sorted(conversions.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4d}  {key}")
    if args.calls:
        print(
            "calls between modules, not property reads (caller module -> callee function: count):"
        )
        rows = [(n, a, b, c) for (a, b, c), n in calls.items() if c not in props]
        for n, a, b, c in sorted(rows, key=lambda r: (r[2], -r[0])):
            print(f"  {n:5d}  {a} -> {b}:{c.co_name}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()

"""Which rnndyn modules ``measure_decay`` enters, and how often, on a bundled checkpoint.

    python benchmarks/decay_path.py [CHECKPOINT] [--steps K] [--calls]

Per module, two counts (the checkpoint is read before profiling, so they are of
``measure_decay(ckpt)`` itself):

- **calls in**: calls into the module's functions and methods from another module, not counting
  reads of a property of a value it defines (``op.n``, ``mod.directions``: attribute access). This
  is the count the regroup issue quotes ("enters dynamics/network.py 9 times").
- **stack entries**: how often the module comes onto the call stack from outside (its live frames
  go 0 → 1), properties included.

The per-step kernels (``dynamics/jacobian.py``'s ``apply``, one tangent step, and the generator
``coefficient_chunks``, resumed once per 64 steps) are called by the recurrence itself, once per time
step or chunk: a Jacobian product cannot be batched over time. They are counted apart ("kernel
calls") and left out of "calls in". ``--calls`` lists every caller → callee function pair. Also
reported: tensor dtype conversions called from rnndyn frames.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = {("dynamics/jacobian.py", "apply"), ("dynamics/jacobian.py", "coefficient_chunks")}


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


@dataclass
class PathCounts:
    """What ``measure_decay`` entered: per module, calls in (kernels and property reads apart) and
    stack entries; per kernel function its calls; dtype conversions; every caller → callee pair."""

    calls_in: Counter[str]
    entries: Counter[str]
    kernel: Counter[str]
    conversions: Counter[str]
    pairs: list[tuple[int, str, str, str]]

    @property
    def over(self) -> list[str]:
        """Modules with more than two calls in."""
        return sorted(m for m, n in self.calls_in.items() if n > 2)


def count(checkpoint: str | Path, steps: int = 30) -> PathCounts:
    """Profile ``measure_decay(checkpoint, steps=steps)`` (the checkpoint read beforehand)."""
    import rnndyn
    from rnndyn.readers.checkpoint import as_checkpoint

    pkg = str(Path(rnndyn.__file__).parent) + "/"

    def module(filename: str) -> str | None:
        return filename[len(pkg) :] if filename.startswith(pkg) else None

    ckpt = as_checkpoint(checkpoint)
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

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sys.setprofile(prof)
        try:
            rnndyn.measure_decay(ckpt, steps=steps, length=4 * steps, batch=8)
        finally:
            sys.setprofile(None)
    props = _property_codes(pkg)
    calls_in: Counter[str] = Counter()
    kernel: Counter[str] = Counter()
    pairs = []
    for (caller, callee, code), n in calls.items():
        name = code.co_name  # type: ignore[attr-defined]
        if (callee, name) in KERNELS:
            kernel[f"{callee}:{name}"] += n
        elif code not in props:
            calls_in[callee] += n
            pairs.append((n, caller, callee, name))
    return PathCounts(calls_in, entries, kernel, conversions, pairs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", nargs="?", default=str(ROOT / "data/examples/rnn_adding.pt"))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--calls", action="store_true")
    args = ap.parse_args()
    c = count(args.checkpoint, args.steps)
    print(f"measure_decay({Path(args.checkpoint).name}, steps={args.steps})")
    print("  calls in  stack entries  module")
    for mod in sorted(c.entries, key=lambda m: (-c.calls_in[m], -c.entries[m], m)):
        print(f"  {c.calls_in[mod]:8d}  {c.entries[mod]:13d}  rnndyn/{mod}")
    print(f"  modules with more than two calls in: {len(c.over)} ({', '.join(c.over) or 'none'})")
    print("  per-step kernel calls (one per time step or chunk of the recurrence), apart:")
    for name, n in sorted(c.kernel.items()):
        print(f"  {n:8d}  rnndyn/{name}")
    print("dtype conversions called from rnndyn frames (C calls):")
    for key, n in sorted(c.conversions.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4d}  {key}")
    if args.calls:
        print("calls between modules, not property reads nor kernels (caller -> callee: count):")
        for n, a, b, name in sorted(c.pairs, key=lambda r: (r[2], -r[0])):
            print(f"  {n:5d}  {a} -> {b}:{name}")


if __name__ == "__main__":
    main()

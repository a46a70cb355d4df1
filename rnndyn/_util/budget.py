"""One memory budget for every command and reader, checked *before* anything large is allocated.

Callers estimate what their settings or input imply (grid sizes × seeds, network sizes × layers,
probe lengths, pickle memo indices, container sizes, storages) and call :func:`check`, which refuses
with the estimate in the message: ``UsageError`` (exit 2) for settings, ``InvalidInputError``
(exit 4) for an input file. The limit is the machine's available memory, or ``RNNDYN_MAX_MEMORY``
(``rnndyn --max-memory``), e.g. ``512M``, ``4G``, ``1.5GiB`` or a plain number of bytes.
"""

from __future__ import annotations

import math
import os
import re
from os import PathLike

from rnndyn.errors import InvalidInputError, UsageError

ENV = "RNNDYN_MAX_MEMORY"
FALLBACK = 8 << 30  # when the available memory cannot be read
RUN_RECORD_BYTES = 16 << 10  # bookkeeping per planned run (ids, records, futures, arguments)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGTP]?)(?:I?B)?\s*$", re.I)


def parse_size(text: str, *, what: str = ENV) -> int:
    """``"512M"`` / ``"4G"`` / ``"1.5GiB"`` / ``"1e9"`` → bytes (binary units); UsageError otherwise."""
    m = _SIZE.match(str(text))
    value = float(m.group(1)) * _UNITS[m.group(2).upper()] if m else math.nan
    if not (math.isfinite(value) and 0 < value < 2.0**63):
        raise UsageError(
            f"{what}={text!r} is not a memory size",
            hint="Write a positive size such as 512M, 4G or 1.5GiB (binary units) or a byte count.",
        )
    return int(value)


def available_memory() -> int:
    """The memory the machine can give now (``MemAvailable``), else half the physical memory.

    ``/proc/meminfo`` first (psutil reads the same number, but importing it costs start-up time)."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        pass
    try:
        return int(0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return FALLBACK


def limit() -> tuple[int, str]:
    """``(bytes, where it comes from)``: ``RNNDYN_MAX_MEMORY`` when set, else the available memory."""
    text = os.environ.get(ENV, "").strip()
    if text:
        return parse_size(text), f"{ENV}={text}"
    return available_memory(), "the memory available now"


def size(nbytes: float) -> str:
    """``nbytes`` as a short human-readable size (``3.2 GiB``, ``120 MiB``, ``8.7e+03 TiB``)."""
    nbytes = float(nbytes)
    if nbytes >= 2.0**40:
        return f"{nbytes / 2**40:.3g} TiB"
    if nbytes >= 0.1 * 2**30:
        return f"{nbytes / 2**30:.3g} GiB"
    if nbytes >= 2**20:
        return f"{nbytes / 2**20:.3g} MiB"
    return f"{nbytes / 2**10:.3g} KiB"


def check(
    nbytes: float,
    what: str,
    *,
    input_path: str | PathLike[str] | None = None,
    hint: str | None = None,
) -> None:
    """Refuse ``what`` when it would need more than the limit: ``UsageError`` (settings, exit 2),
    or ``InvalidInputError`` naming ``input_path`` (an input file, exit 4). NaN or inf count as
    too large."""
    cap, source = limit()
    nbytes = float(nbytes)
    if nbytes <= cap:  # False for NaN
        return
    shown = size(nbytes) if math.isfinite(nbytes) else "an unbounded amount"
    problem = f"{what} would need about {shown} of memory; the limit is {size(cap)} ({source})"
    raise_ = f"Set {ENV} (or rnndyn --max-memory) to allow more if the machine has it."
    if input_path is not None:
        raise InvalidInputError(
            problem, path=input_path, hint=hint or f"The file is damaged or crafted. {raise_}"
        )
    raise UsageError(problem, hint=f"{hint.rstrip('.')}. {raise_}" if hint else raise_)


def check_runs(n_runs: float, what: str, *, hint: str | None = None) -> None:
    """Refuse a plan of ``n_runs`` runs whose bookkeeping alone would exceed the limit."""
    check(float(n_runs) * RUN_RECORD_BYTES, f"{what} ({float(n_runs):,.0f} runs)", hint=hint)


GATES = {"rnn": 1, "rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}


def network_parameters(arch: str, input_size: int, hidden: int, layers: int, output: int) -> float:
    """Parameters of a stacked ``arch`` network with a linear readout (as float: no overflow)."""
    g, h = GATES.get(arch.lower().split("_")[0], 4), float(hidden)
    first = g * h * (float(input_size) + h + 2)
    rest = g * h * (2 * h + 2) * max(float(layers) - 1, 0.0)
    return first + rest + float(output) * (h + 1)


def training_bytes(
    arch: str,
    input_size: int,
    hidden: int,
    layers: int,
    output: int,
    *,
    batch: int,
    steps: int,
) -> float:
    """Estimated peak bytes to train such a network with Adam (float32): weights, gradients, two
    moments and the best-so-far copy (5×), plus the activations autograd keeps for one minibatch."""
    params = network_parameters(arch, input_size, hidden, layers, output)
    g = GATES.get(arch.lower().split("_")[0], 4)
    acts = float(batch) * float(steps) * float(layers) * float(hidden) * (g + 2) * 2
    return 4.0 * (5 * params + acts)

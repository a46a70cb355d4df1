"""Constant inputs ``x*`` for the fixed-point search, and the probe that drives the trajectories.

An input is ``zeros``, ``mean`` (the probe's mean input), ``task:NAME`` (task NAME's test inputs drive
the trajectories and ``x*`` is their mean), a ``FILE.npy`` holding ``x*`` ``(D,)``, a probe
``(B, T, D)`` (``x*`` its mean) or several constant inputs ``(K, D)`` (a scan: one search per row),
or an array of those shapes. Several inputs (a list, or a ``(K, D)`` file) are searched in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.errors import InvalidInputError, UsageError
from rnndyn.operators import RecurrentModule
from rnndyn.readers.checkpoint import Checkpoint

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.dynamics.probes import Probe

INPUT_KINDS = ("zeros", "mean", "task:NAME", "FILE.npy")
InputSpec = str | np.ndarray


def default_probe(ckpt: Checkpoint) -> str:
    task = (ckpt.metadata or {}).get("task")
    return f"task:{task}" if isinstance(task, str) and task else "noise:1"


def _load_input_file(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InvalidInputError(
            "input file does not exist",
            path=path,
            hint=f"Give zeros, mean, task:NAME or an existing .npy file ({', '.join(INPUT_KINDS)}).",
        )
    from rnndyn.dynamics.probes import read_npy

    return read_npy(
        path,
        "input file",
        hint="Save the constant input (D,) or a probe (B, T, D) with numpy.save.",
    )


def resolve_input(
    ckpt: Checkpoint,
    mod: RecurrentModule,
    spec: str | np.ndarray,
    probe: str | None,
    *,
    batch: int,
    seed: int,
    label: str | None = None,
) -> tuple[np.ndarray, Probe, JsonObject]:
    """``(x* (D,), probe, description)`` for the input ``spec`` (see the module docstring);
    ``label`` names an array input in the description."""
    from rnndyn.dynamics.probes import make_probe

    d = mod.input_size or 1
    arr: np.ndarray | None = None
    path = None
    if isinstance(spec, np.ndarray):
        arr, kind = spec, "array"
    else:
        kind = spec.split(":", 1)[0].strip().lower()
        if kind == "task":
            probe = spec
        elif kind not in ("zeros", "mean"):
            path = Path(spec).expanduser()
            if path.suffix.lower() != ".npy" and not path.exists():
                raise UsageError(
                    f"unknown --input {spec!r}", hint=f"Valid inputs: {', '.join(INPUT_KINDS)}."
                )
            arr, kind = _load_input_file(path), "file"
    if arr is not None and arr.ndim == 3:
        probe_spec: str | np.ndarray = arr
    else:
        probe_spec = probe or default_probe(ckpt)
    meta = ckpt.metadata or {}
    same = isinstance(probe_spec, str) and probe_spec.lower() == f"task:{meta.get('task')}"
    pr = make_probe(
        probe_spec,
        mod,
        steps=100,
        batch=batch,
        seed=seed,
        task_params=meta.get("task_params") if same else None,
    )
    if arr is not None and arr.ndim == 1:
        value = arr
    elif arr is not None and arr.ndim != 3:
        raise InvalidInputError(
            f"input array has shape {arr.shape}; expected the constant input ({d},) or a probe "
            f"(B, T, {d})",
            path=path,
        )
    elif kind == "zeros":
        value = np.zeros(d)
    else:
        value = pr.inputs.reshape(-1, pr.inputs.shape[-1]).mean(0)
    value = np.asarray(value)
    if value.dtype.kind not in "fiub" or value.shape != (d,) or not np.isfinite(value).all():
        raise InvalidInputError(
            f"constant input has shape {value.shape} and dtype {value.dtype}; the network expects "
            f"{d} finite real numbers",
            path=path,
        )
    name = label or ("array" if isinstance(spec, np.ndarray) else spec)
    desc = {"spec": name, "kind": "file" if label else kind}
    return value.astype(np.float64), pr, desc | {"value": value.astype(float).tolist()}


def expand_inputs(
    spec: InputSpec | Sequence[InputSpec], d: int
) -> list[tuple[InputSpec, str | None]]:
    """The inputs to search, in order: ``(spec, label)`` pairs, a ``(K, D)`` array or file giving
    one pair per row (labelled ``NAME[k]``)."""
    specs = [spec] if isinstance(spec, (str, np.ndarray)) else list(spec)
    if not specs:
        raise UsageError("no input given", hint=f"Give at least one of {', '.join(INPUT_KINDS)}.")
    out: list[tuple[InputSpec, str | None]] = []
    for sp in specs:
        arr, name = (sp, "array") if isinstance(sp, np.ndarray) else (None, sp)
        if arr is None and isinstance(sp, str) and sp.lower().endswith(".npy"):
            path = Path(sp).expanduser()
            arr = _load_input_file(path)
            if arr.ndim != 2:
                arr = None  # (D,) or a probe: resolve_input reads it again and checks it
        if arr is not None and arr.ndim == 2:
            if arr.shape[1] != d or arr.shape[0] == 0:
                raise InvalidInputError(
                    f"input array has shape {arr.shape}: read as {arr.shape[0]} constant inputs "
                    f"of size {arr.shape[1]}, but the network expects inputs of size {d}",
                    path=None if isinstance(sp, np.ndarray) else Path(sp),
                    hint=f"Save (K, {d}) for a scan, ({d},) for one input or (B, T, {d}) for a probe.",
                )
            out += [(np.asarray(row), f"{name}[{k}]") for k, row in enumerate(arr)]
        else:
            out.append((sp, None))
    return out

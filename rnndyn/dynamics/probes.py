"""Probe inputs ``(B, T, D)`` to drive a network with: ``zeros``, ``noise[:STD]``, ``impulse``,
``task:NAME`` or a ``FILE.npy``.

Generated probes are ``length`` steps long (default ``max(2 × steps, 1000)``: a washout at least as long
as the measurement window, which is always the last ``steps`` steps, and enough steps for the Lyapunov
spectrum to converge on typical nets). ``impulse`` is a unit pulse on every input channel at
the first step of that window. ``noise:STD`` is i.i.d. Gaussian with standard deviation STD (default 1).
``task:NAME`` takes the test inputs of ``rnndyn.tasks.get_task(NAME).generate(seed)`` (with the
checkpoint's own task parameters when NAME is its task). Files are read with ``allow_pickle=False``,
after their header's shape has been checked against the file's size and the memory budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from rnndyn.dynamics.health import check_budget, check_seed, gib
from rnndyn.dynamics.trajectories import check_inputs
from rnndyn.errors import InvalidInputError, UsageError
from rnndyn.operators import RecurrentModule

KINDS = ("zeros", "noise[:STD]", "impulse", "task:NAME", "FILE.npy")
DEFAULT_BATCH = {"zeros": 1, "impulse": 1, "noise": 32, "task": 32, "file": None}
MIN_LENGTH = 1000


def default_length(steps: int) -> int:
    """Length of a generated probe for a ``steps``-step window: ``max(2·steps, MIN_LENGTH)``."""
    return max(2 * max(int(steps), 1), MIN_LENGTH)


class ProbeParams(TypedDict, total=False):
    std: float
    task: str
    path: str


class _ProbeFields(TypedDict):
    kind: str
    spec: str
    batch: int
    length: int
    input_size: int
    seed: int


class ProbeRecord(_ProbeFields, ProbeParams, total=False):
    """``Probe.to_dict()``: the ``probe`` object of the decay document; ``std`` (noise), ``task``
    or ``path`` (a file) where the probe has one."""


@dataclass(frozen=True)
class Probe:
    """Inputs ``(B, T, D)`` float32 and where they came from."""

    kind: str
    spec: str
    inputs: np.ndarray = field(repr=False)
    seed: int = 0
    params: ProbeParams = field(default_factory=lambda: ProbeParams())

    @property
    def batch(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def length(self) -> int:
        return int(self.inputs.shape[1])

    def to_dict(self) -> ProbeRecord:
        record: ProbeRecord = {
            "kind": self.kind,
            "spec": self.spec,
            "batch": self.batch,
            "length": self.length,
            "input_size": int(self.inputs.shape[2]),
            "seed": self.seed,
        }
        record.update(self.params)
        return record


def _std(spec: str) -> float:
    _, _, arg = spec.partition(":")
    try:
        std = float(arg) if arg else 1.0
    except ValueError:
        raise UsageError(
            f"--probe {spec!r}: the noise level {arg!r} is not a number",
            hint="Write e.g. noise:0.5.",
        ) from None
    if not np.isfinite(std) or std < 0:
        raise UsageError(f"--probe {spec!r}: the noise level must be a finite number ≥ 0")
    return std


def _task_inputs(name: str, seed: int, task_params: Mapping[str, Any] | None) -> np.ndarray:
    from rnndyn.tasks import get_task

    data = get_task(name, **dict(task_params or {})).generate(seed)
    x = data.x_test
    return (x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)).astype(np.float32)


def _check_header(path: Path, what: str = "probe file") -> None:
    """Refuse a ``.npy`` whose header claims more data than the file holds, or than memory allows."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            reader = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if reader is None:
                return  # a newer header version: np.load checks it
            shape, _, dtype = reader(f)  # the header only; no data is read
            offset = f.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as err:
        raise InvalidInputError(f"{what} is not a readable .npy array ({err})", path=path) from None
    if dtype.hasobject:
        return  # np.load refuses it below, without unpickling
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidInputError(
            f"{what} header claims shape {tuple(shape)}, which has a negative dimension: "
            "the file is damaged or crafted",
            path=path,
        )
    need = float(np.prod([float(d) for d in shape])) * dtype.itemsize
    have = path.stat().st_size - offset
    if need > have:
        raise InvalidInputError(
            f"{what} header claims shape {tuple(shape)} ({gib(need)} of {dtype}) but the file "
            f"holds only {have} bytes of data: it is truncated or damaged",
            path=path,
        )
    check_budget(2 * need, f"{what} of shape {tuple(shape)}")


def read_npy(
    path: Path, what: str = "probe file", hint: str = "Save a plain numeric array with numpy.save."
) -> np.ndarray:
    """One plain ``.npy`` array, safely: the header checked against the file's size and the memory
    budget before anything is read, no unpickling, no ``.npz``; big-endian data converted.
    ``what`` names the file in messages (``"probe file"``, ``"input file"``, ``"states file"``)."""
    _check_header(path, what)
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise InvalidInputError(
            f"{what} cannot be read without unpickling ({err})", path=path, hint=hint
        ) from None
    except OSError as err:
        raise InvalidInputError(f"{what} is not a readable .npy array ({err})", path=path) from None
    if not isinstance(arr, np.ndarray):
        raise InvalidInputError(
            f"{what} holds several arrays (.npz); expected one .npy array", path=path, hint=hint
        )
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))  # big-endian arrays are converted
    return arr


def make_probe(
    spec: str | np.ndarray,
    module: RecurrentModule,
    *,
    steps: int,
    batch: int | None = None,
    length: int | None = None,
    seed: int = 0,
    task_params: Mapping[str, Any] | None = None,
    path: Any = None,
) -> Probe:
    """Build the probe ``spec`` for ``module`` (see the module docstring); ``steps`` sizes generated probes.

    Raises UsageError for an unknown spec or bad or too large sizes (with an estimate),
    InvalidInputError for a bad file. ``path``: the checkpoint, for messages.
    """
    _check_sizes(batch, length)
    seed = check_seed(seed)
    if not isinstance(spec, np.ndarray):
        kind = spec.split(":", 1)[0].strip().lower()
        if kind in ("zeros", "noise", "impulse"):
            t_len = length or default_length(steps)
            b, d = batch or DEFAULT_BATCH.get(kind) or 32, module.input_size or 1
            check_budget(8.0 * b * t_len * d, f"a {b} × {t_len} × {d} probe", hint=None)
    return build_probe(
        spec,
        module,
        steps=steps,
        batch=batch,
        length=length,
        seed=seed,
        task_params=task_params,
        path=path,
    )


def _check_sizes(batch: int | None, length: int | None) -> None:
    if batch is not None and batch <= 0:
        raise UsageError(f"--batch must be positive, got {batch}")
    if length is not None and length <= 0:
        raise UsageError(f"--length must be positive, got {length}")


def build_probe(
    spec: str | np.ndarray,
    module: RecurrentModule,
    *,
    steps: int,
    batch: int | None = None,
    length: int | None = None,
    seed: int = 0,
    task_params: Mapping[str, Any] | None = None,
    path: Any = None,
) -> Probe:
    """``make_probe`` for a caller that has checked the seed and the memory budget itself
    (``measure_decay``, up front for its whole job)."""
    _check_sizes(batch, length)
    d = module.input_size or 1
    if isinstance(spec, np.ndarray):
        return Probe("array", "array", _take(spec, batch), seed)
    kind = spec.split(":", 1)[0].strip().lower()
    t_len = length or default_length(steps)
    b = batch or DEFAULT_BATCH.get(kind) or 32
    rng = np.random.default_rng(seed)
    if kind == "zeros":
        return Probe("zeros", spec, np.zeros((b, t_len, d), np.float32), seed)
    if kind == "noise":
        std = _std(spec)
        x = (std * rng.standard_normal((b, t_len, d))).astype(np.float32)
        return Probe("noise", spec, x, seed, {"std": std})
    if kind == "impulse":
        x = np.zeros((b, t_len, d), np.float32)
        x[:, max(t_len - int(steps), 0), :] = 1.0
        return Probe("impulse", spec, x, seed)
    if kind == "task":
        name = spec.split(":", 1)[1] if ":" in spec else ""
        if not name:
            raise UsageError(
                f"--probe {spec!r} names no task", hint="Write task:NAME (see `rnndyn tasks`)."
            )
        x = _task_inputs(name, seed, task_params)
        return Probe("task", spec, _take(x, batch or DEFAULT_BATCH["task"]), seed, {"task": name})
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".npy" or path.exists():
        if not path.is_file():
            raise InvalidInputError(
                "probe file does not exist",
                path=path,
                hint=f"Give an existing .npy file of shape (B, T, {d}) or one of: "
                f"{', '.join(KINDS)}.",
            )
        arr = read_npy(path)
        check_inputs(arr, module, path=path)
        x = _take(arr, batch).astype(np.float32)
        return Probe("file", str(path), x, seed, {"path": str(path)})
    raise UsageError(f"unknown probe {spec!r}", hint=f"Valid probes: {', '.join(KINDS)}.")


def _take(x: np.ndarray, batch: int | None) -> np.ndarray:
    return x if batch is None or x.ndim != 3 else x[:batch]

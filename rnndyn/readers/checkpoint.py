"""The loaded-checkpoint value object and the safe ``load`` entry point.

The pipeline, one module each: pre-checks (``prechecks``) → format from the first bytes
(``sniff``) → one reader per format (``readers``) → unwrap containers and normalise keys
(``keys``) → validate tensors (``validate``). Nothing from a file runs unless ``trust=True``.

Objects in memory go the same way from the unwrapping on (``as_checkpoint``, ``from_memory``):
every API entry point calls ``as_checkpoint`` on its first argument, so a notebook can pass
``model`` or ``model.state_dict()`` wherever a file name is accepted. Their ``Checkpoint.path`` is
a label such as ``<in-memory GRU>`` and their ``sha256`` a digest of the tensors (names, dtypes,
shapes, bytes), so two identical models give the same digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rnndyn._util.hashing import file_sha256
from rnndyn._util.jsonsafe import json_safe
from rnndyn.errors import RefusedError, UsageError
from rnndyn.readers import formats as readers
from rnndyn.readers import keys, prechecks, sniff, validate
from rnndyn.readers import layout as io_layout
from rnndyn.readers.tensors import TensorMap

if TYPE_CHECKING:  # torch is imported only where a torch object is read
    import torch


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read safely from disk.

    Attributes:
        path: the file it came from.
        sha256: hex digest of the file's bytes.
        format: ``"torch-zip"``, ``"torch-legacy"``, ``"safetensors"``, ``"torchscript"``,
            ``"npy"``, ``"npz"``, ``"pickle-arrays"``, ``"onnx"``, ``"keras"``, ``"keras-h5"``,
            ``"flax-msgpack"`` or ``"pickle-trusted"``.
        tensors: flat mapping of normalised dotted keys (wrapper prefixes such as ``module.`` and
            ``_orig_mod.`` stripped, nesting joined with ``.``) to CPU, dense tensors in their
            stored dtype: a ``TensorMap``, whose values are torch tensors on access while files
            other than torch's are held as NumPy arrays (``raw``/``array``/``shape`` read them
            without importing torch).
        metadata: the checkpoint's own ``rnndyn`` block (schema ``rnndyn.checkpoint/1``) or ``{}``.
        sources: for tensors converted from another framework's layout (ONNX, Keras, Flax, arrays
            named ``*_w_hh``), the PyTorch-named key → where it came from (``"node lstm: R[0]"``).
        conventions: per module name, what the conversion assumed (``framework``, ``gates``,
            ``nonlinearity``) and ``simulation``: why it cannot be run as a PyTorch module, if so.
    """

    path: Path
    sha256: str
    format: str
    tensors: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    conventions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.tensors, TensorMap):
            object.__setattr__(self, "tensors", TensorMap(self.tensors))

    def __repr__(self) -> str:  # short: never the tensors themselves
        n = cast(TensorMap, self.tensors).numel()  # __post_init__ made it one
        return (
            f"Checkpoint({str(self.path)!r}, format={self.format!r}, sha256={self.sha256[:12]}…, "
            f"{len(self.tensors)} tensors, {n:,} values)"
        )


def load(
    path: str | PathLike[str] | torch.nn.Module | Mapping[str, Any] | Checkpoint,
    *,
    trust: bool = False,
    max_bytes: int | None = None,
    layout: str | None = None,
    gate_order: str | None = None,
    matrix: str | None = None,
) -> Checkpoint:
    """Load a checkpoint without executing code from it.

    Args:
        path: a torch zip/legacy file, a Lightning ``.ckpt``, a safetensors file, a TorchScript
            archive, ``.npy``/``.npz``, a plain pickle of numpy arrays, an ONNX model, a Keras
            ``.keras``/``.h5`` file or a Flax msgpack file (the format is read from the first
            bytes, not the extension). Foreign layouts are converted to PyTorch's names and gate
            order; ``Checkpoint.sources`` says where each converted tensor came from. Also an
            object in memory: an ``nn.Module`` holding ``nn.RNN``/``LSTM``/``GRU`` layers, a
            state dict, or a ``Checkpoint`` (returned as it is); see ``as_checkpoint``.
        trust: allow full pickles (``torch.save(model)``) for files you trust. Even then the
            weights-only loader is tried first; the full unpickler runs only if it refused.
        max_bytes: size cap (default ``prechecks.MAX_CHECKPOINT_BYTES``, 8 GiB).
        layout: how to read arrays named in other conventions (``enc_w_hh``): ``"rnn"``,
            ``"lstm"`` or ``"gru"`` (see ``readers.layout``).
        gate_order: the stored block order of such arrays (``"ifco"``, ``"zrh"``).
        matrix: the one stacked key ``layout`` and ``gate_order`` apply to.

    Raises:
        RefusedError: (exit 3) the file needs code execution and ``trust`` is False.
        CheckpointError: (exit 4) missing, empty, truncated, corrupt, not a checkpoint, no tensors.
        UsageError: (exit 2) a layout hint that fits no array, or ``path`` is none of the above.
    """
    if not isinstance(path, (str, PathLike)):
        ckpt = as_checkpoint(path, trust=trust)
        if layout is None and gate_order is None and matrix is None:
            return ckpt
        return with_layout(ckpt, layout=layout, gate_order=gate_order, matrix=matrix)
    p = Path(path)
    size = prechecks.check_file(p, max_bytes)
    kind = sniff.sniff(p, sniff.read_head(p), size)
    if kind == "zip":
        kind = prechecks.check_zip(p, size, trust=trust).kind
    read = _READERS.get(kind, _read_torch)
    obj, fmt, meta, sources, conventions = read(p, kind, size, trust)
    tensors, found_meta = keys.unwrap(obj, p)
    tensors = validate.validate_tensors(tensors, p)
    tensors, more_sources, more_conv = io_layout.apply(
        tensors, layout=layout, gate_order=gate_order, matrix=matrix, path=p
    )
    return Checkpoint(
        p,
        file_sha256(p),
        fmt,
        tensors,
        json_safe(meta, unknown="none", max_depth=keys.MAX_DEPTH, max_items=1024) or found_meta,
        sources | more_sources,
        conventions | more_conv,
    )


def with_layout(
    ckpt: Checkpoint,
    *,
    layout: str | None = None,
    gate_order: str | None = None,
    matrix: str | None = None,
) -> Checkpoint:
    """``ckpt`` with its not-yet-converted stacks read by the layout hints (see ``load``)."""
    tensors, sources, conventions = io_layout.apply(
        ckpt.tensors, layout=layout, gate_order=gate_order, matrix=matrix, path=ckpt.path
    )
    return replace(
        ckpt,
        tensors=tensors,
        sources={**ckpt.sources, **sources},
        conventions={**ckpt.conventions, **conventions},
    )


_Read = tuple[Any, str, dict[str, object], dict[str, str], dict[str, dict[str, object]]]


def _read_torch(p: Path, kind: str, size: int, trust: bool) -> _Read:
    if kind == "torchscript":
        from rnndyn.readers.torchscript_reader import read_torchscript

        layout = prechecks.check_zip(p, size, trust=trust)
        try:
            tensors, meta = read_torchscript(p, layout.prefix)
            return tensors, "torchscript", meta, {}, {}
        except RefusedError:
            if not trust:
                raise
        obj, fmt = readers.read_torch(p, "zip", trust=trust, torchscript=True)
        return obj, fmt, {}, {}, {}
    obj, fmt = readers.read_torch(p, "zip" if kind == "torch" else kind, trust=trust)
    return obj, fmt, {}, {}, {}


def _read_safetensors(p: Path, kind: str, size: int, trust: bool) -> _Read:
    obj, meta = readers.read_safetensors(p)
    return obj, "safetensors", meta, {}, {}


def _read_pickle(p: Path, kind: str, size: int, trust: bool) -> _Read:
    obj, fmt = readers.read_pickle(p, trust=trust)
    return obj, fmt, {}, {}, {}


def _read_numpy(p: Path, kind: str, size: int, trust: bool) -> _Read:
    from rnndyn.readers import numpy_reader

    obj = numpy_reader.read_npy(p, size) if kind == "npy" else numpy_reader.read_npz(p)
    return obj, kind, {}, {}, {}


def _read_framework(p: Path, kind: str, size: int, trust: bool) -> _Read:
    import importlib

    module, func = {
        "onnx": ("onnx_reader", "read_onnx"),
        "hdf5": ("keras_reader", "read_keras"),
        "keras": ("keras_reader", "read_keras"),
        "msgpack": ("flax_reader", "read_flax"),
    }[kind]
    found = getattr(importlib.import_module(f"rnndyn.readers.{module}"), func)(p, size)
    return found.tensors, found.format, found.metadata, found.sources, found.conventions


_READERS = {
    "safetensors": _read_safetensors,
    "pickle": _read_pickle,
    "npy": _read_numpy,
    "npz": _read_numpy,
    "onnx": _read_framework,
    "hdf5": _read_framework,
    "keras": _read_framework,
    "msgpack": _read_framework,
}


# --- objects in memory: an nn.Module or a state dict, wherever a path is accepted -----------

#: What ``as_checkpoint`` accepts, for error messages and docstrings.
ACCEPTED = (
    "a checkpoint path, a torch.nn.Module (an nn.RNN/LSTM/GRU or a model containing one), "
    "a state dict (model.state_dict()), or an rnndyn.Checkpoint"
)


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """Hex sha256 over every tensor's name, dtype, shape and bytes, in key order."""
    import torch

    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        h.update(f"{key}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _nonlinearities(module: torch.nn.Module) -> dict[str, dict[str, object]]:
    """``{module name: {"nonlinearity": ...}}`` for every nn.RNN / nn.RNNCell inside ``module``
    (a state dict does not record it; the live module does)."""
    import torch

    found: dict[str, dict[str, object]] = {}
    for name, sub in module.named_modules():
        if isinstance(sub, (torch.nn.RNN, torch.nn.RNNCell)):
            found[name] = {"nonlinearity": str(sub.nonlinearity)}
    return found


def from_memory(obj: torch.nn.Module | Mapping[str, Any], *, name: str | None = None) -> Checkpoint:
    """A ``Checkpoint`` of an ``nn.Module`` or a state dict, read as a file with the same content
    would be (tensors copied to the CPU and detached; the object itself is not changed).

    Raises:
        UsageError: ``obj`` is neither a module nor a mapping.
        CheckpointError: it holds no tensors, or NaN/Inf/oversized ones (as for files).
    """
    import torch

    if isinstance(obj, torch.nn.Module):
        kind, conventions = "in-memory-module", _nonlinearities(obj)
    elif isinstance(obj, Mapping):
        kind, conventions = "in-memory-state-dict", {}
    else:
        raise UsageError(f"cannot read {type(obj).__name__!r} as a network: expected {ACCEPTED}")
    what = type(obj).__name__ if isinstance(obj, torch.nn.Module) else "state dict"
    label = Path(name or f"<in-memory {what}>")
    found, meta = keys.unwrap(obj, label)
    checked = validate.validate_tensors(found, label)
    # torch tensors (an in-memory network); copied, so later training leaves them alone
    tensors = {k: cast("torch.Tensor", t).detach().clone() for k, t in checked.items()}
    return Checkpoint(
        label,
        tensors_sha256(tensors),
        kind,
        tensors,
        meta,
        conventions={keys.normalise_key(k) if k else k: v for k, v in conventions.items()},
    )


def _is_module(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module`` (torch is imported only if the object's class
    comes from torch or subclasses one of its classes)."""
    if not any(c.__module__.startswith("torch") for c in type(obj).__mro__):
        return False
    import torch

    return isinstance(obj, torch.nn.Module)


def as_checkpoint(source: Any, *, trust: bool = False) -> Checkpoint:
    """``source`` as a ``Checkpoint``: a ``Checkpoint`` as it is, a path through ``load`` (safe by
    default; ``trust`` for full pickles), an ``nn.Module`` or a state dict through ``from_memory``.

    Raises:
        UsageError: anything else (an int, a tensor, a list, ...), naming what is accepted.
    """
    if isinstance(source, Checkpoint):
        return source
    if isinstance(source, (str, PathLike)):
        return load(source, trust=trust)
    if isinstance(source, Mapping) or _is_module(source):
        return from_memory(source)
    raise UsageError(
        f"cannot read a {type(source).__name__!r} as a network: expected {ACCEPTED}",
        hint="A bare weight matrix goes to rnndyn.eigendecompose(W.numpy()) instead.",
    )

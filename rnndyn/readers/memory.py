"""Checkpoints from objects in memory: an ``nn.Module``, a state dict, or a path.

``as_checkpoint`` is what every API entry point calls on its first argument, so a notebook can
pass ``model`` or ``model.state_dict()`` wherever a file name is accepted. In-memory objects go
through the same unwrapping, key normalisation and tensor validation as files; nothing is
written to disk. Their ``Checkpoint.path`` is a label such as ``<in-memory GRU>`` and their
``sha256`` is a digest of the tensors (names, dtypes, shapes and bytes), so two identical
models give the same digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from rnndyn.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.readers.checkpoint import Checkpoint

#: What ``as_checkpoint`` accepts, for error messages and docstrings.
ACCEPTED = (
    "a checkpoint path, a torch.nn.Module (an nn.RNN/LSTM/GRU or a model containing one), "
    "a state dict (model.state_dict()), or an rnndyn.Checkpoint"
)


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """Hex sha256 over every tensor's name, dtype, shape and bytes, in key order."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        h.update(f"{key}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _nonlinearities(module: torch.nn.Module) -> dict[str, dict[str, Any]]:
    """``{module name: {"nonlinearity": ...}}`` for every nn.RNN / nn.RNNCell inside ``module``
    (a state dict does not record it; the live module does)."""
    found: dict[str, dict[str, Any]] = {}
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
    from rnndyn.readers import keys, validate
    from rnndyn.readers.checkpoint import Checkpoint

    if isinstance(obj, torch.nn.Module):
        kind, conventions = "in-memory-module", _nonlinearities(obj)
    elif isinstance(obj, Mapping):
        kind, conventions = "in-memory-state-dict", {}
    else:
        raise UsageError(f"cannot read {type(obj).__name__!r} as a network: expected {ACCEPTED}")
    what = type(obj).__name__ if isinstance(obj, torch.nn.Module) else "state dict"
    label = Path(name or f"<in-memory {what}>")
    tensors, meta = keys.unwrap(obj, label)
    tensors = validate.validate_tensors(tensors, label)
    tensors = {k: t.detach().clone() for k, t in tensors.items()}  # later training leaves it alone
    return Checkpoint(
        label,
        tensors_sha256(tensors),
        kind,
        tensors,
        meta,
        conventions={keys.normalise_key(k) if k else k: v for k, v in conventions.items()},
    )


def as_checkpoint(source: Any, *, trust: bool = False) -> Checkpoint:
    """``source`` as a ``Checkpoint``: a ``Checkpoint`` as it is, a path through ``load`` (safe by
    default; ``trust`` for full pickles), an ``nn.Module`` or a state dict through ``from_memory``.

    Raises:
        UsageError: anything else (an int, a tensor, a list, ...), naming what is accepted.
    """
    from rnndyn.readers.checkpoint import Checkpoint, load

    if isinstance(source, Checkpoint):
        return source
    if isinstance(source, (str, PathLike)):
        return load(source, trust=trust)
    if isinstance(source, (torch.nn.Module, Mapping)):
        return from_memory(source)
    raise UsageError(
        f"cannot read a {type(source).__name__!r} as a network: expected {ACCEPTED}",
        hint="A bare weight matrix goes to rnndyn.eigendecompose(W.numpy()) instead.",
    )

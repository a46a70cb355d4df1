"""Unwrap checkpoint containers and normalise keys into one flat ``{dotted.key: tensor}`` dict.

Handled: bare state dicts; ``{"state_dict": ...}`` (Lightning, rnndyn's own format); tutorial
dicts (``model_state_dict``, ``model``, ``net`` ...); ModuleDict-style nesting (dicts of dicts
become dotted keys); whole modules (trusted loads only). Wrapper prefixes are stripped: leading
``module.`` components (DataParallel/DDP) and ``_orig_mod.`` components anywhere (torch.compile).
Attribute paths such as ``model.rnn.`` are kept: they are the names operators are reported under.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rnndyn._util.jsonsafe import json_safe
from rnndyn._util.text import printable
from rnndyn.errors import CheckpointError
from rnndyn.readers.tensors import is_tensor, torch_module

# Tried in this order; the first that holds tensors (or is a module) is the weights container.
CONTAINER_KEYS = (
    "state_dict",
    "model_state_dict",
    "model_state",
    "model",
    "net",
    "network",
    "module",
    "weights",
    "params",
    "parameters",
)
# Never weights, when a dict is flattened whole (optimizer moments are tensors too).
NON_WEIGHT_KEYS = frozenset(
    {
        "optimizer_states",
        "optimizer_state_dict",
        "optimizer_state",
        "optimizer",
        "optim",
        "lr_schedulers",
        "scheduler",
        "scheduler_state_dict",
        "callbacks",
        "loops",
        "hyper_parameters",
        "hparams",
        "rnndyn",
        "amp",
        "scaler",
    }
)
MAX_DEPTH = 32


def _is_module(obj: Any) -> bool:
    torch = torch_module()
    return torch is not None and isinstance(obj, torch.nn.Module)


def unwrap(obj: Any, path: Path) -> tuple[dict[str, object], dict[str, object]]:
    """``(flat tensors with normalised keys, metadata)`` from a loaded checkpoint object.

    Values are torch tensors (torch files) or NumPy arrays (every other format: torch is not
    imported for them)."""
    meta: dict[str, object] = {}
    if isinstance(obj, Mapping) and isinstance(obj.get("rnndyn"), Mapping):
        meta = json_safe(obj["rnndyn"], unknown="none", max_depth=MAX_DEPTH, max_items=1024)
    weights = _container(obj)
    module_class = _module_class(weights)
    if module_class and not meta:
        meta = {"module_class": module_class}
    if isinstance(weights, np.ndarray) or is_tensor(weights):
        weights = {"tensor": weights}  # a file holding one bare tensor (torch.save(W))
    flat: dict[str, object] = {}
    _flatten(weights, (), flat, set(), top=weights is obj)
    if not flat:
        raise CheckpointError(
            "the checkpoint holds no tensors",
            path=path,
            hint="Expected a state dict (torch.save(model.state_dict(), PATH)) or a dict with one.",
        )
    return normalise(flat, path), meta


def _container(obj: Any) -> Any:
    if _is_module(obj):
        return obj
    if isinstance(obj, Mapping):
        for key in CONTAINER_KEYS:
            value = obj.get(key)
            if _is_module(value) or (isinstance(value, Mapping) and _holds_tensors(value, 0)):
                return value
    return obj


def _module_class(obj: Any) -> str | None:
    return type(obj).__name__ if _is_module(obj) else None


def _holds_tensors(obj: Any, depth: int) -> bool:
    if isinstance(obj, np.ndarray) or is_tensor(obj) or _is_module(obj):
        return True
    if depth >= MAX_DEPTH:
        return False
    if isinstance(obj, Mapping):
        return any(_holds_tensors(v, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_holds_tensors(v, depth + 1) for v in obj)
    return False


def _flatten(obj: Any, prefix: tuple[str, ...], out: dict, seen: set[int], *, top: bool) -> None:
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "fiub" and obj.ndim:
        native = obj.astype(obj.dtype.newbyteorder("="), copy=False)
        out[".".join(prefix)] = np.ascontiguousarray(native)  # numpy files and pickles of arrays
        return
    if is_tensor(obj):
        out[".".join(prefix)] = obj
        return
    if _is_module(obj):
        obj = obj.state_dict()
    if len(prefix) >= MAX_DEPTH or id(obj) in seen:
        return
    if isinstance(obj, Mapping):
        items = [(str(k), v) for k, v in obj.items() if not (top and k in NON_WEIGHT_KEYS)]
    elif isinstance(obj, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(obj)]
    else:
        return  # numbers, strings, None: not weights
    seen.add(id(obj))
    for key, value in items:
        _flatten(value, (*prefix, key), out, seen, top=False)
    seen.discard(id(obj))


def normalise_key(key: str) -> str:
    """Strip leading ``module.`` and all ``_orig_mod.`` components: ``module.rnn.w`` → ``rnn.w``."""
    parts = [p for p in key.split(".") if p != "_orig_mod"]
    while len(parts) > 1 and parts[0] == "module":
        parts.pop(0)
    return ".".join(parts) if parts else key


def normalise(flat: Mapping[str, Any], path: Path) -> dict[str, object]:
    """Apply :func:`normalise_key` to every key; two different tensors on one key is an error."""
    out: dict[str, object] = {}
    origin: dict[str, str] = {}
    for key, tensor in flat.items():
        new = normalise_key(key)
        if new in out and not _same(out[new], tensor):
            raise CheckpointError(
                f"keys {printable(origin[new], 60)!r} and {printable(key, 60)!r} both become "
                f"{printable(new, 60)!r} once wrapper prefixes (module., _orig_mod.) are removed",
                path=path,
                hint="Save the unwrapped model's state_dict (model.module / model._orig_mod).",
            )
        out.setdefault(new, tensor)
        origin.setdefault(new, key)
    return out


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and bool(np.array_equal(a, b))
        )
    if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device or a.is_meta:
        return False
    try:
        return bool(torch_module().equal(a, b))
    except RuntimeError:
        return False

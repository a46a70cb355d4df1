"""The loaded-checkpoint value object and the safe ``load`` entry point.

The pipeline, one module each: pre-checks (``prechecks``) → format from the first bytes
(``sniff``) → one reader per format (``readers``) → unwrap containers and normalise keys
(``keys``) → validate tensors (``validate``). Nothing from a file runs unless ``trust=True``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from rnndyn.io import keys, prechecks, readers, sniff, validate


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read safely from disk.

    Attributes:
        path: the file it came from.
        sha256: hex digest of the file's bytes.
        format: ``"torch-zip"``, ``"torch-legacy"``, ``"safetensors"`` or ``"pickle-trusted"``.
        tensors: flat mapping of normalised dotted keys (wrapper prefixes such as ``module.`` and
            ``_orig_mod.`` stripped, nesting joined with ``.``) to CPU, dense tensors in their
            stored dtype.
        metadata: the checkpoint's own ``rnndyn`` block (schema ``rnndyn.checkpoint/1``) or ``{}``.
    """

    path: Path
    sha256: str
    format: str
    tensors: Mapping[str, torch.Tensor]
    metadata: Mapping[str, Any] = field(default_factory=dict)


def file_sha256(path: str | PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load(
    path: str | PathLike[str], *, trust: bool = False, max_bytes: int | None = None
) -> Checkpoint:
    """Load a checkpoint without executing code from it.

    Args:
        path: a torch zip/legacy file, a Lightning ``.ckpt`` or a safetensors file (the format is
            read from the first bytes, not the extension).
        trust: allow full pickles (``torch.save(model)``, TorchScript) for files you trust. Even
            then the weights-only loader is tried first; the full unpickler runs only if it
            refused.
        max_bytes: size cap (default ``prechecks.MAX_CHECKPOINT_BYTES``, 8 GiB).

    Raises:
        RefusedError: (exit 3) the file needs code execution and ``trust`` is False.
        CheckpointError: (exit 4) missing, empty, truncated, corrupt, not a checkpoint, no tensors.
    """
    p = Path(path)
    size = prechecks.check_file(p, max_bytes)
    kind = sniff.sniff(p, sniff.read_head(p), size)
    meta: dict[str, Any] = {}
    if kind == "safetensors":
        obj, meta = readers.read_safetensors(p)
        fmt = "safetensors"
    elif kind == "pickle":
        obj, fmt = readers.read_pickle(p, trust=trust)
    else:
        layout = prechecks.check_zip(p, size, trust=trust) if kind == "zip" else None
        torchscript = layout is not None and layout.torchscript
        obj, fmt = readers.read_torch(p, kind, trust=trust, torchscript=torchscript)
    tensors, found_meta = keys.unwrap(obj, p)
    tensors = validate.validate_tensors(tensors, p)
    return Checkpoint(p, file_sha256(p), fmt, tensors, keys.jsonable(meta) or found_meta)

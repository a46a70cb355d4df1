"""The loaded-checkpoint value object and the safe ``load`` entry point.

PLACEHOLDER BODY: the reader pipeline (sniff → pre-checks → reader → unwrap → normalise keys →
validate) is being written in ``rnndyn/io/``; the dataclass below is the contract.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read safely from disk.

    Attributes:
        path: the file it came from.
        sha256: hex digest of the file's bytes.
        format: ``"torch-zip"``, ``"torch-legacy"``, ``"safetensors"`` or ``"pickle-trusted"``.
        tensors: flat mapping of normalised dotted keys (wrapper prefixes such as ``module.`` and
            ``_orig_mod.`` stripped, nesting joined with ``.``) to CPU, dense tensors in their stored dtype.
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


def load(path: str | PathLike[str], *, trust: bool = False) -> Checkpoint:
    """Load a checkpoint without executing code (``trust=True`` allows full pickles)."""
    p = Path(path)
    obj = torch.load(p, map_location="cpu", weights_only=True)
    sd = obj.get("state_dict", obj)
    meta = obj.get("rnndyn", {}) if isinstance(obj, dict) else {}
    return Checkpoint(p, file_sha256(p), "torch-zip", dict(sd), dict(meta))

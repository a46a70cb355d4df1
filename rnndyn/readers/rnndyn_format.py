"""Write rnndyn's own checkpoints: ``{"state_dict": ..., "rnndyn": {schema "rnndyn.checkpoint/1", ...}}``.

The file is a plain torch zip that loads with ``torch.load(path, weights_only=True)``: tensors plus
str/int/float/bool/None/list/dict metadata. Writes are atomic, and rnndyn never replaces a file it
did not write: an existing foreign file is refused whatever ``force`` says; an existing rnndyn
checkpoint is replaced only with ``force=True``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnndyn._util.atomic import atomic_write_bytes
from rnndyn._util.hashing import sha256
from rnndyn._util.jsonsafe import plain
from rnndyn.errors import OutputError

SCHEMA = "rnndyn.checkpoint/1"
_SNIFF_BYTES = 64 << 20  # never unpickle big foreign files just to ask whether they are ours


def is_rnndyn_checkpoint(path: str | PathLike[str]) -> bool:
    """True when ``path`` is a torch zip whose ``rnndyn`` block carries an rnndyn schema.

    Read with rnndyn's safe loader (pre-checks, weights only); any failure means "not ours".
    """
    from rnndyn.readers.checkpoint import load

    p = Path(path)
    try:
        if not p.is_file() or p.stat().st_size > _SNIFF_BYTES or not zipfile.is_zipfile(p):
            return False
        meta = load(p).metadata
    except Exception:  # any unreadable file is, by definition, not one of ours
        return False
    return str(meta.get("schema", "")).startswith("rnndyn.checkpoint/")


def check_destination(path: str | PathLike[str], *, force: bool = False) -> Path:
    """Raise OutputError unless ``path`` may be written (call before a long training run)."""
    p = Path(path)
    if p.is_dir():
        raise OutputError("is a folder, not a checkpoint file", path=p, hint="give a file name.")
    if not p.parent.is_dir():
        raise OutputError(
            "the folder for this checkpoint does not exist", path=p, hint="create it first."
        )
    if p.exists() or p.is_symlink():
        if not is_rnndyn_checkpoint(p):
            raise OutputError(
                "exists and was not written by rnndyn; rnndyn never overwrites such files",
                path=p,
                hint="choose another output path.",
            )
        if not force:
            raise OutputError(
                "an rnndyn checkpoint already exists here",
                path=p,
                hint="pass --force to replace it.",
            )
    return p


def checkpoint_bytes(state_dict: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> bytes:
    """Serialise ``{"state_dict", "rnndyn"}``; ``meta`` gains ``schema`` and is made plain."""
    block = {"schema": SCHEMA, **plain(dict(meta))}
    block["schema"] = SCHEMA
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    buf = io.BytesIO()
    torch.save({"state_dict": tensors, "rnndyn": block}, buf)
    return buf.getvalue()


def save_checkpoint(
    path: str | PathLike[str],
    model: nn.Module | Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
    *,
    force: bool = False,
) -> str:
    """Atomically write ``model``'s ``state_dict`` and ``meta`` to ``path``; return the sha256.

    Raises OutputError for a foreign existing file, an existing rnndyn checkpoint without
    ``force``, or an unwritable location; TypeError when ``meta`` is not plain data.
    """
    p = check_destination(path, force=force)
    sd = model.state_dict() if isinstance(model, nn.Module) else model
    data = checkpoint_bytes(sd, meta)
    atomic_write_bytes(p, data)
    return sha256(data)

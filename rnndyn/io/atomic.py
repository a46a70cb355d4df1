"""Atomic, no-clobber file writes: temp file in the destination folder, fsync, ``os.replace``."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from os import PathLike
from pathlib import Path
from typing import Any

from rnndyn.errors import OutputError

TMP_SUFFIX = ".rnndyn-tmp"


def atomic_write_bytes(path: str | PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never half."""
    dest = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=TMP_SUFFIX)
    except OSError as err:
        raise OutputError(f"cannot write here ({err.strerror})", path=dest.parent) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except OSError as err:
        raise OutputError(f"could not write the file ({err.strerror})", path=dest) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return dest


def atomic_write_text(path: str | PathLike[str], text: str) -> Path:
    """Atomic UTF-8 text write."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Strict, deterministic JSON (sorted keys, no NaN/Infinity: those must be ``None`` already)."""
    return json.dumps(obj, sort_keys=True, indent=2, allow_nan=False) + "\n"


def atomic_write_json(path: str | PathLike[str], obj: Any) -> Path:
    """Atomic strict-JSON write."""
    return atomic_write_text(path, dumps_json(obj))

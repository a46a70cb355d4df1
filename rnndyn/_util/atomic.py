"""Atomic, no-clobber file writes: temp file in the destination folder, fsync, ``os.replace``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnndyn.errors import OutputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

TMP_SUFFIX = ".rnndyn-tmp"


def umask_mode(base: int) -> int:
    """``base`` with the process umask applied: what ``open``/``mkdir`` would give a new file
    (``0o666``) or folder (``0o777``). Temporary files and folders are created private (0600,
    0700); they get this mode before they are renamed into place."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def atomic_write_bytes(path: str | PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never half."""
    import tempfile  # here: a command that writes no file does not import it (start-up time)

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
        os.chmod(tmp, umask_mode(0o666))
        os.replace(tmp, dest)
    except OSError as err:
        raise OutputError(f"could not write the file ({err.strerror})", path=dest) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return dest


def atomic_write_text(path: str | PathLike[str], text: str) -> Path:
    """Atomic UTF-8 text write."""
    return atomic_write_bytes(path, displayable(text).encode("utf-8"))


def displayable(text: str) -> str:
    """``text`` without lone surrogates: file-name bytes that are not UTF-8 (which
    ``os.fsdecode`` turns into ``\\udcXX``) become visible ``\\xXX`` escapes, so the text can be
    written as UTF-8 and read by strict JSON parsers."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def displayable_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with lone surrogates in string cells escaped (a copy only when there are any)."""
    cols = [c for c in df.columns if df[c].dtype == object]
    bad = [c for c in cols if df[c].map(lambda v: isinstance(v, str) and displayable(v) != v).any()]
    if not bad:
        return df
    df = df.copy()
    for c in bad:
        df[c] = df[c].map(lambda v: displayable(v) if isinstance(v, str) else v)
    return df


def _displayable_tree(obj: Any) -> Any:
    if isinstance(obj, str):
        return displayable(obj)
    if isinstance(obj, dict):
        return {
            displayable(k) if isinstance(k, str) else k: _displayable_tree(v)
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [_displayable_tree(v) for v in obj]
    return obj


def dumps_json(obj: Any) -> str:
    """Strict, deterministic JSON (sorted keys, no NaN/Infinity: those must be ``None`` already).

    Strings are made :func:`displayable` first, so the document never holds a lone surrogate.
    """
    text = json.dumps(obj, sort_keys=True, indent=2, allow_nan=False) + "\n"
    if "\\ud" in text:  # maybe a lone surrogate escape: clean the strings and dump again
        text = json.dumps(_displayable_tree(obj), sort_keys=True, indent=2, allow_nan=False) + "\n"
    return text


def atomic_write_json(path: str | PathLike[str], obj: Any) -> Path:
    """Atomic strict-JSON write."""
    return atomic_write_text(path, dumps_json(obj))


@contextlib.contextmanager
def ctrl_c_deferred(message: str) -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) while a short critical block runs (e.g. publishing outputs).

    If Ctrl-C came, ``KeyboardInterrupt(message)`` is raised once the block has completed, so the
    command line can say truthfully what was done. Outside the main thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    except (ValueError, OSError):  # pragma: no cover - no signal handling here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    if pending:
        raise KeyboardInterrupt(message)

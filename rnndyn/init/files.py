"""Writing eigen-law files and sampled matrices: file names per group, and no silent overwrites.

- :func:`group_paths`: ``law.json`` + groups → ``law.<group>.json`` each, names guaranteed
  distinct (a group name that is not already a plain ``[A-Za-z0-9_-]`` word, or is long, gets a
  short hash of its exact text: ``a/b`` → ``law.a_b-<hash>.json``, never ``a_b``'s file);
- :func:`check_destination`: refuse a folder, an input, or an existing file unless ``force`` and
  rnndyn wrote it (a law file, or a ``.npy`` array);
- :func:`write_laws`, :func:`write_matrix`: check every destination first, then write each file
  atomically (readers see the old file or the new one).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from rnndyn._util.hashing import sha256
from rnndyn.errors import InvalidInputError, OutputError, UsageError

__all__ = [
    "check_destination",
    "group_paths",
    "is_law_file",
    "is_npy_file",
    "write_laws",
    "write_matrix",
]

MAX_GROUP_CHARS = 64  # of a group's part of a file name (longer names are cut and hashed)
MAX_NAME_BYTES = 255  # a file-name component on common file systems
_PLAIN = re.compile(r"[A-Za-z0-9_-]+")


def _group_part(group: str) -> str:
    """The file-name part for ``group``: itself when plain and short, else cut + 8-hex hash."""
    if _PLAIN.fullmatch(group) and len(group) <= MAX_GROUP_CHARS:
        return group
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", group).strip("_")[:MAX_GROUP_CHARS] or "group"
    digest = sha256(group)[:8]
    return f"{safe}-{digest}"


def group_paths(output: str | PathLike[str], groups: Iterable[str]) -> dict[str, Path]:
    """``{group: law file}``: ``output`` = ``law.json``, group ``regression`` → ``law.regression
    .json``. Distinct groups always get distinct names; ``UsageError`` if two would still collide
    (also when they differ only in case, which some file systems ignore)."""
    out = Path(output)
    paths: dict[str, Path] = {}
    seen: dict[str, str] = {}
    for g in groups:
        p = out.with_name(f"{out.stem}.{_group_part(str(g))}{out.suffix or '.json'}")
        other = seen.setdefault(p.name.casefold(), g)
        if other != g:
            raise UsageError(
                f"groups {other!r} and {g!r} would both be written to {p.name}",
                hint="Rename one of them in the checkpoints' metadata, or fit them separately.",
            )
        paths[g] = p
    return paths


def is_law_file(path: Path) -> bool:
    """Whether ``path`` is a JSON document with an ``rnndyn.eigen-init/…`` schema."""
    from rnndyn._util.jsonread import load_strict_json

    try:
        doc = load_strict_json(path)
    except InvalidInputError:
        return False
    return isinstance(doc, dict) and str(doc.get("schema", "")).startswith("rnndyn.eigen-init/")


def is_npy_file(path: Path) -> bool:
    """Whether ``path`` starts with NumPy's ``.npy`` magic."""
    with open(path, "rb") as f:
        return f.read(6) == b"\x93NUMPY"


def check_destination(
    path: str | PathLike[str],
    *,
    force: bool,
    ours: Callable[[Path], bool],
    what: str,
    inputs: Iterable[str | PathLike[str]] = (),
) -> Path:
    """Refuse (``OutputError``, exit 5) to write ``what`` to ``path`` when it is a folder, one of
    ``inputs``, a name too long for the file system, or an existing file without ``force`` or
    that ``ours`` does not recognise as rnndyn's. Returns ``path`` as a ``Path``."""
    p = Path(path)
    if len(p.name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise OutputError(
            f"the file name is {len(p.name.encode('utf-8', 'surrogateescape'))} bytes long; "
            f"file systems allow {MAX_NAME_BYTES}",
            path=p,
            hint="Choose a shorter output name.",
        )
    try:
        if any(p.resolve() == Path(i).resolve() for i in inputs):
            raise OutputError(f"is one of the inputs, not a place for the {what}", path=p)
        if p.is_dir():
            raise OutputError("is a folder", path=p, hint=f"Give a file name for the {what}.")
        if not p.exists():
            return p
        if not force:
            raise OutputError("already exists", path=p, hint="Pass --force to replace it.")
        if not ours(p):
            raise OutputError(
                f"exists and is not a {what} rnndyn wrote, so it is left alone",
                path=p,
                hint="Choose another output path.",
            )
    except OSError as err:
        if isinstance(err, OutputError):
            raise
        raise OutputError(f"cannot be checked or written ({err.strerror})", path=p) from None
    return p


def write_laws(
    laws: Mapping[Any, Any],
    dests: Mapping[Any, Path],
    *,
    force: bool = False,
    inputs: Iterable[str | PathLike[str]] = (),
) -> dict[Any, Path]:
    """Save each ``laws[g]`` (an ``EigenInitParams``) to ``dests[g]`` after checking every
    destination (so a refusal writes nothing). Returns ``{g: path}``."""
    inputs = list(inputs)
    for dest in dests.values():
        check_destination(dest, force=force, ours=is_law_file, what="law file", inputs=inputs)
    return {g: law.save(dests[g]) for g, law in laws.items()}


def write_matrix(
    path: str | PathLike[str],
    matrix: Any,
    *,
    force: bool = False,
    inputs: Iterable[str | PathLike[str]] = (),
) -> Path:
    """Save a 2-D float array to a ``.npy`` file (no pickles), atomically, guarded as above."""
    import numpy as np

    from rnndyn._util.atomic import atomic_write_bytes

    dest = check_destination(path, force=force, ours=is_npy_file, what=".npy file", inputs=inputs)
    buf = io.BytesIO()
    np.save(buf, np.asarray(matrix), allow_pickle=False)
    return atomic_write_bytes(dest, buf.getvalue())

"""One way to hash: hex sha256 of a file (read in 1 MiB chunks) or of bytes/text."""

from __future__ import annotations

import hashlib
from os import PathLike


def file_sha256(path: str | PathLike[str]) -> str:
    """Hex sha256 of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256(data: bytes | str) -> str:
    """Hex sha256 of ``data`` (text is encoded as UTF-8, lone surrogates kept)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()

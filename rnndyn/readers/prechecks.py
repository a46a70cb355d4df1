"""Cheap checks before any deserialiser runs: the path, the size and a zip archive's directory.

Nothing here decompresses or unpickles; a zip archive is judged from its central directory alone.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rnndyn._util.text import human_bytes, join_names
from rnndyn.errors import CheckpointError

MAX_CHECKPOINT_BYTES = 8 << 30  # 8 GiB; pass ``max_bytes`` to ``rnndyn.load`` to change it
MAX_ZIP_ENTRIES = 100_000
ZIP_SLACK_BYTES = 1 << 20  # declared sizes may not exceed the file size by more than this


@dataclass(frozen=True)
class ZipLayout:
    """What a zip checkpoint's central directory says.

    Attributes:
        prefix: the archive's top folder (``"archive"`` in ``archive/data.pkl``).
        torchscript: True when it holds TorchScript code (``code/``, ``constants.pkl``).
        kind: ``"torch"``, ``"torchscript"``, ``"npz"`` or ``"keras"`` (a Keras 3 ``.keras`` file).
    """

    prefix: str
    torchscript: bool
    kind: str = "torch"


def check_file(path: Path, max_bytes: int | None = None) -> int:
    """Return the size of ``path`` after checking it is a readable, non-empty regular file."""
    cap = MAX_CHECKPOINT_BYTES if max_bytes is None else max_bytes
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CheckpointError("no such file", path=path, hint="Check the path.") from None
    except OSError as err:
        raise CheckpointError(f"cannot access the file ({err.strerror})", path=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise CheckpointError(
            "is a directory, not a checkpoint file",
            path=path,
            hint="Name the checkpoint file itself.",
        )
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError("is not a regular file (a device, pipe or socket?)", path=path)
    if st.st_size == 0:
        raise CheckpointError(
            "the file is empty (0 bytes)",
            path=path,
            hint="It was probably not saved or copied completely: save or download it again.",
        )
    if st.st_size > cap:
        raise CheckpointError(
            f"the file is {human_bytes(st.st_size)}, over the {human_bytes(cap)} limit",
            path=path,
            hint="Pass a larger max_bytes to rnndyn.load if the file is genuine.",
        )
    if not os.access(path, os.R_OK):
        raise CheckpointError("the file is not readable (permission denied)", path=path)
    return st.st_size


MAX_DECOMPRESSED = (
    4 << 30
)  # .npz/.keras/TorchScript members may be deflated: cap what they expand to


def check_zip(path: Path, size: int, *, trust: bool = False) -> ZipLayout:
    """Inspect a zip archive's central directory: its kind, compression and size lies."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except Exception:  # BadZipFile, NotImplementedError (bad version), struct.error, ...
        raise CheckpointError(
            "the zip archive is truncated or corrupt (its central directory cannot be read)",
            path=path,
            hint="The file was probably not saved or downloaded completely: get it again.",
        ) from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise CheckpointError(
            f"the zip archive has {len(infos)} entries, more than a checkpoint ever needs",
            path=path,
        )
    names = [i.filename for i in infos]
    prefix = _torch_prefix(names)
    kind = _foreign_kind(names) if prefix is None else None
    if prefix is None and kind is None:
        raise CheckpointError(
            "it is a zip archive that is not a checkpoint (no data.pkl, .npy members or "
            "model.weights.h5 inside)",
            path=path,
            hint="rnndyn reads torch.save/TorchScript archives, .npz and .keras files.",
        )
    torchscript = prefix is not None and any(
        n.startswith(f"{prefix}/code/") or n == f"{prefix}/constants.pkl" for n in names
    )
    if prefix is not None:
        kind = "torchscript" if torchscript else "torch"
    compressed = [i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED]
    if compressed and kind != "torch":
        expands = sum(i.file_size for i in infos)
        if expands > MAX_DECOMPRESSED:
            raise CheckpointError(
                f"the archive's compressed entries expand to {human_bytes(expands)}, over the "
                f"{human_bytes(MAX_DECOMPRESSED)} limit (a zip bomb?)",
                path=path,
            )
    elif compressed:
        raise CheckpointError(
            f"the archive holds compressed entries ({join_names(compressed)}); torch.save never "
            "compresses, and compressed entries can expand without bound (a zip bomb)",
            path=path,
            hint="Re-save the checkpoint with torch.save.",
        )
    declared = sum(i.file_size for i in infos)
    if declared > size + ZIP_SLACK_BYTES and not compressed:
        raise CheckpointError(
            f"the archive declares {declared} bytes of content in a {size}-byte file",
            path=path,
            hint="The file is damaged or crafted; do not use it.",
        )
    return ZipLayout(prefix or "", torchscript, kind or "torch")


def _foreign_kind(names: list[str]) -> str | None:
    """``"npz"`` (only ``.npy`` members), ``"keras"`` (``model.weights.h5``) or None."""
    files = [n for n in names if not n.endswith("/")]
    if files and all(n.endswith(".npy") for n in files):
        return "npz"
    if "model.weights.h5" in files:
        return "keras"
    return None


def _torch_prefix(names: list[str]) -> str | None:
    """The ``X`` of an ``X/data.pkl`` entry, or None."""
    for n in names:
        parts = n.split("/")
        if len(parts) == 2 and parts[1] == "data.pkl" and parts[0]:
            return parts[0]
    return None

"""Tell a checkpoint's format from its first bytes, never from its file extension.

Recognised: ``"zip"`` (torch and TorchScript archives, Lightning ``.ckpt``, ``.npz``, ``.keras``;
the entries are checked later), ``"torch-legacy"`` (pre-1.6 ``torch.save``), ``"pickle"`` (a raw
Python pickle), ``"safetensors"``, ``"npy"``, ``"hdf5"`` (Keras ``.h5``), ``"onnx"`` (a protobuf
``ModelProto``) and ``"msgpack"`` (Flax ``to_bytes``).
Everything else raises :class:`~rnndyn.errors.CheckpointError` saying what the file looks like.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from rnndyn._util.text import quoted_head
from rnndyn.errors import CheckpointError

HEAD_BYTES = 64
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
# pickle protocol 2, then the pickled long 0x1950a86a20f9469cfc6c: torch's legacy magic number
LEGACY_TORCH_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa85019")
_MAGIC_LONG = LEGACY_TORCH_MAGIC[2:]  # the magic number's LONG1 opcode, in any protocol
SAFETENSORS_MAX_HEADER = 100_000_000
_PROTOCOL0_GLOBAL = re.compile(rb"^c[A-Za-z_][\w.]*\n[A-Za-z_][\w.]*\n")

_REMEDY = (
    "rnndyn reads PyTorch (.pt/.pth/.ckpt, TorchScript), safetensors, NumPy (.npy/.npz, pickles of "
    "arrays), ONNX, Keras (.keras/.h5) and Flax msgpack files."
)
NPY_MAGIC = b"\x93NUMPY"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# ModelProto fields that can follow ir_version (field 1): 2-7 and 8 (opset_import)
_ONNX_NEXT = frozenset({0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42})
_MSGPACK_STR = frozenset(range(0xA1, 0xC0)) | {0xD9, 0xDA, 0xDB}


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    """The first ``n`` bytes of ``path``."""
    with open(path, "rb") as f:
        return f.read(n)


def sniff(path: Path, head: bytes, size: int) -> str:
    """The format of a file of ``size`` bytes that starts with ``head`` (at least 64 bytes if any).

    Returns one of the kinds in the module docstring, or raises CheckpointError.
    """
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(LEGACY_TORCH_MAGIC) or (head[:1] == b"\x80" and _MAGIC_LONG in head[:32]):
        return "torch-legacy"
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return "pickle"
    if _PROTOCOL0_GLOBAL.match(head):
        return "pickle"
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    st = _safetensors_header(head, size)
    if st == "ok":
        return "safetensors"
    if len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] <= 30 and head[2] in _ONNX_NEXT:
        return "onnx"
    if head[:1] and (0x81 <= head[0] <= 0x8F or head[0] in (0xDE, 0xDF)):
        at = 1 if head[0] < 0xDE else (3 if head[0] == 0xDE else 5)
        if len(head) > at and head[at] in _MSGPACK_STR:
            return "msgpack"
    if st == "truncated":
        raise CheckpointError(
            "the safetensors file is truncated: its header says it is longer than the file",
            path=path,
            hint="Download or copy the file again.",
        )
    raise _not_a_checkpoint(path, head)


def _safetensors_header(head: bytes, size: int) -> str:
    """``"ok"``, ``"truncated"`` or ``"no"``: 8-byte little-endian N, then JSON starting ``{``."""
    if len(head) < 9 or head[8:9] != b"{":
        return "no"
    (n,) = struct.unpack("<Q", head[:8])
    if n < 2 or n > SAFETENSORS_MAX_HEADER:
        return "no"
    return "ok" if n + 8 <= size else "truncated"


def _not_a_checkpoint(path: Path, head: bytes) -> CheckpointError:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    lowered = stripped[:64].lower()
    if stripped.startswith(b"version https://git-lfs"):
        what = "it is a Git LFS pointer file, not the checkpoint itself"
        hint = "Fetch the real file with `git lfs pull` (or download it again)."
    elif stripped.startswith(b"<"):
        kind = "an HTML page" if b"html" in lowered else "an HTML/XML text file"
        what = f"it is {kind} (starts with {quoted_head(stripped)}), not a checkpoint"
        hint = "It is probably a failed or login-walled download: download the file again."
    elif stripped.startswith((b"{", b"[")):
        what = "it is a JSON/text file, not a checkpoint"
        hint = "An rnndyn initializer-parameter file is read by `rnndyn init show`, not here."
    elif head.startswith(EMPTY_ZIP_MAGIC):
        what = "it is an empty zip archive, not a checkpoint"
        hint = _REMEDY
    elif head.startswith(b"\x1f\x8b"):
        what = "it is gzip-compressed, not a checkpoint rnndyn can read"
        hint = "Decompress it first (gunzip); " + _REMEDY
    else:
        what = f"not a checkpoint: unrecognised format (starts with {quoted_head(head)})"
        hint = _REMEDY
    return CheckpointError(what, path=path, hint=hint)

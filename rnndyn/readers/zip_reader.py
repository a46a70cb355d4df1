"""A torch-free reader for plain ``torch.save(state_dict)`` zip archives (``import torch`` not needed).

It reads a strict subset and answers ``None`` for anything else: the archive must pass the same
pre-checks as every checkpoint (``prechecks``: regular file, size cap, stored entries, sizes that
add up), and ``data.pkl`` may hold only dicts/OrderedDicts of tensors and plain values written with
pickle protocol ≤ 3, naming no globals but ``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2`` and ``torch.<Type>Storage``. The pickle is interpreted here,
opcode by opcode (``pickletools.genops`` only parses), so nothing named in the file is imported or
called; storages are read from ``data/<key>`` entries of exactly ``numel × itemsize`` bytes in the
byte order of the ``byteorder`` record (little when absent, as torch assumes), and every view
(offset, shape, stride) is bounds-checked against its storage.

``analyze`` uses it only to start eigendecompositions early; torch's weights-only loader still loads
every file, and early results are used only for bit-identical matrices (``rnndyn.analysis``).
"""

from __future__ import annotations

import io
import math
import pickletools
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from rnndyn.readers import prechecks, sniff

MAX_PICKLE_BYTES = 128 << 10  # ~1,200 tensors, ~0.2 s to interpret; larger ones are left to torch
MAX_DEPTH = 16
MAX_BROADCAST = 1 << 20  # elements a zero-stride view may expand to
# storage class name → (numpy type code, itemsize); "bf16" is read as 16-bit words
STORAGES: dict[str, tuple[str, int]] = {
    "DoubleStorage": ("f8", 8),
    "FloatStorage": ("f4", 4),
    "HalfStorage": ("f2", 2),
    "BFloat16Storage": ("bf16", 2),
    "LongStorage": ("i8", 8),
    "IntStorage": ("i4", 4),
    "ShortStorage": ("i2", 2),
    "CharStorage": ("i1", 1),
    "ByteStorage": ("u1", 1),
    "BoolStorage": ("b1", 1),
}
FLOAT_CODES = ("f8", "f4", "f2", "bf16")
# the opcodes torch.save (protocol 2) writes for a state dict; anything else is Unsupported
_OP_NAMES = (
    "PROTO STOP MARK EMPTY_DICT EMPTY_LIST EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3 BINUNICODE "
    "SHORT_BINUNICODE BININT BININT1 BININT2 LONG1 BINFLOAT NONE NEWTRUE NEWFALSE BINPUT "
    "LONG_BINPUT BINGET LONG_BINGET GLOBAL BINPERSID REDUCE SETITEM SETITEMS APPEND APPENDS BUILD"
)
_OPS = frozenset(_OP_NAMES.split())


class Unsupported(Exception):
    """The file is outside the subset read here (the caller falls back to torch)."""


@dataclass(frozen=True)
class Storage:
    """One ``data/<key>`` record: ``numel`` elements of numpy type ``code`` (see ``STORAGES``)."""

    key: str
    code: str
    itemsize: int
    numel: int


@dataclass(frozen=True)
class TensorRef:
    """A tensor as ``_rebuild_tensor_v2`` describes it: a strided view of a storage."""

    storage: Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def is_float(self) -> bool:
        return self.storage.code in FLOAT_CODES


_REBUILD, _ODICT = object(), object()
_GLOBALS: dict[str, object] = {
    "collections OrderedDict": _ODICT,
    "torch._utils _rebuild_tensor_v2": _REBUILD,
} | {f"torch {name}": name for name in STORAGES}


@dataclass(eq=False)
class StateDictArchive:
    """The tensors of a plain state-dict archive; nested dict keys joined with ``.``."""

    path: Path
    prefix: str
    byteorder: str
    refs: dict[str, TensorRef]
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def array(self, key: str, dtype: Any = None) -> np.ndarray:
        """The tensor as a new C-contiguous array in native byte order (bfloat16 → float32, exact),
        or converted to ``dtype`` (float64 is exact for every float dtype)."""
        ref = self.refs[key]
        flat = self._storage(ref.storage)
        dtype = flat.dtype.newbyteorder("=") if dtype is None else np.dtype(dtype)
        if math.prod(ref.shape) == 0:
            return np.zeros(ref.shape, dtype)
        view = np.lib.stride_tricks.as_strided(
            flat[ref.offset :],
            ref.shape,
            tuple(s * flat.itemsize for s in ref.stride),
            writeable=False,
        )
        with np.errstate(invalid="ignore"):  # signalling NaNs widen quietly, as in torch
            return view.astype(dtype, order="C")

    def _storage(self, st: Storage) -> np.ndarray:
        if st.key not in self._cache:
            name = f"{self.prefix}/data/{st.key}"
            with zipfile.ZipFile(self.path) as zf:
                info = zf.getinfo(name)
                if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                    raise Unsupported(f"{name} is compressed or encrypted")
                if info.file_size != st.numel * st.itemsize:
                    raise Unsupported(f"{name} has {info.file_size} bytes, not numel × itemsize")
                raw = zf.read(info)
            order: Any = "<" if self.byteorder == "little" else ">"
            code = "u2" if st.code == "bf16" else st.code
            arr = np.frombuffer(raw, np.dtype(code).newbyteorder(order))  # read-only, copied later
            if st.code == "bf16":
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            self._cache[st.key] = arr
        return self._cache[st.key]


def open_state_dict(
    path: str | PathLike[str], *, max_bytes: int | None = None, must_contain: bytes = b""
) -> StateDictArchive | None:
    """The archive's tensors, or None when the file is not a plain state dict read safely here
    (or its ``data.pkl`` lacks the bytes ``must_contain``: a quick filter before interpreting it)."""
    try:
        return _open(Path(path), max_bytes, must_contain)
    except Exception:  # any failure means "not in the subset": torch decides
        return None


def _open(p: Path, max_bytes: int | None, must_contain: bytes) -> StateDictArchive | None:
    size = prechecks.check_file(p, max_bytes)
    if sniff.sniff(p, sniff.read_head(p), size) != "zip":
        return None
    layout = prechecks.check_zip(p, size)
    if layout.kind != "torch" or layout.torchscript:
        return None
    with zipfile.ZipFile(p) as zf:
        pkl = zf.getinfo(f"{layout.prefix}/data.pkl")
        if pkl.file_size > MAX_PICKLE_BYTES or pkl.compress_type != zipfile.ZIP_STORED:
            return None
        byteorder = b"little"
        if f"{layout.prefix}/byteorder" in zf.namelist():
            byteorder = zf.read(f"{layout.prefix}/byteorder")
        if byteorder not in (b"little", b"big"):
            return None
        data = zf.read(pkl)
        if must_contain not in data:
            return None
        obj, storages = interpret(data)
        for st in storages.values():  # as torch: every record exists, stored, of the declared size
            info = zf.getinfo(f"{layout.prefix}/data/{st.key}")
            if info.compress_type != zipfile.ZIP_STORED or info.file_size != st.numel * st.itemsize:
                return None
    if type(obj) not in (dict, OrderedDict):
        return None
    refs: dict[str, TensorRef] = {}
    _flatten(obj, "", 0, refs)
    return StateDictArchive(p, layout.prefix, byteorder.decode(), refs)


def _flatten(obj: Mapping[str, Any], prefix: str, depth: int, out: dict[str, TensorRef]) -> None:
    if depth > MAX_DEPTH:
        raise Unsupported("dicts nested too deeply")
    for k, v in obj.items():
        if isinstance(v, TensorRef):
            out[prefix + k] = v
        elif type(v) in (dict, OrderedDict):
            _flatten(v, f"{prefix}{k}.", depth + 1, out)


def interpret(data: bytes) -> tuple[Any, dict[str, Storage]]:
    """Run the allowed subset of pickle opcodes over ``data``: the object and its storages by key.
    Raises Unsupported on anything else (also on malformed pickles)."""
    storages: dict[str, Storage] = {}
    try:
        return _run(data, storages), storages
    except (IndexError, KeyError, ValueError, TypeError, RecursionError) as err:
        raise Unsupported(f"malformed pickle ({type(err).__name__})") from None


def _run(data: bytes, storages: dict[str, Storage]) -> Any:
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}
    arg: Any
    for op, arg, _ in pickletools.genops(io.BytesIO(data)):
        name = op.name
        if name not in _OPS:
            raise Unsupported(f"opcode {name}")
        if name == "STOP":
            if len(stack) != 1 or marks:
                raise Unsupported("malformed pickle")
            return stack.pop()
        if name == "PROTO" and arg > 3:
            raise Unsupported(f"pickle protocol {arg}")
        if name == "MARK":
            marks.append(len(stack))
        elif name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name in ("TUPLE", "SETITEMS", "APPENDS"):
            k = marks.pop()
            items, stack[k:] = stack[k:], []
            if name == "TUPLE":
                stack.append(tuple(items))
            else:
                _add(stack[-1], items, pairs=name == "SETITEMS")
        elif name in ("SETITEM", "APPEND"):
            items = [stack.pop() for _ in range(2 if name == "SETITEM" else 1)][::-1]
            _add(stack[-1], items, pairs=name == "SETITEM")
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            if len(stack) - (marks[-1] if marks else 0) < n:
                raise Unsupported("stack underflow")
            items, stack[-n:] = stack[-n:], []
            stack.append(tuple(items))
        else:
            _simple(name, arg, stack, storages)
    raise Unsupported("no STOP")  # genops raises first; kept for the type checker


def _simple(name: str, arg: Any, stack: list[Any], storages: dict[str, Storage]) -> None:
    """Opcodes that push one value (or pop a few and push one)."""
    if name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"):
        stack.append({} if name == "EMPTY_DICT" else [] if name == "EMPTY_LIST" else ())
    elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
        stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
    elif name in ("BINUNICODE", "SHORT_BINUNICODE", "BININT", "BININT1", "BININT2", "LONG1"):
        stack.append(arg)
    elif name == "BINFLOAT":
        stack.append(float(arg))
    elif name == "GLOBAL":
        if arg not in _GLOBALS:
            raise Unsupported(f"global {arg}")
        stack.append(_GLOBALS[arg])
    elif name == "BINPERSID":
        stack.append(_storage(stack.pop(), storages))
    elif name == "REDUCE":
        args, fn = stack.pop(), stack.pop()
        stack.append(_reduce(fn, args))
    elif name == "BUILD":  # only an OrderedDict's attributes (state_dict()._metadata): ignored
        state = stack.pop()
        if type(stack[-1]) is not OrderedDict or type(state) is not dict:
            raise Unsupported("BUILD")
    elif name != "PROTO":
        raise Unsupported(f"opcode {name}")


def _add(target: Any, items: list[Any], *, pairs: bool) -> None:
    if pairs and type(target) in (dict, OrderedDict) and len(items) % 2 == 0:
        for k, v in zip(items[::2], items[1::2], strict=True):
            if type(k) is not str:
                raise Unsupported("a dict key that is not a string")
            target[k] = v
    elif not pairs and type(target) is list:
        target.extend(items)
    else:
        raise Unsupported("SETITEM(S)/APPEND(S) on an unexpected object")


def _is_int(x: Any, low: int = 0) -> bool:
    return type(x) is int and x >= low


def _storage(pid: Any, storages: dict[str, Storage]) -> Storage:
    """``('storage', torch.<Type>Storage, key, 'cpu', numel)`` → one Storage per key."""
    if type(pid) is not tuple or len(pid) != 5 or pid[0] != "storage":
        raise Unsupported("persistent id")
    _, kind, key, location, numel = pid
    if kind not in STORAGES or type(key) is not str or location != "cpu" or not _is_int(numel):
        raise Unsupported("persistent id")
    code, itemsize = STORAGES[kind]
    st = Storage(key, code, itemsize, numel)
    if storages.setdefault(key, st) != st:
        raise Unsupported(f"storage {key!r} declared twice with different types")
    return storages[key]


def _reduce(fn: Any, args: Any) -> Any:
    if type(args) is not tuple:
        raise Unsupported("REDUCE arguments")
    if fn is _ODICT and args == ():
        return OrderedDict()
    if fn is not _REBUILD or len(args) != 6:
        raise Unsupported("REDUCE")
    st, offset, shape, stride, requires_grad, hooks = args
    ok = (
        isinstance(st, Storage)
        and _is_int(offset)
        and type(shape) is tuple
        and type(stride) is tuple
        and len(shape) == len(stride) <= 64
        and all(_is_int(s) for s in shape + stride)
        and type(requires_grad) is bool
        and type(hooks) is OrderedDict
        and not hooks
    )
    if not ok:
        raise Unsupported("_rebuild_tensor_v2 arguments")
    numel = math.prod(shape)  # an empty view reads nothing (torch checks no offset either)
    last = offset + sum((n - 1) * s for n, s in zip(shape, stride, strict=True))
    if numel and last >= st.numel:
        raise Unsupported("view out of the storage's bounds")
    if numel > max(st.numel, MAX_BROADCAST):  # zero strides: a small array seen many times
        raise Unsupported("a view with far more elements than its storage")
    return TensorRef(st, offset, shape, stride)

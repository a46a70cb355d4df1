"""NumPy files: ``.npy``, ``.npz`` (``allow_pickle=False``) and plain pickles of numpy arrays.

A ``.npy`` header can claim any shape: the claimed size is checked against the bytes present before
anything is allocated. A plain pickle is read by :class:`ArrayUnpickler`, which resolves only
numpy's array, dtype and scalar reconstruction names (mapped to rnndyn's own checked builders) and
``collections.OrderedDict``; any other global, and object arrays, raise :class:`NotArrays` so the
caller refuses the file exactly as for any other pickle.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import re
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

import numpy as np

from rnndyn._util.text import printable
from rnndyn.errors import CheckpointError, RnndynError

MAX_DECOMPRESSED = 4 << 30  # total bytes an .npz may expand to
_SIMPLE_DTYPE = re.compile(r"^(?:[fiuc]\d{1,2}|b1|bool|float\d+|int\d+|uint\d+|complex\d+)$")


class NotArrays(Exception):
    """The pickle holds something other than numeric arrays and containers (``.found`` names it)."""

    def __init__(self, found: str, *, is_global: bool = False) -> None:
        self.found, self.is_global = found, is_global
        super().__init__(found)


def _dtype(spec: Any) -> np.dtype:
    """A numeric, non-structured dtype, else NotArrays."""
    if isinstance(spec, bytes):
        spec = spec.decode("latin-1")
    try:
        ok = isinstance(spec, (str, np.dtype)) and _SIMPLE_DTYPE.match(str(np.dtype(spec)))
    except TypeError:
        ok = False
    if not ok:
        what = printable(str(spec), 20)
        raise NotArrays(f"an array of Python objects or records (dtype {what})")
    return np.dtype(spec)


class _Dtype:
    """Stand-in for ``numpy.dtype(name, align, copy)``; ``__setstate__`` reads the byte order."""

    def __init__(self, name: Any, *_: Any) -> None:
        self.dtype = _dtype(name)

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 2:
            raise NotArrays("a malformed dtype")
        if len(state) > 3 and state[3] is not None:
            raise NotArrays("an array of records (structured dtype)")
        if state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


def _as_dtype(d: Any) -> np.dtype:
    if isinstance(d, _Dtype):
        return d.dtype
    raise NotArrays("an array whose dtype is not a plain numpy dtype")


def _from_bytes(raw: Any, dtype: np.dtype, shape: Any, fortran: bool) -> np.ndarray:
    if isinstance(raw, pickle.PickleBuffer):
        raw = bytes(raw.raw())
    if not isinstance(raw, (bytes, bytearray)):
        raise NotArrays("an array of Python objects")
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape) or math.prod(shape) * dtype.itemsize != len(raw):
        raise pickle.UnpicklingError("an array's data does not match its shape")
    arr = np.frombuffer(bytes(raw), dtype=dtype)
    return arr.reshape(shape, order="F" if fortran else "C").copy()


class _Array:
    """Stand-in for ``numpy.core.multiarray._reconstruct``; ``__setstate__`` builds the array."""

    def __init__(self, *_: Any) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) != 5:
            raise NotArrays("a malformed array")
        _version, shape, dtype, fortran, raw = state
        self.array = _from_bytes(raw, _as_dtype(dtype), shape, bool(fortran))


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: str) -> _Array:
    out = _Array()
    out.array = _from_bytes(buf, _as_dtype(dtype), shape, order == "F")
    return out


def _scalar(dtype: Any, raw: Any = b"") -> _Array:
    out = _Array()
    out.array = _from_bytes(raw, _as_dtype(dtype), (), False)
    return out


def _encode(text: Any, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: latin-1 text only."""
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise NotArrays("_codecs.encode with a non-latin-1 argument", is_global=True)
    return text.encode("latin-1")


_ALLOWED: dict[str, object] = {"collections.OrderedDict": OrderedDict, "_codecs.encode": _encode}
for _mod in ("numpy.core", "numpy._core"):
    _ALLOWED |= {
        f"{_mod}.multiarray._reconstruct": _Array,
        f"{_mod}.multiarray.scalar": _scalar,
        f"{_mod}.numeric._frombuffer": _frombuffer,
    }
_ALLOWED |= {"numpy.ndarray": _Array, "numpy.dtype": _Dtype}


class ArrayUnpickler(pickle.Unpickler):
    """Resolves only numpy's array/dtype/scalar names, to rnndyn's own checked builders."""

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full in _ALLOWED:
            return _ALLOWED[full]
        raise NotArrays(full, is_global=True)

    def persistent_load(self, pid: Any) -> Any:
        raise NotArrays("a persistent reference (not a plain pickle of arrays)")


def _arrays(obj: Any, depth: int = 0) -> Any:
    """Replace the stand-ins by their arrays inside dicts, lists and tuples."""
    if depth > 32:
        return None
    if isinstance(obj, _Array):
        return obj.array
    if isinstance(obj, dict):
        return {k: _arrays(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_arrays(v, depth + 1) for v in obj]
    if isinstance(obj, _Dtype):
        return None
    return obj


def has_arrays(obj: Any, depth: int = 0) -> bool:
    """True if a numeric array sits anywhere in the containers ``obj``."""
    if isinstance(obj, np.ndarray):
        return True
    if depth > 32:
        return False
    if isinstance(obj, dict):
        return any(has_arrays(v, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(has_arrays(v, depth + 1) for v in obj)
    return False


def read_array_pickle(path: Path) -> Any:
    """The containers of arrays in a plain pickle; NotArrays if it holds anything else."""
    from rnndyn.readers.pickle_scan import check_pickle

    with open(path, "rb") as f:
        check_pickle(f, os.fstat(f.fileno()).st_size, path)
        f.seek(0)
        try:
            return _arrays(ArrayUnpickler(f).load())
        except (NotArrays, RnndynError):
            raise
        except Exception as err:  # anything a damaged pickle makes the unpickler raise
            raise CheckpointError(
                f"the pickle is truncated or corrupt ({printable(str(err), 80) or type(err).__name__})",
                path=path,
            ) from None


def _npy_array(f: IO[bytes], available: int, path: Path, name: str) -> np.ndarray:
    """One ``.npy`` stream, its claimed size checked against the ``available`` bytes first."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(f)
    except (ValueError, OSError, SyntaxError, TypeError) as err:
        raise CheckpointError(
            f"{name}: not a valid .npy header ({printable(str(err), 80)})", path=path
        ) from None
    if dtype.hasobject:
        raise CheckpointError(
            f"{name} holds Python objects (dtype {dtype}), which rnndyn never unpickles",
            path=path,
            hint="Save numeric arrays (np.save with a float dtype).",
        )
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise CheckpointError(
            f"{name}: the .npy header claims shape {printable(str(shape), 80)}, which has a "
            "negative or non-integer dimension: the file is damaged or crafted",
            path=path,
        )
    need = math.prod(shape) * dtype.itemsize
    if need > available - f.tell():
        raise CheckpointError(
            f"{name} claims shape {shape} ({need} bytes) but holds only "
            f"{max(available - f.tell(), 0)} bytes of data: it is truncated or crafted",
            path=path,
        )
    data = f.read(need)
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return arr.astype(dtype.newbyteorder("="))  # a copy, in native byte order (big-endian too)


def read_npy(path: Path, size: int) -> dict[str, np.ndarray]:
    """``{file stem: array}`` from an ``.npy`` file."""
    with open(path, "rb") as f:
        arr = _npy_array(f, size, path, path.name)
    return {path.stem or "array": arr}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """``{member name: array}`` from an ``.npz`` archive (compressed or not), sizes bounded."""
    try:
        return _read_npz(path)
    except RnndynError:
        raise
    except Exception as err:  # zlib, CRC and zip-structure errors of a damaged archive
        raise CheckpointError(
            f"the .npz archive is truncated or corrupt ({printable(str(err), 80)})", path=path
        ) from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        total = sum(i.file_size for i in infos)
        if total > MAX_DECOMPRESSED:
            raise CheckpointError(
                f"the .npz archive expands to {total} bytes, over the {MAX_DECOMPRESSED} limit",
                path=path,
            )
        for info in infos:
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as member:
                data = member.read(info.file_size + 1)
            f = io.BytesIO(data)
            out[info.filename.removesuffix(".npy")] = _npy_array(f, len(data), path, info.filename)
    return out

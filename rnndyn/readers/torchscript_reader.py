"""TorchScript archives (``torch.jit.save``) read without running TorchScript.

``<prefix>/data.pkl`` pickles the module tree as ``__torch__.*`` objects whose state holds the
parameters; tensors are rebuilt from raw storages ``<prefix>/data/<key>`` through persistent ids.
:class:`ScriptUnpickler` maps every ``__torch__.*`` class to an inert :class:`ScriptObject` (it
records its state, runs nothing), rebuilds tensors with rnndyn's own bounds-checked builder and
resolves no other global except ``collections.OrderedDict`` and TorchScript's list/type-tag helpers.
The ``code/`` entries are never read.
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from rnndyn._util.text import printable
from rnndyn.errors import CheckpointError, RefusedError
from rnndyn.readers.pickle_scan import check_pickle

MAX_PICKLE_BYTES = 64 << 20
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class ScriptObject:
    """An inert record of one pickled ``__torch__.*`` object: its class name and state."""

    qualname = "__torch__"

    def __init__(self, *_: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _identity(value: Any, *_: Any) -> Any:
    return value


class _Storage:
    def __init__(self, data: bytes, dtype: torch.dtype) -> None:
        self.data, self.dtype = data, dtype


def _rebuild_tensor(storage: Any, offset: int, size: Any, stride: Any, *_: Any) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v2`` with the view checked against the storage first."""
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor without a storage")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or min(stride, default=0) < 0 or int(offset) < 0:
        raise pickle.UnpicklingError("a tensor with a malformed view")
    itemsize = torch.empty((), dtype=storage.dtype).element_size()
    numel = len(storage.data) // itemsize
    last = int(offset) + sum((n - 1) * s for n, s in zip(size, stride, strict=True) if n > 0)
    if math.prod(size) and last >= numel:
        raise pickle.UnpicklingError("a tensor view reaching past its storage")
    flat = torch.frombuffer(bytearray(storage.data), dtype=storage.dtype) if numel else None
    if flat is None:
        return torch.empty(size, dtype=storage.dtype)
    return flat.as_strided(size, stride, int(offset)).clone()


class ScriptUnpickler(pickle.Unpickler):
    """Unpickles ``data.pkl`` of a TorchScript archive into ScriptObjects and tensors."""

    def __init__(self, f: Any, zf: zipfile.ZipFile, prefix: str, path: Path) -> None:
        super().__init__(f)
        self.zf, self.prefix, self.path = zf, prefix, path
        self.classes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if module == "__torch__" or module.startswith("__torch__."):
            if full not in self.classes:
                self.classes[full] = type(name, (ScriptObject,), {"qualname": full})
            return self.classes[full]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if full in ("torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor"):
            return _rebuild_tensor
        if full == "torch._utils._rebuild_parameter":
            return _identity
        if full == "collections.OrderedDict":
            return OrderedDict
        if module == "torch.jit._pickle" and (
            name.startswith("build_") or name == "restore_type_tag"
        ):
            return _identity
        raise RefusedError(
            f"refused to load: the TorchScript archive references {printable(full, 80)}, which "
            "rnndyn's TorchScript reader does not map to data",
            path=self.path,
            hint="Nothing from the file was run. Re-save the weights with "
            "torch.save(model.state_dict(), PATH), or, only if you trust its source, rerun with "
            "--trust-pickle.",
        )

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError("an unknown persistent id")
        stype, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(stype, _StorageType):
            raise pickle.UnpicklingError("a storage of unknown type")
        name = f"{self.prefix}/data/{key}"
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise pickle.UnpicklingError(f"storage {key!r} is missing") from None
        itemsize = torch.empty((), dtype=stype.dtype).element_size()
        if info.file_size != numel * itemsize:
            raise pickle.UnpicklingError(
                f"storage {key!r} holds {info.file_size} bytes, not {numel}×{itemsize}"
            )
        with self.zf.open(info) as f:
            return _Storage(f.read(info.file_size), stype.dtype)


def _flatten(obj: Any, prefix: str, out: dict[str, torch.Tensor], depth: int = 0) -> None:
    """Parameters and buffers of the module tree as dotted keys (``enc.weight_hh_l0``)."""
    if depth > 64:
        return
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
        return
    if isinstance(obj, ScriptObject):
        obj = obj.state
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, str) and k != "training" and not k.startswith("_flat_weight"):
                _flatten(v, f"{prefix}.{k}" if prefix else k, out, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _flatten(v, f"{prefix}.{i}" if prefix else str(i), out, depth + 1)


def read_torchscript(path: Path, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """``(tensors by attribute path, {"module_class": root class})`` from a TorchScript archive."""
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(f"{prefix}/data.pkl")
            if info.file_size > MAX_PICKLE_BYTES:
                raise CheckpointError("the TorchScript module tree is too large", path=path)
            data = zf.read(info)
            check_pickle(io.BytesIO(data), len(data), path, "its module tree (data.pkl)")
            with io.BytesIO(data) as f:
                unpickler = ScriptUnpickler(f, zf, prefix, path)
                root = unpickler.load()
    except (CheckpointError, RefusedError):
        raise
    except Exception as err:
        raise CheckpointError(
            f"the TorchScript archive is truncated or corrupt ({printable(str(err), 100)})",
            path=path,
            hint="Save or download the file again.",
        ) from None
    out: dict[str, torch.Tensor] = {}
    _flatten(root, "", out)
    cls = getattr(root, "qualname", "") if isinstance(root, ScriptObject) else ""
    return out, ({"module_class": cls.removeprefix("__torch__.")} if cls else {})

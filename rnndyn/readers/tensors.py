"""A checkpoint's tensors as NumPy arrays or torch tensors, so that reading needs torch only for torch files.

Readers of NumPy, ONNX, Keras, Flax and safetensors files hand back NumPy arrays; torch files hand
back tensors. ``TensorMap`` keeps whichever it was given: ``raw``/``array``/``shape`` never import
torch, while ``tensors[key]`` (the ``Mapping`` interface every simulation uses) returns a torch
tensor, converting an array once (``torch.from_numpy``, shared memory) on first access. The helpers
below (``shape``, ``float64``, ``is_array``) work on either kind without importing torch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np


def torch_module() -> Any:
    """``torch`` if something already imported it, else None (an object cannot be a torch tensor
    before torch is imported: checks need not import it)."""
    return sys.modules.get("torch")


def is_tensor(obj: Any) -> bool:
    torch = torch_module()
    return torch is not None and isinstance(obj, torch.Tensor)


def shape(t: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape)


def float64(t: Any) -> np.ndarray:
    """``t`` (array or tensor, any float dtype incl. bfloat16) as a float64 NumPy array."""
    if isinstance(t, np.ndarray):
        return np.asarray(t, dtype=np.float64)
    return t.detach().double().numpy()


def to_tensor(a: Any) -> Any:
    """A torch tensor for ``a`` (imports torch)."""
    import torch

    if isinstance(a, torch.Tensor):
        return a
    arr = np.asarray(a)
    if not arr.flags.writeable:  # torch.from_numpy warns on read-only arrays
        arr = arr.copy()
    return torch.from_numpy(arr)


class TensorMap(Mapping[str, Any]):
    """``{key: torch.Tensor}`` on access; arrays stay NumPy until a caller asks for a tensor."""

    __slots__ = ("_raw", "_torch")

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._raw: dict[str, object] = dict(
            items.raw_items() if isinstance(items, TensorMap) else (items or {}).items()
        )
        self._torch: dict[str, object] = {}

    def __getitem__(self, key: str) -> Any:
        value = self._raw[key]
        if isinstance(value, np.ndarray):
            if key not in self._torch:
                self._torch[key] = to_tensor(value)
            return self._torch[key]
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __repr__(self) -> str:
        return f"TensorMap({len(self)} tensors)"

    def raw(self, key: str) -> Any:
        """The stored value: a NumPy array or a torch tensor (nothing converted)."""
        return self._raw[key]

    def raw_items(self) -> Iterator[tuple[str, Any]]:
        return iter(self._raw.items())

    def shape(self, key: str) -> tuple[int, ...]:
        return shape(self._raw[key])

    def array(self, key: str) -> np.ndarray:
        """The value as float64 NumPy (torch imported only if it is stored as a tensor)."""
        return float64(self._raw[key])

    def numel(self) -> int:
        return sum(int(np.prod(shape(v))) for v in self._raw.values())


def raw(tensors: Mapping[str, Any], key: str) -> Any:
    """``tensors[key]`` without converting an array to a tensor."""
    return tensors.raw(key) if isinstance(tensors, TensorMap) else tensors[key]


def raw_items(tensors: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    return tensors.raw_items() if isinstance(tensors, TensorMap) else iter(tensors.items())


def shapes(tensors: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Every key's shape, in key order (nothing converted, torch not imported)."""
    return {k: shape(v) for k, v in raw_items(tensors)}


def view_id(t: Any) -> tuple[Any, ...]:
    """What a stored array or tensor shows: its memory, offset, shape, stride and dtype (equal ids,
    equal values), without importing torch for NumPy arrays."""
    if isinstance(t, np.ndarray):
        return (t.__array_interface__["data"][0], 0, t.shape, t.strides, str(t.dtype))
    return (
        t.untyped_storage().data_ptr(),
        t.storage_offset(),
        tuple(t.shape),
        t.stride(),
        t.dtype,
    )


def dtype_name(t: Any) -> str:
    """``"float32"``, ``"bfloat16"``, …: a tensor's or an array's dtype without the ``torch.``."""
    return str(t.dtype).removeprefix("torch.")


def read_float64(
    tensors: Mapping[str, Any],
    keys: Iterable[str],
    *,
    check: Callable[[Mapping[str, Any]], object] | None = None,
    cache: dict[tuple[Any, ...], np.ndarray] | None = None,
) -> dict[str, tuple[np.ndarray, str]]:
    """``{key: (float64 array, stored dtype)}`` for the ``keys`` present, read in one pass.

    ``check(raw)`` sees the stored values first (e.g. ``validate.check_weights``); ``cache`` holds one
    float64 array per distinct view, so keys (or modules) viewing one storage share one copy.
    """
    stored = {k: raw(tensors, k) for k in keys if k in tensors}
    if check is not None:
        check(stored)
    cache = {} if cache is None else cache
    out = {}
    for key, t in stored.items():
        vid = view_id(t)
        if vid not in cache:
            cache[vid] = float64(t)
        out[key] = (cache[vid], dtype_name(t))
    return out


def zeros_like(t: Any) -> Any:
    """Zeros of ``t``'s kind (array or tensor), dtype and shape."""
    if isinstance(t, np.ndarray):
        return np.zeros_like(t)
    import torch

    return torch.zeros_like(t)

"""Flax ``flax.serialization.to_bytes`` files (msgpack), read with ``msgpack`` and numpy — no JAX.

Arrays are msgpack extension type 1 holding ``(shape, dtype name, C-order bytes)`` (3: a numpy
scalar in the same form). Cells are found by the names of their dense sub-modules, kernels
``(in, out)`` transposed to PyTorch's ``(out, in)``:

* ``LSTMCell`` / ``OptimizedLSTMCell``: ``ii, if, ig, io`` (input, usually no bias) and
  ``hi, hf, hg, ho`` (hidden, with bias) — PyTorch's ``i, f, g, o``;
* ``GRUCell``: ``ir, iz, in`` and ``hr, hz, hn`` — ``n = tanh(x W_in + b_in + r⊙(h W_hn + b_hn))``,
  PyTorch's form;
* ``SimpleCell``: ``i`` and ``h`` — ``h' = tanh(x W_i + h W_h + b)``.

A missing bias reads as zeros. Chunked arrays (> 2 GiB) are refused.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from rnndyn._util.text import printable
from rnndyn.errors import CheckpointError
from rnndyn.readers.foreign import ForeignWeights, require, tensor

MAX_DEPTH = 64
_DTYPES = {"float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64",
           "uint8", "uint16", "uint32", "uint64", "bool"}  # fmt: skip
_CELLS = {
    "lstm": (("ii", "if", "ig", "io"), ("hi", "hf", "hg", "ho")),
    "gru": (("ir", "iz", "in"), ("hr", "hz", "hn")),
    "rnn": (("i",), ("h",)),
}


class _Bad(Exception):
    pass


def _array(msgpack: Any, data: bytes) -> np.ndarray:
    shape, name, buf = msgpack.unpackb(data, raw=True)
    name = name.decode() if isinstance(name, bytes) else str(name)
    if name not in _DTYPES or not isinstance(buf, bytes):
        raise _Bad(f"an array of dtype {printable(name, 20)!r}")
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype("uint16") if name == "bfloat16" else np.dtype(name)
    if any(s < 0 for s in shape) or math.prod(shape) * dtype.itemsize != len(buf):
        raise _Bad("an array whose bytes do not match its shape")
    arr = np.frombuffer(buf, dtype=dtype).reshape(shape)
    if name == "bfloat16":
        return (arr.astype(np.uint32) << 16).view(np.float32).reshape(shape)
    return arr.copy()


def _ext_hook(msgpack: Any):
    def hook(code: int, data: bytes) -> Any:
        if code == 1:
            return _array(msgpack, data)
        if code == 3:
            return _array(msgpack, data)[()]
        if code == 2:
            return None  # a Python complex number: not a weight
        raise _Bad(f"msgpack extension type {code}")

    return hook


def _dense(tree: dict[str, object], name: str) -> tuple[np.ndarray, np.ndarray | None] | None:
    sub = tree.get(name)
    if not isinstance(sub, dict) or not isinstance(sub.get("kernel"), np.ndarray):
        return None
    bias = sub.get("bias")
    return sub["kernel"], bias if isinstance(bias, np.ndarray) else None


def _stack(parts: list[tuple[np.ndarray, np.ndarray | None]], width: int, bias: bool):
    """Row-stacked PyTorch weights (``kernel.T`` per gate) and biases (zeros where missing)."""
    w = np.concatenate([tensor(k.T) for k, _ in parts], axis=0)
    if not bias:
        return w
    return np.concatenate(
        [tensor(b) if b is not None else np.zeros(width, np.float32) for _, b in parts]
    )


def _cell(out: ForeignWeights, name: str, arch: str, tree: dict[str, object]) -> bool:
    ins, hids = _CELLS[arch]
    hidden = [_dense(tree, n) for n in hids]
    inputs = [_dense(tree, n) for n in ins]
    if any(h is None for h in hidden):
        return False
    hh = [h for h in hidden if h is not None]
    width = hh[0][0].shape[1]
    if any(k.shape != (width, width) for k, _ in hh):
        raise CheckpointError(
            f"Flax cell {name!r}: hidden kernels are not all {width}×{width}", path=None
        )
    order = {"lstm": "ifgo", "gru": "rzn", "rnn": "h"}[arch]
    w_ih = b_ih = None
    if all(i is not None for i in inputs):
        ii = [i for i in inputs if i is not None]
        w_ih, b_ih = _stack(ii, width, False), _stack(ii, width, True)
    out.add_layer(
        name,
        arch,
        order,
        w_hh=_stack(hh, width, False),
        w_ih=w_ih,
        b_ih=b_ih,
        b_hh=_stack(hh, width, True),
        source=f"Flax cell {name!r}",
        parts={
            "weight_hh": "/".join(f"{n}.kernel.T" for n in hids),
            "weight_ih": "/".join(f"{n}.kernel.T" for n in ins),
            "bias_ih": "/".join(f"{n}.bias" for n in ins) + " (zeros where absent)",
            "bias_hh": "/".join(f"{n}.bias" for n in hids) + " (zeros where absent)",
        },
    )
    gates = {"lstm": "Flax ii/if/ig/io + hi/hf/hg/ho = PyTorch i,f,g,o",
             "gru": "Flax ir/iz/in + hr/hz/hn → PyTorch r,z,n",
             "rnn": "Flax SimpleCell i + h"}[arch]  # fmt: skip
    out.note(name, framework="flax", gates=gates, nonlinearity="tanh" if arch == "rnn" else None)
    return True


def _find_cells(out: ForeignWeights, tree: Any, path: tuple[str, ...], depth: int = 0) -> None:
    if depth > MAX_DEPTH or not isinstance(tree, dict):
        return
    if "__msgpack_chunked_array__" in tree:
        raise _Bad("a chunked array (over 2 GiB)")
    name = ".".join(p for p in path if p != "params")
    for arch in ("lstm", "gru", "rnn"):
        if _cell(out, name, arch, tree):
            return
    for key, value in tree.items():
        _find_cells(out, value, (*path, str(key)), depth + 1)


def read_flax(path: Path, size: int) -> ForeignWeights:
    """Every Flax recurrent cell in a msgpack file, in PyTorch's names."""
    msgpack = require("msgpack", "flax", "Flax msgpack", path)
    try:
        with open(path, "rb") as f:
            tree = msgpack.unpackb(
                f.read(), ext_hook=_ext_hook(msgpack), raw=False, strict_map_key=False
            )
        out = ForeignWeights("flax-msgpack")
        _find_cells(out, tree, ())
    except _Bad as err:
        raise CheckpointError(f"the Flax msgpack file holds {err}", path=path) from None
    except CheckpointError as err:
        raise CheckpointError(err.problem, path=path) from None
    except Exception as err:
        raise CheckpointError(
            f"it is not a readable msgpack file ({printable(str(err), 100) or type(err).__name__})",
            path=path,
        ) from None
    if not out.tensors:
        raise CheckpointError(
            "the msgpack file holds no Flax recurrent cell (LSTMCell, GRUCell, SimpleCell)",
            path=path,
        )
    return out

"""ONNX models: graph initializers (subgraphs included) and native ``RNN``/``LSTM``/``GRU`` nodes.

Native nodes are read from their ``W`` (D, G·H, in), ``R`` (D, G·H, H) and ``B`` (D, 2·G·H)
inputs and converted to PyTorch's names and gate order: LSTM ``i, o, f, c`` → ``i, f, g, o``,
GRU ``z, r, h`` → ``r, z, n``; ``B`` = ``[Wb; Rb]`` → ``bias_ih``, ``bias_hh``; direction index 0 is
forward, 1 reverse. A GRU with ``linear_before_reset = 0`` (ONNX's default) applies the reset gate
before the recurrent product — not PyTorch's form: its operators are analysed, and the
simulation note says so. Peepholes, ``input_forget``, ``clip`` and non-default activations
likewise. Other initializers keep their names (PyTorch exports often keep ``*.weight_hh_l0``).
External data is read only from files inside the model's own folder, with checked sizes. The file
is decoded by :mod:`rnndyn.readers.onnx_proto` — the ``onnx`` package is not imported (it costs more
than the whole analysis of a small network).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rnndyn._util.text import printable
from rnndyn.errors import CheckpointError, RnndynError
from rnndyn.readers import onnx_proto as proto
from rnndyn.readers.foreign import MAX_ARRAY_BYTES, ForeignWeights, tensor

_ORDERS = {"RNN": ("rnn", "h"), "LSTM": ("lstm", "iofc"), "GRU": ("gru", "zrh")}
_DEFAULT_ACTS = {"RNN": ["tanh"], "LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}
MAX_GRAPH_DEPTH = proto.MAX_GRAPH_DEPTH


def _walk(graph: proto.Graph, depth: int = 0) -> Iterator[proto.Graph]:
    """Every (sub)graph of ``graph``: If/Loop/Scan bodies included."""
    yield graph
    if depth >= MAX_GRAPH_DEPTH:
        return
    for node in graph.node:
        for attr in node.attribute:
            if attr.g is not None:
                yield from _walk(attr.g, depth + 1)
            for g in attr.graphs:
                yield from _walk(g, depth + 1)


def _external_bytes(t: proto.Tensor, path: Path) -> bytes:
    """The bytes of an external-data tensor, read only from inside the model's folder."""
    info = {e.key: e.value for e in t.external_data}
    base = path.parent.resolve()
    target = (base / info.get("location", "")).resolve()
    if not target.is_relative_to(base) or not target.is_file() or target == path.resolve():
        raise CheckpointError(
            f"initializer {printable(t.name, 60)!r} points at external data "
            f"{printable(info.get('location', ''), 80)!r} outside the model's folder (or missing)",
            path=path,
            hint="External data must sit beside the .onnx file.",
        )
    offset, given = int(info.get("offset", 0)), info.get("length")
    size = target.stat().st_size
    length = size - offset if given is None else int(given)
    if offset < 0 or length < 0 or offset + length > size or length > MAX_ARRAY_BYTES:
        raise CheckpointError(
            f"initializer {printable(t.name, 60)!r}: external data range is outside its file",
            path=path,
        )
    with open(target, "rb") as f:
        f.seek(offset)
        return f.read(length)


def _array(t: proto.Tensor, path: Path) -> np.ndarray:
    dims = [int(d) for d in t.dims]
    if t.data_type not in proto.DTYPES:
        raise CheckpointError(
            f"initializer {printable(t.name, 60)!r} has ONNX data type {t.data_type}, which "
            "rnndyn does not read (floating-point, integer and bool tensors only)",
            path=path,
        )
    need = math.prod(dims) * proto.itemsize(t.data_type)
    if any(d < 0 for d in dims) or need > MAX_ARRAY_BYTES:
        raise CheckpointError(
            f"initializer {printable(t.name, 60)!r} claims shape {dims}, too large or invalid",
            path=path,
        )
    raw = None
    if t.data_location == proto.EXTERNAL:
        raw = _external_bytes(t, path)
        if len(raw) != need:
            raise CheckpointError(
                f"initializer {printable(t.name, 60)!r}: external data holds {len(raw)} bytes, "
                f"its shape {dims} needs {need}",
                path=path,
            )
    return proto.to_array(t, raw)


_FLOATS = (1, 10, 11, 16)  # TensorProto FLOAT, FLOAT16, DOUBLE, BFLOAT16


def _constants(model: proto.Model, path: Path) -> tuple[dict[str, proto.Tensor], list[str]]:
    """Initializer and ``Constant``-node tensors of every (sub)graph by name, and the names of
    the floating-point initializers (the weights kept under their own names)."""
    out: dict[str, proto.Tensor] = {}
    weights: list[str] = []
    for g in _walk(model.graph):
        for t in g.initializer:
            out.setdefault(t.name, t)
            if t.data_type in _FLOATS and len(t.dims) >= 1:
                weights.append(t.name)
        for node in g.node:
            if node.op_type == "Constant" and node.output:
                for a in node.attribute:
                    if a.name == "value" and a.t is not None:
                        out.setdefault(node.output[0], a.t)
    return out, weights


def _attrs(node: proto.Node) -> dict[str, object]:
    out = {a.name: proto.attribute_value(a) for a in node.attribute}

    def text(v: Any) -> Any:
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else v

    return {k: [text(x) for x in v] if isinstance(v, list) else text(v) for k, v in out.items()}


def _module_name(node: proto.Node, index: int, used: dict[str, int]) -> tuple[str, int]:
    """``(module name, layer)`` as PyTorch would give them, so one network reads alike from
    either file: ``torch.onnx.export`` names a node by its scope and splits a stack into one node
    per layer, so ``/enc/lstm/LSTM``, ``/enc/lstm/LSTM_1`` → ``enc.lstm`` layers 0, 1 and
    ``/GRU`` → ``""`` (the root module). Other names are kept, made identifier-safe, one module
    each; a nameless node is ``lstm_0``. The ONNX names are recorded (conventions ``onnx_node``)."""
    parts = [p for p in str(node.name).split("/") if p]
    op = node.op_type
    if str(node.name).startswith("/") and parts and re.fullmatch(rf"{op}(_\d+)?", parts[-1]):
        base = ".".join(re.sub(r"[^A-Za-z0-9_]+", "_", p).strip("_") for p in parts[:-1])
        layer = used.get(f"scope:{base}", 0)  # the exporter emits a stack's layers in order
        used[f"scope:{base}"] = layer + 1
        if layer:
            return base, layer
    else:
        base = re.sub(r"[^A-Za-z0-9_]+", "_", node.name).strip("_") or f"{op.lower()}_{index}"
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}_{k}" if base else f"{op.lower()}_{k}"
    used[name] = 1
    return name, 0


def _native_node(
    node: proto.Node,
    name: str,
    consts: dict[str, proto.Tensor],
    out: ForeignWeights,
    path: Path,
    layer: int = 0,
) -> list[str]:
    """Convert one RNN/LSTM/GRU node; returns the initializer names it consumed."""
    arch, order = _ORDERS[node.op_type]
    ins = list(node.input) + [""] * 8
    w_name, r_name, b_name, p_name = ins[1], ins[2], ins[3], ins[7]
    if r_name not in consts:
        out.note(name, framework="onnx", simulation="its R input is computed, not stored")
        return []
    attrs = _attrs(node)
    arr = {n: _array(consts[n], path) for n in (w_name, r_name, b_name) if n in consts}
    r = arr[r_name]
    direction = attrs.get("direction", "forward")
    if r.ndim != 3 or r.shape[0] != (2 if direction == "bidirectional" else 1):
        raise CheckpointError(
            f"ONNX {node.op_type} node {name!r}: R has shape {r.shape}, expected "
            "(num_directions, G·H, H)",
            path=path,
        )
    kh = r.shape[1]
    for d in range(r.shape[0]):
        w = tensor(arr[w_name][d]) if w_name in arr else None
        b = tensor(arr[b_name][d]) if b_name in arr else None
        out.add_layer(
            name,
            arch,
            order,
            w_hh=tensor(r[d]),
            w_ih=w,
            b_ih=None if b is None else b[:kh],
            b_hh=None if b is None else b[kh:],
            layer=layer,
            reverse=d == 1,
            source=f"ONNX {node.op_type} node {printable(node.name, 60)!r}",
            parts={
                "weight_hh": f"R[{d}]",
                "weight_ih": f"W[{d}]",
                "bias_ih": f"B[{d}][:{kh}]",
                "bias_hh": f"B[{d}][{kh}:]",
            },
        )
    _note_node(node, name, arch, attrs, p_name in consts, out)
    return [n for n in (w_name, r_name, b_name, p_name) if n in consts]


def _int(attrs: dict[str, object], name: str) -> int:
    """An integer ONNX attribute (0 when absent)."""
    value = attrs.get(name, 0)
    return int(value) if isinstance(value, int | float | str) else 0


def _note_node(
    node: proto.Node,
    name: str,
    arch: str,
    attrs: dict[str, object],
    peep: bool,
    out: ForeignWeights,
) -> None:
    given = attrs.get("activations")
    acts = [str(a).lower() for a in given] if isinstance(given, list) else []
    per_dir = len(_DEFAULT_ACTS[node.op_type])
    facts: dict[str, object] = {
        "framework": "onnx",
        "gates": {
            "RNN": "single block",
            "LSTM": "ONNX i,o,f,c → PyTorch i,f,g,o",
            "GRU": "ONNX z,r,h → PyTorch r,z,n",
        }[node.op_type],
        "direction": attrs.get("direction", "forward"),
        "onnx_node": ", ".join(
            dict.fromkeys(
                filter(None, [str(out.conventions.get(name, {}).get("onnx_node") or ""), node.name])
            )
        ),
    }
    if attrs.get("direction") == "reverse":
        facts["direction"] = "reverse (the layer reads its input backwards in time)"
    if node.op_type == "RNN":
        facts["nonlinearity"] = acts[0] if acts else "tanh"
        if facts["nonlinearity"] not in ("tanh", "relu"):
            out.note(
                name, simulation=f"activation {facts['nonlinearity']} (PyTorch RNNs: tanh/relu)"
            )
    elif acts and acts[:per_dir] != _DEFAULT_ACTS[node.op_type]:
        out.note(name, simulation=f"non-default activations {acts}")
    if node.op_type == "GRU":
        lbr = _int(attrs, "linear_before_reset")
        facts["linear_before_reset"] = lbr
        if not lbr:
            out.note(
                name,
                simulation="ONNX GRU with linear_before_reset=0 applies the reset gate before the "
                "recurrent product (h̃ = tanh(W_h x + R_h (r⊙h) + b)), which PyTorch's GRU cannot run",
            )
    if peep:
        out.note(name, simulation="LSTM peepholes (input P) have no PyTorch counterpart")
    if _int(attrs, "input_forget"):
        out.note(name, simulation="input_forget=1 couples the input and forget gates")
    if "clip" in attrs:
        out.note(name, simulation=f"cell clipping (clip={attrs['clip']})")
    out.note(name, **facts)


def _convert(model: proto.Model, path: Path) -> ForeignWeights:
    consts, weights = _constants(model, path)
    out = ForeignWeights("onnx", metadata={"producer": printable(model.producer_name, 40)})
    used_names: dict[str, int] = {}
    consumed: set[str] = set()
    index = 0
    for g in _walk(model.graph):
        for node in g.node:
            if node.op_type in _ORDERS and node.domain in ("", "ai.onnx"):
                name, layer = _module_name(node, index, used_names)
                consumed |= set(_native_node(node, name, consts, out, path, layer))
                index += 1
    for key in weights:
        if key not in consumed and key not in out.tensors:
            out.tensors[key] = tensor(_array(consts[key], path))
    return out


def read_onnx(path: Path, size: int) -> ForeignWeights:
    """Every recurrent layer and initializer of an ONNX model, in PyTorch's names."""
    try:
        model = proto.parse_model(path.read_bytes())
    except Exception as err:
        raise CheckpointError(
            f"it is not a readable ONNX model ({printable(str(err), 100) or type(err).__name__})",
            path=path,
            hint="Export or download the model again.",
        ) from None
    try:
        return _convert(model, path)
    except RnndynError:
        raise
    except Exception as err:  # malformed attributes, dtypes or shapes in a damaged model
        raise CheckpointError(
            f"the ONNX model is malformed ({printable(str(err), 100) or type(err).__name__})",
            path=path,
        ) from None

"""A small, bounded decoder for the parts of an ONNX file the ONNX reader needs, without ``onnx``.

``import onnx`` costs over a second (most of it ``ml_dtypes``), more than reading and
eigendecomposing a network, so :mod:`rnndyn.readers.onnx_reader` decodes the protobuf wire format
itself: ``ModelProto`` → ``GraphProto`` → ``NodeProto`` / ``AttributeProto`` / ``TensorProto``
(field numbers from ONNX's ``onnx.proto``), every other field framed and skipped. The file is
untrusted: every length is checked against what is left of its message, varints are at most
10 bytes, graphs nest at most ``MAX_GRAPH_DEPTH`` deep (deeper ones are kept empty: the reader
never walks them), tensor payloads stay unparsed slices until :func:`to_array` checks their size,
and all work is linear in the file size. Anything malformed raises :class:`ProtoError`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

#: How deep graphs inside node attributes (If/Loop/Scan bodies) are decoded.
MAX_GRAPH_DEPTH = 16

# TensorProto.DataType
FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, STRING, BOOL = 1, 2, 3, 4, 5, 6, 7, 8, 9
FLOAT16, DOUBLE, UINT32, UINT64, COMPLEX64, COMPLEX128, BFLOAT16 = 10, 11, 12, 13, 14, 15, 16
EXTERNAL = 1  # TensorProto.DataLocation

# AttributeProto.AttributeType
A_UNDEFINED, A_FLOAT, A_INT, A_STRING, A_TENSOR, A_GRAPH = 0, 1, 2, 3, 4, 5
A_FLOATS, A_INTS, A_STRINGS, A_TENSORS, A_GRAPHS = 6, 7, 8, 9, 10
A_SPARSE_TENSOR, A_SPARSE_TENSORS, A_TYPE_PROTO, A_TYPE_PROTOS = 11, 12, 13, 14
_ATTR_TYPES = frozenset(range(15))

#: numpy dtype of each supported data type (BFLOAT16 is returned widened to float32).
DTYPES: dict[int, np.dtype] = {
    FLOAT: np.dtype("<f4"),
    UINT8: np.dtype("u1"),
    INT8: np.dtype("i1"),
    UINT16: np.dtype("<u2"),
    INT16: np.dtype("<i2"),
    INT32: np.dtype("<i4"),
    INT64: np.dtype("<i8"),
    BOOL: np.dtype("?"),
    FLOAT16: np.dtype("<f2"),
    DOUBLE: np.dtype("<f8"),
    UINT32: np.dtype("<u4"),
    UINT64: np.dtype("<u8"),
    COMPLEX64: np.dtype("<c8"),
    COMPLEX128: np.dtype("<c16"),
    BFLOAT16: np.dtype("<u2"),  # stored as 16-bit patterns
}


class ProtoError(ValueError):
    """The bytes are not a well-formed ONNX protobuf message (or use an unsupported encoding)."""


Chunks = tuple[tuple[int, memoryview], ...]  # (wire type, payload) of a repeated scalar field


@dataclass(frozen=True, slots=True)
class StringStringEntry:
    key: str = ""
    value: str = ""


@dataclass(frozen=True, slots=True)
class Tensor:
    """``TensorProto``: the data fields stay undecoded until :func:`to_array`."""

    name: str = ""
    dims: tuple[int, ...] = ()
    data_type: int = 0
    data_location: int = 0
    external_data: tuple[StringStringEntry, ...] = ()
    raw_data: memoryview | None = None
    has_segment: bool = False
    float_data: Chunks = ()
    int32_data: Chunks = ()
    int64_data: Chunks = ()
    double_data: Chunks = ()
    uint64_data: Chunks = ()
    has_string_data: bool = False


@dataclass(frozen=True, slots=True)
class Opaque:
    """A field the reader never looks into (sparse tensors, type protos): its bytes."""

    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Attribute:
    """``AttributeProto``."""

    name: str = ""
    ref_attr_name: str = ""
    type: int = A_UNDEFINED
    f: float = 0.0
    i: int = 0
    s: bytes = b""
    t: Tensor | None = None
    g: Graph | None = None
    sparse_tensor: Opaque | None = None
    tp: Opaque | None = None
    floats: tuple[float, ...] = ()
    ints: tuple[int, ...] = ()
    strings: tuple[bytes, ...] = ()
    tensors: tuple[Tensor, ...] = ()
    graphs: tuple[Graph, ...] = ()
    sparse_tensors: tuple[Opaque, ...] = ()
    type_protos: tuple[Opaque, ...] = ()


@dataclass(frozen=True, slots=True)
class Node:
    """``NodeProto``."""

    input: tuple[str, ...] = ()
    output: tuple[str, ...] = ()
    name: str = ""
    op_type: str = ""
    domain: str = ""
    attribute: tuple[Attribute, ...] = ()


@dataclass(frozen=True, slots=True)
class Graph:
    """``GraphProto`` (``truncated``: nested deeper than ``MAX_GRAPH_DEPTH``, left undecoded)."""

    node: tuple[Node, ...] = ()
    name: str = ""
    initializer: tuple[Tensor, ...] = ()
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Model:
    """``ModelProto``."""

    ir_version: int = 0
    producer_name: str = ""
    graph: Graph = Graph()


# ----------------------------------------------------------------------------- wire format

_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    """A varint at ``pos`` (at most 10 bytes, within ``end``) as an unsigned 64-bit value."""
    result = shift = 0
    for k in range(10):
        if pos + k >= end:
            raise ProtoError(f"truncated varint at byte {pos}")
        b = buf[pos + k]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos + k + 1
        shift += 7
    raise ProtoError(f"varint longer than 10 bytes at byte {pos}")


def _signed(v: int, bits: int = 64) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _fields(buf: memoryview):
    """``(field number, wire type, value)`` of each field: an int for varints, a memoryview
    for the other wire types. Groups are refused (ONNX has none)."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError(f"field number 0 at byte {pos}")
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value
            continue
        if wire == _LEN:
            size, pos = _varint(buf, pos, end)
        elif wire == _I64:
            size = 8
        elif wire == _I32:
            size = 4
        else:
            raise ProtoError(f"unsupported wire type {wire} (field {number}) at byte {pos}")
        if size > end - pos:
            raise ProtoError(f"field {number} claims {size} bytes, only {end - pos} are left")
        yield number, wire, buf[pos : pos + size]
        pos += size


def _text(b: memoryview) -> str:
    return bytes(b).decode("utf-8", "replace")


def _joined(parts: list[memoryview]) -> memoryview:
    """A singular message field given several times merges (protobuf: parse the concatenation)."""
    return parts[0] if len(parts) == 1 else memoryview(b"".join(parts))


def _varints(chunks: Chunks) -> list[int]:
    """The unsigned values of a repeated varint field, packed or not."""
    out: list[int] = []
    for _, data in chunks:
        pos, end = 0, len(data)
        while pos < end:
            v, pos = _varint(data, pos, end)
            out.append(v)
    return out


def _fixed(chunks: Chunks, dtype: np.dtype | str, what: str) -> np.ndarray:
    """A repeated fixed-width field (float, double), packed or not, as one array of ``dtype``."""
    return _frombuffer(b"".join(bytes(d) for _, d in chunks), np.dtype(dtype), what)


def _frombuffer(data: bytes | memoryview, dtype: np.dtype, what: str) -> np.ndarray:
    if len(data) % dtype.itemsize:
        raise ProtoError(f"{what}: {len(data)} bytes is not a whole number of {dtype} values")
    return np.frombuffer(data, dtype=dtype)


def _floats(chunks: Chunks) -> tuple[float, ...]:
    return tuple(float(x) for x in _fixed(chunks, "<f4", "a float list"))


def _repeated(chunks: list[tuple[int, memoryview]], wire: int, value: Any, scalar: int) -> None:
    """Collect one occurrence of a repeated scalar field (``scalar``: its element wire type);
    an unpacked varint is re-encoded so every chunk reads as packed data."""
    if wire == _LEN or (wire == scalar and wire != _VARINT):
        chunks.append((wire, value))
    elif wire == scalar:
        chunks.append((_LEN, memoryview(_encode_varint(value))))


def _encode_varint(v: int) -> bytes:
    """Re-encode an unpacked varint so it reads like one packed element."""
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


# ----------------------------------------------------------------------------- messages


def _entry(buf: memoryview) -> StringStringEntry:
    key = value = ""
    for number, wire, v in _fields(buf):
        if wire == _LEN and number == 1:
            key = _text(v)
        elif wire == _LEN and number == 2:
            value = _text(v)
    return StringStringEntry(key, value)


def _tensor(buf: memoryview) -> Tensor:
    fields: dict[str, Any] = {}
    dims: list[tuple[int, memoryview]] = []
    data: dict[str, list[tuple[int, memoryview]]] = {
        "float_data": [],
        "int32_data": [],
        "int64_data": [],
        "double_data": [],
        "uint64_data": [],
    }
    scalars = {4: ("float_data", _I32), 5: ("int32_data", _VARINT), 7: ("int64_data", _VARINT)}
    scalars |= {10: ("double_data", _I64), 11: ("uint64_data", _VARINT)}
    external: list[StringStringEntry] = []
    for number, wire, v in _fields(buf):
        if number == 1:
            _repeated(dims, wire, v, _VARINT)
        elif number in scalars:
            name, scalar = scalars[number]
            _repeated(data[name], wire, v, scalar)
        elif wire == _VARINT and number == 2:
            fields["data_type"] = _signed(v, 32)
        elif wire == _VARINT and number == 14:
            if v in (0, EXTERNAL):  # proto2: an unknown enum value is an unknown field
                fields["data_location"] = v
        elif wire == _LEN and number == 8:
            fields["name"] = _text(v)
        elif wire == _LEN and number == 9:
            fields["raw_data"] = v
        elif wire == _LEN and number == 13:
            external.append(_entry(v))
        elif wire == _LEN and number == 3:
            fields["has_segment"] = True
        elif wire == _LEN and number == 6:
            fields["has_string_data"] = True
    fields |= {k: tuple(c) for k, c in data.items()}
    return Tensor(
        dims=tuple(_signed(d) for d in _varints(tuple(dims))),
        external_data=tuple(external),
        **fields,
    )


def _attribute(buf: memoryview, depth: int) -> Attribute:
    fields: dict[str, Any] = {}
    t_parts: list[memoryview] = []
    g_parts: list[memoryview] = []
    floats: list[tuple[int, memoryview]] = []
    ints: list[tuple[int, memoryview]] = []
    lists: dict[str, list[Any]] = {k: [] for k in ("strings", "tensors", "graphs", "sp", "tps")}
    for number, wire, v in _fields(buf):
        if number == 7:
            _repeated(floats, wire, v, _I32)
        elif number == 8:
            _repeated(ints, wire, v, _VARINT)
        elif wire == _VARINT and number == 3:
            fields["i"] = _signed(v)
        elif wire == _VARINT and number == 20:
            if v in _ATTR_TYPES:  # proto2: an unknown enum value is an unknown field
                fields["type"] = v
        elif wire == _I32 and number == 2:
            fields["f"] = struct.unpack("<f", v)[0]
        elif wire != _LEN:
            continue
        elif number == 1:
            fields["name"] = _text(v)
        elif number == 21:
            fields["ref_attr_name"] = _text(v)
        elif number == 4:
            fields["s"] = bytes(v)
        elif number == 5:
            t_parts.append(v)
        elif number == 6:
            g_parts.append(v)
        elif number == 22:
            fields["sparse_tensor"] = Opaque(bytes(v))
        elif number == 14:
            fields["tp"] = Opaque(bytes(v))
        elif number == 9:
            lists["strings"].append(bytes(v))
        elif number == 10:
            lists["tensors"].append(_tensor(v))
        elif number == 11:
            lists["graphs"].append(_graph(v, depth + 1))
        elif number == 23:
            lists["sp"].append(Opaque(bytes(v)))
        elif number == 15:
            lists["tps"].append(Opaque(bytes(v)))
    return Attribute(
        t=_tensor(_joined(t_parts)) if t_parts else None,
        g=_graph(_joined(g_parts), depth + 1) if g_parts else None,
        floats=_floats(tuple(floats)),
        ints=tuple(_signed(x) for x in _varints(tuple(ints))),
        strings=tuple(lists["strings"]),
        tensors=tuple(lists["tensors"]),
        graphs=tuple(lists["graphs"]),
        sparse_tensors=tuple(lists["sp"]),
        type_protos=tuple(lists["tps"]),
        **fields,
    )


def _node(buf: memoryview, depth: int) -> Node:
    fields: dict[str, str] = {}
    ins: list[str] = []
    outs: list[str] = []
    attrs: list[Attribute] = []
    names = {3: "name", 4: "op_type", 7: "domain"}
    for number, wire, v in _fields(buf):
        if wire != _LEN:
            continue
        if number == 1:
            ins.append(_text(v))
        elif number == 2:
            outs.append(_text(v))
        elif number in names:
            fields[names[number]] = _text(v)
        elif number == 5:
            attrs.append(_attribute(v, depth))
    return Node(input=tuple(ins), output=tuple(outs), attribute=tuple(attrs), **fields)


def _graph(buf: memoryview, depth: int) -> Graph:
    if depth > MAX_GRAPH_DEPTH:  # the reader walks no deeper: frame-check only
        for _ in _fields(buf):
            pass
        return Graph(truncated=True)
    nodes: list[Node] = []
    inits: list[Tensor] = []
    name = ""
    for number, wire, v in _fields(buf):
        if wire != _LEN:
            continue
        if number == 1:
            nodes.append(_node(v, depth))
        elif number == 5:
            inits.append(_tensor(v))
        elif number == 2:
            name = _text(v)
    return Graph(node=tuple(nodes), name=name, initializer=tuple(inits))


def parse_model(data: bytes | bytearray | memoryview) -> Model:
    """Decode a serialized ``ModelProto`` (raises :class:`ProtoError` when malformed)."""
    buf = memoryview(data).cast("B")
    ir_version, producer = 0, ""
    graphs: list[memoryview] = []
    for number, wire, v in _fields(buf):
        if wire == _VARINT and number == 1:
            ir_version = _signed(v)
        elif wire == _LEN and number == 2:
            producer = _text(v)
        elif wire == _LEN and number == 7:
            graphs.append(v)
    graph = _graph(_joined(graphs), 0) if graphs else Graph()
    return Model(ir_version=ir_version, producer_name=producer, graph=graph)


def attribute_value(a: Attribute) -> Any:
    """The value of an attribute by its declared type, as ``onnx.helper.get_attribute_value``
    gives it (lists as lists; strings as bytes)."""
    if a.ref_attr_name:
        raise ProtoError(f"Cannot get value of reference attribute {a.name!r}")
    by_type: dict[int, Any] = {
        A_UNDEFINED: None,
        A_FLOAT: a.f,
        A_INT: a.i,
        A_STRING: a.s,
        A_TENSOR: a.t if a.t is not None else Tensor(),
        A_GRAPH: a.g if a.g is not None else Graph(),
        A_SPARSE_TENSOR: a.sparse_tensor or Opaque(),
        A_TYPE_PROTO: a.tp or Opaque(),
        A_FLOATS: list(a.floats),
        A_INTS: list(a.ints),
        A_STRINGS: list(a.strings),
        A_TENSORS: list(a.tensors),
        A_GRAPHS: list(a.graphs),
        A_SPARSE_TENSORS: list(a.sparse_tensors),
        A_TYPE_PROTOS: list(a.type_protos),
    }
    return by_type[a.type]


# ----------------------------------------------------------------------------- tensor data


def itemsize(data_type: int) -> int:
    """Bytes per element of a supported data type (ProtoError otherwise)."""
    if data_type not in DTYPES:
        raise ProtoError(f"unsupported tensor data type {data_type}")
    return DTYPES[data_type].itemsize


def to_array(t: Tensor, raw: bytes | memoryview | None = None) -> np.ndarray:
    """The tensor's values, as ``onnx.numpy_helper.to_array`` reads them, in native byte order
    (BFLOAT16 widened exactly to float32). ``raw`` replaces ``raw_data`` (external data).
    Callers check the claimed size first; this checks the data matches the shape."""
    if t.has_segment:
        raise ProtoError(f"tensor {t.name!r} is segmented (not supported)")
    if t.data_type not in DTYPES:
        raise ProtoError(f"tensor {t.name!r} has unsupported data type {t.data_type}")
    dtype = DTYPES[t.data_type]
    count = math.prod(t.dims)
    if any(d < 0 for d in t.dims):
        raise ProtoError(f"tensor {t.name!r} has negative dims {list(t.dims)}")
    what = f"tensor {t.name!r}"
    raw = t.raw_data if raw is None else raw
    if raw is not None:
        arr = _counted(_frombuffer(raw, dtype, what), count, t)
    elif t.data_type in (FLOAT16, BFLOAT16, INT16, UINT16, BOOL, INT8, UINT8, INT32):
        # int32_data holds each value (16-bit types: their bit pattern) as an int32
        vals = np.array([_signed(v, 32) for v in _varints(t.int32_data)], dtype=np.int64)
        if t.data_type in (FLOAT16, BFLOAT16, UINT16, INT16, BOOL):
            width = np.uint8 if t.data_type == BOOL else np.uint16
            arr = vals.astype(np.uint32).astype(width).view(dtype.newbyteorder("="))
        else:
            arr = vals.astype(dtype.newbyteorder("="))
        arr = _counted(arr, count, t)
    elif t.data_type in (FLOAT, COMPLEX64):
        arr = _counted(_fixed(t.float_data, dtype, what), count, t)
    elif t.data_type in (DOUBLE, COMPLEX128):
        arr = _counted(_fixed(t.double_data, dtype, what), count, t)
    elif t.data_type == INT64:
        arr = _counted(np.array([_signed(v) for v in _varints(t.int64_data)], np.int64), count, t)
    else:  # UINT32, UINT64
        vals = np.array(_varints(t.uint64_data), dtype=np.uint64)
        arr = _counted(vals.astype(dtype.newbyteorder("=")), count, t)
    arr = arr.astype(dtype.newbyteorder("="), copy=False).reshape(t.dims)
    if t.data_type == BFLOAT16:
        return (arr.astype(np.uint32) << 16).view(np.float32)
    return arr


def _counted(arr: np.ndarray, count: int, t: Tensor) -> np.ndarray:
    if arr.size != count:
        raise ProtoError(
            f"tensor {t.name!r} holds {arr.size} values, its shape {list(t.dims)} needs {count}"
        )
    return arr

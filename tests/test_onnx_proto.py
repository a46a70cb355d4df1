"""rnndyn's own ONNX decoder (``rnndyn.readers.onnx_proto``) against the ``onnx`` package.

Independent route: ``onnx.load`` (protobuf's C++ parser) and ``onnx.numpy_helper.to_array``. Every
model the ONNX reader tests build is decoded both ways: the node/attribute/initializer fields must
agree, and the whole reader run on onnx's decoding must give byte-identical tensors, sources and
conventions. Then each tensor encoding ONNX writes (raw and typed fields, packed and unpacked), and
damaged files: truncations and byte mutations give CheckpointError or a valid read, nothing else.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnndyn.errors import CheckpointError
from rnndyn.readers import onnx_proto as proto
from rnndyn.readers import onnx_reader

onnx = pytest.importorskip("onnx", reason="needs the onnx package (pip install 'rnndyn[onnx]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

D, H = 3, 4


# ------------------------------------------------------------------ reference: onnx's decoding


def _ref_tensor(t) -> proto.Tensor:
    """A TensorProto decoded by onnx, as the dataclass the reader uses (data re-encoded raw)."""
    external = tuple(proto.StringStringEntry(e.key, e.value) for e in t.external_data)
    raw = None
    if t.data_location != TensorProto.EXTERNAL:
        a = numpy_helper.to_array(t)
        raw = memoryview(np.ascontiguousarray(a).view(np.uint8).reshape(-1).tobytes())
    return proto.Tensor(
        name=t.name,
        dims=tuple(t.dims),
        data_type=t.data_type,
        data_location=t.data_location,
        external_data=external,
        raw_data=raw,
    )


def _ref_graph(g) -> proto.Graph:
    nodes = []
    for n in g.node:
        attrs = []
        for a in n.attribute:
            attrs.append(
                proto.Attribute(
                    name=a.name,
                    type=a.type,
                    f=a.f,
                    i=a.i,
                    s=a.s,
                    t=_ref_tensor(a.t) if a.HasField("t") else None,
                    g=_ref_graph(a.g) if a.HasField("g") else None,
                    floats=tuple(a.floats),
                    ints=tuple(a.ints),
                    strings=tuple(a.strings),
                    tensors=tuple(_ref_tensor(t) for t in a.tensors),
                    graphs=tuple(_ref_graph(x) for x in a.graphs),
                )
            )
        nodes.append(
            proto.Node(
                input=tuple(n.input),
                output=tuple(n.output),
                name=n.name,
                op_type=n.op_type,
                domain=n.domain,
                attribute=tuple(attrs),
            )
        )
    inits = tuple(_ref_tensor(t) for t in g.initializer)
    return proto.Graph(node=tuple(nodes), name=g.name, initializer=inits)


def _reference_read(path):
    """The ONNX reader's conversion run on onnx's own decoding of the file."""
    m = onnx.load(str(path), load_external_data=False)
    model = proto.Model(m.ir_version, m.producer_name, _ref_graph(m.graph))
    return onnx_reader._convert(model, path)


def _same_tensors(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape, what
    assert a.tobytes() == b.tobytes(), what


def _assert_same_graph(ours: proto.Graph, ref, depth=0) -> None:
    """Our decoding of a graph against onnx's GraphProto, field by field."""
    assert ours.name == ref.name
    assert len(ours.node) == len(ref.node) and len(ours.initializer) == len(ref.initializer)
    for t, rt in zip(ours.initializer, ref.initializer, strict=True):
        _assert_same_tensor(t, rt)
    for n, rn in zip(ours.node, ref.node, strict=True):
        assert (n.name, n.op_type, n.domain) == (rn.name, rn.op_type, rn.domain)
        assert n.input == tuple(rn.input) and n.output == tuple(rn.output)
        assert [a.name for a in n.attribute] == [a.name for a in rn.attribute]
        for a, ra in zip(n.attribute, rn.attribute, strict=True):
            assert a.type == ra.type, a.name
            got, want = proto.attribute_value(a), helper.get_attribute_value(ra)
            if ra.type in (ra.TENSOR, ra.GRAPH):
                got, want = [got], [want]
            if isinstance(want, list) and want and isinstance(want[0], TensorProto):
                for x, y in zip(got, want, strict=True):
                    _assert_same_tensor(x, y)
            elif isinstance(want, list) and want and isinstance(want[0], onnx.GraphProto):
                for x, y in zip(got, want, strict=True):
                    _assert_same_graph(x, y, depth + 1)
            else:
                assert got == want and type(got) is type(want), a.name


def _assert_same_tensor(t: proto.Tensor, ref) -> None:
    assert (t.name, t.dims, t.data_type) == (ref.name, tuple(ref.dims), ref.data_type)
    assert t.data_location == ref.data_location
    assert [(e.key, e.value) for e in t.external_data] == [
        (e.key, e.value) for e in ref.external_data
    ]
    if ref.data_location != TensorProto.EXTERNAL:
        _same_tensors(proto.to_array(t), _widen(numpy_helper.to_array(ref)), ref.name)


def _widen(a: np.ndarray) -> np.ndarray:
    """onnx's bfloat16 (ml_dtypes) widened exactly to float32, as rnndyn returns it."""
    if str(a.dtype) == "bfloat16":
        return (a.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return a


# ------------------------------------------------------------------ the models of the reader tests


def _save(model, path):
    onnx.save(model, str(path))
    return path


def _torch_export(tmp_path, kind):
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(0)
    cls, kw = {
        "rnn": (nn.RNN, {}),
        "lstm2": (nn.LSTM, {"num_layers": 2}),
        "bigru": (nn.GRU, {"bidirectional": True}),
        "bilstm": (nn.LSTM, {"bidirectional": True}),
    }[kind]
    m = cls(D, H, **kw).eval()
    path = tmp_path / f"{kind}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.randn(5, 2, D),), str(path), dynamo=False)
    return path


def _native(tmp_path, op="LSTM", gates=4, direction="forward", dtype=np.float32, **attrs):
    rng = np.random.default_rng(1)
    nd = 2 if direction == "bidirectional" else 1
    w = rng.standard_normal((nd, gates * H, D)).astype(dtype)
    r = rng.standard_normal((nd, gates * H, H)).astype(dtype)
    b = rng.standard_normal((nd, 2 * gates * H)).astype(dtype)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (r, "R"), (b, "B"))]
    node = helper.make_node(
        op, ["X", "W", "R", "B"], ["Y"], hidden_size=H, direction=direction, name="cell", **attrs
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 2, D])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return _save(model, tmp_path / f"{op}.onnx")


def _constant_and_subgraphs(tmp_path):
    """R from a Constant node; an If whose branches hold initializers; a Loop body with a GRU."""
    rng = np.random.default_rng(3)
    r = rng.standard_normal((1, 3 * H, H)).astype(np.float32)
    const = helper.make_node("Constant", [], ["R"], value=numpy_helper.from_array(r, "Rc"))
    gru = helper.make_node(
        "GRU", ["X", "", "R"], ["Y"], hidden_size=H, linear_before_reset=1, clip=2.5, name="g1"
    )
    w = rng.standard_normal((3 * H, H)).astype(np.float64)
    then = helper.make_graph(
        [helper.make_node("Identity", ["rnn.weight_hh_l0"], ["o"])],
        "then",
        [],
        [helper.make_tensor_value_info("o", TensorProto.DOUBLE, None)],
        [numpy_helper.from_array(w, "rnn.weight_hh_l0")],
    )
    body = helper.make_graph(
        [const, gru],
        "body",
        [],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
    )
    nodes = [
        helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=then),
        helper.make_node("Loop", ["", "c"], ["z"], body=body),
        helper.make_node(
            "Custom",
            ["a"],
            ["b"],
            domain="my.domain",
            fs=[1.5, -2.25],
            ns=[-3, 2**40],
            ss=["x", "héllo"],
            s="tanh",
            f=0.1,
            i=-7,
            gs=[then, then],
            ts=[numpy_helper.from_array(np.arange(3, dtype=np.int64), "ti")],
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([1, -2], np.int64), "shape")],
    )
    return _save(helper.make_model(graph, producer_name="héllo"), tmp_path / "sub.onnx")


def _external(tmp_path):
    w = np.arange(H * H, dtype=np.float32).reshape(H, H)
    t = numpy_helper.from_array(w, "rec.w_hh")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in {"location": "weights.bin", "offset": "0", "length": str(w.nbytes)}.items():
        e = t.external_data.add()
        e.key, e.value = k, v
    graph = helper.make_graph(
        [], "g", [], [helper.make_tensor_value_info("rec.w_hh", TensorProto.FLOAT, None)], [t]
    )
    (tmp_path / "weights.bin").write_bytes(w.tobytes())
    return _save(helper.make_model(graph), tmp_path / "ext.onnx")


MODELS = {
    "torch-rnn": lambda p: _torch_export(p, "rnn"),
    "torch-lstm-2layer": lambda p: _torch_export(p, "lstm2"),
    "torch-bigru": lambda p: _torch_export(p, "bigru"),
    "torch-bilstm": lambda p: _torch_export(p, "bilstm"),
    "native-lstm": lambda p: _native(p),
    "native-bilstm-fp16": lambda p: _native(p, direction="bidirectional", dtype=np.float16),
    "native-gru-f64": lambda p: _native(p, "GRU", 3, dtype=np.float64, linear_before_reset=1),
    "native-rnn-relu": lambda p: _native(p, "RNN", 1, activations=["Relu"], clip=3.0),
    "constant-if-loop": _constant_and_subgraphs,
    "external-data": _external,
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_decoding_and_reading_match_onnx(tmp_path, kind):
    path = MODELS[kind](tmp_path)
    ours = proto.parse_model(path.read_bytes())
    ref = onnx.load(str(path), load_external_data=False)
    assert (ours.ir_version, ours.producer_name) == (ref.ir_version, ref.producer_name)
    _assert_same_graph(ours.graph, ref.graph)
    got, want = onnx_reader.read_onnx(path, path.stat().st_size), _reference_read(path)
    assert list(got.tensors) == list(want.tensors) and got.tensors
    for key in want.tensors:
        _same_tensors(got.tensors[key], want.tensors[key], key)
    assert (got.sources, got.conventions, got.metadata) == (
        want.sources,
        want.conventions,
        want.metadata,
    )


# ------------------------------------------------------------------ encodings


ENCODED = {
    TensorProto.FLOAT: np.array([[1.5, -2.0, 3.25], [0.0, -0.0, 1e-30]], np.float32),
    TensorProto.DOUBLE: np.array([[1.5, -2.0, np.pi], [0.0, -1e300, 5e-324]]),
    TensorProto.FLOAT16: np.array([[1.5, -2.0, 65504], [0.0, -6e-8, 0.1]], np.float16),
    TensorProto.BFLOAT16: np.array([[1.5, -2.0, 3.0], [0.0, -1e30, 0.1]], np.float32),
    TensorProto.INT64: np.array([[1, -2, 2**62], [0, -(2**63), 7]], np.int64),
    TensorProto.INT32: np.array([[1, -2, 2**30], [0, -(2**31), 7]], np.int32),
    TensorProto.INT16: np.array([[1, -2, 300], [0, -(2**15), 7]], np.int16),
    TensorProto.UINT16: np.array([[1, 2, 300], [0, 2**16 - 1, 7]], np.uint16),
    TensorProto.INT8: np.array([[1, -2, 100], [0, -128, 7]], np.int8),
    TensorProto.UINT8: np.array([[1, 2, 200], [0, 255, 7]], np.uint8),
    TensorProto.BOOL: np.array([[True, False, True], [False, False, True]]),
    TensorProto.UINT32: np.array([[1, 2, 2**32 - 1], [0, 5, 7]], np.uint32),
    TensorProto.UINT64: np.array([[1, 2, 2**64 - 1], [0, 5, 7]], np.uint64),
    TensorProto.COMPLEX64: np.array([[1 + 2j, -1j, 3], [0, 1, -2.5j]], np.complex64),
    TensorProto.COMPLEX128: np.array([[1 + 2j, -1j, 3], [0, 1, -2.5j]], np.complex128),
}


def _roundtrip(t) -> proto.Tensor:
    graph = helper.make_graph([], "g", [], [], [t])
    (out,) = proto.parse_model(helper.make_model(graph).SerializeToString()).graph.initializer
    return out


@pytest.mark.parametrize("raw", [False, True], ids=["typed", "raw"])
@pytest.mark.parametrize(
    "dtype", list(ENCODED), ids=[TensorProto.DataType.Name(k) for k in ENCODED]
)
def test_each_encoding_decodes_like_numpy_helper(dtype, raw):
    vals = ENCODED[dtype]
    if raw and dtype == TensorProto.BFLOAT16:  # raw bfloat16 bytes, through ml_dtypes
        ref = numpy_helper.to_array(helper.make_tensor("t", dtype, vals.shape, vals.ravel()))
        t = numpy_helper.from_array(ref, "t")
    elif raw:
        t = helper.make_tensor("t", dtype, vals.shape, vals.tobytes(), raw=True)
    else:
        t = helper.make_tensor("t", dtype, vals.shape, vals.ravel())
    assert t.HasField("raw_data") == raw
    want = _widen(numpy_helper.to_array(t))
    got = proto.to_array(_roundtrip(t))
    _same_tensors(got, want, TensorProto.DataType.Name(dtype))
    if dtype != TensorProto.BFLOAT16:
        _same_tensors(got, vals, "values")


def _key(number: int, wire: int) -> bytes:
    return proto._encode_varint(number << 3 | wire)


def _len(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + proto._encode_varint(len(payload)) + payload


def test_packed_and_unpacked_repeated_fields_read_alike():
    """dims packed, float_data unpacked, an unknown field and a duplicated scalar: still read."""
    vals = np.array([1.0, -2.5, 3.0, 0.5, 7.0, 8.0], np.float32)
    body = _len(1, proto._encode_varint(2) + proto._encode_varint(3))  # packed dims
    body += b"".join(_key(4, 5) + v.tobytes() for v in vals)  # unpacked float_data
    body += _key(2, 0) + b"\x07" + _key(2, 0) + b"\x01"  # data_type INT64, then FLOAT: last wins
    body += _len(99, b"ignored") + _key(98, 1) + b"\0" * 8 + _len(8, b"w")
    model = _len(7, _len(5, body))
    (t,) = proto.parse_model(model).graph.initializer
    assert (t.name, t.dims, t.data_type) == ("w", (2, 3), TensorProto.FLOAT)
    np.testing.assert_array_equal(proto.to_array(t), vals.reshape(2, 3))
    ref = onnx.load_from_string(model).graph.initializer[0]
    _same_tensors(proto.to_array(t), numpy_helper.to_array(ref), "onnx agrees")


def test_repeated_singular_messages_merge_like_protobuf():
    """A graph field given twice merges (its node lists concatenate), as protobuf's parser does."""
    g1 = helper.make_graph([helper.make_node("Relu", ["a"], ["b"], name="n1")], "g", [], [])
    g2 = helper.make_graph([helper.make_node("Tanh", ["b"], ["c"], name="n2")], "h", [], [])
    model = _len(7, g1.SerializeToString()) + _len(7, g2.SerializeToString())
    ours, ref = proto.parse_model(model), onnx.load_from_string(model)
    _assert_same_graph(ours.graph, ref.graph)
    assert [n.name for n in ours.graph.node] == ["n1", "n2"] and ours.graph.name == "h"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x3a\x05abc", "claims 5 bytes"),
        (b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
        (b"\x08\xff\xff", "truncated varint"),
        (b"\x0b\x00", "wire type 3"),
        (b"\x00\x01", "field number 0"),
    ],
)
def test_malformed_wire_data_is_a_proto_error(data, words):
    with pytest.raises(proto.ProtoError, match=words):
        proto.parse_model(data)


def test_unsupported_and_inconsistent_tensors_name_the_tensor(tmp_path):
    strings = helper.make_tensor("names", TensorProto.STRING, [1], [b"x"])
    short = numpy_helper.from_array(np.zeros((2, 3), np.float32), "short")
    short.raw_data = b"\0" * 20
    for t, inputs, words in [
        (strings, ["X", "", "names"], "'names' has ONNX data type 8"),
        (short, ["X", "", "short"], "'short' holds 5 values"),
    ]:
        node = helper.make_node("LSTM", inputs, ["Y"], hidden_size=1)
        path = _save(helper.make_model(helper.make_graph([node], "g", [], [], [t])), tmp_path / "m")
        with pytest.raises(CheckpointError, match=words):
            onnx_reader.read_onnx(path, path.stat().st_size)


def test_graphs_nest_only_as_deep_as_the_reader_walks():
    """Deeper If bodies are framed but not decoded; onnx_reader walks exactly as far."""
    g = helper.make_graph([], "leaf", [], [], [numpy_helper.from_array(np.ones(2), "deep")])
    for k in range(25):  # protobuf (upb) itself refuses ~33 levels
        node = helper.make_node("If", ["c"], ["y"], then_branch=g)
        g = helper.make_graph([node], f"g{24 - k}", [], [])
    ours = proto.parse_model(helper.make_model(g).SerializeToString())
    walked = [x.name for x in onnx_reader._walk(ours.graph)]
    assert walked == [f"g{k}" for k in range(proto.MAX_GRAPH_DEPTH + 1)]
    assert "deep" not in onnx_reader._constants(ours, None)[0]
    depth, x = 0, ours.graph
    while x.node:
        x = x.node[0].attribute[0].g
        depth += 1
    assert depth == proto.MAX_GRAPH_DEPTH + 1 and x.truncated


# ------------------------------------------------------------------ damaged files


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    return _constant_and_subgraphs(tmp_path_factory.mktemp("m")).read_bytes()


def _read_or_refuse(tmp_path, data: bytes) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    try:
        out = onnx_reader.read_onnx(path, len(data))
    except CheckpointError as err:
        assert str(path.name) in str(err)
        return
    for a in out.tensors.values():
        assert a.nbytes <= 16 * len(data) + 1024  # nothing is allocated beyond what is stored


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=0, max_value=10**6))
def test_truncated_files_are_refused_or_read(tmp_path, small_model, cut):
    _read_or_refuse(tmp_path, small_model[: cut % (len(small_model) + 1)])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**6), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_files_are_refused_or_read(tmp_path, small_model, edits):
    data = bytearray(small_model)
    for pos, byte in edits:
        data[pos % len(data)] = byte
    _read_or_refuse(tmp_path, bytes(data))

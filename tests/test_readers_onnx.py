"""ONNX files checked against onnxruntime: operators and simulated hidden states vs the runtime's.

Two independent routes: real PyTorch modules exported with ``torch.onnx.export`` (the exporter
permutes PyTorch's gates into ONNX's order; rnndyn must permute them back), and native-op models
built with ``onnx.helper`` from random W, R, B (ONNX's own definition, run by onnxruntime).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import rnndyn
from rnndyn.errors import CheckpointError, SimulationError
from rnndyn.operators import extract_operators, find_modules

onnx = pytest.importorskip("onnx", reason="needs the onnx package (pip install 'rnndyn[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install '.[test-formats]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

T, B, D, H = 6, 2, 3, 4


def _run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


def _rnndyn_hidden(ckpt, module, x):
    """rnndyn's simulated outputs (T, B, d·H) of ``module``, float64."""
    traj = rnndyn.simulate(ckpt, np.transpose(x, (1, 0, 2)), module=module, dtype=torch.float64)
    top = traj.hidden[-1]  # (d, T, B, H) of the last layer
    return np.concatenate(list(top), axis=-1)


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (nn.RNN, {}),
        (nn.LSTM, {}),
        (nn.GRU, {}),
        (nn.LSTM, {"bidirectional": True}),
        (nn.GRU, {"bidirectional": True}),
    ],
    ids=["rnn", "lstm", "gru", "bilstm", "bigru"],
)
def test_torch_export_roundtrip(tmp_path, cls, kwargs):
    torch.manual_seed(0)
    m = cls(D, H, **kwargs).eval()
    x = torch.randn(T, B, D)
    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), str(path), dynamo=False, input_names=["x"])
    ckpt = rnndyn.load(path)
    assert ckpt.format == "onnx"
    (mod,) = find_modules(ckpt)
    # operators: exactly PyTorch's own gate blocks after the ONNX→PyTorch permutation
    sd = m.state_dict()
    assert mod.name == ""  # the exporter's "/LSTM" is the root module, as in PyTorch's own file
    for key, t in sd.items():
        assert torch.equal(ckpt.tensors[key], t), key
    # hidden states: rnndyn's simulation equals onnxruntime's run of the exported graph
    y = _run(path, x.numpy())[0]  # the exported module's output (T, B, d·H)
    np.testing.assert_allclose(_rnndyn_hidden(ckpt, mod, x.numpy()), y, atol=1e-6)


def _native(tmp_path, op, gates, direction="forward", **attrs):
    """A one-node ONNX model from random W, R, B in ONNX's own conventions."""
    rng = np.random.default_rng(1)
    nd = 2 if direction == "bidirectional" else 1
    w = (rng.standard_normal((nd, gates * H, D)) * 0.5).astype(np.float32)
    r = (rng.standard_normal((nd, gates * H, H)) * 0.5).astype(np.float32)
    b = (rng.standard_normal((nd, 2 * gates * H)) * 0.3).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (r, "R"), (b, "B"))]
    node = helper.make_node(
        op, ["X", "W", "R", "B"], ["Y"], hidden_size=H, direction=direction, name="cell", **attrs
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [T, B, D])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    path = tmp_path / f"{op}.onnx"
    onnx.save(model, str(path))
    return path, w, r, b


@pytest.mark.parametrize(
    ("op", "gates", "attrs", "direction"),
    [
        ("LSTM", 4, {}, "forward"),
        ("LSTM", 4, {}, "bidirectional"),
        ("GRU", 3, {"linear_before_reset": 1}, "forward"),
        ("GRU", 3, {"linear_before_reset": 1}, "bidirectional"),
        ("RNN", 1, {}, "forward"),
        ("RNN", 1, {"activations": ["Relu"]}, "forward"),
    ],
    ids=["lstm", "bilstm", "gru-lbr1", "bigru-lbr1", "rnn-tanh", "rnn-relu"],
)
def test_native_nodes_simulate_like_onnxruntime(tmp_path, op, gates, attrs, direction):
    path, *_ = _native(tmp_path, op, gates, direction, **attrs)
    x = np.random.default_rng(2).standard_normal((T, B, D)).astype(np.float32)
    ckpt = rnndyn.load(path)
    (mod,) = find_modules(ckpt)
    assert mod.name == "cell" and mod.bidirectional == (direction == "bidirectional")
    y = _run(path, x)[0]
    want = np.concatenate(list(np.transpose(y, (1, 0, 2, 3))), axis=-1)
    np.testing.assert_allclose(_rnndyn_hidden(ckpt, mod, x), want, atol=1e-6)


def test_lstm_gate_blocks_are_onnx_iofc(tmp_path):
    """Operator 'f' is ONNX's third R block (i, o, f, c), 'o' its second, 'g' its fourth."""
    path, _, r, _ = _native(tmp_path, "LSTM", 4)
    ops = {o.gate: o.matrix for o in extract_operators(rnndyn.load(path))}
    for gate, block in {"i": 0, "o": 1, "f": 2, "g": 3}.items():
        np.testing.assert_array_equal(ops[gate], r[0, block * H : (block + 1) * H])


def test_gru_without_linear_before_reset_is_analysed_not_simulated(tmp_path):
    path, _, r, _ = _native(tmp_path, "GRU", 3)  # ONNX's default linear_before_reset=0
    ckpt = rnndyn.load(path)
    ops = {o.gate: o.matrix for o in extract_operators(ckpt)}
    for gate, block in {"z": 0, "r": 1, "n": 2}.items():
        np.testing.assert_array_equal(ops[gate], r[0, block * H : (block + 1) * H])
    (mod,) = find_modules(ckpt)
    assert "linear_before_reset=0" in mod.simulation
    with pytest.raises(SimulationError, match="linear_before_reset=0"):
        rnndyn.simulate(ckpt, np.zeros((1, 3, D)))


def test_peepholes_block_simulation(tmp_path):
    path, *_ = _native(tmp_path, "LSTM", 4)
    model = onnx.load(str(path))
    model.graph.initializer.append(numpy_helper.from_array(np.ones((1, 3 * H), np.float32), "P"))
    node = model.graph.node[0]
    node.input.extend(["", "", "", "P"])
    onnx.save(model, str(path))
    (mod,) = find_modules(rnndyn.load(path))
    assert "peephole" in mod.simulation


def test_initializers_inside_subgraphs_are_found(tmp_path):
    """A PyTorch-named recurrent weight living only in an If branch is still analysed."""
    w = np.random.default_rng(3).standard_normal((3 * H, H)).astype(np.float32)
    branch = helper.make_graph(
        [helper.make_node("Identity", ["rnn.weight_hh_l0"], ["o"])],
        "then",
        [],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "rnn.weight_hh_l0")],
    )
    node = helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "if.onnx"
    onnx.save(helper.make_model(graph), str(path))
    (mod,) = find_modules(rnndyn.load(path))
    assert (mod.name, mod.arch, mod.hidden_size) == ("rnn", "gru", H)


def _external_model(tmp_path, location, length=None):
    w = np.arange(H * H, dtype=np.float32).reshape(H, H)
    t = numpy_helper.from_array(w, "rec.w_hh")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in {"location": location, "offset": "0", "length": str(length or w.nbytes)}.items():
        e = t.external_data.add()
        e.key, e.value = k, v
    graph = helper.make_graph(
        [], "g", [], [helper.make_tensor_value_info("rec.w_hh", TensorProto.FLOAT, None)], [t]
    )
    (tmp_path / "m").mkdir(exist_ok=True)
    path = tmp_path / "m" / "model.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path, w


def test_external_data_beside_the_model(tmp_path):
    path, w = _external_model(tmp_path, "weights.bin")
    (tmp_path / "m" / "weights.bin").write_bytes(w.tobytes())
    ckpt = rnndyn.load(path)
    np.testing.assert_array_equal(ckpt.tensors["rec.w_hh"].numpy(), w)


@pytest.mark.parametrize("where", ["../secret.bin", "/etc/hostname"])
def test_external_data_outside_the_folder_is_refused(tmp_path, where):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 64)
    path, _ = _external_model(tmp_path, where)
    with pytest.raises(CheckpointError, match="outside the model's folder"):
        rnndyn.load(path)


def test_external_data_shorter_than_claimed(tmp_path):
    path, w = _external_model(tmp_path, "weights.bin", length=10 * 64)
    (tmp_path / "m" / "weights.bin").write_bytes(w.tobytes())
    with pytest.raises(CheckpointError, match="outside its file"):
        rnndyn.load(path)


class _Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(D, H, num_layers=2)
        self.head = nn.Linear(H, 1)

    def forward(self, x):
        return self.head(self.lstm(x)[0])


def test_module_names_do_not_depend_on_the_file_format(tmp_path):
    """One network, two files: compare and track line up its operators only if the names agree."""
    torch.manual_seed(5)
    m = _Encoder().eval()
    torch.save(m.state_dict(), tmp_path / "m.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.randn(T, B, D),), str(tmp_path / "m.onnx"), dynamo=False)
    from_torch, from_onnx = rnndyn.load(tmp_path / "m.pt"), rnndyn.load(tmp_path / "m.onnx")
    ids = [op.qualified_id for op in extract_operators(from_torch)]
    assert ids == [op.qualified_id for op in extract_operators(from_onnx)]
    assert ids[0] == "lstm:l0.fwd.i"
    assert from_onnx.conventions["lstm"]["onnx_node"] == "/lstm/LSTM, /lstm/LSTM_1"  # source names
    for a, b in zip(
        rnndyn.eigendecompose(from_torch), rnndyn.eigendecompose(from_onnx), strict=True
    ):
        np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, atol=1e-6)

"""NumPy files, plain pickles of arrays, foreign array names (layout inference) and TorchScript.

Ground truth is the PyTorch module the arrays came from: after conversion rnndyn's operators are
its gate blocks and rnndyn's simulation equals its forward pass.
"""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import rnndyn
from rnndyn.errors import CheckpointError, RefusedError, UsageError
from rnndyn.operators import extract_operators, find_modules

T, B, D, H = 7, 2, 3, 4


def _module(cls, **kw):
    torch.manual_seed(0)
    return cls(D, H, **kw).double()


def _np(m):
    return {k: v.detach().numpy() for k, v in m.state_dict().items()}


def _forward(m, x):
    with torch.no_grad():
        return m(torch.from_numpy(x).transpose(0, 1))[0].numpy()  # (T, B, d·H)


def _simulated(ckpt, module, x):
    traj = rnndyn.simulate(ckpt, x, module=module, dtype=torch.float64)
    return np.concatenate(list(traj.hidden[-1]), axis=-1)


def _x():
    return np.random.default_rng(1).standard_normal((B, T, D))


def test_npz_gru_with_foreign_names_simulates_like_torch(tmp_path):
    m = _module(nn.GRU)
    sd = _np(m)
    np.savez(
        tmp_path / "gru.npz",
        enc_w_hh=sd["weight_hh_l0"],
        enc_w_ih=sd["weight_ih_l0"],
        enc_b_hh=sd["bias_hh_l0"],
        enc_b_ih=sd["bias_ih_l0"],
    )
    ckpt = rnndyn.load(tmp_path / "gru.npz")
    (mod,) = find_modules(ckpt)
    assert (ckpt.format, mod.name, mod.arch, mod.input_size) == ("npz", "enc", "gru", D)
    assert ckpt.sources["enc.weight_hh"] == "enc_w_hh"
    np.testing.assert_allclose(_simulated(ckpt, mod, _x()), _forward(m, _x()), atol=1e-12)


def test_npz_compressed(tmp_path):
    w = np.random.default_rng(0).standard_normal((12, 4))
    np.savez_compressed(tmp_path / "c.npz", w_hh=w)
    ops = extract_operators(rnndyn.load(tmp_path / "c.npz"))
    assert [o.gate for o in ops] == ["r", "z", "n"]
    np.testing.assert_array_equal(ops[1].matrix, w[4:8])


def test_npy_single_matrix(tmp_path):
    w = np.random.default_rng(0).standard_normal((5, 5)).astype(np.float32)
    np.save(tmp_path / "W_hh.npy", w)
    ckpt = rnndyn.load(tmp_path / "W_hh.npy")
    (op,) = extract_operators(ckpt)
    assert ckpt.format == "npy" and op.arch == "custom"
    np.testing.assert_array_equal(op.matrix, w.astype(np.float64))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickle_of_arrays_bidirectional_lstm(tmp_path, protocol):
    """The issue's case: a bi-LSTM as a plain pickle of numpy arrays — read without --trust-pickle."""
    m = _module(nn.LSTM, bidirectional=True)
    sd = _np(m)
    obj = {
        "fw": {"W_hh": sd["weight_hh_l0"], "W_ih": sd["weight_ih_l0"], "b": np.float64(0.5)},
        "bw": {"W_hh": sd["weight_hh_l0_reverse"], "W_ih": sd["weight_ih_l0_reverse"]},
        "meta": ["lstm", 3, None],
    }
    (tmp_path / "bi.pkl").write_bytes(pickle.dumps(obj, protocol=protocol))
    ckpt = rnndyn.load(tmp_path / "bi.pkl")
    assert ckpt.format == "pickle-arrays"
    mods = {m.name: m.arch for m in find_modules(ckpt)}
    assert mods == {"fw": "lstm", "bw": "lstm"}
    ops = {o.qualified_id: o.matrix for o in extract_operators(ckpt)}
    np.testing.assert_array_equal(ops["bw:l0.fwd.g"], sd["weight_hh_l0_reverse"][8:12])
    # the forward direction alone runs like PyTorch's forward direction (no biases stored: zero)
    m.bias_ih_l0.data.zero_()
    m.bias_hh_l0.data.zero_()
    want = _forward(m, _x())[..., :H]
    np.testing.assert_allclose(_simulated(ckpt, "fw", _x()), want, atol=1e-12)


def test_pickle_with_object_array_is_refused(tmp_path):
    arr = np.array([1, "x", None], dtype=object)
    (tmp_path / "o.pkl").write_bytes(pickle.dumps({"w": arr}))
    with pytest.raises(RefusedError, match="Python objects"):
        rnndyn.load(tmp_path / "o.pkl")


def test_pickle_with_payload_beside_arrays_is_refused(tmp_path):
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    (tmp_path / "e.pkl").write_bytes(pickle.dumps({"w": np.ones((3, 3)), "x": Evil()}))
    with pytest.raises(RefusedError, match="system"):
        rnndyn.load(tmp_path / "e.pkl")
    assert not marker.exists()


def test_pickle_array_with_lying_shape(tmp_path):
    data = pickle.dumps(np.ones((2, 2)), protocol=2).replace(b"K\x02K\x02", b"K\x09K\x09", 1)
    (tmp_path / "l.pkl").write_bytes(data)
    with pytest.raises(CheckpointError, match="corrupt"):
        rnndyn.load(tmp_path / "l.pkl")


def test_npy_header_claiming_more_than_the_file(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((4, 4)))
    raw = (tmp_path / "w.npy").read_bytes().replace(b"'shape': (4, 4)", b"'shape': (9999, 9)", 1)
    (tmp_path / "big.npy").write_bytes(raw)
    with pytest.raises(CheckpointError, match="truncated or crafted"):
        rnndyn.load(tmp_path / "big.npy")


def test_npy_of_objects(tmp_path):
    np.save(tmp_path / "o.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="Python objects"):
        rnndyn.load(tmp_path / "o.npy")


@pytest.mark.parametrize(
    ("arch", "order", "stored"),
    [
        ("lstm", "ifco", [0, 1, 2, 3]),  # Keras: same blocks as PyTorch
        ("lstm", "iofc", [0, 2, 3, 1]),  # ONNX: PyTorch i, f, g, o are stored blocks 0, 2, 3, 1
        ("gru", "zrh", [1, 0, 2]),  # PyTorch r, z, n are stored blocks 1, 0, 2
    ],
)
def test_layout_and_gate_order_hints(tmp_path, arch, order, stored):
    k = len(stored)
    w = np.random.default_rng(0).standard_normal((k * H, H))
    np.savez(tmp_path / "w.npz", stack=w)
    with pytest.raises(CheckpointError, match="no recurrent weight"):
        find_modules(rnndyn.load(tmp_path / "w.npz"))  # an unknown name is not guessed
    ckpt = rnndyn.load(tmp_path / "w.npz", layout=arch, gate_order=order, matrix="stack")
    (mod,) = find_modules(ckpt, matrix="stack")
    ops = extract_operators(ckpt, modules=[mod])
    for op, block in zip(ops, stored, strict=True):
        np.testing.assert_array_equal(op.matrix, w[block * H : (block + 1) * H])
    assert "stack" in ops[0].source


def test_layout_that_does_not_fit(tmp_path):
    np.savez(tmp_path / "w.npz", stack=np.ones((12, 4)))
    with pytest.raises(UsageError, match="not a LSTM stack"):
        rnndyn.load(tmp_path / "w.npz", layout="lstm", matrix="stack")
    with pytest.raises(UsageError, match="gate order"):
        rnndyn.load(tmp_path / "w.npz", layout="gru", gate_order="zrx", matrix="stack")


def test_transposed_stack_with_keras_names(tmp_path):
    """(H, 4H) column blocks named recurrent_kernel + kernel: transposed to PyTorch rows."""
    rng = np.random.default_rng(0)
    rec, ker = rng.standard_normal((H, 4 * H)), rng.standard_normal((D, 4 * H))
    np.savez(tmp_path / "k.npz", **{"lstm/recurrent_kernel": rec, "lstm/kernel": ker})
    ckpt = rnndyn.load(tmp_path / "k.npz")
    (mod,) = find_modules(ckpt)
    assert (mod.name, mod.arch, mod.input_size) == ("lstm", "lstm", D)
    np.testing.assert_array_equal(ckpt.tensors["lstm.weight_hh"].numpy(), rec.T)


def test_cli_matrix_with_layout(runner, tmp_path):
    from rnndyn_cli.app import app

    np.savez(tmp_path / "w.npz", enc_w_hh=np.random.default_rng(0).standard_normal((12, 4)) * 0.3)
    res = runner.invoke(app, ["analyze", str(tmp_path / "w.npz"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [m["id"] for m in doc["matrices"]] == ["l0.fwd.r", "l0.fwd.z", "l0.fwd.n"]
    res = runner.invoke(
        app,
        ["analyze", str(tmp_path / "w.npz"), "--matrix", "enc_w_hh", "--layout", "gru",
         "--gate-order", "zrh", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["analyze", str(tmp_path / "w.npz"), "--layout", "lstm"])
    assert res.exit_code == 2, res.output


def test_torchscript_module_tree_names(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.LSTM(D, H, num_layers=2, bidirectional=True)
            self.head = nn.Linear(2 * H, 1)

        def forward(self, x):
            return self.head(self.enc(x)[0])

    torch.manual_seed(0)
    net = Net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(net), str(tmp_path / "ts.pt"))
    ckpt = rnndyn.load(tmp_path / "ts.pt")
    assert ckpt.format == "torchscript" and ckpt.metadata["module_class"].endswith("Net")
    (mod,) = find_modules(ckpt)
    assert (mod.name, mod.num_layers, mod.bidirectional) == ("enc", 2, True)
    for k, v in net.state_dict().items():
        assert torch.equal(ckpt.tensors[k], v), k

import numpy as np
import pytest
import torch
from torch import nn

from rnndyn.errors import CheckpointError, UsageError
from rnndyn.operators import extract_operators, find_modules, module_state_dict
from rnndyn.readers.checkpoint import Checkpoint


def ckpt(tensors, metadata=None):
    return Checkpoint("model.pt", "0" * 64, "torch-zip", dict(tensors), metadata or {})


def prefixed(module, prefix):
    return {f"{prefix}{k}": v for k, v in module.state_dict().items()}


@pytest.mark.parametrize(
    ("module", "arch", "gates"),
    [
        (nn.RNN(3, 8), "rnn", ["hh"]),
        (nn.LSTM(3, 8), "lstm", ["i", "f", "g", "o"]),
        (nn.GRU(3, 8), "gru", ["r", "z", "n"]),
    ],
)
def test_gate_blocks_are_pytorch_row_blocks(module, arch, gates):
    ops = extract_operators(ckpt(prefixed(module, "rnn.")))
    w = module.weight_hh_l0.detach().double().numpy()
    assert [o.gate for o in ops] == gates
    for g, op in enumerate(ops):
        assert op.arch == arch and op.module == "rnn" and op.n == 8
        np.testing.assert_array_equal(op.matrix, w[g * 8 : (g + 1) * 8])
        assert op.matrix.dtype == np.float64


def test_multilayer_bidirectional_ids_and_sizes():
    m = nn.GRU(5, 6, num_layers=3, bidirectional=True)
    (mod,) = find_modules(ckpt(m.state_dict()))
    assert (
        mod.name,
        mod.arch,
        mod.hidden_size,
        mod.input_size,
        mod.num_layers,
        mod.bidirectional,
    ) == ("", "gru", 6, 5, 3, True)
    ops = extract_operators(ckpt(m.state_dict()))
    assert len(ops) == 3 * 2 * 3
    assert {o.id for o in ops} >= {"l2.rev.z", "l0.fwd.r", "l1.rev.n"}
    rev = next(o for o in ops if o.id == "l1.rev.n")
    np.testing.assert_array_equal(
        rev.matrix, m.weight_hh_l1_reverse.detach().double().numpy()[12:18]
    )


def test_lstm_proj_size_uses_projected_products():
    m = nn.LSTM(3, 10, proj_size=4, num_layers=2)
    (mod,) = find_modules(ckpt(m.state_dict()))
    assert (mod.hidden_size, mod.proj_size) == (10, 4)
    ops = extract_operators(ckpt(m.state_dict()))
    f = next(o for o in ops if o.id == "l1.fwd.f")
    hr = m.weight_hr_l1.detach().double().numpy()
    hh = m.weight_hh_l1.detach().double().numpy()[10:20]
    assert f.n == 4
    np.testing.assert_allclose(f.matrix, hr @ hh)


def test_rnn_nonlinearity_from_metadata_and_default():
    m = nn.RNN(2, 4, nonlinearity="relu")
    (mod,) = find_modules(ckpt(prefixed(m, "rnn."), {"nonlinearity": "relu"}))
    assert mod.nonlinearity == "relu"
    (mod,) = find_modules(ckpt(prefixed(m, "rnn.")))
    assert mod.nonlinearity == "tanh"


def test_several_modules_named_by_path_and_state_dict_roundtrip():
    enc, dec = nn.LSTM(3, 8), nn.GRU(8, 5)
    tensors = {
        **prefixed(enc, "encoder."),
        **prefixed(dec, "decoder.rnn."),
        "head.weight": torch.zeros(2, 5),
    }
    mods = find_modules(ckpt(tensors))
    assert [(m.name, m.arch) for m in mods] == [("encoder", "lstm"), ("decoder.rnn", "gru")]
    fresh = nn.GRU(8, 5)
    fresh.load_state_dict(module_state_dict(ckpt(tensors), mods[1]))
    assert torch.equal(fresh.weight_hh_l0, dec.weight_hh_l0)


def test_cells_and_fp16_are_upcast():
    cell = nn.LSTMCell(3, 6).half()
    ops = extract_operators(ckpt(prefixed(cell, "cell.")))
    assert [o.gate for o in ops] == ["i", "f", "g", "o"]
    assert ops[0].matrix.dtype == np.float64
    np.testing.assert_array_equal(ops[1].matrix, cell.weight_hh.detach().double().numpy()[6:12])


@pytest.mark.parametrize("key", ["W_hh", "cell.recurrent.weight", "rnn.h2h.weight", "model.w_rec"])
def test_custom_recurrent_names_found(key):
    w = torch.randn(7, 7)
    tensors = {key: w, "fc.weight": torch.randn(7, 7), "W_in": torch.randn(7, 2)}
    ops = extract_operators(ckpt(tensors))
    assert len(ops) == 1 and ops[0].source == key and ops[0].arch == "custom"
    np.testing.assert_array_equal(ops[0].matrix, w.double().numpy())


def test_mlp_square_layers_are_not_recurrent():
    mlp = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8))
    with pytest.raises(CheckpointError) as err:
        find_modules(ckpt(mlp.state_dict()))
    msg = str(err.value)
    assert (
        "no recurrent weight matrix found" in msg and "0.weight (8, 8)" in msg and "--matrix" in msg
    )


def test_matrix_option_picks_and_rejects():
    mlp = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
    ops = extract_operators(ckpt(mlp.state_dict()), matrix="0.weight")
    assert ops[0].n == 8
    with pytest.raises(UsageError, match=r"not in the checkpoint.*0\.weight"):
        extract_operators(ckpt(mlp.state_dict()), matrix="nope.weight")
    with pytest.raises(CheckpointError, match="must be square"):
        extract_operators(ckpt(mlp.state_dict()), matrix="2.weight")


def test_inconsistent_shapes_rejected():
    m = nn.LSTM(3, 8)
    sd = m.state_dict()
    sd["weight_hh_l0"] = torch.randn(32, 9)
    with pytest.raises(CheckpointError, match=r"weight_hh_l0.*\(32, 9\)"):
        find_modules(ckpt(sd))
    sd = nn.GRU(3, 8, num_layers=2).state_dict()
    sd["weight_ih_l1"] = torch.randn(24, 5)
    with pytest.raises(CheckpointError, match="weight_ih_l1"):
        find_modules(ckpt(sd))


def test_nan_weights_rejected_with_key():
    sd = nn.RNN(2, 4).state_dict()
    sd["weight_hh_l0"][0, 0] = float("nan")
    with pytest.raises(CheckpointError, match=r"weight_hh_l0.*NaN"):
        extract_operators(ckpt(sd))

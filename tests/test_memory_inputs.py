"""Objects in memory wherever the API takes a checkpoint path (issue 27, deliverable 2).

Every entry point gets an ``nn.Module`` (or a model holding one) and its state dict; results are
checked against routes that do not go through rnndyn's reader: numpy's eigenvalues of the weight
matrices, the framework's own forward pass, and the same network saved to a file.
"""

import numpy as np
import pytest
import torch
from torch import nn

import rnndyn
from rnndyn.errors import UsageError
from rnndyn.training.track import track


class Model(nn.Module):
    """A model containing a recurrent layer, as a notebook would have it."""

    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.encoder = rnn
        self.readout = nn.Linear(rnn.hidden_size, 1)


def _sorted(z):
    z = np.asarray(z, dtype=complex)
    return z[np.lexsort((z.imag, z.real))]


@pytest.mark.parametrize("as_dict", [False, True])
def test_gate_blocks_of_a_live_gru_are_numpys_eigenvalues(as_dict):
    torch.manual_seed(0)
    model = Model(nn.GRU(3, 6))
    source = model.state_dict() if as_dict else model
    spec = rnndyn.eigendecompose(source)
    w = model.encoder.weight_hh_l0.detach().double().numpy()
    for k, gate in enumerate("rzn"):
        got = spec[f"encoder:l0.fwd.{gate}"].eigenvalues
        np.testing.assert_allclose(
            _sorted(got), _sorted(np.linalg.eigvals(w[6 * k : 6 * (k + 1)])), atol=1e-12
        )
    ops = rnndyn.extract_operators(source)
    assert [op.qualified_id for op in ops] == [f"encoder:l0.fwd.{g}" for g in "rzn"]


def test_module_and_file_give_the_same_checkpoint(tmp_path):
    torch.manual_seed(1)
    lstm = nn.LSTM(2, 5, num_layers=2)
    path = tmp_path / "lstm.pt"
    torch.save(lstm.state_dict(), path)
    from_file, from_module = rnndyn.load(path), rnndyn.load(lstm)
    assert from_module.tensors.keys() == from_file.tensors.keys()
    for key, t in from_file.tensors.items():
        assert torch.equal(t, from_module.tensors[key])
    assert from_module.format == "in-memory-module"
    assert str(from_module.path) == "<in-memory LSTM>"
    assert rnndyn.load(lstm.state_dict()).sha256 == from_module.sha256  # a digest of the tensors
    assert rnndyn.load(from_module) is from_module


def test_loading_copies_so_later_training_does_not_change_it():
    gru = nn.GRU(2, 4)
    ckpt = rnndyn.load(gru)
    before = ckpt.tensors["weight_hh_l0"].clone()
    with torch.no_grad():
        gru.weight_hh_l0.add_(1.0)
    assert torch.equal(ckpt.tensors["weight_hh_l0"], before)
    assert rnndyn.load(gru).sha256 != ckpt.sha256


def test_simulate_a_live_relu_rnn_matches_its_forward_pass():
    # a state dict does not say relu; the live module does, and rnndyn must use it
    torch.manual_seed(2)
    model = Model(nn.RNN(3, 8, nonlinearity="relu", batch_first=True, dtype=torch.float64))
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    traj = rnndyn.simulate(model, x.numpy(), dtype=torch.float64)
    expected, _ = model.encoder(x)
    np.testing.assert_allclose(traj.hidden[0, 0], expected.detach().numpy().transpose(1, 0, 2))
    assert rnndyn.load(model).conventions["encoder"]["nonlinearity"] == "relu"


def test_measure_decay_and_fixed_points_take_a_module():
    torch.manual_seed(3)
    gru = nn.GRU(2, 4)
    result = rnndyn.measure_decay(gru, steps=10, length=40, batch=4, modes=2, memory=False)
    assert result.checkpoint == "<in-memory GRU>" or str(result.checkpoint) == "<in-memory GRU>"
    assert result.lyapunov_exponents.size == 4  # all of them by default, not --modes
    fps = rnndyn.find_fixed_points(gru.state_dict(), "zeros", n_inits=8, iters=50)
    assert fps.layers and str(fps.checkpoint) == "<in-memory state dict>"


def test_track_follows_state_dict_copies_taken_in_memory():
    torch.manual_seed(4)
    rnn = nn.RNN(2, 5)
    snaps = []
    for _ in range(3):
        snaps.append({k: v.clone() for k, v in rnn.state_dict().items()})
        with torch.no_grad():
            rnn.weight_hh_l0.mul_(0.9)
    result = track(snaps)
    (op,) = result.operators
    radii = [np.abs(np.linalg.eigvals(s["weight_hh_l0"].double().numpy())).max() for s in snaps]
    np.testing.assert_allclose(op.spectral_radius, radii, rtol=1e-12)


@pytest.mark.parametrize("bad", [3, None, torch.zeros(4, 4), [1, 2], object()])
def test_anything_else_is_a_clear_usage_error(bad):
    for call in (rnndyn.load, rnndyn.extract_operators, rnndyn.eigendecompose):
        if call is rnndyn.eigendecompose and isinstance(bad, list):
            continue  # a list is a list of operators there
        with pytest.raises(UsageError, match=r"expected a checkpoint path, a torch\.nn\.Module"):
            call(bad)

"""The initializer zoo, the registry and apply_: each initializer's defining property."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from rnndyn.errors import UsageError
from rnndyn.init import apply_, registry, zoo

ALL = [n for n in registry.names() if n != "eigen"]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def blocks(w: torch.Tensor, n_gates: int) -> torch.Tensor:
    return w.detach().double().view(n_gates, -1, w.shape[1])


def eye(n: int) -> torch.Tensor:
    return torch.eye(n, dtype=torch.float64)


# -- per-block functions ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls,n_gates", [(nn.RNN, 1), (nn.LSTM, 4), (nn.GRU, 3)])
def test_orthogonal_is_per_gate_block_not_the_stack(cls, n_gates):
    m = apply_(cls(5, 16, num_layers=2, bidirectional=True).double(), "orthogonal", generator=gen())
    for name, w in m.named_parameters():
        if name.startswith("weight_hh"):
            for b in blocks(w, n_gates):
                torch.testing.assert_close(b.T @ b, eye(16))
            stacked = w.detach()
            # G orthogonal blocks: WᵀW = G·I; torch's orthogonal_ on the stack would give I.
            torch.testing.assert_close(stacked.T @ stacked, n_gates * eye(16))


def test_orthogonal_gain_and_semi_orthogonal_rectangles():
    w = zoo.orthogonal_(torch.empty(8, 8, dtype=torch.float64), gain=0.5, generator=gen())
    torch.testing.assert_close(w.T @ w, 0.25 * eye(8))
    tall = zoo.orthogonal_(torch.empty(10, 4, dtype=torch.float64), generator=gen())
    wide = zoo.orthogonal_(torch.empty(4, 10, dtype=torch.float64), generator=gen())
    torch.testing.assert_close(tall.T @ tall, eye(4))
    torch.testing.assert_close(wide @ wide.T, eye(4))


@pytest.mark.parametrize("name", ["identity", "irnn"])
def test_identity_blocks(name):
    m = apply_(nn.GRU(3, 6).double(), name, scale=0.9)
    for b in blocks(m.weight_hh_l0, 3):
        torch.testing.assert_close(b, 0.9 * eye(6))
    assert torch.all(m.bias_hh_l0 == 0) and torch.all(m.bias_ih_l0 == 0)
    assert registry.get("irnn").nonlinearity == "relu"
    assert registry.get("identity").nonlinearity is None


def test_np_rnn_is_symmetric_positive_definite_with_top_eigenvalue_one():
    w = zoo.np_rnn_(torch.empty(40, 40, dtype=torch.float64), generator=gen(3))
    torch.testing.assert_close(w, w.T)
    ev = torch.linalg.eigvalsh(w)
    assert ev[-1].item() == pytest.approx(1.0, abs=1e-12)
    assert ev[0].item() > 0.0
    assert ev[0].item() < 0.5  # a real spread, not a scaled identity


def test_chain_structure_and_pulse_propagation():
    n, alpha = 7, 1.02
    w = zoo.chain_(torch.empty(n, n, dtype=torch.float64), alpha=alpha)
    expected = torch.zeros(n, n, dtype=torch.float64)
    expected[torch.arange(1, n), torch.arange(n - 1)] = alpha
    torch.testing.assert_close(w, expected)
    assert torch.count_nonzero(torch.linalg.matrix_power(w, n)) == 0  # nilpotent: all λ = 0
    pulse = torch.linalg.matrix_power(w, 3) @ eye(n)[:, 0]  # unit 0 → unit 3 after 3 steps
    torch.testing.assert_close(pulse, alpha**3 * eye(n)[:, 3])


def test_fbchain_structure_and_non_normality():
    n = 6
    w = zoo.fbchain_(torch.empty(n, n, dtype=torch.float64), beta=0.04)
    torch.testing.assert_close(torch.diagonal(w, -1), torch.full((n - 1,), 0.99).double())
    torch.testing.assert_close(torch.diagonal(w, 1), torch.full((n - 1,), 0.04).double())
    assert torch.count_nonzero(w) == 2 * (n - 1)
    assert (w @ w.T - w.T @ w).abs().max() > 0.5


def test_chain_input_weights_feed_the_head():
    m = apply_(nn.RNN(2, 5).double(), "chain")
    torch.testing.assert_close(m.weight_ih_l0.detach(), 0.9 * torch.eye(5, 2).double())


def upper_eigs(w: torch.Tensor) -> np.ndarray:
    ev = np.linalg.eigvals(w.numpy())
    return ev[ev.imag > 1e-9]


def test_lru_ring_moduli_and_phases_follow_the_law():
    r_min, r_max, max_phase = 0.5, 0.99, math.pi / 2
    w = zoo.lru_ring_(
        torch.empty(512, 512, dtype=torch.float64), r_min, r_max, max_phase, generator=gen(1)
    )
    up = upper_eigs(w)
    assert up.size == 256
    law = stats.uniform(loc=r_min**2, scale=r_max**2 - r_min**2)
    assert stats.kstest(np.abs(up) ** 2, law.cdf).pvalue > 1e-3
    assert stats.kstest(np.angle(up), stats.uniform(0, max_phase).cdf).pvalue > 1e-3
    # power: the same moduli are clearly *not* uniform in |λ| itself
    assert stats.kstest(np.abs(up), stats.uniform(0.0, 1.0).cdf).pvalue < 1e-6


def test_lru_ring_full_phase_and_odd_size():
    w = zoo.lru_ring_(torch.empty(401, 401, dtype=torch.float64), 0.2, 0.9, generator=gen(2))
    ev = np.linalg.eigvals(w.numpy())
    real = ev[np.abs(ev.imag) < 1e-9]
    assert real.size == 1 and 0.2 <= real[0].real <= 0.9
    assert (
        stats.kstest(np.abs(np.angle(upper_eigs(w))), stats.uniform(0, math.pi).cdf).pvalue > 1e-3
    )


def test_spectral_margin_singular_values():
    for shape in [(64, 64), (30, 12)]:
        w = zoo.spectral_margin_(torch.empty(*shape, dtype=torch.float64), r=0.3, generator=gen())
        s = torch.linalg.svdvals(w)
        assert s.min() >= 0.7 - 1e-12 and s.max() <= 1.3 + 1e-12
        assert s.numel() == min(shape) and s.max() - s.min() > 0.3  # spread over the interval


@pytest.mark.parametrize("n,c", [(16, 1.0), (100, 2.0)])
def test_glorot_rescaled_spectral_radius(n, c):
    w = zoo.glorot_rescaled_(torch.empty(n, n, dtype=torch.float64), c=c, generator=gen())
    rho = torch.linalg.eigvals(w).abs().max().item()
    assert rho == pytest.approx(1 - c / math.sqrt(n), abs=1e-10)


def test_kaiming_and_xavier_variances():
    g = gen(4)
    k = zoo.kaiming_(torch.empty(400, 200, dtype=torch.float64), generator=g)
    assert k.var().item() == pytest.approx(2 / 200, rel=0.05)
    x = zoo.xavier_uniform_(torch.empty(300, 100, dtype=torch.float64), generator=g)
    assert x.abs().max() <= math.sqrt(6 / 400) and x.var().item() == pytest.approx(
        2 / 400, rel=0.05
    )


# -- chrono ----------------------------------------------------------------------------------------


def test_chrono_lstm_bias_range_and_input_gate():
    t_max, h = 50.0, 2000
    m = apply_(nn.LSTM(2, h), "chrono", t_max=t_max, generator=gen())
    b = (m.bias_ih_l0 + m.bias_hh_l0).detach().double().view(4, h)
    b_i, b_f, b_g, b_o = b
    assert b_f.min() >= 0 and b_f.max() <= math.log(t_max - 1)
    torch.testing.assert_close(b_i, -b_f)
    assert torch.all(b_g == 0) and torch.all(b_o == 0)
    # exp(b_f) ~ U[1, T_max − 1]
    assert stats.kstest(b_f.exp().numpy(), stats.uniform(1, t_max - 2).cdf).pvalue > 1e-3


def test_chrono_gru_update_gate_keeps_memory():
    """PyTorch's GRU: h' = (1 − z)⊙n + z⊙h, so chrono's positive z bias must preserve h."""
    gru = apply_(nn.GRU(1, 64).double(), "chrono", t_max=1e4, generator=gen())
    b = (gru.bias_ih_l0 + gru.bias_hh_l0).detach().view(3, 64)
    assert torch.all(b[1] >= 0) and torch.all(b[0] == 0) and torch.all(b[2] == 0)
    with torch.no_grad():
        gru.weight_hh_l0.zero_()
        h0 = torch.randn(1, 1, 64, dtype=torch.float64, generator=gen(1))
        _, h1 = gru(torch.zeros(1, 1, 1, dtype=torch.float64), h0)
    kept = (h1 / h0).squeeze()
    assert torch.median(kept) > 0.95  # z = σ(b_z) ≈ 1 for most units: memory kept


def test_chrono_refuses_vanilla_and_bias_free():
    with pytest.raises(UsageError, match="no gates"):
        apply_(nn.RNN(2, 4), "chrono")
    with pytest.raises(UsageError, match="bias=False"):
        apply_(nn.LSTM(2, 4, bias=False), "chrono")
    with pytest.raises(ValueError, match="t_max"):
        zoo.chrono_(torch.zeros(8), t_max=2.0)


# -- apply_ ----------------------------------------------------------------------------------------


def test_default_matches_pytorch_rule_and_input_xavier_elsewhere():
    h, i = 10, 3
    m = apply_(nn.LSTM(i, h), "default", generator=gen())
    for p in m.parameters():
        assert p.abs().max() <= 1 / math.sqrt(h) and p.abs().max() > 0.5 / math.sqrt(h)
    m = apply_(nn.LSTM(i, h), "orthogonal", generator=gen())
    assert m.weight_ih_l0.abs().max() <= math.sqrt(6 / (h + i))  # Xavier per H×I block
    assert torch.all(m.bias_ih_l0 == 0) and torch.all(m.bias_hh_l0 == 0)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_every_initializer_is_deterministic_and_finite(name, cls):
    if name == "chrono" and cls is nn.RNN:  # no gates: refused (see test_chrono_refuses_...)
        with pytest.raises(UsageError):
            apply_(cls(3, 8), name)
        return
    a = apply_(cls(3, 8, num_layers=2, bidirectional=True), name, generator=gen(7))
    b = apply_(cls(3, 8, num_layers=2, bidirectional=True), name, generator=gen(7))
    for (ka, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.isfinite(pa).all(), ka
        assert torch.equal(pa, pb), ka
    if name not in ("identity", "irnn", "chain", "fbchain"):  # those are deterministic by design
        c = apply_(cls(3, 8, num_layers=2, bidirectional=True), name, generator=gen(8))
        assert not torch.equal(a.weight_hh_l1_reverse, c.weight_hh_l1_reverse)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("name", ALL)
def test_lstm_with_projection_does_not_crash(name):
    m = apply_(nn.LSTM(3, 8, proj_size=4, num_layers=2), name, generator=gen())
    assert all(torch.isfinite(p).all() for p in m.parameters())
    out, _ = m(torch.randn(5, 2, 3))
    assert out.shape == (5, 2, 4)


def test_projection_lifts_the_square_map():
    """With proj_size P the P×P map W_hr·W_h• of each gate is what the initializer drew."""
    m = apply_(nn.LSTM(3, 8, proj_size=4).double(), "orthogonal", generator=gen())
    w_hr = m.weight_hr_l0.detach()
    torch.testing.assert_close(w_hr @ w_hr.T, eye(4))
    for b in blocks(m.weight_hh_l0, 4):
        q = w_hr @ b
        torch.testing.assert_close(q.T @ q, eye(4))
    m = apply_(nn.LSTM(3, 8, proj_size=4).double(), "identity", scale=0.7)
    for b in blocks(m.weight_hh_l0, 4):
        torch.testing.assert_close(m.weight_hr_l0.detach() @ b, 0.7 * eye(4))


def test_a_model_holding_recurrent_layers_gets_each_initialised():
    model = nn.Sequential(nn.GRU(2, 4), nn.Linear(4, 1), nn.LSTM(4, 3))
    out = apply_(model, "identity", scale=0.5)
    assert out is model
    for b in blocks(model[0].weight_hh_l0, 3):
        torch.testing.assert_close(b, 0.5 * eye(4))
    for b in blocks(model[2].weight_hh_l0, 4):
        torch.testing.assert_close(b, 0.5 * eye(3))


def test_half_precision_and_device_independent_sampling():
    a = apply_(nn.GRU(2, 6).half(), "lru_ring", generator=gen())
    b = apply_(nn.GRU(2, 6).double(), "lru_ring", generator=gen())
    torch.testing.assert_close(a.weight_hh_l0.double(), b.weight_hh_l0, atol=1e-3, rtol=1e-3)


# -- bad input -------------------------------------------------------------------------------------


SQUARE = [zoo.identity_, zoo.np_rnn_, zoo.chain_, zoo.fbchain_, zoo.lru_ring_, zoo.glorot_rescaled_]
ANY_2D = [zoo.xavier_uniform_, zoo.xavier_normal_, zoo.kaiming_, zoo.orthogonal_]


@pytest.mark.parametrize("fn", SQUARE + ANY_2D + [zoo.spectral_margin_])
def test_wrong_ndim_raises_value_error(fn):
    for shape in [(4,), (2, 3, 3), ()]:
        with pytest.raises(ValueError, match="2-D"):
            fn(torch.empty(shape))


@pytest.mark.parametrize("fn", SQUARE)
def test_square_required(fn):
    with pytest.raises(ValueError, match="square"):
        fn(torch.empty(4, 3))


def test_bad_parameters_raise():
    with pytest.raises(ValueError):
        zoo.lru_ring_(torch.empty(4, 4), r_min=0.9, r_max=0.5)
    with pytest.raises(ValueError):
        zoo.spectral_margin_(torch.empty(4, 4), r=1.5)
    with pytest.raises(ValueError):
        zoo.glorot_rescaled_(torch.empty(4, 4), c=2.0)
    with pytest.raises(ValueError, match="1-D"):
        zoo.chrono_(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="length"):
        zoo.chrono_(torch.zeros(10), layout="lstm")


def test_unknown_name_and_option_list_the_choices():
    with pytest.raises(UsageError) as err:
        apply_(nn.RNN(2, 3), "xavierr")
    assert err.value.exit_code == 2
    for name in ("orthogonal", "lru_ring", "chrono", "eigen"):
        assert name in str(err.value)
    with pytest.raises(UsageError, match="Its options are: gain"):
        apply_(nn.RNN(2, 3), "orthogonal", gian=2.0)
    with pytest.raises(UsageError, match="RNN, LSTM or GRU"):
        apply_(nn.Linear(2, 3), "orthogonal")
    with pytest.raises(UsageError, match="RNN, LSTM or GRU"):
        apply_(nn.LSTMCell(2, 3), "orthogonal")
    assert registry.get("Xavier-Uniform").name == "xavier_uniform"


def test_registry_entries_are_documented():
    for name in registry.names():
        entry = registry.get(name)
        assert entry.summary and entry.paper
        d = entry.to_dict()
        assert d["name"] == name and isinstance(d["options"], dict)
        if entry.fn is not None:
            assert entry.fn.__doc__ and entry.fn.__name__.endswith("_")


# -- eigen dispatch --------------------------------------------------------------------------------


def test_eigen_dispatches_per_weight_hh(monkeypatch):
    calls = []

    def fake_eigen_(tensor, params, *, layout, generator=None):
        calls.append((tuple(tensor.shape), params, layout, generator))
        with torch.no_grad():
            return tensor.fill_(0.125)

    fake = types.ModuleType("rnndyn.init.sample")
    fake.eigen_ = fake_eigen_
    monkeypatch.setitem(sys.modules, "rnndyn.init.sample", fake)
    g = gen()
    m = apply_(nn.GRU(2, 5, num_layers=2, bidirectional=True), "eigen", params="P", generator=g)
    assert calls == [((15, 5), "P", "gru", g)] * 4
    assert torch.all(m.weight_hh_l1_reverse == 0.125) and torch.all(m.bias_hh_l0 == 0)
    calls.clear()
    m = apply_(nn.LSTM(2, 6, proj_size=3), "eigen", params="P", generator=g)  # lifted P×P
    assert calls == [((12, 3), "P", "lstm", g)]
    w = m.weight_hr_l0.detach().double() @ blocks(m.weight_hh_l0, 4)[2]
    torch.testing.assert_close(w, torch.full((3, 3), 0.125, dtype=torch.float64))
    apply_(nn.RNN(2, 4), object(), generator=g)  # params passed as init
    assert calls[-1][2] == "rnn"


def test_eigen_needs_params_and_module(monkeypatch):
    with pytest.raises(UsageError, match="parameter file"):
        apply_(nn.RNN(2, 4), "eigen")
    with pytest.raises(UsageError, match="takes no params"):
        apply_(nn.RNN(2, 4), "orthogonal", params=object())
    monkeypatch.setitem(sys.modules, "rnndyn.init.sample", None)
    with pytest.raises(UsageError, match="not available"):
        apply_(nn.RNN(2, 4), "eigen", params=object())


def test_eigen_law_end_to_end_per_gate_and_projected():
    law = pytest.importorskip("rnndyn.init.law")
    radius = law.Dist("point", {"value": 0.7}, "radius")
    p = law.EigenInitParams(
        {"*": law.TargetLaw(radius)}, gate_biases={"f": {"mean": 2.0, "std": 0.0}}
    )
    m = apply_(nn.LSTM(2, 8).double(), p, generator=gen())
    for b in blocks(m.weight_hh_l0, 4):
        torch.testing.assert_close(torch.linalg.eigvals(b).abs(), torch.full((8,), 0.7).double())
    b = (m.bias_ih_l0 + m.bias_hh_l0).detach().view(4, 8)
    assert torch.all(b[1] == 2.0) and torch.all(b[[0, 2, 3]] == 0)
    m = apply_(nn.LSTM(2, 8, proj_size=4).double(), "eigen", params=p, generator=gen())
    for b in blocks(m.weight_hh_l0, 4):
        lam = torch.linalg.eigvals(m.weight_hr_l0.detach() @ b).abs()
        torch.testing.assert_close(lam, torch.full((4,), 0.7).double())

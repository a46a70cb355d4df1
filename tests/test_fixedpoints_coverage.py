"""Fixed points against an independent root-finder (scipy from many uniform starts, verified by the
torch module's own step): seeding, coverage, marginal points, input Jacobians, scans."""

import numpy as np
import pytest
import torch
from fp_reference import (
    FLIPFLOP,
    ckpt_of,
    flipflop_module,
    gru_x4,
    identity_no_input,
    matched,
    module_step,
    reference_points,
)
from scipy.optimize import brentq
from torch import nn
from torch.func import jacrev

from rnndyn.dynamics.fixedpoints import Seeding, chao1, find_fixed_points


def strong(kind: str, seed: int, h: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    net = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind](2, h, dtype=torch.float64)
    with torch.no_grad():
        net.weight_hh_l0.mul_(3.0)
    return net


def verified_by_module(net, lay, x) -> None:
    """Every isolated point is fixed under the torch module's own step."""
    for s in lay.states[lay.isolated]:
        with torch.no_grad():
            moved = module_step(net, torch.from_numpy(s), torch.from_numpy(x)).numpy()
        assert np.linalg.norm(moved - s) < 1e-9


def test_identity_without_input_weights_all_27_found_by_default_and_not_by_trajectories():
    net = identity_no_input()
    ref = reference_points(net, n_starts=300)
    assert ref.n_isolated == 27  # 3^H: {−h*, 0, h*}^3
    res = find_fixed_points(ckpt_of(net))  # the defaults
    lay = res.layer(0)
    assert matched(lay.states[lay.isolated], ref.isolated).all()
    assert lay.isolated.sum() == 27 and (lay.stable & lay.isolated).sum() == 8
    assert res.coverage()["complete"] and res.coverage()["found"] == 27
    old = find_fixed_points(ckpt_of(net), n_inits=512, seeding=Seeding(1.0, 0.0, 0.0))
    assert old.layer(0).isolated.sum() == 1  # trajectories never leave the origin
    sources = set(lay.start_source.tolist())
    assert sources == {"trajectory", "uniform", "corner"}


def test_coverage_flags_incompleteness_when_starts_are_cut():
    net = identity_no_input()
    res = find_fixed_points(ckpt_of(net), n_inits=12, seeding=Seeding(0.0, 1.0, 0.0), seed=3)
    cov = res.layer(0).coverage()
    assert cov.found < 27
    assert not cov.complete and cov.f1 >= 1
    assert cov.interval[1] > cov.found  # the interval reaches beyond what was found
    doc = res.to_dict()
    assert doc["coverage"]["complete"] is False
    assert doc["coverage"]["found"] == cov.found


def test_auto_adds_starts_until_the_estimate_settles():
    net = identity_no_input()
    res = find_fixed_points(
        ckpt_of(net), n_inits="auto", seeding=Seeding(0.0, 1.0, 0.0), max_inits=4096
    )
    lay = res.layer(0)
    assert lay.n_candidates >= 1024 and res.auto["rounds"][0] >= 1
    assert lay.isolated.sum() == 27 and res.coverage()["complete"]
    assert lay.counts.sum() + lay.n_dropped == lay.n_candidates
    assert (lay.start_point >= -1).all() and len(lay.start_point) == lay.n_candidates


def test_chao1_against_hand_computed_values():
    cov = chao1(np.array([5, 3, 2, 1, 1, 1]))  # S_obs 6, f1 3, f2 1, n 13
    a = 12 / 13
    assert cov.estimated_total == pytest.approx(6 + a * 3 * 2 / (2 * 2))
    assert not cov.complete and cov.interval[0] <= cov.estimated_total <= cov.interval[1]
    full = chao1(np.array([4, 2, 9]))
    assert full.complete and full.estimated_total == 3 and full.interval == (3.0, 3.0)


def test_gru_with_closed_update_gates_reports_a_slow_manifold_apart():
    net = gru_x4(0)
    ref = reference_points(net, n_starts=200)
    assert ref.n_isolated == 1 and ref.marginal.sum() > 10  # the network
    res = find_fixed_points(ckpt_of(net), n_inits=1024)
    lay = res.layer(0)
    assert matched(lay.states[lay.isolated], ref.isolated).all()
    assert lay.isolated.sum() == 1
    assert lay.marginal.sum() >= 1 and len(lay.manifolds) >= 1
    for i in np.flatnonzero(lay.marginal):  # independently: a unit eigenvalue of the module's step
        st = torch.from_numpy(lay.states[i])
        jac = jacrev(lambda v: module_step(net, v, torch.zeros(2, dtype=torch.float64)))(st)
        ev = np.linalg.eigvals(jac.detach().numpy())
        assert np.abs(np.abs(ev) - 1).min() < 1e-3
    assert res.coverage()["found"] == 1  # marginal points are not counted as isolated
    man = res.to_dict()["layers"][0]["slow_manifolds"]
    assert man and man[0]["dimension"] >= 1 and man[0]["n_starts"] >= 1


@pytest.mark.parametrize(("kind", "seed"), [("rnn", 1), ("rnn", 2), ("gru", 3), ("lstm", 4)])
def test_random_nets_every_isolated_reference_point_is_found(kind, seed):
    net = strong(kind, seed)
    ref = reference_points(net, n_starts=150, c_range=4.0)
    res = find_fixed_points(ckpt_of(net), probe="noise:1", n_inits=512)
    lay = res.layer(0)
    iso = lay.states[lay.isolated]
    assert ref.n_isolated >= 1
    assert matched(iso, ref.isolated, 1e-6).all()  # everything scipy found, we found
    verified_by_module(net, lay, np.zeros(2))
    ev_ref = np.sort(np.abs(ref.eigenvalues[~ref.marginal]), 1)
    which = np.abs(ref.isolated[:, None] - iso[None]).max(-1).argmin(1)
    ev = np.sort(np.abs(lay.eigenvalues[lay.isolated][which]), 1)
    np.testing.assert_allclose(ev, ev_ref, atol=1e-8)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_input_jacobians_match_jacrev_of_the_torch_module(kind):
    net = strong(kind, 7)
    x = np.array([0.3, -0.2])
    res = find_fixed_points(ckpt_of(net), x, probe="noise:1", n_inits=128)
    lay = res.layer(0)
    xt = torch.from_numpy(x)
    for s, ju in zip(lay.states, lay.input_jacobians, strict=True):
        ref = jacrev(lambda u, s=s: module_step(net, torch.from_numpy(s), u))(xt)
        np.testing.assert_allclose(ju, ref.detach().numpy(), atol=1e-10)
    rec = res.to_dict()["fixed_points"][0]
    assert np.shape(rec["input_jacobian"]) == (lay.states.shape[1], 2)


def test_scan_through_a_saddle_node_links_and_loses_two_points():
    net = nn.RNN(1, 1, dtype=torch.float64)
    with torch.no_grad():  # h' = tanh(1.5 h + u): three points below u ≈ 0.2076, one above
        net.weight_hh_l0.fill_(1.5)
        net.weight_ih_l0.fill_(1.0)
        net.bias_hh_l0.zero_()
        net.bias_ih_l0.zero_()
    us = np.linspace(0.02, 0.32, 7)[:, None]
    res = find_fixed_points(ckpt_of(net), us, probe="noise:1", n_inits=128)
    counts = [int(res.layer(0, "forward", k).isolated.sum()) for k in range(len(us))]

    def roots(u):  # independent: sign changes of tanh(1.5h + u) − h on a fine grid, then brentq
        g = np.linspace(-1, 1, 20001)
        f = np.tanh(1.5 * g + u) - g
        idx = np.flatnonzero(np.sign(f[:-1]) != np.sign(f[1:]))
        return [brentq(lambda h: np.tanh(1.5 * h + u) - h, g[i], g[i + 1]) for i in idx]

    assert counts == [len(roots(u)) for u in us[:, 0]]
    k = counts.index(1)  # first input past the saddle-node
    events = [r["event"] for r in res.links if r["to_input"] == k]
    assert events.count("continued") == 1 and {"merged", "vanished"} & set(events)
    assert sum(r["event"] == "vanished" or r["event"] == "merged" for r in res.links) >= 2
    frame = res.links_frame()
    assert len(frame) == len(res.links) and set(frame["event"]) <= {
        "continued",
        "stability_changed",
        "merged",
        "vanished",
        "appeared",
    }
    assert [d["spec"] for d in res.inputs] == [f"array[{k}]" for k in range(len(us))]


def test_table_has_identity_columns_state_and_readout():
    res = find_fixed_points(FLIPFLOP, n_inits=128, iters=300)
    frame = res.to_frame()
    assert {"checkpoint", "sha256", "upstream", "s_0", "s_15", "readout_2", "u_2"} <= set(frame)
    assert (frame["sha256"] == res.sha256).all()
    lay = res.layer(0)
    np.testing.assert_allclose(frame[[f"s_{k}" for k in range(16)]].to_numpy(), lay.states)


@pytest.mark.slow
def test_flipflop_gru_all_reference_points_found():
    ref = reference_points(flipflop_module(), n_starts=2000)
    assert ref.n_isolated >= 27
    lay = find_fixed_points(FLIPFLOP).layer(0)
    hit = matched(lay.states[lay.isolated], ref.isolated, 1e-6)
    assert hit.mean() >= 0.95

"""DMD: exact, with control, delay-embedded; against closed forms (linear systems with planted
spectra), PyDMD when installed, and a tanh RNN in its linear regime."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from planted import matched_error, planted

from rnndyn.errors import InvalidInputError, UsageError
from rnndyn.modes import dmd, fit_dmd, match_spectra

REAL, PAIRS = [0.95, -0.4, 0.5], [0.6 + 0.6j, 0.1 + 0.3j]  # all inside the unit circle


def linear_run(a, b, t_len, batch, rng, *, colour=0.0):
    """States ``(T, B, n)`` and inputs ``(T, B, D)`` of ``h_t = A h_{t−1} + B x_t`` from ``h_0 = 0``;
    ``colour`` > 0 makes the input an AR(1) process (correlated with the state)."""
    n, d = b.shape
    x = rng.standard_normal((t_len, batch, d))
    for t in range(1, t_len):
        x[t] += colour * x[t - 1]
    h = np.zeros((t_len, batch, n))
    prev = np.zeros((batch, n))
    for t in range(t_len):
        prev = h[t] = prev @ a.T + x[t] @ b.T
    return h, x


def test_exact_dmd_recovers_a_planted_autonomous_spectrum():
    rng = np.random.default_rng(0)
    a, eigs = planted(REAL, PAIRS, rng)
    h0 = rng.standard_normal((a.shape[0], 40))  # many short free runs from random states
    states = np.stack([np.linalg.matrix_power(a, k) @ h0 for k in range(12)])  # (T, B, n)
    fit = fit_dmd(np.swapaxes(states, 1, 2), center=False)
    assert fit.rank == 7
    assert matched_error(fit.eigenvalues, eigs) < 1e-10
    assert fit.residuals.max() < 1e-8  # an exactly linear, input-free system
    assert np.all(np.diff(np.abs(fit.eigenvalues)) <= 1e-12)  # rnndyn's order


def test_dmdc_separates_input_from_recurrence_where_plain_dmd_is_biased():
    rng = np.random.default_rng(1)
    a, eigs = planted(REAL, PAIRS, rng)
    b = rng.standard_normal((7, 2))
    h, x = linear_run(a, b, 300, 8, rng, colour=0.9)  # coloured input: correlated with h
    ctrl = fit_dmd(h, x, control=True, center=False)
    plain = fit_dmd(h, center=False)
    assert matched_error(ctrl.eigenvalues, eigs) < 1e-8
    np.testing.assert_allclose(ctrl.basis @ ctrl.input_matrix, b, atol=1e-8)
    assert ctrl.residuals.max() < 1e-6
    assert matched_error(plain.eigenvalues, eigs) > 1e-2  # the input leaks into plain DMD


def test_delay_embedding_recovers_the_spectrum_from_one_observed_coordinate():
    rng = np.random.default_rng(2)
    a, eigs = planted([0.9, -0.5], [0.7 + 0.5j], rng)  # n = 4
    h0 = rng.standard_normal((4, 30))
    states = np.stack([np.linalg.matrix_power(a, k) @ h0 for k in range(20)])  # (T, n, B)
    observed = states[:, :1, :].transpose(0, 2, 1)  # (T, B, 1): one coordinate only
    assert fit_dmd(observed, center=False).rank == 1
    fit = fit_dmd(observed, delays=4, center=False)
    assert fit.rank == 4 and fit.delays == 4
    assert matched_error(fit.eigenvalues, eigs) < 1e-6


def test_centering_removes_an_affine_offset():
    rng = np.random.default_rng(3)
    a, eigs = planted(REAL, PAIRS, rng)
    h0 = rng.standard_normal((7, 30))
    c = rng.standard_normal(7)
    fix = np.linalg.solve(np.eye(7) - a, c)  # h' = A h + c has its fixed point at fix
    states = np.stack([fix[:, None] + np.linalg.matrix_power(a, k) @ h0 for k in range(15)])
    fit = fit_dmd(np.swapaxes(states, 1, 2))
    assert matched_error(fit.eigenvalues, eigs) < 1e-8


def test_match_pairs_optimally_not_by_sort_order():
    dmd_eigs = np.array([0.9 + 0.01j, 0.9 - 0.01j, 0.5])
    ref = np.array([0.5 + 0.001j, 0.9, 0.9])
    m = match_spectra(dmd_eigs, ref, top=3)
    assert m.k == 3
    assert sorted(m.ref_index.tolist()) == [0, 1, 2]
    assert m.max_gap < 0.011


def test_linear_regime_tanh_rnn_recovers_planted_eigenvalues(tmp_path):
    rng = np.random.default_rng(4)
    w, eigs = planted(REAL, PAIRS, rng)
    m = torch.nn.RNN(2, 7)
    sd = {f"rnn.{k}": torch.zeros_like(v) for k, v in m.state_dict().items()}
    sd["rnn.weight_hh_l0"] = torch.tensor(w)
    sd["rnn.weight_ih_l0"] = torch.tensor(rng.standard_normal((7, 2)))
    path = tmp_path / "linear.pt"
    torch.save({"state_dict": sd}, path)
    res = dmd(path, probe="noise:0.0001", control=True, length=300, batch=8)
    assert matched_error(res.fit.eigenvalues, eigs) < 1e-3
    for name in ("mean_jacobian", "fixed_point_jacobian"):
        assert res.match(name).max_gap < 1e-3
    doc = json.loads(json.dumps(res.to_dict()))
    assert doc["schema"] == "rnndyn.dmd/1"
    assert len(doc["eigenvalues"]) == 7 and doc["fixed_point"]["converged"]
    df = res.to_frame()
    assert len(df) == 7 and df["mean_jacobian_gap"].notna().sum() == 7


def test_pydmd_agrees_on_exact_dmd_and_dmdc():
    pydmd = pytest.importorskip("pydmd")
    rng = np.random.default_rng(5)
    a, _ = planted(REAL, PAIRS, rng)
    b = rng.standard_normal((7, 1))
    h, x = linear_run(a, b, 200, 1, rng)
    h = h + 1e-3 * rng.standard_normal(h.shape)  # noisy: the fits are not exact, only equal
    ours = fit_dmd(h, rank=5, center=False)
    ref = pydmd.DMD(svd_rank=5, exact=True).fit(h[:, 0].T)
    assert matched_error(ours.eigenvalues, ref.eigs) < 1e-10
    ours_c = fit_dmd(h, x, control=True, center=False)
    ref_c = pydmd.DMDc(svd_rank=-1, svd_rank_omega=-1).fit(h[:, 0].T, x[1:, 0].T)
    assert matched_error(ours_c.eigenvalues, ref_c.eigs) < 1e-8


def test_recorded_states_from_a_file(tmp_path):
    rng = np.random.default_rng(6)
    a, eigs = planted(REAL, PAIRS, rng)
    h0 = rng.standard_normal((7, 20))
    states = np.stack([np.linalg.matrix_power(a, k) @ h0 for k in range(12)]).transpose(0, 2, 1)
    path = tmp_path / "states.npy"
    np.save(path, states)
    res = dmd(path)
    assert res.kind == "states" and res.matches == () and res.sha256
    assert matched_error(res.fit.eigenvalues, eigs) < 1e-8


@pytest.mark.parametrize(
    "states",
    [np.zeros((3,)), np.full((10, 3), np.nan), np.zeros((1, 3)), np.ones((10, 2, 3))],
    ids=["1d", "nan", "too-short", "no-motion"],
)
def test_bad_states_are_invalid_input(states):
    with pytest.raises(InvalidInputError):
        fit_dmd(states)


def test_bad_options_are_usage_errors():
    h = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(UsageError):
        fit_dmd(h, rank=4)
    with pytest.raises(UsageError):
        fit_dmd(h, delays=0)
    with pytest.raises(UsageError):
        fit_dmd(h, control=True)


def test_cli_dmd_json_and_out(cli, tmp_path):
    out = tmp_path / "dmd"
    ex = "data/examples/rnn_adding.pt"
    res = cli("dmd", ex, "--control", "--length", "200", "--batch", "4", "--json", "--out", out)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["schema"] == "rnndyn.dmd/1" and doc["settings"]["method"] == "dmdc"
    assert {m["reference"] for m in doc["matches"]} == {"mean_jacobian", "fixed_point_jacobian"}
    assert (out / "dmd_eigenvalues.png").is_file() and (out / "modes.csv").is_file()


def test_cli_dmd_bad_states_file(cli, tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((5, 3), np.nan))
    res = cli("dmd", bad)
    assert res.exit_code == 4
    assert "bad.npy" in res.stderr and "Traceback" not in res.stderr and res.stdout == ""


def test_plots_draw_every_eigenvalue_and_the_matrix():
    import matplotlib.pyplot as plt

    from rnndyn.dsa import similarity
    from rnndyn.plots.modes import dmd_eigenvalues, similarity_overview

    rng = np.random.default_rng(8)
    a, _ = planted(REAL, PAIRS, rng)
    h0 = rng.standard_normal((7, 20))
    states = np.stack([np.linalg.matrix_power(a, k) @ h0 for k in range(12)]).transpose(0, 2, 1)
    ax = dmd_eigenvalues(dmd(states))
    (points,) = [c for c in ax.collections if c.get_gid() == "dmd"]
    assert len(points.get_offsets()) == 7
    assert [ln for ln in ax.lines if ln.get_gid() == "unit-circle"]
    plt.close(ax.figure)
    b = states @ random_q(7, rng).T
    res = similarity([states, b, states[::-1].copy()], names=["a", "a_rot", "rev"])
    assert res.distances[0, 1] < 1e-3
    fig = similarity_overview(res)
    (image,) = [im for im in fig.axes[0].images if im.get_gid() == "matrix"]
    assert image.get_array().shape == (3, 3)
    plt.close(fig)


def random_q(n, rng):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))

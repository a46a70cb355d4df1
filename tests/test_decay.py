import json

import numpy as np
import pytest
import torch
from planted import planted
from scipy.linalg import solve_discrete_lyapunov
from torch import nn

from rnndyn._util.atomic import dumps_json
from rnndyn.decay.measure import measure_decay, operator_ids
from rnndyn.dynamics.modal import real_basis
from rnndyn.errors import InvalidInputError, SimulationError, UsageError
from rnndyn.operators import find_modules
from rnndyn.readers.checkpoint import Checkpoint
from rnndyn.spectrum import eigendecompose

REAL = [1.02, 0.95, -0.5, 0.2]
PAIRS = [1.03 * np.exp(1.0j), 0.9 * np.exp(0.3j), 0.6 * np.exp(2.0j)]


def ckpt_of(tensors, **meta) -> Checkpoint:
    return Checkpoint("net.pt", "0" * 64, "torch-zip", dict(tensors), meta)


def planted_rnn(real=REAL, pairs=PAIRS, *, seed=0, cond=3.0, input_scale=1.0, dtype=torch.float32):
    """Zero-bias tanh RNN with W = P·B·P⁻¹ (non-normal P) and one input channel."""
    rng = np.random.default_rng(seed)
    w, _ = planted(real, pairs, rng, cond=cond)
    u = input_scale * rng.standard_normal((w.shape[0], 1))
    sd = {
        "weight_ih_l0": torch.tensor(u, dtype=dtype),
        "weight_hh_l0": torch.tensor(w, dtype=dtype),
    }
    return ckpt_of(sd), w, u


def test_zero_input_rates_equal_modulus_within_one_percent():
    """At h = 0 the Jacobian is exactly W: every mode (pairs, |λ| > 1 included) decays like |λ|^k."""
    ckpt, w, _ = planted_rnn(dtype=torch.float64)
    res = measure_decay(ckpt, probe="zeros", steps=60)
    (md,) = res.operators
    assert md.operator == "l0.fwd.hh" and md.n_modes == len(REAL) + 2 * len(PAIRS)
    np.testing.assert_allclose(md.measured_rate, md.predicted_rate, rtol=0.01)
    np.testing.assert_allclose(
        np.sort(md.predicted_rate), np.sort(np.abs(np.linalg.eigvals(w))), rtol=1e-12
    )
    assert (md.predicted_rate > 1).sum() == 3 and (md.measured_rate > 1).sum() == 3
    assert (md.eigenvalues.imag != 0).sum() == 6
    assert (md.fit_steps >= 10).all()
    for i, k in enumerate(md.fit_steps):  # the curves agree over the fitted steps
        np.testing.assert_allclose(
            md.measured_curve[i, : k + 1], md.predicted_curve[i, : k + 1], rtol=0.01
        )
    assert np.isnan(md.measured_rate_ci).all()  # one batch element: no interval
    # Lyapunov exponents at the origin: ln|λ| (sorted, pairs twice)
    expect = np.sort(np.log(np.abs(np.linalg.eigvals(w))))[::-1]
    np.testing.assert_allclose(res.lyapunov_exponents, expect, atol=0.01)
    assert res.memory_function is None and res.memory_capacity is None
    assert any("does not vary" in n for n in res.notes)


def test_custom_matrix_decays_like_its_spectrum():
    rng = np.random.default_rng(5)
    w, _ = planted([0.97, 0.5], [0.8 * np.exp(1.1j)], rng, cond=2)
    res = measure_decay(
        ckpt_of({"W_rec": torch.tensor(w)}), probe="zeros", steps=30, lyapunov=False
    )
    np.testing.assert_allclose(res[0].measured_rate, res[0].predicted_rate, rtol=0.01)
    assert any("input is ignored" in n for n in res.notes)


def test_own_rates_are_fitted_only_where_valid_and_otherwise_say_why():
    """Stronger noise saturates tanh and mixes modes: every fitted own rate rests on ≥ 5 steps of a
    near-straight log amplitude with ≥ half of the perturbation still in the mode's eigenspace;
    every other mode is null with a reason, and the whole-perturbation rate is always there."""
    ckpt, _, _ = planted_rnn(seed=2)
    nulls = []
    for std in (0.3, 3.0):
        md = measure_decay(
            ckpt, probe=f"noise:{std}", steps=60, batch=16, memory=False, lyapunov=False
        )[0]
        fitted = np.isfinite(md.measured_rate)
        assert (md.fit_steps[fitted] >= 5).all() and (md.fit_rmse[fitted] <= 0.1).all()
        for i in np.flatnonzero(fitted):
            k = md.fit_steps[i]
            assert (md.eigenspace_fraction[i, : k + 1] >= 0.5).all()
            lo, hi = md.measured_rate_ci[i]
            assert lo <= md.measured_rate[i] <= hi
        for i in np.flatnonzero(~fitted):
            assert md.fit_steps[i] == 0 and np.isnan(md.measured_rate_ci[i]).all()
            assert md.rate_reason[i].startswith(("left its eigenspace", "not geometric"))
        assert all(md.rate_reason[i] is None for i in np.flatnonzero(fitted))
        assert np.isfinite(md.whole_rate).all() and (md.whole_rate < md.predicted_rate.max()).all()
        assert np.allclose(md.eigenspace_fraction[:, 0], 1.0)
        nulls.append(int((~fitted).sum()))
    assert nulls[1] > nulls[0]  # saturation mixes modes: fewer own rates survive


def test_eigenspace_projection_is_bounded_where_the_oblique_ratio_is_not():
    """Planted non-normal W (κ(P) ≈ 30) under a saturating probe: the oblique ratio ‖Pδ‖/‖δ‖
    exceeds 1 (so it cannot be a fraction), the orthogonal projection ‖Qδ‖/‖δ‖ stays in [0, 1],
    starts at 1 and falls as the perturbation leaks out."""
    ckpt, _, _ = planted_rnn(seed=2, cond=30.0)
    md = measure_decay(ckpt, probe="noise:3", steps=30, batch=16, memory=False, lyapunov=False)[0]
    assert np.nanmax(md.eigenspace_fraction) > 1.5
    proj = md.eigenspace_projection
    assert np.isfinite(proj).all() and (proj >= 0).all() and (proj <= 1).all()
    np.testing.assert_allclose(proj[:, 0], 1.0, atol=1e-6)
    assert (proj[:, -1] < 0.99).any()
    doc = json.loads(dumps_json(md.to_dict()))
    assert all(max(m["eigenspace_projection"]) <= 1 for m in doc["modes"])


def test_memory_function_of_a_near_linear_network_matches_closed_form():
    """Tiny inputs keep tanh linear: R²_k = c_kᵀ C⁻¹ c_k with c_k = W^k u (network) or its modal rows."""
    ckpt, w, u = planted_rnn(
        [0.9, -0.6, 0.3],
        [0.85 * np.exp(0.5j), 0.5 * np.exp(2j)],
        seed=1,
        input_scale=1e-3,
        dtype=torch.float64,
    )
    lags = 30
    res = measure_decay(ckpt, probe="noise", steps=lags, length=600, batch=64, lyapunov=False)
    c = [u[:, 0]]
    for _ in range(400):
        c.append(w @ c[-1])
    c = np.array(c)
    cov = solve_discrete_lyapunov(w, u @ u.T)
    network = np.einsum("kh,hg,kg->k", c, np.linalg.inv(cov), c)[: lags + 1]
    np.testing.assert_allclose(res.memory_function, network, atol=0.03)
    assert res.memory_capacity == pytest.approx(network.sum(), abs=0.2)
    assert res.memory_capacity <= w.shape[0]
    basis = real_basis(eigendecompose(w)[0])
    y = c @ basis.rows.T
    for g in range(basis.n_groups):
        yg = y[:, basis.col_group == g]
        closed = np.einsum("ki,ij,kj->k", yg[: lags + 1], np.linalg.inv(yg.T @ yg), yg[: lags + 1])
        for m in np.flatnonzero(basis.mode_group == g):
            np.testing.assert_allclose(res[0].memory[m], closed, atol=0.03)
    real = np.flatnonzero(res[0].eigenvalues.imag == 0)  # real modes: λ^{2k}(1 − λ²)
    lam = res[0].eigenvalues.real[real]
    np.testing.assert_allclose(
        res[0].memory[real, :5],
        lam[:, None] ** (2 * np.arange(5)) * (1 - lam[:, None] ** 2),
        atol=0.03,
    )


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")
@pytest.mark.parametrize(
    ("factory", "size", "gate"),
    [
        (lambda: nn.LSTM(2, 6, num_layers=2, bidirectional=True, proj_size=3), 3 + 6, "f"),
        (lambda: nn.GRU(2, 5, num_layers=2), 5, "z"),
    ],
)
def test_gated_networks_use_mean_jacobians_by_default(factory, size, gate):
    torch.manual_seed(0)
    ckpt = ckpt_of(factory().state_dict())
    res = measure_decay(ckpt, probe="noise", steps=20, modes=4, batch=8)
    (mod,) = find_modules(ckpt)
    assert [o.operator for o in res] == [i for i in operator_ids(mod) if i.endswith(".jac")]
    for md in res:
        assert md.n == size and md.source == "mean Jacobian along probe" and md.gate == "jac"
        assert md.n_modes in (4, 5) and md.energy.shape == (res.probe["length"], md.n_modes)
        assert res.probe["length"] == 1000  # generated probes: long enough for Lyapunov
        reasons = [md.rate_reason[i] for i in range(md.n_modes)]
        assert all(
            (r is None) == np.isfinite(v) for r, v in zip(reasons, md.measured_rate, strict=True)
        )
        assert np.isfinite(md.whole_rate).all() and md.memory.shape == (md.n_modes, 21)
    assert len(res.lyapunov) == len(mod.directions) * 2
    fp = measure_decay(
        ckpt,
        probe="noise",
        steps=20,
        modes=3,
        batch=4,
        lyapunov=False,
        memory=False,
        operators=["l1.fwd.jacfp", f"l0.fwd.{gate}"],
    )
    assert [o.operator for o in fp] == ["l1.fwd.jacfp", f"l0.fwd.{gate}"]
    assert fp[0].info["converged"] is True and fp[0].source == "Jacobian at zero-input fixed point"
    assert fp[1].n == size - 6 if gate == "f" else size  # a gate block lives in h only


def test_bad_inputs(tmp_path):
    ckpt, _, _ = planted_rnn()
    with pytest.raises(
        UsageError,
        match=r"unknown operator id.*'l0.fwd.f'.*Valid ids.*l0.fwd.hh, l0.fwd.jac, l0.fwd.jacfp",
    ):
        measure_decay(ckpt, operators=["l0.fwd.f"])
    with pytest.raises(UsageError, match="--steps must be a positive"):
        measure_decay(ckpt, steps=0)
    with pytest.raises(UsageError, match=r"--steps 50 is larger than the probe \(40 steps\)"):
        measure_decay(ckpt, steps=50, length=40)
    bad = tmp_path / "probe.npy"
    np.save(bad, np.zeros((2, 30, 3), np.float32))
    with pytest.raises(InvalidInputError, match=r"probe.npy.*expects shape \(B, T, 1\)"):
        measure_decay(ckpt, probe=str(bad), steps=10)
    boom = ckpt_of(
        {"weight_ih_l0": torch.ones(3, 1), "weight_hh_l0": 10 * torch.eye(3)}, nonlinearity="relu"
    )
    with pytest.raises(SimulationError, match="explodes"):
        measure_decay(boom, probe="noise", steps=300)


def test_result_tables_and_json_document():
    ckpt, _, _ = planted_rnn()
    res = measure_decay(ckpt, probe="noise:0.5", steps=15, batch=8, modes=4, lyapunov_exponents=4)
    doc = json.loads(dumps_json(res.to_dict()))  # strict JSON: no NaN/Inf
    assert doc["schema"] == "rnndyn.decay/2"
    assert set(doc["fields"]) == {
        "own_rate",
        "eigenspace_fraction",
        "eigenspace_projection",
        "whole_rate",
    }
    assert "oblique" in doc["fields"]["eigenspace_fraction"]
    assert doc["checkpoint"] == {"path": "net.pt", "sha256": "0" * 64, "format": "torch-zip"}
    (op,) = doc["operators"]
    assert (op["id"], op["layer"], op["direction"], op["gate"]) == ("l0.fwd.hh", 0, "forward", None)
    assert len(op["modes"]) == 4
    m0 = op["modes"][0]
    assert m0["predicted_rate"] == pytest.approx(np.hypot(*m0["eigenvalue"]))
    assert m0["half_life"] is None and len(m0["own_rate_ci"]) == 2
    assert len(m0["eigenspace_fraction"]) == 16 and m0["eigenspace_fraction"][0] == pytest.approx(1)
    assert (m0["own_rate"] is None) == (m0["own_rate_reason"] is not None)
    assert m0["own_rate_fit"]["steps"] in (0, *range(5, 16)) and m0["whole_rate"] > 0
    assert len(doc["lyapunov"]["layers"][0]["half_difference"]) == 4
    assert len(doc["lyapunov"]["exponents"]) == 4 and isinstance(doc["memory_capacity"], float)
    curves = res.to_frame()
    cols = {"mode", "lag", "predicted", "measured", "whole", "eigenspace_fraction", "memory_r2"}
    assert len(curves) == 4 * 16 and cols <= set(curves)
    assert len(res.modes_frame()) == 4 and len(res.energy_frame()) == 1000 * 4
    assert len(res.lyapunov_frame()) == 8 and len(res.memory_frame()) == 16
    frames = [
        curves,
        res.modes_frame(),
        res.energy_frame(),
        res.lyapunov_frame(),
        res.memory_frame(),
    ]
    for df in frames:  # every table names its checkpoint, so tables of several runs concatenate
        assert list(df.columns[:2]) == ["checkpoint", "sha256"]
        assert set(df["sha256"]) == {res.sha256} and set(df["checkpoint"]) == {res.checkpoint}
    names = {c for df in frames for c in df.columns}  # one convention for interval columns
    assert {"own_rate_ci_low", "own_rate_ci_high", "ci_low", "ci_high"} <= names
    assert not {c for c in names if c.endswith(("_lo", "_hi")) or c in ("lo", "hi")}


def test_plots_draw_one_artist_per_mode():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnndyn.plots import decay as plots

    ckpt, _, _ = planted_rnn()
    res = measure_decay(ckpt, probe="noise:0.3", steps=15, batch=4)
    md = res[0]
    shown = int((md.eigenvalues.imag >= 0).sum())  # a pair is drawn once
    ax = plots.decay_curves(res)
    gids = [ln.get_gid() for ln in ax.lines]
    assert sum(g.startswith("predicted-") for g in gids) == shown
    fitted = int(np.isfinite(md.measured_rate[md.eigenvalues.imag >= 0]).sum())
    assert sum(g.startswith("measured-") and "tail" not in g for g in gids) == fitted
    assert sum(g.startswith("whole-") for g in gids) == shown
    ax = plots.effective_spectrum(res)
    (own,) = [c for c in ax.containers if c.lines[0].get_gid() == "own-l0.fwd.hh"]
    (whole,) = [c for c in ax.containers if c.lines[0].get_gid() == "whole-l0.fwd.hh"]
    assert len(own.lines[0].get_xdata()) == fitted and len(whole.lines[0].get_xdata()) == shown
    identity = next(ln for ln in ax.lines if ln.get_gid() == "identity")
    assert list(identity.get_xdata()) == list(identity.get_ydata())
    ax = plots.eigenspace_fraction(res)
    assert sum(ln.get_gid().startswith("eigenspace-") for ln in ax.lines) == shown
    ax = plots.modal_energy(res, max_modes=None)
    assert sum(ln.get_gid().startswith("energy-") for ln in ax.lines) == shown
    ax = plots.memory_function(res)  # the sum over inputs has its own panel
    assert any(ln.get_gid() == "network" for a in ax.figure.axes for ln in a.lines)
    ax = plots.lyapunov_spectrum(res)
    assert any(ln.get_gid() == "zero" for ln in ax.lines)
    plt.close("all")


def test_orthonormalize_matches_householder_and_survives_rank_deficiency():
    from rnndyn.decay.lyapunov import orthonormalize

    rng = np.random.default_rng(0)
    q = rng.standard_normal((50, 3, 6)) * np.logspace(0, -5, 6)
    qn, logd = orthonormalize(q)
    r = np.stack([np.linalg.qr(q[:, j])[1] for j in range(3)])  # one sequence at a time
    np.testing.assert_allclose(logd, np.log(np.abs(np.diagonal(r, axis1=1, axis2=2))), atol=1e-12)
    eye = np.broadcast_to(np.eye(6), (3, 6, 6))
    np.testing.assert_allclose(np.einsum("sbi,sbj->bij", qn, qn), eye, atol=1e-12, rtol=0)
    q[:, :, 5] = q[:, :, 4]  # a dependent column
    qn, logd = orthonormalize(q)
    assert np.isfinite(qn).all() and logd[:, 5].max() < -20

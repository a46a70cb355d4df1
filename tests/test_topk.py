"""Partial spectra (rnndyn.topk): planted spectra W = P·B·P⁻¹, checked against the dense solver."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from planted import matched_error, planted

from rnndyn.errors import RnndynWarning, UsageError
from rnndyn.operators import OperatorId, RecurrentOperator
from rnndyn.spectrum import eigendecompose
from rnndyn.topk import (
    PartialSpectrum,
    check_full_fits,
    decompose,
    top_decompose,
    top_eigenpairs,
    top_spectrum,
)


@pytest.fixture(autouse=True)
def _arnoldi(monkeypatch):
    """Exercise ARPACK even on these small planted matrices (the dense shortcut is tested apart)."""
    import rnndyn.arnoldi as arnoldi

    monkeypatch.setattr(arnoldi, "DENSE_MAX_N", 0)


def _planted(n_bulk: int = 150, cond: float | None = 30.0, seed: int = 0):
    """A non-normal W: a bulk of |λ| < 0.8 plus a known top: 1.2, ±1.1 pairs, −1.05, 0.95±0.2i."""
    rng = np.random.default_rng(seed)
    bulk_r = rng.uniform(-0.8, 0.8, n_bulk)
    bulk_p = 0.7 * rng.uniform(0.1, 1, 20) * np.exp(1j * rng.uniform(0.2, 3.0, 20))
    top_r = [1.2, -1.05]
    top_p = [0.3 + 1.06j, 0.95 + 0.2j]
    w, eigs = planted(np.r_[bulk_r, top_r], np.r_[bulk_p, top_p], rng, cond=cond)
    return w, eigs


def _op(w):
    return RecurrentOperator(OperatorId(0, "forward", "hh", "", "custom"), w, "W")


def test_top_k_matches_the_planted_top_and_dense_conditions():
    w, eigs = _planted()
    top = eigs[np.argsort(-np.abs(eigs), kind="stable")][:6]
    spec = top_spectrum(_op(w), 6)
    assert isinstance(spec, PartialSpectrum) and spec.k == 6 and spec.n == w.shape[0]
    assert matched_error(spec.eigenvalues, top) < 1e-9
    assert spec.spectral_radius == pytest.approx(1.2, rel=1e-10)
    assert spec.residuals.max() < 1e-12 and spec.converged == 6
    dense = eigendecompose(w)[0]  # independent route: LAPACK's full eigendecomposition
    np.testing.assert_allclose(spec.eigenvalue_condition, dense.eigenvalue_condition[:6], rtol=1e-6)
    # κ(V_k) of a column subset is a lower bound of the full κ(V)
    assert 1 <= spec.eigvec_condition <= dense.eigvec_condition * (1 + 1e-9)
    # left vectors: yᵢᴴxᵢ = 1, and yᴴW = λyᴴ
    y, x = spec.left, spec.eigenvectors
    np.testing.assert_allclose(np.einsum("ij,ij->j", y.conj(), x), 1, atol=1e-9)
    np.testing.assert_allclose(y.conj().T @ w, spec.eigenvalues[:, None] * y.conj().T, atol=1e-8)


def test_split_pair_is_completed_and_ordered_like_the_dense_spectrum():
    w, _ = _planted()
    spec = top_spectrum(_op(w), 2)  # 1.2, then the first of the pair 0.3 ± 1.06i
    assert spec.k == 3
    lam = spec.eigenvalues
    assert lam[0] == pytest.approx(1.2) and lam[2] == np.conj(lam[1]) and lam[1].imag > 0
    np.testing.assert_array_equal(spec.eigenvectors[:, 2], spec.eigenvectors[:, 1].conj())


def test_outside_count_is_exact_only_when_the_top_reaches_inside():
    w, eigs = _planted()
    assert np.sum(np.abs(eigs) > 1) == 4
    few = top_spectrum(_op(w), 3)  # all three outside: a lower bound only
    assert not few.n_outside_exact and few.n_outside_unit_circle == 3
    enough = top_spectrum(_op(w), 6)
    assert enough.n_outside_exact and enough.n_outside_unit_circle == 4
    doc = enough.to_dict()
    assert doc["n"] == w.shape[0] and len(doc["eigenvalues"]) == 6
    assert doc["departure_from_normality"] is None
    assert doc["partial"]["n_outside_unit_circle_is"] == "exact"
    assert "departure_from_normality" in doc["partial"]["needs_full"]
    assert few.to_dict()["partial"]["n_outside_unit_circle_is"] == "a lower bound"
    assert len(enough.to_frame()) == 6


def test_nearest_a_target_matches_brute_force():
    w, eigs = _planted()
    z = 0.9 + 0.25j
    lam, x, _, _ = top_eigenpairs(w, 4, target=z)
    want = eigs[np.argsort(np.abs(eigs - z))][:4]
    assert matched_error(want, lam) < 1e-8  # the 4 nearest are all there ...
    assert matched_error(lam, eigs) < 1e-8 and len(lam) <= 5  # ... with at most one conjugate
    assert np.abs(lam - z).min() == pytest.approx(np.abs(eigs - z).min(), rel=1e-8)
    np.testing.assert_allclose(w @ x, x * lam, atol=1e-9)


def test_small_operators_use_the_dense_solver(monkeypatch):
    w, eigs = planted([0.5, -0.2], [0.3 + 0.4j], np.random.default_rng(3))
    spec = top_spectrum(_op(w), 3)
    assert matched_error(spec.eigenvalues, eigs[np.argsort(-np.abs(eigs))][:4]) < 1e-12
    import rnndyn.arnoldi

    w, _ = _planted()
    arnoldi = top_spectrum(_op(w), 7)
    monkeypatch.setattr(rnndyn.arnoldi, "DENSE_MAX_N", 10_000)
    dense = top_spectrum(_op(w), 7)
    np.testing.assert_allclose(dense.eigenvalues, arnoldi.eigenvalues, atol=1e-10)
    np.testing.assert_allclose(dense.eigenvalue_condition, arnoldi.eigenvalue_condition, rtol=1e-6)


def test_modal_basis_from_left_vectors_equals_the_full_inverse():
    from rnndyn.dynamics.modal import real_basis

    w, _ = _planted()
    part, full = real_basis(top_spectrum(_op(w), 6), 5), real_basis(eigendecompose(w)[0], 5)
    np.testing.assert_allclose(part.eigenvalues, full.eigenvalues, atol=1e-10)
    # the spectral projector onto the kept modes does not depend on the basis scaling or sign
    proj_p, proj_f = part.columns @ part.rows, full.columns @ full.rows
    np.testing.assert_allclose(proj_p, proj_f, atol=1e-9)
    np.testing.assert_allclose(part.rows @ part.columns, np.eye(part.rows.shape[0]), atol=1e-9)


def test_decay_of_a_large_operator_uses_its_top_modes(monkeypatch):
    """Above the threshold decay decomposes only the modes it measures: same results as full."""
    import torch

    import rnndyn.topk as topk
    from rnndyn.decay.measure import measure_decay
    from rnndyn.readers.checkpoint import Checkpoint

    w, _ = _planted(n_bulk=40, cond=5.0)
    u = np.random.default_rng(5).standard_normal((w.shape[0], 1))
    sd = {"weight_ih_l0": torch.tensor(u), "weight_hh_l0": torch.tensor(w)}
    ckpt = Checkpoint("net.pt", "0" * 64, "torch-zip", sd, {})
    args = {"probe": "zeros", "steps": 30, "modes": 6, "memory": False, "lyapunov": False}
    full = measure_decay(ckpt, **args).operators[0]
    monkeypatch.setattr(topk, "AUTO_TOP_MIN_N", 10)
    res = measure_decay(ckpt, **args)
    part = res.operators[0]
    assert any("only its top 6 modes" in n for n in res.notes)
    np.testing.assert_allclose(part.eigenvalues, full.eigenvalues, atol=1e-10)
    np.testing.assert_allclose(part.measured_rate, full.measured_rate, rtol=1e-6)


def test_top_decompose_in_threads_equals_sequential():
    w, _ = _planted()
    a = top_decompose(np.stack([w, w.T]), 5, jobs=1)
    b = top_decompose(np.stack([w, w.T]), 5, jobs=2)
    for s, t in zip(a, b, strict=True):
        np.testing.assert_allclose(s.eigenvalues, t.eigenvalues, rtol=1e-12)


def test_automatic_top_above_the_threshold(monkeypatch):
    import rnndyn.topk as topk

    monkeypatch.setattr(topk, "AUTO_TOP_MIN_N", 100)
    monkeypatch.setattr(topk, "AUTO_TOP_K", 4)
    w, _ = _planted()
    small, _ = planted([0.5, 0.1], [], np.random.default_rng(1))
    ops = [_op(small), _op(w)]
    with pytest.warns(RnndynWarning, match="only the 4 eigenvalues"):
        spec = decompose(ops)
    assert not isinstance(spec[0], PartialSpectrum) and isinstance(spec[1], PartialSpectrum)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RnndynWarning)
        full = decompose(ops, full=True)
    assert full[1].n == w.shape[0] and len(full[1].eigenvalues) == w.shape[0]


def test_a_full_eig_that_would_not_fit_is_refused(monkeypatch):
    monkeypatch.setenv("RNNDYN_MEMORY_BYTES", str(100 * 200 * 200))
    ops = [_op(np.eye(200))]
    with pytest.raises(UsageError, match="--top K"):
        check_full_fits(ops, vectors=True, jobs=1)
    check_full_fits(ops, vectors=False, jobs=1)  # eigenvalues only: 16·n² fits


def test_cli_top_eigvals_only_and_refusal(runner, planted_rnn, monkeypatch):
    from rnndyn_cli.app import app

    path, eigs = planted_rnn
    res = runner.invoke(app, ["analyze", str(path), "--top", "3", "--json"])
    assert res.exit_code == 0, res.output
    (mat,) = json.loads(res.stdout)["matrices"]
    got = np.array([complex(a, b) for a, b in mat["eigenvalues"]])
    top = eigs[np.argsort(-np.abs(eigs))][:4]  # 1.05, 0.95, 0.6 ± 0.6i: the pair is completed
    assert matched_error(got, top) < 1e-6 and mat["n"] == 7 and mat["partial"]["k"] == 4
    res = runner.invoke(app, ["analyze", str(path), "--eigvals-only", "--json"])
    assert res.exit_code == 0, res.output
    (mat,) = json.loads(res.stdout)["matrices"]
    got = np.array([complex(a, b) for a, b in mat["eigenvalues"]])
    assert matched_error(got, eigs) < 1e-6 and mat["eigvec_condition"] is None
    res = runner.invoke(app, ["analyze", str(path), "--top", "3", "--eigvals-only"])
    assert res.exit_code == 2 and "exclude" in res.stderr
    monkeypatch.setenv("RNNDYN_MEMORY_BYTES", "1000")
    res = runner.invoke(app, ["analyze", str(path), "--json"])
    assert res.exit_code == 2 and res.stdout == "" and "--top K" in res.stderr


def test_compare_with_partial_spectra_tests_only_what_the_top_decides(runner, tmp_path):
    from test_compare import write_population

    from rnndyn_cli.app import app

    paths = write_population(tmp_path, 4)
    paths = [str(p) for p in paths["classification"] + paths["regression"]]
    fast = ["--permutations", "99", "--bootstrap", "100", "--json"]
    res = runner.invoke(app, ["compare", *paths, "--top", "3", *fast])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    tested = {t["statistic"]: t["p_value"] for t in doc["tests"]}
    assert tested["spectral_radius"] < 0.05  # exact from the top 3: the same finding as full
    assert "departure_from_normality" not in tested and "frac_complex" not in tested
    assert any("need the full spectrum" in n for n in doc["notes"])


def test_partial_statistics_agree_with_full_ones_where_exact():
    from rnndyn.compare.population import STATISTICS, spectrum_statistics

    w, _ = _planted()
    full = dict(zip(STATISTICS, spectrum_statistics(eigendecompose(w)[0]), strict=True))
    part = dict(zip(STATISTICS, spectrum_statistics(top_spectrum(_op(w), 40)), strict=True))
    for name in ("spectral_radius", "frac_above_1", "frac_above_0.9", "modulus_q90"):
        assert part[name] == pytest.approx(full[name], rel=1e-9), name  # 40 reach below 0.9
    for name in ("modulus_q10", "modulus_q50", "frac_complex", "departure_from_normality"):
        assert np.isnan(part[name]), name


def test_the_memory_budget_counts_a_partial_spectrum_as_partial(tmp_path, monkeypatch):
    """``analyze --top K`` is not refused for the memory a full eigendecomposition would need
    (an H = 8192 LSTM was, before): the budget follows what will be computed."""
    from rnndyn.analysis import analyze
    from rnndyn.errors import RnndynError

    w = np.random.default_rng(0).standard_normal((700, 700)) / 30
    path = tmp_path / "big.npz"
    np.savez(path, w_hh=w)
    monkeypatch.setenv("RNNDYN_MAX_MEMORY", "30M")  # a full eig of 700² needs ~70 MB
    with pytest.raises(RnndynError, match="would need about"):
        analyze(path, jobs=1)
    part = analyze(path, jobs=1, top=8).spectrum[0]
    top = np.sort(np.abs(np.linalg.eigvals(w)))[::-1][:8]
    np.testing.assert_allclose(np.sort(np.abs(part.eigenvalues))[::-1][:8], top, rtol=1e-8)
    monkeypatch.setenv("RNNDYN_MAX_MEMORY", "12M")  # eigenvalues only: 16·n² ≈ 8 MB fits
    assert analyze(path, jobs=1, eigvals_only=True).spectrum[0].eigenvalues.size == 700

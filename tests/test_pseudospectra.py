"""Pseudospectra against matrices whose pseudospectra are known: normal matrices (discs of radius
ε), a Jordan block (a disc of radius ≈ ε^{1/n}), and brute-force SVDs."""

from __future__ import annotations

import numpy as np
import pytest
from planted import planted

from rnndyn import pseudospectra as ps
from rnndyn.pseudospectra import pseudospectrum, sigma_min, stability_margin


def _brute(w: np.ndarray, z: np.ndarray) -> np.ndarray:
    eye = np.eye(w.shape[0])
    return np.array([np.linalg.svd(x * eye - w, compute_uv=False)[-1] for x in z.ravel()])


def _points(rng: np.random.Generator, k: int = 60) -> np.ndarray:
    return rng.uniform(-1.3, 1.3, k) + 1j * rng.uniform(-1.3, 1.3, k)


@pytest.mark.parametrize("lanczos", [False, True])
def test_normal_matrix_pseudospectrum_is_discs_of_radius_eps(lanczos, monkeypatch):
    if lanczos:  # the large-operator path, on a small matrix
        monkeypatch.setattr(ps, "SVD_MAX_N", 0)
    rng = np.random.default_rng(0)
    w, eigs = planted(rng.uniform(-0.9, 0.9, 6), 0.8 * np.exp(1j * rng.uniform(0.2, 3, 5)), rng)
    z = _points(rng)
    dist = np.abs(z[:, None] - eigs[None, :]).min(axis=1)  # σ_min(zI − W) for normal W
    np.testing.assert_allclose(sigma_min(w, z), dist, rtol=1e-8)
    # margin: the top eigenvalue's distance to the circle
    eps, _ = stability_margin(w)
    assert eps == pytest.approx(1 - np.abs(eigs).max(), rel=1e-6)


@pytest.mark.parametrize("lanczos", [False, True])
def test_non_normal_matches_brute_force_svd(lanczos, monkeypatch):
    if lanczos:
        monkeypatch.setattr(ps, "SVD_MAX_N", 0)
    rng = np.random.default_rng(1)
    w, _ = planted(
        rng.uniform(-0.9, 0.9, 6), 0.8 * np.exp(1j * rng.uniform(0.2, 3, 5)), rng, cond=1e3
    )
    z = _points(rng)
    got, want = sigma_min(w, z), _brute(w, z)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    if lanczos:  # a Ritz value bounds 1/σ_min² from below: σ_min is never under-estimated
        assert (got >= want * (1 - 1e-8)).all()
    # the margin against a dense scan of the circle
    theta = np.linspace(0, np.pi, 4001)
    scan = _brute(w, np.exp(1j * theta))
    eps, angle = stability_margin(w)
    assert scan.min() * (1 - 1e-3) <= eps <= scan.min() * (1 + 1e-9)
    assert abs(angle - theta[np.argmin(scan)]) < 2e-3
    # the margin of a non-normal W is far below the spectral gap 1 − ρ
    assert eps < 0.1 * (1 - np.abs(np.linalg.eigvals(w)).max())


def test_jordan_block_pseudospectrum_is_a_disc_of_radius_about_the_nth_root():
    n, eps = 6, 1e-6
    j = np.diag(np.ones(n - 1), 1)  # J_n(0): Λ_ε is a disc (J ~ e^{iφ}J by a unitary diagonal)
    r = np.linspace(0.02, 0.6, 300)
    for phi in (0.0, 0.9, 2.5):
        sig = sigma_min(j, r * np.exp(1j * phi))
        radius = r[np.argmax(sig > eps)]  # σ_min grows with |z| here
        assert eps ** (1 / n) * 0.7 <= radius <= eps ** (1 / n) * 1.05
    z = 0.3 * np.exp(1j * np.array([0.1, 1.0, 2.0, 3.0]))
    s = sigma_min(j, z)
    np.testing.assert_allclose(s, s[0], rtol=1e-9)  # rotation invariant
    np.testing.assert_allclose(s, _brute(j, z), rtol=1e-9)


def test_pseudospectrum_grid_levels_and_document():
    rng = np.random.default_rng(2)
    w, eigs = planted([0.95, -0.5], [0.7 * np.exp(1.0j)], rng)
    p = pseudospectrum(w, epsilon_stored=1e-6, grid=33, operator="x")
    assert p.sigma.shape == (33, 33) and p.levels.tolist() == pytest.approx(
        [1e-6 * 10**k for k in range(6)]  # on to the first decade past the margin 0.05
    )
    np.testing.assert_allclose(p.sigma, p.sigma[::-1], rtol=1e-9)  # real W: mirror symmetric
    zz = p.re[None, :] + 1j * p.im[:, None]
    np.testing.assert_allclose(p.sigma, np.abs(zz[..., None] - eigs).min(axis=-1), rtol=1e-8)
    assert p.margin == pytest.approx(0.05, rel=1e-6) and not p.within_stored_precision
    doc = p.to_dict()
    assert doc["unit_circle_epsilon"] == pytest.approx(0.05, rel=1e-6)
    assert doc["within_stored_precision"] is False
    assert doc["margin_over_stored_precision"] == pytest.approx(5e4, rel=1e-6)


def test_float32_orthogonal_margin_is_within_stored_precision():
    from rnndyn.spectrum import eigendecompose

    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((24, 24)))
    s = eigendecompose(q.astype(np.float32))[0]
    p = pseudospectrum(q.astype(np.float32).astype(float), epsilon_stored=s.epsilon, grid=17)
    assert p.margin <= s.epsilon and p.within_stored_precision


def test_figure_draws_contours_circle_and_the_touching_contour():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnndyn.plots import pseudospectra_grid

    rng = np.random.default_rng(5)
    items = [
        pseudospectrum(planted([0.9, 0.2], [0.5j], rng, cond=c)[0], epsilon_stored=1e-7, grid=25)
        for c in (None, 30.0)
    ]
    fig = pseudospectra_grid(items, checkpoint="x.pt")
    gids = {a.get_gid() for ax in fig.axes for a in ax.get_children()}
    assert {"unit-circle", "eigenvalues", "margin-point"} <= gids
    assert {"pseudospectrum-contours", "margin-contour"} <= gids
    assert "reaches |z| = 1 at ε = 0.1" in fig.axes[0].get_title()
    plt.close(fig)

"""The real-arithmetic diagnostics (``rnndyn.conditioning.diagnose``) against plain complex formulas,
and ``OperatorSpectrum.to_dict``'s vectorised lists against the per-element conversion."""

from __future__ import annotations

import math

import numpy as np

from rnndyn.conditioning import diagnose as _diagnose
from rnndyn.spectrum import eigendecompose, order_eigenvalues


def _perturbed_pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A real matrix with complex pairs, and eigenvectors perturbed so the residual is far from 0
    (conjugate columns kept exact, so the real-arithmetic path is the one taken)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, n)) / math.sqrt(n)
    lam, vec = np.linalg.eig(w)
    perm = order_eigenvalues(lam)
    lam, vec = lam[perm], vec[:, perm].copy()
    noise = 1e-3 * (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))
    vec += noise
    pos = np.flatnonzero(lam.imag > 0)
    vec[:, pos + 1] = vec[:, pos].conj()
    vec[:, lam.imag == 0] = vec[:, lam.imag == 0].real  # real eigenvalues keep real vectors
    assert pos.size > 3
    return w, lam, vec


def test_diagnostics_match_complex_formulas() -> None:
    for seed, n in ((0, 30), (1, 61)):
        w, lam, vec = _perturbed_pairs(n, seed)
        cond_each, kappa, resid = _diagnose(w, lam, vec)
        naive_resid = np.linalg.norm(w @ vec - vec * lam, axis=0).max() / np.linalg.norm(w)
        assert resid > 1e-5  # the perturbation shows
        assert math.isclose(resid, naive_resid, rel_tol=1e-12)
        vinv = np.linalg.inv(vec)
        np.testing.assert_allclose(cond_each, np.linalg.norm(vinv, axis=1), rtol=1e-9)
        naive_kappa = np.linalg.norm(vec, 2) * np.linalg.norm(vinv, 2)
        assert math.isclose(kappa, naive_kappa, rel_tol=1e-9)


def test_to_dict_lists_match_elementwise_conversion() -> None:
    w = np.diag([1.0, 0.5, 0.0, -0.25])  # |λ| = 1 and λ = 0: infinite and zero timescales
    w[0, 1] = 3.0
    spec = eigendecompose(w)[0]
    doc = spec.to_dict()

    def nn(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    assert doc["eigenvalues"] == [[float(z.real), float(z.imag)] for z in spec.eigenvalues]
    assert doc["timescales"] == [nn(t) for t in spec.timescales]
    assert doc["half_lives"] == [nn(t) for t in spec.half_lives]
    assert doc["periods"] == [nn(t) for t in spec.periods]
    assert doc["eigenvalue_condition"] == [nn(c) for c in spec.eigenvalue_condition]
    assert None in doc["timescales"] and all(
        type(x) is float for x in doc["eigenvalues"][0] + doc["half_lives"][1:]
    )

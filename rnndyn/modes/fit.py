"""Dynamic mode decomposition of sampled states: exact, with control, delay-embedded (own code).

A small float64 numpy implementation, tested against PyDMD (``pip install rnndyn[modes-test]``):

- snapshots: states ``(T, B, n)`` (or ``(T, n)``) become pairs ``(z_t, z_{t+1})`` within each
  sequence; with ``delays = d`` the state is the delay vector ``z_t = [h_t; h_{t−1}; …; h_{t−d+1}]``
  (``d·n`` values, HAVOK-style, Brunton et al. 2017). Inputs ``x`` follow ``Trajectories``:
  ``h_t = F(h_{t−1}, x_t)``, so the step ``z_t → z_{t+1}`` sees ``x_{t+1}``.
- affine: by default the snapshot means are removed first, i.e. ``z' ≈ A z (+ B x) + c``; a
  trained network's states wander around a point that is not the origin, and the offset ``c`` is
  not a mode (``center=False`` gives the textbook fit that PyDMD makes).
- exact DMD (Tu et al. 2014): ``X = U Σ Vᵀ`` truncated to rank ``r``;
  ``Ã = U_rᵀ Y V_r Σ_r⁻¹``; ``Ã W = W Λ``; exact modes ``Φ = Y V_r Σ_r⁻¹ W``.
- with control (DMDc, Proctor, Brunton & Kutz 2016): ``[A B] = Y [X; U]⁺`` first, then the same
  reduction with ``Y − B U`` in place of ``Y``, so the input's share of each step is not counted as
  recurrence.
- per mode, with coordinates ``a_t = (W⁻¹ U_rᵀ x_t)ᵢ`` (the left eigenvector's projection) and
  ``b_t`` the same of ``y_t``: ``residual = ‖b − λᵢ a‖ / ‖a‖`` over the snapshots — the one-step
  prediction error of that mode's coordinate (0 for an exactly linear, input-free system; the
  input's share counts unless ``control``; the nonlinearity's share always counts);
  ``amplitude`` = RMS of ``a`` over the snapshots.

Eigenvalues are discrete-time (per step), ordered as ``rnndyn.spectrum`` orders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnndyn.errors import InvalidInputError, UsageError
from rnndyn.spectrum import order_eigenvalues

#: Singular values below this fraction of the largest are dropped when no rank is given.
RTOL = 1e-10


@dataclass(frozen=True)
class DMDFit:
    """A fitted DMD. Shapes: ``r`` the rank, ``m = delays·n`` the (delay-)state size, ``D`` inputs.

    ``eigenvalues`` ``(r,)`` complex; ``modes`` ``(m, r)`` exact modes with unit-norm columns;
    ``amplitudes``, ``residuals`` ``(r,)``; ``operator`` ``(r, r)`` the reduced ``Ã`` in the POD
    basis ``basis`` ``(m, r)``; ``input_matrix`` ``(r, D)`` the reduced ``B̃`` (control) or None;
    ``singular_values`` of the centred ``X`` (all of them); ``samples`` snapshot pairs used.
    """

    eigenvalues: np.ndarray = field(repr=False)
    modes: np.ndarray = field(repr=False)
    amplitudes: np.ndarray = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    operator: np.ndarray = field(repr=False)
    basis: np.ndarray = field(repr=False)
    input_matrix: np.ndarray | None = field(repr=False)
    singular_values: np.ndarray = field(repr=False)
    rank: int
    delays: int
    samples: int
    control: bool
    center: bool

    @property
    def method(self) -> str:
        return "dmdc" if self.control else "exact"

    def settings(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "rank": self.rank,
            "delays": self.delays,
            "samples": self.samples,
            "control": self.control,
            "center": self.center,
        }


def _as_3d(a: np.ndarray, what: str, path: Any) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise InvalidInputError(f"{what} have dtype {a.dtype}; expected real numbers", path=path)
    if a.ndim == 2:
        a = a[:, None, :]
    if a.ndim != 3 or 0 in a.shape:
        raise InvalidInputError(
            f"{what} have shape {a.shape}; expected (T, n) or (T, B, n): time, batch, units",
            path=path,
            hint="Save one recorded sequence as (T, n), several as (T, B, n).",
        )
    if not np.isfinite(a).all():
        raise InvalidInputError(f"{what} hold NaN/Inf values", path=path)
    return a.astype(np.float64, copy=False)


def snapshots(
    states: np.ndarray, inputs: np.ndarray | None = None, *, delays: int = 1, path: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(X, Y, U)`` as columns: ``(m, N)``, ``(m, N)``, ``(D, N)`` or None (see module docstring)."""
    h = _as_3d(states, "states", path)
    t_len, batch, n = h.shape
    d = int(delays)
    if d < 1:
        raise UsageError(f"delays must be ≥ 1, got {delays}")
    if t_len < d + 1:
        raise InvalidInputError(
            f"states have {t_len} time steps; {d} delay(s) need at least {d + 1}", path=path
        )
    # z_t = [h_t; h_{t-1}; ...; h_{t-d+1}] for t = d-1 .. T-1: one strided view, no loop over time
    z = np.concatenate([h[d - 1 - k : t_len - k] for k in range(d)], axis=-1)  # (T-d+1, B, d·n)
    x = z[:-1].reshape(-1, d * n).T
    y = z[1:].reshape(-1, d * n).T
    u = None
    if inputs is not None:
        xin = _as_3d(inputs, "inputs", path)
        if xin.shape[:2] != (t_len, batch):
            raise InvalidInputError(
                f"inputs have shape {xin.shape}; the states {h.shape} need (T, B, D) = "
                f"({t_len}, {batch}, D)",
                path=path,
            )
        u = xin[d:].reshape(-1, xin.shape[-1]).T
    return x, y, u


def _rank(s: np.ndarray, rank: int | None, m: int, path: Any = None) -> int:
    keep = int((s > RTOL * s[0]).sum()) if s.size and s[0] > 0 else 0
    if keep == 0:
        raise InvalidInputError("the states do not move: every snapshot is the same", path=path)
    if rank is None:
        return keep
    if not 1 <= int(rank) <= m:
        raise UsageError(f"rank {rank} must lie in 1..{m} (the (delay-)state size)")
    return min(int(rank), keep)


def fit_dmd(
    states: np.ndarray,
    inputs: np.ndarray | None = None,
    *,
    rank: int | None = None,
    delays: int = 1,
    control: bool = False,
    center: bool = True,
    path: Any = None,
) -> DMDFit:
    """Fit DMD to states ``(T, B, n)`` or ``(T, n)``; ``inputs`` ``(T, B, D)`` for ``control``.

    Args:
        rank: POD rank ``r`` (default: every singular value above ``RTOL`` of the largest).
        delays: delay-embedding depth ``d`` (1: the plain state).
        control: DMD with control (needs ``inputs``); without it inputs are ignored.
        center: remove the snapshot means (an affine fit); False: the textbook linear fit.

    Raises:
        InvalidInputError: bad arrays (shape, NaN/Inf, too short, no motion);
        UsageError: bad rank or delays, control without inputs.
    """
    if control and inputs is None:
        raise UsageError("DMD with control needs the inputs (T, B, D) that drove the states")
    x, y, u = snapshots(states, inputs if control else None, delays=delays, path=path)
    if center:
        x = x - x.mean(axis=1, keepdims=True)
        y = y - y.mean(axis=1, keepdims=True)
        u = None if u is None else u - u.mean(axis=1, keepdims=True)
    m, n_samples = x.shape
    b_full = None
    if u is not None:  # [A B] = Y [X; U]^+ (least squares; minimum norm where rank-deficient)
        omega = np.vstack([x, u])
        g = np.linalg.lstsq(omega.T, y.T, rcond=RTOL)[0].T
        b_full = g[:, m:]
        y = y - b_full @ u
    uu, s, vh = np.linalg.svd(x, full_matrices=False)
    r = _rank(s, rank, m, path)
    ur, sr, vr = uu[:, :r], s[:r], vh[:r].T
    yv = (y @ vr) / sr  # Y V_r Σ_r⁻¹, (m, r)
    a_tilde = ur.T @ yv
    lam, w = np.linalg.eig(a_tilde)
    order = order_eigenvalues(lam)
    lam, w = lam[order], w[:, order]
    phi = yv @ w  # exact modes (unnormalised)
    coef = np.linalg.solve(w, ur.T @ x)  # (r, N) mode coordinates a_t = W⁻¹ U_rᵀ x_t
    step = np.linalg.solve(w, ur.T @ y)  # (r, N) the same of the next states
    scale = np.linalg.norm(coef, axis=1)
    residual = np.linalg.norm(step - lam[:, None] * coef, axis=1) / np.where(scale > 0, scale, 1)
    amplitude = scale / np.sqrt(n_samples)
    norms = np.linalg.norm(phi, axis=0)
    modes = phi / np.where(norms > 0, norms, 1.0)
    return DMDFit(
        eigenvalues=lam,
        modes=modes,
        amplitudes=amplitude,
        residuals=residual,
        operator=a_tilde,
        basis=ur,
        input_matrix=None if b_full is None else ur.T @ b_full,
        singular_values=s,
        rank=r,
        delays=int(delays),
        samples=int(n_samples),
        control=u is not None,
        center=bool(center),
    )

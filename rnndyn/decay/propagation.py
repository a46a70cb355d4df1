"""Perturbations along eigenmodes, propagated through the real per-step Jacobian products.

For every selected mode the perturbation starts as the mode's real basis vector(s) (``v`` for a real
eigenvalue; ``Re v`` and ``Im v`` for a conjugate pair), at every batch element at once, and is pushed
through ``J_{t0+1} … J_{t0+K}`` along the probe trajectory: one loop over time, each step one batched
GEMM (``jacobian.apply``) — no loop over modes or batch, no ``(T, N, H, H)`` tensor. Tangent columns
are renormalised every step (their log-norms accumulated), so long windows neither overflow nor
underflow. After each step the perturbation is read back in the mode's own modal coordinates
(rows of ``V⁻¹``); its amplitude is the Frobenius norm of that (1×1 or 2×2) block.

The propagation is exactly linear (Jacobian products), so "small" perturbations need no size. Steps
where a mode's own coordinate has fallen to the rounding floor of the other modes' content are left
out of the fit (``fit_steps``); the rate is the least-squares slope of the log amplitude over steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from rnndyn.dynamics.jacobian import apply, coefficient_chunks
from rnndyn.dynamics.modal import ModalBasis
from rnndyn.dynamics.network import LayerParams

PURITY = 0.5  # fit while ≥ this fraction of the perturbation norm is in the mode's eigenspace
LOG_TINY = -700.0


def cast(p: LayerParams, dtype: torch.dtype) -> LayerParams:
    """``p`` with every weight in ``dtype``."""
    conv = {k: getattr(p, k).to(dtype) for k in ("w_ih", "w_hh", "b_ih", "b_hh")}
    return replace(p, **conv, w_hr=None if p.w_hr is None else p.w_hr.to(dtype))


@dataclass(frozen=True)
class Propagation:
    """Per-group perturbation amplitudes over the window.

    ``log_amplitude`` ``(K+1, B, G)``: log of the amplitude relative to step 0; ``valid`` ``(K+1, B, G)``
    marks steps above the rounding floor. ``slopes`` ``(B, G)``: fitted log-rate per batch element.
    """

    log_amplitude: np.ndarray = field(repr=False)
    valid: np.ndarray = field(repr=False)
    slopes: np.ndarray = field(repr=False)

    @property
    def rate(self) -> np.ndarray:
        """``(G,)`` geometric mean over the batch of the fitted per-step rates."""
        return np.exp(self.slopes.mean(axis=0))

    def rate_ci(self, level: float = 0.95) -> np.ndarray:
        """``(G, 2)`` t-interval over the batch of the log-rates, exponentiated (NaN for B = 1)."""
        b = self.slopes.shape[0]
        if b < 2:
            return np.full((self.slopes.shape[1], 2), np.nan)
        mean = self.slopes.mean(axis=0)
        from scipy.special import stdtrit

        half = stdtrit(b - 1, 0.5 + level / 2) * self.slopes.std(axis=0, ddof=1) / np.sqrt(b)
        return np.exp(np.stack([mean - half, mean + half], axis=1))

    @property
    def fit_steps(self) -> np.ndarray:
        """``(G,)`` the last step used in the fit (median over the batch)."""
        last = self.valid.shape[0] - 1 - np.argmax(self.valid[::-1], axis=0)
        return np.median(last, axis=0).astype(int)

    def curve(self) -> np.ndarray:
        """``(G, K+1)`` batch-mean log amplitude ratio over the whole window (also past the fit)."""
        return self.log_amplitude.mean(axis=1).T


def _group_lse(q: torch.Tensor, first: torch.Tensor, second: torch.Tensor, pair: torch.Tensor):
    """log Σ_{j∈g} exp(q_j) over the last axis ``(…, c)`` → ``(…, G)`` (groups of one or two columns)."""
    a, b = q[..., first], q[..., second]
    return torch.where(pair, torch.logaddexp(a, b), a)


def propagate(
    p: LayerParams,
    basis: ModalBasis,
    trace: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
    steps: int,
    *,
    dtype: torch.dtype = torch.float32,
    purity: float = PURITY,
) -> Propagation:
    """Propagate every selected mode through the last ``steps`` Jacobians of ``trace``.

    ``trace`` = ``(x (T, B, D), h (T+1, B, P), c (T+1, B, H) | None)`` in processing order; the
    perturbation enters state ``T − steps`` and leaves after step ``T − 1``. ``dtype``: GEMM precision.
    Steps count towards the fit while at least ``purity`` of the perturbation's norm is still in
    the mode's own eigenspace (rounding, or nonlinear leakage into other modes, ends the fit).
    """
    x, h, c = trace
    t_len, batch = x.shape[0], x.shape[1]
    pw = cast(p, dtype)
    n, n_cols = basis.columns.shape
    groups = _Groups(basis)
    rows = torch.from_numpy(basis.rows).to(dtype)  # (c, n)
    ph = pw.out_size  # the h part; rows over an LSTM's c part are applied separately
    w_stack = torch.cat([pw.w_hh, rows[:, :ph]])  # read-back fused into each step's GEMM
    cols = torch.arange(n_cols)
    partner = groups.both[1]
    ones = torch.ones(1, pw.state_size, dtype=dtype)
    logq = torch.empty(steps + 1, batch, n_cols, dtype=torch.float64)
    pur = torch.empty_like(logq)

    def record(k: int, y: torch.Tensor, d: torch.Tensor, lognorm: torch.Tensor) -> None:
        """Own-block coordinates of unit columns ``y`` ``(c, B, c)`` → amplitude and purity at step k."""
        if n > ph:
            y = y + (rows[:, ph:] @ d[ph:n].reshape(n - ph, -1)).view_as(y)
        y1 = torch.diagonal(y, dim1=0, dim2=2).double()  # (B, c)
        y2 = y[partner, :, cols].T.double() * groups.has_partner
        sq = y1 * y1 + y2 * y2  # squared own-block coordinates of each (unit-norm) column
        g = groups.gram  # ‖own-eigenspace component‖² (purity²)
        pur[k] = g[0] * y1 * y1 + g[1] * y2 * y2 + 2 * g[2] * y1 * y2
        logq[k] = torch.log(sq) + 2 * lognorm

    square = torch.empty(pw.state_size, batch * n_cols, dtype=dtype)
    bufs = [torch.empty(w_stack.shape[0], batch * n_cols, dtype=dtype) for _ in range(2)]

    def col_norms(d: torch.Tensor) -> torch.Tensor:  # (B, c); a GEMV, not an outer reduction
        torch.mul(d.view(pw.state_size, -1), d.view(pw.state_size, -1), out=square)
        return (ones @ square).view(batch, n_cols).sqrt_()

    d = torch.zeros(pw.state_size, batch, n_cols, dtype=dtype)
    d[:n] = torch.from_numpy(basis.columns).to(dtype)[:, None, :]
    norms = col_norms(d)
    d.div_(norms)
    lognorm = torch.log(norms.double())
    k = 0
    for coef in coefficient_chunks(pw, x, h, c, t_len - steps, t_len):
        for t in range(next(iter(coef.values())).shape[0]):
            d_next, y = apply(
                pw, {name: v[t] for name, v in coef.items()}, d, w_stack=w_stack, out=bufs[k % 2]
            )  # ping-pong: never the buffer d lives in
            record(k, y, d, lognorm)
            d, k = d_next, k + 1
            norms = col_norms(d)
            d.div_(norms.clamp_min(torch.finfo(dtype).tiny))
            lognorm = lognorm + torch.log(norms.double())
    y = (rows[:, :ph] @ d[:ph].reshape(ph, -1)).view(n_cols, batch, n_cols)
    record(k, y, d, lognorm)
    log_amp = 0.5 * _group_lse(logq, groups.first, groups.second, groups.pair)
    log_amp = (log_amp - log_amp[0]).clamp_min(LOG_TINY)
    size = groups.pair.double() + 1
    gpur = (pur[..., groups.first] + groups.pair * pur[..., groups.second]) / size
    valid = torch.cummin((gpur.clamp_min(0) >= purity**2).to(torch.int8), dim=0).values.bool()
    valid[: min(2, steps + 1)] = True
    return Propagation(log_amp.numpy(), valid.numpy(), _fit(log_amp, valid).numpy())


class _Groups:
    """Column bookkeeping: each group is one real column or two adjacent columns ``[Re v, Im v]``."""

    def __init__(self, basis: ModalBasis):
        cg = basis.col_group
        idx = np.arange(cg.size)
        first = np.searchsorted(cg, np.arange(basis.n_groups))
        pair = basis.group_size == 2
        second = np.where(pair, first + 1, first)
        partner = idx.copy()
        partner[first[pair]], partner[second[pair]] = second[pair], first[pair]
        cols = basis.columns
        self.first, self.second = torch.from_numpy(first), torch.from_numpy(second)
        self.pair = torch.from_numpy(pair)
        self.both = torch.from_numpy(np.stack([idx, partner]))
        self.has_partner = torch.from_numpy((partner != idx).astype(np.float64))
        dot = np.einsum("nj,nj->j", cols, cols[:, partner])
        own2, other2 = (cols * cols).sum(0), (cols[:, partner] ** 2).sum(0)
        # (3, c): ‖b_j‖², ‖b_partner‖², ⟨b_j, b_partner⟩ (partner terms zero for a real mode)
        self.gram = torch.from_numpy(
            np.stack([own2, other2 * (partner != idx), dot * (partner != idx)])
        )


def _fit(y: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Masked least-squares slope of ``y`` ``(K+1, B, G)`` against the step index → ``(B, G)``."""
    w = valid.to(y.dtype)
    k = torch.arange(y.shape[0], dtype=y.dtype)[:, None, None]
    sw = w.sum(0)
    kbar = (w * k).sum(0) / sw
    ybar = (w * y).sum(0) / sw
    dk = (k - kbar) * w
    return (dk * (y - ybar)).sum(0) / (dk * (k - kbar)).sum(0)

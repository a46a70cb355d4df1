"""Lyapunov spectrum along a probe trajectory by the QR method (Benettin et al.; cf. Vogt et al. 2022).

An orthonormal frame ``Q`` ``(S, B, k)`` is pushed through the per-step Jacobians (``jacobian.apply``:
one GEMM per step) and re-orthonormalised every step (batched CholeskyQR2 in float64); the exponents are the
time-averaged ``log |diag R|`` after a warm-up, in nats per step, per batch element. For a stacked
network the per-step Jacobian is block lower-triangular across layers, so its spectrum is the union
of the layers' own spectra: ``network_exponents`` merges the forward-direction layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rnndyn.decay.propagation import cast
from rnndyn.dynamics.jacobian import apply, coefficient_chunks
from rnndyn.dynamics.network import LayerParams


@dataclass(frozen=True)
class LyapunovSpectrum:
    """Leading ``k`` exponents of one layer and direction (nats per step, descending).

    ``per_sample`` ``(B, k)``; ``exponents`` ``(k,)`` their batch mean; ``ci`` ``(k, 2)`` 95 % t-interval.
    """

    layer: int
    direction: str
    steps: int
    warmup: int
    per_sample: np.ndarray = field(repr=False)

    @property
    def exponents(self) -> np.ndarray:
        return self.per_sample.mean(axis=0)

    @property
    def ci(self) -> np.ndarray:
        b = self.per_sample.shape[0]
        if b < 2:
            return np.full((self.per_sample.shape[1], 2), np.nan)
        from scipy.special import stdtrit

        half = stdtrit(b - 1, 0.975) * self.per_sample.std(axis=0, ddof=1) / np.sqrt(b)
        return np.stack([self.exponents - half, self.exponents + half], axis=1)

    def to_dict(self) -> dict[str, Any]:
        fin = [[_num(a), _num(b)] for a, b in self.ci]
        return {
            "layer": self.layer,
            "direction": self.direction,
            "steps": self.steps,
            "warmup": self.warmup,
            "exponents": [_num(v) for v in self.exponents],
            "ci": fin,
        }


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _cholesky_qr(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``a = Q R`` by Cholesky of ``aᵀa`` (batched ``(B, S, k)``); None when ``aᵀa`` is not PD."""
    r, info = torch.linalg.cholesky_ex(a.mT @ a, upper=True)
    if bool(info.any()):
        return None
    eye = torch.eye(r.shape[-1], dtype=r.dtype).expand_as(r)
    r_inv = torch.linalg.solve_triangular(r, eye, upper=True)  # (B, k, k): tiny
    return a @ r_inv, r  # a GEMM, much faster than a batched right-sided triangular solve


def orthonormalize(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-orthonormalise a frame ``(S, B, k)``: ``(Q (S, B, k), log|diag R| (B, k))`` in float64.

    CholeskyQR2 (two Cholesky-QR passes: GEMM speed, Householder accuracy for the moderately
    conditioned frames of one step); Householder QR when the Gram matrix is not positive definite.
    """
    a = q.permute(1, 0, 2).double()
    first = _cholesky_qr(a)
    second = None if first is None else _cholesky_qr(first[0])
    if second is not None:
        qn = second[0]
        diag = torch.diagonal(first[1], dim1=-2, dim2=-1) * torch.diagonal(
            second[1], dim1=-2, dim2=-1
        )
    else:
        qn, r = torch.linalg.qr(a)
        diag = torch.diagonal(r, dim1=-2, dim2=-1)
    logdiag = torch.log(diag.abs().clamp_min(torch.finfo(torch.float64).tiny))
    return qn.permute(1, 0, 2).to(q.dtype).contiguous(), logdiag


def lyapunov_spectrum(
    p: LayerParams,
    trace: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
    n_exponents: int,
    *,
    start: int = 0,
    warmup: int | None = None,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> LyapunovSpectrum:
    """The leading ``n_exponents`` Lyapunov exponents along ``trace`` (``Trajectories.trace`` order),
    over steps ``start..T-1``; the first ``warmup`` of them (default a quarter) align the frame.
    """
    x, h, c = trace
    t_len, batch = x.shape[0] - start, x.shape[1]
    warmup = t_len // 4 if warmup is None else min(max(warmup, 0), t_len - 1)
    pw = cast(p, dtype)
    k = min(n_exponents, pw.state_size)
    g = torch.Generator().manual_seed(seed)
    q0, _ = torch.linalg.qr(torch.randn(pw.state_size, k, generator=g, dtype=torch.float64))
    q = q0.to(dtype)[:, None, :].expand(-1, batch, -1).contiguous()
    acc = torch.zeros(batch, k, dtype=torch.float64)
    t = 0
    for coef in coefficient_chunks(pw, x, h, c, start):
        for i in range(next(iter(coef.values())).shape[0]):
            q = apply(pw, {name: v[i] for name, v in coef.items()}, q)
            q, logdiag = orthonormalize(q)
            if t >= warmup:
                acc += logdiag
            t += 1
    per = (acc / (t_len - warmup)).numpy()
    return LyapunovSpectrum(
        p.layer, p.direction, t_len - warmup, warmup, np.sort(per, axis=1)[:, ::-1]
    )


def network_exponents(spectra: list[LyapunovSpectrum], n: int) -> np.ndarray:
    """The network's leading ``n`` exponents: the union of its forward-direction layers' spectra."""
    fwd = [s.exponents for s in spectra if s.direction == "forward"]
    if not fwd:
        return np.empty(0)
    return np.sort(np.concatenate(fwd))[::-1][:n]

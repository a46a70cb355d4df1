"""Lyapunov spectrum along a probe trajectory by the QR method (Benettin et al.; cf. Vogt et al. 2022).

An orthonormal frame ``Q`` ``(S, B, k)`` is pushed through the per-step Jacobians (``jacobian.apply``:
one GEMM per step) and re-orthonormalised every step (batched CholeskyQR2 in float64); the exponents are the
time-averaged ``log |diag R|`` after a warm-up, in nats per step, per batch element. For a stacked
network the per-step Jacobian is block lower-triangular across layers, so its spectrum is the union
of the layers' own spectra: ``network_exponents`` merges the forward-direction layers.

Convergence: every batch element starts from its own random frame, and the averaging window is
split in two halves with the exponents estimated on each. An exponent counts as converged when the
batch-mean difference between the halves is within ``TOL · max(1, |λ|)`` nats per step, or within
three standard errors of that difference over the batch where a noisy drive makes the halves
fluctuate more than that: finite-time transients of non-normal maps and frames still aligning show
up as a systematic difference. Windows shorter than ``MIN_WINDOW`` (100) steps never count as
converged (finite-time exponents). The batch interval (``ci``) gives the statistical precision.
A Jacobian that maps a direction to exactly zero (dead ReLU units) gives ``-inf``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rnndyn.dynamics.jacobian import apply, coefficient_chunks
from rnndyn.dynamics.network import LayerParams, Network, cast
from rnndyn.dynamics.trajectories import Trajectories

TOL = 0.01  # nats per step (times max(1, |λ|)) between the two halves of the window
MIN_WINDOW = 100  # averaging steps below which exponents are finite-time estimates only
LYAPUNOV_BATCH = 8  # sequences: a QR per step and sequence is the costly part


@dataclass(frozen=True)
class LyapunovSpectrum:
    """Leading ``k`` exponents of one layer and direction (nats per step, descending).

    ``per_sample`` ``(B, k)``; ``exponents`` ``(k,)`` their batch mean; ``ci`` ``(k, 2)`` 95 % t-interval;
    ``halves`` ``(2, B, k)`` the estimates over the first and second half of the window.
    """

    layer: int
    direction: str
    steps: int
    warmup: int
    per_sample: np.ndarray = field(repr=False)
    halves: np.ndarray | None = field(default=None, repr=False)

    @property
    def half_difference(self) -> np.ndarray:
        """``(k,)`` batch-mean second-half minus first-half estimate (NaN without halves)."""
        if self.halves is None:
            return np.full(self.per_sample.shape[1], np.nan)
        with np.errstate(invalid="ignore"):
            return (self.halves[1] - self.halves[0]).mean(0)

    @property
    def converged(self) -> np.ndarray:
        """``(k,)`` whether the halves agree within ``max(TOL · max(1, |λ|), 3 SE)`` (an exponent
        of −∞ in both halves counts as converged)."""
        if self.halves is None or self.steps < MIN_WINDOW:
            return np.zeros(self.per_sample.shape[1], bool)
        e = self.exponents
        tol = TOL * np.maximum(1.0, np.abs(np.where(np.isfinite(e), e, 0)))
        with np.errstate(invalid="ignore"):
            diff = self.halves[1] - self.halves[0]
            b = diff.shape[0]
            se = diff.std(0, ddof=1) / np.sqrt(b) if b > 1 else np.zeros(diff.shape[1])
            same_inf = np.isinf(self.halves).all((0, 1))
            return (np.abs(diff.mean(0)) <= np.maximum(tol, 3 * np.nan_to_num(se))) | same_inf

    @property
    def exponents(self) -> np.ndarray:
        return self.per_sample.mean(axis=0)

    @property
    def ci(self) -> np.ndarray:
        b = self.per_sample.shape[0]
        if b < 2:
            return np.full((self.per_sample.shape[1], 2), np.nan)
        from scipy.special import stdtrit

        with np.errstate(invalid="ignore"):  # −∞ exponents: no interval
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
            "half_difference": [_num(v) for v in self.half_difference],
            "converged": [bool(v) for v in self.converged],
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
    if first is not None and second is not None:
        qn = second[0]
        diag = torch.diagonal(first[1], dim1=-2, dim2=-1) * torch.diagonal(
            second[1], dim1=-2, dim2=-1
        )
    else:
        qn, r = torch.linalg.qr(a)
        diag = torch.diagonal(r, dim1=-2, dim2=-1)
    logdiag = torch.log(diag.abs())  # -inf: the step mapped a direction to exactly zero
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
    p64 = cast(p, torch.float64)  # coefficients from float64 states: no spurious saturation
    k = min(n_exponents, pw.state_size)
    g = torch.Generator().manual_seed(seed)
    start_frames = torch.randn(batch, pw.state_size, k, generator=g, dtype=torch.float64)
    q = torch.linalg.qr(start_frames)[0].permute(1, 0, 2).to(dtype).contiguous()  # one per element
    acc = torch.zeros(2, batch, k, dtype=torch.float64)
    window = t_len - warmup
    t = 0
    for coef in coefficient_chunks(p64, x, h, c, start):
        for i in range(next(iter(coef.values())).shape[0]):
            q = apply(pw, {name: v[i].to(dtype) for name, v in coef.items()}, q)
            q, logdiag = orthonormalize(q)
            if t >= warmup:
                acc[int(2 * (t - warmup) >= window)] += logdiag
            t += 1
    half = (window + 1) // 2  # steps in the first half
    per = ((acc[0] + acc[1]) / window).numpy()
    halves = np.stack(
        [
            np.sort((acc[0] / max(half, 1)).numpy(), axis=1)[:, ::-1],
            np.sort((acc[1] / max(window - half, 1)).numpy(), axis=1)[:, ::-1],
        ]
    )
    return LyapunovSpectrum(
        p.layer, p.direction, window, warmup, np.sort(per, axis=1)[:, ::-1], halves
    )


def network_exponents(spectra: list[LyapunovSpectrum], n: int) -> np.ndarray:
    """The network's leading ``n`` exponents: the union of its forward-direction layers' spectra."""
    fwd = [s.exponents for s in spectra if s.direction == "forward"]
    if not fwd:
        return np.empty(0)
    return np.sort(np.concatenate(fwd))[::-1][:n]


def network_lyapunov(
    net: Network,
    traj: Trajectories,
    n_exp: int,
    dtype: torch.dtype,
    seed: int,
    notes: list[str],
    batch: int = LYAPUNOV_BATCH,
) -> tuple[tuple[LyapunovSpectrum, ...], np.ndarray]:
    """Per-layer spectra over the whole probe (first ``batch`` sequences) and the network's merged
    exponents; a note for every layer that did not converge or has −∞ exponents."""
    mod = net.module
    spectra = []
    for layer in range(mod.num_layers):
        for d in mod.directions:
            p = net.layer(layer, d, input_size=traj.layer_inputs(layer).shape[-1])
            x, h, c = traj.trace(layer, d)
            b = batch
            trace = (x[:, :b], h[:, :b], None if c is None else c[:, :b])
            spectra.append(lyapunov_spectrum(p, trace, n_exp, dtype=dtype, seed=seed))
    for sp in spectra:
        bad = ~sp.converged
        where = f"Lyapunov exponents of layer {sp.layer} {sp.direction} not converged"
        if sp.steps < MIN_WINDOW:
            notes.append(
                f"{where}: the {sp.steps}-step window is shorter than {MIN_WINDOW} steps, so they "
                "are finite-time estimates (use a longer probe, --length)"
            )
        elif bad.any():
            worst = float(np.nanmax(np.abs(sp.half_difference[bad]), initial=0.0))
            notes.append(
                f"{where}: {int(bad.sum())} of {bad.size} differ between the two halves of the "
                f"{sp.steps}-step window by up to {worst:.2g} nats/step (use a longer probe, --length)"
            )
        if np.isneginf(sp.exponents).any():
            notes.append(
                f"layer {sp.layer} {sp.direction}: some directions are mapped to exactly zero "
                "(dead units): exponent −∞"
            )
    return tuple(spectra), network_exponents(spectra, n_exp)

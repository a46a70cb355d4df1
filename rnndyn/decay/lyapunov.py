"""Lyapunov spectrum along a probe trajectory by the QR method (Benettin et al.; cf. Vogt et al. 2022).

An orthonormal frame ``Q`` ``(S, B, k)`` is pushed through the per-step Jacobians (``jacobian.apply``:
one GEMM per step) and re-orthonormalised (batched Householder QR, LAPACK, float64) every few steps:
as often as keeps the pushed frame's condition number below 1e6 (1e2 when the products run in
float32), at most every ``MAX_INTERVAL`` steps. The product of the ``R`` factors is the ``R`` of the
product, so this gives the sums of a QR every step, for a fraction of the QRs. The exponents are the
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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.dynamics.numpy_rnn import run_rnn
from rnndyn.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from rnndyn.dynamics.network import LayerParams, Network
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

    def to_dict(self) -> JsonObject:
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


def orthonormalize(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-orthonormalise frames ``(S, B, k)``: ``(Q (S, B, k), log|diag R| (B, k))`` in float64.

    Householder QR (LAPACK, batched over ``B``): backward stable, so the frame may have been pushed
    through several steps (condition number up to ``exp(log_spread)``) before it is called.
    """
    qn, r = np.linalg.qr(np.ascontiguousarray(np.asarray(q, np.float64).transpose(1, 0, 2)))
    with np.errstate(divide="ignore"):  # -inf: a step mapped a direction to exactly zero
        logdiag = np.log(np.abs(np.diagonal(r, axis1=-2, axis2=-1)))
    return np.ascontiguousarray(qn.transpose(1, 0, 2)), logdiag


LOG_SPREAD = {8: np.log(1e6), 4: np.log(1e2)}  # ln of the frame's condition allowed between QRs
MAX_INTERVAL = 16  # steps between re-orthonormalisations at most


def qr_recursion(
    push: Callable[[int, int, np.ndarray], np.ndarray],
    q: np.ndarray,
    t_len: int,
    warmup: int,
    *,
    log_spread: float = LOG_SPREAD[8],
) -> np.ndarray:
    """Sum of ``log|diag R|`` ``(2, B, k)`` over the two halves of steps ``warmup..t_len-1``.

    ``push(t0, t1, q)`` applies the Jacobians of steps ``t0..t1-1`` to frames ``q`` ``(S, B, k)``.
    The frames are re-orthonormalised every ``m`` steps, ``m`` chosen from the last interval's spread
    of ``log|diag R|`` so that the pushed frame's condition stays below ``exp(log_spread)`` (at most
    ``MAX_INTERVAL``; 1 after a −∞); the product of the ``R`` factors is the ``R`` of the product, so
    the sums are those of a QR every step up to rounding. Intervals never straddle the warm-up's or
    the halves' boundary.
    """
    batch, k = q.shape[1], q.shape[2]
    acc = np.zeros((2, batch, k))
    window = t_len - warmup
    half = (window + 1) // 2
    bounds = [b for b in (warmup, warmup + half, t_len) if b > 0]
    t, m = 0, 1
    while t < t_len:
        stop = min(t + m, next(b for b in bounds if b > t))
        q, logdiag = orthonormalize(push(t, stop, q))
        if t >= warmup:
            acc[int(t >= warmup + half)] += logdiag
        with np.errstate(invalid="ignore"):
            rate = float(np.max(np.ptp(logdiag, axis=-1))) / (stop - t) if k > 1 else 0.0
        m = (
            1
            if not np.isfinite(rate)
            else int(min(MAX_INTERVAL, max(1, log_spread // max(rate, 1e-12))))
        )
        t = stop
    return acc


def lyapunov_spectrum(
    p: LayerParams,
    trace: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
    n_exponents: int,
    *,
    start: int = 0,
    warmup: int | None = None,
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> LyapunovSpectrum:
    """The leading ``n_exponents`` Lyapunov exponents along ``trace`` (``Trajectories.trace`` order),
    over steps ``start..T-1``; the first ``warmup`` of them (default a quarter) align the frame.
    ``dtype`` (default float32) is the precision of the Jacobian products; QR is float64.
    """
    import torch

    from rnndyn.dynamics.jacobian import apply, coefficient_chunks
    from rnndyn.dynamics.network import CAST_VIEWS, cast

    dtype = torch.float32 if dtype is None else dtype
    x, h, c = trace
    t_len = x.shape[0] - start
    warmup = t_len // 4 if warmup is None else min(max(warmup, 0), t_len - 1)
    pw = getattr(p, CAST_VIEWS.get(dtype, ""), None) or cast(p, dtype)  # converted once
    p64 = p.float64  # coefficients from float64 states: no spurious saturation
    chunks = coefficient_chunks(p64, x, h, c, start)
    have: list[Any] = [0, {}]  # first step of the current chunk, its coefficients in ``dtype``

    def push(t0: int, t1: int, q: np.ndarray) -> np.ndarray:
        d = torch.from_numpy(q).to(dtype)
        for t in range(t0, t1):
            while t >= have[0] + len(next(iter(have[1].values()), ())):
                have[0] += len(next(iter(have[1].values()), ()))
                have[1] = {name: v.to(dtype) for name, v in next(chunks).items()}
            i = t - have[0]
            d = apply(pw, {name: v[i] for name, v in have[1].items()}, d)
        return d.to(torch.float64).numpy()

    # start frames as before the NumPy QR (torch's generator): results unchanged up to rounding
    g = torch.Generator().manual_seed(seed)
    k = min(n_exponents, p.state_size)
    start_frames = torch.randn(x.shape[1], p.state_size, k, generator=g, dtype=torch.float64)
    q0 = torch.linalg.qr(start_frames)[0].permute(1, 0, 2).contiguous().numpy()
    bits = 8 if dtype == torch.float64 else 4
    return _spectrum(p.layer, p.direction, q0, t_len, warmup, push, LOG_SPREAD[bits])


def _spectrum(
    layer: int,
    direction: str,
    q: np.ndarray,
    t_len: int,
    warmup: int,
    push: Callable[[int, int, np.ndarray], np.ndarray],
    log_spread: float,
) -> LyapunovSpectrum:
    """Exponents from start frames ``q`` ``(S, B, k)`` (one per batch element) pushed by ``push``."""
    acc = qr_recursion(push, q, t_len, warmup, log_spread=log_spread)
    window = t_len - warmup
    half = (window + 1) // 2  # steps in the first half
    per = (acc[0] + acc[1]) / window
    halves = np.stack(
        [
            np.sort(acc[0] / max(half, 1), axis=1)[:, ::-1],
            np.sort(acc[1] / max(window - half, 1), axis=1)[:, ::-1],
        ]
    )
    return LyapunovSpectrum(layer, direction, window, warmup, np.sort(per, axis=1)[:, ::-1], halves)


def rnn_lyapunov_spectrum(
    w_hh: np.ndarray,
    w_ih: np.ndarray,
    inputs: np.ndarray,
    n_exponents: int,
    *,
    bias: np.ndarray | None = None,
    nonlinearity: str = "tanh",
    h0: np.ndarray | None = None,
    warmup: int | None = None,
    seed: int = 0,
    frames: np.ndarray | None = None,
) -> LyapunovSpectrum:
    """Lyapunov spectrum of a vanilla RNN ``h_t = φ(W_hh h_{t-1} + W_ih x_t + b)`` driven by
    ``inputs`` ``(T, B, D)`` (or ``(T, D)``), in NumPy float64 without torch.

    The same QR method as ``lyapunov_spectrum`` (per-step Jacobians ``diag(φ'(pre_t)) W_hh``,
    their coefficients computed for every step at once after the simulation). ``frames``
    ``(H, B, k)``: orthonormal start frames (default random from ``seed``; ``n_exponents`` unused).
    """
    w = np.asarray(w_hh, np.float64)
    states, pre = run_rnn(w, w_ih, inputs, bias=bias, nonlinearity=nonlinearity, h0=h0)
    t_len, batch, hsz = states.shape
    coef = 1.0 - states**2 if nonlinearity == "tanh" else (pre > 0).astype(np.float64)
    coef = np.ascontiguousarray(coef.transpose(0, 2, 1))  # (T, H, B): state-major, as ``apply``

    def push(t0: int, t1: int, q: np.ndarray) -> np.ndarray:
        s, b, k = q.shape
        for t in range(t0, t1):
            q = (w @ q.reshape(s, b * k)).reshape(s, b, k)
            q *= coef[t][..., None]
        return q

    warmup = t_len // 4 if warmup is None else min(max(warmup, 0), t_len - 1)
    if frames is None:
        k = min(n_exponents, hsz)
        frames = orthonormalize(np.random.default_rng(seed).standard_normal((hsz, batch, k)))[0]
    elif frames.shape[:2] != (hsz, batch):
        raise UsageError(f"frames {frames.shape}: expected ({hsz}, {batch}, k)")
    return _spectrum(0, "forward", frames, t_len, warmup, push, LOG_SPREAD[8])


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
    dtype: torch.dtype | None,
    seed: int,
    notes: list[str],
    batch: int = LYAPUNOV_BATCH,
) -> tuple[tuple[LyapunovSpectrum, ...], np.ndarray]:
    """Per-layer spectra over the whole probe (first ``batch`` sequences) and the network's merged
    exponents; a note for every layer that did not converge or has −∞ exponents."""
    spectra = []
    for run in traj.runs.values():
        x, h, c = run.trace
        trace = (x[:, :batch], h[:, :batch], None if c is None else c[:, :batch])
        p = run.params
        if p is None:  # trajectories built by hand: the weights from the network
            p = net.layer(run.layer, run.direction, input_size=run.inputs.shape[-1])
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

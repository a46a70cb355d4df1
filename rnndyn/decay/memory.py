"""Lagged decoding: how well the input ``x_{t−k}`` can be read out linearly from states at time ``t``.

``memory_fit`` fits one linear readout per lag ``k = 0..L`` and input channel (and per feature group:
each mode's one or two real coordinates, or all features at once) and scores it by **held-out** R²,
cross-fitted: the samples are split in two halves (by batch element when ``B ≥ 2``, else by time),
each half's readout is scored on the other, and the two R² are averaged; each is clipped to ``[0, 1]``.

No fixed penalty biases the readout: the ridge penalty is chosen per lag and channel by generalised
cross-validation on the training half over a grid that includes plain least squares, in the
SVD of the (standardised, float64) training features themselves, and held-out residuals are
computed from the data, not from normal equations — so a state Gram condition number of 1e14 still
resolves; singular values below ``max(n, p)·eps`` of the largest are dropped (pseudo-inverse).
Per-mode readouts (one or two features) use the same GCV choice on 2×2 moments. Input channels with
no variance give NaN. The readout from all features runs in NumPy (no torch import: the torch-free
path of a vanilla RNN read from a NumPy file); the per-mode readouts in torch.

The memory capacity is ``MC = Σ_k R²_k`` per channel — Jaeger's (2001) definition, with lags counted
from 0 because here ``x_t`` already enters ``h_t``; for a network driven by i.i.d. input the total
over channels is at most the state size. Held-out R² is biased low by about ``p / n`` per lag (``p``
features, ``n`` training samples): ``bias_bound`` estimates the total, and the caller notes it.
With inputs that are not i.i.d. (task probes) R² also counts what ``x_t`` tells about ``x_{t−k}``
itself, so MC can exceed the state size: use a noise probe for Jaeger's capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from rnndyn.dynamics.network import Network
    from rnndyn.dynamics.probes import Probe
    from rnndyn.dynamics.trajectories import Trajectories

CUTOFF = 1e-12  # Gram eigenvalues below this fraction of the largest are dropped
ALPHAS = np.concatenate([[0.0], np.geomspace(1e-10, 1e2, 25)])  # × mean Gram eigenvalue


@dataclass(frozen=True, eq=False)
class MemoryFit:
    """``r2`` ``(G, L+1, D)`` held-out R² per group, lag and input channel (NaN: channel constant);
    ``n_train`` samples per fit, ``features`` per group (largest), ``condition`` of the Gram matrix."""

    r2: np.ndarray = field(repr=False)
    n_train: int
    features: int
    condition: float

    @property
    def summed(self) -> np.ndarray:
        """``(G, L+1)`` R² summed over the varying channels (NaN when none varies)."""
        ok = np.isfinite(self.r2).any(-1)
        return np.where(ok, np.nansum(self.r2, -1), np.nan)

    def bias_bound(self) -> float:
        """Rough size of the held-out bias of the first group's capacity: ``Σ_k (1 − R²_k) p/(n − p)``."""
        r2 = np.nan_to_num(self.r2[0], nan=1.0)
        return float((1 - r2).sum() * self.features / max(self.n_train - self.features, 1))


def _halves(z, x, max_lag: int):
    """Two ``(features (t, b, p), inputs (T, b, D), t0)`` halves (torch tensors or NumPy arrays)."""
    t_len, batch = z.shape[:2]
    if batch >= 2:
        half = batch // 2
        z = z[max_lag:]
        a, b = (z[:, :half], x[:, :half]), (z[:, half:], x[:, half:])
        if isinstance(z, np.ndarray):
            return (*map(np.ascontiguousarray, a), max_lag), (
                *map(np.ascontiguousarray, b),
                max_lag,
            )
        return (*(v.contiguous() for v in a), max_lag), (*(v.contiguous() for v in b), max_lag)
    mid = (max_lag + t_len) // 2
    return (z[max_lag:mid], x, max_lag), (z[mid:], x, mid)


def _moments(z: torch.Tensor, x: torch.Tensor, t0: int, lags: int):
    """Gram ``(p, p)``, sums ``(p,)``, cross ``(p, K, D)``, target sums and sums of squares ``(K, D)``
    of one half (uncentred; one GEMV per lag over a contiguous time window, no lag stack)."""
    import torch

    n_t, p = z.shape[0], z.shape[-1]
    zf = z.reshape(-1, p)
    x = x.contiguous()
    d = x.shape[-1]
    cs = torch.cat([x.new_zeros(1, d), x.sum(1).cumsum(0)])
    css = torch.cat([x.new_zeros(1, d), (x * x).sum(1).cumsum(0)])
    start = t0 - torch.arange(lags + 1)
    cross = torch.empty(p, lags + 1, d, dtype=z.dtype)
    for k in range(lags + 1):
        cross[:, k] = zf.T @ x[t0 - k : t0 - k + n_t].view(-1, d)
    return {
        "n": zf.shape[0],
        "g": zf.T @ zf,
        "s": zf.sum(0),
        "c": cross,
        "ys": cs[start + n_t] - cs[start],
        "yy": css[start + n_t] - css[start],
    }


def _centred(m: dict, mu_z: torch.Tensor, mu_y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Gram, cross and SST of one half about the given feature and target means."""
    import torch

    n = m["n"]
    g = m["g"] - torch.outer(m["s"], mu_z) - torch.outer(mu_z, m["s"]) + n * torch.outer(mu_z, mu_z)
    c = (
        m["c"]
        - m["s"][:, None, None] * mu_y
        - mu_z[:, None, None] * m["ys"]
        + n * mu_z[:, None, None] * mu_y
    )
    sst = m["yy"] - 2 * mu_y * m["ys"] + n * mu_y**2
    return g, c, sst


def _gcv_filter(lam: torch.Tensor, ct: torch.Tensor, sst: torch.Tensor, n: int) -> torch.Tensor:
    """Per group and target, the ridge filter ``1/(λ+α)`` with α chosen by GCV → ``(G, m, targets)``.

    ``lam`` ``(G, m)`` Gram eigenvalues (dropped ones zero), ``ct`` ``(G, m, targets)`` cross-moments
    in the eigenbasis, ``sst`` ``(targets,)`` training sums of squares about their mean."""
    import torch

    keep = lam > 0
    scale = (lam * keep).sum(-1) / keep.sum(-1).clamp_min(1)  # (G,)
    alphas = torch.from_numpy(ALPHAS)[None, :] * scale[:, None]  # (G, A)
    inv = torch.where(keep[:, None, :], 1 / (lam[:, None, :] + alphas[..., None]), 0.0)  # (G, A, m)
    c2 = ct * ct
    rss = sst - 2 * (inv @ c2) + ((lam[:, None, :] * inv * inv) @ c2)  # (G, A, targets)
    df = (lam[:, None, :] * inv).sum(-1, keepdim=True)
    gcv = n * rss / (n - df).clamp_min(1.0) ** 2
    best = torch.argmin(gcv, 1)  # (G, targets)
    return torch.take_along_dim(inv, best[:, :, None], 1).mT  # (G, m, targets)


def _score(fit_m: dict, test_m: dict, mu_z, sd, idx: torch.Tensor, mask: torch.Tensor):
    """Held-out R² ``(G, K, D)`` of per-group readouts (≤ 2 features each: well-conditioned
    moments) fitted on ``fit_m`` and scored on ``test_m``.

    ``idx`` ``(G, m)`` feature indices of each group, ``mask`` ``(G, m)`` which of them are real."""
    import torch

    n_tr = fit_m["n"]
    mu_y = fit_m["ys"] / n_tr
    g_tr, c_tr, sst_tr = _centred(fit_m, mu_z, mu_y)
    g_te, c_te, _ = _centred(test_m, mu_z, mu_y)
    mu_te = test_m["ys"] / test_m["n"]
    sst_te = test_m["yy"] - test_m["n"] * mu_te**2
    inv_sd = 1 / sd
    m = mask.to(g_tr.dtype)
    m2 = m[:, :, None] * m[:, None, :]
    pick = (idx[:, :, None], idx[:, None, :])
    gs_tr = g_tr[pick] * inv_sd[idx][:, :, None] * inv_sd[idx][:, None, :] * m2
    gs_te = g_te[pick] * inv_sd[idx][:, :, None] * inv_sd[idx][:, None, :] * m2
    _, k, d = c_tr.shape
    cs_tr = (c_tr[idx] * inv_sd[idx][..., None, None]).reshape(*idx.shape, k * d) * m[..., None]
    cs_te = (c_te[idx] * inv_sd[idx][..., None, None]).reshape(*idx.shape, k * d) * m[..., None]
    lam, q = torch.linalg.eigh(gs_tr)
    lam = torch.where(lam > CUTOFF * lam.amax(-1, keepdim=True).clamp_min(1e-300), lam, 0.0)
    ct = q.mT @ cs_tr
    beta = q @ (_gcv_filter(lam, ct, sst_tr.reshape(-1), n_tr) * ct)  # (G, m, K·D)
    sse = (sst_te + test_m["n"] * (mu_te - mu_y) ** 2).reshape(-1)
    sse = sse - 2 * (beta * cs_te).sum(1) + (beta * (gs_te @ beta)).sum(1)
    ok = sst_te > 1e-12 * max(float(sst_te.max()), 1e-300)
    r2 = (1 - sse / torch.where(ok, sst_te, 1.0).reshape(-1)).reshape(-1, k, d)
    return torch.where(ok, r2.clamp(0.0, 1.0), torch.nan)


def _targets(x: np.ndarray, t0: int, n_t: int, lags: int) -> np.ndarray:
    """``(n, (L+1)·D)`` the lagged inputs ``x_{t−k}`` of every sample, lag-major."""
    d = x.shape[-1]
    cols = [x[t0 - k : t0 - k + n_t].reshape(-1, d) for k in range(lags + 1)]
    return np.stack(cols, 1).reshape(-1, (lags + 1) * d)


def _score_data(
    za: np.ndarray, ya: np.ndarray, zb: np.ndarray, yb: np.ndarray
) -> tuple[np.ndarray, float]:
    """Held-out R² ``(targets,)`` of one readout from all features, fitted on ``(za, ya)`` and scored
    on ``(zb, yb)`` from the data themselves (no normal equations): SVD of ``za``, GCV ridge filter
    ``s/(s²+α)`` with small singular values dropped, residuals computed directly. Also returns the
    condition number of ``za``'s Gram matrix."""
    mu = ya.mean(0)
    u, sv, vh = np.linalg.svd(za, full_matrices=False)
    keep = sv > max(za.shape) * np.finfo(za.dtype).eps * max(float(sv.max()), 1e-300)
    lam = np.where(keep, sv * sv, 0.0)
    uty = u.T @ (ya - mu)  # (p, targets)
    scale = lam[keep].mean() if keep.any() else 1.0
    denom = lam + ALPHAS[:, None] * scale  # 0 only for a dropped value with α = 0
    f = np.divide(lam, denom, out=np.zeros_like(denom), where=keep & (denom > 0))  # (A, p)
    rss = ((ya - mu) ** 2).sum(0) - (2 * f - f * f) @ (uty * uty)  # (A, targets)
    n = za.shape[0]
    gcv = n * rss / np.maximum(n - f.sum(1, keepdims=True), 1.0) ** 2
    fbest = f[np.argmin(gcv, 0)].T  # (p, targets)
    coef = fbest / np.where(keep, sv, 1.0)[:, None] * uty
    pred = zb @ (vh.T @ coef) + mu
    sst_b = ((yb - yb.mean(0)) ** 2).sum(0)
    ok = sst_b > 1e-12 * max(float(sst_b.max()), 1e-300)
    r2 = 1 - ((yb - pred) ** 2).sum(0) / np.where(ok, sst_b, 1.0)
    cond = float(sv.max() / sv.min()) ** 2 if float(sv.min()) > 0 else float("inf")
    return np.where(ok, np.clip(r2, 0.0, 1.0), np.nan), cond


def memory_fit(
    features: np.ndarray | torch.Tensor,
    inputs: np.ndarray | torch.Tensor,
    max_lag: int,
    *,
    groups: np.ndarray | None = None,
) -> MemoryFit:
    """Cross-fitted held-out R² of readouts of ``x_{t−k}`` from ``features``.

    Args:
        features: ``(T, B, p)`` states or modal coordinates.
        inputs: ``(T, B, D)`` the inputs that drove them.
        max_lag: largest lag ``L`` (``< T``; needs ``T − L ≥ 4`` when ``B = 1``).
        groups: ``(p,)`` group index of each feature (at most two features per group), or None for
            one readout from all features.
    """
    if groups is None:
        zn = np.asarray(features, dtype=np.float64)
        xn = np.asarray(inputs, dtype=np.float64)
        (za, xa, ta), (zb, xb, tb) = _halves(zn, xn, max_lag)
        p = zn.shape[-1]
        both = np.concatenate([za.reshape(-1, p), zb.reshape(-1, p)])
        mu, sd = both.mean(0), both.std(0, ddof=1)
        sd = np.where(sd > 0, sd, 1.0)
        fa, fb = ((h.reshape(-1, p) - mu) / sd for h in (za, zb))
        ya, yb = _targets(xa, ta, za.shape[0], max_lag), _targets(xb, tb, zb.shape[0], max_lag)
        r_ab, c_a = _score_data(fa, ya, fb, yb)
        r_ba, c_b = _score_data(fb, yb, fa, ya)
        r2 = (0.5 * (r_ab + r_ba)).reshape(1, max_lag + 1, xn.shape[-1])
        return MemoryFit(r2, min(fa.shape[0], fb.shape[0]), p, max(c_a, c_b))
    import torch

    z = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float64)
    (za, xa, ta), (zb, xb, tb) = _halves(z, x, max_lag)
    ma, mb = _moments(za, xa, ta, max_lag), _moments(zb, xb, tb, max_lag)
    n = ma["n"] + mb["n"]
    mu_z = (ma["s"] + mb["s"]) / n
    var = (torch.diagonal(ma["g"]) + torch.diagonal(mb["g"])) / n - mu_z**2
    sd = torch.where(var > 0, var.clamp_min(0).sqrt(), torch.ones_like(var))
    idx, mask = _group_index(z.shape[-1], groups)
    r2 = 0.5 * (_score(ma, mb, mu_z, sd, idx, mask) + _score(mb, ma, mu_z, sd, idx, mask))
    return MemoryFit(r2.numpy(), min(ma["n"], mb["n"]), int(mask.sum(1).max()), 1.0)


def _group_index(p: int, groups: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(G, m)`` feature indices per group (padded by repeating the first) and their mask."""
    import torch

    if groups is None:
        return torch.arange(p)[None], torch.ones(1, p, dtype=torch.bool)
    g = torch.as_tensor(np.asarray(groups))
    n_groups = int(g.max()) + 1
    first = torch.searchsorted(g, torch.arange(n_groups))
    size = torch.bincount(g, minlength=n_groups)
    second = torch.where(size == 2, first + 1, first)
    return torch.stack([first, second], 1), torch.stack([size >= 1, size == 2], 1)


def memory_r2(
    features: np.ndarray | torch.Tensor,
    inputs: np.ndarray | torch.Tensor,
    max_lag: int,
    *,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """``(G, L+1)`` held-out R² summed over input channels (see ``memory_fit``)."""
    return memory_fit(features, inputs, max_lag, groups=groups).summed


def network_memory(
    net: Network, traj: Trajectories, lags: int, pr: Probe, notes: list[str]
) -> np.ndarray:
    """``(L+1, D)`` held-out R² per lag and input channel from all hidden states, with notes on
    what limits it (samples, conditioning, the i.i.d. bound)."""
    feats = np.concatenate([run.states for run in traj.runs.values()], -1)
    fit = memory_fit(feats, traj.inputs, lags)
    mc = float(np.nansum(fit.r2[0]))
    bias = fit.bias_bound()
    if bias > 0.02 * max(mc, 1.0):
        notes.append(
            f"memory capacity from {fit.n_train} training samples per half for {fit.features} state "
            f"features: the held-out estimate may be low by up to about {bias:.2g} "
            "(use a longer probe or a larger --batch)"
        )
    if fit.condition > 1e12:
        notes.append(
            f"memory: the state covariance is ill-conditioned (κ ≈ {fit.condition:.2g}); the "
            "readouts were fitted in float64 from an SVD of the states, dropping directions below "
            "rounding (pseudo-inverse): capacity in those directions is not resolved"
        )
    bound = feats.shape[-1]
    if pr.kind == "noise" and mc > bound:
        notes.append(
            f"memory: the held-out sum {mc:.4g} exceeded the state size {bound}, the bound for "
            f"i.i.d. input, by sampling error; the memory function was scaled by {bound / mc:.4f} "
            "to respect it (use a longer probe)"
        )
        return fit.r2[0] * (bound / mc)
    return fit.r2[0]

"""Lagged decoding: how well the input ``x_{t−k}`` can be read out linearly from states at time ``t``.

``memory_r2`` fits one ridge readout per lag ``k = 0..L`` (and per feature group: each mode's one or two
real coordinates, or all features at once) on one half of the samples and scores it by R² on the other
half (by batch element when ``B ≥ 2``, else by time), clipped to ``[0, 1]``. Input channels with no
variance are skipped; R² is summed over the remaining channels. The memory capacity is
``MC = Σ_k R²_k`` — Jaeger's (2001) definition, with lags counted from 0 because here ``x_t`` already
enters ``h_t``; for a linear network driven by i.i.d. scalar input, ``MC ≤ H`` (= H generically).
Held-out R² needs many more samples than features (``B·(T − L) ≫ p``), else MC is underestimated.
With inputs that are not i.i.d. (task probes) R² also counts what ``x_t`` tells about ``x_{t−k}``
itself, so MC can exceed the state size: use a noise probe for Jaeger's capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

RIDGE = 1e-4  # ridge penalty per training sample, on standardised features


@dataclass(frozen=True)
class _Split:
    z_tr: torch.Tensor  # (t, b, p)
    z_te: torch.Tensor
    x_tr: torch.Tensor  # (T, b, D) full time range of the inputs
    x_te: torch.Tensor
    t0_tr: int  # time index of the first feature row
    t0_te: int


def _split(z: torch.Tensor, x: torch.Tensor, max_lag: int) -> _Split:
    t_len, batch = z.shape[:2]
    if batch >= 2:
        half = batch // 2
        z = z[max_lag:]
        return _Split(z[:, :half], z[:, half:], x[:, :half], x[:, half:], max_lag, max_lag)
    mid = (max_lag + t_len) // 2
    return _Split(z[max_lag:mid], z[mid:], x, x, max_lag, mid)


def _moments(z: torch.Tensor, x: torch.Tensor, t0: int, lags: int, mu: torch.Tensor | None):
    """Gram ``(p, p)``, cross ``(p, K, D)`` (targets centred on ``mu``, else their own mean), target
    means ``(K, D)`` and SST about them ``(K, D)`` of one half; one GEMM per lag, no lag stack."""
    n_t, p = z.shape[0], z.shape[-1]
    zf = z.reshape(-1, p)
    d = x.shape[-1]
    cross = torch.empty(p, lags + 1, d, dtype=z.dtype)
    means = torch.empty(lags + 1, d, dtype=z.dtype)
    sst = torch.empty(lags + 1, d, dtype=z.dtype)
    for k in range(lags + 1):
        y = x[t0 - k : t0 - k + n_t].reshape(-1, d)
        means[k] = y.mean(0)
        sst[k] = ((y - means[k]) ** 2).sum(0)
        cross[:, k] = zf.T @ (y - (means[k] if mu is None else mu[k]))
    return zf.T @ zf, cross, means, sst


def memory_r2(
    features: np.ndarray | torch.Tensor,
    inputs: np.ndarray | torch.Tensor,
    max_lag: int,
    *,
    groups: np.ndarray | None = None,
    ridge: float = RIDGE,
) -> np.ndarray:
    """Held-out R² of ridge readouts of ``x_{t−k}`` from ``features``.

    Args:
        features: ``(T, B, p)`` states or modal coordinates.
        inputs: ``(T, B, D)`` the inputs that drove them.
        max_lag: largest lag ``L`` (``< T``; needs ``T − L ≥ 4`` when ``B = 1``).
        groups: ``(p,)`` group index of each feature (at most two features per group), or None for
            one readout from all features.

    Returns ``(G, L+1)`` R² summed over input channels (``G = 1`` without ``groups``); NaN when no
    input channel varies.
    """
    z = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float64)
    sp = _split(z, x, max_lag)
    mean = sp.z_tr.reshape(-1, z.shape[-1]).mean(0)
    std = sp.z_tr.reshape(-1, z.shape[-1]).std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    z_tr, z_te = (sp.z_tr - mean) / std, (sp.z_te - mean) / std
    g_tr, c_tr, mu, _ = _moments(z_tr, sp.x_tr, sp.t0_tr, max_lag, None)
    g_te, c_te, mu_te, sst = _moments(z_te, sp.x_te, sp.t0_te, max_lag, mu)
    n_te = z_te.shape[0] * z_te.shape[1]
    n_tr = z_tr.shape[0] * z_tr.shape[1]
    alpha = ridge * n_tr
    p, k, d = c_tr.shape
    if groups is None:
        beta = torch.linalg.solve(
            g_tr + alpha * torch.eye(p, dtype=g_tr.dtype), c_tr.reshape(p, -1)
        )
        fit = 2 * (beta * c_te.reshape(p, -1)).sum(0) - (beta * (g_te @ beta)).sum(0)
        fit = fit.reshape(1, k, d)
    else:
        fit = _grouped_fit(torch.as_tensor(np.asarray(groups)), g_tr, c_tr, g_te, c_te, alpha)
    # SSE of the test half about its prediction μ_train + z·β
    sse = sst + n_te * (mu_te - mu) ** 2 - fit
    ok = sst > 1e-12 * max(float(sst.max()), 1e-300)
    r2 = torch.where(ok, (1 - sse / torch.where(ok, sst, 1.0)).clamp(0.0, 1.0), torch.nan)
    with np.errstate(invalid="ignore"):
        out = torch.where(ok.any(-1), torch.nansum(r2, -1), torch.nan)
    return out.numpy()


def _grouped_fit(groups, g_tr, c_tr, g_te, c_te, alpha):
    """``2βᵀc_te − βᵀG_teβ`` per group of ≤ 2 features → ``(G, K, D)``."""
    n_groups = int(groups.max()) + 1
    first = torch.searchsorted(groups, torch.arange(n_groups))
    size = torch.bincount(groups, minlength=n_groups)
    second = torch.where(size == 2, first + 1, first)
    idx = torch.stack([first, second], 1)  # (G, 2)
    mask = torch.stack([torch.ones_like(size, dtype=torch.bool), size == 2], 1).to(g_tr.dtype)
    m2 = mask[:, :, None] * mask[:, None, :]
    eye = torch.eye(2, dtype=g_tr.dtype)
    gsub = g_tr[idx[:, :, None], idx[:, None, :]] * m2 + (1 - m2) * eye + alpha * eye
    gte = g_te[idx[:, :, None], idx[:, None, :]] * m2
    _, k, d = c_tr.shape
    ctr = c_tr[idx].reshape(n_groups, 2, k * d) * mask[..., None]
    cte = c_te[idx].reshape(n_groups, 2, k * d) * mask[..., None]
    beta = torch.linalg.solve(gsub, ctr)
    fit = 2 * (beta * cte).sum(1) - (beta * (gte @ beta)).sum(1)
    return fit.reshape(n_groups, k, d)

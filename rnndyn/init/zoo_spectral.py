"""Initializers defined by a spectrum: LRU ring, singular-value margin, rescaled Glorot.

Same contract as ``zoo_basic``: one 2-D tensor in, filled in place under ``torch.no_grad()``,
returned; randomness only from ``generator``; float64 maths, copied into the tensor's dtype.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnndyn.init.zoo_basic import check_matrix, fill_, haar_orthogonal, randn64


def rotation_blocks(radius: Tensor, theta: Tensor) -> Tensor:
    """Block-diagonal real matrix of 2×2 blocks ``r[[cos θ, −sin θ], [sin θ, cos θ]]``.

    ``radius``, ``theta``: ``(m,)`` → ``(2m, 2m)``; block ``k`` has eigenvalues ``r_k e^{±iθ_k}``.
    """
    m = radius.numel()
    c, s = radius * torch.cos(theta), radius * torch.sin(theta)
    blocks = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (m, 2, 2)
    out = torch.zeros(2 * m, 2 * m, dtype=radius.dtype)
    idx = torch.arange(m) * 2
    for a in range(2):  # four strided writes, no loop over blocks
        for b in range(2):
            out[idx + a, idx + b] = blocks[:, a, b]
    return out


def lru_ring_(
    tensor: Tensor,
    r_min: float = 0.0,
    r_max: float = 1.0,
    max_phase: float = 2 * math.pi,
    *,
    generator=None,
) -> Tensor:
    """Orvieto et al. (2023), LRU ring law, realised as a real matrix (square ``n×n``).

    Each of the ``⌊n/2⌋`` conjugate pairs ``r e^{±iθ}`` has ``r² ~ U[r_min², r_max²]`` and
    ``θ ~ U[0, max_phase]``; for odd ``n`` one extra real eigenvalue ``+r`` (same radius law).
    ``W = Q B Qᵀ`` with ``B`` the 2×2 rotation-scaling blocks and ``Q`` Haar-orthogonal (a normal
    matrix: ``W`` has exactly these eigenvalues). With ``max_phase > π`` the pair's upper member
    has phase ``θ`` mod the conjugation, so all eigenvalue phases are uniform on ``(−π, π]``.
    """
    n, _ = check_matrix(tensor, "lru_ring_", square=True)
    if not 0.0 <= r_min <= r_max:
        raise ValueError(f"lru_ring_ needs 0 ≤ r_min ≤ r_max, got r_min={r_min}, r_max={r_max}")
    if max_phase < 0:
        raise ValueError(f"lru_ring_ needs max_phase ≥ 0, got {max_phase}")
    u = torch.rand(n - n // 2, dtype=torch.float64, generator=generator)
    radius = torch.sqrt(u * (r_max**2 - r_min**2) + r_min**2)
    theta = max_phase * torch.rand(n // 2, dtype=torch.float64, generator=generator)
    b = torch.zeros(n, n, dtype=torch.float64)
    b[: 2 * (n // 2), : 2 * (n // 2)] = rotation_blocks(radius[: n // 2], theta)
    if n % 2:
        b[-1, -1] = radius[-1]
    q = haar_orthogonal(n, generator=generator)
    return fill_(tensor, q @ b @ q.T)


def spectral_margin_(tensor: Tensor, r: float = 0.01, *, generator=None) -> Tensor:
    """Zhang, Lei & Dhillon (2018), spectral RNN style: ``W = U Σ Vᵀ``, ``σ_i ~ U[1 − r, 1 + r]``.

    ``U``, ``V`` Haar-orthogonal (the paper parameterises them by Householder reflectors; at
    initialisation that is the same law). Any 2-D shape: ``min(rows, cols)`` singular values.
    """
    rows, cols = check_matrix(tensor, "spectral_margin_")
    if not 0.0 <= r < 1.0:
        raise ValueError(f"spectral_margin_ needs 0 ≤ r < 1, got {r}")
    k = min(rows, cols)
    sigma = 1.0 + r * (2.0 * torch.rand(k, dtype=torch.float64, generator=generator) - 1.0)
    u = haar_orthogonal(rows, k, generator=generator)
    v = haar_orthogonal(cols, k, generator=generator)
    return fill_(tensor, (u * sigma) @ v.T)


def glorot_target_radius(n: int, c: float = 1.0) -> float:
    """The radius ``glorot_rescaled_`` aims at: ``ρ = 1 − c/√n``."""
    return 1.0 - c / math.sqrt(n)


def glorot_rescaled_(tensor: Tensor, c: float = 1.0, *, generator=None) -> Tensor:
    """Glorot normal rescaled to spectral radius just below one (square ``n×n``).

    ``G ~ N(0, 1/n)`` (Glorot normal for a square matrix; its radius tends to 1 by the circular law,
    with ``O(1/√n)`` fluctuations), then ``W = G · ρ / ρ(G)`` with ``ρ = 1 − c/√n`` computed exactly
    from the sample's eigenvalues. In the spirit of Bar, Seleznova et al. (2025, arXiv 2505.19827),
    who shift Glorot's radius slightly below one by a dimension-aware factor; their exact factor
    (from Gumbel critical values) is not reproduced here.
    """
    n, _ = check_matrix(tensor, "glorot_rescaled_", square=True)
    rho = glorot_target_radius(n, c)
    if rho <= 0.0:
        raise ValueError(f"glorot_rescaled_ needs c < √n (radius 1 − c/√n > 0), got c={c}, n={n}")
    g = randn64(n, n, generator=generator) / math.sqrt(n)
    return fill_(tensor, g * (rho / torch.linalg.eigvals(g).abs().max()))

"""Classic dense initializers for one recurrent block, in the ``torch.nn.init`` style.

Every function takes a 2-D tensor (one ``H×H`` gate block of ``weight_hh``, say), fills it in
place under ``torch.no_grad()`` and returns it. Randomness comes only from ``generator``; matrices
are drawn in float64 on the CPU and copied into the tensor's dtype and device. ``ValueError`` on a
wrong number of dimensions, or on a non-square tensor where the formula needs a square one.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor


def check_matrix(tensor: Tensor, name: str, *, square: bool = False) -> tuple[int, int]:
    """Return ``(rows, cols)`` of a 2-D tensor; ``ValueError`` otherwise (or if not square)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(tensor).__name__}")
    if tensor.ndim != 2:
        raise ValueError(f"{name} expects a 2-D tensor, got shape {tuple(tensor.shape)}")
    rows, cols = tensor.shape
    if square and rows != cols:
        raise ValueError(
            f"{name} needs a square matrix, got shape {(rows, cols)}; apply it per gate block "
            "(rnndyn.init.apply_ does this)"
        )
    if rows == 0 or cols == 0:
        raise ValueError(f"{name} got an empty tensor of shape {(rows, cols)}")
    return rows, cols


def randn64(*shape: int, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal float64 sample on the CPU."""
    return torch.randn(*shape, dtype=torch.float64, generator=generator)


def haar_orthogonal(rows: int, cols: int | None = None, *, generator=None) -> Tensor:
    """Haar-distributed orthogonal ``(rows, cols)`` float64 matrix: orthonormal columns when
    ``rows ≥ cols``, orthonormal rows otherwise (QR of a Gaussian with the sign fix)."""
    cols = rows if cols is None else cols
    q, r = torch.linalg.qr(randn64(max(rows, cols), min(rows, cols), generator=generator))
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    q = q * signs
    return q if rows >= cols else q.T


def fill_(tensor: Tensor, value: Tensor) -> Tensor:
    """Copy a float64 matrix into ``tensor`` without autograd; return ``tensor``."""
    with torch.no_grad():
        tensor.copy_(value.to(dtype=tensor.dtype, device=tensor.device))
    return tensor


def uniform_default_(tensor: Tensor, hidden_size: int, *, generator=None) -> Tensor:
    """PyTorch's own RNN/LSTM/GRU rule: every entry ``~ U(−1/√H, 1/√H)`` (any shape, biases too)."""
    bound = 1.0 / math.sqrt(hidden_size)
    value = torch.empty(tensor.shape, dtype=torch.float64)
    return fill_(tensor, value.uniform_(-bound, bound, generator=generator))


def _via_cpu(tensor: Tensor, torch_init: Any, **kwargs: Any) -> Tensor:
    """Run a ``torch.nn.init`` function on a float64 CPU copy (any device, CPU generator)."""
    value = torch.empty(tensor.shape, dtype=torch.float64)
    return fill_(tensor, torch_init(value, **kwargs))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, *, generator=None) -> Tensor:
    """Glorot & Bengio (2010): ``W ~ U(−a, a)``, ``a = gain·√(6/(fan_in + fan_out))``; any 2-D."""
    check_matrix(tensor, "xavier_uniform_")
    return _via_cpu(tensor, torch.nn.init.xavier_uniform_, gain=gain, generator=generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, *, generator=None) -> Tensor:
    """Glorot & Bengio (2010): ``W ~ N(0, σ²)``, ``σ = gain·√(2/(fan_in + fan_out))``; any 2-D."""
    check_matrix(tensor, "xavier_normal_")
    return _via_cpu(tensor, torch.nn.init.xavier_normal_, gain=gain, generator=generator)


def kaiming_(tensor: Tensor, nonlinearity: str = "relu", *, generator=None) -> Tensor:
    """He et al. (2015), normal, fan-in: ``W ~ N(0, gain²/fan_in)``, ``gain`` of ``nonlinearity``.

    With the default ``relu`` (gain √2) a square ``n×n`` block has spectral radius ≈ √2 (circular
    law): the classic baseline that explodes on long sequences in a linear or tanh net.
    """
    check_matrix(tensor, "kaiming_")
    return _via_cpu(
        tensor,
        torch.nn.init.kaiming_normal_,
        mode="fan_in",
        nonlinearity=nonlinearity,
        generator=generator,
    )


def orthogonal_(tensor: Tensor, gain: float = 1.0, *, generator=None) -> Tensor:
    """Saxe et al. (2013), Henaff et al. (2016): ``W = gain·Q``, ``Q`` Haar-orthogonal.

    ``Q`` is the QR factor of a Gaussian with the sign fix (Haar measure).

    Apply it to one gate block at a time: orthogonalising the stacked ``(4H, H)`` LSTM matrix gives
    orthonormal *columns* of the stack, and no gate block is orthogonal. A non-square tensor gets
    orthonormal rows or columns (semi-orthogonal), as in ``torch.nn.init.orthogonal_``.
    """
    rows, cols = check_matrix(tensor, "orthogonal_")
    return fill_(tensor, gain * haar_orthogonal(rows, cols, generator=generator))


def identity_(tensor: Tensor, scale: float = 1.0, *, generator=None) -> Tensor:
    """Le, Jaitly & Hinton (2015), IRNN: ``W = scale·I`` (square); ``generator`` is unused."""
    n, _ = check_matrix(tensor, "identity_", square=True)
    return fill_(tensor, scale * torch.eye(n, dtype=torch.float64))


def np_rnn_(tensor: Tensor, *, generator=None) -> Tensor:
    """Talathi & Vartak (2016), np-RNN: normalised positive-definite ``W`` (square).

    ``R ~ N(0, 1)^{n×n}``, ``A = I + RᵀR/n`` (positive definite), ``W = A / λ_max(A)``:
    symmetric, eigenvalues in ``(0, 1]``, the largest exactly 1. The ``I +`` follows the public
    ports (DurstewitzLab's PLRNN code); the paper pairs it with ReLU units.
    """
    n, _ = check_matrix(tensor, "np_rnn_", square=True)
    r = randn64(n, n, generator=generator)
    a = torch.eye(n, dtype=torch.float64) + r.T @ r / n
    a = 0.5 * (a + a.T)
    return fill_(tensor, a / torch.linalg.eigvalsh(a)[-1])


def chain_(tensor: Tensor, alpha: float = 1.02, diag: float = 0.0, *, generator=None) -> Tensor:
    """Orhan & Pitkow (2019), non-normal chain: ``W = diag·I + alpha·S`` (square).

    ``S`` is the shift ``S[i+1, i] = 1``: unit ``i`` feeds unit ``i+1`` (PyTorch computes ``W h``;
    the Keras original computes ``h W`` and stores the transpose). All eigenvalues equal ``diag``
    (0 by default: nilpotent), yet a pulse entering unit 0 travels down the chain for ``n`` steps.
    """
    n, _ = check_matrix(tensor, "chain_", square=True)
    eye = torch.eye(n, dtype=torch.float64)
    return fill_(tensor, diag * eye + alpha * torch.diag(torch.ones(n - 1, dtype=eye.dtype), -1))


def fbchain_(
    tensor: Tensor, beta: float = 0.04, alpha: float = 0.99, diag: float = 0.0, *, generator=None
) -> Tensor:
    """Orhan & Pitkow (2019), chain with feedback: ``W = diag·I + alpha·S + beta·Sᵀ`` (square).

    Feed-forward weight ``alpha`` (0.99 in the paper) from unit ``i`` to ``i+1``, feedback ``beta``
    (the paper's tuned gain, default 0.04) from ``i+1`` to ``i``.
    """
    n, _ = check_matrix(tensor, "fbchain_", square=True)
    ones = torch.ones(n - 1, dtype=torch.float64)
    w = diag * torch.eye(n, dtype=torch.float64) + alpha * torch.diag(ones, -1)
    return fill_(tensor, w + beta * torch.diag(ones, 1))


def source_(tensor: Tensor, scale: float = 0.9, *, generator=None) -> Tensor:
    """Orhan & Pitkow's input weights for chains: ``U = scale·I_{rows×cols}`` (input j → unit j)."""
    rows, cols = check_matrix(tensor, "source_")
    return fill_(tensor, scale * torch.eye(rows, cols, dtype=torch.float64))

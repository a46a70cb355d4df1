"""The initializer zoo in one namespace, plus the chrono gate-bias rule.

Weight initializers (``zoo_basic``, ``zoo_spectral``) fill one 2-D block; ``chrono_`` fills the
stacked gate-bias vector of one LSTM/GRU layer. ``rnndyn.init.apply_`` applies them to a whole
``nn.RNN``/``nn.LSTM``/``nn.GRU``, per layer, direction and gate block.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnndyn.init.zoo_basic import (
    chain_,
    fbchain_,
    identity_,
    kaiming_,
    np_rnn_,
    orthogonal_,
    source_,
    uniform_default_,
    xavier_normal_,
    xavier_uniform_,
)
from rnndyn.init.zoo_spectral import glorot_rescaled_, lru_ring_, spectral_margin_
from rnndyn.naming import GATES

__all__ = [
    "GATES",
    "chain_",
    "chrono_",
    "fbchain_",
    "glorot_rescaled_",
    "identity_",
    "kaiming_",
    "lru_ring_",
    "np_rnn_",
    "orthogonal_",
    "source_",
    "spectral_margin_",
    "uniform_default_",
    "xavier_normal_",
    "xavier_uniform_",
]


def chrono_(bias: Tensor, t_max: float = 100.0, *, layout: str = "lstm", generator=None) -> Tensor:
    """Tallec & Ollivier (2018), chrono initialisation of one layer's stacked gate biases.

    ``bias``: ``(G·H,)``, PyTorch's gate order. LSTM (``i, f, g, o``):
    ``b_f ~ log U[1, T_max − 1]``, ``b_i = −b_f``, ``b_g = b_o = 0``, so forget-gate timescales
    spread up to ``T_max`` steps.
    GRU (``r, z, n``): PyTorch computes ``h' = (1 − z) ⊙ n + z ⊙ h``, so ``z`` is the *keep* gate
    and the analogue is ``b_z = +log U[1, T_max − 1]`` (a large positive bias keeps memory);
    ``b_r = b_n = 0``. Pass ``t_max`` ≈ the longest dependency (e.g. the sequence length).
    PyTorch adds ``bias_ih`` and ``bias_hh``: write the rule into one and zero the other.
    """
    if layout not in ("lstm", "gru"):
        raise ValueError(f"chrono_ needs a gated layout ('lstm' or 'gru'), got {layout!r}")
    if not isinstance(bias, Tensor) or bias.ndim != 1:
        shape = tuple(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__
        raise ValueError(f"chrono_ expects a 1-D bias vector, got {shape}")
    n_gates = len(GATES[layout])
    if bias.numel() % n_gates or bias.numel() == 0:
        raise ValueError(
            f"chrono_ ({layout}) expects a bias of length {n_gates}·H, got {bias.numel()}"
        )
    if not t_max > 2.0:
        raise ValueError(f"chrono_ needs t_max > 2 (log U[1, t_max − 1]), got {t_max}")
    h = bias.numel() // n_gates
    u = 1.0 + (t_max - 2.0) * torch.rand(h, dtype=torch.float64, generator=generator)
    value = torch.zeros(n_gates, h, dtype=torch.float64)
    if layout == "lstm":
        value[1] = torch.log(u)
        value[0] = -value[1]
    else:
        value[1] = torch.log(u)
    with torch.no_grad():
        bias.copy_(value.reshape(-1).to(dtype=bias.dtype, device=bias.device))
    return bias

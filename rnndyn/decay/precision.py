"""The precision of tangent (Jacobian-product) computations: float32 where it can be trusted.

float32 tangents are only trusted while the states and pre-activations stay far inside float32's
range and the modal basis is well conditioned; otherwise the job runs in float64, with a note.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

FLOAT32_SAFE = 1e18  # |state| beyond this: products with the weights may overflow float32
FLOAT32_KAPPA = 1e3  # κ(V) beyond this: float32 read-back of modal coordinates loses > 1e-4


def tangent_dtype(
    requested: torch.dtype, state_max: float, kappa: float = 1.0
) -> tuple[torch.dtype, str | None]:
    """The precision for tangent computations, and a note when it was raised.

    ``state_max``: the largest ``|state|`` times the largest row gain ``‖W_hh‖∞`` (at least 1)
    along the probe; ``kappa``: the largest eigenvector condition number of the operators whose
    modes are read back.
    """
    if requested == torch.float64:
        return requested, None
    reasons = []
    if not np.isfinite(state_max) or state_max > FLOAT32_SAFE:
        reasons.append(f"states reach {state_max:.3g} (float32 overflows near 3.4e38)")
    if not np.isfinite(kappa) or kappa > FLOAT32_KAPPA:
        reasons.append(f"the eigenbasis is ill-conditioned (κ(V) ≈ {kappa:.2g})")
    if not reasons:
        return requested, None
    return torch.float64, "computed in float64 instead of float32: " + "; ".join(reasons)


def job_dtype(
    requested: torch.dtype,
    states: Iterable[np.ndarray | None],
    w_hh: Iterable[torch.Tensor],
    kappas: Iterable[float],
) -> tuple[torch.dtype, str | None]:
    """``tangent_dtype`` for a whole decay job: its simulated ``states`` (hidden, cell), the
    recurrent weights of every layer and the condition numbers of the chosen operators' bases."""
    scale = max((float(np.abs(s).max(initial=0.0)) for s in states if s is not None), default=0.0)
    gain = max((float(w.abs().sum(1).max()) for w in w_hh), default=0.0)
    return tangent_dtype(requested, scale * max(gain, 1.0), max(kappas, default=1.0))

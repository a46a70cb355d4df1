"""Simulation health checks shared by every command that runs a network: sizes refused up front,
states that left the floating-point range, and the precision tangent computations need.

- ``check_seed`` / ``check_budget``: refuse impossible seeds and sizes before allocating anything
  (``UsageError`` with a size estimate, exit 2);
- ``check_states``: NaN/Inf in simulated states → ``SimulationError`` naming the layer and step;
- ``tangent_dtype``: float32 tangents are only trusted while the states and pre-activations stay
  far inside float32's range and the modal basis is well conditioned; otherwise float64, with a note.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from rnndyn._util import budget
from rnndyn.errors import SimulationError, UsageError
from rnndyn.naming import SEED_MAX

FLOAT32_SAFE = 1e18  # |state| beyond this: products with the weights may overflow float32
FLOAT32_KAPPA = 1e3  # κ(V) beyond this: float32 read-back of modal coordinates loses > 1e-4
_GIB = 2.0**30


def memory_budget() -> float:
    """Bytes one computation may allocate: the shared budget (``rnndyn._util.budget.limit``)."""
    return float(budget.limit()[0])


def gib(nbytes: float) -> str:
    """``nbytes`` as a short human-readable size."""
    if nbytes >= 0.1 * _GIB:
        return f"{nbytes / _GIB:.3g} GiB"
    return f"{nbytes / 2**20:.3g} MiB"


def check_seed(seed: int) -> int:
    """``seed`` as an int in ``0..2^63-1`` (UsageError otherwise)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise UsageError(f"--seed must be a whole number, got {seed!r}")
    if not 0 <= int(seed) <= SEED_MAX:
        raise UsageError(f"--seed must be between 0 and 2^63-1, got {seed}")
    return int(seed)


def check_budget(nbytes: float, what: str, *, hint: str | None = None) -> None:
    """Refuse (UsageError, exit 2) a computation that would need more than the memory budget."""
    budget.check(
        nbytes,
        what,
        hint=hint or "Use fewer steps, a shorter probe (--length) or a smaller --batch.",
    )


def check_states(
    out: torch.Tensor, path: str | os.PathLike[str] | None, layer: int, dtype: torch.dtype
) -> None:
    """SimulationError when simulated states ``(T, B, …)`` hold NaN/Inf (the network explodes)."""
    bad = ~torch.isfinite(out)
    if not bool(bad.any()):
        return
    t = int(torch.nonzero(bad.flatten(1).any(1))[0, 0])
    width = "float64" if dtype == torch.float64 else str(dtype).removeprefix("torch.")
    raise SimulationError(
        f"the network's states left the {width} range (NaN/Inf) in layer {layer} at time step "
        f"{t}: it explodes on this probe",
        path=path,
        hint="Use a weaker or shorter probe (--probe zeros or noise:0.1, fewer --steps or "
        "--length); a ReLU network with spectral radius above 1 grows without bound.",
    )


def tangent_dtype(
    requested: torch.dtype, state_max: float, kappa: float = 1.0
) -> tuple[torch.dtype, str | None]:
    """The precision for tangent (Jacobian-product) computations, and a note when it was raised.

    ``state_max``: the largest ``|state|`` along the probe; ``kappa``: the largest eigenvector
    condition number of the operators whose modes are read back.
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

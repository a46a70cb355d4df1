"""Checks shared by every command that runs a network, made before anything is allocated.

``check_seed`` / ``check_budget``: refuse impossible seeds and sizes (``UsageError`` with a size
estimate, exit 2). NaN/Inf states are ``rnndyn.dynamics.trajectories.check_states``'s job; the
float32/float64 choice for tangents is ``rnndyn.decay.precision``'s.
"""

from __future__ import annotations

import numpy as np

from rnndyn._util import budget
from rnndyn.errors import UsageError
from rnndyn.naming import SEED_MAX

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

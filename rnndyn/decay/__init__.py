"""Per-mode decay of information: what ``|λ|^k`` predicts beside what the network does.

- ``measure``: ``measure_decay`` — the job: probe → trajectories → modes → propagation, memory, Lyapunov;
- ``propagation``: perturbations along each mode through the real per-step Jacobians;
- ``memory``: lagged decoding of past inputs (memory function and capacity);
- ``lyapunov``: the Lyapunov spectrum along the probe (QR method);
- ``results``: ``DecayResult`` / ``ModeDecay`` and their tables and JSON.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "measure_decay": "rnndyn.decay.measure",
    "DecayResult": "rnndyn.decay.results",
    "ModeDecay": "rnndyn.decay.results",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rnndyn.decay' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

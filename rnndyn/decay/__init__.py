"""Per-mode decay of information: what ``|λ|^k`` predicts beside what the network does.

- ``measure``: ``measure_decay`` — the job: probe → trajectories → modes → propagation, memory, Lyapunov;
- ``precision``: float32 tangents where they can be trusted, else float64 with a note;
- ``propagation``: perturbations along each mode through the real per-step Jacobians;
- ``memory``: lagged decoding of past inputs (memory function and capacity);
- ``lyapunov``: the Lyapunov spectrum along the probe (QR method); ``rnn_lyapunov_spectrum``: the
  torch-free path for a vanilla RNN given as arrays;
- ``results``: ``DecayResult`` / ``ModeDecay`` and their tables and JSON.
"""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {
    "rnn_lyapunov_spectrum": "rnndyn.decay.lyapunov",
    "measure_decay": "rnndyn.decay.measure",
    "DecayResult": "rnndyn.decay.results",
    "ModeDecay": "rnndyn.decay.results",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

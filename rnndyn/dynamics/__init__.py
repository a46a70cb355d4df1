"""Run the network: rebuild it from a checkpoint, make probe inputs, simulate, project onto modes,
and linearise (per-step Jacobians).

- ``network``: checkpoint → ``Network`` (resolved once: module, float64 weights, metadata) → runnable
  ``nn.RNN``/``nn.LSTM``/``nn.GRU`` and per-layer parameters;
- ``health``: seed and size-budget checks shared by every command that runs a network;
- ``probes``: ``zeros | noise[:std] | impulse | task:NAME | FILE.npy`` → inputs ``(B, T, D)``;
- ``trajectories``: ``simulate`` → ``Trajectories`` (hidden states, LSTM cells; per layer and
  direction the weights it ran with and its trace);
- ``numpy_rnn``: ``run_rnn``, a vanilla RNN given as arrays run in NumPy (no torch import);
- ``modal``: the real eigenbasis and modal coordinates ``z = V⁻¹h``;
- ``jacobian``: batched per-step Jacobians in PyTorch's conventions; mean and fixed-point Jacobians.
"""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {
    "run_rnn": "rnndyn.dynamics.numpy_rnn",
    "Network": "rnndyn.dynamics.network",
    "resolve_network": "rnndyn.dynamics.network",
    "simulate": "rnndyn.dynamics.trajectories",
    "Trajectories": "rnndyn.dynamics.trajectories",
    "make_probe": "rnndyn.dynamics.probes",
    "jacobian_operators": "rnndyn.dynamics.jacobian",
    "modal_coordinates": "rnndyn.dynamics.modal",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

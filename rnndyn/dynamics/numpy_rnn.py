"""A vanilla RNN ``h_t = φ(W_hh h_{t−1} + W_ih x_t + b)`` run in NumPy float64, without torch.

The torch-free path for the simplest networks (e.g. a reservoir read from a ``.npz``): importing
torch costs more than simulating such a network. ``rnndyn.decay.lyapunov.rnn_lyapunov_spectrum``
builds on it; ``rnndyn.decay.memory.memory_fit`` takes its states. Checkpoints of every architecture
run through ``rnndyn.dynamics.trajectories.simulate`` (PyTorch's own modules).
"""

from __future__ import annotations

import numpy as np

from rnndyn.errors import UsageError


def run_rnn(
    w_hh: np.ndarray,
    w_ih: np.ndarray,
    inputs: np.ndarray,
    *,
    bias: np.ndarray | None = None,
    nonlinearity: str = "tanh",
    h0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(states, pre)``, each ``(T, B, H)``: ``h_t`` and ``W_hh h_{t−1} + W_ih x_t + b``.

    ``inputs`` ``(T, B, D)`` or ``(T, D)`` (one sequence); ``h0`` ``(H,)`` or ``(B, H)`` (default 0);
    ``bias`` ``(H,)``: ``b_ih + b_hh`` in PyTorch's terms. The input term is one GEMM for all steps;
    only the recurrence itself is a loop over time.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise UsageError(f"nonlinearity {nonlinearity!r}: expected 'tanh' or 'relu'")
    w = np.asarray(w_hh, np.float64)
    u = np.asarray(w_ih, np.float64)
    x = np.asarray(inputs, np.float64)
    x = x[:, None] if x.ndim == 2 else x
    if w.ndim != 2 or w.shape[0] != w.shape[1] or u.shape != (w.shape[0], x.shape[-1]):
        raise UsageError(
            f"shapes do not fit: W_hh {w.shape}, W_ih {u.shape}, inputs {x.shape} "
            "(expected (H, H), (H, D), (T, B, D))"
        )
    t_len, batch = x.shape[:2]
    hsz = w.shape[0]
    pre = x @ u.T  # (T, B, H)
    if bias is not None:
        pre += np.asarray(bias, np.float64)
    states = np.empty_like(pre)
    h = np.zeros((batch, hsz)) if h0 is None else np.broadcast_to(h0, (batch, hsz)).astype(float)
    wt = np.ascontiguousarray(w.T)
    prod = np.empty((batch, hsz))
    for t in range(t_len):  # in place: no array allocated per step
        np.matmul(h, wt, out=prod)
        pre[t] += prod
        h = states[t]
        if nonlinearity == "tanh":
            np.tanh(pre[t], out=h)
        else:
            np.maximum(pre[t], 0.0, out=h)
    return states, pre

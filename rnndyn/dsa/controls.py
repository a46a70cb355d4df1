"""Controls for a similarity: a network's copy in another state basis.

``rotate_state_dict`` maps every single-layer RNN/GRU/LSTM tensor of a PyTorch state dict to the
basis ``h' = Q h``: recurrent blocks ``L W Qᵀ``, input blocks ``L U``, biases ``L b``, a read-out
``V Qᵀ`` (keys ending in ``readout.weight`` / ``fc.weight`` / ``linear.weight`` / ``decoder.weight``),
where ``L = Q`` for the blocks whose output is a state (RNN; GRU ``n``; LSTM ``g``) and, when ``Q``
is a signed permutation ``S P``, ``L = P`` (signs dropped) for the sigmoid gates (GRU ``r, z``;
LSTM ``i, f, o``): a gate multiplies, it does not flip with the state's sign. With ``Q`` a signed
permutation the copy is the same network (tanh is odd and acts per unit, gates per unit); a general
orthogonal ``Q`` (used for every block) gives the same network only in the linear regime.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from rnndyn.errors import UsageError

READOUTS = ("readout.weight", "fc.weight", "linear.weight", "decoder.weight")
#: Per stacked block count (1 RNN, 3 GRU r z n, 4 LSTM i f g o): which blocks are sigmoid gates.
GATES = {1: (False,), 3: (True, True, False), 4: (True, True, False, True)}


def signed_permutation(n: int, seed: int = 0) -> np.ndarray:
    """A random signed permutation matrix ``(n, n)``."""
    rng = np.random.default_rng(seed)
    q = np.zeros((n, n))
    q[np.arange(n), rng.permutation(n)] = rng.choice([-1.0, 1.0], n)
    return q


def random_rotation(n: int, seed: int = 0) -> np.ndarray:
    """A Haar-random orthogonal matrix ``(n, n)``."""
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def rotate_state_dict(sd: Mapping[str, torch.Tensor], q: np.ndarray) -> dict[str, torch.Tensor]:
    """The state dict of the copy ``h' = Q h`` of a one-layer, one-direction RNN/GRU/LSTM
    (without projections; LSTM cell states rotate with ``Q`` too). Other tensors are kept."""
    qt = torch.as_tensor(q)
    n = qt.shape[0]
    signed_perm = bool(
        np.allclose(np.abs(q).sum(axis=0), 1) and np.allclose(np.abs(q).sum(axis=1), 1)
    )
    gate_q = qt.abs() if signed_perm else qt
    out: dict[str, torch.Tensor] = {}
    for key, t in sd.items():
        name = key.rsplit(".", 1)[-1]
        if name.endswith("_l0_reverse") or (name[-1:].isdigit() and not name.endswith("_l0")):
            raise UsageError(f"{key}: only one-layer, one-direction modules can be rotated here")
        qq = qt.to(t.dtype)
        if name.startswith(("weight_hh_l0", "weight_ih_l0", "bias_ih_l0", "bias_hh_l0")):
            blocks = t.reshape(-1, n, *t.shape[1:]) if t.shape[0] % n == 0 else None
            if blocks is None:
                raise UsageError(f"{key}: {tuple(t.shape)} is not a stack of {n}-row gate blocks")
            gates = GATES.get(blocks.shape[0])
            if gates is None:
                raise UsageError(f"{key}: {blocks.shape[0]} gate blocks is not an RNN/GRU/LSTM")
            left = torch.stack([gate_q.to(t.dtype) if g else qq for g in gates])
            blocks = torch.einsum("gij,gj...->gi...", left, blocks)
            if name.startswith("weight_hh"):
                blocks = blocks @ qq.T
            out[key] = blocks.reshape(t.shape).contiguous()
        elif key.endswith(READOUTS) and t.ndim == 2 and t.shape[1] == n:
            out[key] = (t @ qq.T).contiguous()
        else:
            out[key] = t.clone()
    return out

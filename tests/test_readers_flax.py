"""Flax msgpack files checked against Flax's documented cell equations (JAX is not installed here).

The files are written exactly as ``flax.serialization.to_bytes`` writes them (arrays as msgpack
extension type 1 holding ``(shape, dtype name, bytes)``); the reference steps below implement the
equations of ``flax.linen.{LSTMCell, GRUCell, SimpleCell}`` with Flax's ``(in, out)`` kernels,
independently of rnndyn's transposition and gate mapping.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnndyn
from rnndyn.errors import CheckpointError
from rnndyn.operators import extract_operators, find_modules

msgpack = pytest.importorskip("msgpack", reason="needs msgpack (pip install 'rnndyn[flax]')")

T, B, D, H = 6, 2, 3, 4


def _ext(a: np.ndarray) -> msgpack.ExtType:
    return msgpack.ExtType(
        1, msgpack.packb((list(a.shape), a.dtype.name, a.tobytes()), use_bin_type=True)
    )


def _pack(tree):
    """Flax's msgpack encoding: arrays → ext 1, numpy scalars → ext 3 (same payload)."""
    if isinstance(tree, dict):
        return {k: _pack(v) for k, v in tree.items()}
    if isinstance(tree, np.generic):
        return msgpack.ExtType(3, _ext(np.asarray(tree)).data)
    return _ext(tree) if isinstance(tree, np.ndarray) else tree


def _dense(rng, n_in, bias):
    out = {"kernel": (rng.standard_normal((n_in, H)) * 0.5).astype(np.float32)}
    if bias:
        out["bias"] = (rng.standard_normal(H) * 0.3).astype(np.float32)
    return out


def _params(kind):
    rng = np.random.default_rng(0)
    if kind in ("lstm", "optimized-lstm"):
        cell = {f"i{g}": _dense(rng, D, False) for g in "ifgo"}
        cell |= {f"h{g}": _dense(rng, H, True) for g in "ifgo"}
    elif kind == "gru":
        cell = {f"i{g}": _dense(rng, D, True) for g in "rzn"}
        cell |= {
            "hr": _dense(rng, H, False),
            "hz": _dense(rng, H, False),
            "hn": _dense(rng, H, True),
        }
    else:
        cell = {"i": _dense(rng, D, False), "h": _dense(rng, H, True)}
    return cell


def _lin(p, v):
    return v @ p["kernel"] + p.get("bias", 0.0)


def _sig(v):
    return 1 / (1 + np.exp(-v))


def _reference(kind, cell, x):
    """Flax's equations, step by step (x: (B, T, D)) → hidden states (T, B, H)."""
    h, c, out = np.zeros((B, H)), np.zeros((B, H)), []
    for t in range(T):
        xt = x[:, t]
        if kind in ("lstm", "optimized-lstm"):
            i = _sig(_lin(cell["ii"], xt) + _lin(cell["hi"], h))
            f = _sig(_lin(cell["if"], xt) + _lin(cell["hf"], h))
            g = np.tanh(_lin(cell["ig"], xt) + _lin(cell["hg"], h))
            o = _sig(_lin(cell["io"], xt) + _lin(cell["ho"], h))
            c = f * c + i * g
            h = o * np.tanh(c)
        elif kind == "gru":
            r = _sig(_lin(cell["ir"], xt) + _lin(cell["hr"], h))
            z = _sig(_lin(cell["iz"], xt) + _lin(cell["hz"], h))
            n = np.tanh(_lin(cell["in"], xt) + r * _lin(cell["hn"], h))
            h = (1 - z) * n + z * h
        else:
            h = np.tanh(_lin(cell["i"], xt) + _lin(cell["h"], h))
        out.append(h)
    return np.stack(out)


@pytest.mark.parametrize("kind", ["lstm", "optimized-lstm", "gru", "simple"])
def test_simulation_equals_flax_equations(tmp_path, kind):
    cell = _params(kind)
    top = "OptimizedLSTMCell_0" if kind == "optimized-lstm" else "cell"
    tree = {"params": {"RNN_0": {top: cell}}, "step": np.int64(3)}
    (tmp_path / "m.msgpack").write_bytes(msgpack.packb(_pack(tree), use_bin_type=True))
    ckpt = rnndyn.load(tmp_path / "m.msgpack")
    (mod,) = find_modules(ckpt)
    assert ckpt.format == "flax-msgpack" and mod.name == f"RNN_0.{top}"
    x = np.random.default_rng(1).standard_normal((B, T, D))
    traj = rnndyn.simulate(ckpt, x, module=mod, dtype=torch.float64)
    np.testing.assert_allclose(traj.hidden[0, 0], _reference(kind, cell, x), atol=1e-6)


def test_gru_operators_are_the_transposed_hidden_kernels(tmp_path):
    cell = _params("gru")
    (tmp_path / "g.msgpack").write_bytes(msgpack.packb(_pack({"params": cell}), use_bin_type=True))
    ops = {o.gate: o.matrix for o in extract_operators(rnndyn.load(tmp_path / "g.msgpack"))}
    for g in "rzn":
        np.testing.assert_array_equal(ops[g], cell[f"h{g}"]["kernel"].T)


def test_object_dtype_and_size_lies_are_refused(tmp_path):
    bad = msgpack.ExtType(1, msgpack.packb(([2, 2], "object", b"\0" * 32), use_bin_type=True))
    (tmp_path / "o.msgpack").write_bytes(msgpack.packb({"params": {"w": bad}}, use_bin_type=True))
    with pytest.raises(CheckpointError, match="dtype 'object'"):
        rnndyn.load(tmp_path / "o.msgpack")
    lie = msgpack.ExtType(1, msgpack.packb(([9, 9], "float32", b"\0" * 16), use_bin_type=True))
    (tmp_path / "l.msgpack").write_bytes(msgpack.packb({"params": {"w": lie}}, use_bin_type=True))
    with pytest.raises(CheckpointError, match="do not match"):
        rnndyn.load(tmp_path / "l.msgpack")


def test_msgpack_without_cells(tmp_path):
    tree = {"params": {"Dense_0": {"kernel": np.ones((3, 3), np.float32)}}}
    (tmp_path / "d.msgpack").write_bytes(msgpack.packb(_pack(tree), use_bin_type=True))
    with pytest.raises(CheckpointError, match="no Flax recurrent cell"):
        rnndyn.load(tmp_path / "d.msgpack")

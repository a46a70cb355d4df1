"""Keras files checked against Keras 3 itself: rnndyn's simulation vs ``model.predict``.

Layers are built with the installed Keras (torch backend), given random weights and biases, and
saved as ``.keras``, ``.weights.h5`` and legacy ``.h5``; rnndyn reads each file and its simulated
hidden states must equal Keras's outputs.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

import rnndyn
from rnndyn.errors import CheckpointError, SimulationError
from rnndyn.operators import extract_operators, find_modules

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("h5py", reason="needs h5py (pip install 'rnndyn[keras]')")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    keras = pytest.importorskip("keras", reason="needs Keras 3 (pip install '.[test-formats]')")
if not keras.__version__.startswith("3") or keras.backend.backend() != "torch":
    pytest.skip("needs Keras 3 on the torch backend", allow_module_level=True)

T, B, D, H = 6, 2, 3, 4
FORMATS = ["m.keras", "m.weights.h5", "m.h5"]


@pytest.fixture(autouse=True)
def _keras_chatter():
    """Keras 3 on numpy 2 warns about ``__array__(copy=)`` on its own variables: not ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _model(layer):
    model = keras.Sequential([keras.Input((T, D)), layer])
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.5 for w in model.get_weights()]
    model.set_weights(weights)
    return model


def _save(model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if path.name.endswith(".weights.h5"):
            model.save_weights(str(path))
        else:
            model.save(str(path))
    return path


def _simulated(ckpt, x):
    (mod,) = find_modules(ckpt)
    traj = rnndyn.simulate(ckpt, x, module=mod, dtype=torch.float64)
    return np.transpose(np.concatenate(list(traj.hidden[-1]), axis=-1), (1, 0, 2))  # (B, T, dH)


def _layers():
    L = keras.layers
    return {
        "simple-tanh": lambda: L.SimpleRNN(H, return_sequences=True),
        "simple-relu": lambda: L.SimpleRNN(H, activation="relu", return_sequences=True),
        "lstm": lambda: L.LSTM(H, return_sequences=True),
        "gru": lambda: L.GRU(H, return_sequences=True),
        "bi-lstm": lambda: L.Bidirectional(L.LSTM(H, return_sequences=True)),
        "bi-gru": lambda: L.Bidirectional(L.GRU(H, return_sequences=True)),
    }


@pytest.mark.parametrize("kind", ["simple-tanh", "simple-relu", "lstm", "gru", "bi-lstm", "bi-gru"])
def test_simulation_equals_keras_predict(tmp_path, kind):
    """Each of .keras, .weights.h5 and legacy .h5 (one model, saved three ways)."""
    model = _model(_layers()[kind]())
    x = np.random.default_rng(1).standard_normal((B, T, D)).astype("float32")
    want = np.asarray(model.predict(x, verbose=0))
    for fmt in FORMATS:
        if kind == "simple-relu" and fmt.endswith(".weights.h5"):
            continue  # stores no activation: see test_weights_h5_assumes_defaults
        ckpt = rnndyn.load(_save(model, tmp_path / fmt))
        assert ckpt.format == ("keras" if fmt.endswith(".keras") else "keras-h5")
        np.testing.assert_allclose(_simulated(ckpt, x), want, atol=1e-6, err_msg=fmt)


def test_lstm_gate_blocks_are_keras_ifco_columns(tmp_path):
    model = _model(keras.layers.LSTM(H, return_sequences=True))
    _, rec, _ = model.layers[0].get_weights()
    ops = {
        o.gate: o.matrix for o in extract_operators(rnndyn.load(_save(model, tmp_path / "m.keras")))
    }
    for gate, block in {"i": 0, "f": 1, "g": 2, "o": 3}.items():
        np.testing.assert_array_equal(ops[gate], rec[:, block * H : (block + 1) * H].T)


@pytest.mark.parametrize("fmt", FORMATS)
def test_gru_reset_before_is_analysed_not_simulated(tmp_path, fmt):
    model = _model(keras.layers.GRU(H, reset_after=False, return_sequences=True))
    _, rec, _ = model.layers[0].get_weights()
    ckpt = rnndyn.load(_save(model, tmp_path / fmt))
    ops = {o.gate: o.matrix for o in extract_operators(ckpt)}
    for gate, block in {"z": 0, "r": 1, "n": 2}.items():
        np.testing.assert_array_equal(ops[gate], rec[:, block * H : (block + 1) * H].T)
    with pytest.raises(SimulationError, match="reset_after=False"):
        rnndyn.simulate(ckpt, np.zeros((1, 2, D), np.float32))


def test_stacked_layers_are_separate_modules(tmp_path):
    L = keras.layers
    model = keras.Sequential(
        [keras.Input((T, D)), L.LSTM(H, return_sequences=True, name="enc"), L.GRU(5, name="dec")]
    )
    mods = {
        m.name: (m.arch, m.hidden_size)
        for m in find_modules(rnndyn.load(_save(model, tmp_path / "m.keras")))
    }
    assert mods == {"enc": ("lstm", H), "dec": ("gru", 5)}


def test_weights_h5_assumes_defaults(tmp_path):
    model = _model(keras.layers.SimpleRNN(H, activation="relu"))
    ckpt = rnndyn.load(_save(model, tmp_path / "m.weights.h5"))
    assert "defaults assumed" in ckpt.conventions["simple_rnn"]["activations"]
    assert find_modules(rnndyn.load(_save(model, tmp_path / "m.keras")))[0].nonlinearity == "relu"


def test_hdf5_external_storage_is_refused(tmp_path):
    import h5py

    (tmp_path / "raw.bin").write_bytes(np.zeros(16, np.float32).tobytes())
    with h5py.File(tmp_path / "x.h5", "w") as f:
        g = f.create_group("layers/lstm/cell/vars")
        g.create_dataset(
            "1", shape=(1, 4), dtype="f4", external=[(str(tmp_path / "raw.bin"), 0, 16)]
        )
    with pytest.raises(CheckpointError, match="other files"):
        rnndyn.load(tmp_path / "x.h5")


def test_hdf5_without_recurrent_layers(tmp_path):
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("dense/kernel", data=np.ones((3, 3), np.float32))
    with pytest.raises(CheckpointError, match="no recurrent layer"):
        rnndyn.load(tmp_path / "x.h5")

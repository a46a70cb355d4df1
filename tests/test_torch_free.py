"""`rnndyn analyze` reads non-torch files without importing torch (issue 29, item 1), nor ONNX files
with the ``onnx`` package.

Each file is analysed in a fresh interpreter through the command line's own entry point; the child
reports whether ``torch`` ended up in ``sys.modules`` and the eigenvalues it printed. The union of
every operator's eigenvalues must equal the union over the file's own recurrent blocks computed here
with NumPy (independent of gate order). A torch file is the control: there torch must be imported.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from planted import matched_error

ROOT = Path(__file__).resolve().parents[1]
H, D = 6, 2
CHILD = """
import contextlib, io, json, sys
sys.argv = ["rnndyn", "analyze", sys.argv[1], "--json", "--jobs", "1"]
from rnndyn_cli.app import main
out = io.StringIO()
code = 0
try:
    with contextlib.redirect_stdout(out):
        main()
except SystemExit as e:
    code = e.code or 0
doc = json.loads(out.getvalue())
eigs = [z for m in doc["matrices"] for z in m["eigenvalues"]]
mods = {m: m in sys.modules for m in ("torch", "onnx", "ml_dtypes")}
print(json.dumps({"code": code, "modules": mods, "eigs": eigs}))
"""


def _analyse(path: Path) -> tuple[dict[str, bool], np.ndarray]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "cli")]))
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env
    )
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["code"] == 0
    return got["modules"], np.array([complex(a, b) for a, b in got["eigs"]])


def _blocks_eigs(blocks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.linalg.eigvals(b.astype(np.float64)) for b in blocks])


@pytest.fixture(scope="module")
def lstm():
    rng = np.random.default_rng(0)
    return {
        "weight_ih_l0": (rng.standard_normal((4 * H, D)) * 0.5).astype(np.float32),
        "weight_hh_l0": (rng.standard_normal((4 * H, H)) * 0.5).astype(np.float32),
        "bias_ih_l0": (rng.standard_normal(4 * H) * 0.1).astype(np.float32),
        "bias_hh_l0": (rng.standard_normal(4 * H) * 0.1).astype(np.float32),
    }


def _pytorch_blocks(sd):
    w = sd["weight_hh_l0"]
    return [w[g * H : (g + 1) * H] for g in range(4)]


def _write_npz(tmp, sd):
    np.savez(tmp / "m.npz", **sd)
    return tmp / "m.npz", _pytorch_blocks(sd)


def _write_pickle(tmp, sd):
    (tmp / "m.pkl").write_bytes(pickle.dumps({"model": {"lstm": sd}}, protocol=4))
    return tmp / "m.pkl", _pytorch_blocks(sd)


def _write_safetensors(tmp, sd):
    save_file = pytest.importorskip("safetensors.numpy").save_file
    save_file(sd, str(tmp / "m.safetensors"))
    return tmp / "m.safetensors", _pytorch_blocks(sd)


def _write_onnx(tmp, sd):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w, r = sd["weight_ih_l0"][None], sd["weight_hh_l0"][None]  # gate order is irrelevant here
    b = np.concatenate([sd["bias_ih_l0"], sd["bias_hh_l0"]])[None]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (r, "R"), (b, "B"))]
    node = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], hidden_size=H, name="cell")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, D])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, str(tmp / "m.onnx"))
    return tmp / "m.onnx", _pytorch_blocks(sd)


def _write_flax(tmp, sd):
    msgpack = pytest.importorskip("msgpack")

    def ext(a):
        return msgpack.ExtType(
            1, msgpack.packb((list(a.shape), a.dtype.name, a.tobytes()), use_bin_type=True)
        )

    rng = np.random.default_rng(2)
    hk = {g: (rng.standard_normal((H, H)) * 0.5).astype(np.float32) for g in "ifgo"}
    cell = {f"i{g}": {"kernel": ext(np.ones((D, H), np.float32))} for g in "ifgo"}
    cell |= {f"h{g}": {"kernel": ext(hk[g]), "bias": ext(np.zeros(H, np.float32))} for g in "ifgo"}
    (tmp / "m.msgpack").write_bytes(msgpack.packb({"params": cell}, use_bin_type=True))
    return tmp / "m.msgpack", list(hk.values())


def _write_keras(tmp, sd):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    with warnings.catch_warnings():  # Keras 3 on numpy 2: __array__(copy=) on its variables
        warnings.simplefilter("ignore", DeprecationWarning)
        layer = keras.layers.LSTM(H)
        model = keras.Sequential([keras.Input((5, D)), layer])
        model.save(str(tmp / "m.keras"))
        rec = layer.get_weights()[1]  # (H, 4H): one column block per gate
    return tmp / "m.keras", [rec[:, g * H : (g + 1) * H] for g in range(4)]


WRITERS = {
    "npz": _write_npz,
    "pickle": _write_pickle,
    "safetensors": _write_safetensors,
    "onnx": _write_onnx,
    "flax": _write_flax,
    "keras": _write_keras,
}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_non_torch_formats_never_import_torch(tmp_path, lstm, fmt):
    path, blocks = WRITERS[fmt](tmp_path, lstm)
    imported, eigs = _analyse(path)
    assert not imported["torch"], f"{fmt}: analyze imported torch"
    if fmt == "onnx":  # decoded by rnndyn.readers.onnx_proto: `import onnx` costs over a second
        assert not imported["onnx"] and not imported["ml_dtypes"]
    assert eigs.size == 4 * H and matched_error(eigs, _blocks_eigs(blocks)) < 1e-5


def test_a_torch_file_does_import_torch(tmp_path, lstm):
    """The control: the check above can fail (a torch zip needs torch.load)."""
    import torch

    torch.save({k: torch.from_numpy(v) for k, v in lstm.items()}, tmp_path / "m.pt")
    imported, eigs = _analyse(tmp_path / "m.pt")
    assert imported["torch"] and matched_error(eigs, _blocks_eigs(_pytorch_blocks(lstm))) < 1e-5

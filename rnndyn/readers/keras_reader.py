"""Keras files: Keras 3 ``.keras`` (zip: ``config.json`` + ``model.weights.h5``), ``.weights.h5``
and legacy TF-Keras ``.h5`` — ``SimpleRNN``, ``LSTM``, ``GRU`` and ``Bidirectional`` wrappers.

Cells are found by structure: Keras 3 stores ``layers/<name>/cell/vars/{0,1,2}`` = kernel
``(in, k·H)``, recurrent_kernel ``(H, k·H)``, bias; legacy files store ``kernel[:0]``,
``recurrent_kernel[:0]``, ``bias[:0]`` in one group. Column blocks are transposed to PyTorch's rows;
gate orders: LSTM ``i, f, c, o`` (= PyTorch ``i, f, g, o``), GRU ``z, r, h`` → ``r, z, n``.
GRU ``reset_after=True`` (bias ``(2, 3H)`` = input; recurrent) is PyTorch's form;
``reset_after=False`` (bias ``(3H,)``) applies the reset gate before the recurrent product — analysed,
not simulated. The layer config (``.keras`` ``config.json`` or the legacy ``model_config`` attribute)
gives activations, ``reset_after`` and ``go_backwards``; without it they are inferred from shapes.
HDF5 external links, external storage and virtual datasets are refused.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rnndyn._util.text import printable
from rnndyn.errors import CheckpointError, RnndynError
from rnndyn.readers.foreign import MAX_ARRAY_BYTES, ForeignWeights, require, tensor

MAX_CONFIG_BYTES = 16 << 20
_ARCH = {1: ("rnn", "h"), 3: ("gru", "zrh"), 4: ("lstm", "ifco")}
_CLASSES = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru"}


def _open_h5(h5py: Any, path: Path) -> tuple[Any, dict[str, object] | None, str]:
    """``(h5py.File, parsed config or None, format)`` for a ``.keras`` zip or an HDF5 file."""
    if not zipfile.is_zipfile(path):
        f = h5py.File(path, "r")
        raw = f.attrs.get("model_config")
        cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw else None
        return f, cfg, "keras-h5"
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("model.weights.h5")
        if info.file_size > MAX_ARRAY_BYTES:
            raise CheckpointError("the .keras weights file is too large", path=path)
        data = zf.read(info)
        cfg = None
        if (
            "config.json" in zf.namelist()
            and zf.getinfo("config.json").file_size < MAX_CONFIG_BYTES
        ):
            cfg = json.loads(zf.read("config.json"))
    return h5py.File(io.BytesIO(data), "r"), cfg, "keras"


def _datasets(
    h5py: Any, group: Any, prefix: str, out: dict[str, object], path: Path, depth=0
) -> None:
    """Every dataset under ``group`` by path, following hard links only."""
    if depth > 32:
        return
    for name in group:
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            continue
        obj = group[name]
        key = f"{prefix}/{name}" if prefix else name
        if isinstance(obj, h5py.Group):
            _datasets(h5py, obj, key, out, path, depth + 1)
        elif isinstance(obj, h5py.Dataset):
            if obj.size * obj.dtype.itemsize > MAX_ARRAY_BYTES:
                raise CheckpointError(
                    f"HDF5 dataset {printable(key, 80)!r} has shape {obj.shape}, too large",
                    path=path,
                )
            if obj.is_virtual or obj.external:
                raise CheckpointError(
                    f"HDF5 dataset {printable(key, 80)!r} reads its data from other files, "
                    "which rnndyn refuses",
                    path=path,
                )
            out[key] = obj


def _cells(datasets: dict[str, object]) -> dict[str, list[Any]]:
    """``{layer path: [kernel, recurrent_kernel, bias?]}`` for Keras 3 and legacy layouts."""
    cells: dict[str, list[Any]] = {}
    for key in datasets:
        m3 = re.match(r"^(?:layers/)?(?P<layer>.+)/cell/vars/1$", key)
        if m3:
            base = key[: -len("1")]
            cells[m3["layer"]] = [datasets.get(base + i) for i in ("0", "1", "2")]
            continue
        m2 = re.match(r"^(?P<group>.+)/recurrent_kernel(?::0)?$", key)
        if m2:
            g = m2["group"]
            get = lambda n, g=g: datasets.get(f"{g}/{n}") or datasets.get(f"{g}/{n}:0")  # noqa: E731
            cells[_legacy_name(g)] = [get("kernel"), datasets[key], get("bias")]
    return cells


def _legacy_name(group: str) -> str:
    """``model_weights/bi/bi/forward_lstm/lstm_cell`` → ``bi/forward_lstm``."""
    parts = [p for p in group.split("/") if p != "model_weights"]
    parts = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
    if len(parts) > 1 and parts[-1].endswith("_cell"):
        parts.pop()
    return "/".join(parts)


def _layer_configs(cfg: Any, out: dict[str, dict[str, object]], depth: int = 0) -> None:
    """Recurrent and Bidirectional layer configs by the names the user gave them."""
    if depth > 64:
        return
    if isinstance(cfg, dict):
        cls, conf = cfg.get("class_name"), cfg.get("config")
        if (
            isinstance(conf, dict)
            and isinstance(conf.get("name"), str)
            and (cls in _CLASSES or cls == "Bidirectional")
        ):
            out[conf["name"]] = conf | {"class_name": cls}
        for v in cfg.values():
            _layer_configs(v, out, depth + 1)
    elif isinstance(cfg, list):
        for v in cfg:
            _layer_configs(v, out, depth + 1)


def _snake(name: str) -> str:
    """Keras's ``to_snake_case``: ``SimpleRNN`` → ``simple_rnn``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _keras3_paths(cfg: Any) -> dict[str, dict[str, object]]:
    """Keras 3 stores a model's layers under ``layers/<snake class name>[_k]``, numbered per
    name in the order of the model's layer list: map those paths to the layers' configs."""
    layers = ((cfg or {}).get("config") or {}).get("layers") or []
    out: dict[str, dict[str, object]] = {}
    seen: dict[str, int] = {}
    for entry in layers if isinstance(layers, list) else []:
        if not isinstance(entry, dict) or entry.get("class_name") == "InputLayer":
            continue
        base = _snake(str(entry.get("class_name", "")))
        k = seen.get(base, 0)
        seen[base] = k + 1
        conf: dict[str, object] = entry["config"] if isinstance(entry.get("config"), dict) else {}
        out[base if k == 0 else f"{base}_{k}"] = conf | {"class_name": entry.get("class_name")}
    return out


def _direction(layer: str) -> tuple[str, bool]:
    """``(module name, reverse?)``: a Bidirectional's backward layer is the reverse direction."""
    parts = layer.split("/")
    if len(parts) > 1 and re.match(r"^(forward|backward)(_|$)", parts[-1]):
        return "/".join(parts[:-1]), parts[-1].startswith("backward")
    return layer, False


def _inner_config(configs: Mapping[str, dict[str, object]], module: str) -> dict[str, object]:
    """The recurrent layer's config (a Bidirectional's wrapped layer), with ``outer_name`` the
    name the user gave the layer."""
    conf = configs.get(module.split("/")[0], {})
    outer = {"outer_name": conf.get("name")} if conf.get("name") else {}
    if conf.get("class_name") == "Bidirectional":
        inner = conf.get("layer")
        inner = inner if isinstance(inner, dict) else {}
        wrapped = inner.get("config")
        wrapped = wrapped if isinstance(wrapped, dict) else {}
        return wrapped | {"class_name": inner.get("class_name")} | outer
    return conf | outer


def _convert_cell(
    out: ForeignWeights, layer: str, arrays: list[Any], conf: dict[str, object], path
):
    kernel, rec, bias = (None if a is None else np.asarray(a[()]) for a in arrays)
    if rec is None or rec.ndim != 2 or rec.shape[1] % max(rec.shape[0], 1):
        raise CheckpointError(
            f"Keras layer {layer!r}: recurrent kernel shape {None if rec is None else rec.shape} "
            "is not (H, k·H)",
            path=path,
        )
    k = rec.shape[1] // rec.shape[0]
    if k not in _ARCH:
        raise CheckpointError(
            f"Keras layer {layer!r}: {k} gate blocks is not an RNN/GRU/LSTM", path=path
        )
    arch, order = _ARCH[k]
    module, reverse = _direction(layer)
    name = str(conf.get("outer_name") or module).replace("/", ".")
    b_ih = b_hh = None
    if bias is not None:
        b_ih, b_hh = (tensor(bias[0]), tensor(bias[1])) if bias.ndim == 2 else (tensor(bias), None)
    out.add_layer(
        name,
        arch,
        order,
        w_hh=tensor(rec.T),
        w_ih=None if kernel is None else tensor(kernel.T),
        b_ih=b_ih,
        b_hh=b_hh,
        reverse=reverse,
        source=f"Keras layer {layer!r}",
        parts={
            "weight_hh": "recurrent_kernel.T",
            "weight_ih": "kernel.T",
            "bias_ih": "bias[0]" if bias is not None and bias.ndim == 2 else "bias",
            "bias_hh": "bias[1]" if bias is not None and bias.ndim == 2 else "zeros",
        },
    )
    _note(out, name, arch, conf, bias)


def _note(out: ForeignWeights, name: str, arch: str, conf: dict[str, object], bias: Any) -> None:
    gates = {
        "rnn": "single block",
        "lstm": "Keras i,f,c,o = PyTorch i,f,g,o",
        "gru": "Keras z,r,h → PyTorch r,z,n",
    }[arch]
    facts: dict[str, object] = {
        "framework": "keras",
        "gates": gates + "; columns transposed to rows",
    }
    act = str(conf.get("activation", "tanh"))
    rec_act = str(conf.get("recurrent_activation", "sigmoid"))
    if not conf:
        facts["activations"] = "not stored (no layer config in the file): Keras's defaults assumed"
    if arch == "rnn":
        facts["nonlinearity"] = act
        if act not in ("tanh", "relu"):
            out.note(name, simulation=f"activation {act!r} (PyTorch RNNs: tanh/relu)")
    elif (act, rec_act) != ("tanh", "sigmoid"):
        out.note(
            name,
            simulation=f"activation {act!r} / recurrent_activation {rec_act!r} "
            "(PyTorch: tanh / sigmoid)",
        )
    if arch == "gru":
        reset_after = conf.get("reset_after", bias is None or np.ndim(bias) == 2)
        facts["reset_after"] = bool(reset_after)
        if not reset_after:
            out.note(
                name,
                simulation="Keras GRU with reset_after=False applies the reset gate "
                "before the recurrent product (h̃ = tanh(x W_h + b_h + (r⊙h) U_h)), which "
                "PyTorch's GRU cannot run",
            )
    if conf.get("go_backwards"):
        facts["direction"] = "go_backwards (the layer reads its input backwards in time)"
    out.note(name, **facts)


def _read(h5py: Any, path: Path) -> ForeignWeights:
    f, cfg, fmt = _open_h5(h5py, path)
    out = ForeignWeights(fmt)
    configs: dict[str, dict[str, object]] = {}
    _layer_configs(cfg, configs)
    if fmt == "keras":
        configs |= _keras3_paths(cfg)
    with f:
        datasets: dict[str, object] = {}
        _datasets(h5py, f, "", datasets, path)
        for layer, arrays in _cells(datasets).items():
            conf = _inner_config(configs, _direction(layer)[0])
            _convert_cell(out, layer, arrays, conf, path)
    return out


def read_keras(path: Path, size: int) -> ForeignWeights:
    """Every recurrent layer of a Keras file, in PyTorch's names (``<layer>.weight_hh_l0``…)."""
    h5py = require("h5py", "keras", "Keras", path)
    try:
        out = _read(h5py, path)
    except RnndynError:
        raise
    except Exception as err:  # h5py/HDF5, zip, JSON and shape errors on a damaged file
        raise CheckpointError(
            f"it is not a readable Keras/HDF5 file ({printable(str(err), 100) or type(err).__name__})",
            path=path,
            hint="Save or download the file again.",
        ) from None
    if not out.tensors:
        raise CheckpointError(
            "the Keras/HDF5 file holds no recurrent layer (no recurrent_kernel found)",
            path=path,
            hint="rnndyn reads SimpleRNN, LSTM, GRU and Bidirectional layers.",
        )
    return out

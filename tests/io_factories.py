"""Builders for checkpoint files of every format, good and hostile (shared by test modules).

Everything writes into a path the caller gives (use pytest's ``tmp_path``); nothing touches the
network.
Hostile builders take a ``marker`` path: their payload would create that file if it ever ran.
"""

from __future__ import annotations

import io
import os
import pickle
import shlex
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

_ARCHS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


# ---------------------------------------------------------------- state dicts


def make_module(arch: str = "lstm", *, seed: int = 0, **kwargs: Any) -> nn.Module:
    """A seeded ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (defaults input_size=3, hidden_size=4)."""
    kwargs.setdefault("input_size", 3)
    kwargs.setdefault("hidden_size", 4)
    torch.manual_seed(seed)
    return _ARCHS[arch](**kwargs)


def make_state_dict(arch: str = "lstm", *, seed: int = 0, dtype=None, **kwargs: Any) -> OrderedDict:
    """The state dict of :func:`make_module`, optionally cast to ``dtype``."""
    sd = make_module(arch, seed=seed, **kwargs).state_dict()
    if dtype is not None:
        sd = OrderedDict((k, v.to(dtype)) for k, v in sd.items())
    return sd


def make_lstm_state_dict(
    input_size: int = 3, hidden_size: int = 4, *, seed: int = 0, **kwargs: Any
) -> OrderedDict:
    """An ``nn.LSTM`` state dict (keys ``weight_ih_l0``, ``weight_hh_l0``, ``bias_*``)."""
    return make_state_dict(
        "lstm", seed=seed, input_size=input_size, hidden_size=hidden_size, **kwargs
    )


def prefixed(sd: Mapping[str, torch.Tensor], prefix: str) -> OrderedDict:
    """``sd`` with ``prefix`` (e.g. ``"module."``) put before every key."""
    return OrderedDict((prefix + k, v) for k, v in sd.items())


# ---------------------------------------------------------------- good files


def write_torch_state_dict(path: str | Path, obj: Any, *, legacy: bool = False) -> Path:
    """``torch.save(obj, path)``; ``legacy=True`` writes the pre-1.6 (non-zip) format."""
    path = Path(path)
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def write_safetensors(
    path: str | Path, sd: Mapping[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> Path:
    """A safetensors file (tensors made contiguous, as the format requires)."""
    from safetensors.torch import save_file

    path = Path(path)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path), metadata=metadata)
    return path


def lightning_checkpoint(sd: Mapping[str, torch.Tensor], prefix: str = "model.") -> dict:
    """A dict shaped like a Lightning 2.x ``.ckpt`` (keys observed in pytorch-lightning 2.6)."""
    n = len(sd)
    return {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.6.6",
        "state_dict": prefixed(sd, prefix),
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"completed": 3}}}},
        "callbacks": {
            "ModelCheckpoint{'monitor': 'loss'}": {"best_model_score": torch.tensor(0.1)}
        },
        "optimizer_states": [
            {
                "state": {
                    i: {
                        "step": torch.tensor(120.0),
                        "exp_avg": torch.ones(3),
                        "exp_avg_sq": torch.ones(3),
                    }
                    for i in range(n)
                },
                "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": list(range(n))}],
            }
        ],
        "lr_schedulers": [{"last_epoch": 3, "_last_lr": [1e-3]}],
        "hparams_name": "kwargs",
        "hyper_parameters": {"hidden_size": 4, "lr": 1e-3, "arch": "lstm"},
    }


def write_lightning_rich_hparams(
    path: str | Path, sd: Mapping[str, torch.Tensor], *, legacy: bool = False
) -> Path:
    """A Lightning ``.ckpt`` whose hparams hold Namespace, Path, numpy and AttributeDict objects
    (each breaks a plain weights-only load). AttributeDict comes from a throw-away fake
    ``pytorch_lightning`` module, removed from ``sys.modules`` again after saving."""
    import argparse
    import pathlib
    import sys
    import types

    import numpy as np

    names = [
        "pytorch_lightning",
        "pytorch_lightning.utilities",
        "pytorch_lightning.utilities.parsing",
    ]
    if any(n in sys.modules for n in names):
        raise RuntimeError("pytorch_lightning is importable here; use it directly")
    fake = {n: types.ModuleType(n) for n in names}

    class AttributeDict(dict):
        pass

    AttributeDict.__module__ = names[-1]
    AttributeDict.__qualname__ = "AttributeDict"
    fake[names[-1]].AttributeDict = AttributeDict
    ckpt = lightning_checkpoint(sd)
    ckpt["hyper_parameters"] = {
        "args": argparse.Namespace(lr=0.1, data=pathlib.Path("/data/x")),
        "scale": np.float64(0.5),
        "dtype": np.dtype("float32"),
        "mask": np.ones(3),
        "attr": AttributeDict(lr=1e-3, hidden=4),
    }
    sys.modules.update(fake)
    try:
        return write_torch_state_dict(path, ckpt, legacy=legacy)
    finally:
        for n in names:
            sys.modules.pop(n, None)


def tutorial_checkpoint(sd: Mapping[str, torch.Tensor]) -> dict:
    """The PyTorch-tutorial dict: ``model_state_dict`` + ``optimizer_state_dict`` + epoch + loss."""
    return {
        "epoch": 7,
        "model_state_dict": sd,
        "optimizer_state_dict": {
            "state": {0: {"momentum_buffer": torch.full((16, 4), 9.0)}},
            "param_groups": [{"lr": 0.1, "params": [0]}],
        },
        "loss": 0.25,
    }


def rnndyn_checkpoint(sd: Mapping[str, torch.Tensor], **meta: Any) -> dict:
    """rnndyn's own format: ``{"state_dict": sd, "rnndyn": {...}}``."""
    block = {"schema": "rnndyn.checkpoint/1", "arch": "lstm", "hidden_size": 4, "seed": 0}
    block.update(meta)
    return {"state_dict": sd, "rnndyn": block}


def write_torchscript(path: str | Path, arch: str = "gru") -> Path:
    """A TorchScript archive (``torch.jit.script(module).save``): code, not weights."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(make_module(arch)).save(str(path))
    return path


def write_meta_state_dict(path: str | Path) -> Path:
    """A state dict whose tensors live on the ``meta`` device (shapes, no values)."""
    return write_torch_state_dict(path, nn.LSTM(3, 4, device="meta").state_dict())


# ---------------------------------------------------------------- hostile files


class EvilReduce:
    """Unpickling this runs ``os.system(command)``."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def marker_command(marker: str | Path) -> str:
    """A shell command that creates ``marker`` (proof that a payload ran)."""
    return f"touch {shlex.quote(str(marker))}"


def evil_pickle_bytes(marker: str | Path, protocol: int = 2) -> bytes:
    """A pickle whose ``__reduce__`` runs a command creating ``marker``."""
    return pickle.dumps(EvilReduce(marker_command(marker)), protocol=protocol)


def write_evil_pickle(path: str | Path, marker: str | Path, protocol: int = 2) -> Path:
    """A raw pickle payload (not written by torch.save)."""
    path = Path(path)
    path.write_bytes(evil_pickle_bytes(marker, protocol))
    return path


def write_evil_in_state_dict(path: str | Path, marker: str | Path) -> Path:
    """``torch.save({"w": tensor, "x": payload})``: a torch zip with the payload beside a tensor."""
    return write_torch_state_dict(
        path, {"w": torch.ones(2, 2), "x": EvilReduce(marker_command(marker))}
    )


def replace_zip_entry(src: str | Path, dst: str | Path, suffix: str, data: bytes) -> Path:
    """Copy zip ``src`` to ``dst``, the entry ending in ``suffix`` replaced by ``data`` (stored)."""
    dst = Path(dst)
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            payload = data if info.filename.endswith(suffix) else zin.read(info)
            zout.writestr(info.filename, payload, compress_type=zipfile.ZIP_STORED)
    dst.write_bytes(buf.getvalue())
    return dst


def write_evil_torch_zip(path: str | Path, marker: str | Path, protocol: int = 2) -> Path:
    """A good torch zip whose ``data.pkl`` was replaced by a payload pickle."""
    path = Path(path)
    good = path.with_name(path.name + ".good")
    write_torch_state_dict(good, make_lstm_state_dict())
    replace_zip_entry(good, path, "/data.pkl", evil_pickle_bytes(marker, protocol))
    good.unlink()
    return path


def write_whole_module(
    path: str | Path, module: nn.Module | None = None, *, legacy: bool = False
) -> Path:
    """``torch.save(model)``: a whole-module pickle (needs trust to load)."""
    return write_torch_state_dict(
        path, module if module is not None else make_module("lstm"), legacy=legacy
    )


def write_compressed_zip(path: str | Path) -> Path:
    """A torch zip re-packed with deflate (torch.save never compresses; zip-bomb shape)."""
    path = Path(path)
    good = path.with_name(path.name + ".good")
    write_torch_state_dict(good, make_lstm_state_dict())
    buf = io.BytesIO()
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    path.write_bytes(buf.getvalue())
    good.unlink()
    return path


# ---------------------------------------------------------------- junk files


def truncate_copy(src: str | Path, dst: str | Path, *, keep: float | int = 0.5) -> Path:
    """Copy the first ``keep`` bytes (an int) or fraction (a float) of ``src`` to ``dst``."""
    data = Path(src).read_bytes()
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    dst = Path(dst)
    dst.write_bytes(data[:n])
    return dst


HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Login</body></html>\n"
LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345\n"
)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (for HTML pages, LFS pointers, random bytes)."""
    path = Path(path)
    path.write_bytes(data)
    return path


def random_bytes(n: int = 4096, seed: int = 0) -> bytes:
    """Seeded random bytes that start with no known magic number."""
    data = bytearray(
        torch.randint(0, 256, (n,), generator=torch.Generator().manual_seed(seed)).tolist()
    )
    data[0] = 0x42  # not \x80, not 'P', not '<'
    return bytes(data)

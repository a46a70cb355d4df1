"""rnndyn.load on good checkpoints of every format: same tensors, keys normalised, dtypes kept."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from io_factories import (
    lightning_checkpoint,
    make_lstm_state_dict,
    make_module,
    make_state_dict,
    prefixed,
    rnndyn_checkpoint,
    tutorial_checkpoint,
    write_lightning_rich_hparams,
    write_safetensors,
    write_torch_state_dict,
    write_torchscript,
    write_whole_module,
)

import rnndyn
from rnndyn._util.hashing import file_sha256
from rnndyn.readers.keys import normalise_key

LSTM_KEYS = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]


def assert_same_tensors(got, want):
    assert sorted(got) == sorted(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype, k
        assert torch.equal(got[k], v), k


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_torch_state_dict(tmp_path, legacy):
    sd = make_lstm_state_dict()
    p = write_torch_state_dict(tmp_path / "m.pt", sd, legacy=legacy)
    ckpt = rnndyn.load(p)
    assert ckpt.format == ("torch-legacy" if legacy else "torch-zip")
    assert ckpt.path == p
    assert ckpt.sha256 == file_sha256(p) and len(ckpt.sha256) == 64
    assert ckpt.metadata == {}
    assert_same_tensors(ckpt.tensors, sd)
    assert all(t.device.type == "cpu" for t in ckpt.tensors.values())


def test_legacy_protocol_3(tmp_path):
    sd = make_lstm_state_dict()
    p = tmp_path / "m.pt"
    torch.save(sd, p, _use_new_zipfile_serialization=False, pickle_protocol=3)
    ckpt = rnndyn.load(p)
    assert ckpt.format == "torch-legacy"
    assert_same_tensors(ckpt.tensors, sd)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pickle_protocol_4_loads_with_trust(tmp_path, legacy):
    sd = make_lstm_state_dict()
    p = tmp_path / "m.pt"
    torch.save(sd, p, _use_new_zipfile_serialization=not legacy, pickle_protocol=4)
    ckpt = rnndyn.load(p, trust=True)
    assert ckpt.format == "pickle-trusted"
    assert_same_tensors(ckpt.tensors, sd)


def test_safetensors_with_rnndyn_metadata(tmp_path):
    sd = make_state_dict("gru")
    block = {"schema": "rnndyn.checkpoint/1", "arch": "gru"}
    p = write_safetensors(tmp_path / "m.bin", sd, metadata={"rnndyn": json.dumps(block)})
    ckpt = rnndyn.load(p)  # extension says nothing: the bytes decide
    assert ckpt.format == "safetensors"
    assert ckpt.metadata == block
    assert_same_tensors(ckpt.tensors, sd)


def test_extension_is_ignored(tmp_path):
    sd = make_lstm_state_dict()
    p = write_torch_state_dict(tmp_path / "weights.safetensors", sd)  # a torch zip, misnamed
    assert rnndyn.load(p).format == "torch-zip"


def test_rnndyn_own_format_metadata(tmp_path):
    sd = make_lstm_state_dict()
    p = write_torch_state_dict(tmp_path / "m.pt", rnndyn_checkpoint(sd, metrics={"loss": 0.5}))
    ckpt = rnndyn.load(p)
    assert ckpt.metadata["schema"] == "rnndyn.checkpoint/1"
    assert ckpt.metadata["metrics"] == {"loss": 0.5}
    assert_same_tensors(ckpt.tensors, sd)


def test_metadata_is_json_ready(tmp_path):
    sd = make_lstm_state_dict()
    doc = rnndyn_checkpoint(
        sd, history=[1.0, float("nan")], best=torch.tensor(0.5), big=torch.ones(5000)
    )
    ckpt = rnndyn.load(write_torch_state_dict(tmp_path / "m.pt", doc))
    assert ckpt.metadata["history"] == [1.0, None]
    assert ckpt.metadata["best"] == 0.5
    assert ckpt.metadata["big"] is None
    json.dumps(ckpt.metadata, allow_nan=False)


def test_lightning_checkpoint_ignores_optimizer_state(tmp_path):
    sd = make_lstm_state_dict()
    p = write_torch_state_dict(tmp_path / "epoch=3.ckpt", lightning_checkpoint(sd, prefix="model."))
    ckpt = rnndyn.load(p)
    assert ckpt.format == "torch-zip"
    assert_same_tensors(ckpt.tensors, prefixed(sd, "model."))  # attribute path kept
    assert ckpt.metadata == {}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_lightning_hparams_objects_replaced_by_standins(tmp_path, legacy):
    """Namespace/Path/numpy/AttributeDict hparams load without trust; weights are intact."""
    sd = make_lstm_state_dict()
    p = write_lightning_rich_hparams(tmp_path / "last.ckpt", sd, legacy=legacy)
    with pytest.raises(pickle.UnpicklingError):  # a plain weights-only load fails on these files
        torch.load(p, map_location="cpu", weights_only=True)
    ckpt = rnndyn.load(p)
    assert ckpt.format == ("torch-legacy" if legacy else "torch-zip")
    assert_same_tensors(ckpt.tensors, prefixed(sd, "model."))


def test_standins_do_not_leak_into_metadata(tmp_path):
    import argparse

    sd = make_lstm_state_dict()
    doc = rnndyn_checkpoint(sd, args=argparse.Namespace(lr=0.1))
    ckpt = rnndyn.load(write_torch_state_dict(tmp_path / "m.pt", doc))
    assert ckpt.metadata["args"] is None
    json.dumps(ckpt.metadata, allow_nan=False)


def test_tutorial_dict(tmp_path):
    sd = make_lstm_state_dict()
    ckpt = rnndyn.load(write_torch_state_dict(tmp_path / "m.pth", tutorial_checkpoint(sd)))
    assert_same_tensors(ckpt.tensors, sd)  # optimizer momentum buffers are not weights


@pytest.mark.parametrize("key", ["model", "net", "model_state", "weights", "params", "module"])
def test_other_container_keys(tmp_path, key):
    sd = make_lstm_state_dict()
    ckpt = rnndyn.load(write_torch_state_dict(tmp_path / "m.pt", {key: sd, "epoch": 1}))
    assert_same_tensors(ckpt.tensors, sd)


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "module._orig_mod.", "module.module."])
def test_wrapper_prefixes_stripped(tmp_path, prefix):
    sd = make_lstm_state_dict()
    ckpt = rnndyn.load(write_torch_state_dict(tmp_path / "m.pt", prefixed(sd, prefix)))
    assert_same_tensors(ckpt.tensors, sd)


def test_orig_mod_inside_attribute_path(tmp_path):
    sd = make_lstm_state_dict()
    ckpt = rnndyn.load(
        write_torch_state_dict(tmp_path / "m.pt", prefixed(sd, "model._orig_mod.rnn."))
    )
    assert_same_tensors(ckpt.tensors, prefixed(sd, "model.rnn."))


@pytest.mark.parametrize(
    ("key", "want"),
    [
        ("module.rnn.weight_hh_l0", "rnn.weight_hh_l0"),
        ("model.module.weight_hh_l0", "model.module.weight_hh_l0"),  # an attribute named module
        ("_orig_mod.module.w", "w"),
        ("module", "module"),
        ("encoder.weight_hh_l0", "encoder.weight_hh_l0"),
    ],
)
def test_normalise_key(key, want):
    assert normalise_key(key) == want


def test_module_dict_nesting_becomes_dotted_keys(tmp_path):
    enc, dec = make_state_dict("gru", seed=1), make_lstm_state_dict(seed=2)
    nested = {"encoder": dict(enc), "decoder": {"lstm": dict(dec)}}
    ckpt = rnndyn.load(write_torch_state_dict(tmp_path / "m.pt", nested))
    want = {**prefixed(enc, "encoder."), **prefixed(dec, "decoder.lstm.")}
    assert_same_tensors(ckpt.tensors, want)


def test_several_recurrent_modules_kept_distinct(tmp_path):
    enc, dec = make_state_dict("rnn", seed=1), make_lstm_state_dict(seed=2)
    sd = {**prefixed(enc, "encoder."), **prefixed(dec, "decoder.lstm.")}
    ckpt = rnndyn.load(write_torch_state_dict(tmp_path / "m.pt", prefixed(sd, "module.")))
    assert "encoder.weight_hh_l0" in ckpt.tensors and "decoder.lstm.weight_hh_l0" in ckpt.tensors
    assert ckpt.tensors["encoder.weight_hh_l0"].shape == (4, 4)
    assert ckpt.tensors["decoder.lstm.weight_hh_l0"].shape == (16, 4)
    assert_same_tensors(ckpt.tensors, sd)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("fmt", ["zip", "safetensors"])
def test_dtypes_kept_as_stored(tmp_path, dtype, fmt):
    sd = make_lstm_state_dict(dtype=dtype)
    if fmt == "zip":
        p = write_torch_state_dict(tmp_path / "m.pt", sd)
    else:
        p = write_safetensors(tmp_path / "m.st", sd)
    ckpt = rnndyn.load(p)
    assert {t.dtype for t in ckpt.tensors.values()} == {dtype}
    assert_same_tensors(ckpt.tensors, sd)


def test_non_contiguous_views_kept(tmp_path):
    w = torch.arange(12.0).reshape(3, 4)
    sd = {"weight_hh_l0": w.t(), "cols": w[:, ::2]}
    ckpt = rnndyn.load(write_torch_state_dict(tmp_path / "m.pt", sd))
    assert torch.equal(ckpt.tensors["weight_hh_l0"], w.t())
    assert torch.equal(ckpt.tensors["cols"], w[:, ::2])


def test_parameters_come_back_as_plain_detached_tensors(tmp_path):
    sd = {"w": torch.nn.Parameter(torch.ones(2, 2))}
    t = rnndyn.load(write_torch_state_dict(tmp_path / "m.pt", sd)).tensors["w"]
    assert type(t) is torch.Tensor and not t.requires_grad


def test_sparse_tensor_is_densified(tmp_path):
    dense = torch.tensor([[0.0, 1.5], [-2.0, 0.0]])
    p = write_torch_state_dict(tmp_path / "m.pt", {"weight_hh_l0": dense.to_sparse()})
    t = rnndyn.load(p).tensors["weight_hh_l0"]
    assert t.layout == torch.strided and torch.equal(t, dense)


def test_bare_tensor_file(tmp_path):
    w = torch.randn(5, 5)
    ckpt = rnndyn.load(write_torch_state_dict(tmp_path / "W.pt", w))
    assert list(ckpt.tensors) == ["tensor"] and torch.equal(ckpt.tensors["tensor"], w)


def test_non_tensor_leaves_ignored(tmp_path):
    sd = {**make_lstm_state_dict(), "config": {"hidden": 4, "name": "x"}, "steps": [1, 2]}
    ckpt = rnndyn.load(write_torch_state_dict(tmp_path / "m.pt", sd))
    assert sorted(ckpt.tensors) == sorted(LSTM_KEYS)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_whole_module_loads_with_trust(tmp_path, legacy):
    module = make_module("lstm", num_layers=2)
    p = write_whole_module(tmp_path / "model.pt", module, legacy=legacy)
    ckpt = rnndyn.load(p, trust=True)
    assert ckpt.format == "pickle-trusted"
    assert ckpt.metadata == {"module_class": "LSTM"}
    assert_same_tensors(ckpt.tensors, module.state_dict())


def test_trust_still_prefers_the_weights_only_loader(tmp_path):
    sd = make_lstm_state_dict()
    ckpt = rnndyn.load(write_torch_state_dict(tmp_path / "m.pt", sd), trust=True)
    assert ckpt.format == "torch-zip"


def test_raw_pickle_of_tensors_needs_trust(tmp_path):
    sd = make_lstm_state_dict()
    p = tmp_path / "m.pkl"
    p.write_bytes(pickle.dumps({"model": dict(sd)}, protocol=4))
    with pytest.raises(rnndyn.errors.RefusedError, match=r"torch\.storage\._load_from_bytes"):
        rnndyn.load(p)
    ckpt = rnndyn.load(p, trust=True)
    assert ckpt.format == "pickle-trusted"
    assert_same_tensors(ckpt.tensors, sd)


@pytest.mark.parametrize("trust", [False, True], ids=["default", "trusted"])
def test_torchscript_weights_read_without_running_it(tmp_path, trust):
    """The archive's parameters come back through the restricted reader, with or without trust."""
    ckpt = rnndyn.load(write_torchscript(tmp_path / "ts.pt", "gru"), trust=trust)
    assert ckpt.format == "torchscript"
    assert_same_tensors(ckpt.tensors, make_state_dict("gru"))


def test_same_weights_any_container_same_tensors(tmp_path):
    sd = make_lstm_state_dict(seed=3)
    files = [
        write_torch_state_dict(tmp_path / "a.pt", sd),
        write_torch_state_dict(tmp_path / "b.pt", sd, legacy=True),
        write_safetensors(tmp_path / "c.safetensors", sd),
        write_torch_state_dict(tmp_path / "d.pt", prefixed(sd, "module.")),
        write_torch_state_dict(tmp_path / "e.pt", tutorial_checkpoint(sd)),
        write_torch_state_dict(tmp_path / "f.pt", rnndyn_checkpoint(sd)),
    ]
    for f in files:
        assert_same_tensors(rnndyn.load(f).tensors, sd)

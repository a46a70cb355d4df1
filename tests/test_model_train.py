"""SequenceModel, the training loop and the checkpoint writer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnndyn._util.jsonsafe import plain
from rnndyn.errors import InvalidInputError, OutputError, UsageError
from rnndyn.readers.rnndyn_format import SCHEMA, is_rnndyn_checkpoint, save_checkpoint
from rnndyn.tasks import get_task
from rnndyn.training.model import SequenceModel
from rnndyn.training.train import train

TINY = {"hidden": 8, "epochs": 2, "batch_size": 32}
META_KEYS = {
    "schema", "arch", "nonlinearity", "input_size", "hidden_size", "num_layers", "output_size",
    "readout", "task", "task_params", "task_kind", "init", "init_params", "seed", "metrics",
    "history", "rnndyn_version", "torch_version",
}  # fmt: skip


class _Small:
    """A task wrapper with few sequences, so unit tests stay fast."""

    def __init__(self, name: str, n: int = 200, **params):
        self.inner = get_task(name, **params)
        self.spec, self.n = self.inner.spec, n

    def generate(self, seed, **overrides):
        return self.inner.generate(seed, n_train=self.n, n_val=self.n // 4, n_test=self.n // 2)

    def evaluate(self, output, target):
        return self.inner.evaluate(output, target)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("readout", ["last", "every"])
def test_model_keys_and_shapes(arch, readout):
    m = SequenceModel(arch, 3, 5, 2, num_layers=2, readout=readout)
    keys = set(m.state_dict())
    for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l1"):
        assert f"rnn.{k}" in keys
    assert {"readout.weight", "readout.bias"} <= keys
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[arch]
    assert m.state_dict()["rnn.weight_hh_l0"].shape == (gates * 5, 5)
    out = m(torch.zeros(4, 7, 3))
    assert out.shape == ((4, 2) if readout == "last" else (4, 7, 2))
    clone = SequenceModel.from_meta(m.describe())
    clone.load_state_dict(m.state_dict())
    x = torch.randn(2, 7, 3)
    torch.testing.assert_close(clone.predict(x), m.predict(x))


def test_model_rejects_bad_settings():
    with pytest.raises(UsageError, match="rnn, lstm, gru"):
        SequenceModel("transformer", 1, 4, 1)
    with pytest.raises(UsageError, match="only to arch 'rnn'"):
        SequenceModel("gru", 1, 4, 1, nonlinearity="relu")
    with pytest.raises(UsageError, match="tanh, relu"):
        SequenceModel("rnn", 1, 4, 1, nonlinearity="elu")
    with pytest.raises(UsageError, match="hidden_size"):
        SequenceModel("rnn", 1, 0, 1)
    assert SequenceModel("rnn", 1, 4, 1, nonlinearity="relu").rnn.nonlinearity == "relu"


def test_training_is_deterministic_for_a_seed():
    task = _Small("parity", n=64, T=6)
    a = train(task, "gru", seed=3, **TINY)
    b = train(task, "gru", seed=3, **TINY)
    c = train(task, "gru", seed=4, **TINY)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert not torch.equal(a.model.rnn.weight_hh_l0, c.model.rnn.weight_hh_l0)
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    # the caller's global RNG is left alone
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    train(task, "rnn", seed=1, **TINY)
    assert torch.equal(torch.rand(3), before)


def test_tiny_run_beats_the_baseline_on_easy_tasks():
    res = train(_Small("tomita1", n=200, T=8), "gru", hidden=16, epochs=8, seed=0)
    assert res.metrics["test"] > 0.95 > res.metrics["baseline"]
    assert res.metrics["test_long"] > 0.9  # 1* generalises to longer strings
    res = train(_Small("sine", n=128, T=30), "gru", hidden=16, epochs=10, lr=0.02, seed=0)
    assert res.metrics["test"] < 0.5 * res.metrics["baseline"]


def test_early_stopping_restores_the_best_weights():
    task = _Small("adding", n=200, T=10)
    res = train(task, "rnn", hidden=8, epochs=12, lr=0.3, seed=0)  # a noisy, too-large step
    hist = [h["val_loss"] for h in res.history]
    data = task.generate(0)
    got = float(torch.nn.functional.mse_loss(res.model.predict(data.x_val), data.y_val))
    best = res.metrics["best_epoch"]
    if best:
        assert hist[best - 1] == min(h for h in hist if math.isfinite(h))
        assert got == pytest.approx(hist[best - 1], rel=1e-5)
    else:  # nothing beat the initial network: its weights come back
        assert got <= min(h for h in hist if math.isfinite(h))
    assert len(hist) == res.metrics["epochs_run"]


def test_bad_training_settings_are_usage_errors():
    task = _Small("parity", n=32, T=4)
    for kw in ({"hidden": 0}, {"epochs": 0}, {"seed": -1}, {"lr": 0.0}, {"batch_size": 0}):
        with pytest.raises(UsageError):
            train(task, "gru", **{**TINY, **kw})
    with pytest.raises(UsageError, match="lstm"):
        train(task, "cnn", **TINY)
    with pytest.raises(UsageError, match="orthogonal"):  # the valid initializers are listed
        train(task, "gru", init="nope", **TINY)
    with pytest.raises(UsageError, match="unknown task"):
        train("nope", "gru")
    with pytest.raises(InvalidInputError, match="no such"):
        train(task, "gru", init="eigen", init_params="/nonexistent/eigen.json", **TINY)


def test_initializer_is_applied_and_seeded():
    task = _Small("parity", n=32, T=4)
    kw = {**TINY, "epochs": 1, "lr": 1e-12}  # a step this small leaves the init visible
    a = train(task, "rnn", init="orthogonal", seed=0, **kw).model.rnn.weight_hh_l0.detach()
    b = train(task, "rnn", init="orthogonal", seed=0, **kw).model.rnn.weight_hh_l0.detach()
    assert torch.equal(a, b)
    torch.testing.assert_close(a @ a.T, torch.eye(8), atol=1e-4, rtol=0)


def test_checkpoint_loads_weights_only_with_full_metadata(tmp_path):
    res = train(_Small("tomita4", n=64, T=6), "lstm", init="orthogonal", seed=2, **TINY)
    path = tmp_path / "m.pt"
    sha = save_checkpoint(path, res.model, res.meta)
    obj = torch.load(path, map_location="cpu", weights_only=True)
    meta = obj["rnndyn"]
    assert set(meta) >= META_KEYS and meta["schema"] == SCHEMA
    assert (
        meta["arch"] == "lstm"
        and meta["task"] == "tomita4"
        and meta["task_kind"] == "classification"
    )
    assert meta["task_params"] == {"T": 6} and meta["seed"] == 2 and meta["hidden_size"] == 8
    assert meta["metrics"]["metric"] == "accuracy" and len(meta["history"]) >= 1
    assert set(obj["state_dict"]) == set(res.model.state_dict())
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    clone = SequenceModel.from_meta(meta)
    clone.load_state_dict(obj["state_dict"])
    x = torch.randn(3, 6, 3)
    torch.testing.assert_close(clone.predict(x), res.model.predict(x))
    import rnndyn

    ckpt = rnndyn.load(path)
    assert "rnn.weight_hh_l0" in ckpt.tensors and ckpt.metadata["task"] == "tomita4"


def test_checkpoint_never_clobbers_foreign_files(tmp_path):
    model = SequenceModel("gru", 1, 4, 1)
    meta = {"arch": "gru", "task": "x"}
    foreign = tmp_path / "notes.pt"
    foreign.write_bytes(b"precious")
    torch_foreign = tmp_path / "theirs.pt"
    torch.save({"w": torch.zeros(2)}, torch_foreign)
    before = torch_foreign.read_bytes()
    for target in (foreign, torch_foreign):
        for force in (False, True):
            with pytest.raises(OutputError, match="not written by rnndyn"):
                save_checkpoint(target, model, meta, force=force)
    assert foreign.read_bytes() == b"precious" and torch_foreign.read_bytes() == before
    ours = tmp_path / "ours.pt"
    save_checkpoint(ours, model, meta)
    assert is_rnndyn_checkpoint(ours) and not is_rnndyn_checkpoint(torch_foreign)
    with pytest.raises(OutputError, match="--force"):
        save_checkpoint(ours, model, meta)
    save_checkpoint(ours, model, {**meta, "task": "y"}, force=True)
    assert torch.load(ours, weights_only=True)["rnndyn"]["task"] == "y"
    with pytest.raises(OutputError, match="does not exist"):
        save_checkpoint(tmp_path / "missing" / "m.pt", model, meta)
    with pytest.raises(OutputError, match="folder"):
        save_checkpoint(tmp_path, model, meta)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.pt", "ours.pt", "theirs.pt"]


def test_plain_metadata():
    assert type(plain(torch.__version__)) is str
    assert plain({"a": (1, 2.0), "b": float("nan"), "c": np.float32(0.5), 3: None}) == {
        "a": [1, 2.0],
        "b": None,
        "c": 0.5,
        "3": None,
    }
    with pytest.raises(TypeError):
        plain({"x": object()})

"""``rnndyn train`` and ``rnndyn tasks`` through the typer app, plus one installed-binary run."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
import torch
from typer.testing import CliRunner

from rnndyn_cli.app import app

FAST = ["--task", "parity", "--param", "T=4", "--arch", "gru", "--hidden", "4", "--epochs", "1"]


@pytest.fixture
def runner():
    return CliRunner()


def test_tasks_lists_every_task(runner):
    res = runner.invoke(app, ["tasks"])
    assert res.exit_code == 0, res.output
    names = ("tomita1", "tomita7", "parity", "digits_perm", "adding", "copy", "narma10", "flipflop")
    for name in names:
        assert name in res.stdout
    doc = json.loads(runner.invoke(app, ["tasks", "--json"]).stdout)
    plain = [t for t in doc["tasks"] if not t["name"].startswith("twin_")]
    assert doc["schema"] == "rnndyn.tasks/1" and len(plain) == 16
    adding = next(t for t in doc["tasks"] if t["name"] == "adding")
    assert adding["kind"] == "regression" and adding["baseline"] == pytest.approx(1 / 6)
    assert adding["seq_len"] == 100 and adding["input_size"] == 2 and adding["metric"] == "mse"


def test_train_json_document_and_checkpoint(runner, tmp_path):
    out = tmp_path / "m.pt"
    res = runner.invoke(app, ["train", *FAST, "--seed", "3", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "rnndyn.training.train/1" and doc["checkpoint"]["path"] == str(out)
    assert doc["checkpoint"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert doc["metrics"]["metric"] == "accuracy" and 0.0 <= doc["metrics"]["test"] <= 1.0
    assert doc["history"]["epochs_run"] == 1 and doc["task_params"] == {"T": 4}
    meta = torch.load(out, weights_only=True)["rnndyn"]
    assert (meta["task"], meta["arch"], meta["seed"], meta["hidden_size"]) == (
        "parity",
        "gru",
        3,
        4,
    )
    # an rnndyn checkpoint is replaced only with --force
    res = runner.invoke(app, ["train", *FAST, "-o", str(out)])
    assert res.exit_code == 5 and "--force" in res.stderr and res.stdout == ""
    res = runner.invoke(app, ["train", *FAST, "-o", str(out), "--force"])
    assert res.exit_code == 0 and "test accuracy" in res.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--task", "nope", "--arch", "gru"], "tomita1"),
        (["--task", "parity", "--arch", "cnn"], "rnn, lstm, gru"),
        (["--task", "parity", "--arch", "gru", "--init", "nope"], "orthogonal"),
        (["--task", "parity", "--arch", "gru", "--hidden", "0"], "hidden"),
        (["--task", "parity", "--arch", "gru", "--epochs", "0"], "epochs"),
        (["--task", "parity", "--arch", "gru", "--seed", "-1"], "seed"),
        (["--task", "adding", "--arch", "gru", "--param", "T=0"], "T=0"),
        (["--task", "adding", "--arch", "gru", "--param", "T"], "KEY=VALUE"),
        (["--task", "adding", "--arch", "gru", "--param", "tau=3"], "valid parameters: T"),
        (["--task", "parity", "--arch", "gru", "--nonlinearity", "relu"], "only to arch 'rnn'"),
    ],
)
def test_bad_inputs_exit_2_with_choices(runner, tmp_path, args, needle):
    out = tmp_path / "m.pt"
    res = runner.invoke(app, ["train", *args, "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and res.stdout == "" and "Traceback" not in res.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_foreign_output_and_bad_init_params_refused_before_training(runner, tmp_path):
    foreign = tmp_path / "keep.pt"
    foreign.write_text("not ours")
    res = runner.invoke(app, ["train", *FAST, "-o", str(foreign), "--force"])
    assert res.exit_code == 5 and "not written by rnndyn" in res.stderr
    assert foreign.read_text() == "not ours"
    missing = tmp_path / "none.json"
    res = runner.invoke(
        app,
        [
            "train",
            *FAST,
            "--init",
            "eigen",
            "--init-params",
            str(missing),
            "-o",
            str(tmp_path / "a.pt"),
        ],
    )
    assert res.exit_code == 4 and "none.json" in res.stderr and not (tmp_path / "a.pt").exists()


def test_corrupt_init_params_file_is_invalid_input(runner, tmp_path):
    pytest.importorskip("rnndyn.init.law")
    bad = tmp_path / "eigen.json"
    bad.write_text('{"schema": "something.else/1", "radius": "')
    out = tmp_path / "a.pt"
    res = runner.invoke(
        app, ["train", *FAST, "--init", "eigen", "--init-params", str(bad), "-o", str(out)]
    )
    assert res.exit_code == 4, res.output
    assert "eigen.json" in res.stderr and not out.exists()


def test_installed_binary_trains_and_writes_only_the_checkpoint(tmp_path, rnndyn_command):
    cmd = [*rnndyn_command, "--quiet", "train", *FAST, "-o", "m.pt", "--json", "--threads", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["checkpoint"]["path"] == "m.pt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_init_params_file_implies_eigen_and_is_fingerprinted(runner, tmp_path):
    law = pytest.importorskip("rnndyn.init.law")
    params = tmp_path / "lru.json"
    law.EigenInitParams.lru_ring(0.5, 0.9).save(params)
    out = tmp_path / "e.pt"
    res = runner.invoke(
        app, ["train", *FAST, "--init-params", str(params), "-o", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["init"] == "eigen"
    assert doc["init_params"] == hashlib.sha256(params.read_bytes()).hexdigest()
    assert torch.load(out, weights_only=True)["rnndyn"]["init_params"] == doc["init_params"]

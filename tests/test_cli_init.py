"""`rnndyn init list|show|fit|sample`: exit codes, stdout/stderr discipline, files written."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch
from io_factories import rnndyn_checkpoint
from planted import matched_error
from torch import nn
from typer.testing import CliRunner

from rnndyn.init.law import EigenInitParams
from rnndyn_cli.app import app


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def ckpts(tmp_path):
    paths = []
    for i, kind in enumerate(["regression", "classification", "regression", "classification"]):
        torch.manual_seed(i)
        p = tmp_path / f"net{i}.pt"
        sd = nn.LSTM(3, 8).state_dict()
        torch.save(rnndyn_checkpoint(sd, hidden_size=8, task_kind=kind), p)
        paths.append(p)
    return paths


@pytest.fixture
def law_file(tmp_path):
    return EigenInitParams.lru_ring(0.5, 0.95, 2.0).save(tmp_path / "ring.json")


def test_list_shows_the_zoo(runner):
    res = runner.invoke(app, ["init", "list"])
    assert res.exit_code == 0, res.output
    assert "eigen" in res.stdout and "orthogonal" in res.stdout and res.stderr == ""
    doc = json.loads(runner.invoke(app, ["init", "list", "--json"]).stdout)
    names = [e["name"] for e in doc["initializers"]]
    assert doc["schema"] == "rnndyn.init-list/1" and "eigen" in names and "lru_ring" in names


def test_show_describes_and_validates(runner, law_file):
    res = runner.invoke(app, ["init", "show", str(law_file)])
    assert res.exit_code == 0, res.output
    assert "ring(" in res.stdout and "uniform(" in res.stdout
    res = runner.invoke(app, ["init", "show", str(law_file), "--json"])
    assert json.loads(res.stdout) == EigenInitParams.load(law_file).to_dict()


@pytest.mark.parametrize(
    "content", [b"\x80\x04pickle", b'{"schema": "rnndyn.eigen-init/9"}', b"NaN"]
)
def test_show_refuses_bad_files_with_exit_4(runner, tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    res = runner.invoke(app, ["init", "show", str(bad)])
    assert res.exit_code == 4
    assert res.stdout == "" and str(bad) in res.stderr and res.stderr.startswith("rnndyn: ")
    assert "Traceback" not in res.stderr


def test_show_out_writes_table_json_and_figure(runner, law_file, tmp_path):
    out = tmp_path / "shown"
    res = runner.invoke(app, ["init", "show", str(law_file), "--out", str(out), "--n", "64"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "law.json").read_text()) == EigenInitParams.load(law_file).to_dict()
    assert (out / "law.csv").exists() and (out / "law.png").stat().st_size > 0
    assert (out / "law.pdf").exists()


def test_fit_writes_a_law_with_provenance(runner, ckpts, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    out = tmp_path / "law.json"
    res = runner.invoke(app, ["init", "fit", *map(str, ckpts[:2]), "-o", str(out)])
    assert res.exit_code == 0, res.output
    law = EigenInitParams.load(out)
    assert law.provenance["n_checkpoints"] == 2 and list(law.targets) == ["i", "f", "g", "o"]
    assert set(tmp_path.iterdir()) - before == {out}
    res = runner.invoke(app, ["init", "fit", str(ckpts[0]), "-o", str(out)])
    assert res.exit_code == 5 and "already exists" in res.stderr and res.stdout == ""
    res = runner.invoke(app, ["init", "fit", str(ckpts[0]), "-o", str(out), "--force", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["files"][0]["law"]["provenance"]["n_checkpoints"] == 1


def test_fit_by_task_kind_writes_one_file_per_group(runner, ckpts, tmp_path):
    out = tmp_path / "law.json"
    res = runner.invoke(app, ["init", "fit", *map(str, ckpts), "--by", "task_kind", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert not out.exists()
    for group in ("regression", "classification"):
        law = EigenInitParams.load(tmp_path / f"law.{group}.json")
        assert law.provenance["group"] == group and law.provenance["n_checkpoints"] == 2


def test_fit_refuses_foreign_output_and_bad_checkpoints(runner, ckpts, tmp_path):
    foreign = tmp_path / "notes.json"
    foreign.write_text('{"mine": true}')
    res = runner.invoke(app, ["init", "fit", str(ckpts[0]), "-o", str(foreign), "--force"])
    assert res.exit_code == 5 and foreign.read_text() == '{"mine": true}'
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    out = tmp_path / "law.json"
    res = runner.invoke(app, ["init", "fit", str(ckpts[0]), str(bad), "-o", str(out)])
    assert res.exit_code == 4 and str(bad) in res.stderr and not out.exists()
    res = runner.invoke(app, ["init", "fit", str(ckpts[0]), "-o", str(ckpts[0]), "--force"])
    assert res.exit_code == 5


def test_sample_writes_w_with_the_drawn_eigenvalues(runner, ckpts, tmp_path):
    law = tmp_path / "law.json"
    assert runner.invoke(app, ["init", "fit", *map(str, ckpts), "-o", str(law)]).exit_code == 0
    w_path = tmp_path / "W.npy"
    res = runner.invoke(app, ["init", "sample", str(law), "--n", "16", "-o", str(w_path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    w = np.load(w_path, allow_pickle=False)
    assert w.shape == (64, 16) and doc["schema"] == "rnndyn.eigen-sample/1"
    for k, block in enumerate(doc["blocks"]):
        drawn = np.array([complex(a, b) for a, b in block["eigenvalues"]])
        assert matched_error(np.linalg.eigvals(w[16 * k : 16 * (k + 1)]), drawn) < 1e-10
    assert [b["target"] for b in doc["blocks"]] == ["i", "f", "g", "o"]
    res = runner.invoke(app, ["init", "sample", str(law), "--n", "5", "--target", "f"])
    assert res.exit_code == 0 and " f " in res.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--n", "8", "--target", "q"], 2),
        (["--n", "0"], 2),
        (["--n", "abc"], 2),
    ],
)
def test_sample_usage_errors(runner, law_file, args, code):
    res = runner.invoke(app, ["init", "sample", str(law_file), *args])
    assert res.exit_code == code and res.stdout == ""


def test_sample_names_missing_targets(runner, tmp_path):
    from rnndyn.init.law import Dist, TargetLaw

    law = EigenInitParams({"hh": TargetLaw(Dist("point", {"value": 0.5}))}).save(
        tmp_path / "hh.json"
    )
    res = runner.invoke(app, ["init", "sample", str(law), "--n", "4", "--target", "f"])
    assert res.exit_code == 2 and "no target 'f'" in res.stderr and res.stdout == ""


def test_sample_refuses_to_overwrite(runner, law_file, tmp_path):
    target = tmp_path / "W.npy"
    target.write_text("precious")
    res = runner.invoke(app, ["init", "sample", str(law_file), "--n", "4", "-o", str(target)])
    assert res.exit_code == 5 and target.read_text() == "precious"
    res = runner.invoke(
        app, ["init", "sample", str(law_file), "--n", "4", "-o", str(target), "--force"]
    )
    assert res.exit_code == 5 and target.read_text() == "precious"  # not a .npy rnndyn wrote


def test_installed_command(law_file, rnndyn_command):
    res = subprocess.run(
        [*rnndyn_command, "init", "sample", str(law_file), "--n", "6", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)["blocks"][0]["eigenvalues"]) == 6

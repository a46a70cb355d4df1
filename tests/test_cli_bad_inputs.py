"""`rnndyn analyze` on bad input, one case each: exit code, one stderr paragraph naming the file,
no traceback, nothing on stdout, nothing written, the input untouched, the payload never run."""

from __future__ import annotations

import hashlib
import os

import pytest
import torch
from io_factories import (
    HTML_PAGE,
    make_lstm_state_dict,
    random_bytes,
    truncate_copy,
    write_bytes,
    write_evil_pickle,
    write_evil_torch_zip,
    write_safetensors,
    write_torch_state_dict,
    write_whole_module,
)
from typer.testing import CliRunner

from rnndyn_cli.app import app


def _nan_weights(path, marker):
    sd = make_lstm_state_dict()
    sd["weight_hh_l0"][3, 1] = float("nan")
    return write_torch_state_dict(path, sd)


def _bad_shape(path, marker):
    sd = make_lstm_state_dict(hidden_size=8)
    sd["weight_hh_l0"] = torch.randn(32, 9)
    return write_torch_state_dict(path, sd)


def _no_recurrent(path, marker):
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.Tanh(), torch.nn.Linear(6, 6))
    return write_torch_state_dict(path, mlp.state_dict())


def _truncated_zip(path, marker):
    src = write_torch_state_dict(path.with_name("good.pt"), make_lstm_state_dict())
    return truncate_copy(src, path, keep=0.5)


def _truncated_safetensors(path, marker):
    src = write_safetensors(path.with_name("good.safetensors"), make_lstm_state_dict())
    return truncate_copy(src, path, keep=0.6)


CASES = {
    "empty": (lambda p, m: write_bytes(p, b""), 4, "empty"),
    "directory": (lambda p, m: (p.mkdir(), p)[1], 4, "directory"),
    "missing": (lambda p, m: p, 4, "no such file"),
    "truncated_zip": (_truncated_zip, 4, ""),
    "truncated_safetensors": (_truncated_safetensors, 4, ""),
    "html": (lambda p, m: write_bytes(p, HTML_PAGE), 4, "not a checkpoint"),
    "random": (lambda p, m: write_bytes(p, random_bytes()), 4, ""),
    "evil_pickle": (lambda p, m: write_evil_pickle(p, m), 3, "--trust-pickle"),
    "evil_data_pkl": (lambda p, m: write_evil_torch_zip(p, m), 3, "--trust-pickle"),
    "whole_module": (lambda p, m: write_whole_module(p), 3, "--trust-pickle"),
    "nan_weights": (_nan_weights, 4, "NaN"),
    "bad_shape": (_bad_shape, 4, "(32, 9)"),
    "no_recurrent": (_no_recurrent, 4, "--matrix"),
}


def _snapshot(folder):
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize(
    "force_env", [False, True], ids=["plain", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]
)
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, force_env, tmp_path, monkeypatch):
    build, code, phrase = CASES[case]
    if force_env:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "PWNED"
    path = build(tmp_path / "model.pt", marker)
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["analyze", str(path), "--json", "--out", str(out)])
    assert res.exit_code == code, (res.exit_code, res.stderr)
    assert res.stdout == ""
    err = res.stderr.strip()
    assert err.startswith("rnndyn: ") and str(path) in err and phrase in err
    assert "\n" not in err and "Traceback" not in err and "weights_only=False" not in err
    assert not marker.exists()
    assert not out.exists()
    assert _snapshot(tmp_path) == before


def test_unknown_matrix_key(tmp_path):
    path = write_torch_state_dict(tmp_path / "m.pt", {"a.weight": torch.randn(4, 4)})
    res = CliRunner().invoke(app, ["analyze", str(path), "--matrix", "b.weight"])
    assert res.exit_code == 2
    assert "b.weight" in res.stderr and "a.weight" in res.stderr and res.stdout == ""


def test_matrix_key_selects_square_parameter(tmp_path):
    path = write_torch_state_dict(tmp_path / "m.pt", {"a.weight": torch.eye(4) * 0.5})
    res = CliRunner().invoke(app, ["analyze", str(path), "--matrix", "a.weight", "--json"])
    assert res.exit_code == 0, res.stderr
    assert '"spectral_radius": 0.5' in res.stdout


def test_unwritable_out(tmp_path):
    path = write_torch_state_dict(tmp_path / "m.pt", make_lstm_state_dict())
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = CliRunner().invoke(app, ["analyze", str(path), "--out", str(blocker / "sub")])
    assert res.exit_code == 5, res.stderr
    assert str(blocker) in res.stderr and res.stdout == ""
    assert blocker.read_text() == "not a folder"


def test_out_refuses_foreign_files(tmp_path):
    path = write_torch_state_dict(tmp_path / "m.pt", make_lstm_state_dict())
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    res = CliRunner().invoke(app, ["analyze", str(path), "--out", str(out)])
    assert res.exit_code == 5
    assert "notes.txt" in res.stderr
    assert sorted(os.listdir(out)) == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"


def test_trust_pickle_loads_whole_module(tmp_path):
    path = write_whole_module(tmp_path / "whole.pt")
    res = CliRunner().invoke(app, ["analyze", str(path), "--trust-pickle", "--json"])
    assert res.exit_code == 0, res.stderr
    assert '"architecture"' in res.stdout and "trust" in res.stderr

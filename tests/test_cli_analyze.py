"""`rnndyn analyze`: planted spectra through the CLI (fixtures runner/planted_rnn: conftest.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from planted import matched_error

from rnndyn_cli.app import app


def test_json_document_fields(runner, planted_rnn):
    path, eigs = planted_rnn
    res = runner.invoke(app, ["analyze", str(path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "rnndyn.analysis/1"
    assert doc["checkpoint"]["path"] == str(path) and len(doc["checkpoint"]["sha256"]) == 64
    assert (doc["architecture"], doc["nonlinearity"], doc["hidden_size"], doc["num_layers"]) == (
        "rnn",
        "tanh",
        7,
        1,
    )
    assert doc["bidirectional"] is False and doc["proj_size"] == 0 and doc["input_size"] == 2
    assert doc["metadata"]["task_kind"] == "regression"
    (mat,) = doc["matrices"]
    assert (mat["id"], mat["layer"], mat["direction"], mat["gate"], mat["n"]) == (
        "l0.fwd.hh",
        0,
        "forward",
        None,
        7,
    )
    got = np.array([complex(re, im) for re, im in mat["eigenvalues"]])
    assert matched_error(got, eigs) < 1e-6  # stored in float32
    assert mat["spectral_radius"] == pytest.approx(1.05, rel=1e-6)
    assert mat["n_outside_unit_circle"] == 1
    assert mat["timescales"][0] is None  # |λ| = 1.05: no decay
    for key in ("eigvec_condition", "departure_from_normality", "residual"):
        assert isinstance(mat[key], float)


def test_lstm_proj_json_reports_cell_size(runner, tmp_path):
    path = tmp_path / "proj.pt"
    torch.save(
        torch.nn.LSTM(3, 12, proj_size=5, num_layers=2, bidirectional=True).state_dict(), path
    )
    res = runner.invoke(app, ["analyze", str(path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["architecture"], doc["hidden_size"], doc["proj_size"], doc["bidirectional"]) == (
        "lstm",
        12,
        5,
        True,
    )
    assert len(doc["matrices"]) == 2 * 2 * 4 and {m["n"] for m in doc["matrices"]} == {5}
    assert {m["direction"] for m in doc["matrices"]} == {"forward", "reverse"}


def test_table_on_stdout(runner, planted_rnn):
    path, _ = planted_rnn
    res = runner.invoke(app, ["analyze", str(path)])
    assert res.exit_code == 0
    assert "rnn:l0.fwd.hh" in res.stdout and "1.05" in res.stdout


def test_out_folder_many_checkpoints(runner, planted_rnn, tmp_path):
    path, _ = planted_rnn
    other = tmp_path / "gru.pt"
    torch.save(torch.nn.GRU(2, 5).state_dict(), other)
    out = tmp_path / "report"
    res = runner.invoke(app, ["analyze", str(path), str(other), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "rnndyn.analysis-set/1" and len(doc["analyses"]) == 2
    import pandas as pd

    table = pd.read_csv(out / "eigenvalues.csv")
    assert len(table) == 7 + 3 * 5
    assert set(table["checkpoint"]) == {str(path), str(other)}
    for sub in ("planted", "gru"):
        assert (
            json.loads((out / sub / "analysis.json").read_text())["schema"] == "rnndyn.analysis/1"
        )
        for fig in ("spectrum", "modulus_histogram", "timescales"):
            assert (out / sub / f"{fig}.pdf").read_bytes().startswith(b"%PDF")
            assert (out / sub / f"{fig}.png").read_bytes().startswith(b"\x89PNG")


def test_unknown_format_is_usage_error(runner, planted_rnn, tmp_path):
    path, _ = planted_rnn
    res = runner.invoke(
        app, ["analyze", str(path), "--out", str(tmp_path / "o"), "--format", "gif"]
    )
    assert res.exit_code == 2
    assert "gif" in res.stderr and res.stdout == ""
    assert not (tmp_path / "o").exists()


def test_installed_entry_point_and_light_help(planted_rnn, rnndyn_command):
    path, _ = planted_rnn
    res = subprocess.run(
        [*rnndyn_command, "analyze", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["matrices"][0]["n"] == 7
    probe = (
        "import sys; sys.argv=['rnndyn','--help']\n"
        "from rnndyn_cli.app import app\n"
        "try:\n    app(prog_name='rnndyn')\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch','pandas','matplotlib','seaborn') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_pseudospectra_flag_json_table_and_figure(runner, planted_rnn, tmp_path):
    """--pseudospectra: per operator the ε at which Λ_ε reaches the unit circle (here the planted
    normal W has |λ| = 1.05 at most: the margin is that eigenvalue's distance to the circle, 0.05,
    up to float32 storage), the contour levels from the stored precision, the table and figure."""
    path, eigs = planted_rnn
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", str(path), "--pseudospectra", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    (mat,) = json.loads(res.stdout)["matrices"]
    ps = mat["pseudospectrum"]
    want = np.abs(np.abs(eigs) - 1).min()
    assert ps["unit_circle_epsilon"] == pytest.approx(want, abs=1e-5)
    assert ps["levels"][0] == pytest.approx(mat["perturbation"]) and len(ps["levels"]) >= 5
    assert mat["stored_dtype"] == "float32" and ps["within_stored_precision"] is False
    for name in ("pseudospectra.png", "pseudospectra.csv"):
        assert (out / name).exists()
    res = runner.invoke(app, ["analyze", str(path)])  # no flag: no pseudospectrum
    assert "pseudospectrum" not in res.stdout

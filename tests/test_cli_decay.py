import json
import subprocess

import numpy as np
import pytest
import torch
from planted import matched_error, planted
from typer.testing import CliRunner

from rnndyn_cli.app import app


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def planted_ckpt(tmp_path):
    """A zero-bias tanh RNN with a planted spectrum (a pair outside the unit circle), nested keys."""
    rng = np.random.default_rng(3)
    w, eigs = planted([0.97, -0.5], [1.02 * np.exp(0.7j), 0.6 * np.exp(2.2j)], rng, cond=2)
    sd = {
        "rnn.weight_ih_l0": torch.tensor(rng.standard_normal((6, 2)), dtype=torch.float32),
        "rnn.weight_hh_l0": torch.tensor(w, dtype=torch.float32),
        "readout.weight": torch.ones(1, 6),
    }
    path = tmp_path / "planted.pt"
    torch.save(
        {"state_dict": sd, "rnndyn": {"schema": "rnndyn.checkpoint/1", "nonlinearity": "tanh"}},
        path,
    )
    return path, eigs


def test_table_on_stdout(runner, planted_ckpt):
    path, _ = planted_ckpt
    res = runner.invoke(app, ["decay", str(path), "--probe", "zeros", "--steps", "40"])
    assert res.exit_code == 0, res.output
    assert "rnn:l0.fwd.hh" in res.stdout and "own rate" in res.stdout and "whole rate" in res.stdout
    assert "in eigenspace" in res.stdout
    assert "1.02" in res.stdout
    assert "Lyapunov" in res.stderr and "Lyapunov" not in res.stdout


def test_json_document(runner, planted_ckpt):
    path, eigs = planted_ckpt
    res = runner.invoke(app, ["decay", str(path), "--probe", "zeros", "--steps", "40", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "rnndyn.decay/2"
    assert doc["checkpoint"]["path"] == str(path) and len(doc["checkpoint"]["sha256"]) == 64
    (op,) = doc["operators"]
    assert (op["id"], op["layer"], op["direction"], op["gate"]) == ("l0.fwd.hh", 0, "forward", None)
    assert len(op["modes"]) == 6
    got = np.array([complex(*m["eigenvalue"]) for m in op["modes"]])
    assert matched_error(got, eigs) < 1e-6  # stored in float32
    for m in op["modes"]:
        assert m["own_rate"] == pytest.approx(m["predicted_rate"], rel=0.01)
        assert m["own_rate_fit"]["steps"] >= 5 and m["own_rate_reason"] is None
        assert m["predicted_rate"] == pytest.approx(np.hypot(*m["eigenvalue"]), rel=1e-12)
        assert set(m) >= {
            "eigenvalue",
            "predicted_rate",
            "own_rate",
            "own_rate_ci",
            "eigenspace_fraction",
            "whole_rate",
            "half_life",
        }
    assert op["modes"][0]["half_life"] is None  # |λ| = 1.02
    assert len(doc["lyapunov"]["exponents"]) == 6 and doc["memory_capacity"] is None


def test_out_folder_writes_tables_and_figures(runner, planted_ckpt, tmp_path):
    path, _ = planted_ckpt
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "decay",
            str(path),
            "--probe",
            "noise:0.3",
            "--steps",
            "20",
            "--batch",
            "4",
            "--out",
            str(out),
            "--format",
            "png",
        ],
    )
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {
        "decay.json",
        "decay_modes.csv",
        "decay_curves.csv",
        "memory.csv",
        "lyapunov.csv",
        "effective_spectrum.png",
        "memory_function.png",
        "lyapunov_spectrum.png",
        "decay_curves_rnn_l0.fwd.hh.png",
        "eigenspace_rnn_l0.fwd.hh.png",
        "modal_energy_rnn_l0.fwd.hh.png",
        "manifest.json",
    } <= names
    assert json.loads((out / "decay.json").read_text())["schema"] == "rnndyn.decay/2"


def test_bad_inputs_exit_codes_and_messages(runner, planted_ckpt, tmp_path):
    path, _ = planted_ckpt
    res = runner.invoke(app, ["decay", str(path), "--operator", "l0.fwd.x"])
    assert res.exit_code == 2 and res.stdout == ""
    assert "l0.fwd.hh, l0.fwd.jac, l0.fwd.jacfp" in res.stderr and "Traceback" not in res.stderr
    for steps in ("0", "-3"):
        res = runner.invoke(app, ["decay", str(path), "--steps", steps])
        assert res.exit_code == 2 and "--steps" in res.stderr
    probe = tmp_path / "probe.npy"
    np.save(probe, np.zeros((3, 10, 5), np.float32))
    res = runner.invoke(app, ["decay", str(path), "--probe", str(probe), "--steps", "5"])
    assert res.exit_code == 4 and "(B, T, 2)" in res.stderr and str(probe) in res.stderr
    np.save(probe, np.zeros((3, 10, 2), np.float32))
    res = runner.invoke(app, ["decay", str(path), "--probe", str(probe), "--steps", "11"])
    assert res.exit_code == 2 and "larger than the probe (10 steps)" in res.stderr
    boom = tmp_path / "boom.pt"
    torch.save(
        {
            "state_dict": {"weight_ih_l0": torch.ones(3, 1), "weight_hh_l0": 10 * torch.eye(3)},
            "rnndyn": {"nonlinearity": "relu"},
        },
        boom,
    )
    res = runner.invoke(app, ["decay", str(boom), "--steps", "300"])
    assert res.exit_code == 4 and "NaN/Inf" in res.stderr and "explodes" in res.stderr


def test_installed_command_prints_one_json_document(planted_ckpt, tmp_path, rnndyn_command):
    path, _ = planted_ckpt
    cmd = [*rnndyn_command, "decay", str(path), "--probe", "zeros", "--steps", "10", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["schema"] == "rnndyn.decay/2"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["planted.pt"])

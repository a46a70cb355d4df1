"""``rnndyn fixedpoints``, ``rnndyn track`` and ``rnndyn train --save-every`` from the command line."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rnndyn_cli.app import app

FLIPFLOP = Path(__file__).parent / "data" / "gru_flipflop3.pt"


@pytest.fixture
def runner():
    return CliRunner()


def test_fixedpoints_json_document(runner):
    res = runner.invoke(
        app, ["fixedpoints", str(FLIPFLOP), "--n-inits", "256", "--iters", "300", "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "rnndyn.fixedpoints/1"
    assert doc["checkpoint"]["path"] == str(FLIPFLOP) and len(doc["checkpoint"]["sha256"]) == 64
    pts = doc["fixed_points"]
    assert sum(p["stable"] for p in pts if p["kind"] == "fixed") == 8
    assert set(doc["coverage"]) >= {"found", "estimated_total", "complete"}
    for p in pts:
        assert len(p["state"]) == 16 and len(p["eigenvalues"]) == 16
        radius = max(np.hypot(*z) for z in p["eigenvalues"])
        assert p["stable"] == (radius < 1) and p["kind"] in ("fixed", "slow", "marginal")
        assert np.shape(p["input_jacobian"]) == (16, 3) and len(p["readout"]) == 3
        assert p["n_unstable"] == sum(np.hypot(*z) > 1 for z in p["eigenvalues"])


def test_fixedpoints_table_and_out_folder(runner, tmp_path):
    out = tmp_path / "fp"
    fmt = ["--format", "png"]
    res = runner.invoke(
        app,
        [
            "fixedpoints",
            str(FLIPFLOP),
            "--n-inits",
            "128",
            "--iters",
            "300",
            *fmt,
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "(8 stable," in " ".join(res.stdout.split())
    assert "coverage:" in res.stdout
    names = {p.name for p in out.iterdir()}
    assert {"fixedpoints.json", "fixed_points.csv", "pca_trajectories.png"} <= names
    assert {"jacobian_eigenvalues.png", "q_histogram.png"} <= names


def test_fixedpoints_bad_input_exit_codes(runner, tmp_path):
    res = runner.invoke(app, ["fixedpoints", str(FLIPFLOP), "--input", "sideways"])
    assert res.exit_code == 2 and "sideways" in res.output
    bad = tmp_path / "x.npy"
    np.save(bad, np.zeros((2, 2)))  # two constant inputs of size 2; the network takes 3
    res = runner.invoke(app, ["fixedpoints", str(FLIPFLOP), "--input", str(bad)])
    assert res.exit_code == 4 and "x.npy" in res.output
    res = runner.invoke(app, ["fixedpoints", str(tmp_path / "missing.pt")])
    assert res.exit_code == 4


def test_fixedpoints_scan_and_cut_starts_warn(runner, tmp_path):
    inputs = tmp_path / "pulses.npy"
    np.save(inputs, np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    out = tmp_path / "scan"
    args = ["fixedpoints", str(FLIPFLOP), "--input", "zeros", "--input", str(inputs)]
    args += ["--n-inits", "16", "--iters", "200", "--format", "png", "--json", "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [d["spec"] for d in doc["inputs"]] == ["zeros", f"{inputs}[0]", f"{inputs}[1]"]
    assert {p["input_index"] for p in doc["fixed_points"]} == {0, 1, 2}
    assert doc["links"] and {"from_input", "to_point", "event"} <= set(doc["links"][0])
    assert doc["coverage"]["complete"] is False  # 16 starts: some point reached once
    assert "probably incomplete" in res.stderr
    names = {p.name for p in out.iterdir()}
    assert {"links.csv", "bifurcation.png", "fixed_points.csv"} <= names
    res = runner.invoke(app, ["fixedpoints", str(FLIPFLOP), "--n-inits", "many"])
    assert res.exit_code == 2 and "--n-inits" in res.stderr


def test_train_snapshots_then_track(runner, tmp_path):
    snaps = tmp_path / "snaps"
    args = ["train", "--task", "flipflop", "--arch", "rnn", "-H", "5", "--epochs", "2"]
    args += ["--param", "T=10", "--save-every", "1", "--snapshots", str(snaps)]
    res = runner.invoke(app, [*args, "-o", str(tmp_path / "final.pt")])
    assert res.exit_code == 0, res.output
    files = sorted(snaps.glob("*.pt"))
    assert [f.name for f in files] == ["epoch_0000.pt", "epoch_0001.pt", "epoch_0002.pt"]
    assert torch.load(files[1], weights_only=True)["rnndyn"]["epoch"] == 1
    out = tmp_path / "track"
    res = runner.invoke(app, ["track", *map(str, files[::-1]), "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "rnndyn.track/1"
    assert [c["epoch"] for c in doc["checkpoints"]] == [0, 1, 2]
    assert doc["checkpoints"][1]["metrics"]["val_loss"] > 0
    assert {"eigenvalue_paths.png", "spectral_summary.png", "track.json"} <= {
        p.name for p in out.iterdir()
    }


def test_train_save_every_needs_a_folder(runner, tmp_path):
    res = runner.invoke(
        app,
        [
            "train",
            "--task",
            "flipflop",
            "--arch",
            "rnn",
            "--save-every",
            "2",
            "-o",
            str(tmp_path / "a.pt"),
        ],
    )
    assert res.exit_code == 2 and "snapshot" in res.output


def test_too_many_initial_states_is_refused_up_front(runner):
    """A MemoryError (exit 1) before: the size is estimated before anything is allocated."""
    from rnndyn_cli.app import app

    ckpt = Path(__file__).parents[1] / "data" / "examples" / "rnn_adding.pt"
    res = runner.invoke(app, ["fixedpoints", str(ckpt), "--n-inits", "100000000000"])
    assert res.exit_code == 2, res.output
    assert "--n-inits" in res.stderr and "GiB" in res.stderr

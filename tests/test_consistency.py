"""Consistency across commands (issue 27, deliverables 4 and 6): operators.csv equals the printed
summary and the spectra; manifest.json holds resolved values; --out honours the umask; every
checkpoint-reading command's help names the formats; "did you mean" for names."""

import json
import os
import re
import stat

import numpy as np
import pandas as pd
import pytest
import torch

from rnndyn.errors import UsageError, did_you_mean

EXAMPLE = "data/examples/gru_tomita4.pt"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    from typer.testing import CliRunner

    from rnndyn_cli.app import app

    out = tmp_path_factory.mktemp("a") / "out"
    res = CliRunner().invoke(app, ["analyze", EXAMPLE, "--out", str(out), "--format", "png"])
    assert res.exit_code == 0, res.output
    return out, res.stdout


def test_operators_csv_is_the_printed_summary_of_the_weights(analysed):
    out, stdout = analysed
    table = pd.read_csv(out / "operators.csv")
    assert list(table["operator"]) == ["l0.fwd.r", "l0.fwd.z", "l0.fwd.n"]
    sha = json.loads((out / "analysis.json").read_text())["checkpoint"]["sha256"]
    assert set(table["sha256"]) == {sha} and set(table["checkpoint"]) == {EXAMPLE}
    w = torch.load(EXAMPLE, weights_only=True)["state_dict"]["rnn.weight_hh_l0"].double().numpy()
    for k, row in table.iterrows():  # independent route: numpy on the stored gate blocks
        lam = np.linalg.eigvals(w[32 * k : 32 * (k + 1)])
        assert row["spectral_radius"] == pytest.approx(np.abs(lam).max(), rel=1e-12)
        assert row["n_outside_unit_circle"] == (np.abs(lam) > 1).sum()
        finite = np.abs(lam)[np.abs(lam) < 1]
        assert row["max_finite_timescale"] == pytest.approx(-1 / np.log(finite.max()), rel=1e-9)
        # the printed row shows the same numbers (4 significant digits)
        printed = next(line for line in stdout.splitlines() if f"rnn:{row['operator']} " in line)
        assert f"{row['spectral_radius']:.4g}" in printed
        assert f" {row['n_outside_unit_circle']} " in printed


def test_manifest_records_resolved_values_not_null_defaults(analysed):
    from rnndyn._util.threads import available_cores

    manifest = json.loads((analysed[0] / "manifest.json").read_text())
    assert manifest["options"]["jobs"] == available_cores()
    assert manifest["resolved_defaults"] == ["jobs"]
    assert manifest["options"]["layout"] is None  # genuinely unset: no layout hint was given


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_out_folder_honours_the_umask(tmp_path, umask):
    from rnndyn.report import Report, write_report

    old = os.umask(umask)
    try:
        write_report(Report().text("notes.txt", "hello"), tmp_path / "out")
    finally:
        os.umask(old)
    folder = stat.S_IMODE((tmp_path / "out").stat().st_mode)
    note = stat.S_IMODE((tmp_path / "out" / "notes.txt").stat().st_mode)
    assert (folder, note) == (0o777 & ~umask, 0o666 & ~umask)


READERS = ["analyze", "compare", "decay", "fixedpoints", "track", "init fit"]


@pytest.mark.parametrize("command", READERS)
def test_help_of_every_reading_command_names_every_format(cli, command):
    res = cli(*command.split(), "--help", env={"COLUMNS": "400"})
    text = re.sub(r"[\s│|]+", " ", res.stdout)
    for fmt in ("PyTorch", "TorchScript", "safetensors", "NumPy", "ONNX", "Keras", "Flax"):
        assert fmt in text, (command, fmt)


def test_did_you_mean_for_tasks_initializers_presets_and_parts():
    from rnndyn.init import registry
    from rnndyn.training.bench.grid import resolve_grid

    assert did_you_mean("flip-flop", ["adding", "flipflop"]) == " (did you mean 'flipflop'?)"
    assert did_you_mean("zzz", ["adding", "flipflop"]) == ""
    with pytest.raises(
        UsageError, match=r"unknown initializer 'orthogonl' \(did you mean 'orthogonal'"
    ):
        registry.get("orthogonl")
    with pytest.raises(UsageError, match=r"unknown preset 'quik' \(did you mean 'quick'"):
        resolve_grid(None, None, None, None, preset="quik")

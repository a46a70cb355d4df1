"""Issue 25: one memory budget checked before allocating, and the last exit-1 paths (table-driven).

Every row is one attack item: the argv, the exit code and the words the one-paragraph message
must contain. Each case also checks: no traceback, no raw Python warning on stderr, nothing on
stdout, and (for the budget rows) that the refusal came before anything large was built.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from io_factories import replace_zip_entry, write_torchscript

from rnndyn._util import budget
from rnndyn.errors import CheckpointError, InvalidInputError, UsageError

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "examples"
GOOD = EXAMPLES / "rnn_adding.pt"
TINY = ["--epochs", "1", "--hidden", "4"]
BENCH = ["bench", "--tasks", "parity", "--archs", "rnn", "--inits", "default"]
TRAIN = ["train", "-t", "parity", "-a", "rnn", "-e", "1"]
MEMO_PICKLE = b"\x80\x02}r" + struct.pack("<I", 2**27) + b"."  # memo index 2^27: 2 GiB first


def check(res, code, *words):
    err = res.stderr
    assert res.exit_code == code, (res.exit_code, err, res.stdout[-300:])
    assert "Traceback" not in err and "Traceback" not in res.stdout, err
    assert "Warning:" not in err and "warnings.warn" not in err, err  # no raw Python warning
    assert res.stdout == "", res.stdout[:300]
    for w in words:
        assert w.lower() in err.lower(), (w, err)


# ---------------------------------------------------------------- settings over the budget → 2

SETTINGS = {
    "bench --seeds 1e9": [*BENCH, "--seeds", "1000000000", *TINY, "--out", "{TMP}/b"],
    "bench --seed-start with 1e9 seeds": [
        *BENCH,
        "--seeds",
        "1000000000",
        "--seed-start",
        "5",
        *TINY,
        "--out",
        "{TMP}/b",
    ],
    "bench --hidden 1e8": [
        *BENCH,
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--hidden",
        "100000000",
        "--out",
        "{TMP}/b",
    ],
    "study --per-group 1e9": [
        "study",
        "regression-vs-classification",
        "--archs",
        "gru",
        "--per-group",
        "1000000000",
        *TINY,
        "--out",
        "{TMP}/s",
    ],
    "study --hidden 1e6": [
        *("study", "regression-vs-classification", "--archs", "lstm", "--per-group", "2"),
        *("--hidden", "1000000", "--out", "{TMP}/s"),
    ],
    "train -H 100000": [*TRAIN, "-H", "100000", "-o", "{TMP}/m.pt"],
    "train --num-layers 1e8": [*TRAIN, "-H", "4", "--num-layers", "100000000", "-o", "{TMP}/m.pt"],
}


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_settings_over_the_budget_are_refused_with_the_estimate(cli, tmp_path, case):
    argv = [a.replace("{TMP}", str(tmp_path)) for a in SETTINGS[case]]
    res = cli(*argv)
    check(res, 2, "would need about", "the limit is", "RNNDYN_MAX_MEMORY")
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())  # nothing written


def test_the_limit_can_be_set_by_option_and_environment(cli, tmp_path, monkeypatch):
    res = cli("--max-memory", "1M", *TRAIN, "-H", "4", "-o", tmp_path / "m.pt")
    check(res, 2, "RNNDYN_MAX_MEMORY=1M")
    monkeypatch.setenv(budget.ENV, "2K")
    check(cli(*TRAIN, "-H", "4", "-o", tmp_path / "m.pt"), 2, "RNNDYN_MAX_MEMORY=2K")
    res = cli("--max-memory", "lots", "tasks")
    assert res.exit_code == 2 and "not a memory size" in res.stderr


def test_budget_helper():
    assert budget.parse_size("4G") == 4 << 30
    assert budget.parse_size("1.5GiB") == int(1.5 * 2**30)
    assert budget.parse_size("512m") == 512 << 20
    assert budget.parse_size("1e9") == 10**9
    for bad in ("", "-1", "nan", "inf", "4X", "1e400"):
        with pytest.raises(UsageError):
            budget.parse_size(bad)
    os.environ.pop(budget.ENV, None)
    cap, source = budget.limit()
    assert cap > 0 and "available" in source
    budget.check(cap / 2, "half")
    with pytest.raises(UsageError, match="would need about"):
        budget.check(cap * 2, "double")
    with pytest.raises(UsageError):
        budget.check(math.nan, "unknown")  # NaN never passes
    with pytest.raises(InvalidInputError) as err:
        budget.check(cap * 2, "the file's memo", input_path="x.pkl")
    assert err.value.exit_code == 4 and "x.pkl" in str(err.value)
    # the network estimate: an RNN-100000 alone holds 10^10 recurrent weights
    assert budget.network_parameters("rnn", 1, 100_000, 1, 1) > 1e10


# ---------------------------------------------------------------- inputs over the budget → 4


def test_memo_index_pickle_is_refused_before_unpickling(cli, tmp_path):
    pkl = tmp_path / "memo.pkl"
    pkl.write_bytes(MEMO_PICKLE)
    check(cli("analyze", pkl), 4, "memo index 134217728", "opcodes")
    ts = write_torchscript(tmp_path / "ts.pt", "gru")
    replace_zip_entry(ts, tmp_path / "ts_memo.pt", "/data.pkl", MEMO_PICKLE)
    check(cli("analyze", tmp_path / "ts_memo.pt"), 4, "data.pkl", "memo index")


def test_declared_lengths_beyond_the_data_are_corrupt(tmp_path):
    from rnndyn.readers.pickle_scan import check_pickle

    data = b"\x80\x04\x8e" + struct.pack("<Q", 2**60) + b"ab."  # BINBYTES8 of 2^60 bytes
    import io

    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        check_pickle(io.BytesIO(data), len(data), tmp_path / "x.pkl")


def test_many_views_of_one_storage_are_counted_and_decomposed_once(cli, tmp_path, monkeypatch):
    w = torch.nn.LSTM(64, 64).weight_hh_l0.detach()
    path = tmp_path / "views.pt"
    torch.save({f"layer{i}.weight_hh_l0": w for i in range(40)}, path)
    monkeypatch.setenv(budget.ENV, "1M")
    check(cli("analyze", path), 4, "160 recurrent operator(s) (4 distinct", "views.pt")
    monkeypatch.delenv(budget.ENV)
    from rnndyn.analysis import analyze

    res = analyze(path)
    spec = {s.qualified_id: s for s in res.spectrum}
    assert len(spec) == 160
    a, b = spec["layer0:l0.fwd.i"], spec["layer39:l0.fwd.i"]
    assert a.eigenvalues is b.eigenvalues or np.array_equal(a.eigenvalues, b.eigenvalues)
    ref = np.linalg.eigvals(w[:64].double().numpy())
    assert np.allclose(np.sort_complex(b.eigenvalues), np.sort_complex(ref), atol=1e-10)


def test_distinct_operators_are_not_merged():
    from rnndyn.operators import OperatorId, RecurrentOperator
    from rnndyn.spectrum import eigendecompose

    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    ops = [
        RecurrentOperator(OperatorId(0, "forward", "hh", "a", "rnn"), m1, "a"),
        RecurrentOperator(OperatorId(0, "forward", "hh", "b", "rnn"), m2, "b"),
        RecurrentOperator(OperatorId(0, "forward", "hh", "c", "rnn"), m1.copy(), "c"),
    ]
    res = list(eigendecompose(ops))
    assert [s.module for s in res] == ["a", "b", "c"]
    for s, m in zip(res, (m1, m2, m1), strict=True):
        assert np.allclose(np.sort_complex(s.eigenvalues), np.sort_complex(np.linalg.eigvals(m)))


# ---------------------------------------------------------------- cluster addresses → 2


def _fake_server():
    """A TCP server that greets like SSH, not like Dask; returns (port, stop)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(30)

    def serve():
        try:
            while True:
                conn, _ = srv.accept()
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n" + b"\xff" * 64)
                conn.close()
        except OSError:
            return

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], srv.close


@pytest.mark.parametrize(
    "spec, words",
    [
        ("tcp://[::1", ["expected local:N or tcp://HOST:PORT"]),
        ("tcp://host", ["expected local:N"]),
        ("tcp://h:99999", ["expected local:N"]),
        ("local:100000", ["core"]),
        ("FAKE", ["not a Dask scheduler"]),
    ],
)
def test_cluster_addresses_are_usage_errors(cli, tmp_path, spec, words):
    pytest.importorskip("distributed")
    stop = None
    if spec == "FAKE":
        port, stop = _fake_server()
        spec = f"tcp://127.0.0.1:{port}"
    try:
        res = cli(*BENCH, "--seeds", "1", *TINY, "--cluster", spec, "--out", tmp_path / "b")
    finally:
        if stop:
            stop()
    check(res, 2, *words)


# ---------------------------------------------------------------- snapshots → 5, true messages


def test_snapshot_folder_problems_are_output_errors(cli, tmp_path):
    (tmp_path / "file").write_text("x")
    base = [*TRAIN, "-H", "4", "--save-every", "1", "-o", tmp_path / "m.pt"]
    check(cli(*base, "--snapshots", tmp_path / "file" / "snaps"), 5, "snapshot folder")
    check(cli(*base, "--snapshots", tmp_path / ("x" * 300)), 5, "name")
    assert not (tmp_path / "m.pt").exists()


def test_earlier_snapshots_are_described_with_what_force_does(cli, tmp_path):
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    (snaps / "epoch_0000.pt").write_bytes(b"earlier")
    res = cli(*TRAIN, "-H", "4", "--save-every", "1", "--snapshots", snaps, "-o", tmp_path / "m")
    check(res, 5, "1 snapshot (epoch_0000.pt)", "--force", "epoch 0")
    assert (snaps / "epoch_0000.pt").read_bytes() == b"earlier"


# ---------------------------------------------------------------- style sheets → 2 naming the key


@pytest.mark.parametrize(
    "body, words",
    [
        ("font.size: nan\n", ["font.size", "finite"]),
        ("lines.linewidth: 1e308\n", ["lines.linewidth"]),
        ("figure.dpi: 100000\n", ["figure.dpi"]),
        ("axes.linewidth: inf\n", ["axes.linewidth"]),
        ("lines.linewidth: 1\n" * 20000, ["style sheets are small"]),
    ],
)
def test_bad_style_sheets_are_usage_errors(cli, tmp_path, body, words):
    sheet = tmp_path / "s.mplstyle"
    sheet.write_text(body)
    res = cli("analyze", GOOD, "--style", sheet, "--out", tmp_path / "o")
    check(res, 2, *words)
    assert not (tmp_path / "o").exists()


def test_usetex_without_latex_is_a_usage_error(cli, tmp_path):
    import shutil

    if shutil.which("latex"):
        pytest.skip("LaTeX is installed here")
    sheet = tmp_path / "s.mplstyle"
    sheet.write_text("text.usetex: True\n")
    check(cli("analyze", GOOD, "--style", sheet, "--out", tmp_path / "o"), 2, "text.usetex")


def test_non_style_keys_are_dropped_quietly(cli, tmp_path):
    sheet = tmp_path / "s.mplstyle"
    sheet.write_text("backend: TkAgg\nlines.linewidth: 2\n")
    res = cli("analyze", GOOD, "--style", sheet, "--out", tmp_path / "o", "--format", "png")
    assert res.exit_code == 0, res.stderr
    assert "warn" not in res.stderr.lower(), res.stderr


# ---------------------------------------------------------------- --version / --help on /dev/full


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["train", "--help"]])
def test_version_and_help_on_a_full_stdout_are_exit_5(rnndyn_command, argv):
    with open("/dev/full", "w") as full:
        res = subprocess.run([*rnndyn_command, *argv], stdout=full, stderr=subprocess.PIPE)
    err = res.stderr.decode()
    assert res.returncode == 5, err
    assert "Traceback" not in err and err.startswith("rnndyn: could not write"), err


# ---------------------------------------------------------------- .npy headers


def _npy_with_shape(path: Path, shape: str) -> Path:
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }"
    hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + bytes(64))
    return path


@pytest.mark.parametrize("shape", ["(-1, 8)", "(8, -3)", "(100000000000000000000000000, 8)"])
def test_malformed_npy_headers_are_exit_4(cli, tmp_path, shape):
    npy = _npy_with_shape(tmp_path / "p.npy", shape)
    check(cli("analyze", npy), 4, "p.npy")
    check(cli("decay", GOOD, "--probe", npy, "--steps", "5"), 4, "p.npy")


def test_big_endian_probe_is_converted(cli, tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 30, 2))
    np.save(tmp_path / "le.npy", x.astype("<f8"))
    np.save(tmp_path / "be.npy", x.astype(">f8"))
    runs = [
        cli("decay", GOOD, "--probe", tmp_path / f"{e}.npy", "--steps", "5", "--json")
        for e in ("le", "be")
    ]
    assert [r.exit_code for r in runs] == [0, 0], runs[1].stderr
    import json

    a, b = (json.loads(r.stdout) for r in runs)
    a["probe"].pop("spec", None), b["probe"].pop("spec", None)
    a["probe"].pop("path", None), b["probe"].pop("path", None)
    assert a["probe"] == b["probe"]


# ---------------------------------------------------------------- NaN/inf in float options → 2


def _float_options():
    """Every float option of every command, as ``(command path, click parameter)``."""
    import typer

    from rnndyn_cli.app import app

    found = []

    def walk(cmd, path):
        for p in cmd.params:
            if type(p.type).__name__ == "FloatParamType":
                found.append((path, p))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_every_float_option_refuses_nan_and_inf():
    import typer

    found = _float_options()
    assert len(found) >= 7, found
    for path, param in found:
        assert param.callback is not None, (path, param.name)
        for bad in (math.nan, math.inf, -math.inf):
            with pytest.raises(typer.BadParameter, match="not a finite number"):
                param.callback(None, param, bad)
        assert param.callback(None, param, 0.5) == 0.5


@pytest.mark.parametrize(
    "argv",
    [
        ["track", str(GOOD), str(GOOD), "--threshold", "nan"],
        ["fixedpoints", str(GOOD), "--tol", "nan"],
        ["fixedpoints", str(GOOD), "--max-q", "inf"],
        ["train", "-t", "parity", "-a", "rnn", "--lr", "nan", "-o", "x.pt"],
        ["compare", str(GOOD), str(GOOD), "--alpha", "nan"],
    ],
)
def test_nan_in_float_options_is_a_usage_error(cli, argv):
    res = cli(*argv)
    check(res, 2, "not a finite number")


# ---------------------------------------------------------------- no raw warnings


def test_track_of_one_checkpoint_twice_writes_no_raw_warning(cli, tmp_path):
    res = cli("track", GOOD, GOOD, "--out", tmp_path / "o", "--format", "png")
    assert res.exit_code == 0, res.stderr
    assert "Warning" not in res.stderr and "legend" not in res.stderr, res.stderr


def test_unhandled_warnings_become_notes(capsys):
    import warnings

    from rnndyn_cli.errors import boundary

    @boundary
    def noisy() -> None:
        warnings.warn("a library grumbles", RuntimeWarning, stacklevel=1)

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # as outside pytest, whose filters turn warnings to errors
        noisy()
    err = capsys.readouterr().err
    assert err == "rnndyn: note: RuntimeWarning: a library grumbles\n", err


# ---------------------------------------------------------------- publish killed mid-way


KILLER = """
import os, sys
import rnndyn.outputs.staging as st
real, moved = os.replace, [0]
def dying(src, dst, *a, **k):
    real(src, dst, *a, **k)
    if ".rnndyn-staging-" in str(src) and "/" in str(src).split(".rnndyn-staging-")[1]:
        moved[0] += 1
        if moved[0] == 2:
            os._exit(137)  # as SIGKILL: no finally, no cleanup
st.os.replace = dying
from rnndyn_cli.app import main
sys.argv = ["rnndyn", *sys.argv[1:]]
main()
"""


def test_a_publish_killed_between_moves_is_completed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{root / 'cli'}")
    run = [sys.executable, "-c", KILLER]
    first = subprocess.run(
        [*run, "analyze", str(GOOD), "--out", str(out), "--format", "png"],
        env=env,
        capture_output=True,
    )
    assert first.returncode == 0, first.stderr.decode()
    lstm = EXAMPLES / "lstm_sine.pt"
    killed = subprocess.run(
        [*run, "analyze", str(lstm), "--out", str(out), "--force", "--format", "png"],
        env=env,
        capture_output=True,
    )
    assert killed.returncode == 137
    assert (out / ".rnndyn-publish.json").is_file()
    again = subprocess.run(
        [sys.executable, "-m", "rnndyn_cli.app", "analyze", str(lstm), "--out", str(out)],
        env=env,
        capture_output=True,
    )
    err = again.stderr.decode()
    assert again.returncode == 5, err  # completed, then the usual refusal without --force
    assert "completed an interrupted publish" in err and "Traceback" not in err, err
    assert not (out / ".rnndyn-publish.json").exists()
    assert not list(out.glob(".rnndyn-staging-*"))
    import json

    doc = json.loads((out / "analysis.json").read_text())
    assert "lstm_sine" in json.dumps(doc)  # every file is the new run's, listed in the manifest
    from rnndyn.outputs import manifest as mf

    state = mf.inspect_folder(out)
    assert not state.foreign and not state.edited and "eigenvalues.csv" in state.own

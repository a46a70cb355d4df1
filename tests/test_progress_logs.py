"""Progress that works in a log (issue 27, deliverable 3): plain, rate-limited lines with elapsed
time and an ETA when stderr is not a terminal; one line per epoch from ``train``; --quiet silences
them. And ``decay --only`` / ``--lyapunov-exponents``."""

import json
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rnndyn_cli.app import app
from rnndyn_cli.render import LogProgress

LINE = re.compile(r"^rnndyn: .+ \(elapsed \d+:\d\d(, ETA \d+:\d\d)?\)$")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_log_lines_per_stage_rate_limited_with_eta(capsys):
    clock = Clock()
    log = LogProgress(interval=10.0, clock=clock)
    task = log.add_task("analysing", total=None)
    log.update(task, completed=0, total=8, description="analysing")  # nothing new, first: a line
    for done in range(1, 8):
        clock.now = 3.0 * done  # 3 s per item: lines at t = 0, 12, 24 (every ≥ 10 s)
        log.update(task, completed=done, total=8)
    clock.now = 24.5
    log.update(task, completed=8, total=8)  # completion always writes
    lines = capsys.readouterr().err.splitlines()
    assert all(LINE.match(line) for line in lines), lines
    assert [re.search(r"\d+/\d+", line)[0] for line in lines] == ["0/8", "4/8", "8/8"]
    # ETA from this task's own rate: 4 done in 12 s → 4 left ≈ 12 s
    assert "elapsed 0:12, ETA 0:12" in lines[1] and "ETA" not in lines[2]


def test_a_new_stage_writes_at_once_and_log_each_writes_every_update(capsys):
    clock = Clock()
    log = LogProgress(interval=60.0, clock=clock)
    task = log.add_task("decay", total=None)
    for i, stage in enumerate(["simulating", "measuring l0.fwd.hh", "Lyapunov spectrum"]):
        clock.now = float(i)
        log.update(task, completed=i, total=3, description=f"decay: {stage}")
    epochs = log.add_task("train", total=3, unit="epoch", log_each=True, info="")
    for e in (1, 2, 3):
        log.update(epochs, completed=e, info=f"val loss {1 / e:.3g}")
    err = capsys.readouterr().err
    assert err.count("rnndyn: decay: ") == 3
    assert "train, epoch 2/3, val loss 0.5" in err and err.count("rnndyn: train") == 3


FAST = ["--task", "parity", "--param", "T=4", "--arch", "gru", "--hidden", "4", "--epochs", "3"]


def test_train_logs_one_line_per_epoch_and_quiet_silences_it(tmp_path):
    runner = CliRunner()  # stderr is not a terminal here, as under nohup or in a log
    res = runner.invoke(app, ["train", *FAST, "--threads", "1", "-o", str(tmp_path / "a.pt")])
    assert res.exit_code == 0, res.output
    epochs = [line for line in res.stderr.splitlines() if line.startswith("rnndyn: train, epoch")]
    assert len(epochs) == len(json.loads(_history(tmp_path / "a.pt")))  # early stop may end it
    assert all(LINE.match(line) for line in epochs), epochs
    assert "train loss" in epochs[0] and "val accuracy" in epochs[0] and " s (" in epochs[0]
    quiet = runner.invoke(
        app, ["--quiet", "train", *FAST, "--threads", "1", "-o", str(tmp_path / "b.pt")]
    )
    assert quiet.exit_code == 0 and quiet.stderr == ""


def _history(path) -> str:
    meta = torch.load(path, weights_only=True)["rnndyn"]
    return json.dumps(meta["history"])


@pytest.fixture(scope="module")
def small_rnn(tmp_path_factory):
    torch.manual_seed(0)
    rnn = torch.nn.RNN(2, 6)
    path = tmp_path_factory.mktemp("decay") / "rnn.pt"
    torch.save(rnn.state_dict(), path)
    return path


def _decay(path, *args):
    res = CliRunner().invoke(
        app,
        ["decay", str(path), "--steps", "10", "--length", "60", "--batch", "4", "--json", *args],
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), res.stderr


def test_decay_only_any_subset_and_lyapunov_exponents_independent_of_modes(small_rnn):
    doc, err = _decay(small_rnn, "--modes", "1")
    assert len(doc["lyapunov"]["exponents"]) == 6  # all of them by default, whatever --modes
    assert doc["operators"] and doc["memory"] is not None
    assert "rnndyn: decay: " in err  # progress lines in a log
    doc, _ = _decay(small_rnn, "--only", "lyapunov", "--lyapunov-exponents", "2", "--modes", "5")
    assert doc["operators"] == [] and doc["memory"] is None
    assert len(doc["lyapunov"]["exponents"]) == 2
    assert doc["settings"]["measured"] == ["lyapunov"]
    assert doc["settings"]["lyapunov_exponents"] == 2
    doc, _ = _decay(small_rnn, "--only", "memory,rates")
    assert doc["lyapunov"]["exponents"] == [] and doc["operators"] and doc["memory"] is not None
    # the exponents agree with a run of all parts: the parts are independent
    full, _ = _decay(small_rnn, "--lyapunov-exponents", "2")
    only, _ = _decay(small_rnn, "--only", "lyapunov", "--lyapunov-exponents", "2")
    np.testing.assert_allclose(only["lyapunov"]["exponents"], full["lyapunov"]["exponents"])


def test_decay_only_rejects_unknown_parts(small_rnn, tmp_path):
    res = CliRunner().invoke(
        app, ["decay", str(small_rnn), "--only", "lyapunow", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and "did you mean 'lyapunov'" in res.stderr
    assert not (tmp_path / "o").exists()


def test_decay_only_lyapunov_writes_only_its_tables(small_rnn, tmp_path):
    out = tmp_path / "o"
    res = CliRunner().invoke(
        app,
        [
            *("decay", str(small_rnn), "--steps", "10", "--length", "60", "--batch", "4"),
            *("--only", "lyapunov", "--out", str(out), "--format", "png"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (out / "lyapunov.csv").is_file() and (out / "lyapunov_spectrum.png").is_file()
    assert not (out / "decay_modes.csv").exists() and not (out / "memory.csv").exists()

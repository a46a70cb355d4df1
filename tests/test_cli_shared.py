"""The CLI's shared parts: one definition per option, per-invocation settings, the error boundary,
the run record (manifest.json), --version and the train progress bar."""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path

import pytest
import typer
from typer.main import get_command

from rnndyn_cli.app import app
from rnndyn_cli.errors import boundary

SHARED = (
    "--json",
    "--out",
    "--force",
    "--format",
    "--trust-pickle",
    "--seed",
    "--matrix",
    "--style",
)
#: Options whose meaning really differs in one command (kept local there, on purpose).
LOCAL = {
    ("bench", "--out"),  # required; a resumable bench folder
    ("bench", "--json"),  # prints the summary
    ("study regression-vs-classification", "--out"),  # resumable study folder with a default
    ("study regression-vs-classification", "--json"),
    ("train", "--seed"),  # has the short form -s
    ("init sample", "--force"),  # replaces a .npy file, not a folder
}


def _commands(cmd, path=()):
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), cmd


def test_shared_options_have_one_help_text():
    helps: dict[str, dict[str, list[str]]] = {}
    for name, cmd in _commands(get_command(app)):
        for p in cmd.params:
            for opt in set(p.opts) & set(SHARED):
                if (name, opt) not in LOCAL:
                    helps.setdefault(opt, {}).setdefault(p.help or "", []).append(name)
    assert {"--json", "--out", "--force", "--format", "--seed"} <= set(helps)
    differing = {opt: by for opt, by in helps.items() if len(by) > 1}
    assert differing == {}, "use rnndyn_cli.options for these"


def test_scaffolding_and_global_state_are_gone():
    import rnndyn_cli.app as app_module
    import rnndyn_cli.errors as errors

    assert not hasattr(errors, "STATE")
    assert "not written yet" not in Path(app_module.__file__).read_text(encoding="utf-8")


def test_settings_do_not_leak_between_invocations(cli, tmp_path):
    quiet = cli("--quiet", "analyze", tmp_path / "missing.pt")
    assert quiet.exit_code == 4  # errors are shown even with --quiet
    from rnndyn_cli.errors import settings

    res = cli("tasks")
    assert res.exit_code == 0 and settings().quiet is False


def _run(func, **kwargs):
    from typer.testing import CliRunner

    one = typer.Typer()
    one.command()(boundary(func))
    return CliRunner().invoke(one, [f"--{k}={v}" for k, v in kwargs.items()])


@pytest.mark.parametrize(
    ("error", "code", "words"),
    [
        (KeyboardInterrupt(), 130, "interrupted; no outputs were changed"),
        (KeyboardInterrupt("the outputs in o had just been published"), 130, "published"),
        (OSError(errno.ENOSPC, "No space left on device"), 5, "No space left"),
        (OSError(errno.ENAMETOOLONG, "File name too long", "o/sub/x.csv"), 5, "o/sub/x.csv"),
        (OSError(errno.ENOTDIR, "Not a directory", "o"), 5, "Not a directory"),
        (OSError(errno.ENOENT, "No such file", "elsewhere.txt"), 1, "unexpected error"),
        (RuntimeError("boom"), 1, "--debug"),
    ],
)
def test_boundary_maps_errors_to_exit_codes(error, code, words):
    def command(out: str = "o") -> None:
        raise error

    res = _run(command, out="o")
    assert res.exit_code == code, res.stderr
    assert res.stderr.startswith("rnndyn: ") and words in res.stderr
    assert "Traceback" not in res.stderr


def test_run_record_of_a_real_command(cli, planted_rnn, tmp_path):
    path, _ = planted_rnn
    out = tmp_path / "o"
    res = cli("analyze", path, "--out", out, "--format", "png")
    assert res.exit_code == 0, res.stderr
    record = json.loads((out / "manifest.json").read_text())
    assert record["command"] == "analyze"
    assert record["options"]["format"] == "png" and record["options"]["force"] is False
    assert record["options"]["matrix"] is None  # defaults are recorded too
    assert record["inputs"] == [
        {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    ]
    on_disk = sorted(
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.name != "manifest.json"
    )
    assert [f["path"] for f in record["files"]] == on_disk
    for f in record["files"]:
        assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    assert record["started"] <= record["finished"]


def test_analysis_set_document_is_one_document(cli, planted_rnn, tmp_path):
    path, _ = planted_rnn
    twin = tmp_path / "twin.pt"
    twin.write_bytes(path.read_bytes())
    res = cli("analyze", path, twin, "--json", "--out", tmp_path / "o")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["schema"] == "rnndyn.analysis-set/1"
    assert [a["checkpoint"]["path"] for a in doc["analyses"]] == [str(path), str(twin)]
    assert json.loads((tmp_path / "o" / "analysis.json").read_text()) == doc
    assert (tmp_path / "o" / "planted" / "analysis.json").is_file()
    assert (tmp_path / "o" / "twin" / "spectrum.pdf").is_file()


def test_unusable_out_is_refused_before_any_work(cli, tmp_path, monkeypatch):
    import rnndyn.analysis

    def never(*a, **k):
        raise AssertionError("computed although --out was unusable")

    monkeypatch.setattr(rnndyn.analysis, "analyze", never)
    (tmp_path / "file").write_text("x")
    res = cli("analyze", tmp_path / "whatever.pt", "--out", tmp_path / "file" / "o")
    assert res.exit_code == 5 and "not a folder" in res.stderr


def test_version():
    from typer.testing import CliRunner

    from rnndyn._version import __version__

    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout == f"rnndyn {__version__}\n"


def test_train_progress_bar_starts_with_the_real_total():
    from rnndyn_cli.commands.train import _callback

    class Bar:
        def __init__(self):
            self.calls = []

        def add_task(self, description, **fields):
            self.calls.append(("add", fields))
            return 0

        def update(self, task, **fields):
            self.calls.append(("update", fields))

    bar = Bar()
    step = _callback(bar, 7)
    step({"epoch": 1, "val_loss": 0.5}, 7)
    assert bar.calls[0][1]["total"] == 7  # was total=None: "epoch 0/None"
    assert bar.calls[0][1]["log_each"]  # in a log: one line per epoch
    assert bar.calls[1][1]["completed"] == 1 and bar.calls[1][1]["total"] == 7

"""Every command's --help ends with an Examples block of real command lines."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from rnndyn_cli.app import app

ROOT = typer.main.get_command(app)


def _leaves(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command path, e.g. ("init", "show"), plus the groups themselves."""
    if hasattr(cmd, "commands"):
        out: list[tuple[str, ...]] = [path] if path else []
        for name, sub in cmd.commands.items():
            out += _leaves(sub, (*path, name))
        return out
    return [path]


PATHS = _leaves(ROOT)


def _resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The command a ``rnndyn ...`` word list names, and the words after its name."""
    cmd: Any = ROOT
    i = 0
    while hasattr(cmd, "commands") and i < len(words) and words[i] in cmd.commands:
        cmd = cmd.commands[words[i]]
        i += 1
    return cmd, words[i:]


def _example_lines(help_text: str) -> list[str]:
    _, _, block = help_text.partition("Examples:")
    return [ln.strip() for ln in block.splitlines() if ln.strip().startswith("rnndyn ")]


def test_every_command_is_found() -> None:
    names = {p[0] for p in PATHS}
    assert {"analyze", "decay", "compare", "init", "train", "bench", "study", "track"} <= names
    assert ("init", "show") in PATHS and ("study", "regression-vs-classification") in PATHS


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_help_ends_with_examples(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Examples:" in text, f"rnndyn {' '.join(path)} --help has no Examples block"
    # the block comes last: after the option list
    assert text.rindex("Examples:") > text.rindex("--help")
    lines = _example_lines(text)
    assert len(lines) >= 2, lines
    # each line stays one line (click did not re-wrap the block into a paragraph)
    assert all(ln.count("rnndyn ") <= 1 + ln.count("&&") for ln in lines)
    # at least one example runs this very command
    assert any(" ".join(("rnndyn", *path)) in ln for ln in lines)


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_examples_name_real_commands_and_options(path: tuple[str, ...]) -> None:
    text = CliRunner().invoke(app, [*path, "--help"], terminal_width=200).output
    for line in _example_lines(text):
        for part in line.split("#")[0].split("&&"):
            words = shlex.split(part)
            assert words[0] == "rnndyn", part
            cmd, rest = _resolve(words[1:])
            assert not hasattr(cmd, "commands"), f"{part!r} names no command"
            known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
            for word in rest:
                if word.startswith("-"):
                    assert word.split("=")[0] in known, f"{part!r}: {word} is not an option"


def test_examples_use_bundled_files() -> None:
    """Examples that read a checkpoint read one of the bundled files (or one an earlier
    example in the same block wrote)."""
    from pathlib import Path

    bundled = {p.name for p in Path("data/examples").glob("*.pt")}
    text = CliRunner().invoke(app, ["analyze", "--help"], terminal_width=200).output
    named = {w.split("/")[-1] for ln in _example_lines(text) for w in ln.split() if ".pt" in w}
    assert named and all(n in bundled or "*" in n for n in named), named


# -- progress with ETA on the long phases ----------------------------------------------------------


def test_default_progress_bar_has_an_eta(monkeypatch):
    from rich.progress import TimeRemainingColumn

    import rnndyn_cli.render as render

    monkeypatch.setattr(render, "progress_enabled", lambda: True)
    with render.progress_bar() as bar:
        assert any(isinstance(c, TimeRemainingColumn) for c in bar.columns)


def test_decay_reports_every_phase_up_to_its_total():
    from rnndyn.decay.measure import measure_decay
    from rnndyn.readers import load

    calls: list[tuple[int, int | None, str]] = []
    res = measure_decay(
        load("data/examples/rnn_adding.pt"),
        steps=20,
        length=60,
        batch=4,
        modes=4,
        progress=lambda d, t, p: calls.append((d, t, p)),
    )
    assert calls[0] == (0, None, "simulating the probe")
    done, totals = [c[0] for c in calls], {c[1] for c in calls[1:]}
    assert done == sorted(done) and len(totals) == 1
    total = totals.pop()
    assert calls[-1][:2] == (total, total)
    assert total == 1 + len(res.operators) + 2  # operators, Lyapunov, memory
    for op in res.operators:
        assert any(p == f"measuring {op.operator}" for _, _, p in calls)


def test_compare_statistics_phase_reports_progress(tmp_path):
    from test_compare import FAST, write_population

    from rnndyn.compare.spectra import compare_spectra

    paths = write_population(tmp_path, 3)
    calls: list[tuple[int, int]] = []
    res = compare_spectra(
        paths["classification"] + paths["regression"],
        stats_progress=lambda d, t: calls.append((d, t)),
        **FAST,
    )
    total = calls[-1][1]
    assert [d for d, _ in calls] == list(range(1, total + 1)) and calls[-1] == (total, total)
    # one call per statistic test plus one per distance job
    assert total == len(res.tests) + len({(d.architecture, d.operator) for d in res.distances})

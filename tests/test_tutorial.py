"""docs/tutorial.md runs as written: its python blocks in one namespace, its `$ rnndyn ...` lines
through the CLI, in a scratch folder that sees the repository's data/ (so it cannot rot)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(python|console)\n(.*?)^```", re.M | re.S)


def blocks() -> list[tuple[str, str]]:
    return FENCE.findall(TUTORIAL.read_text(encoding="utf-8"))


def test_tutorial_has_api_and_cli_blocks():
    kinds = [k for k, _ in blocks()]
    assert kinds.count("python") >= 4 and "console" in kinds


def test_tutorial_runs(tmp_path, monkeypatch, runner):
    from rnndyn_cli.app import app

    (tmp_path / "data").symlink_to(ROOT / "data", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "tutorial"}
    printed = io.StringIO()
    start = time.perf_counter()
    for k, (kind, code) in enumerate(blocks()):
        if kind == "python":
            with contextlib.redirect_stdout(printed):
                exec(compile(code, f"{TUTORIAL}:block{k}", "exec"), namespace)
            continue
        for line in code.splitlines():
            if line.startswith("$ "):
                argv = shlex.split(line[2:])
                assert argv[0] == "rnndyn", line
                res = runner.invoke(app, argv[1:])
                assert res.exit_code == 0, f"{line}\n{res.output}"
    elapsed = time.perf_counter() - start
    out = printed.getvalue()
    assert out.startswith("Checkpoint('data/examples/gru_tomita4.pt', format=")
    assert "Spectrum(3 operators: rnn:l0.fwd.r" in out
    assert "['figure1.pdf', 'figure1.png']" in out
    assert "gru_tomita4.pt: timescales" in out
    # section 5: the same network as an object in memory, and copies of its state dict tracked
    assert "Checkpoint('<in-memory GRU>', format='in-memory-module'" in out
    assert "same as the file: True" in out
    radii = re.search(r"z radius along the copies: \[([^\]]+)\]", out).group(1).split()
    z = namespace["z"].spectral_radius
    assert [float(r) for r in radii] == [round(z * 0.9**k, 3) for k in range(3)]
    for name in ("figure1.pdf", "results/gru/timescales.pdf", "results/gru/manifest.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert elapsed < 60  # about 10 s alone; generous for a loaded CI machine

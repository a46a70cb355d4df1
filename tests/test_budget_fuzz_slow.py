"""Slow set: random (often absurd) settings for every command that sizes work from its options.

Whatever the settings, the command either succeeds or refuses with its documented exit code,
and its peak resident memory stays under 1 GiB: the budget refuses before anything large is
allocated. Each run is a fresh process (its own peak RSS, from ``wait4``) under a 6 GiB
address-space cap, so a regression fails the test instead of driving the machine into the
out-of-memory killer.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
GOOD = ROOT / "data" / "examples" / "rnn_adding.pt"
PEAK_LIMIT = 1 << 30
RUN_S = 90  # a run the budget admits is stopped after this long
HUGE = st.one_of(
    st.integers(1, 8),
    st.integers(10**4, 10**6),
    st.integers(10**8, 10**12),
    st.sampled_from([2**31, 2**62]),
)


def _argv(data: st.DataObject, tmp: Path) -> list[str]:
    cmd = data.draw(st.sampled_from(["train", "bench", "study", "decay", "fixedpoints"]))
    n = lambda: str(data.draw(HUGE))  # noqa: E731
    if cmd == "train":
        return [
            *("train", "-t", "parity", "-a", data.draw(st.sampled_from(["rnn", "lstm", "gru"]))),
            *("-H", n(), "--num-layers", n(), "--batch-size", n(), "-e", "1"),
            *("-o", str(tmp / "m.pt")),
        ]
    if cmd == "bench":
        return [
            *("bench", "--tasks", "parity", "--archs", "gru", "--inits", "default"),
            *("--seeds", n(), "--hidden", n(), "--epochs", "1", "--out", str(tmp / "b")),
        ]
    if cmd == "study":
        return [
            *("study", "regression-vs-classification", "--archs", "rnn"),
            *("--per-group", n(), "--hidden", n(), "--epochs", "1", "--out", str(tmp / "s")),
        ]
    if cmd == "decay":
        return [
            *("decay", str(GOOD), "--probe", "noise", "--steps", n()),
            *("--length", n(), "--batch", n()),
        ]
    return ["fixedpoints", str(GOOD), "--n-inits", n(), "--iters", "1"]


def _run(argv: list[str], cwd: Path) -> tuple[int, int, str]:
    """(exit code, peak RSS in bytes, stderr) of ``rnndyn argv`` in a fresh, capped process."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'cli'}")
    with open(cwd / "err", "w+b") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rnndyn_cli.app", *argv],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=cwd,
            env=env,
            preexec_fn=cap,
        )
        timer = threading.Timer(RUN_S, proc.kill)  # admitted but long: its peak still counts
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            raise
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    return proc.returncode, usage.ru_maxrss * 1024, text


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_settings_are_refused_before_memory_grows(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("budget")
    argv = _argv(data, tmp)
    # a refusal must come first: any run that would actually train is cut short by the budget
    os.environ.pop("RNNDYN_MAX_MEMORY", None)
    code, peak, err = _run(["--max-memory", "768M", *argv], tmp)
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 2, 4, -9), (argv, code, err[-800:])  # -9: admitted, stopped at RUN_S
    assert peak <= PEAK_LIMIT, (argv, peak / 2**20, err[-400:])
    if code == 2:
        assert "rnndyn:" in err or "Invalid value" in err, err

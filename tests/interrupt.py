"""Ctrl-C a subprocess's whole process group once it is ready, never hanging the test run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable


def ctrl_c_when_ready(
    proc: subprocess.Popen, ready: Callable[[], None], *, watchdog_s: float, timeout_s: float
) -> bytes:
    """Run ``ready()`` (reads, asserts, waits), SIGINT ``proc``'s group, return its stderr.

    A watchdog SIGKILLs the group after ``watchdog_s``; any failure kills it at once."""
    watchdog = threading.Timer(watchdog_s, os.killpg, (proc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        ready()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=timeout_s)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:
        watchdog.cancel()
    return err

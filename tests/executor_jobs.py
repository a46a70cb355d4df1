"""Jobs for tests/test_parallel.py, in a module with only standard-library imports, so that
spawned workers unpickle them quickly."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path


def square_or_block(x: int, gate: str) -> int:
    """``x²``; ``x ≥ 2`` first reports its pid in ``gate`` and then blocks forever."""
    if x >= 2:
        Path(gate, f"{os.getpid()}.pid").touch()
        while True:
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(3600)
    return x * x

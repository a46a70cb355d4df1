"""How the running command was invoked: the context variable the command line sets for the length
of a command, read when ``manifest.json`` is written (``rnndyn.outputs.manifest.run_record``).

Apart from ``manifest`` so that a command that writes no folder (``analyze --json``) does not import
the manifest machinery (start-up time).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime, timezone
from typing import TypedDict


class Invocation(TypedDict, total=False):
    """How the running program was invoked: the command, its argv, every option's value, the start
    time, the input files among the options, and what options left unset resolved to."""

    command: str | None
    argv: list[str]
    options: dict[str, object]
    started: str
    input_paths: list[str]
    resolved: dict[str, object]


#: How the running program was invoked (set by the command line for the duration of a command).
#: Library callers leave it unset.
INVOCATION: ContextVar[Invocation | None] = ContextVar("rnndyn_invocation", default=None)


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_resolved(**values: object) -> None:
    """Record what options left unset (``None``: "the default") resolved to in this run, e.g.
    ``record_resolved(jobs=2)``; ``manifest.json`` then shows the value, not ``null``. Nothing
    outside a command line (no invocation recorded)."""
    inv = INVOCATION.get()
    if inv is not None:
        inv.setdefault("resolved", {}).update(values)

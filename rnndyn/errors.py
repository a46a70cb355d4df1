"""rnndyn's exceptions: each carries a one-paragraph message, the offending path and an exit code.

The command line maps ``exit_code`` straight to the process exit status (DESIGN §7):
2 usage, 3 refused untrusted input, 4 invalid or unreadable input, 5 output could not be written.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike


class RnndynError(Exception):
    """Base class. ``str(err)`` is one paragraph: the path, the problem and the remedy."""

    exit_code: int = 1

    def __init__(
        self, problem: str, *, path: str | PathLike[str] | None = None, hint: str | None = None
    ):
        self.problem = problem.strip()
        self.path = None if path is None else str(path)
        self.hint = None if hint is None else hint.strip()
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.path}: {self.problem}" if self.path else self.problem
        if self.hint:
            text = f"{text.rstrip('.')}. {self.hint}"
        return " ".join(text.split())


class UsageError(RnndynError, ValueError):
    """Bad options or arguments (unknown names, impossible settings)."""

    exit_code = 2


class RefusedError(RnndynError):
    """Untrusted input that would need code execution (a full pickle without ``trust=True``)."""

    exit_code = 3


class InvalidInputError(RnndynError, ValueError):
    """Input that is unreadable or invalid: truncated files, NaN weights, bad shapes, bad JSON."""

    exit_code = 4


class CheckpointError(InvalidInputError):
    """A checkpoint that cannot be read or holds no usable recurrent weights."""


class OutputError(RnndynError, OSError):
    """An output location that cannot be written, or would overwrite files rnndyn did not write."""

    exit_code = 5


class SimulationError(RnndynError):
    """A network that produced NaN/Inf while being run (e.g. it explodes on the probe)."""

    exit_code = 4


class RnndynWarning(UserWarning):
    """A result that is computed but should be read with care (e.g. an ill-conditioned eigenbasis)."""


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to ``name`` (case, ``-``, ``_`` and spaces
    ignored: ``flip-flop`` → ``flipflop``), or ``""`` when none is close."""
    import difflib
    import re

    def norm(s: object) -> str:
        return re.sub(r"[-_\s]", "", str(s).lower())

    by = {norm(c): c for c in choices}
    key = norm(name)
    hit = by.get(key) or next(iter(difflib.get_close_matches(key, list(by), n=1, cutoff=0.6)), None)
    return "" if hit is None else f" (did you mean {by.get(norm(hit), hit)!r}?)"

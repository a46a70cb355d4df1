"""One error boundary for every command: library errors become one paragraph and an exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from rnndyn.errors import RnndynError

F = TypeVar("F", bound=Callable[..., Any])

STATE = {"debug": False, "quiet": False}


def fail(message: str, code: int) -> typer.Exit:
    """Print ``rnndyn: message`` on stderr and return the ``typer.Exit`` to raise."""
    sys.stderr.write(f"rnndyn: {message}\n")
    return typer.Exit(code)


def boundary(func: F) -> F:
    """Decorate a command: RnndynError → its exit code, Ctrl-C → 130, anything else → 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except RnndynError as err:
            if STATE["debug"]:
                raise
            raise fail(str(err), err.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted; no outputs were changed.", 130) from None
        except Exception as err:  # the last resort: still one paragraph, no traceback
            if STATE["debug"]:
                raise
            raise fail(
                f"unexpected error ({type(err).__name__}: {err}). "
                "Run again with --debug for a traceback and please report it.",
                1,
            ) from None

    return wrapper  # type: ignore[return-value]


def progress_enabled() -> bool:
    """Progress bars only on an interactive stderr and without --quiet."""
    return not STATE["quiet"] and sys.stderr.isatty()

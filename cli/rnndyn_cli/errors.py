"""One error boundary for every command: library errors become one paragraph and an exit code.

Exit codes (docs/outputs.md): 0 success, 1 unexpected error (a bug), 2 usage, 3 refused
untrusted input, 4 invalid input, 5 output could not be written, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from rnndyn.errors import OutputError, RnndynError

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.outputs.invocation import Invocation

F = TypeVar("F", bound=Callable[..., Any])

# OSErrors that can only come from writing: they are output errors wherever they surface.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EPIPE})


@dataclass(frozen=True)
class Settings:
    """The root options of one invocation (``rnndyn --debug --quiet CMD``) and the command name."""

    debug: bool = False
    quiet: bool = False
    command: str | None = None


_SETTINGS: ContextVar[Settings | None] = ContextVar("rnndyn_cli_settings", default=None)


def use_settings(value: Settings) -> None:
    """Set the settings for the command about to run (called by the root callback)."""
    _SETTINGS.set(value)


def settings() -> Settings:
    """The settings of the running command (defaults outside a command line)."""
    return _SETTINGS.get() or Settings()


def fail(message: str, code: int) -> typer.Exit:
    """Print ``rnndyn: message`` on stderr and return the ``typer.Exit`` to raise."""
    try:
        sys.stderr.write(f"rnndyn: {display(message)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr is gone too: the exit code still tells
        pass
    return typer.Exit(code)


def display(text: str) -> str:
    """``text`` safe for any terminal: undecodable file-name bytes (lone surrogates from
    ``os.fsdecode``) are shown as ``\\xff`` escapes instead of raising UnicodeEncodeError."""
    from rnndyn._util.atomic import displayable

    return displayable(text)


def flush_stdout() -> None:
    """Flush stdout, turning a failed write (full disk, /dev/full, closed pipe) into exit 5.

    After a failure stdout is pointed at /dev/null so the interpreter's own final flush cannot
    fail again and replace our exit code with 120.
    """
    try:
        sys.stdout.flush()
    except OSError as err:
        raise stdout_failed(err) from None


def stdout_failed(err: OSError) -> OutputError:
    """The exit-5 error for a failed write to stdout (stdout is silenced first)."""
    _silence_stdout()
    return OutputError(
        f"could not write to standard output ({err.strerror or err})",
        hint="Check free space where the output is redirected; what was written is incomplete",
    )


def _silence_stdout() -> None:
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. a test runner)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _interrupted(err: KeyboardInterrupt) -> str:
    if err.args and isinstance(err.args[0], str):
        return f"interrupted; {err.args[0]}"
    return "interrupted; no outputs were changed."


def boundary(func: F) -> F:
    """Decorate a command: RnndynError → its exit code, an output OSError → 5, Ctrl-C → 130,
    anything else → 1. Standard output is flushed (and checked) before the command returns."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from rnndyn.outputs.invocation import INVOCATION

        debug = settings().debug
        token = INVOCATION.set(invocation(kwargs))
        try:
            with warnings.catch_warnings():
                if not debug:
                    warnings.showwarning = _note
                result = func(*args, **kwargs)
            flush_stdout()
            return result
        except (typer.Exit, typer.Abort):
            raise
        except RnndynError as err:
            if debug:
                raise
            raise fail(str(err), err.exit_code) from None
        except KeyboardInterrupt as err:
            raise fail(_interrupted(err), 130) from None
        except OSError as err:
            if debug:
                raise
            if err.errno in WRITE_ERRNOS or _touches_output(err.filename, kwargs):
                if err.errno == errno.EPIPE:
                    _silence_stdout()
                where = f"{os.fsdecode(err.filename)}: " if err.filename else ""
                raise fail(f"{where}could not write the output ({err.strerror}).", 5) from None
            raise fail(_unexpected(err), 1) from None
        except Exception as err:  # the last resort: still one paragraph, no traceback
            if debug:
                raise
            raise fail(_unexpected(err), 1) from None
        finally:
            INVOCATION.reset(token)

    return wrapper  # type: ignore[return-value]


def _note(message: Any, category: Any, *_: Any, **__: Any) -> None:
    """A warning that reached the command line unhandled: one ``rnndyn: note:`` line, never
    Python's file:line and source-line display."""
    name = getattr(category, "__name__", "")
    kind = "" if name in ("RnndynWarning", "UserWarning") else f"{name}: "
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"rnndyn: note: {kind}{display(' '.join(str(message).split()))}\n")


#: Options naming where a command writes; an OSError on such a path is an output error.
OUTPUT_OPTIONS = ("out", "output", "snapshots")


def _touches_output(filename: Any, params: Mapping[str, Any]) -> bool:
    """Whether ``filename`` (from an OSError) is the command's --out/--output path, inside it,
    or one of the folders above it that were being created."""
    if not filename:
        return False
    try:
        failed = os.path.abspath(os.fsdecode(filename))
        outs = [
            os.path.abspath(os.fsdecode(v))
            for k, v in params.items()
            if k in OUTPUT_OPTIONS and isinstance(v, (str, os.PathLike))
        ]
    except (TypeError, ValueError):
        return False
    return any(
        failed == o or failed.startswith(o + os.sep) or o.startswith(failed + os.sep) for o in outs
    )


def invocation(params: Mapping[str, Any]) -> Invocation:
    """How the running command was invoked, for ``manifest.json``: the command line, every
    option's value (``params``: the command's arguments, defaults included), the start time and
    the input files among them."""
    from rnndyn.outputs.invocation import now_iso

    options: dict[str, object] = {}
    inputs: list[str] = []
    for name, value in params.items():
        options[name.rstrip("_")] = _plain(value)  # json_ → json, as on the command line
        values = value if isinstance(value, (list, tuple)) else [value]
        inputs += [os.fsdecode(v) for v in values if isinstance(v, os.PathLike) and _is_file(v)]
    return {
        "command": settings().command,
        "argv": [os.fsdecode(a) for a in sys.argv],
        "options": options,
        "started": now_iso(),
        "input_paths": inputs,
    }


def _is_file(path: os.PathLike[str]) -> bool:
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):
        return False


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return os.fsdecode(value) if isinstance(value, os.PathLike) else str(value)


def _unexpected(err: BaseException) -> str:
    return (
        f"unexpected error ({type(err).__name__}: {err}). "
        "Run again with --debug for a traceback and please report it."
    )


def progress_enabled() -> bool:
    """Progress bars only on an interactive stderr and without --quiet."""
    return not settings().quiet and sys.stderr.isatty()

"""The typer application. Each command lives in ``rnndyn_cli.commands.<name>`` and registers itself.

Nothing heavy is imported here: torch, pandas and matplotlib are imported inside the commands.
"""

from __future__ import annotations

import importlib
import os
import stat
import sys
from pathlib import Path
from typing import Any

import typer

from rnndyn_cli.errors import Settings, use_settings

app = typer.Typer(
    name="rnndyn",
    help="Dynamics analysis of trained recurrent neural networks (RNN, LSTM, GRU).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

COMMANDS = (
    "analyze",
    "decay",
    "compare",
    "init",
    "train",
    "bench",
    "tasks",
    "study",
    "fixedpoints",
    "track",
    "dmd",
    "similarity",
)


def _version(value: bool) -> None:
    if value:
        from rnndyn._version import __version__

        sys.stdout.write(f"rnndyn {__version__}\n")
        raise typer.Exit(0)


def _max_memory(value: str | None) -> str | None:
    """``--max-memory SIZE``: the memory budget of this invocation (and of its workers)."""
    if value is not None:
        from rnndyn._util.budget import ENV, parse_size
        from rnndyn.errors import UsageError

        try:
            parse_size(value, what="--max-memory")
        except UsageError as err:
            raise typer.BadParameter(str(err)) from None
        os.environ[ENV] = value
    return value


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show a traceback on unexpected errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or info messages."),
    max_memory: str | None = typer.Option(
        None,
        "--max-memory",
        callback=_max_memory,
        metavar="SIZE",
        help="Memory budget (e.g. 4G) checked before every large allocation "
        "[RNNDYN_MAX_MEMORY, else the memory available now].",
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print rnndyn's version and exit.",
    ),
) -> None:
    """Dynamics analysis of trained recurrent neural networks (RNN, LSTM, GRU)."""
    use_settings(Settings(debug=debug, quiet=quiet, command=ctx.invoked_subcommand))


def _wanted(argv: list[str]) -> tuple[str, ...]:
    """The command modules to import: only the one named when the first argument names one (start-up
    time: a short run imports one command's module, not all), else all (help, typos, options)."""
    first = argv[1] if len(argv) > 1 else None
    return (first,) if first in COMMANDS else COMMANDS


for _name in _wanted(sys.argv):
    importlib.import_module(f"rnndyn_cli.commands.{_name}").register(app)


def _writable(folder: Path) -> bool:
    """Whether ``folder`` exists and is writable, or could be created."""
    while not folder.exists():
        if folder.parent == folder:
            return False
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def _matplotlib_home() -> None:
    """Give matplotlib a private config/cache folder when HOME is unwritable and MPLCONFIGDIR is
    unset, so it prints no raw "created a temporary cache directory" lines on stderr."""
    if os.environ.get("MPLCONFIGDIR"):
        return
    home = Path(os.path.expanduser("~"))
    wanted = [
        Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "matplotlib",
        Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "matplotlib",
    ]
    if all(_writable(p) for p in wanted):
        return
    import tempfile

    private = Path(tempfile.gettempdir()) / f"rnndyn-matplotlib-{os.getuid()}"
    try:
        private.mkdir(mode=0o700, exist_ok=True)
        st = private.lstat()
    except OSError:
        return
    if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():  # not a planted link or folder
        os.environ["MPLCONFIGDIR"] = str(private)


def main() -> None:
    """Console-script entry point."""
    _matplotlib_home()
    code: Any = 0
    try:
        app(prog_name="rnndyn")
    except SystemExit as done:
        code = done.code
    except OSError as err:  # --help/--version/usage text on a full or closed stdout
        code = _stdout_error(err)
    try:
        sys.stdout.flush()
    except OSError as err:
        code = _stdout_error(err)
    sys.exit(code)


def _stdout_error(err: OSError) -> int:
    """Exit 5 with one line on stderr for a failed write to stdout outside any command."""
    from rnndyn_cli.errors import WRITE_ERRNOS, fail, stdout_failed

    if err.errno not in WRITE_ERRNOS:
        raise err
    return int(fail(str(stdout_failed(err)), 5).exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()

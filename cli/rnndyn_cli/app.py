"""The typer application. Each command lives in ``rnndyn_cli.commands.<name>`` and registers itself.

Nothing heavy is imported here: torch, pandas and matplotlib are imported inside the commands.
"""

from __future__ import annotations

import importlib
import sys

import typer

from rnndyn_cli.errors import STATE

app = typer.Typer(
    name="rnndyn",
    help="Dynamics analysis of trained recurrent neural networks (RNN, LSTM, GRU).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

COMMANDS = ("analyze", "decay", "compare", "init", "train", "bench", "tasks", "study")


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show a traceback on unexpected errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or info messages."),
) -> None:
    """Dynamics analysis of trained recurrent neural networks (RNN, LSTM, GRU)."""
    STATE["debug"] = debug
    STATE["quiet"] = quiet


for _name in COMMANDS:
    try:
        _module = importlib.import_module(f"rnndyn_cli.commands.{_name}")
    except ModuleNotFoundError as _err:  # a command not written yet
        if _err.name != f"rnndyn_cli.commands.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="rnndyn")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

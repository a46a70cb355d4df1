"""The ``rnndyn`` command line (typer). Thin: parse, call the library, render, map errors to exit codes."""

"""Terminal rendering shared by commands: JSON on stdout, tables via rich, warnings on stderr."""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypedDict

from rnndyn_cli.errors import display, flush_stdout, progress_enabled, settings, stdout_failed


def write_stdout(text: str) -> None:
    """The one write path for documents on stdout: undecodable file-name bytes are escaped, and
    the write is flushed and checked (a full disk or /dev/full is exit 5, never a silent cut)."""
    try:
        sys.stdout.write(display(text))
    except OSError as err:
        raise stdout_failed(err) from None
    flush_stdout()


def print_json(doc: Any) -> None:
    """Exactly one strict JSON document on stdout."""
    from rnndyn._util.atomic import dumps_json

    write_stdout(dumps_json(doc))


def fmt(x: Any, digits: int = 4) -> str:
    """Compact number formatting for tables (∞ for infinities, — for missing)."""
    if x is None:
        return "—"
    if isinstance(x, float):
        if math.isinf(x):
            return "∞"
        if math.isnan(x):
            return "—"
        return f"{x:.{digits}g}"
    return str(x)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A readable table on stdout (rich, no colour when not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        table.add_column(
            c,
            justify="left"
            if c in ("operator", "what it is", "id", "module", "statistic")
            else "right",
        )
    for r in rows:
        table.add_row(*(fmt(v) for v in r))
    import io
    import shutil

    width = shutil.get_terminal_size((160, 24)).columns if sys.stdout.isatty() else 160
    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=sys.stdout.isatty()).print(table)
    write_stdout(buffer.getvalue())


def info(message: str) -> None:
    """An informational line on stderr (silenced by --quiet)."""
    if not settings().quiet:
        sys.stderr.write(f"rnndyn: {display(message)}\n")


@contextlib.contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """Show library warnings as one ``rnndyn: warning:`` line each on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: set[str] = set()
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.add(text)
            sys.stderr.write(f"rnndyn: warning: {display(text)}\n")


FORMATS = ("pdf", "png", "svg")


def parse_formats(value: str) -> tuple[str, ...]:
    """``"pdf,png"`` → ``("pdf", "png")``; unknown formats are a usage error."""
    from rnndyn.errors import UsageError

    fmts = tuple(f.strip().lower() for f in value.split(",") if f.strip())
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise UsageError(
            f"--format {value!r}: unknown figure format(s) {bad}; choose from {', '.join(FORMATS)}"
        )
    return fmts


#: Seconds between two log lines of one stage (``RNNDYN_PROGRESS_INTERVAL`` overrides it).
LOG_INTERVAL = 30.0


def _clock(seconds: float) -> str:
    s = round(max(seconds, 0.0))
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class _LogTask(TypedDict):
    """One task of ``LogProgress``: its stage, progress, extra fields and times."""

    description: str | None
    total: float | None
    completed: float
    fields: dict[str, object]  # rich's task fields: unit, info, log_each
    added: float
    last: float | None


class LogProgress:
    """Progress for a log file (stderr not a terminal): the subset of rich's ``Progress`` the
    commands use (``add_task``, ``update``), written as plain lines ``rnndyn: STAGE: done/total,
    elapsed M:SS, ETA M:SS``. A line is written when a stage starts (its description changes),
    when it completes, and otherwise at most every ``interval`` seconds; a task added with
    ``log_each=True`` (``train``'s epochs) writes every update."""

    def __init__(self, interval: float | None = None, clock: Callable[[], float] | None = None):
        import os
        import time

        env = os.environ.get("RNNDYN_PROGRESS_INTERVAL")
        self.interval = float(env) if interval is None and env else (interval or LOG_INTERVAL)
        self.clock = clock or time.monotonic
        self.start = self.clock()
        self.tasks: dict[int, _LogTask] = {}

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        tid = len(self.tasks)
        now = self.clock()
        self.tasks[tid] = {
            "description": description,
            "total": total,
            "completed": 0,
            "fields": fields,
            "added": now,
            "last": None,
        }
        return tid

    def update(
        self,
        task_id: int,
        *,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
        **fields: Any,
    ) -> None:
        t = self.tasks[task_id]
        now = self.clock()
        new_stage = description is not None and description != t["description"]
        if new_stage:
            t["description"] = description
        if total is not None:
            t["total"] = total
        if completed is not None:
            t["completed"] = completed
        t["fields"].update(fields)
        done = t["total"] is not None and t["completed"] >= t["total"]
        due = t["last"] is None or now - t["last"] >= self.interval
        if t["fields"].get("log_each") or new_stage or due or done:
            t["last"] = now
            self._write(t, now)

    def _write(self, t: _LogTask, now: float) -> None:
        done, total = t["completed"], t["total"]
        parts = [str(t["description"] or "working")]
        if total:
            unit = t["fields"].get("unit")
            parts.append(f"{unit} {done:g}/{total:g}" if unit else f"{done:g}/{total:g}")
        info_text = t["fields"].get("info")
        if info_text:
            parts.append(str(info_text))
        timing = f"elapsed {_clock(now - self.start)}"
        if total and 0 < done < total:
            rate = (now - t["added"]) / done
            timing += f", ETA {_clock(rate * (total - done))}"
        sys.stderr.write(f"rnndyn: {display(', '.join(parts))} ({timing})\n")
        sys.stderr.flush()


@contextlib.contextmanager
def progress_bar(columns: Callable[[], Sequence[Any]] | None = None) -> Iterator[Any]:
    """Progress on stderr: a transient rich bar on a terminal, plain rate-limited log lines
    (``LogProgress``) when stderr is a file or a pipe, ``None`` with --quiet. ``columns()``
    replaces the bar's default description / bar / done / elapsed / time remaining."""
    if settings().quiet:
        yield None
        return
    if not progress_enabled():
        yield LogProgress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    cols = (
        columns()
        if columns
        else (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
    )
    with Progress(*cols, console=Console(stderr=True), transient=True) as bar:
        yield bar


def advance(bar: Any, description: str) -> Callable[[int, int], None] | None:
    """A ``(done, total)`` callback moving one new task of ``bar``; ``None`` without a bar."""
    if bar is None:
        return None
    task = bar.add_task(description, total=None)
    return lambda done, total: bar.update(task, completed=done, total=total)


def stages(bar: Any, name: str) -> Callable[[int, int | None, str], None] | None:
    """A ``(done, total, stage)`` callback moving one task of ``bar``, described ``NAME: stage``;
    ``None`` without a bar."""
    if bar is None:
        return None
    task = bar.add_task(name, total=None)
    return lambda done, total, stage: bar.update(
        task, completed=done, total=total, description=f"{name}: {stage}"
    )


def examples(*lines: str) -> str:
    """A help epilog: an "Examples" block of command lines, kept one per line (click's ``\\b``
    marker stops its re-wrapping). Each line is a real command that runs from the repository
    root on the bundled ``data/examples`` checkpoints."""
    body = "\n".join(f"  {line}" for line in lines)
    return f"Examples:\n\n\b\n{body}"


def check_out(out: Any, *, force: bool, protect: Sequence[Any] = ()) -> None:
    """Refuse an unusable --out folder (exit 5) before any computing; nothing when ``out`` is
    None. Call it right after parsing the options of a command that writes an output folder."""
    if out is None:
        return
    from rnndyn.outputs.staging import check_output_folder

    check_output_folder(out, force=force, protect=protect)


def finish(document: Callable[[], Any], render: Callable[[], None], out: Any, json_: bool) -> None:
    """How an analysis command ends: with ``--json`` exactly one document on stdout; else the
    tables, then where ``--out`` wrote."""
    if json_:
        print_json(document())
        return
    render()
    if out is not None:
        info(f"wrote tables, JSON, figures and manifest.json to {out}")

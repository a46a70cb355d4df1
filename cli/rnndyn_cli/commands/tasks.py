"""``rnndyn tasks``: list the bundled tasks (name, kind, length, sizes, metric, trivial baseline)."""

from __future__ import annotations

import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.options import JsonFlag
from rnndyn_cli.render import examples, write_stdout


def tasks_command(json_out: JsonFlag = False) -> None:
    """List the tasks `rnndyn train --task` accepts, with their default parameters."""
    from rnndyn._util.atomic import dumps_json
    from rnndyn.tasks import list_tasks

    specs = list_tasks()
    if json_out:
        doc = {"schema": "rnndyn.tasks/1", "tasks": [s.to_dict() for s in specs]}
        write_stdout(dumps_json(doc))
        return
    header = ("task", "kind", "T", "in", "out", "readout", "metric", "baseline", "params")
    rows = [
        (
            s.name,
            s.kind,
            str(s.seq_len),
            str(s.input_size),
            str(s.output_size),
            s.readout,
            f"{s.metric} ({'max' if s.higher_is_better else 'min'})",
            f"{s.baseline:.4g}",
            " ".join(f"{k}={_fmt(v)}" for k, v in s.params.items()),
        )
        for s in specs
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    write_stdout(
        "".join(
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n"
            for r in (header, *rows)
        )
    )


def _fmt(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def register(app: typer.Typer) -> None:
    app.command(
        "tasks",
        epilog=examples(
            "rnndyn tasks",
            "rnndyn tasks --json",
        ),
    )(boundary(tasks_command))

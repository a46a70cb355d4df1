"""`rnndyn bench`: train a grid of tasks × archs × inits × seeds; resumable, in parallel."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rnndyn_cli.errors import boundary, fail
from rnndyn_cli.options import Cluster
from rnndyn_cli.render import (
    examples,
    info,
    print_json,
    print_table,
    progress_bar,
    warnings_to_stderr,
)

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.training.records import CellRecord


def split_names(value: str | None) -> list[str] | None:
    """``"a,b"`` → ``["a", "b"]``; ``None`` stays ``None`` (the preset decides)."""
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_init_params(items: list[str] | None) -> str | dict[str, str] | None:
    """``[FILE]`` → ``FILE``; ``["regression=A", "classification=B"]`` → a dict by task kind."""
    from rnndyn.errors import UsageError

    if not items:
        return None
    if len(items) == 1 and ("=" not in items[0] or Path(items[0]).is_file()):
        return items[0]
    out: dict[str, str] = {}
    for item in items:
        kind, sep, path = item.partition("=")
        if not sep or not path:
            raise UsageError(
                f"--init-params {item!r}: with several law files, give each as KIND=FILE",
                hint="KIND is regression or classification.",
            )
        out[kind.strip()] = path
    return out


def _progress_columns() -> tuple[Any, ...]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return (
        TextColumn("bench"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
    )


def _callback(bar: Any) -> Any:
    """``(done, total, record)`` → advance the bar, showing the last finished run; ``None`` without a bar."""
    if bar is None:
        return None
    job = bar.add_task("", total=None)

    def callback(done: int, total: int, record: CellRecord | None) -> None:
        text = "" if record is None else f"{record['id']} {record['status']}"
        bar.update(job, completed=done, total=total, description=text)

    return callback


def _render(result: Any) -> None:
    cols = [
        "task",
        "arch",
        "init",
        "n_ok",
        "median",
        "q25",
        "q75",
        "reached",
        "epochs_to_threshold",
    ]
    rows = result.summary()[cols].astype(object).values.tolist()
    print_table(
        f"{result.out_dir}: final test metric (median, IQR) per task × arch × init; "
        "epochs = median epochs to 90% of the best",
        ["task", "arch", "init", "runs", "median", "q25", "q75", "reached", "epochs"],
        rows,
    )


@boundary
def bench(
    out: Path = typer.Option(..., "--out", help="Bench folder (created; re-run to resume)."),
    tasks: str | None = typer.Option(None, "--tasks", help="Comma-separated task names."),
    archs: str | None = typer.Option(
        None,
        "--archs",
        help="Comma-separated: rnn,lstm,gru; rnn_tanh / rnn_relu fix the vanilla unit (plain rnn takes the init's own: ReLU for irnn, np_rnn).",
    ),
    inits: str | None = typer.Option(None, "--inits", help="Comma-separated initializers."),
    seeds: int | None = typer.Option(None, "--seeds", help="Seeds per cell (0..N-1)."),
    seed_start: int | None = typer.Option(
        None,
        "--seed-start",
        help="First seed (with --seeds N: seeds S..S+N-1, e.g. held-out seeds).",
    ),
    jobs: int = typer.Option(1, "--jobs", help="Worker processes (one torch thread each)."),
    cluster: Cluster = None,
    preset: str | None = typer.Option(
        None, "--preset", help="quick, full, eigen or eigen3 (fills the options left out)."
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Epochs (default: per task)."),
    hidden: int | None = typer.Option(None, "--hidden", help="Hidden size (default: per task)."),
    init_params: list[str] | None = typer.Option(
        None, "--init-params", help="Eigen law file, or KIND=FILE (repeat) per task kind."
    ),
    save_every: int | None = typer.Option(
        None,
        "--save-every",
        min=1,
        metavar="K",
        help="Also keep each run's weights at epoch 0 and every K-th epoch in OUT/snapshots/<run>/ "
        "(for rnndyn track).",
    ),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document (the summary)."),
) -> None:
    """Train every task × arch × init × seed cell into --out; finished cells are kept and skipped
    on a re-run, so an interrupted bench resumes where it stopped."""
    from rnndyn.errors import UsageError
    from rnndyn.plots import bench_figures
    from rnndyn.training.bench import run_bench

    if seed_start is not None:
        if seeds is None or seeds < 1 or seed_start < 0:
            raise UsageError(
                "--seed-start S needs --seeds N ≥ 1 and S ≥ 0 (the seeds are S..S+N-1)"
            )
        seeds = range(seed_start, seed_start + seeds)  # type: ignore[assignment]
    with warnings_to_stderr(), progress_bar(_progress_columns) as bar, resumable(out):
        result = run_bench(
            split_names(tasks),
            split_names(archs),
            split_names(inits),
            seeds,
            out,
            jobs=jobs,
            cluster=cluster,
            preset=preset,
            epochs=epochs,
            hidden=hidden,
            init_params=parse_init_params(init_params),
            progress=_callback(bar),
            save_every=save_every,
            draw=bench_figures,
        )
    errors = [r for r in result.records if r["status"] == "error"]
    if errors and len(errors) == len(result.records):
        codes = {r.get("exit_code", 1) for r in errors}
        raise fail(
            f"every run failed ({len(errors)} of {len(errors)}); the first, {errors[0]['id']}: "
            f"{errors[0]['error']} The errors are listed in {out / 'bench.json'}; fix the "
            "cause and run the same command again to retry them.",
            codes.pop() if len(codes) == 1 else 1,
        )
    if errors:
        sys.stderr.write(
            f"rnndyn: warning: {len(errors)} run(s) failed (first: {errors[0]['id']}: "
            f"{errors[0]['error']}); they are listed in bench.json and retried by a re-run\n"
        )
    if json_:
        print_json(result.to_dict())
        return
    _render(result)
    info(f"{result.ran} run(s) trained, {result.skipped} already done; reports in {out}")


@contextlib.contextmanager
def resumable(out: Path, what: str = "runs") -> Iterator[None]:
    """Ctrl-C: say that finished ``what`` are kept (the generic message says nothing was written)."""
    try:
        yield
    except KeyboardInterrupt as err:
        said = f" ({err.args[0]})" if err.args and isinstance(err.args[0], str) else ""
        raise fail(
            f"interrupted{said}; the finished {what} are kept in {out}. Run the same command "
            "again to resume.",
            130,
        ) from None


def register(app: typer.Typer) -> None:
    app.command(
        "bench",
        epilog=examples(
            "rnndyn bench --preset quick --out bench-quick",
            "rnndyn bench --tasks adding,tomita4 --archs gru --inits default,orthogonal --seeds 2 --epochs 2 --hidden 16 --out bench-small",
            "rnndyn init fit data/examples/*.pt -o law.json && rnndyn bench --preset quick --init-params law.json --out bench-eigen",
        ),
    )(bench)

"""`rnndyn study regression-vs-classification`: train a population, compare it, write a report."""

from __future__ import annotations

from pathlib import Path

import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.render import info, print_json, progress_bar, warnings_to_stderr

study_app = typer.Typer(
    name="study",
    help="Population studies: train many networks, compare their spectra, write a report.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _stages(bar):
    """A ``(stage, done, total)`` callback with one bar task per stage; ``None`` without a bar."""
    if bar is None:
        return None
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(
                "training" if stage == "train" else "analysing", total=total
            )
        bar.update(tasks[stage], completed=done, total=total)

    return update


@study_app.command("regression-vs-classification")
@boundary
def regression_vs_classification(
    archs: str = typer.Option("rnn,lstm,gru", "--archs", help="Comma-separated: rnn,lstm,gru."),
    per_group: int = typer.Option(
        8, "--per-group", min=2, help="Networks per task kind and architecture."
    ),
    out: Path = typer.Option(Path("rnndyn-study"), "--out", help="Study folder (resumable)."),
    jobs: int = typer.Option(
        1, "--jobs", min=1, help="Worker processes for training and analysis."
    ),
    hidden: int = typer.Option(32, "--hidden", min=1, help="Hidden units of every network."),
    epochs: int = typer.Option(
        10, "--epochs", min=1, help="Maximum training epochs (early stopping)."
    ),
    permutations: int = typer.Option(
        999, "--permutations", min=1, help="Label permutations for distances."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the permutations and bootstrap."),
    format_: str = typer.Option("pdf,png", "--format", help="Figure formats: pdf,png,svg."),
    json_: bool = typer.Option(
        False, "--json", help="Print the comparison (schema rnndyn.compare.spectra/1)."
    ),
) -> None:
    """Train --per-group networks per task kind (built-in regression and classification tasks,
    several seeds) for each architecture, compare their spectra and write OUT/report/report.md.
    Re-running resumes: finished networks are reused."""
    from rnndyn.errors import UsageError
    from rnndyn.training.study import regression_vs_classification as run
    from rnndyn_cli.render import parse_formats

    names = [a.strip().lower() for a in archs.split(",") if a.strip()]
    if not names or any(a not in ("rnn", "lstm", "gru") for a in names):
        raise UsageError(f"--archs {archs!r}: choose from rnn, lstm, gru (comma-separated)")
    formats = parse_formats(format_)
    with warnings_to_stderr(), progress_bar() as bar:
        result = run(
            out,
            archs=names,
            per_group=per_group,
            hidden=hidden,
            epochs=epochs,
            jobs=jobs,
            n_permutations=permutations,
            seed=seed,
            formats=formats,
            progress=_stages(bar),
        )
    if json_:
        print_json(result.comparison.to_dict())
    else:
        for line in result.findings():
            typer.echo(line)
    info(
        f"{len(result.runs)} networks ({result.trained_now} trained now) in {result.wall_seconds:.0f} s; "
        f"report: {result.report}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(study_app, name="study")

"""`rnndyn study regression-vs-classification`: train a population, compare it, write a report."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from rnndyn_cli.commands.bench import resumable
from rnndyn_cli.errors import boundary
from rnndyn_cli.options import Cluster, FigureFormats, Jobs, Seed
from rnndyn_cli.render import examples, info, print_json, progress_bar, warnings_to_stderr

study_app = typer.Typer(
    name="study",
    epilog=examples(
        "rnndyn study regression-vs-classification --archs gru --per-group 4 --epochs 3",
        "rnndyn study regression-vs-classification --archs rnn,gru --jobs 2 --out study-2",
    ),
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
            names = {"train": "training", "analyse": "analysing", "test": "testing"}
            tasks[stage] = bar.add_task(names.get(stage, stage), total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return update


@study_app.command(
    "regression-vs-classification",
    epilog=examples(
        "rnndyn study regression-vs-classification --archs gru --per-group 4 --epochs 3 --hidden 16 --out study-small",
        "rnndyn study regression-vs-classification --jobs 2 --format png,pdf",
        "rnndyn study regression-vs-classification --out study-small --json   # re-run: resumes, then prints",
    ),
)
@boundary
def regression_vs_classification(
    archs: str = typer.Option("rnn,lstm,gru", "--archs", help="Comma-separated: rnn,lstm,gru."),
    per_group: int = typer.Option(
        24,
        "--per-group",
        min=2,
        help="Networks per task kind and architecture (spread over the design's tasks; "
        "tasks are the unit, so fewer than 8 tasks per kind cannot survive the study's family).",
    ),
    design: str = typer.Option(
        "matched",
        "--design",
        help="matched: 8 twin pairs on the same inputs (a value or its sign); original: the "
        "first study's tomita3, tomita4, digits vs sine, mackey_glass, narma10.",
    ),
    out: Path = typer.Option(Path("rnndyn-study"), "--out", help="Study folder (resumable)."),
    jobs: Jobs = 1,
    cluster: Cluster = None,
    hidden: int = typer.Option(32, "--hidden", min=1, help="Hidden units of every network."),
    epochs: int = typer.Option(
        10, "--epochs", min=1, help="Maximum training epochs (early stopping)."
    ),
    permutations: int | None = typer.Option(
        None,
        "--permutations",
        min=1,
        help="Task relabelings (default: all of them up to 20000, else 9999).",
    ),
    correction: str = typer.Option(
        "holm", "--correction", help="Over every test of the study: holm, bh or none."
    ),
    seed: Seed = 0,
    format_: FigureFormats = "pdf,png",
    json_: bool = typer.Option(
        False, "--json", help="Print the comparison (schema rnndyn.compare.spectra/2)."
    ),
) -> None:
    """Train --per-group networks per task kind for each architecture, compare their spectra with
    tasks as the unit and one family for the whole study, and write OUT/report/report.md.
    Re-running resumes: finished networks are reused."""
    from rnndyn.errors import UsageError
    from rnndyn.plots import study_figures
    from rnndyn.training.study import regression_vs_classification as run
    from rnndyn_cli.render import parse_formats

    names = [a.strip().lower() for a in archs.split(",") if a.strip()]
    if not names or any(a not in ("rnn", "lstm", "gru") for a in names):
        raise UsageError(f"--archs {archs!r}: choose from rnn, lstm, gru (comma-separated)")
    formats = parse_formats(format_)
    command = (
        f"rnndyn study regression-vs-classification --design {design} --archs {','.join(names)} "
        f"--per-group {per_group} --hidden {hidden} --epochs {epochs} --correction {correction} "
        + (f"--permutations {permutations} " if permutations else "")
        + f"--seed {seed} --jobs {jobs} --out {shlex.quote(str(out))}"
    )
    with warnings_to_stderr(), progress_bar() as bar, resumable(out, "networks"):
        result = run(
            out,
            archs=names,
            per_group=per_group,
            design=design,
            hidden=hidden,
            epochs=epochs,
            jobs=jobs,
            cluster=cluster,
            n_permutations=permutations,
            correction=correction,
            seed=seed,
            formats=formats,
            draw=study_figures,
            progress=_stages(bar),
            command=command,
        )
    if json_:
        print_json(result.comparison.to_dict())
    else:
        for line in result.findings():
            typer.echo(line)
    fam = result.comparison.family
    info(
        f"{len(result.runs)} networks ({result.trained_now} trained now) in "
        f"{result.wall_seconds:.0f} s; one family of {fam.size} tests, {fam.correction}; "
        f"report: {result.report}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(study_app, name="study")

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
    per_group: int | None = typer.Option(
        None,
        "--per-group",
        min=2,
        help="Networks per task kind and architecture, spread over the design's tasks "
        "(default: --seeds per task).",
    ),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Networks (seeds) per task."),
    design: str = typer.Option(
        "paired",
        "--design",
        help="paired: 12 twin pairs on the same inputs (a value or its sign), tested within "
        "pairs; matched: the first 8 twin pairs, tested unpaired over tasks; original: the "
        "first study's tomita3, tomita4, digits vs sine, mackey_glass, narma10.",
    ),
    primary: str | None = typer.Option(
        None,
        "--primary",
        help="The pre-registered primary family, STAT[@GATE][,…] (gate default jac, the "
        "fixed-point Jacobian), corrected on its own; every other test is secondary "
        "(exploratory). Default for --design paired: spectral_radius@jac.",
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
        "holm",
        "--correction",
        help="Over the primary family (or every test without one): holm, bh or none.",
    ),
    secondary_correction: str = typer.Option(
        "bh", "--secondary-correction", help="Over the secondary tests: holm, bh or none."
    ),
    seed: Seed = 0,
    format_: FigureFormats = "pdf,png",
    json_: bool = typer.Option(
        False, "--json", help="Print the comparison (schema rnndyn.compare.spectra/2)."
    ),
) -> None:
    """Train networks per task kind for each architecture, compare their spectra (paired design:
    within twin pairs, a pre-registered primary family), and write OUT/report/report.md. The
    design, the family and its floors are printed before training. Re-running resumes: finished
    networks are reused."""
    from rnndyn.errors import UsageError
    from rnndyn.plots import study_figures
    from rnndyn.studies.regression_vs_classification import Settings
    from rnndyn.studies.regression_vs_classification import regression_vs_classification as run
    from rnndyn_cli.render import parse_formats

    names = [a.strip().lower() for a in archs.split(",") if a.strip()]
    if not names or any(a not in ("rnn", "lstm", "gru") for a in names):
        raise UsageError(f"--archs {archs!r}: choose from rnn, lstm, gru (comma-separated)")
    formats = parse_formats(format_)
    settings = Settings(
        design=design,
        archs=tuple(names),
        seeds=seeds,
        per_group=per_group,
        hidden=hidden,
        epochs=epochs,
        primary=tuple(p.strip() for p in primary.split(",")) if primary else None,
        correction=correction,
        secondary_correction=secondary_correction,
        n_permutations=permutations,
        seed=seed,
        jobs=jobs,
        cluster=cluster,
    )
    command = (
        f"rnndyn study regression-vs-classification --design {design} --archs {','.join(names)} "
        + (f"--per-group {per_group} " if per_group else f"--seeds {seeds} ")
        + f"--hidden {hidden} --epochs {epochs} --correction {correction} "
        + (f"--primary {primary} --secondary-correction {secondary_correction} " if primary else "")
        + (f"--permutations {permutations} " if permutations else "")
        + f"--seed {seed} --jobs {jobs} --out {shlex.quote(str(out))}"
    )
    for line in describe_plan(settings):
        info(line)
    with warnings_to_stderr(), progress_bar() as bar, resumable(out, "networks"):
        result = run(
            out,
            settings,
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
    fam, sec = result.comparison.family, result.comparison.secondary
    families = (
        f"primary family of {fam.size} tests ({fam.correction}), secondary {sec.size} "
        f"({sec.correction})"
        if sec is not None
        else f"one family of {fam.size} tests, {fam.correction}"
    )
    info(
        f"{len(result.runs)} networks ({result.trained_now} trained now) in "
        f"{result.wall_seconds:.0f} s; {families}; report: {result.report}"
    )


def describe_plan(settings) -> list[str]:
    """The design's family and floors, worked out before training (printed on stderr)."""
    from rnndyn.studies.regression_vs_classification import describe

    return describe(settings)


def register(app: typer.Typer) -> None:
    app.add_typer(study_app, name="study")

"""`rnndyn compare`: group statistics and tests over many networks (networks as replicates)."""

from __future__ import annotations

from pathlib import Path

import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.render import (
    advance,
    info,
    print_json,
    print_table,
    progress_bar,
    warnings_to_stderr,
)


def resolve_groups(
    checkpoints: list[Path], by: str | None, group: list[str], manifest: Path | None
):
    """Exactly one way of naming groups → ``compare_spectra`` keyword arguments."""
    from rnndyn.compare.grouping import expand_group_specs, read_manifest
    from rnndyn.errors import UsageError

    given = [bool(checkpoints), bool(group), manifest is not None]
    if sum(given) != 1:
        raise UsageError(
            "give checkpoints (grouped by --by KEY), or --group NAME=GLOB options, or "
            "--manifest FILE: exactly one of them",
            hint="Example: rnndyn compare runs/*.pt --by task_kind.",
        )
    if by is not None and not checkpoints:
        raise UsageError(
            "--by groups the checkpoints given as arguments; it cannot be combined "
            "with --group or --manifest"
        )
    if checkpoints:
        return {"checkpoints": [str(p) for p in checkpoints], "by": by or "task_kind"}
    groups = expand_group_specs(group) if group else read_manifest(manifest)
    return {"groups": {name: [str(p) for p in paths] for name, paths in groups.items()}}


def _tables(result) -> None:
    from rnndyn.compare.population import STATISTICS

    order = {s: i for i, s in enumerate(STATISTICS)}
    for arch, op in result.strata:
        pairs = dict.fromkeys(
            (t.group_a, t.group_b)
            for t in result.tests
            if (t.architecture, t.operator) == (arch, op)
        )
        for ga, gb in pairs:
            rows = sorted(
                (
                    t
                    for t in result.tests
                    if (t.architecture, t.operator, t.group_a, t.group_b) == (arch, op, ga, gb)
                ),
                key=lambda t: order[t.statistic],
            )
            conf = f"{100 * result.settings['confidence']:.0f}% CI"
            print_table(
                f"{arch.upper()} {op}: A = {ga} vs B = {gb} — {rows[0].test}; "
                "Cliff's δ > 0: A larger; discrete-time eigenvalues",
                ["statistic", "n A", "n B", "median A", "median B", "δ", conf, "p", "p Holm"],
                [
                    [
                        t.statistic,
                        t.n_a,
                        t.n_b,
                        t.median_a,
                        t.median_b,
                        round(t.cliffs_delta, 3),
                        f"[{t.ci_low:+.2f}, {t.ci_high:+.2f}]",
                        t.p_value,
                        t.p_holm,
                    ]
                    for t in rows
                ],
            )
        dists = [d for d in result.distances if (d.architecture, d.operator) == (arch, op)]
        print_table(
            f"{arch.upper()} {op}: pooled eigenvalue distributions "
            "(p-values permute network labels)",
            [
                "A",
                "B",
                "n A",
                "n B",
                "distribution",
                "metric",
                "distance",
                "p",
                "p Holm",
                "labelings",
            ],
            [
                [
                    d.group_a,
                    d.group_b,
                    d.n_a,
                    d.n_b,
                    d.distribution,
                    d.metric,
                    d.distance,
                    d.p_value,
                    d.p_holm,
                    f"{d.n_permutations}{' (all)' if d.exact else ''}",
                ]
                for d in dists
            ],
        )
    if result.skipped:
        print_table(
            "left out", ["checkpoint", "problem"], [[b.path, b.problem] for b in result.skipped]
        )
    for note in result.notes:
        info(f"note: {note}")


def publish(
    out: Path, result, *, force: bool, formats: tuple[str, ...], protect: list[str]
) -> None:
    """Write JSON, tidy tables, figures and report.md into ``out`` (atomically)."""
    from rnndyn.io.outputs import staged_output
    from rnndyn.plots.compare import comparison_figures
    from rnndyn.plots.style import style_context

    with staged_output(out, force=force, formats=formats, protect=protect) as stage:
        stage.write_json("comparison.json", result.to_dict())
        stage.write_table("statistics", result.to_frame())
        stage.write_table("tests", result.tests_frame())
        stage.write_table("group_statistics", result.group_frame())
        stage.write_table("eigenvalues", result.eigenvalues_frame())
        figures = []
        with style_context():
            for name, fig in comparison_figures(result):
                stage.write_figure(name, fig)
                figures.append(name)
        stage.write_text(
            "report.md",
            result.to_markdown(figures=[f"{f}.png" for f in figures] if "png" in formats else None),
        )


@boundary
def compare(
    checkpoints: list[Path] = typer.Argument(
        None, help="Checkpoints, grouped by --by KEY of their rnndyn metadata."
    ),
    by: str | None = typer.Option(
        None, "--by", help="Metadata key to group by (default task_kind; dots reach nested keys)."
    ),
    group: list[str] = typer.Option(
        [], "--group", help="NAME=GLOB, repeatable: explicit groups (quote the glob)."
    ),
    manifest: Path | None = typer.Option(None, "--manifest", help="CSV with columns path,group."),
    json_: bool = typer.Option(
        False, "--json", help="Print one JSON document (schema rnndyn.compare.spectra/1)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write tables, JSON, figures and report.md here."
    ),
    jobs: int = typer.Option(
        1, "--jobs", min=1, help="Processes analysing checkpoints in parallel."
    ),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Leave out unreadable files (listed) and compare the rest."
    ),
    test: str = typer.Option(
        "mann-whitney", "--test", help="Per-statistic test: mann-whitney or permutation."
    ),
    permutations: int = typer.Option(
        999, "--permutations", min=1, help="Label permutations for distance tests."
    ),
    bootstrap: int = typer.Option(
        1000, "--bootstrap", min=10, help="Bootstrap resamples for the CIs."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for permutations and bootstrap."),
    trust_pickle: bool = typer.Option(
        False, "--trust-pickle", help="Allow full pickles (runs code from the files)."
    ),
    matrix: str | None = typer.Option(
        None, "--matrix", help="Name of a square recurrent parameter to analyse."
    ),
    jacobian: bool = typer.Option(
        False, "--jacobian", help="Also compare state Jacobians at the zero-input fixed point."
    ),
    format_: str = typer.Option(
        "pdf,png", "--format", help="Figure formats for --out: pdf,png,svg."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace rnndyn's own previous outputs in --out."
    ),
) -> None:
    """Compare eigen-spectra between groups of networks (networks as replicates).

    Per-network statistics, rank tests with effect sizes and bootstrap CIs (Holm-corrected), and
    permutation tests of distances between the groups' eigenvalue distributions.
    """
    from rnndyn.compare.spectra import compare_spectra
    from rnndyn_cli.render import parse_formats

    formats = parse_formats(format_)
    kwargs = resolve_groups(checkpoints or [], by, group, manifest)
    with warnings_to_stderr(), progress_bar() as bar:
        result = compare_spectra(
            **kwargs,
            jobs=jobs,
            jacobian=jacobian,
            skip_bad=skip_bad,
            test=test,
            n_permutations=permutations,
            n_bootstrap=bootstrap,
            seed=seed,
            trust=trust_pickle,
            matrix=matrix,
            progress=advance(bar, "analysing"),
        )
    if json_:
        for b in result.skipped:
            info(f"left out {b.path}: {b.problem}")
    if out is not None:
        protect = [p for ps in kwargs.get("groups", {}).values() for p in ps] + kwargs.get(
            "checkpoints", []
        )
        publish(out, result, force=force, formats=formats, protect=protect)
    if json_:
        print_json(result.to_dict())
        return
    _tables(result)
    if out is not None:
        info(f"wrote tables, JSON, figures and report.md to {out}")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)

"""`rnndyn compare`: group statistics and tests over many networks, one family per run."""

from __future__ import annotations

from pathlib import Path

import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.options import (
    FORMATS_READ,
    Cluster,
    FigureFormats,
    ForceFlag,
    Jacobian,
    Jobs,
    JsonFlag,
    Matrix,
    OutFolder,
    Seed,
    StyleSheet,
    Top,
    TrustPickle,
    finite,
)
from rnndyn_cli.render import (
    advance,
    check_out,
    examples,
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
    groups = expand_group_specs(group) if group else read_manifest(manifest)  # type: ignore[arg-type]
    return {"groups": {name: [str(p) for p in paths] for name, paths in groups.items()}}


def _p(row, p: float, adjusted: bool = False) -> str:
    from rnndyn.compare.family import format_p

    return format_p(p, row.p_bound, row.n_permutations, row.exact, adjusted=adjusted)


def _size(row, side: str) -> str:
    n, units = getattr(row, f"n_{side}"), getattr(row, f"units_{side}")
    return str(n) if row.unit == "network" else f"{n} ({units} {row.unit}s)"


def _tables(result) -> None:
    fam, sec = result.family, result.secondary
    gone = (
        f" ({len(result.untestable)} untestable statistics left out)" if result.untestable else ""
    )
    if sec is None:
        typer.echo(
            f"One family: {fam.size} tests (statistics and distances){gone}, {fam.correction} "
            f"correction, α = {fam.alpha:g}; unit: {result.unit}; smallest attainable p "
            f"{fam.smallest_p:.2g}, adjusted {fam.best_case_adjusted:.2g}."
        )
    else:
        typer.echo(
            f"Primary family (pre-registered): {fam.size} tests, {fam.correction}, α = "
            f"{fam.alpha:g}; smallest attainable p {fam.smallest_p:.2g}, adjusted "
            f"{fam.best_case_adjusted:.2g}. Secondary (exploratory): {sec.size} tests{gone}, "
            f"{sec.correction} on their own; unit: {result.unit}."
        )
    for arch, op in result.strata:
        _statistic_tables(result, arch, op)
        _distance_table(result, arch, op)
    if result.skipped:
        print_table(
            "left out", ["checkpoint", "problem"], [[b.path, b.problem] for b in result.skipped]
        )
    for note in result.notes:
        info(f"note: {note}")


def _statistic_tables(result, arch: str, op: str) -> None:
    from rnndyn.compare.population import STATISTICS

    order = {s: i for i, s in enumerate(STATISTICS)}
    adj = "p adjusted" if result.secondary else f"p {result.family.correction}"
    conf = f"{100 * result.settings['confidence']:.0f}% CI"
    rows = [t for t in result.tests if (t.architecture, t.operator) == (arch, op)]
    for ga, gb in dict.fromkeys((t.group_a, t.group_b) for t in rows):
        pair = sorted(
            (t for t in rows if (t.group_a, t.group_b) == (ga, gb)),
            key=lambda t: order[t.statistic],
        )
        print_table(
            f"{arch.upper()} {op}: A = {ga} vs B = {gb} — {pair[0].test}; "
            "Cliff's δ > 0: A larger; discrete-time eigenvalues",
            ["statistic", "n A", "n B", "median A", "median B", "δ", conf, "p", adj],
            [
                [
                    t.statistic + (" (primary)" if t.family == "primary" else ""),
                    _size(t, "a"),
                    _size(t, "b"),
                    t.median_a,
                    t.median_b,
                    round(t.cliffs_delta, 3),
                    f"[{t.ci_low:+.2f}, {t.ci_high:+.2f}]",
                    _p(t, t.p_value),
                    _p(t, t.p_adjusted, True),
                ]
                for t in pair
            ],
        )


def _distance_table(result, arch: str, op: str) -> None:
    dists = [d for d in result.distances if (d.architecture, d.operator) == (arch, op)]
    adj = f"p {(result.secondary or result.family).correction}"
    print_table(
        f"{arch.upper()} {op}: pooled eigenvalue distributions "
        f"(p-values permute {result.unit} labels)",
        ["A", "B", "n A", "n B", "distribution", "metric", "distance", "p", adj, "labelings"],
        [
            [
                d.group_a,
                d.group_b,
                _size(d, "a"),
                _size(d, "b"),
                d.distribution,
                d.metric,
                d.distance,
                _p(d, d.p_value),
                _p(d, d.p_adjusted, True),
                f"{d.n_permutations}{' (all)' if d.exact else ''}",
            ]
            for d in dists
        ],
    )


def publish(
    out: Path,
    result,
    *,
    force: bool,
    formats: tuple[str, ...],
    protect: list[str],
    style: Path | None = None,
) -> None:
    """Write JSON, tidy tables, figures and report.md into ``out`` (atomically)."""
    from rnndyn.plots.compare import comparison_figures
    from rnndyn.report import Report, write_report

    def markdown(figures: list[str]) -> str:
        return result.to_markdown(
            figures=[f"{f}.png" for f in figures] if "png" in formats else None
        )

    report = (
        Report(command="compare")
        .document("comparison.json", result.to_dict())
        .table("statistics", result.to_frame())
        .table("tests", result.tests_frame())
        .table("group_statistics", result.group_frame())
        .table("eigenvalues", result.eigenvalues_frame())
        .table("design", result.design_frame())
        .figure_set(lambda: comparison_figures(result))
        .text("report.md", markdown)
    )
    write_report(report, out, force=force, formats=formats, protect=protect, style=style)


@boundary
def compare(
    checkpoints: list[Path] = typer.Argument(
        None, help=f"Checkpoints, grouped by --by KEY of their rnndyn metadata. {FORMATS_READ}"
    ),
    by: str | None = typer.Option(
        None, "--by", help="Metadata key to group by (default task_kind; dots reach nested keys)."
    ),
    group: list[str] = typer.Option(
        [], "--group", help="NAME=GLOB, repeatable: explicit groups (quote the glob)."
    ),
    manifest: Path | None = typer.Option(None, "--manifest", help="CSV with columns path,group."),
    json_: JsonFlag = False,
    out: OutFolder = None,
    jobs: Jobs = 1,
    cluster: Cluster = None,
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Leave out unreadable files (listed) and compare the rest."
    ),
    test: str = typer.Option(
        "mann-whitney",
        "--test",
        help="Per-statistic test when networks are the unit: mann-whitney or permutation.",
    ),
    unit: str = typer.Option(
        "auto",
        "--unit",
        help="What labels are permuted over: task (networks nested in tasks: a blocked "
        "permutation), network, or auto (task for --by task_kind when every checkpoint "
        "names its task).",
    ),
    strata: str | None = typer.Option(
        None, "--strata", help="Metadata key: permute group labels only within its values."
    ),
    pairs: str | None = typer.Option(
        None,
        "--pairs",
        help="Metadata key naming each network's pair (twin tasks record 'pair'): test within "
        "pairs, an exact sign-flip test over the 2^n relabelings (floor 2/2^n); one task per "
        "group in each pair.",
    ),
    primary: str | None = typer.Option(
        None,
        "--primary",
        help="Pre-registered primary family STAT[@GATE][,…] (gate default jac), corrected on its "
        "own by --correction; every other test is secondary, corrected by "
        "--secondary-correction.",
    ),
    secondary_correction: str = typer.Option(
        "bh", "--secondary-correction", help="With --primary: holm, bh or none for the rest."
    ),
    correction: str = typer.Option(
        "holm",
        "--correction",
        help="Multiplicity correction over every test of the run (or the --primary family): "
        "holm, bh or none.",
    ),
    alpha: float = typer.Option(
        0.05, "--alpha", help="Significance level for notes/findings.", callback=finite
    ),
    permutations: int = typer.Option(
        999, "--permutations", min=1, help="Label permutations (all labelings when fewer)."
    ),
    bootstrap: int = typer.Option(
        1000, "--bootstrap", min=10, help="Bootstrap resamples for the CIs."
    ),
    seed: Seed = 0,
    trust_pickle: TrustPickle = False,
    matrix: Matrix = None,
    jacobian: Jacobian = False,
    distance: str = typer.Option(
        "eigenvalues",
        "--distance",
        help="Group distance tested: eigenvalues (pooled eigenvalue distributions) or similarity "
        "(the DSA-style distance matrix of the networks' dynamics; see rnndyn similarity).",
    ),
    format_: FigureFormats = "pdf,png",
    force: ForceFlag = False,
    style: StyleSheet = None,
    top: Top = None,
) -> None:
    """Compare eigen-spectra between groups of networks.

    Per-network statistics, tests with effect sizes and bootstrap CIs, and permutation tests of
    distances between the groups' eigenvalue distributions; every test of the run is one family
    (--correction). Networks nested in tasks are tested with tasks as the unit.
    """
    from rnndyn.compare.spectra import compare_spectra
    from rnndyn_cli.render import parse_formats

    formats = parse_formats(format_)
    kwargs = resolve_groups(checkpoints or [], by, group, manifest)
    inputs = [p for ps in kwargs.get("groups", {}).values() for p in ps]
    check_out(out, force=force, protect=inputs + list(kwargs.get("checkpoints", [])))
    with warnings_to_stderr(), progress_bar() as bar:
        result = compare_spectra(
            **kwargs,
            jobs=jobs,
            cluster=cluster,
            jacobian=jacobian,
            skip_bad=skip_bad,
            test=test,
            unit=unit,
            strata=strata,
            pairs=pairs,
            primary=[p for p in primary.split(",") if p.strip()] if primary else None,
            secondary_correction=secondary_correction,
            correction=correction,
            alpha=alpha,
            n_permutations=permutations,
            n_bootstrap=bootstrap,
            seed=seed,
            trust=trust_pickle,
            matrix=matrix,
            distance=distance,
            progress=advance(bar, "analysing"),
            stats_progress=advance(bar, "testing"),
            top=top,
        )
    if json_:
        for b in result.skipped:
            info(f"left out {b.path}: {b.problem}")
    if out is not None:
        protect = [p for ps in kwargs.get("groups", {}).values() for p in ps] + kwargs.get(
            "checkpoints", []
        )
        publish(out, result, force=force, formats=formats, protect=protect, style=style)
    if json_:
        print_json(result.to_dict())
        return
    _tables(result)
    if out is not None:
        info(f"wrote tables, JSON, figures and report.md to {out}")


def register(app: typer.Typer) -> None:
    app.command(
        "compare",
        epilog=examples(
            "rnndyn bench --tasks adding,tomita4 --archs gru --inits default,orthogonal --seeds 2 --epochs 2 --hidden 16 --out bench-small",
            "rnndyn compare bench-small/checkpoints/*.pt --unit network --out compare-kind",
            "rnndyn compare bench-small/checkpoints/*.pt --by init --test permutation --json",
        ),
    )(compare)

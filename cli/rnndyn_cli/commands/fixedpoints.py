"""``rnndyn fixedpoints``: fixed, slow and marginal points of a checkpoint's recurrent layers, with
stability, input Jacobians, a coverage estimate and, over several inputs, the links between them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.options import (
    DEFAULT_FORMATS,
    FORMATS_READ,
    FigureFormats,
    ForceFlag,
    JsonFlag,
    OutFolder,
    Seed,
    StyleSheet,
    TrustPickle,
    finite,
)
from rnndyn_cli.render import (
    check_out,
    examples,
    finish,
    info,
    parse_formats,
    print_table,
    progress_bar,
    stages,
    warnings_to_stderr,
    write_stdout,
)

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.dynamics.fixedpoints import FixedPointResult

ROWS_SHOWN = 40


def _render(res: FixedPointResult) -> None:
    for lay in res.layers:
        shown = [r for r in lay.to_records() if r["kind"] != "marginal"]
        rows = [
            [
                r["index"],
                r["kind"],
                r["q"],
                "yes" if r["stable"] else "no",
                r["n_unstable"],
                r["spectral_radius"],
                r["count"],
                r["upstream"],
                " ".join(f"{v:+.2f}" for v in r["readout"]) if r["readout"] else None,
            ]
            for r in shown
        ]
        iso = lay.isolated
        spec = res.inputs[lay.input_index]["spec"]
        title = (
            f"{res.checkpoint} — layer {lay.layer} {lay.direction}, input {lay.input_index} "
            f"({spec}): {int(iso.sum())} isolated points ({int((lay.stable & iso).sum())} stable, "
            f"{int((lay.kind == 'slow').sum())} slow, {int(lay.marginal.sum())} marginal on "
            f"{len(lay.manifolds)} slow manifold(s)) from {lay.n_candidates} starts "
            f"({lay.n_dropped} above max q); discrete-time eigenvalues"
        )
        cols = ["point", "kind", "q", "stable", "#|λ|>1", "radius", "starts", "upstream", "readout"]
        print_table(title, cols, rows[:ROWS_SHOWN])
        for m in lay.manifolds:
            write_stdout(
                f"  slow manifold {m.index}: {len(m.points)} marginal point(s), dimension "
                f"{m.dimension} (eigenvalues on the unit circle), extent {m.extent:.3g}, "
                f"{m.n_starts} starts, {'attracting' if m.attracting else 'not attracting'}\n"
            )
        write_stdout(f"  {lay.coverage().sentence()}\n")
    if res.links:
        rows = [[r[k] for k in LINK_COLS] for r in res.links if r["event"] != "continued"]
        print_table(
            f"{res.checkpoint} — across inputs: {len(res.links)} links, "
            f"{len(res.links) - len(rows)} continued (not shown)",
            list(LINK_COLS),
            rows[:ROWS_SHOWN],
        )


LINK_COLS = ("direction", "from_input", "from_point", "to_input", "to_point", "event")


def _coverage_lines(res: FixedPointResult) -> None:
    """The coverage in plain words on stderr: a warning when the list is probably incomplete."""
    cov = res.coverage()
    if cov["complete"]:
        info(
            f"coverage: {cov['found']} isolated point(s); the estimate sees none missing "
            "(a lower bound: points with tiny basins could still be missed)"
        )
        return
    lo, hi = cov["interval_95"]
    sys.stderr.write(
        f"rnndyn: warning: the list of fixed points is probably incomplete: {cov['found']} "
        f"isolated points found, about {cov['estimated_total']:.1f} estimated (95% interval "
        f"{lo:.1f}–{hi:.1f}); some points were reached by a single start. Use more starts "
        "(--n-inits auto, or a larger --n-inits).\n"
    )


def _n_inits(value: str) -> int | str:
    from rnndyn.errors import UsageError

    v = value.strip().lower()
    if v == "auto":
        return "auto"
    try:
        n = int(v)
    except ValueError:
        n = 0
    if n < 1:
        raise UsageError(f"--n-inits {value!r}: give a positive number of starts or 'auto'")
    return n


def _seeding(value: str | None):
    from rnndyn.dynamics.fixedpoints import Seeding
    from rnndyn.errors import UsageError

    if not value:
        return Seeding()
    shares: dict[str, float] = {}
    for part in value.split(","):
        key, _, num = part.partition("=")
        key = key.strip().lower()
        try:
            shares[key] = float(num)
        except ValueError:
            shares[key] = -1.0
        if key not in ("trajectory", "uniform", "corner") or not shares[key] >= 0:
            raise UsageError(
                f"--seeding {value!r}: write shares as trajectory=W,uniform=W,corner=W (W ≥ 0)"
            )
    full = {"trajectory": 0.0, "uniform": 0.0, "corner": 0.0} | shares
    if sum(full.values()) <= 0:
        raise UsageError(f"--seeding {value!r}: the shares must not all be zero")
    return Seeding(**full)


@boundary
def fixedpoints(
    checkpoint: Path = typer.Argument(..., help=f"Checkpoint file. {FORMATS_READ}"),
    input_: list[str] = typer.Option(
        ["zeros"],
        "--input",
        help="Constant input x*: zeros, mean (of the probe), task:NAME (its mean input; its test "
        "inputs drive the search) or FILE.npy ((D,) = x*, (B, T, D) a probe whose mean is x*, "
        "(K, D) K constant inputs). Repeat it, or give a (K, D) file, to scan inputs: each "
        "search also starts from the previous input's points and the points are linked.",
    ),
    probe: str = typer.Option(
        None,
        "--probe",
        help="What drives the trajectories initial states are drawn from: task:NAME, noise[:STD] "
        "or FILE.npy [the checkpoint's task, else noise:1].",
    ),
    n_inits: str = typer.Option(
        "1024",
        "--n-inits",
        help="Starts per layer and input, or 'auto': rounds of 1024 until the coverage estimate "
        "sees nothing missing or stops moving, up to --max-inits.",
    ),
    max_inits: int = typer.Option(16384, "--max-inits", min=1, help="Budget of --n-inits auto."),
    seeding: str = typer.Option(
        None,
        "--seeding",
        help="Shares of the starts: trajectory=W,uniform=W,corner=W "
        "[trajectory=0.4,uniform=0.4,corner=0.2].",
    ),
    tol: float = typer.Option(
        1e-12, "--tol", help="q at or below this: a fixed point.", callback=finite
    ),
    max_q: float = typer.Option(
        1e-6, "--max-q", help="q up to this: a slow point; above: dropped.", callback=finite
    ),
    iters: int = typer.Option(1000, "--iters", min=0, help="Most Adam steps before Newton."),
    module: str = typer.Option(None, "--module", help="Recurrent module name [the first]."),
    seed: Seed = 0,
    json_: JsonFlag = False,
    out: OutFolder = None,
    format_: FigureFormats = DEFAULT_FORMATS,
    force: ForceFlag = False,
    trust_pickle: TrustPickle = False,
    style: StyleSheet = None,
) -> None:
    """Find fixed, slow and marginal points (q = ½‖F(h, x*) − h‖²) with their Jacobians.

    Prints a coverage estimate (Chao1 from how many starts reached each point) and warns when the
    list is probably incomplete. With --json the document's schema is rnndyn.fixedpoints/1.
    """
    from rnndyn.dynamics.fixedpoints import find_fixed_points

    formats = parse_formats(format_)
    n = _n_inits(n_inits)
    seeds = _seeding(seeding)
    check_out(out, force=force, protect=[checkpoint])  # before the search
    with warnings_to_stderr(), progress_bar() as bar:
        res = find_fixed_points(
            checkpoint,
            input_ if len(input_) > 1 else input_[0],
            probe=probe,
            module=module,
            n_inits=n,
            max_inits=max_inits,
            seed=seed,
            trust=trust_pickle,
            seeding=seeds,
            tol=tol,
            max_q=max_q,
            iters=iters,
            progress=stages(bar, "fixed points"),
        )
    from rnndyn.outputs.invocation import record_resolved

    record_resolved(probe=res.probe.get("spec"), module=res.module.name or "(root)")
    if out is not None:
        _write(res, out, formats, force, checkpoint, style)
    _coverage_lines(res)
    finish(res.to_dict, lambda: _render(res), out, json_)


def _write(
    res: FixedPointResult, out: Path, formats, force: bool, ckpt: Path, style: Path | None = None
) -> None:
    from rnndyn.plots.fixedpoints import (
        bifurcation,
        pca_trajectories,
        point_spectra_grid,
        q_histogram,
    )
    from rnndyn.report import Report, write_report

    report = Report(command="fixedpoints", inputs=[{"path": res.checkpoint, "sha256": res.sha256}])
    report.document("fixedpoints.json", res.to_dict())
    report.table("fixed_points", res.to_frame())
    report.figure("pca_trajectories", lambda: pca_trajectories(res))
    report.figure("jacobian_eigenvalues", lambda: point_spectra_grid(res))
    report.figure("q_histogram", lambda: q_histogram(res))
    if len(res.inputs) > 1:
        report.table("links", res.links_frame())
        report.figure("bifurcation", lambda: bifurcation(res))
    write_report(report, out, force=force, formats=formats, protect=[ckpt], style=style)


def register(app: typer.Typer) -> None:
    app.command(
        "fixedpoints",
        epilog=examples(
            "rnndyn fixedpoints data/examples/gru_tomita4.pt",
            "rnndyn fixedpoints data/examples/lstm_sine.pt --input mean --n-inits 256 --out fixedpoints-lstm",
            "rnndyn fixedpoints tests/data/gru_flipflop3.pt --n-inits auto --input zeros --input mean",
        ),
    )(fixedpoints)

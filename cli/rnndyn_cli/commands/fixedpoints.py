"""``rnndyn fixedpoints``: fixed and slow points of a checkpoint's recurrent layers, with stability."""

from __future__ import annotations

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
)
from rnndyn_cli.render import (
    check_out,
    examples,
    finish,
    parse_formats,
    print_table,
    progress_bar,
    stages,
    warnings_to_stderr,
)

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.dynamics.fixedpoints import FixedPointResult

ROWS_SHOWN = 40


def _render(res: FixedPointResult) -> None:
    for lay in res.layers:
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
            ]
            for r in lay.to_records()
        ]
        title = (
            f"{res.checkpoint} — layer {lay.layer} {lay.direction}: {len(lay)} points "
            f"({int(lay.stable.sum())} stable, {int((lay.kind == 'slow').sum())} slow) from "
            f"{lay.n_candidates} initial states ({lay.n_dropped} above max q); input "
            f"{res.input['spec']}; discrete-time eigenvalues"
        )
        print_table(
            title,
            ["point", "kind", "q", "stable", "#|λ|>1", "radius", "inits", "upstream"],
            rows[:ROWS_SHOWN],
        )


@boundary
def fixedpoints(
    checkpoint: Path = typer.Argument(..., help=f"Checkpoint file. {FORMATS_READ}"),
    input_: str = typer.Option(
        "zeros",
        "--input",
        help="Constant input x*: zeros, mean (of the probe), task:NAME (its mean input; its test "
        "inputs drive the search) or FILE.npy ((D,) = x*, or a (B, T, D) probe whose mean is x*).",
    ),
    probe: str = typer.Option(
        None,
        "--probe",
        help="What drives the trajectories initial states are drawn from: task:NAME, noise[:STD] "
        "or FILE.npy [the checkpoint's task, else noise:1].",
    ),
    n_inits: int = typer.Option(1024, "--n-inits", min=1, help="Initial states per layer."),
    tol: float = typer.Option(1e-12, "--tol", help="q at or below this: a fixed point."),
    max_q: float = typer.Option(
        1e-6, "--max-q", help="q up to this: a slow point; above: dropped."
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
    """Find fixed and slow points (q = ½‖F(h, x*) − h‖²) with their Jacobians' eigenvalues.

    With --json the document's schema is rnndyn.fixedpoints/1.
    """
    from rnndyn.dynamics.fixedpoints import find_fixed_points

    formats = parse_formats(format_)
    check_out(out, force=force, protect=[checkpoint])  # before the search
    with warnings_to_stderr(), progress_bar() as bar:
        res = find_fixed_points(
            checkpoint,
            input_,
            probe=probe,
            module=module,
            n_inits=n_inits,
            seed=seed,
            trust=trust_pickle,
            tol=tol,
            max_q=max_q,
            iters=iters,
            progress=stages(bar, "fixed points"),
        )
    from rnndyn.outputs.manifest import record_resolved

    record_resolved(probe=res.probe.get("spec"), module=res.module.name or "(root)")
    if out is not None:
        _write(res, out, formats, force, checkpoint, style)
    finish(res.to_dict, lambda: _render(res), out, json_)


def _write(
    res: FixedPointResult, out: Path, formats, force: bool, ckpt: Path, style: Path | None = None
) -> None:
    from rnndyn.plots.fixedpoints import pca_trajectories, point_spectra, q_histogram
    from rnndyn.report import Report, write_report

    report = Report(command="fixedpoints", inputs=[{"path": res.checkpoint, "sha256": res.sha256}])
    report.document("fixedpoints.json", res.to_dict())
    report.table("fixed_points", res.to_frame())
    report.figure("pca_trajectories", lambda: pca_trajectories(res))
    report.figure("jacobian_eigenvalues", lambda: point_spectra(res))
    report.figure("q_histogram", lambda: q_histogram(res))
    write_report(report, out, force=force, formats=formats, protect=[ckpt], style=style)


def register(app: typer.Typer) -> None:
    app.command(
        "fixedpoints",
        epilog=examples(
            "rnndyn fixedpoints data/examples/gru_tomita4.pt",
            "rnndyn fixedpoints data/examples/lstm_sine.pt --input mean --n-inits 256 --out fixedpoints-lstm",
        ),
    )(fixedpoints)

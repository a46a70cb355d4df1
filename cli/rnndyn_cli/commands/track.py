"""``rnndyn track``: eigenvalues followed across training checkpoints (snapshots), ordered by epoch."""

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
    Jacobian,
    JsonFlag,
    Matrix,
    OutFolder,
    StyleSheet,
    Top,
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
    warnings_to_stderr,
)

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.training.track import TrackResult


def _render(res: TrackResult) -> None:
    df = res.summary_frame()
    metric = "metric_val_loss" if "metric_val_loss" in df else None
    rows = [
        [
            r["epoch"],
            r["operator"],
            r["spectral_radius"],
            r["fraction_above"],
            r["longest_timescale"],
            r[metric] if metric else None,
        ]
        for _, r in df.iterrows()
    ]
    print_table(
        f"{len(res.checkpoints)} checkpoints, {len(res.operators)} operators; discrete-time "
        "eigenvalues, timescales in steps",
        [
            "epoch",
            "operator",
            "radius",
            f"frac |λ|>{res.threshold:g} (beyond bound)",
            "longest finite τ",
            "val loss",
        ],
        rows,
    )


@boundary
def track(
    checkpoints: list[Path] = typer.Argument(
        ..., help=f"Checkpoints of one run (any order). {FORMATS_READ}"
    ),
    threshold: float = typer.Option(
        0.9, "--threshold", help="Count |λ| above this.", callback=finite
    ),
    json_: JsonFlag = False,
    out: OutFolder = None,
    format_: FigureFormats = DEFAULT_FORMATS,
    force: ForceFlag = False,
    trust_pickle: TrustPickle = False,
    matrix: Matrix = None,
    jacobian: Jacobian = False,
    top: Top = None,
    style: StyleSheet = None,
) -> None:
    """Follow every recurrent operator's eigenvalues through training (optimal assignment).

    Give the snapshots of `rnndyn train --save-every K --snapshots DIR` (e.g. DIR/*.pt).
    With --json the document's schema is rnndyn.track/1. With --top K only the K eigenvalues of
    largest modulus are followed (statistics they do not decide are null; notes on stderr).
    """
    from rnndyn.training.track import track as run_track

    formats = parse_formats(format_)
    check_out(out, force=force, protect=checkpoints)
    with warnings_to_stderr():
        res = run_track(
            checkpoints,
            trust=trust_pickle,
            matrix=matrix,
            threshold=threshold,
            jacobian=jacobian,
            top=top,
        )
    for note in res.notes:
        info(f"note: {note}")
    if out is not None:
        from rnndyn.plots.track import eigenvalue_paths, spectral_summary
        from rnndyn.report import Report, write_report

        report = Report(
            command="track",
            inputs=[{"path": c["path"], "sha256": c["sha256"]} for c in res.checkpoints],
        )
        report.document("track.json", res.to_dict())
        report.table("eigenvalue_tracks", res.to_frame())
        report.table("spectral_summary", res.summary_frame())
        report.figure("eigenvalue_paths", lambda: eigenvalue_paths(res))
        report.figure("spectral_summary", lambda: spectral_summary(res))
        write_report(report, out, force=force, formats=formats, protect=checkpoints, style=style)
    finish(res.to_dict, lambda: _render(res), out, json_)


def register(app: typer.Typer) -> None:
    app.command(
        "track",
        epilog=examples(
            "rnndyn train -t adding -a rnn -e 10 -o adding.pt --snapshots snaps --save-every 2",
            "rnndyn track snaps/epoch_*.pt --threshold 0.95",
            "rnndyn track snaps/epoch_*.pt --top 32",
            "rnndyn track snaps/epoch_*.pt --out track-adding --format png",
        ),
    )(track)

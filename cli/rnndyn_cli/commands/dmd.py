"""``rnndyn dmd``: modes from trajectories (DMD, DMD with control, delay-embedded), matched to the
mean-Jacobian and fixed-point-Jacobian spectra."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.options import (
    DEFAULT_FORMATS,
    FigureFormats,
    ForceFlag,
    JsonFlag,
    OutFolder,
    Seed,
    StyleSheet,
    TrustPickle,
)
from rnndyn_cli.render import check_out, examples, finish, parse_formats, print_table

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.modes.run import DMDResult

ROWS_SHOWN = 24


def _render(res: DMDResult) -> None:
    lam, fit = res.fit.eigenvalues, res.fit
    gap = {
        m.reference: dict(zip(m.dmd_index.tolist(), m.gaps.tolist(), strict=True))
        for m in res.matches
    }
    refs = list(gap)
    rows = [
        [i, z.real, z.imag, abs(z), fit.amplitudes[i], fit.residuals[i]]
        + [gap[r].get(i, "") for r in refs]
        for i, z in enumerate(lam[:ROWS_SHOWN])
    ]
    title = (
        f"{res.source} — {fit.method} DMD, rank {fit.rank}, {fit.delays} delay(s), "
        f"{fit.samples} snapshot pairs; discrete-time eigenvalues"
    )
    print_table(
        title,
        ["mode", "re", "im", "|λ|", "amplitude", "residual", *[f"gap {r}" for r in refs]],
        rows,
    )
    for m in res.matches:
        print_table(
            f"match with the {m.reference.replace('_', ' ')} ({m.n_reference} eigenvalues)",
            ["top k", "median gap", "max gap"],
            [[m.k, m.median_gap, m.max_gap]],
        )


@boundary
def dmd(
    source: Path = typer.Argument(
        ..., help="Checkpoint, or a .npy of recorded states (T, n) or (T, B, n)."
    ),
    probe: str = typer.Option(
        "noise:1",
        "--probe",
        help="What drives a checkpoint: noise[:STD], task:NAME, zeros, FILE.npy.",
    ),
    rank: int = typer.Option(
        None, "--rank", min=1, help="POD rank r [all singular values above 1e-10 of the largest]."
    ),
    delays: int = typer.Option(1, "--delays", min=1, help="Delay-embedding depth d (HAVOK-style)."),
    control: bool = typer.Option(
        False, "--control", help="DMD with control: fit the input's share separately."
    ),
    inputs: Path = typer.Option(
        None, "--inputs", help="With recorded states and --control: the inputs (T, B, D) as .npy."
    ),
    layer: int = typer.Option(0, "--layer", min=0, help="Layer whose states are decomposed."),
    batch: int = typer.Option(None, "--batch", min=1, help="Probe sequences [32]."),
    length: int = typer.Option(None, "--length", min=3, help="Probe steps [1000]."),
    washout: int = typer.Option(None, "--washout", min=0, help="Leading steps left out [a tenth]."),
    top: int = typer.Option(
        8, "--top", min=1, help="Largest-modulus DMD eigenvalues matched to each Jacobian spectrum."
    ),
    module: str = typer.Option(None, "--module", help="Recurrent module name [the first]."),
    seed: Seed = 0,
    json_: JsonFlag = False,
    out: OutFolder = None,
    format_: FigureFormats = DEFAULT_FORMATS,
    force: ForceFlag = False,
    trust_pickle: TrustPickle = False,
    style: StyleSheet = None,
) -> None:
    """Dynamic mode decomposition of hidden states, matched to the Jacobian spectra.

    With --json the document's schema is rnndyn.dmd/1.
    """
    from rnndyn.modes.run import dmd as run_dmd

    formats = parse_formats(format_)
    check_out(out, force=force, protect=[source])
    res = run_dmd(
        source,
        inputs=inputs,
        probe=probe,
        rank=rank,
        delays=delays,
        control=control,
        layer=layer,
        module=module,
        batch=batch,
        length=length,
        washout=washout,
        top=top,
        seed=seed,
        trust=trust_pickle,
    )
    if out is not None:
        _write(res, out, formats, force, source, style)
    finish(res.to_dict, lambda: _render(res), out, json_)


def _write(res: DMDResult, out: Path, formats, force: bool, src: Path, style: Path | None) -> None:
    from rnndyn.plots.modes import dmd_eigenvalues
    from rnndyn.report import Report, write_report

    report = Report(command="dmd", inputs=[{"path": res.source, "sha256": res.sha256}])
    report.document("dmd.json", res.to_dict())
    report.table("modes", res.to_frame())
    if res.matches:
        report.table("matches", res.matches_frame())
    report.figure("dmd_eigenvalues", lambda: dmd_eigenvalues(res))
    write_report(report, out, force=force, formats=formats, protect=[src], style=style)


def register(app: typer.Typer) -> None:
    app.command(
        "dmd",
        epilog=examples(
            "rnndyn dmd data/examples/gru_tomita4.pt",
            "rnndyn dmd data/examples/rnn_adding.pt --control --out dmd-rnn",
        ),
    )(dmd)

"""`rnndyn analyze`: spectra of every recurrent operator in one or more checkpoints."""

from __future__ import annotations

from pathlib import Path

import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.render import (
    advance,
    info,
    parse_formats,
    print_json,
    print_table,
    progress_bar,
    warnings_to_stderr,
)


def _rows(analysis) -> list[list]:
    rows = []
    for s in analysis.spectrum:
        tau = s.timescales
        finite = tau[tau < float("inf")]
        rows.append(
            [
                s.qualified_id,
                s.n,
                s.spectral_radius,
                s.n_outside_unit_circle,
                float(finite.max()) if finite.size else None,
                s.eigvec_condition,
                s.departure_from_normality,
                s.residual,
            ]
        )
    return rows


def _render(analysis) -> None:
    m = analysis.modules[0]
    desc = f"{m.arch.upper()}"
    if m.nonlinearity:
        desc += f" ({m.nonlinearity})"
    desc += f", H={m.hidden_size}, layers={m.num_layers}"
    if m.bidirectional:
        desc += ", bidirectional"
    if m.proj_size:
        desc += f", proj_size={m.proj_size}"
    if len(analysis.modules) > 1:
        desc += f" (+{len(analysis.modules) - 1} more module(s))"
    print_table(
        f"{analysis.checkpoint.path} — {desc}; discrete-time eigenvalues",
        ["operator", "n", "radius", "#|λ|>1", "max finite τ", "κ(V)", "non-normality", "residual"],
        _rows(analysis),
    )


def _write(out, analysis, formats: tuple[str, ...]) -> None:
    from rnndyn.plots.spectra import modulus_histogram, spectrum_grid, timescale_spectrum
    from rnndyn.plots.style import style_context

    out.write_json("analysis.json", analysis.to_dict())
    out.write_table("eigenvalues", analysis.to_frame())
    with style_context():
        out.write_figure("spectrum", spectrum_grid(analysis.spectrum))
        out.write_figure("modulus_histogram", modulus_histogram(analysis.spectrum).figure)
        out.write_figure("timescales", timescale_spectrum(analysis.spectrum).figure)


def _folder_names(paths: list[Path]) -> list[str]:
    names, used = [], set()
    for p in paths:
        base = p.stem or p.name
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}-{k}"
        used.add(name)
        names.append(name)
    return names


@boundary
def analyze(
    checkpoints: list[Path] = typer.Argument(
        ..., help="Checkpoint file(s): .pt/.pth/.ckpt/.safetensors."
    ),
    json_: bool = typer.Option(
        False, "--json", help="Print one JSON document (schema rnndyn.analysis/1)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write tables, JSON and figures to this folder."
    ),
    trust_pickle: bool = typer.Option(
        False,
        "--trust-pickle",
        help="Allow full pickles (runs code from the file: only for files you trust).",
    ),
    matrix: str | None = typer.Option(
        None, "--matrix", help="Name of a square recurrent parameter to analyse."
    ),
    format_: str = typer.Option(
        "pdf,png", "--format", help="Figure formats for --out: pdf,png,svg."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace rnndyn's own previous outputs in --out."
    ),
    jacobian: bool = typer.Option(
        False,
        "--jacobian",
        help="Also the full state Jacobian at the zero-input fixed point (id l*.jacfp).",
    ),
) -> None:
    """Eigendecompose every recurrent operator (W_hh, each LSTM/GRU gate block) of each checkpoint."""
    from rnndyn.analysis import analyze as run_analysis

    formats = parse_formats(format_)
    if trust_pickle:
        info(
            "warning: --trust-pickle lets full pickles run code from the file; use it only for files you trust."
        )
    analyses = []
    with warnings_to_stderr(), progress_bar() as bar:
        step = advance(bar, "analysing") if len(checkpoints) > 1 else None
        for done, path in enumerate(checkpoints, start=1):
            analyses.append(
                run_analysis(path, trust=trust_pickle, matrix=matrix, jacobian=jacobian)
            )
            if step is not None:
                step(done, len(checkpoints))
    if out is not None:
        _publish(out, analyses, checkpoints, formats, force)
    if json_:
        if len(analyses) == 1:
            print_json(analyses[0].to_dict())
        else:
            print_json(
                {"schema": "rnndyn.analysis-set/1", "analyses": [a.to_dict() for a in analyses]}
            )
        return
    for a in analyses:
        _render(a)
    if out is not None:
        info(f"wrote tables, JSON and figures to {out}")


def _publish(out: Path, analyses, paths: list[Path], formats, force: bool) -> None:
    import pandas as pd

    from rnndyn.io.outputs import staged_output

    with staged_output(out, force=force, formats=formats, protect=paths) as stage:
        stage.run_info.update(
            command="analyze",
            inputs=[
                {"path": str(a.checkpoint.path), "sha256": a.checkpoint.sha256} for a in analyses
            ],
        )
        if len(analyses) == 1:
            _write(stage, analyses[0], formats)
            return
        for name, a in zip(_folder_names(paths), analyses, strict=True):
            _write(stage.subdir(name), a, formats)
        stage.write_table(
            "eigenvalues", pd.concat([a.to_frame() for a in analyses], ignore_index=True)
        )
        stage.write_json(
            "analysis.json",
            {"schema": "rnndyn.analysis-set/1", "analyses": [a.to_dict() for a in analyses]},
        )


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)

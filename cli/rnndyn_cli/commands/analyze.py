"""`rnndyn analyze`: spectra of every recurrent operator in one or more checkpoints."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.options import (
    DEFAULT_FORMATS,
    FORMATS_READ,
    FigureFormats,
    ForceFlag,
    GateOrder,
    Jacobian,
    JsonFlag,
    Layout,
    Matrix,
    OutFolder,
    StyleSheet,
    Top,
    TrustPickle,
)
from rnndyn_cli.render import (
    advance,
    check_out,
    examples,
    finish,
    info,
    parse_formats,
    print_table,
    progress_bar,
    warnings_to_stderr,
)

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.analysis import Analysis
    from rnndyn.outputs.manifest import HashedInput
    from rnndyn.report import Report


def _kind(gate: str | None, qualified_id: str, arch: str) -> str:
    """What an operator is, for the table: a gate weight block (a property of the weight matrix,
    whose τ is not the net's memory), W_hh, or a state Jacobian (the operator that sets the
    dynamics)."""
    if gate in ("jac", "jacfp"):
        where = "at the fixed point" if qualified_id.endswith(".jacfp") else "mean"
        return f"state Jacobian {where}: the dynamics"
    if (gate or "hh") == "hh":
        return "W_hh (before tanh′)" if arch == "rnn" else "W_hh"
    return "gate weight block"


def _rows(analysis: Analysis) -> list[list[Any]]:
    """The printed table; ``Analysis.operators_frame`` (``operators.csv``) holds the same numbers."""
    from rnndyn.conditioning import format_bounded

    rows = []
    for s in analysis.spectrum:
        tau, b = s.timescales, s.error_bound
        finite = np.flatnonzero(np.isfinite(tau))
        rho = s.spectral_radius
        radius: Any = rho
        longest: Any = None
        if b is not None and s.n:  # half-width of the radius interval
            half = max((s.moduli + b).max() - rho, rho - (s.moduli - b).max())
            radius = f"{format_bounded(rho, half)} ±{half:.1g}"
        if finite.size:
            k = finite[np.argmax(tau[finite])]
            r_k = s.moduli[k]  # dτ = τ²·d|λ|/|λ|: the bound carried to the timescale
            longest = format_bounded(tau[k], tau[k] ** 2 * b[k] / r_k) if b is not None else tau[k]
        rows.append(
            [
                s.qualified_id,
                _kind(s.gate, s.qualified_id, s.arch),
                s.n,
                radius,
                s.n_outside_unit_circle,
                s.n_on_unit_circle,
                longest,
                s.eigvec_condition,
                s.departure_from_normality,
                s.residual,
            ]
        )
    return rows


def _render(analysis: Analysis) -> None:
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
        f"{analysis.checkpoint.path} — {desc}; discrete-time eigenvalues; on: ||λ| − 1| within "
        "the error bound the stored precision allows"
        + (
            "; gate weight blocks: eigenvalues of weight-matrix blocks, their τ is not the "
            "net's memory (the state Jacobian, --jacobian, sets the dynamics)"
            if any(mod.arch in ("lstm", "gru") for mod in analysis.modules)
            else ""
        ),
        [
            "operator",
            "what it is",
            "n",
            "radius ± bound",
            "#outside",
            "#on",
            "max finite τ",
            "κ(V)",
            "non-normality",
            "residual",
        ],
        _rows(analysis),
    )
    if analysis.pseudospectra:
        print_table(
            "ε at which each operator's pseudospectrum reaches the unit circle (the smallest ‖E‖₂ "
            "putting an eigenvalue of W + E on it); stored: the perturbation the dtype allows",
            ["operator", "ε to |z| = 1", "at angle θ", "stored ε", "within stored precision"],
            [
                [p.operator, p.margin, p.margin_angle, p.epsilon_stored, p.within_stored_precision]
                for p in analysis.pseudospectra
            ],
        )


def _one_report(analysis: Analysis) -> Report:
    from rnndyn.plots.spectra import (
        modulus_histogram_grid,
        spectrum_grid,
        timescale_spectrum_grid,
    )
    from rnndyn.report import Report

    spectrum, name = analysis.spectrum, analysis.checkpoint.path.name
    report = (
        Report()
        .document("analysis.json", analysis.to_dict())
        .table("eigenvalues", analysis.to_frame())
        .table("operators", analysis.operators_frame())
        .figure("spectrum", lambda: spectrum_grid(spectrum, checkpoint=name))
        .figure("modulus_histogram", lambda: modulus_histogram_grid(spectrum, checkpoint=name))
        .figure("timescales", lambda: timescale_spectrum_grid(spectrum, checkpoint=name))
    )
    if analysis.pseudospectra:
        from rnndyn.plots.pseudospectra import pseudospectra_grid

        items = analysis.pseudospectra
        report.table("pseudospectra", analysis.pseudospectra_frame())
        arch = analysis.modules[0].arch if len(analysis.modules) == 1 else None
        report.figure(
            "pseudospectra", lambda: pseudospectra_grid(items, checkpoint=name, arch=arch)
        )
    return report


def _report(analyses: list[Analysis], paths: list[Path]) -> Report:
    """One checkpoint: its files at the top. Several: one sub-folder each, plus the combined
    eigenvalue table and the ``rnndyn.analysis-set/1`` document at the top."""
    from rnndyn.analysis import analyses_frame, analysis_document, operators_frame
    from rnndyn.report import Report

    inputs: list[HashedInput] = [
        {"path": str(a.checkpoint.path), "sha256": a.checkpoint.sha256} for a in analyses
    ]
    if len(analyses) == 1:
        report = _one_report(analyses[0])
        report.command, report.inputs = "analyze", inputs
        return report
    report = Report(command="analyze", inputs=inputs)
    for name, a in zip(_folder_names(paths), analyses, strict=True):
        report.part(name, _one_report(a))
    report.table("eigenvalues", analyses_frame(analyses))
    report.table("operators", operators_frame(analyses))
    return report.document("analysis.json", analysis_document(analyses))


def _folder_names(paths: list[Path]) -> list[str]:
    from rnndyn.outputs.staging import safe_name

    names: list[str] = []
    used: set[str] = set()
    for p in paths:
        base = safe_name(p.stem or p.name)
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
        ...,
        help=f"Checkpoint file(s). {FORMATS_READ}",
    ),
    json_: JsonFlag = False,
    out: OutFolder = None,
    trust_pickle: TrustPickle = False,
    matrix: Matrix = None,
    format_: FigureFormats = DEFAULT_FORMATS,
    force: ForceFlag = False,
    jacobian: Jacobian = False,
    layout: Layout = None,
    gate_order: GateOrder = None,
    style: StyleSheet = None,
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        min=1,
        help="Operators eigendecomposed at once, one BLAS thread each (default: every core).",
    ),
    pseudospectra: bool = typer.Option(
        False,
        "--pseudospectra",
        help="Also compute each operator's ε-pseudospectrum (contours from the stored precision "
        "up 4 decades; a figure with --out) and the ε at which it reaches the unit circle.",
    ),
    top: Top = None,
    eigvals_only: bool = typer.Option(
        False,
        "--eigvals-only",
        help="Every eigenvalue but no eigenvectors: faster, ~8x less memory; no diagnostics.",
    ),
    full: bool = typer.Option(
        False,
        "--full",
        help="Every eigenpair even for operators of size ≥ 4096 (no automatic --top).",
    ),
    near: str | None = typer.Option(
        None,
        "--near",
        metavar="Z",
        help="With --top K: the K eigenvalues nearest the complex number Z (e.g. 1, 0.9+0.2j) "
        "instead of the largest (shift-invert Arnoldi).",
    ),
) -> None:
    """Eigendecompose every recurrent operator (W_hh, each LSTM/GRU gate block) of each checkpoint.

    With --json the document's schema is rnndyn.analysis/1 for one checkpoint and
    rnndyn.analysis-set/1 (a list of analysis/1 documents) for several.
    """
    from rnndyn._util.threads import available_cores
    from rnndyn.analysis import analysis_document
    from rnndyn.analysis import analyze as run_analysis
    from rnndyn.outputs.invocation import record_resolved

    formats = parse_formats(format_)
    target = _spectrum_options(top, eigvals_only, full, near)
    check_out(out, force=force, protect=checkpoints)
    record_resolved(jobs=available_cores() if jobs is None else jobs)
    if trust_pickle:
        info(
            "warning: --trust-pickle lets full pickles run code from the file; use it only for files you trust."
        )
    analyses = []
    several = len(checkpoints) > 1  # one file: no bar (rich and its refresh thread cost start-up)
    bar_or_none = progress_bar() if several else contextlib.nullcontext()
    with warnings_to_stderr(), bar_or_none as bar:
        step = advance(bar, "analysing") if several else None
        for done, path in enumerate(checkpoints, start=1):
            analyses.append(
                run_analysis(
                    path,
                    trust=trust_pickle,
                    matrix=matrix,
                    jacobian=jacobian,
                    layout=layout,
                    gate_order=gate_order,
                    jobs=jobs,
                    pseudospectra=pseudospectra,
                    top=top,
                    eigvals_only=eigvals_only,
                    full=full,
                    near=target,
                )
            )
            if step is not None:
                step(done, len(checkpoints))
    if out is not None:
        from rnndyn.report import write_report

        write_report(
            _report(analyses, checkpoints),
            out,
            force=force,
            formats=formats,
            protect=checkpoints,
            style=style,
        )
    finish(lambda: analysis_document(analyses), lambda: _render_all(analyses), out, json_)


def _spectrum_options(
    top: int | None, eigvals_only: bool, full: bool, near: str | None
) -> complex | None:
    """Check that --top/--eigvals-only/--full/--near combine; return --near as a complex number."""
    from rnndyn.errors import UsageError

    if sum((top is not None or near is not None, eigvals_only, full)) > 1:
        raise UsageError("--top/--near, --eigvals-only and --full exclude one another")
    if near is None:
        return None
    try:
        return complex(near.replace(" ", "").replace("i", "j"))
    except ValueError:
        raise UsageError(
            f"--near {near!r} is not a complex number", hint="Write it like 1, -0.5 or 0.9+0.2j."
        ) from None


def _render_all(analyses: list) -> None:
    for a in analyses:
        _render(a)


def register(app: typer.Typer) -> None:
    app.command(
        "analyze",
        epilog=examples(
            "rnndyn analyze data/examples/gru_tomita4.pt",
            "rnndyn analyze data/examples/lstm_sine.pt --jacobian --json",
            "rnndyn analyze data/examples/rnn_adding.pt --pseudospectra --out ps",
            "rnndyn analyze data/examples/*.pt --out analysis --format png,pdf",
        ),
    )(analyze)

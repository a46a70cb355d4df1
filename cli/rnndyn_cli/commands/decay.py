"""`rnndyn decay`: predicted vs measured per-mode decay, memory and the Lyapunov spectrum."""

from __future__ import annotations

from pathlib import Path

import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.render import fmt, info, print_json, print_table, warnings_to_stderr

ROWS_SHOWN = 64


def _lam(z: complex) -> str:
    if z.imag == 0:
        return f"{z.real:.4g}"
    return f"{z.real:.4g}{'+' if z.imag > 0 else '−'}{abs(z.imag):.4g}i"


def _ci(lo: float, hi: float) -> str:
    return "—" if lo != lo or hi != hi else f"[{lo:.4g}, {hi:.4g}]"


def _render(result) -> None:
    probe = result.probe
    for md in result.operators:
        rows = []
        for i in range(md.n_modes):
            lo, hi = md.measured_rate_ci[i]
            rows.append(
                [
                    i,
                    _lam(complex(md.eigenvalues[i])),
                    float(md.predicted_rate[i]),
                    float(md.measured_rate[i]),
                    _ci(float(lo), float(hi)),
                    float(md.half_life[i]),
                    float(md.measured_half_life[i]),
                    int(md.fit_steps[i]),
                ]
            )
        title = (
            f"{result.checkpoint} — {md.qualified_id} ({md.source}); probe {probe['spec']} "
            f"B={probe['batch']} T={probe['length']}, window {result.steps} steps; "
            "rates per step (discrete time)"
        )
        print_table(
            title,
            [
                "mode",
                "λ",
                "|λ| (predicted)",
                "measured",
                "95% CI",
                "half-life",
                "measured half-life",
                "fit steps",
            ],
            rows[:ROWS_SHOWN],
        )
    exps = result.lyapunov_exponents
    if exps.size:
        shown = ", ".join(fmt(float(v)) for v in exps[:8])
        info(f"Lyapunov exponents (nats/step): {shown}{' …' if exps.size > 8 else ''}")
    mc = result.memory_capacity
    if mc is not None:
        bound = (
            f"≤ {_state_dim(result)} for i.i.d. noise"
            if result.probe["kind"] == "noise"
            else ("input not i.i.d.: includes its autocorrelation")
        )
        info(f"memory capacity Σ_k R²(x_t−k): {fmt(mc)} ({bound})")
    for note in result.notes:
        info(f"note: {note}")


def _state_dim(result) -> int:
    m = result.module
    nd = 2 if m["bidirectional"] else 1
    return m["num_layers"] * nd * (m["proj_size"] or m["hidden_size"])


def _write(out: Path, result, paths: list[Path], formats, force: bool) -> None:
    from rnndyn.io.outputs import staged_output
    from rnndyn.plots import decay as plots
    from rnndyn.plots.style import style_context

    with staged_output(out, force=force, formats=formats, protect=paths) as stage:
        stage.write_json("decay.json", result.to_dict())
        stage.write_table("decay_modes", result.modes_frame())
        stage.write_table("decay_curves", result.to_frame())
        stage.write_table("modal_energy", result.energy_frame())
        stage.write_table("lyapunov", result.lyapunov_frame())
        stage.write_table("memory", result.memory_frame())
        with style_context():
            stage.write_figure("effective_spectrum", plots.effective_spectrum(result).figure)
            stage.write_figure("memory_function", plots.memory_function(result).figure)
            stage.write_figure("lyapunov_spectrum", plots.lyapunov_spectrum(result).figure)
            for md in result.operators:
                name = md.qualified_id.replace(":", "_")
                stage.write_figure(f"decay_curves_{name}", plots.decay_curves(md).figure)
                stage.write_figure(f"modal_energy_{name}", plots.modal_energy(md).figure)


@boundary
def decay(
    checkpoint: Path = typer.Argument(..., help="Checkpoint file: .pt/.pth/.ckpt/.safetensors."),
    probe: str = typer.Option(
        "noise", "--probe", help="zeros | noise[:STD] | impulse | task:NAME | FILE.npy"
    ),
    steps: int = typer.Option(
        100, "--steps", help="Measurement window K (steps; at most the probe length)."
    ),
    length: int | None = typer.Option(
        None, "--length", help="Length of generated probes (default 2K)."
    ),
    modes: int | None = typer.Option(
        None, "--modes", help="Top modes per operator by |λ| (default min(n, 64))."
    ),
    operator: list[str] | None = typer.Option(
        None,
        "--operator",
        help="Operator id(s), e.g. l0.fwd.hh, l0.fwd.jac, l0.fwd.jacfp (repeatable).",
    ),
    batch: int | None = typer.Option(
        None, "--batch", help="Probe batch size (default 32 for noise/task)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of generated probes and the Lyapunov frame."),
    json_: bool = typer.Option(
        False, "--json", help="Print one JSON document (schema rnndyn.decay.measure/1)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write tables, JSON and figures to this folder."
    ),
    trust_pickle: bool = typer.Option(
        False,
        "--trust-pickle",
        help="Allow full pickles (runs code from the file: only for files you trust).",
    ),
    format_: str = typer.Option(
        "pdf,png", "--format", help="Figure formats for --out: pdf,png,svg."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace rnndyn's own previous outputs in --out."
    ),
    float64: bool = typer.Option(
        False, "--float64", help="Propagate perturbations in float64 (slower)."
    ),
) -> None:
    """Predicted (|λ|^k) vs measured decay of every mode, memory functions and Lyapunov spectrum."""
    import torch

    from rnndyn.decay.measure import measure_decay
    from rnndyn.io.checkpoint import load
    from rnndyn_cli.render import parse_formats

    formats = parse_formats(format_)
    with warnings_to_stderr():
        ckpt = load(checkpoint, trust=trust_pickle)
        result = measure_decay(
            ckpt,
            probe=probe,
            steps=steps,
            modes=modes,
            operators=operator or None,
            batch=batch,
            length=length,
            seed=seed,
            dtype=torch.float64 if float64 else torch.float32,
        )
    if out is not None:
        inputs = [checkpoint] + ([Path(probe)] if Path(probe).is_file() else [])
        _write(out, result, inputs, formats, force)
    if json_:
        print_json(result.to_dict())
        for note in result.notes:
            info(f"note: {note}")
        return
    _render(result)
    if out is not None:
        info(f"wrote tables, JSON and figures to {out}")


def register(app: typer.Typer) -> None:
    app.command("decay")(decay)

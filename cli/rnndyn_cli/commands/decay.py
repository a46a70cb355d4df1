"""`rnndyn decay`: predicted vs measured per-mode decay, leakage, memory and the Lyapunov spectrum."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    fmt,
    info,
    parse_formats,
    print_json,
    print_table,
    progress_bar,
    stages,
    warnings_to_stderr,
)

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.decay.results import DecayResult, ModeDecay
    from rnndyn.outputs.manifest import HashedInput
    from rnndyn.report import Report

ROWS_SHOWN = 64
PARTS = ("rates", "lyapunov", "memory")


def parse_only(value: str | None) -> set[str]:
    """``"rates,lyapunov"`` → the parts of ``decay`` to run (all when None); a usage error for
    unknown names, with the closest known one."""
    from rnndyn.errors import UsageError, did_you_mean

    if value is None:
        return set(PARTS)
    parts = {p.strip().lower() for p in value.split(",") if p.strip()}
    bad = sorted(parts - set(PARTS))
    if bad or not parts:
        hint = did_you_mean(bad[0], PARTS) if bad else ""
        raise UsageError(
            f"--only {value!r}: choose any of {', '.join(PARTS)} (comma-separated){hint}"
        )
    return parts


COLUMNS = [
    "mode",
    "λ",
    "|λ| (predicted)",
    "own rate",
    "95% CI",
    "fit steps",
    "fit RMS (nats)",
    "in eigenspace after 1 / 5 (‖Qδ‖/‖δ‖)",
    "whole rate",
    "95% CI ",
]


def _lam(z: complex) -> str:
    if z.imag == 0:
        return f"{z.real:.4g}"
    return f"{z.real:.4g}{'+' if z.imag > 0 else '−'}{abs(z.imag):.4g}i"


def _ci(lo: float, hi: float) -> str:
    return "—" if lo != lo or hi != hi else f"[{lo:.4g}, {hi:.4g}]"


def _rows(md: ModeDecay) -> list[list[Any]]:
    frac = md.eigenspace_projection  # orthogonal projection: a share in [0, 1]
    at1, at5 = min(1, md.steps), min(5, md.steps)
    whole, wci = md.whole_rate, md.whole_rate_ci
    rmse = md.fit_rmse
    return [
        [
            i,
            _lam(complex(md.eigenvalues[i])),
            float(md.predicted_rate[i]),
            float(md.measured_rate[i]),
            _ci(*map(float, md.measured_rate_ci[i])),
            int(md.fit_steps[i]) or "—",
            float(rmse[i]),
            f"{frac[i, at1]:.0%} / {frac[i, at5]:.0%}",
            float(whole[i]),
            _ci(*map(float, wci[i])),
        ]
        for i in range(md.n_modes)
    ]


def _render(result: DecayResult) -> None:
    probe = result.probe
    for md in result.operators:
        title = (
            f"{result.checkpoint} — {md.qualified_id} ({md.source}); probe {probe['spec']} "
            f"B={probe['batch']} T={probe['length']}, window {result.steps} steps; rates per step "
            "(discrete time). own: decay inside the mode's eigenspace (fitted only where valid); "
            "whole: norm growth of the perturbation started along the mode"
        )
        print_table(title, COLUMNS, _rows(md)[:ROWS_SHOWN])
        seen = set()
        for i in range(min(md.n_modes, ROWS_SHOWN)):
            reason = md.rate_reason[i] if i < len(md.rate_reason) else None
            if reason and md.eigenvalues[i].imag >= 0 and i not in seen:
                seen.add(i)
                info(f"mode {i}: no own rate — {reason}")
    exps = result.lyapunov_exponents
    if exps.size:
        shown = ", ".join(fmt(float(v)) for v in exps[:8])
        state = {True: "converged", False: "NOT converged (see notes)", None: ""}
        info(
            f"Lyapunov exponents (nats/step): {shown}{' …' if exps.size > 8 else ''} "
            f"[{state[result.lyapunov_converged]}]"
        )
    mc = result.memory_capacity
    if mc is not None:
        bound = (
            f"≤ {_state_dim(result)} for i.i.d. noise"
            if result.probe["kind"] == "noise"
            else "input not i.i.d.: includes its autocorrelation"
        )
        by = result.memory_capacity_by_channel
        per = (
            f"; per input channel {', '.join(fmt(float(v)) for v in by)}"
            if by is not None and by.size > 1
            else ""
        )
        info(f"memory capacity Σ_k R²(x_t−k), held-out: {fmt(mc)} ({bound}{per})")
    for note in result.notes:
        info(f"note: {note}")


def _state_dim(result: DecayResult) -> int:
    m = result.module
    nd = 2 if m["bidirectional"] else 1
    return m["num_layers"] * nd * (m["proj_size"] or m["hidden_size"])


def _report(result: DecayResult, inputs: list[HashedInput]) -> Report:
    from rnndyn.plots import decay as plots
    from rnndyn.report import Report

    measured = set(result.settings.get("measured", PARTS))
    report = Report(command="decay", inputs=inputs).document("decay.json", result.to_dict())
    if "rates" in measured:
        report.table("decay_modes", result.modes_frame())
        report.table("decay_curves", result.to_frame())
        report.table("modal_energy", result.energy_frame())
        report.figure("effective_spectrum", lambda: plots.effective_spectrum(result))
    if "lyapunov" in measured:
        report.table("lyapunov", result.lyapunov_frame())
        report.figure("lyapunov_spectrum", lambda: plots.lyapunov_spectrum(result))
    if "memory" in measured:
        report.table("memory", result.memory_frame())
        report.figure("memory_function", lambda: plots.memory_function(result))
    for j, md in enumerate(result.operators):
        name = md.qualified_id.replace(":", "_")
        report.figure(f"decay_curves_{name}", partial(plots.decay_grid, result, operator=j))
        report.figure(
            f"eigenspace_{name}", partial(plots.eigenspace_projection, result, operator=j)
        )
        report.figure(f"modal_energy_{name}", partial(plots.modal_energy, result, operator=j))
    return report


@boundary
def decay(
    checkpoint: Path = typer.Argument(..., help=f"Checkpoint file. {FORMATS_READ}"),
    probe: str = typer.Option(
        "noise", "--probe", help="zeros | noise[:STD] | impulse | task:NAME | FILE.npy"
    ),
    steps: int = typer.Option(
        100, "--steps", help="Measurement window K (steps; at most the probe length)."
    ),
    length: int | None = typer.Option(
        None, "--length", help="Length of generated probes (default max(2K, 1000))."
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
    seed: Seed = 0,
    min_fit_steps: int = typer.Option(
        5, "--min-fit-steps", help="Fit a mode's own rate only over at least this many steps."
    ),
    linear_tol: float = typer.Option(
        0.1,
        "--linear-tol",
        help="Fit only where the log amplitude stays within this many nats (RMS) of a line.",
        callback=finite,
    ),
    json_: JsonFlag = False,
    out: OutFolder = None,
    trust_pickle: TrustPickle = False,
    format_: FigureFormats = DEFAULT_FORMATS,
    force: ForceFlag = False,
    float64: bool = typer.Option(
        False,
        "--float64",
        help="Propagate perturbations in float64 (slower; chosen automatically where needed).",
    ),
    style: StyleSheet = None,
    only: str | None = typer.Option(
        None,
        "--only",
        help="Run only these parts, comma-separated: rates, lyapunov, memory (default: all).",
    ),
    lyapunov_exponents: int | None = typer.Option(
        None,
        "--lyapunov-exponents",
        min=1,
        help="Leading Lyapunov exponents per layer (default: all, the state size; "
        "independent of --modes).",
    ),
) -> None:
    """Predicted (|λ|^k) vs measured decay of every mode — its own rate, leakage out of its
    eigenspace and the whole perturbation's rate — memory functions and the Lyapunov spectrum.

    With --json the document's schema is rnndyn.decay/2."""
    import torch

    from rnndyn.decay.measure import measure_decay
    from rnndyn.outputs.invocation import record_resolved
    from rnndyn.readers.checkpoint import load

    formats = parse_formats(format_)
    parts = parse_only(only)
    check_out(out, force=force, protect=[checkpoint])  # before minutes of simulation
    with warnings_to_stderr(), progress_bar() as bar:
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
            min_fit_steps=min_fit_steps,
            linear_tol=linear_tol,
            rates="rates" in parts,
            lyapunov="lyapunov" in parts,
            memory="memory" in parts,
            lyapunov_exponents=lyapunov_exponents,
            progress=stages(bar, "decay"),
        )
    record_resolved(
        length=result.probe.get("length"),
        batch=result.probe.get("batch"),
        modes=max((md.n_modes for md in result.operators), default=None),
        lyapunov_exponents=result.settings.get("lyapunov_exponents"),
        only=",".join(result.settings.get("measured", PARTS)),
    )
    if out is not None:
        from rnndyn.report import write_report

        protect = [checkpoint] + ([Path(probe)] if Path(probe).is_file() else [])
        inputs: list[HashedInput] = [{"path": str(ckpt.path), "sha256": ckpt.sha256}]
        write_report(
            _report(result, inputs),
            out,
            force=force,
            formats=formats,
            protect=protect,
            style=style,
        )
    if json_:
        print_json(result.to_dict())
        for note in result.notes:
            info(f"note: {note}")
        return
    _render(result)
    if out is not None:
        info(f"wrote tables, JSON, figures and manifest.json to {out}")


def register(app: typer.Typer) -> None:
    app.command(
        "decay",
        epilog=examples(
            "rnndyn decay data/examples/rnn_adding.pt --steps 50",
            "rnndyn decay data/examples/gru_tomita4.pt --probe noise:0.5 --modes 8 --out decay-gru",
            "rnndyn decay data/examples/lstm_sine.pt --operator l0.fwd.jac --json",
        ),
    )(decay)

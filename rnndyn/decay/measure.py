"""Per-mode decay of information: the linear prediction ``|λ|^k`` beside what the network really does.

For each chosen operator and its top-``N`` modes (by ``|λ|``; default ``min(n, 64)``):

- predicted: ``|λ|^k``, timescale ``−1/ln|λ|``, half-life;
- measured, on a perturbation along the mode (real basis for a pair) pushed through the real
  per-step Jacobians of the last ``steps`` probe steps (``rnndyn.decay.propagation``): its own rate
  (fitted only where valid, else null with the reason), its eigenspace fraction per lag (leakage) and
  the rate of the whole perturbation (``rnndyn.decay.fit``);
- memory: held-out R² of ``x_{t−k}`` from the mode's coordinates, per lag (``rnndyn.decay.memory``);
- the network's Lyapunov spectrum along the whole probe (a quarter of it warm-up), over the first
  ``LYAPUNOV_BATCH`` (8) sequences, with a two-halves convergence check (``rnndyn.decay.lyapunov``).

Which operator's modes: for a vanilla RNN (and a custom matrix) the recurrent matrix ``hh``, whose
Jacobian at ``h = 0`` it is. For LSTM and GRU no gate block is the state map, so the default is the
**mean state Jacobian along the probe window** (``l*.*.jac``; LSTM state ``[h; c]``); the Jacobian at
the zero-input fixed point is ``l*.*.jacfp``, and any catalogue id can be chosen with ``operators``.
Gate blocks are perturbed in ``h`` (LSTM: ``c`` unperturbed) and read back from ``h``. The analysis is
in the spirit of Dou & Principe's information-decay view; the recipe here is rnndyn's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnndyn.decay.fit import LINEAR_TOL, MIN_FIT_STEPS, fit_rates
from rnndyn.decay.lyapunov import network_lyapunov
from rnndyn.decay.memory import memory_fit, network_memory
from rnndyn.decay.precision import job_dtype
from rnndyn.decay.propagation import propagate
from rnndyn.decay.results import DecayResult, ModeDecay
from rnndyn.dynamics.health import check_budget, check_seed
from rnndyn.dynamics.jacobian import JacobianOperator, jacobian_operators
from rnndyn.dynamics.modal import modal_coordinates, real_basis
from rnndyn.dynamics.network import Network, resolve_network
from rnndyn.dynamics.probes import DEFAULT_BATCH, Probe, build_probe, default_length
from rnndyn.dynamics.trajectories import Trajectories, run_network
from rnndyn.errors import UsageError
from rnndyn.naming import JAC, JAC_FP, VANILLA, id_grid
from rnndyn.operators import RecurrentModule, RecurrentOperator
from rnndyn.readers.checkpoint import Checkpoint
from rnndyn.spectrum import OperatorSpectrum
from rnndyn.topk import modal_spectra

__all__ = ["DecayResult", "ModeDecay", "measure_decay", "operator_ids"]
DEFAULT_MODES = 64


@dataclass(frozen=True)
class _Settings:
    steps: int
    modes: int | None
    dtype: torch.dtype
    seed: int
    min_fit_steps: int
    linear_tol: float

    def n_modes(self, n: int) -> int:
        return min(n, DEFAULT_MODES) if self.modes is None else self.modes


def operator_ids(module: RecurrentModule) -> list[str]:
    """Every operator id ``measure_decay`` accepts for ``module`` (gate blocks, ``jac``, ``jacfp``)."""
    gates = [*module.gates, *((JAC, JAC_FP) if module.arch != "custom" else ())]
    return id_grid(module.num_layers, module.directions, gates)


def _select(ckpt: Checkpoint | Network, module, operators) -> tuple[Network, list[str]]:
    """The resolved network and the operator ids to analyse (UsageError listing the valid ids)."""
    wanted = [operators] if isinstance(operators, str) else list(operators or [])
    names = {w.split(":", 1)[0] for w in wanted if ":" in w}
    if module is None and len(names) == 1:
        module = names.pop()
    net = resolve_network(ckpt, module)
    mod = net.module
    valid = operator_ids(mod)
    if not wanted:
        kind = VANILLA if mod.arch in ("rnn", "custom") else JAC
        return net, [i for i in valid if i.endswith("." + kind)]
    prefix = f"{mod.name}:" if mod.name else ""
    ids = [w[len(prefix) :] if prefix and w.startswith(prefix) else w for w in wanted]
    bad = [w for w, i in zip(wanted, ids, strict=True) if i not in valid]
    if bad:
        raise UsageError(
            f"unknown operator id(s) {', '.join(map(repr, bad))}",
            path=net.path,
            hint=f"Valid ids for module {mod.name or '(root)'!r}: {', '.join(valid)}.",
        )
    return net, list(dict.fromkeys(ids))


def _check_sizes(net: Network, probe: Any, s: _Settings, batch: int | None, length: int | None):
    """Refuse up front (UsageError with an estimate) a seed or sizes this machine cannot hold: the
    probe, the simulation and the tangents together, so the stages below check nothing again."""
    check_seed(s.seed)
    if int(s.steps) <= 0:
        raise UsageError(f"--steps must be a positive number of steps, got {s.steps}")
    if s.modes is not None and int(s.modes) <= 0:
        raise UsageError(f"--modes must be positive, got {s.modes}")
    if int(s.min_fit_steps) < 2 or not s.linear_tol > 0:
        raise UsageError("the fit needs at least 2 steps and a positive linearity tolerance")
    if isinstance(probe, np.ndarray):
        b, t_len = probe.shape[0], probe.shape[1] if probe.ndim > 1 else 1
    else:
        kind = str(probe).split(":", 1)[0].strip().lower()
        b = batch or DEFAULT_BATCH.get(kind) or 32
        t_len = length or default_length(s.steps)
    mod = net.module
    width = (mod.proj_size or mod.hidden_size) + (mod.hidden_size if mod.arch == "lstm" else 0)
    states = mod.num_layers * len(mod.directions) * width
    cols = s.n_modes(width)
    per_step = b * (4 * (mod.input_size or 1) + 8 * 3 * states + 8 * 2 * cols)
    check_budget(
        float(t_len) * per_step + float(min(s.steps, t_len) + 1) * b * cols * 8 * 4,
        f"a {b} × {t_len}-step probe with a {min(s.steps, t_len)}-step window",
    )


def _probe(net: Network, probe, s: _Settings, batch: int | None, length: int | None) -> Probe:
    meta = net.metadata
    own_task = isinstance(probe, str) and probe.lower() == f"task:{meta.get('task')}"
    pr = build_probe(
        probe,
        net.module,
        steps=s.steps,
        batch=batch,
        length=length,
        seed=s.seed,
        task_params=meta.get("task_params") if own_task else None,
        path=net.path,
    )
    if s.steps > pr.length:
        raise UsageError(
            f"--steps {s.steps} is larger than the probe ({pr.length} steps)",
            hint=f"Use --steps {pr.length} or less, or a longer probe.",
        )
    return pr


def _catalogue(
    net: Network, ids: list[str], traj: Trajectories, start: int
) -> tuple[list[RecurrentOperator], list[str]]:
    ops = {op.id: op for op in net.operators}
    notes = []
    kinds = tuple(
        k
        for k, suf in (("mean", f".{JAC}"), ("fixed_point", f".{JAC_FP}"))
        if any(i.endswith(suf) for i in ids)
    )
    for op in jacobian_operators(net, traj=traj, start=start, kinds=kinds) if kinds else ():
        ops[op.id] = op
        if op.kind == "fixed_point" and not op.converged:
            notes.append(
                f"{op.id}: the zero-input fixed point did not converge "
                f"(relative residual {op.residual:.2g} after {op.iterations} Newton steps)"
            )
    return [ops[i] for i in ids], notes


def _measure_operator(
    net: Network,
    traj: Trajectories,
    op: RecurrentOperator,
    spec: OperatorSpectrum,
    s: _Settings,
    lags: int | None,
    notes: list[str],
) -> ModeDecay:
    """Propagate, fit and decode the top modes of one operator."""
    if spec.ill_conditioned:
        notes.append(
            f"{op.id}: eigenvector matrix ill-conditioned (κ(V) ≈ {spec.eigvec_condition:.2g}); "
            "modal coordinates and own rates are unreliable"
        )
    basis = real_basis(spec, s.n_modes(op.n))
    run = traj.runs[(op.layer, op.direction)]
    p = run.params  # the weights the simulation ran with (``run_network`` records them)
    if p is None:
        p = net.layer(op.layer, op.direction, input_size=run.inputs.shape[-1])
    prop = propagate(p, basis, run.trace, s.steps, dtype=s.dtype)
    if s.dtype != torch.float64 and not np.isfinite(prop.log_norm).all():
        prop = propagate(p, basis, run.trace, s.steps, dtype=torch.float64)
        notes.append(
            f"{op.id}: a perturbation vanished in float32 (saturated units); redone in float64"
        )
    rates = fit_rates(prop, min_steps=s.min_fit_steps, linear_tol=s.linear_tol)
    coords = modal_coordinates(
        run.full_states if op.n != run.states.shape[-1] else run.states, basis, dtype=s.dtype
    )
    with np.errstate(over="ignore"):
        energy = coords.energy.mean(axis=1)
    g = basis.mode_group
    memory = None
    if lags is not None:
        memory = memory_fit(coords.coords, traj.inputs, lags, groups=basis.col_group).summed[g]
    return ModeDecay(
        identity=op.identity,
        source=op.source,
        n=op.n,
        eigenvalues=basis.eigenvalues,
        measured_rate=rates.own[g],
        measured_rate_ci=rates.own_ci[g],
        fit_steps=rates.fit_steps[g],
        log_curve=prop.log_amplitude.mean(axis=1).T[g],
        energy=energy,
        memory=memory,
        info=op.info() if isinstance(op, JacobianOperator) else {},
        fit_rmse=rates.fit_rmse[g],
        fit_r2=rates.fit_r2[g],
        rate_reason=tuple(rates.reason[i] for i in g),
        whole_rate=rates.whole[g],
        whole_rate_ci=rates.whole_ci[g],
        whole_reason=tuple(rates.whole_reason[i] for i in g),
        norm_curve=prop.log_norm.mean(axis=1).T[g],
        eigenspace=prop.eigenspace.mean(axis=1).T[g],
        projection=prop.projection.mean(axis=1).T[g],
    )


def _precision(
    net: Network, traj: Trajectories, spectra: list[OperatorSpectrum], s: _Settings
) -> tuple[_Settings, str | None]:
    """Settings with the tangent precision raised to float64 where float32 cannot be trusted."""
    dtype, note = job_dtype(
        s.dtype,
        [traj.hidden, traj.cell],
        [p.w_hh for p in net.params.values()],
        [sp.eigvec_condition for sp in spectra],
    )
    return _Settings(**{**s.__dict__, "dtype": dtype}), note


def measure_decay(
    ckpt: Checkpoint | Network | Any,
    *,
    probe: str | np.ndarray = "noise",
    steps: int = 100,
    modes: int | None = None,
    operators: str | list[str] | None = None,
    module: RecurrentModule | str | None = None,
    batch: int | None = None,
    length: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    memory: bool = True,
    lyapunov: bool = True,
    rates: bool = True,
    lyapunov_exponents: int | None = None,
    min_fit_steps: int = MIN_FIT_STEPS,
    linear_tol: float = LINEAR_TOL,
    progress: Callable[[int, int | None, str], None] | None = None,
) -> DecayResult:
    """Predicted vs measured per-mode decay, memory functions and the Lyapunov spectrum.

    Args:
        ckpt: a ``Checkpoint`` or ``Network``, a path, an ``nn.Module`` or a state dict.
        probe: ``"zeros"``, ``"noise[:STD]"``, ``"impulse"``, ``"task:NAME"``, a ``.npy`` path, or an
            array ``(B, T, D)`` (see ``rnndyn.dynamics.probes``).
        steps: measurement window ``K`` (the last ``K`` probe steps; ``1 ≤ K ≤ T``); also the largest
            memory lag (capped at ``T // 2``). Generated probes are ``length`` (default
            ``max(2K, 1000)``) long.
        modes: top modes per operator by ``|λ|`` (default ``min(n, 64)``; a split pair is completed).
        operators: operator ids (``"l0.fwd.hh"``, ``"l0.fwd.jac"``, ``"l0.fwd.jacfp"``, …; see
            ``operator_ids``); default: ``hh`` for RNNs, ``jac`` (mean Jacobian) for LSTM/GRU.
        dtype: precision of the perturbation and Lyapunov GEMMs (simulation is float64); raised to
            float64 automatically, with a note, where float32 cannot be trusted.
        min_fit_steps: a mode's own rate is fitted only over at least this many steps ...
        linear_tol: ... on which its log amplitude stays within this many nats (RMS) of a line.
        memory: compute the memory function (Jaeger's capacity).
        lyapunov: compute the Lyapunov spectrum.
        rates: measure the per-mode rates of each operator. Any subset of the three parts, at
            least one.
        lyapunov_exponents: how many leading Lyapunov exponents per layer and direction (default
            all: the state size); independent of ``modes``.
        progress: ``progress(done, total, phase)`` as each phase (simulation, each operator,
            Lyapunov, memory) starts; ``total`` is ``None`` until the operators are known.

    Raises:
        UsageError: unknown operator id, bad or too large ``steps``/``batch``/``length``/``seed``;
        InvalidInputError: bad probe file; CheckpointError: NaN/Inf weights;
        SimulationError: the network's states left the floating-point range on the probe.
    """
    s = _Settings(int(steps), modes, dtype, seed, int(min_fit_steps), float(linear_tol))
    if not (memory or lyapunov or rates):
        raise UsageError("nothing to measure: ask for at least one of rates, lyapunov, memory")
    if lyapunov_exponents is not None and int(lyapunov_exponents) < 1:
        raise UsageError(f"--lyapunov-exponents must be positive, got {lyapunov_exponents}")
    net, ids = _select(ckpt, module, operators)
    _check_sizes(net, probe, s, batch, length)
    pr = _probe(net, probe, s, batch, length)
    tick = progress or (lambda done, total, phase: None)
    tick(0, None, "simulating the probe")
    traj = run_network(net, pr.inputs, dtype=torch.float64)
    notes = _module_notes(net)
    ops, more = _catalogue(net, ids, traj, pr.length - s.steps) if rates else ([], [])
    spectra, partial = modal_spectra(ops, s.n_modes) if ops else ([], [])  # top modes for n ≥ 4096
    s, precision = _precision(net, traj, list(spectra), s)
    notes += more + list(partial) + ([precision] if precision else [])
    lags = _memory_lags(pr, s.steps, notes) if memory else None
    total = 1 + len(ops) + int(lyapunov) + int(lags is not None)
    n_exp = _state_size(net) if lyapunov_exponents is None else int(lyapunov_exponents)
    results = []
    for i, (op, spec) in enumerate(zip(ops, spectra, strict=True)):
        tick(1 + i, total, f"measuring {op.id}")
        results.append(_measure_operator(net, traj, op, spec, s, lags, notes))
    tick(1 + len(ops), total, "Lyapunov spectrum" if lyapunov else "memory function")
    lyap, exps = (
        network_lyapunov(net, traj, n_exp, s.dtype, s.seed, notes)
        if lyapunov
        else ((), np.empty(0))
    )
    if lyapunov and lags is not None:
        tick(total - 1, total, "memory function")
    channels = network_memory(net, traj, lags, pr, notes) if lags is not None else None
    tick(total, total, "done")
    return DecayResult(
        checkpoint=net.path,
        sha256=net.sha256,
        module=net.module.to_dict(),
        probe=pr.to_dict(),
        steps=s.steps,
        operators=tuple(results),
        lyapunov=lyap,
        lyapunov_exponents=exps,
        memory_function=None if channels is None else _channel_sum(channels),
        dtype=str(s.dtype).removeprefix("torch."),
        format=net.format,
        notes=tuple(notes),
        memory_channels=channels,
        settings={
            "min_fit_steps": s.min_fit_steps,
            "linear_tol_nats": s.linear_tol,
            "purity": 0.5,
            "measured": [
                k for k, on in (("rates", rates), ("lyapunov", lyapunov), ("memory", memory)) if on
            ],
            "lyapunov_exponents": min(n_exp, _state_size(net)) if lyapunov else None,
        },
    )


def _state_size(net: Network) -> int:
    """The size of one layer-direction's state (``[h; c]`` for LSTM): every Lyapunov exponent."""
    mod = net.module
    return (mod.proj_size or mod.hidden_size) + (mod.hidden_size if mod.arch == "lstm" else 0)


def _memory_lags(pr: Probe, steps: int, notes: list[str]) -> int | None:
    """The largest lag to decode (``min(steps, T // 2)``), or None with a note when nothing can be."""
    if not (np.ptp(pr.inputs, axis=(0, 1)) > 0).any():
        notes.append(
            "memory: the probe input does not vary, so nothing can be decoded from it "
            "(use --probe noise for memory functions)"
        )
        return None
    lags = min(steps, pr.length // 2)
    if pr.length - lags < 4:
        notes.append("memory: the probe is too short for lagged decoding")
        return None
    return lags


def _channel_sum(r2: np.ndarray) -> np.ndarray:
    ok = np.isfinite(r2).any(-1)
    return np.where(ok, np.nansum(r2, -1), np.nan)


def _module_notes(net: Network) -> list[str]:
    notes = []
    mod = net.module
    if net.others:
        notes.append(
            f"analysed module {mod.name or '(root)'!r}; the checkpoint also holds "
            f"{', '.join(net.others)} (choose with --operator MODULE:ID)"
        )
    if mod.arch == "custom":
        notes.append(
            "custom matrix: simulated as h_t = tanh(W h_{t-1}); the probe input is ignored"
        )
    return notes

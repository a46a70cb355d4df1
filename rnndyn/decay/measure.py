"""Per-mode decay of information: the linear prediction ``|λ|^k`` beside what the network really does.

For each chosen operator and its top-``N`` modes (by ``|λ|``; default ``min(n, 64)``):

- predicted: ``|λ|^k``, timescale ``−1/ln|λ|``, half-life;
- measured: a perturbation along the mode (real basis for a pair) propagated through the real
  per-step Jacobians of the last ``steps`` probe steps, read back in modal coordinates, with a fitted
  per-step rate and a 95 % interval over the batch (``rnndyn.decay.propagation``);
- memory: held-out ridge R² of ``x_{t−k}`` from the mode's coordinates, per lag (``rnndyn.decay.memory``);
- the network's Lyapunov spectrum along the last ``2·steps`` probe steps, over the first
  ``LYAPUNOV_BATCH`` (8) sequences (``rnndyn.decay.lyapunov``).

Which operator's modes: for a vanilla RNN (and a custom matrix) the recurrent matrix ``hh``, whose
Jacobian at ``h = 0`` it is. For LSTM and GRU no gate block is the state map, so the default is the
**mean state Jacobian along the probe window** (``l*.*.jac``; LSTM state ``[h; c]``); the Jacobian at
the zero-input fixed point is ``l*.*.jacfp``, and any catalogue id can be chosen with ``operators``.
Gate blocks are perturbed in ``h`` (LSTM: ``c`` unperturbed) and read back from ``h``. The analysis is
in the spirit of Dou & Principe's information-decay view; the recipe here is rnndyn's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rnndyn.decay.lyapunov import lyapunov_spectrum, network_exponents
from rnndyn.decay.memory import memory_r2
from rnndyn.decay.propagation import propagate
from rnndyn.decay.results import DecayResult, ModeDecay
from rnndyn.dynamics.jacobian import JacobianOperator, jacobian_operators
from rnndyn.dynamics.modal import ModalBasis, modal_coordinates, real_basis
from rnndyn.dynamics.network import layer_params, pick_module
from rnndyn.dynamics.probes import make_probe
from rnndyn.dynamics.trajectories import Trajectories, check_inputs, simulate
from rnndyn.errors import UsageError
from rnndyn.io.checkpoint import Checkpoint
from rnndyn.operators import RecurrentModule, find_modules, module_operators
from rnndyn.spectrum import eigendecompose

__all__ = ["DecayResult", "ModeDecay", "measure_decay", "operator_ids"]
DEFAULT_MODES = 64
LYAPUNOV_BATCH = 8


def operator_ids(module: RecurrentModule) -> list[str]:
    """Every operator id ``measure_decay`` accepts for ``module`` (gate blocks, ``jac``, ``jacfp``)."""
    ids = []
    for layer in range(module.num_layers):
        for direction in module.directions:
            d = "fwd" if direction == "forward" else "rev"
            ids += [f"l{layer}.{d}.{g or 'hh'}" for g in module.gates]
            if module.arch != "custom":
                ids += [f"l{layer}.{d}.jac", f"l{layer}.{d}.jacfp"]
    return ids


def _resolve(ckpt: Checkpoint, module, operators) -> tuple[RecurrentModule, list[str]]:
    """The module and the operator ids to analyse (UsageError listing the valid ids)."""
    wanted = [operators] if isinstance(operators, str) else list(operators or [])
    names = {w.split(":", 1)[0] for w in wanted if ":" in w}
    if module is None and len(names) == 1:
        module = names.pop()
    mod = pick_module(ckpt, module)
    valid = operator_ids(mod)
    if not wanted:
        kind = "hh" if mod.arch in ("rnn", "custom") else "jac"
        return mod, [i for i in valid if i.endswith("." + kind)]
    prefix = f"{mod.name}:" if mod.name else ""
    ids = [w[len(prefix) :] if prefix and w.startswith(prefix) else w for w in wanted]
    bad = [w for w, i in zip(wanted, ids, strict=True) if i not in valid]
    if bad:
        raise UsageError(
            f"unknown operator id(s) {', '.join(map(repr, bad))}",
            path=ckpt.path,
            hint=f"Valid ids for module {mod.name or '(root)'!r}: {', '.join(valid)}.",
        )
    return mod, list(dict.fromkeys(ids))


def _catalogue(ckpt, mod, ids, traj, start) -> tuple[list, list[str]]:
    ops = {op.id: op for op in module_operators(ckpt, mod)}
    notes = []
    kinds = tuple(
        k
        for k, suf in (("mean", ".jac"), ("fixed_point", ".jacfp"))
        if any(i.endswith(suf) for i in ids)
    )
    if kinds:
        for op in jacobian_operators(ckpt, mod, traj, start=start, kinds=kinds):
            ops[op.id] = op
            if op.kind == "fixed_point" and not op.converged:
                notes.append(
                    f"{op.id}: the zero-input fixed point did not converge "
                    f"(relative residual {op.residual:.2g} after {op.iterations} Newton steps)"
                )
    return [ops[i] for i in ids], notes


def _info(op) -> dict[str, Any]:
    if not isinstance(op, JacobianOperator):
        return {}
    if op.kind == "mean":
        return {"jacobian": "mean", "samples": op.samples}
    return {
        "jacobian": "fixed_point",
        "converged": op.converged,
        "residual": op.residual,
        "iterations": op.iterations,
    }


def _one_operator(ckpt, traj: Trajectories, op, spec, n_modes, steps, lags, dtype) -> ModeDecay:
    basis: ModalBasis = real_basis(spec, n_modes)
    p = layer_params(
        ckpt,
        traj.module,
        op.layer,
        op.direction,
        dtype=torch.float64,
        input_size=traj.layer_inputs(op.layer).shape[-1],
    )
    prop = propagate(p, basis, traj.trace(op.layer, op.direction), steps, dtype=dtype)
    full = op.n != traj.hidden.shape[-1]
    coords = modal_coordinates(traj.states(op.layer, op.direction, full=full), basis)
    memory = None
    if lags is not None:
        mem = memory_r2(coords.coords, traj.inputs, lags, groups=basis.col_group)
        memory = mem[basis.mode_group]
    g = basis.mode_group
    return ModeDecay(
        operator=op.id,
        qualified_id=op.qualified_id,
        module=op.module,
        layer=op.layer,
        direction=op.direction,
        gate=op.gate,
        source=op.source,
        n=op.n,
        eigenvalues=basis.eigenvalues,
        measured_rate=prop.rate[g],
        measured_rate_ci=prop.rate_ci()[g],
        fit_steps=prop.fit_steps[g],
        log_curve=prop.curve()[g],
        energy=coords.mean_energy(),
        memory=memory,
        info=_info(op),
    )


def measure_decay(
    ckpt: Checkpoint,
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
) -> DecayResult:
    """Predicted vs measured per-mode decay, memory functions and the Lyapunov spectrum.

    Args:
        probe: ``"zeros"``, ``"noise[:STD]"``, ``"impulse"``, ``"task:NAME"``, a ``.npy`` path, or an
            array ``(B, T, D)`` (see ``rnndyn.dynamics.probes``).
        steps: measurement window ``K`` (the last ``K`` probe steps; ``1 ≤ K ≤ T``); also the largest
            memory lag (capped at ``T // 2``). Generated probes are ``length`` (default ``2K``) long.
        modes: top modes per operator by ``|λ|`` (default ``min(n, 64)``; a split pair is completed).
        operators: operator ids (``"l0.fwd.hh"``, ``"l0.fwd.jac"``, ``"l0.fwd.jacfp"``, …; see
            ``operator_ids``); default: ``hh`` for RNNs, ``jac`` (mean Jacobian) for LSTM/GRU.
        dtype: precision of the perturbation and Lyapunov GEMMs (simulation is float64).

    Raises:
        UsageError: unknown operator id, bad ``steps``/``batch``; InvalidInputError: bad probe file;
        SimulationError: the network produced NaN/Inf on the probe.
    """
    if int(steps) <= 0:
        raise UsageError(f"--steps must be a positive number of steps, got {steps}")
    if modes is not None and int(modes) <= 0:
        raise UsageError(f"--modes must be positive, got {modes}")
    mod, ids = _resolve(ckpt, module, operators)
    meta = ckpt.metadata or {}
    task_params = (
        meta.get("task_params")
        if isinstance(probe, str) and probe.lower() == f"task:{meta.get('task')}"
        else None
    )
    pr = make_probe(
        probe, mod, steps=steps, batch=batch, length=length, seed=seed, task_params=task_params
    )
    check_inputs(pr.inputs, mod, path=pr.params.get("path"))
    if steps > pr.length:
        raise UsageError(
            f"--steps {steps} is larger than the probe ({pr.length} steps)",
            hint=f"Use --steps {pr.length} or less, or a longer probe.",
        )
    traj = simulate(ckpt, pr.inputs, module=mod, dtype=torch.float64)
    ops, notes = _catalogue(ckpt, mod, ids, traj, pr.length - steps)
    notes += _module_notes(ckpt, mod)
    lags = _memory_lags(pr.inputs, steps, pr.length, memory, notes)
    spectra = eigendecompose(ops)
    results = []
    for op, spec in zip(ops, spectra, strict=True):
        if spec.ill_conditioned:
            notes.append(
                f"{op.id}: eigenvector matrix ill-conditioned (κ(V) ≈ {spec.eigvec_condition:.2g}); "
                "modal coordinates and measured rates are unreliable"
            )
        n_modes = min(op.n, DEFAULT_MODES) if modes is None else modes
        results.append(_one_operator(ckpt, traj, op, spec, n_modes, steps, lags, dtype))
    lyap, exps = (), np.empty(0)
    if lyapunov:
        n_exp = min(DEFAULT_MODES, mod.hidden_size) if modes is None else modes
        lyap = tuple(
            _lyapunov(ckpt, traj, layer, d, n_exp, steps, dtype, seed)
            for layer in range(mod.num_layers)
            for d in mod.directions
        )
        exps = network_exponents(list(lyap), n_exp)
    mem_fn = None
    if lags is not None:
        feats = np.concatenate(
            [traj.states(k, d) for k in range(mod.num_layers) for d in mod.directions], -1
        )
        mem_fn = memory_r2(feats, traj.inputs, lags)[0]
        rows = pr.length - lags
        n_train = (pr.batch // 2) * rows if pr.batch >= 2 else rows // 2
        if n_train < 10 * feats.shape[-1]:
            notes.append(
                f"memory capacity from {n_train} training samples for {feats.shape[-1]} state "
                "features: likely underestimated (use a longer probe or a larger --batch)"
            )
    return DecayResult(
        checkpoint=str(ckpt.path),
        sha256=ckpt.sha256,
        module=mod.to_dict(),
        probe=pr.to_dict(),
        steps=int(steps),
        operators=tuple(results),
        lyapunov=lyap,
        lyapunov_exponents=exps,
        memory_function=mem_fn,
        dtype=str(dtype).removeprefix("torch."),
        format=ckpt.format,
        notes=tuple(notes),
    )


def _module_notes(ckpt: Checkpoint, mod: RecurrentModule) -> list[str]:
    notes = []
    others = [m.name or "(root)" for m in find_modules(ckpt) if m.name != mod.name]
    if others:
        notes.append(
            f"analysed module {mod.name or '(root)'!r}; the checkpoint also holds "
            f"{', '.join(others)} (choose with --operator MODULE:ID)"
        )
    if mod.arch == "custom":
        notes.append(
            "custom matrix: simulated as h_t = tanh(W h_{t-1}); the probe input is ignored"
        )
    return notes


def _memory_lags(
    x: np.ndarray, steps: int, length: int, wanted: bool, notes: list[str]
) -> int | None:
    if not wanted:
        return None
    if not (np.ptp(x, axis=(0, 1)) > 0).any():
        notes.append(
            "memory: the probe input does not vary, so nothing can be decoded from it "
            "(use --probe noise for memory functions)"
        )
        return None
    lags = min(steps, length // 2)
    if length - lags < 4:
        notes.append("memory: the probe is too short for lagged decoding")
        return None
    return lags


def _lyapunov(
    ckpt, traj: Trajectories, layer: int, direction: str, n: int, steps: int, dtype, seed
):
    """Exponents over the last ``2·steps`` probe steps (a quarter of them warm-up), for the first
    ``LYAPUNOV_BATCH`` sequences (a QR per step and sequence is the costly part)."""
    p = layer_params(
        ckpt,
        traj.module,
        layer,
        direction,
        dtype=torch.float64,
        input_size=traj.layer_inputs(layer).shape[-1],
    )
    start = max(0, traj.steps - 2 * steps)
    trace = tuple(
        None if a is None else a[:, :LYAPUNOV_BATCH] for a in traj.trace(layer, direction)
    )
    return lyapunov_spectrum(p, trace, n, start=start, dtype=dtype, seed=seed)

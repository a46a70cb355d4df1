"""``find_fixed_points``: a checkpoint's fixed and slow points under one or more constant inputs,
layer by layer.

Inputs: see ``inputs``. Starts: see ``seeding`` (trajectories of the probe — by default the
checkpoint's own task when its metadata names one, else unit Gaussian noise —, uniform draws over
the reachable box, corners, and in a scan the previous input's points). ``n_inits="auto"`` keeps
adding rounds of starts (``n_per_round`` each, default 1024) until the coverage estimate says
nothing is missing or stops moving (no new point and Chao1 moved by less than 0.5), or
``max_inits`` starts were used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.dynamics.fixedpoints import scan
from rnndyn.dynamics.fixedpoints.inputs import InputSpec, expand_inputs, resolve_input
from rnndyn.dynamics.fixedpoints.points import LayerFixedPoints
from rnndyn.dynamics.fixedpoints.result import FixedPointResult
from rnndyn.dynamics.fixedpoints.seeding import Seeding, draw_seeds, reachable_box
from rnndyn.dynamics.fixedpoints.solver import Settings, merge, solve_layer
from rnndyn.dynamics.health import check_budget
from rnndyn.dynamics.jacobian import split_state
from rnndyn.dynamics.network import layer_params, pick_module
from rnndyn.errors import RefusedError, UsageError
from rnndyn.operators import RecurrentModule
from rnndyn.readers.checkpoint import Checkpoint, as_checkpoint

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.dynamics.trajectories import Trajectories

READOUT_HINTS = ("readout", "decoder", "output", "head", "fc", "linear", "out", "classifier")


def _nearest(points: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Index of the nearest row of ``points`` for every row of ``states`` (batched)."""
    d = torch.cdist(torch.from_numpy(states), torch.from_numpy(points))
    return d.argmin(1).numpy()


def _layer_inputs(
    ckpt: Checkpoint,
    mod: RecurrentModule,
    traj: Trajectories,
    layer: int,
    below: LayerFixedPoints | None,
    x_star: np.ndarray,
    rows: np.ndarray,
) -> tuple[torch.Tensor, np.ndarray | None]:
    """Per-row constant inputs ``(N, D_l)`` and upstream indices: ``x*`` for layer 0; above, the
    output of the lower layer's point nearest to the lower state where each row was sampled."""
    if below is None:
        return torch.from_numpy(np.broadcast_to(x_star, (len(rows), x_star.shape[0])).copy()), None
    lower = traj.states(layer - 1, "forward", full=True)
    ups = _nearest(below.states, lower.reshape(-1, lower.shape[-1])[rows])
    p_below = layer_params(ckpt, mod, layer - 1, "forward", input_size=1)
    return split_state(p_below, torch.from_numpy(below.states[ups]))[0], ups


def find_readout(ckpt: Checkpoint, mod: RecurrentModule) -> tuple[str | None, str]:
    """The checkpoint key of a linear read-out of the top layer's ``h`` (``(O, P)`` weight, not a
    recurrent parameter; a name like ``readout``/``fc``/``head`` preferred), or ``None`` and why."""
    if mod.bidirectional:
        return None, "bidirectional: a read-out sees both directions of a whole sequence"
    p = mod.proj_size or mod.hidden_size
    cands = [
        k
        for k, t in ckpt.tensors.items()
        if k.endswith("weight")
        and t.ndim == 2
        and t.shape[1] == p
        and not any(w in k for w in ("weight_ih", "weight_hh", "weight_hr"))
        and k != (mod.matrix_key or "")
    ]
    named = [k for k in cands if any(h in k.lower() for h in READOUT_HINTS)]
    pick = named if named else cands
    if len(pick) == 1:
        return pick[0], f"{pick[0]} (+ its bias) applied to the top layer's h"
    if not pick:
        return None, f"no (O, {p}) weight besides the recurrent ones"
    return None, f"several candidate read-outs ({', '.join(sorted(pick))}): none chosen"


def _readout(ckpt: Checkpoint, key: str, lay: LayerFixedPoints, p_out: int) -> np.ndarray:
    w = ckpt.tensors[key].double().numpy()
    b = ckpt.tensors.get(key[: -len("weight")] + "bias")
    bias = b.double().numpy() if b is not None and tuple(b.shape) == (w.shape[0],) else 0.0
    return lay.states[:, :p_out] @ w.T + bias


def unit_roundoff(ckpt: Checkpoint, mod: RecurrentModule) -> float:
    """Unit roundoff of the dtype the recurrent weights are stored in (float64 when unknown)."""
    t = ckpt.tensors.get(mod.matrix_key or mod.key("weight_hh"))
    dt = t.dtype if t is not None and t.is_floating_point() else torch.float64
    return float(torch.finfo(dt).eps) / 2


def _check(n_inits: int | str, cfg: Settings, dim: int, max_inits: int) -> tuple[int, bool]:
    auto = isinstance(n_inits, str)
    if auto and str(n_inits).strip().lower() != "auto":
        raise UsageError(f"n_inits={n_inits!r}: give a number of starts or 'auto'")
    n = 1024 if auto else int(n_inits)
    if n < 1 or cfg.tol < 0 or cfg.max_q < cfg.tol or cfg.iters < 0 or max_inits < 1:
        raise UsageError(
            f"n_inits={n_inits}, tol={cfg.tol:g}, max_q={cfg.max_q:g}, iters={cfg.iters}: need "
            "n_inits ≥ 1, 0 ≤ tol ≤ max_q and iters ≥ 0"
        )
    check_budget(  # states, optimiser moments and the batched Newton Jacobians (N, D, D), float64
        8.0 * n * (dim * dim + 12 * dim),
        f"{n} initial states of a {dim}-dimensional state",
        hint="Use fewer --n-inits.",
    )
    return n, auto


def find_fixed_points(
    source: str | PathLike[str] | Checkpoint | torch.nn.Module | Mapping[str, Any],
    inputs: InputSpec | Sequence[InputSpec] = "zeros",
    *,
    probe: str | None = None,
    module: RecurrentModule | str | None = None,
    n_inits: int | str = 1024,
    max_inits: int = 16384,
    batch: int = 64,
    seed: int = 0,
    trust: bool = False,
    settings: Settings | None = None,
    seeding: Seeding | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    **options: Any,
) -> FixedPointResult:
    """Fixed, slow and marginal points of every layer (and direction) of a checkpoint's recurrent
    module, under each constant input in turn.

    Args:
        source: a path, a ``Checkpoint``, an ``nn.Module`` or a state dict.
        inputs: one constant input (``zeros``, ``mean``, ``task:NAME``, a ``.npy`` path, an array)
            or several (a list, a ``(K, D)`` array or file): a scan with continuation.
        probe: what drives the trajectories (``task:NAME``, ``noise[:STD]``, ``FILE.npy``);
            default the checkpoint's task, else ``noise:1``.
        n_inits: starts per layer, direction and input (plus continuation), optimised together;
            ``"auto"``: rounds of 1024 until the coverage estimate settles or ``max_inits``.
        seeding: the shares of the start sources (``Seeding``).
        progress: ``progress(done, total, stage)`` as each stage (each input's probe, each layer
            and direction) starts, and once at the end.
        options: ``Settings`` fields (``tol``, ``max_q``, ``iters``, ``lr``, ``newton_steps``,
            ``dedup``) when ``settings`` is not given.

    Raises:
        UsageError: bad options; RefusedError: a multi-layer bidirectional stack;
        InvalidInputError: a bad input file; SimulationError: the network explodes on the probe.
    """
    from rnndyn.dynamics.trajectories import simulate

    cfg = settings or Settings(**options)
    seeds = seeding or Seeding()
    start = time.perf_counter()
    ckpt = as_checkpoint(source, trust=trust)
    mod = pick_module(ckpt, module)
    if mod.bidirectional and mod.num_layers > 1:
        raise RefusedError(
            f"{ckpt.path}: fixed points of stacked bidirectional layers are not defined here "
            "(the upper layers see both directions of a whole sequence at once)",
        )
    dim = (2 if mod.arch == "lstm" else 1) * mod.hidden_size  # LSTM state [h; c]
    n, auto = _check(n_inits, cfg, dim, max_inits)
    specs = expand_inputs(inputs, mod.input_size or 1)
    u = unit_roundoff(ckpt, mod)
    rng = np.random.default_rng(seed)
    layers: list[LayerFixedPoints] = []
    links: list[JsonObject] = []
    total = len(specs) * (1 + mod.num_layers * len(mod.directions))
    tick = progress or (lambda done, total, stage: None)
    step = 0
    descs, probes, cache = [], [], {}
    first_traj = None
    rounds: list[int] = []
    for k, (spec, label) in enumerate(specs):
        x_star, pr, desc = resolve_input(
            ckpt, mod, spec, probe, batch=batch, seed=seed, label=label
        )
        key = pr.spec if pr.kind != "array" else None
        tick(step, total, f"input {k}: simulating the probe")
        step += 1
        if key is None or key not in cache:
            cache[key] = simulate(ckpt, pr.inputs, module=mod, dtype=torch.float64)
        traj = cache[key]
        first_traj = traj if first_traj is None else first_traj
        descs.append(desc)
        probes.append(pr.to_dict())
        done: list[LayerFixedPoints] = []
        for layer in range(mod.num_layers):
            below = done[-1] if done else None
            if below is not None and len(below) == 0:
                break
            for direction in mod.directions:
                tick(step, total, f"input {k}, layer {layer} {direction}: searching")
                step += 1
                prev = _previous(layers, k, layer, direction)
                lay, cont, nr = _search_layer(
                    ckpt, mod, traj, layer, direction, below, x_star, prev, n, auto, max_inits,
                    cfg, seeds, rng, u, k,
                )  # fmt: skip
                rounds.append(nr)
                if prev is not None:
                    links += scan.link(prev, lay, *cont)
                done.append(lay)
        layers += done
    tick(total, total, "done")
    key_ro, note = find_readout(ckpt, mod)
    if key_ro is not None:
        top = mod.num_layers - 1
        p_out = mod.proj_size or mod.hidden_size
        layers = [
            _with_readout(lay, _readout(ckpt, key_ro, lay, p_out)) if lay.layer == top else lay
            for lay in layers
        ]
    assert first_traj is not None  # at least one input (expand_inputs)
    return FixedPointResult(
        checkpoint=str(ckpt.path),
        sha256=ckpt.sha256,
        module=mod,
        inputs=tuple(descs),
        probe=probes[0],
        layers=tuple(layers),
        settings=cfg,
        seeding=seeds,
        n_inits="auto" if auto else n,
        trajectories=first_traj.states(0, mod.directions[0], full=True),
        seconds=time.perf_counter() - start,
        links=tuple(links),
        readout=key_ro,
        readout_note=note,
        unit_roundoff=u,
        auto={"per_round": n, "max_inits": max_inits, "rounds": rounds} if auto else None,
    )


def _with_readout(lay: LayerFixedPoints, values: np.ndarray) -> LayerFixedPoints:
    from dataclasses import replace

    return replace(lay, readout=values)


def _previous(
    layers: list[LayerFixedPoints], k: int, layer: int, direction: str
) -> LayerFixedPoints | None:
    """The previous input's points of layer 0 (continuation), else ``None``."""
    if k == 0 or layer != 0:
        return None
    return next(
        lay
        for lay in layers
        if (lay.input_index, lay.layer, lay.direction) == (k - 1, layer, direction)
    )


def _search_layer(
    ckpt: Checkpoint,
    mod: RecurrentModule,
    traj: Trajectories,
    layer: int,
    direction: str,
    below: LayerFixedPoints | None,
    x_star: np.ndarray,
    prev: LayerFixedPoints | None,
    n: int,
    auto: bool,
    max_inits: int,
    cfg: Settings,
    seeds: Seeding,
    rng: np.random.Generator,
    u: float,
    k: int,
) -> tuple[LayerFixedPoints, tuple[np.ndarray, np.ndarray], int]:
    """One layer and direction under one input: seeded search, auto rounds; returns the points,
    the continuation ``(from_points, start rows)`` and the number of rounds."""
    states = traj.states(layer, direction, full=True)
    flat = states.reshape(-1, states.shape[-1])
    p_probe = layer_params(ckpt, mod, layer, direction, input_size=1)
    box = reachable_box(
        mod.arch, mod.nonlinearity or "tanh", flat, p_probe.out_size, bool(mod.proj_size)
    )

    def one_round(extra: np.ndarray | None) -> tuple[LayerFixedPoints, np.ndarray]:
        inits, rows, src = draw_seeds(flat, n, box, seeds, rng)
        cont_rows = np.zeros(0, int)
        if extra is not None and len(extra):
            cont_rows = np.arange(len(inits), len(inits) + len(extra))
            inits = np.concatenate([inits, extra])
            rows = np.concatenate([rows, rng.integers(0, len(flat), size=len(extra))])
            src = np.concatenate([src, np.full(len(extra), "continuation")])
        x, ups = _layer_inputs(ckpt, mod, traj, layer, below, x_star, rows)
        p = layer_params(ckpt, mod, layer, direction, input_size=x.shape[1])
        lay = solve_layer(p, torch.from_numpy(inits), x, cfg, ups, sources=src, u=u, input_index=k)
        return lay, cont_rows

    extra, from_points = (None, np.zeros(0, int))
    if prev is not None:
        extra, from_points = scan.continuation_seeds(prev)
    lay, cont_rows = one_round(extra)
    n_rounds = 1
    if auto:
        p = layer_params(ckpt, mod, layer, direction, input_size=lay.inputs.shape[1] or 1)
        cov = lay.coverage()
        while not cov.complete and lay.n_candidates + n <= max_inits:
            more, _ = one_round(None)
            lay = merge(p, lay, more, cfg, u)
            n_rounds += 1
            new = lay.coverage()
            settled = (
                new.found == cov.found and abs(new.estimated_total - cov.estimated_total) < 0.5
            )
            cov = new
            if settled:
                break
    return lay, (from_points, cont_rows), n_rounds

"""``find_fixed_points``: a checkpoint's fixed and slow points under a constant input, layer by layer.

The constant input ``x*`` is ``zeros``, ``mean`` (the probe's mean input), ``task:NAME`` (task NAME's
test inputs drive the trajectories and ``x*`` is their mean), a ``FILE.npy`` holding ``x*`` ``(D,)``
or a probe ``(B, T, D)`` (``x*`` its mean), or an array. Initial states are drawn from the states
the network visits along the probe (by default the checkpoint's own task when its metadata names
one, else unit Gaussian noise).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rnndyn.dynamics.fixedpoints.solver import (
    LayerFixedPoints,
    Settings,
    sample_inits,
    solve_layer,
)
from rnndyn.dynamics.health import check_budget
from rnndyn.dynamics.jacobian import split_state
from rnndyn.dynamics.network import layer_params, pick_module
from rnndyn.errors import InvalidInputError, RefusedError, UsageError
from rnndyn.operators import RecurrentModule
from rnndyn.readers.checkpoint import Checkpoint, as_checkpoint

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from rnndyn.dynamics.probes import Probe
    from rnndyn.dynamics.trajectories import Trajectories

SCHEMA = "rnndyn.fixedpoints/1"
INPUT_KINDS = ("zeros", "mean", "task:NAME", "FILE.npy")


@dataclass(frozen=True, eq=False)
class FixedPointResult:
    """Every layer's points for one checkpoint and constant input, and where the search started.

    ``trajectories`` ``(T, B, S)``: layer 0's (forward) full states along the probe, for figures.
    """

    checkpoint: str
    sha256: str
    module: RecurrentModule
    input: dict[str, Any]
    probe: dict[str, Any]
    layers: tuple[LayerFixedPoints, ...]
    settings: Settings
    n_inits: int
    trajectories: np.ndarray = field(repr=False)
    seconds: float = 0.0

    def layer(self, layer: int = 0, direction: str = "forward") -> LayerFixedPoints:
        """The points of one layer and direction."""
        for lay in self.layers:
            if (lay.layer, lay.direction) == (layer, direction):
                return lay
        raise KeyError(f"no fixed points for layer {layer} {direction}")

    def to_frame(self) -> pd.DataFrame:
        """One row per point (no state vectors): layer, direction, index, kind, q, stability, …"""
        import pandas as pd

        cols = ("layer", "direction", "index", "kind", "q", "stable", "n_unstable")
        rows = [
            {k: r[k] for k in (*cols, "spectral_radius", "count", "upstream")}
            for lay in self.layers
            for r in lay.to_records()
        ]
        return pd.DataFrame(rows, columns=[*cols, "spectral_radius", "count", "upstream"])

    def to_dict(self) -> dict[str, Any]:
        """The ``rnndyn.fixedpoints/1`` document."""
        from rnndyn._version import __version__

        return {
            "schema": SCHEMA,
            "rnndyn_version": __version__,
            "checkpoint": {"path": self.checkpoint, "sha256": self.sha256},
            "module": self.module.to_dict(),
            "eigenvalues_are": "discrete-time (per step) eigenvalues of the state Jacobian "
            "(LSTM state [h; c])",
            "input": self.input,
            "probe": self.probe,
            "settings": self.settings.to_dict(),
            "n_inits": self.n_inits,
            "seconds": self.seconds,
            "layers": [
                {
                    "layer": lay.layer,
                    "direction": lay.direction,
                    "n_points": len(lay),
                    "n_fixed": int((lay.kind == "fixed").sum()),
                    "n_slow": int((lay.kind == "slow").sum()),
                    "n_stable": int(lay.stable.sum()),
                    "n_candidates": lay.n_candidates,
                    "n_dropped": lay.n_dropped,
                }
                for lay in self.layers
            ],
            "fixed_points": [r for lay in self.layers for r in lay.to_records()],
        }


def _default_probe(ckpt: Checkpoint) -> str:
    task = (ckpt.metadata or {}).get("task")
    return f"task:{task}" if isinstance(task, str) and task else "noise:1"


def _load_input_file(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InvalidInputError(
            "input file does not exist",
            path=path,
            hint=f"Give zeros, mean, task:NAME or an existing .npy file ({', '.join(INPUT_KINDS)}).",
        )
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise InvalidInputError(
            f"input file is not a plain .npy array ({err})",
            path=path,
            hint="Save the constant input (D,) or a probe (B, T, D) with numpy.save.",
        ) from None
    if not isinstance(arr, np.ndarray):
        raise InvalidInputError("input file holds several arrays (.npz)", path=path)
    return arr


def resolve_input(
    ckpt: Checkpoint,
    mod: RecurrentModule,
    spec: str | np.ndarray,
    probe: str | None,
    *,
    batch: int,
    seed: int,
) -> tuple[np.ndarray, Probe, dict[str, Any]]:
    """``(x* (D,), probe, description)`` for the input ``spec`` (see the module docstring)."""
    from rnndyn.dynamics.probes import make_probe

    d = mod.input_size or 1
    arr: np.ndarray | None = None
    path = None
    if isinstance(spec, np.ndarray):
        arr, kind = spec, "array"
    else:
        kind = spec.split(":", 1)[0].strip().lower()
        if kind == "task":
            probe = spec
        elif kind not in ("zeros", "mean"):
            path = Path(spec).expanduser()
            if path.suffix.lower() != ".npy" and not path.exists():
                raise UsageError(
                    f"unknown --input {spec!r}", hint=f"Valid inputs: {', '.join(INPUT_KINDS)}."
                )
            arr, kind = _load_input_file(path), "file"
    if arr is not None and arr.ndim == 3:
        probe_spec: str | np.ndarray = arr
    else:
        probe_spec = probe or _default_probe(ckpt)
    meta = ckpt.metadata or {}
    same = isinstance(probe_spec, str) and probe_spec.lower() == f"task:{meta.get('task')}"
    pr = make_probe(
        probe_spec,
        mod,
        steps=100,
        batch=batch,
        seed=seed,
        task_params=meta.get("task_params") if same else None,
    )
    if arr is not None and arr.ndim == 1:
        value = arr
    elif arr is not None and arr.ndim != 3:
        raise InvalidInputError(
            f"input array has shape {arr.shape}; expected the constant input ({d},) or a probe "
            f"(B, T, {d})",
            path=path,
        )
    elif kind == "zeros":
        value = np.zeros(d)
    else:
        value = pr.inputs.reshape(-1, pr.inputs.shape[-1]).mean(0)
    value = np.asarray(value)
    if value.dtype.kind not in "fiub" or value.shape != (d,) or not np.isfinite(value).all():
        raise InvalidInputError(
            f"constant input has shape {value.shape} and dtype {value.dtype}; the network expects "
            f"{d} finite real numbers",
            path=path,
        )
    desc = {"spec": "array" if isinstance(spec, np.ndarray) else spec, "kind": kind}
    return value.astype(np.float64), pr, desc | {"value": value.astype(float).tolist()}


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


def find_fixed_points(
    source: str | PathLike[str] | Checkpoint | torch.nn.Module | Mapping[str, Any],
    inputs: str | np.ndarray = "zeros",
    *,
    probe: str | None = None,
    module: RecurrentModule | str | None = None,
    n_inits: int = 1024,
    batch: int = 64,
    seed: int = 0,
    trust: bool = False,
    settings: Settings | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    **options: Any,
) -> FixedPointResult:
    """Fixed and slow points of every layer (and direction) of a checkpoint's recurrent module.

    Args:
        source: a path, a ``Checkpoint``, an ``nn.Module`` or a state dict.
        inputs: the constant input: ``zeros``, ``mean``, ``task:NAME``, a ``.npy`` path, an array.
        probe: what drives the trajectories the initial states come from (``task:NAME``,
            ``noise[:STD]``, ``FILE.npy``); default the checkpoint's task, else ``noise:1``.
        n_inits: initial states per layer and direction, optimised together.
        progress: ``progress(done, total, stage)`` as each stage (the probe, each layer and
            direction) starts, and once at the end.
        options: ``Settings`` fields (``tol``, ``max_q``, ``iters``, ``lr``, ``newton_steps``,
            ``dedup``, ``jitter``) when ``settings`` is not given.

    Raises:
        UsageError: bad options; RefusedError: a multi-layer bidirectional stack;
        InvalidInputError: a bad input file; SimulationError: the network explodes on the probe.
    """
    from rnndyn.dynamics.trajectories import simulate

    cfg = settings or Settings(**options)
    if int(n_inits) < 1 or cfg.tol < 0 or cfg.max_q < cfg.tol or cfg.iters < 0:
        raise UsageError(
            f"n_inits={n_inits}, tol={cfg.tol:g}, max_q={cfg.max_q:g}, iters={cfg.iters}: need "
            "n_inits ≥ 1, 0 ≤ tol ≤ max_q and iters ≥ 0"
        )
    start = time.perf_counter()
    ckpt = as_checkpoint(source, trust=trust)
    mod = pick_module(ckpt, module)
    if mod.bidirectional and mod.num_layers > 1:
        raise RefusedError(
            f"{ckpt.path}: fixed points of stacked bidirectional layers are not defined here "
            "(the upper layers see both directions of a whole sequence at once)",
        )
    dim = (2 if mod.arch == "lstm" else 1) * mod.hidden_size  # LSTM state [h; c]
    check_budget(  # states, optimiser moments and the batched Newton Jacobians (N, D, D), float64
        8.0 * int(n_inits) * (dim * dim + 12 * dim),
        f"{int(n_inits)} initial states of a {dim}-dimensional state",
        hint="Use fewer --n-inits.",
    )
    x_star, pr, desc = resolve_input(ckpt, mod, inputs, probe, batch=batch, seed=seed)
    total = 1 + mod.num_layers * len(mod.directions)
    tick = progress or (lambda done, total, stage: None)
    tick(0, total, "simulating the probe")
    traj = simulate(ckpt, pr.inputs, module=mod, dtype=torch.float64)
    rng = np.random.default_rng(seed)
    layers: list[LayerFixedPoints] = []
    for layer in range(mod.num_layers):
        below = layers[-1] if layers else None
        if below is not None and len(below) == 0:
            break
        for direction in mod.directions:
            tick(1 + len(layers), total, f"layer {layer} {direction}: {int(n_inits)} searches")
            states = traj.states(layer, direction, full=True)
            inits, rows = sample_inits(
                states.reshape(-1, states.shape[-1]), int(n_inits), cfg.jitter, rng
            )
            x, ups = _layer_inputs(ckpt, mod, traj, layer, below, x_star, rows)
            p = layer_params(ckpt, mod, layer, direction, input_size=x.shape[1])
            layers.append(solve_layer(p, inits, x, cfg, ups))
    tick(total, total, "done")
    return FixedPointResult(
        checkpoint=str(ckpt.path),
        sha256=ckpt.sha256,
        module=mod,
        input=desc,
        probe=pr.to_dict(),
        layers=tuple(layers),
        settings=cfg,
        n_inits=int(n_inits),
        trajectories=traj.states(0, mod.directions[0], full=True),
        seconds=time.perf_counter() - start,
    )

"""Run a checkpoint's recurrent module on inputs and keep every layer's hidden (and LSTM cell) states.

Each layer runs as one fused ``nn.RNN``/``nn.LSTM``/``nn.GRU`` call over the whole sequence and batch
(rebuilt by ``rnndyn.dynamics.network``); the LSTM cell states, which the fused module does not return, are
recovered from its hidden outputs by the elementwise recurrence ``c_t = f_t c_{t-1} + i_t g_t``.
A custom module (only a square ``W``) runs as ``h_t = tanh(W h_{t-1})``: its input is ignored.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.dynamics.health import check_budget
from rnndyn.dynamics.modal import ModalCoordinates, modal_coordinates, real_basis
from rnndyn.dynamics.network import LayerParams, Network, resolve_network, runnable_layers
from rnndyn.errors import InvalidInputError, SimulationError, UsageError
from rnndyn.operators import RecurrentModule
from rnndyn.readers.checkpoint import Checkpoint
from rnndyn.spectrum import OperatorSpectrum

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from rnndyn.spectrum import Spectrum

TIME_CHUNK = 64
Trace = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


@dataclass(frozen=True)
class Trajectories:
    """Hidden-state trajectories of every layer and direction.

    Shapes (``L`` layers, ``d`` directions, ``P`` hidden output size, ``H`` cell size):
    ``inputs`` ``(T, B, D)``; ``hidden`` ``(L, d, T, B, P)``; ``cell`` ``(L, d, T, B, H)`` (LSTM) or None;
    ``h0`` ``(L, d, B, P)``, ``c0`` ``(L, d, B, H)`` or None. Time runs forward for both directions
    (as in PyTorch's outputs); ``trace`` returns a direction in its own processing order.
    ``params``: the weights each ``(layer, direction)`` ran with (``simulate`` fills it); ``runs``
    gives every layer and direction's states, inputs and trace, each built once.
    """

    module: RecurrentModule
    inputs: np.ndarray = field(repr=False)
    hidden: np.ndarray = field(repr=False)
    h0: np.ndarray = field(repr=False)
    cell: np.ndarray | None = field(default=None, repr=False)
    c0: np.ndarray | None = field(default=None, repr=False)
    checkpoint: str = ""
    params: Mapping[tuple[int, str], LayerParams] = field(
        default_factory=dict, repr=False, compare=False
    )

    @cached_property
    def runs(self) -> dict[tuple[int, str], LayerRun]:
        """``{(layer, direction): LayerRun}`` for every layer and direction."""
        return {
            (layer, d): LayerRun(self, layer, d, self.params.get((layer, d)))
            for layer in range(self.module.num_layers)
            for d in self.module.directions
        }

    @property
    def steps(self) -> int:
        return int(self.hidden.shape[2])

    @property
    def batch(self) -> int:
        return int(self.hidden.shape[3])

    @property
    def output(self) -> np.ndarray:
        """``(T, B, d·P)`` the top layer's outputs, as the fused module returns them."""
        top = self.hidden[-1]
        return np.concatenate(list(top), axis=-1)

    def _dir(self, direction: str) -> int:
        if direction not in self.module.directions:
            raise UsageError(f"direction {direction!r} not in {self.module.directions}")
        return self.module.directions.index(direction)

    def states(
        self, layer: int = 0, direction: str = "forward", *, full: bool = False
    ) -> np.ndarray:
        """``(T, B, P)`` hidden states; ``full=True`` gives LSTM ``[h; c]`` ``(T, B, P + H)``."""
        d = self._dir(direction)
        h = self.hidden[layer, d]
        if full and self.cell is not None:
            return np.concatenate([h, self.cell[layer, d]], axis=-1)
        return h

    def layer_inputs(self, layer: int) -> np.ndarray:
        """``(T, B, D_l)``: the network input for layer 0, else the previous layer's outputs."""
        if layer == 0:
            return self.inputs
        return np.concatenate(list(self.hidden[layer - 1]), axis=-1)

    def trace(self, layer: int = 0, direction: str = "forward", *, dtype=torch.float64) -> Trace:
        """``(x, h, c)`` in processing order as tensors: ``x`` ``(T, B, D_l)``, ``h`` ``(T+1, B, P)``
        with the initial state first, ``c`` ``(T+1, B, H)`` or None."""
        return self._trace(self.layer_inputs(layer), layer, direction, dtype)

    def _trace(self, inputs: np.ndarray, layer: int, direction: str, dtype: torch.dtype) -> Trace:
        d = self._dir(direction)
        x = torch.from_numpy(inputs).to(dtype)
        h = torch.from_numpy(self.hidden[layer, d]).to(dtype)
        c = None if self.cell is None else torch.from_numpy(self.cell[layer, d]).to(dtype)
        if direction == "reverse":
            x, h = x.flip(0), h.flip(0)
            c = None if c is None else c.flip(0)
        h = torch.cat([torch.from_numpy(self.h0[layer, d]).to(dtype)[None], h])
        if c is not None and self.c0 is not None:
            c = torch.cat([torch.from_numpy(self.c0[layer, d]).to(dtype)[None], c])
        return x, h, c

    def project(
        self, spec: OperatorSpectrum | Spectrum, *, modes: int | None = None
    ) -> ModalCoordinates:
        """Modal coordinates of the states of ``spec``'s layer and direction (LSTM ``jac``: ``[h; c]``)."""
        if not isinstance(spec, OperatorSpectrum):
            if len(spec) != 1:
                raise UsageError("project() needs one operator's spectrum; pick one with spec[id]")
            spec = spec[0]
        n = spec.eigenvalues.shape[0]
        states = self.states(spec.layer, spec.direction, full=n != self.hidden.shape[-1])
        if states.shape[-1] != n:
            raise UsageError(
                f"operator {spec.qualified_id} has size {n}; the states have {states.shape[-1]}"
            )
        return modal_coordinates(states, real_basis(spec, modes))

    def to_frame(self) -> pd.DataFrame:
        """Tidy: one row per (layer, direction, t, batch, unit) hidden value (large for big nets)."""
        import pandas as pd

        idx = np.indices(self.hidden.shape).reshape(5, -1)
        dirs = np.asarray(self.module.directions)
        return pd.DataFrame(
            {
                "layer": idx[0],
                "direction": dirs[idx[1]],
                "t": idx[2],
                "batch": idx[3],
                "unit": idx[4],
                "h": self.hidden.ravel(),
            }
        )

    def to_dict(self) -> JsonObject:
        """JSON-ready: the module, the shapes and the states as nested lists."""
        return {
            "checkpoint": self.checkpoint,
            "module": self.module.to_dict(),
            "steps": self.steps,
            "batch": self.batch,
            "inputs": self.inputs.tolist(),
            "hidden": self.hidden.tolist(),
            "cell": None if self.cell is None else self.cell.tolist(),
        }


@dataclass(frozen=True, eq=False)
class LayerRun:
    """One layer and direction of a simulation: the weights it ran with (None for trajectories
    built by hand) and its inputs, states and float64 trace, each built once on first use."""

    traj: Trajectories = field(repr=False)
    layer: int
    direction: str
    params: LayerParams | None = field(default=None, repr=False)

    @cached_property
    def inputs(self) -> np.ndarray:
        """``(T, B, D_l)``: what drove this layer (``Trajectories.layer_inputs``)."""
        return self.traj.layer_inputs(self.layer)

    @cached_property
    def states(self) -> np.ndarray:
        """``(T, B, P)`` hidden states."""
        return self.traj.states(self.layer, self.direction)

    @cached_property
    def full_states(self) -> np.ndarray:
        """``(T, B, S)``: ``[h; c]`` for an LSTM, else the hidden states."""
        return self.traj.states(self.layer, self.direction, full=True)

    @cached_property
    def trace(self) -> Trace:
        """``Trajectories.trace`` of this layer and direction, in float64."""
        return self.traj._trace(self.inputs, self.layer, self.direction, torch.float64)


def check_states(
    out: torch.Tensor, path: str | os.PathLike[str] | None, layer: int, dtype: torch.dtype
) -> None:
    """SimulationError when simulated states ``(T, B, …)`` hold NaN/Inf (the network explodes)."""
    bad = ~torch.isfinite(out)
    if not bool(bad.any()):
        return
    t = int(torch.nonzero(bad.flatten(1).any(1))[0, 0])
    width = "float64" if dtype == torch.float64 else str(dtype).removeprefix("torch.")
    raise SimulationError(
        f"the network's states left the {width} range (NaN/Inf) in layer {layer} at time step "
        f"{t}: it explodes on this probe",
        path=path,
        hint="Use a weaker or shorter probe (--probe zeros or noise:0.1, fewer --steps or "
        "--length); a ReLU network with spectral radius above 1 grows without bound.",
    )


def check_inputs(inputs: Any, module: RecurrentModule, path: Any = None) -> torch.Tensor:
    """Validate inputs ``(B, T, D)``: real numbers, finite, ``D`` = the module's ``input_size``."""
    arr = inputs.detach().cpu().numpy() if isinstance(inputs, torch.Tensor) else np.asarray(inputs)
    want = f"(B, T, {module.input_size})" if module.input_size else "(B, T, D)"
    if arr.dtype.kind not in "fiub":
        raise InvalidInputError(
            f"probe inputs have dtype {arr.dtype}; expected real numbers of shape {want}",
            path=path,
            hint="Save a float32 array with numpy.save.",
        )
    if arr.ndim != 3 or 0 in arr.shape:
        raise InvalidInputError(
            f"probe inputs have shape {arr.shape}; expected a non-empty array of shape {want} "
            "(batch, time, input)",
            path=path,
            hint="Add a batch axis with x[None] for one sequence.",
        )
    if module.input_size and arr.shape[2] != module.input_size:
        raise InvalidInputError(
            f"probe inputs have input size {arr.shape[2]} (shape {arr.shape}); the network expects "
            f"shape {want}",
            path=path,
        )
    if not np.isfinite(arr).all():
        raise InvalidInputError("probe inputs hold NaN/Inf values", path=path)
    return torch.from_numpy(np.ascontiguousarray(arr)).transpose(0, 1)  # (T, B, D)


def cell_states(
    p: LayerParams, x: torch.Tensor, h_prev: torch.Tensor, c0: torch.Tensor
) -> torch.Tensor:
    """LSTM cell states ``(T, B, H)`` from inputs ``x`` ``(T, B, D)`` and previous outputs ``(T, B, P)``."""
    out = torch.empty(x.shape[0], x.shape[1], p.hidden_size, dtype=x.dtype)
    c = c0
    for s in range(0, x.shape[0], TIME_CHUNK):
        xs, hs = x[s : s + TIME_CHUNK], h_prev[s : s + TIME_CHUNK]
        i, f, g, _ = (xs @ p.w_ih.T + p.b_ih + hs @ p.w_hh.T + p.b_hh).chunk(4, dim=-1)
        f, ig = torch.sigmoid(f), torch.sigmoid(i) * torch.tanh(g)
        for k in range(xs.shape[0]):  # elementwise scan: no GEMM inside the time loop
            c = out[s + k] = f[k] * c + ig[k]
    return out


def _initial_states(
    mod: RecurrentModule, batch: int, h0: Any, c0: Any, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``h0`` ``(L, d, B, P)`` and (LSTM) ``c0`` ``(L, d, B, H)``: given, or zeros."""
    nd = len(mod.directions)
    shape_h = (mod.num_layers, nd, batch, mod.proj_size or mod.hidden_size)
    shape_c = (mod.num_layers, nd, batch, mod.hidden_size)
    h = torch.zeros(shape_h, dtype=dtype) if h0 is None else torch.as_tensor(h0, dtype=dtype)
    if mod.arch != "lstm":
        return h.reshape(shape_h), None
    c = torch.zeros(shape_c, dtype=dtype) if c0 is None else torch.as_tensor(c0, dtype=dtype)
    return h.reshape(shape_h), c.reshape(shape_c)


def simulate(
    ckpt: Checkpoint | Network | Any,
    inputs: Any,
    *,
    module: RecurrentModule | str | None = None,
    h0: Any = None,
    c0: Any = None,
    dtype: torch.dtype = torch.float32,
) -> Trajectories:
    """Run ``module`` (default: the checkpoint's first) on ``inputs`` ``(B, T, D)``.

    Args:
        ckpt: a ``Checkpoint`` or ``Network``, a path, an ``nn.Module`` or a state dict.
        h0: initial hidden states ``(L, d, B, P)`` (default zeros); ``c0`` likewise ``(L, d, B, H)``.
        dtype: simulation and result precision (``torch.float64`` for analysis-grade states).

    Raises:
        InvalidInputError: inputs of the wrong shape, dtype or input size; CheckpointError: NaN/Inf
            weights; UsageError: states too large for memory.
        SimulationError: the network produced NaN/Inf (it explodes on this probe).
    """
    net = ckpt if isinstance(ckpt, Network) else resolve_network(ckpt, module)
    mod = net.module
    x = check_inputs(inputs, mod)
    t_len, batch = x.shape[0], x.shape[1]
    width = (mod.proj_size or mod.hidden_size) + (mod.hidden_size if mod.arch == "lstm" else 0)
    check_budget(
        2.0 * mod.num_layers * len(mod.directions) * t_len * batch * width * dtype.itemsize,
        f"simulating {batch} sequences of {t_len} steps",
    )
    return run_network(net, x, h0=h0, c0=c0, dtype=dtype)


def run_network(
    net: Network,
    inputs: Any,
    *,
    h0: Any = None,
    c0: Any = None,
    dtype: torch.dtype = torch.float32,
) -> Trajectories:
    """``simulate`` for a caller that has checked the memory budget (``measure_decay``, up front
    for the whole job): the inputs are validated, the states checked for NaN/Inf."""
    mod = net.module
    x = (inputs if isinstance(inputs, torch.Tensor) else check_inputs(inputs, mod)).to(dtype)
    t_len, batch = x.shape[0], x.shape[1]
    nd = len(mod.directions)
    out_size = mod.proj_size or mod.hidden_size
    h0_t, c0_t = _initial_states(mod, batch, h0, c0, dtype)
    lstm = c0_t is not None
    hidden = torch.empty(mod.num_layers, nd, t_len, batch, out_size, dtype=dtype)
    cell = (
        torch.empty(mod.num_layers, nd, t_len, batch, mod.hidden_size, dtype=dtype)
        if lstm
        else None
    )
    layers = runnable_layers(net, x.shape[2], dtype=dtype)
    layer_in = x
    for layer, run in enumerate(layers):
        state = (h0_t[layer], c0_t[layer]) if c0_t is not None else h0_t[layer]
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="LSTM with projections is not supported")
            out, _ = run.module(layer_in, state)
        check_states(out, net.path, layer, dtype)
        hidden[layer] = out.view(t_len, batch, nd, out_size).permute(2, 0, 1, 3)
        if cell is not None and c0_t is not None:
            for d, direction in enumerate(mod.directions):
                xs, hs = layer_in, hidden[layer, d]
                if direction == "reverse":
                    xs, hs = xs.flip(0), hs.flip(0)
                h_prev = torch.cat([h0_t[layer, d][None], hs[:-1]])
                c = cell_states(run.params[direction], xs, h_prev, c0_t[layer, d])
                cell[layer, d] = c.flip(0) if direction == "reverse" else c
        layer_in = out
    return Trajectories(
        module=mod,
        inputs=x.numpy(),
        hidden=hidden.numpy(),
        h0=h0_t.numpy(),
        cell=None if cell is None else cell.numpy(),
        c0=None if c0_t is None else c0_t.numpy(),
        checkpoint=net.path,
        params={(k, d): p for k, run in enumerate(layers) for d, p in run.params.items()},
    )

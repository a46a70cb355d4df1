"""Rebuild runnable torch modules (``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``) from a checkpoint, for simulation.

The weights come from ``operators.module_weights`` (each converted to float64 once; the network's
operators are views of the same arrays), so every layout the loader accepts runs:
multi-layer, bidirectional, LSTM ``proj_size``, cells (``nn.RNNCell``-style keys) and custom square
matrices. A custom module (arch ``"custom"``: only a square matrix ``W`` is known) runs as
``h_t = φ(W h_{t-1})`` with φ = tanh (or the checkpoint's ``nonlinearity``): its input is ignored.
A module without ``weight_ih`` likewise ignores its input (zero input weights).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from rnndyn.errors import CheckpointError, SimulationError
from rnndyn.operators import RecurrentModule, RecurrentOperator, find_modules, module_weights
from rnndyn.readers.checkpoint import Checkpoint

BLOCKS = {"rnn": 1, "custom": 1, "gru": 3, "lstm": 4}
#: ``LayerParams`` properties holding the weights in a dtype, converted once (``cast`` otherwise)
CAST_VIEWS = {torch.float32: "float32", torch.float64: "float64"}
_LAYER = re.compile(r"_l(\d+)(_reverse)?$")


@dataclass(frozen=True)
class LayerParams:
    """One layer and direction of a module, in PyTorch's layout (``k`` gate blocks of size ``H``).

    Shapes: ``w_ih`` ``(kH, D)``, ``w_hh`` ``(kH, P)``, ``b_ih``/``b_hh`` ``(kH,)`` (zeros without bias),
    ``w_hr`` ``(P, H)`` or ``None``; ``P`` = ``proj_size`` for a projected LSTM, else ``H``.
    """

    arch: str
    nonlinearity: str
    layer: int
    direction: str
    w_ih: torch.Tensor
    w_hh: torch.Tensor
    b_ih: torch.Tensor
    b_hh: torch.Tensor
    w_hr: torch.Tensor | None = None
    _casts: dict[torch.dtype, LayerParams] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def hidden_size(self) -> int:
        return int(self.w_hh.shape[0] // BLOCKS[self.arch])

    @property
    def out_size(self) -> int:
        """Size of ``h`` (``proj_size`` for a projected LSTM)."""
        return int(self.w_hh.shape[1])

    @property
    def state_size(self) -> int:
        """Size of the full state: ``P + H`` for an LSTM (``(h, c)``), else ``H``."""
        return self.out_size + (self.hidden_size if self.arch == "lstm" else 0)

    @property
    def float32(self) -> LayerParams:
        """These weights in float32, converted once (every tangent run of the layer shares them)."""
        return cast(self, torch.float32)

    @property
    def float64(self) -> LayerParams:
        """These weights in float64 (itself when they are), converted once."""
        return cast(self, torch.float64)


@dataclass(frozen=True, eq=False)
class Network:
    """A checkpoint's recurrent module resolved once: what it is, its weights and where it came from.

    ``params`` maps ``(layer, direction)`` to float64 ``LayerParams``; a module without stored input
    weights (a custom matrix, an input-less cell) has ``inputless`` set and gets zero input weights
    sized to whatever it is driven with (``layer(..., input_size=)``). ``others`` names the
    checkpoint's other recurrent modules; ``operators`` its weight-block operators. Build it with ``resolve_network``; every function of
    ``rnndyn.dynamics`` and ``rnndyn.decay`` accepts it wherever it accepts a checkpoint.
    """

    module: RecurrentModule
    params: Mapping[tuple[int, str], LayerParams]
    inputless: bool
    path: str
    sha256: str = ""
    format: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    others: tuple[str, ...] = ()
    operators: tuple[RecurrentOperator, ...] = ()

    def layer(
        self,
        layer: int = 0,
        direction: str = "forward",
        *,
        dtype: torch.dtype = torch.float64,
        input_size: int | None = None,
    ) -> LayerParams:
        """One layer/direction in ``dtype``; ``input_size`` sizes the zero input weights of an
        input-less module (ignored otherwise)."""
        p = self.params[(layer, direction)]
        if self.inputless and layer == 0 and input_size and input_size != p.w_ih.shape[1]:
            p = replace(p, w_ih=torch.zeros(p.w_ih.shape[0], int(input_size), dtype=p.w_ih.dtype))
        return p if dtype == p.w_hh.dtype else cast(p, dtype)


def cast(p: LayerParams, dtype: torch.dtype) -> LayerParams:
    """``p`` with every weight in ``dtype``: ``p`` itself when it is, else a copy converted once
    per ``p`` and dtype (the propagation of every operator and the Lyapunov run share it)."""
    if p.w_hh.dtype == dtype:
        return p
    if dtype not in p._casts:
        conv = {k: getattr(p, k).to(dtype) for k in ("w_ih", "w_hh", "b_ih", "b_hh")}
        p._casts[dtype] = replace(p, **conv, w_hr=None if p.w_hr is None else p.w_hr.to(dtype))
    return p._casts[dtype]


def pick_module(
    ckpt: Checkpoint | Network, module: RecurrentModule | str | None = None
) -> RecurrentModule:
    """The recurrent module to run: given, named, or the first one found."""
    if isinstance(ckpt, Network):
        return ckpt.module
    if isinstance(module, RecurrentModule):
        return module
    return _pick(find_modules(ckpt), module, ckpt.path)


def _pick(
    mods: list[RecurrentModule], name: str | None, path: str | os.PathLike[str] | None
) -> RecurrentModule:
    if name is None:
        return mods[0]
    hits = [m for m in mods if m.name == name]
    if not hits:
        names = ", ".join(repr(m.name) for m in mods)
        raise CheckpointError(f"no recurrent module named {name!r}; modules: {names}", path=path)
    return hits[0]


def resolve_network(
    ckpt: Checkpoint | Network, module: RecurrentModule | str | None = None
) -> Network:
    """Resolve ``module`` of ``ckpt`` (default: the first) into a ``Network``, checking its weights.

    Raises CheckpointError for NaN/Inf weights (naming the tensor) or an unsupported
    nonlinearity, SimulationError for a module that cannot run as a PyTorch module.
    """
    if isinstance(ckpt, Network):
        return ckpt
    if not isinstance(ckpt, Checkpoint):
        from rnndyn.readers.checkpoint import as_checkpoint

        ckpt = as_checkpoint(ckpt)
    if isinstance(module, RecurrentModule):  # e.g. a custom matrix named with --matrix
        mod = module
        try:
            mods = find_modules(ckpt)
        except CheckpointError:
            mods = [mod]
    else:
        mods = find_modules(ckpt)
        mod = _pick(mods, module, ckpt.path)
    if mod.simulation:
        raise SimulationError(
            f"module {mod.name or '(root)'!r} cannot be simulated: {mod.simulation}",
            path=ckpt.path,
        )
    weights = module_weights(ckpt, mod)  # validated (finite floats) and converted once
    sd: dict[str, torch.Tensor] = {k: _tensor(v) for k, v in weights.params.items()}
    if mod.cell:
        sd = {f"{k}_l0": v for k, v in sd.items()}
    nonlin = (mod.nonlinearity or "tanh") if mod.arch in ("rnn", "custom") else "tanh"
    if nonlin not in ("tanh", "relu"):
        raise CheckpointError(
            f"nonlinearity {nonlin!r} is not supported (PyTorch RNNs use 'tanh' or 'relu')",
            path=ckpt.path,
        )
    params = {
        (layer, d): _layer_from(sd, mod, nonlin, layer, d)
        for layer in range(mod.num_layers)
        for d in mod.directions
    }
    others = tuple(m.name or "(root)" for m in mods if m.name != mod.name)
    return Network(
        module=mod,
        params=params,
        inputless="weight_ih_l0" not in sd,
        path=str(ckpt.path),
        sha256=ckpt.sha256,
        format=ckpt.format,
        metadata=dict(ckpt.metadata or {}),
        others=others,
        operators=weights.operators,
    )


def _layer_from(
    sd: Mapping[str, torch.Tensor], mod: RecurrentModule, nonlin: str, layer: int, direction: str
) -> LayerParams:
    """One layer's float64 weights from a PyTorch-named state dict (zeros for missing biases)."""
    dt = torch.float64
    suffix = f"_l{layer}" + ("_reverse" if direction == "reverse" else "")
    w_hh = sd[next(iter(sd))] if mod.arch == "custom" else sd["weight_hh" + suffix]
    kh = w_hh.shape[0]
    w_ih = sd.get("weight_ih" + suffix)
    zeros = torch.zeros(kh, dtype=dt)
    b_ih, b_hh, w_hr = (sd.get(n + suffix) for n in ("bias_ih", "bias_hh", "weight_hr"))
    return LayerParams(
        mod.arch,
        nonlin,
        layer,
        direction,
        torch.zeros(kh, max(mod.input_size or 1, 1), dtype=dt) if w_ih is None else w_ih,
        w_hh,
        zeros if b_ih is None else b_ih,
        zeros if b_hh is None else b_hh,
        w_hr,
    )


def _tensor(a: np.ndarray) -> torch.Tensor:
    """A float64 array as a tensor sharing its memory (a copy only for a read-only array)."""
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def layer_params(
    ckpt: Checkpoint | Network,
    module: RecurrentModule | None = None,
    layer: int = 0,
    direction: str = "forward",
    *,
    dtype: torch.dtype = torch.float64,
    input_size: int | None = None,
) -> LayerParams:
    """Weights of one layer/direction. ``input_size`` sizes the zero input weights of input-less modules."""
    net = resolve_network(ckpt, module)
    return net.layer(layer, direction, dtype=dtype, input_size=input_size)


def build_layer(
    ckpt: Checkpoint | Network,
    module: RecurrentModule | None,
    layer: int,
    *,
    dtype: torch.dtype = torch.float64,
    input_size: int | None = None,
) -> nn.RNNBase:
    """A single-layer fused module (both directions when bidirectional) holding layer ``layer``."""
    net = resolve_network(ckpt, module)
    params = [
        net.layer(layer, d, dtype=dtype, input_size=input_size) for d in net.module.directions
    ]
    module = net.module
    p = params[0]
    kwargs = dict(
        input_size=p.w_ih.shape[1],
        hidden_size=p.hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        bidirectional=module.bidirectional,
        dtype=dtype,
    )
    if p.arch in ("rnn", "custom"):
        rnn: nn.RNNBase = nn.RNN(nonlinearity=p.nonlinearity, **kwargs)
    elif p.arch == "gru":
        rnn = nn.GRU(**kwargs)
    else:
        rnn = nn.LSTM(proj_size=module.proj_size, **kwargs)
    state: dict[str, torch.Tensor] = {}
    for q in params:
        sfx = "_l0" + ("_reverse" if q.direction == "reverse" else "")
        state |= {
            f"weight_ih{sfx}": q.w_ih,
            f"weight_hh{sfx}": q.w_hh,
            f"bias_ih{sfx}": q.b_ih,
            f"bias_hh{sfx}": q.b_hh,
        }
        if q.w_hr is not None:
            state[f"weight_hr{sfx}"] = q.w_hr
    rnn.load_state_dict(state)
    return rnn.requires_grad_(False)


@dataclass(frozen=True, eq=False)
class RunnableLayer:
    """One layer ready to simulate: the fused module (both directions) and each direction's weights."""

    module: nn.RNNBase
    params: Mapping[str, LayerParams]


def runnable_layers(
    net: Network, input_size: int, *, dtype: torch.dtype = torch.float64
) -> list[RunnableLayer]:
    """Every layer of ``net`` as a ``RunnableLayer`` in ``dtype`` (``input_size`` sizes the zero
    input weights of an input-less module): the weights come from ``net`` as resolved, converted
    at most once per dtype."""
    mod = net.module
    return [
        RunnableLayer(
            build_layer(net, mod, layer, dtype=dtype, input_size=input_size),
            {d: net.layer(layer, d, dtype=dtype, input_size=input_size) for d in mod.directions},
        )
        for layer in range(mod.num_layers)
    ]


def _layer_suffix(layer: int, m: re.Match[str]) -> str:
    return f"_l{layer}{m[2] or ''}"


def build_network(
    ckpt: Checkpoint | Network,
    module: RecurrentModule | str | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    input_size: int | None = None,
) -> nn.RNNBase:
    """The whole module as one fused ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (time-major, ``batch_first=False``).

    ``input_size`` is needed only for modules whose input weights are unknown (custom matrices).
    """
    net = resolve_network(ckpt, module)
    mod = net.module
    layers = [
        build_layer(net, mod, k, dtype=dtype, input_size=input_size) for k in range(mod.num_layers)
    ]
    first = layers[0]
    kwargs = dict(
        input_size=first.input_size,
        hidden_size=first.hidden_size,
        num_layers=mod.num_layers,
        bias=True,
        bidirectional=mod.bidirectional,
        dtype=dtype,
    )
    if isinstance(first, nn.LSTM):
        rnn: nn.RNNBase = nn.LSTM(proj_size=first.proj_size, **kwargs)
    elif isinstance(first, nn.GRU):
        rnn = nn.GRU(**kwargs)
    else:
        rnn = nn.RNN(nonlinearity=first.nonlinearity, **kwargs)
    state: dict[str, torch.Tensor] = {}
    for k, lay in enumerate(layers):
        for name, t in lay.state_dict().items():
            state[_LAYER.sub(partial(_layer_suffix, k), name)] = t
    rnn.load_state_dict(state)
    return rnn.requires_grad_(False)

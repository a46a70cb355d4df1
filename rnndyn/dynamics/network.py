"""Rebuild runnable torch modules (``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``) from a checkpoint, for simulation.

The weights come from ``operators.module_state_dict``, so every layout the loader accepts runs:
multi-layer, bidirectional, LSTM ``proj_size``, cells (``nn.RNNCell``-style keys) and custom square
matrices. A custom module (arch ``"custom"``: only a square matrix ``W`` is known) runs as
``h_t = φ(W h_{t-1})`` with φ = tanh (or the checkpoint's ``nonlinearity``): its input is ignored.
A module without ``weight_ih`` likewise ignores its input (zero input weights).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from rnndyn.errors import CheckpointError
from rnndyn.io.checkpoint import Checkpoint
from rnndyn.operators import RecurrentModule, find_modules, module_state_dict

BLOCKS = {"rnn": 1, "custom": 1, "gru": 3, "lstm": 4}
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


def pick_module(ckpt: Checkpoint, module: RecurrentModule | str | None = None) -> RecurrentModule:
    """The recurrent module to run: given, named, or the first one found."""
    if isinstance(module, RecurrentModule):
        return module
    mods = find_modules(ckpt)
    if module is None:
        return mods[0]
    hits = [m for m in mods if m.name == module]
    if not hits:
        names = ", ".join(repr(m.name) for m in mods)
        raise CheckpointError(
            f"no recurrent module named {module!r}; modules: {names}", path=ckpt.path
        )
    return hits[0]


def _torch_names(ckpt: Checkpoint, module: RecurrentModule) -> dict[str, torch.Tensor]:
    """``module_state_dict`` with cell keys renamed to layer-0 names (``weight_hh`` → ``weight_hh_l0``)."""
    sd = module_state_dict(ckpt, module)
    if module.cell:
        sd = {f"{k}_l0": v for k, v in sd.items()}
    return sd


def _dtype(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return t.detach().to(device="cpu", dtype=dtype)


def layer_params(
    ckpt: Checkpoint,
    module: RecurrentModule,
    layer: int = 0,
    direction: str = "forward",
    *,
    dtype: torch.dtype = torch.float64,
    input_size: int | None = None,
) -> LayerParams:
    """Weights of one layer/direction. ``input_size`` sizes the zero input weights of input-less modules."""
    sd = _torch_names(ckpt, module)
    nonlin = (module.nonlinearity or "tanh") if module.arch in ("rnn", "custom") else "tanh"
    if nonlin not in ("tanh", "relu"):
        raise CheckpointError(
            f"nonlinearity {nonlin!r} is not supported (PyTorch RNNs use 'tanh' or 'relu')",
            path=ckpt.path,
        )
    if module.arch == "custom":
        w_hh = _dtype(next(iter(sd.values())), dtype)
        arch = "custom"
    else:
        suffix = f"_l{layer}" + ("_reverse" if direction == "reverse" else "")
        w_hh = _dtype(sd["weight_hh" + suffix], dtype)
        arch = module.arch
    kh = w_hh.shape[0]
    suffix = f"_l{layer}" + ("_reverse" if direction == "reverse" else "")
    w_ih = sd.get("weight_ih" + suffix)
    if w_ih is None:
        w_ih = torch.zeros(kh, max(input_size or 1, 1), dtype=dtype)
    zeros = torch.zeros(kh, dtype=dtype)
    b_ih, b_hh = sd.get("bias_ih" + suffix), sd.get("bias_hh" + suffix)
    w_hr = sd.get("weight_hr" + suffix)
    return LayerParams(
        arch,
        nonlin,
        layer,
        direction,
        _dtype(w_ih, dtype),
        w_hh,
        zeros if b_ih is None else _dtype(b_ih, dtype),
        zeros if b_hh is None else _dtype(b_hh, dtype),
        None if w_hr is None else _dtype(w_hr, dtype),
    )


def build_layer(
    ckpt: Checkpoint,
    module: RecurrentModule,
    layer: int,
    *,
    dtype: torch.dtype = torch.float64,
    input_size: int | None = None,
) -> nn.RNNBase:
    """A single-layer fused module (both directions when bidirectional) holding layer ``layer``."""
    params = [
        layer_params(ckpt, module, layer, d, dtype=dtype, input_size=input_size)
        for d in module.directions
    ]
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
        net: nn.RNNBase = nn.RNN(nonlinearity=p.nonlinearity, **kwargs)
    elif p.arch == "gru":
        net = nn.GRU(**kwargs)
    else:
        net = nn.LSTM(proj_size=module.proj_size, **kwargs)
    state = {}
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
    net.load_state_dict(state)
    return net.requires_grad_(False)


def build_network(
    ckpt: Checkpoint,
    module: RecurrentModule | str | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    input_size: int | None = None,
) -> nn.RNNBase:
    """The whole module as one fused ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (time-major, ``batch_first=False``).

    ``input_size`` is needed only for modules whose input weights are unknown (custom matrices).
    """
    mod = pick_module(ckpt, module)
    layers = [
        build_layer(ckpt, mod, k, dtype=dtype, input_size=input_size) for k in range(mod.num_layers)
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
        net: nn.RNNBase = nn.LSTM(proj_size=first.proj_size, **kwargs)
    elif isinstance(first, nn.GRU):
        net = nn.GRU(**kwargs)
    else:
        net = nn.RNN(nonlinearity=first.nonlinearity, **kwargs)
    state = {}
    for k, lay in enumerate(layers):
        for name, t in lay.state_dict().items():
            state[_LAYER.sub(lambda m, k=k: f"_l{k}{m[2] or ''}", name)] = t
    net.load_state_dict(state)
    return net.requires_grad_(False)

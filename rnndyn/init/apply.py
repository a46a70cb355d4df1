"""Apply a named initializer to every layer, direction and gate block of an RNN/LSTM/GRU.

PyTorch stacks the gate blocks along dim 0 (LSTM ``i, f, g, o``: ``weight_hh`` is ``(4H, H)``;
GRU ``r, z, n``: ``(3H, H)``); each ``H×H`` block is initialised on its own, so an orthogonal LSTM
has four orthogonal blocks (the stacked matrix is *not* orthogonal).

LSTM with ``proj_size = P > 0``: ``weight_hh`` is ``(4H, P)`` and the recurrent map of gate ``•``
is the ``P×P`` product ``W_hr · W_h•`` (DESIGN §1). The initializer then draws that ``P×P`` map
``M_•`` (square rules apply unchanged), ``weight_hr`` (``P×H``) gets orthonormal rows, and
``W_h• = W_hrᵀ M_•``, so ``W_hr · W_h• = M_•`` exactly. (``default`` keeps PyTorch's rule.)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnndyn.errors import UsageError
from rnndyn.init import registry, zoo
from rnndyn.init.zoo_basic import fill_

_ARCHS = ((nn.LSTM, "lstm"), (nn.GRU, "gru"), (nn.RNN, "rnn"))
_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def architecture(module: nn.Module) -> str:
    """``"rnn"``, ``"lstm"`` or ``"gru"``; ``UsageError`` for anything else."""
    for cls, name in _ARCHS:
        if isinstance(module, cls):
            return name
    raise UsageError(
        f"apply_ needs a torch.nn.RNN, LSTM or GRU (or a module containing one), "
        f"got {type(module).__name__}",
        hint="For a custom cell, call the initializer functions (e.g. rnndyn.init.orthogonal_) "
        "on its recurrent matrix directly.",
    )


def apply_(
    module: nn.Module,
    init: Any = "default",
    *,
    params: Any = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> nn.Module:
    """Initialise ``module`` in place with the registered initializer ``init``; return ``module``.

    ``init``: a registry name (see ``rnndyn.init.registry.names()``), or an ``EigenInitParams``
    (same as ``init="eigen", params=...``). ``options`` override the initializer's defaults (e.g.
    ``gain=0.9``, ``t_max=200``). Every layer and direction is filled in a fixed order from
    ``generator``, so the same generator state gives the same weights.

    A module that is not itself an ``nn.RNN``/``LSTM``/``GRU`` (e.g. a model with an ``rnn``
    attribute) has every such submodule initialised, in ``modules()`` order.

    Raises ``UsageError`` for an unknown name or option, ``chrono`` on a vanilla RNN (no gates) or a
    bias-free module, ``eigen`` without ``params``, or ``params`` with another initializer.
    """
    if not isinstance(module, nn.RNNBase):
        inner = [m for m in module.modules() if isinstance(m, nn.RNNBase)]
        for m in inner:
            apply_(m, init, params=params, generator=generator, **options)
        if inner:
            return module
    arch = architecture(module)
    if not isinstance(init, str):
        if params is not None:
            raise UsageError("pass the eigen parameters either as init or as params, not both")
        init, params = "eigen", init
    entry = registry.get(init)
    opts = entry.resolve_options(**options)
    _check(entry, arch, module, params)
    assert isinstance(module, nn.RNNBase)
    hidden = module.hidden_size
    if entry.name == "default":
        for p in module.parameters():
            zoo.uniform_default_(p, hidden, generator=generator)
        return module
    suffixes = ("", "_reverse") if module.bidirectional else ("",)
    for layer in range(module.num_layers):
        for sfx in suffixes:
            w = {k: getattr(module, f"{k}_l{layer}{sfx}", None) for k in _PARAMS}
            _recurrent(entry, opts, arch, w["weight_hh"], w["weight_hr"], params, generator)
            _inputs(entry, arch, w["weight_ih"], hidden, generator)
            _biases(entry, opts, arch, w["bias_ih"], w["bias_hh"], hidden, generator, params)
    return module


def _check(entry: registry.Initializer, arch: str, module: nn.Module, params: Any) -> None:
    if entry.gated_only and arch == "rnn":
        raise UsageError(
            f"initializer {entry.name!r} sets gate biases and a vanilla RNN has no gates",
            hint="Use it with an LSTM or GRU.",
        )
    if entry.biases == "chrono" and not module.bias:
        raise UsageError(
            f"initializer {entry.name!r} sets biases, but the module was built with bias=False"
        )
    if entry.needs_params and params is None:
        raise UsageError(
            f"initializer {entry.name!r} needs a parameter file (params=EigenInitParams)",
            hint="Fit one with `rnndyn init fit` or load a shipped one with "
            "rnndyn.init.EigenInitParams.load(path).",
        )
    if params is not None and not entry.needs_params:
        raise UsageError(f"initializer {entry.name!r} takes no params; params are for 'eigen'")


def _blocks(w: Tensor, n_gates: int) -> Tensor:
    """Detached ``(G, rows/G, cols)`` view of a stacked weight (writes go to the parameter)."""
    return w.detach().view(n_gates, w.shape[0] // n_gates, w.shape[1])


def _recurrent(entry, opts, arch, w_hh, w_hr, params, generator) -> None:
    n_gates = len(zoo.GATES[arch])
    if "weights" not in entry.applies_to:
        for w in (w_hh, w_hr):
            if w is not None:
                zoo.uniform_default_(w, w_hh.shape[0] // n_gates, generator=generator)
        return
    target = w_hh
    if w_hr is not None:  # proj_size > 0: draw the P×P maps, then lift them through W_hr
        zoo.orthogonal_(w_hr, generator=generator)
        proj = w_hr.shape[0]
        target = torch.empty(n_gates * proj, proj, dtype=torch.float64)
    if entry.name == "eigen":
        _eigen()(target, params, layout=arch, generator=generator)
    else:
        for block in _blocks(target, n_gates):
            entry.fn(block, **opts, generator=generator)
    if w_hr is not None:
        lifted = w_hr.detach().double().T @ _blocks(target, n_gates)  # (G, H, P)
        fill_(w_hh, lifted.reshape(w_hh.shape))


def _eigen() -> Any:
    try:
        from rnndyn.init.sample import eigen_
    except ModuleNotFoundError as err:
        if err.name not in ("rnndyn.init.sample", "rnndyn.init.law", "rnndyn.init.fit"):
            raise
        raise UsageError(
            f"the eigen initializer is not available in this installation ({err.name} is missing)",
            hint="Use one of the other initializers, or update rnndyn.",
        ) from None
    return eigen_


def _inputs(entry, arch, w_ih, hidden, generator) -> None:
    for block in _blocks(w_ih, len(zoo.GATES[arch])):
        if entry.input_weights == "default":
            zoo.uniform_default_(block, hidden, generator=generator)
        elif entry.input_weights == "source":
            zoo.source_(block)
        else:
            zoo.xavier_uniform_(block, generator=generator)


def _biases(entry, opts, arch, b_ih, b_hh, hidden, generator, params=None) -> None:
    if b_ih is None:
        return
    if entry.biases == "default":
        zoo.uniform_default_(b_ih, hidden, generator=generator)
        zoo.uniform_default_(b_hh, hidden, generator=generator)
        return
    with torch.no_grad():
        b_ih.zero_()
        b_hh.zero_()
    if entry.biases == "chrono":
        zoo.chrono_(b_hh, opts["t_max"], layout=arch, generator=generator)
    elif entry.biases == "law" and getattr(params, "gate_biases", None):
        from rnndyn.init.sample import eigen_bias_

        eigen_bias_(b_hh, params, layout=arch, generator=generator)

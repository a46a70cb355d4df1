"""Checkpoint → square recurrent operators (per module, layer, direction and gate), in float64.

The modules are found by ``find_modules`` (``rnndyn.readers.modules``, re-exported here). With
``proj_size`` the square recurrent maps are the P×P products ``weight_hr @ weight_hh[gate]``.
``module_weights`` reads one module once: every parameter converted to float64 a single time, the
operators views of the same arrays (what ``rnndyn.dynamics.Network`` is built from).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn.conditioning import UNIT_ROUNDOFF, unit_roundoff
from rnndyn.naming import VANILLA, OperatorId
from rnndyn.readers.modules import (
    ARCH_BY_BLOCKS,
    GATES,
    ModuleRecord,
    RecurrentModule,
    find_modules,
)

if TYPE_CHECKING:  # pragma: no cover - torch is imported where tensors are read, not at import
    import torch

    from rnndyn.readers.checkpoint import Checkpoint

__all__ = [
    "ARCH_BY_BLOCKS",
    "GATES",
    "ModuleRecord",
    "ModuleWeights",
    "OperatorId",
    "RecurrentModule",
    "RecurrentOperator",
    "extract_operators",
    "find_modules",
    "float64_bytes",
    "module_operators",
    "module_state_dict",
    "module_weights",
]


class Identified:
    """The identity's fields, readable on every result that holds an ``identity: OperatorId``."""

    identity: OperatorId

    @property
    def module(self) -> str:
        return self.identity.module

    @property
    def arch(self) -> str:
        return self.identity.arch

    @property
    def layer(self) -> int:
        return self.identity.layer

    @property
    def direction(self) -> str:
        return self.identity.direction

    @property
    def gate(self) -> str:
        """``hh``, a gate letter, ``jac`` or ``jacfp`` (see ``rnndyn.naming``)."""
        return self.identity.gate

    @property
    def id(self) -> str:
        """``l{layer}.{fwd|rev}.{hh|i|f|g|o|r|z|n|jac|jacfp}`` (see :mod:`rnndyn.naming`)."""
        return self.identity.id

    @property
    def qualified_id(self) -> str:
        """``module:id`` when the operator belongs to a named module, else ``id``."""
        return self.identity.qualified_id


@dataclass(frozen=True)
class RecurrentOperator(Identified):
    """A square recurrent map in float64, with which operator it is and where it came from.

    ``identity`` names it (module, arch, layer, direction, gate: ``hh`` for a vanilla ``W_hh``;
    ``"i","f","g","o"`` / ``"r","z","n"`` for gate blocks; ``"jac"``/``"jacfp"`` for a state
    Jacobian); its fields read as attributes (``op.layer``, ``op.gate``, ``op.qualified_id``).
    ``matrix`` has shape ``(n, n)``. ``dtype`` is the precision the weights were stored in;
    ``roundoff`` the relative error storing them allows, ``‖E‖F ≤ roundoff·‖matrix‖F`` (its unit
    roundoff; more for products, see ``module_operators``).
    """

    identity: OperatorId
    matrix: np.ndarray = field(repr=False)
    source: str = ""
    dtype: str = "float64"
    roundoff: float = UNIT_ROUNDOFF["float64"]

    @property
    def n(self) -> int:
        return int(self.matrix.shape[0])


def _read(
    ckpt: Checkpoint, keys: Iterable[str], cache: dict[tuple[Any, ...], np.ndarray] | None
) -> dict[str, tuple[np.ndarray, str]]:
    """``{key: (float64 array, stored dtype)}`` for the ``keys`` present, each checked floating
    point and finite first (else CheckpointError naming the key), in one pass over the tensors;
    torch is not imported for arrays read from non-torch files. ``cache``: one float64 array per
    distinct view (250 keys viewing one storage: converted once)."""
    from functools import partial

    from rnndyn.readers.tensors import read_float64
    from rnndyn.readers.validate import check_weights

    check = partial(check_weights, path=ckpt.path)
    return read_float64(ckpt.tensors, keys, check=check, cache=cache)


def float64_bytes(ckpt: Checkpoint, keys: Iterable[str]) -> int:
    """Bytes the float64 copies of ``keys`` take, each distinct view counted once."""
    from rnndyn.readers.tensors import raw, view_id

    seen = {}
    for key in keys:
        t = raw(ckpt.tensors, key) if key in ckpt.tensors else None
        if t is not None:
            seen[view_id(t)] = 8 * int(np.prod(t.shape))
    return sum(seen.values())


@dataclass(frozen=True, eq=False)
class ModuleWeights:
    """One module's weights, each read and converted to float64 once.

    ``params``: float64 arrays under PyTorch's own names (``weight_hh_l0``, …; a cell's and a custom
    matrix's keys as stored); ``operators``: the square operators, views of (or products of) the
    same arrays.
    """

    module: RecurrentModule
    params: Mapping[str, np.ndarray]
    operators: tuple[RecurrentOperator, ...]


def module_weights(
    ckpt: Checkpoint,
    module: RecurrentModule,
    cache: dict[tuple[Any, ...], np.ndarray] | None = None,
) -> ModuleWeights:
    """Every stored parameter of ``module`` validated (floating point, finite: else CheckpointError
    naming the key) and converted to float64 once, with the module's operators built from them.
    ``cache``: shared by the modules of one checkpoint so repeated views share one array."""
    prefix = f"{module.name}." if module.name else ""
    if module.arch == "custom":
        key = module.matrix_key or ""
        w, dt = _read(ckpt, [key], cache)[key]
        ident = OperatorId(0, "forward", VANILLA, module.name, "custom")
        op = RecurrentOperator(ident, w, key, dt, _u(dt))
        return ModuleWeights(module, {key.removeprefix(prefix): w}, (op,))
    read = _read(ckpt, module.parameter_keys.values(), cache)
    ops = _operators(ckpt, module, read)
    named = {k.removeprefix(prefix): v for k, (v, _) in read.items()}
    return ModuleWeights(module, named, tuple(ops))


def _operators(
    ckpt: Checkpoint, module: RecurrentModule, read: Mapping[str, tuple[np.ndarray, str]]
) -> list[RecurrentOperator]:
    """The gate-block operators of every layer and direction (``weight_hr`` products with a
    projection), from the float64 ``read`` weights."""
    h, keys = module.hidden_size, module.parameter_keys
    ops = []
    for layer in range(module.num_layers):
        for direction in module.directions:
            key = keys[(layer, direction, "weight_hh")]
            hr_key = keys[(layer, direction, "weight_hr")]
            w, dt = read[key]
            hr = read[hr_key][0] if module.proj_size and hr_key in read else None
            u_w = _u(dt)
            for g, gate in enumerate(module.gates):
                block, u = w[g * h : (g + 1) * h], u_w
                source = f"{key}[{g * h}:{(g + 1) * h}]" if gate != VANILLA else key
                if key in ckpt.sources:
                    source = f"{source} (from {ckpt.sources[key]})"
                if hr is not None:  # both factors rounded: ‖E‖F ≤ 2u‖W_hr‖F‖W_g‖F (first order)
                    prod = hr @ block
                    scale = np.linalg.norm(hr) * np.linalg.norm(block) / np.linalg.norm(prod)
                    block, u = prod, u * 2.0 * float(scale) if np.isfinite(scale) else u
                    source = f"{hr_key} @ {source}"
                ident = OperatorId(layer, direction, gate, module.name, module.arch)
                ops.append(RecurrentOperator(ident, np.ascontiguousarray(block), source, dt, u))
    return ops


def module_operators(
    ckpt: Checkpoint,
    module: RecurrentModule,
    cache: dict[tuple[Any, ...], np.ndarray] | None = None,
) -> list[RecurrentOperator]:
    """Square operators of one module: per layer, direction and gate block, in float64.
    ``cache``: shared by the modules of one checkpoint so repeated views share one array."""
    if module.arch == "custom":
        return list(module_weights(ckpt, module, cache).operators)
    wanted = ("weight_hh", "weight_hr") if module.proj_size else ("weight_hh",)
    keys = [k for (_, _, param), k in module.parameter_keys.items() if param in wanted]
    return _operators(ckpt, module, _read(ckpt, keys, cache))


def _u(dtype: str) -> float:
    return unit_roundoff(dtype)


def _is_checkpoint(obj: Any) -> bool:
    """Whether ``obj`` is a ``Checkpoint``, without importing torch to find out."""
    mod = sys.modules.get("rnndyn.readers.checkpoint")
    return mod is not None and isinstance(obj, mod.Checkpoint)


def extract_operators(
    ckpt: Checkpoint | Any,
    *,
    matrix: str | None = None,
    modules: list[RecurrentModule] | None = None,
) -> list[RecurrentOperator]:
    """All square recurrent operators of a checkpoint (every module, layer, direction, gate).

    ``ckpt``: a ``Checkpoint``, a path, an ``nn.Module`` or a state dict (``readers.checkpoint.as_checkpoint``).
    """
    if not _is_checkpoint(ckpt):
        from rnndyn.readers.checkpoint import as_checkpoint

        ckpt = as_checkpoint(ckpt)
    modules = find_modules(ckpt, matrix=matrix) if modules is None else modules
    cache: dict[tuple[Any, ...], np.ndarray] = {}
    return [op for mod in modules for op in module_operators(ckpt, mod, cache)]


def module_state_dict(ckpt: Checkpoint, module: RecurrentModule) -> dict[str, torch.Tensor]:
    """The module's parameters under PyTorch's own names (``weight_hh_l0``, …), for ``load_state_dict``."""
    prefix = f"{module.name}." if module.name else ""
    if module.arch == "custom":
        key = module.matrix_key or ""
        return {key.removeprefix(prefix): ckpt.tensors[key]}
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
    out: dict[str, torch.Tensor] = {}
    for layer in range(module.num_layers):
        for direction in module.directions:
            for param in names:
                key = module.key(param, layer, direction)
                if key in ckpt.tensors:
                    out[key.removeprefix(prefix)] = ckpt.tensors[key]
    return out

"""Checkpoint → the recurrent modules it holds: found, inferred and validated against PyTorch's layout.

PyTorch layout: ``weight_hh_l{K}[_reverse]`` stacks gate blocks along dim 0 — LSTM ``i, f, g, o``
(4H×H, or 4H×P with ``proj_size=P``), GRU ``r, z, n`` (3H×H), vanilla RNN one block (H×H).
Hand-written cells are found by the name of their square recurrent matrix (``W_hh``,
``recurrent.weight``, ``h2h.weight``, …) or named explicitly with ``matrix=KEY``. Shapes only: no
weight is converted here (``rnndyn.operators`` reads the values). Import the names from
``rnndyn.operators``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, TypedDict

from rnndyn.errors import CheckpointError, UsageError
from rnndyn.naming import GATES as _GATE_NAMES
from rnndyn.naming import VANILLA

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.readers.checkpoint import Checkpoint

__all__ = ["ARCH_BY_BLOCKS", "GATES", "ModuleRecord", "RecurrentModule", "find_modules"]

# gate of each block (``hh``: the single block of a vanilla RNN or a hand-written cell)
GATES: dict[str, tuple[str, ...]] = {
    "rnn": (VANILLA,),
    "lstm": _GATE_NAMES["lstm"],
    "gru": _GATE_NAMES["gru"],
    "custom": (VANILLA,),
}
ARCH_BY_BLOCKS = {1: "rnn", 3: "gru", 4: "lstm"}
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")  # per layer and direction

_HH = re.compile(r"^(?P<prefix>(?:.*\.)?)weight_hh(?:_l(?P<layer>\d+)(?P<rev>_reverse)?)?$")
_CUSTOM = re.compile(
    r"(?:^|\.)(?:w_hh|whh|w_rec|wrec|w_rr|recurrent_weight|recurrent_kernel|weight_rec|"
    r"(?:recurrent|rec|hh|h2h|hidden2hidden|w_hh)\.weight)$",
    re.IGNORECASE,
)


class _ModuleFields(TypedDict):
    name: str
    architecture: str
    nonlinearity: str | None
    input_size: int | None
    hidden_size: int
    num_layers: int
    bidirectional: bool
    proj_size: int
    bias: bool
    cell: bool


class ModuleRecord(_ModuleFields, total=False):
    """``RecurrentModule.to_dict()``: the ``module`` object of the JSON documents (``simulation``
    only for a module that cannot run as a PyTorch module)."""

    simulation: str


@dataclass(frozen=True)
class RecurrentModule:
    """One recurrent module found in a checkpoint (an nn.RNN/LSTM/GRU, a cell, or a custom matrix).

    ``name`` is its module path (``"encoder.lstm"``; ``""`` for a bare state_dict).
    ``hidden_size`` is the cell size H (also for LSTMs with ``proj_size`` > 0).
    """

    name: str
    arch: str
    hidden_size: int
    input_size: int | None = None
    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0
    bias: bool = True
    nonlinearity: str | None = None
    cell: bool = False
    matrix_key: str | None = None  # custom modules: the square recurrent parameter
    simulation: str | None = None  # why it cannot run as a PyTorch module (None: it can)

    def key(self, param: str, layer: int = 0, direction: str = "forward") -> str:
        """Full checkpoint key of a PyTorch parameter, e.g. ``key("weight_hh", 1, "reverse")``."""
        prefix = f"{self.name}." if self.name else ""
        if self.cell:
            return f"{prefix}{param}"
        suffix = "_reverse" if direction == "reverse" else ""
        return f"{prefix}{param}_l{layer}{suffix}"

    @cached_property
    def parameter_keys(self) -> dict[tuple[int, str, str], str]:
        """``{(layer, direction, param): key}`` for PyTorch's per-layer parameters (``weight_ih``,
        ``weight_hh``, ``bias_ih``, ``bias_hh``, ``weight_hr``), present in the file or not."""
        return {
            (layer, d, param): self.key(param, layer, d)
            for layer in range(self.num_layers)
            for d in self.directions
            for param in PARAMS
        }

    @property
    def directions(self) -> tuple[str, ...]:
        return ("forward", "reverse") if self.bidirectional else ("forward",)

    @property
    def gates(self) -> tuple[str, ...]:
        return GATES[self.arch]

    def to_dict(self) -> ModuleRecord:
        record: ModuleRecord = {
            "name": self.name,
            "architecture": self.arch,
            "nonlinearity": self.nonlinearity,
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "proj_size": self.proj_size,
            "bias": self.bias,
            "cell": self.cell,
        }
        if self.simulation:
            record["simulation"] = self.simulation
        return record


Shapes = dict[str, tuple[int, ...]]  # every key's shape, read once (``tensors.shapes``)


def _shape_error(
    ckpt: Checkpoint, key: str, shape: tuple[int, ...], expected: str
) -> CheckpointError:
    return CheckpointError(
        f"tensor {key!r} has shape {tuple(shape)}, inconsistent with {expected}",
        path=ckpt.path,
        hint="The file may be corrupted or not a standard PyTorch RNN/LSTM/GRU; "
        "name a square recurrent matrix with --matrix KEY.",
    )


def _infer_arch(ckpt: Checkpoint, shapes: Shapes, prefix: str, first: str) -> tuple[str, int, int]:
    """``(arch, hidden, proj_size)`` from the first ``weight_hh`` (and ``weight_hr_l0``) shapes."""
    rows, cols = shapes[first][0], shapes[first][-1]
    hr_key = f"{prefix}weight_hr_l0"
    proj = shapes[hr_key][0] if hr_key in shapes else 0
    hidden = shapes[hr_key][1] if proj else cols
    blocks = rows // hidden if hidden and rows % hidden == 0 else 0
    arch = ARCH_BY_BLOCKS.get(blocks)
    if arch is None or (proj and arch != "lstm"):
        raise _shape_error(ckpt, first, shapes[first], "any RNN (H×H), GRU (3H×H) or LSTM (4H×H)")
    return arch, hidden, proj


def _expected_shapes(mod: RecurrentModule) -> dict[str, tuple[int, ...]]:
    """PyTorch's shape for each per-layer parameter except ``weight_ih``."""
    kh = len(mod.gates) * mod.hidden_size
    out = {"weight_hh": (kh, mod.proj_size or mod.hidden_size), "bias_hh": (kh,), "bias_ih": (kh,)}
    if mod.proj_size:
        out["weight_hr"] = (mod.proj_size, mod.hidden_size)
    return out


def _check_params(
    ckpt: Checkpoint, shapes: Shapes, mod: RecurrentModule, layer: int, direction: str
) -> None:
    """Required parameters present (biases only when the module has them), shapes as PyTorch's."""
    for param, shape in _expected_shapes(mod).items():
        key = mod.key(param, layer, direction)
        if key not in shapes:
            if param.startswith("bias") and not mod.bias:
                continue
            raise CheckpointError(
                f"module {mod.name or '(root)'!r} lacks {key!r} (expected for an {mod.arch.upper()} "
                f"with {mod.num_layers} layer(s){', bidirectional' if mod.bidirectional else ''})",
                path=ckpt.path,
            )
        if shapes[key] != shape:
            raise _shape_error(
                ckpt, key, shapes[key], f"{mod.arch.upper()} hidden size {mod.hidden_size}"
            )


def _check_input_weight(
    ckpt: Checkpoint, shapes: Shapes, mod: RecurrentModule, layer: int, direction: str
) -> None:
    """``weight_ih`` (if stored) has the gate rows, and layer k > 0 reads the layer below."""
    key = mod.key("weight_ih", layer, direction)
    if key not in shapes:
        return
    shape = shapes[key]
    out = mod.proj_size or mod.hidden_size
    want_in = out * (2 if mod.bidirectional else 1) if layer > 0 else None
    rows = len(mod.gates) * mod.hidden_size
    if len(shape) != 2 or shape[0] != rows or (want_in is not None and shape[1] != want_in):
        raise _shape_error(ckpt, key, shape, f"{mod.arch.upper()} hidden size {mod.hidden_size}")


def _conventions(ckpt: Checkpoint, name: str, arch: str) -> tuple[str | None, str | None]:
    """``(nonlinearity, simulation blocker)`` for a module, from the file's conventions or metadata."""
    conv = ckpt.conventions.get(name, {})
    nonlin = conv.get("nonlinearity") or (ckpt.metadata or {}).get("nonlinearity") or "tanh"
    return (str(nonlin) if arch == "rnn" else None), conv.get("simulation")


def _torch_module(
    ckpt: Checkpoint, shapes: Shapes, prefix: str, entries: list[tuple[int, str, str]]
) -> RecurrentModule:
    """Infer and validate an nn.RNN/LSTM/GRU (or cell) from its ``weight_hh`` keys."""
    name = prefix[:-1] if prefix.endswith(".") else prefix
    cell = all(layer < 0 for layer, _, _ in entries)
    layers = sorted({max(layer, 0) for layer, _, _ in entries})
    if layers != list(range(len(layers))):
        raise CheckpointError(
            f"module {name!r} has layers {layers}; expected 0..{len(layers) - 1}", path=ckpt.path
        )
    arch, hidden, proj = _infer_arch(ckpt, shapes, prefix, entries[0][2])
    nonlin, blocker = _conventions(ckpt, name, arch)
    mod = RecurrentModule(
        name=name,
        arch=arch,
        hidden_size=hidden,
        num_layers=len(layers),
        bidirectional=any(d == "reverse" for _, d, _ in entries),
        proj_size=proj,
        cell=cell,
        bias=(f"{prefix}bias_hh" + ("" if cell else "_l0")) in shapes,
        nonlinearity=nonlin,
        simulation=blocker,
    )
    for layer in layers:
        for direction in mod.directions:
            _check_params(ckpt, shapes, mod, layer, direction)
            _check_input_weight(ckpt, shapes, mod, layer, direction)
    ih0 = mod.key("weight_ih", 0, "forward")
    return replace(mod, input_size=shapes[ih0][1] if ih0 in shapes else None)


def _square_candidates(shapes: Shapes) -> list[str]:
    return [k for k, s in shapes.items() if len(s) == 2 and s[0] == s[1] and s[0] > 1]


def _describe(shapes: Shapes, limit: int = 8) -> str:
    items = [f"{k} {s}" for k, s in list(shapes.items())[:limit]]
    more = len(shapes) - limit
    return ", ".join(items) + (f" and {more} more" if more > 0 else "")


def find_modules(ckpt: Checkpoint, *, matrix: str | None = None) -> list[RecurrentModule]:
    """Every recurrent module in ``ckpt``, in key order.

    ``matrix`` names a square parameter to analyse as a custom recurrent matrix (exact key, or a key
    suffix that matches exactly one tensor); it replaces automatic discovery.
    """
    from rnndyn.readers.tensors import shapes as read_shapes

    shapes = read_shapes(ckpt.tensors)  # one pass over the tensors: everything below is shapes
    if matrix is not None:
        converted = _converted_module(ckpt, matrix)
        key = _resolve_matrix_key(ckpt, shapes, matrix) if not converted else ""
        return converted or [_custom_module(ckpt, shapes, key)]
    groups: dict[str, list[tuple[int, str, str]]] = {}
    for key in shapes:
        m = _HH.match(key)
        if m:
            layer = int(m["layer"]) if m["layer"] is not None else -1
            groups.setdefault(m["prefix"], []).append(
                (layer, "reverse" if m["rev"] else "forward", key)
            )
    modules = [_torch_module(ckpt, shapes, prefix, entries) for prefix, entries in groups.items()]
    if not modules:
        squares = [k for k in _square_candidates(shapes) if _CUSTOM.search(k)]
        modules = [_custom_module(ckpt, shapes, k) for k in squares]
    if not modules:
        found = _describe(shapes) if shapes else "no tensors at all"
        squares = _square_candidates(shapes)
        hint = (
            f"If one of the square matrices ({', '.join(squares[:6])}) is the recurrent weight, "
            "name it with --matrix KEY."
            if squares
            else "It holds no square matrix either, so it is probably not a recurrent network."
        )
        raise CheckpointError(
            f"no recurrent weight matrix found; it holds {found}", path=ckpt.path, hint=hint
        )
    return modules


def _converted_module(ckpt: Checkpoint, matrix: str) -> list[RecurrentModule]:
    """The module whose converted ``weight_hh`` came from the original key ``matrix`` (or [])."""
    keys = [k for k, src in ckpt.sources.items() if src == matrix and _HH.match(k)]
    if not keys:
        return []
    match = _HH.match(keys[0])
    assert match is not None  # keys were filtered by the same pattern
    prefix = match["prefix"]
    return [m for m in find_modules(ckpt) if m.name == prefix.removesuffix(".")]


def _resolve_matrix_key(ckpt: Checkpoint, shapes: Shapes, matrix: str) -> str:
    if matrix in shapes:
        return matrix
    hits = [k for k in shapes if k.endswith("." + matrix) or k.endswith(matrix)]
    if len(hits) == 1:
        return hits[0]
    squares = _square_candidates(shapes)
    listing = ", ".join(squares[:10]) if squares else "none"
    what = "matches several tensors" if hits else "is not in the checkpoint"
    raise UsageError(
        f"--matrix {matrix!r} {what}",
        path=ckpt.path,
        hint=f"Square matrices in this file: {listing}.",
    )


def _custom_module(ckpt: Checkpoint, shapes: Shapes, key: str) -> RecurrentModule:
    shape = shapes[key]
    if len(shape) != 2 or shape[0] != shape[1]:
        raise CheckpointError(
            f"--matrix {key!r} has shape {shape}; a recurrent matrix must be square",
            path=ckpt.path,
            hint="If it stacks gate blocks ((k·H)×H), add --layout lstm|gru (and --gate-order).",
        )
    name = key.rsplit(".", 1)[0] if "." in key else key
    meta = ckpt.metadata or {}
    return RecurrentModule(
        name=name,
        arch="custom",
        hidden_size=int(shape[0]),
        matrix_key=key,
        bias=False,
        nonlinearity=meta.get("nonlinearity"),
    )

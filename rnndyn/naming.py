"""rnndyn's vocabulary: architectures, gate names, directions and operator ids, in one place.

An operator id names one square recurrent map of one recurrent module::

    l{layer}.{fwd|rev}.{gate}        e.g. l0.fwd.hh, l1.rev.f, l0.fwd.jac, l0.fwd.jacfp
    {module}:l{layer}.{fwd|rev}.{gate}   (qualified, when a network has several modules)

``gate`` is ``hh`` for a vanilla ``W_hh`` (and a hand-written cell's matrix), one of PyTorch's
gate blocks (LSTM ``i, f, g, o``; GRU ``r, z, n``, in PyTorch's stacking order), ``jac`` for the
state Jacobian averaged along a probe, or ``jacfp`` for the Jacobian at the zero-input fixed point.
This module imports nothing from rnndyn, so every layer may use it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "ARCHS",
    "DIRECTIONS",
    "GATES",
    "JAC",
    "JAC_FP",
    "OPERATOR_GATES",
    "TARGETS",
    "VANILLA",
    "OperatorId",
    "direction_code",
    "gate_name",
    "id_grid",
    "operator_id",
    "parse_operator_id",
]

VANILLA = "hh"
JAC = "jac"
JAC_FP = "jacfp"
ARCHS = ("rnn", "lstm", "gru")
GATES: dict[str, tuple[str, ...]] = {
    "rnn": (VANILLA,),
    "lstm": ("i", "f", "g", "o"),
    "gru": ("r", "z", "n"),
}
TARGETS: tuple[str, ...] = tuple(g for arch in ARCHS for g in GATES[arch])  # hh i f g o r z n
OPERATOR_GATES: tuple[str, ...] = (*TARGETS, JAC, JAC_FP)
DIRECTIONS = ("forward", "reverse")
_CODES = {"forward": "fwd", "reverse": "rev"}
_NAMES = {code: name for name, code in _CODES.items()}
_ID = re.compile(r"l(?P<layer>0|[1-9]\d{0,5})\.(?P<dir>fwd|rev)\.(?P<gate>[a-z]+)")


def gate_name(gate: str | None) -> str:
    """The gate as it appears in ids and tables: ``None`` (a vanilla block) → ``"hh"``."""
    return VANILLA if gate is None else gate


def direction_code(direction: str) -> str:
    """``"forward"`` → ``"fwd"``, ``"reverse"`` → ``"rev"``; ``ValueError`` otherwise."""
    try:
        return _CODES[direction]
    except KeyError:
        raise ValueError(f"direction must be 'forward' or 'reverse', got {direction!r}") from None


@dataclass(frozen=True)
class OperatorId:
    """Which operator: ``module`` (``""`` when unqualified), ``layer``, ``direction``
    (``"forward"``/``"reverse"``) and ``gate`` (``hh``, a gate letter, ``jac`` or ``jacfp``), with
    the module's ``arch`` as a label (not part of equality: a parsed id has none).

    The one identity every result type holds (``RecurrentOperator``, ``OperatorSpectrum``,
    ``ModeDecay``, …) and the one ``qualified_id``. A vanilla block's gate is ``"hh"`` (``None`` is
    accepted and stored as ``"hh"``); the two state Jacobians are ``jac`` (mean along a probe) and
    ``jacfp`` (at the zero-input fixed point). ``ValueError`` for a bad layer, direction or gate.
    """

    layer: int
    direction: str
    gate: str
    module: str = ""
    arch: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gate", gate_name(self.gate))
        operator_id(self.layer, self.direction, self.gate)  # validates

    @property
    def id(self) -> str:
        """``l{layer}.{fwd|rev}.{gate}``."""
        return operator_id(self.layer, self.direction, self.gate)

    @property
    def qualified_id(self) -> str:
        """``module:id`` when the operator belongs to a named module, else ``id``."""
        return f"{self.module}:{self.id}" if self.module else self.id

    @property
    def qualified(self) -> str:
        """Alias of ``qualified_id``."""
        return self.qualified_id

    @property
    def is_jacobian(self) -> bool:
        return self.gate in (JAC, JAC_FP)

    @property
    def kind(self) -> str:
        """``"weight"`` (a weight block), ``"mean"`` (``jac``) or ``"fixed_point"`` (``jacfp``)."""
        return {JAC: "mean", JAC_FP: "fixed_point"}.get(self.gate, "weight")

    @property
    def schema_gate(self) -> str | None:
        """The ``gate`` value the ``rnndyn.analysis`` and ``rnndyn.decay/2`` JSON documents write:
        ``null`` for a vanilla block and ``"jac"`` for both Jacobians (the ``id`` tells them apart).
        Kept so those documents stay as they were; everywhere else the gate is ``gate``."""
        if self.gate == VANILLA:
            return None
        return JAC if self.gate == JAC_FP else self.gate


def operator_id(layer: int, direction: str, gate: str | None, module: str = "") -> str:
    """``l{layer}.{fwd|rev}.{gate}`` (``module:`` in front when ``module`` is given).

    ``ValueError`` for a negative layer, an unknown direction or gate.
    """
    if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
        raise ValueError(f"layer must be a non-negative integer, got {layer!r}")
    g = gate_name(gate)
    if g not in OPERATOR_GATES:
        raise ValueError(f"unknown gate {gate!r} (known: {', '.join(OPERATOR_GATES)})")
    text = f"l{layer}.{direction_code(direction)}.{g}"
    return f"{module}:{text}" if module else text


def id_grid(layers: int, directions: Sequence[str], gates: Sequence[str | None]) -> list[str]:
    """``operator_id`` of every layer, direction and gate, in that nesting order."""
    return [operator_id(k, d, g) for k in range(layers) for d in directions for g in gates]


def parse_operator_id(text: str) -> OperatorId:
    """Parse ``[module:]l{layer}.{fwd|rev}.{gate}``; ``ValueError`` naming the expected form."""
    if not isinstance(text, str):
        raise ValueError(f"an operator id must be a string, got {type(text).__name__}")
    module, sep, rest = text.rpartition(":")
    m = _ID.fullmatch(rest)
    if m is None or m["gate"] not in OPERATOR_GATES or (sep and not module):
        raise ValueError(
            f"{text[:80]!r} is not an operator id: expected [module:]l<layer>.<fwd|rev>.<gate> "
            f"with gate one of {', '.join(OPERATOR_GATES)} (e.g. l0.fwd.hh)"
        )
    return OperatorId(int(m["layer"]), _NAMES[m["dir"]], m["gate"], module)


#: The largest seed rnndyn accepts (``torch.manual_seed`` takes a 64-bit integer).
SEED_MAX = 2**63 - 1

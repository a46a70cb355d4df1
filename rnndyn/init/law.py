"""The eigen-initializer law: a distribution over eigenvalues in the complex plane, per target.

In the spirit of Dou & Principe (arXiv 2307.15679), whose exact recipe is not public: each target
(vanilla ``hh``; LSTM ``i, f, g, o``; GRU ``r, z, n``; ``*`` for any target) draws

- a count of real eigenvalues (``real_fraction·n``, rounded stochastically to ``n``'s parity),
  each positive with probability ``positive_fraction``, modulus from ``real_radius`` or ``radius``;
- conjugate pairs ``r e^{±iθ}``: ``r`` from ``radius``, ``θ`` from ``phase`` (folded to ``[0, π]``).

The eigenvector basis ``P`` is Haar-orthogonal (``condition = 1``: a normal matrix) or has
``κ₂(P) = condition`` exactly. Files are strict JSON, schema ``rnndyn.eigen-init/1``: see
:meth:`EigenInitParams.load` for what is refused.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from rnndyn import naming
from rnndyn._util.jsonread import MAX_BYTES, MAX_DEPTH, load_strict_json
from rnndyn._util.jsonsafe import JsonObject
from rnndyn.errors import InvalidInputError
from rnndyn.init import families
from rnndyn.init.families import PHASE_FAMILIES, RADIUS_FAMILIES

__all__ = [
    "MAX_BYTES", "MAX_DEPTH", "MAX_RADIUS", "PHASE_FAMILIES", "RADIUS_FAMILIES", "SCHEMA",
    "TARGETS", "Dist", "EigenInitParams", "LawError", "TargetLaw", "load_json",
]  # fmt: skip

SCHEMA = "rnndyn.eigen-init/1"
MAX_RADIUS = 1e3
TARGETS = (*naming.TARGETS, "*")  # "*": the law of any target the file does not name
_LISTS = {"quantiles", "weights", "locs", "kappas"}
_BOUNDS = {  # (lowest, highest); others: [0, MAX_RADIUS] for radii, [0, π] ([0, 2π] uniform) phases
    "a": (1e-12, 1e6),
    "b": (1e-12, 1e6),
    "mu": (-MAX_RADIUS, MAX_RADIUS),
    "sigma": (1e-12, MAX_RADIUS),
    "weights": (1e-12, 1.0),
    "locs": (-2 * math.pi, 2 * math.pi),
    "kappas": (0.0, 1e5),
}


class LawError(ValueError):
    """A law that breaks a rule (raised by the constructors; the loader names the file)."""


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise LawError(what)


def _num(x: Any, what: str, lo: float = -MAX_RADIUS, hi: float = MAX_RADIUS) -> float:
    _check(isinstance(x, int | float) and not isinstance(x, bool), f"{what} must be a number")
    _check(math.isfinite(x) and lo <= x <= hi, f"{what} = {x!r} is outside [{lo:g}, {hi:g}]")
    return float(x)


def _nums(x: Any, what: str, lo: float, hi: float, k: tuple[int, int]) -> tuple[float, ...]:
    _check(
        isinstance(x, list | tuple) and k[0] <= len(x) <= k[1],
        f"{what} must be a list of {k[0]}–{k[1]} numbers",
    )
    return tuple(_num(v, f"{what}[{i}]", lo, hi) for i, v in enumerate(x))


@dataclass(frozen=True)
class Dist:
    """A 1-D law on radii (``kind="radius"``) or pair phases (``kind="phase"``, folded: ``[0, π]``).

    ``ppf(u)`` maps uniforms ``(m,)`` to draws; ``cdf``/``pdf`` are of the (folded) law.
    """

    family: str
    params: Mapping[str, Any]
    kind: str = "radius"

    def __post_init__(self) -> None:
        _check(self.kind in ("radius", "phase"), f"unknown law kind {self.kind!r}")
        families = RADIUS_FAMILIES if self.kind == "radius" else PHASE_FAMILIES
        f = self.family
        _check(
            isinstance(f, str) and f in families,
            f"unknown {self.kind} family {f!r} (known: {', '.join(families)})",
        )
        keys = families[f]
        _check(
            isinstance(self.params, Mapping) and set(self.params) == set(keys),
            f"{self.kind} family {f!r} takes exactly: {', '.join(keys)}",
        )
        top = MAX_RADIUS if self.kind == "radius" else 2 * math.pi if f == "uniform" else math.pi
        nums: dict[str, float] = {}
        lists: dict[str, tuple[float, ...]] = {}
        for k in keys:
            lo, hi = _BOUNDS.get(k, (0.0, top))
            size = (2, 1025) if k == "quantiles" else (1, 16)
            if k in _LISTS:
                lists[k] = _nums(self.params[k], k, lo, hi, size)
            else:
                nums[k] = _num(self.params[k], k, lo, hi)
        for a, b in (("low", "high"), ("r_min", "r_max")):
            _check(a not in nums or nums[a] < nums[b], f"{a} must be < {b}")
        q = lists.get("quantiles", ())
        _check(all(a < b for a, b in itertools.pairwise(q)), "quantiles must increase")
        if f == "vonmises":
            _check(
                len({len(lists[k]) for k in keys}) == 1, "weights, locs, kappas differ in length"
            )
            _check(abs(sum(lists["weights"]) - 1.0) <= 1e-9, "weights must sum to 1")
        params = {k: nums[k] if k in nums else lists[k] for k in keys}
        object.__setattr__(self, "params", params)

    def to_dict(self) -> JsonObject:
        return {
            "family": self.family,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()},
        }

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Quantile function: uniforms ``(m,)`` → draws ``(m,)``."""
        return families.quantile(self.family, self.params, u)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """CDF (of the angle folded onto ``[0, π]`` for phases)."""
        return families.cdf(self.family, self.params, x)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density (``inf`` at a point mass; folded for phases)."""
        return families.pdf(self.family, self.params, x)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], kind: str) -> Dist:
        _check(
            isinstance(d, Mapping) and "family" in d, f"{kind} law must be an object with family"
        )
        return cls(d["family"], {k: v for k, v in d.items() if k != "family"}, kind)


@dataclass(frozen=True)
class TargetLaw:
    """The eigenvalue law of one target (one gate block, or ``hh``)."""

    radius: Dist
    phase: Dist = field(
        default_factory=lambda: Dist("uniform", {"low": 0.0, "high": math.pi}, "phase")
    )
    real_fraction: float = 0.0
    positive_fraction: float = 0.5
    real_radius: Dist | None = None

    def __post_init__(self) -> None:
        _check(
            self.radius.kind == "radius" and self.phase.kind == "phase",
            "radius/phase laws have the wrong kind",
        )
        _check(self.real_radius is None or self.real_radius.kind == "radius", "bad real_radius")
        for k in ("real_fraction", "positive_fraction"):
            object.__setattr__(self, k, _num(getattr(self, k), k, 0.0, 1.0))

    def to_dict(self) -> JsonObject:
        return {
            "radius": self.radius.to_dict(),
            "phase": self.phase.to_dict(),
            "real_fraction": self.real_fraction,
            "positive_fraction": self.positive_fraction,
            "real_radius": None if self.real_radius is None else self.real_radius.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TargetLaw:
        keys = {"radius", "phase", "real_fraction", "positive_fraction", "real_radius"}
        _strict_keys(d, keys, "target law")
        rr = d.get("real_radius")
        return cls(
            _at("radius", Dist.from_dict, d["radius"], "radius"),
            _at("phase", Dist.from_dict, d["phase"], "phase"),
            d["real_fraction"],
            d["positive_fraction"],
            None if rr is None else _at("real_radius", Dist.from_dict, rr, "radius"),
        )


def _at(where: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)``, with ``where`` prefixed to a ``LawError``'s message."""
    try:
        return fn(*args)
    except LawError as err:
        raise LawError(f"{where}: {err}") from None


def _strict_keys(
    d: Any, keys: set[str], what: str, optional: frozenset[str] | set[str] = frozenset()
) -> None:
    _check(isinstance(d, Mapping), f"{what} must be a JSON object")
    missing, extra = keys - optional - set(d), set(d) - keys
    _check(not missing, f"{what} lacks {', '.join(sorted(missing))}")
    _check(not extra, f"{what} has unknown field(s) {', '.join(sorted(map(str, extra)))}")


def _plain(x: Any, what: str) -> Any:
    """A JSON-plain deep copy (tuples → lists); ``LawError`` on NaN/inf or non-JSON values."""
    try:
        return json.loads(json.dumps(x, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise LawError(f"{what} is not plain finite JSON ({err})") from None


@dataclass(frozen=True)
class EigenInitParams:
    """A complete eigen-initializer law (see the module docstring).

    ``targets`` maps ``hh``/``i``/…/``*`` to a :class:`TargetLaw`; ``basis`` is ``"haar"`` (P
    Haar-orthogonal, scaled to ``κ₂(P) = condition``) or ``"identity"`` (P = I, W = B).
    ``gate_biases`` maps a gate to ``{"mean": m, "std": s}`` (``b ~ N(m, s²)``, summed bias).
    ``provenance`` and ``diagnostics`` are plain JSON written by the fitter.
    """

    targets: Mapping[str, TargetLaw]
    basis: str = "haar"
    condition: float = 1.0
    gate_biases: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    name: str = "eigen"
    description: str = ""
    provenance: Mapping[str, Any] | None = None
    diagnostics: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _check(isinstance(self.targets, Mapping) and len(self.targets) > 0, "targets is empty")
        for t, law in self.targets.items():
            _check(t in TARGETS, f"unknown target {t!r} (known: {', '.join(TARGETS)})")
            _check(isinstance(law, TargetLaw), f"target {t!r} must be a TargetLaw")
        ordered = {t: self.targets[t] for t in TARGETS if t in self.targets}  # canonical order
        object.__setattr__(self, "targets", ordered)
        _check(
            self.basis in ("haar", "identity"),
            f"basis must be 'haar' or 'identity', got {self.basis!r}",
        )
        object.__setattr__(self, "condition", _num(self.condition, "condition", 1.0, 1e6))
        _check(self.basis == "haar" or self.condition == 1.0, "identity basis needs condition 1")
        _check(isinstance(self.gate_biases, Mapping), "gate_biases must be an object")
        biases = {}
        for g, rule in self.gate_biases.items():
            _check(g in TARGETS[:-1], f"gate_biases: unknown gate {g!r}")
            _strict_keys(rule, {"mean", "std"}, f"gate_biases[{g!r}]")
            biases[g] = {
                "mean": _num(rule["mean"], "mean", -100, 100),
                "std": _num(rule["std"], "std", 0, 100),
            }
        object.__setattr__(self, "gate_biases", biases)
        for k in ("name", "description"):
            v = getattr(self, k)
            _check(isinstance(v, str) and len(v) <= 4096, f"{k} must be a string (≤ 4096 chars)")
        for k in ("provenance", "diagnostics"):
            v = getattr(self, k)
            _check(v is None or isinstance(v, Mapping), f"{k} must be an object or null")
            object.__setattr__(self, k, None if v is None else _plain(dict(v), k))

    # -- baselines as laws ---------------------------------------------------------------------

    @classmethod
    def orthogonal(cls) -> EigenInitParams:
        """Orthogonal init as a law: ``|λ| ≡ 1``, θ uniform, Haar basis, so ``WᵀW = I``."""
        law = TargetLaw(Dist("point", {"value": 1.0}))
        return cls({"*": law}, name="orthogonal", description="|λ| ≡ 1, θ ~ U[0, π], W = QBQᵀ")

    @classmethod
    def irnn(cls, scale: float = 1.0) -> EigenInitParams:
        """IRNN (Le, Jaitly & Hinton 2015): ``λ ≡ scale`` real, basis I, so ``W = scale·I``."""
        law = TargetLaw(Dist("point", {"value": scale}), real_fraction=1.0, positive_fraction=1.0)
        return cls(
            {"*": law}, basis="identity", name="irnn", description=f"λ ≡ {scale}: W = {scale}·I"
        )

    @classmethod
    def lru_ring(
        cls, r_min: float = 0.0, r_max: float = 1.0, max_phase: float = 2 * math.pi
    ) -> EigenInitParams:
        """LRU ring (Orvieto et al. 2023): ``|λ|² ~ U[r_min², r_max²]``, ``θ ~ U[0, max_phase]``."""
        law = TargetLaw(
            Dist("ring", {"r_min": r_min, "r_max": r_max}),
            Dist("uniform", {"low": 0.0, "high": max_phase}, "phase"),
            positive_fraction=1.0,
        )
        return cls(
            {"*": law},
            name="lru_ring",
            description=f"|λ|² ~ U[{r_min}², {r_max}²], θ ~ U[0, {max_phase:.6g}]",
        )

    # -- access --------------------------------------------------------------------------------

    def law_for(self, target: str) -> TargetLaw:
        """The law of ``target``, else the ``*`` law; else ``UsageError`` naming the targets."""
        from rnndyn.errors import UsageError

        if target not in TARGETS:
            raise UsageError(f"unknown target {target!r}", hint=f"Use one of {', '.join(TARGETS)}.")
        if target in self.targets:
            return self.targets[target]
        if "*" in self.targets:
            return self.targets["*"]
        raise UsageError(
            f"the eigen law {self.name!r} has no target {target!r} (it has: "
            f"{', '.join(self.targets)})",
            hint="Fit it from networks of the same architecture, or use a law with a '*' target.",
        )

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> JsonObject:
        return {
            "schema": SCHEMA,
            "name": self.name,
            "description": self.description,
            "targets": {t: law.to_dict() for t, law in self.targets.items()},
            "basis": {"kind": self.basis, "condition": self.condition},
            "gate_biases": dict(self.gate_biases),
            "provenance": self.provenance,
            "diagnostics": self.diagnostics,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> EigenInitParams:
        """Validate a parsed document (``LawError`` on any broken rule)."""
        _check(isinstance(doc, Mapping), "the top level must be a JSON object")
        _check_schema(doc.get("schema"))
        _strict_keys(doc, _REQUIRED | _OPTIONAL, "the document", optional=_OPTIONAL)
        _check(isinstance(doc["targets"], Mapping), "targets must be an object")
        _strict_keys(doc["basis"], {"kind", "condition"}, "basis")
        return cls(
            {t: _at(f"targets.{t}", TargetLaw.from_dict, d) for t, d in doc["targets"].items()},
            doc["basis"]["kind"],
            doc["basis"]["condition"],
            doc.get("gate_biases") or {},
            doc["name"],
            doc.get("description", ""),
            doc.get("provenance"),
            doc.get("diagnostics"),
        )

    def save(self, path: str | PathLike[str]) -> Path:
        """Write strict, sorted, indented JSON atomically; returns the path."""
        from rnndyn._util.atomic import atomic_write_json

        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | PathLike[str]) -> EigenInitParams:
        """Read and validate a law file. ``InvalidInputError`` (naming the file) for anything that
        is not a valid ``rnndyn.eigen-init/1`` document; nothing is ever unpickled."""
        doc = load_json(path)
        try:
            return cls.from_dict(doc)
        except (LawError, TypeError, KeyError) as err:  # the last two: a safety net
            hint = None if "newer" in str(err) else _HINT
            raise InvalidInputError(
                f"not a valid eigen-init parameter file: {err}", path=path, hint=hint
            ) from None


_REQUIRED = {"schema", "name", "targets", "basis"}
_OPTIONAL = {"description", "gate_biases", "provenance", "diagnostics"}
_HINT = "Write it with `rnndyn init fit` or EigenInitParams.save."


def _check_schema(schema: Any) -> None:
    import re

    m = re.fullmatch(r"rnndyn\.eigen-init/(\d{1,6})", schema) if isinstance(schema, str) else None
    _check(
        m is not None,
        f"schema is {str(schema)[:60]!r}, not {SCHEMA!r}: not an rnndyn eigen-init parameter file",
    )
    assert m is not None
    version = int(m.group(1))
    _check(
        version <= 1,
        f"schema version {version} is newer than this rnndyn reads ({SCHEMA}); "
        "upgrade rnndyn to read it",
    )
    _check(version == 1, f"unknown schema version {version}")


def load_json(path: str | PathLike[str]) -> Any:
    """Parse a law file as small, strict JSON (:func:`rnndyn._util.jsonread.load_strict_json`):
    ``InvalidInputError`` naming the file for anything else."""
    return load_strict_json(path, what="an eigen-init parameter file", hint=_HINT)

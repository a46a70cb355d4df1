"""Initializers by name: what each sets, its paper, its options and their defaults.

``get(name)`` returns an :class:`Initializer`; ``names()`` lists them. ``rnndyn.init.apply_`` reads
the entry to decide, for an ``nn.RNN``/``nn.LSTM``/``nn.GRU``, how to fill

- the recurrent blocks (``weight_hh``, one ``H×H`` gate block at a time): ``fn`` when
  ``"weights" in applies_to``, else PyTorch's default ``U(−1/√H, 1/√H)``;
- the input weights (``weight_ih``, per gate block): ``input_weights`` — Xavier uniform unless the
  initializer's paper says otherwise (``source`` for the chains, PyTorch's default for
  ``default`` and ``chrono``);
- the biases: ``biases`` — zero unless the initializer sets them (``default``: PyTorch's rule;
  ``chrono``; ``eigen``: the law's ``gate_biases`` when it has them, written into ``bias_hh``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.errors import UsageError, did_you_mean


@dataclass(frozen=True)
class Initializer:
    """One named initializer.

    ``function`` names the zoo function (``fn``, imported on first use: listing the registry needs
    no torch) that fills one 2-D block (or, for ``chrono``, one bias vector); ``None`` where
    ``apply_`` does the work itself (``default``, ``eigen``). ``options`` maps option names to defaults.
    ``nonlinearity`` is the unit the paper pairs it with (a hint for vanilla RNNs; ``None`` =
    any). ``gated_only``: meaningless for a vanilla RNN. ``needs_params``: needs a law file.
    """

    name: str
    summary: str
    paper: str
    function: str | None
    applies_to: tuple[str, ...] = ("weights",)
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    square: bool = True
    input_weights: str = "xavier_uniform"
    biases: str = "zero"
    nonlinearity: str | None = None
    gated_only: bool = False
    needs_params: bool = False

    @property
    def fn(self) -> Callable[..., Any] | None:
        """The zoo function (``rnndyn.init.zoo.<function>``), or None."""
        if self.function is None:
            return None
        from rnndyn.init import zoo

        return getattr(zoo, self.function)

    def resolve_options(self, **options: Any) -> dict[str, object]:
        """Defaults updated by ``options``; ``UsageError`` naming the valid ones on a stranger."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            valid = ", ".join(sorted(self.options)) or "none"
            raise UsageError(
                f"initializer {self.name!r} has no option {', '.join(map(repr, unknown))}",
                hint=f"Its options are: {valid}.",
            )
        return {**self.options, **options}

    def to_dict(self) -> JsonObject:
        """JSON-ready description (no function objects)."""
        return {
            "name": self.name,
            "summary": self.summary,
            "paper": self.paper,
            "applies_to": list(self.applies_to),
            "options": dict(self.options),
            "input_weights": self.input_weights,
            "biases": self.biases,
            "nonlinearity": self.nonlinearity,
            "gated_only": self.gated_only,
            "needs_params": self.needs_params,
        }


def _entry(
    name: str,
    summary: str,
    paper: str,
    function: str | None,
    options: dict | None = None,
    **kw: Any,
) -> Initializer:
    return Initializer(
        name, summary, paper, function, options=MappingProxyType(options or {}), **kw
    )


_ENTRIES = (
    _entry(
        "default",
        "PyTorch's reset_parameters: every weight and bias ~ U(−1/√H, 1/√H)",
        "PyTorch nn.RNN/LSTM/GRU documentation",
        None,
        applies_to=("weights", "biases"),
        input_weights="default",
        biases="default",
        square=False,
    ),
    _entry(
        "xavier_uniform",
        "U(±gain·√(6/(fan_in+fan_out))) per gate block",
        "Glorot & Bengio 2010, AISTATS",
        "xavier_uniform_",
        {"gain": 1.0},
        square=False,
    ),
    _entry(
        "xavier_normal",
        "N(0, gain²·2/(fan_in+fan_out)) per gate block",
        "Glorot & Bengio 2010, AISTATS",
        "xavier_normal_",
        {"gain": 1.0},
        square=False,
    ),
    _entry(
        "kaiming",
        "N(0, gain²/fan_in) per gate block (fan-in, normal; relu gain √2)",
        "He et al. 2015, ICCV (arXiv 1502.01852)",
        "kaiming_",
        {"nonlinearity": "relu"},
        square=False,
    ),
    _entry(
        "orthogonal",
        "gain·Q, Q Haar-orthogonal, per gate block (not the stacked matrix)",
        "Saxe et al. 2013 (arXiv 1312.6120); Henaff et al. 2016",
        "orthogonal_",
        {"gain": 1.0},
    ),
    _entry(
        "identity",
        "scale·I recurrent blocks (any nonlinearity)",
        "Le, Jaitly & Hinton 2015 (arXiv 1504.00941)",
        "identity_",
        {"scale": 1.0},
    ),
    _entry(
        "irnn",
        "scale·I recurrent, zero biases; meant for a ReLU RNN (plain identity if gated)",
        "Le, Jaitly & Hinton 2015 (arXiv 1504.00941)",
        "identity_",
        {"scale": 1.0},
        nonlinearity="relu",
    ),
    _entry(
        "np_rnn",
        "W = A/λ_max(A), A = I + RᵀR/n: symmetric positive definite, top eigenvalue 1",
        "Talathi & Vartak 2016 (arXiv 1511.03771)",
        "np_rnn_",
        nonlinearity="relu",
    ),
    _entry(
        "chrono",
        "gate biases b_f ~ log U[1, T_max−1], b_i = −b_f (GRU: b_z = +log U); "
        "weights PyTorch default",
        "Tallec & Ollivier 2018, ICLR (arXiv 1804.11188)",
        "chrono_",
        {"t_max": 100.0},
        applies_to=("biases",),
        input_weights="default",
        biases="chrono",
        gated_only=True,
        square=False,
    ),
    _entry(
        "chain",
        "non-normal chain W = alpha·S (unit i → i+1), input 0.9·I into the chain's head",
        "Orhan & Pitkow 2019 (arXiv 1905.13715)",
        "chain_",
        {"alpha": 1.02, "diag": 0.0},
        input_weights="source",
    ),
    _entry(
        "fbchain",
        "chain with feedback: W = alpha·S + beta·Sᵀ, input 0.9·I into the head",
        "Orhan & Pitkow 2019 (arXiv 1905.13715)",
        "fbchain_",
        {"beta": 0.04, "alpha": 0.99, "diag": 0.0},
        input_weights="source",
    ),
    _entry(
        "lru_ring",
        "|λ|² ~ U[r_min², r_max²], θ ~ U[0, max_phase]; real 2×2 blocks, random basis",
        "Orvieto et al. 2023 (arXiv 2303.06349)",
        "lru_ring_",
        {"r_min": 0.0, "r_max": 1.0, "max_phase": 2 * math.pi},
    ),
    _entry(
        "spectral_margin",
        "W = UΣVᵀ, singular values ~ U[1−r, 1+r] (sp-RNN style)",
        "Zhang, Lei & Dhillon 2018, ICML",
        "spectral_margin_",
        {"r": 0.01},
        square=False,
    ),
    _entry(
        "glorot_rescaled",
        "Glorot normal N(0, 1/n) rescaled to spectral radius 1 − c/√n",
        "in the spirit of Bar, Seleznova et al. 2025 (arXiv 2505.19827)",
        "glorot_rescaled_",
        {"c": 1.0},
    ),
    _entry(
        "eigen",
        "fitted eigenvalue law per gate, W = P·B·P⁻¹ (needs a parameter file)",
        "rnndyn, in the spirit of Dou & Principe 2023 (arXiv 2307.15679)",
        None,
        needs_params=True,
        biases="law",
    ),
)

REGISTRY: Mapping[str, Initializer] = MappingProxyType({e.name: e for e in _ENTRIES})


def names() -> tuple[str, ...]:
    """Registered initializer names, in the order above."""
    return tuple(REGISTRY)


def get(name: str) -> Initializer:
    """The initializer ``name`` (case and ``-``/``_`` insensitive); ``UsageError`` if unknown."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in REGISTRY:
        raise UsageError(
            f"unknown initializer {name!r}{did_you_mean(name, names())}",
            hint=f"Choose one of: {', '.join(names())}.",
        )
    return REGISTRY[key]

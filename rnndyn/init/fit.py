"""Fit the eigen law to the spectra of trained networks (scikit-learn's estimator conventions).

Eigenvalues are pooled per target (``hh``; ``i, f, g, o``; ``r, z, n``) over every checkpoint,
layer and direction. Per target: the fractions of real and of positive real eigenvalues; the
radius law (one modulus per conjugate pair plus the real moduli, fitted apart when both number at
least ``min_separate``) and the phase law of the pairs (``θ ∈ (0, π)``), each chosen among
candidate families by an information criterion (BIC by default) and reported with every
candidate's Kolmogorov–Smirnov distance. In the spirit of Dou & Principe (arXiv 2307.15679),
whose exact recipe is not public.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

import numpy as np

from rnndyn.errors import InvalidInputError, UsageError
from rnndyn.init.fit_families import fit_phase, fit_radius
from rnndyn.init.law import TARGETS, Dist, EigenInitParams, TargetLaw
from rnndyn.naming import GATES

__all__ = ["EigenInitFitter", "fit_groups", "fit_phase", "fit_radius", "group_checkpoints"]

from rnndyn.naming import SEED_MAX

REAL_TOL = 1e-10  # |Im λ| ≤ REAL_TOL·max(1, |λ|) counts as real


def _spectra_of(ckpt: Any) -> tuple[dict[str, list[np.ndarray]], dict[str, list[np.ndarray]]]:
    """Per-target eigenvalues and per-gate summed biases of one checkpoint."""
    from rnndyn.operators import extract_operators, find_modules
    from rnndyn.spectrum import eigendecompose

    eigs: dict[str, list[np.ndarray]] = {}
    for s in eigendecompose(extract_operators(ckpt), diagnostics=False):
        if not s.identity.is_jacobian:
            eigs.setdefault(s.gate, []).append(s.eigenvalues)
    biases: dict[str, list[np.ndarray]] = {}
    for m in find_modules(ckpt):
        if m.arch == "custom" or not m.bias:
            continue
        for layer in range(m.num_layers):
            for d in m.directions:
                keys = [m.key(p, layer, d) for p in ("bias_ih", "bias_hh")]
                if all(k in ckpt.tensors for k in keys):
                    b = sum(ckpt.tensors[k].double().numpy() for k in keys)
                    gates = GATES[m.arch]
                    for g, part in zip(gates, np.split(b, len(gates)), strict=True):
                        biases.setdefault(g, []).append(part)
    return eigs, biases


def _as_source(item: Any, trust: bool) -> tuple[dict, dict, dict | None]:
    from rnndyn.readers.checkpoint import Checkpoint, load
    from rnndyn.spectrum import OperatorSpectrum, Spectrum

    if isinstance(item, str | PathLike):
        item = load(item, trust=trust)
    if isinstance(item, Checkpoint):
        eigs, biases = _spectra_of(item)
        return eigs, biases, {"path": str(item.path), "sha256": item.sha256}
    if isinstance(item, OperatorSpectrum | Spectrum):
        ops = [item] if isinstance(item, OperatorSpectrum) else list(item)
        from_spectra: dict[str, list[np.ndarray]] = {}
        for s in ops:
            if not s.identity.is_jacobian:
                from_spectra.setdefault(s.gate, []).append(s.eigenvalues)
        return from_spectra, {}, None
    if isinstance(item, Mapping):
        eigs = {}
        for t, v in item.items():
            if t not in TARGETS[:-1]:
                raise UsageError(
                    f"unknown target {t!r}", hint=f"Use one of {', '.join(TARGETS[:-1])}."
                )
            arrays = [v] if np.ndim(v) == 1 else list(v)
            eigs[t] = [np.asarray(a, dtype=np.complex128).reshape(-1) for a in arrays]
        return eigs, {}, None
    raise TypeError(
        f"cannot fit from {type(item).__name__}: pass checkpoint paths, Checkpoint, "
        "Spectrum/OperatorSpectrum objects or {target: eigenvalues} mappings"
    )


def _check_eigs(w: np.ndarray, target: str) -> None:
    if not np.isfinite(w).all():
        raise InvalidInputError(
            f"the {target!r} spectra hold NaN or infinite eigenvalues",
            hint="Check the networks' weights (rnndyn analyze).",
        )
    scale = np.maximum(1.0, np.abs(w))
    up, down = (
        np.sort_complex(w[w.imag > REAL_TOL * scale]),
        np.sort_complex(w[w.imag < -REAL_TOL * scale]),
    )
    if len(up) != len(down) or not np.allclose(up, down.conj(), rtol=1e-8, atol=1e-12):
        raise InvalidInputError(
            f"the {target!r} eigenvalues are not closed under conjugation",
            hint="Pass whole spectra of real matrices (both members of each pair).",
        )


def _histogram(x: np.ndarray, span: tuple[float, float] | None = None) -> dict | None:
    """30-bin histogram ``{"edges", "counts"}`` of fitted data (``None`` when there is none)."""
    if x.size == 0:
        return None
    if span is None and np.ptp(x) <= 1e-9 * max(1.0, float(np.abs(x).max())):
        span = (float(x.min()) - 0.5, float(x.max()) + 0.5)  # equal values: numpy's own rule
    counts, edges = np.histogram(x, bins=30, range=span)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


class EigenInitFitter:
    """Fit an :class:`EigenInitParams` law to trained networks' spectra.

    Follows scikit-learn's estimator conventions without depending on it: parameters are stored
    unvalidated by ``__init__`` and read back by ``get_params``/``set_params``; ``fit`` validates,
    fits and returns ``self``; learned attributes end in ``_``.

    Parameters (stored verbatim): ``radius_families`` among ``beta, truncnorm, ring, empirical``;
    ``phase_families`` among ``uniform, vonmises, empirical``; ``max_components`` of the von Mises
    mixture; ``criterion`` ``"bic"`` or ``"aic"``; ``min_separate`` real and complex eigenvalues
    needed to fit the real moduli apart; ``fit_biases`` (gate-bias rules ``N(mean, std²)`` of the
    summed ``bias_ih + bias_hh``); ``condition`` (``κ₂(P)`` of the sampled basis); ``name``;
    ``trust`` (allow full pickles); ``seed`` (EM restarts).

    Learned: ``params_`` (the law, with provenance and diagnostics), ``eigenvalues_`` (pooled
    ``{target: (m,) complex}``), ``n_sources_``.
    """

    def __init__(
        self,
        *,
        radius_families: Sequence[str] = ("beta", "truncnorm", "ring", "empirical"),
        phase_families: Sequence[str] = ("uniform", "vonmises", "empirical"),
        max_components: int = 3,
        criterion: str = "bic",
        min_separate: int = 30,
        fit_biases: bool = False,
        condition: float = 1.0,
        name: str = "eigen",
        trust: bool = False,
        seed: int = 0,
    ):
        self.radius_families = radius_families
        self.phase_families = phase_families
        self.max_components = max_components
        self.criterion = criterion
        self.min_separate = min_separate
        self.fit_biases = fit_biases
        self.condition = condition
        self.name = name
        self.trust = trust
        self.seed = seed

    _PARAMS = (
        "radius_families", "phase_families", "max_components", "criterion", "min_separate",
        "fit_biases", "condition", "name", "trust", "seed",
    )  # fmt: skip

    def get_params(self, deep: bool = True) -> dict[str, object]:
        """The constructor's parameters, as stored (``deep`` is accepted for compatibility)."""
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params: Any) -> EigenInitFitter:
        """Set constructor parameters; ``UsageError`` naming an unknown one. Returns ``self``."""
        unknown = sorted(set(params) - set(self._PARAMS))
        if unknown:
            raise UsageError(
                f"EigenInitFitter has no parameter {', '.join(map(repr, unknown))}",
                hint=f"Its parameters are: {', '.join(self._PARAMS)}.",
            )
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        changed = {k: v for k, v in self.get_params().items() if v != defaults[k]}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def _validate(self) -> None:
        bad = [
            f for f in self.radius_families if f not in ("beta", "truncnorm", "ring", "empirical")
        ]
        bad += [f for f in self.phase_families if f not in ("uniform", "vonmises", "empirical")]
        if bad or not self.radius_families or not self.phase_families:
            raise UsageError(f"unknown or missing candidate families: {bad or 'none given'}")
        if self.criterion not in ("bic", "aic"):
            raise UsageError(f"criterion must be 'bic' or 'aic', got {self.criterion!r}")
        if not (isinstance(self.condition, int | float) and 1.0 <= self.condition <= 1e6):
            raise UsageError(
                f"condition (κ of the basis) must be in [1, 1e6], got {self.condition!r}"
            )
        if not (isinstance(self.max_components, int) and 1 <= self.max_components <= 16):
            raise UsageError(
                f"max_components must be an integer in 1..16, got {self.max_components!r}"
            )
        if isinstance(self.seed, bool) or not (
            isinstance(self.seed, int) and 0 <= self.seed <= SEED_MAX
        ):
            raise UsageError(f"seed must be an integer in 0..2^63-1, got {self.seed!r}")

    def fit(
        self,
        X: Sequence[Any] | Any,
        y: None = None,
        *,
        group: str | None = None,
        group_by: str | None = None,
    ) -> EigenInitFitter:
        """Fit from ``X``: checkpoint paths, ``Checkpoint``/``Spectrum`` objects or mappings
        ``{target: eigenvalues}``, or a sequence of them. ``group``/``group_by`` are recorded."""
        self._validate()
        items = list(X) if isinstance(X, list | tuple) else [X]
        if not items:
            raise UsageError("nothing to fit: no checkpoints or spectra were given")
        eigs: dict[str, list[np.ndarray]] = {}
        biases: dict[str, list[np.ndarray]] = {}
        files = []
        for item in items:
            e, b, prov = _as_source(item, self.trust)
            for t, arrays in e.items():
                eigs.setdefault(t, []).extend(arrays)
            for g, arrays in b.items():
                biases.setdefault(g, []).extend(arrays)
            if prov is not None:
                files.append(prov)
        if not eigs:
            raise InvalidInputError("the inputs hold no recurrent spectra to fit")
        targets, diags = {}, {}
        for t in (t for t in TARGETS if t in eigs):
            for a in eigs[t]:
                _check_eigs(a, t)
            targets[t], diags[t] = self._fit_target(np.concatenate(eigs[t]), len(eigs[t]))
        gate_biases = {}
        if self.fit_biases:
            for g, arrays in biases.items():
                v = np.concatenate(arrays)
                gate_biases[g] = {
                    "mean": float(np.clip(v.mean(), -100, 100)),
                    "std": float(np.clip(v.std(), 0, 100)),
                }
        self.eigenvalues_ = {t: np.concatenate(eigs[t]) for t in targets}
        self.n_sources_ = len(items)
        self.params_ = EigenInitParams(
            targets,
            condition=self.condition,
            gate_biases=gate_biases,
            name=self.name if group is None else f"{self.name}.{group}",
            description=f"eigen law fitted to {len(items)} source(s)"
            + (f", group {group_by}={group}" if group is not None else ""),
            provenance=self._provenance(
                files, len(items), sum(len(v) for v in eigs.values()), group, group_by
            ),
            diagnostics=diags,
        )
        return self

    def _fit_target(self, w: np.ndarray, n_ops: int) -> tuple[TargetLaw, dict]:
        scale = np.maximum(1.0, np.abs(w))
        is_real = np.abs(w.imag) <= REAL_TOL * scale
        reals, pairs = w.real[is_real], w[w.imag > REAL_TOL * scale]
        pair_r, real_r = np.abs(pairs), np.abs(reals)
        separate = min(len(pairs), len(reals)) >= self.min_separate
        pooled = pair_r if separate else np.concatenate([pair_r, real_r])
        radius, d_radius = fit_radius(pooled, self.radius_families, self.criterion)
        real_radius, d_real = (
            fit_radius(real_r, self.radius_families, self.criterion) if separate else (None, None)
        )
        if len(pairs):
            phase, d_phase = fit_phase(
                np.angle(pairs),
                self.phase_families,
                self.criterion,
                max_components=self.max_components,
                seed=self.seed,
            )
        else:
            phase, d_phase = (
                Dist("uniform", {"low": 0.0, "high": np.pi}, "phase"),
                {"reason": "no complex pairs: default uniform"},
            )
        law = TargetLaw(
            radius,
            phase,
            real_fraction=float(is_real.mean()),
            positive_fraction=float((reals > 0).mean()) if len(reals) else 0.5,
            real_radius=real_radius,
        )
        diag = {
            "n_operators": n_ops,
            "n_eigenvalues": len(w),
            "n_real": len(reals),
            "n_pairs": len(pairs),
            "radius": d_radius,
            "real_radius": d_real,
            "phase": d_phase,
            "histograms": {  # what the law was fitted to, for `init show`'s figure
                "radius": _histogram(pooled),
                "real_radius": _histogram(real_r) if separate else None,
                "phase": _histogram(np.abs(np.angle(pairs)), (0.0, float(np.pi))),
            },
        }
        return law, diag

    def _provenance(self, files: list, n_items: int, n_ops: int, group, group_by) -> dict:
        from rnndyn._version import __version__

        fitter = {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        return {
            "checkpoints": files,
            "n_checkpoints": len(files),
            "n_sources": n_items,
            "n_operators": n_ops,
            "group": group,
            "group_by": group_by,
            "fitter": fitter,
            "rnndyn_version": __version__,
            "seed": self.seed,
        }


def group_checkpoints(
    paths: Sequence[Any], by: str = "task_kind", *, trust: bool = False
) -> dict[str, list]:
    """Load checkpoints and group them by a key of their ``rnndyn`` metadata (e.g. ``task_kind``;
    dots reach into nested entries, as in ``rnndyn compare --by``).

    Returns ``{group: [Checkpoint, ...]}`` in first-seen order; ``UsageError`` (exit 2, as in
    ``compare``) naming a checkpoint that lacks the key."""
    from rnndyn.compare.population import lookup
    from rnndyn.readers.checkpoint import Checkpoint, load

    groups: dict[str, list] = {}
    for p in paths:
        ckpt = p if isinstance(p, Checkpoint) else load(p, trust=trust)
        value = lookup(ckpt.metadata, by)
        if value is None or value == "":
            raise UsageError(
                f"its rnndyn metadata has no {by!r} entry, so it cannot be grouped by it",
                path=ckpt.path,
                hint="Fit without --by, choose another --by key, or use checkpoints written by "
                "`rnndyn train`.",
            )
        groups.setdefault(value, []).append(ckpt)
    return groups


def fit_groups(
    paths: Sequence[Any], by: str = "task_kind", **params: Any
) -> dict[str, EigenInitFitter]:
    """One fitted :class:`EigenInitFitter` per metadata group (``params`` go to the fitter)."""
    groups = group_checkpoints(paths, by, trust=params.get("trust", False))
    return {g: EigenInitFitter(**params).fit(c, group=g, group_by=by) for g, c in groups.items()}

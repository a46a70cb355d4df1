"""Batched eigendecomposition of recurrent operators, with the diagnostics that say how far to trust it.

All analysis is in float64. Eigenvalues are discrete-time: per step, ``|λ|^k`` after ``k`` steps.
Order: modulus descending, then |angle|; conjugate pairs adjacent, positive imaginary part first.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn._util.threads import available_cores, map_threads
from rnndyn.conditioning import (
    UNIT_ROUNDOFF,
    classify,
    diagnose,
    error_bounds,
    precision_fields,
    unit_roundoff,
)
from rnndyn.eigenvalues import order_eigenvalues, periods, timescales
from rnndyn.errors import RnndynWarning
from rnndyn.naming import VANILLA, OperatorId
from rnndyn.operators import Identified, RecurrentOperator
from rnndyn.workload import distinct_operators

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

ILL_CONDITIONED = 1e8  # κ(V) above this: modal coordinates are unreliable; the Schur form is kept


def _none_if_nonfinite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _floats(a: np.ndarray) -> list[float | None]:
    """``[_none_if_nonfinite(x) for x in a]``, in one ``tolist`` call (same floats)."""
    return np.where(np.isfinite(a), a, np.array(None)).tolist()


@dataclass(frozen=True)
class OperatorSpectrum(Identified):
    """Spectrum and diagnostics of one operator, named by its ``identity`` (whose fields read as
    attributes: ``module``, ``arch``, ``layer``, ``direction``, ``gate``, ``id``, ``qualified_id``).

    Arrays: ``eigenvalues`` ``(n,)`` complex128; ``eigenvectors`` ``(n, n)`` complex128 with unit
    columns in the same order (``None`` when not kept); ``eigenvalue_condition`` ``(n,)``.
    ``departure_from_normality`` is Henrici's, relative: ``sqrt(‖W‖F² − Σ|λ|²)/‖W‖F``.
    ``residual`` is ``max_i ‖W v_i − λ_i v_i‖ / ‖W‖F``. ``schur`` holds the real Schur form ``(T, Z)``
    when the eigenvector matrix is ill-conditioned. ``dtype``/``roundoff``: the precision the
    weights were stored in (``‖E‖F ≤ roundoff·‖W‖F``), behind ``error_bound`` (``(n,)``, see
    ``rnndyn.conditioning``) and the ``inside``/``on``/``outside`` classes of ``unit_circle``.
    """

    identity: OperatorId
    source: str
    eigenvalues: np.ndarray = field(repr=False)
    eigenvectors: np.ndarray | None = field(default=None, repr=False)
    eigenvalue_condition: np.ndarray | None = field(default=None, repr=False)
    eigvec_condition: float = float("nan")
    departure_from_normality: float = float("nan")
    residual: float = float("nan")
    schur: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    dtype: str = "float64"
    roundoff: float = UNIT_ROUNDOFF["float64"]
    norm_fro: float = float("nan")

    def __repr__(self) -> str:
        return (
            f"OperatorSpectrum({self.qualified_id!r}, {self.arch}, n={self.n}, "
            f"radius={self.spectral_radius:.4g}, outside_unit_circle={self.n_outside_unit_circle})"
        )

    @property
    def n(self) -> int:
        return int(self.eigenvalues.shape[0])

    @property
    def moduli(self) -> np.ndarray:
        return np.abs(self.eigenvalues)

    @property
    def spectral_radius(self) -> float:
        return float(self.moduli.max()) if self.n else 0.0

    @property
    def epsilon(self) -> float:
        """Perturbation size ``(roundoff + residual)·‖W‖F`` the bounds assume (NaN: no diagnostics)."""
        return (self.roundoff + self.residual) * self.norm_fro

    @cached_property
    def _bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.eigenvalue_condition is None or not np.isfinite(self.epsilon):
            return None
        dep, fro = self.departure_from_normality * self.norm_fro, self.norm_fro
        return error_bounds(
            self.eigenvalues, self.eigenvalue_condition, self.epsilon, departure=dep, norm_fro=fro
        )

    @property
    def error_bound(self) -> np.ndarray | None:
        """Bound on ``|δλ_i|`` from the stored precision, per eigenvalue (None: no diagnostics)."""
        return None if self._bounds is None else self._bounds[0]

    @property
    def unit_circle(self) -> np.ndarray:
        """``inside``/``on``/``outside`` per eigenvalue (bounds 0 when not computed)."""
        b = self.error_bound
        return classify(self.eigenvalues, np.zeros(self.n) if b is None else b)

    @property
    def n_outside_unit_circle(self) -> int:
        return int((self.unit_circle == "outside").sum())

    @property
    def n_on_unit_circle(self) -> int:
        return int((self.unit_circle == "on").sum())

    @property
    def timescales(self) -> np.ndarray:
        """``τ = −1/ln|λ|``, finite only ``inside`` the unit circle (``inf`` on or outside it)."""
        return np.where(self.unit_circle == "inside", timescales(self.eigenvalues), np.inf)

    @property
    def half_lives(self) -> np.ndarray:
        return self.timescales * np.log(2.0)

    @property
    def periods(self) -> np.ndarray:
        return periods(self.eigenvalues)

    @property
    def ill_conditioned(self) -> bool:
        return not self.eigvec_condition <= ILL_CONDITIONED

    def to_frame(self) -> pd.DataFrame:
        """One row per eigenvalue (complex split into ``re``/``im``)."""
        import pandas as pd

        ev = self.eigenvalues
        cond = self.eigenvalue_condition
        cond = np.full(self.n, np.nan) if cond is None else cond
        return pd.DataFrame(
            {
                "module": self.module,
                "operator": self.id,
                "layer": self.layer,
                "direction": self.direction,
                "gate": self.gate,
                "index": np.arange(self.n),
                "re": ev.real,
                "im": ev.imag,
                "modulus": np.abs(ev),
                "angle": np.angle(ev),
                "timescale": self.timescales,
                "half_life": self.half_lives,
                "period": self.periods,
                "condition": cond,
                "error_bound": np.full(self.n, np.nan)
                if self.error_bound is None
                else self.error_bound,
                "unit_circle": self.unit_circle,
            }
        )

    def to_dict(self) -> JsonObject:
        """JSON-ready; non-finite numbers (infinite timescales, …) become ``None``."""
        nn, ev, cond = _none_if_nonfinite, self.eigenvalues, self.eigenvalue_condition
        tau = self.timescales
        return {
            "id": self.id,
            "module": self.module,
            "layer": self.layer,
            "direction": self.direction,
            "gate": self.identity.schema_gate,
            "n": self.n,
            "source": self.source,
            "eigenvalues": np.stack((ev.real, ev.imag), axis=1).tolist(),
            "spectral_radius": self.spectral_radius,
            "n_outside_unit_circle": self.n_outside_unit_circle,
            "n_on_unit_circle": self.n_on_unit_circle,
            "unit_circle": self.unit_circle.tolist(),
            **precision_fields(
                self.eigenvalues, self._bounds, self.dtype, self.roundoff, self.epsilon
            ),
            "timescales": _floats(tau),
            "half_lives": _floats(tau * np.log(2.0)),
            "periods": _floats(self.periods),
            "eigenvalue_condition": None if cond is None else _floats(cond),
            "eigvec_condition": nn(self.eigvec_condition),
            "departure_from_normality": nn(self.departure_from_normality),
            "residual": nn(self.residual),
            "ill_conditioned": self.ill_conditioned,
            "schur_kept": self.schur is not None,
        }


@dataclass(frozen=True)
class Spectrum:
    """Spectra of several operators; index by position or (qualified) id."""

    operators: tuple[OperatorSpectrum, ...]

    def __iter__(self) -> Iterator[OperatorSpectrum]:
        return iter(self.operators)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{s.qualified_id} (n={s.n}, radius={s.spectral_radius:.3g})"
            for s in self.operators[:4]
        )
        more = f", … {len(self) - 4} more" if len(self) > 4 else ""
        return f"Spectrum({len(self)} operators: {shown}{more})"

    def __len__(self) -> int:
        return len(self.operators)

    def __getitem__(self, key: int | str) -> OperatorSpectrum:
        if isinstance(key, int):
            return self.operators[key]
        hits = [s for s in self.operators if key in (s.qualified_id, s.id)]
        if len(hits) != 1:
            raise KeyError(
                f"{key!r} matches {len(hits)} operators; ids: {[s.qualified_id for s in self]}"
            )
        return hits[0]

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.concat([s.to_frame() for s in self.operators], ignore_index=True)

    def to_dict(self) -> JsonObject:
        return {"operators": [s.to_dict() for s in self.operators]}


def _from_matrices(mats: np.ndarray | Sequence[np.ndarray]) -> list[RecurrentOperator]:
    """Raw matrices as operators, known to the precision of their own dtype (float32: u = 2⁻²⁴)."""
    stored = np.asarray(mats)
    dtype = str(stored.dtype) if stored.dtype.kind == "f" else "float64"
    arr = stored.astype(np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"expected square matrices of shape (n, n) or (B, n, n), got {arr.shape}")
    return [
        RecurrentOperator(
            OperatorId(i, "forward", VANILLA, "", "custom"),
            m,
            f"matrix[{i}]",
            dtype,
            unit_roundoff(dtype),
        )
        for i, m in enumerate(arr)
    ]


_ILL = (
    "operator {}: eigenvector matrix is ill-conditioned (κ(V) ≈ {:.2g}); the matrix is defective or "
    "nearly so. Eigenvalues are still reported, but modal coordinates are unreliable: the real "
    "Schur form is kept instead."
)


def eigendecompose(
    ops: RecurrentOperator | Sequence[RecurrentOperator] | np.ndarray | Any,
    *,
    diagnostics: bool = True,
    keep_vectors: bool = True,
    jobs: int | None = 1,
    early: dict[int, OperatorSpectrum] | None = None,
) -> Spectrum:
    """Eigendecompose operators, batched over operators of equal size.

    Args:
        ops: operators, or raw real matrices ``(n, n)`` / ``(B, n, n)``, or a network whose
            operators are extracted first: a ``Checkpoint``, a path, an ``nn.Module`` or a
            state dict.
        diagnostics: compute eigenvectors and the trust diagnostics (else eigenvalues only).
        keep_vectors: keep the eigenvectors in the result (set False to save memory).
        jobs: operators decomposed at once, in threads with one BLAS thread each (LAPACK's
            eigensolver is mostly sequential); ``None``: every core. Results equal ``jobs=1``'s.
        early: results already computed by ``decompose_one``, by position in ``ops``.
    """
    if isinstance(ops, RecurrentOperator):
        ops = [ops]
    elif isinstance(ops, np.ndarray):
        ops = _from_matrices(ops)
    elif not isinstance(ops, Sequence) or isinstance(ops, str):  # a network: its operators
        from rnndyn.operators import extract_operators

        ops = extract_operators(ops)
    ops, early = list(ops), early or {}
    todo = [op for i, op in enumerate(ops) if i not in early]
    todo, copies = distinct_operators(todo)  # a matrix repeated under many names is decomposed once
    jobs = available_cores() if jobs is None else int(jobs)
    if jobs > 1 and len(ops) > 1:  # threads, one BLAS thread each: LAPACK releases the GIL
        one = lambda op: _batched([op], diagnostics, keep_vectors)[0]  # noqa: E731
        results = map_threads(one, todo, min(jobs, len(todo)), cost=lambda op: op.n) if todo else []
    else:
        results = _batched(todo, diagnostics, keep_vectors)
    results = [results[j] if todo[j] is op else relabel(results[j], op) for j, op in copies]
    rest = iter(results)
    results = [early[i] if i in early else next(rest) for i in range(len(ops))]
    for spec in results:  # in operator order, from this thread, whichever path ran
        if spec.schur is not None:
            warnings.warn(_ILL.format(spec.qualified_id, spec.eigvec_condition), RnndynWarning, 2)
    return Spectrum(tuple(results))


def decompose_one(op: RecurrentOperator) -> OperatorSpectrum:
    """One operator as ``eigendecompose(jobs>1)`` decomposes it (run it with one BLAS thread)."""
    return _batched([op], True, True)[0]


def _batched(ops: list[RecurrentOperator], diagnostics: bool, keep: bool) -> list[OperatorSpectrum]:
    results: list[OperatorSpectrum | None] = [None] * len(ops)
    by_size: dict[int, list[int]] = {}
    for i, op in enumerate(ops):
        by_size.setdefault(op.n, []).append(i)
    for idx in by_size.values():
        mats = [np.asarray(ops[i].matrix, dtype=np.float64) for i in idx]
        stack = mats[0][None] if len(mats) == 1 else np.stack(mats)  # one operator: no copy
        lam, vec = np.linalg.eig(stack) if diagnostics else (np.linalg.eigvals(stack), None)
        lam = lam.astype(complex, copy=False)
        for b, i in enumerate(idx):
            v = None if vec is None else vec[b].astype(complex, copy=False)
            results[i] = _one(ops[i], lam[b], v, keep)
    return cast("list[OperatorSpectrum]", results)  # every slot was filled above


Spec = TypeVar("Spec", bound=OperatorSpectrum)


def relabel(spec: Spec, op: RecurrentOperator) -> Spec:
    """``spec`` (e.g. computed for an anonymous block) named as ``eigendecompose`` names ``op``."""
    return replace(
        spec, identity=op.identity, source=op.source, dtype=op.dtype, roundoff=op.roundoff
    )


def _one(
    op: RecurrentOperator, lam: np.ndarray, vec: np.ndarray | None, keep: bool
) -> OperatorSpectrum:
    perm = order_eigenvalues(lam)
    lam = lam[perm]
    base = OperatorSpectrum(op.identity, op.source, lam, dtype=op.dtype, roundoff=op.roundoff)
    if vec is None:
        return base
    vec = vec[:, perm]
    w = np.asarray(op.matrix, dtype=np.float64)
    cond_each, kappa, resid = diagnose(w, lam, vec)
    fro2 = float(np.sum(w * w))
    dep = np.sqrt(max(fro2 - float(np.sum(np.abs(lam) ** 2)), 0.0) / fro2) if fro2 > 0 else 0.0
    schur = None
    if not kappa <= ILL_CONDITIONED:
        import scipy.linalg

        schur = scipy.linalg.schur(w, output="real")  # eigendecompose warns about it
    return replace(
        base,
        eigenvectors=vec if keep else None,
        eigenvalue_condition=cond_each,
        eigvec_condition=kappa,
        departure_from_normality=float(dep),
        residual=resid,
        norm_fro=float(np.sqrt(fro2)),
        schur=schur,
    )

"""Partial spectra of large operators: the ``k`` eigenvalues of largest modulus (or nearest a point)
by implicitly restarted Arnoldi (ARPACK, ``scipy.sparse.linalg.eigs``; the numerical kernel is
``rnndyn.arnoldi``), with their trust diagnostics, and the memory check for full ones.

A full eigendecomposition is O(n³) time and ~120·n² bytes (eigenvectors, their inverse and the
residual products in float64/complex128; measured, see ``full_eig_bytes``); Arnoldi needs a few
hundred products ``W·x`` (O(n²) each) and O(n·k) memory besides ``W``. Per eigenvalue rnndyn
reports what it can verify without the rest of the spectrum:

- the residual ``‖W x − λ x‖ / ‖W‖_F`` of each unit right eigenvector ``x``;
- its condition ``κᵢ = ‖xᵢ‖‖yᵢ‖ / |yᵢᴴxᵢ|`` (Wilkinson; Golub & Van Loan §7.2.2), with the left
  eigenvector ``yᵢ`` from a second Arnoldi run on ``Wᵀ`` (``yᵢ = conj(u)`` for ``Wᵀu = λᵢu``);
- ``κ(V_k)``, the condition number of the ``n × k`` eigenvector block: a *lower bound* of the full
  ``κ(V)`` (a column subset has a larger smallest and a smaller largest singular value).

Which statistics the partial spectrum determines (``PartialSpectrum.exact``): the spectral radius,
the longest timescale, the top-k moduli/periods, and the count outside the unit circle when the
``k``-th modulus is ≤ 1. Henrici's departure from normality, quantiles of ``|λ|`` and fractions over
all eigenvalues need the full spectrum and are null (``needs_full``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn.arnoldi import top_eigenpairs
from rnndyn.errors import UsageError
from rnndyn.operators import OperatorId, RecurrentOperator
from rnndyn.spectrum import OperatorSpectrum, Spectrum, relabel

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

AUTO_TOP_MIN_N = 4096  # operators this large get the top ``AUTO_TOP_K`` unless a full eig is asked
AUTO_TOP_K = 64
FULL_EIG_BYTES_PER_N2 = 120  # eig + vectors + diagnostics, measured peak (115·n² at n = 1024, 2048)
EIGVALS_BYTES_PER_N2 = 16  # eigenvalues only (13·n² measured)
NEEDS_FULL = (
    "departure_from_normality",
    "modulus quantiles and fractions over all eigenvalues",
    "eigvec_condition of the whole basis (κ(V_k) given is a lower bound)",
)


@dataclass(frozen=True, repr=False)
class PartialSpectrum(OperatorSpectrum):
    """The top ``k`` of an operator's spectrum (``k = len(eigenvalues)``; ``n`` is the operator's size).

    Beyond ``OperatorSpectrum``: ``left`` ``(n, k)`` the left eigenvectors scaled so ``yᵢᴴxᵢ = 1``
    (``None`` when not kept), ``residuals`` ``(k,)``, ``which`` (``"largest_modulus"`` or
    ``"nearest (re, im)"``), ``converged`` (eigenpairs ARPACK reported converged).
    ``eigvec_condition`` is ``κ(V_k)`` (a lower bound of the full ``κ(V)``);
    ``departure_from_normality`` is NaN (it needs every eigenvalue).
    """

    size: int = 0
    which: str = "largest_modulus"
    residuals: np.ndarray | None = field(default=None, repr=False)
    left: np.ndarray | None = field(default=None, repr=False)
    converged: int = 0

    def __repr__(self) -> str:
        return (
            f"PartialSpectrum({self.qualified_id!r}, {self.arch}, top {self.k} of n={self.n}, "
            f"radius={self.spectral_radius:.4g})"
        )

    @property
    def n(self) -> int:
        return self.size

    @property
    def k(self) -> int:
        return int(self.eigenvalues.shape[0])

    @property
    def unit_circle(self) -> np.ndarray:
        """``inside``/``on``/``outside`` per reported eigenvalue (as ``OperatorSpectrum``'s)."""
        from rnndyn.conditioning import classify

        b = self.error_bound
        return classify(self.eigenvalues, np.zeros(self.k) if b is None else b)

    @property
    def n_outside_exact(self) -> bool:
        """True when every eigenvalue with ``|λ| > 1`` is among the ``k`` (so the count is exact)."""
        return self.which == "largest_modulus" and (
            self.k >= self.n or (self.k > 0 and float(self.moduli.min()) <= 1.0)
        )

    @property
    def exact(self) -> tuple[str, ...]:
        """Statistics of the whole operator that this partial spectrum determines."""
        if self.which != "largest_modulus":
            return ("the k eigenvalues nearest the target, their residuals and conditions",)
        out = ("spectral_radius", "longest_timescale", "top-k eigenvalues, timescales, periods")
        return out + (("n_outside_unit_circle",) if self.n_outside_exact else ())

    def to_frame(self) -> pd.DataFrame:
        """One row per reported eigenvalue (as ``OperatorSpectrum.to_frame``)."""
        names = [f.name for f in fields(OperatorSpectrum)]
        return OperatorSpectrum(**{f: getattr(self, f) for f in names}).to_frame()

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["n"] = self.n
        d["departure_from_normality"] = None
        res = self.residuals
        d["partial"] = {
            "k": self.k,
            "of": self.n,
            "which": self.which,
            "method": "implicitly restarted Arnoldi (ARPACK via scipy.sparse.linalg.eigs)",
            "converged": self.converged,
            "residuals": None if res is None else [float(r) for r in res],
            "eigvec_condition_is": "κ(V_k) of the k eigenvectors: a lower bound of the full κ(V)",
            "n_outside_unit_circle_is": "exact" if self.n_outside_exact else "a lower bound",
            "exact": list(self.exact),
            "needs_full": list(NEEDS_FULL),
        }
        return d


# ---- memory ------------------------------------------------------------------------------------


def available_bytes() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` (None where it cannot be read).

    A local estimate: a shared memory-budget helper may replace it (``rnndyn._util``)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def full_eig_bytes(n: int, *, vectors: bool = True) -> int:
    """Estimated peak extra memory of one full eigendecomposition of an ``n × n`` operator."""
    return (FULL_EIG_BYTES_PER_N2 if vectors else EIGVALS_BYTES_PER_N2) * n * n


def check_full_fits(ops: Sequence[RecurrentOperator], *, vectors: bool, jobs: int) -> None:
    """UsageError (exit 2) when full eigendecompositions of ``ops`` (``jobs`` at once) would not fit
    in the memory available now; the message offers ``--top K`` / ``--eigvals-only``."""
    if not ops:
        return
    avail = available_bytes()
    if os.environ.get("RNNDYN_MEMORY_BYTES"):  # an explicit budget (tests, batch schedulers)
        avail = int(os.environ["RNNDYN_MEMORY_BYTES"])
    if avail is None:
        return
    sizes = sorted((op.n for op in ops), reverse=True)[: max(1, jobs)]
    need = sum(full_eig_bytes(n, vectors=vectors) for n in sizes)
    if need <= avail:
        return
    gib = 1 << 30
    raise UsageError(
        f"a full eigendecomposition of the {sizes[0]}×{sizes[0]} operators "
        f"({'with' if vectors else 'without'} eigenvectors, {len(sizes)} at once) needs about "
        f"{need / gib:.1f} GiB, more than the {avail / gib:.1f} GiB available",
        hint="Use --top K for the K eigenvalues of largest modulus"
        + (", or --eigvals-only for all eigenvalues without vectors" if vectors else "")
        + (", or --jobs 1" if len(sizes) > 1 else "")
        + ".",
    )


# ---- operators → PartialSpectrum ---------------------------------------------------------------


def top_spectrum(
    op: RecurrentOperator,
    k: int,
    *,
    target: complex | None = None,
    keep_vectors: bool = True,
    seed: int = 0,
    conditions: bool = True,
) -> PartialSpectrum:
    """The top ``k`` of one operator's spectrum with residuals and condition estimates
    (``conditions=False``: no left eigenvectors, so no per-eigenvalue conditions; half the work)."""
    w = np.asarray(op.matrix, dtype=np.float64)
    lam, x, y, conv = top_eigenpairs(w, k, target=target, seed=seed, left=conditions)
    fro = float(np.linalg.norm(w))
    r = (
        np.linalg.norm(w @ x.real + 1j * (w @ x.imag) - x * lam, axis=0) / fro
        if fro
        else lam.real * 0
    )
    # ‖x‖ = 1 and yᴴx = 1: κᵢ = ‖yᵢ‖ (NaN: left vector not found)
    cond = None if y is None else np.linalg.norm(y, axis=0)
    sv = np.linalg.svd(x, compute_uv=False) if lam.size else np.ones(1)
    kappa = float(sv[0] / sv[-1]) if sv[-1] > 0 else float("inf")
    which = "largest_modulus" if target is None else f"nearest ({target.real:g}, {target.imag:g})"
    spec = PartialSpectrum(
        op.identity,
        op.source,
        eigenvalues=lam,
        eigenvectors=x if keep_vectors else None,
        eigenvalue_condition=cond,
        eigvec_condition=kappa,
        residual=float(r.max(initial=0.0)),
        size=int(w.shape[0]),
        which=which,
        residuals=r,
        left=y if keep_vectors else None,
        converged=int(min(conv, lam.size)),
    )
    return relabel(spec, op)


def top_decompose(
    ops: RecurrentOperator | Sequence[RecurrentOperator] | np.ndarray,
    k: int,
    *,
    target: complex | None = None,
    keep_vectors: bool = True,
    jobs: int | None = 1,
    conditions: bool = True,
) -> Spectrum:
    """``top_spectrum`` of every operator (``jobs`` at once, one BLAS thread each)."""
    from rnndyn._util.threads import available_cores, map_threads

    if isinstance(ops, RecurrentOperator):
        ops = [ops]
    elif isinstance(ops, np.ndarray):
        arr = ops[None] if ops.ndim == 2 else ops
        ops = [
            RecurrentOperator(OperatorId(i, "forward", "hh", "", "custom"), m, f"matrix[{i}]")
            for i, m in enumerate(arr)
        ]
    ops = list(ops)
    jobs = available_cores() if jobs is None else int(jobs)

    def one(op: RecurrentOperator) -> PartialSpectrum:
        return top_spectrum(op, k, target=target, keep_vectors=keep_vectors, conditions=conditions)

    if jobs > 1 and len(ops) > 1:
        return Spectrum(tuple(map_threads(one, ops, min(jobs, len(ops)), cost=lambda o: o.n)))
    return Spectrum(tuple(one(op) for op in ops))


def without_vectors(spec: PartialSpectrum) -> PartialSpectrum:
    """``spec`` without its (right and left) eigenvectors, to save memory."""
    return replace(spec, eigenvectors=None, left=None)


# ---- the analyze/compare/track entry point -----------------------------------------------------


def is_partial(
    n: int,
    *,
    top: int | None = None,
    target: complex | None = None,
    eigvals_only: bool = False,
    full: bool = False,
) -> bool:
    """Whether ``decompose`` gives an operator of size ``n`` a partial (Arnoldi) spectrum: with
    ``top``/``target`` always, else from ``AUTO_TOP_MIN_N`` on unless ``full`` or ``eigvals_only``."""
    if top is not None or target is not None:
        return True
    return not (eigvals_only or full) and n >= AUTO_TOP_MIN_N


def decompose(
    ops: Sequence[RecurrentOperator],
    *,
    top: int | None = None,
    eigvals_only: bool = False,
    full: bool = False,
    target: complex | None = None,
    keep_vectors: bool = True,
    jobs: int | None = 1,
    early: dict[int, OperatorSpectrum] | None = None,
) -> Spectrum:
    """Spectra as ``analyze`` chooses them: the top ``top`` (or nearest ``target``) by Arnoldi;
    every eigenvalue without vectors (``eigvals_only``); else full eigendecompositions, except
    operators with ``n ≥ AUTO_TOP_MIN_N`` which get the top ``AUTO_TOP_K`` (an ``RnndynWarning``
    says so) unless ``full``. A full decomposition that would not fit in memory is refused
    (``check_full_fits``)."""
    import warnings

    from rnndyn._util.threads import available_cores
    from rnndyn.errors import RnndynWarning
    from rnndyn.spectrum import eigendecompose

    ops = list(ops)
    n_jobs = available_cores() if jobs is None else int(jobs)
    if top is not None or target is not None:
        k = AUTO_TOP_K if top is None else int(top)
        return top_decompose(ops, k, target=target, keep_vectors=keep_vectors, jobs=jobs)
    if eigvals_only:
        check_full_fits(ops, vectors=False, jobs=n_jobs)
        return eigendecompose(ops, diagnostics=False, jobs=jobs)
    big = [i for i, op in enumerate(ops) if is_partial(op.n, full=full)]
    rest = [i for i in range(len(ops)) if i not in big]
    check_full_fits([ops[i] for i in rest], vectors=True, jobs=n_jobs)
    done = dict(early or {})
    results: dict[int, OperatorSpectrum] = {}
    if rest:
        sub_early = {j: done[i] for j, i in enumerate(rest) if i in done}
        spec = eigendecompose(
            [ops[i] for i in rest], keep_vectors=keep_vectors, jobs=jobs, early=sub_early
        )
        results.update(zip(rest, spec, strict=True))
    if big:
        sizes = sorted({ops[i].n for i in big})
        warnings.warn(
            f"{len(big)} operator(s) of size {', '.join(map(str, sizes))} (≥ {AUTO_TOP_MIN_N}): "
            f"only the {AUTO_TOP_K} eigenvalues of largest modulus were computed (Arnoldi), with "
            "their residuals and conditions; pass --full (API: full=True) for every eigenvalue, "
            "or --top K / --eigvals-only",
            RnndynWarning,
            stacklevel=2,
        )
        spec = top_decompose(
            [ops[i] for i in big], AUTO_TOP_K, keep_vectors=keep_vectors, jobs=jobs
        )
        results.update(zip(big, spec, strict=True))
    return Spectrum(tuple(results[i] for i in range(len(ops))))


def modal_spectra(
    ops: Sequence[RecurrentOperator], modes: int | Callable[[int], int]
) -> tuple[list[OperatorSpectrum], list[str]]:
    """Spectra for modal analyses that use only the top ``modes`` (``decay``): full ones below
    ``AUTO_TOP_MIN_N``, the top ``modes`` with left and right eigenvectors above (one note each)."""
    from rnndyn.spectrum import eigendecompose

    count = modes if callable(modes) else (lambda n: int(modes))
    big = [op.n >= AUTO_TOP_MIN_N for op in ops]
    small = iter(eigendecompose([op for op, b in zip(ops, big, strict=True) if not b]))
    out: list[OperatorSpectrum] = []
    notes = []
    for op, b in zip(ops, big, strict=True):
        if not b:
            out.append(next(small))
            continue
        k = min(count(op.n), op.n)
        out.append(top_spectrum(op, k))
        notes.append(
            f"{op.id}: n = {op.n} ≥ {AUTO_TOP_MIN_N}, so only its top {k} modes were computed "
            "(Arnoldi, left and right eigenvectors: modal coordinates are exact for them); its κ(V) "
            "is that of those modes, a lower bound of the whole basis'"
        )
    return out, notes

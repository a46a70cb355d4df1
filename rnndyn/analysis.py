"""One checkpoint's full spectral analysis: load → modules → operators → spectrum (the `analyze` job).

With ``jobs`` > 1 a plain torch state dict's gate blocks start decomposing while torch loads the
file (``rnndyn._early_start``); the results are exactly those of ``eigendecompose(ops, jobs=jobs)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn._early_start import EarlyStart
from rnndyn._util.atomic import displayable
from rnndyn._util.jsonsafe import JsonObject
from rnndyn._util.threads import available_cores
from rnndyn._version import __version__
from rnndyn.conditioning import TIMESCALE_NULL, unit_roundoff
from rnndyn.errors import RnndynWarning
from rnndyn.naming import gate_name
from rnndyn.operators import RecurrentModule, RecurrentOperator, extract_operators, find_modules
from rnndyn.spectrum import Spectrum
from rnndyn.topk import decompose

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from rnndyn.pseudospectra import Pseudospectrum
    from rnndyn.readers.checkpoint import Checkpoint

SCHEMA = "rnndyn.analysis/1"
UNIT_CIRCLE_RULE = {
    "rule": "inside: |λ| < 1 − error_bound; on: ||λ| − 1| ≤ error_bound; outside: |λ| > 1 + "
    "error_bound. error_bound: first-order κ_i·ε, ε = (unit_roundoff + residual)·‖W‖F, the "
    "perturbation the stored dtype allows (capped where first order is meaningless: "
    "error_bound_not_first_order; see docs/precision.md)",
    "timescale_null": TIMESCALE_NULL,
}
SET_SCHEMA = "rnndyn.analysis-set/1"


@dataclass(frozen=True)
class Analysis:
    """The checkpoint, the recurrent modules found in it and the spectra of all their operators."""

    checkpoint: Checkpoint
    modules: tuple[RecurrentModule, ...]
    spectrum: Spectrum
    pseudospectra: tuple[Pseudospectrum, ...] = ()  # one per operator when asked for

    def __repr__(self) -> str:
        nets = ", ".join(
            f"{m.arch.upper()} H={m.hidden_size} ×{m.num_layers}" for m in self.modules
        )
        return f"Analysis({self.checkpoint.path.name!r}: {nets}; {len(self.spectrum)} operators)"

    def to_frame(self) -> pd.DataFrame:
        """Tidy eigenvalue table, one row per eigenvalue, with the checkpoint's path and sha256."""
        df = self.spectrum.to_frame()
        arch = {m.name: m.arch for m in self.modules}
        df.insert(0, "architecture", df["module"].map(arch))
        df.insert(0, "sha256", self.checkpoint.sha256)
        df.insert(0, "checkpoint", displayable(str(self.checkpoint.path)))
        return df

    def operators_frame(self) -> pd.DataFrame:
        """One row per operator: the summary ``rnndyn analyze`` prints (a paper's "Table 1") —
        size, spectral radius with the half-width the stored precision allows, eigenvalues outside
        and on the unit circle, the longest finite timescale (steps), κ(V), relative departure from
        normality and residual — tagged with the
        checkpoint's path and sha256 (written as ``operators.csv`` by ``analyze --out``)."""
        import pandas as pd

        arch = {m.name: m.arch for m in self.modules}
        rows = []
        for s in self.spectrum:
            tau, bound = s.timescales, s.error_bound
            finite = tau[np.isfinite(tau)]
            half = float("nan")  # half-width of the radius interval the stored precision allows
            if bound is not None and s.n:
                rho = s.spectral_radius
                half = float(max((s.moduli + bound).max() - rho, rho - (s.moduli - bound).max()))
            rows.append(
                {
                    "checkpoint": displayable(str(self.checkpoint.path)),
                    "sha256": self.checkpoint.sha256,
                    "architecture": arch.get(s.module, s.arch),
                    "module": s.module,
                    "operator": s.id,
                    "layer": s.layer,
                    "direction": s.direction,
                    "gate": gate_name(s.identity.schema_gate),
                    "source": s.source,
                    "n": s.n,
                    "spectral_radius": s.spectral_radius,
                    "spectral_radius_bound": half,
                    "n_outside_unit_circle": s.n_outside_unit_circle,
                    "n_on_unit_circle": s.n_on_unit_circle,
                    "max_finite_timescale": float(finite.max()) if finite.size else float("nan"),
                    "eigvec_condition": s.eigvec_condition,
                    "departure_from_normality": s.departure_from_normality,
                    "residual": s.residual,
                    "ill_conditioned": s.ill_conditioned,
                }
            )
        return pd.DataFrame(rows)

    def to_dict(self) -> JsonObject:
        """The ``rnndyn.analysis/1`` document (DESIGN §7)."""
        main = self.modules[0]
        meta = dict(self.checkpoint.metadata or {})
        matrices = [s.to_dict() for s in self.spectrum]
        doc: JsonObject = {
            "schema": SCHEMA,
            "rnndyn_version": __version__,
            "checkpoint": {
                "path": str(self.checkpoint.path),
                "sha256": self.checkpoint.sha256,
                "format": self.checkpoint.format,
            }
            | _conversions(self.checkpoint),
            "eigenvalues_are": "discrete-time (per step); timescales in steps, null where infinite",
            "unit_circle": UNIT_CIRCLE_RULE,
            "architecture": main.arch,
            "nonlinearity": main.nonlinearity,
            "input_size": main.input_size,
            "hidden_size": main.hidden_size,
            "num_layers": main.num_layers,
            "bidirectional": main.bidirectional,
            "proj_size": main.proj_size,
            "metadata": meta,
            "modules": [m.to_dict() for m in self.modules],
            "matrices": matrices,
        }
        for entry, p in zip(matrices, self.pseudospectra, strict=False):
            entry["pseudospectrum"] = p.to_dict()  # same order as the spectrum
        return doc

    def pseudospectra_frame(self) -> pd.DataFrame:
        """One row per operator: the ε at which its pseudospectrum reaches the unit circle."""
        from rnndyn.pseudospectra import pseudospectra_frame

        df = pseudospectra_frame(list(self.pseudospectra))
        df.insert(0, "checkpoint", displayable(str(self.checkpoint.path)))
        return df


def analysis_document(analyses: Sequence[Analysis]) -> JsonObject:
    """The JSON document of one or more analyses: ``rnndyn.analysis/1`` for one checkpoint,
    ``rnndyn.analysis-set/1`` (``{"schema", "analyses": [analysis/1, ...]}``) for several."""
    if len(analyses) == 1:
        return analyses[0].to_dict()
    return {"schema": SET_SCHEMA, "analyses": [a.to_dict() for a in analyses]}


def analyses_frame(analyses: Sequence[Analysis]) -> pd.DataFrame:
    """One tidy eigenvalue table over several analyses (rows tagged by checkpoint and sha256)."""
    import pandas as pd

    return pd.concat([a.to_frame() for a in analyses], ignore_index=True)


def operators_frame(analyses: Sequence[Analysis]) -> pd.DataFrame:
    """The per-operator summaries of several analyses, one table (``Analysis.operators_frame``)."""
    import pandas as pd

    return pd.concat([a.operators_frame() for a in analyses], ignore_index=True)


def _conversions(ckpt: Checkpoint) -> JsonObject:
    """For files converted from another framework's layout: what each module assumed, and where
    every converted tensor came from (absent for PyTorch files)."""
    if not ckpt.conventions and not ckpt.sources:
        return {}
    return {"conventions": dict(ckpt.conventions), "sources": dict(ckpt.sources)}


def analyze(
    source: str | PathLike[str] | Checkpoint,
    *,
    trust: bool = False,
    matrix: str | None = None,
    jacobian: bool = False,
    layout: str | None = None,
    gate_order: str | None = None,
    jobs: int | None = None,
    pseudospectra: bool = False,
    top: int | None = None,
    eigvals_only: bool = False,
    full: bool = False,
    near: complex | None = None,
) -> Analysis:
    """Load a checkpoint (safely unless ``trust``) and eigendecompose every recurrent operator
    (``jobs`` at once, one BLAS thread each; ``None``: every available core; same results).

    ``jacobian=True`` adds each layer's full state Jacobian at the zero-input fixed point
    (id ``l{L}.{dir}.jacfp``; LSTM state ``[h; c]``), found by Newton's method.
    ``top``/``near``/``eigvals_only``/``full``: partial or eigenvalue-only spectra, and the automatic
    top-k above a size threshold (see ``rnndyn.topk.decompose``).
    ``layout`` (``rnn|lstm|gru``) and ``gate_order`` (``ifco``, ``zrh``, …) say how to read a stacked
    recurrent matrix stored in another convention (``matrix`` names it; see ``rnndyn.readers.layout``).
    ``pseudospectra=True`` adds each operator's ε-pseudospectrum on a grid and the ε at which it
    reaches the unit circle (``rnndyn.pseudospectra``).
    """
    early = None
    plain = top is None and near is None and not eigvals_only
    if (
        plain
        and not (matrix or layout or gate_order or jacobian)
        and isinstance(source, (str, PathLike))
    ):
        early = EarlyStart.open(source, available_cores() if jobs is None else int(jobs))
    try:
        from rnndyn.readers.checkpoint import Checkpoint, load, with_layout  # imports torch

        if isinstance(source, Checkpoint):
            ckpt = source
            if layout or gate_order:
                ckpt = with_layout(source, layout=layout, gate_order=gate_order, matrix=matrix)
        else:
            ckpt = load(source, trust=trust, layout=layout, gate_order=gate_order, matrix=matrix)
        modules, ops = recurrent_operators(ckpt, matrix=matrix, jacobian=jacobian)
        check_memory(ckpt, ops, jobs, top=top, near=near, eigvals_only=eigvals_only, full=full)
        done = early.take(ops) if early else None
        spec = decompose(
            ops, top=top, eigvals_only=eigvals_only, full=full, target=near, jobs=jobs, early=done
        )
        extra = operator_pseudospectra(ops, spec) if pseudospectra else ()
        return Analysis(ckpt, tuple(modules), spec, extra)
    finally:
        if early:
            early.close()


def operator_pseudospectra(
    ops: Sequence[RecurrentOperator], spec: Spectrum
) -> tuple[Pseudospectrum, ...]:
    """Each operator's pseudospectrum, contours from the perturbation its stored dtype allows."""
    from rnndyn.pseudospectra import pseudospectrum

    return tuple(
        pseudospectrum(
            op.matrix, epsilon_stored=s.epsilon, operator=s.qualified_id, eigenvalues=s.eigenvalues
        )
        for op, s in zip(ops, spec, strict=True)
    )


def check_memory(
    ckpt: Checkpoint,
    ops: Sequence[Any],
    jobs: int | None = None,
    *,
    top: int | None = None,
    near: complex | None = None,
    eigvals_only: bool = False,
    full: bool = False,
) -> None:
    """Refuse (exit 4, with the estimate) a checkpoint whose decomposition would not fit the
    memory budget: distinct matrices counted once, each result row counted (many views of one
    storage make many rows). The estimate follows what ``topk.decompose`` will do
    (``topk.is_partial``): full eigendecompositions (with vectors, or eigenvalues only), or
    Arnoldi's ``O(n·K)`` work space for a partial spectrum."""
    from rnndyn._util import budget
    from rnndyn.topk import AUTO_TOP_K, EIGVALS_BYTES_PER_N2, is_partial
    from rnndyn.workload import distinct_operators, memory_estimate

    distinct, copies = distinct_operators(list(ops))
    n_jobs = available_cores() if jobs is None else int(jobs)
    partial = [
        is_partial(op.n, top=top, target=near, eigvals_only=eigvals_only, full=full)
        for op in distinct
    ]
    arnoldi = [op for op, part in zip(distinct, partial, strict=True) if part]
    dense = [op for op, part in zip(distinct, partial, strict=True) if not part]
    if eigvals_only:
        largest = sorted(op.n for op in dense)[-max(n_jobs, 1) :]  # the ones in flight at once
        need = sum(float(EIGVALS_BYTES_PER_N2) * n * n for n in largest)
    else:
        need = memory_estimate(dense, n_jobs)
    k = AUTO_TOP_K if top is None else int(top)
    need += sum(32.0 * op.n * (2 * k + 64) for op in arnoldi)  # Krylov bases and vectors
    need += 2048.0 * len(copies)  # one result row (labels, scalars) per operator
    biggest = max((op.n for op in distinct), default=0)
    budget.check(
        need,
        f"eigendecomposing its {len(copies)} recurrent operator(s) ({len(distinct)} distinct, "
        f"largest {biggest}×{biggest})",
        input_path=ckpt.path,
        hint="Name one matrix with --matrix, ask for --top K, or raise the limit if the file is "
        "genuine.",
    )


def recurrent_operators(
    ckpt: Checkpoint, *, matrix: str | None = None, jacobian: bool = False
) -> tuple[list[RecurrentModule], list[RecurrentOperator]]:
    """The checkpoint's recurrent modules and their operators (plus fixed-point Jacobians on request)."""
    modules = find_modules(ckpt, matrix=matrix)
    ops = extract_operators(ckpt, modules=modules)
    stored = {op.module: op.dtype for op in ops}  # a Jacobian is known to its weights' u
    if jacobian:
        from rnndyn.dynamics.jacobian import jacobian_operators

        for mod in modules:
            if mod.arch == "custom":
                continue
            for op in jacobian_operators(ckpt, mod, kinds=("fixed_point",)):
                if not op.converged:
                    warnings.warn(
                        f"{ckpt.path}: {op.qualified_id}: the zero-input fixed point did not converge "
                        f"(residual {op.residual:.2g} after {op.iterations} iterations); its Jacobian "
                        "is reported at the last iterate.",
                        RnndynWarning,
                        stacklevel=3,
                    )
                dtype = stored.get(op.module, op.dtype)
                ops.append(replace(op, dtype=dtype, roundoff=unit_roundoff(dtype)))
    return modules, ops

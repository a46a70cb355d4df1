"""One checkpoint's full spectral analysis: load → modules → operators → spectrum (the `analyze` job)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any

from rnndyn._version import __version__
from rnndyn.errors import RnndynWarning
from rnndyn.io.atomic import displayable
from rnndyn.io.checkpoint import Checkpoint, load, with_layout
from rnndyn.operators import RecurrentModule, RecurrentOperator, extract_operators, find_modules
from rnndyn.spectrum import Spectrum, eigendecompose

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SCHEMA = "rnndyn.analysis/1"
SET_SCHEMA = "rnndyn.analysis-set/1"


@dataclass(frozen=True)
class Analysis:
    """The checkpoint, the recurrent modules found in it and the spectra of all their operators."""

    checkpoint: Checkpoint
    modules: tuple[RecurrentModule, ...]
    spectrum: Spectrum

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

    def to_dict(self) -> dict[str, Any]:
        """The ``rnndyn.analysis/1`` document (DESIGN §7)."""
        main = self.modules[0]
        meta = dict(self.checkpoint.metadata or {})
        return {
            "schema": SCHEMA,
            "rnndyn_version": __version__,
            "checkpoint": {
                "path": str(self.checkpoint.path),
                "sha256": self.checkpoint.sha256,
                "format": self.checkpoint.format,
            }
            | _conversions(self.checkpoint),
            "eigenvalues_are": "discrete-time (per step); timescales in steps, null where infinite",
            "architecture": main.arch,
            "nonlinearity": main.nonlinearity,
            "input_size": main.input_size,
            "hidden_size": main.hidden_size,
            "num_layers": main.num_layers,
            "bidirectional": main.bidirectional,
            "proj_size": main.proj_size,
            "metadata": meta,
            "modules": [m.to_dict() for m in self.modules],
            "matrices": [s.to_dict() for s in self.spectrum],
        }


def analysis_document(analyses: Sequence[Analysis]) -> dict[str, Any]:
    """The JSON document of one or more analyses: ``rnndyn.analysis/1`` for one checkpoint,
    ``rnndyn.analysis-set/1`` (``{"schema", "analyses": [analysis/1, ...]}``) for several."""
    if len(analyses) == 1:
        return analyses[0].to_dict()
    return {"schema": SET_SCHEMA, "analyses": [a.to_dict() for a in analyses]}


def analyses_frame(analyses: Sequence[Analysis]) -> pd.DataFrame:
    """One tidy eigenvalue table over several analyses (rows tagged by checkpoint and sha256)."""
    import pandas as pd

    return pd.concat([a.to_frame() for a in analyses], ignore_index=True)


def _conversions(ckpt: Checkpoint) -> dict[str, Any]:
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
) -> Analysis:
    """Load a checkpoint (safely unless ``trust``) and eigendecompose every recurrent operator
    (``jobs`` at once, one BLAS thread each; ``None``: every available core; same results).

    ``jacobian=True`` adds each layer's full state Jacobian at the zero-input fixed point
    (id ``l{L}.{dir}.jacfp``; LSTM state ``[h; c]``), found by Newton's method.
    ``layout`` (``rnn|lstm|gru``) and ``gate_order`` (``ifco``, ``zrh``, …) say how to read a stacked
    recurrent matrix stored in another convention (``matrix`` names it; see ``rnndyn.io.layout``).
    """
    if isinstance(source, Checkpoint):
        ckpt = source
        if layout or gate_order:
            ckpt = with_layout(source, layout=layout, gate_order=gate_order, matrix=matrix)
    else:
        ckpt = load(source, trust=trust, layout=layout, gate_order=gate_order, matrix=matrix)
    modules, ops = recurrent_operators(ckpt, matrix=matrix, jacobian=jacobian)
    return Analysis(ckpt, tuple(modules), eigendecompose(ops, jobs=jobs))


def recurrent_operators(
    ckpt: Checkpoint, *, matrix: str | None = None, jacobian: bool = False
) -> tuple[list[RecurrentModule], list[RecurrentOperator]]:
    """The checkpoint's recurrent modules and their operators (plus fixed-point Jacobians on request)."""
    modules = find_modules(ckpt, matrix=matrix)
    ops = extract_operators(ckpt, modules=modules)
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
                ops.append(op)
    return modules, ops

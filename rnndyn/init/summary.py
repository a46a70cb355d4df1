"""Describing eigen laws and their samples as tables and JSON documents (what ``rnndyn init`` shows).

- :func:`law_table`: one row per target (radius, phase, fractions, goodness of fit);
- :func:`fit_document`: the ``rnndyn.eigen-init-fit/1`` document of ``init fit --json``;
- :func:`sample_targets` / :func:`sample_blocks`: which gate blocks a sample draws (every gate of
  an architecture when the law has them all, stacked as PyTorch does), and the draw itself;
- :func:`sample_document`: the ``rnndyn.eigen-sample/1`` document of ``init sample --json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.errors import UsageError
from rnndyn.init.law import Dist, EigenInitParams
from rnndyn.naming import ARCHS, GATES, SEED_MAX

__all__ = [
    "LAW_COLUMNS",
    "MAX_N",
    "SEED_MAX",
    "SampledBlock",
    "describe",
    "fit_document",
    "law_table",
    "sample_blocks",
    "sample_document",
    "sample_targets",
]

MAX_N = 8192

LAW_COLUMNS = {  # table column → heading shown by the command line
    "target": "target",
    "radius": "radius",
    "phase": "phase (pairs, θ∈[0,π])",
    "real_fraction": "real frac",
    "positive_fraction": "positive frac",
    "real_radius": "real radius",
    "ks_radius": "KS D radius",
    "n_radius": "n radius",
    "ks_phase": "KS D phase",
    "n_phase": "n phase",
}


def describe(dist: Dist) -> str:
    """``beta(a=2.1, b=1.3, …)``: a one-line description of a 1-D law."""

    def fmt(v: Any) -> str:
        if isinstance(v, tuple):
            return "[" + ", ".join(f"{x:.3g}" for x in v[:4]) + (", …]" if len(v) > 4 else "]")
        return f"{v:.4g}"

    return f"{dist.family}(" + ", ".join(f"{k}={fmt(v)}" for k, v in dist.params.items()) + ")"


def law_table(params: EigenInitParams) -> list[JsonObject]:
    """One row per target, keyed by :data:`LAW_COLUMNS`; ``ks_*`` is the fitter's KS distance D
    over ``n_*`` values (``None`` for a law not fitted by rnndyn). No p-value: see
    :mod:`rnndyn.init.fit_families`."""
    diag = params.diagnostics or {}
    rows = []
    for t, law in params.targets.items():
        d = diag.get(t) or {}
        rr = law.real_radius
        rows.append(
            {
                "target": t,
                "radius": describe(law.radius),
                "phase": describe(law.phase),
                "real_fraction": law.real_fraction,
                "positive_fraction": law.positive_fraction,
                "real_radius": "(= radius)" if rr is None else describe(rr),
                "ks_radius": (d.get("radius") or {}).get("ks_statistic"),
                "n_radius": (d.get("radius") or {}).get("n"),
                "ks_phase": (d.get("phase") or {}).get("ks_statistic"),
                "n_phase": (d.get("phase") or {}).get("n"),
            }
        )
    return rows


def fit_document(
    laws: Mapping[str | None, EigenInitParams], paths: Mapping[str | None, Path]
) -> JsonObject:
    """The JSON document of a fit: per group (``None`` without ``--by``) its file and law."""
    return {
        "schema": "rnndyn.eigen-init-fit/1",
        "files": [
            {"group": g, "path": str(paths[g]), "law": law.to_dict()} for g, law in laws.items()
        ],
    }


def check_size(n: Any, seed: Any) -> None:
    """``UsageError`` unless ``1 ≤ n ≤ MAX_N`` and ``0 ≤ seed ≤ 2⁶³ − 1`` (integers)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise UsageError(f"--n {n} must be an integer between 1 and {MAX_N}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise UsageError(f"--seed {seed} must be an integer between 0 and 2^63-1 ({SEED_MAX})")


def sample_targets(params: EigenInitParams, target: str | None = None) -> tuple[str, ...]:
    """The targets one sample draws: ``(target,)`` when given (``UsageError`` if the law lacks
    it); else an architecture's gates (``i, f, g, o`` or ``r, z, n``, stacked in PyTorch's order)
    when the law names them all; else its ``hh``, ``*`` or only target."""
    if target is not None:
        params.law_for(target)  # UsageError naming the targets
        return (target,)
    for arch in ARCHS:
        if len(GATES[arch]) > 1 and set(GATES[arch]) <= set(params.targets):
            return GATES[arch]
    if list(params.targets) == ["*"]:
        return ("*",)
    from rnndyn.init.sample import default_target

    return (default_target(params),)  # UsageError when the law has several, none of them hh


@dataclass(frozen=True, eq=False)
class SampledBlock:
    """One drawn ``(n, n)`` block: its target, the matrix (float64) and its eigenvalues as drawn."""

    target: str
    matrix: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)


def sample_blocks(
    params: EigenInitParams, n: int, *, target: str | None = None, seed: int = 0
) -> list[SampledBlock]:
    """Draw the blocks of :func:`sample_targets` from one ``torch`` generator seeded ``seed``."""
    import torch

    from rnndyn.init.sample import sample_matrix

    check_size(n, seed)
    g = torch.Generator().manual_seed(seed)
    out = []
    for t in sample_targets(params, target):
        w, lam = sample_matrix(params, n, target=t, generator=g, return_eigenvalues=True)
        out.append(SampledBlock(t, w.numpy(), lam))
    return out


def sample_document(
    blocks: Sequence[SampledBlock],
    law_path: str | PathLike[str],
    *,
    seed: int,
    matrix_file: str | PathLike[str] | None = None,
) -> JsonObject:
    """The JSON document of a sample: the law file (path, sha256), seed, and each block's
    eigenvalues as ``[re, im]`` pairs."""
    from rnndyn._util.hashing import file_sha256

    return {
        "schema": "rnndyn.eigen-sample/1",
        "law": {"path": str(law_path), "sha256": file_sha256(law_path)},
        "n": int(blocks[0].matrix.shape[1]) if blocks else 0,
        "seed": seed,
        "matrix_file": None if matrix_file is None else str(matrix_file),
        "note": "discrete-time eigenvalues, exactly as drawn (W has them to rounding)",
        "blocks": [
            {
                "target": b.target,
                "eigenvalues": [[float(z.real), float(z.imag)] for z in b.eigenvalues],
            }
            for b in blocks
        ],
    }


def sample_rows(blocks: Sequence[SampledBlock]) -> list[JsonObject]:
    """Per block: target, n, spectral radius, number of real eigenvalues and of ``|λ| > 1``."""
    return [
        {
            "target": b.target,
            "n": int(b.matrix.shape[1]),
            "spectral_radius": float(np.abs(b.eigenvalues).max()),
            "n_real": int((b.eigenvalues.imag == 0).sum()),
            "n_outside_unit_circle": int((np.abs(b.eigenvalues) > 1).sum()),
        }
        for b in blocks
    ]

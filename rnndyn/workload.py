"""What a batch of operators costs to decompose: matrices repeated under many names (decomposed
once, their results relabelled) and the memory a full eigendecomposition holds at its peak."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.operators import RecurrentOperator

__all__ = ["distinct_operators", "memory_estimate"]


def distinct_operators(
    ops: list[RecurrentOperator],
) -> tuple[list[RecurrentOperator], list[tuple[int, RecurrentOperator]]]:
    """``(distinct operators, [(index among them, op) for each op])``: operators whose matrices
    are the same array, or bit-identical, are decomposed once (their results are relabelled)."""
    first: dict[Any, int] = {}
    distinct: list[RecurrentOperator] = []
    copies: list[tuple[int, RecurrentOperator]] = []
    for op in ops:
        m = np.ascontiguousarray(op.matrix)
        key = (m.shape, m.dtype.str, hashlib.sha256(m.tobytes()).digest())
        if key not in first:
            first[key] = len(distinct)
            distinct.append(op)
        copies.append((first[key], op))
    return distinct, copies


def memory_estimate(ops: Sequence[RecurrentOperator], jobs: int = 1) -> float:
    """Bytes ``eigendecompose(ops, jobs=jobs)`` may hold at its peak: per distinct size, the
    complex eigenvectors and diagnostics kept per result, plus the working set of ``jobs`` at once."""
    sizes = sorted(float(op.n) for op in ops)
    kept = sum(48.0 * n * n for n in sizes)  # eigenvectors (complex) + condition work, per result
    work = sum(96.0 * n * n for n in sizes[-max(int(jobs), 1) :])  # eig, inverse, Schur in flight
    return kept + work

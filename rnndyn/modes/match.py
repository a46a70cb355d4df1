"""Pair DMD eigenvalues with a reference spectrum (a Jacobian's) and measure the gaps.

The ``top`` DMD eigenvalues (largest modulus first) are matched one-to-one to the reference
eigenvalues by the assignment that minimises the summed distance ``|λ_DMD − λ_ref|``
(``scipy.optimize.linear_sum_assignment``): eigenvalue multisets are compared by optimal matching,
never by sort order, so a near-tie in modulus cannot pair the wrong partners.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from rnndyn._util.jsonsafe import JsonObject

#: How many of the largest-modulus DMD eigenvalues are matched by default.
TOP = 8


@dataclass(frozen=True)
class SpectrumMatch:
    """The pairing of the ``k`` top DMD eigenvalues with ``reference``'s eigenvalues.

    ``dmd_index`` ``(k,)`` positions in the DMD spectrum; ``ref_index`` ``(k,)`` in the reference;
    ``gaps`` ``(k,)`` ``|λ_DMD − λ_ref|``. ``median_gap``/``max_gap`` summarise them.
    """

    reference: str
    dmd_index: np.ndarray = field(repr=False)
    ref_index: np.ndarray = field(repr=False)
    dmd: np.ndarray = field(repr=False)
    ref: np.ndarray = field(repr=False)
    gaps: np.ndarray = field(repr=False)
    n_reference: int = 0

    @property
    def k(self) -> int:
        return int(self.gaps.size)

    @property
    def median_gap(self) -> float | None:
        return float(np.median(self.gaps)) if self.gaps.size else None

    @property
    def max_gap(self) -> float | None:
        return float(self.gaps.max()) if self.gaps.size else None

    def to_records(self) -> list[dict[str, Any]]:
        return [
            {
                "reference": self.reference,
                "dmd_index": int(i),
                "ref_index": int(j),
                "dmd_re": float(a.real),
                "dmd_im": float(a.imag),
                "ref_re": float(b.real),
                "ref_im": float(b.imag),
                "gap": float(g),
            }
            for i, j, a, b, g in zip(
                self.dmd_index, self.ref_index, self.dmd, self.ref, self.gaps, strict=True
            )
        ]

    def to_dict(self) -> JsonObject:
        return {
            "reference": self.reference,
            "k": self.k,
            "n_reference": self.n_reference,
            "median_gap": self.median_gap,
            "max_gap": self.max_gap,
            "pairs": [
                {
                    "dmd_index": r["dmd_index"],
                    "ref_index": r["ref_index"],
                    "dmd": [r["dmd_re"], r["dmd_im"]],
                    "ref": [r["ref_re"], r["ref_im"]],
                    "gap": r["gap"],
                }
                for r in self.to_records()
            ],
        }


def match_spectra(
    dmd: np.ndarray, reference: np.ndarray, *, top: int = TOP, name: str = "reference"
) -> SpectrumMatch:
    """Match the ``top`` largest-modulus eigenvalues of ``dmd`` ``(r,)`` to ``reference`` ``(n,)``."""
    dmd = np.asarray(dmd, dtype=complex)
    ref = np.asarray(reference, dtype=complex)
    k = max(0, min(int(top), dmd.size, ref.size))
    pick = np.argsort(-np.abs(dmd), kind="stable")[:k]
    cost = np.abs(dmd[pick][:, None] - ref[None, :])
    rows, cols = linear_sum_assignment(cost)
    i, j = pick[rows], cols
    order = np.argsort(-np.abs(dmd[i]), kind="stable")
    i, j = i[order], j[order]
    return SpectrumMatch(
        reference=name,
        dmd_index=i,
        ref_index=j,
        dmd=dmd[i],
        ref=ref[j],
        gaps=np.abs(dmd[i] - ref[j]),
        n_reference=int(ref.size),
    )

"""Modal coordinates ``z = V⁻¹ s`` in the real eigenbasis, for many states at once.

The basis is real: a real eigenvalue contributes its eigenvector ``v``, a conjugate pair ``λ, λ̄``
the two columns ``[Re v, Im v]`` (spanning the plane the pair rotates and scales). The basis matrix
is inverted **once** in float64; projecting states is then one real GEMM (float32 by default) over
chunks of ~1e5 states — never a per-state complex solve. A mode's *amplitude* is ``|y|`` for a real
eigenvalue and ``sqrt(y₁² + y₂²)`` in its plane for a pair (both conjugates share it); energy is amplitude².
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from rnndyn.errors import UsageError
from rnndyn.spectrum import OperatorSpectrum

CHUNK = 100_000


@dataclass(frozen=True)
class ModalBasis:
    """The real eigenbasis of one operator, restricted to the selected modes.

    Shapes (``n`` operator size, ``M`` selected modes = eigenvalues, ``c`` real columns, ``G`` groups =
    real eigenvalues + pairs): ``columns`` ``(n, c)`` (unit for a real eigenvalue; a pair's two
    columns share one scale with mean squared norm 1), ``rows`` ``(c, n)`` matching rows of
    the inverse basis, ``col_group`` ``(c,)``, ``mode_group`` ``(M,)``, ``group_size`` ``(G,)``,
    ``mode_index`` ``(M,)`` positions in the operator's eigenvalue order, ``eigenvalues`` ``(M,)``.
    """

    eigenvalues: np.ndarray = field(repr=False)
    mode_index: np.ndarray = field(repr=False)
    mode_group: np.ndarray = field(repr=False)
    columns: np.ndarray = field(repr=False)
    rows: np.ndarray = field(repr=False)
    col_group: np.ndarray = field(repr=False)
    group_size: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        return int(self.columns.shape[0])

    @property
    def n_modes(self) -> int:
        return int(self.eigenvalues.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.group_size.shape[0])

    @property
    def group_eigenvalues(self) -> np.ndarray:
        """``(G,)`` one representative eigenvalue per group (the +imag one of a pair)."""
        first = np.unique(self.mode_group, return_index=True)[1]
        return self.eigenvalues[first]


def real_basis(spec: OperatorSpectrum, modes: int | None = None) -> ModalBasis:
    """Real eigenbasis of ``spec`` keeping the top ``modes`` eigenvalues (a split pair is completed)."""
    if spec.eigenvectors is None:
        raise UsageError(
            f"operator {spec.qualified_id}: eigenvectors were not kept; decompose with "
            "keep_vectors=True"
        )
    lam, vec = spec.eigenvalues, spec.eigenvectors
    n = lam.shape[0]
    m = n if modes is None else int(min(max(modes, 1), n))
    left = getattr(spec, "left", None)  # a partial spectrum (rnndyn.topk): rows from left vectors
    if m < n and lam[m - 1].imag > 0:  # keep the conjugate of a selected +imag eigenvalue
        m += 1
    reps = np.flatnonzero(lam.imag >= 0)  # one per group, in order
    pair = lam.imag[reps] > 0
    size = 1 + pair.astype(int)
    col_group = np.repeat(np.arange(reps.size), size)
    col_rep = reps[col_group]
    second = np.zeros(col_group.size, bool)
    second[np.cumsum(size)[pair] - 1] = True
    basis = np.where(second, vec[:, col_rep].imag, vec[:, col_rep].real)
    # one scale per group (mean squared column norm 1): a pair's plane coordinates then rotate and
    # scale exactly by λ; separate column scales would distort the 2×2 block
    sq = np.zeros(reps.size)
    np.add.at(sq, col_group, (basis * basis).sum(axis=0))
    scale = np.sqrt(sq / size)[col_group]
    basis /= scale
    if left is not None:  # yᵢᴴxᵢ = 1: a pair's plane coordinates are 2·[Re y, Im y]ᵀ h
        yl = left[:, col_rep]
        inverse = (np.where(second, 2 * yl.imag, np.where(pair[col_group], 2, 1) * yl.real)).T
        inverse = inverse * scale[:, None]
    else:
        try:
            inverse = np.linalg.inv(basis)
        except np.linalg.LinAlgError:
            inverse = np.linalg.pinv(basis)
    mode_group = np.searchsorted(reps, np.arange(n), side="right") - 1  # conjugate → its +imag rep
    keep_groups = np.unique(mode_group[:m])
    keep_cols = np.isin(col_group, keep_groups)
    remap = np.full(reps.size, -1)
    remap[keep_groups] = np.arange(keep_groups.size)
    return ModalBasis(
        eigenvalues=lam[:m],
        mode_index=np.arange(m),
        mode_group=remap[mode_group[:m]],
        columns=np.ascontiguousarray(basis[:, keep_cols]),
        rows=np.ascontiguousarray(inverse[keep_cols]),
        col_group=remap[col_group[keep_cols]],
        group_size=size[keep_groups],
    )


def project(
    states: torch.Tensor | np.ndarray, basis: ModalBasis, *, dtype=torch.float32
) -> torch.Tensor:
    """Real modal coordinates ``(…, c)`` of states ``(…, n)``: one GEMM per chunk of ``CHUNK`` states."""
    s = torch.as_tensor(states)
    if s.shape[-1] != basis.n:
        raise UsageError(f"states have size {s.shape[-1]}, the operator has size {basis.n}")
    flat = s.reshape(-1, basis.n)
    rows_t = torch.from_numpy(basis.rows).to(dtype).T.contiguous()
    out = torch.empty(flat.shape[0], rows_t.shape[1], dtype=dtype)
    for i in range(0, flat.shape[0], CHUNK):
        torch.mm(flat[i : i + CHUNK].to(dtype), rows_t, out=out[i : i + CHUNK])
    return out.reshape(*s.shape[:-1], rows_t.shape[1])


def group_energy(coords: torch.Tensor, basis: ModalBasis) -> torch.Tensor:
    """Energy per group ``(…, G)`` from coordinates ``(…, c)``: sum of squares over the group's columns."""
    idx = torch.from_numpy(basis.col_group)
    out = torch.zeros(*coords.shape[:-1], basis.n_groups, dtype=coords.dtype)
    return out.index_add_(-1, idx, coords * coords)


@dataclass(frozen=True)
class ModalCoordinates:
    """Modal coordinates of a trajectory: ``coords`` ``(T, B, c)`` real, ``amplitude`` ``(T, B, M)``."""

    basis: ModalBasis = field(repr=False)
    coords: np.ndarray = field(repr=False)
    amplitude: np.ndarray = field(repr=False)

    @property
    def eigenvalues(self) -> np.ndarray:
        return self.basis.eigenvalues

    @property
    def energy(self) -> np.ndarray:
        """``(T, B, M)`` amplitude squared."""
        with np.errstate(over="ignore"):
            return self.amplitude**2

    def mean_energy(self) -> np.ndarray:
        """``(T, M)`` energy averaged over the batch (``inf`` where it exceeds the float range)."""
        with np.errstate(over="ignore"):
            return self.energy.mean(axis=1)

    def to_frame(self):
        """Tidy: one row per (time, mode) with the batch-mean energy."""
        import pandas as pd

        e = self.mean_energy()
        t, m = np.meshgrid(np.arange(e.shape[0]), np.arange(e.shape[1]), indexing="ij")
        lam = self.eigenvalues[m.ravel()]
        return pd.DataFrame(
            {
                "t": t.ravel(),
                "mode": m.ravel(),
                "re": lam.real,
                "im": lam.imag,
                "modulus": np.abs(lam),
                "energy": e.ravel(),
            }
        )

    def to_dict(self) -> dict:
        return {
            "eigenvalues": [[float(z.real), float(z.imag)] for z in self.eigenvalues],
            "mean_energy": self.mean_energy().tolist(),
        }


def modal_coordinates(
    states: torch.Tensor | np.ndarray, basis: ModalBasis, *, dtype: torch.dtype = torch.float32
) -> ModalCoordinates:
    """Project states ``(T, B, n)`` and return coordinates with per-mode amplitudes ``(T, B, M)``."""
    coords = project(states, basis, dtype=dtype)
    amp = group_energy(coords, basis).sqrt()[..., torch.from_numpy(basis.mode_group)]
    return ModalCoordinates(basis, coords.numpy(), amp.numpy())

"""Spectra along training: every recurrent operator's eigenvalues across checkpoints (e.g. the
snapshots of ``rnndyn train --save-every K --snapshots DIR``), ordered by epoch, each eigenvalue
followed from one checkpoint to the next by an optimal assignment.

Following: between consecutive checkpoints the eigenvalues are matched by
``scipy.optimize.linear_sum_assignment`` on the cost ``|fold(λ) − fold(μ)|`` with
``fold(z) = Re z + i|Im z|`` (plus a 1e-9 penalty for crossing the real axis). A conjugate pair and
its image have equal folded costs, so pairs move together and upper halves follow upper halves;
a pair that collides on the real axis and splits into two real eigenvalues keeps both tracks.
Limitation: two real eigenvalues that pass through one another between checkpoints cannot be told
apart by position; their tracks swap (snapshots every epoch make such meetings rarer).

Partial spectra (``top=K``, ``rnndyn.topk``): the ``K`` eigenvalues of largest modulus per operator
and checkpoint are followed (the fewest any checkpoint has, ``K`` or ``K + 1`` with a completed
pair). The spectral radius and the longest finite timescale are exact; the fraction above the
threshold and the count outside the unit circle are exact where the smallest tracked modulus is
at or below the threshold (or 1), else null; the count on the circle needs every eigenvalue's bound
(``NEEDS_FULL``) and is null. Partial spectra carry no error bounds, so counts compare ``|λ|``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.conditioning import above, classify
from rnndyn.errors import InvalidInputError, UsageError
from rnndyn.readers.checkpoint import Checkpoint, as_checkpoint
from rnndyn.spectrum import timescales
from rnndyn.training.records import TrackCheckpoint

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SCHEMA = "rnndyn.track/1"
AXIS_PENALTY = 1e-9
#: statistics a partial (top-K) track cannot give at all
NEEDS_FULL = ("n_on_unit_circle",)


def _floats(a: np.ndarray) -> list[float | None]:
    return [float(x) if np.isfinite(x) else None for x in a]


def _fold(z: np.ndarray) -> np.ndarray:
    return z.real + 1j * np.abs(z.imag)


def match(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """``perm`` such that ``current[perm[i]]`` continues ``previous[i]`` (see the module docstring)."""
    from scipy.optimize import linear_sum_assignment

    a, b = np.asarray(previous, complex), np.asarray(current, complex)
    cost = np.abs(_fold(a)[:, None] - _fold(b)[None, :])
    cost += AXIS_PENALTY * (np.sign(a.imag)[:, None] * np.sign(b.imag)[None, :] < 0)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(a), dtype=int)
    perm[rows] = cols
    return perm


def follow(
    spectra: Sequence[np.ndarray], carried: Sequence[np.ndarray] | None = None
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``(C, n)`` complex: column ``j`` follows the first spectrum's ``j``-th eigenvalue through all.
    With ``carried`` (one ``(n,)`` array per spectrum, e.g. error bounds): also those, reordered
    the same way, as a second ``(C, n)`` array."""
    out = [np.asarray(spectra[0], complex)]
    extra = None if carried is None else [np.asarray(carried[0])]
    for c, nxt in enumerate(spectra[1:], start=1):
        nxt = np.asarray(nxt, complex)
        perm = match(out[-1], nxt)
        out.append(nxt[perm])
        if extra is not None:
            extra.append(np.asarray(carried[c])[perm])  # type: ignore[index]
    return np.stack(out) if extra is None else (np.stack(out), np.stack(extra))


@dataclass(frozen=True, eq=False)
class OperatorTrack:
    """One operator across ``C`` checkpoints: ``eigenvalues`` ``(C, n)`` (column = one followed
    eigenvalue) and per-checkpoint summaries ``(C,)``; ``step`` ``(C−1,)`` the largest ``|Δλ|`` of
    each assignment (large values flag jumps the following may have got wrong). ``bounds``
    ``(C, n)``: each eigenvalue's error bound from the stored precision (``rnndyn.conditioning``;
    None: 0), so counts above a threshold count only eigenvalues above it beyond their bound.
    ``size``: the operator's size when only its top eigenvalues are tracked (None: all of them);
    then statistics the tracked ones do not decide are NaN (module docstring)."""

    id: str
    eigenvalues: np.ndarray = field(repr=False)
    threshold: float = 0.9
    bounds: np.ndarray | None = field(default=None, repr=False)
    size: int | None = None

    @property
    def partial(self) -> bool:
        return self.size is not None and self.size > self.eigenvalues.shape[1]

    def _decided(self, values: np.ndarray, level: float) -> np.ndarray:
        """``values`` where the tracked eigenvalues reach down to ``level`` (or all are tracked)."""
        if not self.partial:
            return values
        reach = np.abs(self.eigenvalues).min(axis=1, initial=np.inf) <= level
        return np.where(reach, values, np.nan)

    @property
    def _b(self) -> np.ndarray:
        return np.zeros(self.eigenvalues.shape) if self.bounds is None else self.bounds

    @property
    def spectral_radius(self) -> np.ndarray:
        return np.abs(self.eigenvalues).max(axis=1)

    @property
    def fraction_above(self) -> np.ndarray:
        """Fraction of eigenvalues with ``|λ| > threshold`` beyond their bound."""
        n = self.eigenvalues.shape[1] if self.size is None else self.size
        count = above(self.eigenvalues, self._b, self.threshold).sum(axis=1)
        return self._decided(count / max(n, 1), self.threshold)

    @property
    def longest_timescale(self) -> np.ndarray:
        """Largest finite ``τ = −1/ln|λ|`` in steps, over eigenvalues inside the unit circle beyond
        their bound (NaN if none); see ``n_outside``/``n_on`` for the modes that do not decay."""
        inside = classify(self.eigenvalues, self._b) == "inside"
        tau = np.where(inside, timescales(self.eigenvalues), -np.inf).max(axis=1)
        return np.where(np.isfinite(tau), tau, np.nan)

    @property
    def n_outside(self) -> np.ndarray:
        """Eigenvalues with ``|λ| > 1`` beyond their bound (no decay; float NaN: undecided)."""
        count = (classify(self.eigenvalues, self._b) == "outside").sum(axis=1)
        return self._decided(count, 1.0) if self.partial else count

    @property
    def n_on(self) -> np.ndarray:
        """Eigenvalues within their bound of the unit circle (decay or growth: not resolved)."""
        count = (classify(self.eigenvalues, self._b) == "on").sum(axis=1)
        return np.full(count.shape, np.nan) if self.partial else count

    @property
    def step(self) -> np.ndarray:
        return np.abs(np.diff(self.eigenvalues, axis=0)).max(axis=1, initial=0.0)


def _epoch(ckpt: Checkpoint) -> int | None:
    e = (ckpt.metadata or {}).get("epoch")
    return int(e) if isinstance(e, (int, float)) and not isinstance(e, bool) else None


def _metrics(ckpt: Checkpoint) -> dict[str, object]:
    m = (ckpt.metadata or {}).get("metrics")
    return dict(m) if isinstance(m, dict) else {}


@dataclass(frozen=True, eq=False)
class TrackResult:
    """Checkpoints in epoch order (``path``, ``sha256``, ``epoch``, ``metrics``) and operator tracks."""

    checkpoints: tuple[TrackCheckpoint, ...]
    operators: tuple[OperatorTrack, ...]
    threshold: float = 0.9
    top: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def epochs(self) -> np.ndarray:
        e = [c["epoch"] for c in self.checkpoints]
        return np.asarray([np.nan if v is None else v for v in e], dtype=float)

    def __getitem__(self, key: str) -> OperatorTrack:
        hits = [t for t in self.operators if t.id == key or t.id.split(":")[-1] == key]
        if len(hits) != 1:
            raise KeyError(f"{key!r}: ids are {[t.id for t in self.operators]}")
        return hits[0]

    def summary_frame(self) -> pd.DataFrame:
        """One row per (checkpoint, operator): radius, fraction above threshold, longest τ, metrics."""
        import pandas as pd

        rows = []
        for c, ck in enumerate(self.checkpoints):
            extra = {f"metric_{k}": v for k, v in ck["metrics"].items() if k != "epoch"}
            for t in self.operators:
                rows.append(
                    {
                        "checkpoint": ck["path"],
                        "epoch": ck["epoch"],
                        "operator": t.id,
                        "spectral_radius": t.spectral_radius[c],
                        "fraction_above": t.fraction_above[c],
                        "longest_timescale": t.longest_timescale[c],
                        "n_outside_unit_circle": t.n_outside[c],
                        "n_on_unit_circle": t.n_on[c],
                        **extra,
                    }
                )
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """Tidy: one row per (checkpoint, operator, followed eigenvalue ``track``)."""
        import pandas as pd

        frames = []
        for t in self.operators:
            c, j = np.indices(t.eigenvalues.shape)
            ev = t.eigenvalues.ravel()
            frames.append(
                pd.DataFrame(
                    {
                        "epoch": np.asarray([ck["epoch"] for ck in self.checkpoints])[c.ravel()],
                        "checkpoint": c.ravel(),
                        "operator": t.id,
                        "track": j.ravel(),
                        "re": ev.real,
                        "im": ev.imag,
                        "modulus": np.abs(ev),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def to_dict(self) -> JsonObject:
        """The ``rnndyn.track/1`` document; each checkpoint's eigenvalues are in track order, so
        ``eigenvalues[j]`` is the same followed eigenvalue in every checkpoint."""
        from rnndyn._version import __version__

        def tau(v: float) -> float | None:
            return float(v) if np.isfinite(v) else None

        def count(v: float) -> int | None:
            return int(v) if np.isfinite(v) else None

        cks = []
        for c, ck in enumerate(self.checkpoints):
            ops = [
                {
                    "id": t.id,
                    "n": int(t.eigenvalues.shape[1] if t.size is None else t.size),
                    **({"tracked": int(t.eigenvalues.shape[1])} if self.top is not None else {}),
                    "spectral_radius": float(t.spectral_radius[c]),
                    "fraction_above_threshold": tau(t.fraction_above[c]),
                    "longest_timescale": tau(t.longest_timescale[c]),
                    "n_outside_unit_circle": count(t.n_outside[c]),
                    "n_on_unit_circle": count(t.n_on[c]),
                    "max_step_from_previous": None if c == 0 else float(t.step[c - 1]),
                    "eigenvalues": [[float(z.real), float(z.imag)] for z in t.eigenvalues[c]],
                    "error_bound": None if t.bounds is None else _floats(t.bounds[c]),
                }
                for t in self.operators
            ]
            cks.append({**ck, "operators": ops})
        return {
            "schema": SCHEMA,
            "rnndyn_version": __version__,
            "eigenvalues_are": "discrete-time (per step); longest_timescale: the longest finite "
            "τ = −1/ln|λ| in steps over eigenvalues inside the unit circle (null if none)",
            "error_bound": "per eigenvalue, from the stored precision (docs/precision.md); "
            "fraction_above_threshold counts |λ| − bound > threshold; on: ||λ| − 1| ≤ bound",
            "threshold": self.threshold,
            "following": "linear_sum_assignment on |fold(λ) − fold(μ)|, conjugate pairs together",
            **({"top": self.top, "notes": list(self.notes)} if self.top is not None else {}),
            "checkpoints": cks,
        }


def _spectra(
    ckpt: Checkpoint, matrix: str | None, jacobian: bool, top: int | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray | None, int]]:
    """Per operator: eigenvalues (all, or the ``top`` of largest modulus), their error bounds (0
    where diagnostics failed; None for a partial spectrum, which has none) and the operator's size."""
    from rnndyn.analysis import recurrent_operators
    from rnndyn.spectrum import eigendecompose
    from rnndyn.topk import top_decompose

    _, ops = recurrent_operators(ckpt, matrix=matrix, jacobian=jacobian)
    if top is None:
        spec = eigendecompose(ops, keep_vectors=False)
    else:
        spec = top_decompose(ops, top, keep_vectors=False)
    out = {}
    for s in spec:
        b = s.error_bound
        if b is None and top is None:
            b = np.zeros(s.n)
        out[s.qualified_id] = (s.eigenvalues, b, int(s.n))
    return out


def _partial_notes(top: int, ops: Sequence[OperatorTrack]) -> tuple[str, ...]:
    notes = [
        f"partial spectra: the top {top} eigenvalues by modulus per operator and checkpoint "
        "(Arnoldi); spectral_radius and longest_timescale are exact; fraction_above_threshold and "
        "n_outside_unit_circle are null where the tracked eigenvalues do not reach below the "
        f"threshold (or 1); {', '.join(NEEDS_FULL)} needs the full spectrum and is null; "
        "partial spectra carry no error bounds (the bound uses the departure from normality, "
        "which needs every eigenvalue): counts compare |λ| itself"
    ]
    for t in ops:
        if t.partial and np.isnan(t.fraction_above).any():
            bad = int(np.isnan(t.fraction_above).sum())
            notes.append(
                f"{t.id}: the top {t.eigenvalues.shape[1]} do not reach below the threshold in "
                f"{bad} checkpoint(s): fraction_above_threshold null there (use a larger --top)"
            )
    return tuple(notes)


def track(
    sources: Sequence[str | PathLike[str] | Checkpoint | Any],
    *,
    trust: bool = False,
    matrix: str | None = None,
    threshold: float = 0.9,
    jacobian: bool = False,
    top: int | None = None,
) -> TrackResult:
    """Spectra of every recurrent operator across ``sources``, ordered by their ``epoch`` metadata.

    Each source is a path, a ``Checkpoint``, an ``nn.Module`` or a state dict (e.g. copies of
    ``model.state_dict()`` taken during training). Checkpoints without an ``epoch`` keep the order given (only when none has one). Every
    checkpoint must hold the same operators with the same sizes. ``jacobian=True`` adds each
    layer's state Jacobian at the zero-input fixed point (``l*.jacfp``, as ``analyze --jacobian``).
    ``top=K`` follows only the ``K`` eigenvalues of largest modulus (module docstring; notes say
    which statistics are exact).

    Raises:
        UsageError: fewer than one checkpoint, or only some carry an epoch.
        InvalidInputError: a checkpoint's operators differ from the first one's.
    """
    if not sources:
        raise UsageError("track needs at least one checkpoint")
    ckpts = [as_checkpoint(s, trust=trust) for s in sources]
    epochs = [_epoch(c) for c in ckpts]
    if any(e is None for e in epochs) and not all(e is None for e in epochs):
        missing = [str(c.path) for c, e in zip(ckpts, epochs, strict=True) if e is None]
        raise UsageError(
            f"only some checkpoints record their epoch (missing in {', '.join(missing[:3])}); "
            "track orders checkpoints by epoch",
            hint="Give snapshots of one run (rnndyn train --save-every K --snapshots DIR).",
        )
    order = sorted(range(len(ckpts)), key=lambda i: (epochs[i] or 0, i))
    ckpts = [ckpts[i] for i in order]
    if top is not None and top < 1:
        raise UsageError(f"--top needs K ≥ 1, got {top}")
    spectra = [_spectra(c, matrix, jacobian, top) for c in ckpts]
    first = {k: v[2] for k, v in spectra[0].items()}
    for c, sp in zip(ckpts[1:], spectra[1:], strict=True):
        if {k: v[2] for k, v in sp.items()} != first:
            raise InvalidInputError(
                f"its recurrent operators {sorted(sp)} differ from those of {ckpts[0].path} "
                f"{sorted(first)}: track follows one network through training",
                path=c.path,
            )
    ops = []
    for k in spectra[0]:
        m = min(len(sp[k][0]) for sp in spectra)  # a completed pair may give one more somewhere
        lams = [sp[k][0][:m] for sp in spectra]
        bnds = [sp[k][1] for sp in spectra]
        bounds: np.ndarray | None = None
        if any(b is None for b in bnds):
            lam = np.asarray(follow(lams))
        else:
            lam, bounds = follow(lams, [b[:m] for b in bnds if b is not None])
        ops.append(OperatorTrack(k, lam, threshold, bounds, None if top is None else first[k]))
    infos = tuple(
        TrackCheckpoint(path=str(c.path), sha256=c.sha256, epoch=_epoch(c), metrics=_metrics(c))
        for c in ckpts
    )
    notes = () if top is None else _partial_notes(top, ops)
    return TrackResult(infos, tuple(ops), threshold, top, notes)

"""``dmd``: modes from trajectories — a checkpoint simulated on a probe, or recorded states — and, for
a checkpoint, how they match its mean-Jacobian and fixed-point-Jacobian spectra.

The same probe drives the DMD snapshots and the mean Jacobian (averaged over the same steps after
the washout), so the two see the same states. The Jacobian at the zero-input fixed point is
Newton's (``rnndyn.dynamics.jacobian``), with its convergence reported. LSTM: DMD runs on the full
state ``[h; c]`` so that its size matches the state Jacobian's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.errors import UsageError
from rnndyn.modes.fit import DMDFit, fit_dmd
from rnndyn.modes.match import TOP, SpectrumMatch, match_spectra
from rnndyn.readers.checkpoint import Checkpoint, load
from rnndyn.spectrum import periods, timescales

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SCHEMA = "rnndyn.dmd/1"
DEFAULT_PROBE = "noise:1"
DEFAULT_LENGTH = 1000
DEFAULT_BATCH = 32


@dataclass(frozen=True, eq=False)
class DMDResult:
    """A DMD fit with its provenance and (for a checkpoint) its matches to the Jacobian spectra.

    ``references`` ``{name: eigenvalues}`` (``mean_jacobian``, ``fixed_point_jacobian``);
    ``matches`` one ``SpectrumMatch`` per reference; ``fixed_point`` the Newton report or None.
    """

    source: str
    sha256: str | None
    fit: DMDFit
    kind: str  # "checkpoint" or "states"
    layer: int = 0
    direction: str = "forward"
    probe: dict[str, Any] | None = None
    washout: int = 0
    references: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    matches: tuple[SpectrumMatch, ...] = ()
    fixed_point: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()

    def match(self, reference: str) -> SpectrumMatch:
        for m in self.matches:
            if m.reference == reference:
                return m
        raise KeyError(f"no match with {reference!r}; have {[m.reference for m in self.matches]}")

    def to_frame(self) -> pd.DataFrame:
        """One row per DMD eigenvalue (``re``, ``im``, modulus, timescale, period, amplitude,
        residual) with its matched reference eigenvalue and gap per reference (NaN: unmatched)."""
        import pandas as pd

        lam = self.fit.eigenvalues
        df = pd.DataFrame(
            {
                "source": self.source,
                "index": np.arange(lam.size),
                "re": lam.real,
                "im": lam.imag,
                "modulus": np.abs(lam),
                "timescale": timescales(lam),
                "period": periods(lam),
                "amplitude": self.fit.amplitudes,
                "residual": self.fit.residuals,
            }
        )
        for m in self.matches:
            for col in ("re", "im", "gap"):
                df[f"{m.reference}_{col}"] = np.nan
            df.loc[m.dmd_index, f"{m.reference}_re"] = m.ref.real
            df.loc[m.dmd_index, f"{m.reference}_im"] = m.ref.imag
            df.loc[m.dmd_index, f"{m.reference}_gap"] = m.gaps
        return df

    def matches_frame(self) -> pd.DataFrame:
        """One row per matched pair (reference, DMD index, reference index, both values, gap)."""
        import pandas as pd

        return pd.DataFrame([r for m in self.matches for r in m.to_records()])

    def to_dict(self) -> JsonObject:
        lam = self.fit.eigenvalues

        def _opt(a: np.ndarray) -> list[float | None]:
            return [float(v) if np.isfinite(v) else None for v in a]

        return {
            "schema": SCHEMA,
            "source": self.source,
            "sha256": self.sha256,
            "kind": self.kind,
            "layer": self.layer,
            "direction": self.direction,
            "probe": self.probe,
            "washout": self.washout,
            "settings": self.fit.settings(),
            "discrete_time": True,
            "eigenvalues": [[float(z.real), float(z.imag)] for z in lam],
            "timescales": _opt(timescales(lam)),
            "periods": _opt(periods(lam)),
            "amplitudes": [float(a) for a in self.fit.amplitudes],
            "residuals": [float(r) for r in self.fit.residuals],
            "singular_values": [float(s) for s in self.fit.singular_values],
            "input_matrix_norm": None
            if self.fit.input_matrix is None
            else float(np.linalg.norm(self.fit.input_matrix)),
            "references": {
                k: [[float(z.real), float(z.imag)] for z in v] for k, v in self.references.items()
            },
            "matches": [m.to_dict() for m in self.matches],
            "fixed_point": self.fixed_point,
            "notes": list(self.notes),
        }


def read_states(path: Path) -> np.ndarray:
    """A recording of states ``(T, n)`` or ``(T, B, n)`` from a ``.npy`` file (InvalidInputError
    naming the file otherwise)."""
    from rnndyn.dynamics.probes import read_npy

    return read_npy(
        path, "states file", hint="Save the states with numpy.save as (T, n) or (T, B, n)."
    )


def is_states(source: Any) -> bool:
    """Whether ``source`` is recorded states (an array, or a ``.npy`` file), not a checkpoint."""
    if isinstance(source, np.ndarray):
        return True
    if isinstance(source, (str, PathLike)):
        p = Path(source)
        if p.is_file():
            with open(p, "rb") as f:
                return f.read(6) == b"\x93NUMPY"
    return False


def dmd(
    source: str | PathLike[str] | Checkpoint | np.ndarray,
    *,
    inputs: np.ndarray | str | PathLike[str] | None = None,
    probe: str | np.ndarray = DEFAULT_PROBE,
    rank: int | None = None,
    delays: int = 1,
    control: bool = False,
    center: bool = True,
    layer: int = 0,
    direction: str = "forward",
    module: str | None = None,
    batch: int | None = None,
    length: int | None = None,
    washout: int | None = None,
    top: int = TOP,
    seed: int = 0,
    trust: bool = False,
) -> DMDResult:
    """DMD of a network's hidden states (simulated on ``probe``) or of recorded ``states``.

    Args:
        source: a checkpoint (path or ``Checkpoint``), or recorded states: a ``.npy`` path or an
            array ``(T, n)`` / ``(T, B, n)`` (no checkpoint needed; no Jacobian match then).
        inputs: for recorded states with ``control``: the inputs ``(T, B, D)`` (array or ``.npy``).
        probe: what drives a checkpoint (``rnndyn.dynamics.probes``; default ``noise:1``).
        rank, delays, control, center: see ``rnndyn.modes.fit.fit_dmd``.
        layer, direction, module: which recurrent layer's states.
        batch, length, washout: probe size (default 32 × 1000) and the leading steps left out
            (default a tenth of the probe).
        top: how many largest-modulus DMD eigenvalues are matched to each Jacobian spectrum.

    Raises:
        InvalidInputError / CheckpointError / RefusedError: bad files; UsageError: bad options.
    """
    if is_states(source):
        return _from_states(source, inputs, rank, delays, control, center)
    if inputs is not None:
        raise UsageError("inputs= is for recorded states; a checkpoint is driven by probe=")
    return _from_checkpoint(
        source,
        probe=probe,
        rank=rank,
        delays=delays,
        control=control,
        center=center,
        layer=layer,
        direction=direction,
        module=module,
        batch=batch,
        length=length,
        washout=washout,
        top=top,
        seed=seed,
        trust=trust,
    )


def _from_states(source, inputs, rank, delays, control, center) -> DMDResult:
    path = None if isinstance(source, np.ndarray) else Path(source)
    states = source if path is None else read_states(path)
    u = None
    if inputs is not None:
        u = inputs if isinstance(inputs, np.ndarray) else read_states(Path(inputs))
        if u.ndim == 2:
            u = u[:, None, :]
    fit = fit_dmd(states, u, rank=rank, delays=delays, control=control, center=center, path=path)
    sha = None
    if path is not None:
        from rnndyn._util.hashing import file_sha256

        sha = file_sha256(path)
    return DMDResult(
        source=str(path) if path else "array",
        sha256=sha,
        fit=fit,
        kind="states",
        notes=("recorded states: no checkpoint, so no Jacobian spectra to match",),
    )


def _from_checkpoint(
    source,
    *,
    probe,
    layer,
    direction,
    module,
    batch,
    length,
    washout,
    top,
    seed,
    trust,
    **fit_options,
) -> DMDResult:
    import torch

    from rnndyn.dynamics.jacobian import jacobian_operators
    from rnndyn.dynamics.network import resolve_network
    from rnndyn.dynamics.probes import make_probe
    from rnndyn.dynamics.trajectories import simulate

    ckpt = source if isinstance(source, Checkpoint) else load(source, trust=trust)
    net = resolve_network(ckpt, module)
    mod = net.module
    if not 0 <= layer < mod.num_layers or direction not in mod.directions:
        raise UsageError(
            f"layer {layer} {direction}: the module has layers 0..{mod.num_layers - 1} and "
            f"directions {', '.join(mod.directions)}"
        )
    t_len = length or DEFAULT_LENGTH
    pr = make_probe(
        probe,
        mod,
        steps=t_len,
        batch=batch or DEFAULT_BATCH,
        length=t_len,
        seed=seed,
        path=ckpt.path,
    )
    w0 = pr.length // 10 if washout is None else int(washout)
    if not 0 <= w0 <= pr.length - 3:
        raise UsageError(f"washout {w0} must lie in 0..{pr.length - 3} (the probe is shorter)")
    traj = simulate(net, pr.inputs, dtype=torch.float64)
    x, h, c = traj.trace(layer, direction)  # processing order, initial state first
    states = (h if c is None else torch.cat([h, c], dim=-1))[1:]
    fit = fit_dmd(states[w0:].numpy(), x[w0:].numpy(), path=ckpt.path, **fit_options)
    ops = [
        op
        for op in jacobian_operators(net, traj=traj, start=w0)
        if op.layer == layer and op.direction == direction
    ]
    refs, matches, fp, notes = {}, [], None, []
    for op in ops:
        name = "mean_jacobian" if op.kind == "mean" else "fixed_point_jacobian"
        lam = np.linalg.eigvals(op.matrix)
        refs[name] = lam
        if op.kind == "fixed_point":
            fp = {"converged": op.converged, "residual": op.residual, "iterations": op.iterations}
            if not op.converged:
                notes.append("the zero-input fixed point did not converge: its match is unreliable")
        if fit.delays == 1:
            matches.append(match_spectra(fit.eigenvalues, lam, top=top, name=name))
    if fit.delays > 1:
        notes.append(
            "delay-embedded DMD: its eigenvalues live on the delay state, so they are not matched "
            "to the Jacobian spectra (run with delays=1 for the match)"
        )
    if not fit.control and pr.kind not in ("zeros",):
        notes.append(
            "plain DMD on an input-driven probe: the input adds variance to the fit; "
            "control=True (DMDc) removes the input's share of each step"
        )
    return DMDResult(
        source=str(ckpt.path),
        sha256=ckpt.sha256,
        fit=fit,
        kind="checkpoint",
        layer=layer,
        direction=direction,
        probe=dict(pr.to_dict()),
        washout=w0,
        references=refs,
        matches=tuple(matches),
        fixed_point=fp,
        notes=tuple(notes),
    )

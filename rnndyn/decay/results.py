"""Result objects of ``measure_decay``: per-operator ``ModeDecay`` (``rnndyn.decay.modes``) and the
whole ``DecayResult``, with its tables and the ``rnndyn.decay/2`` JSON document.

Schema 2 (changed meaning from ``rnndyn.decay.measure/1``): a mode's ``own_rate`` is null with
``own_rate_reason`` unless it was fitted over ≥ ``min_fit_steps`` steps; ``eigenspace_fraction``
(an oblique ratio, may exceed 1), ``eigenspace_projection`` (orthogonal, ≤ 1; added later,
backward compatible) and ``whole_rate`` are new; the memory function is per input channel; Lyapunov exponents carry a
convergence check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn._version import __version__
from rnndyn.decay.lyapunov import LyapunovSpectrum
from rnndyn.decay.modes import MEANINGS, ModeDecay, _num
from rnndyn.dynamics.probes import ProbeRecord
from rnndyn.operators import ModuleRecord

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["CONVENTION", "SCHEMA", "DecayResult", "DecaySettings", "ModeDecay"]
SCHEMA = "rnndyn.decay/2"
CONVENTION = (
    "discrete-time eigenvalues: rates are per step (amplitude × rate each step); "
    "timescales and half-lives in steps; Lyapunov exponents in nats per step"
)


class DecaySettings(TypedDict):
    """The ``settings`` object of the decay document: the own-rate fit criteria, the eigenspace
    share a fitted mode keeps (``purity``), the parts measured and the Lyapunov exponents asked for."""

    min_fit_steps: int
    linear_tol_nats: float
    purity: float
    measured: list[str]
    lyapunov_exponents: int | None


@dataclass(frozen=True, eq=False)
class DecayResult:
    """Everything ``measure_decay`` measured on one checkpoint and probe.

    ``memory_channels`` ``(L+1, D)``: held-out R² of ``x_{t−k}`` per input channel from all hidden
    states (None when the probe input does not vary); ``memory_function`` ``(L+1,)`` its sum over
    channels; ``lyapunov`` per layer and direction; ``lyapunov_exponents`` the network's (forward
    layers merged). ``module``/``probe``: what was measured, as the document records it;
    ``settings``: the fit criteria and parts used (``min_fit_steps``, ``linear_tol_nats``, …).
    """

    checkpoint: str
    sha256: str
    module: ModuleRecord
    probe: ProbeRecord
    steps: int
    operators: tuple[ModeDecay, ...]
    settings: DecaySettings
    dtype: str
    format: str
    notes: tuple[str, ...]
    lyapunov: tuple[LyapunovSpectrum, ...] = ()
    lyapunov_exponents: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    memory_function: np.ndarray | None = field(default=None, repr=False)
    memory_channels: np.ndarray | None = field(default=None, repr=False)

    def __getitem__(self, key: int | str) -> ModeDecay:
        if isinstance(key, int):
            return self.operators[key]
        hits = [o for o in self.operators if key in (o.operator, o.qualified_id)]
        if len(hits) != 1:
            raise KeyError(f"{key!r}; operators: {[o.qualified_id for o in self.operators]}")
        return hits[0]

    def __iter__(self):
        return iter(self.operators)

    def __len__(self) -> int:
        return len(self.operators)

    @property
    def memory_capacity(self) -> float | None:
        """Jaeger's memory capacity ``Σ_k R²_k`` of the whole network, summed over input channels
        (None without memory)."""
        if self.memory_function is None or not np.isfinite(self.memory_function).any():
            return None
        return float(np.nansum(self.memory_function))

    @property
    def memory_capacity_by_channel(self) -> np.ndarray | None:
        """``(D,)`` capacity per input channel (NaN for a constant channel)."""
        mc = self.memory_channels
        if mc is None:
            return None
        return np.where(np.isfinite(mc).any(0), np.nansum(mc, 0), np.nan)

    @property
    def lyapunov_converged(self) -> bool | None:
        """Whether every reported exponent's two half-window estimates agree (None: not computed)."""
        if not self.lyapunov:
            return None
        return bool(all(s.converged.all() for s in self.lyapunov))

    def to_frame(self) -> pd.DataFrame:
        """Tidy ``(operator, mode, lag)`` rows (see ``ModeDecay.curves_frame``)."""

        return self._tagged(_concat([o.curves_frame() for o in self.operators]))

    def modes_frame(self) -> pd.DataFrame:
        """One row per (operator, mode)."""

        return self._tagged(_concat([o.to_frame() for o in self.operators]))

    def energy_frame(self) -> pd.DataFrame:
        """Tidy ``(operator, t, mode)`` rows of batch-mean modal energy."""
        import pandas as pd

        parts = []
        for o in self.operators:
            t, m = np.meshgrid(np.arange(o.energy.shape[0]), np.arange(o.n_modes), indexing="ij")
            parts.append(
                pd.DataFrame(
                    {
                        **o.ids(),
                        "t": t.ravel(),
                        "mode": m.ravel(),
                        "modulus": np.abs(o.eigenvalues)[m.ravel()],
                        "energy": o.energy.ravel(),
                    }
                )
            )
        return self._tagged(_concat(parts))

    def lyapunov_frame(self) -> pd.DataFrame:
        """One row per (layer, direction, index) exponent with its interval and half-window
        difference, plus the network's (``layer = -1``)."""
        import pandas as pd

        cols = [
            "layer",
            "direction",
            "index",
            "exponent",
            "ci_low",
            "ci_high",
            "half_difference",
            "converged",
        ]
        rows = [
            [
                s.layer,
                s.direction,
                i,
                v,
                s.ci[i, 0],
                s.ci[i, 1],
                s.half_difference[i],
                s.converged[i],
            ]
            for s in self.lyapunov
            for i, v in enumerate(s.exponents)
        ]
        rows += [
            [-1, "network", i, v, np.nan, np.nan, np.nan, None]
            for i, v in enumerate(self.lyapunov_exponents)
        ]
        return self._tagged(pd.DataFrame(rows, columns=cols))

    def memory_frame(self) -> pd.DataFrame:
        """One row per lag: R² per input channel (``r2_c{j}``) and their sum (``r2``)."""
        import pandas as pd

        mf = self.memory_function if self.memory_function is not None else np.empty(0)
        table = {"lag": np.arange(mf.shape[0]), "r2": mf}
        if self.memory_channels is not None:
            table |= {f"r2_c{j}": col for j, col in enumerate(self.memory_channels.T)}
        return self._tagged(pd.DataFrame(table))

    def _tagged(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with the checkpoint's path and sha256 first, so tables of several runs concatenate."""
        from rnndyn._util.atomic import displayable  # undecodable file-name bytes as visible \\xNN

        df.insert(0, "sha256", self.sha256)
        df.insert(0, "checkpoint", displayable(self.checkpoint))
        return df

    def _memory_dict(self) -> JsonObject | None:
        mf = self.memory_function
        if mf is None:
            return None
        by = self.memory_capacity_by_channel
        chans = self.memory_channels
        return {
            "lags": list(range(mf.shape[0])),
            "function": [_num(v) for v in mf],
            "by_channel": None if chans is None else [[_num(v) for v in c] for c in chans.T],
            "capacity_by_channel": None if by is None else [_num(v) for v in by],
        }

    def to_dict(self) -> JsonObject:
        """The ``rnndyn.decay/2`` document (JSON-ready)."""
        return {
            "schema": SCHEMA,
            "rnndyn_version": __version__,
            "checkpoint": {"path": self.checkpoint, "sha256": self.sha256, "format": self.format},
            "eigenvalues_are": CONVENTION,
            "fields": MEANINGS,
            "module": self.module,
            "probe": self.probe,
            "steps": self.steps,
            "dtype": self.dtype,
            "settings": self.settings,
            "operators": [o.to_dict() for o in self.operators],
            "lyapunov": {
                "units": "nats per step",
                "exponents": [_num(v) for v in self.lyapunov_exponents],
                "converged": self.lyapunov_converged,
                "layers": [s.to_dict() for s in self.lyapunov],
            },
            "memory_capacity": self.memory_capacity,
            "memory": self._memory_dict(),
            "notes": list(self.notes),
        }


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Rows of every part; an empty table when no operator was measured (``only`` without rates)."""
    import pandas as pd

    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

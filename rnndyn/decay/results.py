"""Result objects of ``measure_decay``: per-operator ``ModeDecay`` and the whole ``DecayResult``.

Rates are per step of the discrete-time map: a mode's amplitude after ``k`` steps is ``rate^k`` times
its start. ``predicted_rate = |λ|``; ``measured_rate`` comes from perturbations propagated through the
real Jacobians along the probe; half-lives are in steps (``None`` in JSON where infinite).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn._version import __version__
from rnndyn.decay.lyapunov import LyapunovSpectrum
from rnndyn.spectrum import timescales

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SCHEMA = "rnndyn.decay.measure/1"
CONVENTION = (
    "discrete-time eigenvalues: rates are per step (amplitude × rate each step); "
    "timescales and half-lives in steps; Lyapunov exponents in nats per step"
)


def _num(v: Any) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _half_life(rate: np.ndarray) -> np.ndarray:
    return timescales(rate) * np.log(2.0)


@dataclass(frozen=True)
class ModeDecay:
    """Predicted and measured decay of the top modes of one operator.

    Shapes (``M`` modes, ``K`` steps, ``T`` probe length, ``L`` largest lag): ``eigenvalues``,
    ``measured_rate``, ``fit_steps`` ``(M,)``; ``measured_rate_ci`` ``(M, 2)``; ``log_curve``
    ``(M, K+1)`` batch-mean log amplitude ratio over the window (the fit uses steps ``≤ fit_steps``); ``energy`` ``(T, M)``
    batch-mean modal energy along the probe; ``memory`` ``(M, L+1)`` lagged-decoding R² or None.
    A conjugate pair shares one measurement (its real plane).
    """

    operator: str
    qualified_id: str
    module: str
    layer: int
    direction: str
    gate: str | None
    source: str
    n: int
    eigenvalues: np.ndarray = field(repr=False)
    measured_rate: np.ndarray = field(repr=False)
    measured_rate_ci: np.ndarray = field(repr=False)
    fit_steps: np.ndarray = field(repr=False)
    log_curve: np.ndarray = field(repr=False)
    energy: np.ndarray = field(repr=False)
    memory: np.ndarray | None = field(default=None, repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_modes(self) -> int:
        return int(self.eigenvalues.shape[0])

    @property
    def steps(self) -> int:
        return int(self.log_curve.shape[1] - 1)

    @property
    def predicted_rate(self) -> np.ndarray:
        """``(M,)`` ``|λ|``."""
        return np.abs(self.eigenvalues)

    @property
    def timescale(self) -> np.ndarray:
        return timescales(self.eigenvalues)

    @property
    def half_life(self) -> np.ndarray:
        """``(M,)`` predicted half-life ``τ ln 2`` in steps (inf for ``|λ| ≥ 1``)."""
        return _half_life(self.predicted_rate)

    @property
    def measured_half_life(self) -> np.ndarray:
        return _half_life(self.measured_rate)

    @property
    def predicted_curve(self) -> np.ndarray:
        """``(M, K+1)`` ``|λ|^k``."""
        return self.predicted_rate[:, None] ** np.arange(self.steps + 1)

    @property
    def measured_curve(self) -> np.ndarray:
        """``(M, K+1)`` batch geometric-mean amplitude ratio in the mode's own coordinates."""
        return np.exp(self.log_curve)

    @property
    def memory_capacity(self) -> np.ndarray | None:
        """``(M,)`` per-mode memory capacity ``Σ_k R²_k`` (None without memory)."""
        return None if self.memory is None else np.nansum(self.memory, axis=1)

    def _ids(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "operator": self.operator,
            "layer": self.layer,
            "direction": self.direction,
            "gate": self.gate or "hh",
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per mode: eigenvalue, predicted and measured rates, half-lives, memory capacity."""
        import pandas as pd

        lam = self.eigenvalues
        mc = self.memory_capacity
        return pd.DataFrame(
            {
                **self._ids(),
                "mode": np.arange(self.n_modes),
                "re": lam.real,
                "im": lam.imag,
                "modulus": np.abs(lam),
                "predicted_rate": self.predicted_rate,
                "measured_rate": self.measured_rate,
                "measured_rate_lo": self.measured_rate_ci[:, 0],
                "measured_rate_hi": self.measured_rate_ci[:, 1],
                "fit_steps": self.fit_steps,
                "timescale": self.timescale,
                "half_life": self.half_life,
                "measured_half_life": self.measured_half_life,
                "memory_capacity": np.full(self.n_modes, np.nan) if mc is None else mc,
            }
        )

    def curves_frame(self) -> pd.DataFrame:
        """Tidy ``(mode, lag)`` rows: predicted and measured amplitude and memory R² at each lag."""
        import pandas as pd

        m, k = np.meshgrid(np.arange(self.n_modes), np.arange(self.steps + 1), indexing="ij")
        mem = np.full(m.shape, np.nan)
        if self.memory is not None:
            lags = min(self.memory.shape[1], self.steps + 1)
            mem[:, :lags] = self.memory[:, :lags]
        lam = self.eigenvalues[m.ravel()]
        return pd.DataFrame(
            {
                **self._ids(),
                "mode": m.ravel(),
                "re": lam.real,
                "im": lam.imag,
                "modulus": np.abs(lam),
                "lag": k.ravel(),
                "predicted": self.predicted_curve.ravel(),
                "measured": self.measured_curve.ravel(),
                "memory_r2": mem.ravel(),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite numbers → None)."""
        ci, mc = self.measured_rate_ci, self.memory_capacity
        modes = [
            {
                "index": i,
                "eigenvalue": [float(z.real), float(z.imag)],
                "modulus": float(abs(z)),
                "predicted_rate": float(abs(z)),
                "timescale": _num(self.timescale[i]),
                "half_life": _num(self.half_life[i]),
                "measured_rate": _num(self.measured_rate[i]),
                "measured_rate_ci": [_num(ci[i, 0]), _num(ci[i, 1])],
                "measured_half_life": _num(self.measured_half_life[i]),
                "fit_steps": int(self.fit_steps[i]),
                "memory_capacity": None if mc is None else _num(mc[i]),
                "memory": None if self.memory is None else [_num(v) for v in self.memory[i]],
            }
            for i, z in enumerate(self.eigenvalues)
        ]
        return {
            "id": self.operator,
            "qualified_id": self.qualified_id,
            "module": self.module,
            "layer": self.layer,
            "direction": self.direction,
            "gate": self.gate,
            "source": self.source,
            "n": self.n,
            "steps": self.steps,
            **self.info,
            "modes": modes,
        }


@dataclass(frozen=True)
class DecayResult:
    """Everything ``measure_decay`` measured on one checkpoint and probe.

    ``memory_function`` ``(L+1,)``: held-out R² of ``x_{t−k}`` from all hidden states (None when the
    probe input does not vary); ``lyapunov`` per layer and direction; ``lyapunov_exponents`` the
    network's (forward layers merged).
    """

    checkpoint: str
    sha256: str
    module: dict[str, Any]
    probe: dict[str, Any]
    steps: int
    operators: tuple[ModeDecay, ...]
    lyapunov: tuple[LyapunovSpectrum, ...] = ()
    lyapunov_exponents: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    memory_function: np.ndarray | None = field(default=None, repr=False)
    dtype: str = "float32"
    format: str = ""
    notes: tuple[str, ...] = ()

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
        """Jaeger's memory capacity ``Σ_k R²_k`` of the whole network (None without memory)."""
        if self.memory_function is None or not np.isfinite(self.memory_function).any():
            return None
        return float(np.nansum(self.memory_function))

    def to_frame(self) -> pd.DataFrame:
        """Tidy ``(operator, mode, lag)`` rows (see ``ModeDecay.curves_frame``)."""
        import pandas as pd

        return pd.concat([o.curves_frame() for o in self.operators], ignore_index=True)

    def modes_frame(self) -> pd.DataFrame:
        """One row per (operator, mode)."""
        import pandas as pd

        return pd.concat([o.to_frame() for o in self.operators], ignore_index=True)

    def energy_frame(self) -> pd.DataFrame:
        """Tidy ``(operator, t, mode)`` rows of batch-mean modal energy."""
        import pandas as pd

        parts = []
        for o in self.operators:
            t, m = np.meshgrid(np.arange(o.energy.shape[0]), np.arange(o.n_modes), indexing="ij")
            parts.append(
                pd.DataFrame(
                    {
                        **o._ids(),
                        "t": t.ravel(),
                        "mode": m.ravel(),
                        "modulus": np.abs(o.eigenvalues)[m.ravel()],
                        "energy": o.energy.ravel(),
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)

    def lyapunov_frame(self) -> pd.DataFrame:
        """One row per (layer, direction, index) exponent, plus the network's (``layer = -1``)."""
        import pandas as pd

        rows = [
            {
                "layer": s.layer,
                "direction": s.direction,
                "index": i,
                "exponent": v,
                "lo": s.ci[i, 0],
                "hi": s.ci[i, 1],
            }
            for s in self.lyapunov
            for i, v in enumerate(s.exponents)
        ]
        rows += [
            {
                "layer": -1,
                "direction": "network",
                "index": i,
                "exponent": v,
                "lo": np.nan,
                "hi": np.nan,
            }
            for i, v in enumerate(self.lyapunov_exponents)
        ]
        return pd.DataFrame(rows, columns=["layer", "direction", "index", "exponent", "lo", "hi"])

    def memory_frame(self) -> pd.DataFrame:
        """One row per lag: the network's memory function."""
        import pandas as pd

        mf = self.memory_function if self.memory_function is not None else np.empty(0)
        return pd.DataFrame({"lag": np.arange(mf.shape[0]), "r2": mf})

    def to_dict(self) -> dict[str, Any]:
        """The ``rnndyn.decay.measure/1`` document (JSON-ready)."""
        mf = self.memory_function
        return {
            "schema": SCHEMA,
            "rnndyn_version": __version__,
            "checkpoint": {"path": self.checkpoint, "sha256": self.sha256, "format": self.format},
            "eigenvalues_are": CONVENTION,
            "module": self.module,
            "probe": self.probe,
            "steps": self.steps,
            "dtype": self.dtype,
            "operators": [o.to_dict() for o in self.operators],
            "lyapunov": {
                "units": "nats per step",
                "exponents": [_num(v) for v in self.lyapunov_exponents],
                "layers": [s.to_dict() for s in self.lyapunov],
            },
            "memory_capacity": self.memory_capacity,
            "memory": None
            if mf is None
            else {"lags": list(range(mf.shape[0])), "function": [_num(v) for v in mf]},
            "notes": list(self.notes),
        }

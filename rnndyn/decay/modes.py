"""``ModeDecay``: what ``measure_decay`` measured on the top modes of one operator.

Rates are per step of the discrete-time map: an amplitude after ``k`` steps is ``rate^k`` times its
start. Per mode three things are measured on a perturbation started along the mode (see
``rnndyn.decay.fit``): its **own rate** (decay of its coordinates in the mode's own eigenspace —
null, with the reason, where that is not a clean geometric decay over ≥ ``min_fit_steps`` steps),
its **eigenspace projection** per lag (``‖Qδ‖/‖δ‖``, ``Q`` the orthogonal projection onto the mode's
eigenspace: how much of it stays there, in [0, 1]; the older oblique ratio ``eigenspace_fraction``,
which can exceed 1 for a non-normal eigenbasis, is kept beside it) and the
**whole rate** (growth of its norm, whatever modes it moved into). ``predicted_rate = |λ|``.
Half-lives are in steps (``None`` in JSON where infinite or not measured).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn._util.jsonsafe import finite_or_none as _num
from rnndyn.dynamics.jacobian import JacobianInfo
from rnndyn.naming import OperatorId, gate_name
from rnndyn.operators import Identified
from rnndyn.spectrum import timescales

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MEANINGS = {
    "own_rate": "per-step decay of the perturbation's coordinates in the mode's own eigenspace, "
    "fitted where its log is linear over >= min_fit_steps steps and >= half of the perturbation "
    "is still in that eigenspace; null with own_rate_reason otherwise",
    "eigenspace_fraction": "per lag: oblique ratio |P d|/|d|, P the projection onto the mode's "
    "eigenspace along the other eigenvectors (1 at lag 0; leakage lowers it; NOT a fraction: "
    "exceeds 1 for a non-normal eigenbasis); kept for compatibility, see eigenspace_projection",
    "eigenspace_projection": "per lag: |Q d|/|d|, Q the orthogonal projection onto the mode's "
    "eigenspace: the share of the perturbation's norm lying in that eigenspace, in [0, 1] "
    "(1 at lag 0; leakage lowers it)",
    "whole_rate": "(|δ_K|/|δ_0|)^(1/K): per-step growth of the whole perturbation started along "
    "the mode, whatever modes it moved into",
}


def _half_life(rate: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(rate), timescales(np.nan_to_num(rate)) * np.log(2.0), np.nan)


@dataclass(frozen=True, eq=False)
class ModeDecay(Identified):
    """Predicted and measured decay of the top modes of one operator.

    Shapes (``M`` modes, ``K`` steps, ``T`` probe length, ``L`` largest lag): ``eigenvalues``,
    ``measured_rate`` (own rate, NaN where not fitted), ``fit_steps`` (0: not fitted), ``fit_rmse``
    (nats), ``fit_r2``, ``whole_rate`` ``(M,)``; ``*_ci`` ``(M, 2)``; ``rate_reason`` /
    ``whole_reason`` one entry per mode (None when measured); ``log_curve`` (own amplitude),
    ``norm_curve`` (whole perturbation) ``(M, K+1)`` batch-mean log ratios; ``eigenspace``
    ``(M, K+1)`` batch-mean oblique eigenspace ratio; ``projection`` ``(M, K+1)`` batch-mean
    orthogonal eigenspace projection (≤ 1); ``energy`` ``(T, M)`` batch-mean modal energy
    along the probe; ``memory`` ``(M, L+1)`` lagged-decoding R² or None.
    A conjugate pair shares one measurement (its real plane). ``identity`` names the operator (its
    fields read as attributes: ``operator``/``id``, ``qualified_id``, ``module``, ``layer``, …);
    ``info`` is a Jacobian operator's own report (empty for a weight block).
    """

    identity: OperatorId
    source: str
    n: int
    eigenvalues: np.ndarray = field(repr=False)
    measured_rate: np.ndarray = field(repr=False)
    measured_rate_ci: np.ndarray = field(repr=False)
    fit_steps: np.ndarray = field(repr=False)
    fit_rmse: np.ndarray = field(repr=False)
    fit_r2: np.ndarray = field(repr=False)
    rate_reason: tuple[str | None, ...]
    whole_rate: np.ndarray = field(repr=False)
    whole_rate_ci: np.ndarray = field(repr=False)
    whole_reason: tuple[str | None, ...]
    log_curve: np.ndarray = field(repr=False)
    norm_curve: np.ndarray = field(repr=False)
    eigenspace: np.ndarray = field(repr=False)
    projection: np.ndarray = field(repr=False)
    energy: np.ndarray = field(repr=False)
    memory: np.ndarray | None = field(default=None, repr=False)
    info: JacobianInfo = field(default_factory=lambda: JacobianInfo())

    @property
    def operator(self) -> str:
        """The operator id (``l0.fwd.hh``; see ``qualified_id``)."""
        return self.identity.id

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
    def own_rate(self) -> np.ndarray:
        """``(M,)`` the own rate (alias of ``measured_rate``; NaN where not fitted)."""
        return self.measured_rate

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
    def whole_curve(self) -> np.ndarray:
        """``(M, K+1)`` batch geometric-mean norm ratio of the whole perturbation."""
        return np.exp(self.norm_curve)

    @property
    def eigenspace_fraction(self) -> np.ndarray:
        """``(M, K+1)`` batch-mean *oblique* ratio ``‖Pδ‖/‖δ‖`` (can exceed 1; kept for
        compatibility — ``eigenspace_projection`` is the bounded measure)."""
        return self.eigenspace

    @property
    def eigenspace_projection(self) -> np.ndarray:
        """``(M, K+1)`` batch-mean ``‖Qδ‖/‖δ‖``, ``Q`` the orthogonal projection onto the mode's
        eigenspace: the share of the perturbation's norm in it, in [0, 1]."""
        return self.projection

    @property
    def memory_capacity(self) -> np.ndarray | None:
        """``(M,)`` per-mode memory capacity ``Σ_k R²_k`` (None without memory)."""
        return None if self.memory is None else np.nansum(self.memory, axis=1)

    def ids(self) -> dict[str, str | int]:
        """The identifying columns of every table row (``gate``: ``hh`` for a vanilla block, ``jac``
        for both Jacobians, as the tables always wrote it)."""
        return {
            "module": self.module,
            "operator": self.operator,
            "layer": self.layer,
            "direction": self.direction,
            "gate": gate_name(self.identity.schema_gate),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per mode: eigenvalue, predicted rate, own rate with its fit and reason,
        eigenspace fraction after 1 and 5 steps, whole rate, half-lives, memory capacity."""
        import pandas as pd

        lam, mc = self.eigenvalues, self.memory_capacity
        ci, wci = self.measured_rate_ci, self.whole_rate_ci
        frac, proj = self.eigenspace_fraction, self.eigenspace_projection
        at = [min(k, self.steps) for k in (1, 5)]
        return pd.DataFrame(
            {
                **self.ids(),
                "mode": np.arange(self.n_modes),
                "re": lam.real,
                "im": lam.imag,
                "modulus": np.abs(lam),
                "predicted_rate": self.predicted_rate,
                "own_rate": self.measured_rate,
                "own_rate_ci_low": ci[:, 0],
                "own_rate_ci_high": ci[:, 1],
                "fit_steps": self.fit_steps,
                "fit_rmse": self.fit_rmse,
                "fit_r2": self.fit_r2,
                "own_rate_reason": list(self.rate_reason),
                f"eigenspace_after_{at[0]}": frac[:, at[0]],
                f"eigenspace_after_{at[1]}": frac[:, at[1]],
                f"projection_after_{at[0]}": proj[:, at[0]],
                f"projection_after_{at[1]}": proj[:, at[1]],
                "whole_rate": self.whole_rate,
                "whole_rate_ci_low": wci[:, 0],
                "whole_rate_ci_high": wci[:, 1],
                "timescale": self.timescale,
                "half_life": self.half_life,
                "own_half_life": self.measured_half_life,
                "memory_capacity": np.full(self.n_modes, np.nan) if mc is None else mc,
            }
        )

    def curves_frame(self) -> pd.DataFrame:
        """Tidy ``(mode, lag)`` rows: predicted, own and whole amplitude, eigenspace fraction, memory R²."""
        import pandas as pd

        m, k = np.meshgrid(np.arange(self.n_modes), np.arange(self.steps + 1), indexing="ij")
        mem = np.full(m.shape, np.nan)
        if self.memory is not None:
            lags = min(self.memory.shape[1], self.steps + 1)
            mem[:, :lags] = self.memory[:, :lags]
        lam = self.eigenvalues[m.ravel()]
        return pd.DataFrame(
            {
                **self.ids(),
                "mode": m.ravel(),
                "re": lam.real,
                "im": lam.imag,
                "modulus": np.abs(lam),
                "lag": k.ravel(),
                "predicted": self.predicted_curve.ravel(),
                "measured": self.measured_curve.ravel(),
                "whole": self.whole_curve.ravel(),
                "eigenspace_fraction": self.eigenspace_fraction.ravel(),
                "eigenspace_projection": self.eigenspace_projection.ravel(),
                "memory_r2": mem.ravel(),
            }
        )

    def _mode_dict(self, i: int) -> JsonObject:
        z = complex(self.eigenvalues[i])
        ci, wci, mc = self.measured_rate_ci, self.whole_rate_ci, self.memory_capacity
        return {
            "index": i,
            "eigenvalue": [z.real, z.imag],
            "modulus": abs(z),
            "predicted_rate": abs(z),
            "timescale": _num(self.timescale[i]),
            "half_life": _num(self.half_life[i]),
            "own_rate": _num(self.measured_rate[i]),
            "own_rate_ci": [_num(ci[i, 0]), _num(ci[i, 1])],
            "own_rate_fit": {
                "steps": int(self.fit_steps[i]),
                "rmse_nats": _num(self.fit_rmse[i]),
                "r2": _num(self.fit_r2[i]),
            },
            "own_rate_reason": self.rate_reason[i],
            "own_half_life": _num(self.measured_half_life[i]),
            "eigenspace_fraction": [_num(v) for v in self.eigenspace_fraction[i]],
            "eigenspace_projection": [_num(v) for v in self.eigenspace_projection[i]],
            "whole_rate": _num(self.whole_rate[i]),
            "whole_rate_ci": [_num(wci[i, 0]), _num(wci[i, 1])],
            "whole_rate_reason": self.whole_reason[i],
            "memory_capacity": None if mc is None else _num(mc[i]),
            "memory": None if self.memory is None else [_num(v) for v in self.memory[i]],
        }

    def to_dict(self) -> JsonObject:
        """JSON-ready (non-finite numbers → None)."""
        return {
            "id": self.operator,
            "qualified_id": self.qualified_id,
            "module": self.module,
            "layer": self.layer,
            "direction": self.direction,
            "gate": self.identity.schema_gate,
            "source": self.source,
            "n": self.n,
            "steps": self.steps,
            **self.info,
            "modes": [self._mode_dict(i) for i in range(self.n_modes)],
        }

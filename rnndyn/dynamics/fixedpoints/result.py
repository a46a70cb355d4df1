"""``FixedPointResult``: every layer's points for one checkpoint under one or more constant inputs,
with the coverage estimate, slow manifolds and the links across a scan's inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.dynamics.fixedpoints.coverage import combine
from rnndyn.dynamics.fixedpoints.points import LayerFixedPoints
from rnndyn.dynamics.fixedpoints.seeding import Seeding
from rnndyn.dynamics.fixedpoints.solver import Settings
from rnndyn.dynamics.probes import ProbeRecord
from rnndyn.operators import RecurrentModule

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SCHEMA = "rnndyn.fixedpoints/1"
KEY_COLUMNS = (
    "checkpoint",
    "sha256",
    "input_index",
    "input",
    "layer",
    "direction",
    "index",
    "kind",
    "q",
    "stable",
    "n_unstable",
    "n_unit_circle",
    "manifold",
    "spectral_radius",
    "count",
    "upstream",
)


def _by_source(source: np.ndarray) -> dict[str, int]:
    names, counts = np.unique(np.asarray(source, dtype=str), return_counts=True)
    return {str(k): int(v) for k, v in zip(names.tolist(), counts.tolist(), strict=True)}


@dataclass(frozen=True, eq=False)
class FixedPointResult:
    """Every layer's points for one checkpoint under each constant input, and where the search
    started.

    ``layers``: one ``LayerFixedPoints`` per input, layer and direction (``input_index`` says
    which input). ``trajectories`` ``(T, B, S)``: layer 0's (first direction's) full states along
    the first input's probe, for figures. ``links``: the scan's events (``scan.link``).
    ``readout``: the checkpoint key of the read-out weight, or ``None`` with ``readout_note``.
    """

    checkpoint: str
    sha256: str
    module: RecurrentModule
    inputs: tuple[JsonObject, ...]
    probe: ProbeRecord
    layers: tuple[LayerFixedPoints, ...]
    settings: Settings
    seeding: Seeding
    n_inits: int | str
    trajectories: np.ndarray = field(repr=False)
    seconds: float = 0.0
    links: tuple[JsonObject, ...] = ()
    readout: str | None = None
    readout_note: str = ""
    unit_roundoff: float = 2.0**-53
    auto: JsonObject | None = None

    @property
    def input(self) -> JsonObject:
        """The first input's description (the only one without a scan)."""
        return self.inputs[0]

    def layer(
        self, layer: int = 0, direction: str = "forward", input_index: int = 0
    ) -> LayerFixedPoints:
        """The points of one layer and direction under one input."""
        for lay in self.layers:
            if (lay.layer, lay.direction, lay.input_index) == (layer, direction, input_index):
                return lay
        raise KeyError(f"no fixed points for layer {layer} {direction} input {input_index}")

    def coverage(self) -> JsonObject:
        """``{found, estimated_total, interval_95, complete}`` summed over layers and inputs."""
        return combine([lay.coverage() for lay in self.layers])

    def to_frame(self) -> pd.DataFrame:
        """One row per point: ``KEY_COLUMNS``, the input ``u_0…``, the state ``s_0…`` (LSTM ``[h; c]``)
        and the read-out ``readout_0…`` (empty without one)."""
        import pandas as pd

        rows = []
        for lay in self.layers:
            spec = self.inputs[lay.input_index]["spec"]
            for r in lay.to_records():
                row = {k: r.get(k) for k in KEY_COLUMNS}
                row |= {"checkpoint": self.checkpoint, "sha256": self.sha256, "input": spec}
                row |= {f"u_{k}": v for k, v in enumerate(r["input"])}
                row |= {f"s_{k}": v for k, v in enumerate(r["state"])}
                row |= {f"readout_{k}": v for k, v in enumerate(r["readout"] or [])}
                rows.append(row)
        frame = pd.DataFrame(rows)
        return frame if len(frame) else pd.DataFrame(columns=list(KEY_COLUMNS))

    def links_frame(self) -> pd.DataFrame:
        """The scan's events, one row each (empty without a scan)."""
        import pandas as pd

        cols = ["layer", "direction", "from_input", "from_point", "to_input", "to_point", "event"]
        frame = pd.DataFrame(list(self.links), columns=cols)
        return frame.astype({"from_point": "Int64", "to_point": "Int64"})

    def _layer_summary(self, lay: LayerFixedPoints) -> JsonObject:
        iso = lay.isolated
        return {
            "input_index": lay.input_index,
            "layer": lay.layer,
            "direction": lay.direction,
            "n_points": len(lay),
            "n_isolated": int(iso.sum()),
            "n_fixed": int((lay.kind == "fixed").sum()),
            "n_slow": int((lay.kind == "slow").sum()),
            "n_marginal": int(lay.marginal.sum()),
            "n_stable": int((lay.stable & iso).sum()),
            "n_candidates": lay.n_candidates,
            "n_dropped": lay.n_dropped,
            "starts_by_source": _by_source(lay.start_source),
            "coverage": lay.coverage().to_dict(),
            "slow_manifolds": [m.to_dict() for m in lay.manifolds],
        }

    def to_dict(self) -> JsonObject:
        """The ``rnndyn.fixedpoints/1`` document."""
        from rnndyn._version import __version__

        cov = self.coverage()
        return {
            "schema": SCHEMA,
            "rnndyn_version": __version__,
            "checkpoint": {"path": self.checkpoint, "sha256": self.sha256},
            "module": self.module.to_dict(),
            "eigenvalues_are": "discrete-time (per step) eigenvalues of the state Jacobian "
            "(LSTM state [h; c])",
            "input": self.input,
            "inputs": list(self.inputs),
            "probe": self.probe,
            "settings": self.settings.to_dict(),
            "seeding": self.seeding.to_dict(),
            "n_inits": self.n_inits,
            "auto": self.auto,
            "seconds": self.seconds,
            "coverage": cov,
            "coverage_note": "isolated points only (marginal points and slow manifolds apart); "
            "Chao1 is a lower bound on the true count: starts reach points with small basins "
            "rarely",
            "unit_circle_rule": "an eigenvalue is on the unit circle when ||λ| − 1| ≤ "
            "max(1e-8, κ·u·‖J‖₂) (capped at 1e-3), κ its condition number, u the weights' "
            f"unit roundoff ({self.unit_roundoff:.3g})",
            "readout": {"key": self.readout, "note": self.readout_note},
            "layers": [self._layer_summary(lay) for lay in self.layers],
            "links": list(self.links),
            "fixed_points": [r for lay in self.layers for r in lay.to_records()],
        }

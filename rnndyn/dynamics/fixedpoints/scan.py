"""Points linked across the inputs of a scan: which point becomes which.

For input ``k ≥ 1`` the search also starts from every isolated point of input ``k − 1`` (layer 0,
each direction; one start per point, exactly at the point: continuation). The point that start
ends at is the old point's continuation. Each old point gets one event:

- ``continued``: it reached a point no other old point reached, with the same stability
  (``stable`` and number of unstable directions);
- ``stability_changed``: as ``continued``, but the number of unstable directions changed;
- ``merged``: two or more old points reached the same new point (a saddle-node or pitchfork);
- ``vanished``: its start ended above ``max_q`` (no point nearby any more).

Every isolated point of input ``k`` that no old point reached is ``appeared``. Marginal points
(slow manifolds) are neither continued nor linked.
"""

from __future__ import annotations

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.dynamics.fixedpoints.points import LayerFixedPoints

EVENTS = ("continued", "stability_changed", "merged", "vanished", "appeared")


def continuation_seeds(prev: LayerFixedPoints) -> tuple[np.ndarray, np.ndarray]:
    """``(states (K, S), point index (K,))``: the isolated points of the previous input."""
    idx = np.flatnonzero(prev.isolated)
    return prev.states[idx], idx


def link(
    prev: LayerFixedPoints, cur: LayerFixedPoints, from_points: np.ndarray, rows: np.ndarray
) -> list[JsonObject]:
    """One record per event between ``prev`` (input ``k − 1``) and ``cur`` (input ``k``); the
    starts ``rows`` of ``cur`` were placed at ``prev``'s points ``from_points``."""
    to = cur.start_point[rows] if len(rows) else np.zeros(0, int)
    to = np.where((to >= 0) & cur.isolated[np.maximum(to, 0)], to, -1)
    hits = np.bincount(to[to >= 0], minlength=len(cur))
    base = {
        "layer": cur.layer,
        "direction": cur.direction,
        "from_input": prev.input_index,
        "to_input": cur.input_index,
    }
    out = []
    for j, i in zip(from_points.tolist(), to.tolist(), strict=True):
        if i < 0:
            event = "vanished"
        elif hits[i] > 1:
            event = "merged"
        elif prev.n_unstable[j] != cur.n_unstable[i]:
            event = "stability_changed"
        else:
            event = "continued"
        out.append(base | {"from_point": j, "to_point": None if i < 0 else i, "event": event})
    for i in np.flatnonzero(cur.isolated & (hits == 0)).tolist():
        out.append(base | {"from_point": None, "to_point": i, "event": "appeared"})
    return out

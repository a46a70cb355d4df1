"""Transforms of a fitted eigen law's radius distributions (how the shipped round-2/3 law files were
made from fitted ones): every radius capped, or the slowest fraction of modes spread towards 1.

Each takes a :class:`~rnndyn.init.law.Dist` and returns an empirical (quantile) ``Dist``;
:func:`map_radii` applies one to every target's radius and real-radius laws.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from rnndyn.init.law import Dist

__all__ = ["capped_radius", "map_radii", "slow_radius"]


def _empirical(q: np.ndarray) -> Dist:
    k = q.size
    q = np.maximum.accumulate(q) + np.arange(k) * 1e-9  # strictly increasing (atoms allowed)
    return Dist("empirical", {"quantiles": [float(x) for x in q]})


def capped_radius(dist: Dist, cap: float, k: int = 129) -> Dist:
    """``dist`` with every radius above ``cap`` set to ``cap`` (an atom at ``cap``), as ``k`` quantiles."""
    if not cap > 0:
        raise ValueError(f"cap must be positive, got {cap}")
    q = np.clip(dist.ppf(np.linspace(0.0, 1.0, k)), 0.0, cap)
    out = _empirical(q)
    top = out.params["quantiles"][-1]
    scale = min(top, cap) / top  # the top back at ≤ cap, the bottom still ≥ 0
    return Dist("empirical", {"quantiles": [x * scale for x in out.params["quantiles"]]})


def slow_radius(dist: Dist, fraction: float, low: float, k: int = 129) -> Dist:
    """``dist``'s quantiles capped at ``low`` on the lower ``1 − fraction`` of the mass, and the top
    ``fraction`` spread evenly over ``[low, 1]`` (slow modes)."""
    if not (0 < fraction < 1 and 0 <= low < 1):
        raise ValueError(f"need 0 < fraction < 1 and 0 ≤ low < 1, got {fraction}, {low}")
    u = np.linspace(0.0, 1.0, k)
    cut = 1.0 - fraction
    body = np.minimum(dist.ppf(np.clip(u / cut, 0.0, 1.0)), low)
    slow = low + (1.0 - low) * (u - cut) / fraction
    return _empirical(np.where(u <= cut, body, slow))


def map_radii(targets: Mapping[Any, Any], change: Callable[[Dist], Dist]) -> dict[Any, Any]:
    """Every target law with ``change`` applied to its ``radius`` and ``real_radius`` laws."""
    return {
        t: dataclasses.replace(
            law,
            radius=change(law.radius),
            real_radius=None if law.real_radius is None else change(law.real_radius),
        )
        for t, law in targets.items()
    }

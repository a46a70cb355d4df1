"""Figures of the eigen law: radius and phase densities per target, and a sampled spectrum."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnndyn.init.law import TARGETS, Dist, EigenInitParams
from rnndyn.plots.style import COLUMN_WIDTH, FULL_WIDTH, group_style

NAMES = {"hh": "$W_{hh}$", "*": "all targets"}


def _style(target: str) -> dict:
    return group_style(TARGETS.index(target))


def _new_ax(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(COLUMN_WIDTH, COLUMN_WIDTH * 0.75), layout="constrained")
    return ax


def _density(ax: Axes, dist: Dist, x: np.ndarray, label: str, style: dict) -> float:
    """Draw one law; return a robust height for the y-limit (98th percentile of the curve)."""
    kw = {"color": style["color"], "linestyle": style["linestyle"], "label": label}
    if dist.family == "point":  # a point mass: a stem to 90% of the axes' height
        ax.axvline(
            dist.params["value"],
            ymax=0.9,
            marker=style["marker"],
            markevery=[1],
            gid=f"point-{label}",
            **kw,
        )
        return 0.0
    y = dist.pdf(x)
    ax.plot(x, y, gid=f"density-{label}", **kw)
    finite = y[np.isfinite(y)]
    return float(np.percentile(finite, 98)) if finite.size else 0.0


def _law_axes(
    params: EigenInitParams, which: str, data: Mapping[str, np.ndarray] | None, ax: Axes | None
) -> Axes:
    ax = _new_ax(ax)
    top = np.pi
    if which == "radius":
        top = 1.05 * max(_support_top(law.radius) for law in params.targets.values())
    x = np.linspace(0.0, top, 801)
    heights = [0.0]
    for t, law in params.targets.items():
        st = _style(t)
        name = NAMES.get(t, t)
        if data is not None and t in data:
            w = np.asarray(data[t])
            vals = np.abs(w) if which == "radius" else np.angle(w[w.imag > 0])
            if vals.size:
                counts, *_ = ax.hist(
                    vals, bins=40, density=True, color=st["color"], alpha=0.25, gid=f"data-{t}"
                )
                heights.append(float(np.max(counts)))
        dist = law.radius if which == "radius" else law.phase
        heights.append(_density(ax, dist, x, name, st))
        if which == "radius" and law.real_radius is not None:
            style = {**st, "linestyle": ":"}
            heights.append(_density(ax, law.real_radius, x, f"{name} (real λ)", style))
    ax.set_xlabel("|λ|" if which == "radius" else "pair phase θ = |arg λ| (rad)")
    ax.set_ylabel("density")
    ax.set_xlim(0, top)
    ax.set_ylim(0, 1.15 * max(heights) if max(heights) > 0 else 1.0)
    if which == "radius" and top > 1:
        ax.axvline(1.0, color="0.6", lw=0.6, ls="--", gid="unit-radius")
    ax.legend(loc="best")
    return ax


def _support_top(dist: Dist) -> float:
    p = dist.params
    return float(p.get("high", p.get("r_max", p.get("value", (p.get("quantiles") or [1.0])[-1]))))


def radius_law(
    params: EigenInitParams, ax: Axes | None = None, *, data: Mapping[str, np.ndarray] | None = None
) -> Axes:
    """Density of ``|λ|`` per target (point masses as stems); ``data`` ``{target: (m,) complex}``
    eigenvalues (e.g. ``EigenInitFitter.eigenvalues_``) is drawn behind as histograms."""
    return _law_axes(params, "radius", data, ax)


def phase_law(
    params: EigenInitParams, ax: Axes | None = None, *, data: Mapping[str, np.ndarray] | None = None
) -> Axes:
    """Density of the pair phase ``θ ∈ [0, π]`` per target (``data`` as in :func:`radius_law`)."""
    return _law_axes(params, "phase", data, ax)


def sampled_spectrum(samples: Mapping[str, np.ndarray], ax: Axes | None = None) -> Axes:
    """Eigenvalues drawn from the law (``{target: (n,) complex}``) with the unit circle."""
    ax = _new_ax(ax)
    t = np.linspace(0, 2 * np.pi, 721)
    ax.plot(np.cos(t), np.sin(t), color="0.45", lw=0.7, ls="--", gid="unit-circle")
    for target, lam in samples.items():
        st = _style(target)
        lam = np.asarray(lam)
        ax.plot(
            lam.real,
            lam.imag,
            ls="none",
            marker=st["marker"],
            color=st["color"],
            ms=2.5,
            alpha=0.7,
            label=NAMES.get(target, target),
            gid=f"eigenvalues-{target}",
        )
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title("sampled eigenvalues (discrete time)")
    ax.legend(loc="upper right")
    return ax


def law_overview(
    params: EigenInitParams,
    samples: Mapping[str, np.ndarray] | None = None,
    *,
    data: Mapping[str, np.ndarray] | None = None,
) -> Figure:
    """Radius law, phase law and (when given) a sampled spectrum side by side."""
    import matplotlib.pyplot as plt

    k = 3 if samples else 2
    fig, axes = plt.subplots(1, k, figsize=(FULL_WIDTH, FULL_WIDTH / 3.2), layout="constrained")
    radius_law(params, axes[0], data=data)
    phase_law(params, axes[1], data=data)
    if samples:
        sampled_spectrum(samples, axes[2])
    fig.suptitle(f"eigen law {params.name!r}")
    return fig

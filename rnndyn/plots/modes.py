"""Figures of modes from data and of distances between dynamics: DMD eigenvalues beside the
Jacobian spectra (matched pairs joined), and a similarity matrix with its dendrogram and MDS map."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnndyn.dsa.matrix import SimilarityResult
from rnndyn.modes.run import DMDResult
from rnndyn.plots.style import COLUMN_WIDTH, FULL_WIDTH, PALETTE, sequential_cmap

REFERENCE_STYLE: dict[str, dict[str, Any]] = {
    "mean_jacobian": dict(marker="s", facecolors="none", edgecolors=PALETTE[1], s=28),
    "fixed_point_jacobian": dict(marker="D", facecolors="none", edgecolors=PALETTE[2], s=22),
}


def _new_ax(ax: Axes | None, width: float = COLUMN_WIDTH) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(width, width), layout="constrained")
    return ax


REFERENCE_NAMES = {
    "mean_jacobian": "mean state Jacobian (mean J)",
    "fixed_point_jacobian": "state Jacobian at the fixed point (J*)",
}
SHORT_NAMES = {"mean_jacobian": "mean J", "fixed_point_jacobian": "J*"}


def dmd_eigenvalues(result: DMDResult, ax: Axes | None = None, *, legend: bool = True) -> Axes:
    """DMD eigenvalues (filled, marker area ∝ the mode's amplitude) over the Jacobian spectra
    (open markers), the matched pairs joined by thin lines, with the unit circle (discrete-time
    eigenvalues); the legend (below the axes; ``legend=False``: none, see ``dmd_legend``)
    explains every encoding and the title names the source."""
    from pathlib import PurePath

    ax = _new_ax(ax)
    t = np.linspace(0, 2 * np.pi, 721)
    ax.plot(np.cos(t), np.sin(t), color="0.45", lw=0.7, ls="--", gid="unit-circle",
            label="|λ| = 1")  # fmt: skip
    for name, lam in result.references.items():
        style: dict[str, Any] = REFERENCE_STYLE.get(
            name, {"marker": "^", "facecolors": "none", "edgecolors": "0.4"}
        )
        label = REFERENCE_NAMES.get(name, name.replace("_", " "))
        ax.scatter(lam.real, lam.imag, lw=0.8, label=label, gid=name, **style)
    lam = result.fit.eigenvalues
    amp = result.fit.amplitudes
    big = amp.size and amp.max() > 0
    size = 8 + 40 * amp / amp.max() if big else 12
    ax.scatter(lam.real, lam.imag, s=size, c=PALETTE[0], lw=0, gid="dmd", zorder=3)
    for m in result.matches:
        for a, b in zip(m.dmd, m.ref, strict=True):
            ax.plot([a.real, b.real], [a.imag, b.imag], color="0.3", lw=0.6, gid="pair")
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("Re λ (discrete time)")
    ax.set_ylabel("Im λ")
    gaps = ", ".join(
        f"{SHORT_NAMES.get(m.reference, m.reference)} {m.median_gap:.3g}" for m in result.matches
    )
    where = f"layer {result.layer}" + (", reverse" if result.direction == "reverse" else "")
    title = f"DMD modes ({result.fit.method}, rank {result.fit.rank}), {where}"
    title += f"\n{PurePath(str(result.source)).name}"
    ax.set_title(title + (f"\nmedian gap: {gaps}" if gaps else ""), fontsize="x-small")
    if legend:
        handles, labels = dmd_legend(ax)
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2,
                  fontsize="xx-small")  # fmt: skip
    return ax


def dmd_legend(ax: Axes) -> tuple[list, list[str]]:
    """Legend entries of a ``dmd_eigenvalues`` panel: the references, DMD marker sizes (area ∝
    amplitude) and the lines joining matched pairs (for one legend over several panels)."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    dot: dict[str, Any] = {"color": PALETTE[0], "marker": "o", "ls": "none"}
    handles += [Line2D([], [], ms=np.sqrt(48), **dot), Line2D([], [], ms=np.sqrt(8), **dot)]
    labels += ["DMD mode, largest amplitude", "DMD mode, smallest (area ∝ amplitude)"]
    if any(ln.get_gid() == "pair" for ln in ax.lines):
        handles.append(Line2D([], [], color="0.3", lw=0.6))
        labels.append("matched pair (DMD ↔ Jacobian)")
    return handles, labels


def similarity_matrix(result: SimilarityResult, ax: Axes | None = None) -> Axes:
    """The distance matrix as a heat map, rows in the dendrogram's order, values written in."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    ax = _new_ax(ax)
    d = result.distances
    order = (
        leaves_list(linkage(squareform(d, checks=False), "average"))
        if len(d) > 2
        else np.arange(len(d))
    )
    names = np.asarray(result.names)[order]
    sub = d[np.ix_(order, order)]
    im = ax.imshow(sub, cmap=sequential_cmap(), vmin=0, gid="matrix")
    for i in range(len(sub)):
        for j in range(len(sub)):
            ax.text(
                j,
                i,
                f"{sub[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if sub[i, j] < 0.5 * sub.max() else "black",
            )
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize="x-small")
    ax.set_yticks(range(len(names)), names, fontsize="x-small")
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label=f"{result.score} distance")
    ax.set_title(f"DSA-style distance ({result.settings.get('from')})", fontsize="small")
    return ax


def similarity_overview(result: SimilarityResult, fig: Figure | None = None) -> Figure:
    """Three panels: the matrix, the average-linkage dendrogram, the classical MDS map."""
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import dendrogram, linkage
    from scipy.spatial.distance import squareform

    if fig is None:
        fig = plt.figure(figsize=(FULL_WIDTH, FULL_WIDTH * 0.4 + 0.7), layout="constrained")
    axes = fig.subplots(1, 3, width_ratios=(1.45, 0.85, 1.0))  # the matrix keeps its room
    similarity_matrix(result, ax=axes[0])
    if len(result.names) > 2:
        dendrogram(
            linkage(squareform(result.distances, checks=False), "average"),
            labels=result.names,
            ax=axes[1],
            orientation="left",  # leaves down the right side: names horizontal, never overlapping
            color_threshold=0,
        )
        axes[1].invert_yaxis()  # first leaf on top: the matrix's row order
        axes[1].tick_params(axis="y", labelsize="x-small")
        axes[1].set_xlabel("distance at merge", fontsize="x-small")
    axes[1].set_title("average linkage", fontsize="small")
    coords, share = result.embedding()
    axes[2].scatter(coords[:, 0], coords[:, 1], c=PALETTE[0], s=20, gid="mds")
    mid = float(np.mean(coords[:, 0])) if len(coords) else 0.0
    texts = []
    for (x, y), name in _mds_labels(coords, result.names):
        right = x > mid  # labels point inwards: none runs off the panel
        texts.append(axes[2].annotate(
            name.replace(" = ", "\n= "), (x, y), fontsize=6, xytext=(-4 if right else 4, 3),
            textcoords="offset points", ha="right" if right else "left", va="bottom",
            gid="mds-label",
        ))  # fmt: skip
    title = f"MDS ({100 * share:.0f}% of variance)"
    if any(" = " in name for _, name in _mds_labels(coords, result.names)):
        title += "\n'a = b': points that coincide"
    axes[2].set_title(title, fontsize="small")
    axes[2].set_aspect("equal", adjustable="datalim")
    _declutter(fig, texts)
    return fig


def _declutter(fig: Figure, texts: list[Any], gap: float = 1.5) -> None:
    """Move labels that would overprint an earlier (higher) one down, below it, in steps of
    the label's own height (offsets in points, after the layout is computed)."""
    if len(texts) < 2:
        return
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    placed: list[Any] = []
    for t in sorted(texts, key=lambda t: -t.xy[1]):
        for _ in range(len(texts) * 3):
            box = t.get_window_extent(renderer)
            if not any(box.overlaps(p) for p in placed):
                break
            dx, dy = t.xyann
            t.xyann = (dx, dy - box.height * 72 / fig.dpi - gap)
        placed.append(t.get_window_extent(renderer))


def _mds_labels(
    coords: np.ndarray, names: list[str], tol: float = 0.04
) -> list[tuple[tuple[float, float], str]]:
    """One label per cluster of coincident MDS points (within ``tol`` of the map's extent, e.g. a
    network and its rotated copy): their names joined with " = ", so no two labels overprint."""
    span = float(np.ptp(coords, axis=0).max()) if len(coords) else 0.0
    radius = tol * span if span > 0 else 1e-12
    left = list(range(len(coords)))
    out = []
    while left:
        i = left.pop(0)
        near = [j for j in left if np.hypot(*(coords[j] - coords[i])) <= radius]
        left = [j for j in left if j not in near]
        group = [i, *near]
        x, y = coords[group].mean(axis=0)
        out.append(((float(x), float(y)), " = ".join(names[k] for k in group)))
    return out

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


def dmd_eigenvalues(result: DMDResult, ax: Axes | None = None) -> Axes:
    """DMD eigenvalues (filled, sized by amplitude) over the Jacobian spectra (open markers), the
    matched pairs joined by thin lines, with the unit circle (discrete-time eigenvalues)."""
    ax = _new_ax(ax)
    t = np.linspace(0, 2 * np.pi, 721)
    ax.plot(np.cos(t), np.sin(t), color="0.45", lw=0.7, ls="--", gid="unit-circle")
    for name, lam in result.references.items():
        style: dict[str, Any] = REFERENCE_STYLE.get(
            name, {"marker": "^", "facecolors": "none", "edgecolors": "0.4"}
        )
        ax.scatter(lam.real, lam.imag, lw=0.8, label=name.replace("_", " "), gid=name, **style)
    lam = result.fit.eigenvalues
    amp = result.fit.amplitudes
    size = 8 + 40 * amp / amp.max() if amp.size and amp.max() > 0 else 12
    ax.scatter(lam.real, lam.imag, s=size, c=PALETTE[0], lw=0, label="DMD", gid="dmd", zorder=3)
    for m in result.matches:
        for a, b in zip(m.dmd, m.ref, strict=True):
            ax.plot([a.real, b.real], [a.imag, b.imag], color="0.3", lw=0.6, gid="pair")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    names = {"mean_jacobian": "mean J", "fixed_point_jacobian": "fixed-point J"}
    gaps = ", ".join(
        f"{names.get(m.reference, m.reference)} {m.median_gap:.3g}" for m in result.matches
    )
    title = f"DMD ({result.fit.method}, r={result.fit.rank})"
    ax.set_title(title + (f"\nmedian gap: {gaps}" if gaps else ""), fontsize="x-small")
    ax.legend(loc="lower left", fontsize="xx-small", framealpha=0.8)
    return ax


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
        fig = plt.figure(figsize=(FULL_WIDTH, FULL_WIDTH / 3 + 0.6), layout="constrained")
    axes = fig.subplots(1, 3)
    similarity_matrix(result, ax=axes[0])
    if len(result.names) > 2:
        dendrogram(
            linkage(squareform(result.distances, checks=False), "average"),
            labels=result.names,
            ax=axes[1],
            leaf_rotation=60,
            color_threshold=0,
        )
        axes[1].tick_params(axis="x", labelsize="x-small")
    axes[1].set_title("average linkage", fontsize="small")
    coords, share = result.embedding()
    axes[2].scatter(coords[:, 0], coords[:, 1], c=PALETTE[0], s=20, gid="mds")
    for (x, y), name in zip(coords, result.names, strict=True):
        axes[2].annotate(name, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    axes[2].set_title(f"MDS ({100 * share:.0f}% of variance)", fontsize="small")
    axes[2].set_aspect("equal", adjustable="datalim")
    return fig

"""ε-pseudospectrum contours over the eigenvalues, one panel per operator, with the unit circle
and the ε at which the pseudospectrum reaches it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnndyn.plots.style import COLUMN_WIDTH, FULL_WIDTH, GREY
from rnndyn.pseudospectra import Pseudospectrum

__all__ = ["pseudospectra_grid", "pseudospectrum"]


def pseudospectrum(p: Pseudospectrum, ax: Axes | None = None, *, colorbar: bool = True) -> Axes:
    """Contours of ``σ_min(zI − W) = ε`` at ``p.levels`` (labelled ``log10 ε``), the eigenvalues,
    the unit circle and the point ``e^{iθ}`` where ``Λ_ε`` first reaches it (``ε = p.margin``).
    Contours smaller than the grid spacing do not show (a normal matrix's ``ε``-discs)."""
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.figure(figsize=(COLUMN_WIDTH, COLUMN_WIDTH), layout="constrained").add_subplot()
    import matplotlib as mpl

    logs = np.log10(p.levels)
    cmap = mpl.colormaps["viridis"]
    colors = [cmap(x) for x in np.linspace(0.0, 0.85, logs.size)]
    with np.errstate(divide="ignore"):
        field = np.log10(np.maximum(p.sigma, np.finfo(float).tiny))
    cs = ax.contour(p.re, p.im, field, levels=logs, colors=colors, linewidths=0.9)
    cs.set_gid("pseudospectrum-contours")
    if p.margin > 0:  # the contour that touches the unit circle
        touch = ax.contour(p.re, p.im, field, levels=[np.log10(p.margin)], colors="red")
        touch.set(linewidths=0.8, linestyles="--", gid="margin-contour")
    t = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(t), np.sin(t), color=GREY, lw=0.7, ls="--", gid="unit-circle")
    ev = p.eigenvalues
    ax.plot(ev.real, ev.imag, "k.", ms=2.5, ls="none", gid="eigenvalues", label="eigenvalues")
    z = np.exp(1j * np.array([p.margin_angle, -p.margin_angle]))
    ax.plot(z.real, z.imag, "rx", ms=5, ls="none", gid="margin-point",
            label=f"reaches |z| = 1 at ε = {p.margin:.2g}")  # fmt: skip
    ax.set_aspect("equal")
    ax.set_xlim(p.re[0], p.re[-1])
    ax.set_ylim(p.im[0], p.im[-1])
    ax.set_xlabel("Re z")
    ax.set_ylabel("Im z")
    if colorbar:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import BoundaryNorm, ListedColormap

        step = logs[1] - logs[0] if logs.size > 1 else 1.0
        bounds = np.append(logs, logs[-1] + step) - step / 2
        sm = ScalarMappable(BoundaryNorm(bounds, len(colors)), ListedColormap(colors))
        cb = ax.figure.colorbar(sm, ax=ax, ticks=logs, shrink=0.8)
        cb.set_label("log10 ε  (lowest: stored precision)")
    return ax


def pseudospectra_grid(
    items: Sequence[Pseudospectrum], *, checkpoint: str | None = None, fig: Figure | None = None
) -> Figure:
    """One ``pseudospectrum`` panel per operator, titled with its id and its unit-circle ε."""
    ncol = min(len(items), 2 if len(items) == 4 else 3) or 1
    nrow = -(-len(items) // ncol)
    width = COLUMN_WIDTH * 1.2 if ncol == 1 else FULL_WIDTH
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(width, width / ncol * nrow + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    for ax, p in zip(axes, items, strict=False):
        pseudospectrum(p, ax=ax, colorbar=p is items[-1])
        ax.set_title(f"{p.operator}\nreaches |z| = 1 at ε = {p.margin:.2g}", fontsize="small")
    for ax in axes[len(items) :]:
        ax.set_visible(False)
    title = "ε-pseudospectra σ_min(zI − W) = ε; discrete time"
    fig.suptitle(f"{checkpoint}: {title}" if checkpoint else title, fontsize="small")
    return fig

"""ε-pseudospectrum contours over the eigenvalues, one panel per operator, with the unit circle
and the ε at which the pseudospectrum reaches it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnndyn.plots.style import COLUMN_WIDTH, FULL_WIDTH, GREY, operator_label
from rnndyn.pseudospectra import Pseudospectrum

__all__ = ["pseudospectra_grid", "pseudospectrum"]


def pseudospectrum(p: Pseudospectrum, ax: Axes | None = None, *, colorbar: bool = True) -> Axes:
    """Contours of ``σ_min(zI − W) = ε`` at ``p.levels`` (``ε₀·10^k``, ``ε₀`` the perturbation
    the stored precision allows; colour by ``k``, so panels compare), the eigenvalues, the unit
    circle, the contour ``ε = p.margin`` (red, dashed) that first reaches it and the point where it
    does. Contours smaller than the grid spacing do not show (a normal matrix's ``ε``-discs)."""
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.figure(figsize=(COLUMN_WIDTH, COLUMN_WIDTH), layout="constrained").add_subplot()
    logs = np.log10(p.levels)
    colors = _colors(logs.size)
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
        _colorbar(ax, logs.size)
    return ax


def _colors(n: int) -> list:
    import matplotlib as mpl

    cmap = mpl.colormaps["viridis"]
    return [cmap(min(k / 8, 1.0) * 0.85) for k in range(n)]  # k decades above ε₀


def _colorbar(ax: Axes | list[Axes], n: int) -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    k = np.arange(n)
    sm = ScalarMappable(BoundaryNorm(np.append(k, n) - 0.5, n), ListedColormap(_colors(n)))
    fig = (ax[0] if isinstance(ax, list) else ax).figure
    cb = fig.colorbar(sm, ax=ax, ticks=k, shrink=0.8)
    cb.set_label("ε = ε₀·10^k  (ε₀: what the stored precision allows)")


def pseudospectra_grid(
    items: Sequence[Pseudospectrum],
    *,
    checkpoint: str | None = None,
    arch: str | None = None,
    fig: Figure | None = None,
) -> Figure:
    """One ``pseudospectrum`` panel per operator, titled with the operator in words (``arch``
    names the architecture of ``hh``/Jacobian ids), ``ε₀`` and its unit-circle ε; one colour bar
    (colours count decades above each panel's own ``ε₀``) and one legend below."""
    ncol = min(len(items), 2 if len(items) == 4 else 3) or 1
    nrow = -(-len(items) // ncol)
    width = COLUMN_WIDTH * 1.2 if ncol == 1 else FULL_WIDTH
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(width, width / ncol * nrow + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    for ax, p in zip(axes, items, strict=False):
        pseudospectrum(p, ax=ax, colorbar=False)
        ax.set_title(
            f"{operator_label(p.operator, arch)}\n"
            f"ε₀ = {p.epsilon_stored:.2g}; reaches |z| = 1 at ε = {p.margin:.2g}",
            fontsize="small",
        )
    for ax in axes[len(items) :]:
        ax.set_visible(False)
    if items:
        _colorbar(list(axes[: len(items)]), max(p.levels.size for p in items))
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], color="k", marker=".", ls="none", ms=4),
            Line2D([], [], color=GREY, ls="--", lw=0.7),
            Line2D([], [], color="red", ls="--", lw=0.8),
            Line2D([], [], color="red", marker="x", ls="none", ms=5),
        ]
        labels = [
            "eigenvalues",
            "unit circle |z| = 1",
            "the ε-contour that first reaches |z| = 1",
            "where it touches",
        ]
        fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize="x-small")
    title = "ε-pseudospectra σ_min(zI − W) = ε; discrete time"
    fig.suptitle(f"{checkpoint}: {title}" if checkpoint else title, fontsize="small")
    return fig

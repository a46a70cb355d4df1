"""Figures of spectra along training: eigenvalue paths in the complex plane coloured by epoch, and
spectral radius / fraction above the threshold / longest timescale against epoch beside the metric."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from rnndyn.plots.style import COLUMN_WIDTH, FULL_WIDTH, group_style, sequential_cmap
from rnndyn.training.track import TrackResult

CMAP = "viridis"


def _unit_circle(ax) -> None:
    t = np.linspace(0, 2 * np.pi, 721)
    ax.plot(np.cos(t), np.sin(t), color="0.45", lw=0.7, ls="--", gid="unit-circle")
    ax.axhline(0, color="0.85", lw=0.5, zorder=0)
    ax.axvline(0, color="0.85", lw=0.5, zorder=0)


def eigenvalue_paths(result: TrackResult, *, max_panels: int = 8) -> Figure:
    """One panel per operator: each followed eigenvalue's path (grey line) with its positions
    coloured by epoch (first checkpoint: open circle; last: filled), over the unit circle."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    ops = result.operators[:max_panels]
    cols = min(len(ops), 4)
    rows = math.ceil(len(ops) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(min(FULL_WIDTH, 2.4 * cols), 2.4 * rows), layout="constrained"
    )
    axes = np.atleast_1d(axes).ravel()
    epochs = result.epochs
    if np.isnan(epochs).any():
        epochs = np.arange(len(epochs), dtype=float)
    norm = mpl.colors.Normalize(epochs.min(), max(epochs.max(), epochs.min() + 1))
    for ax, t in zip(axes, ops, strict=False):
        _unit_circle(ax)
        ev = t.eigenvalues
        ax.plot(ev.real, ev.imag, color="0.6", lw=0.5, zorder=1)
        ee = np.repeat(epochs[:, None], ev.shape[1], axis=1)
        sc = ax.scatter(
            ev.real, ev.imag, c=ee, cmap=sequential_cmap(CMAP), norm=norm, s=5, lw=0, zorder=2
        )
        ax.scatter(ev[0].real, ev[0].imag, s=14, facecolors="none", edgecolors="k", lw=0.5)
        ax.scatter(ev[-1].real, ev[-1].imag, s=10, c="k", lw=0, zorder=3)
        ax.set_title(t.id)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("Re λ")
        ax.set_ylabel("Im λ")
    for ax in axes[len(ops) :]:
        ax.set_visible(False)
    fig.colorbar(sc, ax=list(axes[: len(ops)]), shrink=0.8, label="epoch")
    return fig


def spectral_summary(result: TrackResult) -> Figure:
    """Against epoch: spectral radius, fraction of ``|λ|`` above the threshold, the longest finite
    timescale (over ``|λ| < 1``) and the recorded validation loss and metric."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, 4, figsize=(FULL_WIDTH, COLUMN_WIDTH * 0.75), layout="constrained", sharex=True
    )
    ep = result.epochs
    x = np.arange(len(ep)) if np.isnan(ep).any() else ep
    for i, t in enumerate(result.operators):
        st = group_style(i)
        kw = dict(color=st["color"], marker=st["marker"], ls=st["linestyle"], ms=2.5, label=t.id)
        axes[0].plot(x, t.spectral_radius, **kw)
        axes[1].plot(x, t.fraction_above, **kw)
        axes[2].plot(x, t.longest_timescale, **kw)
    axes[0].axhline(1.0, color="0.5", lw=0.6, ls=":")
    axes[0].set_ylabel("spectral radius")
    axes[1].set_ylabel(f"fraction |λ| > {result.threshold:g}")
    axes[2].set_ylabel("longest finite timescale (steps, |λ| < 1)")
    axes[2].set_yscale("log")
    for key, style in (("val_loss", "-"), ("val_metric", "--")):
        vals = [c["metrics"].get(key) for c in result.checkpoints]
        if any(v is not None for v in vals):
            y = np.asarray([np.nan if v is None else v for v in vals], dtype=float)
            axes[3].plot(x, y, color="k", ls=style, marker="o", ms=2.5, label=key)
    axes[3].set_ylabel("training record")
    if axes[3].get_legend_handles_labels()[0]:  # no record (e.g. plain checkpoints): no legend
        axes[3].legend()
    for ax in axes:
        ax.set_xlabel("epoch")
    if len(result.operators) <= 8:
        axes[0].legend(fontsize=6)
    return fig

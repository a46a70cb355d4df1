"""Figures of spectra along training: eigenvalue paths in the complex plane coloured by epoch, and
spectral radius / fraction above the threshold / longest timescale against epoch, with the recorded
validation loss and metric on their own labelled panels.

Operators are named in words (``style.operator_label``: "GRU, layer 0, reset gate r (weight
block)"); the checkpoints are named in the title (first … last, and how many).
"""

from __future__ import annotations

import math
from pathlib import PurePath

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnndyn.plots.style import (
    COLUMN_WIDTH,
    FULL_WIDTH,
    group_style,
    operator_label,
    sequential_cmap,
)
from rnndyn.training.track import TrackResult

CMAP = "viridis"
METRIC_WORDS = {"val_loss": "validation loss", "val_metric": "validation metric"}


def _unit_circle(ax: Axes) -> None:
    t = np.linspace(0, 2 * np.pi, 721)
    ax.plot(np.cos(t), np.sin(t), color="0.45", lw=0.7, ls="--", gid="unit-circle")
    ax.axhline(0, color="0.85", lw=0.5, zorder=0)
    ax.axvline(0, color="0.85", lw=0.5, zorder=0)


def _checkpoints_label(result: TrackResult) -> str:
    """``"5 checkpoints: epoch_0000.pt … epoch_0004.pt"``."""
    names = [PurePath(str(c["path"])).name for c in result.checkpoints]
    if not names:
        return "no checkpoints"
    span = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"
    return f"{len(names)} checkpoint{'s' * (len(names) != 1)}: {span}"


def _x(result: TrackResult) -> tuple[np.ndarray, str]:
    ep = result.epochs
    if np.isnan(ep).any():
        return np.arange(len(ep), dtype=float), "checkpoint (in order; no epoch recorded)"
    return ep, "epoch"


def _integer_ticks(ax: Axes) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def eigenvalue_paths(result: TrackResult, *, max_panels: int = 8) -> Figure:
    """One panel per operator: each followed eigenvalue's path (grey line) with its positions
    coloured by epoch (first checkpoint: open circle; last: filled; both in the legend), over the
    unit circle."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    ops = result.operators[:max_panels]
    cols = min(len(ops), 4)
    rows = math.ceil(len(ops) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(min(FULL_WIDTH, 2.4 * cols + 1.0), 2.4 * rows + 0.9),
        layout="constrained", squeeze=False,
    )  # fmt: skip
    axes = axes.ravel()
    x, xlabel = _x(result)
    norm = mpl.colors.Normalize(x.min(), max(x.max(), x.min() + 1))
    sc = None
    for ax, t in zip(axes, ops, strict=False):
        _unit_circle(ax)
        ev = t.eigenvalues
        ax.plot(ev.real, ev.imag, color="0.6", lw=0.5, zorder=1)
        ee = np.repeat(x[:, None], ev.shape[1], axis=1)
        sc = ax.scatter(
            ev.real, ev.imag, c=ee, cmap=sequential_cmap(CMAP), norm=norm, s=5, lw=0, zorder=2
        )
        ax.scatter(ev[0].real, ev[0].imag, s=14, facecolors="none", edgecolors="k", lw=0.5,
                   gid="first")  # fmt: skip
        ax.scatter(ev[-1].real, ev[-1].imag, s=10, c="k", lw=0, zorder=3, gid="last")
        ax.set_title(operator_label(t.id), fontsize="x-small")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("Re λ")
        ax.set_ylabel("Im λ")
    for ax in axes[len(ops) :]:
        ax.set_visible(False)
    if sc is not None:
        cb = fig.colorbar(sc, ax=list(axes[: len(ops)]), shrink=0.8, label=xlabel.split(" (")[0])
        cb.locator = mpl.ticker.MaxNLocator(integer=True)
        cb.update_ticks()
    unit = "epoch" if xlabel == "epoch" else "checkpoint"
    handles = [
        Line2D([], [], ls="", marker="o", mfc="none", color="k", ms=4,
               label=f"first checkpoint ({unit} {x[0]:g})"),
        Line2D([], [], ls="", marker="o", color="k", ms=3.5,
               label=f"last checkpoint ({unit} {x[-1]:g})"),
        Line2D([], [], color="0.6", lw=0.5, label="path of one followed eigenvalue"),
        Line2D([], [], color="0.45", lw=0.7, ls="--", label="unit circle |λ| = 1"),
    ]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize="x-small",
               frameon=False)  # fmt: skip
    fig.suptitle(f"eigenvalues along training — {_checkpoints_label(result)}", fontsize="small")
    return fig


def _broken_at_crossings(y: np.ndarray, n_outside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(positions, values)`` with a NaN inserted between consecutive checkpoints whose count of
    modes not inside the unit circle (``n_outside``) differs, so the line breaks (instead of jumping) where a mode crosses the
    unit circle; positions are checkpoint indices (a NaN gap at ``c − ½``)."""
    y = np.asarray(y, float)
    cross = np.flatnonzero(np.diff(n_outside) != 0) + 1  # checkpoints after a crossing
    pos = np.insert(np.arange(y.size, dtype=float), cross, cross - 0.5)
    val = np.insert(y, cross, np.nan)
    return pos, val


def spectral_summary(result: TrackResult) -> Figure:
    """Against epoch (integer ticks): spectral radius, fraction of ``|λ|`` above the threshold, the
    longest finite timescale (over ``|λ| < 1``; the line breaks where a mode crosses ``|λ| = 1``)
    and, on their own labelled panels, the recorded validation loss and metric."""
    import matplotlib.pyplot as plt

    keys = [
        k for k in METRIC_WORDS
        if any(c["metrics"].get(k) is not None for c in result.checkpoints)
    ]  # fmt: skip
    fig, axes = plt.subplots(
        2, 3, figsize=(FULL_WIDTH, COLUMN_WIDTH * 1.45), layout="constrained", sharex=True
    )
    axes = axes.ravel()
    x, xlabel = _x(result)
    for i, t in enumerate(result.operators):
        st = group_style(i)
        kw = dict(color=st["color"], marker=st["marker"], ls=st["linestyle"], ms=2.5)
        label = operator_label(t.id)
        axes[0].plot(x, t.spectral_radius, label=label, **kw)
        axes[1].plot(x, t.fraction_above, **kw)
        # the finite-τ set changes when a mode leaves "inside" (outside, or on the circle
        # within its error bound): break the line there
        pos, val = _broken_at_crossings(t.longest_timescale, t.n_outside + t.n_on)
        xs = np.interp(pos, np.arange(x.size), x)
        axes[2].plot(xs, val, gid=f"timescale-{t.id}", **kw)
    axes[0].axhline(1.0, color="0.5", lw=0.6, ls=":")
    axes[0].set_ylabel("spectral radius")
    axes[1].set_ylabel(f"fraction with |λ| > {result.threshold:g}\n(beyond its error bound)")
    axes[2].set_ylabel("longest finite timescale\n(steps, over |λ| < 1)")
    axes[2].set_yscale("log")
    axes[2].set_title("line breaks where a mode crosses |λ| = 1", fontsize="x-small")
    for ax, key in zip(axes[3:5], keys, strict=False):
        vals = [c["metrics"].get(key) for c in result.checkpoints]
        y = np.asarray([np.nan if v is None else v for v in vals], dtype=float)
        ax.plot(x, y, color="k", marker="o", ms=2.5, gid=key)
        ax.set_ylabel(METRIC_WORDS[key])
        ax.set_title(f"{METRIC_WORDS[key]} (recorded in the checkpoint)", fontsize="x-small")
    if not keys:
        axes[3].text(0.5, 0.5, "no validation loss or metric\nrecorded in the checkpoints",
                     ha="center", va="center", transform=axes[3].transAxes, fontsize="x-small")  # fmt: skip
        axes[3].set_axis_off()
    for ax in axes[3 + max(len(keys), 1) :]:
        ax.set_visible(False)
    for ax in axes:
        _integer_ticks(ax)
        ax.set_xlabel(xlabel)
        ax.xaxis.set_tick_params(labelbottom=True)
    if len(result.operators) <= 12:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
                   ncol=min(len(result.operators), 3), fontsize="x-small", frameon=False)  # fmt: skip
    fig.suptitle(f"spectra along training — {_checkpoints_label(result)}", fontsize="small")
    return fig

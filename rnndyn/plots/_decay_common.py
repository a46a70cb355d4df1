"""Helpers shared by the decay figures (``rnndyn.plots.decay``, ``decay_rates``,
``decay_memory``): the Axes, the operator and checkpoint of a result, titles in words, log limits
fitted to the data, which modes to draw and their ``|λ|`` colours."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize

from rnndyn.decay.results import DecayResult, ModeDecay
from rnndyn.plots.style import COLUMN_WIDTH, figure_title

CMAP = "viridis"


def _new_ax(ax: Axes | None, size: tuple[float, float] = (COLUMN_WIDTH, 3.0)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _op(result: DecayResult | ModeDecay, operator: int | str) -> ModeDecay:
    return result if isinstance(result, ModeDecay) else result[operator]


def _arch(result: DecayResult | ModeDecay) -> str | None:
    return None if isinstance(result, ModeDecay) else result.module.get("architecture")


def _ckpt(result: DecayResult | ModeDecay, checkpoint: str | None) -> str | None:
    if checkpoint is not None or isinstance(result, ModeDecay):
        return checkpoint
    return result.checkpoint


def _title(
    ax: Axes, what: str, result: DecayResult | ModeDecay, md: ModeDecay | None, ckpt: str | None
) -> None:
    """``what — operator in words`` and the checkpoint: on the figure when the Axes is alone in
    it (a suptitle), else on the Axes."""
    op = None if md is None else md.qualified_id
    text = figure_title(what, _ckpt(result, ckpt), op, _arch(result))
    if len(ax.figure.axes) <= 2 and not getattr(ax.figure, "_rnndyn_shared", False):
        ax.figure.suptitle(text, fontsize="small")
    else:
        ax.set_title(text, fontsize="x-small")


def _data_ylim(ax: Axes, curves: np.ndarray, floor: float = 1e-10) -> None:
    """Log y limits fitted to the positive finite values of ``curves`` (a 25 % margin)."""
    v = curves[np.isfinite(curves) & (curves > floor)]
    if v.size:
        lo, hi = float(v.min()), float(v.max())
        ax.set_ylim(lo / 1.25, hi * 1.25 if hi > lo else lo * 2)


def _shown(md: ModeDecay, max_modes: int | None) -> np.ndarray:
    """Indices of the modes to draw: one per conjugate pair, the first ``max_modes``."""
    idx = np.flatnonzero(md.eigenvalues.imag >= 0)
    return idx if max_modes is None else idx[:max_modes]


def _colours(md: ModeDecay, ax: Axes, colorbar: bool):
    import matplotlib as mpl

    mod = np.abs(md.eigenvalues)
    norm = Normalize(
        vmin=float(mod.min()), vmax=float(mod.max()) if mod.max() > mod.min() else mod.min() + 1
    )
    from rnndyn.plots.style import sequential_cmap

    cmap = sequential_cmap(CMAP)  # cut before the yellow end: every line stays visible on white
    if colorbar:
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
        ax.figure.colorbar(sm, ax=ax, label="$|\\lambda|$", pad=0.02)
    return lambda i: cmap(norm(mod[i]))

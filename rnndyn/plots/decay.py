"""Decay figures: predicted vs measured decay per mode (small multiples of the slowest modes, the
rest summarised), the share of each perturbation left in its mode's eigenspace (orthogonal
projection, ≤ 1), the effective spectrum, modal energy, memory functions and the Lyapunov spectrum.
Drawing only; each takes a ``DecayResult`` (or one ``ModeDecay``) and ``ax=None`` (``fig=None`` for
the multi-panel ``decay_grid``).

Every figure names the operator in words and, given a ``DecayResult`` (or ``checkpoint=``), the
checkpoint. Modes are coloured by ``|λ|`` (viridis, with a colour bar); a conjugate pair is drawn
once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnndyn.decay.results import DecayResult, ModeDecay
from rnndyn.plots._decay_common import (
    _arch,
    _ckpt,
    _colours,
    _data_ylim,
    _new_ax,
    _op,
    _shown,
    _title,
)
from rnndyn.plots.decay_memory import memory_function, modal_energy
from rnndyn.plots.decay_rates import effective_spectrum, lyapunov_spectrum
from rnndyn.plots.style import FULL_WIDTH, PALETTE, figure_title

__all__ = [
    "decay_curves",
    "decay_grid",
    "effective_spectrum",
    "eigenspace_fraction",
    "eigenspace_projection",
    "lyapunov_spectrum",
    "memory_function",
    "modal_energy",
]


def decay_curves(
    result: DecayResult | ModeDecay,
    ax: Axes | None = None,
    *,
    operator: int | str = 0,
    max_modes: int | None = 16,
    colorbar: bool = True,
    whole: bool = True,
    checkpoint: str | None = None,
) -> Axes:
    """Per mode: the own amplitude in the mode's eigenspace (solid over the fitted steps, dotted
    elsewhere), predicted ``|λ|^k`` (dashed) and, thin, the norm of the whole perturbation; log scale
    with y fitted to the measured curves. For many modes prefer :func:`decay_grid`."""
    md = _op(result, operator)
    own_figure = ax is None
    ax = _new_ax(ax)
    colour = _colours(md, ax, colorbar)
    k = np.arange(md.steps + 1)
    shown = _shown(md, max_modes)
    for i in shown:
        fit = int(md.fit_steps[i]) + 1
        ax.plot(k, md.predicted_curve[i], ls="--", lw=0.8, color=colour(i), gid=f"predicted-{i}")
        if fit > 1:
            ax.plot(
                k[:fit],
                md.measured_curve[i, :fit],
                ls="-",
                lw=1.0,
                color=colour(i),
                gid=f"measured-{i}",
            )
        ax.plot(
            k[fit - 1 :],
            md.measured_curve[i, fit - 1 :],
            ls=":",
            lw=0.8,
            color=colour(i),
            gid=f"measured-tail-{i}",
        )
        if whole and md.norm_curve is not None:
            ax.plot(
                k, md.whole_curve[i], ls="-", lw=0.5, alpha=0.6, color=colour(i), gid=f"whole-{i}"
            )
    ax.set_yscale("log")
    curves = [md.measured_curve[shown]]
    if whole and md.norm_curve is not None:
        curves.append(md.whole_curve[shown])
    _data_ylim(ax, np.concatenate(curves))
    ax.set_xlabel("steps $k$ after the perturbation")
    ax.set_ylabel("amplitude (relative to $k = 0$)")
    _title(ax, "decay of a perturbation along each mode", result, md, checkpoint)
    _line_style_legend(ax, whole=whole and md.norm_curve is not None, outside=own_figure)
    return ax


def decay_grid(
    result: DecayResult | ModeDecay,
    fig: Figure | None = None,
    *,
    operator: int | str = 0,
    slowest: int = 4,
    checkpoint: str | None = None,
) -> Figure:
    """Small multiples: one panel per slowest mode (largest ``|λ|``, one per conjugate pair) with
    its own amplitude (solid where fitted, dotted elsewhere), ``|λ|^k`` (dashed) and the whole
    perturbation's norm (thin); the other modes summarised in a last panel (median and range of
    their own amplitudes). Each panel's log y axis is fitted to its data."""
    import matplotlib.pyplot as plt

    md = _op(result, operator)
    idx = _shown(md, None)
    idx = idx[np.argsort(-np.abs(md.eigenvalues[idx]), kind="stable")]
    slow, rest = idx[:slowest], idx[slowest:]
    n = len(slow) + (rest.size > 0)
    cols = min(n, 3)
    rows = -(-n // cols)
    if fig is None:
        fig = plt.figure(figsize=(FULL_WIDTH, 1.9 * rows + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, squeeze=False)).ravel()
    k = np.arange(md.steps + 1)
    has_whole = md.norm_curve is not None
    for ax, i in zip(axes, slow, strict=False):
        fit = int(md.fit_steps[i]) + 1
        ax.plot(k, md.predicted_curve[i], ls="--", lw=0.8, color=PALETTE[0], gid=f"predicted-{i}")
        if fit > 1:
            ax.plot(k[:fit], md.measured_curve[i, :fit], color=PALETTE[0], gid=f"measured-{i}")
        ax.plot(k[fit - 1 :], md.measured_curve[i, fit - 1 :], ls=":", color=PALETTE[0],
                gid=f"measured-tail-{i}")  # fmt: skip
        data = [md.measured_curve[i], md.predicted_curve[i]]
        if has_whole:
            ax.plot(k, md.whole_curve[i], lw=0.6, color=PALETTE[1], gid=f"whole-{i}")
            data.append(md.whole_curve[i])
        ax.set_yscale("log")
        _data_ylim(ax, np.concatenate(data))
        z = complex(md.eigenvalues[i])
        lam = f"{z.real:.3g} ± {abs(z.imag):.3g}i" if z.imag else f"{z.real:.3g}"
        rate = md.measured_rate[i]
        own = f"own rate {rate:.3g}" if np.isfinite(rate) else "own rate not fitted"
        ax.set_title(f"mode {i}: λ = {lam}, |λ| = {abs(z):.3g}\n{own}", fontsize="x-small")
    if rest.size:
        ax = axes[len(slow)]
        own = md.measured_curve[rest]
        with np.errstate(all="ignore"):
            lo, mid, hi = (np.nanquantile(own, q, axis=0) for q in (0.0, 0.5, 1.0))
            pred = np.nanmedian(md.predicted_curve[rest], axis=0)
        ax.fill_between(k, lo, hi, color="0.6", alpha=0.35, lw=0, gid="rest-band")
        ax.plot(k, mid, color="0.25", gid="rest-median")
        ax.plot(k, pred, color="0.25", ls="--", lw=0.8, gid="rest-predicted")
        ax.set_yscale("log")
        _data_ylim(ax, np.concatenate([lo, hi, pred]))
        ax.set_title(
            f"the other {rest.size} modes (pairs once):\nmedian and range", fontsize="x-small"
        )
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[:n]:
        ax.set_xlabel("steps $k$")
    for ax in axes[::cols]:
        ax.set_ylabel("amplitude / start")
    fig.suptitle(
        figure_title("decay of a perturbation along each of the slowest modes",
                     _ckpt(result, checkpoint), md.qualified_id, _arch(result)),
        fontsize="small",
    )  # fmt: skip
    _grid_legend(fig, whole=has_whole, rest=rest.size > 0)
    return fig


def _grid_legend(fig: Figure, *, whole: bool, rest: bool) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    c = PALETTE[0]
    handles: list[Any] = [
        Line2D([], [], color=c, label="own amplitude (fitted steps)"),
        Line2D([], [], color=c, ls=":", label="own amplitude (not fitted)"),
        Line2D([], [], color=c, ls="--", lw=0.8, label="$|\\lambda|^k$ (predicted)"),
    ]
    if whole:
        handles.append(Line2D([], [], color=PALETTE[1], lw=0.6, label="whole perturbation"))
    if rest:
        handles.append(Patch(color="0.6", alpha=0.35, label="other modes: range (line: median)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3),
               fontsize="x-small", frameon=False)  # fmt: skip


def _line_style_legend(ax: Axes, *, whole: bool, outside: bool) -> None:
    """One legend entry per line style (colour is |λ|, on the colour bar): below the figure when
    rnndyn made it, else in the lower left of the given Axes."""
    from matplotlib.lines import Line2D

    grey = "0.3"
    handles = [
        Line2D([], [], color=grey, ls="-", lw=1.0, label="own, fitted"),
        Line2D([], [], color=grey, ls=":", lw=0.8, label="own, not fitted"),
        Line2D([], [], color=grey, ls="--", lw=0.8, label="$|\\lambda|^k$"),
    ]
    if whole:
        handles.append(Line2D([], [], color=grey, lw=0.5, label="whole"))
    style = {"fontsize": "x-small", "handlelength": 1.6, "columnspacing": 0.8}
    if outside:
        ax.figure.legend(
            handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, **style
        )
    else:
        ax.legend(handles=handles, loc="lower left", framealpha=0.8, **style)


def eigenspace_projection(
    result: DecayResult | ModeDecay,
    ax: Axes | None = None,
    *,
    operator: int | str = 0,
    max_modes: int | None = 16,
    colorbar: bool = True,
    checkpoint: str | None = None,
) -> Axes:
    """Leakage: per mode and lag, ``‖Qδ‖/‖δ‖`` — the orthogonal projection of the perturbation onto
    the mode's eigenspace, a share in [0, 1] (1 at the start) — with the 0.5 line for reference.
    (The JSON's older ``eigenspace_fraction`` is an oblique ratio that can exceed 1; it is not
    drawn.)"""
    md = _op(result, operator)
    ax = _new_ax(ax)
    colour = _colours(md, ax, colorbar)
    k = np.arange(md.steps + 1)
    for i in _shown(md, max_modes):
        ax.plot(k, md.eigenspace_projection[i], lw=0.9, color=colour(i), gid=f"eigenspace-{i}")
    ax.axhline(0.5, color="0.5", lw=0.6, ls="--", gid="half")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("steps $k$ after the perturbation")
    ax.set_ylabel(
        "share in the mode's eigenspace\n$\\|Q\\delta\\|/\\|\\delta\\|$ (orthogonal projection)"
    )
    _title(ax, "leakage out of each mode's eigenspace", result, md, checkpoint)
    return ax


def eigenspace_fraction(result: DecayResult | ModeDecay, ax: Axes | None = None, **kwargs) -> Axes:
    """Alias of :func:`eigenspace_projection` (kept for old code): draws the bounded orthogonal
    projection, not the oblique ``eigenspace_fraction`` field."""
    return eigenspace_projection(result, ax, **kwargs)

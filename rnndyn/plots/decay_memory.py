"""Where the state's energy and memory sit: modal energy over (log-binned) time and the memory
function (held-out R² of past inputs per lag, with the sum on its own panel)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from rnndyn.decay.results import DecayResult, ModeDecay
from rnndyn.plots._decay_common import _arch, _ckpt, _colours, _new_ax, _op, _shown, _title
from rnndyn.plots.style import COLUMN_WIDTH, FULL_WIDTH, PALETTE, figure_title

__all__ = ["memory_function", "modal_energy"]


def _log_bins(t_len: int, n_bins: int = 40) -> np.ndarray:
    """Edges of about ``n_bins`` log-spaced bins of the steps ``0 … t_len − 1`` (each ≥ 1 step)."""
    edges = np.unique(np.round(np.geomspace(1, t_len + 1, n_bins + 1)).astype(int)) - 1
    edges[-1] = t_len
    return edges


def modal_energy(
    result: DecayResult | ModeDecay,
    ax: Axes | None = None,
    *,
    operator: int | str = 0,
    max_modes: int | None = 6,
    colorbar: bool = True,
    checkpoint: str | None = None,
) -> Axes:
    """Batch-mean energy ``⟨|z_i|²⟩`` of each mode's coordinate ``z = V⁻¹h`` along the probe (for a
    conjugate pair, the squared norm of its real plane), for the ``max_modes`` slowest modes: per
    log-spaced time bin the mean (line) and the 10–90 % range of the steps in the bin (band), on
    log-log axes. The modes are told apart by colour and named (with ``|λ|``) in a legend below
    the axes; ``colorbar`` is ignored (kept for old calls)."""
    md = _op(result, operator)
    ax = _new_ax(ax, (COLUMN_WIDTH, 3.4))
    t_len = md.energy.shape[0]
    edges = _log_bins(t_len)
    centre = np.sqrt(np.maximum(edges[:-1], 0.5) * edges[1:])
    idx = _shown(md, None)
    idx = idx[np.argsort(-np.abs(md.eigenvalues[idx]), kind="stable")][:max_modes]
    e = np.where(md.energy[:, idx] > 0, md.energy[:, idx], np.nan)  # (T, m)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN bins
        # per bin (about 40, log-spaced), all modes at once: (bins, 3, m) mean, 10 %, 90 %
        stats = np.stack(
            [
                np.vstack([np.nanmean(c, 0), *np.nanquantile(c, [0.1, 0.9], axis=0)])
                for c in np.split(e, edges[1:-1])
            ]
        )
    for j, i in enumerate(idx):
        colour = PALETTE[j % len(PALETTE)]
        ax.fill_between(centre, stats[:, 1, j], stats[:, 2, j], color=colour, alpha=0.2, lw=0,
                        gid=f"band-{i}")  # fmt: skip
        ax.plot(centre, stats[:, 0, j], lw=1.0, color=colour, gid=f"energy-{i}",
                label=f"mode {i}: |λ| = {abs(md.eigenvalues[i]):.3g}")  # fmt: skip
    ax.set_xscale("log")
    if np.isfinite(np.where(md.energy > 0, md.energy, np.nan)).any():
        ax.set_yscale("log")
    ax.set_xlabel("time step $t$ (log-spaced bins)")
    ax.set_ylabel("modal energy $\\langle|z_i|^2\\rangle$\n(batch mean; band: 10–90 % in bin)")
    if len(idx):
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize="x-small",
                  frameon=False)  # fmt: skip
    _title(ax, f"energy of the {len(idx)} slowest modes, $z = V^{{-1}}h$", result, md, checkpoint)
    return ax


def _signal_lags(curves: list[np.ndarray], floor: float = 0.02) -> int:
    """One past the last lag where any curve reaches ``floor`` × the largest value of all curves,
    plus 25 % (at least 5 lags)."""
    cs = [np.nan_to_num(np.asarray(c, float)) for c in curves if np.size(c)]
    top = max((float(c.max()) for c in cs), default=0.0)
    last = 0
    for c in cs:
        hit = np.flatnonzero(c >= floor * top) if top > 0 else np.empty(0, int)
        last = max(last, int(hit[-1]) if hit.size else 0)
    return max(5, int(np.ceil(1.25 * (last + 1))))


def memory_function(
    result: DecayResult,
    ax: Axes | None = None,
    *,
    operator: int | str = 0,
    max_modes: int | None = 4,
    colorbar: bool = True,
    checkpoint: str | None = None,
) -> Axes:
    """The network's memory function, held-out R² of ``x_{t−k}`` per lag: per input channel and per
    slowest mode (thin, own R² summed over channels) on the returned Axes, and the sum over
    channels — with the memory capacity — on its own panel beside it (a twin y axis when ``ax``
    is given). The lag axis ends where the signal does (R² below 2 % of its peak)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    own_figure = ax is None
    if ax is None:
        import matplotlib.pyplot as plt

        fig, (main, ax_sum) = plt.subplots(
            1, 2, figsize=(FULL_WIDTH * 0.8, 2.8), layout="constrained", width_ratios=(3, 2)
        )
        fig._rnndyn_shared = True  # type: ignore[attr-defined]
    else:
        main, ax_sum = ax, ax.twinx()
    md = _op(result, operator)
    handles: list[Any] = []
    curves: list[np.ndarray] = []
    if md.memory is not None:
        colour = _colours(md, ax_sum if own_figure else main, colorbar)
        idx = _shown(md, None)
        idx = idx[np.argsort(-np.abs(md.eigenvalues[idx]), kind="stable")][:max_modes]
        for i in idx:
            k = np.arange(md.memory.shape[1])
            main.plot(k, md.memory[i], lw=0.7, alpha=0.8, color=colour(i), gid=f"mode-{i}")
            curves.append(md.memory[i])
        handles.append(
            Line2D([], [], color="0.4", lw=0.7, label=f"{len(idx)} slowest modes (colour: |λ|)")
        )
    mf, chans = result.memory_function, result.memory_channels
    if mf is not None:
        many = chans is not None and chans.shape[1] > 1
        if chans is not None and many:
            for c in range(chans.shape[1]):
                (line,) = main.plot(
                    np.arange(chans.shape[0]), chans[:, c], color=PALETTE[c % len(PALETTE)],
                    lw=1.1, ls=("-", "--", "-.", ":")[c % 4], gid=f"network-c{c}",
                    label=f"network, input {c}",
                )  # fmt: skip
                handles.append(line)
                curves.append(chans[:, c])
        (line,) = ax_sum.plot(
            np.arange(mf.shape[0]), mf, color="black", lw=1.4, gid="network",
            label=f"network{', sum over inputs' if many else ''}: "
            f"MC = {result.memory_capacity:.3g}",
        )  # fmt: skip
        handles.append(line)
        curves.append(mf)
        lags = min(_signal_lags(curves), mf.shape[0])
        for a in (main, ax_sum):
            a.set_xlim(-0.5, lags - 0.5)
        ax_sum.set_ylim(bottom=0)
        ax_sum.set_ylabel("$R^2$ summed over inputs" if many else "$R^2$ of $x_{t-k}$ (network)")
        if own_figure:
            ax_sum.set_xlabel("lag $k$ (steps)")
            ax_sum.set_title("network: all hidden states", fontsize="x-small")
            main.set_title("per input and per mode", fontsize="x-small")
            main.figure.legend(handles=handles, loc="outside lower center", ncol=2,
                             fontsize="x-small", frameon=False)  # fmt: skip
        else:
            main.legend(handles=handles, loc="upper right", fontsize="x-small")
    else:
        main.text(0.5, 0.5, "no memory function\n(probe input does not vary)", ha="center",
                va="center", transform=main.transAxes, gid="empty")  # fmt: skip
        ax_sum.set_visible(False)
    for a in (main, ax_sum):
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    main.set_xlabel("lag $k$ (steps)")
    main.set_ylabel("$R^2$ of $x_{t-k}$")
    main.set_ylim(bottom=0)
    text = figure_title(
        "memory function", _ckpt(result, checkpoint), md.qualified_id, _arch(result)
    )
    if own_figure:
        main.figure.suptitle(text, fontsize="small")
    else:
        main.set_title(text, fontsize="x-small")
    return main

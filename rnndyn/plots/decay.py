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

import warnings
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from rnndyn.decay.results import DecayResult, ModeDecay
from rnndyn.plots.style import (
    COLUMN_WIDTH,
    FULL_WIDTH,
    MARKERS,
    PALETTE,
    figure_title,
    operator_label,
)

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


def effective_spectrum(
    result: DecayResult, ax: Axes | None = None, *, legend: bool = True,
    checkpoint: str | None = None,
) -> Axes:  # fmt: skip
    """Measured per-step rates against ``|λ|`` with the identity line and 95 % intervals: own
    rates (filled; only modes whose own rate was fitted) and whole-perturbation rates (hollow),
    one colour and marker per operator (named in words). Axes fitted to the data; the legend sits
    below the axes, off the data.

    Points under the identity are modes the nonlinearity (saturation) pulls inside.
    """
    from matplotlib.lines import Line2D

    ax = _new_ax(ax, (COLUMN_WIDTH, COLUMN_WIDTH + 0.6))
    values: list[np.ndarray] = []
    handles: list = []
    arch = _arch(result)
    for j, md in enumerate(result.operators):
        i = _shown(md, None)
        colour, marker = PALETTE[j % len(PALETTE)], MARKERS[j % len(MARKERS)]
        x = md.predicted_rate[i]
        for kind, y, ci, filled in (
            ("own", md.measured_rate[i], md.measured_rate_ci[i], True),
            ("whole", md._vec(md.whole_rate)[i], md._pair(md.whole_rate_ci)[i], False),
        ):
            keep = np.isfinite(y)
            err = np.vstack([np.nan_to_num(y - ci[:, 0])[keep], np.nan_to_num(ci[:, 1] - y)[keep]])
            ax.errorbar(
                x[keep],
                y[keep],
                yerr=err,
                fmt=marker,
                color=colour,
                mfc=colour if filled else "none",
                ms=3.5,
                lw=0.6,
                capsize=1.5,
                label="_nolegend_",
                gid=f"{kind}-{md.qualified_id}",
            )
            values += [x, y[keep], ci[keep].ravel()]
        handles.append(
            Line2D([], [], ls="", marker=marker, color=colour,
                   label=operator_label(md.qualified_id, arch))
        )  # fmt: skip
    v = np.concatenate(values) if values else np.array([0.0, 1.0])
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    pad = 0.06 * max(hi - lo, 0.05)
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.7, ls="--", gid="identity", label="_identity")
    if lo < 1.0 < hi:
        ax.axvline(1.0, color="0.85", lw=0.5, zorder=0)
        ax.axhline(1.0, color="0.85", lw=0.5, zorder=0)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted rate $|\\lambda|$ (per step)")
    ax.set_ylabel("measured rate (per step)")
    _title(ax, "effective spectrum: measured vs predicted decay rate", result, None, checkpoint)
    if legend:
        grey = "0.3"
        handles += [
            Line2D([], [], ls="", marker="o", color=grey, label="own rate (in the eigenspace)"),
            Line2D([], [], ls="", marker="o", mfc="none", color=grey, label="whole perturbation"),
            Line2D([], [], ls="--", color="0.4", lw=0.7, label="identity (rate = |λ|)"),
        ]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.18),
                  fontsize="x-small", frameon=False, ncol=1)  # fmt: skip
    return ax


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


def lyapunov_spectrum(
    result: DecayResult, ax: Axes | None = None, *, legend: bool = True,
    checkpoint: str | None = None,
) -> Axes:  # fmt: skip
    """Lyapunov exponents along the probe (per layer) with 95 % intervals — hollow where not
    converged — and ``ln|λ|`` of the first operator's modes for reference (open circles)."""
    ax = _new_ax(ax)
    for j, s in enumerate(result.lyapunov):
        idx = np.arange(s.exponents.shape[0])
        ci = s.ci
        err = np.vstack(
            [np.nan_to_num(s.exponents - ci[:, 0]), np.nan_to_num(ci[:, 1] - s.exponents)]
        )
        ax.errorbar(
            idx,
            s.exponents,
            yerr=err,
            fmt=MARKERS[j % len(MARKERS)],
            ms=3,
            lw=0.6,
            color=PALETTE[j % len(PALETTE)],
            label=f"layer {s.layer} {s.direction}"
            + ("" if s.converged.all() else " (not converged: hollow)"),
            gid=f"lyapunov-l{s.layer}-{s.direction}",
        )
        bad = ~s.converged
        if bad.any():  # hollow markers over the exponents whose two half-window estimates differ
            ax.plot(
                idx[bad],
                s.exponents[bad],
                ls="none",
                marker=MARKERS[j % len(MARKERS)],
                ms=3,
                mfc="white",
                color=PALETTE[j % len(PALETTE)],
                gid=f"unconverged-l{s.layer}-{s.direction}",
            )
    if result.operators:
        md = result.operators[0]
        with np.errstate(divide="ignore"):
            ref = np.sort(np.log(np.abs(md.eigenvalues)))[::-1]
        ax.plot(
            np.arange(ref.shape[0]),
            ref,
            ls="none",
            marker="o",
            mfc="none",
            color="0.4",
            ms=3.5,
            label=f"ln|λ| of {operator_label(md.qualified_id, _arch(result))}",
            gid="log-modulus",
        )
    ax.axhline(0.0, color="0.6", lw=0.6, ls="--", gid="zero")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("exponent index (largest first)")
    ax.set_ylabel("exponent (nats / step)")
    _title(ax, "Lyapunov spectrum along the probe", result, None, checkpoint)
    if legend:  # outside the axes, so it never covers points
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize="x-small", frameon=False
        )
    return ax

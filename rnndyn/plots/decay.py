"""Decay figures: predicted vs measured decay per mode (own amplitude and whole perturbation), the
fraction of each perturbation left in its mode's eigenspace (leakage), the effective spectrum, modal
energy, memory functions and the Lyapunov spectrum. Drawing only; each takes a ``DecayResult`` and
``ax=None``.

Modes are coloured by ``|λ|`` (viridis, with a colour bar); a conjugate pair is drawn once.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize

from rnndyn.decay.results import DecayResult, ModeDecay
from rnndyn.plots.style import COLUMN_WIDTH, MARKERS, PALETTE

CMAP = "viridis"


def _new_ax(ax: Axes | None, size: tuple[float, float] = (COLUMN_WIDTH, 3.0)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _op(result: DecayResult | ModeDecay, operator: int | str) -> ModeDecay:
    return result if isinstance(result, ModeDecay) else result[operator]


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
) -> Axes:
    """Per mode: the own amplitude in the mode's eigenspace (solid over the fitted steps, dotted
    elsewhere), predicted ``|λ|^k`` (dashed) and, thin, the norm of the whole perturbation; log scale
    (clipped at ``1e-10`` of the start)."""
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
    curves = md.measured_curve[shown]
    low = np.nanmin(np.where(curves > 0, curves, np.nan)) if shown.size else 1.0
    ax.set_ylim(bottom=max(float(np.nan_to_num(low, nan=1.0)), 1e-10) / 2)
    ax.set_xlabel("steps $k$ after the perturbation")
    ax.set_ylabel("amplitude (relative)")
    ax.set_title(f"{md.qualified_id}: decay of a perturbation along each mode", fontsize="small")
    _line_style_legend(ax, whole=whole and md.norm_curve is not None, outside=own_figure)
    return ax


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


def eigenspace_fraction(
    result: DecayResult | ModeDecay,
    ax: Axes | None = None,
    *,
    operator: int | str = 0,
    max_modes: int | None = 16,
    colorbar: bool = True,
) -> Axes:
    """Leakage: per mode, the fraction of the perturbation still in its eigenspace at each lag,
    with the 0.5 line below which no own rate is fitted."""
    md = _op(result, operator)
    ax = _new_ax(ax)
    colour = _colours(md, ax, colorbar)
    k = np.arange(md.steps + 1)
    for i in _shown(md, max_modes):
        ax.plot(k, md.eigenspace_fraction[i], lw=0.9, color=colour(i), gid=f"eigenspace-{i}")
    ax.axhline(0.5, color="0.5", lw=0.6, ls="--", gid="purity")
    ax.set_ylim(0, max(1.05, float(np.nanmax(md.eigenspace_fraction, initial=1.0)) * 1.02))
    ax.set_xlabel("steps $k$ after the perturbation")
    ax.set_ylabel("fraction in the mode's eigenspace")
    ax.set_title(f"{md.qualified_id}: leakage out of each mode", fontsize="small")
    return ax


def effective_spectrum(result: DecayResult, ax: Axes | None = None, *, legend: bool = True) -> Axes:
    """Measured per-step rates against ``|λ|`` with the identity line and 95 % intervals: own
    rates (filled; only modes whose own rate was fitted) and whole-perturbation rates (hollow).

    Points under the identity are modes the nonlinearity (saturation) pulls inside.
    """
    ax = _new_ax(ax, (COLUMN_WIDTH, COLUMN_WIDTH))
    top = 0.0
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
                label=f"{md.qualified_id} {kind}",
                gid=f"{kind}-{md.qualified_id}",
            )
            top = max(top, float(np.nanmax(np.concatenate([x, y, ci[:, 1]]), initial=0.0)))
    top = max(top * 1.05, 1.05)
    ax.plot([0, top], [0, top], color="0.4", lw=0.7, ls="--", gid="identity", label="_identity")
    ax.axvline(1.0, color="0.85", lw=0.5, zorder=0)
    ax.axhline(1.0, color="0.85", lw=0.5, zorder=0)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted rate $|\\lambda|$ (per step)")
    ax.set_ylabel("measured rate (per step)")
    if legend:
        ax.legend(loc="upper left", fontsize="x-small")
    return ax


def modal_energy(
    result: DecayResult | ModeDecay,
    ax: Axes | None = None,
    *,
    operator: int | str = 0,
    max_modes: int | None = 16,
    colorbar: bool = True,
) -> Axes:
    """Batch-mean energy ``⟨|z_i|²⟩`` of each mode's coordinate ``z = V⁻¹h`` along the probe (for a
    conjugate pair, the squared norm of its real plane), log scale."""
    md = _op(result, operator)
    ax = _new_ax(ax)
    colour = _colours(md, ax, colorbar)
    t = np.arange(md.energy.shape[0])
    for i in _shown(md, max_modes):
        e = np.where(md.energy[:, i] > 0, md.energy[:, i], np.nan)
        ax.plot(t, e, lw=0.8, color=colour(i), gid=f"energy-{i}")
    if np.isfinite(np.where(md.energy > 0, md.energy, np.nan)).any():
        ax.set_yscale("log")
    ax.set_xlabel("time step $t$")
    ax.set_ylabel("modal energy $\\langle|z_i|^2\\rangle$ (state units², batch mean)")
    ax.set_title(f"{md.qualified_id}: energy of each mode, $z = V^{{-1}}h$", fontsize="small")
    return ax


def memory_function(
    result: DecayResult,
    ax: Axes | None = None,
    *,
    operator: int | str = 0,
    max_modes: int | None = 8,
    colorbar: bool = True,
) -> Axes:
    """The network's memory function: held-out R² of ``x_{t−k}`` per lag — one curve per input
    channel when there are several, plus their sum (black) — and, thin, each top mode's own R²
    (summed over channels, so it is compared with the black curve)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    own_figure = ax is None
    ax = _new_ax(ax)
    md = _op(result, operator)
    handles: list = []
    if md.memory is not None:
        colour = _colours(md, ax, colorbar)
        for i in _shown(md, max_modes):
            k = np.arange(md.memory.shape[1])
            ax.plot(k, md.memory[i], lw=0.7, alpha=0.8, color=colour(i), gid=f"mode-{i}")
        handles.append(Line2D([], [], color="0.4", lw=0.7, label="one mode (colour: $|\\lambda|$)"))
    if result.memory_function is not None:
        mf, chans = result.memory_function, result.memory_channels
        if chans is not None and chans.shape[1] > 1:
            for c in range(chans.shape[1]):
                (line,) = ax.plot(
                    np.arange(chans.shape[0]),
                    chans[:, c],
                    color=PALETTE[c % len(PALETTE)],
                    lw=1.1,
                    ls=("-", "--", "-.", ":")[c % 4],
                    gid=f"network-c{c}",
                    label=f"network, input {c}",
                )
                handles.append(line)
        total = "sum over inputs, " if chans is not None and chans.shape[1] > 1 else ""
        (line,) = ax.plot(
            np.arange(mf.shape[0]),
            mf,
            color="black",
            lw=1.4,
            gid="network",
            label=f"network, {total}MC = {result.memory_capacity:.3g}",
        )
        handles.append(line)
        if own_figure:
            ax.figure.legend(
                handles=handles,
                loc="outside lower center",
                ncol=2,
                fontsize="x-small",
                frameon=False,
            )
        else:
            ax.legend(handles=handles, loc="upper right", fontsize="x-small")
    else:
        ax.text(
            0.5,
            0.5,
            "no memory function\n(probe input does not vary)",
            ha="center",
            va="center",
            transform=ax.transAxes,
            gid="empty",
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("lag $k$ (steps)")
    many = result.memory_channels is not None and result.memory_channels.shape[1] > 1
    ax.set_ylabel("$R^2$ of $x_{t-k}$" + (" (per input; black: sum)" if many else ""))
    ax.set_ylim(bottom=0)
    return ax


def lyapunov_spectrum(result: DecayResult, ax: Axes | None = None, *, legend: bool = True) -> Axes:
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
            label=f"ln|λ| of {md.qualified_id}",
            gid="log-modulus",
        )
    ax.axhline(0.0, color="0.6", lw=0.6, ls="--", gid="zero")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("exponent index (largest first)")
    ax.set_ylabel("exponent (nats / step)")
    if legend:  # outside the axes, so it never covers points
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize="x-small", frameon=False
        )
    return ax

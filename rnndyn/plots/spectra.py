"""Spectrum figures: eigenvalues in the complex plane, |λ| histograms and timescale spectra.

Eigenvalues are discrete-time (per step). Single-panel functions take ``ax=None`` and return the
Axes; the ``*_grid`` functions draw one panel per (module, layer, direction) and return the Figure.
Gates are told apart by colour, marker and line style (``rnndyn.plots.style.gate_style``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from rnndyn.plots._legend import legend_columns
from rnndyn.plots.style import (
    COLUMN_WIDTH,
    FULL_WIDTH,
    GATE_ORDER,
    GREY,
    gate_name,
    gate_style,
    panel_title,
    scatter_style,
)
from rnndyn.spectrum import OperatorSpectrum, Spectrum

__all__ = [
    "modulus_histogram",
    "modulus_histogram_grid",
    "spectrum",
    "spectrum_grid",
    "timescale_spectrum",
    "timescale_spectrum_grid",
]

Panel = tuple[str, str, int, str, str]  # (module, arch, layer, direction, role)
GATED = ("lstm", "gru")
DYNAMICS, WEIGHTS = "dynamics", "weights"  # a Jacobian's panel; the weight matrices' panel
BAND = (0.88, 1.0)  # axes-fraction y range of the "|λ| ≥ 1" band on timescale plots
UNIT_LABEL = "|λ| = 1 (unit circle)"


def _new_ax(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _as_list(
    spec: Spectrum | OperatorSpectrum | Iterable[OperatorSpectrum],
) -> list[OperatorSpectrum]:
    return [spec] if isinstance(spec, OperatorSpectrum) else list(spec)


def _panel(s: OperatorSpectrum) -> Panel:
    """The panel an operator is drawn in: the state Jacobians (``jac``/``jacfp``: the operators
    that set the dynamics) get their own panel, apart from the weight matrices."""
    role = DYNAMICS if s.gate in ("jac", "jacfp") else WEIGHTS
    return (s.module, s.arch, s.layer, s.direction, role)


def _role_words(panel: Panel) -> str:
    """What a panel holds: the state Jacobian (the dynamics), gate weight blocks, or ``""``."""
    if panel[4] == DYNAMICS:
        return "state Jacobian: sets the dynamics"
    return "gate weight blocks (weight-matrix properties)" if panel[1] in GATED else ""


def _gate(s: OperatorSpectrum) -> str:
    """The gate key for styling: ``jacfp`` (the fixed-point Jacobian) apart from ``jac``."""
    return "jacfp" if s.id.endswith(".jacfp") else s.gate


def _by_gate(ops: list[OperatorSpectrum]) -> dict[tuple[Panel, str], list[OperatorSpectrum]]:
    """Operators grouped by (panel, gate), panels in input order, gates in canonical order."""
    groups: dict[tuple[Panel, str], list[OperatorSpectrum]] = {}
    for s in ops:
        groups.setdefault((_panel(s), _gate(s)), []).append(s)
    panels = list(dict.fromkeys(p for p, _ in groups))
    order = {g: i for i, g in enumerate(GATE_ORDER)}
    return dict(
        sorted(groups.items(), key=lambda kv: (panels.index(kv[0][0]), order.get(kv[0][1], 99)))
    )


def _label(panel: Panel, gate: str, multi: bool) -> str:
    name = gate_name(gate)
    return f"{panel_title(panel[1], panel[0], panel[2], panel[3])}: {name}" if multi else name


def spectrum(
    spec: Spectrum | OperatorSpectrum | Sequence[OperatorSpectrum],
    ax: Axes | None = None,
    *,
    sizes: np.ndarray | None = None,
    zoom: tuple[float, float, float, float] | None = None,
    legend: bool = True,
) -> Axes:
    """Eigenvalues in the complex plane with the unit circle; one colour and marker per gate.

    Marker size and alpha shrink with the number of points. ``sizes`` (one per eigenvalue, in
    input order) overrides the size; ``zoom=(x0, x1, y0, y1)`` restricts the view to a cluster.
    Operators from several (module, layer, direction) are labelled with it.
    """
    ax = _new_ax(ax, (COLUMN_WIDTH * 1.5, COLUMN_WIDTH))  # room for the legend on the right
    ops = _as_list(spec)
    t = np.linspace(0, 2 * np.pi, 721)
    ax.plot(np.cos(t), np.sin(t), color=GREY, lw=0.7, ls="--", label=UNIT_LABEL, gid="unit-circle")
    ax.axhline(0, color="0.88", lw=0.5, zorder=0)
    ax.axvline(0, color="0.88", lw=0.5, zorder=0)
    groups = _by_gate(ops)
    multi = len({p[:4] for p, _ in groups}) > 1
    dot = scatter_style(sum(s.n for s in ops))
    starts = np.cumsum([0] + [s.n for s in ops])
    for (panel, gate), members in groups.items():
        ev = np.concatenate([s.eigenvalues for s in members])
        if sizes is None:
            size: float | np.ndarray = dot["s"]
        else:
            idx = [ops.index(s) for s in members]
            size = np.concatenate([np.asarray(sizes)[starts[i] : starts[i + 1]] for i in idx])
        st = gate_style(gate)
        ax.scatter(
            ev.real,
            ev.imag,
            s=size,
            c=st["color"],
            marker=st["marker"],
            linewidths=0.25,
            edgecolors="white",
            alpha=dot["alpha"],
            label=_label(panel, gate, multi),
            gid=f"eig-{members[0].qualified_id}",
        )
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re λ (discrete time)")
    ax.set_ylabel("Im λ")
    if zoom is not None:
        ax.set_xlim(zoom[0], zoom[1])
        ax.set_ylim(zoom[2], zoom[3])
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), handletextpad=0.2, markerscale=1.5)
    return ax


def modulus_histogram(
    spec: Spectrum | OperatorSpectrum | Sequence[OperatorSpectrum],
    ax: Axes | None = None,
    *,
    bins: int = 40,
    legend: bool = True,
) -> Axes:
    """Histogram of |λ| per gate (step outlines in the gate's colour and line style); |λ| = 1 marked."""
    ax = _new_ax(ax, (COLUMN_WIDTH * 1.6, COLUMN_WIDTH * 0.7))
    groups = _by_gate(_as_list(spec))
    multi = len({p[:4] for p, _ in groups}) > 1
    allmod = np.concatenate([s.moduli for g in groups.values() for s in g])
    edges = np.linspace(0, max(1.05, float(allmod.max()) * 1.02), bins + 1)
    for (panel, gate), members in groups.items():
        st = gate_style(gate)
        ax.hist(
            np.concatenate([s.moduli for s in members]),
            bins=list(edges),
            histtype="step",
            color=st["color"],
            linestyle=st["linestyle"],
            lw=1.1,
            label=_label(panel, gate, multi),
            gid=f"hist-{members[0].qualified_id}",
        )
    ax.axvline(1.0, color=GREY, lw=0.7, ls="--", gid="unit-modulus", label="|λ| = 1")
    ax.set_xlabel("|λ| (discrete time, per step)")
    ax.set_ylabel("eigenvalues per bin")
    ax.set_xlim(0, edges[-1])
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def _band_count(ops: Iterable[OperatorSpectrum]) -> int:
    """Modes on or outside the unit circle within their error bound (no finite timescale)."""
    return int(sum(int((s.unit_circle != "inside").sum()) for s in ops))


def timescale_spectrum(
    spec: Spectrum | OperatorSpectrum | Sequence[OperatorSpectrum],
    ax: Axes | None = None,
    *,
    legend: bool = True,
) -> Axes:
    """Timescales ``τ = −1/ln|λ|`` (steps) by rank, slowest first, log–log, per gate.

    Modes on or outside the unit circle (``|λ| ≥ 1 − bound``, the error bound the stored precision
    allows) have no finite timescale: they are drawn as markers in a grey band at the top (ranks
    ``1..k`` of their gate), never at an invented height; the legend counts them.
    """
    from matplotlib.patches import Patch, Rectangle

    ax = _new_ax(ax, (COLUMN_WIDTH * 1.6, COLUMN_WIDTH * 0.7))
    groups = _by_gate(_as_list(spec))
    multi = len({p[:4] for p, _ in groups}) > 1
    rows = np.linspace(BAND[0] + 0.025, BAND[1] - 0.025, max(len(groups), 1))
    finite = [
        _timescale_line(ax, members, _label(panel, gate, multi), gate, row)
        for row, ((panel, gate), members) in zip(rows, groups.items(), strict=False)
    ]
    band = Rectangle((0, BAND[0]), 1, BAND[1] - BAND[0], transform=ax.transAxes, color="0.92")
    band.set(lw=0, zorder=0, gid="no-decay-band")
    ax.add_patch(band)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(0.8, max([1, *(sum(s.n for s in g) for g in groups.values())]) * 1.25)
    tau = np.concatenate(finite) if finite else np.array([])
    lo, hi = (np.log10(tau.min()), np.log10(tau.max())) if tau.size else (0.0, 1.0)
    lo, hi = lo - 0.15, max(hi, lo + 0.3) + 0.15
    top = lo + (hi - lo) / (BAND[0] - 0.03)
    ax.set_ylim(10**lo, 10**top)
    _ticks_below_band(ax, lo, lo + BAND[0] * (top - lo))
    ax.set_xlabel("mode rank (1 = slowest)")
    ax.set_ylabel("timescale τ = −1/ln|λ| (steps)")
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        k = _band_count(s for g in groups.values() for s in g)
        handles.append(Patch(color="0.92", label="_"))
        labels.append(f"|λ| ≥ 1 − bound: no finite timescale (n = {k})")
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def _timescale_line(
    ax: Axes, members: list[OperatorSpectrum], label: str, gate: str, row: float
) -> np.ndarray:
    """One gate's finite timescales by rank, and its ``|λ| ≥ 1`` modes at height ``row`` (axes
    fraction, inside the band); returns the finite positive timescales drawn."""
    from matplotlib.transforms import blended_transform_factory

    tau = np.sort(np.concatenate([s.timescales for s in members]))[::-1]
    rank = np.arange(1, tau.size + 1)
    st = gate_style(gate)
    ok = np.isfinite(tau) & (tau > 0)
    kw = {"color": st["color"], "marker": st["marker"], "ms": 2.8}
    ax.plot(
        rank[ok],
        tau[ok],
        ls=st["linestyle"],
        markevery=1 if ok.sum() <= 40 else max(1, int(ok.sum()) // 16),
        label=label,
        gid=f"timescales-{members[0].qualified_id}",
        **kw,
    )
    inf = ~np.isfinite(tau)
    if inf.any():
        ax.plot(
            rank[inf],
            np.full(int(inf.sum()), row),
            ls="none",
            transform=blended_transform_factory(ax.transData, ax.transAxes),
            clip_on=False,
            gid=f"no-decay-{members[0].qualified_id}",
            **kw,
        )
    return tau[ok]


def _ticks_below_band(ax: Axes, lo: float, band: float) -> None:
    """Log ticks (decades, and 2–9 × decade as minor) only below the band: none inside it."""
    decades = np.arange(np.floor(lo), np.ceil(band) + 1)
    major = 10.0**decades
    minor = (np.arange(2, 10)[:, None] * major[None, :]).ravel()
    ax.set_yticks(major[(major >= 10**lo) & (major <= 10**band)])
    ax.set_yticks(minor[(minor >= 10**lo) & (minor <= 10**band)], minor=True)
    ax.yaxis.set_minor_formatter(NullFormatter())


def _grid(
    spec: Spectrum | Sequence[OperatorSpectrum],
    draw: Callable[[list[OperatorSpectrum], Axes], object],
    *,
    what: str,
    checkpoint: str | None,
    fig: Figure | None,
    square: bool,
    note: Callable[[list[OperatorSpectrum]], str] | None = None,
    extra: tuple[object, str] | None = None,
) -> Figure:
    panels: dict[Panel, list[OperatorSpectrum]] = {}
    for s in _as_list(spec):
        panels.setdefault(_panel(s), []).append(s)
    ncol = 2 if len(panels) == 4 else min(len(panels), 3)
    nrow = -(-len(panels) // ncol)
    width = COLUMN_WIDTH if ncol == 1 else FULL_WIDTH
    aspect = 1.0 if square else 0.72
    size = (width, width / ncol * aspect * nrow + 0.6)
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    reverse = any(p[3] != "forward" for p in panels)
    for ax, (panel, ops) in zip(axes, panels.items(), strict=False):
        draw(ops, ax)
        title = panel_title(panel[1], panel[0], panel[2], panel[3])
        if reverse and panel[3] == "forward":
            title += ", forward"
        role = _role_words(panel)
        title += f": {role}" if role else ""
        ax.set_title(title + (f"\n{note(ops)}" if note else ""))
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in axes[: len(panels)]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if extra is not None:
        handles.append(extra[0])
        labels.append(extra[1])
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("|λ|"))  # gates first
    if labels:
        fig.legend(
            [handles[i] for i in order],
            [labels[i] for i in order],
            loc="outside lower center",
            ncols=legend_columns(fig, labels, 4),
            markerscale=1.6 if square else 1.0,
        )
    if any(p[1] in GATED and p[4] == WEIGHTS for p in panels):
        what += "\ngate blocks of weight_hh describe the weight matrices, not the memory"
        if any(p[4] == DYNAMICS for p in panels):
            what += "; the state Jacobian's panel shows the dynamics"
    fig.suptitle(f"{checkpoint}: {what}" if checkpoint else what)
    return fig


def spectrum_grid(
    spec: Spectrum | Sequence[OperatorSpectrum],
    *,
    checkpoint: str | None = None,
    title: str | None = None,
    fig: Figure | None = None,
) -> Figure:
    """One complex-plane panel per (module, layer, direction); gates by colour and marker."""
    return _grid(
        spec,
        lambda ops, ax: spectrum(ops, ax=ax, legend=False),
        what=title or "eigenvalues λ of the recurrent operators (discrete time)",
        checkpoint=checkpoint,
        fig=fig,
        square=True,
    )


def modulus_histogram_grid(
    spec: Spectrum | Sequence[OperatorSpectrum],
    *,
    checkpoint: str | None = None,
    bins: int = 40,
    fig: Figure | None = None,
) -> Figure:
    """One |λ| histogram panel per (module, layer, direction)."""
    return _grid(
        spec,
        lambda ops, ax: modulus_histogram(ops, ax=ax, bins=bins, legend=False),
        what="moduli |λ| (discrete time)",
        checkpoint=checkpoint,
        fig=fig,
        square=False,
    )


def timescale_spectrum_grid(
    spec: Spectrum | Sequence[OperatorSpectrum],
    *,
    checkpoint: str | None = None,
    fig: Figure | None = None,
) -> Figure:
    """One timescale panel per (module, layer, direction); titles count the modes on or outside
    the unit circle within their error bound."""
    from matplotlib.patches import Patch

    return _grid(
        spec,
        lambda ops, ax: timescale_spectrum(ops, ax=ax, legend=False),
        what="timescales τ = −1/ln|λ| (steps)",
        checkpoint=checkpoint,
        fig=fig,
        square=False,
        note=lambda ops: (
            f"{_band_count(ops)} of {sum(s.n for s in ops)} modes with |λ| ≥ 1 − bound"
        ),
        extra=(Patch(color="0.92"), "grey band: |λ| ≥ 1 within the error bound, no finite τ"),
    )

"""Spectrum figures: eigenvalues in the complex plane, |λ| histograms and timescale spectra."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnndyn.plots.style import COLUMN_WIDTH, FULL_WIDTH, MARKERS, PALETTE
from rnndyn.spectrum import OperatorSpectrum, Spectrum

GATE_ORDER = ("hh", "i", "f", "g", "o", "r", "z", "n", "jac")
# colour/marker slot per gate: gates of one architecture get the first, most distinct slots
GATE_SLOT = {"hh": 0, "i": 0, "f": 1, "g": 2, "o": 3, "r": 0, "z": 1, "n": 2, "jac": 4}
GATE_NAMES = {
    "hh": "$W_{hh}$",
    "i": "input gate i",
    "f": "forget gate f",
    "g": "cell g",
    "o": "output gate o",
    "r": "reset gate r",
    "z": "update gate z",
    "n": "candidate n",
    "jac": "Jacobian",
}


def _gate_style(gate: str | None) -> dict:
    k = GATE_SLOT.get(gate or "hh", 5)
    return {"color": PALETTE[k % len(PALETTE)], "marker": MARKERS[k % len(MARKERS)]}


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


def spectrum(
    spec: Spectrum | OperatorSpectrum | Sequence[OperatorSpectrum],
    ax: Axes | None = None,
    *,
    sizes: np.ndarray | None = None,
    zoom: tuple[float, float, float, float] | None = None,
    legend: bool = True,
) -> Axes:
    """Eigenvalues in the complex plane with the unit circle; one colour and marker per gate.

    Conjugate pairs share their gate's colour. ``sizes`` (one per plotted eigenvalue, e.g. a mode's
    importance) scales the markers; ``zoom=(x0, x1, y0, y1)`` restricts the view to a cluster.
    """
    ax = _new_ax(ax, (COLUMN_WIDTH, COLUMN_WIDTH))
    t = np.linspace(0, 2 * np.pi, 721)
    ax.plot(
        np.cos(t), np.sin(t), color="0.45", lw=0.7, ls="--", label="_unit circle", gid="unit-circle"
    )
    ax.axhline(0, color="0.85", lw=0.5, zorder=0)
    ax.axvline(0, color="0.85", lw=0.5, zorder=0)
    offset = 0
    seen: set[str] = set()
    for s in _as_list(spec):
        gate = s.gate or "hh"
        ev = s.eigenvalues
        size = None if sizes is None else np.asarray(sizes)[offset : offset + len(ev)]
        offset += len(ev)
        label = GATE_NAMES.get(gate, gate) if gate not in seen else "_" + gate
        seen.add(gate)
        st = _gate_style(gate)
        ax.scatter(
            ev.real,
            ev.imag,
            s=size if size is not None else 9,
            c=st["color"],
            marker=st["marker"],
            linewidths=0.3,
            edgecolors="white",
            alpha=0.85,
            label=label,
            gid=f"eig-{s.qualified_id}",
        )
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    if zoom is not None:
        ax.set_xlim(zoom[0], zoom[1])
        ax.set_ylim(zoom[2], zoom[3])
    if legend and len(seen) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), handletextpad=0.2, markerscale=1.5)
    return ax


def _panels(spec: Spectrum) -> dict[tuple[str, int, str], list[OperatorSpectrum]]:
    panels: dict[tuple[str, int, str], list[OperatorSpectrum]] = {}
    for s in spec:
        panels.setdefault((s.module, s.layer, s.direction), []).append(s)
    return panels


def spectrum_grid(spec: Spectrum, *, title: str | None = None) -> Figure:
    """One complex-plane panel per (module, layer, direction); gates by colour and marker."""
    import matplotlib.pyplot as plt

    panels = _panels(spec)
    ncol = 2 if len(panels) == 4 else min(len(panels), 3)
    nrow = int(np.ceil(len(panels) / ncol))
    width = COLUMN_WIDTH if ncol == 1 else FULL_WIDTH
    fig, axes = plt.subplots(
        nrow,
        ncol,
        figsize=(width, width / ncol * nrow * 1.02 + 0.3),
        squeeze=False,
        layout="constrained",
    )
    for ax, ((module, layer, direction), ops) in zip(axes.flat, panels.items(), strict=False):
        spectrum(ops, ax=ax, legend=False)
        name = f"{module} " if module else ""
        ax.set_title(f"{name}layer {layer}, {direction}")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if len(labels) > 1:
        fig.legend(
            handles, labels, loc="outside lower center", ncols=min(len(labels), 4), markerscale=1.5
        )
    if title:
        fig.suptitle(title)
    return fig


def modulus_histogram(
    spec: Spectrum | Sequence[OperatorSpectrum], ax: Axes | None = None, *, bins: int = 40
) -> Axes:
    """Histogram of |λ| per gate (step outlines, told apart by colour and line style); line at |λ| = 1."""
    from rnndyn.plots.style import LINESTYLES

    ax = _new_ax(ax, (COLUMN_WIDTH, COLUMN_WIDTH * 0.7))
    by_gate: dict[str, list[np.ndarray]] = {}
    for s in _as_list(spec):
        by_gate.setdefault(s.gate or "hh", []).append(s.moduli)
    allmod = np.concatenate([np.concatenate(v) for v in by_gate.values()])
    edges = np.linspace(0, max(1.05, float(allmod.max()) * 1.02), bins + 1)
    for gate in sorted(by_gate, key=GATE_ORDER.index):
        k = GATE_SLOT.get(gate, 5)
        ax.hist(
            np.concatenate(by_gate[gate]),
            bins=edges,
            histtype="step",
            color=PALETTE[k % len(PALETTE)],
            linestyle=LINESTYLES[k % len(LINESTYLES)],
            label=GATE_NAMES.get(gate, gate),
        )
    ax.axvline(1.0, color="0.3", lw=0.7, ls=":", gid="unit-modulus")
    ax.set_xlabel("|λ| (per step)")
    ax.set_ylabel("count")
    if len(by_gate) > 1:
        ax.legend()
    return ax


def timescale_spectrum(spec: Spectrum | Sequence[OperatorSpectrum], ax: Axes | None = None) -> Axes:
    """Timescales ``-1/ln|λ|`` (steps) in rank order per gate, log scale; ``|λ| ≥ 1`` marked at the top."""
    from rnndyn.plots.style import LINESTYLES

    ax = _new_ax(ax, (COLUMN_WIDTH, COLUMN_WIDTH * 0.7))
    by_gate: dict[str, list[np.ndarray]] = {}
    for s in _as_list(spec):
        by_gate.setdefault(s.gate or "hh", []).append(s.timescales)
    finite_max = 1.0
    for v in by_gate.values():
        tau = np.concatenate(v)
        if np.isfinite(tau).any():
            finite_max = max(finite_max, float(tau[np.isfinite(tau)].max()))
    cap = finite_max * 3
    for gate in sorted(by_gate, key=GATE_ORDER.index):
        k = GATE_SLOT.get(gate, 5)
        tau = np.sort(np.concatenate(by_gate[gate]))[::-1]
        rank = np.arange(1, len(tau) + 1)
        ax.plot(
            rank,
            np.minimum(tau, cap),
            color=PALETTE[k % len(PALETTE)],
            ls=LINESTYLES[k % len(LINESTYLES)],
            marker=MARKERS[k % len(MARKERS)],
            markevery=max(1, len(tau) // 12),
            label=GATE_NAMES.get(gate, gate),
        )
    ax.axhline(cap, color="0.6", lw=0.5, ls=":")
    ax.annotate(
        "|λ| ≥ 1 (no decay)",
        (1, cap),
        xytext=(2, 2),
        textcoords="offset points",
        fontsize=6,
        color="0.4",
    )
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("mode rank")
    ax.set_ylabel("timescale −1/ln|λ| (steps)")
    if len(by_gate) > 1:
        ax.legend()
    return ax

"""Figures of the eigen law: radius and phase densities per target, the trained eigenvalues the
law was fitted to, and a sampled spectrum.

Targets keep their gate's colour, marker and line style (the same as in ``analyze``). Targets
whose laws are identical are drawn once, with a joint label, so no line hides another. The
trained eigenvalues come from ``data`` (``{target: complex eigenvalues}``, e.g.
``EigenInitFitter.eigenvalues_``) or from the histograms the fitter records in the law file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnndyn.init.law import Dist, EigenInitParams
from rnndyn.plots.style import (
    COLUMN_WIDTH,
    FULL_WIDTH,
    GREY,
    gate_name,
    gate_style,
    scatter_style,
    style_legend,
)

__all__ = ["law_overview", "phase_law", "radius_law", "sampled_spectrum"]

ARCH_OF = {"hh": "rnn", "i": "lstm", "f": "lstm", "g": "lstm", "o": "lstm"}
ARCH_OF |= {"r": "gru", "z": "gru", "n": "gru", "*": "any"}
ROW_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "any": "any gate (*)"}
WHAT = {
    "radius": "|λ| of complex pairs",
    "real_radius": "|λ| of real eigenvalues",
    "phase": "pair phase θ = |arg λ|",
}
NOT_RECORDED = (
    "This law file does not record the trained eigenvalues it was fitted to (no histograms in "
    "its diagnostics): refit it with this rnndyn, or pass data= to see them."
)
LAW_LW, DATA_LW = 1.7, 0.7


def _new_ax(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(COLUMN_WIDTH * 1.45, COLUMN_WIDTH * 0.75), layout="constrained")
    return ax


def _dist(params: EigenInitParams, t: str, which: str) -> Dist | None:
    law = params.targets[t]
    return law.real_radius if which == "real_radius" else getattr(law, which)


def _same(a: Dist, b: Dist) -> bool:
    if a.family != b.family or set(a.params) != set(b.params):
        return False
    for k in a.params:
        x, y = np.ravel(np.asarray(a.params[k], float)), np.ravel(np.asarray(b.params[k], float))
        if x.shape != y.shape or not np.allclose(x, y, rtol=1e-9, atol=0.0):
            return False
    return True


def _merged(params: EigenInitParams, targets: Sequence[str], which: str) -> list[list[str]]:
    """Targets grouped by identical law (in target order); targets without this law left out."""
    groups: list[list[str]] = []
    for t in targets:
        d = _dist(params, t, which)
        if d is None:
            continue
        hit = next((g for g in groups if _same(_dist(params, g[0], which), d)), None)  # type: ignore[arg-type]
        hit.append(t) if hit is not None else groups.append([t])
    return groups


def _trained(
    params: EigenInitParams, data: Mapping[str, np.ndarray] | None, t: str, which: str
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(edges, density, n) of the trained eigenvalues behind one law, if known."""
    if data is not None and t in data:
        w = np.asarray(data[t])
        real = np.abs(w.imag) <= 1e-10 * np.maximum(1.0, np.abs(w))
        separate = params.targets[t].real_radius is not None
        x = {
            "radius": np.abs(w[~real & (w.imag > 0)])
            if separate
            else np.abs(w[real | (w.imag > 0)]),
            "real_radius": np.abs(w[real]),
            "phase": np.abs(np.angle(w[~real & (w.imag > 0)])),
        }[which]
        if x.size == 0:
            return None
        span = (0.0, np.pi) if which == "phase" else None
        counts, edges = np.histogram(x, bins=30, range=span)
    else:
        rec = ((params.diagnostics or {}).get(t) or {}).get("histograms", {}).get(which)
        if not rec:
            return None
        counts, edges = np.asarray(rec["counts"], float), np.asarray(rec["edges"], float)
    counts, edges = _coarsen(counts, edges)
    n = int(counts.sum())
    return edges, counts / max(n, 1) / np.diff(edges), n


def _coarsen(counts: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge adjacent bins to about √n bins (≥ 6), so small samples do not look like spikes."""
    want = int(np.clip(np.sqrt(counts.sum()), 6, counts.size))
    f = next(f for f in range(max(1, counts.size // want), counts.size + 1) if counts.size % f == 0)
    return counts.reshape(-1, f).sum(axis=1), edges[::f]


def _draw_law(
    ax: Axes, dist: Dist, x: np.ndarray, group: Sequence[str], label: str, gid: str
) -> float:
    """One fitted law (a stem for a point mass); returns a robust height for the y-limit.

    A law shared by several targets is one line striped in their colours (no line hides another).
    """
    st = gate_style(group[0])
    if dist.family == "point":
        v = dist.params["value"]
        ax.axvline(v, ymax=0.85, marker=st["marker"], markevery=[1], gid=gid, label=label,
                   color=st["color"], linestyle=st["linestyle"], lw=LAW_LW)  # fmt: skip
        return 0.0
    y = dist.pdf(x)
    k, dash = len(group), 4.0
    for j, t in enumerate(group):
        ls = st["linestyle"] if k == 1 else (j * dash, (dash, (k - 1) * dash))
        ax.plot(x, y, color=gate_style(t)["color"], ls=ls, lw=LAW_LW,
                label=label if j == 0 else "_", gid=gid if j == 0 else f"{gid}-{t}")  # fmt: skip
    finite = y[np.isfinite(y)]
    return float(np.percentile(finite, 98)) if finite.size else 0.0


def _density_panel(
    params: EigenInitParams,
    which: str,
    ax: Axes | None,
    targets: Sequence[str] | None,
    data: Mapping[str, np.ndarray] | None,
    legend: bool,
) -> Axes:
    ax = _new_ax(ax)
    targets = [t for t in (targets or params.targets) if t in params.targets]
    top = np.pi if which == "phase" else _radius_top(params, targets)
    x = np.linspace(0.0, top, 801)
    heights, n_data = [0.0], 0
    for t in targets:
        hist = _trained(params, data, t, which) if _dist(params, t, which) is not None else None
        if hist is not None:
            edges, dens, n = hist
            n_data += n
            ax.stairs(dens, edges, color=gate_style(t)["color"], lw=DATA_LW, alpha=0.75,
                      gid=f"trained-{t}")  # fmt: skip
            heights.append(float(np.percentile(dens, 98)))
    for group in _merged(params, targets, which):
        label = gate_name(group[0]) if len(group) == 1 else f"{', '.join(group)}: one law"
        dist = _dist(params, group[0], which)
        assert dist is not None
        heights.append(_draw_law(ax, dist, x, group, label, f"law-{'-'.join(group)}"))
    ax.set_xlim(0, top)
    ax.set_ylim(0, 1.15 * max(heights) if max(heights) > 0 else 1.0)
    ax.set_ylabel("probability density")
    if which == "phase":
        ax.set_xticks([0, np.pi / 2, np.pi], ["0", "π/2", "π"])
        ax.set_xlabel("pair phase θ (rad)")
    else:
        split = any(params.targets[t].real_radius is not None for t in targets)
        kind = "real " if which == "real_radius" else "pair " if split else ""
        ax.set_xlabel(f"{kind}|λ| (per step)")
        if top > 1 and any(_dist(params, t, which) is not None for t in targets):
            ax.axvline(1.0, color=GREY, lw=0.6, ls="--", gid="unit-radius")
    ax._rnndyn_trained_n = n_data  # type: ignore[attr-defined]  # read by law_overview's legend
    if legend:
        _legend(ax, n_data)
    return ax


def _legend(ax: Axes, n_data: int) -> None:
    """Targets top right of the Axes, line widths explained bottom right; both outside the data."""
    entries = {"fitted law (thick)": {"lw": LAW_LW}}
    entries[
        f"trained eigenvalues, n = {n_data} (thin steps)" if n_data else "trained: not recorded"
    ] = {"lw": DATA_LW}
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    style_legend(ax, entries, loc="lower left", bbox_to_anchor=(1.01, 0.0))


def _radius_top(params: EigenInitParams, targets: Sequence[str]) -> float:
    tops = [1.0]
    for t in targets:
        for d in (params.targets[t].radius, params.targets[t].real_radius):
            if d is not None:
                tops.append(float(d.ppf(np.array([0.995]))[0]))
    return 1.05 * max(tops)


def radius_law(
    params: EigenInitParams,
    ax: Axes | None = None,
    *,
    targets: Sequence[str] | None = None,
    data: Mapping[str, np.ndarray] | None = None,
    real: bool = False,
    legend: bool = True,
) -> Axes:
    """Density of ``|λ|`` per target (point masses as stems) over the trained eigenvalues'
    histogram. ``real=True``: the law of real eigenvalues' moduli (targets that have one)."""
    return _density_panel(params, "real_radius" if real else "radius", ax, targets, data, legend)


def phase_law(
    params: EigenInitParams,
    ax: Axes | None = None,
    *,
    targets: Sequence[str] | None = None,
    data: Mapping[str, np.ndarray] | None = None,
    legend: bool = True,
) -> Axes:
    """Density of the pair phase ``θ ∈ [0, π]`` per target (``data`` as in :func:`radius_law`)."""
    return _density_panel(params, "phase", ax, targets, data, legend)


def sampled_spectrum(
    samples: Mapping[str, np.ndarray], ax: Axes | None = None, *, legend: bool = True
) -> Axes:
    """Eigenvalues drawn from the law (``{target: (n,) complex}``) with the unit circle."""
    ax = _new_ax(ax)
    t = np.linspace(0, 2 * np.pi, 721)
    ax.plot(np.cos(t), np.sin(t), color=GREY, lw=0.7, ls="--", gid="unit-circle", label="|λ| = 1")
    dot = scatter_style(sum(len(v) for v in samples.values()))
    for target, lam in samples.items():
        st = gate_style(target)
        lam = np.asarray(lam)
        ax.scatter(
            lam.real, lam.imag, s=dot["s"], marker=st["marker"], color=st["color"],
            alpha=dot["alpha"], linewidths=0, label=gate_name(target), gid=f"eigenvalues-{target}",
        )  # fmt: skip
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re λ (discrete time)")
    ax.set_ylabel("Im λ")
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=2)
    return ax


def _rows(params: EigenInitParams) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for t in params.targets:
        rows.setdefault(ARCH_OF[t], []).append(t)
    return rows


def law_overview(
    params: EigenInitParams,
    samples: Mapping[str, np.ndarray] | None = None,
    *,
    data: Mapping[str, np.ndarray] | None = None,
    source: str | None = None,
    fig: Figure | None = None,
) -> Figure:
    """One row per architecture in the law: pair |λ|, real |λ| (when any target has its own law),
    pair phase and (when given) a sampled spectrum; trained-eigenvalue histograms behind."""
    rows = _rows(params)
    real = any(law.real_radius is not None for law in params.targets.values())
    cols = ["radius", *(["real_radius"] if real else []), "phase", *(["sample"] if samples else [])]
    if fig is None:
        import matplotlib.pyplot as plt

        size = (FULL_WIDTH, 0.3 + len(rows) * FULL_WIDTH / len(cols) * 0.95)
        fig = plt.figure(figsize=size, layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), len(cols), squeeze=False))
    recorded = 0
    for r, (arch, targets) in enumerate(rows.items()):
        for c, col in enumerate(cols):
            recorded += _overview_panel(axes[r, c], params, col, targets, samples, data)
            if r == 0:
                ax_title = {"sample": "sampled eigenvalues", **WHAT}[col]
                if col == "radius" and not real:
                    ax_title = "|λ| of all eigenvalues"
                axes[r, c].set_title(ax_title + _shared_note(params, col, targets), loc="center")
            elif col != "sample":
                axes[r, c].set_title(_shared_note(params, col, targets).strip(" ()"))
            if r < len(rows) - 1 and col != "sample":
                axes[r, c].set_xlabel("")
        axes[r, 0].set_ylabel(f"{ROW_NAMES[arch]}\nprobability density")
        _row_legend(axes[r, -1], targets)
    what = f"eigen law {params.name!r}" + (f" ({source})" if source else "")
    fig.suptitle(f"{what}: densities of discrete-time eigenvalues per target")
    fig.supxlabel(
        "Thick lines: fitted law (striped: one law shared by several targets)"
        + ("; thin steps: trained eigenvalues it was fitted to" if recorded else "")
        + ("; dots: a sample from the law." if samples else ".")
        + ("" if recorded else "\n" + NOT_RECORDED),
        fontsize=6.5,
    )
    return fig


def _overview_panel(
    ax: Axes,
    params: EigenInitParams,
    col: str,
    targets: Sequence[str],
    samples: Mapping[str, np.ndarray] | None,
    data: Mapping[str, np.ndarray] | None,
) -> int:
    """Draw one panel of :func:`law_overview`; returns the trained-eigenvalue count drawn."""
    if col == "sample":
        assert samples is not None
        sampled_spectrum({t: samples[t] for t in targets if t in samples}, ax, legend=False)
        return 0
    _density_panel(params, col, ax, targets, data, legend=False)
    if col == "real_radius" and all(params.targets[t].real_radius is None for t in targets):
        ax.text(0.5, 0.5, "no separate law:\nreal |λ| follow\nthe pair law",
                transform=ax.transAxes, ha="center", va="center", color="0.35")  # fmt: skip
    return int(ax._rnndyn_trained_n)  # type: ignore[attr-defined]


def _shared_note(params: EigenInitParams, col: str, targets: Sequence[str]) -> str:
    """``" (i, f, g, o: one law)"`` when targets of a row share this law, else ``""``."""
    if col == "sample":
        return ""
    shared = [g for g in _merged(params, targets, col) if len(g) > 1]
    return "".join(f" ({', '.join(g)}: one law)" for g in shared)


def _row_legend(ax: Axes, targets: Sequence[str]) -> None:
    """One legend per row, right of its last panel: each target's colour, marker and line style."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], lw=LAW_LW, ms=4, **gate_style(t)) for t in targets]
    labels = [gate_name(t) for t in targets]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), handlelength=2.6)

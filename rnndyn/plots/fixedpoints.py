"""Figures of fixed points: trajectories in PCA space with the points marked by stability, each
point's Jacobian eigenvalues (its ``top`` largest |λ|, zoomed to where they are, with the
unit-circle arc; ``point_spectra_grid``: one panel per point), the histogram of ``q`` over initial
states, and for an input scan the points against the input with their links (``bifurcation``).
Every figure names its checkpoint and the layer, in words."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnndyn.dynamics.fixedpoints import FixedPointResult, LayerFixedPoints
from rnndyn.plots.style import COLUMN_WIDTH, FULL_WIDTH, GREY, PALETTE, figure_title, operator_label

STABLE, UNSTABLE, SLOW, MARGINAL = PALETTE[0], PALETTE[4], PALETTE[1], PALETTE[2]
TOP = 8  # eigenvalues per point drawn by default: the largest |λ| (the slowest directions)


def _operator(result: FixedPointResult, lay: LayerFixedPoints) -> str:
    """The id of a layer's state Jacobian at the fixed point (``rnn:l0.fwd.jacfp``)."""
    d = "fwd" if lay.direction == "forward" else "rev"
    name = result.module.name
    return f"{name + ':' if name else ''}l{lay.layer}.{d}.jacfp"


def _layer_words(result: FixedPointResult, lay: LayerFixedPoints) -> str:
    """``"GRU 'rnn', layer 0"`` (the operator's words without the Jacobian)."""
    words = operator_label(_operator(result, lay), lay.arch)
    return words.rsplit(", state Jacobian", 1)[0]


def _title(what: str, result: FixedPointResult, lay: LayerFixedPoints) -> str:
    return f"{what} — {_layer_words(result, lay)}\n{figure_title('', result.checkpoint).strip()}"


def _top(ev: np.ndarray, top: int | None) -> np.ndarray:
    """Each row's ``top`` eigenvalues of largest modulus (all when ``None``)."""
    if top is None or top >= ev.shape[1]:
        return ev
    idx = np.argsort(-np.abs(ev), axis=1, kind="stable")[:, :top]
    return np.take_along_axis(ev, idx, axis=1)


def _zoom(ax: Axes, ev: np.ndarray, pad: float = 0.12) -> None:
    """Limits around the eigenvalues (not the whole unit disc), square, with the unit-circle arc
    drawn wherever it crosses the window."""
    ev = ev[np.isfinite(ev)]
    if not ev.size:
        ev = np.array([1.0 + 0j])
    x0, x1 = float(ev.real.min()), float(ev.real.max())
    y0, y1 = float(ev.imag.min()), float(ev.imag.max())
    half = max(x1 - x0, y1 - y0, 0.05) * (0.5 + pad)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ax.set_xlim(cx - half, cx + half)
    ax.set_ylim(cy - half, cy + half)
    ax.set_aspect("equal", adjustable="box")


def _circle(ax: Axes) -> None:
    t = np.linspace(0, 2 * np.pi, 2881)
    ax.plot(np.cos(t), np.sin(t), color=GREY, lw=0.7, ls="--", gid="unit-circle", label="|λ| = 1")


def _new_ax(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(COLUMN_WIDTH, COLUMN_WIDTH), layout="constrained")
    return ax


def _marks(lay: LayerFixedPoints) -> list[tuple[np.ndarray, dict]]:
    slow, marg = lay.kind == "slow", lay.marginal
    iso = ~slow & ~marg
    return [
        (lay.stable & iso, dict(c=STABLE, marker="o", label="stable")),
        (~lay.stable & iso, dict(c=UNSTABLE, marker="X", label="unstable")),
        (slow, dict(c=SLOW, marker="D", label="slow point")),
        (marg, dict(c=MARGINAL, marker="s", label="marginal (slow manifold)")),
    ]


def pca_trajectories(result: FixedPointResult, ax: Axes | None = None, *, lines: int = 20) -> Axes:
    """Layer 0's trajectories (first ``lines`` sequences) on their top two principal components,
    with the fixed points projected on the same axes and marked by stability."""
    ax = _new_ax(ax)
    traj = result.trajectories  # (T, B, S)
    flat = traj.reshape(-1, traj.shape[-1])
    mean = flat.mean(0)
    _, sv, vt = np.linalg.svd(flat - mean, full_matrices=False)
    basis = vt[:2].T
    explained = (sv[:2] ** 2).sum() / max((sv**2).sum(), 1e-300)
    proj = (traj[:, :lines] - mean) @ basis
    for b in range(proj.shape[1]):
        ax.plot(proj[:, b, 0], proj[:, b, 1], color="0.7", lw=0.4, zorder=1)
    lay = result.layer(0, result.layers[0].direction, 0)
    pts = (lay.states - mean) @ basis
    for mask, kw in _marks(lay):
        if mask.any():
            ax.scatter(pts[mask, 0], pts[mask, 1], s=22, edgecolors="white", lw=0.4, zorder=3, **kw)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(
        _title(f"{len(lay)} points; PCs 1–2 explain {100 * explained:.0f}%", result, lay),
        fontsize="small",
    )
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.7", lw=0.6))
    labels.append(f"trajectory ({min(lines, traj.shape[1])} shown)")
    ax.legend(handles, labels, loc="best", fontsize="x-small")
    return ax


def point_spectra(
    result: FixedPointResult, ax: Axes | None = None, *, top: int | None = TOP
) -> Axes:
    """Each point's ``top`` largest-|λ| Jacobian eigenvalues (all with ``top=None``), colour and
    marker by the point's stability, zoomed to where they are with the unit-circle arc."""
    ax = _new_ax(ax)
    _circle(ax)
    drawn = []
    for lay in result.layers:
        for mask, kw in _marks(lay):
            if mask.any():
                ev = _top(lay.eigenvalues[mask], top).ravel()
                drawn.append(ev)
                kw = dict(kw, label=kw["label"] if lay.layer == 0 else "_")
                ax.scatter(ev.real, ev.imag, s=10, alpha=0.7, lw=0, gid="eigenvalues", **kw)
    _zoom(ax, np.concatenate(drawn) if drawn else np.zeros(0, complex))
    ax.set_xlabel("Re λ (discrete time)")
    ax.set_ylabel("Im λ")
    lay = result.layers[0]
    n = lay.eigenvalues.shape[1]
    shown = "all" if top is None or top >= n else f"{top} largest |λ| of {n}"
    ax.set_title(
        _title(f"state Jacobian eigenvalues at the points ({shown} per point)", result, lay),
        fontsize="small",
    )
    ax.legend(loc="best", fontsize="x-small")
    return ax


def _pick(result: FixedPointResult, max_points: int) -> tuple[list[tuple[float, int, int]], int]:
    """Up to ``max_points`` points ``(ρ, layer index, point index)``: the kinds (stable, unstable,
    slow, marginal) in turn, within a kind the spectral radius nearest 1 first."""
    by_kind: list[list[tuple[float, int, int]]] = [[], [], [], []]
    for k, lay in enumerate(result.layers):
        rho = np.abs(lay.eigenvalues).max(axis=1, initial=0.0)
        for j, (mask, _) in enumerate(_marks(lay)):
            by_kind[j] += [(float(rho[i]), k, int(i)) for i in np.flatnonzero(mask)]
    for group in by_kind:
        group.sort(key=lambda p: abs(p[0] - 1.0))
    chosen: list[tuple[float, int, int]] = []
    while len(chosen) < max_points and any(by_kind):
        for group in by_kind:
            if group and len(chosen) < max_points:
                chosen.append(group.pop(0))
    return chosen, sum(len(lay) for lay in result.layers)


def point_spectra_grid(
    result: FixedPointResult,
    *,
    top: int | None = TOP,
    max_points: int = 8,
    fig: Figure | None = None,
) -> Figure:
    """One panel per fixed point (up to ``max_points``, over
    layers and inputs): its ``top`` largest-|λ| Jacobian eigenvalues zoomed to where they are,
    with the unit-circle arc; titled with the point's layer, index, kind and ρ. Points are
    picked kind by kind (``_pick``), so stable points and saddles both appear."""
    import matplotlib.pyplot as plt

    chosen, total = _pick(result, max_points)
    ncol = min(max(len(chosen), 1), 4)
    nrow = -(-max(len(chosen), 1) // ncol)
    if fig is None:
        fig = plt.figure(figsize=(FULL_WIDTH, FULL_WIDTH / ncol * nrow + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    several = len({(lay.layer, lay.direction) for lay in result.layers}) > 1
    scan = len(result.inputs) > 1
    for ax, (rho, k, i) in zip(axes, chosen, strict=False):
        lay = result.layers[k]
        _circle(ax)
        for mask, kw in _marks(lay):
            if mask[i]:
                ev = _top(lay.eigenvalues[i : i + 1], top).ravel()
                ax.scatter(ev.real, ev.imag, s=14, lw=0, gid=f"eigenvalues-{k}-{i}", **kw)
                kind = kw["label"]
        ev = _top(lay.eigenvalues[i : i + 1], top).ravel()
        _zoom(ax, ev)
        where = f"layer {lay.layer}, " if several else ""
        where += f"input {lay.input_index}, " if scan else ""
        distinct = len(np.unique(np.round(ev, 6)))
        same = "" if distinct == ev.size else f"; {ev.size} λ at {distinct} places"
        same = f"; all {ev.size} λ coincide" if distinct == 1 < ev.size else same
        ax.set_title(f"{where}point {i}: {kind}\nρ = {rho:.4g}{same}", fontsize="x-small")
        ax.tick_params(labelsize=6)
        ax.set_xlabel("Re λ", fontsize="x-small")
        ax.set_ylabel("Im λ", fontsize="x-small")
    for ax in axes[len(chosen) :]:
        ax.set_visible(False)
    if not chosen:
        axes[0].set_visible(True)
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no fixed points found", ha="center", va="center")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if labels:
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), markerscale=1.5)
    lay = result.layers[0]
    n = lay.eigenvalues.shape[1]
    shown = "all eigenvalues" if top is None or top >= n else f"the {top} largest |λ| of {n}"
    count = f"{len(chosen)} of {total} points"
    if len(chosen) < total:
        count += " (each kind in turn, ρ nearest 1 first)"
    fig.suptitle(
        f"state Jacobian at each fixed point — {_layer_words(result, lay)}: {shown}; {count}\n"
        f"{figure_title('', result.checkpoint).strip()}",
        fontsize="small",
    )
    return fig


def q_histogram(result: FixedPointResult, ax: Axes | None = None) -> Axes:
    """Histogram of ``log10 q`` over every initial state's end point, with the fixed/slow thresholds."""
    ax = _new_ax(ax)
    cfg = result.settings
    q = np.concatenate([lay.candidate_q for lay in result.layers])
    floor = 1e-40
    lq = np.log10(np.clip(q[np.isfinite(q)], floor, None))
    ax.hist(lq, bins=40, color=PALETTE[5])
    ax.axvline(np.log10(max(cfg.tol, floor)), color=STABLE, ls="--", lw=0.8, label="tol (fixed)")
    ax.axvline(np.log10(cfg.max_q), color=SLOW, ls=":", lw=0.8, label="max q (slow)")
    ax.set_xlabel("log10 q (q below 1e-40 drawn at −40)")
    ax.set_ylabel("initial states")
    ax.set_title(_title("speed q = ½‖F(h) − h‖² at the end points", result, result.layers[0]),
                 fontsize="small")  # fmt: skip
    ax.legend(loc="best", fontsize="x-small")
    return ax


def _scan_axis(result: FixedPointResult) -> tuple[np.ndarray, str]:
    """The x of each input: its value (one input channel), its coordinate along the line the
    inputs lie on (a 1-D sweep), else its index."""
    u = np.array([d["value"] for d in result.inputs], dtype=float)
    if u.shape[1] == 1:
        return u[:, 0], "input u"
    centred = u - u.mean(0)
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    if sv.size and sv[0] > 0 and (sv[1:] <= 1e-9 * sv[0]).all():
        return centred @ vt[0], "input along the sweep direction"
    return np.arange(len(u), dtype=float), "input index"


def bifurcation(result: FixedPointResult, ax: Axes | None = None) -> Axes:
    """Layer 0's isolated points against the scanned input (x: the input, y: the points' first
    principal component over all inputs), with lines from each point to its continuation under
    the next input; stable points filled, unstable ones crosses."""
    ax = _new_ax(ax)
    xs, xlabel = _scan_axis(result)
    direction = result.layers[0].direction
    lays = [result.layer(0, direction, k) for k in range(len(result.inputs))]
    allpts = np.concatenate([lay.states[lay.isolated] for lay in lays] or [np.zeros((0, 1))])
    if len(allpts) >= 2:
        mean = allpts.mean(0)
        axis = np.linalg.svd(allpts - mean, full_matrices=False)[2][0]
    else:
        mean, axis = allpts.mean(0) if len(allpts) else 0.0, np.eye(lays[0].states.shape[1])[0]
    ys = [(lay.states - mean) @ axis for lay in lays]
    for r in result.links:
        if r["direction"] != direction or r["from_point"] is None or r["to_point"] is None:
            continue
        a, b = r["from_input"], r["to_input"]
        ax.plot([xs[a], xs[b]], [ys[a][r["from_point"]], ys[b][r["to_point"]]], color="0.6", lw=0.6)
    for k, lay in enumerate(lays):
        for mask, kw in _marks(lay)[:2]:
            m = mask & lay.isolated
            if m.any():
                kw = dict(kw, label=kw["label"] if k == 0 else "_")
                ax.scatter(np.full(m.sum(), xs[k]), ys[k][m], s=18, zorder=3, **kw)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("points on their PC 1")
    ax.set_title(
        _title(f"isolated points across {len(lays)} inputs", result, lays[0]), fontsize="small"
    )
    ax.legend(loc="best")
    return ax


def overview(result: FixedPointResult) -> Figure:
    """Trajectories, the Jacobian eigenvalues at the points and the q histogram, side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(FULL_WIDTH, COLUMN_WIDTH * 0.95), layout="constrained")
    pca_trajectories(result, axes[0])
    point_spectra(result, axes[1])
    q_histogram(result, axes[2])
    for ax in axes:  # the checkpoint and layer once, in the figure's title
        ax.set_title(ax.get_title().split(" — ")[0].replace(" (", "\n("), fontsize="small")
    lay = result.layers[0]
    fig.suptitle(
        f"fixed points — {_layer_words(result, lay)}\n"
        f"{figure_title('', result.checkpoint).strip()}",
        fontsize="small",
    )
    return fig

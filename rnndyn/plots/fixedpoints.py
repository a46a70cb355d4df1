"""Figures of fixed points: trajectories in PCA space with the points marked by stability, each
point's Jacobian eigenvalues with the unit circle, the histogram of ``q`` over initial states, and
for an input scan the points against the input with their links (``bifurcation``)."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnndyn.dynamics.fixedpoints import FixedPointResult, LayerFixedPoints
from rnndyn.plots.style import COLUMN_WIDTH, PALETTE

STABLE, UNSTABLE, SLOW, MARGINAL = PALETTE[0], PALETTE[4], PALETTE[1], PALETTE[2]


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
    ax.set_title(f"layer 0: {len(lay)} points; PCs 1–2 explain {100 * explained:.0f}%")
    ax.legend(loc="best")
    return ax


def point_spectra(result: FixedPointResult, ax: Axes | None = None) -> Axes:
    """Every point's Jacobian eigenvalues (colour by the point's stability) with the unit circle."""
    ax = _new_ax(ax)
    t = np.linspace(0, 2 * np.pi, 721)
    ax.plot(np.cos(t), np.sin(t), color="0.45", lw=0.7, ls="--", gid="unit-circle")
    for lay in result.layers:
        for mask, kw in _marks(lay):
            if mask.any():
                ev = lay.eigenvalues[mask].ravel()
                kw = dict(kw, label=kw["label"] if lay.layer == 0 else "_")
                ax.scatter(ev.real, ev.imag, s=8, alpha=0.7, lw=0, **kw)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title("Jacobian eigenvalues at the points")
    ax.legend(loc="best")
    return ax


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
    ax.legend(loc="best")
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
    ax.set_title(f"layer 0 ({direction}): isolated points across {len(lays)} inputs")
    ax.legend(loc="best")
    return ax


def overview(result: FixedPointResult) -> Figure:
    """The three panels side by side."""
    import matplotlib.pyplot as plt

    from rnndyn.plots.style import FULL_WIDTH

    fig, axes = plt.subplots(1, 3, figsize=(FULL_WIDTH, COLUMN_WIDTH * 0.85), layout="constrained")
    pca_trajectories(result, axes[0])
    point_spectra(result, axes[1])
    q_histogram(result, axes[2])
    return fig

"""Group-comparison figures: eigenvalue densities per group, |λ| ECDFs, per-statistic strip plots.

All take a ``rnndyn.compare.spectra.ComparisonResult`` and one stratum ``(architecture, operator)``
(the first tested one by default). Groups are told apart by line style and marker as well as colour.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnndyn.plots.style import COLUMN_WIDTH, FULL_WIDTH, group_style

__all__ = ["comparison_figures", "eigenvalue_density", "modulus_ecdf", "statistic_strips"]


def _stratum(result: Any, architecture: str | None, operator: str | None) -> tuple[str, str]:
    strata = result.strata
    hits = [s for s in strata if architecture in (None, s[0]) and operator in (None, s[1])]
    if not hits:
        raise ValueError(
            f"no tested stratum matches {architecture!r}, {operator!r}; tested: {strata}"
        )
    return hits[0]


def _members(result: Any, stratum: tuple[str, str]) -> dict[str, list]:
    """Group → operator summaries of that stratum (only groups that were tested in it)."""
    tested = {
        g
        for t in (*result.tests, *result.distances)
        if (t.architecture, t.operator) == stratum
        for g in (t.group_a, t.group_b)
    }
    out: dict[str, list] = {}
    for name, nets in result.groups:
        if name in tested:
            out[name] = [op for net in nets for op in net.operators if op.stratum == stratum]
    return out


def _label(stratum: tuple[str, str]) -> str:
    return f"{stratum[0].upper()} {stratum[1]}"


def eigenvalue_density(
    result: Any,
    *,
    architecture: str | None = None,
    operator: str | None = None,
    gridsize: int = 35,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """One panel per group: hexbin density of the pooled eigenvalues with the unit circle.

    Each network weighs 1, so the cells of a panel sum to the group's network count; the colour
    scale is shared between panels.
    """
    import matplotlib.pyplot as plt

    stratum = _stratum(result, architecture, operator)
    members = _members(result, stratum)
    if axes is None:
        _, grid = plt.subplots(
            1,
            len(members),
            figsize=(FULL_WIDTH, FULL_WIDTH / max(len(members), 2)),
            sharex=True,
            sharey=True,
            layout="constrained",
            squeeze=False,
        )
        axes = list(grid[0])
    fig: Any = axes[0].figure
    pts = {
        g: (
            np.concatenate([op.eigenvalues for op in ops]),
            np.concatenate([np.full(op.eigenvalues.size, 1.0 / op.eigenvalues.size) for op in ops]),
        )
        for g, ops in members.items()
    }
    lim = max(1.05, max(float(np.abs(z).max()) for z, _ in pts.values()) * 1.05)
    vmax = 0.0
    hexes = []
    for ax, (g, (z, w)) in zip(axes, pts.items(), strict=True):
        hb = ax.hexbin(
            z.real,
            z.imag,
            C=w,
            reduce_C_function=np.sum,
            gridsize=gridsize,
            cmap="viridis",
            extent=(-lim, lim, -lim, lim),
            mincnt=1,
            linewidths=0,
            gid=f"density-{g}",
        )
        hexes.append(hb)
        vmax = max(vmax, float(np.max(hb.get_array())))  # type: ignore[arg-type]
        t = np.linspace(0, 2 * np.pi, 721)
        ax.plot(np.cos(t), np.sin(t), color="0.3", lw=0.7, ls="--", zorder=3, gid="unit-circle")
        ax.set_title(f"{g} (n={len(members[g])})")
        ax.set_aspect("equal")
        ax.set_xlabel("Re λ")
    for hb in hexes:
        hb.set_clim(0, vmax)
    axes[0].set_ylabel("Im λ")
    fig.colorbar(hexes[-1], ax=list(axes), shrink=0.8, label="networks' eigenvalue mass per cell")
    fig.suptitle(f"{_label(stratum)}: discrete-time eigenvalues")
    return fig


def modulus_ecdf(
    result: Any,
    *,
    architecture: str | None = None,
    operator: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Pooled |λ| ECDF per group (each network weighs 1), with the unit-modulus line."""
    import matplotlib.pyplot as plt

    stratum = _stratum(result, architecture, operator)
    members = _members(result, stratum)
    if ax is None:
        _, ax = plt.subplots(figsize=(COLUMN_WIDTH, COLUMN_WIDTH * 0.75), layout="constrained")
    for i, (g, ops) in enumerate(members.items()):
        r = np.concatenate([np.abs(op.eigenvalues) for op in ops])
        w = np.concatenate([np.full(op.eigenvalues.size, 1.0 / op.eigenvalues.size) for op in ops])
        order = np.argsort(r, kind="stable")
        cdf = np.cumsum(w[order]) / w.sum()
        st = group_style(i)
        ax.step(
            np.r_[0.0, r[order]],
            np.r_[0.0, cdf],
            where="post",
            color=st["color"],
            linestyle=st["linestyle"],
            label=f"{g} (n={len(ops)})",
            gid=f"ecdf-{g}",
        )
    ax.axvline(1.0, color="0.5", lw=0.6, ls=":", gid="unit-modulus")
    ax.set_xlabel("|λ| (per step)")
    ax.set_ylabel("fraction of eigenvalues")
    ax.set_ylim(0, 1.02)
    ax.set_title(_label(stratum))
    ax.legend(loc="upper left")
    return ax


def statistic_strips(
    result: Any,
    *,
    architecture: str | None = None,
    operator: str | None = None,
    statistics: Sequence[str] | None = None,
    ncols: int = 4,
) -> Figure:
    """One panel per statistic: each network's value (jittered strip), the group median with its
    bootstrap CI, and Cliff's delta with the Holm p-value of the first pair of groups."""
    import matplotlib.pyplot as plt

    stratum = _stratum(result, architecture, operator)
    members = _members(result, stratum)
    from rnndyn.compare.population import STATISTICS

    names = list(statistics or STATISTICS)
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(FULL_WIDTH, 1.55 * nrows + 0.4), layout="constrained", squeeze=False
    )
    summary = {
        (s.group, s.statistic): s
        for s in result.group_statistics
        if (s.architecture, s.operator) == stratum
    }
    tests = {t.statistic: t for t in result.tests if (t.architecture, t.operator) == stratum}
    jitter = np.random.default_rng(0)
    for ax, stat in zip(axes.flat, names, strict=False):
        k = list(STATISTICS).index(stat)
        n_inf = 0
        for i, (g, ops) in enumerate(members.items()):
            v = np.array([op.values[k] for op in ops], dtype=float)
            finite = np.isfinite(v)
            n_inf += int((~finite & ~np.isnan(v)).sum())
            st = group_style(i)
            x = i + jitter.uniform(-0.18, 0.18, int(finite.sum()))
            ax.scatter(
                x,
                v[finite],
                s=6,
                color=st["color"],
                marker=st["marker"],
                alpha=0.6,
                linewidths=0,
                gid=f"strip-{g}",
            )
            s = summary.get((g, stat))
            if s is not None and np.isfinite([s.median, s.ci_low, s.ci_high]).all():
                ax.errorbar(
                    i + 0.3,
                    s.median,
                    yerr=[[s.median - s.ci_low], [s.ci_high - s.median]],
                    color="black",
                    marker=st["marker"],
                    ms=3,
                    capsize=2,
                    lw=0.8,
                    gid=f"ci-{g}",
                )
        ax.set_xticks(range(len(members)), [f"{g}\nn={len(o)}" for g, o in members.items()])
        ax.set_xlim(-0.5, len(members) - 0.5)
        title = stat + (f" ({n_inf} ∞ not shown)" if n_inf else "")
        t = tests.get(stat)
        if t is not None:
            adj = "≤ " if t.p_bound else "= "
            title += (
                f"\nδ={t.cliffs_delta:+.2f}, p_{result.family.correction} {adj}{t.p_adjusted:.2g}"
            )
        ax.set_title(title, fontsize=6.5)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"{_label(stratum)}: per-network statistics (median, {_conf(result)} bootstrap CI)"
    )
    return fig


def _conf(result: Any) -> str:
    return f"{100 * float(result.settings.get('confidence', 0.95)):.0f}%"


def comparison_figures(result: Any) -> Iterator[tuple[str, Figure]]:
    """Every figure of a comparison with its file name (``eigenvalues_rnn_l0.fwd.hh``, ...),
    one at a time (the caller writes and closes each)."""
    from rnndyn.io.outputs import safe_name

    for arch, op in result.strata:
        tag = safe_name(f"{arch}_{op}".replace(":", "_"))
        yield f"eigenvalues_{tag}", eigenvalue_density(result, architecture=arch, operator=op)
        yield f"modulus_ecdf_{tag}", modulus_ecdf(result, architecture=arch, operator=op).figure  # type: ignore[misc]
        yield f"statistics_{tag}", statistic_strips(result, architecture=arch, operator=op)

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

from rnndyn.plots.style import (
    COLUMN_WIDTH,
    FULL_WIDTH,
    GREY,
    group_style,
    operator_label,
    scatter_style,
    sequential_cmap,
    style_legend,
)

__all__ = ["comparison_figures", "eigenvalue_density", "modulus_ecdf", "statistic_strips"]

#: Panel labels (with units) of the ``rnndyn.compare.population.STATISTICS``.
STAT_LABELS: dict[str, str] = {
    "spectral_radius": "spectral radius ρ = max |λ|",
    "frac_above_1": "fraction with |λ| > 1",
    "frac_above_0.9": "fraction with |λ| > 0.9",
    "modulus_q10": "|λ|, 10th percentile",
    "modulus_q50": "|λ|, median",
    "modulus_q90": "|λ|, 90th percentile",
    "frac_complex": "fraction complex (arg λ ≠ 0)",
    "dominant_period": "dominant period (steps)",
    "longest_timescale": "longest timescale −1/ln ρ (steps)",
    "log10_eigvec_condition": "eigenvector condition log₁₀ κ(V)",
    "departure_from_normality": "departure from normality (Henrici, relative)",
}
#: How a multiplicity correction is named on a figure.
CORRECTION_NAMES = {"holm": "Holm", "bh": "BH", "none": "uncorrected"}  # short: panel titles
CORRECTION_FULL = {"holm": "Holm", "bh": "BH = Benjamini–Hochberg"}  # spelled out below the panels
#: How each test is named on a figure.
TEST_NAMES = {
    "mann-whitney": "two-sided Mann–Whitney U test",
    "permutation": "two-sided permutation test of the median difference",
    "blocked-permutation": "blocked (paired) permutation test of δ",
}
DELTA = "δ = Cliff's delta = P(A > B) − P(A < B) over networks, A = {a}, B = {b}"
SCATTER_BELOW = 500  # eigenvalues per group: fewer are drawn as points, more as a hexbin density


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
    """The stratum in words: ``"GRU, layer 0, reset gate r (weight block)"``."""
    return operator_label(stratum[1], stratum[0])


def eigenvalue_density(
    result: Any,
    *,
    architecture: str | None = None,
    operator: str | None = None,
    gridsize: int = 35,
    scatter_below: int = SCATTER_BELOW,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """One panel per group: the pooled eigenvalues with the unit circle.

    With fewer than ``scatter_below`` eigenvalues in every group each one is a point (group
    colour and marker); otherwise a hexbin density where each network weighs 1, so the cells of a
    panel sum to the group's network count, on a colour scale shared between panels.
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
    pts = {g: np.concatenate([op.eigenvalues for op in ops]) for g, ops in members.items()}
    lim = max(1.05, max(float(np.abs(z).max()) for z in pts.values()) * 1.05)
    points = max(z.size for z in pts.values()) < scatter_below
    hexes = []
    t = np.linspace(0, 2 * np.pi, 721)
    for i, (ax, (g, z)) in enumerate(zip(axes, pts.items(), strict=True)):
        if points:
            st, sc = group_style(i), scatter_style(z.size)
            ax.scatter(
                z.real, z.imag, s=sc["s"], alpha=sc["alpha"], color=st["color"],
                marker=st["marker"], linewidths=0, label=g, gid=f"points-{g}",
            )  # fmt: skip
        else:
            w = np.concatenate(
                [np.full(op.eigenvalues.size, 1 / op.eigenvalues.size) for op in members[g]]
            )
            hexes.append(
                ax.hexbin(
                    z.real, z.imag, C=w, reduce_C_function=np.sum, gridsize=gridsize,
                    cmap=sequential_cmap(), extent=(-lim, lim, -lim, lim), mincnt=1,
                    linewidths=0, gid=f"density-{g}",
                )
            )  # fmt: skip
        ax.plot(np.cos(t), np.sin(t), color=GREY, lw=0.7, ls="--", zorder=3, gid="unit-circle")
        ax.set_title(f"{g}: {len(members[g])} networks, {z.size} eigenvalues")
        ax.set(aspect="equal", xlim=(-lim, lim), ylim=(-lim, lim), xlabel="Re λ")
    axes[0].set_ylabel("Im λ")
    style_legend(axes[-1], {"|λ| = 1": {"ls": "--", "color": GREY}}, loc="lower right")
    if hexes:
        vmax = max(float(np.max(hb.get_array())) for hb in hexes)  # type: ignore[arg-type]
        for hb in hexes:
            hb.set_clim(0, vmax)
        label = "eigenvalue density\n(networks per cell; each network sums to 1)"
        fig.colorbar(hexes[-1], ax=list(axes), shrink=0.8, label=label)
    fig.suptitle(f"{_label(stratum)}: discrete-time eigenvalues, pooled over networks")
    return fig


def _ecdf(r: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(r, kind="stable")
    return np.r_[0.0, r[order]], np.r_[0.0, np.cumsum(w[order]) / w.sum()]


def modulus_ecdf(
    result: Any,
    *,
    architecture: str | None = None,
    operator: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """|λ| ECDF per group: one thin line per network (the spread) and the pooled ECDF (each
    network weighs 1) in bold, with the unit-modulus line."""
    import matplotlib.pyplot as plt

    stratum = _stratum(result, architecture, operator)
    members = _members(result, stratum)
    if ax is None:
        _, ax = plt.subplots(figsize=(COLUMN_WIDTH, COLUMN_WIDTH * 0.75), layout="constrained")
    for i, (g, ops) in enumerate(members.items()):
        st = group_style(i)
        for j, op in enumerate(ops):
            r = np.abs(op.eigenvalues)
            x, y = _ecdf(r, np.ones_like(r))
            ax.step(x, y, where="post", color=st["color"], lw=0.5, alpha=0.35,
                    gid=f"network-ecdf-{g}-{j}")  # fmt: skip
        r = np.concatenate([np.abs(op.eigenvalues) for op in ops])
        w = np.concatenate([np.full(op.eigenvalues.size, 1.0 / op.eigenvalues.size) for op in ops])
        x, y = _ecdf(r, w)
        ax.step(x, y, where="post", color=st["color"], linestyle=st["linestyle"], lw=1.6,
                label=f"{g} (n={len(ops)})", gid=f"ecdf-{g}")  # fmt: skip
    ax.axvline(1.0, color=GREY, lw=0.6, ls=":", gid="unit-modulus")
    ax.set_xlabel("|λ| (per step)")
    ax.set_ylabel("fraction of eigenvalues")
    ax.set_ylim(0, 1.02)
    ax.set_title(_label(stratum))
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="0.3", lw=w) for w in (1.6, 0.5)]
    handles.append(Line2D([], [], color=GREY, ls=":"))
    labels += ["pooled (bold)", "one network", "|λ| = 1"]
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncols=2, fontsize=6)
    return ax


def statistic_strips(
    result: Any,
    *,
    architecture: str | None = None,
    operator: str | None = None,
    statistics: Sequence[str] | None = None,
    ncols: int = 4,
) -> Figure:
    """One panel per statistic (``STAT_LABELS``): each network's value (jittered strip), the
    group median with its bootstrap CI, and Cliff's delta with the p-value of the first pair of
    groups, adjusted by the run's multiplicity correction (named on the panel; "n.s. after …"
    where the adjusted p is 1). δ and the test are defined below the panels; a statistic with
    no finite value is a note, not an empty panel; positive values over > 2 decades: log y."""
    import matplotlib.pyplot as plt

    stratum = _stratum(result, architecture, operator)
    members = _members(result, stratum)
    from rnndyn.compare.population import STATISTICS

    names = list(statistics or STATISTICS)
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(FULL_WIDTH, 1.85 * nrows + 0.4), layout="constrained", squeeze=False
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
        n_inf: dict[str, int] = {}
        for i, (g, ops) in enumerate(members.items()):
            v = np.array([op.values[k] for op in ops], dtype=float)
            finite = np.isfinite(v)
            n_inf[g] = int((~finite & ~np.isnan(v)).sum())
            st = group_style(i)
            x = i + jitter.uniform(-0.18, 0.18, int(finite.sum()))
            ax.scatter(
                x,
                v[finite],
                s=10,
                color=st["color"],
                marker=st["marker"],
                alpha=0.6,
                linewidths=0,
                clip_on=False,
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
        ax.tick_params(axis="x", labelsize=5.5)
        ax.set_xlim(-0.5, len(members) - 0.5)
        title = _wrap(STAT_LABELS.get(stat, stat.replace("_", " ")))
        hidden = ", ".join(f"{g}: {n}" for g, n in n_inf.items() if n)
        drawn = any(len(c.get_offsets()) for c in _strips(ax))
        if hidden and drawn:
            title += "\n" + _wrap(f"∞ not shown ({hidden})")
        t = tests.get(stat)
        untested = f"{stratum[0]} {stratum[1]} {stat}" in getattr(result, "untestable", ())
        if t is not None:
            title += "\n" + _p_text(result, t)
        elif untested:
            title += "\nuntestable: left out of the family"
        if not drawn:  # nothing finite to draw
            _note(ax, n_inf)
        else:
            _scale(ax, stat)
        ax.set_title(title, fontsize=6.5)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"{_label(stratum)}: per-network statistics (median, {_conf(result)} bootstrap CI)"
    )
    if tests:
        first = next(iter(tests.values()))
        kinds = sorted({TEST_NAMES.get(t.test, t.test) for t in tests.values()})
        unit = (
            "pair" if any(str(t.test).startswith("paired") for t in tests.values()) else first.unit
        )
        corrections = sorted(
            {
                CORRECTION_FULL[c]
                for c in _corrections(result, tests.values())
                if c in CORRECTION_FULL
            }
        )
        fig.supxlabel(
            DELTA.format(a=first.group_a, b=first.group_b)
            + f"; p: {', '.join(kinds)} per statistic ({unit}s as units)"
            + (f"; adjusted: {', '.join(corrections)}" if corrections else ""),
            fontsize=6,
        )
    return fig


def _corrections(result: Any, tests: Any) -> set[str]:
    """The multiplicity corrections behind the panels' adjusted p values."""
    secondary = getattr(result, "secondary", None)
    return {
        str(
            (
                secondary if secondary is not None and t.family == "secondary" else result.family
            ).correction
        )
        for t in tests
    }


def _p_text(result: Any, t: Any) -> str:
    """``"PRIMARY · δ = +0.52\nHolm-adjusted p = 0.031"``; an adjusted p of 1 is not printed as a
    bound (``≤ 1`` says nothing): the raw p and "n.s. after Holm" instead."""
    secondary = getattr(result, "secondary", None)
    fam = secondary if secondary is not None and t.family == "secondary" else result.family
    corr = str(fam.correction)
    name = CORRECTION_NAMES.get(corr, corr)
    tag = {"primary": "PRIMARY · ", "secondary": "secondary · "}.get(t.family, "")
    rel = "≤" if t.p_bound else "="
    head = f"{tag}δ = {t.cliffs_delta:+.2f}\n"  # p on its own line: titles stay narrow
    if not np.isfinite(t.p_adjusted):
        return head + f"p {rel} {t.p_value:.2g}"
    if corr == "none":
        return head + f"p {rel} {t.p_adjusted:.2g}"
    if t.p_adjusted >= 1.0:
        return head + f"p {rel} {t.p_value:.2g}, n.s. after {name}"
    return head + f"{name}-adjusted p {rel} {t.p_adjusted:.2g}"


def _wrap(text: str, width: int = 38) -> str:
    """A label wrapped to ``width`` characters: neighbouring panels' titles never meet."""
    import textwrap

    return textwrap.fill(text, width, break_on_hyphens=False)


def _strips(ax: Axes) -> list[Any]:
    return [c for c in ax.collections if str(c.get_gid()).startswith("strip-")]


def _note(ax: Axes, n_inf: dict[str, int]) -> None:
    """A panel with no finite value: a note saying why, not empty axes."""
    inf = ", ".join(f"{g}: {n} ∞" for g, n in n_inf.items())
    why = "every value is ∞ (no finite value to draw)" if any(n_inf.values()) else "no values"
    text = why + (f"\n({inf})" if any(n_inf.values()) else "")
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=6.5, transform=ax.transAxes,
            gid="untestable-note")  # fmt: skip


LOG_STATS = ("dominant_period", "longest_timescale")  # steps: can span many decades


def _scale(ax: Axes, stat: str) -> None:
    """Log y for periods and timescales spanning more than two decades; margins so that no
    marker touches the axes' edge."""
    ys = np.concatenate([np.asarray(c.get_offsets())[:, 1] for c in _strips(ax)] + [[]])
    ys = ys[np.isfinite(ys)]
    if stat in LOG_STATS and ys.size and ys.min() > 0 and ys.max() / ys.min() > 100:
        ax.set_yscale("log")
    ax.margins(y=0.12)


def _conf(result: Any) -> str:
    return f"{100 * float(result.settings.get('confidence', 0.95)):.0f}%"


def comparison_figures(result: Any) -> Iterator[tuple[str, Figure]]:
    """Every figure of a comparison with its file name (``eigenvalues_rnn_l0.fwd.hh``, ...),
    one at a time (the caller writes and closes each)."""
    from rnndyn.outputs.staging import safe_name

    for arch, op in result.strata:
        tag = safe_name(f"{arch}_{op}".replace(":", "_"))
        yield f"eigenvalues_{tag}", eigenvalue_density(result, architecture=arch, operator=op)
        yield f"modulus_ecdf_{tag}", modulus_ecdf(result, architecture=arch, operator=op).figure  # type: ignore[misc]
        yield f"statistics_{tag}", statistic_strips(result, architecture=arch, operator=op)


def study_figures(comparison: Any) -> Iterator[tuple[str, Figure]]:
    """A study's comparison figures, ``(name, Figure)`` in rnndyn's style; pass it as
    ``regression_vs_classification(..., draw=study_figures)``."""
    from rnndyn.plots.style import style_context

    with style_context():
        yield from comparison_figures(comparison)

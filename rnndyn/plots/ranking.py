"""The critical-difference diagram of average ranks (Demšar, JMLR 2006, Figs. 1–2).

Drawing only: takes a ``rnndyn.training.bench.ranking.RankingResult`` and returns the Axes; nothing is
shown or saved here. Apply the paper style with ``rnndyn.plots.style.style_context()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rnndyn.plots.style import FULL_WIDTH, PALETTE

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from rnndyn.training.bench.ranking import RankingResult

TESTS = ("nemenyi", "bonferroni-dunn")
CONTROL_COLOR = PALETTE[4]  # vermillion
_INK = "0.15"
_STEP = 0.28  # vertical distance between two method labels (data units)
_CLIQUE_STEP = 0.14


def _new_axes(ax: Axes | None, n_rows: int, n_bars: int) -> Axes:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    size = (0.75 * FULL_WIDTH, 1.0 + 0.22 * n_rows + 0.1 * n_bars)
    return Figure(figsize=size, layout="constrained").add_subplot()


def _rank_axis(ax: Axes, k: int) -> None:
    """The rank scale 1 … k (best on the left), ticks at every half rank."""
    ax.plot([1, k], [0, 0], color=_INK, lw=0.8, gid="rank-axis", solid_capstyle="butt")
    xs, ys = [], []
    for i in range(2 * k - 1):
        t = 1 + i / 2
        xs += [t, t, math.nan]
        ys += [0, 0.1 if i % 2 == 0 else 0.05, math.nan]
    ax.plot(xs, ys, color=_INK, lw=0.6)
    for t in range(1, k + 1):
        ax.text(t, 0.14, str(t), ha="center", va="bottom", fontsize=7, color=_INK)


def _cd_bar(ax: Axes, result: RankingResult, test: str, y: float) -> None:
    """The critical difference: at the top left (Nemenyi) or centred on the control (B–D)."""
    if test == "nemenyi":
        lo, hi, color, lw = 1.0, 1.0 + result.cd_nemenyi, _INK, 0.9
        text = f"CD = {result.cd_nemenyi:.2f}"
    else:
        c = float(result.average_ranks[result.control])
        cd = result.cd_bonferroni_dunn
        lo, hi, color, lw = c - cd, c + cd, CONTROL_COLOR, 2.0
        text = f"CD = {cd:.2f} around {result.control}"
    ax.plot([lo, hi], [y, y], color=color, lw=lw, gid="cd-bar", solid_capstyle="butt")
    ax.plot([lo, lo, math.nan, hi, hi], [y - 0.05, y + 0.05, math.nan, y - 0.05, y + 0.05],
            color=color, lw=0.8)  # fmt: skip
    ax.text((lo + hi) / 2, y + 0.07, text, ha="center", va="bottom", fontsize=7, color=color)


def _cliques(ax: Axes, result: RankingResult) -> int:
    """Thick bars joining methods that no Nemenyi test separates; returns how many."""
    avg = result.average_ranks
    for j, group in enumerate(result.cliques):
        lo, hi = float(avg[list(group)].min()), float(avg[list(group)].max())
        y = -0.22 - j * _CLIQUE_STEP
        ax.plot([lo - 0.03, hi + 0.03], [y, y], color=_INK, lw=2.2, gid=f"clique-{j}",
                solid_capstyle="round")  # fmt: skip
    return len(result.cliques)


def _label_pad(ax: Axes, span: float, n_chars: int) -> float:
    """Data units left beside the scale for labels of ``n_chars`` characters at 7 pt."""
    fig = ax.get_figure(root=True)
    width_in = ax.get_position().width * (fig.get_size_inches()[0] if fig else FULL_WIDTH)
    text_in = 0.055 * n_chars + 0.1
    free = width_in - 2 * text_in
    return text_in * span / free if free > 0.2 * width_in else span


def critical_difference(
    result: RankingResult,
    *,
    ax: Axes | None = None,
    test: str = "nemenyi",
    labels: Mapping[str, str] | None = None,
    subset: str | None = None,
) -> Axes:
    """Average ranks on a scale from 1 (best, left) to k, each method joined to its label (better
    half left, worse half right), the critical difference as a bar, and — for ``nemenyi`` — thick
    bars over groups with no significant pair; ``bonferroni-dunn`` draws the CD around the control
    instead (methods outside it differ from the control). The control is highlighted.
    ``labels`` renames methods for display; ``subset`` (e.g. ``"gated architectures"``) names the
    part of the study ranked, first in the title."""
    from rnndyn.errors import UsageError

    if test not in TESTS:
        raise UsageError(f"test must be one of {TESTS}, not {test!r}")
    if test == "bonferroni-dunn" and result.control is None:
        raise UsageError("the Bonferroni–Dunn diagram needs a control: rank_methods(control=...)")
    avg, k = result.average_ranks, result.k
    half = math.ceil(k / 2)
    ax = _new_axes(ax, half, len(result.cliques))
    ax.set_axis_off()
    _rank_axis(ax, k)
    n_bars = _cliques(ax, result) if test == "nemenyi" else 0
    _cd_bar(ax, result, test, 0.55)
    names = {str(m): (labels or {}).get(str(m), str(m)) for m in avg.index}
    top = 0.35 + n_bars * _CLIQUE_STEP
    pad = _label_pad(ax, k + 0.4, max(len(n) for n in names.values()))
    x_left, x_right = 0.8, k + 0.2
    for i, (method, rank) in enumerate(avg.items()):
        left = i < half
        depth = i if left else k - 1 - i
        y, x_end = -(top + depth * _STEP), x_left if left else x_right
        is_control = str(method) == result.control
        color = CONTROL_COLOR if is_control else _INK
        ax.plot([rank, rank, x_end], [0, y, y], color=color, lw=1.2 if is_control else 0.7,
                gid=f"method-{method}", solid_joinstyle="miter")  # fmt: skip
        ax.text(x_end + (-0.04 if left else 0.04), y, names[str(method)], ha="right" if left else "left",
                va="center", fontsize=7, color=color, gid=f"label-{method}",
                fontweight="bold" if is_control else "normal")  # fmt: skip
        ax.text((rank + x_end) / 2, y + 0.03, f"{rank:.2f}", ha="center", va="bottom",
                fontsize=6, color=color, gid=f"rank-{method}")  # fmt: skip
    ax.set_xlim(x_left - pad, x_right + pad)
    ax.set_ylim(-(top + (half - 1) * _STEP) - 0.15, 1.0)
    ax.set_title((f"{subset}: " if subset else "") + _title(result, test), fontsize=7)
    return ax


def _title(result: RankingResult, test: str) -> str:
    f = result.friedman
    cd = result.cd_nemenyi if test == "nemenyi" else result.cd_bonferroni_dunn
    name = "Nemenyi" if test == "nemenyi" else "Bonferroni–Dunn"
    return (
        f"average ranks over N = {f.n_blocks} blocks, k = {f.k} methods; Friedman p = {f.p_chi2:.2g}"
        f" (Iman–Davenport p = {f.p_f:.2g})\n{name} CD = {cd:.2f} at α = {result.alpha:g}"
    )

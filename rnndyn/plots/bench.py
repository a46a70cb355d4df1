"""Bench figures: learning curves and final metrics, one colour per initializer in both.

Drawing only: each function takes a ``rnndyn.training.bench.BenchResult`` (finished runs only are drawn)
and returns Axes or a Figure; nothing is shown or saved here. Apply the paper style with
``rnndyn.plots.style.style_context()``.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn.plots.style import COLUMN_WIDTH, FULL_WIDTH, MARKERS, categorical_style

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from rnndyn.training.bench import BenchResult

_FINISHED = ("ok", "diverged")
BOX_MIN = 5  # runs per group: fewer are drawn as points with a median tick, no box
BAND_LABEL = "interquartile range over seeds (shaded)"
_LABELS = {"accuracy": "accuracy", "mse": "MSE", "nrmse": "NRMSE", "ce": "cross-entropy"}


def _new_axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    return Figure(figsize=size).add_subplot()


def init_styles(result: BenchResult) -> dict[str, dict]:
    """Initializer → colour / marker / line style, the same mapping in every bench figure: 12
    colours and 8 markers, no two initializers sharing both (``style.categorical_style``)."""
    return {init: categorical_style(i) for i, init in enumerate(result.levels()["init"])}


def _figure_legend(fig: Figure, axes: Any) -> None:
    """One legend under the figure with every distinct entry of its panels."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(lab, h)
    if entries:
        fig.legend(
            list(entries.values()), list(entries), loc="outside lower center",
            ncols=min(len(entries), 4),
        )  # fmt: skip


def _metric_label(result: BenchResult, task: str, prefix: str) -> str:
    rec = next(r for r in result.records if r["task"] == task)
    metric, hib = rec["spec"]["metric"], rec["spec"]["higher_is_better"]
    return f"{prefix} {_LABELS.get(metric, metric)} ({'↑' if hib else '↓'} better)"


def _baseline(ax: Axes, result: BenchResult, task: str) -> str | None:
    """The task's trivial score as a dotted line; when it is far off the data, a note (returned,
    for the title: never drawn over the data)."""
    base = next(r for r in result.records if r["task"] == task)["spec"]["baseline"]
    lo, hi = ax.dataLim.y0, ax.dataLim.y1
    if not (np.isfinite(lo) and np.isfinite(hi)):  # an empty panel: every run here failed
        ax.axhline(base, color="0.55", lw=0.7, ls=":", label="trivial baseline")
        ax.text(0.5, 0.5, "no finished runs", transform=ax.transAxes, ha="center", fontsize=7)
        return None
    span = hi - lo if hi > lo else abs(hi) + 1e-12
    if lo - 0.5 * span <= base <= hi + 0.5 * span:
        ax.axhline(base, color="0.55", lw=0.7, ls=":", label="trivial baseline")
        return None
    return f"trivial baseline {base:.3g} off scale"


def learning_curve(
    result: BenchResult,
    task: str,
    arch: str,
    *,
    ax: Axes | None = None,
    column: str = "val_metric",
    inits: list[str] | None = None,
) -> Axes:
    """Median over seeds of ``column`` (per epoch) for each initializer, with the interquartile
    range over seeds shaded (explained in the legend; no band for a single seed).

    One line per initializer (colour and line style from :func:`init_styles`, so panels and
    figures agree), plus the task's trivial baseline as a dotted line.
    """
    from matplotlib.ticker import MaxNLocator

    ax = _new_axes(ax, (COLUMN_WIDTH, 0.75 * COLUMN_WIDTH))
    df = result.to_frame()
    styles = init_styles(result)
    inits = inits or list(styles)
    sel = df[(df["task"] == task) & (df["arch"] == arch) & df["status"].isin(_FINISHED)]
    banded = False
    for init in inits:
        g = sel[sel["init"] == init].groupby("epoch")[column]
        if not g.ngroups:
            continue
        style = styles[init]
        epochs = g.median().index.to_numpy()
        ax.plot(
            epochs, g.median().to_numpy(), color=style["color"], ls=style["linestyle"],
            marker=style["marker"], ms=3, markevery=max(1, len(epochs) // 6), label=init,
            gid=f"curve-{init}",
        )  # fmt: skip
        if int(g.size().max()) < 2:
            continue
        q = g.quantile([0.25, 0.75]).unstack()
        ax.fill_between(epochs, q[0.25], q[0.75], color=style["color"], alpha=0.18, lw=0)
        banded = True
    if banded:
        from matplotlib.patches import Rectangle

        # a zero-size patch: a legend entry that leaves the data limits alone
        ax.add_patch(Rectangle((0, 0), 0, 0, color="0.5", alpha=0.3, lw=0, label=BAND_LABEL))
    note = _baseline(ax, result, task)
    ax.set_title(f"{task} · {arch.upper()}" + (f"\n{note}" if note else ""))
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(_metric_label(result, task, "validation"))
    return ax


def learning_curves(result: BenchResult, *, column: str = "val_metric") -> Figure:
    """A grid of :func:`learning_curve` panels: one row per task, one column per architecture,
    and one legend for the figure."""
    from matplotlib.figure import Figure

    levels = result.levels()
    tasks, archs, inits = levels["task"], levels["arch"], levels["init"]
    fig = Figure(figsize=(FULL_WIDTH, 1.9 * len(tasks) + 0.6), layout="constrained")
    axes = fig.subplots(len(tasks), len(archs), squeeze=False, sharex=True)
    for (r, task), (c, arch) in itertools.product(enumerate(tasks), enumerate(archs)):
        learning_curve(result, task, arch, ax=axes[r, c], column=column, inits=inits)
        if c:
            axes[r, c].set_ylabel("")
        if r < len(tasks) - 1:
            axes[r, c].set_xlabel("")
    _figure_legend(fig, axes.flat)
    return fig


def final_metric(result: BenchResult, task: str, *, ax: Axes | None = None) -> Axes:
    """Final test metric per initializer (x; colour from :func:`init_styles`) and architecture
    (offset and marker): every run as a point (deterministic jitter) with a median tick; a box
    (quartiles, whiskers to 1.5 IQR) only where a group has at least ``BOX_MIN`` runs."""
    ax = _new_axes(ax, (COLUMN_WIDTH, 0.8 * COLUMN_WIDTH))
    runs = result.runs_frame()
    styles = init_styles(result)
    inits, archs = list(styles), result.levels()["arch"]
    sel = runs[(runs["task"] == task) & runs["status"].isin(_FINISHED)]
    spec = next(r for r in result.records if r["task"] == task)["spec"]
    cap = _off_scale(sel["test"].to_numpy(float), spec["baseline"], spec["higher_is_better"])
    width = 0.8 / len(archs)
    rng = np.random.default_rng(0)
    off = 0
    for (i, init), (j, arch) in itertools.product(enumerate(inits), enumerate(archs)):
        v = sel[(sel["init"] == init) & (sel["arch"] == arch)]["test"].to_numpy(float)
        far = ~np.isfinite(v) | (v > cap)
        if far.any():  # diverged runs: a hollow triangle at the top edge, counted in a note
            top = i + (j - (len(archs) - 1) / 2) * width
            ax.scatter([top] * int(far.sum()), [cap] * int(far.sum()), s=14, marker="^",
                       facecolors="none", edgecolors=styles[init]["color"], lw=0.7, zorder=3,
                       clip_on=False, gid=f"offscale-{init}-{arch}")  # fmt: skip
            off += int(far.sum())
        v = v[~far]
        if not len(v):
            continue
        color, pos = styles[init]["color"], i + (j - (len(archs) - 1) / 2) * width
        if len(v) >= BOX_MIN:
            ax.boxplot(
                [v], positions=[pos], widths=0.8 * width, showfliers=False, patch_artist=True,
                boxprops={"facecolor": color, "alpha": 0.25, "lw": 0.6},
                medianprops={"color": color, "lw": 1.0}, whiskerprops={"lw": 0.6},
                capprops={"lw": 0.6},
            )  # fmt: skip
        else:
            ax.plot([pos - 0.35 * width, pos + 0.35 * width], [np.median(v)] * 2, color=color,
                    lw=1.2, gid=f"median-{init}-{arch}")  # fmt: skip
        x = pos + rng.uniform(-0.25, 0.25, len(v)) * width
        marker = styles[init]["marker"] if len(archs) == 1 else MARKERS[j % len(MARKERS)]
        ax.scatter(x, v, s=10, color=color, marker=marker, lw=0, zorder=3,
                   gid=f"runs-{init}-{arch}")  # fmt: skip
    _legend_entries(ax, inits, archs, styles)
    shown = sel["test"].to_numpy(float)
    shown = shown[np.isfinite(shown) & (shown <= cap) & (shown > 0)]
    if not spec["higher_is_better"] and len(shown) and shown.max() > 30 * shown.min():
        ax.set_yscale("log")  # errors spanning decades: learners and non-learners both readable
    notes = []
    if off:
        ax.set_ylim(top=cap)
        notes.append(f"△ {off} run(s) off scale (> {cap:.3g}: diverged)")
    base_note = _baseline(ax, result, task)
    notes += [base_note] if base_note else []
    ax.set_xticks(range(len(inits)), inits, rotation=40, ha="right")
    # notes go in the title, above the axes: never over a point
    head = task if len(archs) > 1 else f"{task} · {archs[0].upper()}"
    ax.set_title(head + "".join(f"\n{n}" for n in notes), fontsize="small")
    ax.set_ylabel(_metric_label(result, task, "test"))
    return ax


def _off_scale(values: np.ndarray, baseline: float, higher_is_better: bool) -> float:
    """The top of the plotted range for an error metric: 10 × the trivial baseline, so a diverged
    run (MSE 1e40) does not flatten every other run to zero; ``inf`` (no cap) otherwise."""
    if higher_is_better or not baseline > 0:
        return np.inf
    cap = 10.0 * baseline
    finite = values[np.isfinite(values)]
    return cap if (~np.isfinite(values)).any() or (finite > cap).any() else np.inf


def _legend_entries(ax: Axes, inits: list[str], archs: list[str], styles: dict) -> None:
    """Invisible proxies so the legend reads: colour (and, for one architecture, marker) =
    initializer, marker = architecture when there are several."""
    for init in inits:
        marker = styles[init]["marker"] if len(archs) == 1 else "s"
        ax.plot([], [], ls="", color=styles[init]["color"], marker=marker, ms=5, label=init)
    for j, arch in enumerate(archs if len(archs) > 1 else ()):  # one arch: named in the title
        ax.plot([], [], ls="", color="0.3", marker=MARKERS[j % len(MARKERS)], label=arch.upper())
    ax.plot([], [], color="0.3", lw=1.2, label=f"median (box: ≥ {BOX_MIN} runs)")


def final_metrics(result: BenchResult) -> Figure:
    """:func:`final_metric` for every task (two panels per row)."""
    from matplotlib.figure import Figure

    tasks = result.levels()["task"]
    cols = min(2, len(tasks))
    rows = -(-len(tasks) // cols)
    fig = Figure(figsize=(FULL_WIDTH, 2.4 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        final_metric(result, task, ax=ax)
    for ax in axes.flat[len(tasks) :]:
        ax.set_visible(False)
    _figure_legend(fig, axes.flat)
    return fig


def bench_figures(result: BenchResult, formats: tuple[str, ...]) -> dict[str, bytes]:
    """A bench's figures (learning curves, final metric) as ``{file name: bytes}``; pass it as
    ``run_bench(..., draw=bench_figures)`` (the bench folder writes them with its tables)."""
    from rnndyn.outputs.staging import close_figure, figure_bytes
    from rnndyn.plots.style import style_context

    out: dict[str, bytes] = {}
    with style_context():
        for name, draw in (
            ("learning_curves", learning_curves),
            ("final_metric", final_metrics),
        ):
            fig = draw(result)
            try:
                out.update(
                    {f"{name}.{fmt}": data for fmt, data in figure_bytes(fig, formats).items()}
                )
            finally:
                close_figure(fig)
    return out

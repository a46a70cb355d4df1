"""Legend layout shared by multi-panel figures."""

from __future__ import annotations

from matplotlib.figure import Figure


def legend_columns(fig: Figure, labels: list[str], most: int) -> int:
    """As many legend columns (up to ``most``) as fit the figure's width: the legend is never
    wider than the figure (a plain ``savefig`` would cut it)."""
    import matplotlib as mpl

    size = mpl.font_manager.FontProperties(
        size=mpl.rcParams["legend.fontsize"]
    ).get_size_in_points()
    width = fig.get_figwidth() * 72 * 0.95
    for ncol in range(min(len(labels), most), 1, -1):
        rows = [labels[i::ncol] for i in range(ncol)]  # column-major like matplotlib, roughly
        need = sum(0.6 * size * max(map(len, col)) + 3.2 * size for col in rows if col)
        if need <= width:
            return ncol
    return 1

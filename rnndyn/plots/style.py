"""The packaged figure style: paper column widths, a colourblind-safe palette, markers and line styles.

Apply it with ``with style_context(): ...``; nothing here changes global rcParams.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

COLUMN_WIDTH = 3.5  # inches, one journal column
FULL_WIDTH = 7.2  # inches, two columns

# Okabe & Ito (2008) colourblind-safe palette.
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # green
    "#CC79A7",  # purple
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)))

RC: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "rnndyn",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "axes.prop_cycle": None,  # filled in style_context (needs matplotlib's cycler)
}


@contextlib.contextmanager
def style_context() -> Iterator[None]:
    """Temporarily apply rnndyn's style (restored on exit)."""
    import matplotlib.pyplot as plt
    from cycler import cycler

    rc = dict(RC, **{"axes.prop_cycle": cycler(color=PALETTE)})
    with plt.style.context(rc):
        yield


def group_style(index: int) -> dict[str, Any]:
    """Colour, marker and line style for the ``index``-th group (told apart without colour too)."""
    return {
        "color": PALETTE[index % len(PALETTE)],
        "marker": MARKERS[index % len(MARKERS)],
        "linestyle": LINESTYLES[index % len(LINESTYLES)],
    }

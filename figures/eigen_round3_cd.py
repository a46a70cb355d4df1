"""The critical-difference diagrams of the eigen initializer's round-3 benches, redrawn from the
committed per-cell summaries (``data/bench/eigen_round3{,b}_summary.csv``) with the current figure
code. The rankings use one value per cell, its median, so the summaries rebuild them exactly
(``tests/test_bench_ranks_reproducible.py`` checks the committed rank files against them). The
per-seed figures ``eigen_round3{,b}.png`` need the bench run folders and are not redrawn here.

    python figures/eigen_round3_cd.py     # writes figures/eigen_round3{,b}_cd{,_gated,_learned}.png
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
RANKED = (("eigen_round3", "eigen3"), ("eigen_round3b", "eigen3b"))
SUFFIX = {"all cells": "", "gated cells": "_gated", "cells someone learned": "_learned"}


def main() -> None:
    import matplotlib.pyplot as plt
    import pandas as pd

    from rnndyn.plots import critical_difference
    from rnndyn.plots.style import style_context
    from rnndyn.tasks import get_task

    spec = importlib.util.spec_from_file_location(
        "eigen_round3_report", ROOT / "scripts" / "eigen_round3_report.py"
    )
    report = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(report)  # type: ignore[union-attr]
    for stem, control in RANKED:
        cells = pd.read_csv(ROOT / "data" / "bench" / f"{stem}_summary.csv")
        cells["seed"], cells["value"] = 0, cells["median"]
        cells["baseline"] = cells["task"].map(lambda t: float(get_task(t).spec.baseline))
        with style_context():
            for name, _, res in report.rankings(cells, control):
                ax = critical_difference(res, subset=f"{stem}, {name}")
                out = ROOT / "figures" / f"{stem}_cd{SUFFIX[name]}.png"
                ax.figure.savefig(out, dpi=150, metadata={"Software": None})
                plt.close(ax.figure)
                print(out.relative_to(ROOT))


if __name__ == "__main__":
    main()

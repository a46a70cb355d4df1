"""Spectra of the trained bench winners vs the eigen and default runs (round-1 analysis).

    python scripts/eigen_winner_spectra.py build/eigen/r1 build/eigen/r1e

For every task × arch: the initializer with the best median test metric, ``eigen`` and
``default``; per run and recurrent operator (``hh`` or gate block) the spectral radius ``rho``,
the median |λ| ``med`` and the fraction of |λ| > 0.9 ``f90``; printed as medians over seeds.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from rnndyn.naming import gate_name
from rnndyn.operators import extract_operators
from rnndyn.readers.checkpoint import load
from rnndyn.training.bench import BenchResult


def main(folders: list[str]) -> int:
    warnings.simplefilter("ignore")
    frames = [BenchResult.load(f).runs_frame().assign(folder=f) for f in folders]
    runs = pd.concat(frames)
    runs = runs[runs.status == "ok"]
    medians = runs.groupby(["task", "arch", "init"])["test"].median().reset_index()
    rows = []
    for (task, arch), g in medians.groupby(["task", "arch"]):
        hib = bool(runs[runs.task == task].higher_is_better.iloc[0])
        win = g.sort_values("test", ascending=not hib).iloc[0]["init"]
        for init in dict.fromkeys([win, "eigen", "default"]):
            sel = runs[(runs.task == task) & (runs.arch == arch) & (runs.init == init)]
            for _, r in sel.iterrows():
                for op in extract_operators(load(Path(r.folder) / r.checkpoint)):
                    m = np.abs(np.linalg.eigvals(op.matrix))
                    rows.append(
                        {
                            **{"task": task, "arch": arch, "init": init, "winner": init == win},
                            **{"gate": gate_name(op.gate), "rho": m.max(), "med": np.median(m)},
                            **{"f90": (m > 0.9).mean(), "test": r.test},
                        }
                    )
    keys = ["task", "arch", "init", "winner", "gate"]
    out = pd.DataFrame(rows).groupby(keys)[["rho", "med", "f90", "test"]].median()
    sys.stdout.write(out.round(3).reset_index().to_string() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

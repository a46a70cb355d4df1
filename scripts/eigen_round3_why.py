"""Why does the eigen law lose where it loses? Spectra at epoch 0 and at the end (issue 17, item 5).

    rnndyn bench --preset eigen3 --tasks adding --archs rnn_relu --inits eigen,irnn \
        --seed-start 20 --seeds 5 --save-every 10 --out build/r3/why --init-params ...
    python scripts/eigen_round3_why.py build/r3/why

For every run with snapshots (``OUT/snapshots/<run>/epoch_*.pt``) and every recurrent operator:
spectral radius, median |λ|, the fraction of |λ| above 0.9 and above 1.001, at the first snapshot
(epoch 0, the initializer's draw) and in the run's final checkpoint (the best epoch's weights) (``rnndyn.load`` → ``extract_operators`` → ``eigendecompose``), and the run's test metric.
Prints one table (medians over seeds per task × arch × init × operator × epoch) and writes it as
CSV next to the folder.
"""

from __future__ import annotations

import sys
from pathlib import Path


def rows_of(folder: Path):
    import numpy as np

    import rnndyn
    from rnndyn.training.bench import BenchResult

    test = {r["id"]: r["metrics"].get("test") for r in BenchResult.load(folder).records}
    for run in sorted((folder / "snapshots").iterdir()):
        snaps = sorted(run.glob("epoch_*.pt"))
        task, arch, init, seed = run.name.split("__")
        final = folder / "checkpoints" / f"{run.name}.pt"  # the kept (best-epoch) weights
        for when, path in (("start", snaps[0]), ("end", final)):
            spec = rnndyn.eigendecompose(rnndyn.extract_operators(rnndyn.load(path)))
            for op in spec.to_frame()["operator"].unique():
                r = np.abs(spec[op].eigenvalues)
                yield {
                    "task": task,
                    "arch": arch,
                    "init": init,
                    "seed": int(seed[1:]),
                    "operator": op,
                    "when": when,
                    "radius": float(r.max()),
                    "median_abs": float(np.median(r)),
                    "above_0.9": float(np.mean(r > 0.9)),
                    "above_1.001": float(np.mean(r > 1.001)),  # not |λ| = 1 up to rounding
                    "test": test.get(run.name),
                }


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    folder = Path((argv or sys.argv[1:])[0])
    df = pd.DataFrame(rows_of(folder))
    df.to_csv(folder / "why.csv", index=False)
    keys = ["task", "arch", "operator", "init", "when"]
    cols = ["radius", "median_abs", "above_0.9", "above_1.001", "test"]
    table = df.groupby(keys, sort=False)[cols].median().round(3)
    print(table.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""DMD eigenvalues against the Jacobian spectra, for the three bundled examples (issue 28).

    python figures/dmd_vs_jacobian.py            # writes figures/gallery/dmd_eigenvalues.png

Each network runs on the default probe (32 × 1000 steps of unit Gaussian noise, a tenth washout);
DMD with control (``rnndyn.dmd(..., control=True)``) on its layer-0 state is drawn over the mean
Jacobian along the same probe and the Jacobian at the zero-input fixed point. Prints the median
and largest gap of the top-8 matched pairs per network and reference (the closing-note table).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "figures" / "gallery" / "dmd_eigenvalues.png"
NAMES = ("gru_tomita4", "lstm_sine", "rnn_adding")


def main() -> None:
    import matplotlib.pyplot as plt

    import rnndyn
    from rnndyn.plots.modes import dmd_eigenvalues, dmd_legend
    from rnndyn.plots.style import FULL_WIDTH, style_context

    results = {n: rnndyn.dmd(ROOT / "data" / "examples" / f"{n}.pt", control=True) for n in NAMES}
    print(f"{'network':<12} {'reference':<22} {'k':>2} {'median gap':>11} {'max gap':>9}")
    for name, res in results.items():
        for m in res.matches:
            print(f"{name:<12} {m.reference:<22} {m.k:>2} {m.median_gap:11.4f} {m.max_gap:9.4f}")
    with style_context():
        fig, axes = plt.subplots(
            1, 3, figsize=(FULL_WIDTH, FULL_WIDTH / 3 + 0.55), layout="constrained"
        )
        for ax, res in zip(axes, results.values(), strict=True):
            dmd_eigenvalues(res, ax=ax, legend=False)
        handles, labels = dmd_legend(axes[0])
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize="x-small")
        OUT.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(OUT, dpi=150)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

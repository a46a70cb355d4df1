"""The gallery: one figure of every kind rnndyn draws, from the bundled examples.

    python figures/gallery.py [GROUP ...]    # spectra init decay bench fixedpoints; all if none
    make -C figures                          # the same, group by group, only what is out of date

Writes ``figures/gallery/<kind>.png``. Inputs: ``data/examples/*.pt`` (three trained networks);
the ``bench`` group trains a tiny grid (sine task, GRU, orthogonal vs default init, 4 seeds, quick
preset sizes) in a temporary folder and compares the trained networks by initializer, so its
figures come from fresh but seeded runs. ``CAPTIONS`` says what to read off each figure (the
gallery page docs/gallery.md uses them).
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "figures" / "gallery"
EXAMPLES = ROOT / "data" / "examples"
DPI = 150

CAPTIONS = {
    "spectrum": "LSTM on sine: eigenvalues of each gate block; points outside the dashed unit "
    "circle grow per step.",
    "modulus_histogram": "RNN on adding: |λ| piles up just below 1 — slow, nearly marginal modes.",
    "timescales": "GRU on Tomita 4: decay time per mode, slowest first; the grey band holds the "
    "modes with |λ| ≥ 1 (no finite timescale), counted in the title. Left: the gate blocks of "
    "weight_hh (properties of the weight matrices, not memory); right: the state Jacobian at the "
    "fixed point, which sets the dynamics.",
    "spectrum_jacobian": "GRU on Tomita 4 (`analyze --jacobian`): the gate weight blocks and, in "
    "its own panel and colour, the state Jacobian at the fixed point — the operator that sets the "
    "dynamics.",
    "init_law": "An eigen law fitted to the three examples: fitted densities (thick) over the "
    "trained eigenvalues (thin steps), per architecture, and a sample from it.",
    "effective_spectrum": "GRU on Tomita 4: measured decay rate of each mode against the rate "
    "its eigenvalue predicts; off-diagonal points are modes the nonlinearity changes.",
    "decay_curves": "Per mode: measured decay of the projected state against |λ|^k, one panel per "
    "slowest mode, the rest summarised.",
    "modal_energy": "Where the state's energy sits, mode by mode, over time.",
    "eigenspace_fraction": "How much of the state lies in each eigenspace over time.",
    "memory_function": "How well the input k steps back can be read out of the state.",
    "lyapunov_spectrum": "Lyapunov exponents along a driven trajectory (per step); > 0 means "
    "nearby trajectories separate.",
    "learning_curves": "Bench (sine, GRU): validation metric per epoch, median and spread over "
    "seeds, per initializer.",
    "final_metric": "Bench: final test metric per initializer, every seed shown.",
    "compare_eigenvalues": "Compare (GRU gate r, trained from two inits): where the eigenvalues "
    "of each group fall in the complex plane.",
    "compare_modulus_ecdf": "Compare: distribution of |λ| per group, one curve per network.",
    "compare_statistics": "Compare: each spectral statistic per network and group, with Cliff's δ "
    "and the test's adjusted p-value (δ and the test defined below the panels).",
    "fixedpoint_spectra": "Fixed points of the GRU on Tomita 4: each point's state Jacobian "
    "eigenvalues (the largest |λ|), zoomed to where they are, with the unit-circle arc.",
    "fixedpoints": "Fixed points: trajectories on their top PCs with the points by stability, "
    "the Jacobian eigenvalues at the points, and the speed q at the end of each search.",
}


def _spec(name: str) -> Any:
    import rnndyn

    return rnndyn.eigendecompose(rnndyn.extract_operators(rnndyn.load(EXAMPLES / f"{name}.pt")))


def spectra() -> Iterator[tuple[str, Any]]:
    """Complex plane, |λ| histogram and timescales: one example network each."""
    from rnndyn.plots.spectra import modulus_histogram_grid, spectrum_grid, timescale_spectrum_grid

    yield "spectrum", spectrum_grid(_spec("lstm_sine"), checkpoint="lstm_sine.pt")
    yield (
        "modulus_histogram",
        modulus_histogram_grid(_spec("rnn_adding"), checkpoint="rnn_adding.pt"),
    )
    from rnndyn.analysis import analyze

    gru = analyze(EXAMPLES / "gru_tomita4.pt", jacobian=True).spectrum
    yield "timescales", timescale_spectrum_grid(gru, checkpoint="gru_tomita4.pt")
    yield "spectrum_jacobian", spectrum_grid(gru, checkpoint="gru_tomita4.pt")


def init() -> Iterator[tuple[str, Any]]:
    """An eigen law fitted to the three examples, with a 256-eigenvalue sample per target."""
    import torch

    from rnndyn.init.fit import EigenInitFitter
    from rnndyn.init.sample import sample_eigenvalues
    from rnndyn.plots.init import law_overview

    fitted = EigenInitFitter(name="examples").fit(sorted(EXAMPLES.glob("*.pt")))
    law = fitted.params_
    g = torch.Generator().manual_seed(0)
    samples = {t: sample_eigenvalues(law, 256, target=t, generator=g) for t in law.targets}
    yield "init_law", law_overview(law, samples, source="fitted to data/examples/*.pt")


def decay() -> Iterator[tuple[str, Any]]:
    """Measured decay of the GRU example (about a minute on a laptop core)."""
    import rnndyn
    from rnndyn.decay import measure_decay
    from rnndyn.plots import decay as plots

    result = measure_decay(rnndyn.load(EXAMPLES / "gru_tomita4.pt"), seed=0)
    for kind in ("effective_spectrum", "memory_function", "lyapunov_spectrum"):
        yield kind, getattr(plots, kind)(result)
    yield "decay_curves", plots.decay_grid(result)
    yield "modal_energy", plots.modal_energy(result)
    yield "eigenspace_fraction", plots.eigenspace_projection(result)


def bench() -> Iterator[tuple[str, Any]]:
    """A tiny bench (trained here, seeded) and a comparison of its networks by initializer."""
    from rnndyn.compare import compare_spectra
    from rnndyn.outputs.staging import safe_name
    from rnndyn.plots import bench as bplots
    from rnndyn.plots.compare import comparison_figures
    from rnndyn.training.bench import run_bench

    with tempfile.TemporaryDirectory() as tmp:
        inits = ["orthogonal", "default"]
        res = run_bench(["sine"], ["gru"], inits, 4, tmp, preset="quick", epochs=6, figures=())
        yield "learning_curves", bplots.learning_curves(res)
        yield "final_metric", bplots.final_metrics(res)
        ckpts = Path(tmp) / "checkpoints"
        groups = {i: sorted(ckpts.glob(f"*__{i}__*.pt")) for i in inits}
        result = compare_spectra(groups=groups, n_permutations=199, n_bootstrap=200, seed=0)
    first = safe_name(f"{result.strata[0][0]}_{result.strata[0][1]}".replace(":", "_"))
    for name, fig in comparison_figures(result):
        if name.endswith(f"_{first}"):
            yield "compare_" + name[: -len(first) - 1], fig
        else:
            import matplotlib.pyplot as plt

            plt.close(fig)


def fixedpoints() -> Iterator[tuple[str, Any]]:
    """Fixed points of the GRU example (128 starts; about a minute on a laptop core)."""
    from rnndyn.dynamics.fixedpoints import find_fixed_points
    from rnndyn.plots.fixedpoints import overview, point_spectra_grid

    result = find_fixed_points(EXAMPLES / "gru_tomita4.pt", n_inits=128, seed=0)
    yield "fixedpoint_spectra", point_spectra_grid(result)
    yield "fixedpoints", overview(result)


GROUPS: dict[str, Callable[[], Iterator[tuple[str, Any]]]] = {
    "spectra": spectra,
    "init": init,
    "decay": decay,
    "bench": bench,
    "fixedpoints": fixedpoints,
}


def write(group: str, out: Path = OUT) -> list[Path]:
    """Draw one group inside rnndyn's style and write its PNGs; returns the paths."""
    import matplotlib.pyplot as plt

    from rnndyn.plots.style import style_context

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with style_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. ill-conditioned eigenbases: expected here
        for kind, obj in GROUPS[group]():
            fig = obj if hasattr(obj, "savefig") else obj.figure
            path = out / f"{kind}.png"
            fig.savefig(path, dpi=DPI, metadata={"Software": None})
            plt.close(fig)
            paths.append(path)
    return paths


def main(argv: list[str]) -> None:
    unknown = [g for g in argv if g not in GROUPS]
    if unknown:
        sys.exit(f"unknown group(s) {unknown}; choose from {', '.join(GROUPS)}")
    for group in argv or list(GROUPS):
        for p in write(group):
            print(p.relative_to(ROOT))


if __name__ == "__main__":
    main(sys.argv[1:])

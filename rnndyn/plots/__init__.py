"""Drawing only: functions take result objects and ``ax=None`` (one panel; returns the Axes) or
``fig=None`` (several panels, ``*_grid``/``*_overview``; returns the Figure).

They never call ``show()`` or ``savefig()``; writing figures is ``rnndyn.outputs.staging``' job.
Submodules are imported lazily so that ``import rnndyn.plots`` does not import matplotlib.
"""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_LAZY = {
    "spectrum": "rnndyn.plots.spectra",
    "spectrum_grid": "rnndyn.plots.spectra",
    "modulus_histogram": "rnndyn.plots.spectra",
    "timescale_spectrum": "rnndyn.plots.spectra",
    "modulus_histogram_grid": "rnndyn.plots.spectra",
    "timescale_spectrum_grid": "rnndyn.plots.spectra",
    "decay_curves": "rnndyn.plots.decay",
    "decay_grid": "rnndyn.plots.decay",
    "eigenspace_projection": "rnndyn.plots.decay",
    "effective_spectrum": "rnndyn.plots.decay_rates",
    "modal_energy": "rnndyn.plots.decay_memory",
    "memory_function": "rnndyn.plots.decay_memory",
    "lyapunov_spectrum": "rnndyn.plots.decay_rates",
    "eigenspace_fraction": "rnndyn.plots.decay",
    "eigenvalue_density": "rnndyn.plots.compare",
    "modulus_ecdf": "rnndyn.plots.compare",
    "statistic_strips": "rnndyn.plots.compare",
    "comparison_figures": "rnndyn.plots.compare",
    "study_figures": "rnndyn.plots.compare",
    "radius_law": "rnndyn.plots.init",
    "phase_law": "rnndyn.plots.init",
    "sampled_spectrum": "rnndyn.plots.init",
    "law_overview": "rnndyn.plots.init",
    "learning_curve": "rnndyn.plots.bench",
    "learning_curves": "rnndyn.plots.bench",
    "final_metric": "rnndyn.plots.bench",
    "final_metrics": "rnndyn.plots.bench",
    "init_styles": "rnndyn.plots.bench",
    "bench_figures": "rnndyn.plots.bench",
    "pca_trajectories": "rnndyn.plots.fixedpoints",
    "point_spectra": "rnndyn.plots.fixedpoints",
    "point_spectra_grid": "rnndyn.plots.fixedpoints",
    "q_histogram": "rnndyn.plots.fixedpoints",
    "bifurcation": "rnndyn.plots.fixedpoints",
    "eigenvalue_paths": "rnndyn.plots.track",
    "spectral_summary": "rnndyn.plots.track",
    "critical_difference": "rnndyn.plots.ranking",
    "pseudospectrum": "rnndyn.plots.pseudospectra",
    "pseudospectra_grid": "rnndyn.plots.pseudospectra",
    "dmd_eigenvalues": "rnndyn.plots.modes",
    "dmd_legend": "rnndyn.plots.modes",
    "similarity_matrix": "rnndyn.plots.modes",
    "similarity_overview": "rnndyn.plots.modes",
    "style_context": "rnndyn.plots.style",
}
_SUBMODULES = (
    "style",
    "spectra",
    "decay",
    "decay_rates",
    "decay_memory",
    "compare",
    "init",
    "bench",
    "fixedpoints",
    "track",
    "ranking",
    "pseudospectra",
    "modes",
)

__all__ = [*_LAZY, "style"]

__getattr__, _dir = lazy_exports(__name__, _LAZY, _SUBMODULES)


def __dir__() -> list[str]:
    return sorted(__all__)

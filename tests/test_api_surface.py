"""What a user sees at the prompt: completion (dir/__all__), short reprs, one plotting convention."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pytest

import rnndyn
import rnndyn.plots

ROOT = Path(__file__).resolve().parent.parent
GRU = ROOT / "data" / "examples" / "gru_tomita4.pt"


def test_dir_lists_the_public_api_and_every_name_resolves():
    names = dir(rnndyn)
    for name in ("load", "eigendecompose", "Spectrum", "Checkpoint", "plots", "__version__"):
        assert name in names
    assert not [n for n in names if n.startswith("_") and n != "__version__"]
    for name in rnndyn.__all__:
        getattr(rnndyn, name)
    plot_names = dir(rnndyn.plots)
    assert {"spectrum", "timescale_spectrum_grid", "law_overview", "style_context"} <= set(
        plot_names
    )
    for name in rnndyn.plots.__all__:
        assert callable(getattr(rnndyn.plots, name)) or name == "style", name


def test_import_rnndyn_plots_stays_cheap():
    code = "import sys, rnndyn, rnndyn.plots; dir(rnndyn.plots); print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _public_functions(module):
    return {
        n
        for n, f in vars(module).items()
        if not n.startswith("_") and inspect.isfunction(f) and f.__module__ == module.__name__
    }


@pytest.mark.parametrize(
    "sub", ["spectra", "init", "decay", "compare", "bench", "fixedpoints", "track", "modes"]
)
def test_every_plotting_function_is_reachable_from_rnndyn_plots(sub):
    module = importlib.import_module(f"rnndyn.plots.{sub}")
    missing = _public_functions(module) - set(rnndyn.plots.__all__) - {"overview"}
    assert not missing, f"add {sorted(missing)} to rnndyn.plots._LAZY (tab completion)"


@pytest.mark.parametrize("sub", ["spectra", "init"])
def test_plotting_convention_ax_or_fig_keyword(sub):
    """One panel: ``ax=None`` → Axes; several: ``fig=None`` → Figure (keyword-usable)."""
    module = importlib.import_module(f"rnndyn.plots.{sub}")
    for name in _public_functions(module):
        sig = inspect.signature(getattr(module, name))
        target = "ax" if "ax" in sig.parameters else "fig"
        param = sig.parameters.get(target)
        assert param is not None and param.default is None, name
        assert param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY), name
        assert sig.return_annotation == ("Axes" if target == "ax" else "Figure"), name


def test_reprs_are_one_short_line():
    from rnndyn.analysis import analyze

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ckpt = rnndyn.load(GRU)
        spec = rnndyn.eigendecompose(rnndyn.extract_operators(ckpt))
        analysis = analyze(GRU)
    n_values = sum(int(t.numel()) for t in ckpt.tensors.values())
    assert repr(ckpt) == (
        f"Checkpoint({str(GRU)!r}, format='torch-zip', sha256={ckpt.sha256[:12]}…, "
        f"{len(ckpt.tensors)} tensors, {n_values:,} values)"
    )
    z = spec["l0.fwd.z"]
    assert repr(z) == (
        f"OperatorSpectrum('rnn:l0.fwd.z', gru, n=32, radius={z.spectral_radius:.4g}, "
        f"outside_unit_circle={z.n_outside_unit_circle})"
    )
    assert repr(spec).startswith("Spectrum(3 operators: rnn:l0.fwd.r (n=32, radius=")
    assert repr(analysis) == "Analysis('gru_tomita4.pt': GRU H=32 ×1; 3 operators)"
    for obj in (ckpt, spec, z, analysis):
        text = repr(obj)
        assert (
            "\n" not in text and len(text) < 240 and "tensor(" not in text and "array(" not in text
        )

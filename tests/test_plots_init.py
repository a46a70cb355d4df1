"""`init show`'s figure: per-architecture rows, gate colours shared with analyze, shared laws
striped (never hidden), trained-eigenvalue histograms from data= or from the law file."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from rnndyn.init.fit import EigenInitFitter
from rnndyn.init.law import Dist, EigenInitParams, TargetLaw
from rnndyn.init.sample import sample_eigenvalues
from rnndyn.plots.init import NOT_RECORDED, law_overview, phase_law, radius_law
from rnndyn.plots.style import PALETTE, gate_style, style_context

UNIFORM = Dist("uniform", {"low": 0.0, "high": np.pi}, "phase")
VM = Dist("vonmises", {"weights": [1.0], "locs": [0.8], "kappas": [4.0]}, "phase")


def _law(radius_mu: float, phase: Dist = UNIFORM) -> TargetLaw:
    radius = Dist("truncnorm", {"mu": radius_mu, "sigma": 0.2, "low": 0.0, "high": 1.5})
    return TargetLaw(radius, phase, real_fraction=0.1, positive_fraction=0.5)


@pytest.fixture
def mixed() -> EigenInitParams:
    """LSTM (i, f share a phase law; g differs) and GRU targets in one file."""
    return EigenInitParams(
        {"i": _law(0.5), "f": _law(0.7), "g": _law(0.9, VM), "r": _law(0.6), "z": _law(0.8)},
        name="mixed",
    )


def _legend_texts(ax) -> list[str]:
    from matplotlib.legend import Legend

    return [t.get_text() for a in ax.get_children() if isinstance(a, Legend) for t in a.get_texts()]


def _rgb(c):
    return mcolors.to_rgb(c)


def test_overview_one_row_per_architecture_and_a_note_when_data_is_missing(mixed):
    samples = {t: np.exp(1j * np.linspace(0, 3, 40)) * 0.5 for t in mixed.targets}
    with style_context():
        fig = law_overview(mixed, samples, source="mixed.json")
    assert len(fig.axes) == 2 * 3  # rows LSTM, GRU × (pair |λ|, phase, sample); no real-λ laws
    ylabels = [ax.get_ylabel() for ax in fig.axes[::3]]
    assert ylabels == ["LSTM\nprobability density", "GRU\nprobability density"]
    assert "mixed.json" in fig.get_suptitle()
    assert NOT_RECORDED in fig._supxlabel.get_text()  # says so, in the figure
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert [[t.get_text() for t in leg.get_texts()] for leg in legends] == [
        ["input gate i", "forget gate f", "cell g"],
        ["reset gate r", "update gate z"],
    ]
    plt.close(fig)


def test_target_colours_match_analyze_and_no_yellow(mixed):
    from rnndyn.operators import OperatorId, RecurrentOperator
    from rnndyn.plots.spectra import spectrum
    from rnndyn.spectrum import eigendecompose

    with style_context():
        ax = radius_law(mixed, targets=["i", "f", "g"])
        op = RecurrentOperator(OperatorId(0, "forward", "f", "rnn", "lstm"), np.eye(3) * 0.5, "x")
        sax = spectrum(eigendecompose([op]))
    law_colour = {ln.get_gid(): _rgb(ln.get_color()) for ln in ax.lines if ln.get_gid()}
    assert law_colour["law-f"] == _rgb(gate_style("f")["color"])
    assert _rgb(sax.collections[0].get_facecolors()[0][:3]) == law_colour["law-f"]
    assert len({law_colour[f"law-{t}"] for t in "ifg"}) == 3
    assert "#F0E442" not in PALETTE
    for a in (ax, sax):
        for ln in a.lines:
            assert _rgb(ln.get_color()) != _rgb("#F0E442")
    plt.close("all")


def test_identical_laws_are_one_striped_line_with_one_label(mixed):
    with style_context():
        ax = phase_law(mixed, targets=["i", "f", "g"])
    shared = [ln for ln in ax.lines if (ln.get_gid() or "").startswith("law-i-f")]
    assert len(shared) == 2  # one stripe per target, same curve
    np.testing.assert_array_equal(shared[0].get_ydata(), shared[1].get_ydata())
    assert [_rgb(ln.get_color()) for ln in shared] == [_rgb(gate_style(t)["color"]) for t in "if"]
    assert shared[0]._dash_pattern[0] != shared[1]._dash_pattern[0]  # offset: both stay visible
    labels = _legend_texts(ax)
    assert "i, f: one law" in labels and "cell g" in labels
    plt.close("all")


def test_trained_histograms_from_data_and_from_the_fitted_file():
    g = torch.Generator().manual_seed(0)
    law = TargetLaw(
        Dist("beta", {"a": 3.0, "b": 2.0, "low": 0.0, "high": 1.0}), VM, real_fraction=0.2
    )
    eigs = [sample_eigenvalues(law, 100, generator=g) for _ in range(6)]
    params = EigenInitFitter(min_separate=10_000).fit({"hh": eigs}).params_
    pooled = np.concatenate(eigs)
    real = np.abs(pooled.imag) <= 1e-10 * np.maximum(1, np.abs(pooled))
    n_pairs_and_reals = int(real.sum() + (pooled.imag > 0).sum())
    for kw in ({"data": {"hh": pooled}}, {}):  # explicit data, then the file's own histograms
        with style_context():
            ax = radius_law(params, **kw)
        (stairs,) = [p for p in ax.patches if p.get_gid() == "trained-hh"]
        dens, edges, _ = stairs.get_data()
        assert np.sum(dens * np.diff(edges)) == pytest.approx(1.0)  # a density, like the law
        texts = _legend_texts(ax)
        assert "fitted law (thick)" in texts
        assert f"trained eigenvalues, n = {n_pairs_and_reals} (thin steps)" in texts
        plt.close("all")
    with style_context():
        fig = law_overview(params)
    assert NOT_RECORDED not in fig._supxlabel.get_text()
    plt.close(fig)


def test_real_eigenvalue_laws_get_their_own_column():
    real = Dist("truncnorm", {"mu": 0.3, "sigma": 0.4, "low": 0.0, "high": 1.5})
    with_real = TargetLaw(_law(0.5).radius, UNIFORM, real_fraction=0.3, real_radius=real)
    params = EigenInitParams({"hh": _law(0.6), "f": with_real, "o": _law(0.7)}, name="r")
    with style_context():
        fig = law_overview(params)
    assert len(fig.axes) == 2 * 3  # rows RNN, LSTM × (pair |λ|, real |λ|, phase)
    rnn_real, lstm_real = fig.axes[1], fig.axes[4]
    assert "no separate law" in " ".join(t.get_text() for t in rnn_real.texts)
    assert [ln.get_gid() for ln in lstm_real.lines if ln.get_gid()] == ["law-f", "unit-radius"]
    assert fig.axes[0].get_xlabel() == "" and fig.axes[3].get_xlabel() == "pair |λ| (per step)"
    plt.close(fig)

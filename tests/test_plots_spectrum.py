"""Spectrum figures: asserted on their artists (points, labels, legends, panels, band), not files."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest
from planted import planted

from rnndyn.operators import OperatorId, RecurrentOperator
from rnndyn.plots.spectra import (
    BAND,
    modulus_histogram,
    modulus_histogram_grid,
    spectrum,
    spectrum_grid,
    timescale_spectrum,
    timescale_spectrum_grid,
)
from rnndyn.plots.style import gate_style, style_context
from rnndyn.spectrum import eigendecompose

# per operator: 3 real + 2 pairs = 7 eigenvalues; |λ| ≥ 1: 1.1 (real) and the pair of modulus 1.2
REAL, PAIRS = [0.9, -0.2, 1.1], [1.2j, 0.2 + 0.1j]


def _ops(arch, gates, layers=(0,), directions=("forward",), seed=0):
    rng = np.random.default_rng(seed)
    ops = []
    for layer in layers:
        for d in directions:
            for gate in gates:
                w, _ = planted(REAL, PAIRS, rng)
                ops.append(RecurrentOperator(OperatorId(layer, d, gate, "rnn", arch), w, "x"))
    return eigendecompose(ops)


@pytest.fixture
def lstm2():
    return _ops("lstm", "ifgo", layers=(0, 1))


def _texts(legend):
    return [t.get_text() for t in legend.get_texts()]


def test_spectrum_points_colours_and_legend(lstm2):
    with style_context():
        ax = spectrum([lstm2[0], lstm2[1]])
    offsets = [c.get_offsets() for c in ax.collections]
    assert sum(len(o) for o in offsets) == 14
    circle = [ln for ln in ax.lines if ln.get_gid() == "unit-circle"]
    x, y = circle[0].get_data()
    assert len(circle) == 1 and np.allclose(np.hypot(x, y), 1.0)
    for c, gate in zip(ax.collections, "if", strict=True):  # conjugates share the gate's colour
        (colour,) = np.unique(c.get_facecolors()[:, :3], axis=0)
        assert np.allclose(colour, mcolors.to_rgb(gate_style(gate)["color"]))
    assert set(_texts(ax.get_legend())) == {
        "|λ| = 1 (unit circle)",
        "input gate i",
        "forget gate f",
    }
    assert "discrete time" in ax.get_xlabel()
    plt.close("all")


def test_pooled_panels_are_named_in_the_legend(lstm2):
    with style_context():
        ax = spectrum([lstm2["l0.fwd.f"], lstm2["l1.fwd.f"]])
    labels = _texts(ax.get_legend())
    assert "LSTM 'rnn', layer 0: forget gate f" in labels
    assert "LSTM 'rnn', layer 1: forget gate f" in labels
    plt.close("all")


def test_marker_size_and_alpha_shrink_with_the_point_count():
    with style_context():
        few = spectrum(_ops("rnn", [None]))
        many = spectrum(
            eigendecompose(
                np.random.default_rng(1).standard_normal((300, 300)) / 18, diagnostics=False
            )
        )
    (a,), (b,) = few.collections, many.collections
    assert b.get_sizes()[0] < a.get_sizes()[0] / 2 and b.get_alpha() < a.get_alpha()
    plt.close("all")


def test_grid_one_panel_per_layer_and_direction_with_architecture_titles():
    spec = _ops("gru", "rzn", layers=(0, 1), directions=("forward", "reverse"))
    with style_context():
        fig = spectrum_grid(spec, checkpoint="net.pt")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4
    titles = [ax.get_title() for ax in visible]
    blocks = ": gate weight blocks (weight-matrix properties)"
    assert titles == [
        "GRU 'rnn', layer 0, forward" + blocks,
        "GRU 'rnn', layer 0, reverse" + blocks,
        "GRU 'rnn', layer 1, forward" + blocks,
        "GRU 'rnn', layer 1, reverse" + blocks,
    ]
    assert fig.get_suptitle().startswith("net.pt: ")
    for ax in visible:
        assert len(ax.collections) == 3  # one per gate, distinct colours and markers
        assert len({tuple(c.get_facecolors()[0]) for c in ax.collections}) == 3
        assert len({c.get_paths()[0].vertices.tobytes() for c in ax.collections}) == 3
        assert ax.get_legend() is None
    (leg,) = fig.legends
    assert set(_texts(leg)) == {
        "|λ| = 1 (unit circle)",
        "reset gate r",
        "update gate z",
        "candidate n",
    }
    plt.close(fig)


def test_histogram_per_gate_with_unit_line(lstm2):
    with style_context():
        ax = modulus_histogram(lstm2.operators[:4])
        fig = modulus_histogram_grid(lstm2, checkpoint="a.pt")
    assert any(ln.get_gid() == "unit-modulus" for ln in ax.lines)
    assert len(ax.patches) == 4
    heights = sum(p.get_path().vertices[:, 1].max() > 0 for p in ax.patches)
    assert heights == 4
    assert "per step" in ax.get_xlabel()
    assert len([a for a in fig.axes if a.get_visible()]) == 2
    plt.close("all")


def test_timescales_keep_non_decaying_modes_out_of_the_curve(lstm2):
    spec = lstm2.operators[:4]
    with style_context():
        ax = timescale_spectrum(spec)
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    expected = np.sort(-1 / np.log(np.abs(np.array(REAL + PAIRS + [np.conj(p) for p in PAIRS]))))
    for gate in "ifgo":
        (curve,) = [ln for ln in ax.lines if ln.get_gid() == f"timescales-rnn:l0.fwd.{gate}"]
        finite = expected[np.isfinite(expected) & (expected > 0)][::-1]
        np.testing.assert_allclose(curve.get_ydata(), finite, rtol=1e-6)
        np.testing.assert_array_equal(curve.get_xdata(), np.arange(4, 8))  # ranks after 3 in band
        (band,) = [ln for ln in ax.lines if ln.get_gid() == f"no-decay-rnn:l0.fwd.{gate}"]
        np.testing.assert_array_equal(band.get_xdata(), [1, 2, 3])
        y = np.asarray(band.get_ydata())
        assert np.all((y > BAND[0]) & (y < BAND[1]))  # axes fraction: inside the band
    top = ax.transAxes.inverted().transform(
        ax.transData.transform((1, expected[np.isfinite(expected)].max()))
    )[1]
    assert top < BAND[0]  # the slowest finite mode sits below the band
    to_axes = ax.transAxes.inverted().transform
    ticks = [*ax.get_yticks(), *ax.get_yticks(minor=True)]
    assert ticks and all(to_axes(ax.transData.transform((1, t)))[1] < BAND[0] for t in ticks)
    labels = _texts(ax.get_legend())
    assert "|λ| ≥ 1 − bound: no finite timescale (n = 12)" in labels
    assert "τ = −1/ln|λ| (steps)" in ax.get_ylabel()
    plt.close("all")


def test_timescale_grid_counts_band_modes_per_panel(lstm2):
    with style_context():
        fig = timescale_spectrum_grid(lstm2, checkpoint="x.pt")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split("\n")[1] for ax in visible] == [
        "12 of 28 modes with |λ| ≥ 1 − bound"
    ] * 2
    (leg,) = fig.legends
    assert "grey band: |λ| ≥ 1 within the error bound, no finite τ" in _texts(leg)
    plt.close(fig)


def test_public_plot_names_resolve_to_functions():
    import rnndyn
    import rnndyn.plots.spectra  # importing submodules must not shadow the functions

    for name in ("spectrum", "spectrum_grid", "effective_spectrum", "law_overview", "modulus_ecdf"):
        assert callable(getattr(rnndyn.plots, name)) and not isinstance(
            getattr(rnndyn.plots, name), type(rnndyn)
        )


def test_band_holds_modes_on_the_circle_within_their_bound():
    """A float32 orthogonal W: every mode is on the unit circle within its bound, so all 32 sit
    in the grey band (a plain |λ| ≥ 1 count would put about half of them there)."""
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((32, 32)))
    w = q.astype(np.float32)
    assert 0 < int((np.abs(np.linalg.eigvals(w.astype(float))) >= 1).sum()) < 32
    with style_context():
        ax = timescale_spectrum(eigendecompose(w))
    assert "|λ| ≥ 1 − bound: no finite timescale (n = 32)" in _texts(ax.get_legend())
    plt.close(ax.figure)

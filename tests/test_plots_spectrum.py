import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from planted import planted

from rnndyn.operators import RecurrentOperator
from rnndyn.plots.spectra import modulus_histogram, spectrum, spectrum_grid, timescale_spectrum
from rnndyn.plots.style import style_context
from rnndyn.spectrum import eigendecompose


@pytest.fixture
def lstm_like():
    rng = np.random.default_rng(0)
    ops = []
    for layer in (0, 1):
        for gate in "ifgo":
            w, _ = planted([0.9, -0.2, 1.1], [0.5 + 0.5j, 0.2 + 0.1j], rng)
            ops.append(RecurrentOperator("rnn", "lstm", layer, "forward", gate, w, "x"))
    return eigendecompose(ops)


def test_spectrum_points_and_unit_circle(lstm_like):
    with style_context():
        ax = spectrum([lstm_like[0], lstm_like[1]])
    offsets = [c.get_offsets() for c in ax.collections]
    assert sum(len(o) for o in offsets) == 14
    circle = [ln for ln in ax.lines if ln.get_gid() == "unit-circle"]
    assert len(circle) == 1
    x, y = circle[0].get_data()
    assert np.allclose(np.hypot(x, y), 1.0)
    # conjugate pairs share colour: all points of one operator have one face colour
    for c in ax.collections:
        assert len(np.unique(c.get_facecolors(), axis=0)) == 1
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"input gate i", "forget gate f"}
    plt.close("all")


def test_grid_one_panel_per_layer_and_gates_distinct(lstm_like):
    with style_context():
        fig = spectrum_grid(lstm_like)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    for ax in visible:
        colls = ax.collections
        assert len(colls) == 4
        assert len({tuple(c.get_facecolors()[0]) for c in colls}) == 4
        assert len({c.get_paths()[0].vertices.tobytes() for c in colls}) == 4  # distinct markers
        assert sum(len(c.get_offsets()) for c in colls) == 4 * 7
    plt.close(fig)


def test_histogram_and_timescales(lstm_like):
    with style_context():
        ax = modulus_histogram(lstm_like)
        assert any(ln.get_gid() == "unit-modulus" for ln in ax.lines)
        assert len(ax.patches) == 4  # one step outline per gate
        ax2 = timescale_spectrum(lstm_like)
        assert ax2.get_yscale() == "log"
        assert len([ln for ln in ax2.lines if len(ln.get_xdata()) == 14]) == 4
    plt.close("all")


def test_public_plot_names_resolve_to_functions():
    import rnndyn
    import rnndyn.plots.spectra  # importing submodules must not shadow the functions

    for name in ("spectrum", "spectrum_grid", "effective_spectrum", "law_overview", "modulus_ecdf"):
        assert callable(getattr(rnndyn.plots, name)) and not isinstance(
            getattr(rnndyn.plots, name), type(rnndyn)
        )

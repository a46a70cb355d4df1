"""Figures a reviewer can read as they come (issue 26): checked on the drawn artists — titles name
the checkpoint and the operator in words, every encoding has a legend entry, legends lie inside the
saved figure (plain ``savefig``, ``bbox_inches=None``), y axes fit the data, categories never share
both colour and marker, and the bounded eigenspace measure stays ≤ 1."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.legend import Legend

from rnndyn.plots.style import categorical_style, figure_title, operator_label


def _legends(fig) -> list[Legend]:
    return [
        *fig.legends,
        *(a for ax in fig.axes for a in ax.get_children() if isinstance(a, Legend)),
    ]


def _assert_legends_inside(fig) -> None:
    """Every legend lies within the figure as a plain ``savefig`` (no tight bbox) writes it."""
    fig.canvas.draw()
    box = fig.bbox
    legends = _legends(fig)
    assert legends, "no legend"
    for leg in legends:
        ext = leg.get_window_extent()
        assert ext.x0 >= box.x0 - 1 and ext.y0 >= box.y0 - 1, leg
        assert ext.x1 <= box.x1 + 1 and ext.y1 <= box.y1 + 1, leg


def _titles(fig) -> str:
    return " ".join([fig.get_suptitle(), *(ax.get_title() for ax in fig.axes)])


@pytest.mark.parametrize(
    ("op", "arch", "words"),
    [
        ("rnn:l0.fwd.r", None, "GRU 'rnn', layer 0, reset gate r (weight block)"),
        ("l1.rev.f", None, "LSTM, layer 1, reverse, forget gate f (weight block)"),
        ("l0.fwd.jacfp", "gru", "GRU, layer 0, state Jacobian at the fixed point"),
        ("l0.fwd.jac", None, "layer 0, mean state Jacobian"),
        ("l0.fwd.hh", "rnn", "RNN, layer 0, recurrent weights $W_{hh}$"),
    ],
)
def test_operator_ids_in_words(op, arch, words):
    assert operator_label(op, arch) == words
    title = figure_title("decay", "runs/x/net.pt", op, arch)
    assert title == f"decay — {words}\nnet.pt"


def test_categorical_styles_never_share_colour_and_marker():
    styles = [categorical_style(i) for i in range(96)]
    pairs = {(s["color"], s["marker"]) for s in styles}
    assert len(pairs) == 96
    assert len({s["color"] for s in styles[:12]}) == 12  # the first 12 differ in colour alone


@pytest.fixture(scope="module")
def decay_result():
    from test_decay import planted_rnn

    from rnndyn.decay.measure import measure_decay

    ckpt, _, _ = planted_rnn(seed=2, cond=30.0)
    return measure_decay(ckpt, probe="noise:3", steps=12, batch=4, modes=8)


def test_decay_grid_small_multiples_fit_their_data(decay_result):
    from rnndyn.plots.decay import decay_grid

    fig = decay_grid(decay_result, slowest=3)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 4  # three slowest modes + the rest
    assert "net.pt" in fig.get_suptitle() and "recurrent weights" in fig.get_suptitle()
    for ax in panels:
        bands = [p.vertices[:, 1] for c in ax.collections for p in c.get_paths()]
        y = np.concatenate([ln.get_ydata() for ln in ax.lines] + bands)
        y = y[np.isfinite(y) & (y > 0)]
        lo, hi = ax.get_ylim()
        assert hi <= y.max() * 1.3 and lo >= y.min() / 1.3  # clipped to the data, not to 10²
    texts = {t.get_text() for leg in _legends(fig) for t in leg.get_texts()}
    assert {"own amplitude (fitted steps)", "whole perturbation"} <= texts
    _assert_legends_inside(fig)
    plt.close("all")


def test_eigenspace_projection_is_drawn_bounded(decay_result):
    from rnndyn.plots.decay import eigenspace_projection

    md = decay_result[0]
    assert np.nanmax(md.eigenspace_fraction) > 1  # the oblique ratio is not a share ...
    ax = eigenspace_projection(decay_result)
    y = np.concatenate([ln.get_ydata() for ln in ax.lines if ln.get_gid().startswith("eigen")])
    assert np.nanmax(y) <= 1.0 and ax.get_ylim()[1] <= 1.05  # ... the drawn measure is
    assert "orthogonal projection" in ax.get_ylabel()
    assert "net.pt" in _titles(ax.figure)
    plt.close("all")


def test_effective_spectrum_legend_off_the_data_and_axes_fitted(decay_result):
    from rnndyn.plots.decay import effective_spectrum

    ax = effective_spectrum(decay_result)
    fig = ax.figure
    (leg,) = _legends(fig)
    fig.canvas.draw()
    assert not leg.get_window_extent().overlaps(ax.get_window_extent())
    assert "recurrent weights" in " ".join(t.get_text() for t in leg.get_texts())
    lo, hi = ax.get_xlim()
    assert (lo, hi) != (0, pytest.approx(1.05)) and lo > 0  # fitted to the rates, not [0, 1.05]
    assert "net.pt" in _titles(fig)
    _assert_legends_inside(fig)
    plt.close("all")


def test_modal_energy_and_memory_function(decay_result):
    from rnndyn.plots.decay import memory_function, modal_energy

    ax = modal_energy(decay_result, max_modes=3)
    assert ax.get_xscale() == "log"
    assert sum(ln.get_gid().startswith("energy-") for ln in ax.lines) == 3
    assert len([c for c in ax.collections if (c.get_gid() or "").startswith("band-")]) == 3
    assert "net.pt" in _titles(ax.figure)
    plt.close("all")
    ax = memory_function(decay_result)
    fig = ax.figure
    total = [a for a in fig.axes if any(ln.get_gid() == "network" for ln in a.lines)]
    assert len(total) == 1 and total[0] is not ax  # the sum has its own panel
    mf = decay_result.memory_function
    assert ax.get_xlim()[1] < mf.shape[0] - 1  # lags cut to where the signal is
    assert "net.pt" in fig.get_suptitle()
    _assert_legends_inside(fig)
    plt.close("all")


def _track_result():
    from rnndyn.training.track import OperatorTrack, TrackResult

    c = 6  # one mode grows through |λ| = 1 between epochs 2 and 3 and back between 4 and 5
    mod = np.array([0.90, 0.95, 0.99, 1.02, 1.01, 0.97])
    ev = np.stack([mod * np.exp(0.3j), mod * np.exp(-0.3j), np.full(c, 0.5 + 0j)], axis=1)
    cks = tuple(
        {
            "path": f"snap/epoch_{e:04d}.pt",
            "sha256": "0" * 64,
            "epoch": e,
            "metrics": {"val_loss": 1.0 / (e + 1), "val_metric": 0.1 * e},
        }
        for e in range(c)
    )
    ops = (OperatorTrack("rnn:l0.fwd.r", ev), OperatorTrack("rnn:l0.fwd.z", ev * 0.9))
    return TrackResult(cks, ops)


def test_track_figures_name_gates_legend_markers_and_break_at_crossings():
    from rnndyn.plots.track import eigenvalue_paths, spectral_summary

    res = _track_result()
    fig = eigenvalue_paths(res)
    assert "epoch_0000.pt … epoch_0005.pt" in fig.get_suptitle()
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert "GRU 'rnn', layer 0, reset gate r (weight block)" in titles
    texts = {t.get_text() for leg in _legends(fig) for t in leg.get_texts()}
    assert {"first checkpoint (epoch 0)", "last checkpoint (epoch 5)"} <= texts
    _assert_legends_inside(fig)
    plt.close(fig)

    fig = spectral_summary(res)
    _assert_legends_inside(fig)
    texts = {t.get_text() for leg in _legends(fig) for t in leg.get_texts()}
    assert "GRU 'rnn', layer 0, update gate z (weight block)" in texts
    ylabels = {ax.get_ylabel() for ax in fig.axes if ax.get_visible()}
    assert {"validation loss", "validation metric"} <= ylabels  # separate, labelled panels
    for ax in fig.axes:
        if ax.get_visible():
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert np.allclose(ticks, np.round(ticks)), ticks  # integer epochs
    (tau,) = [ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == "timescale-rnn:l0.fwd.r"]
    y = np.asarray(tau.get_ydata(), float)
    assert np.isnan(y).sum() == 2  # one gap per crossing, not a jump
    plt.close(fig)


def test_memory_function_on_a_given_axes_puts_the_sum_on_a_twin_axis(decay_result):
    from rnndyn.plots.decay import memory_function

    fig, ax = plt.subplots(layout="constrained")
    assert memory_function(decay_result, ax=ax) is ax
    twins = [
        a for a in fig.axes if a is not ax and any(ln.get_gid() == "network" for ln in a.lines)
    ]
    assert len(twins) == 1
    assert not any(ln.get_gid() == "network" for ln in ax.lines)
    assert "net.pt" in ax.get_title()  # the title goes on the Axes, not over someone's figure
    plt.close(fig)

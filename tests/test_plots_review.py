"""Figures a reviewer accepts (issue 26, second part): asserted on the drawn artists.

Fixed-point Jacobian spectra zoomed per point and named; a gated net's state Jacobian in its own
panel and colour; compare statistics without "≤ 1" titles and with a note for an untestable
statistic; legends inside a plain ``savefig`` bounding box; the decay module split keeps its names.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb
from torch import nn

from rnndyn.readers.checkpoint import Checkpoint

ROOT = Path(__file__).resolve().parent.parent
DIAG = (0.99, 0.97, 0.95, 0.9)  # the fixed point's Jacobian eigenvalues: a cluster near 1


def _legends_inside(fig) -> None:
    """Every legend's box lies inside the figure after a plain (not tight) draw."""
    fig.canvas.draw()
    box = fig.bbox
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    assert legends
    for leg in legends:
        ext = leg.get_window_extent()
        assert ext.x0 >= box.x0 - 1 and ext.x1 <= box.x1 + 1, leg
        assert ext.y0 >= box.y0 - 1 and ext.y1 <= box.y1 + 1, leg


@pytest.fixture(scope="module")
def fixed_points():
    from rnndyn.dynamics.fixedpoints import find_fixed_points

    torch.manual_seed(0)
    net = nn.RNN(1, len(DIAG), dtype=torch.float64)
    with torch.no_grad():
        net.weight_hh_l0.copy_(torch.diag(torch.tensor(DIAG, dtype=torch.float64)))
        net.bias_hh_l0.zero_()
        net.bias_ih_l0.zero_()
    ckpt = Checkpoint("planted_net.pt", "0" * 64, "torch-zip", dict(net.state_dict()), {})
    return find_fixed_points(ckpt, probe="noise:1", n_inits=8)


def test_fixed_point_spectra_are_zoomed_per_point_and_name_checkpoint_and_operator(fixed_points):
    from rnndyn.plots.fixedpoints import point_spectra, point_spectra_grid

    res = fixed_points
    fig = point_spectra_grid(res)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == sum(len(lay) for lay in res.layers) >= 1
    title = fig.get_suptitle()
    assert "planted_net.pt" in title and "state Jacobian at each fixed point" in title
    assert "RNN, layer 0" in title and "jacfp" not in title
    for ax in panels:
        (pts,) = [c for c in ax.collections if str(c.get_gid()).startswith("eigenvalues")]
        xy = np.asarray(pts.get_offsets())
        np.testing.assert_allclose(np.sort(xy[:, 0]), np.sort(DIAG), atol=1e-6)  # the Jacobian
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert (xy[:, 0] > x0).all() and (xy[:, 0] < x1).all()
        assert (xy[:, 1] > y0).all() and (xy[:, 1] < y1).all()
        assert x1 - x0 < 0.5 and y1 - y0 < 0.5  # zoomed: not the whole unit disc
        (arc,) = [ln for ln in ax.lines if ln.get_gid() == "unit-circle"]
        x, y = arc.get_data()
        inside = (x > x0) & (x < x1) & (y > y0) & (y < y1)
        assert inside.any()  # the unit-circle arc crosses the window
    _legends_inside(fig)
    ax = point_spectra(res, top=2)
    (pts,) = [c for c in ax.collections if c.get_gid() == "eigenvalues"]
    np.testing.assert_allclose(np.sort(pts.get_offsets()[:, 0]), [0.97, 0.99], atol=1e-6)
    assert "planted_net.pt" in ax.get_title() and "2 largest |λ| of 4" in ax.get_title()
    plt.close("all")


def test_gated_state_jacobian_has_its_own_panel_and_colour():
    from planted import planted

    from rnndyn.dynamics.jacobian import JacobianOperator
    from rnndyn.naming import OperatorId
    from rnndyn.operators import RecurrentOperator
    from rnndyn.plots.spectra import spectrum_grid, timescale_spectrum_grid
    from rnndyn.plots.style import ARCH_GATES, gate_style
    from rnndyn.spectrum import eigendecompose

    rng = np.random.default_rng(0)
    real, pairs = [0.9, -0.2, 1.1], [1.2j, 0.2 + 0.1j]
    ops = [
        RecurrentOperator(OperatorId(0, "forward", g, "rnn", "gru"), planted(real, pairs, rng)[0])
        for g in "rzn"
    ]
    ops.append(
        JacobianOperator(
            OperatorId(0, "forward", "jacfp", "rnn", "gru"),
            planted(real[:2], pairs[1:], rng)[0],
            converged=True,
            residual=0.0,
            iterations=1,
        )
    )
    spec = eigendecompose(ops)
    for draw in (spectrum_grid, timescale_spectrum_grid):
        fig = draw(spec, checkpoint="gru_tomita4.pt")
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert len(panels) == 2
        weights, dynamics = panels
        assert "gate weight blocks" in weights.get_title()
        assert "state Jacobian: sets the dynamics" in dynamics.get_title()
        assert "not the memory" in fig.get_suptitle()
        gid = "eig-" if draw is spectrum_grid else "timescales-"
        jac = [a for a in dynamics.get_children() if str(a.get_gid()).startswith(gid)]
        assert [str(a.get_gid()) for a in jac] == [f"{gid}rnn:l0.fwd.jacfp"]
        assert not any("jac" in str(a.get_gid()) for a in weights.get_children())
        colour = np.array(to_rgb(gate_style("jacfp")["color"]))
        for arch in ("lstm", "gru"):
            for gate in ARCH_GATES[arch]:
                other = np.array(to_rgb(gate_style(gate)["color"]))
                assert np.abs(colour - other).sum() > 0.5, (arch, gate)
        _legends_inside(fig)
    assert (
        np.abs(
            np.array(to_rgb(gate_style("jac")["color"])) - to_rgb(gate_style("jacfp")["color"])
        ).sum()
        > 0.5
    )
    plt.close("all")


@pytest.fixture(scope="module")
def unstable_both(tmp_path_factory):
    """Two groups whose every network has ρ > 1: the longest timescale is ∞ everywhere."""
    from test_compare import FAST, write_population

    from rnndyn.compare.spectra import compare_spectra

    laws = {"classification": (1.05, 1.3), "regression": (1.1, 1.5)}
    paths = write_population(tmp_path_factory.mktemp("pop"), 3, laws=laws, h=8)
    return compare_spectra(paths["classification"] + paths["regression"], **FAST)


def test_compare_titles_are_informative_and_untestable_is_a_note(unstable_both):
    from rnndyn.plots.compare import statistic_strips

    res = unstable_both
    stats = ["spectral_radius", "longest_timescale", "modulus_q50"]
    fig = statistic_strips(res, statistics=stats, ncols=3)  # legend-free: δ and test below
    titles = [ax.get_title() for ax in fig.axes]
    assert not any("≤ 1" in t or "≤ 1.0" in t for t in titles)
    assert all("Holm" in t for t in (titles[0], titles[2]))  # the correction is named
    radius, timescale = fig.axes[0], fig.axes[1]
    assert "untestable" in timescale.get_title()
    assert not timescale.axison  # no empty axes: a note instead
    (note,) = [t for t in timescale.texts if t.get_gid() == "untestable-note"]
    assert "∞" in note.get_text() and "classification: 3" in note.get_text()
    (strip,) = [c for c in radius.collections if c.get_gid() == "strip-classification"]
    assert strip.get_clip_on() is False  # a point at the edge is drawn whole
    foot = fig._supxlabel.get_text()  # δ defined and the test named, below the panels
    assert "Cliff's delta = P(A > B) − P(A < B)" in foot and "Mann–Whitney" in foot
    assert "l0.fwd.hh" not in fig.get_suptitle() and "recurrent weights" in fig.get_suptitle()
    fig.canvas.draw()
    for ax in fig.axes[:1] + fig.axes[2:]:  # every point within the axes' limits
        lo, hi = ax.get_ylim()
        for c in ax.collections:
            if str(c.get_gid()).startswith("strip-"):
                y = np.asarray(c.get_offsets())[:, 1]
                assert ((y >= lo) & (y <= hi)).all()
    plt.close("all")


def test_pseudospectra_dmd_and_similarity_read_in_words():
    from rnndyn.plots.modes import _mds_labels
    from rnndyn.plots.pseudospectra import pseudospectra_grid
    from rnndyn.pseudospectra import pseudospectrum

    w = np.diag([0.9, 0.5, -0.2])
    p = pseudospectrum(w, epsilon_stored=1e-7, grid=15, operator="rnn:l0.fwd.hh")
    fig = pseudospectra_grid([p], checkpoint="x.pt", arch="rnn")
    title = fig.axes[0].get_title()
    assert title.startswith("RNN 'rnn', layer 0, recurrent weights") and "l0.fwd" not in title
    (leg,) = fig.legends
    assert "where it touches" in [t.get_text() for t in leg.get_texts()]
    # a network and its rotated copy coincide on the MDS map: one label naming both
    coords = np.array([[0.0, 0.0], [1e-9, 0.0], [1.0, 0.5], [0.0, 1.0]])
    labels = _mds_labels(coords, ["a", "a_copy", "b", "c"])
    assert [name for _, name in labels] == ["a = a_copy", "b", "c"]
    plt.close("all")


def test_decay_split_keeps_every_public_name():
    import rnndyn.plots as plots
    import rnndyn.plots.decay as decay

    for name in ("effective_spectrum", "lyapunov_spectrum", "modal_energy", "memory_function"):
        assert getattr(decay, name) is getattr(plots, name)
    for name in ("decay_curves", "decay_grid", "eigenspace_projection", "eigenspace_fraction"):
        assert callable(getattr(plots, name))

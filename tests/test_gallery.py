"""The gallery (figures/gallery.py): its fast groups render every figure kind they promise, with
the right panels, titles and legends; the Makefile and the gallery page (docs/gallery.md) list every kind."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from rnndyn.plots.style import style_context

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gallery():
    spec = importlib.util.spec_from_file_location("gallery", ROOT / "figures" / "gallery.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _legend_texts(fig) -> set[str]:
    from matplotlib.legend import Legend

    legends = [
        *fig.legends,
        *(a for ax in fig.axes for a in ax.get_children() if isinstance(a, Legend)),
    ]
    return {t.get_text() for leg in legends for t in leg.get_texts()}


def test_spectra_group(gallery):
    with style_context():
        figs = dict(gallery.spectra())
    assert list(figs) == ["spectrum", "modulus_histogram", "timescales", "spectrum_jacobian"]
    for name, ckpt, arch, gates in [
        (
            "spectrum",
            "lstm_sine.pt",
            "LSTM",
            {"input gate i", "forget gate f", "cell g", "output gate o"},
        ),
        ("modulus_histogram", "rnn_adding.pt", "RNN", {"$W_{hh}$", "|λ| = 1"}),
        ("timescales", "gru_tomita4.pt", "GRU", {"reset gate r", "update gate z", "candidate n"}),
    ]:
        fig = figs[name]
        panels = [ax for ax in fig.axes if ax.get_visible()]
        # one module, one layer, one direction; the GRU's state Jacobian in a panel of its own
        assert len(panels) == (2 if name == "timescales" else 1), name
        assert fig.get_suptitle().startswith(ckpt)
        assert panels[0].get_title().startswith(f"{arch} 'rnn', layer 0")
        assert gates <= _legend_texts(fig), name
        assert panels[0].get_xlabel() and panels[0].get_ylabel()
    tau, jac = (ax for ax in figs["timescales"].axes if ax.get_visible())
    assert "gate weight blocks" in tau.get_title() and "sets the dynamics" in jac.get_title()
    for name in ("timescales", "spectrum_jacobian"):
        assert "state Jacobian at the fixed point" in _legend_texts(figs[name])
    n_band = int(re.search(r"(\d+) of 96 modes with \|λ\| ≥ 1", tau.get_title()).group(1))
    band_points = sum(
        len(ln.get_xdata()) for ln in tau.lines if ln.get_gid().startswith("no-decay")
    )
    assert n_band == band_points > 0
    plt.close("all")


def test_init_group(gallery):
    with style_context():
        ((name, fig),) = list(gallery.init())
    assert name == "init_law"
    assert fig.get_suptitle().startswith("eigen law 'examples'")
    ylabels = [ax.get_ylabel().split("\n")[0] for ax in fig.axes if "density" in ax.get_ylabel()]
    assert ylabels[:: len(ylabels) // 3] == ["RNN", "LSTM", "GRU"]  # one row per architecture
    trained = [
        p for ax in fig.axes for p in ax.patches if (p.get_gid() or "").startswith("trained-")
    ]
    assert len(trained) >= 8  # every target's trained |λ| and θ
    assert {"input gate i", "reset gate r", "$W_{hh}$"} <= _legend_texts(fig)
    assert "not record" not in fig._supxlabel.get_text()
    plt.close("all")


def test_every_kind_has_a_caption_a_make_group_and_a_gallery_page_entry(gallery):
    make = (ROOT / "figures" / "Makefile").read_text()
    groups = re.search(r"^GROUPS := (.+)$", make, re.M).group(1).split()
    assert groups == list(gallery.GROUPS)
    page = (ROOT / "docs" / "gallery.md").read_text()  # the site's gallery (docs/figures → figures)
    for kind, caption in gallery.CAPTIONS.items():
        assert f"figures/gallery/{kind}.png" in page, kind
        assert caption.split(":")[0] in page, kind

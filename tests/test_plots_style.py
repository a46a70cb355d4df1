"""The shared figure style: gate colours, no yellow, point sizes by count, user style sheets
(library and `--style` on the command line)."""

import itertools

import matplotlib

matplotlib.use("Agg")
from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.image as mimage
import matplotlib.pyplot as plt
import numpy as np
import pytest

from rnndyn.errors import InvalidInputError
from rnndyn.naming import GATES
from rnndyn.plots.style import (
    PALETTE,
    gate_name,
    gate_style,
    panel_title,
    read_style_sheet,
    scatter_style,
    style_context,
    style_legend,
)


def test_gates_of_one_architecture_differ_in_colour_marker_and_line_style():
    for arch, gates in GATES.items():
        for key in ("color", "marker", "linestyle"):
            values = [str(gate_style(g)[key]) for g in gates]
            assert len(set(values)) == len(values), (arch, key)
    assert gate_style(None) == gate_style("hh")
    assert gate_name("f") == "forget gate f" and gate_name("z") == "update gate z"


def test_palette_has_no_light_colour_on_white():
    for c in PALETTE:
        r, g, b = mcolors.to_rgb(c)
        assert 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.75, c  # relative luminance: not yellow


def test_sequential_map_stops_before_its_light_end():
    from rnndyn.plots.style import sequential_cmap

    for name in ("viridis", "cividis", "plasma"):
        r, g, b, _ = sequential_cmap(name)(1.0)
        assert 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.7, name


def test_markers_shrink_and_fade_with_the_count():
    sizes = [scatter_style(n) for n in (10, 50, 200, 768, 10_000)]
    assert all(a["s"] >= b["s"] and a["alpha"] >= b["alpha"] for a, b in itertools.pairwise(sizes))
    assert sizes[0]["s"] > 3 * sizes[-1]["s"]


def test_panel_title_names_the_architecture_not_the_attribute():
    assert panel_title("gru", "rnn", 0, "forward") == "GRU 'rnn', layer 0"
    assert panel_title("lstm", "encoder", 1, "reverse") == "LSTM 'encoder', layer 1, reverse"


def test_style_legend_keeps_the_existing_legend():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="data")
    ax.legend()
    style_legend(ax, {"measured": {"ls": "-"}, "predicted": {"ls": "--"}}, loc="lower right")
    from matplotlib.legend import Legend

    texts = {
        t.get_text() for a in ax.get_children() if isinstance(a, Legend) for t in a.get_texts()
    }
    assert texts == {"data", "measured", "predicted"}
    plt.close(fig)


def test_user_style_sheet_goes_on_top_and_is_restored(tmp_path):
    sheet = tmp_path / "paper.mplstyle"
    sheet.write_text("font.size: 6.5\nlines.linewidth: 2.5  # thick\n")
    before = plt.rcParams["font.size"]
    with style_context(sheet):
        assert plt.rcParams["font.size"] == 6.5 and plt.rcParams["lines.linewidth"] == 2.5
        assert plt.rcParams["pdf.fonttype"] == 42  # rnndyn's own settings stay
    assert plt.rcParams["font.size"] == before


@pytest.mark.parametrize(
    "text, words",
    [("font.sise: 6\n", "Bad key font.sise"), ("lines.linewidth: fat\n", "Could not convert")],
)
def test_bad_style_sheets_are_refused_with_the_file_named(tmp_path, text, words):
    sheet = tmp_path / "bad.mplstyle"
    sheet.write_text(text)
    with pytest.raises(InvalidInputError) as err:
        read_style_sheet(sheet)
    assert str(sheet) in str(err.value) and words in str(err.value)
    with pytest.raises(InvalidInputError, match="no such style sheet"):
        read_style_sheet(tmp_path / "missing.mplstyle")


def test_cli_style_option_reaches_the_figures(tmp_path, runner):
    from rnndyn_cli.app import app

    ckpt = str(Path(__file__).resolve().parent.parent / "data/examples/rnn_adding.pt")
    sheet = tmp_path / "red.mplstyle"
    sheet.write_text("figure.facecolor: ff0000\n")
    for name, extra in (("plain", []), ("red", ["--style", str(sheet)])):
        res = runner.invoke(
            app, ["analyze", ckpt, "--out", str(tmp_path / name), "--format", "png", *extra]
        )
        assert res.exit_code == 0, res.output
    plain = mimage.imread(tmp_path / "plain" / "spectrum.png")[2, 2, :3]
    red = mimage.imread(tmp_path / "red" / "spectrum.png")[2, 2, :3]
    np.testing.assert_allclose(plain, [1, 1, 1])
    np.testing.assert_allclose(red, [1, 0, 0])
    bad = tmp_path / "bad.mplstyle"
    bad.write_text("font.sise: 6\n")
    res = runner.invoke(app, ["analyze", ckpt, "--out", str(tmp_path / "x"), "--style", str(bad)])
    assert res.exit_code == 2 and "font.sise" in res.output
    assert not (tmp_path / "x").exists()  # refused before any work


@pytest.mark.parametrize(
    "command", [["analyze"], ["decay"], ["compare"], ["init", "show"], ["fixedpoints"], ["track"]]
)
def test_every_figure_command_offers_style(runner, command):
    from rnndyn_cli.app import app

    res = runner.invoke(app, [*command, "--help"])
    assert res.exit_code == 0 and "--style" in res.output

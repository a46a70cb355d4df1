"""The packaged figure style, shared by every rnndyn figure.

- ``style_context(path=None)``: rnndyn's rcParams, then the user's matplotlib style sheet on top;
  nothing here changes global rcParams.
- ``PALETTE``: Okabe & Ito's colourblind-safe colours without the yellow (unreadable on white).
- ``gate_style(gate)``: one colour, marker and line style per gate (``hh``, LSTM ``i f g o``, GRU
  ``r z n``, ``jac``), the same in ``analyze``, ``decay``, ``compare`` and ``init show``; gates of
  one architecture never share a colour.
- ``scatter_style(n)``: marker size and alpha by point count, so hundreds of points do not overplot.
- ``style_legend(ax, entries)``: a legend that says what each line style / marker means.
- ``panel_title(...)``: "GRU 'rnn', layer 0" style titles with the right architecture.
- ``operator_label(id, arch)``: an operator id in words ("GRU 'rnn', layer 0, reset gate r";
  "state Jacobian at the fixed point"); ``figure_title(what, checkpoint, id, arch)`` adds what the
  figure shows and the checkpoint it comes from.
- ``CATEGORICAL`` / ``categorical_style(i)``: 12 colours × 8 markers, no two of the first 96
  categories sharing both colour and marker (initializers in bench figures).
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from os import PathLike
from typing import TYPE_CHECKING, Any

from rnndyn.naming import GATES as _ARCH_GATES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.legend import Legend

COLUMN_WIDTH = 3.5  # inches, one journal column
FULL_WIDTH = 7.2  # inches, two columns

# Okabe & Ito (2008) colourblind-safe palette, minus its yellow (#F0E442: invisible on white),
# then two of Tol's muted colours.
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # green
    "#CC79A7",  # purple
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#882255",  # wine (Tol's muted scheme): groups 8 and 9 stay distinct (e.g. 9 initializers)
    "#999933",  # olive
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# 12 categorical colours: Okabe & Ito's seven (no yellow) and five of Tol's muted scheme, each
# readable on white; with MARKERS the (colour, marker) pair is unique for 12 · 8 = 96 categories.
CATEGORICAL = (
    *PALETTE[:7],
    "#882255",  # wine
    "#999933",  # olive
    "#44AA99",  # teal
    "#332288",  # indigo
    "#CC6677",  # rose
)
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)))
GREY = "0.45"  # reference lines (unit circle, |λ| = 1)

# Gates: (palette slot, display name). Slots are distinct within each architecture
# (RNN hh; LSTM i f g o; GRU r z n) and equal across commands.
GATES: dict[str, tuple[int, str]] = {
    "hh": (0, "$W_{hh}$"),
    "i": (0, "input gate i"),
    "f": (1, "forget gate f"),
    "g": (2, "cell g"),
    "o": (3, "output gate o"),
    "r": (0, "reset gate r"),
    "z": (1, "update gate z"),
    "n": (2, "candidate n"),
    # The Jacobians (the operators that set the dynamics) take colours no gate uses: wine, black.
    "jac": (7, "mean state Jacobian (along the probe)"),
    "jacfp": (6, "state Jacobian at the fixed point"),
    "*": (8, "all targets"),
}
GATE_ORDER = tuple(GATES)
ARCH_GATES = _ARCH_GATES  # gates per architecture, in PyTorch's order (rnndyn.naming)

RC: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "rnndyn",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "image.cmap": "viridis",
    "axes.prop_cycle": None,  # filled in style_context (needs matplotlib's cycler)
}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def read_style_sheet(path: str | PathLike[str]) -> dict[str, Any]:
    """The rcParams of a matplotlib style sheet; ``InvalidInputError`` naming the file if it is
    missing, unreadable or sets keys matplotlib does not know."""
    from pathlib import Path

    import matplotlib as mpl

    from rnndyn.errors import InvalidInputError

    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(
            "no such style sheet", path=p, hint="Pass a matplotlib .mplstyle file."
        )
    try:
        nbytes = p.stat().st_size
    except OSError as err:
        raise InvalidInputError(f"cannot read the style sheet: {err.strerror}", path=p) from None
    if nbytes > MAX_STYLE_BYTES:
        raise InvalidInputError(
            f"the style sheet is {nbytes / 2**20:.3g} MiB; style sheets are small text files "
            f"(at most {MAX_STYLE_BYTES >> 10} KiB here)",
            path=p,
        )
    caught = _Collect()
    log = logging.getLogger(
        "matplotlib"
    )  # matplotlib reports bad keys/values here, not as warnings
    log.addHandler(caught)
    old, log.propagate = log.propagate, False
    try:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            rc = mpl.rc_params_from_file(p, use_default_template=False)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InvalidInputError(f"cannot read the style sheet: {err}", path=p) from None
    finally:
        log.removeHandler(caught)
        log.propagate = old
    texts = caught.messages + [str(w.message) for w in warned]
    bad = [next((ln for ln in m.splitlines() if ln.strip()), m) for m in texts]
    if bad:
        raise InvalidInputError(
            f"not a valid matplotlib style sheet: {'; '.join(bad[:3])}",
            path=p,
            hint="See https://matplotlib.org/stable/users/explain/customizing.html.",
        )
    out: dict[str, Any] = {
        k: rc[k] for k in rc if k not in _NOT_STYLE
    }  # matplotlib would warn and ignore them
    check_values(out, p)
    return out


MAX_STYLE_BYTES = 256 << 10
# matplotlib's list of rcParams that are not style (it warns and ignores them in a style sheet)
_NOT_STYLE = frozenset(
    [
        "backend",
        "backend_fallback",
        "interactive",
        "toolbar",
        "timezone",
        "figure.max_open_warning",
        "figure.raise_window",
        "savefig.directory",
        "tk.window_focus",
        "docstring.hardcopy",
        "date.epoch",
        "webagg.address",
        "webagg.port",
        "webagg.port_retries",
        "webagg.open_in_browser",
    ]
)
MAX_NUMBER = 1e6  # any number in a style sheet
MAX_SIZE = 1e4  # sizes, widths, pads and lengths (points)
MAX_DPI = 2400.0
MAX_FIGSIZE = 1000.0  # inches
MAX_PIXELS = 2.5e8  # a figure's width × height at its dpi
_SIZE_WORDS = ("size", "width", "pad", "length", "spacing", "linewidth")


def check_values(rc: dict[str, Any], path: Any) -> None:
    """Refuse (``InvalidInputError`` naming the key) values matplotlib accepts but cannot draw:
    non-finite or huge numbers, ``text.usetex`` without a LaTeX installation, figures too large."""
    import shutil

    from rnndyn.errors import InvalidInputError

    def bad(key: str, value: Any, why: str) -> InvalidInputError:
        return InvalidInputError(
            f"the style sheet sets {key}: {value!r}, which {why}",
            path=path,
            hint=f"Remove or change the {key} line.",
        )

    for key, value in rc.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            if not math.isfinite(v):
                raise bad(key, value, "is not a finite number")
            last = key.rsplit(".", 1)[-1]
            cap = MAX_DPI if last == "dpi" else MAX_FIGSIZE if last == "figsize" else None
            if cap is None:
                cap = MAX_SIZE if any(w in last for w in _SIZE_WORDS) else MAX_NUMBER
            if abs(v) > cap:
                raise bad(key, value, f"is beyond what can be drawn (at most {cap:g})")
    if rc.get("text.usetex") is True and shutil.which("latex") is None:
        raise bad("text.usetex", True, "needs LaTeX, which is not installed (no latex on PATH)")
    for fig in ("figure", "savefig"):
        size: Any = rc.get("figure.figsize")
        dpi: Any = rc.get(f"{fig}.dpi")
        sized = isinstance(size, (list, tuple)) and len(size) == 2
        numeric = isinstance(dpi, (int, float)) and not isinstance(dpi, bool)
        if sized and numeric and float(size[0]) * float(size[1]) * float(dpi) ** 2 > MAX_PIXELS:
            raise bad(f"{fig}.dpi", dpi, f"with figure.figsize {size} makes too many pixels")


def rc_params(path: str | PathLike[str] | None = None) -> dict[str, Any]:
    """rnndyn's rcParams, with the style sheet at ``path`` (if any) applied on top."""
    from cycler import cycler

    rc = dict(RC, **{"axes.prop_cycle": cycler(color=PALETTE)})
    if path is not None:
        rc.update(read_style_sheet(path))
    return rc


@contextlib.contextmanager
def style_context(path: str | PathLike[str] | None = None) -> Iterator[None]:
    """Temporarily apply rnndyn's style, then the matplotlib style sheet ``path`` on top."""
    import matplotlib.pyplot as plt

    with plt.style.context(rc_params(path)):
        yield


def sequential_cmap(name: str = "viridis") -> Colormap:
    """A sequential colour map cut before its light end (no yellow-on-white lines)."""
    import matplotlib as mpl
    import numpy as np
    from matplotlib.colors import ListedColormap

    base = mpl.colormaps[name]
    return ListedColormap(base(np.linspace(0.0, 0.75, 256)), name=f"{name}_dark")


def group_style(index: int) -> dict[str, Any]:
    """Colour, marker and line style for the ``index``-th group (told apart without colour too)."""
    return {
        "color": PALETTE[index % len(PALETTE)],
        "marker": MARKERS[index % len(MARKERS)],
        "linestyle": LINESTYLES[index % len(LINESTYLES)],
    }


def categorical_style(index: int) -> dict[str, Any]:
    """Colour, marker and line style of the ``index``-th category: colour ``i mod 12`` and marker
    ``(i + i // 12) mod 8``, so two categories sharing a colour (12 apart) differ in marker for
    the first 96; the first 12 differ in colour and, mostly, marker too."""
    nc, nm = len(CATEGORICAL), len(MARKERS)
    return {
        "color": CATEGORICAL[index % nc],
        "marker": MARKERS[(index + index // nc) % nm],
        "linestyle": LINESTYLES[index % len(LINESTYLES)],
    }


def gate_style(gate: str | None) -> dict[str, Any]:
    """Colour, marker and line style of a gate (``None`` = ``hh``), identical in every figure."""
    slot = GATES.get(gate or "hh", (5, ""))[0]
    return group_style(slot)


def gate_name(gate: str | None) -> str:
    """Display name of a gate: ``"forget gate f"``, ``"$W_{hh}$"``, …"""
    return GATES.get(gate or "hh", (0, gate or "hh"))[1]


def scatter_style(n: int) -> dict[str, float]:
    """Marker area (pt²) and alpha for ``n`` points in one panel: smaller and lighter as n grows."""
    ref = 50.0 / max(n, 1)
    return {
        "s": float(min(14.0, max(2.0, 14.0 * ref**0.5))),
        "alpha": min(0.9, max(0.35, ref**0.25)),
    }


def panel_title(
    arch: str, module: str = "", layer: int | None = None, direction: str | None = None
) -> str:
    """``"GRU 'rnn', layer 0"`` (``", reverse"`` only for the reverse direction)."""
    text = arch.upper() if arch else "operator"
    if module:
        text += f" {module!r}"
    if layer is not None:
        text += f", layer {layer}"
    if direction and direction != "forward":
        text += f", {direction}"
    return text


# Operators in words: what each gate block is, and what the two Jacobians are.
OPERATOR_WORDS: dict[str, str] = {
    "hh": "recurrent weights $W_{hh}$",
    "i": "input gate i",
    "f": "forget gate f",
    "g": "cell candidate g",
    "o": "output gate o",
    "r": "reset gate r",
    "z": "update gate z",
    "n": "candidate n",
    "jac": "mean state Jacobian",
    "jacfp": "state Jacobian at the fixed point",
}
_GATE_ARCH = {g: a for a, gates in _ARCH_GATES.items() for g in gates}


def operator_label(operator: str, arch: str | None = None) -> str:
    """An operator id in words: ``"rnn:l0.fwd.r"`` → ``"GRU 'rnn', layer 0, reset gate r"``;
    ``"l0.fwd.jacfp"`` → ``"layer 0, state Jacobian at the fixed point"``. A gate letter implies
    its architecture; ``arch`` fills it in for ``hh``/``jac``/``jacfp``. An id that does not parse
    is returned as it is."""
    from rnndyn.naming import parse_operator_id

    try:
        op = parse_operator_id(operator)
    except ValueError:
        return operator
    a = arch if op.gate in ("hh", "jac", "jacfp") else _GATE_ARCH.get(op.gate, arch)
    parts = [f"{a.upper()} {op.module!r}" if op.module else a.upper()] if a else []
    parts += [f"{op.module!r}"] if op.module and not a else []
    parts += [f"layer {op.layer}"] + (["reverse"] if op.direction == "reverse" else [])
    words = OPERATOR_WORDS.get(op.gate, op.gate)
    parts.append(words + (" (weight block)" if op.gate in _GATE_ARCH and op.gate != "hh" else ""))
    return ", ".join(parts)


def figure_title(
    what: str,
    checkpoint: str | None = None,
    operator: str | None = None,
    arch: str | None = None,
) -> str:
    """``"what — <operator in words>"`` over ``"<checkpoint>"``: every figure says what it shows,
    for which operator and from which checkpoint (or group)."""
    from pathlib import PurePath

    line = what if operator is None else f"{what} — {operator_label(operator, arch)}"
    if checkpoint:
        line += f"\n{PurePath(str(checkpoint)).name}"
    return line


def style_legend(
    ax: Axes, entries: Mapping[str, Mapping[str, Any]], *, keep: bool = True, **kwargs: Any
) -> Legend:
    """Add a legend explaining line styles / markers: ``{"measured": {"ls": "-"}, ...}``.

    Each entry's keywords go to a grey ``Line2D`` proxy (``color`` may be overridden). With
    ``keep`` an existing legend on ``ax`` stays; ``kwargs`` go to ``ax.legend``.
    """
    from matplotlib.lines import Line2D

    old = ax.get_legend() if keep else None
    handles = [Line2D([], [], **{"color": "0.3", **dict(kw)}) for kw in entries.values()]
    leg = ax.legend(handles, list(entries), **kwargs)
    if old is not None:
        ax.add_artist(old)
    return leg


def legend_outside(ax: Axes, **kwargs: Any) -> Legend | None:
    """The Axes' legend to the right of it (never over the data); ``None`` if nothing is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    if not labels:
        return None
    kw = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0}
    return ax.legend(handles, labels, **{**kw, **kwargs})

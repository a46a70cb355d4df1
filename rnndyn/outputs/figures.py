"""Figures to bytes: every figure rnndyn writes is rendered here, in memory (so a full disk fails
when the bytes are written, never half-way through a file), at 300 dpi with TrueType fonts and no
timestamps (so outputs are reproducible byte for byte)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rnndyn._util.atomic import displayable

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

FIGURE_DPI = 300
_SAVE_METADATA: dict[str, dict[str, str | None]] = {
    "pdf": {"CreationDate": None},
    "svg": {"Date": None},
    "png": {},
}


def figure_bytes(fig: Figure, formats: Iterable[str]) -> dict[str, bytes]:
    """``fig`` rendered in memory per format: 300 dpi, TrueType fonts, no timestamps."""
    import matplotlib

    rc: Any = {"svg.hashsalt": "rnndyn", "pdf.fonttype": 42, "ps.fonttype": 42}
    displayable_texts(fig)
    out = {}
    with matplotlib.rc_context(rc):
        for fmt in formats:
            buffer = io.BytesIO()
            fig.savefig(
                buffer,
                format=fmt,
                dpi=FIGURE_DPI,
                metadata=_SAVE_METADATA[fmt],
                bbox_inches="tight",
            )
            out[fmt] = buffer.getvalue()
    return out


def close_figure(fig: Figure) -> None:
    """Close ``fig`` if pyplot knows it (figures made without pyplot need nothing)."""
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)


def displayable_texts(fig: Figure) -> None:
    """Escape undecodable file-name bytes in every text of ``fig`` (fonts cannot draw them)."""
    texts: list[Any] = fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "set_text"))
    for text in texts:
        content = text.get_text()
        if isinstance(content, str) and displayable(content) != content:
            text.set_text(displayable(content))

"""One report writer: a result's tables, JSON documents, texts and figures → one output folder.

A command describes *what* it writes as a :class:`Report`; :func:`write_report` does the rest the
same way for every command: files are staged and published all at once (``rnndyn.outputs.staging``),
tables become CSV (+ Parquet when pyarrow is installed), JSON is strict, figures are drawn inside
rnndyn's plot style and saved in the requested formats, and ``manifest.json`` records the run::

    report = Report(command="analyze", inputs=[{"path": "a.pt", "sha256": "..."}])
    report.document("analysis.json", analysis.to_dict())
    report.table("eigenvalues", analysis.to_frame())
    report.figure("spectrum", lambda: spectrum_grid(analysis.spectrum))
    write_report(report, "results/", force=False, formats=("pdf", "png"))

Figures are given as functions, so nothing is drawn before the folder is known to be writable, and
so that each is drawn (and closed) one at a time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnndyn.outputs.staging import StagedOutput, check_output_folder, staged_output

__all__ = [
    "Report",
    "check_output_folder",
    "write_into",
    "write_report",
]

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

    from rnndyn.outputs.manifest import HashedInput


#: A function drawing one figure; it may return the Figure or any Axes of it.
FigureSource = Callable[[], Any]
#: A function drawing several figures at once: yields ``(name, Figure or Axes)``.
FigureSet = Callable[[], Iterable[tuple[str, Any]]]


@dataclass(eq=False)
class Report:
    """What one run writes. Names are relative paths of ``[A-Za-z0-9_.+=@,-]`` parts.

    Attributes:
        command: the command (or API function) that made it, recorded in the manifests.
        inputs: ``{"path", "sha256"}`` per input file, recorded in the manifests.
        documents: file name → JSON-ready object (written as strict, sorted JSON).
        tables: base name → tidy DataFrame (``name.csv`` and ``name.parquet``).
        texts: file name → text (e.g. ``report.md``), or a function of the base names of the
            figures written (for a text that links them), called after the figures are drawn.
        figures: ``(base name, FigureSource)`` in drawing order (``name.pdf``, ``name.png``, …).
        figure_sets: FigureSets, for plotting functions that make several figures together.
        parts: sub-folder name → Report (e.g. one per checkpoint).
    """

    command: str | None = None
    inputs: list[HashedInput] = field(default_factory=list)
    documents: dict[str, object] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    texts: dict[str, str | Callable[[list[str]], str]] = field(default_factory=dict)
    figures: list[tuple[str, FigureSource]] = field(default_factory=list)
    figure_sets: list[FigureSet] = field(default_factory=list)
    parts: dict[str, Report] = field(default_factory=dict)

    def document(self, name: str, obj: object) -> Report:
        """Add a JSON document; returns self for chaining."""
        self.documents[name] = obj
        return self

    def table(self, name: str, df: pd.DataFrame) -> Report:
        """Add a tidy table (``name`` without extension)."""
        self.tables[name] = df
        return self

    def text(self, name: str, text: str | Callable[[list[str]], str]) -> Report:
        """Add a text file (or a function of the written figures' base names making it)."""
        self.texts[name] = text
        return self

    def figure(self, name: str, draw: FigureSource) -> Report:
        """Add a figure drawn by ``draw()`` when the report is written."""
        self.figures.append((name, draw))
        return self

    def figure_set(self, draw: FigureSet) -> Report:
        """Add several figures drawn together by ``draw()`` (yielding ``(name, figure)``)."""
        self.figure_sets.append(draw)
        return self

    def part(self, name: str, report: Report) -> Report:
        """Add a sub-folder written from another Report."""
        self.parts[name] = report
        return self


def write_report(
    report: Report,
    out: str | os.PathLike[str],
    *,
    force: bool = False,
    formats: Iterable[str] = ("pdf", "png"),
    protect: Iterable[str | os.PathLike[str]] = (),
    style: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Write ``report`` into the folder ``out`` all at once; returns the relative paths written.

    ``style``: a matplotlib style sheet applied on top of rnndyn's style to every figure.

    Refusals and failures are OutputError (exit 5): a folder holding files rnndyn did not write,
    rnndyn's earlier output without ``force``, an unwritable or full disk. ``protect`` (the
    inputs) is never overwritten. On any error or Ctrl-C nothing in ``out`` changes.
    """
    with staged_output(out, force=force, formats=formats, protect=protect) as stage:
        stage.run_info.update(command=report.command, inputs=list(report.inputs))
        written = write_into(stage, report, style=style)
    return written


def write_into(
    stage: StagedOutput, report: Report, *, style: str | os.PathLike[str] | None = None
) -> list[str]:
    """Write ``report`` into an open staging folder (for callers managing it themselves)."""
    written: list[Path] = []
    for name, obj in report.documents.items():
        written.append(stage.write_json(name, obj))
    for name, df in report.tables.items():
        written.extend(stage.write_table(name, df))
    figures: list[str] = []
    if report.figures or report.figure_sets:
        written.extend(_write_figures(stage, report, style, figures))
    for name, text in report.texts.items():
        written.append(stage.write_text(name, text if isinstance(text, str) else text(figures)))
    for name, sub in report.parts.items():
        written.extend(stage.root / rel for rel in write_into(stage.subdir(name), sub, style=style))
    return sorted(p.relative_to(stage.root).as_posix() for p in written)


def _write_figures(
    stage: StagedOutput,
    report: Report,
    style: str | os.PathLike[str] | None,
    names: list[str],
) -> list[Path]:
    """Draw and save every figure; ``names`` receives their base names in order."""
    from rnndyn.plots.style import style_context

    written: list[Path] = []
    with style_context(style):
        for name, draw in report.figures:
            written.extend(stage.write_figure(name, as_figure(draw())))
            names.append(name)
        for draw_set in report.figure_sets:
            for name, fig in draw_set():
                written.extend(stage.write_figure(name, as_figure(fig)))
                names.append(name)
    return written


def as_figure(obj: Any) -> Figure:
    """The Figure of a Figure, an Axes, or a sequence/array of Axes."""
    if hasattr(obj, "savefig"):
        return obj
    if hasattr(obj, "figure"):
        return obj.figure
    try:
        first = next(iter(getattr(obj, "flat", obj)))
    except (TypeError, StopIteration):
        raise TypeError(f"a figure function returned {type(obj).__name__}, not a Figure") from None
    return as_figure(first)

"""One markdown-table builder."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any


def _cell(v: Any, floatfmt: str) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return "—" if v != v else format(v, floatfmt)
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    floatfmt: str = ".3g",
    cell: Callable[[Any], str] | None = None,
) -> list[str]:
    """Lines of a GitHub markdown table: ``header``, the rule, one line per row.

    Floats are written with ``floatfmt`` (NaN and None as "—"), pipes in cells escaped; ``cell``
    replaces the default formatting of every cell.
    """
    fmt = cell or (lambda v: _cell(v, floatfmt))
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return lines

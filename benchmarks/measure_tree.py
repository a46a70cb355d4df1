"""Counts for the regroup closing note: ``dict[str, Any]``, the word ``Any``, ``# type: ignore`` and
module sizes, over ``rnndyn/`` and ``cli/`` (the library apart from the CLI).

    python benchmarks/measure_tree.py [ROOT]

``dict[str, Any]`` and ``Any`` are counted in the source text outside comments and strings (tokens),
``type: ignore`` in comments; sizes are physical lines per ``.py`` module.
"""

from __future__ import annotations

import io
import statistics
import sys
import tokenize
from pathlib import Path


def _counts(path: Path) -> tuple[int, int, int, int]:
    text = path.read_text(encoding="utf-8")
    any_words = dict_any = ignores = 0
    code: list[str] = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            ignores += "type: ignore" in tok.string
        elif tok.type == tokenize.NAME:
            any_words += tok.string == "Any"
            code.append(tok.string)
        elif tok.type == tokenize.OP:
            code.append(tok.string)
    joined = "".join(code)
    dict_any = joined.count("dict[str,Any]")
    return dict_any, any_words, ignores, text.count("\n")


def main(root: Path) -> None:
    for part in ("rnndyn", "cli"):
        files = sorted((root / part).rglob("*.py"))
        rows = [_counts(f) for f in files]
        sizes = [r[3] for r in rows]
        big = max(zip(sizes, files, strict=True), default=(0, Path("-")))
        print(
            f"{part}/: {len(files)} modules, dict[str, Any] {sum(r[0] for r in rows)}, "
            f"Any {sum(r[1] for r in rows)}, type: ignore {sum(r[2] for r in rows)}, "
            f"lines median {statistics.median(sizes) if sizes else 0:.0f} "
            f"max {big[0]} ({big[1].relative_to(root)})"
        )
        over = [(s, f.relative_to(root)) for s, f in zip(sizes, files, strict=True) if s > 400]
        if over:
            print("  > 400 lines: " + ", ".join(f"{f} {s}" for s, f in sorted(over, reverse=True)))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])

"""A strict reader for small JSON files that come from outside (law files, documents).

Refuses, with ``InvalidInputError`` naming the file: files over ``max_bytes``, folders, missing or
unreadable files, text that is not UTF-8, ``NaN``/``Infinity`` constants, floats that overflow,
integers of more than 20 digits, objects with a repeated key, and nesting deeper than
``max_depth``. Nothing but ``json.loads`` runs on the bytes.
"""

from __future__ import annotations

import json
import math
from os import PathLike
from pathlib import Path
from typing import Any

from rnndyn.errors import InvalidInputError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_INT_DIGITS", "load_strict_json"]

MAX_BYTES = 4 << 20  # 4 MiB
MAX_DEPTH = 12
MAX_INT_DIGITS = 20  # every 64-bit integer (a seed up to 2⁶⁴ − 1) fits


class _Refused(Exception):
    pass


def _no_constants(name: str) -> Any:
    raise _Refused(f"holds {name}, which strict JSON does not allow")


def _finite_float(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise _Refused(f"holds the number {text[:40]}, too large for a finite float")
    return x


def _small_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"holds an integer of {len(text)} digits")
    return int(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, object]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Refused("has an object with a repeated key")
    return out


def _depth_ok(x: Any, limit: int) -> bool:
    if limit < 0:
        return False
    children = x.values() if isinstance(x, dict) else x if isinstance(x, list) else ()
    return all(_depth_ok(c, limit - 1) for c in children)


def _read(p: Path, what: str, max_bytes: int, bad: Any) -> bytes:
    try:
        if p.is_dir():
            raise bad(f"is a folder, not {what}")
        with open(p, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise bad("does not exist") from None
    except OSError as err:
        raise bad(f"cannot be read ({err.strerror})") from None
    if len(data) > max_bytes:
        raise bad(f"is larger than {max_bytes / 2**20:.3g} MiB; {what} is small JSON")
    return data


def load_strict_json(
    path: str | PathLike[str],
    *,
    what: str = "a JSON file",
    hint: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Parse a small, strict JSON file (see the module docstring for what is refused).

    ``what`` names the expected kind of file in messages (``"an eigen-init parameter file"``);
    ``hint`` is appended to every error.
    """
    from rnndyn._util.text import quoted_head

    p = Path(path)

    def bad(problem: str) -> InvalidInputError:
        return InvalidInputError(problem, path=p, hint=hint)

    data = _read(p, what, max_bytes, bad)
    try:
        doc = json.loads(
            data.decode("utf-8"),
            parse_constant=_no_constants,
            parse_float=_finite_float,
            parse_int=_small_int,
            object_pairs_hook=_no_duplicates,
        )
    except UnicodeDecodeError:
        raise bad(f"is not UTF-8 JSON text (it starts with {quoted_head(data)})") from None
    except json.JSONDecodeError as err:
        raise bad(
            f"is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}; "
            f"it starts with {quoted_head(data)})"
        ) from None
    except _Refused as err:
        raise bad(f"is not strict JSON: it {err}") from None
    except RecursionError:
        raise bad(f"is nested too deeply (more than {max_depth} levels)") from None
    if not _depth_ok(doc, max_depth):
        raise bad(f"is nested too deeply (more than {max_depth} levels)")
    return doc

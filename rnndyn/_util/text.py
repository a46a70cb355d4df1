"""Make untrusted strings (checkpoint keys, file heads, library error texts) safe to show."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str, limit: int = 120) -> str:
    """``text`` without ANSI escapes or control characters, spaces collapsed, cut at ``limit``."""
    text = _CONTROL.sub(" ", _ANSI.sub("", str(text)))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted_head(head: bytes, n: int = 24) -> str:
    """The first ``n`` bytes of a file for an error message: text if printable, else hex."""
    chunk = head[:n]
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(c.isprintable() or c in " \t\r\n" for c in text):
        return f'"{printable(text, n + 1)}"'
    return "bytes " + chunk[:12].hex(" ")


def human_bytes(n: int) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover


def join_names(names: list[str], limit: int = 3) -> str:
    """``a, b and 2 more`` for messages (each name made printable)."""
    shown = [printable(n, 80) for n in names[:limit]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")

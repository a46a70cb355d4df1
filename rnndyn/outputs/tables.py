"""Tidy tables to bytes: CSV (deterministic, formula-safe) and Parquet (when pyarrow is installed).

CSV floats are written in their shortest round-trip form (Python's ``repr`` per dtype), so the
text is exact and identical across runs; NaN is an empty cell. String cells that a spreadsheet
would evaluate (``=``, ``+``, ``-``, ``@``, tab, CR first) get a leading ``'`` (OWASP ASVS 1.2.10);
numeric columns are never touched. Parquet keeps the raw values.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def parquet_available() -> bool:
    """True when pyarrow can be imported."""
    return importlib.util.find_spec("pyarrow") is not None


def escape_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose string cells cannot be evaluated as spreadsheet formulas."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) in ("string", "str"):
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v
            )
    return out


def csv_bytes(df: pd.DataFrame) -> bytes:
    """``df`` as UTF-8 CSV: no index, ``\\n`` line ends, NaN empty, exact floats, formula-safe."""
    complex_cols = [c for c in df.columns if df[c].dtype.kind == "c"]
    if complex_cols:
        raise ValueError(f"split complex columns {complex_cols} into re/im before writing")
    text = escape_formulas(df).to_csv(index=False, lineterminator="\n", na_rep="")
    return text.encode("utf-8")


def write_parquet(df: pd.DataFrame, path: Path | BinaryIO) -> None:
    """``df`` as Parquet (pyarrow engine, no index) to a path or a binary file object."""
    df.to_parquet(path, engine="pyarrow", index=False)

"""One JSON sanitiser: numpy/torch scalars → Python, NaN/±inf → None, containers recursively."""

from __future__ import annotations

import math
from collections.abc import Mapping
from os import PathLike
from typing import Any, Literal

Unknown = Literal["keep", "none", "raise"]

#: A JSON object as rnndyn writes and reads it (``to_dict`` documents, records, manifests): string
#: keys, values of any JSON type. Values are ``object``, not ``Any``: a value must be checked or
#: narrowed before it is used as a number, string or container.
JsonObject = dict[str, object]


def finite_or_none(x: Any) -> float | None:
    """``float(x)``, or None when it is NaN or ±inf."""
    v = float(x)
    return v if math.isfinite(v) else None


def finite_list(a: Any) -> list[float | None]:
    """An array's values as a list of floats, NaN/±inf → None (one vectorised pass)."""
    import numpy as np  # here, not at the top: the CLI imports this module for JsonObject

    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a), a, np.array(None)).tolist()


def json_safe(
    obj: Any,
    *,
    unknown: Unknown = "keep",
    max_depth: int | None = None,
    max_items: int | None = None,
) -> Any:
    """A JSON-ready copy of ``obj``.

    Mappings get string keys; tuples become lists; numpy/torch scalars become Python numbers;
    NaN/±inf become None; path-likes become strings; arrays/tensors with at most ``max_items``
    values (all when None) become nested lists, larger ones None. Anything else is kept
    (``unknown="keep"``), replaced by None (``"none"``: untrusted metadata) or refused with
    ``TypeError`` (``"raise"``: data that must be plain). Deeper than ``max_depth`` → None.
    """

    import numpy as np

    def walk(x: Any, depth: int) -> Any:
        if max_depth is not None and depth > max_depth:
            return None
        if x is None or type(x) in (bool, int):
            return x
        if isinstance(x, str):
            return str.__str__(x)  # a str subclass (e.g. torch.__version__) as a plain str
        if isinstance(x, (bool, np.bool_)):
            return bool(x)
        if isinstance(x, (int, np.integer)):
            return int(x)
        if isinstance(x, (float, np.floating)):
            return finite_or_none(x)
        if isinstance(x, Mapping):
            return {str(k): walk(v, depth + 1) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v, depth + 1) for v in x]
        if isinstance(x, PathLike):
            return str(x)
        if hasattr(x, "tolist") and hasattr(x, "ndim"):  # numpy array / torch tensor
            if x.ndim == 0:
                return walk(x.item(), depth)
            size = int(getattr(x, "size", 0) if isinstance(x, np.ndarray) else x.numel())
            if getattr(x, "is_meta", False) or (max_items is not None and size > max_items):
                return None
            return walk(x.tolist(), depth + 1)
        if unknown == "raise":
            raise TypeError(f"not plain data: {type(x).__name__}")
        return None if unknown == "none" else x

    return walk(obj, 0)


def plain(obj: Any) -> Any:
    """``json_safe`` for data that must be plain (checkpoint metadata, run records): anything that is
    not a number, string, container, path or small array raises ``TypeError``."""
    try:
        return json_safe(obj, unknown="raise")
    except TypeError as err:
        raise TypeError(f"metadata must be plain data ({err})") from None

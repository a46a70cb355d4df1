"""Checks on loaded tensors: device, layout, count; dtype and finiteness for the weights used.

``validate_tensors`` runs on every tensor at load time. ``check_weight``/``check_finite`` run on the
tensors an analysis actually uses (the operators code calls them), so an unused NaN buffer does not
block the analysis of healthy recurrent weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn._util.text import printable
from rnndyn.errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover - torch is imported only for torch files
    import torch

MAX_TENSORS = 100_000
MAX_DENSE_ELEMENTS = 1 << 28  # a sparse tensor is densified only up to this many elements
FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")


def validate_tensors(tensors: Mapping[str, Any], path: Path) -> dict[str, object]:
    """Every tensor on the CPU, strided (sparse ones densified), detached; dtypes kept as stored.
    NumPy arrays (every non-torch format) are dense CPU arrays already: kept as they are."""
    if len(tensors) > MAX_TENSORS:
        raise CheckpointError(
            f"the checkpoint holds {len(tensors)} tensors, more than the {MAX_TENSORS} allowed",
            path=path,
        )
    return {
        key: t if isinstance(t, np.ndarray) else _validate_one(t, key, path)
        for key, t in tensors.items()
    }


def _validate_one(t: torch.Tensor, key: str, path: Path) -> torch.Tensor:
    import torch

    sparse = (
        torch.sparse_coo,
        torch.sparse_csr,
        torch.sparse_csc,
        torch.sparse_bsr,
        torch.sparse_bsc,
    )
    name = printable(key, 80)
    if t.is_meta:
        raise CheckpointError(
            f"tensor {name!r} is on the 'meta' device: the file stores its shape but no values",
            path=path,
            hint="Save the state dict of a model that holds real weights.",
        )
    if t.device.type != "cpu":
        raise CheckpointError(f"tensor {name!r} is on device {t.device}, not the CPU", path=path)
    if t.layout in sparse:
        if t.numel() > MAX_DENSE_ELEMENTS:
            raise CheckpointError(
                f"sparse tensor {name!r} of shape {tuple(t.shape)} is too large to densify",
                path=path,
            )
        t = t.to_dense()
    elif t.layout != torch.strided:
        raise CheckpointError(f"tensor {name!r} has unsupported layout {t.layout}", path=path)
    return t.detach()


def _dtype_name(t: Any) -> str:
    return str(t.dtype).replace("torch.", "")


def check_weight(tensor: Any, key: str, path: str | Path) -> Any:
    """Raise CheckpointError unless ``tensor`` (torch or NumPy) is fp16/bf16/fp32/fp64 and finite;
    return it."""
    if _dtype_name(tensor) not in FLOAT_NAMES:
        raise CheckpointError(
            f"weights {printable(key, 80)!r} have dtype {_dtype_name(tensor)}; "
            "rnndyn analyses float16, bfloat16, float32 and float64 weights",
            path=path,
            hint="Dequantize or convert the weights to float32 before saving.",
        )
    return check_finite(tensor, key, path)


def check_weights(tensors: Mapping[str, Any], path: str | Path) -> None:
    """``check_weight`` on every ``{key: tensor}`` (the first bad one raises)."""
    for key, t in tensors.items():
        check_weight(t, key, path)


def check_finite(tensor: Any, key: str, path: str | Path) -> Any:
    """Raise CheckpointError naming ``key`` if ``tensor`` (torch or NumPy) holds NaN or ±Inf;
    return it unchanged."""
    bad: Any
    if isinstance(tensor, np.ndarray):
        if tensor.dtype.kind not in "fc":
            return tensor
        bad = ~np.isfinite(tensor)
        if not bad.any():
            return tensor
        n_nan = int(np.isnan(tensor).sum())
        first = tuple(int(i) for i in np.argwhere(bad)[0])
    else:
        import torch

        if not (tensor.is_floating_point() or tensor.is_complex()):
            return tensor
        bad = ~torch.isfinite(tensor)
        if not bool(bad.any()):
            return tensor
        n_nan = int(torch.isnan(tensor).sum())
        first = tuple(int(i) for i in bad.nonzero()[0].tolist())
    n_inf = int(bad.sum()) - n_nan
    counts = " and ".join(f"{n} {label}" for n, label in ((n_nan, "NaN"), (n_inf, "±Inf")) if n)
    raise CheckpointError(
        f"weights {printable(key, 80)!r} {tuple(tensor.shape)} hold {counts} "
        f"value{'s' if n_nan + n_inf > 1 else ''} (first at index {first})",
        path=path,
        hint="Training probably diverged, or the file is damaged: use an earlier checkpoint.",
    )

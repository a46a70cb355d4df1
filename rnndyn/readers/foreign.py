"""What the framework readers (ONNX, Keras, Flax) hand back: PyTorch-named tensors and provenance.

Each reader converts a recurrent layer into PyTorch's parameter names and gate order with
:meth:`ForeignWeights.add_layer`, records where every tensor came from (``sources``) and what was
assumed (``conventions``; a ``simulation`` entry says why the layer cannot run as a PyTorch module).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from rnndyn.errors import CheckpointError
from rnndyn.readers.layout import BLOCKS, PYTORCH_GATES, gate_permutation, to_pytorch_rows

MAX_ARRAY_BYTES = 4 << 30


def require(module: str, extra: str, what: str, path: Path) -> ModuleType:
    """Import an optional dependency, or a one-line error naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CheckpointError(
            f"reading {what} files needs the optional package {module!r}, which is not installed",
            path=path,
            hint=f"Install it with: pip install 'rnndyn[{extra}]'",
        ) from None


def tensor(a: Any) -> np.ndarray:
    """A float/int numpy array (or array-like) as a native-byte-order, contiguous NumPy copy
    (bfloat16 widened exactly to float32); torch is not needed to read foreign files."""
    arr = np.asarray(a)
    if arr.dtype.kind == "V" or str(arr.dtype) == "bfloat16":  # ml_dtypes bfloat16
        return (arr.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    return np.ascontiguousarray(arr).copy()


@dataclass
class ForeignWeights:
    """Converted tensors (PyTorch names), their sources and the conventions per module."""

    format: str
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    conventions: dict[str, dict[str, object]] = field(default_factory=dict)
    metadata: dict[str, object] = field(default_factory=dict)

    def add(self, key: str, t: np.ndarray, source: str) -> None:
        self.tensors[key] = t
        self.sources[key] = source

    def add_layer(
        self,
        module: str,
        arch: str,
        order: str,
        *,
        w_hh: np.ndarray,
        w_ih: np.ndarray | None = None,
        b_ih: np.ndarray | None = None,
        b_hh: np.ndarray | None = None,
        layer: int = 0,
        reverse: bool = False,
        source: str = "",
        parts: dict[str, str] | None = None,
    ) -> None:
        """One layer/direction with row-stacked blocks stored in gate ``order`` (``"iofc"``).

        ``parts`` names each parameter's origin inside ``source`` (``{"weight_hh": "R[0]"}``)."""
        k = BLOCKS[arch]
        perm = gate_permutation(arch, order)
        sfx = f"_l{layer}" + ("_reverse" if reverse else "")
        prefix = f"{module}." if module else ""
        kh = w_hh.shape[0]
        if b_ih is None and b_hh is not None:
            b_ih = np.zeros(kh, dtype=b_hh.dtype)
        if b_hh is None and b_ih is not None:
            b_hh = np.zeros(kh, dtype=b_ih.dtype)
        tensors = {"weight_hh": w_hh, "weight_ih": w_ih, "bias_ih": b_ih, "bias_hh": b_hh}
        for param, t in tensors.items():
            if t is not None:
                where = (parts or {}).get(param, param)
                if perm != list(range(k)):
                    where += f" (gate blocks {order} → PyTorch {PYTORCH_GATES[arch]})"
                self.add(f"{prefix}{param}{sfx}", to_pytorch_rows(t, perm, k), f"{source}: {where}")

    def note(self, module: str, **facts: Any) -> None:
        """Record conventions for ``module`` (later facts override; ``simulation`` accumulates)."""
        conv = self.conventions.setdefault(module, {})
        blocker = facts.pop("simulation", None)
        conv.update(facts)
        if blocker:
            earlier = conv.get("simulation")
            conv["simulation"] = "; ".join(
                filter(None, [earlier if isinstance(earlier, str) else None, blocker])
            )

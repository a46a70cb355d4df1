"""Gate layouts: convert recurrent stacks stored in other conventions to PyTorch's names and order.

PyTorch stores a module's recurrent weights as ``weight_hh`` with ``k`` row blocks of ``H`` rows
(``k`` = 1 vanilla, 3 GRU ``r, z, n``, 4 LSTM ``i, f, g, o``). Arrays named in other conventions
(``enc_w_hh``, ``fw/W_hh``, ``rnn.recurrent_kernel``, ``U``, …) whose shape is ``(k·H, H)`` (or the
transpose ``(H, k·H)``, column blocks as in Keras/JAX) are converted here to cell-style PyTorch keys
(``enc.weight_hh``, ``enc.weight_ih``, ``enc.bias_ih``, ``enc.bias_hh``), rows permuted into
PyTorch's gate order. Without hints the stored order is assumed to be PyTorch's and square matrices
are left alone (they are analysed as custom matrices); ``layout``/``gate_order`` override.
Framework readers (ONNX, Keras, Flax) use :func:`to_pytorch_rows` with their documented orders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnndyn.errors import UsageError
from rnndyn.readers.tensors import raw, raw_items, zeros_like

BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}
ARCH_BY_BLOCKS = {k: a for a, k in BLOCKS.items()}
PYTORCH_GATES = {"rnn": "h", "gru": "rzn", "lstm": "ifgo"}
# letters other frameworks use for the same gate → PyTorch's letter
_ALIASES = {
    "rnn": {"h": "h"},
    "gru": {"r": "r", "z": "z", "u": "z", "n": "n", "h": "n", "c": "n"},
    "lstm": {"i": "i", "f": "f", "g": "g", "c": "g", "o": "o"},
}
# recurrent-token → (input-weight token, recurrent-bias token, input-bias token) replacements
_PARTNERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "weight_hh": (("weight_ih",), ("bias_hh",), ("bias_ih", "bias")),
    "w_hh": (("w_ih", "w_xh"), ("b_hh",), ("b_ih", "b_xh", "b")),
    "whh": (("wih", "wxh"), ("bhh",), ("bih", "bxh", "b")),
    "w_rec": (("w_in", "w_inp", "w_ih"), ("b_rec",), ("b_in", "b")),
    "wrec": (("win", "winp"), ("brec",), ("bin", "b")),
    "recurrent_kernel": (("kernel",), ("recurrent_bias",), ("bias",)),
    "recurrent_weights": (("input_weights", "weights"), ("recurrent_bias",), ("bias", "biases")),
    "recurrent_weight": (("input_weight", "weight"), ("recurrent_bias",), ("bias",)),
    "h2h": (("i2h", "x2h"), ("h2h_bias",), ("i2h_bias", "bias")),
    "hh": (("ih", "xh"), ("bhh",), ("bih", "b")),
    "U": (("W",), ("b_U", "bU"), ("b",)),
}
_TOKEN = re.compile(
    r"(?:^|(?<=[._/]))(?P<tok>weight_hh|w_hh|whh|w_rec|wrec|recurrent_kernel|recurrent_weights?|"
    r"h2h|hh|U)(?=$|[._/])",
    re.IGNORECASE,
)
_SEP = "._/"


@dataclass(frozen=True)
class Converted:
    """Canonical tensors for one module, where they came from, and what was assumed."""

    tensors: dict[str, object]
    sources: dict[str, str]
    conventions: Mapping[str, object]


def gate_permutation(arch: str, order: str, *, path: str | Path | None = None) -> list[int]:
    """Indices of the stored blocks in PyTorch's order: ``("lstm", "iofc")`` → ``[0, 2, 3, 1]``."""
    aliases = _ALIASES[arch]
    found = [aliases.get(c) for c in order.lower()]
    letters = [g for g in found if g is not None]
    want = PYTORCH_GATES[arch]
    if len(order) != len(want) or len(letters) != len(found) or sorted(letters) != sorted(want):
        names = ", ".join(sorted(aliases))
        raise UsageError(
            f"--gate-order {order!r} is not a {arch.upper()} gate order: it needs {len(want)} "
            f"distinct letters from {names} (PyTorch's is {want!r})",
            path=path,
        )
    return [letters.index(g) for g in want]


def to_pytorch_rows(t: Any, perm: list[int], blocks: int) -> Any:
    """``t`` (rows = ``blocks`` gate blocks, any trailing shape) with its blocks reordered by ``perm``."""
    h = t.shape[0] // blocks
    if perm == list(range(blocks)):
        return t
    blocks_ = [t[p * h : (p + 1) * h] for p in perm]
    if isinstance(t, np.ndarray):
        return np.concatenate(blocks_, axis=0)
    import torch

    return torch.cat(blocks_, dim=0)


def _stack_kind(shape: tuple[int, ...], blocks: int | None) -> tuple[int, bool] | None:
    """``(k, transposed)`` for a ``(k·H, H)`` or ``(H, k·H)`` stack, ``None`` when it is neither."""
    if len(shape) != 2 or min(shape) < 1:
        return None
    r, c = shape
    for k in (blocks,) if blocks else (4, 3):
        if r == k * c:
            return k, False
        if c == k * r:
            return k, True
    return None


def _module_name(key: str, start: int, end: int) -> str:
    name = (key[:start].rstrip(_SEP) + "." + key[end:].lstrip(_SEP)).strip(_SEP)
    return re.sub(r"[/]+", ".", name)


def _find(tensors: Mapping[str, Any], key: str, s: int, e: int, alts: tuple[str, ...]):
    for alt in alts:
        for variant in (alt, alt[:1].upper() + alt[1:], alt.upper()):
            cand = key[:s] + variant + key[e:]
            if cand in tensors and cand != key:
                return cand
    return None


def convert_stack(
    tensors: Mapping[str, Any],
    key: str,
    *,
    layout: str | None = None,
    gate_order: str | None = None,
    path: str | Path | None = None,
) -> Converted | None:
    """The PyTorch view of the recurrent stack ``key`` and its partners, or None if it is not one."""
    shape = tuple(int(d) for d in raw(tensors, key).shape)
    kind = _stack_kind(shape, BLOCKS[layout] if layout else None)
    if kind is None:
        if layout:
            raise UsageError(
                f"{key!r} has shape {shape}, which is not a {layout.upper()} stack "
                f"({BLOCKS[layout]}·H × H or its transpose)",
                path=path,
            )
        return None
    k, transposed = kind
    arch = ARCH_BY_BLOCKS[k]
    order = gate_order or PYTORCH_GATES[arch]
    perm = gate_permutation(arch, order, path=path)
    m = _TOKEN.search(key)
    s, e = (m.start("tok"), m.end("tok")) if m else (len(key), len(key))
    name = _module_name(key, s, e) if m else key
    tok = "" if m is None else ("U" if m["tok"] == "U" else m["tok"].lower())
    alts = _PARTNERS.get(tok, ((), (), ()))

    def rows(t: Any) -> Any:
        return to_pytorch_rows(t.T if transposed and t.ndim == 2 else t, perm, k)

    hidden = shape[1] if not transposed else shape[0]
    prefix = f"{name}." if name else ""
    out = {f"{prefix}weight_hh": rows(raw(tensors, key))}
    src = {f"{prefix}weight_hh": key}
    partners = {
        "weight_ih": _find(tensors, key, s, e, alts[0]) if m else None,
        "bias_hh": _find(tensors, key, s, e, alts[1]) if m else None,
        "bias_ih": _find(tensors, key, s, e, alts[2]) if m else None,
    }
    for param, pkey in partners.items():
        if pkey is None:
            continue
        t = raw(tensors, pkey)
        if (
            param == "weight_ih"
            and t.ndim == 2
            and (t.shape[1] if transposed else t.shape[0]) == k * hidden
        ) or (param.startswith("bias") and tuple(t.shape) == (k * hidden,)):
            out[prefix + param], src[prefix + param] = rows(t), pkey
    if (prefix + "bias_ih") in out and (prefix + "bias_hh") not in out:
        out[prefix + "bias_hh"] = zeros_like(out[prefix + "bias_ih"])
        src[prefix + "bias_hh"] = "zeros (the file has one bias, read as the input bias)"
    conv = {
        "framework": "arrays",
        "gates": f"{arch.upper()} blocks stored in order {order!r}"
        + (" as columns (transposed)" if transposed else "")
        + (", assumed (pass --gate-order if the file uses another)" if not gate_order else ""),
    }
    return Converted(out, src, conv)


def candidates(tensors: Mapping[str, Any], *, squares: bool = False) -> list[str]:
    """Keys named like a recurrent stack that PyTorch's discovery does not already handle."""
    out = []
    for key, t in raw_items(tensors):
        if t.ndim != 2 or re.search(r"(?:^|\.)weight_hh(?:_l\d+(?:_reverse)?)?$", key):
            continue
        m = _TOKEN.search(key)
        if m is None or (m["tok"].lower() == "u" and m["tok"] != "U"):
            continue
        if t.shape[0] == t.shape[1] and not squares:
            continue
        out.append(key)
    return out


def apply(
    tensors: Mapping[str, Any],
    *,
    layout: str | None = None,
    gate_order: str | None = None,
    matrix: str | None = None,
    path: str | Path | None = None,
) -> tuple[dict[str, object], dict[str, str], dict[str, dict[str, object]]]:
    """Convert every recurrent stack (or only ``matrix``) to PyTorch keys.

    Returns ``(tensors, sources, conventions)``: the converted keys replace the originals they came
    from. With ``layout``/``gate_order`` a stack that does not fit is a UsageError.
    """
    if layout is not None and layout not in BLOCKS:
        raise UsageError(f"--layout {layout!r} is not one of rnn, lstm, gru", path=path)
    hinted = layout is not None or gate_order is not None
    keys = (
        [matrix] if matrix is not None and hinted else candidates(tensors, squares=layout == "rnn")
    )
    keys = [k for k in keys if k in tensors]
    result = dict(raw_items(tensors))
    sources: dict[str, str] = {}
    conventions: dict[str, dict[str, object]] = {}
    for key in keys:
        conv = convert_stack(tensors, key, layout=layout, gate_order=gate_order, path=path)
        if conv is None or any(k in tensors for k in conv.tensors):
            continue
        for used in conv.sources.values():
            result.pop(used, None)
        result.update(conv.tensors)
        sources.update(conv.sources)
        name = next(iter(conv.tensors)).rsplit(".", 1)[0] if "." in next(iter(conv.tensors)) else ""
        conventions[name] = dict(conv.conventions)
    if hinted and not sources:
        raise UsageError(
            "--layout/--gate-order found no recurrent stack to apply to"
            + (f" ({matrix!r} does not fit)" if matrix else ""),
            path=path,
            hint="Name the stacked matrix with --matrix KEY.",
        )
    return result, sources, conventions

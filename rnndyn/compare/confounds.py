"""Per-network design metadata (input size, sequence length, readout, loss, initializer, …) and
the metadata keys whose values differ between groups: possible confounds of a comparison."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

# Recorded for every network: name → metadata keys tried in turn (dots reach nested entries).
DESIGN_KEYS: dict[str, tuple[str, ...]] = {
    "task": ("task",),
    "input_size": ("input_size",),
    "seq_len": ("seq_len", "task_params.T"),
    "readout": ("readout",),
    "loss": ("training.loss", "loss"),
    "init": ("init",),
    "hidden_size": ("hidden_size",),
    "num_layers": ("num_layers",),
    "nonlinearity": ("nonlinearity",),
}
_SKIP_PREFIXES = ("metrics", "history", "schema", "rnndyn_version", "torch_version", "sha256")
_IDENTIFIERS = ("seed", "data_seed", "init_params")


def flatten(metadata: Mapping[str, Any], prefix: str = "", depth: int = 2) -> dict[str, Any]:
    """Scalar entries of a metadata block as ``{"a.b": value}`` (lists, metrics, history left out)."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        name = f"{prefix}{key}"
        if name.startswith(_SKIP_PREFIXES):
            continue
        if isinstance(value, Mapping) and depth > 0:
            out.update(flatten(value, f"{name}.", depth - 1))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[name] = value
    return out


def design_of(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The ``DESIGN_KEYS`` of one network's metadata (None where absent)."""
    flat = flatten(metadata)
    out: dict[str, Any] = {}
    for name, keys in DESIGN_KEYS.items():
        out[name] = next((flat[k] for k in keys if flat.get(k) is not None), None)
    return out


def confounds(
    groups: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    ignore: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Metadata keys whose values are distributed differently between groups.

    ``groups``: ``{group: [flattened metadata per network]}``. A key is listed when the share of
    some value differs between groups (a key missing in some networks counts as the value
    ``None``), so both "readout last vs every" and "T = 10 in 7 of 8 vs 1 of 8" are caught.
    Per-network identifiers (seeds) and the keys in ``ignore`` (the grouping key) are left out.
    Returns ``[{"key", "values": {group: {value: count}}}]``.
    """
    keys = sorted({k for members in groups.values() for m in members for k in m})
    out = []
    for key in keys:
        if key in ignore or key.split(".")[-1] in _IDENTIFIERS:
            continue
        counts = {g: Counter(_show(m.get(key)) for m in members) for g, members in groups.items()}
        shares = [
            {v: c / max(sum(cnt.values()), 1) for v, c in cnt.items()} for cnt in counts.values()
        ]
        levels = set().union(*shares)
        if any(
            abs(a.get(v, 0) - b.get(v, 0)) > 1e-9 for a in shares for b in shares for v in levels
        ):
            out.append(
                {"key": key, "values": {g: dict(sorted(c.items())) for g, c in counts.items()}}
            )
    return out


def confound_notes(found: list[dict[str, Any]], nested: str | None = None) -> list[str]:
    """One sentence listing the keys that differ between groups (values shown when few)."""
    if not found:
        return []
    parts = []
    for c in found:
        shown = "; ".join(
            f"{g}: {', '.join(f'{v}×{n}' for v, n in list(vals.items())[:4])}"
            f"{', …' if len(vals) > 4 else ''}"
            for g, vals in c["values"].items()
        )
        parts.append(f"{c['key']} ({shown})")
    text = (
        "possible confounds — these metadata keys differ between the groups, so a difference "
        "may come from them rather than from the grouping: " + "; ".join(parts)
    )
    if nested:
        text += f" ({nested} is the unit the networks are nested in)"
    return [text]


def _show(value: Any) -> str:
    return "—" if value is None else str(value)

"""Naming and checking groups of networks: ``NAME=GLOB`` specs, a manifest CSV, a metadata key;
duplicates, missing keys, bad files and too-small groups become clear errors (or notes)."""

from __future__ import annotations

import csv
import glob
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

from rnndyn.compare.population import STATISTICS, BadInput, Network
from rnndyn.errors import CheckpointError, InvalidInputError, RefusedError, RnndynError, UsageError


def expand_group_specs(specs: Sequence[str]) -> dict[str, list[Path]]:
    """``["reg=runs/reg/*.pt", "cls=runs/**/cls*.pt"]`` → ``{name: sorted paths}``."""
    groups: dict[str, list[Path]] = {}
    for spec in specs:
        name, sep, pattern = spec.partition("=")
        name, pattern = name.strip(), pattern.strip()
        if not sep or not name or not pattern:
            raise UsageError(
                f"--group {spec!r} is not NAME=GLOB",
                hint="Example: --group regression='runs/reg/*.pt'.",
            )
        hits = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not hits:
            raise UsageError(
                f"--group {name}={pattern!r} matches no file",
                hint="Check the pattern (quote it so the shell does not expand it).",
            )
        groups.setdefault(name, []).extend(hits)
    return groups


def read_manifest(path: str | PathLike[str]) -> dict[str, list[Path]]:
    """A CSV with columns ``path,group`` (relative paths are relative to the manifest's folder)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # spreadsheets add a BOM
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InvalidInputError(f"cannot read the manifest ({err})", path=path) from None
    if not rows or not {"path", "group"} <= set(rows[0]):
        raise InvalidInputError(
            "the manifest needs a header row with columns 'path' and 'group' and one row per "
            "checkpoint",
            path=path,
            hint="Example first lines: path,group / a.pt,regression.",
        )
    groups: dict[str, list[Path]] = {}
    for n, row in enumerate(rows, start=2):
        p, g = (row.get("path") or "").strip(), (row.get("group") or "").strip()
        if not p or not g:
            raise InvalidInputError(f"line {n} has an empty path or group", path=path)
        if "\0" in p:
            raise InvalidInputError(f"line {n}: the path contains a NUL byte", path=path)
        full = Path(p) if Path(p).is_absolute() else path.parent / p
        groups.setdefault(g, []).append(full)
    return groups


def reject_duplicates(sources: Sequence[Any]) -> None:
    """UsageError when a file is listed twice (also via two globs): a network is one replicate."""
    counts = Counter(str(Path(s).resolve()) for s in sources if isinstance(s, (str, PathLike)))
    dup = sorted(p for p, k in counts.items() if k > 1)
    if dup:
        raise UsageError(
            f"these checkpoints are listed more than once: {', '.join(dup[:5])}",
            hint="Each network may be a replicate in one group only.",
        )


def assign_groups(results: list[Network | BadInput], wanted: list[str | None], key: str | None):
    """Networks with their group (``wanted``, else the metadata ``key``) and the left-out inputs."""
    nets, bad = [], []
    for res, group in zip(results, wanted, strict=True):
        if isinstance(res, BadInput):
            bad.append(res)
        elif group is not None:
            nets.append(replace(res, group=group))
        elif res.key_value is None:
            bad.append(
                BadInput(
                    res.path,
                    f"{res.path}: its rnndyn metadata has no {key!r} entry, so it cannot "
                    "be grouped by it",
                    2,
                )
            )
        else:
            nets.append(replace(res, group=res.key_value))
    return nets, bad


def bad_input_error(bad: list[BadInput], total: int) -> RnndynError:
    """One error listing every left-out file; exit code 3 if all were refused, 2 if all lacked
    the key, else 4."""
    codes = {b.exit_code for b in bad}
    listing = "; ".join(b.problem.rstrip(".") for b in bad[:20]) + (
        f"; and {len(bad) - 20} more" if len(bad) > 20 else ""
    )
    problem = f"{len(bad)} of {total} checkpoints could not be used: {listing}"
    hint = (
        "Fix or remove them, group them explicitly (--group/--manifest), or pass --skip-bad "
        "(in Python: skip_bad=True) to compare the rest."
    )
    if codes == {3}:
        return RefusedError(problem, hint=hint)
    if codes == {2}:
        return UsageError(problem, hint=hint)
    return CheckpointError(problem, hint=hint)


def check_groups(
    nets: list[Network], key: str | None, order: list[str] | None, bad: list[BadInput]
) -> dict[str, list[Network]]:
    """``{group: networks}``; UsageError for fewer than two groups or a group under two networks."""
    names = order if order is not None else sorted({str(n.group) for n in nets})
    named = {g: [n for n in nets if n.group == g] for g in names}
    left = f" ({len(bad)} checkpoint(s) were left out)" if bad else ""
    if len([g for g, ms in named.items() if ms]) < 2:
        what = (
            f"all usable checkpoints have {key}={names[0]!r}"
            if key and names
            else "fewer than two groups"
        )
        raise UsageError(
            f"nothing to compare: {what}{left}",
            hint="Give checkpoints of at least two groups, or choose another --by key or --group.",
        )
    small = {g: ms for g, ms in named.items() if len(ms) < 2}
    if small:
        desc = "; ".join(
            f"group {g!r} has {len(ms)} network(s)" + (f" ({ms[0].path})" if ms else "")
            for g, ms in small.items()
        )
        raise UsageError(
            f"{desc}{left}; networks are the replicates, so every group needs at least two",
            hint="Add networks (e.g. more seeds) to that group or drop it.",
        )
    return named


def duplicate_notes(nets: list[Network]) -> list[str]:
    """Notes naming byte-identical files (same sha256) that count as separate networks."""
    by_hash: dict[str, list[str]] = {}
    for n in nets:
        if n.sha256:
            by_hash.setdefault(n.sha256, []).append(n.path)
    return [
        f"identical files counted as separate networks: {', '.join(ps)}"
        for ps in by_hash.values()
        if len(ps) > 1
    ]


def conditioning_notes(nets: list[Network]) -> list[str]:
    """A note when some operators have an ill-conditioned eigenbasis."""
    k = list(STATISTICS).index("log10_eigvec_condition")
    n = sum(any(op.values[k] > 8 for op in net.operators) for net in nets)
    return (
        [
            f"{n} network(s) have an operator with an ill-conditioned eigenbasis (κ(V) > 1e8): "
            "eigenvalues are still valid; κ(V) is one of the statistics"
        ]
        if n
        else []
    )


def check_units(
    named: dict[str, list[Network]], unit_key: str | None, strata: str | None
) -> dict[str, int]:
    """``{group: number of units}``; UsageError when networks are not nested in the units, a group
    has fewer than two units, or a network lacks the strata key (or it varies within a unit)."""

    def unit(n: Network) -> str:
        return str(n.metadata.get(unit_key)) if unit_key else n.path

    if strata is not None:
        missing = [n.path for ms in named.values() for n in ms if n.metadata.get(strata) is None]
        if missing:
            raise UsageError(
                f"--strata {strata}: {len(missing)} network(s) have no such metadata entry "
                f"(e.g. {missing[0]})",
                hint="Choose a key every checkpoint records (dots reach nested entries).",
            )
        values: dict[str, set] = {}
        for ms in named.values():
            for n in ms:
                values.setdefault(unit(n), set()).add(n.metadata[strata])
        mixed = [u for u, v in values.items() if len(v) > 1]
        if mixed:
            raise UsageError(
                f"--strata {strata} varies within the {unit_key} {mixed[0]!r}; a stratum must "
                f"hold whole {unit_key}s"
            )
    owner: dict[str, str] = {}
    for g, ms in named.items():
        for n in ms:
            if owner.setdefault(unit(n), g) != g:
                raise UsageError(
                    f"{unit_key} {unit(n)!r} has networks in groups {owner[unit(n)]!r} and {g!r}, "
                    f"so networks are not nested in {unit_key}s",
                    hint="Use --unit network to treat networks as the replicates.",
                )
    counts = {g: len({unit(n) for n in ms}) for g, ms in named.items()}
    small = {g: c for g, c in counts.items() if c < 2}
    if unit_key and small:
        raise UsageError(
            "; ".join(f"group {g!r} has {c} {unit_key}" for g, c in small.items())
            + f": {unit_key}s are the unit (networks are nested in them), so every group needs "
            f"at least two {unit_key}s",
            hint=f"Add {unit_key}s to that group, or pass --unit network to treat networks as "
            "independent replicates (the result is then about these tasks, not the task kind).",
        )
    return counts

"""The paired study's inclusion rule and its reachability arithmetic, fixed before it ran."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rnndyn.studies.records import Excluded
from rnndyn.tasks.twins import pair_of

__all__ = ["LEARNED", "learned", "pairs_needed", "select_learned"]


LEARNED = (0.7, 0.75)
"""Fixed before the paired study was run: a regression network learned when its test NRMSE is at
most 0.7, a classification network when its test accuracy is at least 0.75. Both mean its output
correlates with the target at about ρ = 0.7 (NRMSE = √(1 − ρ²); a Gaussian quantity's sign read
from an estimate correlated at ρ is right with probability 1 − arccos(ρ)/π ≈ 0.75)."""


def learned(record: Mapping[str, Any], criterion: tuple[float, float]) -> bool:
    """Whether one trained network meets ``criterion`` = (max NRMSE, min accuracy)."""
    test = record.get("test")
    if test is None or not math.isfinite(float(test)):
        return False
    if record.get("metric") == "nrmse":
        return float(test) <= criterion[0]
    if record.get("metric") == "accuracy":
        return float(test) >= criterion[1]
    return True


def pairs_needed(family_size: int, alpha: float = 0.05, correction: str = "holm") -> int:
    """The fewest twin pairs whose floor 2/2ⁿ lets one test reach ``alpha`` after correcting
    over ``family_size`` tests (Holm or BH: ``m · 2/2ⁿ < α``; none: ``2/2ⁿ < α``)."""
    m = family_size if correction in ("holm", "bh") else 1
    n = 1
    while m * 2.0 / 2**n >= alpha:
        n += 1
    return n


def select_learned(
    records: Sequence[Mapping[str, Any]],
    criterion: tuple[float, float] | None,
    min_learned: int,
    paired: bool,
) -> tuple[list[Mapping[str, Any]], list[Excluded]]:
    """The networks that enter the tests, and per (arch, task) what was left out and why.

    Without a criterion every network enters. With one, a network enters when it learned; a task
    counts as learned when at least ``min_learned`` of its networks did (all of them when it has
    fewer); in a paired design a pair enters an architecture's tests only when both twins are
    learned (a task the architecture cannot learn takes its twin out).
    """
    if criterion is None:
        return list(records), []
    ok: dict[tuple[str, str], int] = {}
    count: dict[tuple[str, str], int] = {}
    for r in records:
        key = (r["arch"], r["task"])
        ok[key] = ok.get(key, 0) + learned(r, criterion)
        count[key] = count.get(key, 0) + 1
    task_ok = {key: n >= min(min_learned, count[key]) for key, n in ok.items()}
    pair_ok: dict[tuple[str, str], bool] = {}
    if paired:
        for (arch, task), good in task_ok.items():
            pair = pair_of(task) or task
            pair_ok[(arch, pair)] = pair_ok.get((arch, pair), True) and good
    used: list[Mapping[str, Any]] = []
    excluded: dict[tuple[str, str, str], Excluded] = {}
    for r in records:
        key = (r["arch"], r["task"])
        pair = pair_of(r["task"]) or r["task"]
        if paired and not pair_ok[(r["arch"], pair)]:
            why = "task not learned" if not task_ok[key] else "its twin was not learned"
        elif not task_ok[key]:
            why = "task not learned"
        elif not learned(r, criterion):
            why = "network did not learn"
        else:
            used.append(r)
            continue
        row = excluded.setdefault((*key, why), {"arch": key[0], "task": key[1], "why": why, "n": 0})
        row["n"] += 1
    return used, list(excluded.values())

"""Tomita grammars 1–7: accept/reject binary strings (classification at the last step).

Each grammar is a small DFA. Strings are drawn *uniformly* from the accepted (or rejected)
strings of a given length by walking the DFA with path counts, so classes are exactly balanced and
share one length distribution: lengths are uniform over those ``1..T`` where both classes exist
(Tomita 2 and 5 therefore use even lengths only, so length parity gives nothing away).
``test_long`` holds strings of lengths ``T+1..2T``, longer than any seen in training.

Input encoding, ``(N, L, 3)``: one-hot ``[symbol 0, symbol 1, pad]``, strings left-padded to ``L``
(``T`` for train/val/test, ``2T`` for ``test_long``) so the last step is the readout step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from rnndyn.errors import UsageError
from rnndyn.tasks.base import BaseTask, TaskSpec

# (transition table (S, 2): next state on symbol 0 / 1, accepting states); start state 0.
DFAS: dict[int, tuple[tuple[tuple[int, int], ...], tuple[int, ...]]] = {
    1: (((1, 0), (1, 1)), (0,)),  # 1*
    2: (((2, 1), (0, 2), (2, 2)), (0,)),  # (10)*
    # 3: 0/1/2 safe (after 0s / odd 1-run / even 1-run); 3/4 an odd 1-run seen, now in an
    # odd/even 0-run; 5 same but in a 1-run; 6 dead (an odd 0-run ended after an odd 1-run).
    3: (((0, 1), (3, 2), (0, 1), (4, 6), (3, 5), (3, 5), (6, 6)), (0, 1, 2, 4, 5)),
    4: (((1, 0), (2, 0), (3, 0), (3, 3)), (0, 1, 2)),  # no 000
    5: (((2, 1), (3, 0), (0, 3), (1, 2)), (0,)),  # even #0 and even #1 (state = 2·p0 + p1)
    6: (((1, 2), (2, 0), (0, 1)), (0,)),  # (#0 − #1) mod 3 == 0
    7: (((0, 1), (2, 1), (2, 3), (4, 3), (4, 4)), (0, 1, 2, 3)),  # 0*1*0*1*
}

MAX_T = 500  # test_long reaches 2T; 2**1000 still fits in float64

DESCRIPTIONS = {
    1: "1*",
    2: "(10)*",
    3: "no odd run of 1s followed later by an odd run of 0s",
    4: "no 000 substring",
    5: "even number of 0s and even number of 1s",
    6: "(#0 - #1) divisible by 3",
    7: "0*1*0*1*",
}


def _tables(grammar: int) -> tuple[np.ndarray, np.ndarray]:
    delta, accepting = DFAS[grammar]
    acc = np.zeros(len(delta), dtype=bool)
    acc[list(accepting)] = True
    return np.asarray(delta, dtype=np.int64), acc


def accepts(grammar: int, strings: np.ndarray) -> np.ndarray:
    """Membership of each string; ``strings`` ``(N, L)`` ints in {0, 1}, -1 = padding (skipped)."""
    delta, acc = _tables(grammar)
    s = np.zeros(len(strings), dtype=np.int64)
    for col in np.asarray(strings, dtype=np.int64).T:  # one vectorised step per position
        s = np.where(col >= 0, delta[s, np.clip(col, 0, 1)], s)
    return acc[s]


def path_counts(grammar: int, max_len: int) -> np.ndarray:
    """``counts[r, s, c]``: strings of length ``r`` leading from state ``s`` to class ``c`` (1 = accept)."""
    delta, acc = _tables(grammar)
    counts = np.zeros((max_len + 1, len(delta), 2))
    counts[0, :, 1] = acc
    counts[0, :, 0] = ~acc
    for r in range(1, max_len + 1):
        counts[r] = counts[r - 1, delta[:, 0]] + counts[r - 1, delta[:, 1]]
    return counts


def sample_strings(
    grammar: int, rng: np.random.Generator, labels: np.ndarray, lo: int, hi: int
) -> np.ndarray:
    """Uniform strings of class ``labels[i]`` with lengths uniform on the valid part of [lo, hi].

    Returns ``(N, hi)`` ints, right-aligned, ``-1`` on the left padding.
    """
    delta, _ = _tables(grammar)
    counts = path_counts(grammar, hi)
    lengths = np.arange(lo, hi + 1)
    valid = lengths[(counts[lo:, 0, 0] > 0) & (counts[lo:, 0, 1] > 0)]
    n = len(labels)
    length = valid[rng.integers(0, len(valid), size=n)]
    seq = np.full((n, hi), -1, dtype=np.int64)  # left-aligned while walking the DFA
    state = np.zeros(n, dtype=np.int64)
    u = rng.random((n, hi))
    for p in range(hi):  # position p of every string at once
        remaining = np.maximum(length - p, 1)
        total = counts[remaining, state, labels]
        ones = counts[remaining - 1, delta[state, 1], labels]
        sym = (u[:, p] * total < ones).astype(np.int64)
        active = p < length
        seq[:, p] = np.where(active, sym, -1)
        state = np.where(active, delta[state, sym], state)
    idx = np.arange(hi)[None, :] - (hi - length)[:, None]  # right-align: pad on the left
    return np.where(idx >= 0, np.take_along_axis(seq, np.clip(idx, 0, None), axis=1), -1)


def encode(strings: np.ndarray) -> np.ndarray:
    """``(N, L)`` ints with -1 padding → ``(N, L, 3)`` one-hot ``[0, 1, pad]``."""
    return np.eye(3, dtype=np.float32)[np.where(strings < 0, 2, strings)]


class TomitaTask(BaseTask):
    """Tomita grammar ``grammar`` (1–7); ``T`` is the longest training string."""

    PARAMS: ClassVar[Mapping[str, object]] = {"T": 20}

    def __init__(self, name: str, grammar: int, **params: Any):
        self.grammar = grammar
        super().__init__(name, **params)

    def make_spec(self) -> TaskSpec:
        t = self.params["T"]
        return TaskSpec(
            name=self.name,
            kind="classification",
            description=f"Tomita {self.grammar}: {DESCRIPTIONS[self.grammar]} (lengths 1..{t}; "
            f"test_long {t + 1}..{2 * t})",
            input_size=3,
            output_size=2,
            seq_len=t,
            readout="last",
            loss="ce",
            metric="accuracy",
            higher_is_better=True,
            baseline=0.5,
            defaults={
                "hidden": 32,
                "epochs": 60,
                "lr": 1e-2,
                "batch_size": 64,
                "n_train": 2000,
                "n_val": 500,
                "n_test": 1000,
                "patience": 15,  # Tomita 6 sits ~10 epochs on a plateau before it learns
                "min_delta": 1e-3,
                "clip": 1.0,
            },
            params=self.plain_params(),
        )

    def check_params(self) -> None:
        super().check_params()
        t = self.params["T"]
        if t > MAX_T:
            raise UsageError(
                f"task {self.name!r}: T={t} is too long (path counts of strings longer than "
                f"{2 * MAX_T} overflow float64)",
                hint=f"use T ≤ {MAX_T}.",
            )
        counts = path_counts(self.grammar, 2 * t)[:, 0]
        both = (counts[:, 0] > 0) & (counts[:, 1] > 0)
        if not both[1 : t + 1].any() or not both[t + 1 :].any():
            raise UsageError(
                f"task {self.name!r}: T={t} is too short to hold both accepted and rejected "
                "strings in 1..T and T+1..2T",
                hint="use T=4 or more.",
            )

    def extra_splits(self) -> tuple[str, ...]:
        return ("test_long",)

    def sample(self, rng: np.random.Generator, n: int, split: str) -> tuple[Any, Any]:
        t = self.params["T"]
        lo, hi = (t + 1, 2 * t) if split == "test_long" else (1, t)
        labels = rng.permutation(np.arange(n) < n // 2).astype(np.int64)
        strings = sample_strings(self.grammar, rng, labels, lo, hi)
        return encode(strings), labels

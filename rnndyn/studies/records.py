"""The records of a study, as typed dictionaries (their JSON form is the same dict).

- :class:`StudyJob`: one network to train (``plan``).
- :class:`StudyRun`: one trained network, ``OUT/runs/<id>.json``.
- :class:`Excluded`: networks of one (arch, task) left out of the tests, and why.
"""

from __future__ import annotations

from typing import TypedDict


class StudyJob(TypedDict):
    """One network of the design: ``<arch>__<task>__s<seed>``."""

    id: str
    arch: str
    task: str
    kind: str
    seed: int


class _Run(StudyJob):
    input_size: int
    seq_len: int
    readout: str
    loss: str
    init: str
    checkpoint: str  # relative to the study folder
    metric: str
    test: float | None
    baseline: float
    epochs_run: int
    seconds: float


class StudyRun(_Run, total=False):
    """One trained network: the job, the task's design (input size, sequence length, readout,
    loss), the initializer, its checkpoint, the final test metric beside the trivial baseline,
    epochs run and seconds; ``pair`` for a twin task."""

    pair: str


class Excluded(TypedDict):
    """``n`` networks of ``arch`` on ``task`` left out of the tests, and ``why``."""

    arch: str
    task: str
    why: str
    n: int

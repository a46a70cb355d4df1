"""The metric records of training, as typed dictionaries (their JSON form is the same dict).

- :class:`EpochRecord`: one per epoch of ``train`` (``TrainResult.history``, a bench cell's
  ``history``); :class:`StartRecord` is the epoch-0 record ``on_epoch`` sees before training.
- :class:`FinalMetrics`: ``TrainResult.metrics`` (and a checkpoint's ``metrics`` metadata).
- :class:`CellRecord`: one bench run, ``OUT/cells/<id>.json``.
- :class:`TrackCheckpoint`: one checkpoint of ``rnndyn.training.track``.
"""

from __future__ import annotations

from typing import TypedDict


class StartRecord(TypedDict):
    """The network before training (epoch 0) or after an epoch: validation loss and metric."""

    epoch: int
    val_loss: float
    val_metric: float


class EpochRecord(StartRecord):
    """One training epoch: also the mean training loss and seconds since training started."""

    train_loss: float
    time: float


class _Metrics(TypedDict):
    metric: str
    higher_is_better: bool
    baseline: float
    test: float
    val: float
    best_epoch: int
    epochs_run: int
    seconds: float


class FinalMetrics(_Metrics, total=False):
    """Final metrics of a trained network: the metric's name and direction, the task's trivial
    baseline, test and validation values with the best weights, the best epoch, epochs run and
    seconds; plus the task's extra test sets (e.g. ``test_long``) when it has them."""

    test_long: float


class _Cell(TypedDict):
    schema: str
    id: str
    task: str
    kind: str
    arch: str
    init: str
    seed: int
    nonlinearity: str
    spec: dict[str, object]  # the task's TaskSpec.to_dict()
    checkpoint: str | None
    status: str  # ok | diverged | error
    error: str | None
    metrics: FinalMetrics  # empty for a failed run
    history: list[EpochRecord]
    warnings: list[str]
    time_s: float
    cpu_s: float


class CellRecord(_Cell, total=False):
    """One bench run (``OUT/cells/<id>.json``): the grid cell, the task spec, the outcome
    (``status``; ``error`` and ``exit_code`` for a failed run), final metrics, per-epoch history,
    the warnings it raised, its checkpoint (relative path) and its wall and CPU seconds."""

    exit_code: int


class TrackCheckpoint(TypedDict):
    """One checkpoint followed by ``track``: its path, sha256, epoch and recorded metrics."""

    path: str
    sha256: str | None
    epoch: int | None
    metrics: dict[str, object]

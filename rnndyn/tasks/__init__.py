"""Seeded, offline dataset generators for training RNNs whose dynamics rnndyn then analyses.

>>> task = get_task("adding", T=200)
>>> data = task.generate(seed=0)            # TaskData: x_* (N, T, D) float32, y_* targets
>>> task.spec.kind, task.spec.metric        # ('regression', 'mse')

Classification: ``tomita1`` … ``tomita7``, ``parity``, ``digits``, ``digits_perm``, ``copy``.
Regression: ``adding``, ``sine``, ``mackey_glass``, ``narma10``, ``flipflop``.
Matched twins (same inputs, asked for a value or its sign): ``twin_<quantity>_reg`` / ``_cls``.
(MNIST-1D is left out: its package needs ``requests`` and seeds NumPy's global RNG.)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from rnndyn.errors import UsageError, did_you_mean
from rnndyn.tasks.base import METRICS, BaseTask, SizedTask, Task, TaskData, TaskSpec
from rnndyn.tasks.digits import DigitsTask, PermutedDigitsTask
from rnndyn.tasks.flipflop import FlipFlopTask
from rnndyn.tasks.memory import AddingTask, CopyTask
from rnndyn.tasks.parity import ParityTask
from rnndyn.tasks.series import MackeyGlassTask, Narma10Task, SineTask
from rnndyn.tasks.tomita import TomitaTask
from rnndyn.tasks.twins import TWINS

__all__ = [
    "METRICS",
    "REGISTRY",
    "BaseTask",
    "SizedTask",
    "Task",
    "TaskData",
    "TaskSpec",
    "get_task",
    "list_tasks",
    "task_names",
]

REGISTRY: dict[str, Callable[..., BaseTask]] = {
    **{f"tomita{g}": partial(TomitaTask, grammar=g) for g in range(1, 8)},
    "parity": ParityTask,
    "digits": DigitsTask,
    "digits_perm": PermutedDigitsTask,
    "adding": AddingTask,
    "copy": CopyTask,
    "sine": SineTask,
    "mackey_glass": MackeyGlassTask,
    "narma10": Narma10Task,
    "flipflop": FlipFlopTask,
    **TWINS,  # twin_<quantity>_reg / _cls: matched regression/classification pairs (twins.py)
}


def task_names() -> list[str]:
    """Registered task names, in registry order."""
    return list(REGISTRY)


def get_task(name: str, **params: Any) -> BaseTask:
    """The task ``name`` with parameters ``params`` (e.g. ``T=200``); strings are coerced.

    Raises UsageError for an unknown name or parameter, listing the valid ones.
    """
    key = str(name).strip().lower()
    if key not in REGISTRY:
        raise UsageError(
            f"unknown task {name!r}{did_you_mean(name, REGISTRY)}",
            hint=f"valid tasks: {', '.join(REGISTRY)} (see `rnndyn tasks`).",
        )
    return REGISTRY[key](key, **params)


def list_tasks() -> list[TaskSpec]:
    """The spec of every task at its default parameters."""
    return [get_task(name).spec for name in REGISTRY]


def __dir__() -> list[str]:
    return sorted(__all__)

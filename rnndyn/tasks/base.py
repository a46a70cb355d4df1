"""The task contract: ``TaskSpec``, ``TaskData``, the ``Task`` protocol and a small base class.

Conventions shared by every task:

- ``x`` is float32 ``(N, T, D)``, batch first. Targets are float32 ``(N, O)`` / ``(N, T, O)`` for
  ``loss="mse"`` and int64 labels ``(N,)`` / ``(N, T)`` for ``loss="ce"``.
- Variable-length strings are *left*-padded with a dedicated pad channel, so the last time step is
  always the readout step of a ``readout="last"`` task.
- Each split draws from its own child of ``numpy.random.SeedSequence(seed)`` (train, val, test,
  extra tests), so the same seed gives the same data and the test set does not change with ``n_train``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.errors import UsageError

if TYPE_CHECKING:  # torch is imported where data are made: `rnndyn tasks` lists specs without it
    import torch

SIZE_KEYS = ("n_train", "n_val", "n_test")
MAX_CELLS = 2**29  # float32 values in one generated dataset (2 GiB): beyond this, a UsageError


@dataclass(frozen=True)
class TaskSpec:
    """What a task is: sizes, readout, loss, metric and its trivial baseline.

    ``defaults`` holds sensible training settings (hidden, epochs, lr, batch_size, n_train, n_val,
    n_test, patience, clip); ``params`` the task's own resolved parameters (e.g. ``{"T": 100}``).
    """

    name: str
    kind: Literal["regression", "classification"]
    description: str
    input_size: int
    output_size: int
    seq_len: int
    readout: Literal["last", "every"]
    loss: Literal["mse", "ce"]
    metric: str
    higher_is_better: bool
    baseline: float
    defaults: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> JsonObject:
        """JSON-ready dictionary."""
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "input_size": self.input_size,
            "output_size": self.output_size,
            "seq_len": self.seq_len,
            "readout": self.readout,
            "loss": self.loss,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "baseline": float(self.baseline),
            "defaults": dict(self.defaults),
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class TaskData:
    """Train/val/test splits; ``extra_tests`` e.g. ``{"test_long": (x, y)}`` (longer strings)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    extra_tests: Mapping[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)


@runtime_checkable
class Task(Protocol):
    """A seeded, offline dataset generator plus its metric."""

    spec: TaskSpec

    def generate(self, seed: int, **overrides: Any) -> TaskData: ...

    def evaluate(self, output: torch.Tensor, target: torch.Tensor) -> float: ...


# --- metrics ---------------------------------------------------------------------------------


def accuracy(output: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of argmax(logits) equal to the labels; output ``(..., C)``, target ``(...)``."""
    return float((output.argmax(-1) == target).double().mean())


def mse(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean squared error over every entry."""
    return float(((output.double() - target.double()) ** 2).mean())


def nrmse(output: torch.Tensor, target: torch.Tensor) -> float:
    """RMSE divided by the target's standard deviation (predicting the mean scores 1)."""
    import torch

    t = target.double()
    return float(torch.sqrt(((output.double() - t) ** 2).mean() / t.var(unbiased=False)))


def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean cross-entropy in nats per label; output ``(..., C)`` logits, target ``(...)``."""
    import torch

    logits = output.double().reshape(-1, output.shape[-1])
    return float(torch.nn.functional.cross_entropy(logits, target.reshape(-1)))


def recall_accuracy(output: torch.Tensor, target: torch.Tensor) -> float:
    """Accuracy over the labelled steps only (label ≠ 0; label 0 is the blank of sequence
    tasks such as copy, where predicting blanks everywhere would otherwise score high)."""
    mask = target != 0
    return float((output.argmax(-1)[mask] == target[mask]).double().mean())


METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {
    "accuracy": accuracy,
    "recall_accuracy": recall_accuracy,
    "mse": mse,
    "nrmse": nrmse,
    "ce": cross_entropy,
}


# --- base class ------------------------------------------------------------------------------


_KINDS = {bool: "boolean", int: "integer", float: "finite number", tuple: "list of numbers"}


def coerce(name: str, value: Any, default: Any) -> Any:
    """Cast ``value`` (often a CLI string) to the type of ``default``; UsageError if it can't."""
    kind = type(default)
    try:
        if kind is bool:
            text = str(value).lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return text in ("true", "1", "yes")
        if kind is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            out = tuple(float(v) for v in items)
        elif kind is int:
            number = float(value)
            if not number.is_integer():
                raise ValueError(value)
            return int(number)
        else:
            out = kind(value)
        if not np.isfinite(np.asarray(out, dtype=float)).all():
            raise ValueError(value)
        return out
    except (TypeError, ValueError, OverflowError):
        example = ",".join(f"{v:g}" for v in default) if kind is tuple else default
        raise UsageError(
            f"task parameter {name}={value!r} is not a valid {_KINDS.get(kind, kind.__name__)}",
            hint=f"e.g. {name}={example}.",
        ) from None


class BaseTask:
    """Shared plumbing: parameter resolution, seeded splits, metric dispatch.

    Subclasses set ``PARAMS`` (defaults), implement ``make_spec()`` and
    ``sample(rng, n, split) -> (x, y)``; ``extra_splits()`` names additional test splits.
    """

    PARAMS: ClassVar[Mapping[str, object]] = {}

    def __init__(self, name: str, **params: Any):
        unknown = sorted(set(params) - set(self.PARAMS))
        if unknown:
            valid = ", ".join(sorted(self.PARAMS)) or "none"
            raise UsageError(
                f"task {name!r} has no parameter {', '.join(unknown)}",
                hint=f"valid parameters: {valid}.",
            )
        self.name = name
        self.params = {k: coerce(k, params.get(k, v), v) for k, v in self.PARAMS.items()}
        self.check_params()
        self.spec = self.make_spec()

    def check_params(self) -> None:
        """Raise UsageError on impossible parameters (T < 1, ...)."""
        t = self.params.get("T")
        if t is not None and t < 1:
            raise UsageError(f"task {self.name!r}: T={t} must be at least 1")

    def plain_params(self) -> JsonObject:
        """Parameters as JSON/checkpoint-friendly values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()}

    def make_spec(self) -> TaskSpec:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int, split: str) -> tuple[Any, Any]:
        raise NotImplementedError  # pragma: no cover - abstract

    def extra_splits(self) -> tuple[str, ...]:
        return ()

    def sizes(self, overrides: Mapping[str, Any]) -> dict[str, int]:
        unknown = sorted(set(overrides) - set(SIZE_KEYS))
        if unknown:
            raise UsageError(
                f"generate() got unknown option(s) {', '.join(unknown)}",
                hint=f"valid options: {', '.join(SIZE_KEYS)}.",
            )
        sizes = {k: int(overrides.get(k, self.spec.defaults[k])) for k in SIZE_KEYS}
        for k, v in sizes.items():
            if v < 1:
                raise UsageError(f"task {self.name!r}: {k}={v} must be at least 1")
        spec = self.spec
        per_step = spec.input_size + spec.output_size
        factor = 1 + 2 * len(self.extra_splits())  # extra tests: n_test sequences of ≤ 2T
        cells = (sum(sizes.values()) + factor * sizes["n_test"]) * spec.seq_len * per_step
        if cells > MAX_CELLS:
            raise UsageError(
                f"task {self.name!r}: the data would need about {4 * cells / 2**30:.0f} GiB",
                hint="lower T or the number of sequences.",
            )
        return sizes

    def generate(self, seed: int, **overrides: Any) -> TaskData:
        """Seeded splits; ``overrides`` may change ``n_train``, ``n_val``, ``n_test``."""
        if int(seed) < 0:
            raise UsageError(f"seed {seed} must be non-negative")
        sizes = self.sizes(overrides)
        extras = self.extra_splits()
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3 + 4)]
        parts = {}
        for i, split in enumerate(("train", "val", "test")):
            parts[split] = _tensors(*self.sample(rngs[i], sizes[f"n_{split}"], split))
        extra = {
            name: _tensors(*self.sample(rngs[3 + i], sizes["n_test"], name))
            for i, name in enumerate(extras)
        }
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = parts["train"], parts["val"], parts["test"]
        return TaskData(x_tr, y_tr, x_va, y_va, x_te, y_te, extra_tests=extra)

    def evaluate(self, output: torch.Tensor, target: torch.Tensor) -> float:
        """The task's metric (``spec.metric``) of model ``output`` against ``target``."""
        return METRICS[self.spec.metric](output, target)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({self.name!r}{', ' if args else ''}{args})"


class SizedTask:
    """``task`` whose ``generate`` uses fixed split sizes (``n_train``, ``n_val``, ``n_test``), e.g. a
    bench's; ``spec.defaults`` says so."""

    def __init__(self, task: BaseTask, sizes: Mapping[str, int]):
        self._task, self._sizes = task, dict(sizes)
        self.spec = dataclasses.replace(task.spec, defaults={**task.spec.defaults, **sizes})

    def generate(self, seed: int, **overrides: Any) -> TaskData:
        return self._task.generate(seed, **{**self._sizes, **overrides})

    def evaluate(self, output: torch.Tensor, target: torch.Tensor) -> float:
        return self._task.evaluate(output, target)

    def __repr__(self) -> str:
        return f"SizedTask({self._task!r}, {self._sizes})"


def _tensors(x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    xt = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32)
    ya = np.ascontiguousarray(y)
    yt = torch.as_tensor(ya, dtype=torch.int64 if ya.dtype.kind in "iub" else torch.float32)
    return xt, yt

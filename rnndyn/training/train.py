"""The training loop used by ``rnndyn train`` and ``rnndyn bench``.

Adam, gradient-norm clipping, early stopping on the validation loss with the best weights
restored. Deterministic on CPU for a seed: the model is built under a forked, seeded torch RNG, the
recurrent weights are drawn by ``rnndyn.init.apply_`` from a seeded generator, and minibatches are
shuffled by another seeded generator. Thread count is the caller's business
(``torch.set_num_threads``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, TypedDict, cast

import torch
from torch.nn import functional as F

from rnndyn._util.hashing import sha256
from rnndyn._util.jsonsafe import JsonObject, plain
from rnndyn.errors import InvalidInputError, OutputError, UsageError
from rnndyn.readers.rnndyn_format import SCHEMA
from rnndyn.tasks import Task, TaskData, TaskSpec, get_task
from rnndyn.tasks.twins import pair_of
from rnndyn.training.model import SequenceModel, check_arch
from rnndyn.training.records import EpochRecord, FinalMetrics, StartRecord

MIN_REL_IMPROVEMENT = 0.01  # early stopping: patience restarts on a 1% (and ≥ min_delta) drop
TRAINING_KEYS = ("epochs", "lr", "batch_size", "patience", "clip", "min_delta")
Progress = Callable[[EpochRecord, int], None]


class TrainingConfig(TypedDict):
    """Validated training settings (``config``)."""

    hidden: int
    epochs: int
    batch_size: int
    num_layers: int
    lr: float
    patience: int
    clip: float
    min_delta: float


@dataclass(frozen=True)
class TrainResult:
    """A trained model, its task spec, final metrics, per-epoch history and checkpoint metadata.

    ``metrics``: ``metric`` (name), ``test``, ``val``, ``test_long`` (when the task has one),
    ``baseline``, ``higher_is_better``, ``best_epoch``, ``epochs_run``, ``seconds``
    (:class:`~rnndyn.training.records.FinalMetrics`). ``history``: one record per epoch:
    ``epoch``, ``train_loss``, ``val_loss``, ``val_metric``, ``time`` (seconds since the start;
    :class:`~rnndyn.training.records.EpochRecord`). ``meta``: the checkpoint metadata (JSON).
    """

    model: SequenceModel
    spec: TaskSpec
    metrics: FinalMetrics
    history: list[EpochRecord]
    meta: JsonObject = field(repr=False)

    def to_dict(self) -> JsonObject:
        """JSON-ready (no weights)."""
        return plain({"task": self.spec.name, "metrics": self.metrics, "history": self.history})


def load_init_params(path: str | PathLike[str]) -> tuple[Any, str]:
    """Read an eigen-initializer parameter file; returns ``(params, sha256 of the file)``."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError("no such parameter file", path=p, hint="check the path.")
    try:
        from rnndyn.init.law import EigenInitParams
    except ImportError:
        raise UsageError(
            "this rnndyn has no eigen-initializer law (rnndyn.init.law), so --init-params "
            "cannot be read"
        ) from None
    params = EigenInitParams.load(p)
    return params, sha256(p.read_bytes())


def _params_digest(init_params: Any) -> tuple[Any, str | None]:
    if init_params is None:
        return None, None
    if isinstance(init_params, (str, PathLike)):
        return load_init_params(init_params)
    if hasattr(init_params, "to_dict"):
        import json

        text = json.dumps(plain(init_params.to_dict()), sort_keys=True)
        return init_params, sha256(text)
    return init_params, None


def _initialise(model: SequenceModel, init: str, params: Any, options: Mapping, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    try:
        from rnndyn.init import apply_
    except (ImportError, AttributeError):
        if init != "default" or params is not None or options:
            raise UsageError(
                f"initializer {init!r} is not available in this install (rnndyn.init missing)",
                hint="valid: default.",
            ) from None
        return  # PyTorch's own init, already drawn under the seeded RNG
    apply_(model.rnn, init, params=params, generator=g, **dict(options))


def _loss(output: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "ce":
        return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))
    return F.mse_loss(output, target)


def _check(name: str, value: Any, low: int) -> int:
    """``value`` as an int ≥ ``low``, else UsageError."""
    try:
        ok = float(value) == int(value) and int(value) >= low
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise UsageError(f"{name}={value!r} is invalid: it must be an integer ≥ {low}")
    return int(value)


def config(
    spec: TaskSpec,
    *,
    hidden: int | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    num_layers: int = 1,
) -> TrainingConfig:
    """Training settings: the explicit ones, else the task's defaults; validated."""
    d = spec.defaults
    cfg: TrainingConfig = {
        "hidden": _check("hidden", d.get("hidden", 32) if hidden is None else hidden, 1),
        "epochs": _check("epochs", d.get("epochs", 20) if epochs is None else epochs, 1),
        "batch_size": _check(
            "batch_size", d.get("batch_size", 64) if batch_size is None else batch_size, 1
        ),
        "num_layers": _check("num_layers", num_layers, 1),
        "lr": d.get("lr", 1e-3) if lr is None else lr,  # checked below
        "patience": int(d.get("patience", 5)),
        "clip": float(d.get("clip", 1.0)),
        "min_delta": float(d.get("min_delta", 1e-4)),
    }
    try:
        cfg["lr"] = float(cfg["lr"])
    except (TypeError, ValueError):
        cfg["lr"] = math.nan
    if not (math.isfinite(cfg["lr"]) and cfg["lr"] > 0):
        raise UsageError(f"lr={lr!r} is invalid: the learning rate must be a positive number")
    return cfg


def check_training(spec: TaskSpec, arch: str, cfg: TrainingConfig, what: str = "") -> None:
    """Refuse (UsageError with the estimate) settings whose network, optimiser state, activations
    and task data would not fit the memory budget, before anything is built."""
    from rnndyn._util import budget

    n = sum(float(spec.defaults.get(k, 1000)) for k in ("n_train", "n_val", "n_test"))
    data = 4.0 * n * float(spec.seq_len) * (spec.input_size + spec.output_size)
    need = data + budget.training_bytes(
        arch,
        spec.input_size,
        cfg["hidden"],
        cfg["num_layers"],
        spec.output_size,
        batch=cfg["batch_size"],
        steps=spec.seq_len,
    )
    budget.check(
        need,
        f"{what or 'training'} a {arch} of {cfg['num_layers']} layer(s) × {cfg['hidden']} hidden "
        f"units on {spec.name} (T={spec.seq_len}, batch {cfg['batch_size']})",
        hint="Use a smaller --hidden, fewer --num-layers or a smaller --batch-size",
    )


def train(
    task: str | Task,
    arch: str,
    *,
    hidden: int | None = None,
    init: str = "default",
    init_params: Any = None,
    init_options: Mapping[str, Any] | None = None,
    seed: int = 0,
    data_seed: int | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    nonlinearity: str = "tanh",
    num_layers: int = 1,
    progress: Progress | None = None,
    task_params: Mapping[str, Any] | None = None,
    save_every: int | None = None,
    snapshots: str | PathLike[str] | None = None,
    force: bool = False,
) -> TrainResult:
    """Train one ``arch`` network on ``task`` (name or Task); ``None`` settings use the task's defaults.

    ``init_params``: a parameter-file path (its sha256 goes into the metadata) or a loaded object.
    ``data_seed`` (default ``seed``) draws the data; ``seed`` draws weights and minibatch order.
    ``progress(record, epochs)`` is called after every epoch.
    ``save_every=K`` with ``snapshots=DIR`` writes the initial weights and every K-th epoch's weights
    as rnndyn checkpoints ``DIR/epoch_0000.pt``, … (``epoch`` and that epoch's ``metrics`` in the
    metadata; an existing snapshot is replaced only with ``force``).
    """
    if isinstance(task, str):
        task = get_task(task, **dict(task_params or {}))
    elif task_params:
        raise UsageError("task_params only apply when the task is given by name")
    spec = task.spec
    arch = check_arch(arch, nonlinearity)
    seed = _check("seed", seed, 0)
    data_seed = seed if data_seed is None else _check("data_seed", data_seed, 0)
    cfg = config(
        spec, hidden=hidden, epochs=epochs, lr=lr, batch_size=batch_size, num_layers=num_layers
    )
    check_training(spec, arch, cfg)
    params, params_sha = _params_digest(init_params)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SequenceModel(
            arch,
            spec.input_size,
            cfg["hidden"],
            spec.output_size,
            num_layers=cfg["num_layers"],
            nonlinearity=nonlinearity,
            readout=spec.readout,
        )
    _initialise(model, init, params, init_options or {}, seed)
    data = task.generate(data_seed)
    meta = _meta(model, spec, arch, init, init_options, params_sha, seed, data_seed, cfg)
    on_epoch = _snapshot_writer(snapshots, save_every, meta, force)
    start = time.perf_counter()
    history, best_epoch = fit(
        model, data, spec.loss, task.evaluate, cfg, seed, progress, on_epoch=on_epoch
    )
    metrics = _final_metrics(model, task, data, history, best_epoch, time.perf_counter() - start)
    meta.update(metrics=plain(metrics), history=plain(history))
    return TrainResult(model, spec, metrics, history, meta)


def fit(
    model: SequenceModel,
    data: TaskData,
    loss_kind: str,
    evaluate: Callable[[torch.Tensor, torch.Tensor], float],
    cfg: TrainingConfig,
    seed: int,
    progress: Progress | None = None,
    *,
    on_epoch: Callable[[StartRecord, SequenceModel], None] | None = None,
) -> tuple[list[EpochRecord], int]:
    """Adam + clipping + early stopping; restores the best weights. Returns (history, best epoch).

    Training stops after ``cfg["patience"]`` epochs in which the validation loss never fell by
    more than ``max(cfg["min_delta"], 1% of it)`` (or on a non-finite training loss); the weights
    with the lowest validation loss are restored. ``on_epoch(record, model)`` sees the initial
    network (epoch 0) and the weights after every epoch, before any restoring.
    """
    g = torch.Generator().manual_seed(2**32 + seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    n = len(data.x_train)
    with torch.no_grad():
        best_loss = float(_loss(model.predict(data.x_val), data.y_val, loss_kind))
    best_state, ref_loss = _snapshot(model), best_loss
    if on_epoch is not None:
        val_metric = evaluate(model.predict(data.x_val), data.y_val)
        on_epoch({"epoch": 0, "val_loss": best_loss, "val_metric": val_metric}, model)
    history: list[EpochRecord] = []
    best_epoch, ref_epoch, start = 0, 0, time.perf_counter()
    for epoch in range(1, cfg["epochs"] + 1):
        model.train()
        total = 0.0
        for idx in torch.randperm(n, generator=g).split(cfg["batch_size"]):
            opt.zero_grad(set_to_none=True)
            loss = _loss(model(data.x_train[idx]), data.y_train[idx], loss_kind)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
            opt.step()
            total += loss.item() * len(idx)
        out = model.predict(data.x_val)
        val_loss = float(_loss(out, data.y_val, loss_kind))
        record: EpochRecord = {
            "epoch": epoch,
            "train_loss": total / n,
            "val_loss": val_loss,
            "val_metric": evaluate(out, data.y_val),
            "time": time.perf_counter() - start,
        }
        history.append(record)
        if progress is not None:
            progress(record, cfg["epochs"])
        if on_epoch is not None:
            on_epoch(record, model)
        if math.isfinite(val_loss) and val_loss < best_loss:
            best_loss, best_state, best_epoch = val_loss, _snapshot(model), epoch
        if val_loss < ref_loss - max(cfg["min_delta"], MIN_REL_IMPROVEMENT * ref_loss):
            ref_loss, ref_epoch = val_loss, epoch
        elif not math.isfinite(record["train_loss"]) or epoch - ref_epoch >= cfg["patience"]:
            break
    model.load_state_dict(best_state)
    model.eval()
    return history, best_epoch


def _snapshot_writer(
    folder: str | PathLike[str] | None, every: int | None, meta: Mapping[str, Any], force: bool
) -> Callable[[StartRecord, SequenceModel], None] | None:
    """The ``on_epoch`` callback writing ``folder/epoch_NNNN.pt`` at epoch 0 and every ``every``-th."""
    if folder is None and every is None:
        return None
    if folder is None or every is None:
        raise UsageError("training snapshots need both save_every (--save-every) and a folder")
    k = _check("save_every", every, 1)
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise UsageError(f"snapshot folder {root} exists and is not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        earlier = existing_snapshots(root)
    except OSError as err:
        raise OutputError(
            f"the snapshot folder cannot be created ({err.strerror or err})",
            path=root,
            hint="Choose a --snapshots folder whose parent is a writable folder and whose "
            "name is short enough.",
        ) from None
    if earlier and not force:
        raise OutputError(
            f"holds {describe_snapshots(earlier)} from an earlier run",
            path=root,
            hint="Training cannot continue from them; rerun with --force to replace them "
            "(training restarts at epoch 0 and rewrites them), or choose another --snapshots "
            "folder.",
        )
    from rnndyn.readers.rnndyn_format import save_checkpoint

    def write(record: StartRecord, model: SequenceModel) -> None:
        if record["epoch"] % k:
            return
        snap = dict(meta, epoch=record["epoch"], metrics=plain(record), snapshot_every=k)
        save_checkpoint(root / f"epoch_{record['epoch']:04d}.pt", model, snap, force=force)

    return write


def existing_snapshots(folder: str | PathLike[str]) -> list[Path]:
    """The ``epoch_NNNN.pt`` snapshots in ``folder``, by epoch ([] when there is none)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("epoch_[0-9][0-9][0-9][0-9]*.pt") if p.is_file())


def describe_snapshots(found: list[Path]) -> str:
    """``"3 snapshots (epoch_0000.pt … epoch_0002.pt)"``."""
    if not found:
        return "no snapshot"
    if len(found) == 1:
        return f"1 snapshot ({found[0].name})"
    return f"{len(found)} snapshots ({found[0].name} … {found[-1].name})"


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _final_metrics(
    model: SequenceModel,
    task: Task,
    data: TaskData,
    history: list[EpochRecord],
    best_epoch: int,
    seconds: float,
) -> FinalMetrics:
    spec = task.spec
    metrics: JsonObject = {
        "metric": spec.metric,
        "higher_is_better": spec.higher_is_better,
        "baseline": float(spec.baseline),
        "test": task.evaluate(model.predict(data.x_test), data.y_test),
        "val": task.evaluate(model.predict(data.x_val), data.y_val),
    }
    for name, (x, y) in data.extra_tests.items():  # e.g. test_long
        metrics[name] = task.evaluate(model.predict(x), y)
    metrics.update(best_epoch=best_epoch, epochs_run=len(history), seconds=seconds)
    return cast(FinalMetrics, metrics)


def _meta(
    model: SequenceModel,
    spec: TaskSpec,
    arch: str,
    init: str,
    init_options: Mapping[str, Any] | None,
    params_sha: str | None,
    seed: int,
    data_seed: int,
    cfg: TrainingConfig,
) -> JsonObject:
    from rnndyn._version import __version__

    settings: Mapping[str, object] = cfg

    return plain(
        {
            "schema": SCHEMA,
            **model.describe(),
            "arch": arch,
            "task": spec.name,
            "task_params": dict(spec.params),
            "task_kind": spec.kind,
            **({"pair": pair} if (pair := pair_of(spec.name)) else {}),
            "init": init,
            "init_params": params_sha,
            "init_options": dict(init_options or {}),
            "seed": seed,
            "data_seed": data_seed,
            "training": {
                "optimizer": "adam",
                "loss": spec.loss,
                **{k: settings[k] for k in TRAINING_KEYS},
                **{k: spec.defaults.get(k) for k in ("n_train", "n_val", "n_test")},
            },
            "rnndyn_version": __version__,
            "torch_version": torch.__version__,
        }
    )

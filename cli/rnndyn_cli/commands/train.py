"""``rnndyn train``: train one RNN/LSTM/GRU on a bundled task and write an rnndyn checkpoint."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rnndyn_cli.errors import boundary, fail, settings
from rnndyn_cli.options import SEED_MAX, ForceFlag, JsonFlag, finite
from rnndyn_cli.render import examples, progress_bar, write_stdout

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn._util.jsonsafe import JsonObject
    from rnndyn.training.train import TrainResult


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``["T=200", "tau=17"]`` → ``{"T": "200", "tau": "17"}`` (the task coerces the values)."""
    from rnndyn.errors import UsageError

    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r} is not KEY=VALUE", hint="e.g. --param T=200.")
        out[key.strip()] = value.strip()
    return out


def _progress_columns() -> tuple[Any, ...]:
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return (
        TextColumn("training"),
        BarColumn(),
        TextColumn("epoch {task.completed}/{task.total} {task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("(at most"),
        TimeRemainingColumn(),
        TextColumn("left)"),
    )


def _callback(bar: Any, epochs: int, metric: str = "metric") -> Any:
    """``(record, epochs)`` → advance the bar by one epoch; ``None`` without a bar. The bar
    starts at ``0/epochs`` (the real maximum; early stopping may end it sooner). In a log (stderr
    not a terminal) every epoch is one line: losses, the validation metric and the time."""
    if bar is None:
        return None
    job = bar.add_task("train", total=epochs, info="", unit="epoch", log_each=True)

    def callback(record: Mapping[str, object], epochs: int) -> None:
        shown = (
            ("train loss", "train_loss", ".4g"),
            ("val loss", "val_loss", ".4g"),
            (f"val {metric}", "val_metric", ".4g"),
        )
        parts = [f"{name} {record[k]:{spec}}" for name, k, spec in shown if k in record]
        if "time" in record:
            parts.append(f"{record['time']:.1f} s")
        info = ", ".join(parts)
        bar.update(job, total=epochs, completed=record["epoch"], info=info)

    return callback


def train_command(
    task: str = typer.Option(..., "--task", "-t", help="Task name (see `rnndyn tasks`)."),
    arch: str = typer.Option(..., "--arch", "-a", help="rnn, lstm or gru."),
    output: Path = typer.Option(..., "--output", "-o", help="Checkpoint file to write (.pt)."),
    hidden: int = typer.Option(None, "--hidden", "-H", help="Hidden units [task default]."),
    init: str = typer.Option(
        None,
        "--init",
        help="Initializer (see `rnndyn init list`) [eigen with --init-params, else default].",
    ),
    init_params: Path = typer.Option(
        None, "--init-params", help="Eigen-initializer parameter file (JSON)."
    ),
    seed: int = typer.Option(
        0, "--seed", "-s", min=0, max=SEED_MAX, help="Seed for weights, data and batches."
    ),
    epochs: int = typer.Option(None, "--epochs", "-e", help="Maximum epochs [task default]."),
    lr: float = typer.Option(
        None, "--lr", help="Adam learning rate [task default].", callback=finite
    ),
    batch_size: int = typer.Option(None, "--batch-size", help="Minibatch size [task default]."),
    nonlinearity: str = typer.Option("tanh", "--nonlinearity", help="tanh or relu (rnn only)."),
    num_layers: int = typer.Option(1, "--num-layers", help="Stacked recurrent layers."),
    param: list[str] = typer.Option(
        None, "--param", "-p", help="Task parameter KEY=VALUE, repeatable (e.g. T=200)."
    ),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads [torch's default]."),
    save_every: int = typer.Option(
        None, "--save-every", help="With --snapshots: keep epoch 0 and every K-th epoch's weights."
    ),
    snapshots: Path = typer.Option(
        None, "--snapshots", help="Folder for the snapshots (epoch_NNNN.pt; see `rnndyn track`)."
    ),
    json_out: JsonFlag = False,
    force: ForceFlag = False,
) -> None:
    """Train a network on a bundled task; write a checkpoint that `rnndyn analyze` reads."""
    from rnndyn._util.atomic import dumps_json
    from rnndyn.errors import UsageError
    from rnndyn.readers.rnndyn_format import check_destination, save_checkpoint
    from rnndyn.tasks import get_task
    from rnndyn.training.model import check_arch

    if init is None:
        init = "eigen" if init_params is not None else "default"
    task_obj = get_task(task, **parse_params(param))  # unknown task/param: UsageError first
    check_arch(arch, nonlinearity)
    if threads is not None:
        if threads < 1:
            raise UsageError(f"--threads {threads} must be at least 1")
        import torch

        torch.set_num_threads(threads)
    check_destination(output, force=force)  # refuse before spending minutes on training
    from rnndyn.training.train import config, train

    total = config(
        task_obj.spec,
        hidden=hidden,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        num_layers=num_layers,
    )["epochs"]
    with progress_bar(_progress_columns) as bar, _snapshots_kept(snapshots, output):
        result = train(
            task_obj,
            arch,
            hidden=hidden,
            init=init,
            init_params=init_params,
            seed=seed,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            nonlinearity=nonlinearity,
            num_layers=num_layers,
            progress=_callback(bar, total, task_obj.spec.metric),
            save_every=save_every,
            snapshots=snapshots,
            force=force,
        )
    sha = save_checkpoint(output, result.model, result.meta, force=force)
    doc = _document(output, sha, result)
    if json_out:
        write_stdout(dumps_json(doc))
        return
    m = result.metrics
    extra = f", test_long {m['test_long']:.4g}" if m.get("test_long") is not None else ""
    write_stdout(
        f"{output}: {result.spec.name} {doc['arch']} init={doc['init']} seed={doc['seed']}: "
        f"test {m['metric']} {m['test']:.4g} (trivial baseline {m['baseline']:.4g}{extra}); "
        f"{m['epochs_run']} epochs, {m['seconds']:.1f} s\n"
    )
    if not settings().quiet and result.history and m["best_epoch"] == 0:
        sys.stderr.write("rnndyn: warning: validation loss never improved on the initial network\n")


@contextlib.contextmanager
def _snapshots_kept(snapshots: Path | None, output: Path) -> Iterator[None]:
    """Ctrl-C with --snapshots: say which snapshots were written (the checkpoint was not)."""
    try:
        yield
    except KeyboardInterrupt:
        if snapshots is None:
            raise
        from rnndyn.training.train import describe_snapshots, existing_snapshots

        found = existing_snapshots(snapshots)
        if not found:
            raise KeyboardInterrupt("no outputs were changed.") from None
        raise fail(
            f"interrupted; {output} was not written, but {snapshots} holds "
            f"{describe_snapshots(found)}. Training cannot resume from them: run the same command with --force "
            "to replace them (training restarts at epoch 0), or use another --snapshots folder.",
            130,
        ) from None


def _document(output: Path, sha: str, result: TrainResult) -> JsonObject:
    from rnndyn._util.jsonsafe import plain

    meta, hist = result.meta, result.history
    return plain(
        {
            "schema": "rnndyn.training.train/1",
            "checkpoint": {"path": str(output), "sha256": sha},
            "task": meta["task"],
            "task_kind": meta["task_kind"],
            "task_params": meta["task_params"],
            "arch": meta["arch"],
            "hidden_size": meta["hidden_size"],
            "init": meta["init"],
            "init_params": meta["init_params"],
            "seed": meta["seed"],
            "metrics": result.metrics,
            "history": {
                "epochs_run": len(hist),
                "best_epoch": result.metrics["best_epoch"],
                "final_train_loss": hist[-1]["train_loss"] if hist else None,
                "best_val_loss": min(
                    (h["val_loss"] for h in hist if math.isfinite(h["val_loss"])), default=None
                ),
                "seconds": result.metrics["seconds"],
            },
        }
    )


def register(app: typer.Typer) -> None:
    app.command(
        "train",
        epilog=examples(
            "rnndyn train -t adding -a rnn -e 5 -o adding.pt",
            "rnndyn train -t sine -a lstm --init orthogonal -s 1 -o sine.pt --json",
            "rnndyn init fit data/examples/*.pt -o law.json && rnndyn train -t tomita4 -a gru --init-params law.json -o eigen.pt",
        ),
    )(boundary(train_command))

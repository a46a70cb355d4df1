"""Train replicate networks, fit the eigen law per architecture and task kind, ship the law files.

    python scripts/fit_shipped_laws.py                      # everything (resumable; hours on a CPU)
    python scripts/fit_shipped_laws.py --dry-run            # print the plan only
    python scripts/fit_shipped_laws.py --archs gru --seeds 2 --tasks sine parity   # a quick run
    python scripts/fit_shipped_laws.py --preset eigen --seeds 3 --epochs 30   # the shipped laws

Steps: (1) train ``--seeds`` networks per (arch, task), seeds ``--first-seed`` on (default 100, so
they never overlap the bench's evaluation seeds 0..N−1), with PyTorch's default initializer and
write them under ``--work`` (existing checkpoints are reused, so an interrupted run resumes);
``--preset`` takes the tasks, task parameters, data sizes and hidden size of a bench preset;
(2) keep the networks that beat their task's trivial baseline by ``--margin`` (relative); (3) per
architecture, fit one law per task kind with ``EigenInitFitter`` and write
``<out>/eigen-<arch>.<regression|classification>.json``, plus ``<out>/eigen.<kind>.json`` holding
every architecture's targets (``hh``; ``i f g o``; ``r z n``), the file ``rnndyn bench
--init-params KIND=FILE`` takes. Each file's provenance lists every
checkpoint's path (relative to the repository) and sha256, their count and the group; its
description records this script's command line. The law is in the spirit of Dou & Principe
(arXiv 2307.15679); their exact recipe is not public.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGRESSION = ["sine", "mackey_glass", "narma10", "adding"]
CLASSIFICATION = ["parity", "tomita3", "tomita5", "digits"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["rnn", "lstm", "gru"])
    ap.add_argument("--tasks", nargs="+", default=REGRESSION + CLASSIFICATION)
    ap.add_argument("--seeds", type=int, default=5, help="replicate networks per (arch, task)")
    ap.add_argument("--first-seed", type=int, default=100, help="seeds first..first+N-1")
    ap.add_argument("--preset", default=None, help="a bench preset's tasks, T, sizes, hidden")
    ap.add_argument("--fit-biases", action="store_true", help="fit gate-bias rules too")
    ap.add_argument(
        "--task-param",
        action="append",
        default=[],
        metavar="TASK.KEY=VALUE",
        help="a task parameter (repeatable; over the preset's), e.g. narma10.T=50",
    )
    ap.add_argument("--hidden", type=int, default=None, help="[64, or the preset's]")
    ap.add_argument(
        "--slow-modes",
        type=float,
        default=0.0,
        help="round-2 law: put this fraction of every target's radii in [--slow-min, 1] "
        "and cap the rest at --slow-min (written as eigen2*.json)",
    )
    ap.add_argument("--slow-min", type=float, default=0.9)
    ap.add_argument("--epochs", type=int, default=None, help="[each task's default]")
    ap.add_argument(
        "--margin",
        type=float,
        default=0.1,
        help="keep a network if it beats the trivial baseline by this fraction",
    )
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "shipped-laws")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "init")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="the fitter's seed")
    ap.add_argument("--force", action="store_true", help="replace existing law files")
    ap.add_argument("--dry-run", action="store_true")
    return ap.parse_args(argv)


def log(msg: str) -> None:
    sys.stderr.write(f"fit_shipped_laws: {msg}\n")


def rel(path: Path) -> Path:
    try:
        return path.resolve().relative_to(ROOT)
    except ValueError:
        return path


def apply_preset(args: argparse.Namespace) -> None:
    """Fill tasks/hidden from ``--preset``; ``args.task_params``/``args.sizes`` (may be empty)."""
    from rnndyn.training.bench.grid import PRESETS

    p = PRESETS[args.preset] if args.preset else None
    if p is not None and args.tasks == REGRESSION + CLASSIFICATION:
        args.tasks = list(p.tasks)
    if args.hidden is None:
        args.hidden = p.hidden if p is not None and p.hidden else 64
    args.task_params = {t: dict(p.task_params.get(t, {})) if p else {} for t in args.tasks}
    for item in args.task_param:
        key, _, value = item.partition("=")
        task, _, name = key.partition(".")
        args.task_params.setdefault(task, {})[name] = int(value) if value.isdigit() else value
    args.task_params = {t: v for t, v in args.task_params.items() if v}
    args.sizes = dict(p.sizes) if p else {}


def make_task(args: argparse.Namespace, name: str):
    from rnndyn.tasks import SizedTask, get_task

    task = get_task(name, **args.task_params.get(name, {}))
    return SizedTask(task, args.sizes) if args.sizes else task


def train_all(args: argparse.Namespace) -> dict[str, list[Path]]:
    """Train (or reuse) every checkpoint; ``{arch: [paths]}``."""
    from rnndyn.readers.rnndyn_format import save_checkpoint
    from rnndyn.training.train import train

    out: dict[str, list[Path]] = {}
    for arch in args.archs:
        for task in args.tasks:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                path = args.work / arch / task / f"seed{seed}.pt"
                out.setdefault(arch, []).append(path)
                if path.exists() or args.dry_run:
                    log(f"{'would train' if not path.exists() else 'reuse'} {rel(path)}")
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                res = train(
                    make_task(args, task), arch, hidden=args.hidden, seed=seed, epochs=args.epochs
                )
                save_checkpoint(path, res.model, res.meta)
                m = res.metrics
                log(
                    f"trained {rel(path)}: test {m['metric']} {m['test']:.4g} "
                    f"(baseline {m['baseline']:.4g}), {m['seconds']:.0f} s"
                )
    return out


def learned(metrics: dict, margin: float) -> bool:
    """Did the network beat its task's trivial baseline by ``margin`` (relative)?"""
    test, base = metrics.get("test"), metrics.get("baseline")
    if test is None or base is None:
        return False
    if metrics.get("higher_is_better"):
        return test >= base + margin * (1.0 - base)  # accuracy-like, at most 1
    return test <= (1.0 - margin) * base


def fit_all(args: argparse.Namespace, ckpts: dict[str, list[Path]]) -> None:
    from rnndyn.init.fit import fit_groups
    from rnndyn.readers.checkpoint import load

    command = "python scripts/fit_shipped_laws.py " + shlex.join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    per_kind: dict[str, dict] = {}
    for arch, paths in ckpts.items():
        loaded = [load(rel(p)) for p in paths]
        kept = [c for c in loaded if learned(dict(c.metadata.get("metrics", {})), args.margin)]
        log(
            f"{arch}: {len(kept)} of {len(loaded)} networks beat their baseline by {args.margin:.0%}"
        )
        if not kept:
            continue
        for group, fitter in fit_groups(
            kept, "task_kind", name=f"eigen-{arch}", seed=args.seed, fit_biases=args.fit_biases
        ).items():
            per_kind.setdefault(group, {})[arch] = fitter.params_
            stem = "eigen2" if args.slow_modes > 0 else "eigen"
            dest = args.out / f"{stem}-{arch}.{group}.json"
            if dest.exists() and not args.force:
                log(f"{rel(dest)} exists; pass --force to replace it")
                continue
            n = fitter.params_.provenance["n_checkpoints"]
            tasks = sorted(
                {str(c.metadata.get("task")) for c in kept if c.metadata.get("task_kind") == group}
            )
            text = (
                f"{arch.upper()} law for {group} tasks ({', '.join(tasks)}), fitted to {n} "
                f"networks (hidden {args.hidden}, default init, seeds {args.first_seed}.."
                f"{args.first_seed + args.seeds - 1}) that beat their baseline; "
                f"in the spirit of Dou & Principe (arXiv 2307.15679). Made by: {command}"
            )
            law = dataclasses.replace(fitter.params_, description=text)
            if args.slow_modes > 0:
                targets = with_slow_modes(dict(law.targets), args.slow_modes, args.slow_min)
                law = dataclasses.replace(law, targets=targets, name=f"{stem}-{arch}.{group}")
            law.save(dest)
            summary = ", ".join(
                f"{t}: {law.radius.family}/{law.phase.family}"
                for t, law in fitter.params_.targets.items()
            )
            log(f"wrote {rel(dest)} ({summary})")
    for group, laws in per_kind.items():
        write_combined(args, group, laws, command)


def with_slow_modes(targets: dict, fraction: float, low: float) -> dict:
    from rnndyn.init import map_radii, slow_radius

    return map_radii(targets, lambda d: slow_radius(d, fraction, low))


def write_combined(args: argparse.Namespace, group: str, laws: dict, command: str) -> None:
    """One file per task kind with every architecture's targets (their names never collide)."""
    from rnndyn.init import EigenInitParams

    stem = "eigen2" if args.slow_modes > 0 else "eigen"
    dest = args.out / f"{stem}.{group}.json"
    if dest.exists() and not args.force:
        log(f"{rel(dest)} exists; pass --force to replace it")
        return
    targets, biases, diags, prov = {}, {}, {}, {}
    for law in laws.values():
        targets.update(law.targets)
        biases.update(law.gate_biases)
        diags.update(law.diagnostics or {})
    for arch, law in laws.items():
        prov[arch] = dict(law.provenance or {})
    checkpoints = [c for p in prov.values() for c in p.get("checkpoints", [])]
    first = next(iter(prov.values()))
    if args.slow_modes > 0:
        targets = with_slow_modes(targets, args.slow_modes, args.slow_min)
    text = (
        f"{group} law for {', '.join(laws)} ({', '.join(targets)}), fitted per architecture "
        f"to {len(checkpoints)} networks (hidden {args.hidden}, default init, seeds "
        f"{args.first_seed}..{args.first_seed + args.seeds - 1}) that beat their baseline; in "
        f"the spirit of Dou & Principe (arXiv 2307.15679). Made by: {command}"
    )
    if args.slow_modes > 0:
        text += (
            f". Round-2 variant: the top {args.slow_modes:.0%} of each target's radii spread "
            f"over [{args.slow_min}, 1] (slow modes), the rest capped at {args.slow_min}"
        )
        if args.fit_biases:
            text += "; gate biases N(mean, std²) fitted from the same networks"
    combined = EigenInitParams(
        targets,
        gate_biases=biases,
        name=f"{stem}.{group}",
        description=text,
        provenance={
            "checkpoints": checkpoints,
            "n_checkpoints": len(checkpoints),
            "group": group,
            "group_by": "task_kind",
            "archs": {a: p.get("n_checkpoints") for a, p in prov.items()},
            "fitter": first.get("fitter"),
            "rnndyn_version": first.get("rnndyn_version"),
            "seed": first.get("seed"),
            "task_params": args.task_params,
            "sizes": args.sizes,
            "hidden": args.hidden,
            "epochs": args.epochs,
            "first_seed": args.first_seed,
            "seeds": args.seeds,
            "slow_modes": args.slow_modes,
            "slow_min": args.slow_min,
            "fit_biases": args.fit_biases,
        },
        diagnostics=diags,
    )
    combined.save(dest)
    log(f"wrote {rel(dest)} ({', '.join(targets)})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    apply_preset(args)
    ckpts = train_all(args)
    if args.dry_run:
        log(f"dry run: {sum(map(len, ckpts.values()))} checkpoints, laws to {rel(args.out)}")
        return 0
    fit_all(args, ckpts)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Round 3 of the eigen initializer (issue 17): fit the law to networks that solved long memory.

    rnndyn bench --preset eigen3 --tasks adding,tomita5 --archs rnn_tanh,rnn_relu,lstm,gru \
        --inits orthogonal,chrono,irnn,lru_ring --seed-start 100 --seeds 3 --epochs 40 \
        --jobs 2 --out build/r3/fit                                   # the fitting population
    rnndyn bench --preset eigen3 --tasks adding --archs lstm --inits chrono --seed-start 103 \
        --seeds 5 --epochs 60 --out build/r3/fit_lstm                 # more LSTMs for adding
    python scripts/fit_round3_laws.py build/r3/fit build/r3/fit_lstm  # writes data/init/eigen3*

Fitting tasks: adding (T=100, regression) and tomita5 (T=50, classification), trained from the
strong baselines of rounds 1-2 (orthogonal, chrono, irnn, lru_ring). Success criterion, stated up
front: a network *solved* its task if its test error is at most 10 % of the task's trivial
baseline (adding: MSE ≤ 0.0167) or its accuracy closes 90 % of the gap from chance to 1 (tomita5:
≥ 0.95). Every solving network is kept, whatever its initializer. One law per architecture and
task kind (``EigenInitFitter`` defaults, seed 0): ``eigen3-<arch>.<kind>.json``, merged into
``eigen3.<kind>.json`` (``hh``; ``i f g o``; ``r z n``: the file ``rnndyn bench --init-params
KIND=FILE`` takes). Vanilla RNNs of both units pool into one ``rnn`` law, which the arena uses
with tanh and with ReLU. An architecture with no solving network for a kind borrows its other
kind's law, and its description says so. Seeds 100-107 fit; the arena evaluates on seeds 20-24.
digits_perm, an arena task, is never seen by a fitting network. In the spirit of Dou & Principe
(arXiv 2307.15679); the selection and families are ours.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from rnndyn.training.bench.grid import model_arch

ROOT = Path(__file__).resolve().parents[1]
MARGIN = 0.9
MERGED = ("rnn", "lstm", "gru")


def solved(m: dict) -> bool:
    """Test metric within ``MARGIN`` of perfect, relative to the trivial baseline."""
    test, base = m.get("test"), m.get("baseline")
    if test is None or base is None:
        return False
    if m.get("higher_is_better"):
        return test >= base + MARGIN * (1.0 - base)
    return test <= (1.0 - MARGIN) * base


def select(records: list[dict]) -> tuple[dict, list[dict]]:
    """``{(arch, kind): [record]}`` of the networks that solved their task, and one row per
    task × bench arch. Vanilla RNNs of either unit pool into one ``rnn`` law."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if r["status"] == "ok":
            cells[(r["task"], r["arch"], r["init"])].append(r)
    kept: dict[tuple, list[dict]] = defaultdict(list)
    rows = []
    for task, arch in sorted({(t, a) for t, a, _ in cells}):
        options = {i: rs for (t, a, i), rs in cells.items() if (t, a) == (task, arch)}
        good = {i: [r for r in rs if solved(r["metrics"])] for i, rs in options.items()}
        kind = next(iter(options.values()))[0]["kind"]
        kept[(model_arch(arch), kind)] += [r for rs in good.values() for r in rs]
        rows.append(
            {"task": task, "arch": arch}
            | {
                i: f"{len(good[i])}/{len(rs)} (median {statistics.median(r['metrics']['test'] for r in rs):.3g})"
                for i, rs in options.items()
            }
        )
    return kept, rows


def fit(kept: dict, out: Path, command: str) -> dict[tuple, object]:
    from rnndyn.init.fit import fit_groups

    laws = {}
    for (arch, kind), recs in sorted(kept.items()):
        if not recs:
            continue
        paths = [Path(r["checkpoint"]) for r in recs]
        fitter = fit_groups(paths, "task_kind", name=f"eigen3-{arch}", seed=0)[kind]
        tasks = sorted({r["task"] for r in recs})
        inits = sorted({r["init"] for r in recs})
        text = (
            f"{arch} law for {kind} tasks, fitted to {len(recs)} networks that solved "
            f"{', '.join(tasks)} (trained from {', '.join(inits)}; seeds 100-107); in the spirit of "
            f"Dou & Principe (arXiv 2307.15679). Made by: {command}"
        )
        laws[(arch, kind)] = dataclasses.replace(fitter.params_, description=text)
    for arch in sorted({a for a, _ in kept}):
        for kind, other in (("regression", "classification"), ("classification", "regression")):
            if (arch, kind) not in laws and (arch, other) in laws:
                law = laws[(arch, other)]
                text = f"BORROWED: no {arch} network solved a {kind} fitting task; " + (
                    law.description
                )
                laws[(arch, kind)] = dataclasses.replace(law, description=text)
    return laws


def save(laws: dict, out: Path, stem: str) -> None:
    for (arch, kind), law in laws.items():
        law = dataclasses.replace(law, name=f"{stem}-{arch}.{kind}")
        law.save(out / f"{stem}-{arch}.{kind}.json")


def with_cap(laws: dict, cap: float, stem: str) -> dict:
    """Round 3b: every target's radius (and real-radius) law capped at ``cap``."""
    from rnndyn.init import capped_radius, map_radii

    out = {}
    for (arch, kind), law in laws.items():
        targets = map_radii(dict(law.targets), lambda d: capped_radius(d, cap))
        text = (
            f"{stem}: radii capped at {cap} (was above: set to {cap}); otherwise " + law.description
        )
        out[(arch, kind)] = dataclasses.replace(law, targets=targets, description=text)
    return out


def merge(laws: dict, kind: str, command: str, stem: str = "eigen3"):
    from rnndyn.init import EigenInitParams

    parts = {a: laws[(a, kind)] for a in MERGED if (a, kind) in laws}
    targets, biases, diags, prov = {}, {}, {}, {}
    for arch, law in parts.items():
        targets.update(law.targets)
        biases.update(law.gate_biases)
        diags.update(law.diagnostics or {})
        prov[arch] = {"description": law.description, **dict(law.provenance or {})}
    return EigenInitParams(
        targets,
        gate_biases=biases,
        name=f"{stem}.{kind}",
        description=f"round-3 {kind} law: {', '.join(parts)} targets fitted per architecture to "
        f"networks that solved long-memory tasks (see provenance). Made by: {command}",
        provenance={
            "checkpoints": [c for p in prov.values() for c in p.get("checkpoints", [])],
            "n_checkpoints": sum(int(p.get("n_checkpoints") or 0) for p in prov.values()),
            "archs": prov,
            "selection": f"solved: within {MARGIN:.0%} of perfect, relative to the baseline",
        },
        diagnostics=diags,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", type=Path, nargs="+", help="the fitting population's bench folders")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "init")
    ap.add_argument(
        "--cap",
        type=float,
        default=None,
        help="round 3b: set every radius above CAP to CAP (written as eigen3b*.json)",
    )
    args = ap.parse_args(argv)
    from rnndyn.training.bench import BenchResult

    command = "python scripts/fit_round3_laws.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    records = [
        {**r, "checkpoint": str(f / r["checkpoint"]) if r.get("checkpoint") else None}
        for f in args.folders
        for r in BenchResult.load(f).records
    ]
    kept, rows = select(records)
    for row in rows:
        print(
            f"{row.pop('task'):>8} {row.pop('arch'):>8} solved: "
            + "; ".join(f"{i} {v}" for i, v in row.items())
        )
    args.out.mkdir(parents=True, exist_ok=True)
    laws = fit(kept, args.out, command)
    stem = "eigen3" if args.cap is None else "eigen3b"
    if args.cap is not None:
        laws = with_cap(laws, args.cap, stem)
    save(laws, args.out, stem)
    for kind in ("regression", "classification"):
        merge(laws, kind, command, stem).save(args.out / f"{stem}.{kind}.json")
    for (arch, kind), law in sorted(laws.items()):
        fams = ", ".join(
            f"{t}: {tl.radius.family}/{tl.phase.family}" for t, tl in law.targets.items()
        )
        print(f"{stem}-{arch}.{kind}: {law.provenance.get('n_checkpoints')} networks; {fams}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

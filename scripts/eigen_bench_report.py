"""Summarise the eigen-initializer bench: small CSVs, a markdown table and one figure.

    python scripts/eigen_bench_report.py --round1 build/eigen/r1 build/eigen/r1e \
        --round2 build/eigen/r2

``--round1``: ``rnndyn bench --preset eigen`` folder(s) holding the baselines and the round-1
``eigen`` runs (pooled). ``--round2``: a folder with only the improved law's runs (same grid and seeds); they are
relabelled ``eigen2`` and compared with round 1's baselines. Writes
``data/bench/eigen_round{1,2}_summary.csv`` (median/IQR per task × arch × init),
``build/eigen/tables.md`` (the tables pasted into ``data/bench/EIGEN_BENCH.md``) and
``figures/eigen_bench.png``.

Cell verdict for an eigen init in a task × arch cell, against the best non-eigen initializer by
median: ``best`` (strictly better median), ``shared best`` (equal median, e.g. all at accuracy 1),
``tie`` (worse median but overlapping IQRs), else ``worse``. Round 2's table also holds round 1's
``eigen`` runs as a column; the verdict is still against the non-eigen initializers only.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLS = [
    *("task", "kind", "arch", "init", "metric", "higher_is_better", "n", "n_ok"),
    *("median", "q25", "q75", "iqr", "best", "reached", "epochs_to_threshold", "time_s", "rank"),
]


def load(folder: Path, rename: str | None = None):
    from rnndyn.training.bench import BenchResult

    res = BenchResult.load(folder)
    if rename is None:
        return res
    recs = tuple({**r, "init": rename} for r in res.records if r["init"] == "eigen")
    return dataclasses.replace(res, records=recs)


def verdicts(summary, eigen: str):
    """Per task × arch: the eigen init's verdict (best / tie / worse) and the best baseline."""
    import pandas as pd

    rows = []
    for (task, arch), g in summary.groupby(["task", "arch"], sort=False):
        hib = bool(g["higher_is_better"].iloc[0])
        e = g[g["init"] == eigen]
        others = g[~g["init"].str.startswith("eigen")]
        if e.empty or others.empty:
            continue
        e = e.iloc[0]
        top = others.sort_values("median", ascending=not hib).iloc[0]
        better = e["median"] >= top["median"] if hib else e["median"] <= top["median"]
        overlap = e["q25"] <= top["q75"] and top["q25"] <= e["q75"]
        same = e["median"] == top["median"]
        verdict = "shared best" if same else "best" if better else "tie" if overlap else "worse"
        rows.append(
            {
                "task": task,
                "arch": arch,
                "eigen_median": e["median"],
                "eigen_iqr": f"[{e['q25']:.3g}, {e['q75']:.3g}]",
                "best_other": top["init"],
                "best_median": top["median"],
                "best_iqr": f"[{top['q25']:.3g}, {top['q75']:.3g}]",
                "default_median": g.loc[g["init"] == "default", "median"].squeeze(),
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def markdown(df, floatfmt: str = ".3g") -> str:
    from rnndyn._util.markdown import markdown_table

    def cell(v):
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    return "\n".join(markdown_table(list(df.columns), df.itertuples(index=False), cell=cell))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--round1", type=Path, nargs="+", required=True)
    ap.add_argument("--round2", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    ap.add_argument("--figure", type=Path, default=ROOT / "figures" / "eigen_bench.png")
    ap.add_argument("--tables", type=Path, default=ROOT / "build" / "eigen" / "tables.md")
    ap.add_argument("--heldout1", type=Path, default=None, help="round-1 law, seeds 5-9")
    ap.add_argument("--heldout2", type=Path, default=None, help="round-2 law + baselines, 5-9")
    args = ap.parse_args(argv)

    from rnndyn._util.atomic import atomic_write_text

    first, *rest = (load(f) for f in args.round1)
    r1 = dataclasses.replace(first, records=first.records + sum((r.records for r in rest), ()))
    results = {"eigen_round1": r1}
    if args.round2 is not None:
        r2 = load(args.round2, rename="eigen2")
        results["eigen_round2"] = dataclasses.replace(r1, records=r1.records + r2.records)
    args.data.mkdir(parents=True, exist_ok=True)
    text = []
    for name, res in results.items():
        s = res.summary()
        atomic_write_text(args.data / f"{name}_summary.csv", s[COLS].to_csv(index=False))
        eigen = "eigen" if name == "eigen_round1" else "eigen2"
        v = verdicts(s, eigen)
        kinds = ["best", "shared best", "tie", "worse"]
        counts = v["verdict"].value_counts().reindex(kinds, fill_value=0)
        runs = res.runs_frame()
        mine = runs[runs["init"] == eigen]
        text += [
            f"## {name}: {eigen} vs the best other initializer per task × arch",
            "",
            f"best {counts['best']}, shared best (equal median) {counts['shared best']}, "
            f"tie (IQR overlap) {counts['tie']}, worse {counts['worse']} "
            f"of {len(v)} task × arch cells; {len(runs)} runs in the table, "
            f"{(runs['status'] != 'ok').sum()} not ok; {eigen}: {len(mine)} runs, "
            f"{mine['cpu_s'].sum():.0f} CPU-s.",
            "",
            markdown(v),
            "",
        ]
        wide = s.pivot_table(index=["task", "arch"], columns="init", values="median", sort=False)
        order = res.levels()["init"]
        wide = wide[[c for c in order if c in wide.columns]].reset_index()
        text += [f"### {name}: median final test metric per task × arch × init", ""]
        text += [markdown(wide), ""]
    if args.heldout1 is not None and args.heldout2 is not None:
        h1, h2 = load(args.heldout1), load(args.heldout2)
        recs = tuple({**r, "init": "eigen2"} if r["init"] == "eigen" else r for r in h2.records)
        held = dataclasses.replace(h2, records=recs + h1.records)
        s = held.summary()
        atomic_write_text(args.data / "eigen_heldout_summary.csv", s[COLS].to_csv(index=False))
        text += ["## held-out seeds 5-9: median (IQR) per task × arch × init", ""]
        s = s.assign(
            cell=[
                f"{m:.3g} [{a:.3g}, {b:.3g}]"
                for m, a, b in zip(s["median"], s["q25"], s["q75"], strict=True)
            ]
        )
        wide = s.pivot_table(
            index=["task", "arch"], columns="init", values="cell", aggfunc="first", sort=False
        )
        order = held.levels()["init"]
        text += [markdown(wide[[c for c in order if c in wide.columns]].reset_index()), ""]
    atomic_write_text(args.tables, "\n".join(text))
    sys.stderr.write("\n".join(text) + "\n")

    from rnndyn.plots import bench as plots
    from rnndyn.plots.style import style_context

    with style_context():
        fig = plots.final_metrics(results.get("eigen_round2", r1))
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=150, bbox_inches="tight")
    return 0


if __name__ == "__main__":
    sys.exit(main())

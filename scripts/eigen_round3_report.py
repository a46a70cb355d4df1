"""Round 3 of the eigen-initializer comparison (issue 17): tables, tests across cells, figures.

    python scripts/eigen_round3_report.py build/r3/arena build/r3/eigen \
        --fitting build/r3/fit build/r3/fit_lstm

The folders are ``rnndyn bench --preset eigen3`` runs on the held-out seeds 20-24 (baselines, and
the ``eigen`` runs with ``data/init/eigen3.<kind>.json``), pooled. A cell is one task × arch;
every initializer ran on the same seeds and data in a cell, so comparisons are paired.

- A run that diverged or failed counts as the task's trivial baseline (chance accuracy, the
  variance's MSE): it learned nothing (the bench's one rule, ``DIVERGED_RULE`` in
  ``rnndyn.training.bench.results``, also above 10 × the baseline). Such runs are counted in the
  tables and in the summary's ``n_diverged``; the summary's medians use the same rule, so the
  rank files are rebuilt from the summary by ``rankings`` (tests/test_bench_ranks_reproducible.py).
- Across cells (Demšar 2006, ``rnndyn.training.bench.ranking``): median over seeds per cell, average
  ranks, Friedman and Iman-Davenport tests, the Nemenyi critical difference; cells where every
  initializer has the same median (a shared ceiling) are left out and listed. Ranking A: the
  initializers run in every cell (chrono, gated only, drops out); ranking B: the gated cells with
  chrono. Eigen against each baseline across cells: Wilcoxon signed-rank on range-scaled
  differences and a sign test, Holm-adjusted (``rnndyn.training.bench.paired``).
- Per cell: eigen against each baseline over the 5 paired seeds (median difference, rank-biserial
  effect, exact Wilcoxon p, which cannot go below 0.0625 with 5 seeds), and a verdict against the
  best baseline by median: win / tie / loss when the paired seeds agree at least 4 of 5 times.

``--rename FOLDER=LABEL`` adds a folder whose eigen runs are another law (kept as one more method).
Writes (``--name`` sets the stem) ``data/bench/eigen_round3_summary.csv`` (round 1's columns), ``eigen_round3_paired.csv``,
``eigen_round3_ranks.csv``, ``eigen_round3_tests.csv``, ``figures/eigen_round3_cd.png`` (+
``_gated``), ``figures/eigen_round3.png`` and the markdown in ``--tables``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLS = [
    *("task", "kind", "arch", "init", "metric", "higher_is_better", "n", "n_ok", "n_diverged"),
    *("median", "q25", "q75", "iqr", "best", "reached", "epochs_to_threshold", "time_s", "rank"),
]
CONTROL = "eigen"
SHORT = [
    *("baseline", "n_blocks", "wins", "ties", "losses", "median_diff", "rank_biserial"),
    *("p_wilcoxon", "p_wilcoxon_holm", "p_sign", "p_sign_holm", "verdict"),
]


def pooled(folders: list[Path], rename: dict[Path, str] | None = None):
    """The folders' runs in one BenchResult; ``rename[folder]`` relabels that folder's eigen runs."""
    from rnndyn.training.bench import BenchResult

    records = []
    for f in folders:
        label = (rename or {}).get(f, CONTROL)
        for r in BenchResult.load(f).records:
            records.append({**r, "init": label} if r["init"] == CONTROL else r)
    first = BenchResult.load(folders[0])
    return dataclasses.replace(first, records=tuple(records))


def runs_of(result):
    """Seed-level runs scored by the bench's one divergence rule (``DIVERGED_RULE``): a failed or
    diverged run scores the trivial baseline (``value``; ``failed`` marks it)."""
    from rnndyn.training.bench.results import score_runs

    runs = result.runs_frame()
    scored = score_runs(runs[runs["status"] != "error"])
    failed = runs[runs["status"] == "error"].assign(
        diverged=True, value=runs["baseline"].astype(float)
    )
    import pandas as pd

    runs = pd.concat([scored, failed]).loc[runs.index]
    runs["failed"] = runs["diverged"].astype(bool)
    return runs


def rankings(cells, control: str):
    """The three rankings of the report from per-seed (or per-cell median) rows with ``task``,
    ``arch``, ``init``, ``seed``, ``value``, ``higher_is_better`` and ``baseline``: every cell,
    the gated cells, and the cells someone learned (floor cells left out). Returns
    ``[(name, BlockMatrix, RankingResult)]``; the committed ``*_ranks.csv`` are their tables, and
    a test rebuilds them from the committed summaries (one row per cell, its median)."""
    from rnndyn.training.bench import block_summaries, rank_methods

    floors = floor_cells(cells)
    informative = cells[~cells.set_index(["task", "arch"]).index.isin(floors)]
    out = []
    for name, rows in (
        ("all cells", cells),
        ("gated cells", cells[cells["arch"].isin(["lstm", "gru"])]),
        ("cells someone learned", informative),
    ):
        matrix = block_summaries(rows, value="value", drop_ceiling=True)
        out.append((name, matrix, rank_methods(matrix, control=control)))
    return out


def markdown(df, floatfmt: str = ".3g") -> str:
    from rnndyn._util.markdown import markdown_table

    def cell(v):
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    return "\n".join(markdown_table(list(df.columns), df.itertuples(index=False), cell=cell))


def floor_cells(runs) -> list[tuple[str, str]]:
    """Cells where no initializer's median beats the trivial baseline by 10 % (relative)."""
    out = []
    for (task, arch), g in runs.groupby(["task", "arch"], sort=False):
        hib, base = bool(g["higher_is_better"].iloc[0]), float(g["baseline"].iloc[0])
        med = g.groupby("init")["value"].median()
        best = med.max() if hib else med.min()
        if (best < base + 0.1 * (1 - base)) if hib else (best > 0.9 * base):
            out.append((task, arch))
    return out


def cell_verdicts(runs, paired, control: str):
    """Per cell: eigen against the best baseline by median, with the paired seed count."""
    rows = []
    for (task, arch), g in runs.groupby(["task", "arch"], sort=False):
        hib = bool(g["higher_is_better"].iloc[0])
        med = g.groupby("init")["value"].median()
        base = med.drop(control)
        best = base.idxmax() if hib else base.idxmin()
        p = paired[(paired["task"] == task) & (paired["arch"] == arch)]
        p = p[p["baseline"] == best].iloc[0]
        wins, losses, n = int(p["wins"]), int(p["losses"]), int(p["n"])
        same = med.nunique() == 1
        if same:
            verdict = "ceiling (all equal)"
        elif n < 3:
            verdict = f"too few paired seeds ({n})"
        else:  # the paired seeds agree at least n − 1 times (4 of 5)
            verdict = "win" if wins >= n - 1 else "loss" if losses >= n - 1 else "tie"
        rows.append(
            {
                "task": task,
                "arch": arch,
                control: med[control],
                "best baseline": best,
                "its median": med[best],
                "default": med.get("default", float("nan")),
                "eigen rank": int(
                    (med > med[control]).sum() + 1 if hib else (med < med[control]).sum() + 1
                ),
                "k": len(med),
                "paired W/T/L vs best": f"{wins}/{int(p['ties'])}/{losses}",
                "effect": p["rank_biserial"],
                "verdict": verdict,
            }
        )
    import pandas as pd

    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", type=Path, nargs="+")
    ap.add_argument("--fitting", type=Path, nargs="*", default=[])
    ap.add_argument("--name", default="eigen_round3", help="stem of the CSV and figure files")
    ap.add_argument("--label", default=CONTROL, help="the name of the tested law's runs (control)")
    ap.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="FOLDER=LABEL",
        help="label that folder's eigen runs LABEL (e.g. another law), kept as one more method",
    )
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    ap.add_argument("--figures", type=Path, default=ROOT / "figures")
    ap.add_argument("--tables", type=Path, default=ROOT / "build" / "r3" / "tables.md")
    args = ap.parse_args(argv)

    from rnndyn._util.atomic import atomic_write_text
    from rnndyn.training.bench import control_vs_baselines, paired_cells

    extra = {Path(k): v for k, _, v in (x.partition("=") for x in args.rename)}
    result = pooled([*args.folders, *extra], {**dict.fromkeys(args.folders, args.label), **extra})
    runs = runs_of(result)
    out = args.data
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{args.name}_summary.csv", result.summary()[COLS].to_csv(index=False))
    control = args.label
    paired = paired_cells(runs, control, value="value")
    atomic_write_text(out / f"{args.name}_paired.csv", paired.to_csv(index=False))

    floors = floor_cells(runs)
    ranks, tests, text = [], [], []
    results = {}
    text += [
        "Floor cells (no initializer's median beats the trivial baseline by 10 %): "
        + ", ".join(f"{t}-{a}" for t, a in floors),
        "",
    ]
    for name, matrix, res in rankings(runs, control):
        results[name] = res
        ranks.append(res.table().assign(ranking=name))
        vs = control_vs_baselines(matrix, control)
        tests.append(vs.assign(ranking=name))
        dropped = matrix.dropped
        text += [
            f"### Ranking over {name}",
            "",
            res.describe() + ".",
            "",
            f"Left out: {len(dropped)} (block/method, reason): "
            + "; ".join(
                f"{r.block if 'block' in dropped else ''} {r.method} ({r.reason})"
                for r in dropped.itertuples()
            )
            if len(dropped)
            else "Left out: nothing.",
            "",
            markdown(res.table()),
            "",
            f"Eigen against each baseline across the {matrix.n_blocks} cells:",
            "",
            markdown(vs[SHORT]),
            "",
        ]
    import pandas as pd

    atomic_write_text(out / f"{args.name}_ranks.csv", pd.concat(ranks).to_csv(index=False))
    atomic_write_text(out / f"{args.name}_tests.csv", pd.concat(tests).to_csv(index=False))
    verdicts = cell_verdicts(runs, paired, control)
    counts = verdicts["verdict"].value_counts().to_dict()
    cpu = {
        "arena": float(runs["cpu_s"].sum()),
        "fitting": float(sum(runs_of(pooled([f]))["cpu_s"].sum() for f in args.fitting)),
    }
    failed = runs[runs["failed"]]
    wide = runs.pivot_table(
        index=["task", "arch"], columns="init", values="value", aggfunc="median"
    )
    order = [i for i in result.levels()["init"] if i in wide.columns]
    text += [
        "### Median final test metric per cell and initializer",
        "",
        markdown(wide[order].reset_index()),
        "",
    ]
    head = [
        "## Round 3: per-cell verdicts (eigen vs the best baseline by median)",
        "",
        f"{len(runs)} runs ({len(failed)} failed or diverged, scored as the trivial baseline"
        + (": " + ", ".join(failed["id"]) if len(failed) else "")
        + f"); verdicts: {counts}. CPU time: arena {cpu['arena']:.0f} s, fitting population "
        f"{cpu['fitting']:.0f} s.",
        "",
        markdown(verdicts),
        "",
    ]
    args.tables.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.tables, "\n".join(head + text))
    sys.stdout.write("\n".join(head + text) + "\n")

    from rnndyn.plots import bench as bench_plots
    from rnndyn.plots import critical_difference
    from rnndyn.plots.style import style_context

    args.figures.mkdir(parents=True, exist_ok=True)
    with style_context():
        for name, suffix in (
            ("all cells", ""),
            ("gated cells", "_gated"),
            ("cells someone learned", "_learned"),
        ):
            ax = critical_difference(results[name], subset=f"{args.name}, {name}")
            ax.figure.savefig(
                args.figures / f"{args.name}_cd{suffix}.png", dpi=150, bbox_inches="tight"
            )
        fig = bench_plots.final_metrics(result)
        fig.savefig(args.figures / f"{args.name}.png", dpi=150, bbox_inches="tight")
    return 0


if __name__ == "__main__":
    sys.exit(main())

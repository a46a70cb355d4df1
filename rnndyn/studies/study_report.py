"""The result of a regression-vs-classification study: findings in honest words, the markdown
report, and the report folder (tables, JSON, figures)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnndyn._util.jsonsafe import JsonObject
from rnndyn._util.markdown import markdown_table
from rnndyn.compare.family import FamilyPlan, format_p
from rnndyn.compare.results import ComparisonResult
from rnndyn.studies.criteria import learned, pairs_needed
from rnndyn.tasks.twins import pair_of


@dataclass(frozen=True)
class StudyResult:
    """Trained networks (one record each), their comparison, the settings and the wall time.

    ``plan``: the family worked out from the design before any training (sizes, smallest
    attainable p); ``command``: the command line that reproduces the study, when known.
    """

    out_dir: Path
    runs: tuple[Mapping[str, Any], ...]
    comparison: ComparisonResult
    settings: Mapping[str, Any]
    wall_seconds: float
    trained_now: int = 0
    report: Path | None = field(default=None)
    plan: FamilyPlan | None = None
    command: str | None = None
    excluded: tuple[Mapping[str, Any], ...] = ()  # {arch, task, why, n}: left out of the tests
    analysis_cpu_seconds: float = 0.0  # CPU time of this process (analysis, tests, report)

    def runs_frame(self):
        """One row per trained network: id, arch, task, kind, seed, design keys, metrics, time."""
        import pandas as pd

        cols = [
            "id",
            "arch",
            "task",
            "kind",
            "seed",
            "input_size",
            "seq_len",
            "readout",
            "loss",
            "init",
            "metric",
            "test",
            "baseline",
            "epochs_run",
            "seconds",
            "checkpoint",
            "pair",
        ]
        return pd.DataFrame([{c: r.get(c) for c in cols} for r in self.runs], columns=cols)

    def primary_findings(self) -> list[str]:
        """The pre-registered primary tests, one line each (empty without a primary family)."""
        cmp = self.comparison
        fam = cmp.family
        out = []
        for t in cmp.tests:
            if t.family != "primary":
                continue
            verdict = (
                f"{'higher' if t.cliffs_delta > 0 else 'lower'} in {t.group_a} than in {t.group_b}"
                if t.p_adjusted < fam.alpha
                else f"no detectable difference at n = {t.n_pairs} pairs"
            )
            out.append(
                f"PRIMARY {t.architecture.upper()} {t.statistic} of `{t.operator}`: {verdict} "
                f"(paired δ = {t.cliffs_delta:+.2f} [{t.ci_low:+.2f}, {t.ci_high:+.2f}], "
                f"median paired difference {t.median_diff:+.3g} [{t.median_diff_low:+.3g}, "
                f"{t.median_diff_high:+.3g}], p {_p(t, raw=True)}, floor {t.p_floor:.2g}, "
                f"p_{fam.correction} {_p(t)})."
            )
        return out

    def findings(self) -> list[str]:
        """Per (architecture, operator): what differs at the family-wise level, and at what n;
        with a primary family, the primary tests first and the rest labelled secondary."""
        cmp = self.comparison
        out = self.primary_findings()
        secondary = cmp.secondary is not None
        fam = cmp.secondary or cmp.family
        label = (
            f"SECONDARY (exploratory, {fam.correction} over {fam.size} tests) " if secondary else ""
        )
        for arch, op in cmp.strata:
            rows = [
                t
                for t in cmp.tests
                if (t.architecture, t.operator) == (arch, op) and t.family != "primary"
            ]
            dist = [d for d in cmp.distances if (d.architecture, d.operator) == (arch, op)]
            if not rows and not dist:
                continue
            first = (rows or dist)[0]
            n = (
                f"n = {first.n_pairs} pairs"
                if first.n_pairs
                else f"n = {first.units_a} vs {first.units_b} {first.unit}s"
            )
            nets = f"{first.n_a} vs {first.n_b} networks"
            sig = [t for t in rows if t.p_adjusted < fam.alpha]
            parts = [
                f"{t.statistic} higher in {t.group_a if t.cliffs_delta > 0 else t.group_b} "
                f"(δ = {t.cliffs_delta:+.2f} [{t.ci_low:+.2f}, {t.ci_high:+.2f}], "
                f"p_{fam.correction} {_p(t)})"
                for t in sig
            ]
            sig_d = [d for d in dist if d.p_adjusted < fam.alpha]
            parts += [
                f"{d.distribution} {d.metric} distance (p_{fam.correction} {_p(d)})" for d in sig_d
            ]
            text = f"{label}{arch.upper()} {op} ({n}, {nets}): "
            if parts:
                level = (
                    f"{fam.correction}-adjusted p < {fam.alpha:g}, exploratory"
                    if secondary
                    else "differ at the family-wise level"
                )
                text += f"{level}: " + "; ".join(parts) + "."
                rest = len(rows) + len(dist) - len(sig) - len(sig_d)
                text += f" The other {rest} tests: no detectable difference at this n."
            else:
                best = min(rows, key=lambda t: t.p_value) if rows else None
                text += f"no detectable difference at {n}"
                if best is not None:
                    text += (
                        f" (largest effect: {best.statistic} δ = {best.cliffs_delta:+.2f} "
                        f"[{best.ci_low:+.2f}, {best.ci_high:+.2f}], raw p {_p(best, raw=True)})"
                    )
                text += "."
            out.append(text)
        return out

    def to_markdown(self, figures: Sequence[str] | None = None) -> str:
        s = self.settings
        trained = sorted({(r["kind"], r["task"]) for r in self.runs})
        tasks = "; ".join(
            f"{k}: {', '.join(t for kk, t in trained if kk == k)}"
            for k in dict.fromkeys(k for k, _ in trained)
        )
        head = [
            "# Regression vs classification: spectra of trained networks",
            "",
            f"{len(self.runs)} networks ({s['per_group']} per task kind and architecture; "
            f"design {s['design']}; archs {', '.join(s['archs'])}; tasks trained — {tasks}; "
            f"hidden {s['hidden']}, {s['epochs']} epochs max, data {s['sizes']}). "
            f"Training and analysis took {self.wall_seconds:.0f} s ({self.trained_now} networks "
            "trained now, the rest reused); training time summed over all networks "
            f"{sum(float(r.get('seconds') or 0) for r in self.runs):.0f} s; CPU time of "
            f"analysis, tests and report in this process {self.analysis_cpu_seconds:.0f} s.",
            "",
            *([f"Command: `{self.command}`", ""] if self.command else []),
            *self._design_lines(),
            "",
            *self._design_table(),
            *self._primary_table(),
            "## Findings",
            "",
            *[f"- {f}" for f in self.findings()],
            "",
            "## Training",
            "",
            *markdown_table(
                [
                    "arch",
                    "task",
                    "kind",
                    "networks",
                    "metric",
                    "median test",
                    "baseline",
                    "learned",
                ],
                self._training_rows(),
            ),
            "",
        ]
        body = self.comparison.to_markdown(title="Comparison", figures=figures, level=2)
        return "\n".join(head) + "\n" + body

    def _design_lines(self) -> list[str]:
        if self.settings.get("design") == "paired":
            return self._paired_design_lines()
        fam = self.comparison.family
        plan = self.plan or fam
        matched = self.settings.get("design") == "matched"
        return [
            "A hypothesis test in the spirit of Dou & Principe's observation that eigenvalues "
            "behave differently by task kind; the design and settings here are ours. "
            + (
                "Matched design: every regression task has a classification twin that sees the "
                "same input streams (same seed: identical inputs and identical initial recurrent "
                "weights) and predicts the sign of the quantity the regression twin predicts; "
                "both read out at the last step, with the same input size, sequence length and "
                "training budget. Only the target, and with it the loss (MSE vs cross-entropy), "
                "differs."
                if matched
                else "Task kind is confounded with the task family, readout, loss, input size "
                "and sequence length of these task sets (see the confound note below)."
            ),
            "",
            f"Declared before training: tasks are the unit (networks are nested in tasks; a "
            f"blocked permutation over task labels), one family of {plan.size} tests "
            f"(every statistic and distance of every architecture and operator), "
            f"{fam.correction} correction at α = {fam.alpha:g}; smallest attainable p "
            f"{plan.smallest_p:.2g}, so the smallest attainable adjusted p is "
            f"{plan.best_case_adjusted:.2g}"
            + (" — α is out of reach at these sizes." if not plan.reachable else "."),
        ]

    def _paired_design_lines(self) -> list[str]:
        s, cmp = self.settings, self.comparison
        plan = self.plan or cmp.family
        fam, sec = cmp.family, cmp.secondary
        crit = s.get("learned") or [None, None]
        return [
            "A hypothesis test in the spirit of Dou & Principe's observation that eigenvalues "
            "behave differently by task kind; the design and settings here are ours.",
            "",
            "## Design (declared before training)",
            "",
            f"- **Pairs.** {len(s['tasks']['regression'])} twin pairs: a regression task and its "
            "classification twin see the same input streams and, for the same seed, start from "
            "identical weights; same readout step, input size, sequence length and budget. Only "
            "the target (a value or its sign) and the loss (MSE vs cross-entropy) differ. "
            f"{s['seeds']} seed{'s' if s['seeds'] != 1 else ''} per task.",
            f"- **Learned.** A network enters the tests only if it learned: test NRMSE ≤ "
            f"{crit[0]} (regression) or accuracy ≥ {crit[1]} (classification), both about an "
            f"output–target correlation of 0.7. A task counts as learned when at least "
            f"{s['min_learned']} of its networks learned (all of them if it has fewer); a pair "
            "enters an architecture's tests only when both twins are learned.",
            "- **Test.** Pairs are the unit: the kind labels are swapped within pairs (an exact "
            "sign-flip test over the 2ⁿ relabelings of n pairs); the effect is the mean "
            "within-pair Cliff's δ (> 0: classification larger) with a CI from resampling "
            "pairs, and the median over pairs of the paired median difference.",
            f"- **Primary family** ({fam.size} test{'s' if fam.size != 1 else ''}, "
            f"{fam.correction} at α = {fam.alpha:g}): "
            f"{', '.join(s.get('primary') or [])} for every architecture. Planned floor with "
            f"every pair learned: 2/2^{len(s['tasks']['regression'])} = {plan.smallest_p:.2g}; "
            f"smallest attainable adjusted p {plan.best_case_adjusted:.2g} — α is "
            f"{'reachable' if plan.reachable else 'out of reach'}; it stays reachable while "
            f"at least {pairs_needed(fam.size, fam.alpha, fam.correction)} pairs are learned. "
            f"As tested: floors {_floors(cmp, 'primary')}, so the smallest attainable adjusted "
            f"p is {fam.best_case_adjusted:.2g} "
            f"({'reachable' if fam.reachable else 'out of reach'}).",
            *(
                [
                    f"- **Secondary (exploratory).** Every other statistic and distance of every "
                    f"architecture and operator: {sec.size} tests after removing "
                    f"{len(cmp.untestable)} untestable "
                    f"{'statistic' if len(cmp.untestable) == 1 else 'statistics'}, "
                    f"{sec.correction} on their own. "
                    "They describe; they do not confirm."
                ]
                if sec is not None
                else []
            ),
            "",
        ]

    def _design_table(self) -> list[str]:
        if self.settings.get("design") != "paired":
            return []
        cmp = self.comparison
        tested: dict[str, set[str]] = {}
        nets: dict[str, int] = {}
        for _, members in cmp.groups:
            for n in members:
                arch = str(n.metadata.get("arch"))
                tested.setdefault(arch, set()).add(str(n.metadata.get("pair")))
                nets[arch] = nets.get(arch, 0) + 1
        out_pairs: dict[str, set[str]] = {}
        for e in self.excluded:
            if e["why"] != "network did not learn":
                out_pairs.setdefault(e["arch"], set()).add(str(pair_of(e["task"])))
        rows = [
            (
                arch,
                len(tested.get(arch, ())),
                2 * len(tested.get(arch, ())),
                sum(1 for r in self.runs if r["arch"] == arch),
                nets.get(arch, 0),
                ", ".join(sorted(out_pairs.get(arch, set()))) or "—",
            )
            for arch in self.settings["archs"]
        ]
        head = [
            "arch",
            "pairs tested",
            "tasks",
            "networks trained",
            "networks tested",
            "pairs left out (not learned)",
        ]
        return [*markdown_table(head, rows), ""]

    def _primary_table(self) -> list[str]:
        cmp = self.comparison
        rows = [t for t in cmp.tests if t.family == "primary"]
        if not rows:
            return []
        fam = cmp.family
        head = [
            *("arch", "statistic", "operator", "pairs", "networks", "median cls", "median reg"),
            *("paired δ [CI]", "median diff [CI]", "floor", "p", f"p {fam.correction}"),
        ]
        cells = [
            (
                t.architecture,
                t.statistic,
                f"`{t.operator}`",
                t.n_pairs,
                f"{t.n_a} + {t.n_b}",
                f"{t.median_a:.3g}",
                f"{t.median_b:.3g}",
                f"{t.cliffs_delta:+.2f} [{t.ci_low:+.2f}, {t.ci_high:+.2f}]",
                f"{t.median_diff:+.3g} [{t.median_diff_low:+.3g}, {t.median_diff_high:+.3g}]",
                f"{t.p_floor:.2g}",
                _p(t, raw=True).removeprefix("= "),
                _p(t).removeprefix("= "),
            )
            for t in rows
        ]
        return ["## Primary family", "", *markdown_table(head, cells), ""]

    def _training_rows(self) -> list[tuple[object, ...]]:
        groups: dict[tuple, list] = {}
        for r in self.runs:
            groups.setdefault((r["arch"], r["task"], r["kind"], r.get("metric")), []).append(r)
        rows: list[tuple[object, ...]] = []
        crit = self.settings.get("learned")
        for (arch, task, kind, metric), rs in groups.items():
            tests = [r["test"] for r in rs if r.get("test") is not None]
            med = f"{statistics.median(tests):.3g}" if tests else "—"
            base = rs[0].get("baseline")
            ok = f"{sum(learned(r, tuple(crit)) for r in rs)}/{len(rs)}" if crit else "—"
            rows.append(
                (arch, task, kind, len(rs), metric, med, "—" if base is None else f"{base:.3g}", ok)
            )
        return rows

    def to_dict(self) -> JsonObject:
        """``study.json``: settings, the pre-training plan, the command and the wall time."""
        from rnndyn._util.jsonsafe import json_safe

        return json_safe(
            {
                "schema": "rnndyn.study-report/1",
                "settings": dict(self.settings),
                "plan": self.plan.to_dict() if self.plan else None,
                "family": self.comparison.family.to_dict(),
                "secondary_family": (
                    self.comparison.secondary.to_dict() if self.comparison.secondary else None
                ),
                "untestable": list(self.comparison.untestable),
                "excluded": [dict(e) for e in self.excluded],
                "analysis_cpu_seconds": self.analysis_cpu_seconds,
                "training_seconds": sum(float(r.get("seconds") or 0) for r in self.runs),
                "command": self.command,
                "wall_seconds": self.wall_seconds,
                "networks": len(self.runs),
                "trained_now": self.trained_now,
                "findings": self.findings(),
            }
        )


def _floors(cmp: ComparisonResult, family: str) -> str:
    rows = [t for t in cmp.tests if t.family == family]
    return ", ".join(f"{t.architecture} {t.p_floor:.2g} ({t.n_pairs} pairs)" for t in rows) or "—"


def _p(row: Any, raw: bool = False) -> str:
    p = row.p_value if raw else row.p_adjusted
    text = format_p(p, row.p_bound, row.n_permutations, row.exact, adjusted=not raw)
    return text if text.startswith("≤") else f"= {text}"


#: Draws a study's comparison figures: ``comparison → (name, Figure)…`` (``rnndyn.plots.study_figures``).
FigureSet = Callable[[Any], Iterable[tuple[str, Any]]]


def write_report(
    result: StudyResult, formats: Sequence[str], draw: FigureSet | None = None
) -> Path:
    """``OUT/report``: report.md, study.json, comparison.json, tidy tables and (with ``draw``)
    figures. Compute never draws: the caller passes ``draw``."""
    from rnndyn.outputs.staging import staged_output

    dest = result.out_dir / "report"
    cmp = result.comparison
    with staged_output(dest, force=True, formats=tuple(formats)) as stage:
        stage.write_json("comparison.json", cmp.to_dict())
        stage.write_json("study.json", result.to_dict())
        stage.write_table("statistics", cmp.to_frame())
        stage.write_table("tests", cmp.tests_frame())
        stage.write_table("group_statistics", cmp.group_frame())
        stage.write_table("design", cmp.design_frame())
        stage.write_table("runs", result.runs_frame())
        names = []
        for name, fig in draw(cmp) if draw is not None else ():
            stage.write_figure(name, fig)
            names.append(name)
        figs = [f"{n}.png" for n in names] if "png" in formats and names else None
        stage.write_text("report.md", result.to_markdown(figures=figs))
    return dest / "report.md"

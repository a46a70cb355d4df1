"""Tidy tables and the ``rnndyn.compare.spectra/2`` JSON document of a ``ComparisonResult`` (a mixin)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn._util.jsonsafe import json_safe
from rnndyn._util.markdown import markdown_table
from rnndyn.compare.confounds import DESIGN_KEYS, design_of
from rnndyn.compare.family import format_p
from rnndyn.compare.population import STATISTICS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SCHEMA = "rnndyn.compare.spectra/2"


class ComparisonTables:
    """Tables for ``ComparisonResult`` (which provides ``groups``, ``tests``, ``distances``…)."""

    if TYPE_CHECKING:  # the fields ComparisonResult (a dataclass) provides, for the type checker
        groups: Any
        tests: Any
        distances: Any
        group_statistics: Any
        family: Any
        secondary: Any
        untestable: Any
        units: Any
        confounds: Any
        skipped: Any
        notes: Any
        settings: Any

        @property
        def unit(self) -> str: ...

        @property
        def strata(self) -> tuple[tuple[str, str], ...]: ...

    def _networks(self):
        for group, members in self.groups:
            for net in members:
                yield group, net

    def to_frame(self) -> pd.DataFrame:
        """One row per network × operator × statistic."""
        import pandas as pd

        names = list(STATISTICS)
        rows = [
            (
                g,
                net.path,
                net.sha256,
                op.architecture,
                op.operator,
                op.gate,
                op.eigenvalues.size,
                s,
                v,
            )
            for g, net in self._networks()
            for op in net.operators
            for s, v in zip(names, op.values, strict=True)
        ]
        cols = [
            "group",
            "path",
            "sha256",
            "architecture",
            "operator",
            "gate",
            "n",
            "statistic",
            "value",
        ]
        return pd.DataFrame(rows, columns=cols)

    def tests_frame(self) -> pd.DataFrame:
        """One row per test of the run's family: statistic tests, then distance tests, with raw
        and adjusted p (``p_bound``: the p sits at its floor ``p_floor``, the true p may be lower)."""
        import pandas as pd

        rows = [
            {
                "kind": "statistic",
                **_where(t),
                "quantity": t.statistic,
                "method": t.test,
                "median_a": t.median_a,
                "median_b": t.median_b,
                "estimate_name": "cliffs_delta",
                "estimate": t.cliffs_delta,
                "ci_low": t.ci_low,
                "ci_high": t.ci_high,
                "hedges_g": t.hedges_g,
                "hedges_g_note": t.hedges_g_note,
                "median_diff": t.median_diff,
                "median_diff_low": t.median_diff_low,
                "median_diff_high": t.median_diff_high,
                **_inference(t),
            }
            for t in self.tests
        ]
        rows += [
            {
                "kind": "distance",
                **_where(d),
                "quantity": d.distribution,
                "method": d.metric,
                "median_a": np.nan,
                "median_b": np.nan,
                "estimate_name": "distance",
                "estimate": d.distance,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "hedges_g": np.nan,
                "hedges_g_note": None,
                **_inference(d),
            }
            for d in self.distances
        ]
        frame = pd.DataFrame(rows)
        fam, sec = self.family, self.secondary
        second = frame["family"] == "secondary" if len(frame) else frame.index == -1
        frame["correction"] = fam.correction
        frame["family_size"] = fam.size
        if sec is not None:
            frame.loc[second, "correction"] = sec.correction
            frame.loc[second, "family_size"] = sec.size
        return frame

    def design_frame(self) -> pd.DataFrame:
        """One row per network: group, path and its design metadata (input size, sequence
        length, readout, loss, initializer, …; missing entries are empty)."""
        import pandas as pd

        rows = [
            {"group": g, "path": net.path, **design_of(net.metadata)} for g, net in self._networks()
        ]
        return pd.DataFrame(rows, columns=["group", "path", *DESIGN_KEYS])

    def eigenvalues_frame(self) -> pd.DataFrame:
        """One row per eigenvalue of every network and operator (``re``, ``im``, ``modulus``)."""
        import pandas as pd

        parts = []
        for g, net in self._networks():
            for op in net.operators:
                ev = op.eigenvalues
                parts.append(
                    pd.DataFrame(
                        {
                            "group": g,
                            "path": net.path,
                            "architecture": op.architecture,
                            "operator": op.operator,
                            "re": ev.real,
                            "im": ev.imag,
                            "modulus": np.abs(ev),
                        }
                    )
                )
        return pd.concat(parts, ignore_index=True)

    def group_frame(self) -> pd.DataFrame:
        """Per group, operator and statistic: n, median and its bootstrap CI."""
        import pandas as pd

        return pd.DataFrame([asdict(s) for s in self.group_statistics])

    def to_dict(self) -> dict[str, object]:
        """The ``rnndyn.compare.spectra/2`` document (JSON-ready; NaN/inf → None)."""
        from rnndyn._version import __version__

        groups = []
        for name, members in self.groups:
            groups.append(
                {
                    "name": name,
                    "n_networks": len(members),
                    "members": [
                        {
                            "path": n.path,
                            "sha256": n.sha256,
                            "metadata": dict(n.metadata),
                            "design": design_of(n.metadata),
                            "operators": [
                                {
                                    "architecture": op.architecture,
                                    "operator": op.operator,
                                    "gate": op.gate,
                                    "n": int(op.eigenvalues.size),
                                    "statistics": dict(zip(STATISTICS, op.values, strict=True)),
                                }
                                for op in n.operators
                            ],
                        }
                        for n in members
                    ],
                }
            )
        return json_safe(
            {
                "schema": SCHEMA,
                "rnndyn_version": __version__,
                "eigenvalues_are": "discrete-time (per step); periods and timescales in steps",
                "settings": dict(self.settings),
                "family": self.family.to_dict(),
                "secondary_family": (self.secondary.to_dict() if self.secondary else None),
                "untestable": list(self.untestable),
                "units": dict(self.units),
                "confounds": [dict(c) for c in self.confounds],
                "statistics": STATISTICS,
                "groups": groups,
                "tests": [asdict(t) for t in self.tests],
                "distances": [asdict(d) for d in self.distances],
                "group_statistics": [asdict(s) for s in self.group_statistics],
                "skipped": [b.to_dict() for b in self.skipped],
                "notes": list(self.notes),
            }
        )

    def to_markdown(
        self, *, title: str = "Spectra compared between groups", figures=None, level: int = 1
    ) -> str:
        """A short markdown report: design, family, per-stratum tables, notes, what was left out."""
        h1, h2 = "#" * level, "#" * (level + 1)
        lines = [f"{h1} {title}", "", *self._method_lines(), ""]
        lines += markdown_table(
            ["group", "networks", "units"],
            [(g, len(ms), f"{self.units.get(g, len(ms))} {self.unit}s") for g, ms in self.groups],
        )
        for arch, op in self.strata:
            lines += ["", f"{h2} {arch.upper()} `{op}`", "", *self._stratum_lines(arch, op)]
        if self.skipped:
            lines += ["", f"{h2} Left out", ""]
            lines += [f"- `{b.path}`: {b.problem}" for b in self.skipped]
        if self.notes:
            lines += ["", f"{h2} Notes", ""] + [f"- {n}" for n in self.notes]
        if figures:
            lines += ["", f"{h2} Figures", ""] + [f"![{f}]({f})" for f in figures]
        return "\n".join(lines) + "\n"

    def _method_lines(self) -> list[str]:
        s, fam, sec = self.settings, self.family, self.secondary
        if s.get("pairs"):
            unit = (
                f"twin pairs are the unit (metadata `{s['pairs']}`): labels are swapped within "
                "pairs (an exact sign-flip test over the 2ⁿ relabelings of n pairs, floor 2/2ⁿ); "
                "the effect is the mean within-pair Cliff's δ, CIs resample pairs"
            )
        elif s.get("unit") == "task":
            unit = (
                "tasks are the unit: labels are permuted over whole tasks (a blocked permutation) "
                "and CIs resample tasks"
            )
        else:
            unit = "networks are the replicates"
        gone = self.untestable
        removed = (
            f" Untestable (every value infinite or identical), left out of every family: "
            f"{', '.join(gone)}."
            if gone
            else ""
        )
        if sec is not None:
            family = (
                f"**Primary family (pre-registered):** {', '.join(s.get('primary') or [])} — "
                f"{fam.size} tests corrected by {fam.correction} (α = {fam.alpha:g}); smallest "
                f"attainable p {_fmt(fam.smallest_p)}, adjusted {_fmt(fam.best_case_adjusted)}. "
                f"**Secondary (exploratory):** the other {sec.size} tests, corrected on their own "
                f"by {sec.correction}; they describe, they do not confirm."
            )
        else:
            family = (
                f"**One family:** all {fam.size} tests of this run (statistics and distances) are "
                f"corrected together by {fam.correction} (α = {fam.alpha:g}); the smallest "
                f"attainable p is {_fmt(fam.smallest_p)} and the smallest attainable adjusted p "
                f"{_fmt(fam.best_case_adjusted)}."
            )
        strata = f"; labels permuted within strata of `{s['strata']}`" if s.get("strata") else ""
        return [
            f"Discrete-time eigenvalues (per step); {unit}{strata}.",
            "",
            f"Per-statistic test: {s.get('test')}; effect size Cliff's δ (> 0: first group "
            f"larger) with a {100 * s.get('confidence', 0.95):.0f}% percentile-bootstrap CI "
            f"({s.get('n_bootstrap')} resamples). Distances: permutation p-values over "
            f"{s.get('n_permutations')} relabelings (or all of them). {family}{removed} "
            "`≤` marks a p at its floor (the true p may be smaller). A non-significant result "
            "is no detectable difference at these sizes, not evidence of no difference.",
        ]

    def _stratum_lines(self, arch: str, op: str) -> list[str]:
        sec = self.secondary
        adj = "p adjusted" if sec is not None else f"p {self.family.correction}"
        tests = [
            (
                f"**{t.statistic}** (primary)" if t.family == "primary" else t.statistic,
                t.group_a,
                t.group_b,
                _sizes(t, "a"),
                _sizes(t, "b"),
                _fmt(t.median_a),
                _fmt(t.median_b),
                f"{t.cliffs_delta:+.2f} [{t.ci_low:+.2f}, {t.ci_high:+.2f}]",
                _p(t, t.p_value),
                _p(t, t.p_adjusted, True),
            )
            for t in self.tests
            if (t.architecture, t.operator) == (arch, op)
        ]
        distances = [
            (
                d.distribution,
                d.metric,
                d.group_a,
                d.group_b,
                _sizes(d, "a"),
                _sizes(d, "b"),
                _fmt(d.distance),
                _p(d, d.p_value),
                _p(d, d.p_adjusted, True),
            )
            for d in self.distances
            if (d.architecture, d.operator) == (arch, op)
        ]
        head = ["statistic", "A", "B", "n A", "n B", "median A", "median B", "δ [CI]", "p", adj]
        dist_head = ["distribution", "metric", "A", "B", "n A", "n B", "distance", "p", adj]
        return [*markdown_table(head, tests), "", *markdown_table(dist_head, distances)]


def _where(t: Any) -> dict[str, object]:
    return {
        "family": t.family,
        "n_pairs": t.n_pairs,
        "architecture": t.architecture,
        "operator": t.operator,
        "group_a": t.group_a,
        "group_b": t.group_b,
        "n_a": t.n_a,
        "n_b": t.n_b,
        "unit": t.unit,
        "units_a": t.units_a,
        "units_b": t.units_b,
    }


def _inference(t: Any) -> dict[str, object]:
    return {
        "p_value": t.p_value,
        "p_adjusted": t.p_adjusted,
        "p_floor": t.p_floor,
        "p_bound": t.p_bound,
        "n_permutations": np.nan if t.n_permutations is None else t.n_permutations,
        "exact": t.exact,
    }


def _sizes(t: Any, side: str) -> str:
    n, units = getattr(t, f"n_{side}"), getattr(t, f"units_{side}")
    return str(n) if t.unit == "network" else f"{n} ({units} {t.unit}s)"


def _p(t: Any, p: float, adjusted: bool = False) -> str:
    return format_p(p, t.p_bound, t.n_permutations, t.exact, adjusted=adjusted)


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return f"{x:.3g}"

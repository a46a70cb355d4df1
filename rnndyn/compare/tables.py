"""Tidy tables and the ``rnndyn.compare.spectra/1`` JSON document of a ``ComparisonResult`` (a mixin)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn.compare.population import STATISTICS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SCHEMA = "rnndyn.compare.spectra/1"


def clean(x: Any) -> Any:
    """JSON-ready copy: numpy scalars → Python, NaN/±inf → None (recursively)."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    return x


class ComparisonTables:
    """Tables for ``ComparisonResult`` (which provides ``groups``, ``tests``, ``distances``…)."""

    def _networks(self):
        for group, members in self.groups:  # type: ignore[attr-defined]
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
        """One row per test: per-statistic tests (``kind="statistic"``), then distance tests."""
        import pandas as pd

        rows = []
        for t in self.tests:  # type: ignore[attr-defined]
            rows.append(
                {
                    "kind": "statistic",
                    "architecture": t.architecture,
                    "operator": t.operator,
                    "quantity": t.statistic,
                    "method": t.test,
                    "group_a": t.group_a,
                    "group_b": t.group_b,
                    "n_a": t.n_a,
                    "n_b": t.n_b,
                    "median_a": t.median_a,
                    "median_b": t.median_b,
                    "estimate_name": "cliffs_delta",
                    "estimate": t.cliffs_delta,
                    "ci_low": t.ci_low,
                    "ci_high": t.ci_high,
                    "hedges_g": t.hedges_g,
                    "p_value": t.p_value,
                    "p_holm": t.p_holm,
                    "n_permutations": np.nan,
                }
            )
        for d in self.distances:  # type: ignore[attr-defined]
            rows.append(
                {
                    "kind": "distance",
                    "architecture": d.architecture,
                    "operator": d.operator,
                    "quantity": d.distribution,
                    "method": d.metric,
                    "group_a": d.group_a,
                    "group_b": d.group_b,
                    "n_a": d.n_a,
                    "n_b": d.n_b,
                    "median_a": np.nan,
                    "median_b": np.nan,
                    "estimate_name": "distance",
                    "estimate": d.distance,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "hedges_g": np.nan,
                    "p_value": d.p_value,
                    "p_holm": d.p_holm,
                    "n_permutations": d.n_permutations,
                }
            )
        return pd.DataFrame(rows)

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

        return pd.DataFrame([asdict(s) for s in self.group_statistics])  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        """The ``rnndyn.compare.spectra/1`` document (JSON-ready; NaN/inf → None)."""
        from rnndyn._version import __version__

        groups = []
        for name, members in self.groups:  # type: ignore[attr-defined]
            groups.append(
                {
                    "name": name,
                    "n_networks": len(members),
                    "members": [
                        {
                            "path": n.path,
                            "sha256": n.sha256,
                            "metadata": dict(n.metadata),
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
        return clean(
            {
                "schema": SCHEMA,
                "rnndyn_version": __version__,
                "eigenvalues_are": "discrete-time (per step); periods and timescales in steps",
                "settings": dict(self.settings),  # type: ignore[attr-defined]
                "statistics": STATISTICS,
                "groups": groups,
                "tests": [asdict(t) for t in self.tests],  # type: ignore[attr-defined]
                "distances": [asdict(d) for d in self.distances],  # type: ignore[attr-defined]
                "group_statistics": [asdict(s) for s in self.group_statistics],  # type: ignore[attr-defined]
                "skipped": [b.to_dict() for b in self.skipped],  # type: ignore[attr-defined]
                "notes": list(self.notes),  # type: ignore[attr-defined]
            }
        )

    def to_markdown(
        self, *, title: str = "Spectra compared between groups", figures=None, level: int = 1
    ) -> str:
        """A short markdown report: groups, per-stratum tables, what was left out."""
        h1, h2 = "#" * level, "#" * (level + 1)
        lines = [
            f"{h1} {title}",
            "",
            "Discrete-time eigenvalues (per step); networks are the replicates.",
            "",
        ]
        s = self.settings  # type: ignore[attr-defined]
        lines += [
            f"Per-statistic test: {s.get('test')}; effect size Cliff's δ (> 0: first group "
            f"larger) with a {100 * s.get('confidence', 0.95):.0f}% percentile-bootstrap CI "
            f"({s.get('n_bootstrap')} resamples of networks); Holm correction per architecture and "
            f"operator. Distances: permutation p-values over {s.get('n_permutations')} network "
            "relabelings (or all of them).",
            "",
            "| group | networks |",
            "|---|---|",
        ]
        lines += [f"| {g} | {len(ms)} |" for g, ms in self.groups]  # type: ignore[attr-defined]
        for arch, op in self.strata:  # type: ignore[attr-defined]
            lines += ["", f"{h2} {arch.upper()} `{op}`", ""]
            lines += [
                "| statistic | A | B | n A | n B | median A | median B | δ [CI] | p | p Holm |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for t in self.tests:  # type: ignore[attr-defined]
                if (t.architecture, t.operator) == (arch, op):
                    lines.append(
                        f"| {t.statistic} | {t.group_a} | {t.group_b} | {t.n_a} | {t.n_b} | "
                        f"{_fmt(t.median_a)} | {_fmt(t.median_b)} | {t.cliffs_delta:+.2f} "
                        f"[{t.ci_low:+.2f}, {t.ci_high:+.2f}] | {_fmt(t.p_value)} | "
                        f"{_fmt(t.p_holm)} |"
                    )
            lines += [
                "",
                "| distribution | metric | A | B | n A | n B | distance | p | p Holm |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for d in self.distances:  # type: ignore[attr-defined]
                if (d.architecture, d.operator) == (arch, op):
                    lines.append(
                        f"| {d.distribution} | {d.metric} | {d.group_a} | {d.group_b} | {d.n_a} | "
                        f"{d.n_b} | {_fmt(d.distance)} | {_fmt(d.p_value)} | {_fmt(d.p_holm)} |"
                    )
        if self.skipped:  # type: ignore[attr-defined]
            lines += ["", f"{h2} Left out", ""]
            lines += [f"- `{b.path}`: {b.problem}" for b in self.skipped]  # type: ignore[attr-defined]
        if self.notes:  # type: ignore[attr-defined]
            lines += ["", f"{h2} Notes", ""] + [f"- {n}" for n in self.notes]  # type: ignore[attr-defined]
        if figures:
            lines += ["", f"{h2} Figures", ""] + [f"![{f}]({f})" for f in figures]
        return "\n".join(lines) + "\n"


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return f"{x:.3g}"

"""Many methods over many cells: average ranks, Friedman, critical differences (Demšar, JMLR 2006).

In the spirit of Demšar's recipe for the initializer bench. A *block* (cell) is one task × arch;
every method (initializer) runs on the same seeds in a block, so comparisons are paired.

- :func:`block_summaries`: tidy runs → blocks × methods matrix of medians over seeds, with what
  was dropped (incomplete blocks, methods not run everywhere, optionally all-tied "ceiling"
  blocks) and why;
- :func:`rank_methods`: average ranks, Friedman χ² (tie-corrected) and Iman–Davenport F, the
  Nemenyi and Bonferroni–Dunn critical differences, pairwise results and cliques;

The paired tests of one control against each baseline (across blocks and per cell over seeds)
live in :mod:`rnndyn.training.bench.paired`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rnndyn.errors import InvalidInputError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass(eq=False)
class BlockMatrix:
    """Per-block summaries of complete blocks; ``values``: blocks (MultiIndex) × methods."""

    values: pd.DataFrame
    higher_is_better: pd.Series  # per block
    n_seeds: pd.Series  # paired seeds per block
    dropped: pd.DataFrame  # block, method, reason: every block or method left out
    ceiling: list[tuple]  # blocks whose methods all tie within ceiling_atol (kept unless dropped)
    runs: pd.DataFrame  # seed-level rows of the kept blocks and methods
    summary: str = "median"

    @property
    def methods(self) -> list[str]:
        return [str(m) for m in self.values.columns]

    @property
    def n_blocks(self) -> int:
        return len(self.values)

    def oriented(self) -> pd.DataFrame:
        """``values`` with the sign flipped in lower-is-better blocks (higher is better throughout)."""
        return self.values.mul(np.where(self.higher_is_better.to_numpy(bool), 1.0, -1.0), axis=0)

    def __repr__(self) -> str:
        return (
            f"BlockMatrix({self.n_blocks} blocks × {len(self.methods)} methods, "
            f"{len(self.dropped)} dropped, {len(self.ceiling)} at a ceiling)"
        )


@dataclass(frozen=True)
class FriedmanTest:
    """Friedman's χ² over ``n_blocks`` × ``k`` ranks; ``chi2`` is tie-corrected (as scipy's),
    ``chi2_uncorrected`` is Demšar's formula (equal when no block has ties)."""

    n_blocks: int
    k: int
    chi2: float
    chi2_uncorrected: float
    p_chi2: float
    f: float  # Iman–Davenport, from the tie-corrected chi2
    p_f: float


@dataclass(eq=False)
class RankingResult:
    """Average ranks (1 = best) with Friedman / Iman–Davenport and the critical differences."""

    ranks: pd.DataFrame  # blocks × methods
    average_ranks: pd.Series  # best first
    friedman: FriedmanTest
    alpha: float
    cd_nemenyi: float
    cd_bonferroni_dunn: float
    pairs: pd.DataFrame  # every pair: rank_diff, p_nemenyi, significant (|ΔR| ≥ CD)
    cliques: list[tuple[str, ...]]  # maximal groups with no Nemenyi-significant pair
    control: str | None = None
    versus_control: pd.DataFrame | None = None  # Bonferroni–Dunn against the control

    @property
    def n_blocks(self) -> int:
        return self.friedman.n_blocks

    @property
    def k(self) -> int:
        return self.friedman.k

    def describe(self) -> str:
        """One line: N, k, Friedman, Iman–Davenport, CD and α."""
        f = self.friedman
        return (
            f"N = {f.n_blocks} blocks, k = {f.k} methods: Friedman χ² = {f.chi2:.3g} "
            f"(p = {f.p_chi2:.2g}), Iman–Davenport F = {f.f:.3g} (p = {f.p_f:.2g}); "
            f"Nemenyi CD = {self.cd_nemenyi:.3g} at α = {self.alpha:g}"
        )

    def table(self) -> pd.DataFrame:
        """One row per method, best first: average rank and, with a control, the Bonferroni–Dunn
        comparison against it (``p_bonferroni``, ``significant_vs_control``)."""
        out = self.average_ranks.rename("average_rank").rename_axis("method").reset_index()
        out.insert(0, "position", range(1, len(out) + 1))
        out["n_blocks"] = self.n_blocks
        if self.versus_control is not None:
            vs = self.versus_control.set_index("method")
            out["is_control"] = out["method"] == self.control
            out["rank_diff_vs_control"] = out["method"].map(vs["rank_diff"]).fillna(0.0)
            out["p_bonferroni"] = out["method"].map(vs["p_bonferroni"])
            out["significant_vs_control"] = out["method"].map(vs["significant"]).fillna(False)
        return out

    def __repr__(self) -> str:
        return f"RankingResult({self.describe()})"


def block_label(block: tuple | object) -> str:
    """``("adding", "gru")`` → ``"adding/gru"``."""
    return "/".join(map(str, block)) if isinstance(block, tuple) else str(block)


def _check_runs(runs: pd.DataFrame, cols: dict[str, str], blocks: Sequence[str]) -> pd.DataFrame:
    """The runs with canonical columns ``block`` (tuple), method, seed, value, hib."""
    import pandas as pd

    need = [*blocks, *cols.values()]
    missing = [c for c in need if c not in runs.columns]
    if missing:
        raise InvalidInputError(
            f"the runs table lacks the column(s) {missing}; it has {list(runs.columns)}"
        )
    df = pd.DataFrame({k: runs[c].to_numpy() for k, c in cols.items()})
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    df.insert(0, "block", list(zip(*(runs[b].to_numpy() for b in blocks), strict=True)))
    dup = df.duplicated(["block", "method", "seed"])
    if dup.any():
        first = df[dup].iloc[0]
        raise InvalidInputError(
            f"the runs table has {int(dup.sum())} repeated block × method × seed rows, e.g. "
            f"{block_label(first['block'])}, {first['method']}, seed {first['seed']}"
        )
    hib = df["hib"].map({True: True, False: False, "True": True, "False": False})  # 1 == True
    if hib.isna().any():
        raise InvalidInputError(
            f"column {cols['hib']!r} must be True/False, not {df['hib'][hib.isna()].iloc[0]!r}"
        )
    df["hib"] = hib.astype(bool)
    mixed = df.groupby("block", sort=False)["hib"].nunique() > 1
    if mixed.any():
        bad = [block_label(b) for b in mixed[mixed].index]
        raise InvalidInputError(f"{cols['hib']!r} differs within block(s) {bad}")
    return df


def block_summaries(
    runs: pd.DataFrame,
    *,
    blocks: Sequence[str] = ("task", "arch"),
    method: str = "init",
    seed: str = "seed",
    value: str = "value",
    higher_is_better: str = "higher_is_better",
    methods: Sequence[str] | None = None,
    min_seeds: int = 1,
    ceiling_atol: float = 0.0,
    drop_ceiling: bool = False,
) -> BlockMatrix:
    """Blocks × methods matrix of medians over seeds, keeping only complete, paired blocks.

    ``methods``: the methods to compare (default: those run in every block; the others are
    reported in ``dropped``). A block is kept when every method has a finite value on the same
    seeds (at least ``min_seeds``); NaN counts as missing, so fill diverged runs with a worst
    value first if they should count as losses. Blocks where every median lies within
    ``ceiling_atol`` of the others are listed in ``ceiling`` and, with ``drop_ceiling``, dropped.
    """
    import pandas as pd

    cols = {"method": method, "seed": seed, "value": value, "hib": higher_is_better}
    df = _check_runs(runs, cols, blocks)
    all_blocks = list(pd.unique(df["block"]))
    drops: list[tuple[str, str, str]] = []
    if methods is None:
        per = df.groupby("method", sort=False)["block"].nunique()
        methods = [m for m in per.index if per[m] == len(all_blocks)]
        for m in per.index[per < len(all_blocks)]:
            drops.append(
                ("*", str(m), f"not run in every block (in {per[m]} of {len(all_blocks)})")
            )
    else:
        unknown = sorted(set(methods) - set(df["method"]))
        if unknown:
            raise UsageError(f"method(s) {unknown} are not in the runs table")
    if len(methods) < 2:
        raise InvalidInputError(
            f"fewer than two methods are run in every block ({list(methods)}); "
            "pass methods= to choose which to compare"
        )
    df = df[df["method"].isin(methods)]
    kept, rows, hib, nseed = [], [], [], []
    for block, g in df.groupby("block", sort=False):
        wide = g.pivot(index="seed", columns="method", values="value").reindex(columns=methods)
        reason = _incomplete(wide, min_seeds)
        if reason:
            drops.append((block_label(block), "*", reason))
            continue
        kept.append(block)
        rows.append(wide.median())
        hib.append(bool(g["hib"].iloc[0]))
        nseed.append(len(wide))
    index = pd.MultiIndex.from_tuples(kept, names=list(blocks))
    values = pd.DataFrame(rows, index=index, columns=list(methods)).astype(float)
    spread = (values.max(axis=1) - values.min(axis=1)).to_numpy()
    ceiling = [tuple(b) for b in values.index[spread <= ceiling_atol]]
    keep = ~(spread <= ceiling_atol) if drop_ceiling else np.ones(len(values), bool)
    drops += [
        (block_label(b), "*", f"ceiling: every method's median within {ceiling_atol:g}")
        for b in ceiling
        if drop_ceiling
    ]
    values = values[keep]
    hib_s = pd.Series(np.array(hib, bool)[keep], index=values.index, name="higher_is_better")
    nseed_s = pd.Series(np.array(nseed, int)[keep], index=values.index, name="n_seeds")
    kept_set = set(values.index)
    in_kept = [k in kept_set for k in zip(*(runs[b].to_numpy() for b in blocks), strict=True)]
    seed_rows = runs[np.array(in_kept, bool) & runs[method].isin(methods).to_numpy()]
    dropped = pd.DataFrame(drops, columns=["block", "method", "reason"])
    return BlockMatrix(values, hib_s, nseed_s, dropped, ceiling, seed_rows.reset_index(drop=True))


def _incomplete(wide: pd.DataFrame, min_seeds: int) -> str:
    """Why a block's seeds × methods table cannot be used (``""`` if it can)."""
    absent = [str(m) for m in wide.columns if wide[m].isna().all()]
    if absent:
        return f"no runs of {', '.join(absent)}"
    holes = wide.isna() | ~np.isfinite(wide.to_numpy(float))
    if holes.to_numpy().any():
        bad = {str(m): [s for s in wide.index[holes[m]]] for m in wide.columns if holes[m].any()}
        return f"not paired: missing or non-finite seeds {bad}"
    if len(wide) < min_seeds:
        return f"only {len(wide)} seeds (< min_seeds = {min_seeds})"
    return ""


def rank_blocks(values: pd.DataFrame, higher_is_better: pd.Series | bool = True) -> pd.DataFrame:
    """Ranks within each block (row): 1 = best, ties get the average of their ranks."""
    sign = np.where(np.broadcast_to(np.asarray(higher_is_better, bool), (len(values),)), 1.0, -1.0)
    return values.mul(sign, axis=0).rank(axis=1, ascending=False, method="average")


def iman_davenport(chi2: float, n_blocks: int, k: int) -> tuple[float, float]:
    """Iman–Davenport's F = (N−1)χ² / (N(k−1) − χ²) and its p on (k−1, (k−1)(N−1)) df."""
    import scipy.stats

    den = n_blocks * (k - 1) - chi2
    if not np.isfinite(chi2):
        return math.nan, math.nan
    if den <= 1e-12 * n_blocks * k:  # perfect agreement of every block
        return math.inf, 0.0
    f = (n_blocks - 1) * chi2 / den
    return float(f), float(scipy.stats.f.sf(f, k - 1, (k - 1) * (n_blocks - 1)))


def friedman(ranks: pd.DataFrame | np.ndarray) -> FriedmanTest:
    """Friedman's test on a blocks × methods rank matrix (tie-corrected, as ``friedmanchisquare``)."""
    import scipy.stats

    r = np.asarray(ranks, dtype=float)
    n, k = r.shape
    if n < 1 or k < 2:
        raise InvalidInputError(f"the Friedman test needs ≥ 1 block and ≥ 2 methods, not {n} × {k}")
    avg = r.mean(axis=0)
    chi2_u = 12 * n / (k * (k + 1)) * (np.sum(avg**2) - k * (k + 1) ** 2 / 4)
    total = np.sum(r**2) - n * k * (k + 1) ** 2 / 4  # = N k (k²−1)/12 × tie correction
    s = r.sum(axis=0) - n * (k + 1) / 2
    chi2 = (k - 1) * np.sum(s**2) / total if total > 1e-12 else math.nan
    p = float(scipy.stats.chi2.sf(chi2, k - 1)) if np.isfinite(chi2) else math.nan
    f, pf = iman_davenport(float(chi2), n, k)
    return FriedmanTest(n, k, float(chi2), float(chi2_u), p, f, pf)


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Nemenyi's q_α: the studentized range's 1−α quantile (k groups, ∞ df) over √2."""
    import scipy.stats

    return float(scipy.stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


def bonferroni_dunn_q(k: int, alpha: float = 0.05) -> float:
    """Bonferroni–Dunn's q_α: the two-sided normal quantile at α / (k − 1)."""
    import scipy.stats

    return float(scipy.stats.norm.ppf(1 - alpha / (2 * (k - 1))))


def nemenyi_cd(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Critical difference of average ranks for all pairs: q_α √(k(k+1) / (6N))."""
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6 * n_blocks))


def bonferroni_dunn_cd(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Critical difference against one control (k − 1 comparisons)."""
    return bonferroni_dunn_q(k, alpha) * math.sqrt(k * (k + 1) / (6 * n_blocks))


def cliques(average_ranks: pd.Series, cd: float) -> list[tuple[str, ...]]:
    """Maximal runs of methods (by rank) whose ranks span less than ``cd``: no pair in them differs."""
    r = average_ranks.sort_values()
    names, vals = [str(m) for m in r.index], r.to_numpy()
    ends = np.searchsorted(vals, vals + cd - 1e-12, side="left") - 1  # last j with r_j − r_i < cd
    out, last = [], -1
    for i, j in enumerate(ends):
        if j > i and j > last:
            out.append(tuple(names[i : j + 1]))
            last = j
    return out


def rank_methods(
    matrix: BlockMatrix | pd.DataFrame, *, control: str | None = None, alpha: float = 0.05
) -> RankingResult:
    """Average ranks, Friedman / Iman–Davenport, Nemenyi pairs and cliques, and with ``control``
    the Bonferroni–Dunn comparisons of every other method against it (p Bonferroni-adjusted).
    A plain DataFrame is taken as higher-is-better values."""
    import pandas as pd
    import scipy.stats

    if isinstance(matrix, BlockMatrix):
        ranks = rank_blocks(matrix.values, matrix.higher_is_better)
    else:
        ranks = rank_blocks(matrix)
    if control is not None and control not in ranks.columns:
        raise UsageError(f"control {control!r} is not among the methods {list(ranks.columns)}")
    test = friedman(ranks)
    n, k = test.n_blocks, test.k
    avg = ranks.mean().sort_values(kind="stable")
    se = math.sqrt(k * (k + 1) / (6 * n))
    cd, cd_bd = nemenyi_cd(k, n, alpha), bonferroni_dunn_cd(k, n, alpha)
    a, b = np.triu_indices(k, 1)
    diff = np.abs(avg.to_numpy()[a] - avg.to_numpy()[b])
    pairs = pd.DataFrame(
        {
            "method_a": avg.index[a],
            "method_b": avg.index[b],
            "rank_a": avg.to_numpy()[a],
            "rank_b": avg.to_numpy()[b],
            "rank_diff": diff,
            "p_nemenyi": scipy.stats.studentized_range.sf(diff / se * math.sqrt(2), k, np.inf),
            "significant": diff >= cd - 1e-12,
        }
    )
    versus = None
    if control is not None:
        others = avg.drop(control)
        d = others.to_numpy() - avg[control]
        p = 2 * scipy.stats.norm.sf(np.abs(d) / se)
        versus = pd.DataFrame(
            {
                "control": control,
                "method": others.index,
                "rank": others.to_numpy(),
                "rank_diff": d,
                "z": d / se,
                "p": p,
                "p_bonferroni": np.minimum(1.0, (k - 1) * p),
                "significant": np.abs(d) >= cd_bd - 1e-12,
            }
        )
    return RankingResult(
        ranks, avg, test, alpha, cd, cd_bd, pairs, cliques(avg, cd), control, versus
    )

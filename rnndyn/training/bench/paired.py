"""One control method against each baseline, paired: across blocks and, per cell, over seeds.

Companion of :mod:`rnndyn.training.bench.ranking` (same tidy runs table, same blocks). Differences are
*oriented*: positive means the control is better, whatever the metric's direction.

- :func:`control_vs_baselines`: across blocks, Wilcoxon signed-rank and sign test on the block
  medians, Holm over the baselines (Demšar 2006, §3.1);
- :func:`paired_cells`: per cell over seeds, median difference, rank-biserial, wins/ties/losses
  and the exact signed-rank p with its floor;
- :func:`signed_rank_test`: the exact (all sign flips) Wilcoxon signed-rank test both use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from rnndyn.errors import UsageError
from rnndyn.training.bench.ranking import BlockMatrix, _check_runs

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

ZERO_METHODS = ("zsplit", "pratt", "wilcox")
SCALES = ("range", "none")
EXACT_MAX = 400  # nonzero differences up to which the p is exact (convolution, ≲ 0.1 s)


def signed_rank_test(d: np.ndarray, zero_method: str = "zsplit") -> tuple[float, float, str]:
    """Two-sided Wilcoxon signed-rank p of differences ``d``: ``(p, rank_biserial, method)``.

    Up to ``EXACT_MAX`` nonzero differences the p is exact: the null distribution of T+ given
    the observed |d| (ties and zeros included), as if every sign flip were enumerated; beyond,
    scipy's tie-corrected normal approximation.
    ``rank_biserial`` = (T+ − T−)/(T+ + T−) over the nonzero differences, 0 when all are zero.
    """
    import scipy.stats

    if zero_method not in ZERO_METHODS:
        raise UsageError(f"zero_method must be one of {ZERO_METHODS}, not {zero_method!r}")
    d = np.asarray(d, dtype=float)
    nz = d[d != 0]
    if nz.size == 0:
        return 1.0, 0.0, "all differences zero"
    r_nz = scipy.stats.rankdata(np.abs(nz))
    rb = float((r_nz[nz > 0].sum() - r_nz[nz < 0].sum()) / r_nz.sum())
    x = nz if zero_method == "wilcox" else d
    ranks = scipy.stats.rankdata(np.abs(x))
    free = ranks[x != 0]  # zeros keep their sign (none) under every flip
    if free.size <= EXACT_MAX:
        return _exact_p(free, float(ranks[x > 0].sum())), rb, "exact (sign-flip distribution)"
    res = scipy.stats.wilcoxon(x, zero_method=zero_method, method="asymptotic")
    return float(res.pvalue), rb, "normal approximation (tie-corrected)"


def _exact_p(ranks: np.ndarray, t_plus: float) -> float:
    """Two-sided p of T+ = ``t_plus`` under independent fair signs on ``ranks`` (multiples of ½):
    the exact null distribution, by convolution over the differences, ties and all."""
    w = np.rint(2 * ranks).astype(np.int64)
    total = int(w.sum())
    dist = np.zeros(total + 1)
    dist[0], top = 1.0, 0
    for wi in w:
        nxt = 0.5 * dist
        nxt[wi : top + wi + 1] += 0.5 * dist[: top + 1]
        dist, top = nxt, top + wi
    extreme = abs(2 * round(2 * t_plus) - total)
    return min(1.0, float(dist[np.abs(2 * np.arange(total + 1) - total) >= extreme].sum()))


def exact_floor(n_nonzero: int) -> float:
    """Smallest two-sided p an exact signed-rank or sign test reaches with n nonzero differences."""
    return min(1.0, 2.0 ** (1 - n_nonzero)) if n_nonzero else 1.0


def _oriented_diff(c: np.ndarray, b: np.ndarray, hib: bool, atol: float) -> np.ndarray:
    d = (c - b) if hib else (b - c)
    return np.where(np.abs(d) <= atol, 0.0, d)


def _compare(d: np.ndarray, zero_method: str) -> dict[str, object]:
    import scipy.stats

    wins, losses = int(np.sum(d > 0)), int(np.sum(d < 0))
    p, rb, how = signed_rank_test(d, zero_method)
    p_sign = float(scipy.stats.binomtest(wins, wins + losses).pvalue) if wins + losses else 1.0
    return {
        "n": d.size,
        "wins": wins,
        "ties": d.size - wins - losses,
        "losses": losses,
        "median_diff": float(np.median(d)),
        "rank_biserial": rb,
        "p_wilcoxon": p,
        "wilcoxon_method": how,
        "zero_method": zero_method,
        "p_sign": p_sign,
        "p_floor": exact_floor(wins + losses),
    }


def control_vs_baselines(
    matrix: BlockMatrix,
    control: str,
    *,
    zero_method: str = "zsplit",
    scale: str = "range",
    atol: float = 0.0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """The control against each baseline across blocks, one row per baseline.

    Differences of block medians, oriented (positive = control better) and, with ``scale="range"``,
    divided by the block's range over all methods so that blocks of different metrics are
    commensurate (``"none"``: raw, only sound when every block has the same metric); ``|d| ≤ atol``
    counts as a tie. Wilcoxon signed-rank (zeros by ``zero_method``; Demšar splits them, "zsplit")
    and a two-sided sign test on wins vs losses (ties left out, reported); both Holm-adjusted
    over the baselines.
    """
    import pandas as pd

    from rnndyn.compare.family import holm

    if control not in matrix.methods:
        raise UsageError(f"control {control!r} is not among the methods {matrix.methods}")
    if scale not in SCALES:
        raise UsageError(f"scale must be one of {SCALES}, not {scale!r}")
    vals = matrix.oriented()
    width = (vals.max(axis=1) - vals.min(axis=1)).to_numpy() if scale == "range" else 1.0
    rows = []
    for base in (m for m in matrix.methods if m != control):
        raw = _oriented_diff(vals[control].to_numpy(), vals[base].to_numpy(), True, atol)
        d = np.divide(raw, width, out=np.zeros_like(raw), where=np.asarray(width) > 0)
        rows.append(
            {"control": control, "baseline": base, "scale": scale, **_compare(d, zero_method)}
        )
    out = pd.DataFrame(rows).rename(columns={"n": "n_blocks"})
    out.insert(out.columns.get_loc("p_wilcoxon") + 1, "p_wilcoxon_holm", holm(out["p_wilcoxon"]))
    out.insert(out.columns.get_loc("p_sign") + 1, "p_sign_holm", holm(out["p_sign"]))
    out["verdict"] = [
        _verdict(
            r.p_wilcoxon_holm,
            r.rank_biserial,
            control,
            r.baseline,
            alpha,
            f"N = {r.n_blocks} blocks",
        )
        for r in out.itertuples()
    ]
    return out


def _verdict(p: float, effect: float, control: str, base: str, alpha: float, n: str) -> str:
    if np.isfinite(p) and p < alpha:
        return f"{control} better" if effect > 0 else f"{base} better"
    return f"no detectable difference at {n}"


def paired_cells(
    runs: pd.DataFrame,
    control: str,
    *,
    blocks: Sequence[str] = ("task", "arch"),
    method: str = "init",
    seed: str = "seed",
    value: str = "value",
    higher_is_better: str = "higher_is_better",
    zero_method: str = "zsplit",
    atol: float = 0.0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Per cell, the control against each baseline over the seeds both ran (finite values), one
    row per cell × baseline: medians, median oriented difference (positive = control better),
    matched-pairs rank-biserial, wins/ties/losses over seeds and the exact signed-rank p with its
    floor (5 seeds: ≥ 0.0625, which cannot reach 0.05; ``note`` says so). p is not adjusted;
    baselines sharing no seed with the control in a cell are left out."""
    import pandas as pd

    cols = {"method": method, "seed": seed, "value": value, "hib": higher_is_better}
    df = _check_runs(runs, cols, blocks)
    df = df[np.isfinite(df["value"])]
    rows = []
    for block, g in df.groupby("block", sort=False):
        wide = g.pivot(index="seed", columns="method", values="value")
        if control not in wide.columns:
            continue
        hib = bool(g["hib"].iloc[0])
        for base in (m for m in wide.columns if m != control):
            pair = wide[[control, base]].dropna()
            if pair.empty:  # no seed run by both
                continue
            c, b = pair[control].to_numpy(), pair[base].to_numpy()
            res = _compare(_oriented_diff(c, b, hib, atol), zero_method)
            res.pop("p_sign")
            floor = res["p_floor"]
            assert isinstance(floor, float)
            rows.append(
                {
                    **dict(zip(blocks, block, strict=True)),
                    "control": control,
                    "baseline": base,
                    "higher_is_better": hib,
                    "control_median": float(np.median(c)),
                    "baseline_median": float(np.median(b)),
                    **res,
                    "can_reach_alpha": floor < alpha,
                    "note": ""
                    if floor < alpha
                    else f"n = {len(pair)} paired seeds ({res['ties']} tied): "
                    f"the exact test cannot go below p = {floor:.3g}, so it cannot reach α = {alpha:g}",
                }
            )
    return pd.DataFrame(rows)

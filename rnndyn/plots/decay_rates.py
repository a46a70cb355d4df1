"""Rate figures of a decay measurement: the effective spectrum (measured per-step rates against
``|λ|``) and the Lyapunov spectrum along the probe, each naming the operator in words and the
checkpoint."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from rnndyn.decay.results import DecayResult
from rnndyn.plots._decay_common import _arch, _new_ax, _shown, _title
from rnndyn.plots.style import COLUMN_WIDTH, MARKERS, PALETTE, operator_label

__all__ = ["effective_spectrum", "lyapunov_spectrum"]


def effective_spectrum(
    result: DecayResult, ax: Axes | None = None, *, legend: bool = True,
    checkpoint: str | None = None,
) -> Axes:  # fmt: skip
    """Measured per-step rates against ``|λ|`` with the identity line and 95 % intervals: own
    rates (filled; only modes whose own rate was fitted) and whole-perturbation rates (hollow),
    one colour and marker per operator (named in words). Axes fitted to the data; the legend sits
    below the axes, off the data.

    Points under the identity are modes the nonlinearity (saturation) pulls inside.
    """
    from matplotlib.lines import Line2D

    ax = _new_ax(ax, (COLUMN_WIDTH, COLUMN_WIDTH + 0.6))
    values: list[np.ndarray] = []
    handles: list = []
    arch = _arch(result)
    for j, md in enumerate(result.operators):
        i = _shown(md, None)
        colour, marker = PALETTE[j % len(PALETTE)], MARKERS[j % len(MARKERS)]
        x = md.predicted_rate[i]
        for kind, y, ci, filled in (
            ("own", md.measured_rate[i], md.measured_rate_ci[i], True),
            ("whole", md.whole_rate[i], md.whole_rate_ci[i], False),
        ):
            keep = np.isfinite(y)
            err = np.vstack([np.nan_to_num(y - ci[:, 0])[keep], np.nan_to_num(ci[:, 1] - y)[keep]])
            ax.errorbar(
                x[keep],
                y[keep],
                yerr=err,
                fmt=marker,
                color=colour,
                mfc=colour if filled else "none",
                ms=3.5,
                lw=0.6,
                capsize=1.5,
                label="_nolegend_",
                gid=f"{kind}-{md.qualified_id}",
            )
            values += [x, y[keep], ci[keep].ravel()]
        handles.append(
            Line2D([], [], ls="", marker=marker, color=colour,
                   label=operator_label(md.qualified_id, arch))
        )  # fmt: skip
    v = np.concatenate(values) if values else np.array([0.0, 1.0])
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    pad = 0.06 * max(hi - lo, 0.05)
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.7, ls="--", gid="identity", label="_identity")
    if lo < 1.0 < hi:
        ax.axvline(1.0, color="0.85", lw=0.5, zorder=0)
        ax.axhline(1.0, color="0.85", lw=0.5, zorder=0)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted rate $|\\lambda|$ (per step)")
    ax.set_ylabel("measured rate (per step)")
    _title(ax, "effective spectrum: measured vs predicted decay rate", result, None, checkpoint)
    if legend:
        grey = "0.3"
        handles += [
            Line2D([], [], ls="", marker="o", color=grey, label="own rate (in the eigenspace)"),
            Line2D([], [], ls="", marker="o", mfc="none", color=grey, label="whole perturbation"),
            Line2D([], [], ls="--", color="0.4", lw=0.7, label="identity (rate = |λ|)"),
        ]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.18),
                  fontsize="x-small", frameon=False, ncol=1)  # fmt: skip
    return ax


def lyapunov_spectrum(
    result: DecayResult, ax: Axes | None = None, *, legend: bool = True,
    checkpoint: str | None = None,
) -> Axes:  # fmt: skip
    """Lyapunov exponents along the probe (per layer) with 95 % intervals — hollow where not
    converged — and ``ln|λ|`` of the first operator's modes for reference (open circles)."""
    ax = _new_ax(ax)
    for j, s in enumerate(result.lyapunov):
        idx = np.arange(s.exponents.shape[0])
        ci = s.ci
        err = np.vstack(
            [np.nan_to_num(s.exponents - ci[:, 0]), np.nan_to_num(ci[:, 1] - s.exponents)]
        )
        ax.errorbar(
            idx,
            s.exponents,
            yerr=err,
            fmt=MARKERS[j % len(MARKERS)],
            ms=3,
            lw=0.6,
            color=PALETTE[j % len(PALETTE)],
            label=f"layer {s.layer} {s.direction}"
            + ("" if s.converged.all() else " (not converged: hollow)"),
            gid=f"lyapunov-l{s.layer}-{s.direction}",
        )
        bad = ~s.converged
        if bad.any():  # hollow markers over the exponents whose two half-window estimates differ
            ax.plot(
                idx[bad],
                s.exponents[bad],
                ls="none",
                marker=MARKERS[j % len(MARKERS)],
                ms=3,
                mfc="white",
                color=PALETTE[j % len(PALETTE)],
                gid=f"unconverged-l{s.layer}-{s.direction}",
            )
    if result.operators:
        md = result.operators[0]
        with np.errstate(divide="ignore"):
            ref = np.sort(np.log(np.abs(md.eigenvalues)))[::-1]
        ax.plot(
            np.arange(ref.shape[0]),
            ref,
            ls="none",
            marker="o",
            mfc="none",
            color="0.4",
            ms=3.5,
            label=f"ln|λ| of {operator_label(md.qualified_id, _arch(result))}",
            gid="log-modulus",
        )
    ax.axhline(0.0, color="0.6", lw=0.6, ls="--", gid="zero")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("exponent index (largest first)")
    ax.set_ylabel("exponent (nats / step)")
    _title(ax, "Lyapunov spectrum along the probe", result, None, checkpoint)
    if legend:  # outside the axes, so it never covers points
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize="x-small", frameon=False
        )
    return ax

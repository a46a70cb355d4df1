"""A population of networks for group comparisons: per-network spectral statistics, analysed in
parallel processes, plus the ways of naming groups (metadata key, ``NAME=GLOB``, a manifest CSV).

Each network is reduced to small summaries (eigenvalues and a dozen numbers per operator); the
eigenvectors are never kept, so memory stays bounded for thousands of checkpoints.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, cast

import numpy as np

from rnndyn.conditioning import above, classify
from rnndyn.errors import RnndynError, RnndynWarning
from rnndyn.naming import gate_name
from rnndyn.spectrum import OperatorSpectrum, Spectrum
from rnndyn.topk import decompose

STATISTICS: dict[str, str] = {
    "spectral_radius": "largest |λ|",
    "frac_above_1": "fraction of eigenvalues with |λ| > 1 beyond their error bound (outside)",
    "frac_above_0.9": "fraction of eigenvalues with |λ| > 0.9 beyond their error bound",
    "modulus_q10": "10th percentile of |λ|",
    "modulus_q50": "median |λ|",
    "modulus_q90": "90th percentile of |λ|",
    "frac_complex": "fraction of eigenvalues off the real axis",
    "dominant_period": "period 2π/|arg λ| (steps) of the largest-|λ| eigenvalue with arg λ ≠ 0 "
    "(∞: none)",
    "longest_timescale": "−1/ln(spectral radius) in steps (∞ when an eigenvalue is on or outside "
    "the unit circle within its error bound)",
    "log10_eigvec_condition": "log10 of the eigenvector matrix condition number κ(V)",
    "departure_from_normality": "Henrici's relative departure from normality",
}
_ANGLE_TOL = 1e-12

Source = str | PathLike[str] | Any  # a path, a Checkpoint or a Spectrum


#: what a partial spectrum (the top k by |λ|, ``rnndyn.topk``) cannot give: NaN for it
NEEDS_FULL = (
    "frac_complex",
    "log10_eigvec_condition",
    "departure_from_normality",
)
#: given by the top k only when they reach far enough down (else NaN)
NEEDS_DEPTH = ("frac_above_1", "frac_above_0.9", "modulus_q10", "modulus_q50", "modulus_q90")


def _partial_statistics(s: Any) -> tuple[float, ...]:
    """``spectrum_statistics`` of a partial spectrum: exact where the top ``k`` decide, else NaN."""
    lam = np.asarray(s.eigenvalues, dtype=complex)
    n, r = int(s.n), np.abs(lam)
    rho = float(r.max())
    asc = np.full(n, np.nan)
    asc[n - r.size :] = np.sort(r)  # the k largest order statistics; the rest unknown

    def quantile(q: float) -> float:
        pos = (n - 1) * q  # numpy's linear interpolation between order statistics
        lo = int(np.floor(pos))
        return float(asc[lo] + (pos - lo) * (asc[min(lo + 1, n - 1)] - asc[lo]))

    def fraction(t: float) -> float:  # exact when a reported modulus is already ≤ t
        return float((r > t).sum() / n) if r.min() <= t else float("nan")

    ang = np.abs(np.angle(lam))
    osc = ang > _ANGLE_TOL
    period = 2 * math.pi / float(ang[osc][np.argmax(r[osc])]) if osc.any() else float("nan")
    tau = math.inf if rho >= 1 else (0.0 if rho == 0 else -1.0 / math.log(rho))
    nan = float("nan")
    q10, q50, q90 = (quantile(q) for q in (0.1, 0.5, 0.9))
    return (rho, fraction(1.0), fraction(0.9), q10, q50, q90, nan, period, tau, nan, nan)


def spectrum_statistics(s: OperatorSpectrum) -> tuple[float, ...]:
    """The ``STATISTICS`` of one operator spectrum, in order (inf allowed; NaN: not computed).

    For a partial spectrum (``rnndyn.topk.PartialSpectrum``) the statistics the top ``k`` cannot
    decide are NaN: ``NEEDS_FULL`` always, ``NEEDS_DEPTH`` unless the ``k`` reach far enough."""
    if getattr(s, "size", None) and len(s.eigenvalues) < s.n:
        return _partial_statistics(s)
    lam = np.asarray(s.eigenvalues, dtype=complex)
    r = np.abs(lam)
    rho = float(r.max())
    b = np.zeros(r.shape) if s.error_bound is None else s.error_bound
    decays = bool((classify(lam, b) == "inside").all())
    q10, q50, q90 = np.quantile(r, [0.1, 0.5, 0.9])
    ang = np.abs(np.angle(lam))
    osc = ang > _ANGLE_TOL
    period = 2 * math.pi / float(ang[osc][np.argmax(r[osc])]) if osc.any() else math.inf
    tau = math.inf if not decays else (0.0 if rho == 0 else -1.0 / math.log(rho))
    kappa = float(s.eigvec_condition)
    return (
        rho,
        float(above(lam, b, 1.0).mean()),
        float(above(lam, b, 0.9).mean()),
        float(q10),
        float(q50),
        float(q90),
        float((np.abs(lam.imag) > _ANGLE_TOL * np.maximum(r, 1.0)).mean()),
        period,
        tau,
        math.log10(kappa) if kappa > 0 else float("nan"),
        float(s.departure_from_normality),
    )


@dataclass(frozen=True)
class OperatorSummary:
    """One operator of one network: eigenvalues ``(n,)`` complex128; ``values`` (``STATISTICS``)."""

    architecture: str
    operator: str  # qualified id: "l0.fwd.hh", "encoder:l1.rev.f", "l0.fwd.jacfp"
    gate: str  # "hh" (vanilla), "i", "f", "g", "o", "r", "z", "n" or "jac"
    eigenvalues: np.ndarray = field(repr=False)
    values: tuple[float, ...] = field(repr=False)

    @property
    def stratum(self) -> tuple[str, str]:
        return (self.architecture, self.operator)


@dataclass(frozen=True)
class Network:
    """One analysed network: where it came from, its group and its operators' summaries."""

    path: str
    sha256: str | None
    operators: tuple[OperatorSummary, ...]
    group: str | None = None
    key_value: str | None = None  # the grouping key's value in the metadata (None: missing)
    metadata: Mapping[str, Any] = field(default_factory=dict)  # scalar entries, nested as "a.b"


@dataclass(frozen=True)
class BadInput:
    """A checkpoint left out, with the reason (one paragraph) and the exit code it would give."""

    path: str
    problem: str
    exit_code: int

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "problem": self.problem, "exit_code": self.exit_code}


def lookup(metadata: Mapping[str, Any], key: str) -> str | None:
    """``metadata[key]`` as a string, following dots into nested dicts; None if missing or null."""
    node: Any = metadata
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return None if node is None or isinstance(node, (dict, list)) else str(node)


def summarise_spectrum(spec: Spectrum) -> tuple[OperatorSummary, ...]:
    """Per-operator summaries of an already computed spectrum.

    Operators are named ``l0.fwd.hh`` when the network has one recurrent module (so networks
    whose modules are named differently still line up), ``module:l0.fwd.hh`` when it has several.
    """
    single = len({s.module for s in spec}) <= 1
    return tuple(
        OperatorSummary(
            s.arch,
            s.id if single else s.qualified_id,
            gate_name(s.identity.schema_gate),  # both Jacobians: jac, as before
            np.asarray(s.eigenvalues, complex),
            spectrum_statistics(s),
        )
        for s in spec
    )


def summarise(
    source: Source,
    *,
    trust: bool = False,
    matrix: str | None = None,
    key: str | None = None,
    label: str | None = None,
    jacobian: bool = False,
    top: int | None = None,
) -> Network:
    """Load (if needed), eigendecompose without keeping eigenvectors, and summarise one network.

    ``jacobian``: also the state Jacobian at the zero-input fixed point of every RNN/LSTM/GRU
    layer (gate ``"jac"``, operator id ``l0.fwd.jacfp``). ``top``: only the ``top`` eigenvalues of
    largest modulus per operator (automatic above ``rnndyn.topk.AUTO_TOP_MIN_N``); statistics that
    need the full spectrum are then NaN (``NEEDS_FULL``, ``NEEDS_DEPTH``).
    """
    from rnndyn.analysis import recurrent_operators
    from rnndyn.compare.confounds import flatten
    from rnndyn.readers.checkpoint import Checkpoint, load

    if isinstance(source, Spectrum):
        return Network(label or "<spectrum>", None, summarise_spectrum(source))
    ckpt = source if isinstance(source, Checkpoint) else load(source, trust=trust)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RnndynWarning)  # κ(V) is reported as a statistic instead
        _, ops = recurrent_operators(ckpt, matrix=matrix, jacobian=jacobian)
        spec = decompose(ops, top=top, keep_vectors=False, jobs=1)
    meta = dict(ckpt.metadata or {})
    return Network(
        str(ckpt.path),
        ckpt.sha256,
        summarise_spectrum(spec),
        key_value=None if key is None else lookup(meta, key),
        metadata=flatten(meta),
    )


def _summarise_or_report(source: Source, label: str, options: dict[str, Any]) -> Network | BadInput:
    try:
        return summarise(source, label=label, **options)
    except RnndynError as err:
        return BadInput(label, str(err), err.exit_code)
    except (OSError, ValueError, RuntimeError, np.linalg.LinAlgError) as err:
        return BadInput(label, f"{label}: could not be analysed ({type(err).__name__}: {err})", 4)


def analyse(
    sources: Sequence[Source],
    *,
    jobs: int = 1,
    trust: bool = False,
    matrix: str | None = None,
    key: str | None = None,
    jacobian: bool = False,
    labels: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    cluster: str | None = None,
    top: int | None = None,
) -> list[Network | BadInput]:
    """Summarise every source, in ``jobs`` processes for paths (on Dask with ``cluster``,
    ``local:N`` or ``tcp://HOST:PORT``); a failure becomes a ``BadInput``.

    ``progress(done, total)`` is called after each network. Results keep the order of ``sources``.
    """
    labels = list(labels) if labels is not None else [_label(s, i) for i, s in enumerate(sources)]
    options = {"trust": trust, "matrix": matrix, "key": key, "jacobian": jacobian, "top": top}
    total = len(sources)
    out: list[Network | BadInput | None] = [None] * total
    paths = [i for i, s in enumerate(sources) if isinstance(s, (str, PathLike))]
    parallel = cluster is not None or jobs > 1
    remote = set(paths) if parallel and len(paths) > 1 else set()
    done = 0
    for i, s in enumerate(sources):
        if i not in remote:
            out[i] = _summarise_or_report(s, labels[i], options)
            done += 1
            if progress:
                progress(done, total)
    if remote:  # workers ignore SIGINT and are stopped on Ctrl-C (no worker tracebacks)
        from rnndyn.parallel import execute

        order = sorted(remote)

        def got(k: int, result: Network | BadInput) -> None:
            nonlocal done
            out[order[k]] = result
            done += 1
            if progress:
                progress(done, total)

        args = [(str(sources[i]), labels[i], options) for i in order]
        execute(_summarise_or_report, args, on_result=got, jobs=jobs, cluster=cluster)
    return cast(list, out)  # every slot was filled by got()


def _label(source: Source, index: int) -> str:
    if isinstance(source, (str, PathLike)):
        return str(source)
    if isinstance(source, Spectrum):
        return f"<spectrum {index}>"
    return str(getattr(source, "path", f"<checkpoint {index}>"))

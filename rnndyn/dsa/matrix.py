"""``similarity``: a DSA-style distance matrix between networks' dynamics.

Each network becomes one square operator, then every pair is compared by Procrustes over vector
fields on the orthogonal group (``rnndyn.dsa.orthogonal``):

- ``from_="trajectories"`` (DSA's own route): the network runs on a noise probe (the same seed for
  every network) and its (delay-embedded) layer-0 state is fitted by exact DMD at a common rank
  ``r``; the operator is DMD's reduced ``Ã`` ``(r, r)`` in the POD basis. Networks of different
  sizes compare at the same ``r``; recorded states (``.npy``) are accepted too.
- ``from_="jacobian"``: the mean state Jacobian along the same probe (no fit; sizes must agree).

An orthogonal change of the state basis (``h' = Q h``) leaves both operators equal up to
``Q Ã Qᵀ`` (the POD basis rotates with the states, up to a sign per column), so the distance of a
network to its rotated copy is 0 up to the optimiser's tolerance. A tanh network and its copy
under a *signed permutation* ``W' = P W Pᵀ, U' = P U, b' = P b`` are the same network; under a
general rotation they are not (tanh acts per unit), and only a linear-regime network is then close.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from rnndyn.dsa.orthogonal import SCORES, ProcrustesResult, pairwise
from rnndyn.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SCHEMA = "rnndyn.similarity/1"
FROM = ("trajectories", "jacobian")
DEFAULT_PROBE = "noise:1"
DEFAULT_LENGTH = 1000
DEFAULT_BATCH = 16
MAX_DEFAULT_RANK = 32
#: Networks up to this many units are simulated on one torch thread: their per-step products are
#: too small for a thread pool (a 6-unit GRU, 16 × 1000 steps: 0.47 s on one thread, 20 s on two,
#: measured on a busy 2-core box).
ONE_THREAD_UP_TO = 256


@dataclass(frozen=True)
class NetworkOperator:
    """One network's operator ``(r, r)`` and where it came from."""

    name: str
    source: str
    sha256: str | None
    matrix: np.ndarray = field(repr=False)
    state_size: int = 0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class SimilarityResult:
    """Distances between ``k`` networks: ``distances`` ``(k, k)`` (the ``score``), ``angular`` and
    ``euclidean`` ``(k, k)``; ``pairs`` ``(P, 2)`` with the optimiser's report ``procrustes``;
    ``embedding`` ``(k, 2)`` classical MDS of ``distances`` (with the share of variance kept)."""

    networks: tuple[NetworkOperator, ...]
    score: str
    angular: np.ndarray = field(repr=False)
    euclidean: np.ndarray = field(repr=False)
    pairs: np.ndarray = field(repr=False)
    procrustes: ProcrustesResult = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.networks]

    @property
    def distances(self) -> np.ndarray:
        return self.angular if self.score == "angular" else self.euclidean

    @property
    def converged(self) -> bool:
        return bool(self.procrustes.converged.all())

    def embedding(self, dims: int = 2) -> tuple[np.ndarray, float]:
        """Classical MDS ``(k, dims)`` of ``distances`` and the share of positive eigen-mass kept."""
        d2 = self.distances**2
        k = d2.shape[0]
        j = np.eye(k) - 1.0 / k
        b = -0.5 * j @ d2 @ j
        w, v = np.linalg.eigh(b)
        order = np.argsort(w)[::-1]
        w, v = w[order], v[:, order]
        pos = np.clip(w, 0, None)
        coords = v[:, :dims] * np.sqrt(pos[:dims])
        share = float(pos[:dims].sum() / pos.sum()) if pos.sum() > 0 else 1.0
        return coords, share

    def to_frame(self) -> pd.DataFrame:
        """One row per pair: names, both scores and the optimiser's convergence report."""
        import pandas as pd

        pr = self.procrustes
        i, j = self.pairs[:, 0], self.pairs[:, 1]
        names = np.asarray(self.names, dtype=object)
        return pd.DataFrame(
            {
                "a": names[i],
                "b": names[j],
                "angular": pr.angular,
                "euclidean": pr.euclidean,
                "converged": pr.converged,
                "grad_norm": pr.grad_norm,
                "iterations": pr.iterations,
                "restarts_agreeing": pr.agreeing,
                "restarts": pr.restarts,
            }
        )

    def matrix_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.distances, index=self.names, columns=self.names)

    def to_dict(self) -> dict[str, Any]:
        coords, share = self.embedding()
        return {
            "schema": SCHEMA,
            "score": self.score,
            "networks": [
                {
                    "name": n.name,
                    "path": n.source,
                    "sha256": n.sha256,
                    "state_size": n.state_size,
                    **n.info,
                }
                for n in self.networks
            ],
            "distances": self.distances.tolist(),
            "angular": self.angular.tolist(),
            "euclidean": self.euclidean.tolist(),
            "pairs": self.to_frame().to_dict(orient="records"),
            "converged": self.converged,
            "mds": {"coordinates": coords.tolist(), "variance_kept": share},
            "settings": self.settings,
            "notes": list(self.notes),
        }


def _name(source: Any, i: int) -> str:
    from pathlib import Path

    if isinstance(source, (str, PathLike)):
        return Path(source).stem
    return f"net{i}"


def _states_operator(source: Any, name: str, delays: int, rank: int | None) -> NetworkOperator:
    from rnndyn.modes.run import dmd

    res = dmd(source, delays=delays, rank=rank)
    return NetworkOperator(
        name=name,
        source=res.source,
        sha256=res.sha256,
        matrix=res.fit.operator,
        state_size=int(res.fit.basis.shape[0] // delays),
        info={"kind": "states", "rank": res.fit.rank},
    )


def _simulated(source, name, *, from_, probe, delays, rank, batch, length, washout, seed, trust):
    from contextlib import nullcontext

    import torch

    from rnndyn.dsa.orthogonal import one_thread
    from rnndyn.dynamics.jacobian import jacobian_operators
    from rnndyn.dynamics.network import resolve_network
    from rnndyn.dynamics.probes import make_probe
    from rnndyn.dynamics.trajectories import simulate
    from rnndyn.modes.fit import fit_dmd
    from rnndyn.readers.checkpoint import Checkpoint, load

    ckpt = source if isinstance(source, Checkpoint) else load(source, trust=trust)
    net = resolve_network(ckpt)
    pr = make_probe(probe, net.module, steps=length, batch=batch, length=length, seed=seed)
    info: dict[str, Any] = {"kind": "checkpoint", "architecture": net.module.arch}
    small = (net.module.proj_size or net.module.hidden_size) <= ONE_THREAD_UP_TO
    with one_thread() if small else nullcontext():
        traj = simulate(net, pr.inputs, dtype=torch.float64)
        _, h, c = traj.trace(0, "forward")
        states = (h if c is None else torch.cat([h, c], dim=-1))[1 + washout :].numpy()
        if from_ == "jacobian":
            mat = jacobian_operators(net, traj=traj, start=washout, kinds=("mean",))[0].matrix
        else:
            fit = fit_dmd(states, rank=rank, delays=delays, path=ckpt.path)
            mat = fit.operator
            info["rank"] = fit.rank
    return NetworkOperator(
        name=name,
        source=str(ckpt.path),
        sha256=ckpt.sha256,
        matrix=np.asarray(mat, dtype=np.float64),
        state_size=int(states.shape[-1]),
        info=info,
    )


def _state_size(source: Any, trust: bool) -> int:
    from rnndyn.modes.run import is_states, read_states

    if is_states(source):
        arr = source if isinstance(source, np.ndarray) else read_states(source)
        return int(arr.shape[-1])
    from rnndyn.dynamics.network import resolve_network
    from rnndyn.readers.checkpoint import Checkpoint, load

    ckpt = source if isinstance(source, Checkpoint) else load(source, trust=trust)
    mod = resolve_network(ckpt).module
    return (mod.proj_size or mod.hidden_size) + (mod.hidden_size if mod.arch == "lstm" else 0)


def network_operators(
    sources: list[Any],
    *,
    from_: str = "trajectories",
    delays: int = 1,
    rank: int | None = None,
    probe: str = DEFAULT_PROBE,
    batch: int = DEFAULT_BATCH,
    length: int = DEFAULT_LENGTH,
    washout: int | None = None,
    seed: int = 0,
    trust: bool = False,
    names: list[str] | None = None,
) -> tuple[list[NetworkOperator], int | None]:
    """One operator per source (see the module docstring) and the common rank used (or None)."""
    from rnndyn.modes.run import is_states

    if from_ not in FROM:
        raise UsageError(f"unknown --from {from_!r}; choose one of {', '.join(FROM)}")
    if delays < 1:
        raise UsageError(f"delays must be ≥ 1, got {delays}")
    if from_ == "jacobian" and (delays != 1 or rank is not None):
        raise UsageError("--delays and --rank apply to --from trajectories only")
    w0 = length // 10 if washout is None else int(washout)
    if not 0 <= w0 <= length - 3:
        raise UsageError(f"washout {w0} must lie in 0..{length - 3}")
    names = names or [_name(s, i) for i, s in enumerate(sources)]
    from rnndyn.readers.checkpoint import Checkpoint, load

    # each checkpoint read once: the default rank and the simulation share it
    sources = [
        s if is_states(s) or isinstance(s, Checkpoint) else load(s, trust=trust) for s in sources
    ]
    if from_ == "trajectories" and rank is None:
        sizes = [_state_size(s, trust) for s in sources]
        rank = min(min(sizes) * delays, MAX_DEFAULT_RANK)
    ops = []
    for src, name in zip(sources, names, strict=True):
        if is_states(src):
            if from_ == "jacobian":
                raise UsageError(
                    f"{name}: recorded states have no Jacobian; use --from trajectories"
                )
            ops.append(_states_operator(src, name, delays, rank))
            continue
        ops.append(
            _simulated(
                src,
                name,
                from_=from_,
                probe=probe,
                delays=delays,
                rank=rank,
                batch=batch,
                length=length,
                washout=w0,
                seed=seed,
                trust=trust,
            )
        )
    shapes = {op.matrix.shape for op in ops}
    if len(shapes) > 1:
        detail = ", ".join(f"{op.name} {op.matrix.shape[0]}" for op in ops)
        raise UsageError(
            f"the operators differ in size ({detail}); a distance needs one size",
            hint="Use --from trajectories with a --rank no larger than the smallest network's "
            "state (rank-deficient states give a smaller DMD rank; lower --rank).",
        )
    return ops, rank if from_ == "trajectories" else None


def similarity(
    sources: list[Any],
    *,
    from_: str = "trajectories",
    delays: int = 1,
    rank: int | None = None,
    score: str = "angular",
    restarts: int = 8,
    max_iter: int = 2000,
    tol: float = 1e-6,
    jobs: int = 1,
    cluster: str | None = None,
    probe: str = DEFAULT_PROBE,
    batch: int = DEFAULT_BATCH,
    length: int = DEFAULT_LENGTH,
    washout: int | None = None,
    seed: int = 0,
    trust: bool = False,
    names: list[str] | None = None,
) -> SimilarityResult:
    """The DSA-style distance matrix of ``sources`` (checkpoints, ``.npy`` states or arrays).

    Args:
        from_: ``"trajectories"`` (delay-DMD operators at a common ``rank``; default the smallest
            state size × ``delays``, at most 32) or ``"jacobian"`` (mean Jacobians).
        score: ``"angular"`` (radians, DSA's default) or ``"euclidean"`` (unit-norm operators).
        restarts, max_iter, tol: the optimiser's (``rnndyn.dsa.orthogonal``).
        jobs: pair batches run in parallel threads; ``cluster`` (``local:N`` or
            ``tcp://HOST:PORT``): as Dask jobs instead (``rnndyn.parallel``); same result.
        probe, batch, length, washout, seed: the drive (the same for every network).

    Raises:
        UsageError: fewer than two sources, operators of different sizes, bad options;
        CheckpointError / InvalidInputError / RefusedError: bad files.
    """
    if score not in SCORES:
        raise UsageError(f"unknown score {score!r}; choose one of {', '.join(SCORES)}")
    if len(sources) < 2:
        raise UsageError("a similarity needs at least two networks")
    if cluster is not None:  # a bad address fails now, before any simulation
        from rnndyn.parallel import local_workers, scheduler_address

        local_workers(cluster) if cluster.startswith("local:") else scheduler_address(cluster)
    ops, used_rank = network_operators(
        list(sources),
        from_=from_,
        delays=delays,
        rank=rank,
        probe=probe,
        batch=batch,
        length=length,
        washout=washout,
        seed=seed,
        trust=trust,
        names=names,
    )
    pairs, res = pairwise(
        [op.matrix for op in ops],
        jobs=jobs,
        cluster=cluster,
        restarts=restarts,
        max_iter=max_iter,
        tol=tol,
        seed=seed,
    )
    k = len(ops)
    ang, euc = np.zeros((k, k)), np.zeros((k, k))
    for (i, j), a, e in zip(pairs, res.angular, res.euclidean, strict=True):
        ang[i, j] = ang[j, i] = a
        euc[i, j] = euc[j, i] = e
    notes = []
    if not res.converged.all():
        bad = int((~res.converged).sum())
        notes.append(
            f"{bad} of {len(pairs)} pairs did not reach the gradient tolerance {tol:g} in "
            f"{max_iter} iterations: their distances are upper bounds (raise max_iter)"
        )
    return SimilarityResult(
        networks=tuple(ops),
        score=score,
        angular=ang,
        euclidean=euc,
        pairs=pairs,
        procrustes=res,
        settings={
            "from": from_,
            "delays": delays,
            "rank": used_rank,
            "probe": probe if any(op.info.get("kind") == "checkpoint" for op in ops) else None,
            "batch": batch,
            "length": length,
            "washout": length // 10 if washout is None else int(washout),
            "seed": seed,
            "restarts": res.restarts,
            "max_iter": max_iter,
            "tol": tol,
            "normalisation": "each operator scaled to unit Frobenius norm",
        },
        notes=tuple(notes),
    )

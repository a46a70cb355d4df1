"""Initial states for the fixed-point search: where the minimisation of ``q`` starts.

Trajectories alone only reach the basins the probe visits (a tanh RNN with ``W = 2I`` and no input
weights never leaves the origin). The search therefore mixes (``Seeding`` sets the shares):

- ``trajectory``: states the network visits along the probe, plus Gaussian jitter (as before);
- ``uniform``: uniform draws over the reachable box — the activation's range where it is bounded
  (tanh RNN and GRU ``h`` in ``[−1, 1]``; LSTM ``h`` in ``[−1, 1]`` without projection), else the range
  the trajectories visit, widened by a quarter of its width on each side (LSTM ``c``, ReLU units,
  projected ``h``), and never narrower than ``[−1, 1]`` for a signed state;
- ``corner``: corners of that box at 95 % of the half-width (every one of the ``2^S`` when they fit in
  the share, else random sign patterns), and, for half the share, trajectory states whose saturated
  units (beyond 90 % of the half-width) get random signs — the stable points of networks that
  store memories in saturated units sit near such sign patterns;
- ``continuation``: in an input scan, the previous input's points, one start each, on top of
  ``n_inits`` (``continuation_seeds``).

Every start keeps its source label, so the coverage of each can be judged.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from rnndyn._util.jsonsafe import JsonObject
from rnndyn.errors import UsageError

SOURCES = ("trajectory", "uniform", "corner", "continuation")


@dataclass(frozen=True)
class Seeding:
    """Shares of ``n_inits`` per source (normalised) and the trajectory jitter (× RMS state)."""

    trajectory: float = 0.4
    uniform: float = 0.4
    corner: float = 0.2
    jitter: float = 0.02

    def to_dict(self) -> JsonObject:
        return dict(self.__dict__)

    def split(self, n: int) -> tuple[int, int, int]:
        """``n`` starts as ``(trajectory, uniform, corner)`` counts (largest remainder)."""
        w = np.array([self.trajectory, self.uniform, self.corner], dtype=float)
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise UsageError(f"seeding shares {w.tolist()}: need numbers ≥ 0, not all zero")
        raw = n * w / w.sum()
        k = np.floor(raw).astype(int)
        k[np.argsort(raw - k)[::-1][: n - int(k.sum())]] += 1
        return int(k[0]), int(k[1]), int(k[2])


def reachable_box(
    arch: str, nonlinearity: str, states: np.ndarray, out_size: int, projected: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` ``(S,)`` per coordinate of the full state (see the module docstring);
    ``states`` ``(K, S)`` the visited states, ``out_size`` the size of ``h``."""
    s = states.shape[1]
    vmin, vmax = states.min(0), states.max(0)
    width = np.maximum(vmax - vmin, 1e-3)
    lo, hi = vmin - 0.25 * width, vmax + 0.25 * width
    bounded = np.zeros(s, dtype=bool)
    if arch in ("gru", "rnn", "custom") and nonlinearity != "relu":
        bounded[:] = True
    elif arch == "lstm" and not projected:
        bounded[:out_size] = True
    lo = np.where(bounded, -1.0, np.minimum(lo, -1.0))
    hi = np.where(bounded, 1.0, np.maximum(hi, 1.0))
    if arch in ("rnn", "custom") and nonlinearity == "relu":
        lo = np.zeros(s)  # ReLU states are non-negative
    return lo, hi


def _corners(lo: np.ndarray, hi: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    s = lo.shape[0]
    if n <= 0:
        return np.zeros((0, s))
    if s <= 20 and 2**s <= n:
        signs = np.array(list(itertools.product((-1.0, 1.0), repeat=s)))
    else:
        signs = rng.choice((-1.0, 1.0), size=(n, s))
    mid, half = (hi + lo) / 2, (hi - lo) / 2
    return mid + 0.95 * signs * half


def _sign_flips(
    states: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    rows = rng.integers(0, states.shape[0], size=n)
    base = states[rows].copy()
    mid, half = (hi + lo) / 2, (hi - lo) / 2
    dev = base - mid
    sat = np.abs(dev) > 0.9 * half
    flip = rng.choice((-1.0, 1.0), size=base.shape)
    return np.where(sat, mid + flip * np.abs(dev), base), rows


def draw_seeds(
    states: np.ndarray,
    n: int,
    box: tuple[np.ndarray, np.ndarray],
    cfg: Seeding,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` initial states from the visited ``states`` ``(K, S)`` and the ``box``.

    Returns ``(inits (n, S), rows (n,), source (n,))``: ``rows`` a visited state's index for every
    start (the one it was drawn near, or a uniform draw for box starts: upper layers take their
    driving input from the lower layer's point nearest to it), ``source`` one of ``SOURCES``.
    """
    lo, hi = box
    n_traj, n_unif, n_corner = cfg.split(n)
    k = states.shape[0]
    out, rows, src = [], [], []
    if n_traj:
        r = rng.integers(0, k, size=n_traj)
        scale = cfg.jitter * float(np.sqrt(np.mean(states * states)))
        out.append(states[r] + scale * rng.standard_normal((n_traj, states.shape[1])))
        rows.append(r)
        src += ["trajectory"] * n_traj
    if n_unif:
        out.append(rng.uniform(lo, hi, size=(n_unif, lo.shape[0])))
        rows.append(rng.integers(0, k, size=n_unif))
        src += ["uniform"] * n_unif
    if n_corner:
        n_box = (n_corner + 1) // 2
        c = _corners(lo, hi, n_box, rng)
        f, r = _sign_flips(states, lo, hi, n_corner - len(c), rng)
        out += [c, f]
        rows += [rng.integers(0, k, size=len(c)), r]
        src += ["corner"] * (len(c) + len(f))
    inits = np.concatenate(out) if out else np.zeros((0, states.shape[1]))
    return inits, np.concatenate(rows).astype(int), np.array(src)

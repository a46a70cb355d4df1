"""The figures of docs/spectra.md ("which spectrum is which"), one per linearisation of the bundled
GRU trained on Tomita 4: its gate blocks, the mean state Jacobian ``jac``, the Jacobian at the
zero-input fixed point ``jacfp``, the Jacobians at every fixed point found, and the
ε-pseudospectrum of the ``jac`` operator. Run from the repository root:

    python figures/spectra_page.py            # writes figures/spectra/*.png
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import torch

import rnndyn
from rnndyn.dynamics.jacobian import jacobian_operators
from rnndyn.dynamics.probes import make_probe
from rnndyn.plots.fixedpoints import point_spectra
from rnndyn.plots.spectra import spectrum

CKPT = "data/examples/gru_tomita4.pt"
OUT = Path(__file__).resolve().parent / "spectra"


def _save(fig, name: str) -> None:
    OUT.mkdir(exist_ok=True)
    fig.savefig(OUT / f"{name}.png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def _unit(ax) -> None:
    t = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(t), np.sin(t), "k--", lw=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")


def main() -> None:
    ckpt = rnndyn.load(CKPT)
    gates = rnndyn.eigendecompose(ckpt)
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    spectrum(gates, ax=ax)
    ax.set_title("gate blocks r, z, n of W_hh")
    _save(fig, "gate_blocks")

    net = rnndyn.dynamics.network.resolve_network(ckpt)
    probe = make_probe("task:tomita4", net.module, steps=100, seed=0, batch=32, path=CKPT)
    traj = rnndyn.simulate(net, probe.inputs, dtype=torch.float64)
    jac, jacfp = jacobian_operators(net, traj=traj, start=traj.inputs.shape[0] // 4)
    for op, name, title in (
        (jac, "jac", "jac: mean state Jacobian along the task's inputs"),
        (jacfp, "jacfp", "jacfp: Jacobian at the zero-input fixed point"),
    ):
        fig, ax = plt.subplots(figsize=(4.2, 4.0))
        spectrum(rnndyn.eigendecompose([op]), ax=ax)
        ax.set_title(title, fontsize=9)
        _save(fig, name)

    fps = rnndyn.find_fixed_points(ckpt, "zeros", n_inits=256)
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    point_spectra(fps, ax=ax)
    ax.set_title("Jacobians at every fixed point found (zero input)", fontsize=9)
    _save(fig, "fixed_points")

    # ε-pseudospectrum of jac: σ_min(zI − J) on a grid, contours at 10^-3 … 10^0
    w = np.asarray(jac.matrix, dtype=float)
    xs = np.linspace(-1.6, 1.6, 161)
    ys = np.linspace(-1.6, 1.6, 161)
    zz = xs[None, :] + 1j * ys[:, None]
    eye = np.eye(w.shape[0])
    smin = np.array([[np.linalg.svd(z * eye - w, compute_uv=False)[-1] for z in row] for row in zz])
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    cs = ax.contour(xs, ys, np.log10(smin), levels=[-3, -2, -1, 0], cmap="viridis")
    ax.clabel(cs, fmt=lambda v: f"ε=1e{int(v)}", fontsize=7)
    lam = np.linalg.eigvals(w)
    ax.plot(lam.real, lam.imag, "k.", ms=4)
    _unit(ax)
    ax.set_title("ε-pseudospectra of jac (σ_min(zI − J) = ε)", fontsize=9)
    _save(fig, "pseudospectrum")


if __name__ == "__main__":
    main()

"""A DSA-style similarity matrix of the bundled and flip-flop networks, with rotated-copy controls
(issue 28).

    python figures/similarity_matrix.py [--jobs 2]   # writes figures/gallery/similarity_matrix.png

Six networks: the three bundled examples, the flip-flop GRU (tests/data), and signed-permuted
copies of the tanh RNN and of the flip-flop GRU (``W' = P W Pᵀ``, inputs and read-out permuted to
match: the same networks in another basis, so their distance to the originals is the control that
must be ~0). Operators: DMD at the common rank 16 (the flip-flop GRU's state size) on 16 × 1000
steps of unit noise. Prints the matrix and the optimiser's convergence.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "figures" / "gallery" / "similarity_matrix.png"
NETS = [
    ROOT / "data" / "examples" / "gru_tomita4.pt",
    ROOT / "data" / "examples" / "lstm_sine.pt",
    ROOT / "data" / "examples" / "rnn_adding.pt",
    ROOT / "tests" / "data" / "gru_flipflop3.pt",
]


def permuted_copy(src: Path, dst: Path, n: int, seed: int) -> Path:
    import torch

    from rnndyn.dsa import rotate_state_dict, signed_permutation

    raw = torch.load(src, weights_only=True)
    sd = rotate_state_dict(raw["state_dict"], signed_permutation(n, seed))
    torch.save({"state_dict": sd, "rnndyn": raw.get("rnndyn", {})}, dst)
    return dst


def main() -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    import rnndyn
    from rnndyn.plots.modes import similarity_overview
    from rnndyn.plots.style import style_context

    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        copies = [
            permuted_copy(NETS[2], t / "rnn_adding_copy.pt", 32, 1),
            permuted_copy(NETS[3], t / "gru_flipflop3_copy.pt", 16, 2),
        ]
        res = rnndyn.similarity([*NETS, *copies], jobs=args.jobs)
    np.set_printoptions(precision=4, suppress=True, linewidth=140)
    print("networks:", ", ".join(res.names))
    print(res.distances)
    print(res.to_frame()[["a", "b", "angular", "converged", "grad_norm", "iterations"]])
    for note in res.notes:
        print("note:", note)
    with style_context():
        fig = similarity_overview(res, fig=None)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(OUT, dpi=150)
        plt.close(fig)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

"""README figure: the GRU trained on Tomita 4 (data/examples/gru_tomita4.pt): the gate blocks of
weight_hh (properties of the weight matrices) beside the state Jacobian at the fixed point (the
operator that sets the dynamics), each in its own panel, and |λ| of both.

python figures/readme_spectrum.py      # writes figures/readme_spectrum.png
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from rnndyn._util.atomic import atomic_write_bytes
from rnndyn.analysis import analyze
from rnndyn.plots.spectra import modulus_histogram, spectrum
from rnndyn.plots.style import FULL_WIDTH, style_context

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    import io

    import matplotlib.pyplot as plt

    spec = analyze(ROOT / "data/examples/gru_tomita4.pt", jacobian=True).spectrum
    gates = [s for s in spec if s.gate != "jac"]
    jac = [s for s in spec if s.gate == "jac"]
    with style_context():
        fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(FULL_WIDTH, 2.9), layout="constrained")
        spectrum(gates, ax=ax1, legend=False)
        ax1.set_title("gate blocks of weight_hh\n(weight-matrix properties, not memory)")
        spectrum(jac, ax=ax2, legend=False)
        ax2.set_title("state Jacobian at the fixed point\n(sets the dynamics)")
        modulus_histogram(spec, ax=ax3, legend=False)
        ax3.set_title("|λ| of each (discrete time)")
        h1, l1 = ax1.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        fig.legend(h1 + h2[1:], l1 + l2[1:], loc="outside lower center", ncols=5, markerscale=1.6)
        fig.suptitle("GRU trained on Tomita 4 (gru_tomita4.pt): eigenvalues λ per step")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=200)
        plt.close(fig)
    atomic_write_bytes(ROOT / "figures/readme_spectrum.png", buf.getvalue())


if __name__ == "__main__":
    main()

"""README figure: the GRU trained on Tomita 4 (data/examples/gru_tomita4.pt), gates in the complex plane.

python figures/readme_spectrum.py      # writes figures/readme_spectrum.png
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import rnndyn
from rnndyn._util.atomic import atomic_write_bytes
from rnndyn.plots.spectra import modulus_histogram, spectrum
from rnndyn.plots.style import FULL_WIDTH, style_context

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    import io

    import matplotlib.pyplot as plt

    spec = rnndyn.eigendecompose(
        rnndyn.extract_operators(rnndyn.load(ROOT / "data/examples/gru_tomita4.pt"))
    )
    with style_context():
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(FULL_WIDTH, 3.0), layout="constrained")
        spectrum(spec, ax=ax1)
        ax1.set_title("GRU on Tomita 4: gate blocks of weight_hh")
        modulus_histogram(spec, ax=ax2)
        ax2.set_title("|λ| per gate (discrete time)")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=200)
        plt.close(fig)
    atomic_write_bytes(ROOT / "figures/readme_spectrum.png", buf.getvalue())


if __name__ == "__main__":
    main()

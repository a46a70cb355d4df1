"""Shared command-line options: one definition and one help text per option.

Use them as parameter annotations, giving the default as usual::

    def analyze(json_: JsonFlag = False, out: OutFolder = None, force: ForceFlag = False): ...

Options whose meaning differs in a command (``bench --out`` is required and resumable) keep a
local ``typer.Option`` there; everything else comes from here so the help reads the same everywhere.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from rnndyn.naming import SEED_MAX

#: Every checkpoint format rnndyn reads, for the help of each command that reads checkpoints.
FORMATS_READ = (
    "Formats (detected from the bytes, not the name): PyTorch .pt/.pth/.ckpt (state dicts, "
    "Lightning), TorchScript, safetensors, NumPy .npy/.npz, pickled numpy arrays, ONNX, Keras "
    ".keras/.h5, Flax msgpack."
)

JsonFlag = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout (and nothing else there)."),
]
OutFolder = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Write tables (CSV, Parquet), JSON, figures and manifest.json to this folder.",
        metavar="FOLDER",
    ),
]
ForceFlag = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace rnndyn's own earlier outputs there (never files you added or edited).",
    ),
]
FigureFormats = Annotated[
    str,
    typer.Option(
        "--format",
        help="Figure formats for --out, comma-separated: pdf,png,svg.",
        metavar="FORMATS",
    ),
]
TrustPickle = Annotated[
    bool,
    typer.Option(
        "--trust-pickle",
        help="Allow full pickles: this runs code from the file; only for files you trust.",
    ),
]
Jobs = Annotated[
    int,
    typer.Option("--jobs", min=1, help="Worker processes (one torch thread each).", metavar="N"),
]
Cluster = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Run the jobs on Dask instead: local:N (N local workers) or tcp://HOST:PORT (a "
        "running scheduler); output folders must be on a filesystem every worker shares.",
        metavar="SPEC",
    ),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed",
        min=0,
        max=SEED_MAX,
        help="Random seed, 0 to 2^63-1; same seed, same result.",
        metavar="N",
    ),
]
Matrix = Annotated[
    str | None,
    typer.Option(
        "--matrix",
        help="Name of a square recurrent parameter to analyse (for custom modules).",
        metavar="NAME",
    ),
]
Layout = Annotated[
    str | None,
    typer.Option(
        "--layout",
        help="Read stacked recurrent matrices ((k·H)×H, e.g. --matrix enc_w_hh) as rnn, lstm or gru.",
        metavar="rnn|lstm|gru",
    ),
]
GateOrder = Annotated[
    str | None,
    typer.Option(
        "--gate-order",
        help="Stored order of the gate blocks, e.g. ifco (Keras LSTM), iofc (ONNX), zrh (GRU); "
        "default PyTorch's ifgo / rzn.",
        metavar="ORDER",
    ),
]
Jacobian = Annotated[
    bool,
    typer.Option(
        "--jacobian",
        help="Also the full state Jacobian at the zero-input fixed point (id l*.jacfp).",
    ),
]
Float64 = Annotated[
    bool,
    typer.Option("--float64", help="Simulate in float64 (slower; for near-unit or huge modes)."),
]


def finite(value: float | None) -> float | None:
    """Callback of every float option: NaN and ±inf are refused while parsing (exit 2)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(
            f"{value!r} is not a finite number (NaN and infinity are not allowed)"
        )
    return value


def _style_sheet(path: Path | None) -> Path | None:
    """Check a --style sheet while parsing, so a typo fails before any computation."""
    if path is not None:
        from rnndyn.errors import InvalidInputError
        from rnndyn.plots.style import read_style_sheet

        try:
            read_style_sheet(path)
        except InvalidInputError as err:
            raise typer.BadParameter(str(err)) from None
    return path


StyleSheet = Annotated[
    Path | None,
    typer.Option(
        "--style",
        help="A matplotlib style sheet (.mplstyle) applied on top of rnndyn's style to every figure.",
        metavar="FILE",
        callback=_style_sheet,
    ),
]

DEFAULT_FORMATS = "pdf,png"
Top = Annotated[
    int | None,
    typer.Option(
        "--top",
        min=1,
        metavar="K",
        help="Only the K eigenvalues of largest modulus per operator (Arnoldi), with residuals and "
        "conditions; statistics that need every eigenvalue are null. Automatic (K=64) for "
        "operators of size ≥ 4096 unless --full.",
    ),
]

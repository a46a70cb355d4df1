"""Shared fixtures: the CLI runner, the installed console script, planted checkpoints, Agg backend.

A test module may still define a fixture of the same name; its own one wins.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")  # before any test imports matplotlib: no windows
if os.environ.get("PYTEST_XDIST_WORKER"):  # `pytest -n N`: one BLAS/torch thread per worker
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    # xdist workers ignore SIGINT, and children inherit that: the Ctrl-C tests need it back
    signal.signal(signal.SIGINT, signal.default_int_handler)


def installed_command() -> list[str]:
    """How to run the installed ``rnndyn`` console script: the one beside this interpreter (the
    virtual environment under test), else the first on PATH. Fails if it is not installed, since
    the README's install step creates it."""
    here = Path(sys.executable).parent
    exe = shutil.which("rnndyn", path=str(here)) or shutil.which("rnndyn")
    if exe is None:
        pytest.fail("the rnndyn console script is not installed (pip install -e .)")
    return [exe]


@pytest.fixture
def rnndyn_command() -> list[str]:
    """``[path to the installed rnndyn]``, for subprocess tests of the real entry point."""
    return installed_command()


@pytest.fixture
def runner():
    """typer's CliRunner; ``res.stdout`` and ``res.stderr`` are kept apart."""
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def cli(runner):
    """``cli(*args)`` → the CliRunner result of ``rnndyn *args`` (arguments made strings)."""
    from rnndyn_cli.app import app

    def invoke(*args, **kwargs):
        return runner.invoke(
            app, [os.fspath(a) if isinstance(a, Path) else a for a in args], **kwargs
        )

    return invoke


@pytest.fixture
def planted_rnn(tmp_path):
    """``(path, eigenvalues)``: an rnndyn-metadata checkpoint of ``nn.RNN(2, 7)`` whose W_hh has
    exactly the eigenvalues 0.95, −0.4, 1.05, 0.6±0.6i, 0.1±0.3i (W = P·B·P⁻¹, P orthogonal)."""
    import numpy as np
    import torch
    from planted import planted

    w, eigs = planted([0.95, -0.4, 1.05], [0.6 + 0.6j, 0.1 + 0.3j], np.random.default_rng(7))
    m = torch.nn.RNN(2, 7)
    sd = {f"rnn.{k}": v for k, v in m.state_dict().items()}
    sd["rnn.weight_hh_l0"] = torch.tensor(w, dtype=torch.float32)
    path = tmp_path / "planted.pt"
    torch.save(
        {"state_dict": sd, "rnndyn": {"schema": "rnndyn.checkpoint/1", "task_kind": "regression"}},
        path,
    )
    return path, eigs


@pytest.fixture
def example_checkpoint() -> Path:
    """A bundled example checkpoint (a small trained LSTM)."""
    path = Path(__file__).resolve().parents[1] / "data" / "examples" / "lstm_sine.pt"
    assert path.is_file(), path
    return path

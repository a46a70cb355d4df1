"""Parallel eigendecomposition: operators decomposed at once, one BLAS thread each, same results."""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rnndyn import spectrum as spectrum_mod
from rnndyn.errors import RnndynWarning
from rnndyn.operators import extract_operators
from rnndyn.readers.checkpoint import Checkpoint
from rnndyn.spectrum import eigendecompose
from rnndyn_cli.app import app

FIELDS = ("eigenvalues", "eigenvectors", "eigenvalue_condition")
SCALARS = ("eigvec_condition", "departure_from_normality", "residual")


def lstm_operators():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 40, num_layers=2, bidirectional=True)
    tensors = {k: v.detach() for k, v in lstm.state_dict().items()}
    return extract_operators(Checkpoint("model.pt", "0" * 64, "torch-zip", tensors, {}))


def assert_identical(a, b):
    assert [s.qualified_id for s in a] == [s.qualified_id for s in b]
    for x, y in zip(a, b, strict=True):
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name)
        for name in SCALARS:
            assert getattr(x, name) == getattr(y, name), name


@pytest.mark.parametrize("jobs", [2, 3, None])
def test_parallel_results_are_identical_to_the_sequential_path(jobs):
    ops = lstm_operators()  # 2 layers × 2 directions × 4 gates = 16 operators
    assert len(ops) == 16
    sequential = eigendecompose(ops, jobs=1)
    assert_identical(eigendecompose(ops, jobs=jobs), sequential)
    quick = eigendecompose(ops, jobs=jobs, diagnostics=False)
    assert_eigenvalues = np.testing.assert_array_equal
    for x, y in zip(quick, eigendecompose(ops, jobs=1, diagnostics=False), strict=True):
        assert_eigenvalues(x.eigenvalues, y.eigenvalues)
        assert x.eigenvectors is None


def test_mixed_sizes_keep_their_order():
    rng = np.random.default_rng(1)
    mats = [rng.standard_normal((n, n)) for n in (5, 30, 5, 12)]
    ops = [spectrum_mod._from_matrices(m)[0] for m in mats]
    par = eigendecompose(ops, jobs=2)
    for m, s in zip(mats, par, strict=True):
        assert s.n == m.shape[0]
        np.testing.assert_allclose(
            np.sort_complex(s.eigenvalues), np.sort_complex(np.linalg.eigvals(m))
        )


def test_operators_run_concurrently_with_one_blas_thread_each(monkeypatch):
    """A barrier for two: if the operators ran one after another, the first would wait alone and
    the barrier would time out. Inside, every BLAS library must be limited to one thread."""
    from threadpoolctl import threadpool_info

    barrier = threading.Barrier(2, timeout=30)
    seen: list[tuple[str, set[int]]] = []
    real = spectrum_mod._one

    def spy(*args, **kwargs):
        barrier.wait()
        seen.append(
            (
                threading.current_thread().name,
                {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"},
            )
        )
        return real(*args, **kwargs)

    monkeypatch.setattr(spectrum_mod, "_one", spy)
    rng = np.random.default_rng(2)
    eigendecompose(rng.standard_normal((4, 20, 20)), jobs=2)
    assert len(seen) == 4
    assert all(name.startswith("rnndyn-eig") and threads == {1} for name, threads in seen), seen


def test_warnings_come_once_each_in_operator_order():
    jordan = np.eye(6) + np.diag(np.ones(5), 1)  # defective: κ(V) = ∞
    mats = np.stack([jordan, np.diag(np.arange(1.0, 7.0)), 0.5 * jordan, jordan.T])
    for jobs in (1, 3):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            eigendecompose(mats, jobs=jobs)
        ids = [str(w.message).split(":")[0] for w in caught if w.category is RnndynWarning]
        assert ids == ["operator l0.fwd.hh", "operator l2.fwd.hh", "operator l3.fwd.hh"], ids


def test_analyze_jobs_option_gives_the_same_document():
    example = Path(__file__).parents[1] / "data" / "examples" / "lstm_sine.pt"
    runner = CliRunner()
    docs = []
    for jobs in ("1", "2"):
        res = runner.invoke(app, ["analyze", str(example), "--json", "--jobs", jobs])
        assert res.exit_code == 0, res.output
        docs.append(json.loads(res.stdout))
    assert docs[0] == docs[1] and len(docs[0]["matrices"]) == 4
    res = runner.invoke(app, ["analyze", str(example), "--json", "--jobs", "0"])
    assert res.exit_code == 2

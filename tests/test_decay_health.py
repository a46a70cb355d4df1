"""Lyapunov convergence, float32 limits and the simulation health checks shared by every command
that simulates: overflowing states, NaN weights, impossible sizes — refused up front or computed
correctly in float64, never printed as a rate."""

import numpy as np
import pytest
import torch
from planted import planted
from typer.testing import CliRunner

from rnndyn.decay.measure import measure_decay
from rnndyn.errors import CheckpointError, InvalidInputError, SimulationError, UsageError
from rnndyn.readers.checkpoint import Checkpoint


def ckpt_of(tensors, **meta) -> Checkpoint:
    return Checkpoint("net.pt", "0" * 64, "torch-zip", dict(tensors), meta)


def nonnormal(seed: int) -> np.ndarray:
    """A contracting non-normal W: ρ = 0.95, ‖W‖₂ ≈ 3.6 (3.4–4.1 over the seeds)."""
    rng = np.random.default_rng(seed)
    real = [0.95, *rng.uniform(-0.9, 0.9, 5)]
    pairs = [0.93 * np.exp(1j * rng.uniform(0.3, 2.8)) for _ in range(5)]
    return planted(real, pairs, np.random.default_rng(seed), cond=7.3)[0]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_contracting_nonnormal_linear_net_top_exponent_is_ln_rho_at_defaults(seed):
    w = nonnormal(seed)
    assert np.abs(np.linalg.eigvals(w)).max() == pytest.approx(0.95)
    assert 3.3 < np.linalg.norm(w, 2) < 4.2
    ckpt = ckpt_of({"weight_ih_l0": torch.full((16, 1), 1e-6), "weight_hh_l0": torch.tensor(w)})
    res = measure_decay(ckpt, probe="noise", memory=False, modes=4)
    top = res.lyapunov_exponents[0]
    converged = res.lyapunov_converged
    assert abs(top - np.log(0.95)) <= 0.01 or not converged
    assert converged and abs(top - np.log(0.95)) <= 0.005  # at the defaults it does converge
    assert res.lyapunov[0].steps == 750  # 1000-step probe, a quarter warm-up


def test_short_window_is_flagged_not_converged():
    rng = np.random.default_rng(0)
    w = planted([1.2, 0.9], [1.1 * np.exp(0.5j), 0.8 * np.exp(2j)], rng, cond=3)[0]
    ckpt = ckpt_of({"weight_ih_l0": torch.ones(6, 1), "weight_hh_l0": torch.tensor(w)})
    res = measure_decay(ckpt, probe="noise:3", steps=10, length=24, memory=False)
    assert res.lyapunov_converged is False
    assert any("not converged" in n and "18-step window is shorter" in n for n in res.notes)
    doc = res.to_dict()["lyapunov"]
    assert doc["converged"] is False and False in doc["layers"][0]["converged"]


def relu_identity(scale: float) -> Checkpoint:
    rng = np.random.default_rng(0)
    sd = {
        "weight_ih_l0": torch.tensor(rng.standard_normal((8, 1)), dtype=torch.float32),
        "weight_hh_l0": scale * torch.eye(8),
    }
    return ckpt_of(sd, nonlinearity="relu")


@pytest.mark.parametrize(("scale", "length"), [(1000.0, 100), (3.0, 500)])
def test_huge_relu_states_are_computed_in_float64_or_refused(scale, length):
    """W = s·I, ReLU: once active, every unit grows by s per step — rate s, exponents ln s. Float32
    tangents would overflow (the old output: rate 9.86e-305, exponents −708 / −169)."""
    ckpt = relu_identity(scale)
    res = measure_decay(ckpt, probe="noise", steps=50, length=length, memory=False)
    md = res[0]
    np.testing.assert_allclose(md.measured_rate, scale, rtol=1e-9)
    np.testing.assert_allclose(md.whole_rate, scale, rtol=1e-9)
    np.testing.assert_allclose(res.lyapunov_exponents, np.log(scale), atol=1e-9)
    assert res.dtype == "float64" and any("float64 instead of float32" in n for n in res.notes)
    with pytest.raises(SimulationError, match=r"left the float64 range.*explodes"):
        measure_decay(ckpt, probe="noise", steps=50, length=2000, memory=False)


def test_vanishing_perturbations_are_never_printed_as_rates():
    """A ReLU net whose units all die: perturbations vanish exactly — null with the reason."""
    sd = {"weight_ih_l0": torch.zeros(4, 1), "weight_hh_l0": 0.5 * torch.eye(4)}
    ckpt = ckpt_of(sd, nonlinearity="relu")
    md = measure_decay(ckpt, probe="noise", steps=20, memory=False, lyapunov=False)[0]
    assert np.isnan(md.measured_rate).all() and np.isnan(md.whole_rate).all()
    assert all("vanished" in r for r in md.rate_reason)
    assert all("vanished" in r for r in md.whole_reason)


def test_nan_weights_are_blamed_not_the_probe():
    w = torch.randn(5, 5)
    w[2, 3] = float("nan")
    ckpt = ckpt_of({"rnn.weight_ih_l0": torch.randn(5, 1), "rnn.weight_hh_l0": w})
    with pytest.raises(CheckpointError, match=r"weights 'rnn.weight_hh_l0' \(5, 5\) hold 1 NaN"):
        measure_decay(ckpt, probe="noise", steps=10)


def test_impossible_sizes_are_refused_up_front_with_an_estimate(tmp_path):
    ckpt = relu_identity(0.5)
    for kw in ({"steps": 10**20}, {"steps": 10**8}, {"batch": 10**8, "steps": 10}):
        with pytest.raises(UsageError, match=r"would need about \S+ [GMT]iB of memory"):
            measure_decay(ckpt, probe="noise", **kw)
    with pytest.raises(UsageError, match="--seed must be between 0 and 2"):
        measure_decay(ckpt, seed=-1)
    huge = tmp_path / "huge.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1, 1), np.float32))
    header["shape"] = (100000, 100000, 2)
    with open(huge, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(b"\0" * 16)
    with pytest.raises(
        InvalidInputError, match=r"header claims shape \(100000, 100000, 2\).*74.5 GiB"
    ):
        measure_decay(ckpt, probe=str(huge), steps=10)


@pytest.fixture
def cli(tmp_path):
    from rnndyn_cli.app import app

    relu = tmp_path / "relu.pt"
    torch.save({"weight_ih_l0": torch.ones(4, 1), "weight_hh_l0": 0.5 * torch.eye(4)}, relu)
    nan = tmp_path / "nan.pt"
    w = torch.randn(4, 4)
    w[0, 1] = float("nan")
    torch.save({"weight_ih_l0": torch.ones(4, 1), "weight_hh_l0": w}, nan)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["decay", *map(str, args)]), relu, nan


def test_cli_exit_codes_for_sizes_and_bad_weights(cli, tmp_path):
    run, relu, nan = cli
    for args, code in [
        (["--steps", "99999999999999999999"], 2),
        (["--seed", "-1"], 2),
        (["--steps", "100000000"], 2),
        (["--batch", "100000000"], 2),
    ]:
        res = run(relu, *args)
        assert res.exit_code == code, (args, res.output)
        assert "Traceback" not in res.output and "MemoryError" not in res.output
    res = run(nan, "--steps", "10")
    assert res.exit_code == 4 and "weight_hh_l0" in res.output and "NaN" in res.output
    assert "probe" not in res.output.split("NaN")[0]


def test_convergence_rule_separates_drift_from_noise():
    from rnndyn.decay.lyapunov import LyapunovSpectrum

    rng = np.random.default_rng(0)
    drift = np.stack([np.full((8, 2), -0.05), np.full((8, 2), -0.08)])  # systematic: 0.03
    noisy = -0.06 + 0.05 * rng.standard_normal((2, 8, 2))  # no drift, large scatter
    per = drift.mean(0)
    assert not LyapunovSpectrum(0, "forward", 750, 250, per, drift).converged.any()
    assert LyapunovSpectrum(0, "forward", 750, 250, noisy.mean(0), noisy).converged.all()
    assert not LyapunovSpectrum(0, "forward", 60, 20, noisy.mean(0), noisy).converged.any()

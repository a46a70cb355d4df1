"""The fitter: recovers planted laws, records provenance, follows scikit-learn conventions."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch
from io_factories import rnndyn_checkpoint
from sklearn.base import clone
from torch import nn

from rnndyn.errors import InvalidInputError, UsageError
from rnndyn.init.fit import EigenInitFitter, fit_groups, fit_phase, fit_radius
from rnndyn.init.law import Dist, EigenInitParams, TargetLaw
from rnndyn.init.sample import eigen_, sample_eigenvalues

VM = Dist("vonmises", {"weights": [0.6, 0.4], "locs": [0.3, 2.2], "kappas": [8.0, 3.0]}, "phase")
BETA = Dist("beta", {"a": 3.0, "b": 1.5, "low": 0.0, "high": 1.1})


def planted(law: TargetLaw, n_nets: int = 12, n: int = 200, seed: int = 0) -> list[np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    return [sample_eigenvalues(law, n, generator=g) for _ in range(n_nets)]


@pytest.fixture(scope="module")
def fitted() -> EigenInitFitter:
    law = TargetLaw(BETA, VM, real_fraction=0.2, positive_fraction=0.7)
    return EigenInitFitter(min_separate=10_000).fit({"hh": planted(law)})


def test_recovers_a_planted_beta_and_von_mises_law(fitted):
    law, diag = fitted.params_.targets["hh"], fitted.params_.diagnostics["hh"]
    assert law.radius.family == "beta" and diag["radius"]["family"] == "beta"
    assert law.radius.params["a"] == pytest.approx(3.0, rel=0.15)
    assert law.radius.params["b"] == pytest.approx(1.5, rel=0.15)
    assert law.phase.family == "vonmises" and len(law.phase.params["weights"]) == 2
    order = np.argsort(law.phase.params["locs"])
    np.testing.assert_allclose(np.array(law.phase.params["locs"])[order], [0.3, 2.2], atol=0.1)
    np.testing.assert_allclose(np.array(law.phase.params["weights"])[order], [0.6, 0.4], atol=0.06)
    assert law.real_fraction == pytest.approx(0.2, abs=0.01)
    assert law.positive_fraction == pytest.approx(0.7, abs=0.08)
    assert law.real_radius is None  # min_separate not reached


def test_diagnostics_report_the_criterion_and_goodness_of_fit(fitted):
    diag = fitted.params_.diagnostics["hh"]
    for part in ("radius", "phase"):
        d = diag[part]
        bics = {c["family"]: c["bic"] for c in d["candidates"]}
        assert min(bics, key=bics.get) == d["family"] and d["criterion"] == "bic"
        assert "lowest BIC" in d["reason"] and d["ks_statistic"] < 0.05
    assert {c["family"] for c in diag["phase"]["candidates"]} >= {
        "uniform",
        "vonmises",
        "vonmises2",
    }
    assert diag["n_eigenvalues"] == 12 * 200 and diag["n_operators"] == 12


def test_ring_and_point_laws_are_recognised():
    ring = TargetLaw(Dist("ring", {"r_min": 0.5, "r_max": 0.95}), real_fraction=0.0)
    d, diag = fit_radius(np.abs(np.concatenate(planted(ring))), ("beta", "truncnorm", "ring"))
    assert d.family == "ring", diag["reason"]
    assert d.params["r_min"] == pytest.approx(0.5, abs=0.01)
    ortho = EigenInitFitter().fit({"hh": planted(EigenInitParams.orthogonal().targets["*"], 3, 9)})
    assert ortho.params_.targets["hh"].radius.family == "point"
    assert ortho.params_.targets["hh"].radius.params["value"] == pytest.approx(1.0)


def test_uniform_phases_choose_the_uniform_law():
    theta = np.random.default_rng(0).uniform(0, math.pi, 3000)
    d, diag = fit_phase(theta, ("uniform", "vonmises", "empirical"))
    assert d.family == "uniform", diag["reason"]


def test_real_moduli_get_their_own_law_when_numerous():
    law = TargetLaw(BETA, VM, real_fraction=0.5, real_radius=Dist("point", {"value": 0.25}))
    f = EigenInitFitter(min_separate=30).fit({"hh": planted(law, 4, 100)})
    rr = f.params_.targets["hh"].real_radius
    assert rr is not None and rr.family == "point" and rr.params["value"] == pytest.approx(0.25)


def save_ckpts(tmp_path, arch="lstm", kinds=("regression", "classification") * 2, hidden=8):
    paths = []
    for i, kind in enumerate(kinds):
        torch.manual_seed(i)
        module = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[arch](3, hidden)
        p = tmp_path / f"net{i}.pt"
        meta = {"arch": arch, "hidden_size": hidden, "task_kind": kind}
        torch.save(rnndyn_checkpoint(module.state_dict(), **meta), p)
        paths.append(p)
    return paths


def test_fit_from_checkpoints_records_provenance(tmp_path):
    paths = save_ckpts(tmp_path)
    f = EigenInitFitter(fit_biases=True).fit([str(p) for p in paths])
    prov = f.params_.provenance
    assert list(f.params_.targets) == ["i", "f", "g", "o"]
    assert prov["n_checkpoints"] == 4 and prov["n_operators"] == 16
    for entry, p in zip(prov["checkpoints"], paths, strict=True):
        assert entry["path"] == str(p)
        assert entry["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert prov["fitter"]["fit_biases"] is True and prov["seed"] == 0
    sd = [torch.load(p, weights_only=True)["state_dict"] for p in paths]
    b_f = np.concatenate([(s["bias_ih_l0"] + s["bias_hh_l0"])[8:16].double().numpy() for s in sd])
    assert f.params_.gate_biases["f"]["mean"] == pytest.approx(b_f.mean())
    back = EigenInitParams.load(f.params_.save(tmp_path / "law.json"))
    assert back == f.params_
    w = eigen_(
        torch.empty(4 * 5, 5), back, layout="lstm", generator=torch.Generator().manual_seed(0)
    )
    assert torch.isfinite(w).all()


def test_fit_groups_by_task_kind(tmp_path):
    groups = fit_groups(save_ckpts(tmp_path, "gru"), "task_kind")
    assert set(groups) == {"regression", "classification"}
    for g, f in groups.items():
        assert (
            f.params_.provenance["group"] == g and f.params_.provenance["group_by"] == "task_kind"
        )
        assert f.params_.provenance["n_checkpoints"] == 2 and list(f.params_.targets) == [
            "r",
            "z",
            "n",
        ]
    bare = tmp_path / "bare.pt"
    torch.save(nn.RNN(3, 4).state_dict(), bare)
    with pytest.raises(UsageError, match="task_kind") as err:
        fit_groups([bare], "task_kind")
    assert str(bare) in str(err.value) and err.value.exit_code == 2  # as compare --by


def test_scikit_learn_conventions_by_hand(tmp_path):
    import rnndyn.init.fit as fit_module

    assert not any(c.__module__.startswith("sklearn") for c in EigenInitFitter.__mro__)
    assert "sklearn" not in fit_module.__dict__
    f = EigenInitFitter(criterion="aic", seed=3, radius_families=("beta",))
    assert f.get_params()["criterion"] == "aic" and f.get_params()["radius_families"] == ("beta",)
    learned = lambda e: sorted(k for k in vars(e) if k.endswith("_") and not k.startswith("_"))  # noqa: E731
    assert learned(f) == []  # nothing learned before fit
    spectra = {"hh": planted(TargetLaw(BETA, VM), 2, 50)}
    assert f.fit(spectra) is f
    assert learned(f) == ["eigenvalues_", "n_sources_", "params_"]
    assert f.params_.diagnostics["hh"]["radius"]["criterion"] == "aic"
    g = clone(f).fit(spectra)  # scikit-learn's clone works through get_params alone
    assert g.params_ == f.params_ and learned(clone(f)) == []  # deterministic for a seed
    assert repr(f) == "EigenInitFitter(radius_families=('beta',), criterion='aic', seed=3)"
    assert f.set_params(seed=4) is f and f.seed == 4
    with pytest.raises(UsageError, match="no parameter 'sede'"):
        f.set_params(sede=1)


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        ([], UsageError, "nothing to fit"),
        ({"hh": [np.array([np.nan, 0.5])]}, InvalidInputError, "NaN"),
        ({"hh": [np.array([0.5 + 0.1j, 0.3])]}, InvalidInputError, "conjugation"),
        ({"q": [np.array([0.5])]}, UsageError, "unknown target"),
        ([3], TypeError, "cannot fit from int"),
    ],
)
def test_bad_inputs_are_refused(X, error, match):
    with pytest.raises(error, match=match):
        EigenInitFitter().fit(X)


@pytest.mark.parametrize(
    "kw",
    [
        {"criterion": "mdl"},
        {"radius_families": ("cauchy",)},
        {"max_components": 0},
        {"condition": 0.5},
        {"phase_families": ()},
        {"seed": -1},
        {"seed": 2**64},
    ],
)
def test_bad_parameters_are_usage_errors(kw):
    with pytest.raises(UsageError):
        EigenInitFitter(**kw).fit({"hh": [np.array([0.5, 0.2])]})


def test_corrupt_checkpoint_is_invalid_input(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InvalidInputError):
        EigenInitFitter().fit([bad])

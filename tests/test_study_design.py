"""The matched regression-vs-classification design: twin tasks, the pre-training family plan,
warnings for designs that cannot reach α, and design metadata in the study's records."""

import math

import pytest
import torch

import rnndyn.training.train
from rnndyn.errors import RnndynWarning, UsageError
from rnndyn.tasks import get_task
from rnndyn.tasks.twins import QUANTITIES, twin_name
from rnndyn.training.study import DESIGNS, plan, plan_family_for, regression_vs_classification

SMALL = {"n_train": 64, "n_val": 8, "n_test": 8}


def quantity_by_hand(name, u, params):
    """Each quantity recomputed with plain Python loops from the inputs ``u`` (one sequence)."""
    t = len(u)
    h = t // 2
    if name == "mean":
        return sum(u) / math.sqrt(t)
    if name == "recent":
        return sum(0.8 ** (t - 1 - i) * u[i] for i in range(t))
    if name == "delay":
        return u[t - 1 - params["k"]]
    if name == "halves":
        return sum(u[:h]) / h - sum(u[t - h :]) / h
    if name == "extremes":
        return max(u) + min(u)
    if name == "oscillation":
        return sum(u[i] * math.sin(2 * math.pi * i / params["period"]) for i in range(t))
    if name == "window":
        return sum(u[t - params["w"] :]) / math.sqrt(params["w"])
    return sum(x * x for x in u[t - h :]) - sum(x * x for x in u[:h])  # energy


@pytest.mark.parametrize("quantity", list(QUANTITIES))
def test_twins_share_inputs_and_ask_for_a_value_or_its_sign(quantity):
    reg, cls = (
        get_task(twin_name(quantity, "regression")),
        get_task(twin_name(quantity, "classification")),
    )
    a, b = reg.generate(3, **SMALL), cls.generate(3, **SMALL)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)
    for field in ("input_size", "seq_len", "readout"):
        assert getattr(reg.spec, field) == getattr(cls.spec, field)
    assert (reg.spec.loss, cls.spec.loss) == ("mse", "ce") and reg.spec.readout == "last"
    assert (
        a.y_train.shape == (64, 1) and b.y_train.shape == (64,) and b.y_train.dtype == torch.int64
    )
    params = dict(reg.params)
    for i in range(5):
        u = a.x_train[i, :, 0].double().tolist()
        q = quantity_by_hand(quantity, u, params)
        assert float(a.y_train[i, 0]) == pytest.approx(q / reg.scale(), rel=1e-4, abs=1e-5)
        assert int(b.y_train[i]) == int(q > 0)
    big = cls.generate(0, n_train=4000, n_val=8, n_test=8).y_train.double().mean()
    assert 0.46 < float(big) < 0.54  # q is symmetric about 0: balanced classes


def test_twins_start_from_identical_recurrent_weights(monkeypatch):
    seen = {}

    class Stop(Exception):
        pass

    def grab(model, *args, **kwargs):
        seen[len(seen)] = {k: v.clone() for k, v in model.rnn.state_dict().items()}
        raise Stop

    monkeypatch.setattr(rnndyn.training.train, "fit", grab)
    for kind in ("regression", "classification"):
        with pytest.raises(Stop):
            rnndyn.training.train.train(twin_name("delay", kind), "gru", hidden=6, seed=4)
    assert seen[0].keys() == seen[1].keys()
    assert all(torch.equal(seen[0][k], seen[1][k]) for k in seen[0])


def test_the_matched_design_has_eight_tasks_per_kind_in_twin_order():
    tasks = DESIGNS["matched"]
    assert len(tasks["classification"]) == len(tasks["regression"]) == 8
    jobs = plan(["rnn"], 16, tasks)
    by_seed = {}
    for j in jobs:
        by_seed.setdefault((j["task"].rsplit("_", 1)[0], j["seed"]), set()).add(j["kind"])
    assert all(kinds == {"regression", "classification"} for kinds in by_seed.values())


@pytest.mark.parametrize(
    ("archs", "per_group", "n_perm", "size", "floor", "reachable"),
    [
        (("rnn", "lstm", "gru"), 24, 12870, 165, 2 / math.comb(16, 8), True),
        (("rnn", "lstm", "gru"), 24, 999, 165, 1 / 1000, False),
        (("rnn",), 5, 252, 30, 2 / math.comb(10, 5), False),
        (("rnn",), 6, 924, 30, 2 / math.comb(12, 6), False),
        (("gru",), 8, 12870, 60, 2 / math.comb(16, 8), True),
        (("rnn",), 2, 6, 30, 2 / 6, False),
    ],
)
def test_family_plan_before_training(archs, per_group, n_perm, size, floor, reachable):
    fam = plan_family_for(archs, per_group, DESIGNS["matched"], n_perm)
    assert fam.size == size and fam.smallest_p == pytest.approx(floor)
    assert fam.smallest_adjusted == pytest.approx(min(1.0, size * floor))
    assert fam.reachable is reachable


def test_a_study_too_small_to_reach_alpha_warns_before_training(tmp_path):
    calls = []

    class Stop(Exception):
        pass

    def never(*args, **kwargs):
        calls.append(1)
        raise Stop  # the warning must come before any training

    warned = pytest.warns(RnndynWarning, match=r"--per-group 2: .*smallest attainable p is 0\.33")
    with warned, pytest.raises(Stop):
        regression_vs_classification(tmp_path / "s", archs=("rnn",), per_group=2, trainer=never)
    with pytest.raises(UsageError, match="at least 2"):
        regression_vs_classification(tmp_path / "t", archs=("rnn",), per_group=1)
    with pytest.raises(UsageError, match="unknown design"):
        regression_vs_classification(tmp_path / "u", design="bigger")
    assert len(calls) == 1

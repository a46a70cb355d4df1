"""The matched regression-vs-classification design: twin tasks, the pre-training family plan,
warnings for designs that cannot reach α, and design metadata in the study's records."""

import math

import pytest
import torch

import rnndyn.training.train
from rnndyn.errors import RnndynWarning, UsageError
from rnndyn.studies.regression_vs_classification import (
    DESIGNS,
    Settings,
    pairs_needed,
    plan,
    plan_family_for,
    regression_vs_classification,
    select_learned,
)
from rnndyn.tasks import get_task
from rnndyn.tasks.twins import PAIRED_STUDY, QUANTITIES, pair_of, twin_name

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
    if name == "energy":
        return sum(x * x for x in u[t - h :]) - sum(x * x for x in u[:h])
    if name == "parity":
        return u[-1] * u[-2]
    if name == "count":
        c = params["c"]
        return sum(1 for x in u[t - c :] if x > 0) - c / 2
    if name == "rank":
        return sum(1 for x in u if x <= u[-1]) - (t + 1) / 2
    if name == "peak":
        return u.index(max(u)) - (t - 1) / 2
    if name == "threshold":
        return sum(x for x in u if abs(x) > params["theta"])
    if name == "trend":
        ramp = [i - (t - 1) / 2 for i in range(t)]
        return sum(r * x for r, x in zip(ramp, u, strict=True)) / math.sqrt(
            sum(r * r for r in ramp)
        )
    if name == "alternating":
        return sum((-1) ** i * x for i, x in enumerate(u)) / math.sqrt(t)
    return abs(u[-1]) - abs(u[-2])  # magnitude


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
    assert pair_of("twin_delay_reg") == pair_of("twin_delay_cls") == "delay"
    assert pair_of("twin_delay") is None and pair_of("adding") is None
    assert all(torch.equal(seen[0][k], seen[1][k]) for k in seen[0])


def test_the_matched_design_has_eight_tasks_per_kind_in_twin_order():
    tasks = DESIGNS["matched"]
    assert len(tasks["classification"]) == len(tasks["regression"]) == 8
    jobs = plan(["rnn"], 16, tasks)
    by_seed = {}
    for j in jobs:
        by_seed.setdefault((j["task"].rsplit("_", 1)[0], j["seed"]), set()).add(j["kind"])
    assert all(kinds == {"regression", "classification"} for kinds in by_seed.values())


def test_the_paired_design_is_twelve_pairs_seed_major():
    tasks = DESIGNS["paired"]
    assert [pair_of(t) for t in tasks["regression"]] == list(PAIRED_STUDY)
    assert [pair_of(t) for t in tasks["classification"]] == list(PAIRED_STUDY)
    assert len(PAIRED_STUDY) == 12 and set(PAIRED_STUDY) <= set(QUANTITIES)
    jobs = plan(["rnn", "gru"], 36, tasks)
    assert len(jobs) == 2 * 2 * 36 == len({j["id"] for j in jobs})
    seeds = [j["seed"] for j in jobs]
    assert seeds == sorted(seeds)  # every seed 0 first: an interrupted run holds whole seeds
    first = jobs[: 2 * 2 * 12]
    assert {(j["arch"], j["task"]) for j in first} == {
        (a, t) for a in ("rnn", "gru") for ts in tasks.values() for t in ts
    }


def _record(arch, q, kind, seed, test):
    metric = "nrmse" if kind == "regression" else "accuracy"
    return {
        "arch": arch,
        "task": twin_name(q, kind),
        "kind": kind,
        "seed": seed,
        "metric": metric,
        "test": test,
    }


def test_learned_networks_and_pairs_are_selected_by_the_fixed_criterion():
    runs = []
    for s in range(3):
        runs += [
            _record("rnn", "mean", "regression", s, 0.2),
            _record("rnn", "mean", "classification", s, 0.9),
        ]
        # delay: the classification twin learned in one seed of three -> the pair is out
        runs += [_record("rnn", "delay", "regression", s, 0.3)]
        runs += [_record("rnn", "delay", "classification", s, 0.9 if s == 0 else 0.6)]
        # window: one regression seed failed -> that network is out, the pair stays
        runs += [_record("rnn", "window", "regression", s, 0.9 if s == 2 else 0.5)]
        runs += [_record("rnn", "window", "classification", s, 0.8)]
    runs.append(_record("rnn", "recent", "regression", 0, float("nan")))
    used, excluded = select_learned(runs, (0.7, 0.75), 2, paired=True)
    used_tasks = {(r["task"], r["seed"]) for r in used}
    assert ("twin_window_reg", 2) not in used_tasks and ("twin_window_reg", 0) in used_tasks
    assert not any(r["task"].startswith("twin_delay") for r in used)
    why = {(e["task"], e["why"]): e["n"] for e in excluded}
    assert why[("twin_delay_cls", "task not learned")] == 3
    assert why[("twin_delay_reg", "its twin was not learned")] == 3
    assert why[("twin_window_reg", "network did not learn")] == 1
    assert why[("twin_recent_reg", "task not learned")] == 1
    assert len(used) == 6 + 5
    every, none = select_learned(runs, None, 2, paired=True)
    assert len(every) == len(runs) and none == []


@pytest.mark.parametrize(("m", "alpha", "n"), [(1, 0.05, 6), (3, 0.05, 7), (165, 0.05, 13)])
def test_pairs_needed_is_the_smallest_n_with_m_times_the_floor_below_alpha(m, alpha, n):
    assert pairs_needed(m, alpha) == n
    assert m * 2 / 2**n < alpha <= m * 2 / 2 ** (n - 1)


def test_paired_family_plan_before_training():
    fam = plan_family_for(
        ("rnn", "lstm", "gru"),
        36,
        DESIGNS["paired"],
        4096,
        paired=True,
        primary=("spectral_radius@jac",),
    )
    assert fam.size == 3 and fam.smallest_p == pytest.approx(2 / 2**12)
    assert fam.best_case_adjusted == pytest.approx(3 * 2 / 2**12) and fam.reachable
    gates = plan_family_for(
        ("rnn", "lstm", "gru"),
        36,
        DESIGNS["paired"],
        4096,
        paired=True,
        primary=("spectral_radius@jac", "spectral_radius@f", "spectral_radius@hh"),
    )
    assert gates.size == 3 + 1 + 1  # f only in the LSTM, hh only in the RNN
    with pytest.raises(UsageError, match="unknown"):
        plan_family_for(("rnn",), 36, DESIGNS["paired"], 4096, paired=True, primary=("rho",))


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
    fam = plan_family_for(archs, per_group, DESIGNS["matched"], n_perm)  # unpaired, one family
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
    small = Settings(design="matched", archs=("rnn",), per_group=2)
    with warned, pytest.raises(Stop):
        regression_vs_classification(tmp_path / "s", small, trainer=never)
    with pytest.raises(UsageError, match="at least 2"):
        regression_vs_classification(tmp_path / "t", Settings(archs=("rnn",), per_group=1))
    with pytest.raises(UsageError, match="unknown design"):
        regression_vs_classification(tmp_path / "u", Settings(design="bigger"))
    with pytest.raises(UsageError, match="primary statistic 'rho' is unknown"):
        regression_vs_classification(tmp_path / "v", Settings(primary=("rho",)), trainer=never)
    paired_small = Settings(archs=("rnn",), seeds=1, per_group=3)  # 3 pairs: 2/8 > 0.05
    with pytest.warns(RnndynWarning, match="no test can reach"), pytest.raises(Stop):
        regression_vs_classification(tmp_path / "w", paired_small, trainer=never)
    assert len(calls) == 2

"""Task generators against their definitions: grammars, closed-form baselines, exact recurrences."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch

from rnndyn.errors import UsageError
from rnndyn.tasks import get_task, list_tasks, task_names
from rnndyn.tasks.base import cross_entropy
from rnndyn.tasks.memory import COPY_LENGTH, COPY_SYMBOLS
from rnndyn.tasks.series import mackey_glass, narma10
from rnndyn.tasks.tomita import accepts

SMALL = {"n_train": 40, "n_val": 10, "n_test": 20}
# Weiss et al.'s regex for the complement of Tomita 3, used here as an independent oracle.
NOT_TOMITA3 = re.compile("((0|1)*0)*1(11)*(0(0|1)*1)*0(00)*(1(0|1)*)*$")


def _runs(s: str) -> list[tuple[str, int]]:
    return [(ch, len(list(g))) for ch, g in itertools.groupby(s)]


def _tomita3(s: str) -> bool:
    runs = _runs(s)
    for i, (ch, n) in enumerate(runs):
        if ch == "1" and n % 2 == 1 and any(c == "0" and m % 2 for c, m in runs[i + 1 :]):
            return False
    return True


DEFINITIONS = {
    1: lambda s: re.fullmatch("1*", s) is not None,
    2: lambda s: re.fullmatch("(10)*", s) is not None,
    3: _tomita3,
    4: lambda s: "000" not in s,
    5: lambda s: s.count("0") % 2 == 0 and s.count("1") % 2 == 0,
    6: lambda s: (s.count("0") - s.count("1")) % 3 == 0,
    7: lambda s: re.fullmatch("0*1*0*1*", s) is not None,
}


def _all_strings(max_len: int) -> list[str]:
    return ["".join(b) for n in range(max_len + 1) for b in itertools.product("01", repeat=n)]


def _decode(x: torch.Tensor) -> list[str]:
    sym = x.argmax(-1).numpy()
    return ["".join("01"[c] for c in row if c < 2) for row in sym]


@pytest.mark.parametrize("grammar", range(1, 8))
def test_tomita_dfa_matches_definition_up_to_length_8(grammar):
    strings = _all_strings(8)
    padded = np.full((len(strings), 8), -1)
    for i, s in enumerate(strings):
        padded[i, 8 - len(s) :] = [int(c) for c in s]
    got = accepts(grammar, padded)
    want = np.array([DEFINITIONS[grammar](s) for s in strings])
    assert (got == want).all(), [s for s, g, w in zip(strings, got, want, strict=True) if g != w][
        :5
    ]
    if grammar == 3:
        assert all(want[i] == (NOT_TOMITA3.match(s) is None) for i, s in enumerate(strings))


@pytest.mark.parametrize("grammar", range(1, 8))
def test_tomita_data_balanced_labelled_and_left_padded(grammar):
    task = get_task(f"tomita{grammar}", T=12)
    data = task.generate(3, n_train=301, n_val=10, n_test=200)
    assert data.y_train.dtype == torch.int64 and data.y_train.sum() == 150  # exact balance
    for x, y, lo, hi in [
        (data.x_train, data.y_train, 1, 12),
        (*data.extra_tests["test_long"], 13, 24),
    ]:
        assert x.shape[1:] == (hi, 3) and x.dtype == torch.float32
        strings = _decode(x)
        assert all(lo <= len(s) <= hi for s in strings)
        assert [DEFINITIONS[grammar](s) for s in strings] == y.bool().tolist()
        pad = x[..., 2].bool()
        assert not pad[:, -1].any()  # the readout step always holds a symbol
        assert (pad.int().diff(dim=1) <= 0).all()  # padding only on the left
        pos = {len(s) for s, lab in zip(strings, y.tolist(), strict=True) if lab}
        neg = {len(s) for s, lab in zip(strings, y.tolist(), strict=True) if not lab}
        assert pos == neg  # one length distribution for both classes


def test_same_seed_same_data_for_every_task():
    for name in task_names():
        task = get_task(name)
        a, b, c = task.generate(5, **SMALL), task.generate(5, **SMALL), task.generate(6, **SMALL)
        for f in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
            assert torch.equal(getattr(a, f), getattr(b, f)), (name, f)
        assert not torch.equal(a.x_train, c.x_train), name
        spec = task.spec
        assert a.x_train.shape[1:] == (spec.seq_len, spec.input_size), name
        assert torch.isfinite(a.x_train).all() and a.x_train.dtype == torch.float32


def test_test_split_does_not_depend_on_train_size():
    task = get_task("adding", T=20)
    a = task.generate(0, n_train=10, n_val=5, n_test=7)
    b = task.generate(0, n_train=99, n_val=5, n_test=7)
    assert torch.equal(a.x_test, b.x_test) and not torch.equal(a.x_train[:10], b.x_train[:10])


def test_adding_baseline_is_one_sixth_on_generated_data():
    task = get_task("adding", T=30)
    data = task.generate(0, n_train=1, n_val=1, n_test=40000)
    assert task.evaluate(torch.ones_like(data.y_test), data.y_test) == pytest.approx(
        1 / 6, abs=0.006
    )
    assert task.spec.baseline == pytest.approx(1 / 6)
    markers = data.x_test[..., 1]
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :15].sum(1) == 1).all()  # one marker in each half
    want = (data.x_test[..., 0] * markers).sum(1, keepdim=True)
    torch.testing.assert_close(data.y_test, want)


@pytest.mark.parametrize("T", [1, 30, 200])
def test_copy_layout_and_baseline_formula(T):
    task = get_task("copy", T=T)
    data = task.generate(0, n_train=1, n_val=1, n_test=64)
    x, y = data.x_test, data.y_test
    assert x.shape == (64, T + 20, COPY_SYMBOLS + 2) and y.shape == (64, T + 20)
    tokens = x.argmax(-1)
    assert (tokens[:, T + 9] == COPY_SYMBOLS + 1).all()  # delimiter
    assert torch.equal(y[:, T + 10 :], tokens[:, :10]) and (y[:, : T + 10] == 0).all()
    # the memoryless strategy: blanks, then uniform over the 8 symbols once the delimiter is seen
    logits = torch.full((64, T + 20, COPY_SYMBOLS + 1), -1e9)
    logits[:, : T + 10, 0] = 0.0
    logits[:, T + 10 :, 1:] = 0.0
    want = COPY_LENGTH * math.log(COPY_SYMBOLS) / (T + 2 * COPY_LENGTH)
    assert cross_entropy(logits, y) == pytest.approx(want, rel=1e-9)
    # the metric: accuracy over the recalled symbols only (blanks right everywhere scores 0)
    blanks = torch.nn.functional.one_hot(torch.zeros_like(y), COPY_SYMBOLS + 1).float()
    assert task.evaluate(blanks, y) == 0.0
    perfect = torch.nn.functional.one_hot(y, COPY_SYMBOLS + 1).float()
    assert task.evaluate(perfect, y) == 1.0
    half = y.clone()
    half[:, T + 10 : T + 15] = 0  # the first 5 of the 10 recalled symbols missed
    assert task.evaluate(torch.nn.functional.one_hot(half, COPY_SYMBOLS + 1).float(), y) == 0.5
    assert task.spec.baseline == pytest.approx(1 / COPY_SYMBOLS)
    assert (task.spec.kind, task.spec.metric, task.spec.higher_is_better) == (
        "classification",
        "recall_accuracy",
        True,
    )


def test_parity_targets_are_running_xor():
    task = get_task("parity", T=17)
    data = task.generate(1, **SMALL)
    bits = data.x_train[..., 0].long()
    want = torch.tensor([[sum(row[: t + 1]) % 2 for t in range(17)] for row in bits.tolist()])
    assert torch.equal(data.y_train, want)
    assert data.extra_tests["test_long"][0].shape[1] == 34


def test_digits_and_fixed_permutation():
    plain, perm = get_task("digits"), get_task("digits_perm")
    a, b = plain.generate(2), perm.generate(2)
    assert a.x_train.shape == (1197, 64, 1) and set(a.y_train.tolist()) == set(range(10))
    assert a.x_train.min() >= 0.0 and a.x_train.max() <= 1.0
    # one permutation, the same for every data seed: find it from the first images
    order = np.random.default_rng(0).permutation(64)
    assert torch.equal(b.x_train, a.x_train[:, order]) and torch.equal(b.y_train, a.y_train)
    c = perm.generate(3)
    assert not torch.equal(c.y_train, b.y_train)
    with pytest.raises(UsageError, match="exceeds"):
        plain.generate(0, n_train=1797)


def test_sine_mixture_obeys_its_linear_recurrence():
    periods = (7.0, 13.0)
    task = get_task("sine", T=60, periods="7,13")
    x = task.generate(0, **SMALL).x_test[..., 0].double()
    # characteristic polynomial Π (z² − 2 cos ω z + 1) annihilates every mixture of these sines
    poly = np.array([1.0])
    for p in periods:
        poly = np.convolve(poly, [1.0, -2 * math.cos(2 * math.pi / p), 1.0])
    resid = sum(poly[k] * x[:, 4 - k : 60 - k] for k in range(5))
    assert resid.abs().max() < 1e-5
    data = task.generate(0, **SMALL)
    assert torch.equal(data.y_test[:, :-1], data.x_test[:, 1:])


def test_mackey_glass_solves_the_delay_equation_and_is_bounded():
    rng = np.random.default_rng(0)
    s = mackey_glass(rng, 4, 600, step=0.1)  # every integration step
    dxdt = (s[:, 2:] - s[:, :-2]) / 0.2
    lag = 170
    x, xd = s[:, lag + 1 : -1], s[:, 1 : -1 - lag]
    rhs = 0.2 * xd / (1 + xd**10) - 0.1 * x
    assert np.abs(dxdt[:, lag:] - rhs).max() < 1e-3
    assert s.min() > 0.2 and s.max() < 1.5 and s.std() > 0.1
    task = get_task("mackey_glass", T=50)
    a, b = task.generate(1, **SMALL), task.generate(1, **SMALL)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_test[:, :-1], a.x_test[:, 1:])


def test_narma10_targets_follow_the_recurrence():
    u, y, bad = narma10(np.random.default_rng(0), 50, 80)
    ok = ~bad
    u, y = u[ok], y[ok]  # y[:, t] = y_{t+1}
    for t in range(10, 80):
        rhs = 0.3 * y[:, t - 1] + 0.05 * y[:, t - 1] * y[:, t - 10 : t].sum(1)
        rhs += 1.5 * u[:, t - 9] * u[:, t] + 0.1
        np.testing.assert_allclose(y[:, t], rhs, rtol=1e-12)
    data = get_task("narma10", T=80).generate(0, n_train=500, n_val=1, n_test=1)
    assert torch.isfinite(data.y_train).all() and data.y_train.abs().max() < (2 - 0.39) / 0.11


def test_metrics_closed_forms():
    task = get_task("sine", T=20)
    y = task.generate(0, **SMALL).y_test
    assert task.evaluate(torch.full_like(y, float(y.mean())), y) == pytest.approx(1.0)
    assert task.evaluate(y, y) == 0.0
    tom = get_task("tomita1", T=8)
    labels = torch.tensor([0, 1, 1, 0])
    assert tom.evaluate(torch.nn.functional.one_hot(labels, 2).float(), labels) == 1.0


def test_registry_and_bad_parameters():
    specs = list_tasks()
    assert [s.name for s in specs] == task_names()
    assert len([s for s in specs if not s.name.startswith("twin_")]) == 16
    assert {s.kind for s in specs} == {"regression", "classification"}
    assert get_task("copy").spec.kind == "classification"  # labels, cross-entropy
    assert get_task("adding", T="200").spec.seq_len == 200  # CLI strings are coerced
    with pytest.raises(UsageError, match=r"tomita4.*adding"):
        get_task("nope")
    with pytest.raises(UsageError, match=r"unknown task 'flip-flop' \(did you mean 'flipflop'\?\)"):
        get_task("flip-flop")
    with pytest.raises(UsageError, match=r"did you mean 'tomita4'"):
        get_task("tomitta4")
    with pytest.raises(UsageError, match="valid parameters: T"):
        get_task("adding", tau=3)
    for bad in ({"T": 0}, {"T": "x"}, {"T": 2.5}, {"T": "2.5"}, {"T": "inf"}):
        with pytest.raises(UsageError):
            get_task("adding", **bad)
    with pytest.raises(UsageError):
        get_task("tomita2", T=1)
    with pytest.raises(UsageError, match="too long"):
        get_task("tomita3", T=501)
    assert (
        get_task("tomita3", T=500).generate(0, n_train=4, n_val=2, n_test=2).x_test.shape[1] == 500
    )
    with pytest.raises(UsageError, match="non-negative"):
        get_task("parity").generate(-1)
    with pytest.raises(UsageError, match="n_train"):
        get_task("parity").generate(0, n_train=0)
    with pytest.raises(UsageError, match="GiB"):
        get_task("adding", T=10**8).generate(0)

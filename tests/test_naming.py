"""The vocabulary module: gate lists, operator ids built and parsed the same way everywhere."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from io_factories import make_state_dict
from torch import nn

from rnndyn import naming
from rnndyn.naming import OperatorId, operator_id, parse_operator_id


def test_gates_follow_pytorch_stacking_order():
    # PyTorch documents weight_hh_l0 as (W_hi|W_hf|W_hg|W_ho) and (W_hr|W_hz|W_hn)
    assert naming.GATES == {"rnn": ("hh",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
    for arch, cls in (("lstm", nn.LSTM), ("gru", nn.GRU), ("rnn", nn.RNN)):
        assert cls(2, 5).weight_hh_l0.shape[0] == 5 * len(naming.GATES[arch])
    assert naming.TARGETS == ("hh", "i", "f", "g", "o", "r", "z", "n")


@given(
    st.integers(0, 999_999),
    st.sampled_from(naming.DIRECTIONS),
    st.sampled_from(naming.OPERATOR_GATES),
    st.sampled_from(["", "rnn", "encoder.lstm", "a_b.c0"]),
)
def test_build_parse_round_trip(layer, direction, gate, module):
    text = operator_id(layer, direction, gate, module)
    parsed = parse_operator_id(text)
    assert parsed == OperatorId(layer, direction, gate, module)
    assert parsed.qualified == text and operator_id(layer, direction, gate) == parsed.id
    assert parsed.is_jacobian == (gate in ("jac", "jacfp"))


def test_vanilla_gate_none_is_hh():
    assert operator_id(0, "forward", None) == "l0.fwd.hh"
    assert operator_id(2, "reverse", "jacfp") == "l2.rev.jacfp"


@pytest.mark.parametrize(
    "junk",
    ["", "l0", "l0.fwd", "l0.fwd.q", "l-1.fwd.hh", "l01.fwd.hh", "L0.fwd.hh", "l0.forward.hh",
     "l0.fwd.hh.x", " l0.fwd.hh", ":l0.fwd.hh", "l0.fwd.HH", "l1234567.fwd.hh", "l0.fwd.jacf"],
)  # fmt: skip
def test_junk_is_refused_naming_the_form(junk):
    with pytest.raises(ValueError, match="not an operator id"):
        parse_operator_id(junk)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((-1, "forward", "hh"), "layer"),
        ((0, "fwd", "hh"), "direction"),
        ((0, "forward", "x"), "gate"),
    ],
)
def test_build_refuses_bad_parts(args, match):
    with pytest.raises(ValueError, match=match):
        operator_id(*args)


def test_every_catalogue_id_parses(tmp_path):
    """Ids made by operators, spectra, Jacobians and the decay catalogue all parse back."""
    from rnndyn.decay.measure import operator_ids
    from rnndyn.dynamics.jacobian import jacobian_operators
    from rnndyn.operators import extract_operators, find_modules
    from rnndyn.readers.checkpoint import load
    from rnndyn.spectrum import eigendecompose

    seen = set()
    for arch in ("lstm", "gru", "rnn"):
        p = tmp_path / f"{arch}.pt"
        sd = make_state_dict(arch, num_layers=2, bidirectional=True)
        torch.save(sd, p)
        ckpt = load(p)
        ops = extract_operators(ckpt)
        jac = jacobian_operators(ckpt, kinds=("fixed_point",))
        mod = find_modules(ckpt)[0]
        catalogue = operator_ids(mod)
        ids = [o.id for o in ops] + [s.id for s in eigendecompose(ops)] + [o.id for o in jac]
        assert set(ids) <= set(catalogue)
        for text in catalogue:
            parsed = parse_operator_id(text)
            assert parsed.id == text and parsed.layer in (0, 1)
            seen.add(parsed.gate)
        for o in ops:
            assert parse_operator_id(o.qualified_id) == o.identity  # one identity, one grammar
    assert seen == set(naming.OPERATOR_GATES)


def test_one_identity_one_gate_convention():
    vanilla = OperatorId(0, "forward", None, "m", "rnn")  # None is accepted, stored as hh
    assert vanilla.gate == "hh" and vanilla.kind == "weight" and vanilla.schema_gate is None
    assert vanilla == parse_operator_id(
        "m:l0.fwd.hh"
    )  # arch labels the identity, is not part of it
    assert vanilla.qualified_id == vanilla.qualified == "m:l0.fwd.hh"
    fp = OperatorId(1, "reverse", "jacfp")
    assert (fp.kind, fp.schema_gate, fp.is_jacobian, fp.qualified_id) == (
        "fixed_point",
        "jac",
        True,
        "l1.rev.jacfp",
    )
    assert OperatorId(0, "forward", "z").schema_gate == "z"
    for bad in ((0, "sideways", "hh"), (-1, "forward", "hh"), (0, "forward", "q")):
        with pytest.raises(ValueError):
            OperatorId(*bad)

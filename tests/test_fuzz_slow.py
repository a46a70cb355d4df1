"""Long fuzz runs of the checkpoint loaders and the law reader (hypothesis), in the slow set:
whatever the bytes, the only outcome besides success is an RnndynError naming the file."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from io_factories import make_lstm_state_dict, write_safetensors, write_torch_state_dict
from test_init_law import JUNK, _paths, fitted_like, write

import rnndyn
from rnndyn.errors import InvalidInputError, RnndynError
from rnndyn.init.law import EigenInitParams

pytestmark = pytest.mark.slow
SOURCES: dict[str, bytes] = {}  # built once, so every example mutates the same bytes


@pytest.fixture(scope="module", autouse=True)
def _sources(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sources")
    sd = make_lstm_state_dict()
    SOURCES["zip"] = write_torch_state_dict(tmp / "a.pt", sd).read_bytes()
    SOURCES["legacy"] = write_torch_state_dict(tmp / "b.pt", sd, legacy=True).read_bytes()
    SOURCES["safetensors"] = write_safetensors(tmp / "c.st", sd).read_bytes()


LONG = settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@LONG
@given(data=st.data())
def test_any_mutation_of_a_checkpoint_is_success_or_an_rnndyn_error(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("fuzz")
    writer = data.draw(st.sampled_from(sorted(SOURCES)))
    blob = bytearray(SOURCES[writer])
    for _ in range(data.draw(st.integers(1, 6))):
        if not blob:
            break
        op = data.draw(st.sampled_from(["flip", "cut", "splice"]))
        at = data.draw(st.integers(0, len(blob) - 1))
        if op == "flip":
            blob[at] = data.draw(st.integers(0, 255))
        elif op == "cut":
            blob = blob[: max(at, 1)]
        else:
            blob[at : at + data.draw(st.integers(1, 64))] = data.draw(st.binary(max_size=64))
    target = tmp / "mutant.bin"
    target.write_bytes(bytes(blob))
    try:
        rnndyn.load(target)
    except RnndynError as err:
        assert str(err).startswith(f"{target}: ")


@LONG
@given(data=st.data())
def test_any_corruption_of_a_law_file_is_an_invalid_input_error(tmp_path_factory, data):
    doc = fitted_like().to_dict()
    for _ in range(data.draw(st.integers(1, 5))):
        path = data.draw(st.sampled_from([p for p in _paths(doc) if p]))
        node = doc
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = data.draw(JUNK)
    p = write(tmp_path_factory.mktemp("law"), json.dumps(doc))
    try:
        EigenInitParams.load(p)
    except InvalidInputError as err:
        assert str(p) in str(err)

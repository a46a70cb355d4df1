"""The eigen law: validation, exact save/load round trips, and strict refusal of bad files."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnndyn.errors import InvalidInputError, UsageError
from rnndyn.init.law import SCHEMA, Dist, EigenInitParams, LawError, TargetLaw


def fitted_like() -> EigenInitParams:
    """A law with every feature: per-gate targets, all families, biases, provenance, diagnostics."""
    vm = Dist(
        "vonmises", {"weights": [0.25, 0.75], "locs": [0.1, 2.9], "kappas": [3.5, 40.0]}, "phase"
    )
    targets = {
        "i": TargetLaw(
            Dist("beta", {"a": 2.5, "b": 1.0 / 3.0, "low": 0.0, "high": 1.0999999}),
            vm,
            real_fraction=0.1,
            positive_fraction=0.8,
            real_radius=Dist("ring", {"r_min": 0.1, "r_max": 0.97}),
        ),
        "f": TargetLaw(Dist("truncnorm", {"mu": 0.9, "sigma": 0.05, "low": 0.0, "high": 1.2})),
        "g": TargetLaw(
            Dist("empirical", {"quantiles": [0.01, 0.2, 0.5, 0.93]}),
            Dist("empirical", {"quantiles": [0.0, 1e-3, 3.0]}, "phase"),
        ),
        "o": TargetLaw(
            Dist("point", {"value": 0.5}),
            Dist("point", {"value": math.pi}, "phase"),
            real_fraction=1.0,
        ),
    }
    return EigenInitParams(
        targets,
        condition=3.0,
        gate_biases={"f": {"mean": 1.0, "std": 0.25}},
        name="t",
        description="a test law",
        provenance={
            "checkpoints": [{"path": "a.pt", "sha256": "0" * 64}],
            "n_checkpoints": 1,
            "group": "regression",
        },
        diagnostics={"i": {"radius": {"family": "beta", "ks_statistic": 0.0123456789}}},
    )


LAWS = [
    EigenInitParams.orthogonal(),
    EigenInitParams.irnn(0.9),
    EigenInitParams.lru_ring(0.4, 0.99, 3.0),
    fitted_like(),
]


@pytest.mark.parametrize("law", LAWS, ids=lambda p: p.name)
def test_save_load_round_trip_is_exact(tmp_path, law):
    path = law.save(tmp_path / "law.json")
    back = EigenInitParams.load(path)
    assert back == law
    assert back.to_dict() == law.to_dict()
    assert list(back.targets) == list(law.targets)  # canonical target order survives sorted JSON
    back.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


def test_file_is_strict_human_readable_json(tmp_path):
    text = fitted_like().save(tmp_path / "law.json").read_text()
    assert "\n  " in text and "NaN" not in text and "Infinity" not in text
    doc = json.loads(text)
    assert doc["schema"] == SCHEMA == "rnndyn.eigen-init/1"
    assert doc["targets"]["i"]["phase"]["family"] == "vonmises"
    assert doc["basis"] == {"kind": "haar", "condition": 3.0}
    assert doc["provenance"]["checkpoints"][0]["sha256"] == "0" * 64


def test_targets_are_put_in_canonical_order():
    law = TargetLaw(Dist("point", {"value": 1.0}))
    assert list(EigenInitParams({"o": law, "i": law, "f": law}).targets) == ["i", "f", "o"]


def write(tmp_path, text: str | bytes, name: str = "law.json"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def good_doc() -> dict:
    return EigenInitParams.lru_ring(0.5, 0.9, 1.0).to_dict()


BAD_TEXTS = {
    "nan": ('"a": 0.5', '"a": NaN', "NaN"),
    "infinity": ('"r_max": 0.9', '"r_max": Infinity', "Infinity"),
    "minus_infinity": ('"r_min": 0.5', '"r_min": -Infinity', "Infinity"),
    "overflow": ('"r_max": 0.9', '"r_max": 1e400', "too large"),
    "huge_int": ('"r_max": 0.9', '"r_max": ' + "9" * 5000, "digits"),
    "truncated": (None, None, "not valid JSON"),
}


@pytest.mark.parametrize("case", BAD_TEXTS)
def test_non_strict_json_is_refused_naming_the_file(tmp_path, case):
    old, new, match = BAD_TEXTS[case]
    text = json.dumps(good_doc(), indent=1)
    text = text[: len(text) // 2] if old is None else text.replace(old, new)
    if old == '"a": 0.5':
        text = json.dumps(fitted_like().to_dict()).replace('"a": 2.5', '"a": NaN')
    p = write(tmp_path, text)
    with pytest.raises(InvalidInputError, match=match) as err:
        EigenInitParams.load(p)
    assert str(p) in str(err.value) and err.value.exit_code == 4


def test_future_schema_version_is_refused(tmp_path):
    doc = good_doc() | {"schema": "rnndyn.eigen-init/2", "new_field": 1}
    with pytest.raises(InvalidInputError, match=r"version 2 is newer.*upgrade rnndyn"):
        EigenInitParams.load(write(tmp_path, json.dumps(doc)))


@pytest.mark.parametrize("schema", ["rnndyn.analysis/1", None, 3, "rnndyn.eigen-init/0"])
def test_foreign_schema_is_refused(tmp_path, schema):
    doc = good_doc() | {"schema": schema}
    with pytest.raises(InvalidInputError, match="schema"):
        EigenInitParams.load(write(tmp_path, json.dumps(doc)))


def test_pickle_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    p = write(tmp_path, pickle.dumps(Payload()), "law.pkl")
    with pytest.raises(InvalidInputError, match=r"not (UTF-8|valid JSON)"):
        EigenInitParams.load(p)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "not valid JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
        (b"PK\x03\x04torch zip", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a":' * 20 + b"1" + b"}" * 20, "nested too deeply"),
        (b'{"schema": "rnndyn.eigen-init/1", "schema": "x"}', "repeated key"),
        (b"[1, 2, 3]", "top level must be a JSON object"),
    ],
)
def test_garbage_is_refused(tmp_path, content, match):
    with pytest.raises(InvalidInputError, match=match):
        EigenInitParams.load(write(tmp_path, content))


def test_oversized_missing_and_folder_paths_are_refused(tmp_path):
    big = write(tmp_path, b" " * (4 << 20) + b"{}")
    with pytest.raises(InvalidInputError, match="larger than 4 MiB"):
        EigenInitParams.load(big)
    with pytest.raises(InvalidInputError, match="does not exist"):
        EigenInitParams.load(tmp_path / "nope.json")
    with pytest.raises(InvalidInputError, match="folder"):
        EigenInitParams.load(tmp_path)


def mutate(path: list, value):
    doc = good_doc()
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (["targets", "*", "radius", "r_max"], 0.1, "r_min must be < r_max"),
        (["targets", "*", "radius", "r_max"], True, "must be a number"),
        (["targets", "*", "radius", "r_max"], "0.9", "must be a number"),
        (["targets", "*", "radius", "r_max"], 1e300, "outside"),
        (["targets", "*", "radius", "family"], "cauchy", "unknown radius family"),
        (["targets", "*", "phase", "high"], 7.0, "outside"),
        (["targets", "*", "real_fraction"], 1.5, "outside"),
        (["targets", "*", "extra"], 1, "unknown field"),
        (["targets", "x"], good_doc()["targets"]["*"], "unknown target"),
        (["targets"], {}, "targets is empty"),
        (["basis", "kind"], "householder", "basis must be"),
        (["basis", "condition"], 0.5, "outside"),
        (["gate_biases"], {"q": {"mean": 0, "std": 1}}, "unknown gate"),
        (["provenance"], [1, 2], "object or null"),
        (["unexpected"], 1, "unknown field"),
    ],
)
def test_invalid_fields_are_refused_with_the_reason(tmp_path, path, value, match):
    with pytest.raises(InvalidInputError, match=match):
        EigenInitParams.load(write(tmp_path, json.dumps(mutate(path, value))))


def test_constructors_validate():
    with pytest.raises(LawError, match="weights must sum to 1"):
        Dist("vonmises", {"weights": [0.5, 0.6], "locs": [0, 1], "kappas": [1, 1]}, "phase")
    with pytest.raises(LawError, match="quantiles must increase"):
        Dist("empirical", {"quantiles": [0.1, 0.1, 0.3]})
    with pytest.raises(LawError, match="takes exactly"):
        Dist("beta", {"a": 1.0, "b": 1.0})
    with pytest.raises(LawError, match="identity basis"):
        EigenInitParams(
            {"hh": TargetLaw(Dist("point", {"value": 1.0}))}, basis="identity", condition=2
        )
    with pytest.raises(LawError, match="not plain finite JSON"):
        EigenInitParams.irnn().__class__(
            {"hh": TargetLaw(Dist("point", {"value": 1.0}))}, diagnostics={"x": float("nan")}
        )


def test_law_for_falls_back_to_star_and_names_missing_targets():
    law = fitted_like()
    assert law.law_for("f") is law.targets["f"]
    with pytest.raises(UsageError, match=r"no target 'z'.*i, f, g, o"):
        law.law_for("z")
    star = EigenInitParams.orthogonal()
    assert star.law_for("z") is star.targets["*"]


DISTS = [d for t in fitted_like().targets.values() for d in (t.radius, t.phase)]


@pytest.mark.parametrize("law", DISTS, ids=lambda d: f"{d.kind}-{d.family}")
def test_quantile_cdf_and_pdf_agree(law):
    u = np.linspace(0.01, 0.99, 41)
    x = law.ppf(u)
    assert np.all(np.diff(x) >= -1e-12)
    if law.family == "point":
        assert np.all(x == law.params["value"]) and np.all(law.cdf(x) == 1)
        return
    tol = 2e-3 if law.family == "vonmises" else 1e-9
    np.testing.assert_allclose(law.cdf(x), u, atol=tol)
    mid = law.ppf(np.linspace(0.05, 0.95, 19) + 0.013)  # avoid the empirical law's knots
    h = 1e-7
    slope = (law.cdf(mid + h) - law.cdf(mid - h)) / (2 * h)
    np.testing.assert_allclose(law.pdf(mid), slope, rtol=1e-3)


def test_uniform_phase_law_is_folded_onto_zero_pi():
    d = Dist("uniform", {"low": 0.0, "high": 2 * math.pi}, "phase")
    x = np.linspace(0, math.pi, 7)
    np.testing.assert_allclose(d.cdf(x), x / math.pi, atol=1e-12)
    np.testing.assert_allclose(d.pdf(x[:-1]), 1 / math.pi)


def test_law_figures_take_the_law_and_trained_data():
    """The overview's layout is tested in test_plots_init.py; here: the law's own API feeds it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnndyn.plots.init import law_overview, radius_law, sampled_spectrum

    fig = law_overview(fitted_like(), {"i": np.array([0.5 + 0.5j, 0.5 - 0.5j, -0.2])})
    assert len(fig.axes) >= 3
    plt.close(fig)
    data = {"hh": np.array([0.9, 0.5 + 0.1j, 0.5 - 0.1j])}
    ax = radius_law(EigenInitParams.orthogonal(), data={"*": data["hh"]})
    assert any(p.get_gid() == "trained-*" for p in ax.patches) and ax.get_xlim()[1] >= 1.0
    plt.close(ax.figure)
    ax = sampled_spectrum({"hh": data["hh"]})
    assert ax.get_xlabel().startswith("Re λ")
    plt.close(ax.figure)


def _paths(x, p=()):
    yield p
    children = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else ()
    for k, v in children:
        yield from _paths(v, (*p, k))


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_corruption_is_an_invalid_input_error(tmp_path, data):
    doc = fitted_like().to_dict()
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from([p for p in _paths(doc) if p]))
        node = doc
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = data.draw(JUNK)
    p = write(tmp_path, json.dumps(doc))
    try:
        EigenInitParams.load(p)
    except InvalidInputError as err:
        assert str(p) in str(err)
        assert not isinstance(err.__context__, TypeError | KeyError)  # not the safety net

"""DSA-style distances: invariance to an orthogonal change of basis, symmetry, a brute-force
optimum on O(2), networks and their rotated copies, agreement with ``dsa-metric``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnndyn.dsa import (
    procrustes,
    random_rotation,
    rotate_state_dict,
    signed_permutation,
    similarity,
)
from rnndyn.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
RNN = ROOT / "data" / "examples" / "rnn_adding.pt"
GRU = ROOT / "data" / "examples" / "gru_tomita4.pt"


def _random_ops(rng, k, n):
    return rng.standard_normal((k, n, n)) / np.sqrt(n)


def test_rotated_copy_of_an_operator_is_at_distance_zero():
    rng = np.random.default_rng(0)
    a = _random_ops(rng, 4, 10)  # non-normal
    q = np.stack([random_rotation(10, s) for s in range(4)])
    q[1] = q[1] @ np.diag([1.0] * 9 + [-1.0])  # a reflection too (det −1)
    b = q @ a @ q.transpose(0, 2, 1)
    res = procrustes(a, b)
    assert res.angular.max() <= 1e-3 and res.euclidean.max() <= 1e-3
    assert res.converged.all()
    np.testing.assert_allclose(
        res.rotations @ res.rotations.transpose(0, 2, 1), np.eye(10)[None].repeat(4, 0), atol=1e-10
    )


def test_distance_is_scale_free_symmetric_and_nonzero_for_different_dynamics():
    rng = np.random.default_rng(1)
    a, b = _random_ops(rng, 2, 6)
    ab = procrustes(a, 3.0 * b)
    ba = procrustes(b, a)
    assert abs(ab.angular[0] - ba.angular[0]) < 1e-4
    assert ab.angular[0] > 0.1


def test_two_by_two_matches_a_brute_force_search_over_o2():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 2, 2))
    an, bn = a / np.linalg.norm(a), b / np.linalg.norm(b)
    theta = np.linspace(0, 2 * np.pi, 400_001)
    c, s = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (K, 2, 2)
    ref = np.stack([np.stack([c, s], -1), np.stack([s, -c], -1)], -2)  # reflections
    grid = np.concatenate([rot, ref])
    best = float(np.max(np.sum(an * (grid @ bn @ grid.transpose(0, 2, 1)), axis=(1, 2))))
    res = procrustes(a, b)
    assert abs(res.angular[0] - np.arccos(best)) < 1e-5


def test_bad_operator_shapes_are_usage_errors():
    with pytest.raises(UsageError):
        procrustes(np.eye(3), np.eye(4))
    with pytest.raises(UsageError):
        procrustes(np.full((3, 3), np.nan), np.eye(3))


def _save_copy(src: Path, dst: Path, q: np.ndarray) -> Path:
    raw = torch.load(src, weights_only=True)
    sd = rotate_state_dict(raw["state_dict"], q)
    torch.save({"state_dict": sd, "rnndyn": raw.get("rnndyn", {})}, dst)
    return dst


@pytest.mark.parametrize(
    "src", [RNN, GRU, ROOT / "data" / "examples" / "lstm_sine.pt"], ids=["rnn", "gru", "lstm"]
)
def test_rotate_state_dict_gives_the_same_network_in_the_new_basis(tmp_path, src):
    import rnndyn

    ckpt = rnndyn.load(src)
    n = rnndyn.dynamics.resolve_network(ckpt).module.hidden_size
    d = rnndyn.dynamics.resolve_network(ckpt).module.input_size
    q = signed_permutation(n, seed=3)
    copy = _save_copy(src, tmp_path / "copy.pt", q)
    x = np.random.default_rng(0).standard_normal((2, 50, d)).astype(np.float32)
    h = rnndyn.simulate(ckpt, x, dtype=torch.float64).hidden[0, 0]
    h2 = rnndyn.simulate(rnndyn.load(copy), x, dtype=torch.float64).hidden[0, 0]
    np.testing.assert_allclose(h2, h @ q.T, atol=1e-6)


@pytest.mark.parametrize("from_", ["trajectories", "jacobian"])
def test_network_and_its_signed_permuted_copy(tmp_path, from_):
    copy = _save_copy(RNN, tmp_path / "rnn_copy.pt", signed_permutation(32, seed=4))
    # 2 starts per component (the eigenbasis alignment among them): copies need no search
    res = similarity([RNN, copy, GRU], from_=from_, length=300, batch=8, restarts=2)
    d = res.distances
    assert d[0, 1] <= 1e-3
    assert np.allclose(np.diag(d), 0) and np.allclose(d, d.T)
    assert d[0, 2] > 0.1 and abs(d[0, 2] - d[1, 2]) < 0.02  # the copy sees GRU as the original does
    doc = json.loads(json.dumps(res.to_dict()))
    assert doc["schema"] == "rnndyn.similarity/1" and len(doc["pairs"]) == 3


def test_general_rotation_of_a_linear_regime_network(tmp_path):
    rng = np.random.default_rng(5)
    m = torch.nn.RNN(2, 8)
    sd = {f"rnn.{k}": torch.zeros_like(v) for k, v in m.state_dict().items()}
    sd["rnn.weight_hh_l0"] = torch.tensor(0.3 * rng.standard_normal((8, 8)))
    sd["rnn.weight_ih_l0"] = torch.tensor(rng.standard_normal((8, 2)))
    net = tmp_path / "lin.pt"
    torch.save({"state_dict": sd}, net)
    copy = _save_copy(net, tmp_path / "lin_rot.pt", random_rotation(8, seed=6))
    res = similarity([net, copy], from_="jacobian", probe="noise:0.001", length=200, batch=4)
    assert res.distances[0, 1] <= 1e-3


def test_operators_of_different_sizes_need_a_common_rank(tmp_path):
    with pytest.raises(UsageError, match="rank"):
        similarity([RNN, ROOT / "tests" / "data" / "gru_flipflop3.pt"], from_="jacobian", length=50)


@pytest.mark.slow
def test_rank_agreement_with_dsa_metric():
    """10 pairs of 5 × 5 operators. ``dsa-metric`` optimises once from the identity (and once
    more with two rows swapped); on a non-convex landscape that can end in a worse local optimum
    than ours (seen: 0.604 where we find 0.499), which alone breaks a rank correlation. So: our
    distance is never worse than its single run; and where its run is worse, ``dsa-metric``
    itself is restarted (B rotated by a random orthogonal Q, which leaves the distance unchanged,
    up to 4 times): the Spearman correlation with those best-of values is ≥ 0.95 (measured
    0.83 against the single runs; on one pair even 4 restarts stop at 0.629 where we find 0.538).
    ~3–8 minutes on a busy 2-core box."""
    dsa = pytest.importorskip("DSA")
    from scipy.stats import spearmanr

    from rnndyn.dsa.orthogonal import one_thread

    rng = np.random.default_rng(7)
    base = _random_ops(rng, 1, 5)[0]
    ops = [base + eps * rng.standard_normal((5, 5)) for eps in (0.0, 0.2, 0.4, 0.8, 1.6)]
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]  # 10 pairs
    ours = procrustes(np.stack([ops[i] for i, _ in pairs]), np.stack([ops[j] for _, j in pairs]))

    def theirs(a, b):
        sim = dsa.SimilarityTransformDist(iters=1500, score_method="angular", device="cpu")
        return float(sim.fit_score(a, b))

    with one_thread():
        single = np.array([theirs(ops[i], ops[j]) for i, j in pairs])
        best = single.copy()
        for p, (i, j) in enumerate(pairs):
            for s in range(4):
                if best[p] <= ours.angular[p] + 1e-3:
                    break
                q = random_rotation(5, seed=s)
                best[p] = min(best[p], theirs(ops[i], q @ ops[j] @ q.T))
    assert np.all(ours.angular <= single + 1e-3)  # never a worse optimum
    assert spearmanr(ours.angular, best).statistic >= 0.95


def test_cli_similarity_json_and_out(cli, tmp_path):
    out = tmp_path / "sim"
    res = cli(
        "similarity",
        RNN,
        GRU,
        *("--from", "jacobian", "--length", "200", "--restarts", "1", "--max-iter", "100"),
        *("--json", "--out", out),
    )
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["schema"] == "rnndyn.similarity/1"
    assert len(doc["distances"]) == 2 and doc["distances"][0][1] > 0
    assert (out / "similarity.png").is_file() and (out / "pairs.csv").is_file()


def test_pairs_on_a_cluster_give_the_local_result(monkeypatch):
    """``cluster=``: the pairs go to ``rnndyn.parallel``'s Dask runner in batches (here a fake
    runner that answers out of order, in this process) and come back in pair order, equal to
    the local run (pair p always starts from seed + p)."""
    import rnndyn.parallel as par
    from rnndyn.dsa.orthogonal import pairwise

    calls = []

    def fake_dask(fn, args, on_result, spec):
        calls.append((spec, [len(a[0]) for a in args]))
        for i, a in reversed(list(enumerate(args))):
            on_result(i, fn(*a))

    monkeypatch.setattr(par, "_run_dask", fake_dask)
    ops = list(_random_ops(np.random.default_rng(8), 3, 5))
    pairs, here = pairwise(ops, seed=3)
    _, remote = pairwise(ops, seed=3, cluster="tcp://127.0.0.1:8786")
    _, two = pairwise(ops, seed=3, jobs=2)
    assert calls == [("tcp://127.0.0.1:8786", [1] * 3)]  # one pair per job on a scheduler
    for other in (remote, two):
        np.testing.assert_array_equal(other.angular, here.angular)
        np.testing.assert_array_equal(other.iterations, here.iterations)
    assert len(pairs) == 3 and here.converged.all()


def test_cli_similarity_bad_cluster_is_a_usage_error(cli, tmp_path):
    res = cli("similarity", RNN, GRU, "--cluster", "local:0", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "local:N" in res.stderr and res.stdout == ""
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_similarity_on_a_real_dask_cluster(tmp_path):
    pytest.importorskip("distributed")
    copy = _save_copy(RNN, tmp_path / "rnn_copy.pt", signed_permutation(32, seed=4))
    kw = {"from_": "jacobian", "length": 100, "batch": 4}
    here = similarity([RNN, copy, GRU], **kw)
    there = similarity([RNN, copy, GRU], cluster="local:1", **kw)
    np.testing.assert_array_equal(there.distances, here.distances)


def test_cli_similarity_needs_two_networks(cli):
    res = cli("similarity", RNN)
    assert res.exit_code == 2 and "two" in res.stderr and res.stdout == ""


def _tiny(path: Path, arch: str, seed: int, hidden: int = 6) -> Path:
    """A small random one-layer network (``arch`` rnn or gru) with a read-out."""
    torch.manual_seed(seed)
    m = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU}[arch](2, hidden, batch_first=True)
    sd = {f"rnn.{k}": v.detach().double() * 1.5 for k, v in m.state_dict().items()}
    sd["readout.weight"] = torch.randn(1, hidden, dtype=torch.float64)
    sd["readout.bias"] = torch.zeros(1, dtype=torch.float64)
    torch.save({"state_dict": sd}, path)
    return path


def test_compare_tests_groups_on_the_similarity_matrix(tmp_path):
    """Two groups of 3 networks (a small tanh RNN, a small GRU, each with two signed-permuted
    copies, i.e. the same network): within-group distances ≈ 0, so the true labeling is the most
    extreme of the 20 and the exact p-value is the floor 1/20 · 2."""
    from rnndyn.compare import compare_spectra

    groups: dict[str, list[Path]] = {}
    for name in ("rnn", "gru"):
        src = _tiny(tmp_path / f"{name}0.pt", name, seed=len(name) + (name == "gru"))
        groups[name] = [src] + [
            _save_copy(src, tmp_path / f"{name}{s}.pt", signed_permutation(6, s)) for s in (1, 2)
        ]
    res = compare_spectra(groups=groups, distance="similarity", n_bootstrap=50)
    dyn = [d for d in res.distances if d.operator == "dynamics"]
    assert len(dyn) == 1 and not [d for d in res.distances if d.operator != "dynamics"]
    (d,) = dyn
    assert d.distance > 0.3  # between ≈ GRU–RNN distance, within ≈ 0 (copies)
    assert d.exact and d.n_permutations == 20 and abs(d.p_value - 0.1) < 1e-12  # the floor
    assert res.family.size == len(res.tests) + 1
    assert res.settings["distance"] == "similarity"


@pytest.mark.slow
def test_compare_on_the_similarity_matrix_of_trained_networks(tmp_path):
    """The same design on the bundled 32-unit RNN and GRU (rank-32 operators; ~30 s)."""
    from rnndyn.compare import compare_spectra

    groups = {"rnn": [RNN], "gru": [GRU]}
    for name, src in (("rnn", RNN), ("gru", GRU)):
        n = 32
        for s in (1, 2):
            groups[name].append(
                _save_copy(src, tmp_path / f"{name}{s}.pt", signed_permutation(n, s))
            )
    res = compare_spectra(groups=groups, distance="similarity", n_bootstrap=50)
    dyn = [d for d in res.distances if d.operator == "dynamics"]
    assert len(dyn) == 1 and not [d for d in res.distances if d.operator != "dynamics"]
    (d,) = dyn
    assert d.distance > 0.5  # between ≈ GRU–RNN distance, within ≈ 0 (copies)
    assert d.exact and d.n_permutations == 20 and abs(d.p_value - 0.1) < 1e-12  # the floor
    assert res.family.size == len(res.tests) + 1
    assert res.settings["distance"] == "similarity"

"""Spectra across training: snapshots, eigenvalue following, the track document."""

import numpy as np
import pytest
import torch

from rnndyn.analysis import analyze
from rnndyn.errors import InvalidInputError, UsageError
from rnndyn.spectrum import eigendecompose
from rnndyn.training.track import follow, track
from rnndyn.training.train import train


def planted_matrix(reals, pairs, q):
    """``Q B Qᵀ`` with ``B`` block-diagonal: the given real eigenvalues and conjugate pairs."""
    n = len(reals) + 2 * len(pairs)
    b = np.zeros((n, n))
    for i, r in enumerate(reals):
        b[i, i] = r
    k = len(reals)
    for z in pairs:
        b[k : k + 2, k : k + 2] = [[z.real, -z.imag], [z.imag, z.real]]
        k += 2
    return q @ b @ q.T


def planted_paths(c):
    """Slowly moving eigenvalues whose modulus order changes along the way (``c`` checkpoints).

    No two paths meet: two real eigenvalues passing through one another cannot be told apart by
    position, and assignment on ``|Δλ|`` then swaps them (a documented limitation)."""
    t = np.linspace(0, 1, c)
    reals = np.stack([0.9 - 0.6 * t, -0.3 - 0.5 * t, 0.1 + 0.05 * t], axis=1)
    pairs = np.stack(
        [(0.5 + 0.45 * t) * np.exp(1j * (1.0 - 0.3 * t)), 0.7 * np.exp(1j * (2.5 - 1.0 * t))],
        axis=1,
    )
    return reals, pairs


def test_assignment_follows_planted_slowly_moving_eigenvalues():
    c = 21
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((7, 7)))
    reals, pairs = planted_paths(c)
    mats = np.stack([planted_matrix(reals[i], pairs[i], q) for i in range(c)])
    spectra = [s.eigenvalues for s in eigendecompose(mats, diagnostics=False)]
    tracks = follow(spectra)
    truth = np.concatenate([reals, pairs, pairs.conj()], axis=1).astype(complex)
    for j in range(truth.shape[1]):  # each planted path is exactly one followed column
        err = np.abs(tracks - truth[:, [j]]).max(axis=0)
        assert err.min() < 1e-10
    # the test can fail: rnndyn's per-checkpoint (modulus) order alone does not follow the paths
    naive = np.stack(spectra)
    assert max(np.abs(naive - truth[:, [j]]).max(axis=0).min() for j in range(7)) > 0.1


def test_conjugate_pairs_stay_mirror_images_through_a_collision_on_the_real_axis():
    # a pair 0.5 ± 0.2i moves onto the axis and splits into two reals, beside a fixed real 0.9
    c = 31
    t = np.linspace(-1, 1, c)
    spectra = []
    for s in t:
        if s < 0:
            ev = [0.9, 0.5 + 0.2j * -s, 0.5 - 0.2j * -s]
        else:
            ev = [0.9, 0.5 + 0.2 * s, 0.5 - 0.2 * s]
        spectra.append(
            np.asarray(ev, complex)[np.random.default_rng(int(s * 100) + 200).permutation(3)]
        )
    tracks = follow(spectra)
    steps = np.abs(np.diff(tracks, axis=0)).max()
    assert steps < 0.02  # no jumps
    j = np.argmax(tracks[0].imag)
    k = np.argmin(tracks[0].imag)
    half = c // 2
    np.testing.assert_allclose(tracks[:half, j], np.conj(tracks[:half, k]))


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("snaps")
    result = train(
        "flipflop",
        "rnn",
        hidden=6,
        epochs=3,
        init="orthogonal",
        seed=4,
        task_params={"T": 20},
        save_every=1,
        snapshots=folder,
    )
    return folder, result


def test_snapshots_are_weights_only_checkpoints_with_epoch_and_metrics(snapshots):
    folder, result = snapshots
    files = sorted(folder.glob("epoch_*.pt"))
    assert [f.name for f in files][:2] == ["epoch_0000.pt", "epoch_0001.pt"]
    assert len(files) == len(result.history) + 1
    for k, f in enumerate(files):
        block = torch.load(f, weights_only=True)["rnndyn"]
        assert block["epoch"] == k and block["task"] == "flipflop"
        if k:
            assert block["metrics"]["val_loss"] == pytest.approx(result.history[k - 1]["val_loss"])


def test_epoch_zero_spectrum_is_the_initial_orthogonal_weights_on_the_unit_circle(snapshots):
    folder, _ = snapshots
    files = sorted(folder.glob("epoch_*.pt"))
    res = track(list(reversed(files)))  # any order in, epoch order out
    assert [c["epoch"] for c in res.checkpoints] == list(range(len(files)))
    op = res["l0.fwd.hh"]
    np.testing.assert_allclose(np.abs(op.eigenvalues[0]), 1.0, atol=1e-6)
    assert op.spectral_radius[0] == pytest.approx(1.0, abs=1e-6)
    ref = analyze(files[0]).spectrum["l0.fwd.hh"].eigenvalues
    np.testing.assert_allclose(np.sort_complex(op.eigenvalues[0]), np.sort_complex(ref), atol=1e-12)
    # independent route: the initial weights rebuilt from the seed, as `train` draws them
    from rnndyn.init import apply_
    from rnndyn.training.model import SequenceModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        model = SequenceModel("rnn", 3, 6, 3, readout="every")
    apply_(model.rnn, "orthogonal", generator=torch.Generator().manual_seed(4))
    w0 = model.rnn.weight_hh_l0.detach().double().numpy()
    np.testing.assert_allclose(
        np.sort_complex(op.eigenvalues[0]), np.sort_complex(np.linalg.eigvals(w0)), atol=1e-6
    )
    doc = res.to_dict()
    assert doc["schema"] == "rnndyn.track/1"
    first = doc["checkpoints"][0]
    assert {"path", "sha256", "epoch", "metrics", "operators"} <= set(first)
    assert {"id", "spectral_radius", "eigenvalues"} <= set(first["operators"][0])


def test_track_refuses_mixed_epochs_and_different_networks(snapshots, tmp_path):
    folder, result = snapshots
    files = sorted(folder.glob("epoch_*.pt"))
    from rnndyn.readers.rnndyn_format import save_checkpoint

    plain = tmp_path / "plain.pt"
    save_checkpoint(plain, result.model, {k: v for k, v in result.meta.items() if k != "epoch"})
    with pytest.raises(UsageError, match="epoch"):
        track([files[0], plain])
    other = train("flipflop", "rnn", hidden=4, epochs=1, task_params={"T": 5})
    path = tmp_path / "other.pt"
    save_checkpoint(path, other.model, dict(other.meta, epoch=7))
    with pytest.raises(InvalidInputError, match=r"other\.pt"):
        track([files[0], path])


def test_float32_orthogonal_snapshots_have_nothing_above_one(tmp_path):
    """|λ| = 1 within rounding: nothing counts above a threshold of 1, nothing outside, and no
    finite timescale; a planted 1.001 in float32 still counts."""
    paths = []
    for epoch, extra in enumerate((None, 1.001)):
        torch.manual_seed(epoch)
        w = torch.empty(64, 64)
        torch.nn.init.orthogonal_(w)
        if extra is not None:  # one eigenvalue scaled out to 1.001 (normal: Q diag Qᵀ)
            q = torch.linalg.qr(torch.randn(64, 64, dtype=torch.float64))[0]
            d = torch.ones(64, dtype=torch.float64)
            d[0] = extra
            w = (q @ torch.diag(d) @ q.T).float()
        paths.append(tmp_path / f"e{epoch}.pt")
        torch.save({"W_hh": w, "rnndyn": {"epoch": epoch}}, paths[-1])
    res = track(paths, threshold=1.0)
    t = res.operators[0]
    assert t.fraction_above.tolist() == [0.0, 1 / 64]
    assert t.n_outside.tolist() == [0, 1] and t.n_on.tolist() == [64, 63]
    assert np.isnan(t.longest_timescale).all()
    doc = res.to_dict()["checkpoints"][0]["operators"][0]
    assert doc["n_on_unit_circle"] == 64 and max(doc["error_bound"]) <= 1e-5


def test_top_k_tracks_equal_the_full_tracks_top_and_null_what_they_cannot_decide(tmp_path, cli):
    """Planted moving eigenvalues above a fixed bulk (|λ| ≤ 0.2): ``top=6`` follows exactly the
    six the full track follows first; undecided statistics are null, decided ones equal."""
    c = 5
    reals, pairs = planted_paths(c)
    bulk = np.random.default_rng(2).uniform(-0.2, 0.2, 24)
    q = np.linalg.qr(np.random.default_rng(3).standard_normal((30, 30)))[0]
    paths = []
    for e in range(c):
        w = planted_matrix([*reals[e, :2], *bulk], list(pairs[e]), q)
        paths.append(tmp_path / f"e{e}.pt")
        torch.save({"W_hh": torch.from_numpy(w), "rnndyn": {"epoch": e}}, paths[-1])
    full, part = track(paths, threshold=0.85), track(paths, top=6, threshold=0.85)
    f, p = full.operators[0], part.operators[0]
    assert p.partial and p.eigenvalues.shape == (c, 6) and p.size == 30
    np.testing.assert_allclose(p.eigenvalues, f.eigenvalues[:, :6], atol=1e-10)
    np.testing.assert_allclose(p.spectral_radius, f.spectral_radius, rtol=1e-12)
    np.testing.assert_allclose(p.longest_timescale, f.longest_timescale, rtol=1e-9)
    np.testing.assert_allclose(p.fraction_above, f.fraction_above)  # the six reach below 0.85
    assert p.bounds is None and f.bounds is not None  # no bounds without the full spectrum
    assert np.isnan(p.n_on).all()
    low = track(paths, top=6, threshold=0.25)  # the six stay above 0.25: bulk members unknown
    assert np.isnan(low.operators[0].fraction_above).all()
    assert any("larger --top" in n for n in low.notes)
    doc = low.to_dict()
    op = doc["checkpoints"][0]["operators"][0]
    assert doc["top"] == 6 and op["n"] == 30 and op["tracked"] == 6
    assert op["fraction_above_threshold"] is None and op["n_on_unit_circle"] is None
    assert op["error_bound"] is None
    assert "top" not in full.to_dict()  # the full document is unchanged
    res = cli("track", *map(str, paths), "--top", "6", "--json")
    assert res.exit_code == 0, res.stderr
    assert "partial spectra" in res.stderr
    import json

    assert json.loads(res.stdout)["checkpoints"][-1]["operators"][0]["tracked"] == 6

"""rnndyn.load on bad and hostile files: one test per input, the right error class, no code run.

Every test runs twice: plainly, and with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (people export it
globally; with it a bare ``torch.load(path)`` runs pickled payloads). After each test the payload's
marker file must not exist.
"""

from __future__ import annotations

import pickle
import struct

import pytest
import torch
from io_factories import (
    HTML_PAGE,
    LFS_POINTER,
    make_lstm_state_dict,
    marker_command,
    prefixed,
    random_bytes,
    replace_zip_entry,
    truncate_copy,
    write_bytes,
    write_compressed_zip,
    write_evil_in_state_dict,
    write_evil_pickle,
    write_evil_torch_zip,
    write_meta_state_dict,
    write_safetensors,
    write_torch_state_dict,
    write_torchscript,
    write_whole_module,
)

import rnndyn
from rnndyn.errors import CheckpointError, RefusedError
from rnndyn.readers import prechecks
from rnndyn.readers.validate import check_finite, check_weight


@pytest.fixture(params=["env-unset", "env-no-weights-only"], autouse=True)
def hostile_env(request, monkeypatch, tmp_path):
    """Each test with and without TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1; the marker never appears."""
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    if request.param == "env-no-weights-only":
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    else:
        monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    yield
    assert not (tmp_path / "PWNED").exists(), "a pickled payload ran"


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "PWNED"


def load_fails(path, cls, *words, trust=False):
    """Assert ``rnndyn.load`` raises exactly ``cls`` naming the path and each of ``words``."""
    with pytest.raises(cls) as info:
        rnndyn.load(path, trust=trust)
    err = info.value
    assert type(err) is cls
    msg = str(err)
    assert msg.startswith(f"{path}: "), msg
    assert "\n" not in msg and "\x1b" not in msg, msg  # one paragraph, no ANSI codes
    assert "weights_only=False" not in msg, msg  # torch's advice is never passed on
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)
    return err


# ------------------------------------------------------------- not a checkpoint at all


def test_missing_path(tmp_path):
    err = load_fails(tmp_path / "nope.pt", CheckpointError, "no such file")
    assert err.exit_code == 4


def test_directory(tmp_path):
    (tmp_path / "d.pt").mkdir()
    load_fails(tmp_path / "d.pt", CheckpointError, "directory")


def test_empty_file(tmp_path):
    load_fails(write_bytes(tmp_path / "e.pt", b""), CheckpointError, "empty")


def test_size_cap(tmp_path, monkeypatch):
    p = write_torch_state_dict(tmp_path / "m.pt", make_lstm_state_dict())
    monkeypatch.setattr(prechecks, "MAX_CHECKPOINT_BYTES", 100)
    load_fails(p, CheckpointError, "limit")


def test_html_page(tmp_path):
    load_fails(write_bytes(tmp_path / "model.pt", HTML_PAGE), CheckpointError, "HTML", "download")


def test_html_page_with_bom_and_whitespace(tmp_path):
    p = write_bytes(tmp_path / "model.pt", b"\xef\xbb\xbf\n  " + HTML_PAGE)
    load_fails(p, CheckpointError, "HTML")


def test_git_lfs_pointer(tmp_path):
    load_fails(
        write_bytes(tmp_path / "model.pt", LFS_POINTER), CheckpointError, "Git LFS", "lfs pull"
    )


def test_random_bytes(tmp_path):
    err = load_fails(
        write_bytes(tmp_path / "model.pt", random_bytes()), CheckpointError, "not a checkpoint"
    )
    assert err.exit_code == 4


def test_json_file(tmp_path):
    load_fails(write_bytes(tmp_path / "model.pt", b'{"format": "x"}'), CheckpointError, "JSON")


def test_npz_of_objects_is_not_unpickled(tmp_path, marker):
    import numpy as np

    np.savez(tmp_path / "w.npz", w=np.array([{"a": 1}, None], dtype=object))
    load_fails(tmp_path / "w.npz", CheckpointError, "Python objects")


def test_plain_zip_archive(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "a.pt", "w") as z:
        z.writestr("readme.txt", "hi")
    load_fails(tmp_path / "a.pt", CheckpointError, "not a checkpoint")


def test_benign_raw_pickle(tmp_path):
    p = write_bytes(tmp_path / "m.pkl", pickle.dumps({"a": [1, 2]}, protocol=4))
    load_fails(p, CheckpointError, "raw Python pickle")


# ------------------------------------------------------------- truncated / corrupt


@pytest.mark.parametrize(
    "keep", [0.5, -10, 100], ids=["half", "last-10-bytes-cut", "first-100-bytes"]
)
def test_truncated_zip(tmp_path, keep):
    good = write_torch_state_dict(tmp_path / "good.pt", make_lstm_state_dict())
    n = keep if isinstance(keep, int) and keep > 0 else None
    cut = good.stat().st_size + keep if isinstance(keep, int) and keep < 0 else None
    p = truncate_copy(good, tmp_path / "cut.pt", keep=n or cut or keep)
    err = load_fails(p, CheckpointError, "truncated")
    assert err.exit_code == 4


def test_truncated_legacy(tmp_path):
    good = write_torch_state_dict(tmp_path / "good.pt", make_lstm_state_dict(), legacy=True)
    load_fails(truncate_copy(good, tmp_path / "cut.pt", keep=0.6), CheckpointError)


@pytest.mark.parametrize("keep", [0.5, 12], ids=["in-data", "in-header"])
def test_truncated_safetensors(tmp_path, keep):
    good = write_safetensors(tmp_path / "good.safetensors", make_lstm_state_dict())
    p = truncate_copy(good, tmp_path / "cut.safetensors", keep=keep)
    load_fails(p, CheckpointError, "truncated")


def test_safetensors_bad_json_header(tmp_path):
    header = b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]'  # unclosed
    p = write_bytes(
        tmp_path / "bad.safetensors", struct.pack("<Q", len(header)) + header + b"\0" * 8
    )
    load_fails(p, CheckpointError, "corrupt")


def test_compressed_zip_entries_refused(tmp_path):
    load_fails(write_compressed_zip(tmp_path / "bomb.pt"), CheckpointError, "compressed")


def test_zip_declaring_more_than_the_file(tmp_path, monkeypatch):
    p = write_torch_state_dict(tmp_path / "m.pt", make_lstm_state_dict())
    monkeypatch.setattr(prechecks, "ZIP_SLACK_BYTES", -p.stat().st_size)
    load_fails(p, CheckpointError, "declares")


def test_patched_storage_size(tmp_path):
    """A data.pkl that claims more elements than the storage holds (torch checks, we translate)."""
    w = torch.ones(2, 2)
    good = write_torch_state_dict(tmp_path / "good.pt", {"w": w})
    import zipfile

    with zipfile.ZipFile(good) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        pkl = z.read(name)
    # torch pickles the storage element count as a BININT1 (K) just before the persistent id ends
    assert b"K\x04" in pkl
    bad = replace_zip_entry(
        good, tmp_path / "bad.pt", "/data.pkl", pkl.replace(b"K\x04", b"M\xff\x7f", 1)
    )
    load_fails(bad, CheckpointError, "corrupt")


# ------------------------------------------------------------- hostile: refused, never run


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_raw_pickle_payload(tmp_path, marker, protocol):
    p = write_evil_pickle(tmp_path / "evil.pt", marker, protocol=protocol)
    err = load_fails(p, RefusedError, "posix.system", "trust-pickle")
    assert err.exit_code == 3


@pytest.mark.parametrize("protocol", [2, 4])
def test_torch_zip_with_payload_data_pkl(tmp_path, marker, protocol):
    p = write_evil_torch_zip(tmp_path / "evil.pt", marker, protocol=protocol)
    load_fails(p, RefusedError, "posix.system", "trust-pickle")


def test_payload_beside_a_tensor(tmp_path, marker):
    load_fails(write_evil_in_state_dict(tmp_path / "evil.pt", marker), RefusedError, "posix.system")


def test_legacy_file_with_payload(tmp_path, marker):
    from io_factories import EvilReduce

    p = write_torch_state_dict(
        tmp_path / "evil.pt", {"x": EvilReduce(marker_command(marker))}, legacy=True
    )
    load_fails(p, RefusedError, "posix.system")


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_whole_module_needs_trust(tmp_path, legacy):
    p = write_whole_module(tmp_path / "model.pt", legacy=legacy)
    err = load_fails(p, RefusedError, "torch.nn.modules.rnn.LSTM", "--trust-pickle", "trust=True")
    assert err.exit_code == 3


def test_whole_module_beside_standin_metadata_names_the_module(tmp_path):
    """Stand-ins cover metadata only: a module object is still refused, and named."""
    import argparse

    doc = {
        "model": make_lstm_state_dict(),
        "args": argparse.Namespace(a=1),
        "net": torch.nn.GRU(2, 2),
    }
    p = write_torch_state_dict(tmp_path / "m.pt", doc)
    load_fails(p, RefusedError, "torch.nn.modules.rnn.GRU")


def test_whole_module_loads_with_trust(tmp_path):
    ckpt = rnndyn.load(write_whole_module(tmp_path / "model.pt"), trust=True)
    assert ckpt.format == "pickle-trusted" and "weight_hh_l0" in ckpt.tensors


def test_trust_blocked_by_force_weights_only_env(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.setenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "1")
    p = write_whole_module(tmp_path / "model.pt")
    load_fails(p, RefusedError, "TORCH_FORCE_WEIGHTS_ONLY_LOAD", trust=True)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pickle_protocol_4_needs_trust(tmp_path, legacy):
    """torch's weights-only unpickler cannot read protocol 4/5: refused (3), not 'corrupt' (4)."""
    p = tmp_path / "m.pt"
    torch.save(
        make_lstm_state_dict(), p, _use_new_zipfile_serialization=not legacy, pickle_protocol=4
    )
    load_fails(p, RefusedError, "protocol 4", "--trust-pickle")


@pytest.mark.parametrize("protocol", [2, 4])
def test_torchscript_with_payload_refused(tmp_path, marker, protocol):
    """A TorchScript archive whose module tree pickles posix.system: refused, nothing runs."""
    from io_factories import evil_pickle_bytes

    good = write_torchscript(tmp_path / "ts.pt")
    p = replace_zip_entry(
        good, tmp_path / "evil.pt", "/data.pkl", evil_pickle_bytes(marker, protocol=protocol)
    )
    load_fails(p, RefusedError, "TorchScript", "posix.system", "trust-pickle")


def test_torchscript_storage_size_lie(tmp_path):
    import zipfile

    good = write_torchscript(tmp_path / "ts.pt")
    with zipfile.ZipFile(good) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        pkl = z.read(name)
    # GRU(3, 4): weight_hh's storage holds 12·4 = 48 elements (BININT1 "K0" before the pid ends)
    assert b"K0tQ" in pkl
    patched = pkl.replace(b"K0tQ", b"M\xff\x7ftQ", 1)
    bad = replace_zip_entry(good, tmp_path / "bad.pt", "/data.pkl", patched)
    load_fails(bad, CheckpointError, "corrupt")


def test_ansi_in_global_name_is_not_echoed(tmp_path):
    payload = b"\x80\x02cos\nsys\x1b[31mtem\nX\x01\x00\x00\x00xq\x00\x85q\x01Rq\x02."
    p = write_bytes(tmp_path / "evil.pt", payload)
    load_fails(p, RefusedError)


# ------------------------------------------------------------- loads, but tensors are bad


def test_meta_tensors(tmp_path):
    load_fails(write_meta_state_dict(tmp_path / "meta.pt"), CheckpointError, "meta", "weight_ih_l0")


def test_no_tensors(tmp_path):
    p = write_torch_state_dict(tmp_path / "m.pt", {"epoch": 3, "lr": 0.1})
    load_fails(p, CheckpointError, "no tensors")


def test_prefix_collision(tmp_path):
    sd = {"module.w": torch.ones(2), "w": torch.zeros(2)}
    load_fails(write_torch_state_dict(tmp_path / "m.pt", sd), CheckpointError, "module.w", "'w'")


def test_nan_weights_reach_check_finite(tmp_path):
    sd = prefixed(make_lstm_state_dict(), "module.")
    sd["module.weight_hh_l0"][3, 2] = float("nan")
    sd["module.weight_hh_l0"][5, 0] = float("inf")
    p = write_torch_state_dict(tmp_path / "m.pt", sd)
    ckpt = rnndyn.load(p)  # loading succeeds: finiteness is checked where the weights are used
    w = ckpt.tensors["weight_hh_l0"]
    with pytest.raises(CheckpointError) as info:
        check_finite(w, "weight_hh_l0", ckpt.path)
    msg = str(info.value)
    assert msg.startswith(f"{p}: ") and "'weight_hh_l0'" in msg
    assert "1 NaN" in msg and "1 ±Inf" in msg and "(3, 2)" in msg
    assert info.value.exit_code == 4
    assert (
        check_finite(ckpt.tensors["weight_ih_l0"], "weight_ih_l0", p)
        is ckpt.tensors["weight_ih_l0"]
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_check_finite_low_precision(dtype):
    t = torch.ones(3, dtype=dtype)
    t[1] = float("-inf")
    with pytest.raises(CheckpointError, match="1 ±Inf value"):
        check_finite(t, "w", "x.pt")


def test_check_weight_rejects_integer_dtype():
    with pytest.raises(CheckpointError, match="int64"):
        check_weight(torch.ones(2, 2, dtype=torch.int64), "w", "x.pt")
    assert check_weight(torch.ones(2, 2, dtype=torch.bfloat16), "w", "x.pt").dtype == torch.bfloat16


# ------------------------------------------------------------- mutation fuzz


def _mutants(tmp_path, n, seed, sources=None):
    import random

    rng = random.Random(seed)
    sources = sources or [
        write_torch_state_dict(tmp_path / "a.pt", make_lstm_state_dict()),
        write_torch_state_dict(tmp_path / "b.pt", make_lstm_state_dict(), legacy=True),
        write_safetensors(tmp_path / "c.st", make_lstm_state_dict()),
    ]
    for i in range(n):
        data = bytearray(rng.choice(sources).read_bytes())
        mode = i % 3
        if mode == 0:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif mode == 1:
            data = data[: rng.randrange(1, len(data))]
        else:
            j = rng.randrange(len(data))
            data[j : j + rng.randint(1, 50)] = rng.randbytes(rng.randint(0, 50))
        yield write_bytes(tmp_path / "mutant.bin", bytes(data))


def _only_rnndyn_errors(paths):
    from rnndyn.errors import RnndynError

    for p in paths:
        try:
            rnndyn.load(p)
        except RnndynError as err:
            assert str(err).startswith(f"{p}: ")


def test_mutated_files_raise_only_rnndyn_errors(tmp_path):
    _only_rnndyn_errors(_mutants(tmp_path, 60, seed=1))


@pytest.mark.slow
def test_mutated_files_raise_only_rnndyn_errors_long(tmp_path):
    _only_rnndyn_errors(_mutants(tmp_path, 2000, seed=2))


def _foreign_sources(tmp_path):
    """One small good file per non-PyTorch format (those whose package is installed)."""
    import numpy as np

    sd = {k: v.numpy() for k, v in make_lstm_state_dict().items()}
    np.savez(tmp_path / "a.npz", enc_w_hh=sd["weight_hh_l0"], enc_w_ih=sd["weight_ih_l0"])
    (tmp_path / "b.pkl").write_bytes(pickle.dumps({"rnn": {"w_hh": sd["weight_hh_l0"]}}))
    out = [tmp_path / "a.npz", tmp_path / "b.pkl", write_torchscript(tmp_path / "c.pt")]
    try:
        import h5py

        with h5py.File(tmp_path / "d.h5", "w") as f:
            for i, key in enumerate(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0")):
                f[f"layers/lstm/cell/vars/{i}"] = sd[key].T
        out.append(tmp_path / "d.h5")
    except ImportError:
        pass
    try:
        import msgpack

        def ext(a):
            return msgpack.ExtType(1, msgpack.packb((list(a.shape), a.dtype.name, a.tobytes())))

        cell = {f"h{g}": {"kernel": ext(sd["weight_hh_l0"][:4].T.copy())} for g in "ifgo"}
        (tmp_path / "e.msgpack").write_bytes(msgpack.packb({"params": {"cell": cell}}))
        out.append(tmp_path / "e.msgpack")
    except ImportError:
        pass
    try:
        from onnx import helper, numpy_helper, save

        inits = [numpy_helper.from_array(sd["weight_hh_l0"][None], "R")]
        node = helper.make_node("LSTM", ["X", "", "R"], ["Y"], hidden_size=4)
        graph = helper.make_graph([node], "g", [], [], inits)
        save(helper.make_model(graph), str(tmp_path / "f.onnx"))
        out.append(tmp_path / "f.onnx")
    except ImportError:
        pass
    for p in out:
        rnndyn.load(p)  # each source itself is good
    return out


def test_mutated_foreign_files_raise_only_rnndyn_errors(tmp_path):
    sources = _foreign_sources(tmp_path)
    _only_rnndyn_errors(_mutants(tmp_path, 20 * len(sources), seed=3, sources=sources))


# ------------------------------------------------------------- other frameworks' formats


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x08\x07\x12\x07pytorch", "onnx"),
        (b"\x81\xa6params", "msgpack"),
        (b"\x89HDF\r\n\x1a\n", "hdf5"),
        (b"\x93NUMPY\x01\x00", "npy"),
    ],
)
@pytest.mark.parametrize("seed", range(3))
def test_garbage_after_a_foreign_magic_is_invalid_input(tmp_path, head, kind, seed):
    """Each new reader turns whatever its parser raises into CheckpointError (exit 4)."""
    from rnndyn.readers import sniff

    p = write_bytes(tmp_path / "x.bin", head + random_bytes(2048, seed))
    assert sniff.sniff(p, p.read_bytes()[:64], p.stat().st_size) == kind
    load_fails(p, CheckpointError)


@pytest.mark.parametrize(
    ("module", "extra", "head"),
    [("msgpack", "flax", b"\x81\xa6params")],  # ONNX files are decoded without the onnx package
)
def test_missing_optional_package_names_the_extra(tmp_path, monkeypatch, module, extra, head):
    import importlib

    from rnndyn.readers import foreign

    real = importlib.import_module

    def fake(name, *a, **k):
        if name == module:
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(foreign.importlib, "import_module", fake)
    p = write_bytes(tmp_path / "x.bin", head + b"\0" * 64)
    load_fails(p, CheckpointError, f"pip install 'rnndyn[{extra}]'")

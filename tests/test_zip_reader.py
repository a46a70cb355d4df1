"""The torch-free state-dict reader (``rnndyn.readers.zip_reader``) and ``analyze``'s early start.

The reader must give exactly the bits ``torch.load(weights_only=True)`` gives on every file it
accepts (random dtypes, views, shared storages, special values, either byte order), and answer
``None`` — never run anything, never raise — on everything outside its subset, including every bad
input of reliability.md §1.2. ``analyze`` with an early start must give the same results as without.
"""

from __future__ import annotations

import io
import json
import pickle
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from io_factories import (
    HTML_PAGE,
    LFS_POINTER,
    make_lstm_state_dict,
    make_state_dict,
    random_bytes,
    replace_zip_entry,
    truncate_copy,
    write_bytes,
    write_compressed_zip,
    write_evil_in_state_dict,
    write_evil_torch_zip,
    write_meta_state_dict,
    write_torch_state_dict,
    write_torchscript,
    write_whole_module,
)

from rnndyn import _early_start, analysis
from rnndyn.readers import zip_reader
from rnndyn.readers.zip_reader import open_state_dict

INT_VIEW = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
BITS = {torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float32: torch.int32}
BITS[torch.float64] = torch.int64


def torch_bits(t: torch.Tensor) -> np.ndarray:
    """The tensor's values as unsigned integers of its element size (bfloat16 widened exactly)."""
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.float()
    a = t.numpy()
    return a.view(INT_VIEW[a.itemsize])


def reader_bits(a: np.ndarray) -> np.ndarray:
    return a.view(INT_VIEW[a.itemsize])


def flat(obj, prefix=""):
    out = {}
    for k, v in obj.items():
        if isinstance(v, torch.Tensor):
            out[prefix + k] = v
        elif isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
    return out


def assert_same_as_torch(path: Path) -> zip_reader.StateDictArchive:
    archive = open_state_dict(path)
    assert archive is not None, path
    loaded = flat(torch.load(path, map_location="cpu", weights_only=True))
    assert sorted(archive.refs) == sorted(loaded)
    for key, t in loaded.items():
        ours = archive.array(key)
        assert ours.shape == tuple(t.shape), key
        np.testing.assert_array_equal(reader_bits(ours), torch_bits(t), err_msg=key)
        if t.is_floating_point():  # and the float64 the operators are built from (NaN payloads
            want = t.detach().double().numpy()  # aside: numpy and torch widen float16 NaNs apart)
            got = archive.array(key, np.float64)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            ok = ~np.isnan(want)
            np.testing.assert_array_equal(reader_bits(got)[ok], reader_bits(want)[ok], err_msg=key)
    return archive


# ------------------------------------------------------------- same bits as torch.load


def random_tensor(dtype: torch.dtype, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Any bit pattern of ``dtype``: NaNs with payloads, ±inf, -0, subnormals included."""
    if dtype in BITS:
        info = torch.iinfo(BITS[dtype])
        return torch.randint(info.min, info.max, shape, generator=g, dtype=BITS[dtype]).view(dtype)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    return torch.randint(-100, 100, shape, generator=g).to(dtype)


VIEWS = ("whole", "transpose", "step", "narrow", "expand", "shared")


@st.composite
def state_dicts(draw):
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    out: dict = {}
    bases = []
    dtypes = st.sampled_from([*BITS, torch.int64, torch.int8, torch.bool])
    for i in range(draw(st.integers(1, 5))):
        shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
        base = random_tensor(draw(dtypes), shape, g)
        view = draw(st.sampled_from(VIEWS))
        t = base
        if view == "transpose" and base.ndim >= 2:
            t = base.transpose(0, base.ndim - 1)
        elif view in ("step", "narrow") and base.ndim >= 1 and base.shape[0] > 1:
            t = base[1::2] if view == "step" else base.narrow(0, 1, base.shape[0] - 1)
        elif view == "expand" and base.ndim >= 1 and base.shape[-1] == 1:
            t = base.expand(*base.shape[:-1], 3)
        elif view == "shared" and bases:
            t = bases[-1].flatten()[1:] if bases[-1].is_contiguous() else bases[-1].t()
        bases.append(base)
        target = out.setdefault("sub", {}) if draw(st.booleans()) else out
        target[f"t{i}"] = t
    return OrderedDict(out) if draw(st.booleans()) else out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state_dicts())
def test_random_state_dicts_read_bit_identical_to_torch_load(sd):
    with tempfile.TemporaryDirectory() as tmp:
        assert_same_as_torch(write_torch_state_dict(Path(tmp) / "m.pt", sd))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_rnn_state_dicts(tmp_path, arch, dtype):
    sd = make_state_dict(arch, dtype=dtype, num_layers=2, bidirectional=True)
    archive = assert_same_as_torch(write_torch_state_dict(tmp_path / "m.pt", sd))
    assert "weight_hh_l1_reverse" in archive.refs and archive.refs["weight_hh_l0"].is_float


def rewrite_big_endian(src: Path, dst: Path, byteorder: bytes | None = b"big") -> Path:
    """The archive as a big-endian machine would write it: storages byte-swapped, byteorder=big
    (or no byteorder record at all when ``byteorder`` is None, with storages as they were)."""
    with zipfile.ZipFile(src) as z:
        prefix = next(n for n in z.namelist() if n.endswith("/data.pkl")).split("/")[0]
        _, storages = zip_reader.interpret(z.read(f"{prefix}/data.pkl"))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as out:
            for info in z.infolist():
                data = z.read(info)
                key = info.filename.removeprefix(f"{prefix}/data/")
                if byteorder == b"big" and key in storages:
                    size = storages[key].itemsize
                    data = np.frombuffer(data, f"<u{size}").astype(f">u{size}").tobytes()
                if info.filename == f"{prefix}/byteorder":
                    if byteorder is None:
                        continue
                    data = byteorder
                out.writestr(info.filename, data)
    dst.write_bytes(buf.getvalue())
    return dst


@pytest.mark.parametrize("byteorder", [b"big", None], ids=["big-endian", "no-record"])
def test_byte_order_record(tmp_path, byteorder):
    g = torch.Generator().manual_seed(3)
    sd = {f"t{i}": random_tensor(dt, (3, 4), g) for i, dt in enumerate(BITS)}
    sd["t0"] = sd["t0"].t()
    good = write_torch_state_dict(tmp_path / "m.pt", sd)
    other = rewrite_big_endian(good, tmp_path / "other.pt", byteorder)
    archive = assert_same_as_torch(other)  # torch swaps too: the values are the original ones
    assert archive.byteorder == ("big" if byteorder else "little")
    for key, t in sd.items():
        np.testing.assert_array_equal(reader_bits(archive.array(key)), torch_bits(t))


# ------------------------------------------------------------- everything else: None


def patched_pickle(tmp_path: Path, old: bytes, new: bytes, sd=None) -> Path:
    good = write_torch_state_dict(tmp_path / "good.pt", sd or {"w": torch.ones(2, 2)})
    with zipfile.ZipFile(good) as z:
        pkl = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    assert old in pkl
    return replace_zip_entry(good, tmp_path / "bad.pt", "/data.pkl", pkl.replace(old, new, 1))


def lstm(tmp_path):
    return write_torch_state_dict(tmp_path / "lstm.pt", make_lstm_state_dict())


BAD = {
    "empty": lambda p, m: write_bytes(p / "x.pt", b""),
    "html": lambda p, m: write_bytes(p / "x.pt", HTML_PAGE),
    "lfs-pointer": lambda p, m: write_bytes(p / "x.pt", LFS_POINTER),
    "random": lambda p, m: write_bytes(p / "x.pt", random_bytes()),
    "directory": lambda p, m: p,
    "raw-evil-p2": lambda p, m: write_bytes(p / "x.pt", evil_pickle(m, 2)),
    "raw-evil-p4": lambda p, m: write_bytes(p / "x.pt", evil_pickle(m, 4)),
    "evil-beside-tensor": lambda p, m: write_evil_in_state_dict(p / "x.pt", m),
    "evil-data-pkl-p2": lambda p, m: write_evil_torch_zip(p / "x.pt", m, 2),
    "evil-data-pkl-p4": lambda p, m: write_evil_torch_zip(p / "x.pt", m, 4),
    "truncated-half": lambda p, m: truncate_copy(lstm(p), p / "x.pt", keep=0.5),
    "last-10-bytes-cut": lambda p, m: truncate_copy(lstm(p), p / "x.pt", keep=-10),
    "numel-patched": lambda p, m: patched_pickle(p, b"K\x04", b"J\xff\xff\xff\x7f"),
    "shape-patched": lambda p, m: patched_pickle(
        p, b"K\x02K\x02\x86", b"J\xa0\x86\x01\x00K\x02\x86"
    ),
    "torchscript": lambda p, m: write_torchscript(p / "x.pt"),
    "whole-module": lambda p, m: write_whole_module(p / "x.pt"),
    "numpy-scalar": lambda p, m: write_torch_state_dict(
        p / "x.pt", {"w": torch.ones(2), "s": np.float64(1)}
    ),
    "meta-device": lambda p, m: write_meta_state_dict(p / "x.pt"),
    "sparse": lambda p, m: write_torch_state_dict(p / "x.pt", {"w": torch.eye(3).to_sparse()}),
    "compressed": lambda p, m: write_compressed_zip(p / "x.pt"),
    "legacy-format": lambda p, m: write_torch_state_dict(
        p / "x.pt", {"w": torch.ones(2)}, legacy=True
    ),
    "protocol-4": lambda p, m: protocol4(p / "x.pt"),
    "storage-missing": lambda p, m: patched_pickle(p, b"X\x01\x00\x00\x000", b"X\x01\x00\x00\x007"),
    "set-value": lambda p, m: write_torch_state_dict(p / "x.pt", {"w": torch.ones(2), "s": {1, 2}}),
    "bare-tensor": lambda p, m: write_torch_state_dict(p / "x.pt", torch.ones(3)),
}


def evil_pickle(marker: Path, protocol: int) -> bytes:
    from io_factories import evil_pickle_bytes

    return evil_pickle_bytes(marker, protocol)


def protocol4(path: Path) -> Path:
    torch.save({"w": torch.ones(2)}, path, pickle_protocol=4)
    return path


@pytest.mark.parametrize("case", sorted(BAD))
def test_outside_the_subset_is_none_and_runs_nothing(tmp_path, case):
    marker = tmp_path / "ran"
    path = BAD[case](tmp_path, marker)
    assert open_state_dict(path) is None
    assert not marker.exists()


@pytest.mark.parametrize("case", ["numel-patched", "shape-patched", "storage-missing"])
def test_corrupt_views_torch_refuses_too(tmp_path, case):
    """The reader is never more lenient than torch on storages and views."""
    path = BAD[case](tmp_path, tmp_path / "ran")
    with pytest.raises(Exception):  # noqa: B017 - torch raises RuntimeError or KeyError
        torch.load(path, map_location="cpu", weights_only=True)


def test_interpreter_refuses_unknown_globals_and_opcodes():
    for obj in ({"a": {1, 2}}, {"a": b"x"}, {1: 2}, [torch.nn.LSTM]):
        with pytest.raises(zip_reader.Unsupported):
            zip_reader.interpret(pickle.dumps(obj, protocol=2))
    assert zip_reader.interpret(pickle.dumps({"a": [1, 2.5, None, True]}, protocol=2))[0] == {
        "a": [1, 2.5, None, True]
    }


# ------------------------------------------------------------- analyze's early start


def analysis_doc(path, monkeypatch, early: bool):
    monkeypatch.setattr(_early_start, "EARLY_MIN_HIDDEN", 8 if early else 10**9)
    a = analysis.analyze(path, jobs=2)
    return json.dumps(a.to_dict(), sort_keys=True), [s.eigenvectors for s in a.spectrum]


@pytest.mark.parametrize(("arch", "dtype"), [("lstm", torch.float32), ("gru", torch.bfloat16)])
def test_early_start_gives_identical_results(tmp_path, monkeypatch, arch, dtype):
    sd = make_state_dict(arch, dtype=dtype, hidden_size=24, num_layers=2, bidirectional=True)
    path = write_torch_state_dict(
        tmp_path / "m.pt", OrderedDict(("enc." + k, v) for k, v in sd.items())
    )
    taken = []
    real_take = _early_start.EarlyStart.take

    def spy(self, ops):
        got = real_take(self, ops)
        taken.append((len(got), len(ops)))
        return got

    monkeypatch.setattr(_early_start.EarlyStart, "take", spy)
    with_early, vec_early = analysis_doc(path, monkeypatch, early=True)
    assert taken == [(len(vec_early), len(vec_early))]  # every operator came from the early start
    without, vec = analysis_doc(path, monkeypatch, early=False)
    assert taken == [(len(vec), len(vec))]  # no early start the second time
    assert with_early == without
    for a, b in zip(vec_early, vec, strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_blocks_that_differ_are_not_used(tmp_path, monkeypatch):
    path = write_torch_state_dict(tmp_path / "m.pt", make_lstm_state_dict(hidden_size=16))
    real_array = zip_reader.StateDictArchive.array

    def off_by_one_ulp(self, key, dtype=None):
        a = real_array(self, key, dtype)
        return np.nextafter(a, np.inf) if dtype is not None else a

    want, _ = analysis_doc(path, monkeypatch, early=False)
    monkeypatch.setattr(zip_reader.StateDictArchive, "array", off_by_one_ulp)
    got, _ = analysis_doc(path, monkeypatch, early=True)
    assert got == want


def test_blas_limit_lifted_after_success_and_failure(tmp_path, monkeypatch):
    from threadpoolctl import threadpool_info

    from rnndyn.errors import CheckpointError

    before = [i["num_threads"] for i in threadpool_info()]
    sd = make_lstm_state_dict(hidden_size=16)
    analysis_doc(write_torch_state_dict(tmp_path / "m.pt", sd), monkeypatch, early=True)
    assert [i["num_threads"] for i in threadpool_info()] == before
    started = []
    real_init = _early_start.EarlyStart.__init__
    monkeypatch.setattr(
        _early_start.EarlyStart,
        "__init__",
        lambda self, *a: started.append(1) or real_init(self, *a),
    )
    gap = OrderedDict(sd) | {k.replace("_l0", "_l2"): v for k, v in sd.items()}  # no layer 1
    with pytest.raises(CheckpointError, match="layers"):  # refused after the early start
        analysis_doc(write_torch_state_dict(tmp_path / "gap.pt", gap), monkeypatch, early=True)
    assert started == [1]
    assert [i["num_threads"] for i in threadpool_info()] == before


@pytest.mark.parametrize("flaw", ["nan", "bias-shape", "too-large", "projection"])
def test_no_early_start_for_files_the_usual_path_refuses_or_that_do_not_fit(
    tmp_path, monkeypatch, flaw
):
    from rnndyn.errors import CheckpointError

    sd = make_lstm_state_dict(hidden_size=16, proj_size=8 if flaw == "projection" else 0)
    if flaw == "nan":
        sd["weight_hh_l0"][3, 2] = float("nan")
    elif flaw == "bias-shape":
        sd["bias_hh_l0"] = torch.zeros(7)
    elif flaw == "too-large":
        monkeypatch.setattr(_early_start, "EARLY_MAX_HIDDEN", 15)
    monkeypatch.setattr(_early_start.EarlyStart, "__init__", lambda *a: pytest.fail("started"))
    path = write_torch_state_dict(tmp_path / "m.pt", sd)
    if flaw in ("nan", "bias-shape"):
        with pytest.raises(CheckpointError):
            analysis_doc(path, monkeypatch, early=True)
    else:
        analysis_doc(path, monkeypatch, early=True)

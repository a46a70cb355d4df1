"""staged_output: atomic publish, no-clobber, --force over own output only, inputs protected."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from rnndyn._util.hashing import file_sha256
from rnndyn.errors import OutputError
from rnndyn.outputs import manifest as mf
from rnndyn.outputs import staging as outputs
from rnndyn.outputs.staging import safe_name, staged_output


def snapshot(folder, record=False):
    """{relative path: bytes} of every file under ``folder`` (hidden ones included); the run
    record ``manifest.json`` (it has timestamps) and the hidden manifest that hashes it only with
    ``record=True``."""
    skip = () if record else (mf.RUN_RECORD_NAME, mf.MANIFEST_NAME)
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).as_posix() not in skip
    }


def staging_dirs(folder):
    return [p for p in folder.rglob(f"{mf.STAGING_PREFIX}*")]


def run(out, *, force=False, text="v1", extra=(), **kw):
    with staged_output(out, force=force, **kw) as o:
        o.write_text("report.md", text)
        o.write_json("analysis.json", {"b": 1, "a": [1.5, None]})
        for name in extra:
            o.write_text(name, name)
    return out


def refused(out, *words, **kw):
    body_ran = []
    with pytest.raises(OutputError) as info, staged_output(out, **kw) as o:
        body_ran.append(True)
        o.write_text("report.md", "new")
    msg = str(info.value)
    assert info.value.exit_code == 5 and msg.startswith(f"{out}: ")
    for w in words:
        assert w in msg, (w, msg)
    return body_ran, msg


# ------------------------------------------------------------------ publishing


def test_new_folder_appears_only_on_success(tmp_path):
    out = tmp_path / "res" / "run1"  # parents are created at publish time
    with staged_output(out) as o:
        o.write_text("report.md", "hello")
        o.write_json("analysis.json", {"z": 1, "a": 2})
        assert not out.exists() and not (tmp_path / "res").exists()
    files = snapshot(out, record=True)
    assert files["report.md"] == b"hello"
    assert files["analysis.json"] == b'{\n  "a": 2,\n  "z": 1\n}\n'
    doc = json.loads(files[mf.MANIFEST_NAME])
    assert doc["schema"] == "rnndyn.manifest/1" and doc["rnndyn_version"]
    listed = {e["path"]: e["sha256"] for e in doc["files"]}
    assert listed == {
        k: file_sha256(out / k) for k in ("analysis.json", "report.md", mf.RUN_RECORD_NAME)
    }
    assert staging_dirs(tmp_path) == []


def test_exception_midway_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"), staged_output(out) as o:
        o.write_text("a.txt", "a")
        raise RuntimeError("boom")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_keeps_previous_outputs(tmp_path):
    out = run(tmp_path / "out")
    before = snapshot(out, record=True)
    with pytest.raises(KeyboardInterrupt), staged_output(out, force=True) as o:
        o.write_text("report.md", "half-done")
        raise KeyboardInterrupt
    assert snapshot(out, record=True) == before
    assert staging_dirs(tmp_path) == []


def test_force_replaces_own_previous_output(tmp_path):
    out = run(tmp_path / "out", extra=("old-only.txt",))
    run(out, force=True, text="v2")
    assert (out / "report.md").read_text() == "v2"
    assert not (out / "old-only.txt").exists()  # rnndyn's own stale file is removed
    listed = {e["path"] for e in json.loads((out / mf.MANIFEST_NAME).read_text())["files"]}
    assert listed == {"report.md", "analysis.json", mf.RUN_RECORD_NAME}


def test_rerun_with_force_is_byte_identical(tmp_path):
    out = run(tmp_path / "out")
    first = snapshot(out)
    run(out, force=True)
    assert snapshot(out) == first


def test_existing_empty_folder_is_fine(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    run(out)
    assert (out / "report.md").read_text() == "v1"
    assert staging_dirs(out) == []


def test_subdir_and_custom_path(tmp_path):
    out = tmp_path / "out"
    with staged_output(out) as o:
        sub = o.subdir("ckpt_a")
        sub.write_json("analysis.json", {})
        sub.subdir("figs").write_text("x.txt", "x")
        p = o.path("raw/data.npy")
        np.save(p, np.arange(3))
        o.run_info["inputs"] = [{"path": "a.pt", "sha256": "0" * 64}]
    listed = {e["path"] for e in json.loads((out / mf.MANIFEST_NAME).read_text())["files"]}
    assert listed == {"ckpt_a/analysis.json", "ckpt_a/figs/x.txt", "raw/data.npy", "manifest.json"}
    assert json.loads((out / mf.MANIFEST_NAME).read_text())["run"]["inputs"][0]["path"] == "a.pt"
    assert np.load(out / "raw/data.npy").tolist() == [0, 1, 2]


# ------------------------------------------------------------------ refusals


def test_foreign_file_refused_and_unchanged(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for force in (False, True):
        body_ran, _ = refused(out, "notes.txt", "new --out", force=force)
        assert body_ran == []  # refused before any work
        assert snapshot(out, record=True) == {"notes.txt": b"mine"}


def test_foreign_file_beside_own_output_refused_even_with_force(tmp_path):
    out = run(tmp_path / "out")
    (out / "sub").mkdir()
    (out / "sub" / "mine.csv").write_text("1")
    before = snapshot(out, record=True)
    refused(out, "sub/mine.csv", force=True)
    assert snapshot(out, record=True) == before


def test_own_output_needs_force(tmp_path):
    out = run(tmp_path / "out")
    before = snapshot(out, record=True)
    refused(out, "earlier run", "--force")
    assert snapshot(out, record=True) == before


def test_edited_file_refused_even_with_force(tmp_path):
    out = run(tmp_path / "out")
    (out / "report.md").write_text("my notes")
    before = snapshot(out, record=True)
    refused(out, "report.md", "changed", force=True)
    assert snapshot(out, record=True) == before


def test_invalid_manifest_counts_as_foreign(tmp_path):
    out = run(tmp_path / "out")
    (out / mf.MANIFEST_NAME).write_text("{not json")
    refused(out, mf.MANIFEST_NAME, force=True)


def test_symlink_in_folder_is_foreign(tmp_path):
    out = run(tmp_path / "out")
    victim = tmp_path / "victim.txt"
    victim.write_text("safe")
    (out / "eigenvalues.csv").symlink_to(victim)
    refused(out, "eigenvalues.csv", force=True)
    assert victim.read_text() == "safe"


def test_out_is_a_file(tmp_path):
    f = tmp_path / "out"
    f.write_text("x")
    refused(f, "not a folder")
    assert f.read_text() == "x"


def test_out_is_the_input(tmp_path):
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"weights")
    refused(ckpt, "input", protect=[ckpt])
    assert ckpt.read_bytes() == b"weights"


def test_protected_input_listed_in_manifest_never_overwritten(tmp_path):
    out = run(tmp_path / "out")
    inp = out / "analysis.json"  # a previous output now used as this run's input
    before = inp.read_bytes()
    with (
        pytest.raises(OutputError, match="overwrite an input"),
        staged_output(out, force=True, protect=[inp]) as o,
    ):
        o.write_json("analysis.json", {"new": True})
    assert inp.read_bytes() == before


def test_protected_hardlink_never_overwritten(tmp_path):
    out = run(tmp_path / "out")
    link = tmp_path / "input.json"
    os.link(out / "report.md", link)
    with pytest.raises(OutputError), staged_output(out, force=True, protect=[link]) as o:
        o.write_text("report.md", "new")
    assert link.read_text() == "v1"


def test_protected_input_not_deleted_as_stale(tmp_path):
    out = run(tmp_path / "out", extra=("old.txt",))
    with pytest.raises(OutputError), staged_output(out, force=True, protect=[out / "old.txt"]) as o:
        o.write_text("report.md", "new")
    assert (out / "old.txt").read_text() == "old.txt"


def test_parent_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    refused(f / "sub" / "out", "is a file")


def test_unwritable_parent(tmp_path, monkeypatch):
    def deny(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(outputs.tempfile, "mkdtemp", deny)
    refused(tmp_path / "out", "Permission denied", "writable")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        refused(ro / "out", "writable")
    finally:
        ro.chmod(0o755)


def test_failed_publish_keeps_a_recognisable_folder(tmp_path, monkeypatch):
    out = run(tmp_path / "out", extra=("c.txt",))
    real_replace, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # manifest write + first file succeed, then the disk "fills up"
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OutputError, match="No space left"):
        run(out, force=True, text="v2", extra=("c.txt",))
    monkeypatch.setattr(os, "replace", real_replace)
    assert staging_dirs(tmp_path) == []
    assert mf.inspect_folder(out).foreign == [] and mf.inspect_folder(out).edited == []
    run(out, force=True, text="v3")  # a half-published folder is still rnndyn's own
    assert (out / "report.md").read_text() == "v3"


def test_old_staging_leftovers_ignored_and_swept(tmp_path):
    out = run(tmp_path / "out")
    old = out / f"{mf.STAGING_PREFIX}dead"
    old.mkdir()
    (old / "x").write_text("x")
    os.utime(old, (0, 0))
    fresh = out / f"{mf.STAGING_PREFIX}live"
    fresh.mkdir()
    run(out, force=True)
    assert not old.exists() and fresh.exists()


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "name", ["../x.txt", "/abs.txt", ".hidden", "a//b", "a/../b", "", "sp ace"]
)
def test_bad_names_rejected(tmp_path, name):
    with pytest.raises(ValueError, match="invalid output name"), staged_output(tmp_path / "o") as o:
        o.write_text(name, "x")
    assert not (tmp_path / "o").exists()


def test_same_name_twice_rejected(tmp_path):
    with pytest.raises(ValueError, match="twice"), staged_output(tmp_path / "o") as o:
        o.write_text("a.txt", "1")
        o.write_text("a.txt", "2")


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("../../.bashrc", "bashrc"),
        ("model v2.pt", "model_v2.pt"),
        ("épreuve", "preuve"),
        ("", "unnamed"),
    ],
)
def test_safe_name(text, want):
    assert safe_name(text) == want


# ------------------------------------------------------------------ tables


def test_write_table_csv_exact_and_formula_safe(tmp_path):
    df = pd.DataFrame(
        {
            "re": [0.1, 1 / 3, -0.5, np.nan],
            "n": np.array([1, 2, 3, 4], dtype=np.int64),
            "f32": np.array([0.1, 2.5, -1.0, np.inf], dtype=np.float32),
            "key": ["=cmd()", "-1+2", "@x", "weight_hh_l0"],
        }
    )
    out = tmp_path / "out"
    with staged_output(out) as o:
        paths = o.write_table("eigenvalues", df)
    assert [p.name for p in paths] == ["eigenvalues.csv", "eigenvalues.parquet"]
    text = (out / "eigenvalues.csv").read_text()
    assert text.splitlines()[1] == "0.1,1,0.1,'=cmd()"
    assert text.splitlines()[3] == "-0.5,3,-1.0,'@x"  # numbers stay numbers
    back = pd.read_csv(out / "eigenvalues.csv")
    np.testing.assert_array_equal(back["re"].to_numpy(), df["re"].to_numpy())  # exact round trip
    assert back["key"].tolist() == ["'=cmd()", "'-1+2", "'@x", "weight_hh_l0"]
    pq = pd.read_parquet(out / "eigenvalues.parquet")
    pd.testing.assert_frame_equal(pq, df)  # parquet keeps raw values and dtypes


def test_write_table_refuses_complex(tmp_path):
    with pytest.raises(ValueError, match="re/im"), staged_output(tmp_path / "o") as o:
        o.write_table("t", pd.DataFrame({"z": [1 + 2j]}))


def test_csv_without_pyarrow(tmp_path, monkeypatch):
    from rnndyn.outputs import tables

    monkeypatch.setattr(tables, "parquet_available", lambda: False)
    with staged_output(tmp_path / "o") as o:
        paths = o.write_table("t", pd.DataFrame({"a": [1.0]}))
    assert [p.name for p in paths] == ["t.csv"]


# ------------------------------------------------------------------ figures


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [1, 0, 1], "o-")
    ax.set_title("spectrum")
    return fig


def _png_dpi(data: bytes) -> float:
    i = data.index(b"pHYs")
    ppm = int.from_bytes(data[i + 4 : i + 8], "big")
    return ppm * 0.0254


def test_write_figure_formats_dpi_and_determinism(tmp_path):
    import matplotlib.pyplot as plt

    shots = []
    for k in range(2):
        fig = plt.figure(figsize=(2, 2))
        fig.add_subplot().plot([0, 1], [1, 0])
        with staged_output(tmp_path / f"o{k}", formats=("pdf", "png", "svg")) as o:
            o.write_figure("spectrum", fig)
        assert not plt.fignum_exists(fig.number)  # closed
        shots.append(snapshot(tmp_path / f"o{k}"))
    assert shots[0] == shots[1]  # byte-identical: no timestamps, fixed svg hash salt
    files = shots[0]
    assert {"spectrum.pdf", "spectrum.png", "spectrum.svg"} <= set(files)
    assert (
        files["spectrum.pdf"].startswith(b"%PDF") and b"CreationDate" not in files["spectrum.pdf"]
    )
    assert round(_png_dpi(files["spectrum.png"])) == 300


def test_write_figure_closes_on_failure(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure()
    with pytest.raises(RuntimeError), staged_output(tmp_path / "o") as o:
        fig.savefig = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("render"))
        o.write_figure("f", fig)
    assert not plt.fignum_exists(fig.number)
    assert not (tmp_path / "o").exists()


def test_bad_format_rejected(tmp_path):
    with (
        pytest.raises(ValueError, match="formats"),
        staged_output(tmp_path / "o", formats=("jpg",)),
    ):
        pass


def test_importing_outputs_does_not_import_matplotlib_or_pandas():
    code = (
        "import sys, rnndyn.outputs.staging; "
        "bad = [m for m in ('matplotlib', 'pandas') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ------------------------------------------------------------------ the visible run record


def test_run_record_lists_files_versions_and_invocation(tmp_path):
    out = tmp_path / "out"
    token = mf.INVOCATION.set(
        {
            "command": "analyze",
            "argv": ["rnndyn", "analyze", "a.pt"],
            "options": {"force": False},
            "started": "2026-01-01T00:00:00+00:00",
        }
    )
    try:
        with staged_output(out) as o:
            o.write_text("report.md", "x")
            o.run_info.update(inputs=[{"path": "a.pt", "sha256": "0" * 64}])
    finally:
        mf.INVOCATION.reset(token)
    doc = json.loads((out / mf.RUN_RECORD_NAME).read_text())
    assert doc["schema"] == "rnndyn.run/1" and doc["command"] == "analyze"
    assert doc["argv"] == ["rnndyn", "analyze", "a.pt"] and doc["options"] == {"force": False}
    assert doc["started"] <= doc["finished"] and doc["finished"].endswith("+00:00")
    assert {"rnndyn", "python", "torch", "numpy", "scipy"} <= set(doc["versions"])
    assert doc["versions"]["numpy"] == np.__version__
    assert doc["inputs"] == [{"path": "a.pt", "sha256": "0" * 64}]
    assert doc["files"] == [
        {"path": "report.md", "sha256": file_sha256(out / "report.md"), "size": 1}
    ]


def test_run_record_name_is_reserved(tmp_path):
    with pytest.raises(ValueError, match="reserved"), staged_output(tmp_path / "o") as o:
        o.write_text(mf.RUN_RECORD_NAME, "{}")


def test_old_folder_without_run_record_is_still_ours(tmp_path):
    out = run(tmp_path / "out")
    (out / mf.RUN_RECORD_NAME).unlink()  # as written by rnndyn before manifest.json existed
    doc = json.loads((out / mf.MANIFEST_NAME).read_text())
    doc["files"] = [e for e in doc["files"] if e["path"] != mf.RUN_RECORD_NAME]
    (out / mf.MANIFEST_NAME).write_text(json.dumps(doc))
    run(out, force=True, text="v2")
    assert (out / "report.md").read_text() == "v2" and (out / mf.RUN_RECORD_NAME).exists()


# ------------------------------------------------------------------ failed writes (issue 11)


def _disk_full(monkeypatch, after=0):
    """Make Path.write_bytes fail with ENOSPC after ``after`` successful calls."""
    from pathlib import Path

    real, calls = Path.write_bytes, []

    def full(self, data):
        calls.append(self)
        if len(calls) > after:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)


def test_full_disk_while_staging_is_an_output_error(tmp_path, monkeypatch):
    out = run(tmp_path / "out")
    before = snapshot(out, record=True)
    _disk_full(monkeypatch, after=1)
    with pytest.raises(OutputError, match="No space left") as info:
        run(out, force=True, text="v2")
    assert info.value.exit_code == 5 and "nothing was published" in str(info.value)
    monkeypatch.undo()
    assert snapshot(out, record=True) == before and staging_dirs(tmp_path) == []


def test_full_disk_while_saving_a_figure_is_an_output_error(tmp_path, monkeypatch):
    # was: AttributeError 'Stream' object has no attribute 'pos' from the PDF backend
    _disk_full(monkeypatch)
    with (
        pytest.raises(OutputError, match=r"spectrum\.pdf.*No space left"),
        staged_output(tmp_path / "o", formats=("pdf",)) as o,
    ):
        o.write_figure("spectrum", _figure())
    assert not (tmp_path / "o").exists()


def test_name_too_long_is_an_output_error(tmp_path):
    refused(tmp_path / ("n" * 300), "File name too long")
    refused(tmp_path / ("n" * 300) / "sub", "File name too long")


def test_ctrl_c_during_publish_leaves_all_new(tmp_path, monkeypatch):
    import signal

    out = run(tmp_path / "out", extra=("a.txt", "b.txt", "c.txt"))
    real_replace, calls = os.replace, []

    def interrupted(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # Ctrl-C arrives in the middle of moving the new files in
            os.kill(os.getpid(), signal.SIGINT)
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt, match="published in full"):
        run(out, force=True, text="v2", extra=("a.txt", "b.txt", "c.txt"))
    monkeypatch.undo()
    assert len(calls) > 4  # the interrupt really came mid-publish
    assert (out / "report.md").read_text() == "v2"
    state = mf.inspect_folder(out)
    assert state.foreign == [] and state.edited == []
    assert set(state.own) == {
        "report.md",
        "analysis.json",
        "a.txt",
        "b.txt",
        "c.txt",
        "manifest.json",
    }
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_non_utf8_names_in_tables_and_text(tmp_path):
    name = os.fsdecode(b"/tmp/d\xff/n\xfe.pt")  # lone surrogates, as os.fsdecode gives them
    out = tmp_path / "o"
    with staged_output(out) as o:
        column = pd.Series([name], dtype=object)  # pandas' string dtype refuses surrogates
        o.write_table("t", pd.DataFrame({"checkpoint": column, "x": [1.0]}))
        o.write_text("report.md", f"# {name}\n")
        o.write_json("a.json", {"path": name})
        fig = _figure()
        fig.axes[0].set_title(name)  # fonts cannot draw lone surrogates: was a TypeError
        o.write_figure("f", fig)
    assert (out / "f.png").stat().st_size > 0
    assert "d\\xff/n\\xfe.pt" in (out / "t.csv").read_text(encoding="utf-8")
    assert (out / "report.md").read_text(encoding="utf-8") == "# /tmp/d\\xff/n\\xfe.pt\n"
    assert json.loads((out / "a.json").read_text(encoding="utf-8"))["path"].endswith("n\\xfe.pt")
    assert "\\ud" not in (out / "a.json").read_text()
    assert pd.read_parquet(out / "t.parquet")["checkpoint"][0] == "/tmp/d\\xff/n\\xfe.pt"

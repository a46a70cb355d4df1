"""A study folder's ownership: the output manifest carries its training settings (one scheme with
every other output folder), and a folder from before (``.rnndyn-study.json``) is still resumed."""

from __future__ import annotations

import json

import pytest

from rnndyn.errors import OutputError, UsageError
from rnndyn.outputs.manifest import MANIFEST_NAME, inspect_folder
from rnndyn.studies.folder import KEY, LEGACY_MARKER, NAME, SCHEMA, finished, open_folder

SETTINGS = {"hidden": 8, "epochs": 10, "sizes": {"n_train": 10}, "task_params": {}}


def test_a_new_study_folder_is_recorded_in_the_manifest_and_resumed(tmp_path):
    out = tmp_path / "study"
    open_folder(out, SETTINGS)
    doc = json.loads((out / MANIFEST_NAME).read_text())
    assert doc["run"][KEY] == {"schema": SCHEMA, "study": NAME, "training": SETTINGS}
    assert doc["files"] == [] and {"checkpoints", "runs", "report"} <= set(doc["work"])
    (out / "checkpoints" / "a.pt").write_bytes(b"x")
    (out / "runs" / "a.json").write_text(json.dumps({"id": "a", "checkpoint": "checkpoints/a.pt"}))
    state = inspect_folder(out)
    assert state.foreign == [] and state.edited == []  # the work paths are the study's own
    open_folder(out, SETTINGS)  # resume
    assert finished(out, {"id": "a"}) == {"id": "a", "checkpoint": "checkpoints/a.pt"}
    with pytest.raises(UsageError, match="epochs 10 there, 3 now"):
        open_folder(out, {**SETTINGS, "epochs": 3})


def test_a_foreign_folder_is_refused_and_left_alone(tmp_path):
    (tmp_path / "mine.txt").write_text("hello")
    with pytest.raises(OutputError, match="did not write"):
        open_folder(tmp_path, SETTINGS)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
    other = tmp_path / "other"
    other.mkdir()
    (other / MANIFEST_NAME).write_text(
        json.dumps({"schema": "rnndyn.manifest/1", "files": [], "run": {"bench": {}}})
    )
    with pytest.raises(OutputError, match="rnndyn study"):
        open_folder(other, SETTINGS)


def test_a_folder_with_the_old_study_marker_moves_to_the_manifest(tmp_path):
    out = tmp_path / "study"
    (out / "runs").mkdir(parents=True)
    (out / "checkpoints").mkdir()
    old = {"schema": SCHEMA, "study": NAME, "training": SETTINGS}
    (out / LEGACY_MARKER).write_text(json.dumps(old))
    open_folder(out, SETTINGS)
    assert not (out / LEGACY_MARKER).exists()
    assert json.loads((out / MANIFEST_NAME).read_text())["run"][KEY] == old
    (out / LEGACY_MARKER).write_text(json.dumps(old))  # a stray marker beside the manifest: kept
    open_folder(out, SETTINGS)
    legacy_other = tmp_path / "older"
    (legacy_other / "runs").mkdir(parents=True)
    (legacy_other / LEGACY_MARKER).write_text(json.dumps({**old, "training": {"epochs": 1}}))
    with pytest.raises(UsageError, match="other training settings"):
        open_folder(legacy_other, SETTINGS)

"""The ``.rnndyn-manifest.json`` that marks an output folder's files as rnndyn's own.

It lists each file rnndyn wrote (relative POSIX path, sha256, size). A file is rnndyn's own when it
is listed *and* its bytes still hash to a listed sha256; anything else is the user's and is never
overwritten or deleted. A path may be listed twice (old and new hash) while a publish is under way,
so an interrupted publish still leaves a folder that the next run recognises.

A resumable folder (a bench, a study) also lists its ``work`` paths: sub-folders and files that the
run itself keeps up to date between runs (cell records, checkpoints, its lock). They are the run's,
neither listed file by file nor foreign. Its ``run`` field carries the run's state (e.g.
``{"bench": {...}}``: the settings every resumed run must share); :func:`read_state` and
:func:`write_state` read and update it. This is the one folder-ownership scheme of rnndyn.
"""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypedDict

from rnndyn._util.atomic import TMP_SUFFIX, atomic_write_json
from rnndyn._util.hashing import file_sha256
from rnndyn._util.jsonsafe import JsonObject
from rnndyn.errors import OutputError
from rnndyn.outputs.invocation import INVOCATION, Invocation, now_iso
from rnndyn.outputs.invocation import record_resolved as record_resolved  # re-exported

MANIFEST_NAME = ".rnndyn-manifest.json"
SCHEMA = "rnndyn.manifest/1"
STAGING_PREFIX = ".rnndyn-staging-"
JOURNAL_NAME = ".rnndyn-publish.json"  # present only while a publish into the folder is under way
OS_JUNK = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})  # never ours, never overwritten
_SHA = re.compile(r"^[0-9a-f]{64}$")


class ManifestEntry(TypedDict):
    """One file rnndyn wrote: relative POSIX path, sha256 and size in bytes."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class FolderState:
    """An existing output folder, classified.

    Attributes:
        own: relative path → sha256 of files rnndyn wrote and nobody changed since.
        foreign: files not listed in a valid manifest (sorted; symlinks count as foreign).
        edited: listed files whose bytes changed since rnndyn wrote them.
    """

    own: dict[str, str]
    foreign: list[str]
    edited: list[str]


def list_files(root: Path, work: tuple[str, ...] = ()) -> list[str]:
    """Relative POSIX paths of everything under ``root`` except the manifest, rnndyn's staging
    leftovers, OS junk files and the ``work`` paths (files or folders, relative to ``root``).
    Symlinks (to files or folders) are listed as entries."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root)
        keep = []
        for d in dirnames:
            if d.startswith(STAGING_PREFIX) and rel_dir == Path("."):
                continue
            if (rel_dir / d).as_posix() in work:
                continue
            if (here / d).is_symlink():
                found.append((rel_dir / d).as_posix())
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            rel = (rel_dir / name).as_posix()
            if rel in (MANIFEST_NAME, JOURNAL_NAME) or name.endswith(TMP_SUFFIX) or name in OS_JUNK:
                continue
            if rel in work:
                continue
            found.append(rel)
    return sorted(found)


def read_manifest_doc(folder: Path) -> JsonObject | None:
    """The folder's valid manifest document (``files``, ``run``, ``work``); ``{}`` if absent;
    None if invalid (unreadable, another schema, an unsafe path, a bad hash)."""
    path = folder / MANIFEST_NAME
    if not path.exists() and not path.is_symlink():
        return {}
    try:
        if path.is_symlink() or path.stat().st_size > 64 << 20:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            return None
        for entry in doc["files"]:
            rel, sha = entry["path"], entry["sha256"]
            if not (isinstance(rel, str) and isinstance(sha, str) and _SHA.match(sha)):
                return None
            if not is_safe_relative(rel):
                return None
        work, run = doc.get("work", []), doc.get("run", {})
        if not (isinstance(work, list) and all(isinstance(w, str) for w in work)):
            return None
        if not all(is_safe_relative(w) for w in work) or not isinstance(run, dict):
            return None
        return doc
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_manifest(folder: Path) -> dict[str, set[str]] | None:
    """``{relative path: {sha256, ...}}`` of a valid manifest; ``{}`` if absent; None if invalid."""
    doc = read_manifest_doc(folder)
    if doc is None:
        return None
    listed: dict[str, set[str]] = {}
    for entry in _entries(doc):
        listed.setdefault(entry["path"], set()).add(entry["sha256"])
    return listed


def _entries(doc: JsonObject) -> list[ManifestEntry]:
    files = doc.get("files", [])
    return list(files) if isinstance(files, list) else []


def work_paths(doc: JsonObject) -> tuple[str, ...]:
    """The ``work`` paths of a manifest document (none for a one-shot output folder)."""
    work = doc.get("work", [])
    return tuple(str(w) for w in work) if isinstance(work, list) else ()


def is_safe_relative(rel: str) -> bool:
    """A relative POSIX path that stays in its folder (no ``..``, not absolute, no empty part)."""
    p = PurePosixPath(rel)
    return (
        bool(rel)
        and not p.is_absolute()
        and "\\" not in rel
        and all(part not in ("", ".", "..") for part in rel.split("/"))
    )


def inspect_folder(folder: Path) -> FolderState:
    """Classify every file in an existing output folder as own, edited or foreign (the manifest's
    ``work`` paths are none of these: they are the resumable run's own working files)."""
    doc = read_manifest_doc(folder)
    if doc is None:  # an unreadable or foreign manifest: nothing here is provably ours
        return FolderState({}, [MANIFEST_NAME, *list_files(folder)], [])
    listed = read_manifest(folder) or {}
    files = list_files(folder, work_paths(doc))
    own: dict[str, str] = {}
    foreign: list[str] = []
    edited: list[str] = []
    for rel in files:
        path = folder / rel
        if rel not in listed or path.is_symlink() or not path.is_file():
            foreign.append(rel)
            continue
        sha = file_sha256(path)
        if sha in listed[rel]:
            own[rel] = sha
        else:
            edited.append(rel)
    return FolderState(own, foreign, edited)


def manifest_entries(root: Path) -> list[ManifestEntry]:
    """One ``{"path", "sha256", "size"}`` entry per file under ``root`` (sorted by path)."""
    return [
        {"path": rel, "sha256": file_sha256(root / rel), "size": (root / rel).stat().st_size}
        for rel in list_files(root)
    ]


def write_manifest(
    folder: Path, entries: list[ManifestEntry], run: JsonObject, work: tuple[str, ...] = ()
) -> Path:
    """Atomically write the manifest (sorted entries, no timestamps: reruns are byte-identical).
    ``work``: a resumable folder's working paths (omitted from the document when empty)."""
    from rnndyn._version import __version__

    doc: JsonObject = {
        "schema": SCHEMA,
        "rnndyn_version": __version__,
        "files": sorted(entries, key=lambda e: (e["path"], e["sha256"])),
        "run": run,
    }
    if work:
        doc["work"] = sorted(work)
    return atomic_write_json(folder / MANIFEST_NAME, doc)


# ------------------------------------------------------------------ resumable folders


def read_state(folder: Path, key: str, *, what: str) -> JsonObject | None:
    """The ``run[key]`` state of a resumable folder (e.g. ``key="bench"``); None when the folder has
    no manifest. OutputError (exit 5) when its manifest is unreadable or belongs to another kind of
    output (``what`` names the folder kind in the message, e.g. "rnndyn bench")."""
    doc = read_manifest_doc(folder)
    if doc == {}:
        return None
    run = doc.get("run") if doc is not None else None
    state = run.get(key) if isinstance(run, dict) else None
    if not isinstance(state, dict):
        raise OutputError(
            f"{MANIFEST_NAME} is unreadable or not an {what} folder's; rnndyn never writes "
            "into such a folder",
            path=folder,
            hint="Choose a new --out folder.",
        )
    return state


def write_state(folder: Path, key: str, state: JsonObject, work: tuple[str, ...]) -> Path:
    """Record a resumable folder's state and ``work`` paths in its manifest, keeping the files it
    lists (a new folder gets a manifest listing none)."""
    doc = read_manifest_doc(folder) or {}
    run = doc.get("run")
    run = dict(run) if isinstance(run, dict) else {}
    run[key] = state
    return write_manifest(folder, _entries(doc), run, work)


# ------------------------------------------------------------------ the visible run record

RUN_RECORD_NAME = "manifest.json"
RUN_SCHEMA = "rnndyn.run/1"
_PACKAGES = ("torch", "numpy", "scipy", "pandas", "matplotlib", "pyarrow")


class HashedInput(TypedDict):
    """An input file of a run and its sha256 (None when it could not be read)."""

    path: str
    sha256: str | None


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    from rnndyn._version import __version__

    found: dict[str, str | None] = {"rnndyn": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _hashed(paths: list[str]) -> list[HashedInput]:
    found: list[HashedInput] = []
    for p in paths:
        try:
            found.append({"path": p, "sha256": file_sha256(Path(p))})
        except OSError:
            found.append({"path": p, "sha256": None})
    return found


def _options(inv: Invocation) -> dict[str, object] | None:
    """The invocation's options with every ``None`` that was resolved replaced by its value."""
    options, resolved = inv.get("options"), inv.get("resolved") or {}
    if options is None:
        return None
    return {k: resolved.get(k, v) if v is None else v for k, v in options.items()}


def run_record(run: JsonObject, entries: list[ManifestEntry]) -> JsonObject:
    """The ``manifest.json`` document: how the run was invoked (exact command line and every
    option, defaults included and resolved — ``resolved_defaults`` names the options that were
    left unset and shows what they became — when it came from the command line), the software versions,
    the platform, start and end time, the inputs with sha256 and every file written."""
    inv: Invocation = INVOCATION.get() or {}
    return {
        "schema": RUN_SCHEMA,
        "command": run.get("command") or inv.get("command"),
        "argv": inv.get("argv"),
        "options": _options(inv),
        "resolved_defaults": sorted(
            k
            for k, v in (inv.get("options") or {}).items()
            if v is None and k in (inv.get("resolved") or {})
        ),
        "versions": _versions(),
        "platform": platform.platform(),
        "started": inv.get("started"),
        "finished": now_iso(),
        "inputs": run.get("inputs") or _hashed(inv.get("input_paths") or []),
        "files": sorted(entries, key=lambda e: e["path"]),
    }

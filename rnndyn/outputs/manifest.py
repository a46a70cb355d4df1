"""The ``.rnndyn-manifest.json`` that marks an output folder's files as rnndyn's own.

It lists each file rnndyn wrote (relative POSIX path, sha256, size). A file is rnndyn's own when it
is listed *and* its bytes still hash to a listed sha256; anything else is the user's and is never
overwritten or deleted. A path may be listed twice (old and new hash) while a publish is under way,
so an interrupted publish still leaves a folder that the next run recognises.
"""

from __future__ import annotations

import json
import os
import platform
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from rnndyn._util.atomic import TMP_SUFFIX, atomic_write_json
from rnndyn._util.hashing import file_sha256

MANIFEST_NAME = ".rnndyn-manifest.json"
SCHEMA = "rnndyn.manifest/1"
STAGING_PREFIX = ".rnndyn-staging-"
JOURNAL_NAME = ".rnndyn-publish.json"  # present only while a publish into the folder is under way
OS_JUNK = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})  # never ours, never overwritten
_SHA = re.compile(r"^[0-9a-f]{64}$")


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


def list_files(root: Path) -> list[str]:
    """Relative POSIX paths of everything under ``root`` except the manifest, rnndyn's staging
    leftovers and OS junk files. Symlinks (to files or folders) are listed as entries."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root)
        keep = []
        for d in dirnames:
            if d.startswith(STAGING_PREFIX) and rel_dir == Path("."):
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
            found.append(rel)
    return sorted(found)


def read_manifest(folder: Path) -> dict[str, set[str]] | None:
    """``{relative path: {sha256, ...}}`` of a valid manifest; ``{}`` if absent; None if invalid."""
    path = folder / MANIFEST_NAME
    if not path.exists() and not path.is_symlink():
        return {}
    try:
        if path.is_symlink() or path.stat().st_size > 64 << 20:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            return None
        listed: dict[str, set[str]] = {}
        for entry in doc["files"]:
            rel, sha = entry["path"], entry["sha256"]
            if not (isinstance(rel, str) and isinstance(sha, str) and _SHA.match(sha)):
                return None
            if not is_safe_relative(rel):
                return None
            listed.setdefault(rel, set()).add(sha)
        return listed
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
    """Classify every file in an existing output folder as own, edited or foreign."""
    listed = read_manifest(folder)
    files = list_files(folder)
    if listed is None:  # an unreadable or foreign manifest: nothing here is provably ours
        return FolderState({}, [MANIFEST_NAME, *files], [])
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


def manifest_entries(root: Path) -> list[dict[str, Any]]:
    """One ``{"path", "sha256", "size"}`` entry per file under ``root`` (sorted by path)."""
    return [
        {"path": rel, "sha256": file_sha256(root / rel), "size": (root / rel).stat().st_size}
        for rel in list_files(root)
    ]


def write_manifest(folder: Path, entries: list[dict[str, Any]], run: dict[str, Any]) -> Path:
    """Atomically write the manifest (sorted entries, no timestamps: reruns are byte-identical)."""
    from rnndyn._version import __version__

    doc = {
        "schema": SCHEMA,
        "rnndyn_version": __version__,
        "files": sorted(entries, key=lambda e: (e["path"], e["sha256"])),
        "run": run,
    }
    return atomic_write_json(folder / MANIFEST_NAME, doc)


# ------------------------------------------------------------------ the visible run record

RUN_RECORD_NAME = "manifest.json"
RUN_SCHEMA = "rnndyn.run/1"
_PACKAGES = ("torch", "numpy", "scipy", "pandas", "matplotlib", "pyarrow")

#: How the running program was invoked (set by the command line for the duration of a command):
#: ``{"command", "argv", "options", "started", "input_paths"}``. Library callers leave it unset.
INVOCATION: ContextVar[dict[str, Any] | None] = ContextVar("rnndyn_invocation", default=None)


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


def _hashed(paths: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for p in paths:
        try:
            found.append({"path": p, "sha256": file_sha256(Path(p))})
        except OSError:
            found.append({"path": p, "sha256": None})
    return found


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_resolved(**values: Any) -> None:
    """Record what options left unset (``None``: "the default") resolved to in this run, e.g.
    ``record_resolved(jobs=2)``; ``manifest.json`` then shows the value, not ``null``. Nothing
    outside a command line (no invocation recorded)."""
    inv = INVOCATION.get()
    if inv is not None:
        inv.setdefault("resolved", {}).update(values)


def _options(inv: dict[str, Any]) -> dict[str, Any] | None:
    """The invocation's options with every ``None`` that was resolved replaced by its value."""
    options, resolved = inv.get("options"), inv.get("resolved") or {}
    if options is None:
        return None
    return {k: resolved.get(k, v) if v is None else v for k, v in options.items()}


def run_record(run: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``manifest.json`` document: how the run was invoked (exact command line and every
    option, defaults included and resolved — ``resolved_defaults`` names the options that were
    left unset and shows what they became — when it came from the command line), the software versions,
    the platform, start and end time, the inputs with sha256 and every file written."""
    inv = INVOCATION.get() or {}
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

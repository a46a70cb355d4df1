"""The bench folder: its state in the output manifest (grids, settings) and its lock.

A bench folder is a resumable output folder (:mod:`rnndyn.outputs.manifest`): its
``.rnndyn-manifest.json`` lists the report files rnndyn wrote (with their sha256, so a report the
user edited, or a file they put there, is never overwritten), names the bench's working paths
(``cells/``, ``checkpoints/``, ``snapshots/``, the lock) and carries, under ``run.bench``, every
grid run there and the training settings all its cells share. The reports are published through
:func:`rnndyn.outputs.staging.staged_output`, so a run stopped while writing them (Ctrl-C, full
disk) leaves the previous reports, and the next run rewrites them all from the cell files.

Folders written before the manifest held the bench state carry ``.rnndyn-bench.json`` instead;
they are still recognised as rnndyn's: the first run there moves that marker's state and the
report files it vouches for into the manifest (a report the user edited is refused, as before).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TypedDict, cast

from rnndyn._util.atomic import TMP_SUFFIX
from rnndyn._util.hashing import file_sha256
from rnndyn.errors import OutputError, RnndynWarning, UsageError
from rnndyn.outputs import manifest as mf
from rnndyn.training.bench.grid import Grid, GridAxes, GridSettings

SCHEMA = "rnndyn.training.bench/1"
KEY = "bench"  # the manifest's run.bench
LEGACY_MARKER = ".rnndyn-bench.json"  # before the manifest held the bench state
LOCK = ".rnndyn-bench.lock"
WORK = ("cells", "checkpoints", "snapshots", LOCK)
_WHAT = "rnndyn bench"


class BenchState(TypedDict):
    """The bench state in the manifest: every grid run in the folder and the shared settings."""

    schema: str
    settings: GridSettings
    grids: list[GridAxes]


@contextlib.contextmanager
def open_folder(out: Path, grid: Grid) -> Iterator[BenchState]:
    """Check ``out`` is new, empty or an rnndyn bench with the same settings; hold its lock;
    record the grid. Yields the bench state."""
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder", path=out, hint="Choose another --out.")
    if out.is_dir():
        _recover(out)
    state = read_state(out)
    if state is None:
        if out.exists() and any(out.iterdir()):
            raise OutputError(
                "holds files rnndyn bench did not write (no rnndyn manifest); rnndyn "
                "never writes into such a folder",
                path=out,
                hint="Choose a new or empty --out folder.",
            )
        state = {"schema": SCHEMA, "settings": grid.settings(), "grids": []}
    else:
        state["settings"] = _merge_settings(out, state["settings"], grid.settings())
        _refuse_edited(out)
    try:
        (out / "cells").mkdir(parents=True, exist_ok=True)
    except OSError as err:  # read-only parent, a regular file on the path, ...
        raise OutputError(
            f"cannot create the bench folder ({err.strerror})",
            path=out,
            hint="Choose an --out folder you can write to.",
        ) from None
    with _lock(out):
        for stale in [*out.glob(f"cells/.*{TMP_SUFFIX}"), *out.glob(f"checkpoints/.*{TMP_SUFFIX}")]:
            stale.unlink(missing_ok=True)  # a killed worker's half-written file
        if grid.describe() not in state["grids"]:
            state["grids"].append(grid.describe())
        _write(out, state)
        yield state


def read_state(out: Path) -> BenchState | None:
    """The folder's bench state, ``None`` when it has none; ``OutputError`` when its manifest is
    not a bench's."""
    found = mf.read_state(out, KEY, what=_WHAT)
    if found is None:
        return None
    if found.get("schema") != SCHEMA or not isinstance(found.get("grids"), list):
        raise OutputError(
            "the manifest's bench state is unreadable or not an rnndyn bench's",
            path=out,
            hint="Choose a new --out folder.",
        )
    return cast(BenchState, found)


def _write(out: Path, state: BenchState) -> None:
    mf.write_state(out, KEY, dict(state), WORK)


def _recover(out: Path) -> None:
    """Finish a killed report publish, then move a pre-manifest marker's state into the manifest."""
    from rnndyn.outputs.staging import recover_publish

    done = recover_publish(out)
    if done:
        import warnings

        warnings.warn(done, RnndynWarning, stacklevel=4)
    legacy = out / LEGACY_MARKER
    if not legacy.is_file() or (out / mf.MANIFEST_NAME).exists():
        return
    try:
        doc = json.loads(legacy.read_text(encoding="utf-8"))
        if doc["schema"] != SCHEMA or not isinstance(doc["grids"], list):
            raise ValueError(doc["schema"])
        reports, pending = doc.get("reports", {}), doc.get("pending", {})
        if not (isinstance(reports, dict) and isinstance(pending, dict)):
            raise ValueError("reports")
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputError(
            f"{LEGACY_MARKER} is unreadable or not an rnndyn bench marker",
            path=out,
            hint="Choose a new --out folder.",
        ) from None
    entries: list[mf.ManifestEntry] = []
    edited = []
    for name in sorted({*reports, *pending}):
        path = out / name
        if not mf.is_safe_relative(name) or not path.is_file() or path.is_symlink():
            continue
        sha = file_sha256(path)
        if sha in {reports.get(name), *pending.get(name, ())}:
            entries.append({"path": name, "sha256": sha, "size": path.stat().st_size})
        elif name in reports:
            edited.append(name)
    _refuse(out, edited)
    state: BenchState = {"schema": SCHEMA, "settings": doc["settings"], "grids": doc["grids"]}
    mf.write_manifest(out, entries, {KEY: dict(state)}, WORK)
    legacy.unlink()


def _refuse_edited(out: Path) -> None:
    _refuse(out, mf.inspect_folder(out).edited)


def _refuse(out: Path, edited: list[str]) -> None:
    """``OutputError`` naming report files rnndyn wrote that were changed since."""
    if edited:
        raise OutputError(
            f"report files here were not written by rnndyn or were edited ({', '.join(edited)}); "
            "rnndyn will not overwrite them",
            path=out,
            hint="Move those files elsewhere, or choose a new --out folder.",
        )


def _merge_settings(out: Path, old: GridSettings, new: GridSettings) -> GridSettings:
    clashes = [
        k
        for k, there, here in (
            ("epochs", old.get("epochs"), new["epochs"]),
            ("hidden", old.get("hidden"), new["hidden"]),
            ("sizes", old.get("sizes"), new["sizes"]),
        )
        if there != here
    ]
    groups: tuple[tuple[str, Mapping[str, object], Mapping[str, object]], ...] = (
        ("tasks", old.get("tasks", {}), new["tasks"]),
        ("init_params", old.get("init_params", {}), new["init_params"]),
    )
    for group, theirs, ours in groups:
        shared = set(theirs) & set(ours)
        clashes += [f"{group}.{k}" for k in sorted(shared) if theirs[k] != ours[k]]
    if clashes:  # the options clash with the folder: a usage error (exit 2), as in `study`
        raise UsageError(
            f"this folder holds a bench run with other settings ({', '.join(clashes)}); its "
            "cells would not be comparable with this run's",
            path=out,
            hint="Use the same settings to resume or extend it, or choose a new --out folder.",
        )
    return {
        **old,
        "tasks": {**old.get("tasks", {}), **new["tasks"]},
        "init_params": {**old.get("init_params", {}), **new["init_params"]},
    }


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """An exclusive lock file holding our pid; a lock whose process is gone is taken over."""
    lock = out / LOCK
    for attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except PermissionError as err:
            raise OutputError(f"cannot write here ({err.strerror})", path=out) from None
        except FileExistsError:
            if attempt or _lock_alive(lock):
                raise OutputError(
                    "another rnndyn bench is running in this folder",
                    path=out,
                    hint=f"Wait for it to finish, or delete {LOCK} if none is running.",
                ) from None
            lock.unlink(missing_ok=True)
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _lock_alive(lock: Path) -> bool:
    try:
        pid = int(lock.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True

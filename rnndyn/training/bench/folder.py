"""The bench folder: its marker file (grids, settings, report hashes) and its lock.

``OUT/.rnndyn-bench.json`` says the folder is an rnndyn bench and records every grid run in it, the
training settings all its cells share, and the sha256 of each report file rnndyn wrote, so a
report the user edited (or a file they put there) is never overwritten. Before the reports are
written their new hashes are recorded as ``pending``: a run stopped half-way through writing them
(Ctrl-C, full disk) leaves files rnndyn still recognises, and the next run rewrites them all from
the cell files.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnndyn._util.atomic import TMP_SUFFIX, atomic_write_json
from rnndyn._util.hashing import file_sha256
from rnndyn.errors import OutputError, UsageError
from rnndyn.training.bench.grid import Grid

SCHEMA = "rnndyn.training.bench/1"
MARKER = ".rnndyn-bench.json"
LOCK = ".rnndyn-bench.lock"


@contextlib.contextmanager
def open_folder(out: Path, grid: Grid) -> Iterator[dict[str, Any]]:
    """Check ``out`` is new, empty or an rnndyn bench with the same settings; hold its lock;
    record the grid. Yields the marker document."""
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder", path=out, hint="Choose another --out.")
    marker = read_marker(out)
    if marker is None:
        if out.exists() and any(out.iterdir()):
            raise OutputError(
                "holds files rnndyn bench did not write (no .rnndyn-bench.json marker); rnndyn "
                "never writes into such a folder",
                path=out,
                hint="Choose a new or empty --out folder.",
            )
        marker = {"schema": SCHEMA, "settings": grid.settings(), "grids": [], "reports": {}}
    else:
        marker["settings"] = _merge_settings(out, marker["settings"], grid.settings())
        check_reports(out, marker, marker["reports"])
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
        if grid.describe() not in marker["grids"]:
            marker["grids"].append(grid.describe())
        atomic_write_json(out / MARKER, marker)
        yield marker


def read_marker(out: Path) -> dict[str, Any] | None:
    """The marker document, ``None`` when absent; ``OutputError`` when it is not ours."""
    path = out / MARKER
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc["schema"] != SCHEMA or not isinstance(doc["grids"], list):
            raise ValueError(doc["schema"])
        doc.setdefault("reports", {})
        return doc
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputError(
            f"{MARKER} is unreadable or not an rnndyn bench marker",
            path=out,
            hint="Choose a new --out folder.",
        ) from None


def check_reports(out: Path, marker: dict[str, Any], names: Any) -> None:
    """``OutputError`` if a report file rnndyn is about to write exists with other bytes than
    rnndyn wrote (the user edited it, or put their own file there)."""
    pending = marker.get("pending", {})
    changed = [
        name
        for name in names
        if (out / name).exists()
        and file_sha256(out / name) not in {marker["reports"].get(name), *pending.get(name, ())}
    ]
    if changed:
        raise OutputError(
            f"report files here were not written by rnndyn or were edited ({', '.join(changed)}); "
            "rnndyn will not overwrite them",
            path=out,
            hint="Move those files elsewhere, or choose a new --out folder.",
        )


def plan_reports(out: Path, hashes: dict[str, str]) -> None:
    """Before writing report files: add their sha256 to the marker's ``pending`` hashes."""
    marker = read_marker(out) or {}
    pending = marker.setdefault("pending", {})
    for name, sha in hashes.items():
        pending[name] = sorted({*pending.get(name, ()), sha})
    atomic_write_json(out / MARKER, marker)


def record_reports(out: Path, names: list[str]) -> None:
    """After writing every report file: store their sha256 and drop the pending hashes."""
    marker = read_marker(out) or {}
    marker["reports"] = {**marker.get("reports", {}), **{n: file_sha256(out / n) for n in names}}
    marker.pop("pending", None)
    atomic_write_json(out / MARKER, marker)


def _merge_settings(out: Path, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    clashes = [k for k in ("epochs", "hidden", "sizes") if old.get(k) != new[k]]
    for group in ("tasks", "init_params"):
        shared = set(old.get(group, {})) & set(new[group])
        clashes += [f"{group}.{k}" for k in sorted(shared) if old[group][k] != new[group][k]]
    if clashes:  # the options clash with the folder: a usage error (exit 2), as in `study`
        raise UsageError(
            f"this folder holds a bench run with other settings ({', '.join(clashes)}); its "
            "cells would not be comparable with this run's",
            path=out,
            hint="Use the same settings to resume or extend it, or choose a new --out folder.",
        )
    return {**old, **{g: {**old.get(g, {}), **new[g]} for g in ("tasks", "init_params")}}


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

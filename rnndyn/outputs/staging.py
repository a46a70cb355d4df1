"""Whole-run output folders: stage everything, publish only on success, never clobber.

::

    with staged_output(out_dir, force=force, protect=[ckpt_path]) as out:
        out.write_json("analysis.json", doc)
        out.write_table("eigenvalues", df)      # eigenvalues.csv (+ eigenvalues.parquet)
        out.write_figure("spectrum", fig)       # spectrum.pdf + spectrum.png (300 dpi); closes fig
    # nothing is visible in out_dir until the block succeeds

Policy (reliability.md §3.2): files go to a staging folder (``OUT/.rnndyn-staging-*``, or beside
``OUT``'s nearest existing ancestor when ``OUT`` does not exist yet). On success they are moved in
with ``os.replace`` and ``.rnndyn-manifest.json`` (relative paths + sha256) is written last. An
existing ``OUT`` must hold only files listed in a valid manifest with unchanged bytes, and replacing
them needs ``force=True``. Files the user added or edited are refused even under ``force``. Paths in
``protect`` (the inputs) are never overwritten or deleted. On any exception or Ctrl-C the staging
folder is removed and the previous outputs stay as they were. The publish step itself (a rename
of the staged folder, or a handful of ``os.replace`` calls plus two manifest writes) runs with
Ctrl-C deferred, so the folder holds either all the old files or all the new ones. A visible
``manifest.json`` (:func:`rnndyn.outputs.manifest.run_record`) describes each run. Every failed write
(full disk, read-only folder, name too long) is an OutputError: exit 5 on the command line.

A resumable folder (bench, study) publishes its reports the same way with ``work`` (its working
paths, kept out of the manifest's file list and never touched) and ``keep_foreign=True``: files the
user added are left alone unless a report would replace one, which is refused.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rnndyn._util.atomic import (
    atomic_write_json,
    ctrl_c_deferred,
    displayable,
    displayable_frame,
    dumps_json,
    umask_mode,
)
from rnndyn._util.jsonsafe import JsonObject
from rnndyn._util.text import join_names
from rnndyn.errors import OutputError, RnndynWarning
from rnndyn.outputs import manifest as mf
from rnndyn.outputs.figures import close_figure, figure_bytes

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

FIGURE_FORMATS = ("pdf", "png", "svg")
LEFTOVER_AGE_S = 86_400  # staging folders of killed runs older than this are swept
_NAME_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=@,-]*$")


def safe_name(text: str, max_len: int = 100) -> str:
    """A file-name part from an untrusted string (checkpoint stem, key): ``[A-Za-z0-9_.+=@,-]``."""
    name = re.sub(r"[^A-Za-z0-9_.+=@,-]+", "_", str(text)).strip("._") or "unnamed"
    return name[:max_len]


class StagedOutput:
    """Writers into a staging folder; see :func:`staged_output`.

    Every writer returns the paths it wrote (inside staging). ``run_info`` is a JSON-ready dict
    stored in the manifest's ``run`` field.
    """

    def __init__(
        self,
        root: Path,
        formats: tuple[str, ...],
        *,
        dest: Path | None = None,
        _prefix: str = "",
        _shared: tuple[set[str], JsonObject] | None = None,
    ):
        self.root = root
        self.dest = root if dest is None else dest  # the folder the files will be published to
        self.formats = formats
        self._prefix = _prefix
        self._written: set[str] = set() if _shared is None else _shared[0]
        self.run_info: JsonObject = {} if _shared is None else _shared[1]

    def path(self, name: str) -> Path:
        """A fresh path ``name`` (may contain ``/``) inside staging, for custom writers."""
        rel = self._prefix + _check_name(name)
        if rel in self._written or rel == mf.RUN_RECORD_NAME:
            raise ValueError(f"output {rel!r} is written twice in one run (or is reserved)")
        self._written.add(rel)
        dest = self.root / self._prefix / name
        with self._writing(rel):
            dest.parent.mkdir(parents=True, exist_ok=True)
        return dest

    @contextlib.contextmanager
    def _writing(self, rel: str) -> Iterator[None]:
        """Turn a failed write (full disk, quota, read-only) into an OutputError (exit 5)."""
        try:
            yield
        except OutputError:
            raise
        except OSError as err:
            raise OutputError(
                f"could not write {rel} ({err.strerror or err}); nothing was published",
                path=self.dest,
                hint="Check free space and permissions, then run again",
            ) from None

    def subdir(self, name: str) -> StagedOutput:
        """A writer for the sub-folder ``name`` (e.g. one per checkpoint), sharing this run."""
        prefix = self._prefix + _check_name(name) + "/"
        return StagedOutput(
            self.root,
            self.formats,
            dest=self.dest,
            _prefix=prefix,
            _shared=(self._written, self.run_info),
        )

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write raw bytes to ``name``."""
        dest = self.path(name)
        with self._writing(self._prefix + name):
            dest.write_bytes(data)
        return dest

    def write_text(self, name: str, text: str) -> Path:
        """Write UTF-8 text to ``name`` (undecodable file-name bytes shown as ``\\xff``)."""
        return self.write_bytes(name, displayable(text).encode("utf-8"))

    def write_json(self, name: str, obj: object) -> Path:
        """Strict, sorted JSON (NaN/Inf must already be None) to ``name``."""
        return self.write_bytes(name, dumps_json(obj).encode("utf-8"))

    def write_table(self, name: str, df: pd.DataFrame) -> list[Path]:
        """``name.csv`` (exact floats, formula-safe) plus ``name.parquet`` if pyarrow is present."""
        from rnndyn.outputs import tables

        df = displayable_frame(df)
        paths = [self.write_bytes(f"{name}.csv", tables.csv_bytes(df))]
        if tables.parquet_available():
            buffer = io.BytesIO()  # in memory: pyarrow cannot open paths with undecodable bytes
            tables.write_parquet(df, buffer)
            paths.append(self.write_bytes(f"{name}.parquet", buffer.getvalue()))
        return paths

    def write_figure(self, name: str, fig: Figure) -> list[Path]:
        """Save ``fig`` as ``name.<fmt>`` per format (300 dpi, no timestamps), then close it."""
        try:
            rendered = figure_bytes(
                fig, self.formats
            )  # in memory: a full disk fails in write_bytes
            return [self.write_bytes(f"{name}.{fmt}", data) for fmt, data in rendered.items()]
        finally:
            close_figure(fig)


def _check_name(name: str) -> str:
    parts = str(name).split("/")
    if not name or not all(_NAME_PART.match(p) and p not in (".", "..") for p in parts):
        raise ValueError(
            f"invalid output name {name!r}: use [A-Za-z0-9_.+=@,-] parts separated by '/' "
            "(rnndyn.outputs.staging.safe_name cleans untrusted strings)"
        )
    return "/".join(parts)


@contextlib.contextmanager
def staged_output(
    out_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    formats: Iterable[str] = ("pdf", "png"),
    protect: Iterable[str | os.PathLike[str]] = (),
    work: tuple[str, ...] = (),
    keep_foreign: bool = False,
) -> Iterator[StagedOutput]:
    """Stage a run's outputs and publish them into ``out_dir`` only if the block succeeds.

    Raises OutputError (exit 5) before the block runs when ``out_dir`` holds files rnndyn did not
    write, edited files, or (without ``force``) a previous run's output; when it is an input file or
    cannot be written; and at publish time if a write would touch a ``protect`` path.
    ``work``: a resumable folder's working paths (relative; see the module notes), recorded in the
    manifest. ``keep_foreign``: leave the user's files in ``out_dir`` alone instead of refusing
    them, unless an output would replace one.
    """
    out = Path(out_dir)
    fmts = tuple(formats)
    bad = [f for f in fmts if f not in FIGURE_FORMATS]
    if bad:
        raise ValueError(f"unsupported figure formats {bad}; choose from {FIGURE_FORMATS}")
    guarded = [Path(p) for p in protect]
    policy = _Policy(force, tuple(work), keep_foreign)
    existed, staging = _open_staging(out, policy, guarded)
    try:
        writer = StagedOutput(staging, fmts, dest=out)
        yield writer
        with ctrl_c_deferred(
            f"the outputs in {displayable(str(out))} had just been published in full "
            "(Ctrl-C is held back while publishing)."
        ):
            _publish(staging, out, existed, policy, guarded, writer.run_info)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_output_folder(
    out_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Refuse an unusable output folder *before* any work: the checks :func:`staged_output` makes
    on entry (foreign or earlier files, an input, a file in the way, unwritable, name too long),
    including a real write of an empty staging folder. Call it first in a command whose
    computation takes a while; staged_output checks again when it runs."""
    _, staging = _open_staging(Path(out_dir), _Policy(force), [Path(p) for p in protect])
    shutil.rmtree(staging, ignore_errors=True)


@dataclass(frozen=True)
class _Policy:
    """What an existing destination may hold: ``force`` replaces rnndyn's earlier output;
    ``work`` paths are a resumable run's own; ``keep_foreign`` leaves the user's files alone."""

    force: bool
    work: tuple[str, ...] = ()
    keep_foreign: bool = False


def _open_staging(out: Path, policy: _Policy, guarded: list[Path]) -> tuple[bool, Path]:
    """Check the destination; make the staging folder. Returns (``out`` existed, staging)."""
    try:
        if out.is_dir() and (done := recover_publish(out)):
            import warnings

            warnings.warn(done, RnndynWarning, stacklevel=3)
        existed = _check_destination(out, policy, guarded)
        parent = out if existed else _nearest_existing_dir(out)
        _sweep_leftovers(parent)
        staging = Path(tempfile.mkdtemp(prefix=mf.STAGING_PREFIX, dir=parent))
        os.chmod(staging, umask_mode(0o777))  # mkdtemp's 0700 would be published by the rename
        return existed, staging
    except OutputError:
        raise
    except OSError as err:
        raise OutputError(
            f"cannot write the output folder here ({err.strerror or err})",
            path=out,
            hint="Choose a writable --out folder with a shorter name.",
        ) from None


def _check_destination(out: Path, policy: _Policy, protect: list[Path]) -> bool:
    """Refuse unusable destinations; return whether ``out`` exists (as a folder)."""
    if any(_same(out, p) for p in protect):
        raise OutputError("is an input of this run", path=out, hint="Choose another --out folder.")
    if not out.exists():
        if out.is_symlink():
            raise OutputError("is a dangling symbolic link", path=out, hint="Choose another --out.")
        return False
    if not out.is_dir():
        raise OutputError(
            "exists and is not a folder",
            path=out,
            hint="Choose a new --out folder; rnndyn never overwrites files it did not write.",
        )
    _refuse_conflicts(out, mf.inspect_folder(out), policy)
    return True


def _refuse_conflicts(
    out: Path, state: mf.FolderState, policy: _Policy, new: set[str] | None = None
) -> None:
    """Refuse foreign files (with ``keep_foreign``: only those an output in ``new`` would replace),
    edited files, and (without ``force``) an earlier run's output."""
    foreign = state.foreign
    if policy.keep_foreign:
        foreign = [f for f in foreign if new is not None and f in new]
    if foreign:
        raise OutputError(
            f"the output folder already holds files rnndyn did not write "
            f"({join_names(foreign)}); rnndyn never overwrites or deletes them, "
            "even with --force",
            path=out,
            hint="Choose a new --out folder, or move those files elsewhere.",
        )
    if state.edited:
        raise OutputError(
            f"files rnndyn wrote here were changed since ({join_names(state.edited)}); "
            "rnndyn will not overwrite your edits, even with --force",
            path=out,
            hint="Choose a new --out folder, or move the edited files elsewhere.",
        )
    if state.own and not policy.force:
        raise OutputError(
            "the output folder holds rnndyn's output from an earlier run",
            path=out,
            hint="Pass --force to replace it, or choose a new --out folder.",
        )


def _publish(
    staging: Path, out: Path, existed: bool, policy: _Policy, protect: list[Path], run: JsonObject
) -> None:
    record = mf.run_record(run, mf.manifest_entries(staging))
    try:
        (staging / mf.RUN_RECORD_NAME).write_bytes(dumps_json(record).encode("utf-8"))
    except OSError as err:
        raise OutputError(f"could not write manifest.json ({err.strerror})", path=out) from None
    entries = mf.manifest_entries(staging)
    if not existed and not out.exists():
        mf.write_manifest(staging, entries, run, policy.work)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, out)
        except OSError as err:
            raise OutputError(
                f"could not create the output folder ({err.strerror})", path=out
            ) from None
        return
    state = mf.inspect_folder(out)  # again: the user may have added files during the run
    new = {e["path"] for e in entries}
    _refuse_conflicts(out, state, policy, new)
    stale = sorted(set(state.own) - new)
    for rel in [*new, *stale]:
        dest = out / rel
        if any(_same(dest, p) for p in protect):
            raise OutputError(
                f"writing {rel} would overwrite an input of this run",
                path=out,
                hint="Choose a new --out folder.",
            )
        if dest.is_dir() and not dest.is_symlink():
            raise OutputError(f"{rel} is a folder in the way of an output file", path=out)
    try:
        old_entries: list[mf.ManifestEntry] = [
            {"path": r, "sha256": s, "size": (out / r).stat().st_size} for r, s in state.own.items()
        ]
        # recognises old and new during the move
        mf.write_manifest(out, old_entries + entries, run, policy.work)
        journal = {
            "staging": staging.name,
            "entries": entries,
            "stale": stale,
            "run": run,
            "work": list(policy.work),
        }
        atomic_write_json(out / mf.JOURNAL_NAME, journal)  # a killed publish is completed later
        _complete(out, staging, entries, stale, run, policy.work)
    except OSError as err:
        # a failed (not killed) publish: the manifest lists old and new, so the folder stays
        # rnndyn's own and a rerun with --force completes it; the journal is not needed
        with contextlib.suppress(OSError):
            (out / mf.JOURNAL_NAME).unlink(missing_ok=True)
        raise OutputError(
            f"could not publish the outputs ({err.strerror})",
            path=out,
            hint="Check free space and permissions; rerun with --force to complete it.",
        ) from None


def _complete(
    out: Path,
    staging: Path,
    entries: list[mf.ManifestEntry],
    stale: list[str],
    run: JsonObject,
    work: tuple[str, ...] = (),
) -> None:
    """Move the staged files in, remove the stale ones, write the manifest, drop the journal.
    Idempotent: a rerun after a kill finishes what is left."""
    for e in entries:
        src, dest = staging / e["path"], out / e["path"]
        if src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
    for rel in stale:
        (out / rel).unlink(missing_ok=True)
        _remove_empty_parents(out, out / rel)
    mf.write_manifest(out, entries, run, work)
    (out / mf.JOURNAL_NAME).unlink(missing_ok=True)


def recover_publish(out: Path) -> str | None:
    """Finish a publish into ``out`` that was killed (SIGKILL, power loss) between its first and
    last move, from its journal: the staged files still there are moved in, or, when a staged
    file is gone and its destination does not hold it, the new files are rolled back out so only
    the previous run's files (those still intact) remain listed. Returns what was done, or None."""
    import json

    journal = out / mf.JOURNAL_NAME
    if not journal.is_file():
        return None
    try:
        doc = json.loads(journal.read_text("utf-8"))
        staging = out / str(doc["staging"])
        entries, stale, run = list(doc["entries"]), list(doc["stale"]), dict(doc["run"])
        work = tuple(str(w) for w in doc.get("work", []))
        if not (staging.name.startswith(mf.STAGING_PREFIX) and staging.parent == out):
            raise ValueError("a staging folder outside the output folder")
        paths = [*(e["path"] for e in entries), *stale, *work]
        if not all(mf.is_safe_relative(str(r)) for r in paths):
            raise ValueError("an unsafe path")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise OutputError(
            f"an interrupted publish left a journal rnndyn cannot read ({err})",
            path=journal,
            hint="Remove the folder's contents you want to keep elsewhere and choose a new --out.",
        ) from None
    whole = all(
        (staging / e["path"]).is_file()
        or ((out / e["path"]).is_file() and mf.file_sha256(out / e["path"]) == e["sha256"])
        for e in entries
    )
    if whole:
        _complete(out, staging, entries, stale, run, work)
        done = f"completed an interrupted publish in {out} ({len(entries)} file(s) moved in)"
    else:  # cannot complete: keep what provably is ours, listed in a fresh manifest
        own = mf.inspect_folder(out).own
        kept: list[mf.ManifestEntry] = [
            {"path": r, "sha256": sha, "size": (out / r).stat().st_size} for r, sha in own.items()
        ]
        mf.write_manifest(out, kept, run, work)
        journal.unlink(missing_ok=True)
        done = (
            f"an interrupted publish in {out} could not be completed (staged files are gone); "
            f"the {len(kept)} file(s) it holds are listed as rnndyn's (use --force to replace them)"
        )
    shutil.rmtree(staging, ignore_errors=True)
    return done


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _nearest_existing_dir(out: Path) -> Path:
    anchor = out.absolute().parent
    while not anchor.exists():
        anchor = anchor.parent
    if not anchor.is_dir():
        raise OutputError(
            f"cannot create the output folder: {anchor} is a file, not a folder",
            path=out,
            hint="Choose another --out folder.",
        )
    return anchor


def _remove_empty_parents(root: Path, path: Path) -> None:
    parent = path.parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def _sweep_leftovers(folder: Path) -> None:
    """Remove staging folders that killed runs left behind more than a day ago."""
    cutoff = time.time() - LEFTOVER_AGE_S
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if (
                entry.name.startswith(mf.STAGING_PREFIX)
                and entry.is_dir()
                and not entry.is_symlink()
            ):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < cutoff:
                        shutil.rmtree(entry, ignore_errors=True)

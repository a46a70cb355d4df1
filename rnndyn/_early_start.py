"""Early start of ``analyze``: gate blocks decomposed while torch loads the file.

``import torch`` takes about a second of one core. When the file is a plain torch state dict
(``rnndyn.readers.zip_reader`` reads it without torch) and ``jobs`` > 1, its recurrent gate blocks
are decomposed in background threads (one BLAS thread each, as ``eigendecompose(jobs>1)`` does)
while torch is imported and the file is loaded the usual, safe way. An early result is used only
for an operator whose float64 matrix is bit-identical to the block it was computed from, so the
results are exactly those of ``eigendecompose(ops, jobs=jobs)``; anything else is computed then.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np

from rnndyn.naming import VANILLA, OperatorId
from rnndyn.operators import RecurrentOperator
from rnndyn.spectrum import OperatorSpectrum, decompose_one, relabel

EARLY_MIN_HIDDEN = 128  # smaller blocks take milliseconds: not worth an early start
EARLY_MAX_HIDDEN = 2048  # larger ones take minutes (import torch: under 2 %), and a file refused
# after the start would wait for its running blocks (BLAS settings never change under a call)
_WEIGHT_HH = re.compile(r"(?:^|\.)weight_hh(?:_l\d+(?:_reverse)?)?$")


class EarlyStart:
    """Gate blocks of a plain state dict, decomposed in a thread pool while torch loads the file.

    ``take(ops)`` waits for the blocks bit-identical to an operator's matrix and drops the rest;
    ``close()`` (always called) cancels the blocks not started, waits for the running ones (the
    BLAS thread count must not change under a running call: that can stall or hang the process)
    and lifts the one-BLAS-thread limit.
    """

    def __init__(self, blocks: list[np.ndarray], jobs: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        self.blocks = blocks
        self._limit: Any = threadpool_limits(1, user_api="blas")
        self._pool: Any = ThreadPoolExecutor(min(jobs, len(blocks)), "rnndyn-early")
        self._futures = [self._pool.submit(_decompose, b) for b in blocks]

    @classmethod
    def open(cls, path: str | PathLike[str], jobs: int) -> EarlyStart | None:
        """Start on ``path``'s finite ``weight_hh`` blocks (``EARLY_MIN_HIDDEN`` ≤ H ≤
        ``EARLY_MAX_HIDDEN``), or None: one job, not a plain state dict, a projection
        (``weight_hr``), or fewer than two blocks (one operator alone is decomposed with the
        default BLAS threads, not in a thread of its own)."""
        if jobs <= 1 or not _torch_zip_head(path):
            return None
        from rnndyn.readers.zip_reader import open_state_dict  # here: ~10 ms of imports

        archive = open_state_dict(path, must_contain=b"weight_hh")
        if archive is None or any("weight_hr" in k for k in archive.refs):
            return None
        blocks, seen = [], set()
        try:
            for key, ref in archive.refs.items():
                view = (ref.storage.key, ref.offset, ref.shape, ref.stride)
                if view in seen:  # another name for the same weights: decomposed once
                    continue
                seen.add(view)
                rows, h = ref.shape if len(ref.shape) == 2 else (0, 0)
                if not (ref.is_float and _WEIGHT_HH.search(key)):
                    continue
                if not EARLY_MIN_HIDDEN <= h <= EARLY_MAX_HIDDEN or rows % h or rows // h > 4:
                    return None  # not what an RNN/GRU/LSTM stores: leave it all to the usual path
                w = archive.array(key, np.float64)
                if rows // h == 2 or not _companions_fit(archive.refs, key, rows):
                    return None
                if not np.isfinite(w).all():
                    return None
                blocks += [w[g * h : (g + 1) * h] for g in range(rows // h)]
        except Exception:  # a storage the reader cannot use: torch will say why
            return None
        from rnndyn._util import budget

        sizes = sum(96.0 * b.shape[0] ** 2 for b in blocks)
        if sizes > budget.limit()[0]:
            return None  # the usual path refuses it with the estimate
        return cls(blocks, jobs) if len(blocks) > 1 else None

    def take(self, ops: Sequence[RecurrentOperator]) -> dict[int, OperatorSpectrum]:
        """Results for the operators whose matrix is bit-identical to a block (by position); then
        ``close()``, so the rest is computed under the caller's own BLAS settings."""
        matched: dict[int, int] = {}
        for i, op in enumerate(ops):  # a block may serve several operators (repeated weights)
            j = next((j for j, b in enumerate(self.blocks) if _same_bits(b, op.matrix)), None)
            if j is not None:
                matched[i] = j
        for j in set(range(len(self.blocks))) - set(matched.values()):
            self._futures[j].cancel()
        try:
            return {i: relabel(self._futures[j].result(), ops[i]) for i, j in matched.items()}
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._limit is not None:
            self._limit.restore_original_limits()
            self._limit = None


def _torch_zip_head(path: str | PathLike[str]) -> bool:
    """Whether the file starts like ``torch.save``'s zip: its first entry is ``<prefix>/data.pkl``
    (a cheap filter; ``.npz``, ``.keras`` and non-zip files stop here)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # never open a FIFO or a device here
            return False
        with open(path, "rb") as f:
            head = f.read(30 + 256)
    except (OSError, ValueError):
        return False  # the usual path says why
    if head[:4] != b"PK\x03\x04" or len(head) < 30:
        return False
    name = head[30 : 30 + int.from_bytes(head[26:28], "little")]
    return name == b"data.pkl" or name.endswith(b"/data.pkl")


def _companions_fit(refs: dict[str, Any], key: str, rows: int) -> bool:
    """``weight_ih``/``bias_*`` beside ``weight_hh`` have its rows (else the file will be refused,
    after waiting for the running blocks: better not to start)."""
    head, tail = key.rsplit("weight_hh", 1)
    for name in ("weight_ih", "bias_ih", "bias_hh"):
        ref = refs.get(f"{head}{name}{tail}")
        if ref is not None and (ref.shape[:1] != (rows,) or len(ref.shape) != 1 + (name[0] == "w")):
            return False
    return True


def _decompose(block: np.ndarray) -> OperatorSpectrum:
    return decompose_one(RecurrentOperator(OperatorId(0, "forward", VANILLA, "", "custom"), block))


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    b = np.asarray(b)
    if a.shape != b.shape or b.dtype != np.float64:
        return False
    return bool(np.array_equal(a.view(np.uint64), np.ascontiguousarray(b).view(np.uint64)))

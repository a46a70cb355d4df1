"""Threads for independent numeric jobs, one BLAS thread each (used by ``rnndyn.spectrum``).

LAPACK's nonsymmetric eigensolver is mostly sequential and numpy releases the GIL inside it, so
``jobs`` threads with BLAS limited to one thread each use ``jobs`` cores without oversubscribing
them. Results are returned in input order and do not depend on ``jobs``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


def map_threads(
    fn: Callable[[Any], Any], items: Sequence[Any], jobs: int, *, cost: Callable[[Any], float]
) -> list[Any]:
    """``[fn(x) for x in items]`` in ``jobs`` threads, largest ``cost`` first, one BLAS thread
    each. On Ctrl-C the queued items are dropped (the ones running finish in the background)."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    order = sorted(range(len(items)), key=lambda i: -cost(items[i]))
    pool = ThreadPoolExecutor(jobs, thread_name_prefix="rnndyn-eig")
    try:
        with threadpool_limits(1, user_api="blas"):
            done = dict(zip(order, pool.map(lambda i: fn(items[i]), order), strict=True))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [done[i] for i in range(len(items))]

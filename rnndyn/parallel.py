"""Run independent jobs on local worker processes or on a Dask cluster, one thread each.

One entry point, :func:`execute`, shared by ``compare``, ``study`` and ``bench``::

    execute(run_cell, [(cell, cfg) for cell in todo], on_result=save, jobs=4)
    execute(run_cell, args, on_result=save, cluster="local:4")        # dask LocalCluster
    execute(run_cell, args, on_result=save, cluster="tcp://head:8786")  # an existing scheduler

Every worker runs one torch thread and one BLAS thread (:func:`limit_threads`), so ``N`` workers
use ``N`` cores. Local workers ignore SIGINT (:func:`worker_init`): Ctrl-C reaches the parent only,
which terminates them, so no worker prints a ``KeyboardInterrupt`` traceback. Jobs must be
idempotent (they write their result atomically under a fixed name): Dask re-runs the job of a
worker that died, so a job may run more than once but ``on_result`` sees each job once.
Dask (``distributed``) is optional: ``pip install 'rnndyn[dask]'``.
"""

from __future__ import annotations

import contextlib
import signal
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rnndyn.errors import RnndynError, UsageError

OnResult = Callable[[int, Any], None]
WORKER_WAIT_S = 30.0  # how long a scheduler may have no workers before we give up
CONNECT_S = 10.0  # how long to try reaching a scheduler
IGNORE_SIGINT = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)"  # a preload script


def limit_threads() -> None:
    """One torch thread and one BLAS/OpenMP thread in this process (a worker's share: one core)."""
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel op
        torch.set_num_interop_threads(1)
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)


def worker_init() -> None:
    """Initializer of local worker processes: SIGINT ignored (the parent handles Ctrl-C by
    terminating the workers), one thread each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads()


def execute(
    fn: Callable[..., Any],
    args: Sequence[tuple[Any, ...]],
    *,
    on_result: OnResult,
    jobs: int = 1,
    cluster: str | None = None,
    preload: Sequence[str] = (),
    catch: tuple[type[BaseException], ...] = (),
) -> None:
    """Call ``fn(*a)`` for every ``a`` in ``args``; ``on_result(index, value)`` as each finishes.

    ``cluster=None``: ``jobs`` local processes (in this process when ``jobs == 1`` or there is one
    job); ``preload`` modules are imported once in a forkserver whose forks become the workers.
    ``cluster="local:N"`` or ``"tcp://HOST:PORT"``: Dask. ``fn`` must be a module-level function.
    An exception raised by ``fn`` propagates (the other jobs are cancelled), unless it is one of
    ``catch``: then it is passed to ``on_result`` as the value. On Ctrl-C or any
    error the workers are stopped (local) or the jobs cancelled (Dask); finished jobs are kept by
    whatever ``on_result`` did with them.
    """
    if catch:
        fn, args = _catching, [(fn, catch, *a) for a in args]
    if cluster is not None:
        _run_dask(fn, args, on_result, cluster)
    elif jobs <= 1 or len(args) <= 1:
        _run_here(fn, args, on_result)
    else:
        _run_pool(fn, args, on_result, min(jobs, len(args)), preload)


def _catching(fn: Callable[..., Any], catch: tuple[type[BaseException], ...], *a: Any) -> Any:
    try:
        return fn(*a)
    except catch as err:
        return err


def _run_here(fn: Callable[..., Any], args: Sequence[tuple], on_result: OnResult) -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for i, a in enumerate(args):
            on_result(i, fn(*a))
    finally:
        torch.set_num_threads(threads)


def _run_pool(
    fn: Callable[..., Any],
    args: Sequence[tuple],
    on_result: OnResult,
    jobs: int,
    preload: Sequence[str],
) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ctx: Any
    if preload:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["torch", *preload])
    else:
        ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=worker_init)
    try:
        with sigint_blocked():  # workers start (and import torch) with SIGINT blocked: no traces
            futures = {pool.submit(fn, *a): i for i, a in enumerate(args)}
        for fut in as_completed(futures):
            on_result(futures[fut], fut.result())
    except BaseException as err:
        procs = list((getattr(pool, "_processes", None) or {}).values())  # before shutdown()
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:  # a private attribute, guarded: stop the jobs in flight now
            proc.terminate()
        for proc in procs:
            proc.join(5)
        if isinstance(err, BrokenProcessPool):
            raise RnndynError(
                "a worker process died (out of memory?); finished jobs are kept",
                hint="Run the same command again to resume.",
            ) from None
        raise
    pool.shutdown()


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this (main) thread while worker processes are started: they inherit the
    mask through fork and exec, so a Ctrl-C while a worker (or the forkserver) still imports torch
    cannot print its KeyboardInterrupt traceback. The parent receives the Ctrl-C when the block
    is lifted (or at once, through any other thread) and stops the workers as usual."""
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "pthread_sigmask"
    ):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _in_worker(fn: Callable[..., Any], *a: Any) -> Any:
    """A Dask task: one thread in this worker, then the job."""
    limit_threads()
    return fn(*a)


def worker_version() -> str:
    """The rnndyn version of the process running it (probed on every Dask worker)."""
    from rnndyn._version import __version__

    return __version__


def _run_dask(
    fn: Callable[..., Any], args: Sequence[tuple], on_result: OnResult, spec: str
) -> None:
    from distributed import as_completed

    with connect(spec) as client:
        check_workers(client, spec)
        run = f"rnndyn-{_name(args[0], fn) if args else 'job'}-{uuid.uuid4().hex[:8]}"
        futures = [
            client.submit(_in_worker, fn, *a, key=f"{run}-{i}", pure=False)
            for i, a in enumerate(args)
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in as_completed(futures):
                on_result(index[fut.key], _result(fut, spec))
        finally:
            client.cancel(futures)


def _name(a: tuple, fn: Callable[..., Any]) -> str:
    return getattr(a[0] if fn is _catching else fn, "__name__", "job")


def _result(fut: Any, spec: str) -> Any:
    from distributed import KilledWorker

    try:
        return fut.result()
    except KilledWorker:
        raise RnndynError(
            f"Dask workers of {spec} died running the same job several times (out of memory?); "
            "finished jobs are kept",
            hint="Give the workers more memory, then run the same command again to resume.",
        ) from None
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] != "rnndyn":
            raise
        raise _missing(spec, "a worker that joined later") from None


@contextlib.contextmanager
def connect(spec: str) -> Iterator[Any]:
    """A Dask client for ``local:N`` (a LocalCluster of N single-thread processes, closed on exit)
    or ``tcp://HOST:PORT`` (an existing scheduler, left running)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(
            f"--cluster {spec} needs Dask's 'distributed' package, which is not installed",
            hint="Install it with: pip install 'rnndyn[dask]'.",
        ) from None
    kind = spec.partition(":")[0]
    if kind == "local":
        n = local_workers(spec)
        with (
            LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: two runs on one machine do not collide
                silence_logs=50,
                preload=[IGNORE_SIGINT],  # Ctrl-C is the client's: no worker tracebacks
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    host, port = scheduler_address(spec)
    if kind == "tcp":
        probe_scheduler(spec, host, port)
    try:
        client = Client(spec, timeout=f"{CONNECT_S}s")
    except (OSError, TimeoutError) as err:
        raise UsageError(
            f"--cluster {spec}: could not connect to a Dask scheduler there ({err})",
            hint="Start one (dask scheduler, or dask-jobqueue) and pass its address.",
        ) from None
    try:
        yield client
    finally:
        client.close()


def local_workers(spec: str) -> int:
    """N of ``local:N``: 1 ≤ N ≤ the cores this process may use (UsageError otherwise)."""
    from rnndyn._util.threads import available_cores

    rest = spec.partition(":")[2]
    if not (rest.isdigit() and int(rest) >= 1):
        raise UsageError(f"--cluster {spec!r}: write local:N with N ≥ 1 workers")
    cores = available_cores()
    if int(rest) > cores:
        raise UsageError(
            f"--cluster {spec}: {int(rest)} local workers on {cores} core(s) would only compete "
            "for them (each worker runs one thread)",
            hint=f"Use local:{cores} or fewer, or tcp://HOST:PORT for a cluster with more cores.",
        )
    return int(rest)


def scheduler_address(spec: str) -> tuple[str, int]:
    """``(host, port)`` of ``tcp://HOST:PORT`` / ``tls://HOST:PORT`` (IPv6 in brackets), else
    UsageError naming the expected forms."""
    from urllib.parse import urlsplit

    bad = UsageError(
        f"--cluster {spec!r}: expected local:N or tcp://HOST:PORT (a Dask scheduler; an IPv6 "
        "host in brackets, e.g. tcp://[::1]:8786)"
    )
    kind, _, rest = spec.partition(":")
    if kind not in ("tcp", "tls") or not rest.startswith("//"):
        raise bad
    try:
        parts = urlsplit(spec)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise bad from None
    if not host or port is None or not 0 < port < 65536 or parts.path not in ("", "/"):
        raise bad
    return host, port


def probe_scheduler(spec: str, host: str, port: int, timeout: float = CONNECT_S) -> None:
    """Connect once (bounded by ``timeout``) and read the greeting a Dask scheduler sends on
    every new connection: a small frame count and frame lengths. Anything else is refused with
    "not a Dask scheduler" before Dask's own reader sizes buffers from arbitrary bytes."""
    import socket
    import struct

    def fail(why: str) -> UsageError:
        return UsageError(
            f"--cluster {spec}: {why}",
            hint="Pass the address of a running Dask scheduler (dask scheduler prints it).",
        )

    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            head = _recv(sock, 16)  # total length, frame count (little-endian uint64)
            total, n_frames = struct.unpack("<QQ", head) if len(head) == 16 else (0, 0)
            sizes: tuple[int, ...] = ()
            if 0 < n_frames <= 64 and total < 1 << 26:
                lengths = _recv(sock, 8 * n_frames)
                if len(lengths) == 8 * n_frames:
                    sizes = struct.unpack(f"<{n_frames}Q", lengths)
            if not sizes or total != 8 + 8 * n_frames + sum(sizes):
                raise fail(
                    "the server there is not a Dask scheduler (its first bytes are not a Dask "
                    f"greeting: {head[:16]!r})"
                )
    except TimeoutError:
        raise fail(
            f"the server there sent nothing within {timeout:.0f} s: it is not a Dask scheduler "
            "or not responding"
        ) from None
    except OSError as err:
        raise fail(f"could not connect ({err.strerror or err})") from None


def _recv(sock: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def check_workers(client: Any, spec: str) -> None:
    """Every worker must run this rnndyn version; waits up to ``WORKER_WAIT_S`` for a first one."""
    from rnndyn._version import __version__

    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError:
        raise UsageError(
            f"--cluster {spec}: the scheduler has had no workers for {WORKER_WAIT_S:.0f} s",
            hint="Start workers (dask worker ADDRESS) in the same Python environment.",
        ) from None
    found = client.run(worker_version, on_error="return")
    missing = [w for w, v in found.items() if isinstance(v, BaseException)]
    if missing:
        raise _missing(spec, ", ".join(sorted(missing)[:3]))
    other = {w: v for w, v in found.items() if v != __version__}
    if other:
        w, v = sorted(other.items())[0]
        raise UsageError(
            f"--cluster {spec}: worker {w} runs rnndyn {v}, this process {__version__}; results "
            "from different versions would be mixed in one folder",
            hint="Install the same rnndyn version on every worker.",
        )


def _missing(spec: str, where: str) -> UsageError:
    return UsageError(
        f"--cluster {spec}: rnndyn cannot be imported on {where}",
        hint="Install rnndyn (same version) in the workers' Python environment.",
    )

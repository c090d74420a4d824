"""How many threads the BLAS library runs the fits on: one policy, read everywhere.

The fits are many small matrix products (a signature of a few hundred genes by
10-22 cell types), which OpenBLAS's threads barely speed up alone and slow down
badly when sessions or other programs share the cores.  On this 2-core machine
under load, measured in one run each: the fit and the gene checks of 1,000
samples on a 1,296-gene signature took 2.3 s and 4.0 s of CPU with two threads,
1.2 s and 1.6 s with one; the medium mixtures of ``benchmarks/solver_speed.py``
took 21-27 s to fit robustly with two threads and 7-8 s with one.

The policy: a thread count the user set in the environment
(:data:`THREAD_VARIABLES`, a positive whole number) is honoured; otherwise BLAS
runs on one thread.  The command line and the dashboard apply it to their whole
process (:func:`limit_blas_threads`); the robust fit applies it around itself
(:func:`blas_thread_limit`), so it holds for any caller.

Beside BLAS, the robust fit's Newton rounds and the gene checks' blocks of
samples run on a few Python threads of their own (:func:`map_on_threads`,
:data:`BLOCK_WORKERS`): numpy releases the GIL in the products, solves and
sorts that make up most of a block, and each block writes only its own
results, so the answers do not depend on the number of threads.  Where no
other thread is alive (the command line, a script), a large robust fit forks
instead (:func:`fork_workers`, :func:`run_in_forks`): two processes share no
interpreter or allocator, and sped the rounds up more than two threads did.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "BLOCK_WORKERS",
    "FORKING",
    "THREAD_VARIABLES",
    "blas_thread_limit",
    "fork_workers",
    "limit_blas_threads",
    "map_on_threads",
    "run_in_forks",
    "shared_array",
    "user_blas_threads",
]

#: Python threads for blocks of samples (the cores, at most 4: the blocks hold the
#: GIL between their numpy calls, so more threads stop paying).
BLOCK_WORKERS = min(os.cpu_count() or 1, 4)

#: Environment variables through which a user sets OpenBLAS's threads, in the order
#: OpenBLAS reads them (OMP_NUM_THREADS counts when OPENBLAS_NUM_THREADS is unset).
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def user_blas_threads() -> int | None:
    """The BLAS thread count the user set in the environment, or None when none is set.

    Only a positive whole number counts: OpenBLAS itself ignores anything else.
    """
    for name in THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def limit_blas_threads() -> None:
    """Run this process's BLAS on one thread, unless the user set a thread count.

    Also sets ``OPENBLAS_NUM_THREADS=1`` so that a BLAS loaded later (scipy's, for
    ``--method epic``) starts with one thread too.
    """
    if user_blas_threads() is not None:
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def blas_thread_limit() -> contextlib.AbstractContextManager[Any]:
    """Context that runs BLAS on one thread (restored on exit), unless the user set a count."""
    if user_blas_threads() is not None:
        return contextlib.nullcontext()
    return _controller().limit(limits=1, user_api="blas")


@functools.cache
def _controller() -> Any:
    """The controller of the BLAS thread pools, made once (finding them costs ~10 ms)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def map_on_threads(func: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    """``[func(item) for item in items]`` on up to ``workers`` threads, in the items' order.

    One thread (no pool) when ``workers`` or the number of items is 1.
    """
    workers = min(workers, len(items))
    if workers <= 1:
        return [func(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(func, items))


def fork_workers(workers: int) -> int:
    """How many processes a job may fork into here: ``workers``, or 1 where forking is unsafe.

    Forking copies the process as it stands, so it is safe only where no other
    thread can hold a lock at that moment: on Linux, from the main thread, with
    no other Python thread alive (a plain command-line or script process, not
    the dashboard's server nor a Dask worker, which run threads).
    :data:`FORKING` switches it off.
    """
    if not FORKING or workers <= 1 or not sys.platform.startswith("linux"):
        return 1
    if threading.current_thread() is not threading.main_thread():
        return 1
    return workers if threading.active_count() == 1 else 1


#: Whether :func:`run_in_forks` may fork at all (tests switch it off to compare).
FORKING = True


def shared_array(shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """A zeroed array in memory that processes forked afterwards share (anonymous, shared)."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = mmap.mmap(-1, max(size, 1))
    return np.frombuffer(buffer, dtype=dtype, count=int(np.prod(shape))).reshape(shape)


def run_in_forks(tasks: Sequence[Callable[[], None]]) -> list[int]:
    """Run every task but the last in a forked child process, the last in this one.

    Tasks return nothing: they write their results into arrays made by
    :func:`shared_array` before the call.  A child ends with ``os._exit``
    (nothing of this process's buffers or exit handlers runs twice).  Returns
    the indices of the tasks whose child failed (the caller reruns them
    here).  If this process's own task fails or the call is interrupted (Ctrl-C,
    a termination signal), the children are killed and reaped before the error
    goes on: none outlives the call.

    Ctrl-C and termination are deferred while the children are forked
    (:func:`deferred_stop_signals`): forking runs Python callbacks (the logging
    module releases its lock in the parent), and an exception a signal handler
    raises inside one is printed and dropped, so the run would go on as if never
    stopped.  Deferred, the signal arrives once every child is known, and stops them.
    """
    children: dict[int, int] = {}  # pid -> task index, until reaped
    failed = []
    try:
        with deferred_stop_signals() as restore:
            for index, task in enumerate(tasks[:-1]):
                pid = os.fork()
                if pid == 0:  # the child: the caller's signal handlers, then its task
                    code = 1
                    try:
                        restore()
                        task()
                        code = 0
                    finally:
                        os._exit(code)
                children[pid] = index
        if tasks:
            tasks[-1]()
        for pid in list(children):
            _, status = os.waitpid(pid, 0)
            index = children.pop(pid)
            if os.waitstatus_to_exitcode(status) != 0:
                failed.append(index)
    finally:
        for pid in children:  # only when interrupted: the children are not needed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return sorted(failed)


@contextlib.contextmanager
def deferred_stop_signals() -> Iterator[Callable[[], None]]:
    """Record Ctrl-C and termination inside the block; deliver them at its end.

    For steps that must not be cut in the middle: forking (:func:`run_in_forks`),
    moving a run's files into place (:mod:`deconv_core.report`).  A handler that
    only records cannot raise inside the block, e.g. in os.fork's callbacks,
    whichever thread the signal reached (blocking the signals in this thread
    would not do: another thread alive, e.g. a Dask client's, receives them and
    this thread still runs the handler).  At the end the caller's handlers are back and a
    recorded signal is raised again under them.  Yields the function that puts
    the caller's handlers back without delivering anything (for a forked child).
    Outside the main thread (where handlers cannot be set) nothing is deferred.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    caught: list[int] = []

    def record(signum: int, frame: Any) -> None:
        caught.append(signum)

    # (A handler set outside Python reads as None and could not be put back: left alone.)
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    previous = {sig: handler for sig, handler in previous.items() if handler is not None}
    for sig in previous:
        signal.signal(sig, record)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    try:
        yield restore
    finally:
        restore()
        if caught:
            signal.raise_signal(caught[0])


#: Signals the command line turns into exceptions (Ctrl-C, termination).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

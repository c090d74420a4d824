"""One BLAS thread policy: the user's explicit count is honoured everywhere, else one thread."""

from __future__ import annotations

import functools
import os
import selectors
import signal
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from deconv_core import solvers, threads
from deconv_core.cli import main


def _blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


@pytest.fixture
def no_thread_variables(monkeypatch):
    for name in threads.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, None),
        ({"OPENBLAS_NUM_THREADS": "3"}, 3),
        ({"OMP_NUM_THREADS": "2"}, 2),
        ({"OPENBLAS_NUM_THREADS": "4", "OMP_NUM_THREADS": "2"}, 4),  # OpenBLAS's order
        ({"OPENBLAS_NUM_THREADS": "many"}, None),  # OpenBLAS ignores it too
        ({"OMP_NUM_THREADS": "0"}, None),
    ],
)
def test_the_users_thread_count(no_thread_variables, variables, expected):
    for name, value in variables.items():
        no_thread_variables.setenv(name, value)
    assert threads.user_blas_threads() == expected


def test_the_command_line_runs_blas_on_one_thread_unless_told(no_thread_variables, capsys):
    no_thread_variables.setenv("OMP_NUM_THREADS", "2")
    with threadpool_limits(limits=2, user_api="blas"):
        assert main(["signatures"]) == 0
        assert _blas_threads() == {2}  # the user's count is left alone
        assert "OPENBLAS_NUM_THREADS" not in threads.os.environ
    no_thread_variables.delenv("OMP_NUM_THREADS")
    assert main(["signatures"]) == 0
    assert threads.os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert _blas_threads() == {1}
    capsys.readouterr()


def test_the_robust_fit_honours_the_users_thread_count(no_thread_variables, monkeypatch):
    seen = []  # BLAS threads while huber_nnls fits
    monkeypatch.setattr(solvers, "_huber_fit", lambda *a, **k: seen.append(_blas_threads()))
    S, Y = np.eye(2), np.ones((2, 1))
    with threadpool_limits(limits=2, user_api="blas"):
        solvers.huber_nnls(S, Y)
        assert _blas_threads() == {2}  # restored on exit
        no_thread_variables.setenv("OPENBLAS_NUM_THREADS", "2")
        solvers.huber_nnls(S, Y)
    assert seen == [{1}, {2}]  # the user's count was forced to one before


@pytest.mark.parametrize(
    ("variables", "expected"), [({}, "{1}"), ({"OMP_NUM_THREADS": "2"}, "{2}")]
)
def test_the_dashboard_honours_the_users_thread_count(variables, expected):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in threads.THREAD_VARIABLES}
    probe = (
        "import ui; from threadpoolctl import threadpool_info; "
        "print({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'})"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[2],
        env={**env, **variables},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == expected


def test_forked_tasks_write_shared_arrays_and_a_failed_child_is_reported():
    import os

    from deconv_core.threads import run_in_forks, shared_array

    parent = os.getpid()
    rows = shared_array((3, 2))

    def task(i):
        if i == 1:
            raise RuntimeError("this child fails")
        rows[i] = [i + 1, os.getpid() != parent]

    failed = run_in_forks([lambda i=i: task(i) for i in range(3)])
    assert failed == [1]
    # Row 0 by a child (another process), row 2 by this one; the failed child wrote nothing.
    assert rows.tolist() == [[1.0, 1.0], [0.0, 0.0], [3.0, 0.0]]


def test_forking_only_where_no_other_thread_is_alive(monkeypatch):
    import sys
    import threading

    from deconv_core import threads

    expected = 2 if sys.platform.startswith("linux") else 1
    if threading.active_count() == 1:
        assert threads.fork_workers(2) == expected
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert threads.fork_workers(2) == 1
    finally:
        stop.set()
        other.join()
    monkeypatch.setattr(threads, "FORKING", False)
    assert threads.fork_workers(2) == 1
    assert threads.fork_workers(1) == 1


def test_an_interrupted_parent_kills_and_reaps_its_forked_children():
    import os
    import time

    from deconv_core.threads import run_in_forks, shared_array

    pids = shared_array((1,))
    started = shared_array((1,))

    def child():
        pids[0] = os.getpid()
        started[0] = 1
        time.sleep(600)  # far longer than the test may take

    def interrupted():
        while not started[0]:
            time.sleep(0.01)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_in_forks([child, interrupted])
    with pytest.raises(ChildProcessError):  # already reaped: no zombie, no orphan
        os.waitpid(int(pids[0]), os.WNOHANG)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pids[0]), 0)


class _Stop(Exception):
    """What this test's termination handler raises (as the command line's does)."""


_SIGNAL_IN_FORK = {"on": False}


_CHILD = {"pid": 0}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_self_after_fork() -> None:
    if _SIGNAL_IN_FORK["on"]:
        _SIGNAL_IN_FORK["on"] = False
        os.kill(os.getpid(), signal.SIGTERM)


def _polling_thread() -> Callable[[], None]:
    """Start a thread waiting in a C call (as a Dask client's event loop does); return its stop."""
    read, write = os.pipe()

    def poll():
        with selectors.DefaultSelector() as selector:
            selector.register(read, selectors.EVENT_READ)
            selector.select()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()

    def stop():
        os.write(write, b"x")
        thread.join()
        os.close(read)
        os.close(write)

    return stop


@pytest.mark.parametrize("other_thread", [False, True])
def test_a_termination_during_the_fork_itself_still_stops_the_run(monkeypatch, other_thread):
    # The signal lands while os.fork runs its Python callbacks, where an exception a
    # handler raises would be printed and dropped; deferred, it stops the caller.  With
    # another thread alive (a Dask client's, in a test process) that thread may receive
    # the signal: blocking it in the main thread alone let 1 run in 8 go on (measured).
    from deconv_core.threads import run_in_forks

    def stop(signum, frame):
        raise _Stop

    real_fork = os.fork

    def recorded_fork():
        pid = real_fork()
        if pid:
            _CHILD["pid"] = pid
        return pid

    monkeypatch.setattr(os, "fork", recorded_fork)
    previous = signal.signal(signal.SIGTERM, stop)
    os.register_at_fork(after_in_parent=_signal_self_after_fork)
    stop_thread = _polling_thread() if other_thread else lambda: None
    try:
        for _ in range(20 if other_thread else 1):
            ran: list[int] = []
            _SIGNAL_IN_FORK["on"] = True
            with pytest.raises(_Stop):  # (a child of a failing run sleeps 30 s, not forever)
                run_in_forks([lambda: time.sleep(30), functools.partial(ran.append, 1)])
            assert ran == []  # stopped before its own part, once the child was known
            assert _CHILD["pid"] and not _alive(_CHILD["pid"])  # the child was killed and reaped
            with pytest.raises(ChildProcessError):
                os.waitpid(_CHILD["pid"], os.WNOHANG)
    finally:
        _SIGNAL_IN_FORK["on"] = False
        signal.signal(signal.SIGTERM, previous)
        stop_thread()

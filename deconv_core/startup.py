"""Ctrl-C or SIGTERM while ``python -m deconv_core`` loads its libraries.

``python -m deconv_core`` imports this package, and with it numpy, pandas and
scipy (a few seconds), before ``__main__`` and the command line's own
interrupt handling (:func:`deconv_core.cli.main`) run.  A signal in that time
ends the program with the command line's one line and exit code
(:data:`EXIT_INTERRUPTED` for Ctrl-C, :data:`EXIT_TERMINATED` for SIGTERM)
instead of a traceback: nothing has been read or written yet.  Imported any
other way (``import deconv_core``, the dashboard, tests) the package lets the
interrupt through unchanged.

Only the standard library is imported here, so the guard is in place before
the slow imports start.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "ENDINGS",
    "STARTING",
    "quiet_start",
    "started_as_command",
]

#: What is left behind by a program stopped while it starts.
STARTING = "while starting; nothing was written"


#: Exit codes after Ctrl-C and SIGTERM, here and in :func:`deconv_core.cli.main`:
#: 128 + the signal's number, the shells' convention for a program a signal ended.
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM

#: Exit code and word for each signal (the command line's last line starts with the word).
ENDINGS = {
    signal.SIGINT: (EXIT_INTERRUPTED, "interrupted"),
    signal.SIGTERM: (EXIT_TERMINATED, "terminated"),
}


class _Stopped(BaseException):
    """A signal while the libraries load, raised so the imports unwind."""


def started_as_command() -> bool:
    """Whether ``python -m`` is importing this package to find its ``__main__``.

    While ``python -m`` locates its module it imports the module's parent packages with
    ``sys.argv[0] == "-m"``; once found, ``argv[0]`` becomes the module's path (Python
    documentation, command line option ``-m``).
    """
    return bool(sys.argv) and sys.argv[0] == "-m"


@contextmanager
def quiet_start(active: bool) -> Iterator[None]:
    """Turn Ctrl-C and SIGTERM inside the block into one line and an exit code.

    A signal can surface as another exception: numpy turns an interrupt during
    its compiled core's start into an ``ImportError`` that blames the install,
    and one that arrives inside a weakref callback of the import machinery is
    swallowed ("Exception ignored in ...") and the imports go on.  So the
    signal is recorded, and whatever the block raises after it -- or its end,
    if the exception was swallowed -- counts as the signal.

    Parameters
    ----------
    active
        When false the block runs unguarded (the package was imported as a
        library: whoever imported it owns the interrupt).

    Raises
    ------
    SystemExit
        :data:`EXIT_INTERRUPTED` after Ctrl-C, :data:`EXIT_TERMINATED` after
        SIGTERM, with ``interrupted:`` or ``terminated:`` and :data:`STARTING` on stderr.
    """
    if not active:
        yield
        return
    received: list[int] = []

    def stop(signum: int, frame: object) -> None:
        received.append(signum)
        raise _Stopped

    def unraisable(info: object) -> None:
        # Raised where Python cannot propagate it (a weakref callback of the
        # import machinery): it is reported below as the signal, not printed.
        if not isinstance(getattr(info, "exc_value", None), _Stopped):
            hook(info)

    hook = sys.unraisablehook
    sys.unraisablehook = unraisable
    previous = {signum: signal.signal(signum, stop) for signum in ENDINGS}
    try:
        yield
        if received:  # the signal's exception was swallowed on the way
            raise _Stopped
    except (Exception, _Stopped):
        if not received:
            raise
        code, word = ENDINGS[received[0]]
        sys.stderr.write(f"{word}: {STARTING}\n")
        raise SystemExit(code) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = hook

"""Entry point for ``python -m deconv_core``.

Loading numpy, pandas and scipy takes a few seconds; a Ctrl-C or a SIGTERM
in that time ends the program with the same one line and exit code as during
a run (130, 143), not with a traceback: nothing has been read or written yet.
"""

import signal
import sys


class _Terminated(Exception):
    """SIGTERM while the libraries load."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def _run() -> int:
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        from deconv_core.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: while starting; nothing was written\n")
        return 130
    except _Terminated:
        sys.stderr.write("terminated: while starting; nothing was written\n")
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    return main()


# The guard keeps worker processes that re-import this module (the Dask engine's local
# cluster starts them with "spawn") from running the command line again.
if __name__ == "__main__":
    sys.exit(_run())

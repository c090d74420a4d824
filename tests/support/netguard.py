"""Run a Python module with outbound networking blocked and every attempt logged.

Usage: python tests/support/netguard.py LOG_FILE MODULE [ARGS...]

Any connect / DNS lookup to a host other than the loopback is refused
(``OSError``) and written as one line to LOG_FILE, so a test can check that a
run tried nothing.  Loopback stays open because a local server (Streamlit)
talks to itself.
"""

from __future__ import annotations

import runpy
import socket
import sys

LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0", ""}


def _host(address: object) -> str:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address)


def install(log_path: str) -> None:
    """Patch socket so outbound connections and lookups are refused and logged."""

    def record(kind: str, target: str) -> None:
        with open(log_path, "a", encoding="utf-8") as handle:
            handle.write(f"{kind} {target}\n")

    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def connect(self, address):  # type: ignore[no-untyped-def]
        if self.family == socket.AF_UNIX or _host(address) in LOOPBACK:
            return original_connect(self, address)
        record("connect", repr(address))
        raise OSError("network blocked by test guard")

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        if self.family == socket.AF_UNIX or _host(address) in LOOPBACK:
            return original_connect_ex(self, address)
        record("connect_ex", repr(address))
        return 111

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host is None or str(host) in LOOPBACK:
            return original_getaddrinfo(host, *args, **kwargs)
        record("getaddrinfo", str(host))
        raise socket.gaierror("network blocked by test guard")

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo


if __name__ == "__main__":
    install(sys.argv[1])
    module = sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)

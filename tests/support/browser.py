"""Helpers of the real-browser tests: a local ``streamlit run`` and Debian's chromium.

The server listens on 127.0.0.1 and a free port only, optionally under
:mod:`tests.support.netguard` (outbound connections and DNS lookups refused
and logged), and is always terminated by the context manager.  Nothing here
downloads a browser: tests skip when ``/usr/bin/chromium`` or playwright is
missing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUARD = ROOT / "tests" / "support" / "netguard.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Server:
    """A running dashboard: its base URL and, when guarded, the network log."""

    url: str
    process: subprocess.Popen
    netlog: Path | None

    def network_attempts(self) -> list[str]:
        """Lines the network guard logged (one per refused outbound attempt)."""
        if self.netlog is None or not self.netlog.exists():
            return []
        return self.netlog.read_text(encoding="utf-8").splitlines()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, *, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """GET a URL: status, headers (lower-case names, repeated ones joined) and body."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            headers: dict[str, str] = {}
            for key, value in response.headers.items():
                key = key.lower()
                headers[key] = f"{headers[key]}\n{value}" if key in headers else value
            return response.status, headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def wait_healthy(server: Server, timeout: float = 60.0) -> None:
    """Poll ``/_stcore/health`` until it answers 200 (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {server.process.returncode}")
        try:
            if get(f"{server.url}/_stcore/health", timeout=2)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer {server.url}/_stcore/health in {timeout:.0f} s")


@contextlib.contextmanager
def streamlit_server(workdir: Path, *, guarded: bool = True) -> Iterator[Server]:
    """``streamlit run app.py`` on 127.0.0.1 and a free port; terminated on exit.

    Parameters
    ----------
    workdir
        Where the server's output log, its HOME and the network log go.
    guarded
        Run it under :mod:`tests.support.netguard`.
    """
    port = free_port()
    netlog = workdir / "network.log" if guarded else None
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    prefix = [sys.executable, str(GUARD), str(netlog)] if guarded else [sys.executable, "-m"]
    command = [
        *prefix,
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    # The shipped .streamlit/config.toml is what is tested (no usage statistics, XSRF on);
    # HOME is a fresh folder so no user-level Streamlit settings change it.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
    }
    log = open(workdir / "streamlit.log", "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(url=f"http://127.0.0.1:{port}", process=process, netlog=netlog)
    try:
        wait_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def launch_chromium(playwright):  # type: ignore[no-untyped-def]
    """Debian's chromium, headless, without background networking."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


def open_app(page, url: str) -> None:  # type: ignore[no-untyped-def]
    """Load the home page (a new session) and wait until its first run has finished."""
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("button", name="Load demo data").wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)


def open_page(page, label: str) -> None:  # type: ignore[no-untyped-def]
    """Click a page in the sidebar navigation (keeps the session) and wait for its title."""
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=label).first.click()
    page.get_by_role("heading", name=label, exact=True).first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)


def wait_idle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until the script run has finished (no 'running' widget in the header)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS
    )


def prepare_downloads(page) -> None:  # type: ignore[no-untyped-def]
    """Press "Prepare the downloads" (the files are made when asked for) and wait for the zip."""
    page.get_by_role("button", name="Prepare the downloads").first.click()
    page.get_by_role("button", name="Everything (zip").first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)


def upload(page, label: str, name: str, data: bytes, mime: str = "text/plain") -> None:  # type: ignore[no-untyped-def]
    """Put a file into the file uploader with this label."""
    box = page.locator('[data-testid="stFileUploader"]').filter(has_text=label).first
    box.locator('input[type="file"]').set_input_files(
        {"name": name, "mimeType": mime, "buffer": data}
    )


def sync_playwright_or_skip():  # type: ignore[no-untyped-def]
    """playwright's sync API; skips the test when chromium or playwright is missing."""
    import pytest

    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt install chromium)")
    return pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )

"""Several browser sessions computing at once against one dashboard: health latency and downloads.

Starts one ``streamlit run app.py`` on 127.0.0.1 and a free port
(:func:`tests.support.browser.streamlit_server`) and drives Debian's chromium
(``/usr/bin/chromium``, through Python playwright; nothing downloads a browser)
with one context per session, so every session is a separate Streamlit session.
Each session, all at the same time:

1. opens the home page and presses "Load demo data" (TIL10, absolute mode);
2. uploads its own expression file on the Upload page: ``--samples`` samples
   mixed from TIL10 like ``tests.conftest.planted_mixtures`` (log-normal noise,
   ``--filler`` filler genes, a different seed per session, gzipped TSV);
3. visits Results and QC through the sidebar and, on each, clicks "Everything
   (zip ...)" and "Tables (XLSX)" and checks that a non-empty file arrives
   (the zip must open); ``--rounds`` repeats step 3.

Meanwhile a thread polls ``/_stcore/health`` every ``--poll`` seconds (each
request bounded by ``--health-timeout``).  Everything is bounded in time and
talks only to 127.0.0.1.

Prints: sessions, polls, worst / p95 health latency, polls over 1 s,
downloads attempted / failed (with the failure text) and the total time.

Usage: ``python benchmarks/concurrency.py [--sessions 6] [--samples 300]``
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deconv_core.signatures import load_signature  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402

#: Per-step browser timeout (ms): generous, a step of one session may wait for five others.
STEP_MS = 600_000
#: Download buttons clicked on Results and QC (accessible-name prefixes).
DOWNLOADS = ("Everything (zip", "Tables (XLSX)")


def expression_file(n_samples: int, n_filler: int, seed: int) -> bytes:
    """A gzipped TSV (genes × samples, TPM) mixed from TIL10, as ``planted_mixtures`` makes it."""
    rng = np.random.default_rng(seed)
    sig = load_signature("TIL10").matrix
    shares = rng.dirichlet(np.ones(sig.shape[1]), size=n_samples) * 0.7
    signal = (sig.to_numpy() @ shares.T) * rng.lognormal(0, 0.2, size=(sig.shape[0], n_samples))
    filler = rng.dirichlet(np.ones(n_filler), size=n_samples).T * (1e6 - signal.sum(axis=0))
    genes = [*sig.index, *(f"FILLER{i}" for i in range(n_filler))]
    samples = [f"s{seed}_{i + 1}" for i in range(n_samples)]
    frame = pd.DataFrame(np.vstack([signal, filler]), index=genes, columns=samples)
    text = frame.to_csv(sep="\t", index_label="gene", float_format="%.4g")
    return gzip.compress(text.encode(), compresslevel=5)


@dataclass
class Poller:
    """Polls the health endpoint in a thread; a timed-out poll counts as its timeout."""

    url: str
    interval: float
    timeout: float
    start: float = field(default_factory=time.perf_counter)
    latencies: list[tuple[float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                    response.read()
                    if response.status != 200:
                        self.errors.append(f"HTTP {response.status}")
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                self.errors.append(type(exc).__name__)
            elapsed = time.perf_counter() - start
            self.latencies.append((start - self.start, elapsed))
            self._stop.wait(max(0.0, self.interval - elapsed))

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Outcome:
    """What one session saw."""

    attempted: int = 0
    failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    steps: list[tuple[str, float]] = field(default_factory=list)


async def _wait_idle(page) -> None:  # type: ignore[no-untyped-def]
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=STEP_MS
    )


async def _open_page(page, label: str) -> None:  # type: ignore[no-untyped-def]
    await page.locator('[data-testid="stSidebarNav"] a').filter(has_text=label).first.click()
    await page.get_by_role("heading", name=label, exact=True).first.wait_for(timeout=STEP_MS)
    await _wait_idle(page)


async def _download(page, name: str, where: str, outcome: Outcome) -> None:  # type: ignore[no-untyped-def]
    outcome.attempted += 1
    button = page.get_by_role("button", name=name).first
    errors = page.locator('[data-testid="stDownloadButtonError"]')
    try:
        await button.wait_for(timeout=STEP_MS)
        async with page.expect_download(timeout=120_000) as info:
            await button.click()
        download = await info.value
        failure = await download.failure()
        if failure:
            outcome.failures.append(f"{where} {name!r}: download failed: {failure}")
            return
        data = Path(await download.path()).read_bytes()
        if not data:
            outcome.failures.append(f"{where} {name!r}: empty file")
        elif name.startswith("Everything"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "manifest.json" not in archive.namelist():
                    outcome.failures.append(f"{where} {name!r}: zip without manifest.json")
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
        shown = [t.strip() for t in await errors.all_inner_texts() if t.strip()]
        text = str(exc).splitlines()[0]
        shown_text = f" [{'; '.join(shown)}]" if shown else ""
        outcome.failures.append(f"{where} {name!r}: {text}{shown_text}")


async def session(browser, url: str, k: int, data: bytes, rounds: int) -> Outcome:  # type: ignore[no-untyped-def]
    """One browser session through the demo, an upload, Results, QC and the downloads."""
    outcome = Outcome()
    context = await browser.new_context(
        accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    page.on(
        "console",
        lambda msg: (
            outcome.problems.append(f"session {k} console: {msg.text[:160]}")
            if "source error" in msg.text
            else None
        ),
    )
    start = time.perf_counter()

    def mark(step: str) -> None:
        outcome.steps.append((step, time.perf_counter() - start))

    try:
        await page.goto(url, wait_until="domcontentloaded")
        await page.get_by_role("button", name="Load demo data").click(timeout=STEP_MS)
        await page.get_by_text("Demo loaded").wait_for(timeout=STEP_MS)
        mark("demo")
        if data:
            await _open_page(page, "Upload")
            box = page.locator('[data-testid="stFileUploader"]').filter(
                has_text="Bulk expression file"
            )
            await box.first.locator('input[type="file"]').set_input_files(
                {"name": f"cohort_{k}.tsv.gz", "mimeType": "application/gzip", "buffer": data}
            )
            sidebar = page.locator('[data-testid="stSidebar"]')
            await sidebar.get_by_text(f"cohort_{k}.tsv.gz").wait_for(timeout=STEP_MS)
            await _wait_idle(page)
            mark("upload")
        for r in range(rounds):
            for title in ("Results", "QC"):
                await _open_page(page, title)
                mark(f"{title.lower()}{r + 1}")
                prepare = page.get_by_role("button", name="Prepare the downloads")
                if await prepare.count():  # the files are made when asked for (issue 12)
                    await prepare.first.click()
                    await _wait_idle(page)
                for name in DOWNLOADS:
                    await _download(page, name, f"session {k} {title}", outcome)
                mark(f"{title.lower()}{r + 1} downloads")
        if await page.locator('[data-testid="stException"]').count():
            outcome.problems.append(f"session {k}: an exception box is shown")
    except Exception as exc:  # noqa: BLE001 - reported, the other sessions go on
        outcome.problems.append(f"session {k} stopped: {str(exc).splitlines()[0]}")
    finally:
        await context.close()
    return outcome


async def drive(url: str, files: list[bytes], rounds: int, nice: int) -> list[Outcome]:
    from playwright.async_api import async_playwright

    # The browsers stand for six users' own computers: on this machine they share the
    # server's cores, so they run at a lower priority (their processes inherit this
    # thread's niceness; the server and the health poller started before keep theirs).
    os.nice(nice)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            return await asyncio.gather(
                *(session(browser, url, k, data, rounds) for k, data in enumerate(files, 1))
            )
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--samples", type=int, default=300, help="0: the demo only, no upload")
    parser.add_argument("--filler", type=int, default=5000, help="filler genes of each upload")
    parser.add_argument("--rounds", type=int, default=1, help="visits of Results and QC")
    parser.add_argument("--poll", type=float, default=0.2, help="health poll interval, s")
    parser.add_argument("--health-timeout", type=float, default=10.0)
    parser.add_argument(
        "--browser-nice", type=int, default=10, help="niceness of chromium (0: same as server)"
    )
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")

    files = [
        expression_file(args.samples, args.filler, seed=k) if args.samples else b""
        for k in range(1, args.sessions + 1)
    ]
    with tempfile.TemporaryDirectory() as tmp, streamlit_server(Path(tmp), guarded=False) as server:
        poller = Poller(f"{server.url}/_stcore/health", args.poll, args.health_timeout)
        thread = threading.Thread(target=poller.run, daemon=True)
        start = time.perf_counter()
        thread.start()
        try:
            outcomes = asyncio.run(drive(server.url, files, args.rounds, args.browser_nice))
        finally:
            poller.stop()
            thread.join()
        total = time.perf_counter() - start

    lat = sorted(t for _, t in poller.latencies)
    slow = sorted(poller.latencies, key=lambda p: -p[1])[:5]
    attempted = sum(o.attempted for o in outcomes)
    failures = [f for o in outcomes for f in o.failures]
    problems = [p for o in outcomes for p in o.problems]
    print(
        f"sessions: {args.sessions} (upload: {args.samples} samples × "
        f"{170 + args.filler if args.samples else 0} genes; rounds: {args.rounds}; "
        f"browser nice {args.browser_nice})"
    )
    print(f"health polls: {len(lat)} (every {args.poll} s; errors: {len(poller.errors)})")
    if lat:
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        print(
            f"health latency: worst {lat[-1]:.2f} s, p95 {p95:.2f} s, "
            f"median {statistics.median(lat):.3f} s; over 1 s: {sum(t > 1 for t in lat)}"
        )
        print("  slowest polls (at s: took s): " + ", ".join(f"{a:.0f}: {t:.2f}" for a, t in slow))
    print(f"downloads: {attempted} attempted, {len(failures)} failed")
    for failure in failures:
        print(f"  - {failure}")
    for problem in problems:
        print(f"  ! {problem}")
    for k, outcome in enumerate(outcomes, 1):
        print(f"  session {k}: " + ", ".join(f"{s} {t:.0f}s" for s, t in outcome.steps))
    print(f"total: {total:.0f} s")


if __name__ == "__main__":
    main()

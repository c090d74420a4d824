"""The dashboard on a big cohort: how long each step takes, next to reading the file, in one run.

Writes (or reuses) a simulated 1,000-sample × 20,000-gene TSV under
``/tmp/deconv_latency`` (never in the repository; the matrix of
``benchmarks/scale.py``: TIL10 profiles plus real HGNC symbols as background),
times ``pandas.read_csv`` on it, then drives the real app with
``streamlit.testing.v1.AppTest`` in the same process:

1. upload the file through the Upload page's uploader (the real upload path);
2. open Results (the first chart; nothing cached for this cohort yet);
3. switch mode (absolute → relative), fit (robust → least squares) and level
   (cell types → groups), one rerun each;
4. turn on the 95 % intervals (the bootstrap runs now, not before);
5. prepare the downloads (the zip with every file the command line writes).

Each step is one script run of the page as Streamlit runs it (the whole page,
not only the first chart), timed with ``time.perf_counter``.  The machine is
shared and noisy: the ratios to the read time are what to compare.

Usage: python benchmarks/app_latency.py [--samples 1000] [--genes 20000] [--fresh]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale import write_matrix  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

CACHE = Path("/tmp/deconv_latency")
#: Generous: a loaded 2-core machine is slow, and a step that times out is a result too.
TIMEOUT = 600
#: The issue's goal for the first chart and for each switch.
GOAL_S = 3.0


def cohort(samples: int, genes: int, *, fresh: bool) -> Path:
    """The simulated cohort's TSV under /tmp, written once per size."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"cohort_{samples}x{genes}.tsv"
    if fresh or not path.exists():
        write_matrix(path, samples, genes)
    return path


def timed(step: Callable[[], AppTest]) -> tuple[float, AppTest]:
    """Run one step of the app; seconds and the app, failing loudly on an exception."""
    start = time.perf_counter()
    at = step()
    seconds = time.perf_counter() - start
    if at.exception:
        raise SystemExit(f"the app raised: {at.exception[0].value}")
    return seconds, at


def drive(path: Path) -> list[tuple[str, float]]:
    """Upload, Results, three switches, intervals, downloads: (step, seconds) each."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at = at.switch_page("pages/1_Upload.py").run()
    data = path.read_bytes()
    uploader = next(u for u in at.file_uploader if u.label == "Bulk expression file")
    steps = [
        (
            "upload and read (Upload page)",
            lambda: uploader.upload(path.name, data, "text/plain").run(),
        ),
        ("first Results view", lambda: at.switch_page("pages/3_Results.py").run()),
        ("switch mode to relative", lambda: _set(at, "results_mode", "relative")),
        ("switch fit to least squares", lambda: _set(at, "results_loss", "squares")),
        ("switch level to groups", lambda: _set(at, "results_level", "groups")),
        ("back to cell types", lambda: _set(at, "results_level", "cell types")),
        (
            "show 95% intervals (bootstrap)",
            lambda: at.toggle(key="results_intervals").set_value(True).run(),
        ),
        ("prepare the downloads (zip)", lambda: _prepare_downloads(at)),
    ]
    times = []
    for label, step in steps:
        seconds, at = timed(step)
        times.append((label, seconds))
        print(f"  {label:<34} {seconds:6.2f} s", flush=True)
    return times


def _set(at: AppTest, key: str, value: str) -> AppTest:
    return at.segmented_control(key=key).set_value(value).run()


def _prepare_downloads(at: AppTest) -> AppTest:
    buttons = [b for b in at.button if b.key == "results_dl_prepare"]
    if buttons:
        return buttons[0].click().run()
    return at.run()  # downloads drawn with the page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--genes", type=int, default=20000)
    parser.add_argument("--fresh", action="store_true", help="rewrite the cohort's TSV")
    args = parser.parse_args()
    path = cohort(args.samples, args.genes, fresh=args.fresh)
    start = time.perf_counter()
    table = pd.read_csv(path, sep="\t", index_col=0)
    read_s = time.perf_counter() - start
    print(
        f"input: {table.shape[1]:,} samples x {table.shape[0]:,} genes, "
        f"{path.stat().st_size / 1e6:.0f} MB TSV ({path})"
    )
    del table
    print(f"pandas.read_csv alone: {read_s:.2f} s")
    print("app steps (AppTest, one script run each):")
    times = drive(path)
    print(f"{'step':<36} {'seconds':>8} {'/ read':>7} {'goal':>6}")
    for label, seconds in times:
        goal = f"< {GOAL_S:g} s" if "switch" in label or "first Results" in label else ""
        print(f"{label:<36} {seconds:8.2f} {seconds / read_s:6.2f}x {goal:>6}")
    interactive = [s for label, s in times if "switch" in label or "first Results" in label]
    print(
        f"slowest of first view and switches: {max(interactive):.2f} s "
        f"({max(interactive) / read_s:.2f}x read_csv; goal < {GOAL_S:g} s)"
    )


if __name__ == "__main__":
    main()

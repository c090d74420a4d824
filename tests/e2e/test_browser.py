"""One real-browser smoke test: ``streamlit run app.py`` driven by Debian's chromium.

Starts the app on a free port of 127.0.0.1, waits for ``/_stcore/health``,
clicks "Load demo data", visits Results and QC through the sidebar (a fresh
page load would start a new session and lose the demo), checks that the
stacked bars, the residual heatmap and the gene explainer are drawn, that the
fit verdict is shown (the summary names S13; the bar chart marks the poor and
check samples and its legend names them) and that no exception box is shown,
and saves ``docs/results.png`` and ``docs/qc.png`` for the README.
Never downloads a browser: it is skipped when ``/usr/bin/chromium`` or
playwright is missing.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.support.browser import (
    CHROMIUM,
    TIMEOUT_MS,
    launch_chromium,
    open_page,
    prepare_downloads,
    streamlit_server,
    wait_idle,
)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = pytest.mark.e2e


def test_demo_results_and_qc_render_in_chromium():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    DOCS.mkdir(exist_ok=True)
    with (
        streamlit_server(ARTIFACTS, guarded=False) as server,
        sync_api.sync_playwright() as playwright,
    ):
        url = server.url
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_role("button", name="Load demo data").click(timeout=TIMEOUT_MS)
            page.get_by_text("Demo loaded").wait_for(timeout=TIMEOUT_MS)

            open_page(page, "Results")
            bars = page.locator(".js-plotly-plot .barlayer .point")
            bars.first.wait_for(timeout=TIMEOUT_MS)
            wait_idle(page)
            assert bars.count() >= 24  # one bar segment per sample and cell type
            assert page.locator(".js-plotly-plot .main-svg").count() >= 3
            assert page.locator('[data-testid="stException"]').count() == 0
            # Privacy: plotly.js 4's "Share chart" (upload to Plotly Cloud) is switched off.
            assert page.locator('.modebar-btn[data-title^="Share"]').count() == 0
            # The verdict, in the browser: the summary names the poor sample, and the bar
            # chart marks the demo's poor (S13) and check (S04) samples, with legend entries.
            summary = page.locator('[data-testid="stAlert"]').filter(has_text="Fit verdict")
            assert summary.count() == 1
            assert "S13 (poor)" in summary.inner_text()
            bar_chart = page.locator(".js-plotly-plot").filter(
                has_text="Cell-type composition per sample"
            )
            assert bar_chart.count() == 1
            legend = bar_chart.locator(".legendtext").all_text_contents()  # SVG: no innerText
            assert {"poor fit", "check fit"} <= {text.strip() for text in legend}
            assert bar_chart.locator(".scatterlayer .point").count() >= 2
            # A taller window, the page at its top: the verdict summary and the whole bar chart.
            page.set_viewport_size({"width": 1440, "height": 1500})
            page.wait_for_timeout(1000)  # let plotly finish its transitions
            sync_api.expect(summary).to_be_in_viewport()
            sync_api.expect(bar_chart).to_be_in_viewport(ratio=1.0)
            page.screenshot(path=str(DOCS / "results.png"))
            # The zip is made when asked for and downloaded from the media endpoint.
            prepare_downloads(page)
            with page.expect_download(timeout=TIMEOUT_MS) as download:
                page.get_by_role("button", name="Everything (zip").first.click()
            path = download.value.path()
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                manifest = json.loads(archive.read("manifest.json"))
            assert {"proportions.csv", "results.xlsx", "charts/composition_bars.html"} <= names
            assert manifest["inputs"]["expression"]["file"] == "expression.tsv.gz"

            open_page(page, "QC")
            heatmap = page.locator(".js-plotly-plot .hm image")
            heatmap.first.wait_for(state="attached", timeout=TIMEOUT_MS)
            wait_idle(page)
            assert page.locator('[data-testid="stException"]').count() == 0
            # The gene explainer starts on CTLA4, the gene the confounding check names.
            explainer = page.locator(".js-plotly-plot").filter(
                has_text="Where the measured CTLA4 comes from"
            )
            assert explainer.locator(".barlayer .point").count() >= 24
            # A taller window, scrolled to the heatmap: the activated samples' hot spots.
            page.set_viewport_size({"width": 1440, "height": 1500})
            page.get_by_role("heading", name="Residual heatmap").evaluate(
                "el => el.scrollIntoView({block: 'start'})"
            )
            page.wait_for_timeout(1000)
            page.screenshot(path=str(DOCS / "qc.png"))
        finally:
            browser.close()

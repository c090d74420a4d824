"""One real-browser smoke test: ``streamlit run app.py`` driven by Debian's chromium.

Starts the app on a free port of 127.0.0.1, waits for ``/_stcore/health``,
clicks "Load demo data", visits Results and QC through the sidebar (a fresh
page load would start a new session and lose the demo), checks that the
stacked bars, the residual heatmap and the gene explainer are drawn, that the
fit verdict is shown (the summary names S13; the bar chart marks the samples
to check and its legend names them) and that no exception box is shown,
and saves ``docs/results.png`` and ``docs/qc.png`` for the README.  It then
walks on as a user with their own data would: uploads a small TSV written to a
temporary folder, sees its verdict on Results, downloads one sample's card
(opened offline for ``docs/card.png``) and the results zip, and uploads that
zip in a new session to get the same verdicts back.  Every request the browser
makes goes to the local server, and the server itself tries no outbound
connection (:mod:`tests.support.netguard`).
Never downloads a browser: it is skipped when ``/usr/bin/chromium`` or
playwright is missing.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.conftest import planted_mixtures
from tests.support.browser import (
    CHROMIUM,
    TIMEOUT_MS,
    launch_chromium,
    open_page,
    prepare_downloads,
    streamlit_server,
    upload,
    wait_idle,
)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = pytest.mark.e2e


def _download(page, name: str) -> bytes:  # type: ignore[no-untyped-def]
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.get_by_role("button", name=name).first.click()
    return Path(info.value.path()).read_bytes()


def _verdict_summary(page) -> str:  # type: ignore[no-untyped-def]
    summary = page.locator('[data-testid="stAlert"]').filter(has_text="Fit verdict")
    summary.first.wait_for(timeout=TIMEOUT_MS)
    return summary.first.inner_text()


def _own_data_card_and_session(page, browser, url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Upload a real file, see its verdict, download a card and the zip, restore the zip."""
    expr, _ = planted_mixtures(5, noise=0.3, seed=11, n_filler=400)
    path = tmp_path / "my_cohort.tsv"
    expr.to_csv(path, sep="\t", index_label="gene", float_format="%.4f")
    open_page(page, "Upload")
    upload(page, "Bulk expression file", path.name, path.read_bytes())
    page.get_by_text("my_cohort.tsv: 5 samples").first.wait_for(timeout=TIMEOUT_MS)
    open_page(page, "Results")
    verdicts = _verdict_summary(page)
    assert "of 5 samples" in verdicts
    card = _download(page, "Card (HTML")
    text = card.decode("utf-8")
    assert "Sample S" in text and "@page { size: A4" in text and "<script" not in text
    prepare_downloads(page)
    bundle = _download(page, "Everything (zip")
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert archive.read("inputs/expression/my_cohort.tsv") == path.read_bytes()

    # The card opened on its own: nothing to fetch; the README shows it.
    offline = browser.new_page(viewport={"width": 900, "height": 1200})
    fetched: list[str] = []
    offline.on("request", lambda request: fetched.append(request.url))
    offline.set_content(text, wait_until="load")
    offline.screenshot(path=str(DOCS / "card.png"), full_page=True)
    offline.close()
    assert fetched == []

    # A new session (a fresh page load) restores the run from the zip alone.
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("button", name="Load demo data").wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    open_page(page, "Upload")
    page.get_by_text("Restore a session from a results zip").click()
    upload(page, "Results zip", "deconvolution_results.zip", bundle, "application/zip")
    page.get_by_text("Restored the run of deconvolution_results.zip").wait_for(timeout=TIMEOUT_MS)
    open_page(page, "Results")
    assert _verdict_summary(page) == verdicts
    page.get_by_text("the same verdicts as the bundle recorded").wait_for(timeout=TIMEOUT_MS)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_demo_results_and_qc_render_in_chromium(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    DOCS.mkdir(exist_ok=True)
    with (
        streamlit_server(ARTIFACTS, guarded=True) as server,
        sync_api.sync_playwright() as playwright,
    ):
        url = server.url
        browser = launch_chromium(playwright)
        requests: list[str] = []
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.on("request", lambda request: requests.append(request.url))
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
            # The verdict, in the browser: the summary names the samples to check, and the bar
            # chart marks the demo's activated S13 and S04, with a legend entry.
            summary = page.locator('[data-testid="stAlert"]').filter(has_text="Fit verdict")
            assert summary.count() == 1
            assert "S13 (check), S04 (check)" in summary.inner_text()
            bar_chart = page.locator(".js-plotly-plot").filter(
                has_text="Cell-type composition per sample"
            )
            assert bar_chart.count() == 1
            legend = bar_chart.locator(".legendtext").all_text_contents()  # SVG: no innerText
            assert "check fit" in {text.strip() for text in legend}
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

            _own_data_card_and_session(page, browser, url, tmp_path)
        finally:
            browser.close()
    elsewhere = [u for u in requests if not u.startswith((url, "data:", "blob:"))]
    assert len(requests) > 10 and elsewhere == []
    assert server.network_attempts() == []

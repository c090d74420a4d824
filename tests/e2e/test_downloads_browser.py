"""A shown download still works after other sessions have run (issue 16, concurrency).

Streamlit deletes a stored download once no session references it and two
script runs (of any session) have ended since.  Session A shows the Results
downloads; session B then runs the demo through Results, QC and Upload (many
script runs); A's zip and XLSX must still download, whole.
Never downloads a browser: skipped when ``/usr/bin/chromium`` or playwright is missing.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import load_workbook

from tests.support.browser import (
    CHROMIUM,
    TIMEOUT_MS,
    launch_chromium,
    open_app,
    open_page,
    prepare_downloads,
    streamlit_server,
)

pytestmark = pytest.mark.e2e


def _load_demo(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Load demo data").click(timeout=TIMEOUT_MS)
    page.get_by_text("Demo loaded").wait_for(timeout=TIMEOUT_MS)


def _download(page, name: str) -> bytes:  # type: ignore[no-untyped-def]
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.get_by_role("button", name=name).first.click()
    assert info.value.failure() is None
    with open(info.value.path(), "rb") as handle:
        return handle.read()


def test_downloads_survive_other_sessions_runs(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    with (
        streamlit_server(tmp_path, guarded=False) as server,
        sync_api.sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        try:
            first, second = browser.new_context(), browser.new_context()
            a, b = first.new_page(), second.new_page()
            open_app(a, server.url)
            _load_demo(a)
            open_page(a, "Results")
            prepare_downloads(a)

            open_app(b, server.url)
            _load_demo(b)
            for title in ("Results", "QC", "Upload", "Results"):
                open_page(b, title)

            with zipfile.ZipFile(io.BytesIO(_download(a, "Everything (zip"))) as archive:
                assert {"manifest.json", "proportions.csv", "results.xlsx"} <= set(
                    archive.namelist()
                )
            book = load_workbook(io.BytesIO(_download(a, "Tables (XLSX)")))
            assert "proportions" in book.sheetnames
            assert a.locator('[data-testid="stDownloadButtonError"]').count() == 0
        finally:
            browser.close()

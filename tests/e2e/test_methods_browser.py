"""The Methods page in a real browser: charts drawn, scores on their own axis.

Never downloads a browser: skipped when ``/usr/bin/chromium`` or playwright is missing.
"""

from __future__ import annotations

import pytest

from deconv_core.figures import METHOD_AXES
from tests.support.browser import (
    TIMEOUT_MS,
    launch_chromium,
    open_app,
    open_page,
    streamlit_server,
    sync_playwright_or_skip,
)

pytestmark = pytest.mark.e2e


def test_methods_page_draws_fractions_and_scores_on_separate_axes(tmp_path):
    sync_api = sync_playwright_or_skip()
    with (
        streamlit_server(tmp_path) as server,
        sync_api.sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            open_app(page, server.url)
            page.get_by_role("button", name="Load demo data").click(timeout=TIMEOUT_MS)
            page.get_by_text("Demo loaded").wait_for(timeout=TIMEOUT_MS)
            open_page(page, "Methods")
            page.get_by_text("What 'other' is made of").first.wait_for(timeout=TIMEOUT_MS)
            plots = page.locator(".js-plotly-plot")
            plots.nth(1).locator(".main-svg").first.wait_for(timeout=TIMEOUT_MS)
            assert plots.count() == 2
            other_axes = plots.nth(1).locator("text.ytitle, text.y2title").all_text_contents()
            assert other_axes == [METHOD_AXES["fraction"], METHOD_AXES["score"]]
            assert page.locator('[data-testid="stException"]').count() == 0
            page.screenshot(path=str(tmp_path / "methods.png"), full_page=True)
        finally:
            browser.close()

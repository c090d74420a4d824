"""Privacy and security in a real browser: no network, no HTML injection, separate sessions.

One ``streamlit run app.py`` on 127.0.0.1, started under the network guard
(``tests/support/netguard.py``: outbound connections and DNS lookups to
non-loopback hosts are refused and logged), serves every test of this
module; Debian's chromium drives it headless.  The browser's own requests
are recorded too: the page may only talk to the local server.
"""

from __future__ import annotations

import io
import threading
import urllib.error
import urllib.request

import pandas as pd
import pytest
from openpyxl import load_workbook

from deconv_core import load_signature
from tests.app.conftest import bulk_tsv
from tests.support.browser import (
    CHROMIUM,
    TIMEOUT_MS,
    get,
    launch_chromium,
    open_app,
    open_page,
    prepare_downloads,
    streamlit_server,
    upload,
    wait_idle,
)

pytestmark = pytest.mark.e2e

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
FORMULAS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd"]
PAGE_TITLES = ("Upload", "Signature", "Results", "QC")
VIEWPORT = {"width": 1024, "height": 720}


@pytest.fixture(scope="module")
def sync_api():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt install chromium)")
    return pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )


@pytest.fixture(scope="module")
def server(sync_api, tmp_path_factory):
    with streamlit_server(tmp_path_factory.mktemp("server"), guarded=True) as running:
        yield running


@pytest.fixture(scope="module")
def browser(sync_api):
    with sync_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


class _Watch:
    """What a browser context did: every request URL and every dialog it opened."""

    def __init__(self, context) -> None:  # type: ignore[no-untyped-def]
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        context.on("request", lambda request: self.requests.append(request.url))

    def page(self, context):  # type: ignore[no-untyped-def]
        page = context.new_page()
        page.on("dialog", self._dialog)
        return page

    def _dialog(self, dialog) -> None:  # type: ignore[no-untyped-def]
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def outside(self, url: str) -> list[str]:
        local = (url, "data:", "blob:", "about:")
        return [u for u in self.requests if not u.startswith(local)]


def _no_exception(page) -> None:  # type: ignore[no-untyped-def]
    assert page.locator('[data-testid="stException"]').count() == 0


def test_demo_on_every_page_makes_no_outbound_connection(server, browser):
    context = browser.new_context(viewport=VIEWPORT)
    watch = _Watch(context)
    try:
        page = watch.page(context)
        open_app(page, server.url)
        page.get_by_role("button", name="Load demo data").click(timeout=TIMEOUT_MS)
        page.get_by_text("Demo loaded").wait_for(timeout=TIMEOUT_MS)
        for title in PAGE_TITLES:
            open_page(page, title)
            _no_exception(page)
        page.locator(".js-plotly-plot .hm image").first.wait_for(
            state="attached", timeout=TIMEOUT_MS
        )
        cookies = {c["name"] for c in context.cookies()}
    finally:
        context.close()
    assert server.network_attempts() == []
    assert watch.outside(server.url) == []
    assert len(watch.requests) > 10  # the recording works
    assert "_streamlit_xsrf" in cookies  # XSRF protection hands the page its token


def test_xsrf_protection_is_on_in_the_running_server(server):
    status, headers, _ = get(f"{server.url}/_stcore/health")
    assert status == 200 and "_streamlit_xsrf=" in headers.get("set-cookie", "")
    # An upload without the XSRF token is refused.
    request = urllib.request.Request(
        f"{server.url}/_stcore/upload_file/some-session/some-file", data=b"x", method="PUT"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 403
    refused.value.close()
    assert server.network_attempts() == []


CELL_TYPES = [SCRIPT, IMG, "=cell", "B cells"]


def _evil_files() -> tuple[bytes, bytes]:
    """Expression and signature whose sample, gene and cell-type names are markup or formulas.

    The signature is 20 TIL10 genes × 4 cell types, two genes renamed to the
    markup strings in both files (so they are fitted and drawn on the charts).
    """
    signature = load_signature("TIL10").matrix.iloc[:20, :4].copy()
    renamed = dict(zip(signature.index[:2], (SCRIPT, IMG), strict=True))
    signature = signature.rename(index=renamed).set_axis(CELL_TYPES, axis=1)
    names = [SCRIPT, IMG, *FORMULAS]
    data = bulk_tsv(len(names), seed=11, names=names)
    expression = pd.read_csv(io.BytesIO(data), sep="\t", index_col=0).rename(index=renamed)
    return (
        expression.to_csv(sep="\t", index_label="gene").encode(),
        signature.to_csv().encode(),
    )


def _labels(page, axis: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Tick labels of the charts on the page, as the browser shows them (text content)."""
    return page.locator(f".js-plotly-plot .{axis}tick text").evaluate_all(
        "nodes => nodes.map(n => n.textContent)"
    )


_INJECTED = """() => ({
    onerror: document.querySelectorAll('[onerror]').length,
    img_x: document.querySelectorAll('img[src="x"]').length,
    scripts: Array.from(document.querySelectorAll('script'))
        .filter(s => (s.textContent || '').includes('alert(1)')).length,
})"""


def _assert_not_injected(page, watch: _Watch) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate(_INJECTED) == {"onerror": 0, "img_x": 0, "scripts": 0}
    assert watch.dialogs == []


def test_user_text_is_shown_literally_never_as_html(server, browser):
    context = browser.new_context(viewport=VIEWPORT)
    watch = _Watch(context)
    try:
        page = watch.page(context)
        expression, signature = _evil_files()
        open_app(page, server.url)
        open_page(page, "Upload")
        upload(page, "Bulk expression file", f"{IMG}.tsv", expression)
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("6 samples", exact=False).wait_for(timeout=TIMEOUT_MS)
        wait_idle(page)
        assert f"{IMG}.tsv" in sidebar.inner_text()
        _assert_not_injected(page, watch)

        open_page(page, "Signature")
        page.get_by_role("radio", name="My own file").click()
        upload(page, "Signature file", f"{SCRIPT}.csv", signature)
        sidebar.get_by_text("4 cell types", exact=False).wait_for(timeout=TIMEOUT_MS)
        wait_idle(page)
        text = page.locator('[data-testid="stMain"]').inner_text()
        assert f"Cell types: {', '.join(CELL_TYPES)}" in text
        assert SCRIPT in sidebar.inner_text()
        assert {SCRIPT, IMG} <= set(_labels(page, "y"))  # gene names on the heatmap
        _assert_not_injected(page, watch)

        open_page(page, "Results")
        page.locator(".js-plotly-plot .barlayer .point").first.wait_for(timeout=TIMEOUT_MS)
        _no_exception(page)
        assert {SCRIPT, IMG, *FORMULAS} <= set(_labels(page, "x"))  # sample names
        _assert_not_injected(page, watch)
        prepare_downloads(page)
        with page.expect_download(timeout=TIMEOUT_MS) as download:
            page.get_by_role("button", name="Tables (XLSX)").first.click()
        with open(download.value.path(), "rb") as handle:
            book = load_workbook(io.BytesIO(handle.read()))

        open_page(page, "QC")
        page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)
        _no_exception(page)
        chosen = page.locator('[data-testid="stSelectbox"]').filter(has_text="Sample (worst")
        shown = chosen.locator("input").input_value()  # "<sample> · <fit light>"
        assert shown.split(" · ")[0] in (SCRIPT, IMG, *FORMULAS), shown
        assert {SCRIPT, IMG} <= set(_labels(page, "y"))  # genes of the residual heatmap
        _assert_not_injected(page, watch)
    finally:
        context.close()

    # XLSX: every name is a text cell, never a formula.
    sheet = book["proportions"]
    samples = [sheet.cell(row=r, column=1) for r in range(2, sheet.max_row + 1)]
    assert [c.value for c in samples] == [SCRIPT, IMG, *FORMULAS]
    header = [sheet.cell(row=1, column=c) for c in range(2, sheet.max_column + 1)]
    assert [c.value for c in header] == CELL_TYPES
    for cell in samples + header:
        assert cell.data_type == "s", (cell.coordinate, cell.value, cell.data_type)
    assert server.network_attempts() == []
    assert watch.outside(server.url) == []


def _session_file(k: int) -> tuple[str, list[str], bytes]:
    samples = [f"user{k}_sample{j}" for j in range(1, 4)]
    return f"cohort_{k}.tsv", samples, bulk_tsv(3, seed=20 + k, names=samples)


def _nav(page, label: str) -> None:  # type: ignore[no-untyped-def]
    """Click a page in the sidebar navigation without waiting for it."""
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=label).click()


def test_five_sessions_at_once_each_see_only_their_own_data(server, browser):
    """Five browsers, one server, each with its own file: nobody sees another's samples."""
    files = [_session_file(k) for k in range(5)]
    health: list[int] = []
    stop = threading.Event()

    def poll_health() -> None:  # the server keeps answering while the five work
        while not stop.is_set() and len(health) < 200:
            try:
                health.append(get(f"{server.url}/_stcore/health", timeout=5)[0])
            except OSError:
                health.append(0)
            stop.wait(0.5)

    contexts = [browser.new_context(viewport=VIEWPORT) for _ in files]
    watches = [_Watch(c) for c in contexts]
    pages = [w.page(c) for w, c in zip(watches, contexts, strict=True)]
    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    try:
        # Interleaved: each step is started in all five pages, then awaited in each.  The
        # demo button chooses the signature (TIL10); each session then uploads its own file.
        for page in pages:
            page.goto(server.url, wait_until="commit")
        for page in pages:
            page.get_by_role("button", name="Load demo data").click(timeout=TIMEOUT_MS)
        for page in pages:
            page.get_by_text("Demo loaded").wait_for(timeout=TIMEOUT_MS)
            _nav(page, "Upload")
        for page, (name, _, data) in zip(pages, files, strict=True):
            page.get_by_role("heading", name="Upload", exact=True).wait_for(timeout=TIMEOUT_MS)
            upload(page, "Bulk expression file", name, data)
        for page, (name, _, _) in zip(pages, files, strict=True):
            page.locator('[data-testid="stSidebar"]').get_by_text(name).wait_for(timeout=TIMEOUT_MS)
            _nav(page, "Results")
        for k, page in enumerate(pages):
            page.locator(".js-plotly-plot .xtick text").first.wait_for(timeout=TIMEOUT_MS)
            wait_idle(page)
            _no_exception(page)
            shown = set(_labels(page, "x"))  # the stacked bars' sample names
            text = page.locator("body").inner_text()
            own_name, own_samples, _ = files[k]
            assert shown == set(own_samples), (k, shown)
            assert own_name in text and "3 samples × 470 genes" in text
            for j, (other_name, other_samples, _) in enumerate(files):
                if j != k:
                    assert other_name not in text, (k, j)
                    assert not any(s in text for s in other_samples), (k, j)
    finally:
        stop.set()
        poller.join(timeout=10)
        for context in contexts:
            context.close()
    assert len(health) >= 3 and set(health) == {200}, health
    assert get(f"{server.url}/_stcore/health")[0] == 200
    assert server.network_attempts() == []
    for watch in watches:
        assert watch.outside(server.url) == [] and watch.dialogs == []

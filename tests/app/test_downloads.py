"""The result downloads are files stored with the page, not made on click.

A file made on click (``st.download_button`` with a callable) is stored
unreferenced, and any session's next two script runs delete it: under
concurrent use the browser's fetch could meet a 404 (issue 16,
``benchmarks/concurrency.py``).  Drawn with their bytes, the files stay
referenced while their buttons are shown, and the same run gives the same
files (one cached build) on every rerun and on both pages.
"""

from __future__ import annotations

from tests.app.conftest import prepare_downloads, visit

DOWNLOADS = (
    "Proportions (CSV)",
    "Intervals (CSV)",
    "Fit (CSV)",
    "Warnings (CSV)",
    "Tables (XLSX)",
    "Everything (zip",
)


def _downloads(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Label → media URL of the result downloads; none of them deferred to the click."""
    buttons = [b.proto for b in at.download_button if b.proto.label.startswith(DOWNLOADS)]
    assert [b.label for b in buttons if b.deferred_file_id] == []
    return {b.label: b.url for b in buttons}


def test_result_downloads_are_stored_with_the_page_and_survive_reruns(demo_app):
    visit(demo_app, "results")
    assert not demo_app.exception
    assert _downloads(demo_app) == {}  # written only when asked for (issue 12)
    prepare_downloads(demo_app)
    assert not demo_app.exception
    urls = _downloads(demo_app)
    assert sorted(label.split(" (")[0] for label in urls) == sorted(
        d.split(" (")[0] for d in DOWNLOADS
    )
    assert all("/media/" in url for url in urls.values()), urls
    assert urls["Tables (XLSX)"].endswith(".xlsx")
    assert next(u for label, u in urls.items() if label.startswith("Everything")).endswith(".zip")

    demo_app.run()  # a rerun (any widget) keeps the very same files
    assert _downloads(demo_app) == urls
    visit(demo_app, "qc")  # and QC offers the same run's files
    assert not demo_app.exception
    assert _downloads(demo_app) == urls

"""Less-trodden flows of the dashboard: side tables with extra rows, changes after a run."""

from __future__ import annotations

from tests.app.conftest import bulk_tsv, texts, uploader, visit


def test_measured_ids_without_expression_are_named_not_dropped_silently(app):
    # GSE107572: the FACS table has pbmc_9, the TPM table does not; "8 of 8" alone hid it.
    samples = [f"S{i}" for i in range(1, 7)]
    visit(app, "upload")
    uploader(app, "Bulk expression file").upload("bulk.tsv", bulk_tsv(6), "text/plain")
    rows = "\n".join(f"{s},{10 + i},{5 + i}" for i, s in enumerate([*samples, "S9"]))
    measured = "sample,CD8 T cells,B cells\n" + rows
    uploader(app, "Measured fractions").upload("flow.csv", measured.encode(), "text/csv")
    app.run()
    assert not app.exception, app.exception
    said = [t for t in texts(app, "success") if "measured fractions" in t]
    assert said == [
        "6 of 6 expression samples have measured fractions. Ids of flow.csv that match no "
        "sample: S9."
    ]

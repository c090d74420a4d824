"""Less-trodden flows of the dashboard: side tables with extra rows, changes after a run."""

from __future__ import annotations

import json

import pytest

from tests.app.conftest import build_single_cell, bulk_tsv, charts, texts, uploader, visit


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


def test_single_cell_build_reports_rmse_in_percentage_points_as_its_chart_does(app):
    # The build report said "Held-out RMSE 0.053" (fraction units) above a chart whose legend
    # says "RMSE 5.3 pp"; everywhere else RMSE is in percentage points.
    at = build_single_cell(visit(app, "signature"))
    assert not at.exception and not at.error
    validation = [d.value for d in at.dataframe if "n_test" in d.value.columns][0]
    (rmse,) = [m for m in at.metric if m.label == "Held-out RMSE"]
    assert rmse.value.endswith(" pp")
    shown = float(rmse.value.removesuffix(" pp"))
    assert shown == pytest.approx(validation.loc["all", "rmse"], abs=0.051)  # table in pp too
    legend = " ".join(
        t.get("name", "") for c in charts(at) for t in json.loads(c.proto.spec)["data"]
    )
    for cell_type in validation.index.drop("all"):
        assert f"{cell_type} (r = " in legend
        assert f"RMSE {validation.loc[cell_type, 'rmse']:.1f} pp)" in legend
    assert any("RMSE: typical error, in percentage points" in t for t in texts(at, "caption"))


def test_identifiability_counts_genes_as_the_coverage_line_does(demo_app):
    # "Your data covers 170 of 170 signature genes" above "On the 153 signature genes found in
    # your data": 17 of the 170 found are on TIL10's exclusion list, not missing.
    expected = (
        "On the 153 signature genes the fit uses (170 found in your data, 17 left out by the "
        "exclusion list), weighted as the fit weighs them"
    )
    for page in ("signature", "qc"):
        at = visit(demo_app, page)
        assert not at.exception, at.exception
        captions = texts(at, "caption")
        assert any(t.startswith(expected) for t in captions), page
        assert not any("153 signature genes found" in t for t in captions), page

"""One look on every page: no stale progress box, display names on screen, no "None"."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from tests.app.conftest import ROOT, bulk_tsv, uploader, visit


def _display_texts(element) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """What the browser prints in each cell: the Styler's display values sent with the table."""
    data = element.proto.arrow_data.styler.display_values
    return pa.ipc.open_stream(data).read_pandas()


def _status_labels(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(s.label) for s in at.status]


def test_the_progress_box_goes_when_the_fit_is_done_and_a_toast_says_it(demo_app):
    visit(demo_app, "results")
    assert not demo_app.exception
    assert _status_labels(demo_app) == []  # no "Deconvolved 24 samples" box left behind
    assert any("Deconvolved 24 samples" in str(t.value) for t in demo_app.toast)

    visit(demo_app, "upload")
    uploader(demo_app, "Bulk expression file").upload("bulk.tsv", bulk_tsv(5), "text/plain")
    demo_app.run()
    visit(demo_app, "results")
    assert not demo_app.exception
    everything = " ".join([*_status_labels(demo_app), *(str(t.value) for t in demo_app.toast)])
    assert "24 samples" not in everything
    assert "Deconvolved 5 samples" in everything


def test_results_show_display_names_and_percent_with_one_decimal(demo_app):
    visit(demo_app, "results")
    assert not demo_app.exception
    table = demo_app.dataframe[0].value
    assert {"CD4 T cells", "Regulatory T cells", "M1 macrophages"} <= set(table.columns)
    assert "T.cells.CD4" not in table.columns
    shown = _display_texts(demo_app.dataframe[0])
    cells = shown["CD4 T cells"]
    assert cells.str.fullmatch(r"\d{1,3}\.\d%").all(), list(cells[:3])  # "12.3%", never 0.123
    sort = demo_app.selectbox(key="results_sort")
    assert "CD4 T cells" in sort.options and "T.cells.CD4" not in sort.options


def test_qc_tables_show_a_dash_never_none_and_cell_types_by_name(demo_app):
    visit(demo_app, "qc")
    assert not demo_app.exception
    frames = [f for f in demo_app.dataframe if "estimate_without" in f.value.columns]
    assert len(frames) == 1  # the confounding findings
    raw, shown = frames[0].value, _display_texts(frames[0])
    assert raw["estimate"].isna().any()  # the demo has panel findings without an estimate
    texts = shown.astype(str).to_numpy().ravel().tolist()
    assert "–" in texts and not {"None", "nan", "NaN", "<NA>"} & set(texts)
    assert shown["cell_type"].str.contains("Regulatory T cells").any()
    card = _display_texts(next(f for f in demo_app.dataframe if "pearson_r" in f.value.columns))
    assert card["pearson_r"].str.fullmatch(r"-?\d\.\d\d").all()  # r with two decimals
    assert card["rmse"].str.fullmatch(r"\d+\.\d%").all()  # RMSE in percent, one decimal


def test_the_sidebar_names_the_home_page_home_not_app(app):
    links = [str(link.proto.label) for link in app.sidebar.get("page_link")]
    assert links == ["Home", "Upload", "Signature", "Results", "QC", "Methods"]
    config = (ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    assert "showSidebarNavigation = false" in config  # Streamlit's own menu would say "app"

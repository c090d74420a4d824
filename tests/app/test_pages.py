"""AppTest: every page empty, the demo, the upload → signature → results → QC flow, errors."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deconv_core import deconvolve, load_expression, load_signature
from deconv_core.labels import readable_name
from tests.app.conftest import (
    bulk_tsv,
    charts,
    metadata_csv,
    new_app,
    prepare_downloads,
    sidebar_text,
    texts,
    uploader,
    visit,
)

EMPTY_PAGES = {
    # page: (words of its "what to do first" message, page the link leads to)
    "home": ("Nothing is loaded yet", "Upload"),
    "upload": ("No expression data yet", ""),
    "results": ("No expression data yet", "Upload"),
    "qc": ("No expression data yet", "Upload"),
    "signature": ("upload the expression data", "Upload"),
}


def _links(at) -> list[str]:
    """Names of the pages the page links to ("" is the home page)."""
    return [link.proto.page for link in at.get("page_link")]


@pytest.mark.parametrize("page", list(EMPTY_PAGES))
def test_every_page_renders_empty_and_says_what_to_do_first(page):
    at = new_app()
    visit(at, page)
    assert not at.exception, at.exception
    message, target = EMPTY_PAGES[page]
    assert any(message in text for text in texts(at, "info")), texts(at, "info")
    assert target in _links(at), _links(at)
    assert "Expression: nothing yet" in sidebar_text(at)


def test_an_upload_starts_with_til10_in_the_mode_that_fits_the_data(app):
    visit(app, "upload")
    uploader(app, "Bulk expression file").upload(
        "bulk.tsv", bulk_tsv(), "text/tab-separated-values"
    )
    app.run()
    assert "TIL10" in sidebar_text(app)  # the default, without visiting the Signature page
    visit(app, "results")
    assert not app.exception
    # 470 genes: not a whole transcriptome, so relative, and the page says why.
    assert "**Mode**: relative" in sidebar_text(app)
    assert any("fewer than the 5,000" in t for t in texts(app, "caption"))
    assert "other" not in app.dataframe[0].value.columns


def test_demo_button_fills_every_page(demo_app):
    at = demo_app
    assert any("Demo loaded" in t for t in texts(at, "success"))
    side = sidebar_text(at)
    assert "expression.tsv.gz" in side and "24 samples × 5,470 genes" in side
    assert "TIL10" in side and "absolute (with other)" in side

    visit(at, "upload")
    assert not at.exception
    markdown = " ".join(texts(at, "markdown"))
    for check in ("Format", "Orientation", "Gene ids", "Scale", "Counts vs TPM", "Duplicates"):
        assert f"**{check}**" in markdown
    assert "Signature coverage" in markdown
    assert any("24 of 24 expression samples have metadata" in t for t in texts(at, "success"))

    visit(at, "signature")
    assert not at.exception
    assert len(charts(at)) == 1
    assert any("covers 170 of 170 signature genes" in t for t in texts(at, "success"))

    visit(at, "results")
    assert not at.exception
    # stacked bars, heatmap, box plots by group (group column chosen), estimated vs measured
    assert len(charts(at)) == 4
    assert any("Absolute fractions" in t for t in texts(at, "info"))
    table = at.dataframe[0].value
    assert table.shape == (24, 13) and "other" in table.columns
    # The verdict travels with the numbers: first column, reasons last.
    assert table.columns[0] == "verdict" and table.columns[-1] == "reasons"
    assert set(table["verdict"]) <= {"good", "check", "poor"}
    assert len(at.download_button) == 4 + 2  # one HTML per chart, the card (HTML, PNG)
    prepare_downloads(at)
    assert not at.exception
    assert len(at.download_button) == 4 + 2 + 6  # tables, xlsx, zip

    visit(at, "qc")
    assert not at.exception
    assert len(charts(at)) == 3  # gene explainer, residual heatmap, observed vs fitted
    flagged = " ".join(texts(at, "error") + texts(at, "warning"))
    # the simulated activated samples are the ones the report card flags
    assert "S13" in flagged and "S04" in flagged


def _uploaded(data: bytes):
    """A new app with ``data`` uploaded as bulk.tsv on the Upload page."""
    at = new_app()
    visit(at, "upload")
    uploader(at, "Bulk expression file").upload("bulk.tsv", data, "text/tab-separated-values")
    return at.run()


def test_upload_signature_results_qc_flow_matches_the_core():
    data = bulk_tsv(6, seed=5)
    at = _uploaded(data)
    assert not at.exception
    assert not at.error
    assert "bulk.tsv" in sidebar_text(at)
    assert "6 samples × 470 genes" in sidebar_text(at)
    assert any("**Format**" in t for t in texts(at, "markdown"))

    visit(at, "signature")
    assert not at.exception
    assert at.selectbox(key="signature_builtin").value == "TIL10"
    assert "TIL10" in sidebar_text(at)

    visit(at, "results")
    assert not at.exception
    assert len(charts(at)) == 2  # no metadata, no measured fractions: bars and heatmap
    shown = at.dataframe[0].value.drop(columns=["verdict", "reasons"])
    expected = deconvolve(load_expression(data, name="bulk.tsv").table, load_signature("TIL10"))
    on_screen = expected.proportions.rename(columns=load_signature("TIL10").shown_names)
    assert "CD4 T cells" in shown.columns  # display names on screen, ids in the files
    pd.testing.assert_frame_equal(shown.astype(float), on_screen.astype(float), check_names=False)
    np.testing.assert_allclose(shown.sum(axis=1), 1.0)

    at.segmented_control(key="results_mode").set_value("absolute").run()
    assert not at.exception
    assert "other" in at.dataframe[0].value.columns
    assert "absolute (with other)" in sidebar_text(at)

    visit(at, "qc")
    assert not at.exception
    assert len(charts(at)) == 3
    card = at.dataframe[0].value
    assert sorted(card.index) == [f"S{i}" for i in range(1, 7)]
    # Worst first: the verdicts never get better down the table.
    rank = card["verdict"].map({"poor": 0, "check": 1, "good": 2})
    assert rank.is_monotonic_increasing
    # 300 filler genes only: absolute mode warns that 'other' is biased
    assert any("whole-transcriptome" in t for t in texts(at, "warning"))


def test_results_page_offers_quantiseq_tumour_mode_and_fits_without_both_lists():
    data = bulk_tsv(6, seed=5)
    at = _uploaded(data)
    visit(at, "results")
    box = at.selectbox(key="results_exclude")
    assert box.options == [
        "keep all signature genes",
        "default list",
        "tumour list",
        "default and tumour list",
    ]
    box.set_value("default,tumor").run()
    assert not at.exception, at.exception
    assert at.session_state["exclude"] == "default,tumor"
    shown = at.dataframe[0].value.drop(columns=["verdict", "reasons"])
    til10 = load_signature("TIL10")
    table = load_expression(data, name="bulk.tsv").table
    expected = deconvolve(table, til10, exclude="default,tumor").proportions
    on_screen = expected.rename(columns=til10.shown_names)
    pd.testing.assert_frame_equal(shown.astype(float), on_screen.astype(float), check_names=False)
    assert not np.allclose(on_screen, deconvolve(table, til10, exclude="tumor").proportions)


def test_bad_file_shows_an_error_and_keeps_the_previous_data(demo_app):
    at = demo_app
    visit(at, "upload")
    bad = b"gene\tS1\tS2\nCD3E\t-1\t200\nCD8A\t3\t400\n"
    uploader(at, "Bulk expression file").upload("bad.tsv", bad, "text/tab-separated-values")
    at.run()
    assert not at.exception
    errors = texts(at, "error")
    assert errors and "negative" in errors[0]
    assert "expression.tsv.gz" in sidebar_text(at)
    assert "24 samples" in sidebar_text(at)
    visit(at, "results")
    assert not at.exception
    assert at.dataframe[0].value.shape[0] == 24


def test_new_data_replaces_the_result_that_depended_on_the_old(demo_app):
    at = demo_app
    visit(at, "results")
    assert at.dataframe[0].value.shape[0] == 24
    visit(at, "upload")
    uploader(at, "Bulk expression file").upload("small.tsv", bulk_tsv(4), "text/plain")
    at.run()
    assert "demo" not in sidebar_text(at)
    visit(at, "results")
    assert not at.exception
    assert list(at.dataframe[0].value.index) == ["S1", "S2", "S3", "S4"]


def test_metadata_groups_the_results_and_measured_fractions_compare(app):
    samples = [f"S{i}" for i in range(1, 7)]
    visit(app, "upload")
    uploader(app, "Bulk expression file").upload("bulk.tsv", bulk_tsv(6), "text/plain")
    uploader(app, "Sample metadata").upload("meta.csv", metadata_csv(samples), "text/csv")
    measured = "sample,CD8 T cells,B cells\n" + "\n".join(
        f"{s},{10 + i},{5 + i}" for i, s in enumerate(samples)
    )
    uploader(app, "Measured fractions").upload("flow.csv", measured.encode(), "text/csv")
    app.run()
    assert not app.exception and not app.error
    assert any("6 of 6 expression samples have metadata" in t for t in texts(app, "success"))
    assert any("divided by 100" in t for t in texts(app, "caption"))
    visit(app, "signature")
    visit(app, "results")
    assert not app.exception
    assert app.selectbox(key="results_group").value == "group"  # the numeric column is not offered
    assert "cellularity" not in app.selectbox(key="results_group").options
    assert len(charts(app)) == 4
    agreement = app.dataframe[1].value  # after the proportions (intervals not asked for)
    assert list(agreement.index) == ["CD8 T cells", "B cells"]
    # RMSE and bias are differences of fractions: percentage points, in the table as on the
    # chart (a "3.2%" read as a percent of the value).
    scatter = next(json.loads(c.proto.spec) for c in charts(app) if "measured" in c.proto.spec)
    labels = " ".join(t.get("name", "") for t in scatter["data"])
    for category, row in agreement.iterrows():
        assert f"{category} (r = " in labels and f"RMSE {row['rmse']:.1f} pp" in labels
    app.selectbox(key="results_sort").set_value("T.cells.CD8").run()
    assert not app.exception


def test_uploaded_signature_is_used(app):
    sig = load_signature("TIL10").matrix.iloc[:, :4]
    visit(app, "signature")
    app.segmented_control(key="signature_source").set_value("My own file").run()
    uploader(app, "Signature file").upload("mysig.csv", sig.to_csv().encode(), "text/csv")
    app.run()
    assert not app.exception and not app.error
    assert "mysig.csv" in sidebar_text(app)
    assert "4 cell types" in sidebar_text(app)
    visit(app, "upload")
    uploader(app, "Bulk expression file").upload("bulk.tsv", bulk_tsv(3), "text/plain")
    app.run()
    visit(app, "results")
    assert not app.exception
    readable = [readable_name(c) for c in sig.columns]  # an upload's R-style ids, readable
    assert list(app.dataframe[0].value.columns) == ["verdict", *readable, "reasons"]


def test_user_names_are_shown_as_text_not_markup(app):
    names = ["<b>x</b>", "=HYPERLINK(1)", "[a](javascript:1)", "S4"]
    visit(app, "upload")
    uploader(app, "Bulk expression file").upload(
        "<img src=x>.tsv", bulk_tsv(4, names=names), "text/plain"
    )
    app.run()
    assert not app.exception and not app.error
    side = " ".join(str(e.value) for e in app.sidebar.markdown)
    assert "<img" not in side.replace("\\<img", "")  # escaped for Markdown
    visit(app, "signature")
    visit(app, "results")
    assert not app.exception
    assert list(app.dataframe[0].value.index) == names
    visit(app, "qc")
    assert not app.exception


def test_start_over_forgets_everything_and_empties_the_uploaders(demo_app):
    at = demo_app
    visit(at, "upload")
    uploader(at, "Bulk expression file").upload("small.tsv", bulk_tsv(4), "text/plain")
    at.run()
    assert "small.tsv" in sidebar_text(at)
    at.button(key="sidebar_clear").click().run()
    assert not at.exception
    assert "Expression: nothing yet" in sidebar_text(at)
    assert uploader(at, "Bulk expression file").value is None
    visit(at, "results")
    assert any("No expression data yet" in t for t in texts(at, "info"))


def _mouse_bulk() -> bytes:
    """TIL10 mixtures with mouse gene names (through the shipped one-to-one ortholog table)."""
    table = pd.read_csv(
        Path(__file__).resolve().parents[2] / "assets" / "genes" / "mouse_orthologs.tsv.gz",
        sep="\t",
    )
    to_mouse = dict(zip(table["human_symbol"], table["mouse_symbol"], strict=True))
    til10 = load_signature("TIL10").matrix.rename(index={"GUCY1A3": "GUCY1A1"})
    mouse = til10[til10.index.isin(list(to_mouse))].rename(index=to_mouse)
    proportions = np.random.default_rng(3).dirichlet(np.ones(mouse.shape[1]), size=3)
    bulk = pd.DataFrame(mouse.to_numpy() @ proportions.T, index=mouse.index).add_prefix("m")
    return bulk.rename_axis("gene").to_csv(sep="\t").encode()


def test_mouse_upload_is_mapped_and_same_gene_matches_are_listed(app):
    visit(app, "upload")
    assert app.selectbox(key="upload_species").value == "auto"
    uploader(app, "Bulk expression file").upload("mouse.tsv", _mouse_bulk(), "text/plain")
    app.run()
    assert not app.exception and not app.error
    shown = " ".join(str(df.value.to_csv()) for df in app.dataframe)
    assert "renamed to their human one-to-one orthologs" in shown
    visit(app, "signature")
    assert not app.exception
    notes = " ".join(str(df.value.to_csv()) for df in app.dataframe)
    assert "data GUCY1A1 = signature GUCY1A3, same HGNC id" in notes


def test_a_measured_category_that_cannot_be_compared_is_named_with_its_reason(demo_app, served):
    # immunoStates: "B cells" → naive, memory and plasma cells; memory B cells have no marker
    # in the demo data, so B cells cannot be compared, and the page says so.
    visit(demo_app, "signature")
    demo_app.selectbox(key="signature_builtin").select("immunoStates").run()
    visit(demo_app, "results")
    assert not demo_app.exception
    notes = [t for t in texts(demo_app, "warning") if "B cells** is not compared" in t]
    assert len(notes) == 1, texts(demo_app, "warning") + texts(demo_app, "error")
    assert "Memory B cells could not be estimated in any measured sample" in notes[0]
    # So do the files: the category is in agreement.csv with n 0 and the reason.
    prepare_downloads(demo_app)
    assert not demo_app.exception
    with zipfile.ZipFile(io.BytesIO(served["deconvolution_results.zip"])) as bundle:
        name = next(n for n in bundle.namelist() if n.endswith("agreement.csv"))
        agreement = pd.read_csv(bundle.open(name), index_col=0)
    assert agreement.loc["B cells", "n"] == 0
    assert "could not be estimated" in agreement.loc["B cells", "note"]
    assert (agreement.drop(index="B cells")["n"] > 0).all()
    # A category left empty is named too.
    (neutrophils,) = [m for m in demo_app.multiselect if m.label == "Neutrophils"]
    neutrophils.set_value([]).run()
    assert any(
        "mapped to no cell type" in t and "Neutrophils" in t for t in texts(demo_app, "caption")
    )


def test_immunostates_display_names_map_the_demo_categories(demo_app):
    # The demo's "CD8 T cells" is immunoStates' display name for CD8_positive_alpha_beta_T_cell.
    visit(demo_app, "signature")
    demo_app.selectbox(key="signature_builtin").select("immunoStates").run()
    visit(demo_app, "results")
    assert not demo_app.exception
    mapping = {m.label: m.value for m in demo_app.multiselect}
    assert mapping["CD8 T cells"] == ["CD8_positive_alpha_beta_T_cell"]
    assert not any("mapped to no cell type" in t for t in texts(demo_app, "caption"))

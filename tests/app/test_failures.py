"""AppTest: bad inputs are refused with a sentence, the previous data stay, every page works.

Each failure family starts from the loaded demo, offers one bad file in the
uploader a user would use, and checks three things: the page says what is
wrong (``st.error``, or the named warning for files that load with a
caveat), the sidebar and the pages still show the demo, and every page runs
without an exception.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from openpyxl import Workbook
from streamlit import config

from deconv_core import load_signature
from deconv_core.validation import InputError
from tests.app.conftest import (
    PAGES,
    bulk_tsv,
    new_app,
    sidebar_text,
    texts,
    uploader,
    visit,
)
from tests.conftest import damage_zip
from ui import loaders
from ui.tables import read_measured, read_metadata

DEMO_SIDEBAR = ("expression.tsv.gz", "24 samples × 5,470 genes", "TIL10")
DEMO_SAMPLES = [f"S{i:02d}" for i in range(1, 25)]


# -- inputs ---------------------------------------------------------------------------------


def _bulk() -> pd.DataFrame:
    """A small valid expression table (genes × 4 samples, TPM) to spoil."""
    return pd.read_csv(io.BytesIO(bulk_tsv(4, seed=1)), sep="\t", index_col=0)


def _tsv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(sep="\t", index_label="gene").encode()


def _with_cell(row: int, column: int, value: object) -> bytes:
    frame = _bulk().astype(object)
    frame.iloc[row, column] = value
    return _tsv(frame)


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _random_bytes(n: int, seed: int = 7) -> bytes:
    return np.random.default_rng(seed).bytes(n)


def _signature_csv(change) -> bytes:
    matrix = load_signature("TIL10").matrix.iloc[:, :4].copy()
    return change(matrix).to_csv().encode()


def _negative(matrix: pd.DataFrame) -> pd.DataFrame:
    matrix.iloc[0, 0] = -5.0
    return matrix


def _duplicate_columns(matrix: pd.DataFrame) -> pd.DataFrame:
    matrix.columns = [matrix.columns[0], matrix.columns[0], *matrix.columns[2:]]
    return matrix


# -- helpers --------------------------------------------------------------------------------


def _demo_on(page: str):
    at = new_app()
    at.button(key="load_demo").click().run()
    assert not at.exception, at.exception
    return visit(at, page)


LOADED = ("expression", "signature", "metadata", "measured")


@pytest.fixture(scope="module")
def demo_session():
    """One session with the demo loaded, shared by the tests of refused files.

    A refused file must leave the session exactly as it was (each test checks
    that the loaded objects are the very same), so every test starts from the
    demo; sharing the session saves a demo load per test.
    """
    at = _demo_on("upload")
    return at, {key: at.session_state[key] for key in LOADED}


def _offer(at, label: str, name: str, data: bytes):
    uploader(at, label).set_value((name, data, "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    return at


def _assert_demo_kept(at, before: dict | None = None) -> None:
    side = sidebar_text(at)
    for text in DEMO_SIDEBAR:
        assert text in side, side
    for key, value in (before or {}).items():
        assert at.session_state[key] is value, key


def _assert_every_page_usable(at, *, samples: list[str] | None = None) -> None:
    """Visit every page (as the sidebar does): no exception; Results lists ``samples``."""
    for page in PAGES:
        visit(at, page)
        assert not at.exception, (page, at.exception)
        if page == "results" and samples is not None:
            assert sorted(at.dataframe[0].value.index) == sorted(samples)  # in the charts' order


def _error(at) -> str:
    errors = texts(at, "error")
    assert len(errors) == 1, errors
    return errors[0]


# -- expression files that are refused ------------------------------------------------------

REFUSED_EXPRESSION = {
    # family: (file name, bytes, words the error must say)
    "text cells": ("text.tsv", _with_cell(1, 1, "high"), ["text", "'high'", "'S2'"]),
    "negative values": ("neg.tsv", _with_cell(0, 0, -3.0), ["negative", "S1"]),
    "infinities": ("inf.tsv", _with_cell(2, 3, "inf"), ["infinite", "S4"]),
    "duplicated sample names": (
        "dup.tsv",
        _tsv(_bulk().set_axis(["S1", "S2", "S1", "S4"], axis=1)),
        ["not unique", "'S1'"],
    ),
    "empty file": ("empty.tsv", b"", ["empty"]),
    "random bytes": ("noise.tsv", _random_bytes(4000), ["binary"]),
    "PDF bytes": (
        "report.csv",
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + _random_bytes(2000),
        ["PDF"],
    ),
    "UTF-16 garbage": (
        "unicode.txt",
        "garbage \u4e00\u4e01 \x00\x01".encode("utf-16") + _random_bytes(100),
        ["UTF-16"],
    ),
    "one column only": ("genes.tsv", b"gene\nCD3E\nCD8A\nMS4A1\n", ["only one column"]),
    "xlsx without header": (
        "noheader.xlsx",
        _xlsx([["CD3E", 1.5, 2.5], ["CD8A", 3.5, 4.0], ["MS4A1", 2.0, 1.0]]),
        ["header row"],
    ),
}


@pytest.mark.parametrize("family", list(REFUSED_EXPRESSION))
def test_bad_expression_file_is_refused_and_the_demo_stays(demo_session, family):
    at, before = demo_session
    name, data, words = REFUSED_EXPRESSION[family]
    _offer(visit(at, "upload"), "Bulk expression file", name, data)
    error = _error(at)
    for word in words:
        assert word in error, error
    assert any("Still using the data loaded before" in t for t in texts(at, "caption"))
    _assert_demo_kept(at, before)
    _assert_every_page_usable(at, samples=DEMO_SAMPLES)
    _assert_demo_kept(at, before)


# -- expression files that load, with a caveat ----------------------------------------------


def test_log_data_with_negative_values_loads_as_log():
    frame = np.log2(_bulk() + 0.5)  # log2 of values below 0.5 is negative
    assert (frame < 0).any().any()
    at = _offer(_demo_on("upload"), "Bulk expression file", "log.tsv", _tsv(frame))
    assert not at.error, texts(at, "error")
    assert "log.tsv" in sidebar_text(at) and "4 samples" in sidebar_text(at)
    assert any("log2, converted with" in t for t in texts(at, "markdown"))
    _assert_every_page_usable(at, samples=["S1", "S2", "S3", "S4"])


def _no_overlap(genes: list[str]) -> bytes:
    values = np.arange(len(genes) * 2, dtype=float).reshape(-1, 2) + 0.5
    return _tsv(pd.DataFrame(values, index=genes, columns=["A1", "A2"]))


def _likely_cause(at) -> str:
    error = _error(at)
    assert "0 of" in error and "likely cause" in error, error
    return error


def test_no_gene_overlap_names_the_likely_cause_on_every_page():
    ensembl = _no_overlap([f"ENSG9{i:010d}" for i in range(60)])  # ids missing from the map
    at = _offer(_demo_on("upload"), "Bulk expression file", "ensembl.tsv", ensembl)
    assert not at.error, texts(at, "error")  # a valid file: it loads; the signature is the issue
    assert any("**Signature coverage**" in t for t in texts(at, "markdown"))
    visit(at, "signature")
    assert any("covers 0 of 170 signature genes" in t for t in texts(at, "error"))
    for page in ("results", "qc"):
        visit(at, page)
        assert not at.exception, at.exception
        assert "Ensembl" in _likely_cause(at)
    _assert_every_page_usable(at)

    # Mouse genes are mapped to human orthologs (saying how many were not) before the fit.
    mouse = _no_overlap([f"Gm{i}" for i in range(60)] + ["Actb", "Gapdh"])
    _offer(visit(at, "upload"), "Bulk expression file", "mouse.tsv", mouse)
    assert "mouse.tsv" in sidebar_text(at)
    shown = " ".join(df.value.to_csv() for df in at.dataframe)
    assert "1 of 62 was renamed to their human one-to-one orthologs (e.g. Actb -> ACTB)" in shown
    assert "61 without a one-to-one human ortholog were left out" in shown
    visit(at, "results")
    assert not at.exception
    assert "species" in _likely_cause(at)


def test_all_zero_sample_is_left_out_with_a_warning_naming_it():
    frame = _bulk()
    frame["S2"] = 0.0
    at = _offer(_demo_on("upload"), "Bulk expression file", "zero.tsv", _tsv(frame))
    assert not at.error, texts(at, "error")
    assert "3 samples" in sidebar_text(at)
    card = " ".join(texts(at, "caption"))
    assert "Sample S2 is zero for every gene" in card  # the health card's Size line
    visit(at, "qc")
    assert not at.exception
    assert any(t.startswith("**S2**: Sample S2 is zero") for t in texts(at, "warning"))
    _assert_every_page_usable(at, samples=["S1", "S3", "S4"])


def test_a_sample_without_one_cell_types_markers_shows_it_empty_on_every_page():
    frame = _bulk()
    til10 = load_signature("TIL10")
    markers = til10.matrix.index[til10.matrix.to_numpy().argmax(axis=1) == 0]  # B cells
    frame.loc[frame.index.intersection(markers), "S2"] = np.nan
    at = _offer(_demo_on("upload"), "Bulk expression file", "gaps.tsv", _tsv(frame))
    assert not at.error, texts(at, "error")
    _assert_every_page_usable(at, samples=["S1", "S2", "S3", "S4"])
    visit(at, "results")
    table = at.dataframe[0].value
    b_cells = til10.shown_names["B.cells"]
    assert np.isnan(table.loc["S2", b_cells]) and table[b_cells].drop("S2").notna().all()
    assert table.loc["S2", "verdict"] != table.loc["S1", "verdict"] == "good"
    at.button(key="results_dl_prepare").click().run()
    assert not at.exception, at.exception


# -- signatures -----------------------------------------------------------------------------

REFUSED_SIGNATURES = {
    "negative values": (_signature_csv(_negative), ["negative", "B.cells"]),
    "fewer genes than cell types": (
        _signature_csv(lambda m: m.iloc[:3]),
        ["3 genes for 4 cell types"],
    ),
    "duplicate columns": (_signature_csv(_duplicate_columns), ["not unique", "'B.cells'"]),
}


@pytest.mark.parametrize("family", list(REFUSED_SIGNATURES))
def test_bad_signature_is_refused_and_til10_stays(demo_session, family):
    at, before = demo_session
    data, words = REFUSED_SIGNATURES[family]
    visit(at, "signature")
    at.segmented_control(key="signature_source").set_value("My own file").run()
    _offer(at, "Signature file", "mysig.csv", data)
    error = _error(at)
    for word in words:
        assert word in error, error
    assert any("Still using TIL10" in t for t in texts(at, "caption"))
    _assert_demo_kept(at, before)
    assert "10 cell types × 170 genes" in sidebar_text(at)
    _assert_every_page_usable(at, samples=DEMO_SAMPLES)


# -- sample metadata and measured fractions --------------------------------------------------


def test_metadata_with_duplicated_ids_is_refused_and_the_demo_tables_stay(demo_session):
    at, before = demo_session
    data = b"sample,group\nS01,A\nS01,B\nS02,A\n"
    _offer(visit(at, "upload"), "Sample metadata", "meta.csv", data)
    error = _error(at)
    assert "not unique" in error and "'S01'" in error, error
    side = sidebar_text(at)
    assert "metadata.csv" in side and "measured_fractions.csv" in side
    assert any("24 of 24 expression samples have metadata" in t for t in texts(at, "success"))
    _assert_demo_kept(at, before)
    _assert_every_page_usable(at, samples=DEMO_SAMPLES)
    # the QC page, from the demo's result: gene explainer, residuals, observed vs fitted
    assert len(at.get("plotly_chart")) == 3


UNREADABLE_TABLES = {
    # The first four crashed the Upload page (pandas and zipfile errors escaped
    # read_metadata); the page shows any InputError as above.
    "metadata as random bytes": (read_metadata, _random_bytes(3000), "binary"),
    "metadata as PDF": (read_metadata, b"%PDF-1.4\n" + bytes(range(256)), "binary"),
    "metadata as a zip": (read_metadata, b"PK\x03\x04" + bytes(200), "Excel"),
    "metadata with an open quote": (
        read_metadata,
        b'sample,group\nS01,"A\nS02,B\n',
        "could not be split into cells",
    ),
    "metadata with the id column only": (
        read_metadata,
        b"sample\nS01\nS02\n",
        "at least one more column",
    ),
    "metadata with a header only": (read_metadata, b"sample,group\n", "header row but no rows"),
    "metadata workbook with a header only": (
        read_metadata,
        _xlsx([["sample", "group"]]),
        "header row but no rows",
    ),
    "metadata workbook with an unknown zip version": (  # was a NotImplementedError
        read_metadata,
        damage_zip(
            _xlsx([["sample", "group"], ["S01", "A"]]), "xl/workbook.xml", "unknown zip version"
        ),
        "damaged or unsupported Excel workbook",
    ),
    "measured fractions with an infinity": (
        read_measured,
        b"sample,T cells\nS01,inf\nS02,0.3\n",
        "holds infinite values",
    ),
    "measured fractions with an empty id": (
        read_measured,
        b"sample,T cells\n,0.2\nS02,0.3\n",
        "give every row an id in the first column",
    ),
    "measured fractions with duplicated ids": (
        read_measured,
        b"sample,T cells\nS01,0.2\nS01,0.3\n",
        "not unique",
    ),
}


@pytest.mark.parametrize("family", list(UNREADABLE_TABLES))
def test_unreadable_side_table_is_an_input_error(family):
    reader, data, words = UNREADABLE_TABLES[family]
    with pytest.raises(InputError, match=words):
        reader(data, "table.csv")


def test_fractions_among_percentages_are_refused_in_one_line():
    # Dividing the whole table by 100 made S02 a hundred times too small (r collapsed).
    data = b"sample,T cells,B cells\nS01,20,10\nS02,0.3,0.05\nS03,35,5\n"
    with pytest.raises(InputError, match=r"mixes units: S01, S03 are in percentages .* S02 has"):
        read_measured(data, "flow.csv")
    assert len(read_measured(b"sample,T cells\nS01,20\nS02,30\n", "flow.csv").notes) == 1


def test_metadata_whose_ids_match_no_sample_is_refused_in_one_line():
    data = b"sample,group\nP1,A\nP2,B\nP3,A\n"
    at = _offer(_demo_on("upload"), "Sample metadata", "meta.csv", data)
    (error,) = texts(at, "error")
    assert error.startswith("None of the 3 ids in the first column of meta.csv (P1, P2, P3)")
    assert "(S01, S02, S03 and 21 more)" in error and "first column" in error
    assert "\n" not in error
    # The demo's own metadata stay loaded.
    assert any(
        t.startswith("24 of 24 expression samples have metadata") for t in texts(at, "success")
    )
    _assert_every_page_usable(at, samples=DEMO_SAMPLES)


def test_metadata_without_an_id_column_points_at_the_first_column():
    data = b"group,cellularity\nA,40\nB,50\n"
    at = _offer(_demo_on("upload"), "Sample metadata", "meta.csv", data)
    (error,) = texts(at, "error")
    assert "ids in the first column of meta.csv (A, B)" in error
    assert "put the sample ids" in error
    _assert_every_page_usable(at, samples=DEMO_SAMPLES)


def test_metadata_partial_match_is_reported_and_groups_only_the_matched():
    rows = [f"S{i:02d},{'A' if i % 2 else 'B'}" for i in range(1, 7)] + ["X1,A", "X2,B"]
    data = ("sample,group\n" + "\n".join(rows) + "\n").encode()
    at = _offer(_demo_on("upload"), "Sample metadata", "meta.csv", data)
    (warning,) = [t for t in texts(at, "warning") if "have metadata" in t]
    assert warning.startswith("6 of 24 expression samples have metadata.")
    assert "Without metadata: S07, S08, S09 and 15 more." in warning
    assert "Ids of meta.csv that match no sample: X1, X2." in warning
    visit(at, "results")
    assert not at.exception
    assert at.selectbox(key="results_group").value == "group"
    _assert_every_page_usable(at, samples=DEMO_SAMPLES)


def test_measured_fractions_of_unknown_samples_are_refused_in_one_line():
    data = b"sample,T cells,B cells\nZ1,0.2,0.1\nZ2,0.3,0.05\n"
    at = _offer(_demo_on("upload"), "Measured fractions", "flow.csv", data)
    (error,) = texts(at, "error")
    assert error.startswith("None of the 2 ids in the first column of flow.csv (Z1, Z2)")
    assert "measured_fractions.csv" in sidebar_text(at)  # the demo's own stay loaded
    _assert_every_page_usable(at, samples=DEMO_SAMPLES)


# -- the upload limit -----------------------------------------------------------------------


@pytest.fixture
def tiny_upload_limit():
    """server.maxUploadSize lowered to 1 MB for one test (restored afterwards)."""
    before = config.get_option("server.maxUploadSize")
    config.set_option("server.maxUploadSize", 1)
    try:
        yield 1
    finally:
        config.set_option("server.maxUploadSize", before)


def test_file_over_the_upload_limit_is_refused_and_points_to_the_cli(
    demo_session, tiny_upload_limit
):
    at, before = demo_session
    visit(at, "upload")
    box = uploader(at, "Bulk expression file")
    assert box.proto.max_upload_size_mb == 1
    assert "python -m deconv_core run" in box.help and "1 MB" in box.help
    data = bulk_tsv(4) + b"#" + b"x" * (1 << 20) + b"\n"  # valid, but over 1 MB
    _offer(at, "Bulk expression file", "big cohort.tsv", data)
    error = _error(at)
    assert "over the dashboard's upload limit of 1 MB" in error
    assert "python -m deconv_core run 'big cohort.tsv' --signature TIL10 --out results" in error
    _assert_demo_kept(at, before)
    _assert_every_page_usable(at, samples=DEMO_SAMPLES)


def test_upload_limit_check_reads_the_configured_limit():
    assert st.get_option("server.enableXsrfProtection") is True
    limit = int(config.get_option("server.maxUploadSize"))
    assert loaders.upload_limit_mb() == limit
    assert loaders.check_upload_size("expression", "a.tsv", limit * 2**20) == ""
    over = loaders.check_upload_size("signature", "sig.tsv", limit * 2**20 + 1)
    assert f"limit of {limit} MB" in over
    assert "python -m deconv_core run EXPRESSION --signature sig.tsv" in over

"""The one writer: formula-safe CSV and XLSX, the zip, intervals, p-values and groups."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter

from deconv_core.agreement import agreement_table, compare_fractions
from deconv_core.analysis import assess, fit_signature
from deconv_core.card import card_file_name
from deconv_core.expression import load_expression
from deconv_core.options import RunOptions
from deconv_core.qc import bootstrap_intervals
from deconv_core.report import (
    _FORMATS,
    INDEX_LABELS,
    _workbook_sheets,
    bundle_zip,
    output_files,
    output_tables,
    safe_frame,
    safe_text,
    to_csv_bytes,
    to_xlsx_bytes,
    write_outputs,
)
from deconv_core.signatures import load_signature
from deconv_core.validation import DeconvWarning
from tests.conftest import planted_mixtures

EVIL = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "plain"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    expr, _ = planted_mixtures(5, noise=0.2, seed=9, n_filler=6000)
    path = tmp_path_factory.mktemp("bulk") / "bulk.tsv"
    expr.to_csv(path, sep="\t", index_label="gene")
    expression, signature = load_expression(path), load_signature("TIL10")
    options = RunOptions(mode="absolute", bootstrap=20)
    return expression, signature, options, fit_signature(expression, signature, options)


def test_safe_text_prefixes_formula_starts_only():
    assert [safe_text(v) for v in EVIL] == ["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tx", "plain"]
    assert safe_text(-1.5) == -1.5  # numbers are numbers


def test_csv_never_starts_a_cell_with_a_formula_character():
    frame = pd.DataFrame({"=cell": [0.5, -0.25], "note": ["=HYPERLINK(1)", "ok"]}, index=EVIL[:2])
    text = to_csv_bytes(frame, index_label="sample").decode()
    rows = [line.split(",") for line in text.strip().splitlines()]
    cells = [c.strip('"') for row in rows for c in row]
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert "-0.25" in cells  # negative numbers stay numbers
    assert "'=HYPERLINK(1)" in cells and "'=cell" in cells


def test_xlsx_writes_every_text_cell_as_a_string(tmp_path):
    frame = pd.DataFrame({"=cell": [0.5, np.nan], "note": ["=HYPERLINK(1)", "@x"]}, index=EVIL[:2])
    path = tmp_path / "t.xlsx"
    path.write_bytes(to_xlsx_bytes({"t": frame}, {"t": "sample"}))
    sheet = load_workbook(path)["t"]
    values = {(c.row, c.column): c for row in sheet.iter_rows() for c in row if c.value is not None}
    assert all(c.data_type != "f" for c in values.values())
    assert values[(1, 2)].value == "=cell" and values[(2, 1)].value == "=1+1"
    assert values[(2, 2)].value == 0.5
    with zipfile.ZipFile(path) as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()


def test_xlsx_rows_keep_every_value_and_format(tmp_path):
    # Each row gets its own number in its column's format; empty stays empty,
    # text and ints stay unformatted.
    frame = pd.DataFrame(
        {
            "share": [0.25, np.nan, 0.5, 1e-300],
            "mixed": [1.5, "n/a", 3, True],
            "n": np.array([1, 2, 3, 4], dtype=np.int64),
        },
        index=["a", "b", "c", "d"],
    )
    path = tmp_path / "t.xlsx"
    path.write_bytes(to_xlsx_bytes({"t": frame}, {"t": "id"}, {"t": {"share": "0.0%"}}))
    sheet = load_workbook(path)["t"]
    rows = [[(c.value, c.number_format) for c in row] for row in sheet.iter_rows(min_row=2)]
    general = "General"
    assert [r[1] for r in rows] == [
        (0.25, "0.0%"),
        (None, general),
        (0.5, "0.0%"),
        (1e-300, "0.0%"),
    ]
    mixed = [(1.5, "0.0000"), ("n/a", general), (3, general), (True, general)]
    assert [r[2] for r in rows] == mixed
    assert [r[3][0] for r in rows] == [1, 2, 3, 4] and {r[3][1] for r in rows} == {general}


def _full_analysis(run, extra: DeconvWarning):  # type: ignore[no-untyped-def]
    """The run with intervals, p-values, a side input and one more (formula-like) warning."""
    expression, signature, options, result = run
    analysis = assess(
        expression,
        signature,
        options,
        result,
        intervals=bootstrap_intervals(result, signature, n_resamples=20),
        p_values=pd.Series(0.002, index=result.fit.index, name="p_value"),
        side_inputs={"sample_metadata": {"file": "m.csv", "sha256": "abc"}},
    )
    return type(analysis)(**{**analysis.__dict__, "warnings": (*analysis.warnings, extra)})


def test_zip_holds_every_output_the_charts_and_a_reproducible_manifest(run):
    expression, signature, _, _ = run
    extra = DeconvWarning("warning", "x", "=bad", "S1", cli="--flag", app="a control")
    analysis = _full_analysis(run, extra)
    charts = {"plotly.min.js": b"js", "composition_bars.html": b"<html></html>"}
    data = bundle_zip(analysis, charts=charts, extra={"comparison": {"measured_mapping": {}}})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        read = {n: archive.read(n) for n in names if n.endswith(".csv")}
        workbook = archive.read("results.xlsx")
    assert set(output_files(analysis)) | {"charts/plotly.min.js", "manifest.json"} <= names
    assert {"intervals.csv", "group_proportions.csv", "fit.csv"} <= names
    assert manifest["inputs"]["expression"]["sha256"] == expression.sha256
    assert manifest["inputs"]["signature"]["sha256"] == signature.sha256 != ""
    assert manifest["inputs"]["sample_metadata"]["sha256"] == "abc"
    assert (
        manifest["parameters"]["mode"] == "absolute" and manifest["parameters"]["bootstrap"] == 20
    )
    assert "comparison" in manifest and "numpy" in manifest["versions"]
    assert set(manifest["files"]) == names
    warnings = pd.read_csv(io.BytesIO(read["warnings.csv"]), keep_default_na=False)
    bad = warnings[warnings["code"] == "x"].iloc[0]
    assert (bad["message"], bad["command_line"], bad["dashboard"]) == (
        "'=bad",
        "'--flag",
        "a control",
    )
    table = pd.read_csv(io.BytesIO(read["intervals.csv"]))
    assert list(table.columns) == ["sample", "cell_type", "estimate", "lower", "upper"]
    fit = pd.read_csv(io.BytesIO(read["fit.csv"]))
    assert (fit["p_value"] == 0.002).all() and set(fit["verdict"]) <= {"good", "check", "poor"}
    groups = pd.read_csv(io.BytesIO(read["group_proportions.csv"]), index_col="sample")
    assert "T cells" in groups.columns and "other" in groups.columns
    np.testing.assert_allclose(groups.sum(axis=1), 1.0, atol=1e-5)  # 6 significant digits
    sheets = load_workbook(io.BytesIO(workbook)).sheetnames
    assert sheets[:3] == ["proportions", "group_proportions", "intervals"]
    assert sheets[-1] == "parameters"
    assert manifest["result"]["warnings"] == len(warnings)


def test_manifest_keeps_missing_genes_apart_from_excluded_ones(run, tmp_path):
    # The planted data hold every TIL10 gene; the default list leaves 17 out of the fit.
    analysis = assess(*run)
    write_outputs(tmp_path / "out", analysis)
    result = json.loads((tmp_path / "out" / "manifest.json").read_text())["result"]
    til10 = run[1]
    listed = [g for g in til10.excluded_genes["default"] if g in til10.matrix.index]
    assert result["genes_missing"] == [] and result["genes_excluded"] == listed
    assert result["genes_used"] + len(listed) == len(til10.matrix)
    coverage = pd.read_csv(tmp_path / "out" / "coverage.csv")
    assert (coverage["found"] == coverage["marker_genes"]).all()  # as the manifest says


def test_zip_from_files_already_written_holds_the_same_bytes(run):
    # The dashboard writes output_files once and hands them to bundle_zip (issue 12).
    analysis = assess(*run)
    charts = {"plotly.min.js": b"js"}

    def members(data: bytes) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {n: archive.read(n) for n in archive.namelist()}

    fresh = members(bundle_zip(analysis, charts=charts))
    reused = members(bundle_zip(analysis, charts=charts, files=output_files(analysis)))
    assert set(fresh) == set(reused) and "results.xlsx" in fresh
    for name in fresh:
        assert reused[name] == fresh[name], name


def _with_intervals(run):  # type: ignore[no-untyped-def]
    expression, signature, options, result = run
    intervals = bootstrap_intervals(result, signature, n_resamples=20)
    return assess(expression, signature, options, result, intervals=intervals)


def test_workbook_is_meeting_ready_formats_frozen_headers_notes_and_agreement(run):
    expression, signature, _, result = run
    analysis = _with_intervals(run)
    props = result.proportions
    measured = pd.DataFrame({"Neutrophils": props["Neutrophils"] + 0.01}, index=props.index)
    agreement = agreement_table(
        compare_fractions(props, measured, {"Neutrophils": ["Neutrophils"]})
    )
    files = output_files(analysis, agreement=agreement)
    book = load_workbook(io.BytesIO(files["results.xlsx"]))
    assert book.sheetnames[-2:] == ["notes", "parameters"]
    assert "agreement" in book.sheetnames and "agreement.csv" in files
    for sheet in book.worksheets:  # the header row (and the index column) stays in view
        assert sheet.freeze_panes in {"A2", "B2"}, sheet.title
        assert sheet.cell(1, 1).value is not None
    shares = book["proportions"]
    assert shares.freeze_panes == "B2"
    assert shares.cell(2, 2).number_format == "0.0%"
    assert shares.cell(2, 2).value == pytest.approx(props.iloc[0, 0])  # full precision kept
    fit = book["fit"]
    header = [c.value for c in fit[1]]
    assert fit.cell(2, header.index("pearson_r") + 1).number_format == "0.00"
    assert fit.cell(2, header.index("rmse") + 1).number_format == "0.0%"
    spans = book["intervals"]
    assert {spans.cell(2, c).number_format for c in (3, 4, 5)} == {"0.0%"}
    rows = list(book["agreement"].values)
    assert rows[0] == ("category", "n", "pearson_r", "rmse", "bias")
    assert rows[1][0] == "Neutrophils" and rows[1][1] == len(props)
    assert rows[1][4] == pytest.approx(-0.01)
    assert book["agreement"].cell(2, 3).number_format == "0.00"
    assert book["agreement"].cell(2, 5).number_format == "0.0%"
    notes = dict(book["notes"].values)
    assert notes["topic"] == "note"
    assert notes["mode of this run"].startswith("absolute: ")
    assert "relative mode means" in notes and "absolute mode means" in notes
    assert notes["parameter: mode"] == "absolute"
    assert expression.sha256 in notes["input: expression"]
    assert signature.sha256 in notes["input: signature"]
    assert {"version: numpy", "version: openpyxl", "version: deconv-explorer"} <= set(notes)
    assert "percent" in notes["units: proportions"] and "units: agreement" in notes
    assert notes["cell type: T.cells.CD4"] == "shown as CD4 T cells"  # the sheets keep ids
    assert "T.cells.CD4" in [c.value for c in shares[1]]
    # without measured fractions there is no agreement sheet or file
    plain = output_files(analysis)
    assert "agreement.csv" not in plain
    assert "agreement" not in load_workbook(io.BytesIO(plain["results.xlsx"])).sheetnames


def test_all_float_tables_are_written_as_pandas_would_write_them():
    # The fast row-at-a-time writer must give pandas' bytes, quoting and NaN included.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        rng.lognormal(0, 4, (6, 4)) * rng.choice([1, -1], (6, 4)),
        index=pd.Index(["a,b", 'q"x', "=SUM(1)", " lead", "G5", "G6"], name="gene"),
        columns=["c,1", "c2", "=c3", "c4"],
    )
    frame.iloc[1, 2], frame.iloc[2, 1], frame.iloc[3, 0], frame.iloc[4, 3] = np.nan, np.inf, -0.0, 0
    for label in ("gene", None):
        buffer = io.StringIO()
        safe_frame(frame).to_csv(
            buffer,
            index=label is not None,
            index_label=label,
            float_format="%.6g",
            lineterminator="\n",
        )
        assert to_csv_bytes(frame, index_label=label) == buffer.getvalue().encode("utf-8")


def test_a_later_run_removes_an_earlier_runs_card_whatever_the_samples_script(run, tmp_path):
    analysis = assess(*run)
    out = tmp_path / "out"
    cards = {card_file_name(s): b"card" for s in ("Patiënt 1", "S1")}
    write_outputs(out, analysis, extra=cards)
    assert {p.name for p in out.iterdir()} >= set(cards)
    write_outputs(out, analysis)  # no cards this time
    assert not {p.name for p in out.iterdir()} & set(cards)


LABELS = {**INDEX_LABELS, "notes": None, "parameters": None}


def oracle(sheets, labels, formats):  # type: ignore[no-untyped-def]
    """The workbook as openpyxl's write-only mode writes it (the writer this one replaced)."""
    book = Workbook(write_only=True)
    for name, frame in sheets.items():
        sheet = book.create_sheet(title=name[:31])
        label = labels.get(name)
        rows = frame.reset_index() if label is not None else frame
        header = [str(c) for c in rows.columns]
        header[0] = header[0] if label is None else label
        for c in range(1, len(header) + 1):
            sheet.column_dimensions[get_column_letter(c)].width = 16 if c > 1 else 22
        sheet.freeze_panes = "B2" if label is not None else "A2"
        shown = formats.get(name, {})
        shown = [shown.get(str(c), shown.get("*", "0.0000")) for c in rows.columns]
        sheet.append([_cell(sheet, h, "") for h in header])
        for values in rows.itertuples(index=False):
            sheet.append([_cell(sheet, v, f) for v, f in zip(values, shown, strict=True)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(sheet, value, number_format):  # type: ignore[no-untyped-def]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if not isinstance(value, bool | int | float):
        cell = WriteOnlyCell(sheet, value=str(value))
        cell.data_type = "s"
        return cell
    cell = WriteOnlyCell(sheet, value=value)
    if type(value) is float:
        cell.number_format = number_format
    return cell


def read_back(data: bytes) -> list[tuple]:
    """Per sheet: name, frozen cell, column widths, every cell's value, type and format."""
    book = load_workbook(io.BytesIO(data))
    return [
        (
            sheet.title,
            sheet.freeze_panes,
            {k: d.width for k, d in sheet.column_dimensions.items()},
            [
                (c.coordinate, c.value, c.data_type, c.number_format)
                for row in sheet.iter_rows()
                for c in row
            ],
        )
        for sheet in book.worksheets
    ]


def test_a_runs_workbook_reads_back_cell_for_cell_as_openpyxl_wrote_it(run):
    # The workbook is written by hand (deconv_core.xlsx); openpyxl's own writer is the oracle.
    evil = DeconvWarning("warning", "x", "=HYPERLINK(1) & <b>", "S1", cli=" --flag ", app="")
    analysis = _full_analysis(run, evil)
    sheets = _workbook_sheets(analysis, output_tables(analysis))
    assert {"proportions", "intervals", "fit", "coverage", "warnings", "notes"} <= set(sheets)
    ours = read_back(to_xlsx_bytes(sheets, LABELS, _FORMATS))
    assert ours == read_back(oracle(sheets, LABELS, _FORMATS))
    fit = next(cells for name, _, _, cells in ours if name == "fit")
    assert {fmt for _, v, kind, fmt in fit if kind == "n" and isinstance(v, float)} >= {
        "0.00",
        "0.0%",
        "0.000",
    }


def test_odd_cells_read_back_as_openpyxl_wrote_them():
    frame = pd.DataFrame(
        {
            "share": [0.25, np.nan, np.inf, -np.inf, 1.0, 1e-300, 123456789.123456789, 0.1],
            "text": ["", " pad ", "=SUM(A1)", "a&b<c>\"'", "x\ry", "t\tab\nnl", "é ² 漢", None],
            "mixed": [1.5, "n/a", 3, True, None, False, np.int64(7), 10**17 + 3],
            "none": np.nan,
        },
        index=pd.Index([f"s{i}" for i in range(8)], name="id"),
    )
    sheets = {"odd": frame, "no index": frame.reset_index(drop=True), "e": frame.iloc[:0]}
    labels, formats = {"odd": "sample", "e": "x"}, {"odd": {"share": "0.0%", "mixed": "0.00"}}
    assert read_back(to_xlsx_bytes(sheets, labels, formats)) == read_back(
        oracle(sheets, labels, formats)
    )


def test_characters_xml_cannot_hold_become_a_replacement_mark_and_bytes_repeat():
    frame = pd.DataFrame({"note": ["bell\x07", "ok"]}, index=["a\x01", "b"])
    data = to_xlsx_bytes({"t": frame}, {"t": "id"})
    assert data == to_xlsx_bytes({"t": frame}, {"t": "id"})  # no time stamp changes the bytes
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
    sheet = load_workbook(io.BytesIO(data))["t"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["id", "note"],
        ["a\ufffd", "bell\ufffd"],
        ["b", "ok"],
    ]

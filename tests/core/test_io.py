"""Tests for deconv_core.io: one small real-looking file per oddity."""

from __future__ import annotations

import gzip
import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

import deconv_core.io as dio
from deconv_core.io import ReadInfo, ReadResult, read_table
from deconv_core.validation import InputError
from tests.conftest import damage_zip


def _write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _expect(result: ReadResult, rows: dict[str, list[float]], columns: list[str]) -> None:
    """Assert the table holds exactly ``rows`` (id -> values) under ``columns``."""
    table = result.table
    assert list(table.columns) == columns
    assert list(table.index) == list(rows)
    expected = np.array(list(rows.values()), dtype=float)
    np.testing.assert_array_equal(table.to_numpy(), expected)
    assert all(dtype == np.float64 for dtype in table.dtypes)


TSV = b"gene\tS1\tS2\tS3\nTP53\t12.5\t0\t3.25\nBRCA1\t1e3\t7\t0.5\nCD8A\t4\t5\t6\n"
TSV_ROWS = {"TP53": [12.5, 0, 3.25], "BRCA1": [1000, 7, 0.5], "CD8A": [4, 5, 6]}


def test_public_names_exist() -> None:
    for name in dio.__all__:
        assert hasattr(dio, name), name


def test_csv(tmp_path: Path) -> None:
    path = _write(tmp_path, "expr.csv", b'gene,"S 1",S2\nTP53,1.5,2\nBRCA1,3,4.75\n')
    result = read_table(path)
    _expect(result, {"TP53": [1.5, 2], "BRCA1": [3, 4.75]}, ["S 1", "S2"])
    assert result.table.index.name == "gene"
    assert result.info == ReadInfo(
        format="csv",
        compression="",
        encoding="utf-8",
        delimiter=",",
        decimal=".",
        header_row=0,
        comment_lines=0,
        dropped_columns=(),
    )
    assert result.warnings == ()


def test_tsv(tmp_path: Path) -> None:
    result = read_table(_write(tmp_path, "expr.tsv", TSV))
    _expect(result, TSV_ROWS, ["S1", "S2", "S3"])
    assert (result.info.format, result.info.delimiter) == ("tsv", "\t")


def test_semicolon_with_decimal_comma(tmp_path: Path) -> None:
    content = b"gene;S1;S2\nTP53;1,5;2\nBRCA1;0,25;-3,5e2\n"
    result = read_table(_write(tmp_path, "expr.csv", content))
    _expect(result, {"TP53": [1.5, 2], "BRCA1": [0.25, -350]}, ["S1", "S2"])
    assert (result.info.delimiter, result.info.decimal) == (";", ",")


def test_whitespace_delimited_txt_with_r_style_header(tmp_path: Path) -> None:
    # R's write.table(quote = FALSE) leaves the identifier column unnamed.
    content = b"S1 S2  S3\nTP53   1.5 2 3\nBRCA1 4    5 6\n"
    result = read_table(_write(tmp_path, "expr.txt", content))
    _expect(result, {"TP53": [1.5, 2, 3], "BRCA1": [4, 5, 6]}, ["S1", "S2", "S3"])
    assert (result.info.format, result.info.delimiter) == ("txt", " ")
    assert result.table.index.name is None


def test_xlsx_with_title_rows_above_header(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["Tumour cohort, RNA-seq TPM"],
        ["exported 2024-05-01", None, None],
        ["gene", "S1", "S2"],
        ["TP53", 1.5, 2],
        ["BRCA1", "3", None],
        [7157, "NA", 4],
    ]
    result = read_table(_write(tmp_path, "expr.xlsx", _xlsx(rows)))
    _expect(
        result,
        {"TP53": [1.5, 2], "BRCA1": [3, math.nan], "7157": [math.nan, 4]},
        ["S1", "S2"],
    )
    assert result.info == ReadInfo(
        format="xlsx",
        compression="",
        encoding="",
        delimiter="",
        decimal=".",
        header_row=2,
        comment_lines=0,
        dropped_columns=(),
    )


def test_xlsx_without_header_row_is_an_error(tmp_path: Path) -> None:
    rows: list[list[object]] = [["notes only"], ["more", "notes"], ["and", "more", "notes"]]
    with pytest.raises(InputError, match="Could not find a header row") as err:
        read_table(_write(tmp_path, "notes.xlsx", _xlsx(rows)))
    assert "sheets" not in str(err.value)  # a workbook of one sheet: nothing more to say


def test_a_table_on_a_later_sheet_is_pointed_to(tmp_path: Path) -> None:
    book = Workbook()
    book.active.title = "README"
    book.active.append(["Expression of 2 samples, see sheet data"])
    data = book.create_sheet("data")
    for row in [["gene", "S1", "S2"], ["CD3E", 1.0, 2.0], ["CD8A", 3.0, 4.0]]:
        data.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    with pytest.raises(InputError, match=r"Only the first of its 2 sheets \('README', 'data'\)"):
        read_table(_write(tmp_path, "two.xlsx", buffer.getvalue()))


def test_sheets_after_the_first_are_named_when_the_first_is_read(tmp_path: Path) -> None:
    book = Workbook()
    book.active.title = "data"
    for row in [["gene", "S1"], ["CD3E", 1.0], ["CD8A", 3.0]]:
        book.active.append(row)
    book.create_sheet("more data").append(["gene", "S2"])
    buffer = io.BytesIO()
    book.save(buffer)
    result = read_table(_write(tmp_path, "two.xlsx", buffer.getvalue()))
    _expect(result, {"CD3E": [1], "CD8A": [3]}, ["S1"])
    (note,) = result.warnings
    assert note.code == "other_sheets" and note.severity == "warning"
    assert "Only the first sheet ('data')" in note.message and "'more data'" in note.message
    assert (
        read_table(_write(tmp_path, "one.xlsx", _xlsx([["gene", "S1"], ["CD3E", 1]]))).warnings
        == ()
    )


def test_formulas_never_calculated_are_refused(tmp_path: Path) -> None:
    # Written by a program that does not calculate (openpyxl here): the formula cells
    # hold no saved result and would read as missing values.
    rows: list[list[object]] = [["gene", "S1", "S2"], ["CD3E", 1.0, "=B2*2"], ["CD8A", 3.0, 4.0]]
    with pytest.raises(
        InputError, match=r"1 cell with a formula but no saved result \(first: C2, =B2\*2\)"
    ):
        read_table(_write(tmp_path, "formulas.xlsx", _xlsx(rows)))


def _merged_book(*ranges: str) -> bytes:
    """A titled table (title row 1 merged across, header row 2) with ``ranges`` merged too."""
    book = Workbook()
    sheet = book.active
    for row in (["Study 7 expression"], ["gene", "S1", "S2"], ["CD3E", 1.0, 2.0]):
        sheet.append(row)
    sheet.append(["CD8A", 3.0, 4.0])
    sheet.append(["MS4A1", 5.0, 6.0])
    for cells in ("A1:C1", *ranges):
        sheet.merge_cells(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("ranges", "first", "count"),
    [
        (("B3:B4",), "B3:B4", "a merged range"),  # a value: CD8A's S1 would read as missing
        (("A4:A5",), "A4:A5", "a merged range"),  # a gene id: MS4A1's row would have none
        (("B2:C2", "B5:C5"), "B2:C2", "2 merged ranges"),  # a header: a sample without a name
    ],
)
def test_merged_cells_inside_the_table_are_refused(ranges, first, count, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=rf"has {count} inside the table \(first: {first}\)"):
        read_table(_write(tmp_path, "merged.xlsx", _merged_book(*ranges)))


def test_a_merged_title_above_the_header_is_read(tmp_path: Path) -> None:
    # Only the title row is merged (and a one-cell "range", which merges nothing).
    result = read_table(_write(tmp_path, "titled.xlsx", _merged_book("B4:B4")))
    _expect(result, {"CD3E": [1.0, 2.0], "CD8A": [3.0, 4.0], "MS4A1": [5.0, 6.0]}, ["S1", "S2"])


def test_formulas_with_saved_results_are_read(tmp_path: Path) -> None:
    # As Excel saves them: the formula and its cached value.
    book = _xlsx([["gene", "S1", "S2"], ["CD3E", 1.0, 2.0], ["CD8A", 3.0, None]])
    with zipfile.ZipFile(io.BytesIO(book)) as src:
        parts = {name: src.read(name) for name in src.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(
        b'<c r="C2" t="n"><v>2</v></c>', b'<c r="C2"><f>B2*2</f><v>2</v></c>'
    )
    assert parts["xl/worksheets/sheet1.xml"] != sheet
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as dst:
        for name, content in parts.items():
            dst.writestr(name, content)
    result = read_table(_write(tmp_path, "saved.xlsx", buffer.getvalue()))
    assert result.table.loc["CD3E", "S2"] == 2.0 and np.isnan(result.table.loc["CD8A", "S2"])


def test_gct(tmp_path: Path) -> None:
    content = (
        b"#1.2\n2\t2\nName\tDescription\tS1\tS2\nTP53\ttumor protein p53\t1.5\t2\nBRCA1\tna\t3\t4\n"
    )
    result = read_table(_write(tmp_path, "expr.gct", content))
    _expect(result, {"TP53": [1.5, 2], "BRCA1": [3, 4]}, ["S1", "S2"])
    assert (result.info.format, result.info.comment_lines, result.info.header_row) == ("gct", 1, 1)
    assert result.info.dropped_columns == ("Description",)
    assert [w.code for w in result.warnings] == ["dropped_column"]
    cut = content.replace(b"2\t2\n", b"5\t2\n", 1)  # states 5 rows, holds 2 (was read as 2)
    with pytest.raises(InputError, match="states 5 rows on its second line but holds 2: it was"):
        read_table(_write(tmp_path, "cut.gct", cut))


def test_gzipped_tsv(tmp_path: Path) -> None:
    result = read_table(_write(tmp_path, "expr.tsv.gz", gzip.compress(TSV)))
    _expect(result, TSV_ROWS, ["S1", "S2", "S3"])
    assert (result.info.format, result.info.compression) == ("tsv", "gzip")


def test_bytes_with_name_and_gzip_found_by_magic_bytes() -> None:
    csv_result = read_table(b"gene,S1\nTP53,2\n", name="upload.csv")
    _expect(csv_result, {"TP53": [2]}, ["S1"])
    assert csv_result.info.format == "csv"
    # No ".gz" in the name: the gzip magic bytes decide.
    gz_result = read_table(gzip.compress(TSV), name="upload.txt", what="signature")
    _expect(gz_result, TSV_ROWS, ["S1", "S2", "S3"])
    assert (gz_result.info.format, gz_result.info.compression) == ("txt", "gzip")


def test_utf8_byte_order_mark(tmp_path: Path) -> None:
    result = read_table(_write(tmp_path, "expr.csv", b"\xef\xbb\xbfgene,S1\nTP53,2\n"))
    _expect(result, {"TP53": [2]}, ["S1"])
    assert result.table.index.name == "gene"
    assert result.info.encoding == "utf-8-sig"


def test_utf16_excel_unicode_text(tmp_path: Path) -> None:
    text = "gene\tS1\tS2\r\nTP53\t1,5\t2\r\nSÉMA3A\t3\t4,25\r\n"
    content = b"\xff\xfe" + text.encode("utf-16-le")
    result = read_table(_write(tmp_path, "expr.txt", content))
    _expect(result, {"TP53": [1.5, 2], "SÉMA3A": [3, 4.25]}, ["S1", "S2"])
    assert (result.info.encoding, result.info.delimiter, result.info.decimal) == (
        "utf-16",
        "\t",
        ",",
    )


def test_crlf_line_ends(tmp_path: Path) -> None:
    result = read_table(_write(tmp_path, "expr.tsv", TSV.replace(b"\n", b"\r\n")))
    _expect(result, TSV_ROWS, ["S1", "S2", "S3"])


def test_cr_line_ends(tmp_path: Path) -> None:
    result = read_table(_write(tmp_path, "expr.tsv", TSV.replace(b"\n", b"\r")))
    _expect(result, TSV_ROWS, ["S1", "S2", "S3"])


def test_hash_comment_lines(tmp_path: Path) -> None:
    content = b"# exported by pipeline v2\n# units: TPM\n\ngene\tS1\nTP53\t1\n# end\nBRCA1\t2\n"
    result = read_table(_write(tmp_path, "expr.tsv", content))
    _expect(result, {"TP53": [1], "BRCA1": [2]}, ["S1"])
    assert result.info.comment_lines == 3
    assert result.info.header_row == 1  # the blank line above the header counts


def test_missing_value_tokens_and_infinities(tmp_path: Path) -> None:
    tokens = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "-", ".", "#N/A"]
    lines = ["gene,S1,S2"] + [f"G{i},{token},{i}" for i, token in enumerate(tokens)]
    lines += ["POS,inf,1", "NEG,-inf,2"]
    result = read_table(_write(tmp_path, "expr.csv", "\n".join(lines).encode()))
    s1 = result.table["S1"]
    assert s1.iloc[: len(tokens)].isna().all()
    assert s1["POS"] == math.inf and s1["NEG"] == -math.inf
    np.testing.assert_array_equal(result.table["S2"].iloc[: len(tokens)], np.arange(len(tokens)))


def test_identifiers_keep_their_text(tmp_path: Path) -> None:
    content = b"gene,S1\n NA ,1\n001,2\n-,3\n"
    result = read_table(_write(tmp_path, "expr.csv", content))
    assert list(result.table.index) == ["NA", "001", "-"]


def test_text_cell_is_an_error_naming_value_row_and_column(tmp_path: Path) -> None:
    content = b"gene,S1,S2,S3\nTP53,1,2,abc\nBRCA1,3,4,5\nCD8A,6,oops,7\n"
    with pytest.raises(
        InputError, match=r"'abc' for row 'TP53' in column 'S3' \(and 1 more cell\)"
    ):
        read_table(_write(tmp_path, "expr.csv", content))


def test_thousands_separator_is_explained(tmp_path: Path) -> None:
    content = b'gene,S1,S2\nTP53,"1,234.5",2\nBRCA1,3,4\nCD8A,5,6\n'
    with pytest.raises(InputError, match="thousands separators are not supported"):
        read_table(_write(tmp_path, "expr.csv", content))


def test_duplicate_sample_names_are_an_error(tmp_path: Path) -> None:
    content = b"gene\tS1\tS2\tS1\nTP53\t1\t2\t3\n"
    with pytest.raises(InputError, match="not unique: 'S1'"):
        read_table(_write(tmp_path, "expr.tsv", content))


def test_empty_column_name_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty name"):
        read_table(_write(tmp_path, "expr.tsv", b"gene\t\tS2\nTP53\t1\t2\n"))


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is empty"):
        read_table(_write(tmp_path, "expr.csv", b""))
    with pytest.raises(InputError, match="only '#' comment lines"):
        read_table(_write(tmp_path, "notes.csv", b"# nothing here\n\n"))


def test_header_without_data_rows_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no data rows"):
        read_table(_write(tmp_path, "expr.csv", b"gene,S1,S2\n"))


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        (
            "expr.tsv.gz",
            gzip.compress(TSV * 50)[:-40],
            "gzip-compressed but cannot be decompressed",
        ),
        ("expr.tsv.gz", gzip.compress(b"gene\tS1\tS2\n"), "header row but no data rows"),
        ("expr.xlsx", b"", "is empty"),
    ],
)
def test_cut_and_empty_containers_are_errors(tmp_path: Path, name, content, said) -> None:
    with pytest.raises(InputError, match=said):
        read_table(_write(tmp_path, name, content))


def _workbook() -> bytes:
    book = Workbook()
    for row in (["gene", "S1", "S2"], ["CD8A", 1.5, 2.5], ["CD4", 3.0, 4.0]):
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["unknown zip version", "encrypted member", "damaged member"])
def test_a_damaged_workbook_is_refused_in_one_line(kind: str) -> None:
    # each raised past the reader (NotImplementedError, RuntimeError, zlib.error)
    with pytest.raises(InputError, match="damaged|cannot be read"):
        read_table(damage_zip(_workbook(), "xl/worksheets/sheet1.xml", kind), name="expr.xlsx")


def test_random_bytes_are_an_error(tmp_path: Path) -> None:
    noise = np.random.default_rng(7).integers(0, 256, size=4000, dtype=np.uint8).tobytes()
    with pytest.raises(InputError, match="not a text table"):
        read_table(_write(tmp_path, "expr.csv", noise))


def test_pdf_and_plain_zip_are_errors() -> None:
    with pytest.raises(InputError, match="is a PDF"):
        read_table(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", name="paper.pdf")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("expr.csv", "gene,S1\nTP53,1\n")
    with pytest.raises(InputError, match="zip archive but not an Excel"):
        read_table(archive.getvalue(), name="expr.zip")


def test_a_results_zip_of_this_tool_is_named_as_such(tmp_path) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("proportions.csv", "sample,B.cells\nS1,0.5\n")
        zipped.writestr("manifest.json", "{}")
    with pytest.raises(InputError, match="is a results zip of this tool, not a table") as err:
        read_table(archive.getvalue(), name="results.zip")
    assert "under inputs/" in err.value.text("cli")
    assert "Restore a session from a results zip" in err.value.text("app")


def test_single_column_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="only one column"):
        read_table(_write(tmp_path, "genes.txt", b"gene\nTP53\nBRCA1\nCD8A\n"))


def test_no_numeric_columns_is_an_error(tmp_path: Path) -> None:
    content = b"gene,symbol_alias\nTP53,p53\nBRCA1,RNF53\n"
    with pytest.raises(InputError, match="no numeric columns"):
        read_table(_write(tmp_path, "expr.csv", content))


def test_row_with_too_many_cells_is_an_error(tmp_path: Path) -> None:
    content = b"gene,S1,S2\nTP53,1,2\nBRCA1,3,4\nCD8A,5,6,7\n"
    with pytest.raises(InputError, match="Line 4 of the expression file has 4 cells"):
        read_table(_write(tmp_path, "expr.csv", content))


def _readers():
    from deconv_core.io.chunked import open_chunked
    from deconv_core.io.singlecell import read_single_cell
    from deconv_core.validation import check_input_file

    return {
        "signature": lambda path: read_table(path, what="signature"),
        "single-cell counts": read_single_cell,
        "expression": open_chunked,  # the Dask engine's reader
        "labels": lambda path: check_input_file(path, what="labels"),  # the command line's
    }


@pytest.mark.parametrize("what", ["signature", "single-cell counts", "expression", "labels"])
def test_a_missing_file_reads_the_same_wherever_it_is_given(what: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(InputError) as caught:
        _readers()[what](missing)
    assert str(caught.value) == f"Cannot find the {what} file {str(missing)!r}; check the path."


@pytest.mark.parametrize("what", ["signature", "single-cell counts", "expression", "labels"])
def test_a_folder_for_a_file_reads_the_same_wherever_it_is_given(what: str, tmp_path: Path):
    with pytest.raises(InputError) as caught:
        _readers()[what](tmp_path)
    assert str(caught.value) == (
        f"{str(tmp_path)!r} is a folder, not the {what} file; give the path of the file itself."
    )


def test_annotation_columns_are_dropped_with_a_warning(tmp_path: Path) -> None:
    content = (
        b"gene\tDescription\tEntrez\tS1\tS2\n"
        b"TP53\ttumor protein p53\t7157\t1\t2\n"
        b"BRCA1\tBRCA1 DNA repair associated\t672\t3\t4\n"
    )
    result = read_table(_write(tmp_path, "expr.tsv", content))
    _expect(result, {"TP53": [1, 2], "BRCA1": [3, 4]}, ["S1", "S2"])
    assert result.info.dropped_columns == ("Description", "Entrez")
    assert [(w.severity, w.code) for w in result.warnings] == [("info", "dropped_column")] * 2
    assert "'Description'" in result.warnings[0].message


def test_text_columns_anywhere_drops_later_text_and_true_false_columns(tmp_path: Path) -> None:
    # A truth table: measurements between descriptions (GSE19830 ends with is_pure_sample).
    content = (
        b"sample\tmixture\tLiver\tnote\tBrain\tis_pure_sample\n"
        b"S1\tMixA\t1\tpure\t0\tTrue\n"
        b"S2\tMixB\t0.25\tmix\t0.75\tFalse\n"
    )
    path = _write(tmp_path, "truth.tsv", content)
    result = read_table(path, text_columns="anywhere")
    _expect(result, {"S1": [1, 0], "S2": [0.25, 0.75]}, ["Liver", "Brain"])
    assert result.info.dropped_columns == ("mixture", "note", "is_pure_sample")
    # By default only the leading text column is annotation: a sample column of text is wrong.
    with pytest.raises(InputError, match="text in numeric columns: 'pure' for row 'S1'"):
        read_table(path)
    with pytest.raises(ValueError, match="text_columns must be one of"):
        read_table(path, text_columns="all")


def test_text_columns_anywhere_keeps_a_number_column_with_a_typo(tmp_path: Path) -> None:
    content = b"sample,Liver,Brain\nS1,1,0\nS2,0.5,O.5\nS3,0,1\n"
    with pytest.raises(InputError, match="'O.5' for row 'S2' in column 'Brain'"):
        read_table(_write(tmp_path, "truth.csv", content), text_columns="anywhere")


def test_latin1_fallback(tmp_path: Path) -> None:
    content = "gene;Säule 1\nTP53;1,5\n".encode("latin-1")
    result = read_table(_write(tmp_path, "expr.csv", content))
    _expect(result, {"TP53": [1.5]}, ["Säule 1"])
    assert result.info.encoding == "latin-1"
    assert [w.code for w in result.warnings] == ["encoding"]


@pytest.mark.parametrize(
    ("name", "content", "found"),
    [
        # A row with a comma among tabs: its first value is swallowed by the id and
        # every later value slides one sample to the left.
        ("mixed.tsv", b"gene\tS1\tS2\nTP53\t1\t2\nCD8A,3\t4\nBRCA1\t5\t6\n", "commas"),
        # The header too, which makes the reader take the first column as unnamed.
        ("mixed.txt", b"gene,S1\tS2\nTP53\t1\t2\nCD8A,3\t4\nBRCA1\t5\t6\nMYC\t7\t8\n", "commas"),
        # Semicolon rows in a comma file, past the lines the delimiter is sniffed on:
        # the whole row ends up in the identifier.
        (
            "mixed.csv",
            b"gene,S1,S2\n" + b"".join(b"G%d,1,2\n" % i for i in range(300)) + b"CD8A;3;4\n",
            "semicolons",
        ),
    ],
    ids=["comma-row", "comma-header", "semicolon-row"],
)
def test_rows_with_another_delimiter_are_refused(
    tmp_path: Path, name: str, content: bytes, found: str
) -> None:
    with pytest.raises(InputError, match=rf"Row 'CD8A.3.*separated by {found}.*one delimiter"):
        read_table(_write(tmp_path, name, content))


def test_ids_with_commas_but_no_numbers_are_kept(tmp_path: Path) -> None:
    content = b"gene\tS1\nHLA-A,B\t1\nTP53\t2\n"
    result = read_table(_write(tmp_path, "expr.tsv", content))
    _expect(result, {"HLA-A,B": [1], "TP53": [2]}, ["S1"])


def test_windows_1252_fallback(tmp_path: Path) -> None:
    # Excel's "CSV" in Western locales: an en dash (0x96) and curly quotes (0x93, 0x94) are
    # control characters in latin-1, which would show as <U+0096> in names.
    content = "gene,T cells \u2013 CD8,\u201cB\u201d\nTP53,1.5,2\n".encode("cp1252")
    result = read_table(_write(tmp_path, "expr.csv", content))
    _expect(result, {"TP53": [1.5, 2]}, ["T cells \u2013 CD8", "\u201cB\u201d"])
    assert result.info.encoding == "cp1252"
    assert "read as Windows-1252" in result.warnings[0].message


def test_bytes_windows_1252_leaves_undefined_fall_back_to_latin1(tmp_path: Path) -> None:
    content = b"gene,S\x81\x96\nTP53,1.5\n"
    result = read_table(_write(tmp_path, "expr.csv", content))
    _expect(result, {"TP53": [1.5]}, ["S\x81\x96"])
    assert result.info.encoding == "latin-1"


def test_title_lines_above_a_text_header(tmp_path: Path) -> None:
    content = b"Expression of tumour samples\n\ngene,S1,S2\nTP53,1,2\n"
    result = read_table(_write(tmp_path, "expr.csv", content))
    _expect(result, {"TP53": [1, 2]}, ["S1", "S2"])
    assert result.info.header_row == 2


def test_trailing_delimiters_and_empty_rows_are_ignored(tmp_path: Path) -> None:
    content = b"gene,S1,S2,\nTP53,1,2,\nBRCA1,3,4,\n,,,\n"
    result = read_table(_write(tmp_path, "expr.csv", content))
    _expect(result, {"TP53": [1, 2], "BRCA1": [3, 4]}, ["S1", "S2"])


def test_path_and_bytes_agree(tmp_path: Path) -> None:
    path = _write(tmp_path, "expr.tsv", TSV)
    from_path, from_bytes = read_table(path), read_table(TSV, name="expr.tsv")
    pd.testing.assert_frame_equal(from_path.table, from_bytes.table)
    assert from_path.info == from_bytes.info


_NAME = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=6)
_VALUE = st.one_of(
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
    st.just(math.nan),
)


@settings(max_examples=60, deadline=None)
@given(
    genes=st.lists(_NAME, min_size=1, max_size=6, unique=True),
    samples=st.lists(_NAME.map(lambda s: "S" + s), min_size=1, max_size=5, unique=True),
    style=st.sampled_from(["csv", "tsv", "semicolon"]),
    data=st.data(),
)
def test_written_tables_read_back(
    genes: list[str], samples: list[str], style: str, data: st.DataObject
) -> None:
    values = np.array([[data.draw(_VALUE) for _ in samples] for _ in genes], dtype=float).reshape(
        len(genes), len(samples)
    )
    delimiter = {"csv": ",", "tsv": "\t", "semicolon": ";"}[style]

    def cell(v: float) -> str:
        text = "NA" if math.isnan(v) else repr(float(v))
        return text.replace(".", ",") if style == "semicolon" else text

    lines = [delimiter.join(["gene", *samples])]
    lines += [
        delimiter.join([g, *(cell(v) for v in row)]) for g, row in zip(genes, values, strict=True)
    ]
    result = read_table("\n".join(lines).encode(), name=f"x.{style}")
    assert list(result.table.index) == genes
    assert list(result.table.columns) == samples
    np.testing.assert_array_equal(result.table.to_numpy(), values)


@pytest.mark.parametrize("compress", [False, True])
def test_large_files_stream_from_disk_with_the_same_result(tmp_path, monkeypatch, compress):
    import deconv_core.io.tables as io_module

    text = "# exported by a pipeline\ngene\tS1\tS2\nCD3E\t1.5\t2\nCD8A\tNA\t3.25\nMS4A1\t4\t5\n"
    raw = text.encode()
    path = tmp_path / ("big.tsv.gz" if compress else "big.tsv")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    whole = read_table(path.read_bytes(), name=path.name)
    monkeypatch.setattr(io_module, "_STREAM_ABOVE", 10)
    streamed = read_table(path)
    pd.testing.assert_frame_equal(streamed.table, whole.table)
    assert streamed.info == whole.info
    assert streamed.info.comment_lines == 1

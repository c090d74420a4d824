"""Read numeric tables from the files biologists actually have.

:func:`read_table` turns a path or the bytes of an uploaded file into a float
table whose rows are the identifiers of the file's first column and whose
columns are its numeric columns, without deciding what the rows mean: genes ×
samples or samples × genes is settled by another module.

Accepted: CSV, TSV and TXT with the delimiter sniffed (comma, tab, semicolon,
whitespace; semicolon files may use decimal commas), Excel ``.xlsx`` (first
sheet, title rows above the header allowed), GCT 1.2, and any of these
gzip-compressed.  Text may be UTF-8 with or without byte-order mark, UTF-16
(Excel "Unicode text") or, as a fallback, Windows-1252 or latin-1, with LF, CRLF or CR line
ends.  Lines starting with ``#`` before the header, and rows whose identifier
starts with ``#``, are comments.

Speed: the delimiter, header, encoding and decimal mark are sniffed on the
first few lines only, and the bulk is parsed once by pandas' C engine.  Cells
are examined one by one only to word an error message.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import re
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import ParseError

import numpy as np
import pandas as pd

from deconv_core.bundle import MANIFEST_FILE
from deconv_core.io.limits import (
    DAMAGED_ZIP_ERRORS,
    DEFAULT_LIMITS,
    CappedReader,
    ReadLimits,
    allowed_rows,
    check_archive_size,
    check_parse_budget,
    check_text_size,
    damaged_gzip,
    gunzip_capped,
    release_freed_memory,
)
from deconv_core.validation import (
    DeconvWarning,
    InputError,
    check_unique_labels,
    read_input_file,
)

__all__ = [
    "check_one_delimiter",
    "check_xlsx_budget",
    "GZIP_MAGIC",
    "HDF5_MAGIC",
    "ZIP_MAGIC",
    "MISSING_TOKENS",
    "ReadInfo",
    "ReadResult",
    "read_table",
]

#: Cell texts read as missing values (compared after stripping spaces).
MISSING_TOKENS: tuple[str, ...] = (
    "",
    "NA",
    "N/A",
    "n/a",
    "NaN",
    "nan",
    "NAN",
    "null",
    "NULL",
    "-",
    ".",
    "#N/A",
    "<NA>",
)
_MISSING = frozenset(MISSING_TOKENS)

# Excel error values: an identifier like this is a broken cell, not a comment.
_EXCEL_ERRORS = frozenset(
    {"#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NUM!", "#NAME?", "#NULL!", "#SPILL!", "#CALC!"}
)

# Leading columns with these names (lower case, letters and digits only) are
# annotation even when they hold numbers: Entrez ids, featureCounts' Chr, Start,
# End, Strand and Length, RSEM's length and effective_length.
_ANNOTATION_NAMES = frozenset(
    {
        "description",
        "desc",
        "genename",
        "genesymbol",
        "symbol",
        "hgncsymbol",
        "entrez",
        "entrezid",
        "entrezgene",
        "entrezgeneid",
        "ncbigeneid",
        "geneid",
        "chr",
        "chrom",
        "chromosome",
        "start",
        "end",
        "strand",
        "length",
        "genelength",
        "efflength",
        "effectivelength",
        "biotype",
        "genebiotype",
        "genetype",
    }
)

# A column is annotation when at least this share of its non-missing cells is text.
_TEXT_SHARE = 0.9
# Values of read_table's text_columns.
_TEXT_COLUMNS = ("leading", "anywhere")

_SNIFF_BYTES = 64 * 1024  # first read; doubled while too few lines were seen
_SNIFF_MAX_BYTES = 8 * 1024 * 1024  # wide files: a 20,000-column header is ~200 KB
_SNIFF_LINES = 20  # non-blank, non-comment lines used to sniff
_HEADER_SEARCH_ROWS = 50  # title rows allowed above an Excel header

_DELIMITERS = ("\t", ";", ",", " ")  # in order of preference when several fit
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "txt",
    ".gct": "gct",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}

_EOL = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_DEC_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")
_DEC_DOT = re.compile(r"^[+-]?\d*\.\d+(?:[eE][+-]?\d+)?$")
_THOUSANDS_COMMA = re.compile(r"^[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d*)?$")
_THOUSANDS_DOT = re.compile(r"^[+-]?[1-9]\d{0,2}(?:\.\d{3})+(?:,\d*)?$")

#: The first bytes of a gzip file (RFC 1952).
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls, or an encrypted .xlsx
_PDF_MAGIC = b"%PDF"
#: The first bytes of every HDF5 file (ARCHS4 stores, .h5ad; the HDF5 file format).
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

_ID_PLACEHOLDER = "\x00(row identifiers)"


@dataclass(frozen=True)
class ReadInfo:
    """How a file was read.

    Attributes
    ----------
    format
        ``"csv"``, ``"tsv"``, ``"txt"``, ``"xlsx"`` or ``"gct"``.  Text files
        take the name their extension gives, else the one their delimiter
        suggests; Excel and GCT are recognised by content.
    compression
        ``"gzip"`` or ``""``.
    encoding
        ``"utf-8"``, ``"utf-8-sig"`` (byte-order mark), ``"utf-16"`` (with
        byte-order mark), ``"utf-16-le"`` / ``"utf-16-be"`` (without),
        ``"cp1252"`` (Windows-1252, as Excel saves CSV in Western locales),
        ``"latin-1"``, or ``""`` for Excel.
    delimiter
        ``","``, ``"\\t"``, ``";"``, ``" "`` (any run of spaces or tabs) or
        ``""`` for Excel.
    decimal
        ``"."`` or ``","``.
    header_row
        0-based row, counted after skipping comment lines, that held the
        header (blank and title rows above it count).
    comment_lines
        Number of ``#`` comment lines skipped, above the header and among the
        data rows.
    dropped_columns
        Annotation columns that were dropped (each also reported as a
        ``dropped_column`` warning).
    """

    format: str
    compression: str
    encoding: str
    delimiter: str
    decimal: str
    header_row: int
    comment_lines: int
    dropped_columns: tuple[str, ...]


@dataclass(frozen=True)
class ReadResult:
    """A parsed table, how it was read and what was noticed on the way.

    Attributes
    ----------
    table
        Rows are the first column's identifiers (str, stripped; orientation not
        decided), columns are the numeric columns' header names (str); float64
        values as written in the file (no unit conversion), NaN for missing
        cells, ``inf`` where the file says so.
    info
        How the file was read.
    warnings
        Things the caller may want to show, in the order they were noticed.
    """

    table: pd.DataFrame
    info: ReadInfo
    warnings: tuple[DeconvWarning, ...]


@dataclass(frozen=True)
class _Parsed:
    """A raw table before numeric conversion: column 0 holds identifiers.

    ``columns`` maps positions 0..n-1 to the parsed cells, one Series each (all
    of one length); :func:`_build_table` empties it as it copies the values,
    so the parser's columns are freed one by one.
    """

    columns: dict[int, pd.Series]
    names: list[str]  # header cell of each column, stripped
    encoding: str
    delimiter: str
    decimal: str
    header_row: int
    comment_lines: int
    is_gct: bool
    warnings: tuple[DeconvWarning, ...]


def read_table(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    what: str = "expression",
    limits: ReadLimits = DEFAULT_LIMITS,
    text_columns: str = "leading",
) -> ReadResult:
    """Read a numeric table from a path or the bytes of an uploaded file.

    Parameters
    ----------
    source
        Path of the file, or its raw bytes (as uploaded).
    name
        Original file name; its extension names the format of text files.
        Defaults to the path's name.  Content, not the name, decides whether
        the file is gzip, Excel or GCT.
    what
        What the file holds, used in messages, e.g. ``"expression"``,
        ``"signature"``, ``"measured fractions"``.
    limits
        Largest decompressed text and estimated parse memory
        (:class:`~deconv_core.io.limits.ReadLimits`); a file past either is
        refused before it is parsed whole.
    text_columns
        Which columns of text are dropped as annotation: ``"leading"`` (those
        right after the identifiers; text further right is an error, as a
        sample column of an expression file must hold numbers) or
        ``"anywhere"`` (every column of text or TRUE/FALSE, wherever it stands,
        as in a table of per-sample descriptions and measurements).

    Returns
    -------
    ReadResult
        ``table`` has one row per data row (index = first-column identifier)
        and one float64 column per numeric column (named by the header);
        ``info`` says how the file was read; ``warnings`` lists what the
        caller may want to show: dropped annotation columns
        (``dropped_column``, info), a latin-1 fallback (``encoding``, info),
        decimal commas that might be thousands separators (``decimal_comma``,
        warning).

    Raises
    ------
    InputError
        When the file is empty, has no data rows, only one column, no numeric
        columns, duplicated or empty column names, text in numeric cells,
        rows with more cells than the header, or is not a text table or an
        ``.xlsx`` workbook (PDF, other zip archive, random bytes); or when it
        is over ``limits``.

    Notes
    -----
    Leading columns after the identifiers that hold text in nearly all rows
    (``Description``, ``gene_name``...), or whose name marks them as
    annotation (``Entrez``, ``Length``...), are dropped with a warning.  The
    missing-value tokens are :data:`MISSING_TOKENS`; ``inf`` and ``-inf`` read
    as infinities.  Negative values, infinities and duplicated identifiers are
    left for the caller to judge.
    """
    if text_columns not in _TEXT_COLUMNS:
        raise ValueError(f"text_columns must be one of {_TEXT_COLUMNS}, got {text_columns!r}")
    data, label, opener = _load_head_or_bytes(source, name=name, what=what)
    text_size = _source_size(source, data)
    compression = ""
    if data[:2] == GZIP_MAGIC:
        # Never inflated whole: the head is sniffed and the body streamed, capped.
        compression = "gzip"
        packed = data if opener is None else None
        data, opener = _gzip_head(source, packed, what=what, limit=limits.max_text_bytes)
        text_size = max(_gzip_stated_size(source, packed), len(data))
        if data[:4] in ZIP_MAGIC:  # a gzipped workbook: openpyxl needs it whole
            raw = packed if packed is not None else _load_bytes(source, name=name, what=what)[0]
            data, opener = gunzip_capped(raw, limits.max_text_bytes, what=what), None
    if opener is not None and data[:4] in ZIP_MAGIC:
        # Workbooks are read whole (openpyxl needs the zip directory at the end).
        data, _ = _load_bytes(source, name=name, what=what)
        opener = None
    suffix = _suffix(label)

    if data[:4] in ZIP_MAGIC:
        _check_xlsx_archive(data, what=what, limits=limits)
        parsed = _read_xlsx(data, what=what, limits=limits)
        fmt = "xlsx"
    else:
        _check_not_binary_container(data, what=what)
        check_text_size(text_size, limits, what=what)
        budget = _Budget(limits=limits, text_size=text_size)
        parsed = _read_text(data, what=what, opener=opener, budget=budget)
        if parsed.is_gct:
            fmt = "gct"
        elif _EXTENSIONS.get(suffix) in ("csv", "tsv", "txt"):
            fmt = _EXTENSIONS[suffix]
        else:
            fmt = {"\t": "tsv", " ": "txt"}.get(parsed.delimiter, "csv")

    table, dropped, notes, comment_rows = _build_table(
        parsed, what=what, anywhere=text_columns == "anywhere"
    )
    if fmt == "gct":
        _check_gct_rows(data, len(table), what=what)
    if table.size >= _TRIM_CELLS:
        release_freed_memory()
    info = ReadInfo(
        format=fmt,
        compression=compression,
        encoding=parsed.encoding,
        delimiter=parsed.delimiter,
        decimal=parsed.decimal,
        header_row=parsed.header_row,
        comment_lines=parsed.comment_lines + comment_rows,
        dropped_columns=dropped,
    )
    return ReadResult(table=table, info=info, warnings=parsed.warnings + notes)


#: Tables of at least this many cells (80 MB of floats) give the memory the parser
#: freed back to the system once they are built (:func:`release_freed_memory`).
_TRIM_CELLS = 10_000_000


# --------------------------------------------------------------------------- bytes


# Files larger than this are parsed straight from disk: only their head is held
# in memory for sniffing, so a 120 MB table does not cost another 120 MB.
_STREAM_ABOVE = 16 * 1024 * 1024
_HEAD_BYTES = _SNIFF_MAX_BYTES + _SNIFF_BYTES


def _load_head_or_bytes(
    source: str | os.PathLike[str] | bytes, *, name: str | None, what: str
) -> tuple[bytes, str, Callable[[], IO[bytes]] | None]:
    """Bytes to sniff, the name for the extension, and an opener for streaming.

    Small files and uploaded bytes come back whole with no opener; a large file
    on disk comes back as its first :data:`_HEAD_BYTES` bytes plus a function
    that opens it for reading the body.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            size = path.stat().st_size if path.is_file() else 0
        except OSError:
            size = 0
        if size > _STREAM_ABOVE:
            head = read_input_file(path, what=what, limit=_HEAD_BYTES)
            return head, name or path.name, lambda: path.open("rb")
    data, label = _load_bytes(source, name=name, what=what)
    return data, label, None


def _gzip_head(
    source: str | os.PathLike[str] | bytes, packed: bytes | None, *, what: str, limit: int
) -> tuple[bytes, Callable[[], IO[bytes]]]:
    """Decompressed head of a gzip file, and an opener for streaming its body.

    ``packed`` holds the compressed bytes (an upload, or a small file read
    whole); None reads the file on disk.  The body's stream stops with
    :class:`InputError` past ``limit`` bytes of text.
    """

    def raw() -> IO[bytes]:
        if packed is not None:
            return gzip.GzipFile(fileobj=io.BytesIO(packed), mode="rb")
        return gzip.open(Path(source), "rb")  # type: ignore[arg-type]

    try:
        with raw() as handle:
            head = handle.read(_HEAD_BYTES)
    except (OSError, EOFError, zlib.error) as err:
        raise damaged_gzip(what) from err

    def opener() -> IO[bytes]:
        # The caller closes the stream (it is used in a with block).
        capped = CappedReader(raw(), limit, what=what)  # type: ignore[arg-type]
        return io.BufferedReader(capped, buffer_size=_SNIFF_BYTES)

    return head, opener


def _source_size(source: str | os.PathLike[str] | bytes, data: bytes) -> int:
    """Size in bytes of the file as stored (the bytes given, or the file on disk)."""
    if isinstance(source, str | os.PathLike):
        try:
            return max(Path(source).stat().st_size, len(data))
        except OSError:
            return len(data)
    return len(data)


def _gzip_stated_size(source: str | os.PathLike[str] | bytes, packed: bytes | None) -> int:
    """The uncompressed size a gzip file states (its last 4 bytes, modulo 4 GiB)."""
    if packed is not None:
        return int.from_bytes(packed[-4:], "little") if len(packed) >= 4 else 0
    try:
        with Path(source).open("rb") as handle:  # type: ignore[arg-type]
            handle.seek(-4, os.SEEK_END)
            return int.from_bytes(handle.read(4), "little")
    except OSError:
        return 0


def _load_bytes(
    source: str | os.PathLike[str] | bytes, *, name: str | None, what: str
) -> tuple[bytes, str]:
    """Return the file's bytes and the name used for its extension."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), name or ""
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"source must be a path or bytes, got {type(source).__name__}")
    return read_input_file(source, what=what), name or Path(source).name


def _suffix(label: str) -> str:
    """Lower-case extension of ``label``, looking through a trailing ``.gz``."""
    lower = label.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    return Path(lower).suffix


def _check_xlsx_archive(data: bytes, *, what: str, limits: ReadLimits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.namelist()
    except DAMAGED_ZIP_ERRORS as err:
        raise InputError(
            f"The {what} file is a damaged zip or Excel file; save it again as .xlsx or CSV."
        ) from err
    if MANIFEST_FILE in members:  # a results zip of this tool (deconv_core.report)
        raise InputError(
            f"The {what} file is a results zip of this tool, not a table.",
            cli="Give the table itself; a zip saved with its inputs holds them under inputs/.",
            app="Restore it under 'Restore a session from a results zip' at the top of the "
            "Upload page, or upload the table itself.",
        )
    if "xl/workbook.xml" not in members:
        raise InputError(
            f"The {what} file is a zip archive but not an Excel .xlsx workbook.",
            cli="Unzip it and give the CSV, TSV or XLSX table inside.",
            app="Unzip it and upload the CSV, TSV or XLSX table inside.",
        )
    check_archive_size(data, limits, what=what)


def _check_not_binary_container(data: bytes, *, what: str) -> None:
    if data.startswith(_PDF_MAGIC):
        raise InputError(
            f"The {what} file is a PDF, not a table.",
            cli="Save the data as CSV, TSV or XLSX and give that file.",
            app="Upload the data as CSV, TSV or XLSX.",
        )
    if data.startswith(HDF5_MAGIC):
        raise InputError(
            f"The {what} file is an HDF5 file (e.g. ARCHS4 or .h5ad), not a text table.",
            cli="An expression cohort in HDF5 is read by run --engine dask; otherwise save the "
            "table as CSV, TSV or XLSX.",
            app="The dashboard reads CSV, TSV and XLSX tables; run an HDF5 cohort on the "
            "command line with --engine dask.",
        )
    if data.startswith(_OLE_MAGIC):
        raise InputError(
            f"The {what} file is an old-style Excel .xls (or password-protected) workbook; "
            "open it in Excel and save it as .xlsx or CSV without a password."
        )


def _not_text_error(what: str) -> InputError:
    return InputError(
        f"The {what} file is not a text table or an Excel .xlsx workbook (it holds binary data).",
        cli="Save it as CSV, TSV or XLSX and give that file.",
        app="Save it as CSV, TSV or XLSX and upload that.",
    )


# ---------------------------------------------------------------------------- text


def _detect_encoding(data: bytes) -> tuple[str, str, int]:
    """Return (reported name, codec for the body, length of the byte-order mark)."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "utf-8", 3
    if data.startswith(codecs.BOM_UTF16_LE):
        return "utf-16", "utf-16-le", 2
    if data.startswith(codecs.BOM_UTF16_BE):
        return "utf-16", "utf-16-be", 2
    sample = data[:4096]
    half = len(sample) // 2
    if half >= 2 and b"\x00" in sample:
        # UTF-16 without a mark: every other byte of ASCII text is zero.
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > 0.3 * half and even < 0.05 * half:
            return "utf-16-le", "utf-16-le", 0
        if even > 0.3 * half and odd < 0.05 * half:
            return "utf-16-be", "utf-16-be", 0
    return "utf-8", "utf-8", 0


def _head_lines(data: bytes, *, codec: str, bom: int) -> tuple[str, list[tuple[str, int]], bool]:
    """Decode the start of ``data`` and split it into complete lines.

    Returns the decoded text, ``(line, offset just past its line end)`` pairs
    and whether the whole file was decoded.  Raises ``UnicodeDecodeError``.
    """
    size = _SNIFF_BYTES
    while True:
        end = bom + size
        at_end = end >= len(data)
        decoder = codecs.getincrementaldecoder(codec)()
        text = decoder.decode(data[bom:end], final=at_end)
        lines: list[tuple[str, int]] = []
        content = 0
        pos = 0
        for match in _EOL.finditer(text):
            line = text[pos : match.start()]
            lines.append((line, match.end()))
            pos = match.end()
            if line.strip() and not line.lstrip().startswith("#"):
                content += 1
        if at_end and pos < len(text):
            lines.append((text[pos:], len(text)))
        if at_end or content > _SNIFF_LINES or size >= _SNIFF_MAX_BYTES:
            return text, lines, at_end
        size *= 2


def _split(line: str, delimiter: str) -> list[str] | None:
    """Cells of one line (quotes honoured), or None if the line cannot be split."""
    if delimiter == " ":
        return [cell.strip('"') for cell in line.split()]
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return None


def _fit_delimiter(
    lines: list[str], delimiter: str, *, strict: bool
) -> tuple[int, bool, int] | None:
    """Return (header line index, header is short, cells per row) if ``delimiter`` fits.

    The data rows (after the header) must all have the same number of cells,
    at least two (``strict``) or between two and that many (not ``strict``:
    ragged short rows).  The header may have one cell fewer (R's
    ``write.table`` leaves the identifier column unnamed; flagged as short) or
    extra empty trailing cells.  Lines above the header are title lines.
    """
    cells = [_split(line, delimiter) for line in lines]
    if any(c is None for c in cells):
        return None
    counts = [len(c) for c in cells]  # type: ignore[arg-type]
    tally = Counter(counts[1:] or counts)
    best = max(tally.values())
    width = max(n for n, k in tally.items() if k == best)
    if width < 2:
        return None
    for start, count in enumerate(counts):
        rest = counts[start + 1 :]
        ok_rest = all(n == width for n in rest) if strict else all(2 <= n <= width for n in rest)
        if not ok_rest:
            continue
        header = cells[start]
        if count in (width - 1, width) or (
            count > width and all(not c.strip() for c in header[width:])  # type: ignore[index]
        ):
            return start, count == width - 1, width
    return None


def _is_number_text(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


def _is_number_cell(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and _is_number_text(value.strip())


def _is_empty_cell(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in _MISSING


def _looks_like_header(cells: list[Any]) -> bool:
    """Cells after the first are mostly non-empty, non-numeric strings."""
    rest = list(cells[1:])
    while rest and _is_empty_cell(rest[-1]):
        rest.pop()
    if not rest:
        return False
    names = [c for c in rest if isinstance(c, str) and c.strip() and not _is_number_cell(c)]
    return len(names) >= 0.8 * len(rest)


def _check_header_not_data(cells: list[str], *, what: str) -> None:
    """Refuse a file whose first row is data: numbers where sample names belong.

    Whole numbers alone can be sample names ("1", "2", "3"), so the row is taken
    for data only when a cell has a fraction (``8.2643``) or the first cell is a
    gene id rather than a column title. Refused, not read with made-up names: a
    guess would turn the first gene into sample names or silently lose it.
    """
    rest = [c for c in cells[1:] if c]
    if not rest or not all(_is_number_cell(c) for c in rest):
        return
    from deconv_core.genes import gene_like_fraction  # noqa: PLC0415 (io must load fast)

    fractional = any(not c.lstrip("+-").isdigit() for c in rest)
    if fractional or gene_like_fraction(cells[:1]) == 1.0:
        raise InputError(
            f"The first row of the {what} file holds numbers ({', '.join(rest[:2])}) where "
            "sample names belong: the file has no header row.",
            cli="Add a first row with a name for the gene column and one per sample, and run "
            "again.",
            app="Add a first row with a name for the gene column and one per sample, and "
            "upload it again.",
        )


def _looks_like_data(cells: list[Any]) -> bool:
    """At least one number after the first cell, and the last filled cell is a number."""
    filled = [c for c in cells[1:] if not _is_empty_cell(c)]
    return bool(filled) and _is_number_cell(filled[-1])


def _sniff_decimal(rows: list[list[str]], delimiter: str) -> tuple[str, bool]:
    """Return the decimal mark and whether every decimal comma could be a thousands mark."""
    if delimiter == ",":
        return ".", False
    comma = dot = 0
    thousands_like = True
    for row in rows:
        for cell in row[1:]:
            cell = cell.strip()
            if _DEC_COMMA.match(cell):
                comma += 1
                thousands_like = thousands_like and bool(_THOUSANDS_COMMA.match(cell))
            elif _DEC_DOT.match(cell):
                dot += 1
    if comma and not dot:
        return ",", thousands_like
    return ".", False


@dataclass(frozen=True)
class _TextLayout:
    delimiter: str
    decimal: str
    names: list[str]
    body_offset: int  # byte offset of the first data line
    header_line: int  # 0-based line number of the header in the file
    header_row: int
    comment_lines: int
    is_gct: bool
    warnings: tuple[DeconvWarning, ...]


def _sniff_text(data: bytes, *, codec: str, bom: int, what: str) -> _TextLayout:
    """Find delimiter, header, decimal mark and where the data rows start."""
    text, lines, at_end = _head_lines(data, codec=codec, bom=bom)
    sample = text[:_SNIFF_BYTES]
    if "\x00" in sample or len(_CONTROL.findall(sample)) > 0.01 * len(sample):
        raise _not_text_error(what)
    is_gct = _is_gct(lines, what=what)
    content = _content_lines(lines, at_end, what=what)
    sniffed = [lines[i][0] for i in content]
    start, delimiter, width = _choose_delimiter(sniffed, is_gct=is_gct, what=what)

    header_cells = [c.strip() for c in _split(sniffed[start], delimiter) or []]
    data_rows = [_split(line, delimiter) or [] for line in sniffed[start + 1 :]]
    if start > 0 and not is_gct and not _looks_like_header(header_cells):
        raise InputError(
            f"Could not find a header row in the {what} file: the first lines do not look like "
            "column names followed by rows of numbers; delete any title lines above the header."
        )
    if not is_gct:
        _check_header_not_data(header_cells, what=what)
    names = _column_names(header_cells, data_rows, width)

    decimal, ambiguous = _sniff_decimal(data_rows, delimiter)
    notes: list[DeconvWarning] = []
    if decimal == "," and ambiguous and delimiter != ";":
        notes.append(
            DeconvWarning(
                "warning",
                "decimal_comma",
                f"The {what} file was read with decimal commas (e.g. '1,234' as 1.234).",
                cli="If those commas separate thousands, remove them and run again.",
                app="If those commas separate thousands, remove them and upload the file again.",
            )
        )

    header_index = content[start]
    comment_lines = sum(
        1 for line, _ in lines[:header_index] if line.lstrip().startswith("#") and line.strip()
    )
    body_chars = lines[header_index][1]
    return _TextLayout(
        delimiter=delimiter,
        decimal=decimal,
        names=names,
        body_offset=bom + len(text[:body_chars].encode(codec)),
        header_line=header_index,
        header_row=header_index - comment_lines,
        comment_lines=comment_lines,
        is_gct=is_gct,
        warnings=tuple(notes),
    )


def _check_gct_rows(head: bytes, n_rows: int, *, what: str) -> None:
    """Refuse a GCT file with fewer rows than its second line states (cut short)."""
    lines = head.split(b"\n", 2)
    try:
        stated = int(lines[1].split(b"\t")[0])
    except (IndexError, ValueError):
        return  # no count to hold it to
    if n_rows < stated:
        raise InputError(
            f"The {what} GCT file states {stated:,} rows on its second line but holds "
            f"{n_rows:,}: it was cut short or edited; download it again, or correct the count."
        )


def _is_gct(lines: list[tuple[str, int]], *, what: str) -> bool:
    """Whether the file is GCT 1.2 (by its first line); GCT 1.3 is refused."""
    first = lines[0][0].lstrip("\ufeff").strip() if lines else ""
    if first.startswith("#1.3"):
        raise InputError(
            f"The {what} file is GCT version 1.3, which is not supported; save it as GCT 1.2 "
            "or as a TSV with genes in rows."
        )
    return first.startswith("#1.2")


def _content_lines(lines: list[tuple[str, int]], at_end: bool, *, what: str) -> list[int]:
    """Indices of the first non-blank, non-comment lines, or an error saying what is missing."""
    content = [
        i for i, (line, _) in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")
    ][: _SNIFF_LINES + 1]
    if content:
        return content
    if not at_end:
        raise InputError(
            f"The first {_SNIFF_MAX_BYTES // 2**20} MB of the {what} file hold no complete "
            "table line; check that it is a text table with one row per line."
        )
    if any(line.strip() for line, _ in lines):
        raise InputError(
            f"The {what} file holds only '#' comment lines; upload a file with a header row "
            "and data rows."
        )
    raise InputError(f"The {what} file is empty; choose the file that holds the table.")


def _choose_delimiter(sniffed: list[str], *, is_gct: bool, what: str) -> tuple[int, str, int]:
    """(header line among ``sniffed``, delimiter, number of columns) that fit the lines best."""
    if is_gct:
        if len(sniffed) < 2:
            raise InputError(
                f"The {what} GCT file stops before its header row; upload the complete file."
            )
        return 1, "\t", len(_split(sniffed[1], "\t") or [])
    fits = []
    for strict in (True, False):
        for rank, candidate in enumerate(_DELIMITERS):
            fit = _fit_delimiter(sniffed, candidate, strict=strict)
            if fit is not None:
                # Earliest header first, then rows all of one width, then a header
                # as wide as the rows (a one-cell-short header under another
                # delimiter is usually an accident of commas inside cells), then
                # the usual preference.
                fits.append((fit[0], not strict, fit[1], rank, candidate, fit[2]))
    if not fits:
        # Ragged rows: take the delimiter that splits the header and let the
        # parser name the first line that does not match it.
        for candidate in _DELIMITERS:
            if len(_split(sniffed[0], candidate) or []) >= 2:
                fits.append(
                    (0, True, False, 0, candidate, len(_split(sniffed[0], candidate) or []))
                )
                break
    if not fits:
        raise InputError(
            f"The {what} file has only one column; expected identifiers in the first "
            "column and one column of numbers per sample, separated by tabs, commas or "
            "semicolons."
        )
    start, _, _, _, delimiter, width = min(fits)
    return start, delimiter, width


def _column_names(header_cells: list[str], data_rows: list[list[str]], width: int) -> list[str]:
    """The header's names, one per column: a missing first or last name becomes ""."""
    if len(header_cells) == width - 1:
        if data_rows and all(row and not row[-1].strip() for row in data_rows):
            names = [*header_cells, ""]  # every data row ends with a delimiter
        else:
            names = ["", *header_cells]  # R's write.table: identifier column unnamed
    else:
        names = header_cells
    return names + [""] * (width - len(names))


@dataclass(frozen=True)
class _Budget:
    """What a text table may cost, and how large its text is (bytes, decompressed)."""

    limits: ReadLimits
    text_size: int


def _row_length(data: bytes, layout: _TextLayout) -> float:
    """Average bytes per data row in ``data`` (the whole text or its head)."""
    body = data[layout.body_offset :]
    return max(len(body), 1) / max(body.count(b"\n"), 1)


def _expected_rows(data: bytes, layout: _TextLayout, text_size: int) -> int:
    """Data rows of the whole text, estimated from the lines of ``data`` below the header."""
    lines = data[layout.body_offset :].count(b"\n")
    estimate = (text_size - layout.body_offset) / _row_length(data, layout)
    return max(int(estimate) + 1, lines, 1)


def _within_budget(
    data: bytes,
    layout: _TextLayout,
    budget: _Budget,
    opener: Callable[[], IO[bytes]] | None,
    *,
    what: str,
) -> Callable[[], IO[bytes]] | None:
    """Refuse a table whose parse would exceed the budget; cap a streamed body to it.

    A streamed body (a file on disk, or gzip) may hold more rows than its stated
    size says (a forged gzip trailer): its stream stops a little past the text
    the allowed rows need.
    """
    width = len(layout.names)
    rows_seen = _expected_rows(data, layout, budget.text_size)
    check_parse_budget(rows_seen, width, budget.limits, what=what)
    if opener is None:
        return None
    rows = allowed_rows(width, budget.limits)
    # 20% slack over the allowed rows: the average row length is an estimate.
    cap = min(budget.limits.max_text_bytes, int(1.2 * rows * _row_length(data, layout)))
    cap += layout.body_offset

    def capped() -> IO[bytes]:
        memory = budget.limits.max_memory
        stream = CappedReader(opener(), cap, what=what, memory=memory)  # type: ignore[arg-type]
        return io.BufferedReader(stream)

    return capped


def _read_text(
    data: bytes,
    *,
    what: str,
    fallback: str = "",
    opener: Callable[[], IO[bytes]] | None = None,
    budget: _Budget | None = None,
) -> _Parsed:
    """Sniff a delimited text file and parse its body with pandas' C engine.

    ``data`` is the whole file, or only its head when ``opener`` opens the
    whole file for streaming the body.  With a ``budget``, a table whose parse
    would need more memory than it allows is refused before parsing.
    """
    encoding, codec, bom = _detect_encoding(data)
    notes: list[DeconvWarning] = []
    if fallback:
        encoding, codec = fallback, fallback
    try:
        layout = _sniff_text(data, codec=codec, bom=bom, what=what)
    except UnicodeDecodeError as err:
        if codec == "cp1252":
            fallback = "latin-1"
        elif codec == "utf-8":
            fallback = _fallback_codec(data)
        else:
            raise _encoding_error(encoding, what=what) from err
        return _read_text(data, what=what, fallback=fallback, opener=opener, budget=budget)
    if budget is not None:
        opener = _within_budget(data, layout, budget, opener, what=what) or opener
    if fallback:
        shown = "Windows-1252" if fallback == "cp1252" else "latin-1"
        notes.append(
            DeconvWarning(
                "info",
                "encoding",
                f"The {what} file is not UTF-8 and was read as {shown}; accented characters in "
                "names may look wrong.",
            )
        )
    try:
        most = allowed_rows(len(layout.names), budget.limits) if budget is not None else None
        frame = _parse_body(data, layout, codec=codec, what=what, opener=opener, max_rows=most)
        if most is not None and len(frame) > most:  # more rows than the size let us expect
            check_parse_budget(len(frame), len(layout.names), budget.limits, what=what)
    except UnicodeDecodeError as err:
        if codec == "utf-8":
            fallback = _fallback_codec(data)
        elif codec == "cp1252":  # a byte it leaves undefined past the head: latin-1 reads any
            fallback = "latin-1"
        else:
            raise _encoding_error(encoding, what=what) from err
        return _read_text(data, what=what, fallback=fallback, opener=opener, budget=budget)
    return _Parsed(
        columns=_columns_of(frame),
        names=layout.names,
        encoding=encoding,
        delimiter=layout.delimiter,
        decimal=layout.decimal,
        header_row=layout.header_row,
        comment_lines=layout.comment_lines,
        is_gct=layout.is_gct,
        warnings=tuple(notes) + layout.warnings,
    )


# Bytes that are control characters in latin-1 but dashes, curly quotes, € ... in
# Windows-1252, the code page Excel saves CSV in for Western locales.
_C1_BYTES = re.compile(rb"[\x80-\x9f]")


def _fallback_codec(head: bytes) -> str:
    """The codec of a file that is not UTF-8: Windows-1252 when its head has bytes that
    differ from latin-1 there and all decode, else latin-1 (which reads every byte)."""
    if _C1_BYTES.search(head):
        try:
            head.decode("cp1252")
        except UnicodeDecodeError:
            return "latin-1"
        return "cp1252"
    return "latin-1"


def _parse_body(
    data: bytes,
    layout: _TextLayout,
    *,
    codec: str,
    what: str,
    opener: Callable[[], IO[bytes]] | None,
    max_rows: int | None = None,
) -> pd.DataFrame:
    """Parse the rows below the header with pandas' C engine (columns 0..n-1, ids as text).

    With ``max_rows``, at most one row more than that is parsed, so the caller
    can tell a table past its budget without paying for all of it.

    A decoding error is left to the caller (it retries as Windows-1252 or latin-1); other parser
    failures become :class:`InputError`.
    """
    width = len(layout.names)
    missing = list(MISSING_TOKENS)
    # One list of tokens for every column is about a fifth faster to parse than a list
    # per value column (pandas builds a token set per column and chunk), but would also
    # read an identifier such as "NA" as missing: only then is the file parsed again the
    # exact way, with the tokens on the value columns alone.
    frame = _parse_body_with(
        data, layout, codec=codec, what=what, opener=opener, max_rows=max_rows, na_values=missing
    )
    if frame[0].isna().any():
        frame = _parse_body_with(
            data,
            layout,
            codec=codec,
            what=what,
            opener=opener,
            max_rows=max_rows,
            na_values={j: missing for j in range(1, width)},
        )
    return frame


def _parse_body_with(
    data: bytes,
    layout: _TextLayout,
    *,
    codec: str,
    what: str,
    opener: Callable[[], IO[bytes]] | None,
    max_rows: int | None,
    na_values: list[str] | dict[int, list[str]],
) -> pd.DataFrame:
    """:func:`_parse_body` with the missing-value tokens ``na_values`` (pandas' argument)."""
    width = len(layout.names)
    try:
        with warnings.catch_warnings():
            # A column whose chunks differ in type holds text; we find and report those
            # cells ourselves, so pandas' DtypeWarning would only repeat it.  (The filter
            # is process-wide while it lasts: at worst it hides another thread's
            # DtypeWarning meanwhile.)
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            body = opener() if opener is not None else io.BytesIO(data)
            with body:
                body.seek(layout.body_offset)
                return pd.read_csv(
                    body,
                    sep=r"\s+" if layout.delimiter == " " else layout.delimiter,
                    header=None,
                    names=range(width),
                    index_col=None,
                    dtype={0: str},
                    na_values=na_values,
                    keep_default_na=False,
                    decimal=layout.decimal,
                    encoding=codec,
                    engine="c",
                    skip_blank_lines=True,
                    nrows=None if max_rows is None else max_rows + 1,
                )
    except pd.errors.EmptyDataError as err:
        raise _no_data_rows_error(what) from err
    except pd.errors.ParserError as err:
        raise _ragged_error(str(err), layout=layout, what=what) from err
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputError(
            f"The {what} file is cut short or damaged; check that the download finished, or "
            "upload the uncompressed file."
        ) from err


def _encoding_error(encoding: str, *, what: str) -> InputError:
    """The file does not decode in the encoding it was read in."""
    return InputError(
        f"The {what} file is not valid {encoding.upper()} text; save it again as UTF-8 CSV or TSV."
    )


def _no_data_rows_error(what: str) -> InputError:
    """A header row and nothing below it."""
    return InputError(
        f"The {what} file has a header row but no data rows; check that the right file was "
        "chosen and that data rows do not start with '#'."
    )


def _ragged_error(message: str, *, layout: _TextLayout, what: str) -> InputError:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if found is None:
        return InputError(
            f"The {what} file could not be split into cells; save it from Excel or R as one "
            "table with a single header row."
        )
    expected, line, saw = (int(g) for g in found.groups())
    return InputError(
        f"Line {layout.header_line + 1 + line} of the {what} file has {saw} cells but the header "
        f"has {expected}; give every row one cell per column (check for stray delimiters)."
    )


# ---------------------------------------------------------------------------- xlsx


def _xlsx_cell(value: Any) -> Any:
    """An Excel cell as None, float or stripped str."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    return text or None


def _xlsx_label(value: Any) -> str:
    """An Excel cell as an identifier or column name: 7157.0 -> '7157'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def check_xlsx_budget(data: bytes, limits: ReadLimits, *, what: str) -> None:
    """Refuse a workbook whose first sheet would not fit ``limits`` (read, then dropped).

    For readers other than :func:`read_table` (e.g. pandas' own Excel reader),
    which pad every row to the widest one without a budget.
    """
    _xlsx_first_sheet(data, what=what, limits=limits)


def _read_xlsx(data: bytes, *, what: str, limits: ReadLimits = DEFAULT_LIMITS) -> _Parsed:
    """Read the first sheet of an .xlsx workbook, finding the header below title rows."""
    raw, merged = _xlsx_first_sheet(data, what=what, limits=limits)
    if not any(_xlsx_filled(row) for row in raw):
        raise InputError(
            f"The first sheet of the {what} workbook is empty; put the table on the first "
            f"sheet.{_other_sheets(data)}"
        )
    kept, comment_lines = _xlsx_drop_comments(raw)
    try:
        header = _xlsx_header_row(kept, what=what)
    except InputError as err:
        raise InputError(f"{err}{_other_sheets(data)}") from None
    _check_no_merges_in_table(merged, header + comment_lines + 1, what=what)
    columns, names = _xlsx_columns(kept, header)
    return _Parsed(
        columns=columns,
        names=names,
        encoding="",
        delimiter="",
        decimal=".",
        header_row=header,
        comment_lines=comment_lines,
        is_gct=False,
        warnings=_other_sheets_note(data, what=what),
    )


def _check_no_merges_in_table(
    merged: list[tuple[str, int, int]], header_row: int, *, what: str
) -> None:
    """Refuse merged cells from the header row (1-based sheet row ``header_row``) down.

    A merged range keeps one value, in its first cell; the others would read
    as empty names, ids or values.  Merged titles above the header are kept.
    """
    inside = [ref for ref, _, last in merged if last >= header_row and _spans_cells(ref)]
    if not inside:
        return
    count = f"{len(inside):,} merged ranges" if len(inside) > 1 else "a merged range"
    raise InputError(
        f"The first sheet of the {what} workbook has {count} inside the table (first: "
        f"{inside[0]}); a merged range keeps its value in its first cell only, so the others "
        "would read as empty. Unmerge those cells in Excel or LibreOffice and fill in every "
        "name and value."
    )


def _spans_cells(ref: str) -> bool:
    """Whether a merged range covers more than one cell ("B3:B3" and "B3" do not)."""
    first, _, last = ref.partition(":")
    return bool(last) and last != first


def _other_sheets_note(data: bytes, *, what: str) -> tuple[DeconvWarning, ...]:
    """A warning naming the sheets after the first, which are not read (none if there are none)."""
    names = _sheet_names(data)
    if len(names) < 2:
        return ()
    others = ", ".join(repr(n) for n in names[1:6]) + (", ..." if len(names) > 6 else "")
    return (
        DeconvWarning(
            "warning",
            "other_sheets",
            f"Only the first sheet ({names[0]!r}) of the {what} workbook was read; its other "
            f"sheets ({others}) were not.",
            cli="To use another sheet, move it first in the workbook or save it as CSV.",
            app="To use another sheet, move it first in the workbook or save it as CSV, and "
            "upload it again.",
        ),
    )


def _sheet_names(data: bytes) -> list[str]:
    """The workbook's sheet names, in order (only called once the workbook has opened)."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    try:
        return list(book.sheetnames)
    finally:
        book.close()


def _xlsx_filled(row: list[Any]) -> bool:
    """Whether a worksheet row has at least one non-empty cell."""
    return any(c is not None for c in row)


def _other_sheets(data: bytes) -> str:
    """A sentence naming the workbook's other sheets, when it has more than one ("" else).

    Only called when the first sheet was readable, so the workbook opens.
    """
    names = _sheet_names(data)
    if len(names) < 2:
        return ""
    listed = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
    return (
        f" Only the first of its {len(names)} sheets ({listed}) is read: move the table to "
        "the first sheet, or save that sheet as CSV."
    )


def _xlsx_first_sheet(
    data: bytes, *, what: str, limits: ReadLimits = DEFAULT_LIMITS
) -> tuple[list[list[Any]], list[tuple[str, int, int]]]:
    """The cells of the workbook's first sheet, row by row from row 1, blank rows included,
    and its merged ranges (:func:`_merged_ranges`; looked for only when a cell is empty).

    The sheet's stated size is checked against ``limits`` before reading, and
    the cells are counted while reading (a stated size can be forged): a few
    far-apart cells make openpyxl pad every row to the widest one.
    """
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    problems = (
        InvalidFileException,
        KeyError,
        ParseError,
        ValueError,
        IndexError,
        *DAMAGED_ZIP_ERRORS,
    )
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except problems as err:
        raise InputError(
            f"The {what} file is a damaged or unsupported Excel workbook; open it in Excel and "
            "save it again as .xlsx or CSV."
        ) from err
    try:
        sheet = book.worksheets[0]
        width = sheet.max_column or 1
        check_parse_budget(sheet.max_row or 0, width, limits, what=what)
        most = allowed_rows(width, limits)
        rows = []
        for row in sheet.iter_rows(values_only=True):
            rows.append([_xlsx_cell(v) for v in row])
            if len(rows) > most:
                check_parse_budget(len(rows), max(len(row), width), limits, what=what)
        merged = []
        if any(None in row for row in rows):  # uncalculated formulas and merges read as empty
            xml = _sheet_xml(data, getattr(sheet, "_worksheet_path", ""))
            _check_formulas_have_values(xml, what=what)
            merged = _merged_ranges(xml)
        return rows, merged
    except InputError:
        raise  # the budget's own refusal (an InputError is a ValueError too)
    except problems as err:
        raise InputError(
            f"The first sheet of the {what} workbook cannot be read; open it in Excel and save "
            "it again as .xlsx or CSV."
        ) from err
    finally:
        book.close()


# A cell holding a formula but no saved result (`<v>` missing or empty), as written by
# programs that do not calculate (openpyxl, many exporters): its value reads as empty.
_UNCALCULATED = re.compile(
    rb'<c\b[^>]*?\br="([A-Z]+[0-9]+)"[^>]*>\s*(?:<f\b[^>]*/>|<f\b[^>]*>([^<]*)</f>)'
    rb"\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>"
)


def _sheet_xml(data: bytes, sheet_path: str) -> bytes:
    """The XML of one sheet of a workbook openpyxl has read (b"" when it cannot be had)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return book.read(sheet_path)
    except (KeyError, *DAMAGED_ZIP_ERRORS):
        return b""  # openpyxl read the sheet; nothing more to learn here


# A merged range (ECMA-376 18.3.1.55): its value is in its top-left cell, the others are empty.
_MERGED = re.compile(rb'<mergeCell\b[^>]*?\bref="(([A-Z]+)([0-9]+)(?::[A-Z]+([0-9]+))?)"')


def _merged_ranges(xml: bytes) -> list[tuple[str, int, int]]:
    """A sheet's merged ranges in reading order (by first row, then column; the file keeps
    no order): (the range as Excel writes it, its first row, its last row)."""
    found = sorted(
        (int(top), len(col), col, ref.decode(), int(bottom or top))
        for ref, col, top, bottom in _MERGED.findall(xml)
    )
    return [(ref, top, bottom) for top, _, _, ref, bottom in found]


def _check_formulas_have_values(xml: bytes, *, what: str) -> None:
    """Refuse a sheet whose formulas were never calculated: their cells would read as empty."""
    if b"<f" not in xml:
        return
    found = _UNCALCULATED.findall(xml)
    if not found:
        return
    cell, formula = found[0]
    shown = f", ={formula.decode('utf-8', 'replace')[:40]}" if formula else ""
    count = f"{len(found):,} cells" if len(found) > 1 else "1 cell"
    raise InputError(
        f"The first sheet of the {what} workbook has {count} with a formula but no saved "
        f"result (first: {cell.decode()}{shown}), which would read as empty; open the workbook "
        "in Excel or LibreOffice and save it again, or paste those cells as values."
    )


def _xlsx_drop_comments(raw: list[list[Any]]) -> tuple[list[list[Any]], int]:
    """Drop the ``#`` rows above the table: (the rows left, blanks included; how many dropped)."""
    comment_lines = 0
    kept: list[list[Any]] = []
    seen = False  # a non-blank, non-comment row has been kept
    for row in raw:
        first = row[0] if row else None
        if not seen and isinstance(first, str) and first.startswith("#"):
            comment_lines += 1
            continue
        seen = seen or _xlsx_filled(row)
        kept.append(row)
    return kept, comment_lines


def _xlsx_header_row(kept: list[list[Any]], *, what: str) -> int:
    """Index in ``kept`` of the first header-like row whose next filled row looks like data."""
    for i, row in enumerate(kept[:_HEADER_SEARCH_ROWS]):
        if not _looks_like_header(row):
            continue
        after = next((r for r in kept[i + 1 :] if _xlsx_filled(r)), None)
        if after is not None and _looks_like_data(after):
            return i
    raise InputError(
        f"Could not find a header row in the first sheet of the {what} workbook: expected a "
        "row of column names followed by rows of numbers; put one header row directly "
        "above the data."
    )


def _xlsx_columns(kept: list[list[Any]], header: int) -> tuple[dict[int, pd.Series], list[str]]:
    """The filled rows below the header as object columns (ids as text), and the column names."""
    body = [row for row in kept[header + 1 :] if _xlsx_filled(row)]
    width = max(len(row) for row in [kept[header], *body])
    names = [_xlsx_label(v) for v in kept[header]]
    names += [""] * (width - len(names))
    columns: dict[int, pd.Series] = {}
    ids = [_xlsx_label(row[0]) if row else "" for row in body]
    columns[0] = pd.Series(ids, dtype=object)
    for j in range(1, width):
        cells = [row[j] if j < len(row) else None for row in body]
        columns[j] = pd.Series(cells, dtype=object)
    return columns, names


# ------------------------------------------------------------------ numeric table


def _coerce(column: pd.Series, *, decimal: str) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Convert a column holding some text: (float values, text mask, stripped cells)."""
    absent = column.isna().to_numpy()
    cells = column.astype("str").str.strip()
    numeric = cells.str.replace(",", ".", regex=False) if decimal == "," else cells
    token = cells.isin(_MISSING).to_numpy()
    values = pd.to_numeric(numeric, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    text = ~absent & ~token & np.isnan(values)
    values = np.where(token, np.nan, values)
    return values, text, cells


def _text_error(
    bad: list[tuple[int, str, np.ndarray, pd.Series]], ids: np.ndarray, *, decimal: str, what: str
) -> InputError:
    """Word the error for text cells; ``bad`` holds (order, name, text mask, cells)."""
    total = int(sum(mask.sum() for _, _, mask, _ in bad))
    row, _, name, cells = min(
        (int(np.argmax(mask)), order, name, cells) for order, name, mask, cells in bad
    )
    value = str(cells.iloc[row])
    more = f" (and {total - 1} more cell{'s' if total > 2 else ''})" if total > 1 else ""
    hint = ""
    if (_THOUSANDS_COMMA if decimal == "." else _THOUSANDS_DOT).match(value):
        hint = " (thousands separators are not supported: remove them)"
    elif decimal == "." and _DEC_COMMA.match(value):
        hint = " (decimal commas are read only in files whose columns are separated by ';' or tabs)"
    return InputError(
        f"The {what} file has text in numeric columns: {value!r} for row {str(ids[row])!r} in "
        f"column {name!r}{more}; fix or empty those cells{hint}."
    )


def _columns_of(frame: pd.DataFrame) -> dict[int, pd.Series]:
    """The columns of a parsed frame by position (each Series keeps only its own values)."""
    return {j: frame[j] for j in range(frame.shape[1])}


def _build_table(
    parsed: _Parsed, *, what: str, anywhere: bool = False
) -> tuple[pd.DataFrame, tuple[str, ...], tuple[DeconvWarning, ...], int]:
    """Turn a raw table into floats: (table, dropped columns, warnings, comment rows).

    The table is one float64 block (genes × samples, column-major): the parser's
    columns are copied into it one at a time and dropped from ``parsed.columns``,
    so the data are held about once, and no later step has to gather 1,000
    separate columns into a matrix again.
    """
    columns, names = parsed.columns, parsed.names
    keep, ids, comment_rows = _drop_comment_rows(columns[0])
    if keep is not None:
        columns.update({j: column[keep] for j, column in columns.items()})
    if parsed.delimiter:
        check_one_delimiter(ids, delimiter=parsed.delimiter, what=what)
    last = _last_column(columns, names, what=what)
    texts = _float_columns(columns, last, decimal=parsed.decimal)
    dropped = _annotation_columns(
        names, last, columns, texts, is_gct=parsed.is_gct, anywhere=anywhere
    )
    kept = [j for j in range(1, last) if j not in dropped]
    bad = [(j, names[j], texts[j][0], texts[j][1]) for j in kept if j in texts]
    if bad:
        raise _text_error(bad, ids, decimal=parsed.decimal, what=what)
    if not kept:
        raise InputError(
            f"The {what} file has no numeric columns: every column after the first holds text; "
            "expected one column of numbers per sample."
        )

    table = pd.DataFrame(_float_block(columns, kept, len(ids)), copy=False)
    columns.clear()
    table, ids = _drop_blank_rows(table, ids)
    if len(ids) == 0:
        raise _no_data_rows_error(what)
    table = table.set_axis(pd.Index(ids, dtype="str", name=names[0] or None), axis=0)
    table = table.set_axis(pd.Index([names[j] for j in kept], dtype="str"), axis=1)
    notes = tuple(
        DeconvWarning(
            "info",
            "dropped_column",
            f"Column {names[j]!r} of the {what} file holds annotation, not measurements, "
            "and was ignored.",
        )
        for j in dropped
    )
    return table, tuple(names[j] for j in dropped), notes, comment_rows


_DELIMITER_NAMES = {"\t": "tabs", ";": "semicolons", ",": "commas", " ": "spaces"}


def check_one_delimiter(ids: np.ndarray, *, delimiter: str, what: str) -> None:
    """Refuse rows written with another delimiter than the file's (e.g. a comma among tabs).

    ``ids`` are the rows' identifiers as parsed with ``delimiter``.

    Such a row's identifier swallows its first value ("CD8A,12.5"), and its other
    values slide one column left, or all of them end in the identifier: numbers
    under the wrong sample, or a gene lost, without any text cell to flag it.
    """
    others = "".join(d for d in _DELIMITERS if d not in (delimiter, " "))
    if not others or len(ids) == 0:
        return
    number = r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?"
    pattern = rf"[{others}]\s*{number}\s*(?:[{others}]|$)"
    mixed = pd.Series(ids, dtype=object).astype(str).str.contains(pattern, regex=True)
    if not mixed.any():
        return
    first = str(ids[int(np.argmax(mixed.to_numpy()))])
    found = next(d for d in others if d in first)
    count = int(mixed.sum())
    more = f" ({count:,} rows like it)" if count > 1 else ""
    raise InputError(
        f"Row {first[:60]!r} of the {what} file is separated by {_DELIMITER_NAMES[found]} "
        f"while the file uses {_DELIMITER_NAMES[delimiter]}{more}: its values would land in the "
        "wrong columns; save the file again with one delimiter throughout (e.g. export it as TSV)."
    )


def _float_block(columns: dict[int, pd.Series], kept: list[int], n_rows: int) -> np.ndarray:
    """(n_rows, len(kept)) column-major float64 array of the columns ``kept``.

    Each column is removed from ``columns`` once copied: the parser's copy of
    the data is freed while the block fills.
    """
    block = np.empty((n_rows, len(kept)), order="F")
    for k, j in enumerate(kept):
        block[:, k] = columns.pop(j).to_numpy(dtype=np.float64)
    return block


def _drop_comment_rows(cells: pd.Series) -> tuple[np.ndarray | None, np.ndarray, int]:
    """Find the rows whose identifier (``cells``: the first column) starts with '#'.

    Returns (mask of the rows kept, None when all are; identifiers of the kept
    rows; how many rows were left out).
    """
    ids_series = cells.astype("str").fillna("").str.strip()
    comment = ids_series.str.startswith("#") & ~ids_series.isin(_EXCEL_ERRORS)
    comment_rows = int(comment.sum())
    keep = None
    if comment_rows:
        keep = ~comment.to_numpy()
        ids_series = ids_series.loc[keep]
    return keep, ids_series.to_numpy(dtype=object), comment_rows


def _last_column(columns: dict[int, pd.Series], names: list[str], *, what: str) -> int:
    """One past the last real column (trailing unnamed empty ones ignored); names checked."""
    last = len(names)
    # Trailing delimiters make unnamed, empty columns: ignore them.
    while last > 2 and names[last - 1] == "" and columns[last - 1].isna().all():
        last -= 1
    if last < 2:
        raise InputError(
            f"The {what} file has only one column; expected identifiers in the first column and "
            "one column of numbers per sample, separated by tabs, commas or semicolons."
        )
    check_unique_labels(
        pd.Index([_ID_PLACEHOLDER, *names[1:last]], dtype=object),
        what=f"column names of the {what} file",
    )
    return last


def _float_columns(
    columns: dict[int, pd.Series], last: int, *, decimal: str
) -> dict[int, tuple[np.ndarray, pd.Series]]:
    """Make columns 1..last-1 float in place; for those holding text: (text mask, stripped cells).

    Float columns are kept as pandas parsed them (no copy before the block is built).
    """
    texts: dict[int, tuple[np.ndarray, pd.Series]] = {}
    for j in range(1, last):
        column = columns[j]
        kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else ""
        if column.dtype == np.float64:
            continue
        if kind in ("i", "u", "f"):
            columns[j] = column.astype(np.float64)
        else:
            values, mask, cells = _coerce(column, decimal=decimal)
            columns[j] = pd.Series(values, index=column.index)
            if mask.any():
                texts[j] = (mask, cells)
    return texts


def _annotation_columns(
    names: list[str],
    last: int,
    columns: dict[int, pd.Series],
    texts: dict[int, tuple[np.ndarray, pd.Series]],
    *,
    is_gct: bool,
    anywhere: bool = False,
) -> list[int]:
    """The columns after the identifiers that hold annotation, not measurements.

    The leading ones (by content or by name); with ``anywhere`` also every
    later column of (nearly all) text.
    """
    dropped: list[int] = []
    leading = True
    for j in range(1, last):
        key = re.sub(r"[^a-z0-9]", "", names[j].lower())
        mostly_text = False
        if j in texts:
            n_text = int(texts[j][0].sum())
            mostly_text = n_text >= _TEXT_SHARE * (n_text + int(columns[j].notna().sum()))
        if (leading and ((is_gct and j == 1) or key in _ANNOTATION_NAMES)) or mostly_text:
            dropped.append(j)
            continue
        leading = False
        if not anywhere:
            break
    return dropped


def _drop_blank_rows(table: pd.DataFrame, ids: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Leave out rows without identifier or values (bare delimiters, as Excel writes)."""
    blank = np.flatnonzero(ids == "")
    if blank.size:  # rows of bare delimiters, as Excel writes below a table
        empty = blank[table.iloc[blank].isna().all(axis=1).to_numpy()]
        if empty.size:
            keep = np.ones(len(ids), dtype=bool)
            keep[empty] = False
            table, ids = table.iloc[keep], ids[keep]
    return table, ids

"""Reading within a memory budget: decompressed size and parse memory, checked before the work.

A small file can be expensive: a 5 MB gzip of zeros decompresses to 5 GB, and a
70 MB table of 200,000 single-digit columns costs about 6 GB to parse (pandas
keeps per-column state).  The readers therefore

- stop a decompressed stream past :attr:`ReadLimits.max_text_bytes`
  (:func:`gunzip_capped`, :class:`CappedReader`), and
- estimate the memory of parsing from the header's column count and the
  expected number of rows before parsing (:func:`check_parse_budget`),

and refuse with one sentence giving the size seen and the limit.  The command
line's limits are :data:`DEFAULT_LIMITS` (``--max-input-size``,
``--max-memory``); the dashboard's come from its upload limit
(:func:`dashboard_limits`), so one upload can never take the server down.
"""

from __future__ import annotations

import ctypes
import io
import re
import zipfile
import zlib
from dataclasses import dataclass

from deconv_core.validation import InputError

__all__ = [
    "DAMAGED_ZIP_ERRORS",
    "BYTES_PER_CELL",
    "BYTES_PER_COLUMN",
    "BYTES_PER_ROW",
    "DASHBOARD_MEMORY",
    "DEFAULT_LIMITS",
    "MIN_WORKER_MEMORY",
    "TEXT_PER_UPLOAD",
    "CappedReader",
    "ReadLimits",
    "allowed_rows",
    "check_archive_size",
    "check_parse_budget",
    "check_text_table",
    "check_text_size",
    "damaged_gzip",
    "dashboard_limits",
    "estimate_parse_memory",
    "format_size",
    "gunzip_capped",
    "parse_size",
    "release_freed_memory",
]

GiB = 2**30
MiB = 2**20
# Peak memory of parsing a text table with pandas' C engine, measured on 2026-12-01
# (pandas 3.1, numpy 2.4): 20,000 rows × 200 columns took 100 MB over the interpreter
# (25 bytes per cell); 170 rows × 20,000 columns 345 MB and 170 rows × 200,000 columns
# 5.8 GB (about 29 KB per column).
#: Estimated parse memory per cell, in bytes.
BYTES_PER_CELL = 25
#: Estimated parse memory per column, in bytes.
BYTES_PER_COLUMN = 30_000
#: Estimated parse memory per row besides its cells (the identifier as a Python string).
BYTES_PER_ROW = 100
#: Decompressed text allowed per uploaded byte in the dashboard (tables compress 3-5x).
TEXT_PER_UPLOAD = 5
#: Parse memory one upload may take in the dashboard (the server holds a few at once).
DASHBOARD_MEMORY = 2 * GiB
# A Dask worker that has imported the fitting code and fitted a one-sample chunk peaked at
# 0.24 GB (ru_maxrss, 2026-12-02, 19,373 genes; 0.13 GB idle), and Dask pauses a worker at
# 80% of its limit: at 300M eight one-sample chunks stalled for good, at 400M they ran, and a
# chunk of 500 samples x 20,000 genes peaked at 0.60 GB.  Below this the run cannot work.
#: Smallest ``--worker-memory`` of the Dask engine's local cluster.
MIN_WORKER_MEMORY = 512 * MiB
# Read decompressed streams in pieces of this size.
_CHUNK = 4 * MiB


@dataclass(frozen=True)
class ReadLimits:
    """How much one input may cost.

    Attributes
    ----------
    max_text_bytes
        Largest decompressed text (bytes).
    max_memory
        Largest estimated memory for parsing the table (bytes,
        :func:`estimate_parse_memory`).
    """

    max_text_bytes: int = 16 * GiB
    max_memory: int = 8 * GiB


#: The command line's limits (``--max-input-size`` and ``--max-memory`` change them).
DEFAULT_LIMITS = ReadLimits()


def dashboard_limits(upload_limit_mb: int) -> ReadLimits:
    """The dashboard's limits for an upload limit of ``upload_limit_mb`` MB."""
    return ReadLimits(
        max_text_bytes=TEXT_PER_UPLOAD * upload_limit_mb * MiB, max_memory=DASHBOARD_MEMORY
    )


def format_size(n: float) -> str:
    """Bytes as a short human size ("5.2 GB", "800 MB")."""
    for unit, size in (("GB", GiB), ("MB", MiB), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def parse_size(text: str) -> int:
    """A size such as ``"8G"``, ``"500M"``, ``"2GB"`` or ``"1048576"`` in bytes.

    Raises
    ------
    InputError
        Text that is not a positive size.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not match or float(match.group(1)) <= 0:
        raise InputError(f"Cannot read {text!r} as a size; give e.g. 8G, 500M or 2GB.")
    power = " kmgt".index(match.group(2) or " ")
    return int(float(match.group(1)) * 1024**power)


def _too_large(what: str, seen: str, limit: int, kind: str) -> InputError:
    return InputError(
        f"The {what} file {seen}, over the limit of {format_size(limit)} {kind}; split it, "
        "or give only the samples and genes you need.",
        cli="The command line's limits are set with --max-input-size and --max-memory.",
        app="The command line reads larger files from disk and has its own limits.",
    )


def _decompressed_too_large(what: str, limit: int) -> InputError:
    seen = f"decompresses to more than {format_size(limit)}"
    return _too_large(what, seen, limit, "of decompressed text")


def check_text_size(size: int, limits: ReadLimits, *, what: str) -> None:
    """Refuse text larger than ``limits.max_text_bytes``."""
    if size > limits.max_text_bytes:
        raise _too_large(what, f"is {format_size(size)} of text", limits.max_text_bytes, "of text")


def check_archive_size(data: bytes, limits: ReadLimits, *, what: str) -> None:
    """Refuse a zip (an .xlsx workbook) whose members unpack to more than the text limit.

    A workbook is a zip of XML: the sizes its directory states bound what a
    reader inflates (zipfile stops at the stated size).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except DAMAGED_ZIP_ERRORS:
        return  # not readable as zip: the reader says so in its own words
    check_text_size(unpacked, limits, what=what)


def check_text_table(data: bytes, limits: ReadLimits, *, what: str) -> None:
    """Refuse an in-memory text table whose parse would exceed ``limits.max_memory``.

    Columns are counted on the first line (the most of tab, semicolon or comma
    separators), rows by line breaks.
    """
    check_text_size(len(data), limits, what=what)
    first = data[: data.find(b"\n") if b"\n" in data else len(data)]
    columns = 1 + max(first.count(sep) for sep in (b"\t", b";", b","))
    check_parse_budget(data.count(b"\n") + 1, columns, limits, what=what)


#: What zipfile raises on a damaged archive.  Flipping bytes of workbooks and results
#: zips found, beside BadZipFile: zlib.error and EOFError (a damaged member),
#: NotImplementedError (a header naming an unknown zip version or feature) and
#: RuntimeError (a member marked as encrypted).
DAMAGED_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


def damaged_gzip(what: str) -> InputError:
    """The one message for gzip data that cannot be decompressed (cut short or damaged)."""
    return InputError(
        f"The {what} file looks gzip-compressed but cannot be decompressed.",
        cli="Check that the download finished, or give the uncompressed file.",
        app="Check that the download finished, or upload the uncompressed file.",
    )


def gunzip_capped(data: bytes, limit: int, *, what: str) -> bytes:
    """Decompress gzip ``data`` (all members), refusing past ``limit`` bytes of output.

    Raises
    ------
    InputError
        The output would exceed ``limit``, or the data are damaged or cut short
        (:func:`damaged_gzip`).
    """
    try:
        return _gunzip_capped(data, limit, what=what)
    except (EOFError, zlib.error) as err:
        raise damaged_gzip(what) from err


def _gunzip_capped(data: bytes, limit: int, *, what: str) -> bytes:
    out = io.BytesIO()
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        chunk = inflater.decompress(rest, _CHUNK)
        while True:
            out.write(chunk)
            if out.tell() > limit:
                raise _decompressed_too_large(what, limit)
            if not inflater.unconsumed_tail:
                break
            chunk = inflater.decompress(inflater.unconsumed_tail, _CHUNK)
        out.write(inflater.flush())
        if not inflater.eof:
            raise EOFError("truncated gzip stream")
        rest = inflater.unused_data.lstrip(b"\x00")
    if out.tell() > limit:
        raise _decompressed_too_large(what, limit)
    return out.getvalue()


class CappedReader(io.RawIOBase):
    """A binary file that raises :class:`InputError` once more than ``limit`` bytes are read."""

    def __init__(self, raw: io.IOBase, limit: int, *, what: str, memory: int = 0) -> None:
        self._raw = raw
        self._limit = limit
        self._what = what
        self._memory = memory  # when the cap comes from the memory limit: that limit
        self._read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = self._raw.seek(offset, whence)
        self._read = max(self._read, position)
        return position

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self._raw.read(len(buffer))
        self._read += len(data)
        if self._read > self._limit and self._memory:
            seen = f"holds more rows than its size stated ({format_size(self._limit)} read)"
            raise _too_large(self._what, seen, self._memory, "of memory for parsing")
        if self._read > self._limit:
            raise _decompressed_too_large(self._what, self._limit)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def estimate_parse_memory(rows: int, columns: int) -> int:
    """Estimated peak memory (bytes) of parsing a text table of ``rows`` × ``columns``."""
    return rows * (BYTES_PER_CELL * columns + BYTES_PER_ROW) + BYTES_PER_COLUMN * columns


def allowed_rows(columns: int, limits: ReadLimits) -> int:
    """The most rows of ``columns`` columns whose parse fits ``limits.max_memory``."""
    spare = limits.max_memory - BYTES_PER_COLUMN * columns
    return max(spare // (BYTES_PER_CELL * columns + BYTES_PER_ROW), 0)


def check_parse_budget(rows: int, columns: int, limits: ReadLimits, *, what: str) -> None:
    """Refuse a table whose parse would need more than ``limits.max_memory``.

    Raises
    ------
    InputError
        Giving the shape seen, the estimate and the limit.
    """
    need = estimate_parse_memory(rows, columns)
    if need > limits.max_memory:
        raise _too_large(
            what,
            f"has {columns:,} columns and about {rows:,} rows; reading it would need about "
            f"{format_size(need)}",
            limits.max_memory,
            "of memory",
        )


def release_freed_memory() -> None:
    """Hand memory the C allocator keeps after frees back to the system (glibc only).

    pandas' parser allocates a big table's columns in pieces the allocator keeps
    for reuse once freed: after a 1,000 × 20,000 table was copied into one block,
    about 200 MB stayed in the process, and every later step's arrays came on
    top of it; likewise the robust fit's work arrays under the gene checks'
    (``malloc_trim``; a no-op where the C library has none).
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return
    trim(0)

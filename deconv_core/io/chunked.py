"""Cohorts read a chunk of samples at a time, for the Dask engine.

Two on-disk layouts are read without loading the whole matrix:

- HDF5 in ARCHS4's layout: ``data/expression`` (genes × samples counts),
  ``meta/genes/symbol`` and ``meta/samples/geo_accession``;
- AnnData ``.h5ad``: ``X`` (samples × genes, dense or CSR; CSC would need the
  whole matrix for every chunk and is refused), ``obs`` and ``var`` indexes.

A genes × samples text table (TSV, CSV, gzipped or not) is converted once, a
block of gene rows at a time, to an HDF5 store in the ARCHS4 layout
(:func:`convert_table`), chunked by samples; h5py already reads the
single-cell ``.h5ad`` files, so no other store format is needed.

A :class:`ChunkedSource` is small and picklable: workers open the file
themselves and read only their samples.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy  # scipy.sparse loads on first use: a plain run never needs it

from deconv_core.io.limits import damaged_gzip
from deconv_core.io.singlecell import DAMAGED_HDF5_ERRORS, h5_index, h5_strings
from deconv_core.io.tables import (
    GZIP_MAGIC,
    HDF5_MAGIC,
    MISSING_TOKENS,
    ZIP_MAGIC,
    ReadInfo,
    check_one_delimiter,
    read_table,
)
from deconv_core.validation import InputError, read_input_file

__all__ = ["ChunkedSource", "convert_table", "open_chunked"]

# Samples per HDF5 chunk of a converted store: a chunk of 20,000 genes is 40 MB of float64.
_STORE_SAMPLES = 256
# Gene rows parsed per block while converting text: bounds the converter's memory.
_TEXT_ROWS = 2000


@dataclass(frozen=True)
class ChunkedSource:
    """A genes × samples cohort on disk, read a block of samples at a time.

    Attributes
    ----------
    path
        The HDF5 or h5ad file read (a converted store for text input).
    layout
        ``"archs4"`` or ``"h5ad"``.
    genes
        Gene ids as stored (harmonised later, chunk by chunk).
    samples
        Sample names, in file order.
    read_info
        How the user's file was read (for the manifest).
    """

    path: str
    layout: str
    genes: tuple[str, ...]
    samples: tuple[str, ...]
    read_info: ReadInfo

    def read(self, start: int, stop: int) -> pd.DataFrame:
        """Samples ``start:stop`` as a genes × samples float64 table (raw gene ids)."""
        import h5py

        with h5py.File(self.path, "r") as handle:
            if self.layout == "archs4":
                block = np.asarray(handle["data/expression"][:, start:stop], dtype=np.float64)
            else:
                block = _h5ad_rows(handle["X"], start, stop).T
        return pd.DataFrame(
            block,
            index=pd.Index(self.genes, dtype="str"),
            columns=pd.Index(self.samples[start:stop], dtype="str"),
            copy=False,
        )


def _h5ad_rows(node: object, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` (samples) of an AnnData ``X``, dense float64 (samples × genes)."""
    import h5py

    if isinstance(node, h5py.Dataset):
        return np.asarray(node[start:stop], dtype=np.float64)
    shape = tuple(int(x) for x in node.attrs["shape"])
    indptr = node["indptr"][start : stop + 1]
    lo, hi = int(indptr[0]), int(indptr[-1])
    rows = scipy.sparse.csr_array(
        (node["data"][lo:hi].astype(np.float64), node["indices"][lo:hi], indptr - lo),
        shape=(stop - start, shape[1]),
    )
    try:  # a damaged file's pointers would crash scipy (a segfault), not raise
        rows.check_format(full_check=True)
    except ValueError as exc:
        raise InputError(
            f"The h5ad file's X is damaged in samples {start + 1}-{stop} ({exc}); save it "
            "again from AnnData (adata.write_h5ad)."
        ) from None
    return rows.toarray()


def _read_info(fmt: str) -> ReadInfo:
    """How an HDF5 file was read, for the manifest (a text table's: :func:`_check_text_head`)."""
    return ReadInfo(
        format=fmt,
        compression="",
        encoding="",
        delimiter="",
        decimal=".",
        header_row=0,
        comment_lines=0,
        dropped_columns=(),
    )


def open_chunked(
    path: str | os.PathLike,
    *,
    store: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> ChunkedSource:
    """Open a cohort for reading in sample chunks.

    Parameters
    ----------
    path
        HDF5 (ARCHS4 layout), ``.h5ad``, or a genes × samples text table.
    store
        For a text table: the HDF5 store to convert it into (reused when it
        was converted from the same file, by SHA-256).  Required for text.
    progress
        Called with a short sentence while a text table is converted.

    Raises
    ------
    InputError
        A missing file, an HDF5 file of neither layout, a CSC ``.h5ad``, or a
        text table without ``store``.
    """
    path = str(path)
    magic = read_input_file(path, what="expression", limit=len(HDF5_MAGIC))
    if magic == HDF5_MAGIC:
        return _open_hdf5(path)
    if store is None:
        raise InputError(
            f"{Path(path).name} is a text table; the Dask engine converts it once to a chunked "
            "store: give --store PATH.h5 (written there, reused by later runs)."
        )
    store = convert_table(path, store, progress=progress)
    return _open_hdf5(store, read_info=_check_text_head(path))


def _open_hdf5(path: str, *, read_info: ReadInfo | None = None) -> ChunkedSource:
    """The cohort in an HDF5 file of either layout; a damaged file is one :class:`InputError`."""
    try:
        return _hdf5_source(path, read_info)
    except InputError:
        raise
    except DAMAGED_HDF5_ERRORS as exc:
        raise InputError(
            f"{Path(path).name} is a damaged HDF5 file ({exc}); is it complete? "
            "Download or save it again."
        ) from exc


def _hdf5_source(path: str, read_info: ReadInfo | None) -> ChunkedSource:
    import h5py

    with h5py.File(path, "r") as handle:
        if "data/expression" in handle and "meta/genes/symbol" in handle:
            n_genes, n_samples = handle["data/expression"].shape
            genes = h5_strings(handle["meta/genes/symbol"])
            samples = _archs4_samples(handle, n_samples)
            layout, fmt = "archs4", "hdf5"
            if len(genes) != n_genes:
                raise InputError(
                    f"{Path(path).name}: data/expression has {n_genes} gene rows but "
                    f"meta/genes/symbol names {len(genes)}; the file is inconsistent."
                )
        elif {"X", "obs", "var"} <= set(handle.keys()):
            _check_h5ad_matrix(handle["X"], path)
            samples, genes = h5_index(handle["obs"]), h5_index(handle["var"])
            layout, fmt = "h5ad", "h5ad"
        else:
            raise InputError(
                f"{Path(path).name} is an HDF5 file of neither layout the Dask engine reads: "
                "ARCHS4 (data/expression, meta/genes/symbol) or AnnData .h5ad (X, obs, var)."
            )
    return ChunkedSource(
        path=path,
        layout=layout,
        genes=tuple(str(g) for g in genes),
        samples=tuple(str(s) for s in samples),
        read_info=read_info or _read_info(fmt),
    )


def _archs4_samples(handle: object, n_samples: int) -> np.ndarray:
    """ARCHS4's sample names (``meta/samples/geo_accession``), else sample_1, sample_2, ..."""
    if "meta/samples/geo_accession" in handle:
        names = h5_strings(handle["meta/samples/geo_accession"])
        if len(names) == n_samples:
            return names
        raise InputError(
            f"data/expression has {n_samples} sample columns but meta/samples/geo_accession "
            f"names {len(names)}; the file is inconsistent."
        )
    return np.asarray([f"sample_{j + 1}" for j in range(n_samples)], dtype=object)


def _check_h5ad_matrix(node: object, path: str) -> None:
    import h5py

    if isinstance(node, h5py.Dataset):
        return
    encoding = node.attrs.get("encoding-type", "")
    encoding = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
    if encoding != "csr_matrix":
        raise InputError(
            f"{Path(path).name}: X is stored as {encoding or 'an unknown encoding'}; the Dask "
            "engine reads samples by rows, so save X dense or CSR (adata.X = "
            "scipy.sparse.csr_matrix(adata.X)) or use the in-memory engine."
        )


#: Text read from the start of a table for :func:`_check_text_head`: enough for the header
#: and a few rows; more only while fewer than three lines are complete (a wide header).
_HEAD_BYTES = 1 << 16
#: Errors of reading a damaged or cut gzip stream.
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _open_text(path: str):  # noqa: ANN202 - a binary file object
    """The table's bytes, decompressed when the file is gzip (by content, not name)."""
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _check_text_head(path: str) -> ReadInfo:
    """How to read a text table, from its first lines; refuse one the converter cannot read.

    The first lines go through :func:`~deconv_core.io.tables.read_table`, so an empty
    file, a header without rows, empty or repeated sample names and binary data get
    its messages, and its delimiter, decimal mark and encoding are the converter's.
    A workbook, lines above the header and annotation columns are refused (the
    converter reads a header line, then gene ids and numbers).
    """
    with open(path, "rb") as handle:
        if handle.read(4) in ZIP_MAGIC:
            raise InputError(
                f"{Path(path).name} is an Excel workbook or a zip; the Dask engine reads text "
                "tables (CSV or TSV, gzipped or not) and HDF5: save it as CSV, or leave out "
                "--engine dask."
            )
    try:
        with _open_text(path) as handle:
            head = handle.read(_HEAD_BYTES)
            while head.count(b"\n") < 3 and (more := handle.read(_HEAD_BYTES)):
                head += more
            complete = not handle.read(1)
    except _GZIP_ERRORS as err:
        raise damaged_gzip("expression") from err
    if not complete:  # whole lines only
        head = head[: head.rfind(b"\n") + 1]
    name = Path(path).name.removesuffix(".gz").removesuffix(".GZ")
    # GCT first: its stated row count would call the head alone a file cut short
    if head.lstrip(b"\xef\xbb\xbf").startswith(b"#1."):
        raise _not_convertible(path)
    info = read_table(head, name=name, what="expression").info
    if info.header_row or info.comment_lines or info.dropped_columns:
        raise _not_convertible(path)
    return replace(info, compression="gzip" if _is_gzip(path) else "")


def _not_convertible(path: str) -> InputError:
    return InputError(
        f"{Path(path).name} has lines above its header, '#' comment lines, annotation "
        "columns or the GCT layout; the Dask engine reads a header line, then gene ids "
        "and numbers: save the table that way, or leave out --engine dask."
    )


def convert_table(
    path: str | os.PathLike,
    store: str | os.PathLike,
    *,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Convert a genes × samples text table to an HDF5 store in ARCHS4's layout, once.

    The table is parsed ``_TEXT_ROWS`` gene rows at a time (the converter's
    memory does not grow with the number of genes) and written with chunks of
    ``_STORE_SAMPLES`` samples, so the engine reads a chunk of samples with few
    seeks.  The store records the table's SHA-256: a later run on the same
    table reuses it.

    Parameters
    ----------
    path
        Genes × samples, first column the gene ids, header row the sample
        names; tab- or comma-separated, optionally gzipped.
    store
        The HDF5 file to write.
    progress
        Called with the gene rows converted so far.

    Returns
    -------
    str
        The store's path.

    Raises
    ------
    InputError
        A non-numeric value, a table without samples, or a store that exists
        and was not converted from this table.
    """

    from deconv_core.expression import sha256_of

    path, store = str(path), str(store)
    info = _check_text_head(path)
    digest = sha256_of(path)
    if os.path.isdir(store):
        raise InputError(
            f"The store {store!r} is a folder; give a file path for --store, e.g. "
            f"{os.path.join(store, 'cohort.h5')!r}."
        )
    if os.path.exists(store):
        if _store_digest(store) == digest:
            return store
        raise InputError(
            f"The store {store!r} exists and was not converted from {Path(path).name}; "
            "remove it or choose another --store path."
        )
    partial = f"{store}.partial"
    try:
        Path(store).parent.mkdir(parents=True, exist_ok=True)
        _write_store(path, info, partial, digest, progress or (lambda message: None))
        os.replace(partial, store)
    except OSError as exc:
        raise InputError(
            f"Cannot write the store {store!r}: {exc.strerror or exc}; choose another --store path."
        ) from exc
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return store


def _store_digest(store: str) -> str | None:
    """The SHA-256 of the table a store was converted from (None: not such a store)."""
    import h5py

    try:
        with h5py.File(store, "r") as handle:
            digest = handle.attrs.get("source_sha256")
    except OSError:  # not an HDF5 file
        return None
    return digest if isinstance(digest, str) else None


def _write_store(
    path: str, info: ReadInfo, store: str, digest: str, step: Callable[[str], None]
) -> None:
    try:
        _convert_rows(path, info, store, digest, step)
    except _GZIP_ERRORS as err:  # cut short after the lines _check_text_head read
        raise damaged_gzip("expression") from err


def _convert_rows(
    path: str, info: ReadInfo, store: str, digest: str, step: Callable[[str], None]
) -> None:
    import h5py

    reader = pd.read_csv(
        path,
        sep=r"\s+" if info.delimiter == " " else info.delimiter,
        decimal=info.decimal,
        encoding=info.encoding,
        compression=info.compression or None,
        index_col=0,
        chunksize=_TEXT_ROWS,
        na_values=list(MISSING_TOKENS),
        keep_default_na=False,
        dtype=str,
    )
    genes: list[str] = []
    with h5py.File(store, "w") as handle, reader:
        handle.attrs["source_sha256"] = digest
        data = None
        for block in reader:
            if info.decimal == ",":  # the cells are read as text (dtype=str)
                block = block.apply(lambda column: column.str.replace(",", ".", regex=False))
            ids = block.index.to_numpy(dtype=object)
            check_one_delimiter(ids, delimiter=info.delimiter, what="expression")
            values = _numeric_block(block, path)
            if data is None:
                n = values.shape[1]
                if n == 0:
                    raise InputError(f"{Path(path).name} has no sample columns.")
                data = handle.create_dataset(
                    "data/expression",
                    shape=(0, n),
                    maxshape=(None, n),
                    dtype="float64",
                    chunks=(_TEXT_ROWS, min(n, _STORE_SAMPLES)),
                )
                samples = [str(s) for s in block.columns]
            data.resize(len(genes) + values.shape[0], axis=0)
            data[len(genes) :, :] = values
            genes.extend(str(g) for g in block.index)
            step(f"converting {Path(path).name}: {len(genes)} genes x {values.shape[1]} samples")
        if data is None:
            raise InputError(f"{Path(path).name} has no gene rows.")
        text = h5py.string_dtype()
        handle.create_dataset("meta/genes/symbol", data=np.asarray(genes, dtype=object), dtype=text)
        handle.create_dataset(
            "meta/samples/geo_accession", data=np.asarray(samples, dtype=object), dtype=text
        )


def _numeric_block(block: pd.DataFrame, path: str) -> np.ndarray:
    """A parsed block as float64, naming the first cell that is not a number."""
    try:
        return block.astype(np.float64).to_numpy()
    except ValueError:
        for gene, row in block.iterrows():
            bad = pd.to_numeric(row, errors="coerce").isna() & row.notna()
            if bad.any():
                sample = bad.index[np.argmax(bad.to_numpy())]
                raise InputError(
                    f"{Path(path).name}: {row[sample]!r} for {gene} in {sample} is not a "
                    "number; give numbers only, or leave missing values empty."
                ) from None
        raise

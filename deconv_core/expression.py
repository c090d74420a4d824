"""From a user's expression file to a clean linear genes × samples table.

Reading, orientation, gene-id harmonisation and scale handling in one call,
keeping a record of every change so it can be shown and written to the
run's manifest.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from deconv_core.genes import harmonise_genes, orient_genes_as_rows
from deconv_core.io import ReadInfo, read_table
from deconv_core.io.limits import DEFAULT_LIMITS, ReadLimits
from deconv_core.scale import linearise
from deconv_core.species import map_to_human, match_mouse_ids, resolve_species
from deconv_core.text import names_warning
from deconv_core.validation import DeconvWarning

__all__ = [
    "ExpressionData",
    "SpeciesNaming",
    "choose_table",
    "load_expression",
    "name_for_species",
    "sha256_of",
]


@dataclass(frozen=True)
class ExpressionData:
    """An expression table ready for deconvolution, with its history.

    Attributes
    ----------
    table
        Genes × samples, linear scale, harmonised human gene symbols, float64
        (mouse data: renamed to human one-to-one orthologs).
    name
        File name as given by the user.
    sha256
        Hex digest of the file's bytes.
    read_info
        How the file was parsed (format, delimiter, encoding, ...).
    transposed
        True when the file had samples as rows.
    id_type
        ``"symbol"``, ``"ensembl"``, ``"other"`` or ``"mixed"``.
    gene_changes
        One row per gene-id change: ``original``, ``new``, ``kind``.
    scale, transformation
        Detected (or declared) input scale and the transformation applied.
    warnings
        Everything found on the way, as data.
    species
        ``"human"`` or ``"mouse"`` (declared or detected).
    native_table
        Mouse data only: the linear table with its mouse ids, for a mouse
        signature (:meth:`table_for`); None for human data.  A cohort the Dask
        engine left on disk keeps only its gene ids here (no columns).
    shape_on_disk
        Genes × samples of a cohort the Dask engine left on disk
        (:mod:`deconv_core.cohort_run`; ``table`` is then empty), else None.
    """

    table: pd.DataFrame
    name: str
    sha256: str
    read_info: ReadInfo
    transposed: bool
    id_type: str
    gene_changes: pd.DataFrame
    scale: str
    transformation: str
    warnings: tuple[DeconvWarning, ...]
    species: str = "human"
    native_table: pd.DataFrame | None = None
    shape_on_disk: tuple[int, int] | None = None

    def table_for(self, signature: object) -> pd.DataFrame:
        """The table to fit ``signature`` to: for a mouse signature
        (``signature.species == "mouse"``) the mouse ids, named as the signature
        names its genes (MGI symbols or ``ENSMUSG`` ids,
        :func:`~deconv_core.species.match_mouse_ids`); else the human-named
        :attr:`table`."""
        return choose_table(self.table, self.native_table, signature)

    @property
    def shape(self) -> tuple[int, int]:
        """Genes × samples of the data, in memory or on disk."""
        return self.shape_on_disk or self.table.shape


@dataclass(frozen=True)
class SpeciesNaming:
    """Result of :func:`name_for_species`.

    Attributes
    ----------
    table
        Genes × samples, human gene symbols (mouse data: their one-to-one orthologs).
    native_table
        Mouse data: the table given, with its mouse ids; None for human data.
    gene_changes
        The change log given, then (mouse data) one ``ortholog`` row per renamed gene.
    warnings
        Mouse data: the ``mouse_orthologs`` warning; else none.
    """

    table: pd.DataFrame
    native_table: pd.DataFrame | None
    gene_changes: pd.DataFrame
    warnings: tuple[DeconvWarning, ...]


def name_for_species(
    table: pd.DataFrame, gene_changes: pd.DataFrame, *, species: str
) -> SpeciesNaming:
    """Name a harmonised table's genes for a human signature, keeping the mouse ids beside.

    Row by row (duplicates a renaming creates take their median per sample), so a
    chunk of samples is named as the whole table would be: both engines call it.

    Parameters
    ----------
    table
        Genes × samples, linear, ids harmonised as ``species``
        (:func:`~deconv_core.genes.harmonise_genes`).  Not modified.
    gene_changes
        The harmonisation's change log (``original``, ``new``, ``kind``).
    species
        ``"human"`` (nothing to rename) or ``"mouse"``
        (:func:`~deconv_core.species.map_to_human`).
    """
    if species != "mouse":
        return SpeciesNaming(table, None, gene_changes, ())
    orthologs = map_to_human(table, what="expression")
    changes = pd.concat([gene_changes, orthologs.changes], ignore_index=True)
    return SpeciesNaming(orthologs.table, table, changes, orthologs.warnings)


def choose_table(
    table: pd.DataFrame, native_table: pd.DataFrame | None, signature: object
) -> pd.DataFrame:
    """The table to fit ``signature`` to (:meth:`ExpressionData.table_for`).

    Parameters
    ----------
    table, native_table
        Genes × samples, linear: human-named, and the mouse ids of mouse data
        (None for human data), as :func:`name_for_species` names them.
    signature
        A :class:`~deconv_core.signatures.Signature`: for a mouse one
        (``signature.species == "mouse"``) the mouse ids, named as it names its
        genes (:func:`~deconv_core.species.match_mouse_ids`); else ``table``.
    """
    mouse = getattr(signature, "species", "human") == "mouse"
    if not mouse or native_table is None:
        return table
    return match_mouse_ids(native_table, signature.matrix.index).table


def sha256_of(source: str | os.PathLike | bytes) -> str:
    """Return the SHA-256 hex digest of a file's bytes (or of the bytes given)."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Digest(threading.Thread):
    """:func:`sha256_of` a file on a thread of its own, while the file is parsed.

    hashlib and file reads release the interpreter lock, and so does pandas'
    tokenizer: on two cores the hash (about a quarter of a second for 150 MB)
    costs no time.  A daemon thread: a refused file does not wait for it.
    """

    def __init__(self, source: str | os.PathLike | bytes) -> None:
        super().__init__(daemon=True)
        self._source = source
        self._digest = ""
        self._error: OSError | None = None
        self.start()

    def run(self) -> None:
        try:
            self._digest = sha256_of(self._source)
        except OSError as err:
            self._error = err

    def result(self) -> str:
        """The hex digest (waits for it); the file's read error, if any."""
        self.join()
        if self._error is not None:
            raise self._error
        return self._digest


def load_expression(
    source: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    scale: str = "auto",
    species: str = "auto",
    limits: ReadLimits = DEFAULT_LIMITS,
) -> ExpressionData:
    """Read a bulk expression file and bring it to a linear genes × samples table.

    Parameters
    ----------
    source
        Path, or the raw bytes of an uploaded file (give ``name`` then).
    name
        Original file name of uploaded bytes.
    scale
        Declared scale (see :data:`deconv_core.scale.SCALES`), ``"auto"`` to
        detect.
    species
        ``"auto"`` (detect), ``"human"`` or ``"mouse"``; mouse data are also
        renamed to human one-to-one orthologs (:mod:`deconv_core.species`).
    limits
        Largest decompressed text and estimated parse memory
        (:class:`~deconv_core.io.limits.ReadLimits`; default: the command line's).

    Returns
    -------
    ExpressionData
        Genes × samples, linear, with the record of every change.

    Raises
    ------
    InputError
        Anything that makes the file unusable, with a sentence saying what to do.
    """
    label = name or (Path(source).name if not isinstance(source, bytes) else "uploaded file")
    digest = _Digest(source)
    read = read_table(source, name=name, what="expression", limits=limits)
    warnings: list[DeconvWarning] = list(read.warnings)
    table, transposed, orient_warnings = orient_genes_as_rows(read.table, what="expression")
    warnings.extend(orient_warnings)
    species = resolve_species(species, table.index)
    mapped = harmonise_genes(table, what="expression", species=species)
    warnings.extend(mapped.warnings)
    scaled = linearise(mapped.table, scale=scale, what="expression")
    warnings.extend(scaled.warnings)
    warnings.extend(names_warning(scaled.table.columns, what="sample names"))
    named = name_for_species(scaled.table, mapped.changes, species=species)
    warnings.extend(named.warnings)
    return ExpressionData(
        table=named.table,
        name=label,
        sha256=digest.result(),
        read_info=read.info,
        transposed=transposed,
        id_type=mapped.id_type,
        gene_changes=named.gene_changes,
        scale=scaled.detected,
        transformation=scaled.transformation,
        warnings=tuple(warnings),
        species=species,
        native_table=named.native_table,
    )

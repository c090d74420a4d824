"""Built-in and user-supplied signature matrices, their groups and diagnostics.

A signature is a genes × cell types table of reference expression on a
linear scale.  Built-ins live in ``assets/signatures/<name>/`` with their
licence, citation and provenance; any user file in a format
:func:`deconv_core.io.read_table` reads works as well.

Three further jobs live here:

- **Restricted references.**  Some well-known matrices may be used but not
  redistributed (CIBERSORT's LM22).  An upload is recognised by its content
  (:func:`recognise_restricted`), used as given, and carries a licence reminder
  (warning code ``restricted_signature``) and :attr:`Signature.restricted`.
  Only the public cell-type names of such matrices are stored here.
- **Cell-type groups.**  A signature may say how its cell types roll up into
  coarser categories (CD4 T + CD8 T + Tregs = T cells) so results can be
  compared with flow-cytometry panels: :func:`check_groups`,
  :func:`groups_table`, :func:`group_proportions`.
- **Diagnostics** for the Signature page and ``signatures --describe``:
  :func:`gene_specificity`, :func:`signature_markers`,
  :func:`scaled_signature`, with identifiability
  (:mod:`deconv_core.identifiability`) and coverage (:mod:`deconv_core.coverage`),
  bundled by :func:`describe_signature`.  Each returns a table; drawing is elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from deconv_core.coverage import coverage_table, genes_found
from deconv_core.genes import harmonise_genes, orient_genes_as_rows
from deconv_core.identifiability import signature_identifiability
from deconv_core.io import read_table
from deconv_core.scale import linearise
from deconv_core.validation import DeconvWarning, InputError, check_unique_labels

__all__ = [
    "ASSET_DIR",
    "LM22_CELL_TYPES",
    "LM22_GROUPS",
    "RESTRICTED_REFERENCES",
    "RestrictedReference",
    "Signature",
    "SignatureDescription",
    "builtin_names",
    "check_groups",
    "check_signature",
    "describe_signature",
    "gene_specificity",
    "group_proportions",
    "groups_table",
    "list_signatures",
    "load_signature",
    "recognise_restricted",
    "scaled_signature",
    "signature_markers",
]

#: Folder of shipped signatures (one sub-folder per signature).
ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "signatures"

#: Files every shipped signature folder holds besides its licence text.
_BUILTIN_FILES = ("signature.tsv", "metadata.json", "PROVENANCE.md")

#: The 22 cell-type column names of CIBERSORT's LM22 (Newman et al., Nat
#: Methods 2015;12:453).  Only these public names are stored, never the matrix.
LM22_CELL_TYPES: tuple[str, ...] = (
    "B cells naive",
    "B cells memory",
    "Plasma cells",
    "T cells CD8",
    "T cells CD4 naive",
    "T cells CD4 memory resting",
    "T cells CD4 memory activated",
    "T cells follicular helper",
    "T cells regulatory (Tregs)",
    "T cells gamma delta",
    "NK cells resting",
    "NK cells activated",
    "Monocytes",
    "Macrophages M0",
    "Macrophages M1",
    "Macrophages M2",
    "Dendritic cells resting",
    "Dendritic cells activated",
    "Mast cells resting",
    "Mast cells activated",
    "Eosinophils",
    "Neutrophils",
)

#: Default grouping of LM22's cell types: the merged classes Newman et al. 2015
#: used to compare CIBERSORT with flow cytometry (activation states pooled).
LM22_GROUPS: dict[str, tuple[str, ...]] = {
    "B cells": ("B cells naive", "B cells memory"),
    "Plasma cells": ("Plasma cells",),
    "CD8 T cells": ("T cells CD8",),
    "CD4 T cells": (
        "T cells CD4 naive",
        "T cells CD4 memory resting",
        "T cells CD4 memory activated",
        "T cells follicular helper",
        "T cells regulatory (Tregs)",
    ),
    "gamma delta T cells": ("T cells gamma delta",),
    "NK cells": ("NK cells resting", "NK cells activated"),
    "Monocytes": ("Monocytes",),
    "Macrophages": ("Macrophages M0", "Macrophages M1", "Macrophages M2"),
    "Dendritic cells": ("Dendritic cells resting", "Dendritic cells activated"),
    "Mast cells": ("Mast cells resting", "Mast cells activated"),
    "Eosinophils": ("Eosinophils",),
    "Neutrophils": ("Neutrophils",),
}


@dataclass(frozen=True)
class RestrictedReference:
    """A well-known signature that may be used but never shipped.

    Attributes
    ----------
    name
        Short name, e.g. ``"LM22"``.
    title, licence, citation
        Shown with a recognised upload.
    cell_types
        The public cell-type column names of the matrix.
    n_genes
        Number of genes (rows) of the published matrix.
    groups
        Default grouping of its cell types (group → members).
    """

    name: str
    title: str
    licence: str
    citation: str
    cell_types: tuple[str, ...]
    n_genes: int
    groups: dict[str, tuple[str, ...]]


#: Restricted references recognised by content; see :func:`recognise_restricted`.
RESTRICTED_REFERENCES: tuple[RestrictedReference, ...] = (
    RestrictedReference(
        name="LM22",
        title="CIBERSORT LM22 leukocyte signature (uploaded by the user)",
        licence=(
            "CIBERSORT licence (Stanford University): free for non-commercial academic use "
            "only; redistribution is not allowed. This tool never ships or stores it."
        ),
        citation=(
            "Newman AM, et al. Robust enumeration of cell subsets from tissue expression "
            "profiles. Nat Methods 2015;12:453-457."
        ),
        cell_types=LM22_CELL_TYPES,
        n_genes=547,
        groups=LM22_GROUPS,
    ),
)

# Recognition thresholds (see recognise_restricted): two thirds of the names,
# or a third of them together with a gene count within 10% of the original.
_NAME_SHARE = 2 / 3
_NAME_SHARE_WITH_GENES = 1 / 3
_GENE_TOLERANCE = 0.1


@dataclass(frozen=True)
class Signature:
    """A reference signature and everything known about it.

    Attributes
    ----------
    name
        Short name (``"TIL10"``) or the uploaded file's name.
    matrix
        Genes × cell types, linear scale, float64, unique gene symbols.
    title, description, units, platform, licence, citation, source
        Human-readable metadata ("" when unknown, e.g. for uploads).
    mrna_scaling
        Relative mRNA content per cell type (cell types → factor), used to
        turn mRNA fractions into cell fractions; empty when not provided.
    excluded_genes
        Named gene lists the engine may drop, e.g. ``{"default": (...),
        "tumor": (...)}`` for TIL10.
    groups
        Coarser categories: group name → member cell types.  Each cell type
        is in at most one group (checked by :func:`check_groups`); types in
        no group stand for themselves.
    builtin
        True for shipped signatures.
    warnings
        What happened while reading an uploaded signature.
    restricted
        Name of the licence-restricted reference an upload was recognised as
        (e.g. ``"LM22"``), ``""`` otherwise.  Such a signature is used as
        given, its licence is in :attr:`licence`, and a
        ``restricted_signature`` warning reminds the user; it is never stored.
    provenance
        Where the matrix came from and how it was converted (Markdown; the
        text of ``PROVENANCE.md`` for built-ins), ``""`` when unknown.
    whole_transcriptome
        True when the profiles are on a whole-transcriptome TPM-like scale
        (each reference sample normalised over all its genes), as absolute
        mode needs (:func:`deconv_core.deconvolve.absolute_mode_problems`).
        Declared by a built-in's or a sidecar's metadata
        (``"whole_transcriptome": true``); False when unknown.
    sha256
        Identity of the signature: SHA-256 of an uploaded file's bytes, or of
        a built-in's shipped ``signature.tsv`` followed by its
        ``metadata.json``; ``""`` for a table given in memory.
    """

    name: str
    matrix: pd.DataFrame
    title: str = ""
    description: str = ""
    units: str = ""
    platform: str = ""
    licence: str = ""
    citation: str = ""
    source: str = ""
    mrna_scaling: dict[str, float] = field(default_factory=dict)
    excluded_genes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    builtin: bool = False
    warnings: tuple[DeconvWarning, ...] = ()
    restricted: str = ""
    provenance: str = ""
    whole_transcriptome: bool = False
    sha256: str = ""

    @property
    def cell_types(self) -> list[str]:
        """Cell-type names in column order."""
        return [str(c) for c in self.matrix.columns]


# ---------------------------------------------------------------------------
# Registry of built-ins
# ---------------------------------------------------------------------------


def builtin_names() -> list[str]:
    """Return the names of the shipped signatures, sorted."""
    return sorted(p.name for p in ASSET_DIR.iterdir() if (p / "metadata.json").is_file())


@lru_cache(maxsize=8)
def _load_builtin(name: str) -> Signature:
    folder = ASSET_DIR / name
    digest = hashlib.sha256()
    for file_name in ("signature.tsv", "metadata.json"):
        digest.update((folder / file_name).read_bytes())
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    matrix = pd.read_csv(folder / "signature.tsv", sep="\t", index_col=0)
    matrix.index = matrix.index.astype(str)
    matrix.columns = matrix.columns.astype(str)
    matrix = matrix.astype(np.float64)
    provenance_file = folder / meta.get("provenance_file", "PROVENANCE.md")
    provenance = provenance_file.read_text(encoding="utf-8") if provenance_file.is_file() else ""
    return Signature(
        name=meta["name"],
        matrix=matrix,
        title=meta.get("title", ""),
        description=meta.get("description", ""),
        units=meta.get("units", ""),
        platform=meta.get("platform", ""),
        licence=meta.get("licence", ""),
        citation=meta.get("citation", ""),
        source=meta.get("source", ""),
        mrna_scaling={str(k): float(v) for k, v in meta.get("mrna_scaling_factors", {}).items()},
        excluded_genes={k: tuple(v) for k, v in meta.get("excluded_genes", {}).items()},
        groups={k: tuple(v) for k, v in meta.get("groups", {}).items()},
        builtin=True,
        provenance=provenance,
        whole_transcriptome=bool(meta.get("whole_transcriptome", False)),
        sha256=digest.hexdigest(),
    )


def list_signatures() -> pd.DataFrame:
    """Describe the shipped signatures.

    Returns
    -------
    pandas.DataFrame
        One row per signature (index ``name``) with columns ``title``,
        ``n_genes``, ``n_cell_types``, ``cell_types`` (comma-separated),
        ``units``, ``platform``, ``licence``, ``citation``, ``source`` and
        ``groups`` (``"group: member, member; ..."``).
    """
    rows = []
    for name in builtin_names():
        sig = _load_builtin(name)
        rows.append(
            {
                "name": sig.name,
                "title": sig.title,
                "n_genes": sig.matrix.shape[0],
                "n_cell_types": sig.matrix.shape[1],
                "cell_types": ", ".join(sig.cell_types),
                "units": sig.units,
                "platform": sig.platform,
                "licence": sig.licence,
                "citation": sig.citation,
                "source": sig.source,
                "groups": "; ".join(f"{g}: {', '.join(m)}" for g, m in sig.groups.items()),
            }
        )
    return pd.DataFrame(rows).set_index("name")


# ---------------------------------------------------------------------------
# Validation and loading
# ---------------------------------------------------------------------------


def check_signature(matrix: pd.DataFrame, *, what: str = "signature") -> None:
    """Raise :class:`InputError` unless ``matrix`` is a usable signature.

    A usable signature has unique, non-empty cell-type names, no empty cells,
    no negative values, at least as many genes as cell types, no all-zero
    column and no two identical columns.

    Parameters
    ----------
    matrix
        Genes × cell types, linear scale.
    what
        Name used in messages.
    """
    check_unique_labels(matrix.columns, what=f"cell-type names of the {what}")
    if matrix.shape[1] < 1:
        raise InputError(f"The {what} has no cell-type columns; it needs one column per cell type.")
    values = matrix.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(values).any():
        rows = np.flatnonzero(np.isnan(values).any(axis=1))
        raise InputError(
            f"The {what} has {rows.size} gene(s) with empty cells (first: "
            f"{matrix.index[rows[0]]}); every gene needs a value for every cell type."
        )
    if (values < 0).any():
        raise InputError(
            f"The {what} holds negative values; a signature must be non-negative linear "
            "expression (not log-ratios or z-scores)."
        )
    if matrix.shape[0] < matrix.shape[1]:
        raise InputError(
            f"The {what} has {matrix.shape[0]} genes for {matrix.shape[1]} cell types; it needs "
            "at least as many genes as cell types (check that genes are rows)."
        )
    zero = [str(c) for j, c in enumerate(matrix.columns) if not values[:, j].any()]
    if zero:
        raise InputError(
            f"The {what} column(s) {', '.join(zero)} are zero for every gene; remove them."
        )
    dup = matrix.T.duplicated()
    if dup.any():
        names = ", ".join(str(c) for c in matrix.columns[dup.to_numpy()])
        raise InputError(
            f"The {what} has cell-type column(s) identical to another column ({names}); "
            "identical profiles cannot be told apart, so remove the copies."
        )


def _normalise_name(name: object) -> str:
    """Lower-case letters and digits only: 'T.cells.regulatory..Tregs.' == LM22's name."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def recognise_restricted(matrix: pd.DataFrame) -> tuple[RestrictedReference, dict[str, str]] | None:
    """Recognise a licence-restricted reference (e.g. LM22) by its content.

    Cell-type names are compared after keeping only lower-case letters and
    digits, so R-mangled names (``T.cells.regulatory..Tregs.``) match too.
    A matrix is recognised when it has at least two thirds of the reference's
    cell-type names, or at least a third of them and a gene count within 10%
    of the reference's (LM22: 22 names, 547 genes).

    Parameters
    ----------
    matrix
        Genes × cell types (any scale).

    Returns
    -------
    tuple or None
        ``(reference, names)`` where ``names`` maps each matched reference
        cell-type name to the matrix's own column name; None when nothing is
        recognised.
    """
    columns = {_normalise_name(c): str(c) for c in matrix.columns}
    n_genes = matrix.shape[0]
    for ref in RESTRICTED_REFERENCES:
        names = {
            t: columns[_normalise_name(t)] for t in ref.cell_types if _normalise_name(t) in columns
        }
        share = len(names) / len(ref.cell_types)
        genes_match = abs(n_genes - ref.n_genes) <= _GENE_TOLERANCE * ref.n_genes
        if share >= _NAME_SHARE or (share >= _NAME_SHARE_WITH_GENES and genes_match):
            return ref, names
    return None


def _sidecar(path: Path) -> Path:
    """``sig.tsv(.gz)`` → ``sig.metadata.json`` (written by ``build-signature``)."""
    name = path.name
    for suffix in (".gz", ".tsv", ".csv", ".txt", ".tab", ".gct", ".xlsx"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return path.with_name(f"{name}.metadata.json")


def _read_sidecar(path: Path, matrix: pd.DataFrame) -> dict:
    """Metadata written next to a signature file, checked against its columns."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"The signature's metadata file {path.name!r} is not valid JSON ({exc}); fix or "
            "delete it."
        ) from exc
    if not isinstance(meta, dict):
        raise InputError(
            f"The signature's metadata file {path.name!r} must hold a JSON object; fix or "
            "delete it."
        )
    cell_types = [str(c) for c in matrix.columns]
    factors = {str(k): v for k, v in meta.get("mrna_scaling_factors", {}).items()}
    bad = [k for k, v in factors.items() if k not in cell_types or not float(v) > 0]
    if bad:
        raise InputError(
            f"The signature's metadata file {path.name!r} has mRNA factors for unknown cell "
            f"types or non-positive values ({', '.join(bad[:3])}); fix or delete it."
        )
    meta["mrna_scaling_factors"] = {k: float(v) for k, v in factors.items()}
    meta["groups"] = check_groups(meta.get("groups", {}), cell_types, what=f"{path.name} groups")
    return meta


def load_signature(source: str | os.PathLike | bytes, *, name: str | None = None) -> Signature:
    """Load a built-in signature by name, or read a user's signature file.

    A file is validated (:func:`check_signature`), linearised if it is log,
    and its gene ids harmonised like the expression data.  A file recognised
    as a licence-restricted reference (:func:`recognise_restricted`, e.g.
    CIBERSORT's LM22) is used as given, with :attr:`Signature.restricted`,
    licence, citation and a default grouping filled in, and a
    ``restricted_signature`` warning.  A path ``NAME.tsv`` with a
    ``NAME.metadata.json`` beside it (as ``build-signature`` writes) takes its
    title, mRNA factors and groups from that file.

    Parameters
    ----------
    source
        A built-in name (see :func:`builtin_names`, case-insensitive), a path,
        or the raw bytes of an uploaded file (then give ``name``).
    name
        File name of uploaded bytes (used for its extension and as the
        signature's name).

    Returns
    -------
    Signature
        Genes × cell types on a linear scale, gene ids harmonised like the
        expression data.

    Raises
    ------
    InputError
        Unknown name, unreadable file, or a matrix that fails
        :func:`check_signature`.
    """
    if isinstance(source, str) and not os.path.exists(source):
        lookup = {n.lower(): n for n in builtin_names()}
        if source.lower() in lookup:
            return _load_builtin(lookup[source.lower()])
        raise InputError(
            f"No built-in signature or file named {source!r}; built-ins are "
            f"{', '.join(builtin_names())}, or give the path of a signature file."
        )
    label = name or (Path(source).name if not isinstance(source, bytes) else "uploaded signature")
    read = read_table(source, name=name, what="signature")
    warnings: list[DeconvWarning] = list(read.warnings)
    table, _, orient_warnings = orient_genes_as_rows(read.table, what="signature")
    warnings.extend(orient_warnings)
    mapped = harmonise_genes(table, what="signature")
    warnings.extend(mapped.warnings)
    raw = mapped.table
    check_unique_labels(raw.columns, what="cell-type names of the signature")
    empty = [str(c) for c in raw.columns if not np.nan_to_num(raw[c].to_numpy(dtype=float)).any()]
    if empty:
        raise InputError(
            f"The signature column(s) {', '.join(empty)} are empty or zero for every gene; "
            "remove them."
        )
    scaled = linearise(mapped.table, scale="auto", what="signature")
    # A signature of whole numbers is reference expression, not library counts:
    # keep its values (CPM would rescale each cell type differently).
    if scaled.detected == "counts":
        matrix = mapped.table.astype(np.float64)
        warnings.extend(w for w in scaled.warnings if w.code != "raw_counts")
    else:
        matrix = scaled.table
        warnings.extend(scaled.warnings)
    check_signature(matrix)
    units = "linear (as uploaded)" if scaled.transformation == "none" else "linearised"
    details: dict = {"units": units}
    recognised = recognise_restricted(table)
    if recognised is not None:
        ref, names = recognised
        groups = {
            group: tuple(names[m] for m in members if m in names)
            for group, members in ref.groups.items()
        }
        details.update(
            title=ref.title,
            licence=ref.licence,
            citation=ref.citation,
            restricted=ref.name,
            groups={g: m for g, m in groups.items() if m},
            description=(
                f"Recognised as {ref.name} by its content ({len(names)} of "
                f"{len(ref.cell_types)} cell-type names, {matrix.shape[0]} genes)."
            ),
        )
        warnings.append(
            DeconvWarning(
                "warning",
                "restricted_signature",
                f"The uploaded signature looks like {ref.name} ({ref.citation.split('.')[0]} "
                f"et al.); its licence restricts use: {ref.licence} Make sure your use is "
                "covered by it.",
            )
        )
    if not isinstance(source, bytes):
        sidecar = _sidecar(Path(source))
        if sidecar.is_file():
            meta = _read_sidecar(sidecar, matrix)
            for key in ("title", "description", "units", "platform", "licence", "citation"):
                if meta.get(key):
                    details[key] = str(meta[key])
            details["source"] = str(meta.get("source", ""))
            details["mrna_scaling"] = meta["mrna_scaling_factors"]
            details["whole_transcriptome"] = meta.get("whole_transcriptome") is True
            if meta["groups"]:
                details["groups"] = meta["groups"]
            warnings.append(
                DeconvWarning(
                    "info",
                    "signature_metadata",
                    f"Title, mRNA-content factors and cell-type groups of the signature were "
                    f"read from {sidecar.name} next to it.",
                )
            )
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    details["sha256"] = hashlib.sha256(data).hexdigest()
    return Signature(name=label, matrix=matrix, warnings=tuple(warnings), **details)


# ---------------------------------------------------------------------------
# Cell-type groups
# ---------------------------------------------------------------------------


def check_groups(
    groups: Mapping[str, Sequence[str]] | pd.DataFrame,
    cell_types: Sequence[str],
    *,
    what: str = "cell-type groups",
) -> dict[str, tuple[str, ...]]:
    """Validate a (possibly user-edited) grouping of cell types.

    Parameters
    ----------
    groups
        Either a mapping group name → member cell types, or a table with
        columns ``cell_type`` and ``group`` (one row per cell type, as
        :func:`groups_table` returns and a page lets the user edit; a blank
        group means "no group").
    cell_types
        The signature's cell types (the proportions' columns).
    what
        Name used in messages.

    Returns
    -------
    dict
        Group name → member cell types (tuples, in the order given), with
        groups that only hold themselves (``{"B cells": ("B cells",)}``)
        kept.  Cell types in no group are not listed.

    Raises
    ------
    InputError
        Blank group name, empty group, unknown cell type, a cell type in two
        groups, or a group named like a cell type it does not contain.
    """
    known = [str(c) for c in cell_types]
    if isinstance(groups, pd.DataFrame):
        missing = {"cell_type", "group"} - set(groups.columns)
        if missing:
            raise InputError(
                f"The {what} table needs columns 'cell_type' and 'group'; "
                f"{', '.join(sorted(missing))} is missing."
            )
        mapping: dict[str, list[str]] = {}
        for cell_type, group in zip(groups["cell_type"], groups["group"], strict=True):
            label = "" if pd.isna(group) else str(group).strip()
            if label:
                mapping.setdefault(label, []).append(str(cell_type))
    elif isinstance(groups, Mapping):
        mapping = {}
        for group, members in groups.items():
            if isinstance(members, str):
                members = [members]
            mapping[str(group).strip()] = [str(m) for m in members]
    else:
        raise InputError(
            f"The {what} must be a mapping of group names to cell types or a table with "
            f"'cell_type' and 'group' columns, got {type(groups).__name__}."
        )
    seen: dict[str, str] = {}
    out: dict[str, tuple[str, ...]] = {}
    for group, members in mapping.items():
        if not group:
            raise InputError(f"The {what} include a group without a name; name every group.")
        if not members:
            raise InputError(
                f"The group {group!r} in the {what} has no cell types; add some or remove it."
            )
        unknown = [m for m in members if m not in known]
        if unknown:
            raise InputError(
                f"The group {group!r} in the {what} names unknown cell type(s) "
                f"{', '.join(repr(u) for u in unknown[:3])}; the signature's cell types are "
                f"{', '.join(known)}."
            )
        for member in members:
            if member in seen and seen[member] != group:
                raise InputError(
                    f"The cell type {member!r} is in two groups ({seen[member]!r} and "
                    f"{group!r}) in the {what}; put each cell type in one group only."
                )
            if member in seen:
                raise InputError(
                    f"The cell type {member!r} is listed twice in the group {group!r} of the "
                    f"{what}; list it once."
                )
            seen[member] = group
        if group in known and group not in members:
            raise InputError(
                f"The group {group!r} in the {what} has the name of a cell type it does not "
                "contain; rename the group."
            )
        out[group] = tuple(members)
    return out


def groups_table(groups: Mapping[str, Sequence[str]], cell_types: Sequence[str]) -> pd.DataFrame:
    """One row per cell type with the group it rolls up into (for display and editing).

    Parameters
    ----------
    groups
        Group name → member cell types (e.g. :attr:`Signature.groups`).
    cell_types
        The signature's cell types, in column order.

    Returns
    -------
    pandas.DataFrame
        Columns ``cell_type`` and ``group``; a cell type in no group has its
        own name as group.  Edited, it goes back through :func:`check_groups`.
    """
    checked = check_groups(groups, cell_types)
    owner = {m: g for g, members in checked.items() for m in members}
    types = [str(c) for c in cell_types]
    return pd.DataFrame({"cell_type": types, "group": [owner.get(t, t) for t in types]})


def group_proportions(
    proportions: pd.DataFrame, groups: Mapping[str, Sequence[str]] | pd.DataFrame
) -> pd.DataFrame:
    """Sum cell-type proportions into coarser groups.

    Parameters
    ----------
    proportions
        Samples × cell types, unitless fractions (e.g.
        ``DeconvResult.proportions``, whose ``other`` column in absolute mode
        is in no group and kept).
    groups
        Group name → member cell types, or a ``cell_type``/``group`` table
        (validated with :func:`check_groups` against the columns).

    Returns
    -------
    pandas.DataFrame
        Samples × groups, same index.  Each group is the sum of its members;
        a sample with a missing member value gets NaN for that group.  Cell
        types in no group are kept as their own column under their own name.
        Columns come in the order of each group's first member among the
        input's columns, so a grouping keeps the input's layout.

    Raises
    ------
    InputError
        Invalid groups (see :func:`check_groups`), or a group with the name of
        a cell type left outside every group.
    """
    checked = check_groups(groups, list(proportions.columns), what="cell-type groups")
    owner = {m: g for g, members in checked.items() for m in members}
    values = proportions.to_numpy(dtype=float, na_value=np.nan)
    positions = {str(c): j for j, c in enumerate(proportions.columns)}
    columns: dict[str, np.ndarray] = {}
    for j, column in enumerate(proportions.columns):
        name = str(column)
        group = owner.get(name)
        if group is None:
            if name in checked:
                raise InputError(
                    f"The group {name!r} has the name of the cell type {name!r} that is in no "
                    "group; rename the group or add the cell type to it."
                )
            columns[name] = values[:, j]
        elif group not in columns:
            members = [positions[m] for m in checked[group]]
            columns[group] = values[:, members].sum(axis=1)
    return pd.DataFrame(columns, index=proportions.index)


# ---------------------------------------------------------------------------
# Diagnostics
# ---------------------------------------------------------------------------


def _values(matrix: pd.DataFrame) -> np.ndarray:
    values = matrix.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(values).any() or (values < 0).any():
        raise InputError(
            "The signature holds empty or negative values; diagnostics need a non-negative "
            "linear genes × cell types table."
        )
    return values


def scaled_signature(matrix: pd.DataFrame) -> pd.DataFrame:
    """Each gene divided by its maximum over cell types (for a heatmap).

    Parameters
    ----------
    matrix
        Genes × cell types, linear, non-negative.

    Returns
    -------
    pandas.DataFrame
        Genes × cell types in [0, 1]; 1 marks the cell type that expresses
        the gene most.  A gene that is zero everywhere stays 0.
    """
    values = _values(matrix)
    top = values.max(axis=1, keepdims=True) if values.size else values
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(top > 0, values / np.where(top > 0, top, 1.0), 0.0)
    return pd.DataFrame(scaled, index=matrix.index.copy(), columns=matrix.columns.copy())


def gene_specificity(matrix: pd.DataFrame) -> pd.DataFrame:
    """How specific each signature gene is to one cell type.

    Parameters
    ----------
    matrix
        Genes × cell types, linear, non-negative.

    Returns
    -------
    pandas.DataFrame
        Index = genes (name ``gene``); columns

        ``cell_type``
            the cell type expressing the gene most;
        ``expression``
            its value there (signature units);
        ``second_cell_type``, ``second_expression``
            the runner-up;
        ``log2_fold_change``
            log2 of (top + c) / (runner-up + c), with the pseudo-count ``c``
            0.1% of the matrix mean so it does not depend on units;
        ``share``
            top / row sum, from 1/k (flat) to 1 (one cell type only);
        ``tau``
            the tissue-specificity index of Yanai et al. (Bioinformatics
            2005), mean of 1 − x / max over the other cell types, from 0
            (flat) to 1 (one cell type only).

        Sorted as the input.  Genes that are zero everywhere have NaN scores.
    """
    values = _values(matrix)
    n, k = values.shape
    types = np.asarray([str(c) for c in matrix.columns], dtype=object)
    if k == 0 or n == 0:
        raise InputError(
            "The signature is empty; it needs genes as rows and cell types as columns."
        )
    order = np.argsort(-values, axis=1, kind="stable")
    rows = np.arange(n)
    top = values[rows, order[:, 0]]
    second = values[rows, order[:, 1]] if k > 1 else np.zeros(n)
    pseudo = 1e-3 * float(values.mean()) if values.mean() > 0 else 1e-12
    total = values.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, top / total, np.nan)
        tau = (
            np.where(top > 0, (1 - values / top[:, None]).sum(axis=1) / (k - 1), np.nan)
            if k > 1
            else np.full(n, np.nan)
        )
    table = pd.DataFrame(
        {
            "cell_type": types[order[:, 0]],
            "expression": top,
            "second_cell_type": types[order[:, 1]] if k > 1 else "",
            "second_expression": second,
            "log2_fold_change": np.log2((top + pseudo) / (second + pseudo)),
            "share": share,
            "tau": tau,
        },
        index=pd.Index([str(g) for g in matrix.index], name="gene"),
    )
    zero = top == 0
    if zero.any():
        table.loc[zero, ["log2_fold_change", "share", "tau"]] = np.nan
    return table


def signature_markers(matrix: pd.DataFrame, *, top: int | None = None) -> pd.DataFrame:
    """Marker genes per cell type: the genes each cell type expresses most.

    Each gene is the marker of the cell type with its highest value (as in
    :func:`deconv_core.deconvolve.marker_genes`); within a cell type, markers
    are ranked by fold change over the runner-up cell type.

    Parameters
    ----------
    matrix
        Genes × cell types, linear, non-negative.
    top
        Keep at most this many markers per cell type (None: all).

    Returns
    -------
    pandas.DataFrame
        Long table, one row per (cell type, marker), cell types in column
        order: ``cell_type``, ``rank`` (1 = most specific), ``gene`` and the
        columns of :func:`gene_specificity` (``expression``,
        ``second_cell_type``, ``log2_fold_change``, ``share``, ``tau``).
        A cell type without markers has no rows.
    """
    if top is not None and top < 1:
        raise InputError(f"top must be at least 1, got {top}.")
    spec = gene_specificity(matrix).reset_index()
    spec = spec[spec["expression"] > 0]
    parts = []
    for cell_type in matrix.columns:
        part = spec[spec["cell_type"] == str(cell_type)].sort_values(
            ["log2_fold_change", "expression"], ascending=False, kind="stable"
        )
        if top is not None:
            part = part.head(top)
        parts.append(part.assign(rank=np.arange(1, len(part) + 1)))
    columns = [
        "cell_type",
        "rank",
        "gene",
        "expression",
        "second_cell_type",
        "log2_fold_change",
        "share",
        "tau",
    ]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


@dataclass(frozen=True)
class SignatureDescription:
    """Everything the Signature page and ``signatures --describe`` show.

    Attributes
    ----------
    summary
        Field → value: ``name``, ``title``, ``n_genes``, ``n_cell_types``,
        ``units``, ``licence``, ``citation``, ``source``, ``restricted``,
        ``condition_number``, ``most_collinear`` (``"A / B (cosine 0.93)"``) and,
        with an expression table, ``genes_found`` and ``coverage``.
    specificity
        Per gene, see :func:`gene_specificity`.
    markers
        Per cell type, see :func:`signature_markers`.
    collinearity
        All cell-type pairs, most similar first: the ``pairs`` of
        :func:`deconv_core.identifiability.signature_identifiability`.
    scaled
        Genes × cell types, each gene divided by its maximum
        (:func:`scaled_signature`), genes ordered by marked cell type then
        fold change, ready for a heatmap.
    groups
        ``cell_type`` → ``group`` table (:func:`groups_table`).
    coverage
        Per cell type and ``all`` (:func:`deconv_core.coverage.coverage_table`), or None without
        expression data.
    warnings
        The signature's own warnings (e.g. ``restricted_signature``).
    """

    summary: dict[str, object]
    specificity: pd.DataFrame
    markers: pd.DataFrame
    collinearity: pd.DataFrame
    scaled: pd.DataFrame
    groups: pd.DataFrame
    coverage: pd.DataFrame | None
    warnings: tuple[DeconvWarning, ...]


def describe_signature(
    signature: Signature | pd.DataFrame,
    *,
    expression: pd.DataFrame | Sequence[str] | None = None,
    top_markers: int | None = None,
) -> SignatureDescription:
    """Compute every diagnostic of a signature.

    Parameters
    ----------
    signature
        A :class:`Signature` or a genes × cell types table (linear).
    expression
        Optional genes × samples expression table (or its gene ids) whose
        coverage of the signature to report.
    top_markers
        Markers kept per cell type in :attr:`SignatureDescription.markers`
        (None: all).

    Returns
    -------
    SignatureDescription
    """
    if isinstance(signature, pd.DataFrame):
        signature = Signature(name="signature", matrix=signature)
    matrix = signature.matrix
    spec = gene_specificity(matrix)
    found = signature_identifiability(matrix)
    pairs = found.pairs
    all_markers = signature_markers(matrix)
    order = [str(g) for g in all_markers["gene"]]
    order += [str(g) for g in spec.index if str(g) not in set(order)]
    scaled = scaled_signature(matrix)
    scaled.index = pd.Index([str(g) for g in scaled.index], name="gene")
    summary: dict[str, object] = {
        "name": signature.name,
        "title": signature.title,
        "n_genes": int(matrix.shape[0]),
        "n_cell_types": int(matrix.shape[1]),
        "units": signature.units,
        "licence": signature.licence,
        "citation": signature.citation,
        "source": signature.source,
        "restricted": signature.restricted,
        "condition_number": found.condition_number,
        "most_collinear": (
            f"{pairs.iloc[0]['cell_type_a']} / {pairs.iloc[0]['cell_type_b']} "
            f"(cosine {pairs.iloc[0]['cosine']:.2f})"
            if len(pairs)
            else ""
        ),
    }
    coverage = None
    if expression is not None:
        genes = [str(g) for g in matrix.index]
        coverage = coverage_table(matrix, genes_found(expression, genes), total=True)
        summary["genes_found"] = int(coverage.loc["all", "found"])
        summary["coverage"] = float(coverage.loc["all", "fraction"])
    markers = all_markers
    if top_markers is not None:
        markers = signature_markers(matrix, top=top_markers)
    return SignatureDescription(
        summary=summary,
        specificity=spec,
        markers=markers,
        collinearity=pairs,
        scaled=scaled.loc[order],
        groups=groups_table(signature.groups, signature.cell_types),
        coverage=coverage,
        warnings=signature.warnings,
    )

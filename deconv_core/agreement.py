"""Agreement of estimated with measured fractions: category matching and statistics.

Computing apart from drawing (as in scanpy): :func:`match_categories` proposes
which cell types make up each measured category (e.g. flow cytometry),
:func:`compare_fractions` pairs estimates with measurements in a tidy table,
:func:`describe_gaps` says which categories or samples it left out and why, and
:func:`agreement_table` scores each category; :func:`deconv_core.figures.measured_scatter_figure`
draws the result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "CATEGORY_LINEAGES",
    "CATEGORY_QUALIFIERS",
    "CATEGORY_SYNONYMS",
    "agreement_table",
    "agreement_with_gaps",
    "compare_fractions",
    "describe_gaps",
    "match_categories",
]


#: How measured categories are written → the words the matcher compares (one table).  Flow
#: panels abbreviate ("mDC", "Tregs", "NK") and run words together ("CD4Tcells"); signatures
#: spell out ("Myeloid dendritic cells", "CD56dim_natural_killer_cell").  An empty tuple marks
#: a word that does not change which cells are meant: "cell" itself, and "conv"
#: (conventional: CD4 T cells other than Tregs, which is what a CD4 T-cell profile describes;
#: Finotello 2019's "T cells CD4 conv").
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "cell": (),
    "conv": (),
    "conventional": (),
    "mdc": ("myeloid", "dendritic"),
    "cdc": ("myeloid", "dendritic"),
    "pdc": ("plasmacytoid", "dendritic"),
    "dc": ("dendritic",),
    "dcs": ("dendritic",),
    "treg": ("regulatory", "t"),
    "natural": ("nk",),
    "killer": ("nk",),
    "mono": ("monocyte",),
    "neutro": ("neutrophil",),
    "mac": ("macrophage",),
}
#: Words a category may carry that a signature with one kind of such cells leaves out: "mDC"
#: is TIL10's "Dendritic cells" (quanTIseq's dendritic cells are myeloid) when the signature
#: has no myeloid dendritic cell type of its own.  Dropped only when nothing matched with them.
CATEGORY_QUALIFIERS = frozenset({"myeloid"})
#: Words that name a kind of cell (after :data:`CATEGORY_SYNONYMS`).  A category that names one
#: and matches no cell type or group exactly is proposed as the sum of the cell types that are
#: its subtypes: "Monocytes" = immunoStates' CD14 and CD16 monocytes, "NK" = LM22's resting and
#: activated NK cells.  A cell type naming another kind as well ("NK T cells" for "T cells") is
#: left to the user, as is a category naming no kind ("CD4", "Memory cells").
CATEGORY_LINEAGES = frozenset(
    {
        "t",
        "b",
        "nk",
        "plasma",
        "monocyte",
        "macrophage",
        "dendritic",
        "neutrophil",
        "eosinophil",
        "basophil",
        "mast",
        "granulocyte",
        "lymphocyte",
        "fibroblast",
        "endothelial",
        "epithelial",
        "progenitor",
    }
)

_CELLS_SUFFIX = re.compile(r"^(.+?)(cells?)$")  # "Tcells", "CD4Tcells", "NKcell"
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[a-z])")  # "cd4t" → "cd4", "t"; "cd56bright"


def _tokens(name: str) -> frozenset[str]:
    """The words of a name as the matcher compares them.

    Lower case, split at punctuation, "cells" split off run-together words
    ("CD4Tcells" → cd4, t), plural "s" dropped, then :data:`CATEGORY_SYNONYMS`
    applied ("T.cells.CD8" → {t, cd8}; "mDC" → {myeloid, dendritic}).
    """
    words = []
    for piece in "".join(c.lower() if c.isalnum() else " " for c in str(name)).split():
        if piece in CATEGORY_SYNONYMS:
            words.append(piece)
            continue
        suffix = _CELLS_SUFFIX.match(piece)
        parts = [suffix.group(1), suffix.group(2)] if suffix else [piece]
        for part in parts:
            words.extend(_DIGIT_LETTER.split(part) if part not in CATEGORY_SYNONYMS else [part])
    tokens: set[str] = set()
    for word in words:
        word = word[:-1] if len(word) > 3 and word.endswith("s") else word
        tokens.update(CATEGORY_SYNONYMS.get(word, (word,)))
    return frozenset(tokens)


def match_categories(
    categories: Sequence[str],
    cell_types: Sequence[str],
    groups: Mapping[str, Sequence[str]] | None = None,
    *,
    names: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """Propose which cell types make up each measured category.

    A category matches a cell type (by its id or its display name) or one of
    the signature's ``groups`` when their names have the same words, ignoring
    case, punctuation, word order, plural "s" and the word "cells", with the
    spellings of :data:`CATEGORY_SYNONYMS` ("CD8 T cells" = "T.cells.CD8",
    "CD4Tcells" = "CD4 T cells", "NK" = "NK cells", "mDC" = "Myeloid dendritic
    cells"); a matching group maps to all its members.  A category matching
    nothing is tried again without the words of :data:`CATEGORY_QUALIFIERS`
    ("mDC" = TIL10's "Dendritic cells"), then as the cell types that are its
    subtypes (:data:`CATEGORY_LINEAGES`: "Monocytes" = "CD14 monocytes" +
    "CD16 monocytes").  A category narrower than a name ("CD4 T cells" and the
    group "T cells") does not match it.

    Parameters
    ----------
    categories
        Names of the measured categories (columns of the measured fractions).
    cell_types
        The signature's cell types.
    groups
        The signature's coarser groups: group name → member cell types.
    names
        Cell type → display name (``Signature.shown_names``), matched too.

    Returns
    -------
    dict
        Category → list of cell types (empty when nothing matched; the user
        chooses then).
    """
    shown = dict(names or {})
    by_tokens: dict[frozenset[str], list[str]] = {}
    for cell_type in cell_types:
        by_tokens.setdefault(_tokens(cell_type), [str(cell_type)])
    for cell_type in cell_types:
        if str(cell_type) in shown:
            by_tokens.setdefault(_tokens(shown[str(cell_type)]), [str(cell_type)])
    known_types = {str(c) for c in cell_types}
    for group, members in (groups or {}).items():
        known = [str(m) for m in members if str(m) in known_types]
        if known:
            by_tokens.setdefault(_tokens(group), known)
    by_tokens.pop(frozenset(), None)  # a name of only generic words ("Cells") matches nothing
    proposal = {}
    for category in categories:
        tokens = _tokens(category)
        found = by_tokens.get(tokens) or by_tokens.get(tokens - CATEGORY_QUALIFIERS)
        proposal[str(category)] = list(found or _subtypes(tokens, cell_types, shown))
    return proposal


def _subtypes(
    tokens: frozenset[str], cell_types: Sequence[str], shown: Mapping[str, str]
) -> list[str]:
    """The cell types (signature order) whose id or display name has every word of a
    category naming a kind of cell, and no other kind (:data:`CATEGORY_LINEAGES`)."""
    kinds = tokens & CATEGORY_LINEAGES
    if not kinds:
        return []
    found = []
    for cell_type in map(str, cell_types):
        for name in (cell_type, shown.get(cell_type)):
            words = _tokens(name) if name else frozenset()
            if tokens <= words and words & CATEGORY_LINEAGES <= kinds:
                found.append(cell_type)
                break
    return found


def compare_fractions(
    proportions: pd.DataFrame,
    measured: pd.DataFrame,
    mapping: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """Pair estimated and measured fractions per sample and category.

    Parameters
    ----------
    proportions
        Samples × cell types, estimated fractions.
    measured
        Samples × categories, measured fractions in [0, 1] (e.g. flow
        cytometry).
    mapping
        Category → cell types whose estimates are summed to compare with it;
        categories mapped to nothing are left out.

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per (sample, category) present in both tables, with
        columns ``sample``, ``category``, ``estimated``, ``measured``; rows
        with a missing measurement, or with a cell type of the category that
        could not be estimated in that sample, are dropped
        (:func:`describe_gaps` says which and why).
    """
    rows = []
    for category, _members, estimated, values in _category_sums(proportions, measured, mapping):
        for sample in values.index:
            if pd.notna(values[sample]) and pd.notna(estimated[sample]):
                rows.append(
                    {
                        "sample": sample,
                        "category": category,
                        "estimated": float(estimated[sample]),
                        "measured": float(values[sample]),
                    }
                )
    return pd.DataFrame(rows, columns=["sample", "category", "estimated", "measured"])


def _category_sums(
    proportions: pd.DataFrame,
    measured: pd.DataFrame,
    mapping: Mapping[str, Sequence[str]],
) -> Iterator[tuple[str, list[str], pd.Series, pd.Series]]:
    """Per mapped category: its members in the run, their summed estimates and the measurements.

    Both series are indexed by the samples the two tables share (as str); the
    sum is NaN in a sample where a member could not be estimated (no marker
    found leaves the sum unknown, not smaller). Categories mapped to no cell
    type of the run, or absent from ``measured``, are not yielded.
    """
    props = proportions.rename(index=str)
    meas = measured.rename(index=str)
    shared = set(meas.index)
    samples = [s for s in props.index if s in shared]
    for category, mapped in mapping.items():
        members = [str(m) for m in mapped if str(m) in props.columns]
        if not members or category not in meas.columns:
            continue
        estimated = props.loc[samples, members].sum(axis=1, min_count=len(members))
        values = pd.to_numeric(meas.loc[samples, category], errors="coerce")
        yield str(category), members, estimated, values


def describe_gaps(
    proportions: pd.DataFrame,
    measured: pd.DataFrame,
    mapping: Mapping[str, Sequence[str]],
    *,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Which measured categories :func:`compare_fractions` leaves out, or compares on fewer
    samples than have a measurement, and why.

    Parameters
    ----------
    proportions
        Samples × cell types, estimated fractions (NaN: could not be estimated).
    measured
        Samples × categories, measured fractions.
    mapping
        Category → cell types whose estimates are summed.
    names
        Cell type → name to show in the reasons (e.g. the signature's display
        names); ids otherwise.

    Returns
    -------
    pandas.DataFrame
        One row per category with a gap, in the mapping's order: ``category``,
        ``code`` (``not_estimated``: a cell type of it could not be estimated in
        some samples; ``unmapped``: mapped to no cell type; ``not_in_run``: its
        cell types are not in the run; ``no_measurement``: no measured value for
        the run's samples; ``not_measured``: not a measured column),
        ``compared`` (samples compared, 0 when the category is left out),
        ``left_out`` (samples with a measurement that are not compared) and
        ``reason`` (one sentence). Empty when every mapped category is compared
        on every measured sample.
    """
    shown = dict(names or {})
    columns = ["category", "code", "compared", "left_out", "reason"]
    rows = []
    summed = {c: (m, e, v) for c, m, e, v in _category_sums(proportions, measured, mapping)}
    props = proportions.rename(index=str)
    for category, mapped in mapping.items():
        category = str(category)
        if category not in summed:
            if category not in {str(c) for c in measured.columns}:
                code, reason = "not_measured", "not a column of the measured fractions"
            elif mapped:
                code, reason = "not_in_run", "none of its cell types is in this run; choose again"
            else:
                code, reason = "unmapped", "mapped to no cell type"
            rows.append((category, code, 0, 0, reason))
            continue
        members, estimated, values = summed[category]
        has_value = values.notna()
        if not has_value.any():
            reason = "no measured value for the samples of this run"
            rows.append((category, "no_measurement", 0, 0, reason))
            continue
        unknown = has_value & estimated.isna()
        if not unknown.any():
            continue
        total, left_out = int(has_value.sum()), int(unknown.sum())
        missing = props.loc[values.index[unknown], members].isna().sum(axis=0).astype(int)
        parts = [
            f"{shown.get(m, m)} could not be estimated in "
            + ("any measured sample" if n == total else f"{n} of {total} measured samples")
            for m, n in missing[missing > 0].items()
        ]
        reason = "; ".join(parts) + (
            " (no marker gene with a value), so the sum of its cell types is unknown"
            + (" there" if left_out < total else "")
        )
        rows.append((category, "not_estimated", total - left_out, left_out, reason))
    return pd.DataFrame(rows, columns=columns)


def agreement_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Agreement of estimated with measured fractions, per category.

    Parameters
    ----------
    pairs
        Output of :func:`compare_fractions`.

    Returns
    -------
    pandas.DataFrame
        Index ``category``; columns ``n`` (samples), ``pearson_r`` (NaN with
        fewer than 3 samples or no spread), ``rmse`` (root-mean-square
        difference, in fraction units) and ``bias`` (mean estimated −
        measured).
    """
    rows = []
    for category, part in pairs.groupby("category", sort=False):
        est, meas = part["estimated"].to_numpy(float), part["measured"].to_numpy(float)
        r = np.nan
        if len(part) >= 3 and np.ptp(est) > 0 and np.ptp(meas) > 0:
            r = float(stats.pearsonr(est, meas).statistic)
        rows.append(
            {
                "category": category,
                "n": len(part),
                "pearson_r": r,
                "rmse": float(np.sqrt(np.mean((est - meas) ** 2))),
                "bias": float(np.mean(est - meas)),
            }
        )
    return pd.DataFrame(rows, columns=["category", "n", "pearson_r", "rmse", "bias"]).set_index(
        "category"
    )


def agreement_with_gaps(agreement: pd.DataFrame | None, gaps: pd.DataFrame) -> pd.DataFrame | None:
    """The agreement as exported: every category, those left out or short of samples noted.

    Parameters
    ----------
    agreement
        :func:`agreement_table` (None when no category could be compared).
    gaps
        :func:`describe_gaps` of the same run, measured fractions and mapping.

    Returns
    -------
    pandas.DataFrame or None
        ``agreement`` with a ``note`` column (the gap's reason, "" for a category
        compared on every measured sample) and, after it, a row per category not
        compared at all (``n`` 0, no statistics) with its reason, so a file never
        drops a category the screen warns about; None when there is neither.
    """
    columns = ["n", "pearson_r", "rmse", "bias"]
    if agreement is None:
        agreement = pd.DataFrame(columns=columns, index=pd.Index([], name="category"))
    reasons = dict(zip(gaps["category"].astype(str), gaps["reason"], strict=True))
    table = agreement.assign(note=[reasons.get(str(c), "") for c in agreement.index])
    missing = gaps[~gaps["category"].astype(str).isin([str(c) for c in agreement.index])]
    if len(missing):
        extra = pd.DataFrame(
            {"n": 0, "pearson_r": np.nan, "rmse": np.nan, "bias": np.nan, "note": missing["reason"]}
        )
        extra.index = pd.Index(missing["category"].astype(str), name="category")
        table = pd.concat([table, extra]) if len(table) else extra
    return table if len(table) else None

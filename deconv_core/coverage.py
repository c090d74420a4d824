"""Which signature genes a dataset covers: the one implementation of coverage.

The fit, the input health card, the Signature page and
``signatures --describe --expression`` all count coverage here, so they
agree.  A signature gene is *found* when the expression data has a row for it
with at least one value; a row that is empty in every sample is not found,
because the fit cannot use it.  A row is the gene's when its id is the same
symbol ignoring case or, failing that, names the same HGNC gene
(:func:`deconv_core.genes.current_symbol`: data GUCY1A1 = signature GUCY1A3,
both HGNC:4685), so old and current symbols find each other both ways.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from deconv_core.genes import current_symbol, load_hgnc
from deconv_core.thresholds import COVERAGE_FAIR, COVERAGE_GOOD

__all__ = [
    "LEVELS",
    "RowIndex",
    "SAMPLE_COVERAGE_COLUMNS",
    "coverage_level",
    "coverage_table",
    "gene_rows",
    "genes_found",
    "identity_matches",
    "marker_genes",
    "name_list",
    "sample_coverage_table",
]

#: Coverage levels, best first (the words the dashboard and the command line show).
LEVELS = ("good", "check", "poor")
#: Columns of :func:`sample_coverage_table`.
SAMPLE_COVERAGE_COLUMNS = (
    "sample",
    "cell_type",
    "marker_genes",
    "found",
    "fraction",
    "level",
    "missing",
)


def name_list(names: Sequence[str], *, limit: int = 120) -> str:
    """Names joined by ", ", cut at a whole name to about ``limit`` characters.

    Parameters
    ----------
    names
        The names, in the order to show them.
    limit
        Characters the shown names may take (the first name is always shown).

    Returns
    -------
    str
        ``"A, B, C"``, or ``"A, B and 12 more"`` when the rest would not fit.
    """
    names = [str(n) for n in names]
    shown: list[str] = []
    length = 0
    for name in names:
        extra = len(name) + (2 if shown else 0)
        if shown and length + extra > limit:
            break
        shown.append(name)
        length += extra
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest else "")


def marker_genes(signature: pd.DataFrame) -> pd.Series:
    """Assign each signature gene to the cell type that expresses it most.

    Parameters
    ----------
    signature
        Genes × cell types, linear.

    Returns
    -------
    pandas.Series
        Index = genes, value = cell type with the highest expression.
    """
    values = signature.to_numpy(dtype=float)
    return pd.Series(
        np.asarray(signature.columns)[values.argmax(axis=1)], index=signature.index, name="marks"
    )


def gene_rows(ids: pd.Index | Sequence[str], genes: Sequence[str]) -> dict[str, int]:
    """Match signature genes to data rows: by symbol, else by HGNC identity.

    Parameters
    ----------
    ids
        The data's gene ids (rows), in order.
    genes
        Signature genes.

    Returns
    -------
    dict
        Signature gene → position of its row in ``ids``, for the genes that
        have one. The same symbol ignoring case wins; a gene without one takes
        the row naming the same HGNC gene (old or current symbol, unambiguous
        alias, Ensembl id; the row under the current symbol first), unless that
        row is already another gene's.
    """
    return RowIndex(ids).rows(genes)


class RowIndex:
    """The data's gene ids (rows) indexed once for :func:`gene_rows`'s matching.

    Matching many gene lists to the same rows (every marker panel against the
    fitted genes) indexes the rows once instead of once per list.

    Parameters
    ----------
    ids
        The data's gene ids (rows), in order.
    """

    def __init__(self, ids: pd.Index | Sequence[str]) -> None:
        # Index.tolist is a C loop; iterating a pandas string index is ~10x slower.
        values = ids.tolist() if isinstance(ids, pd.Index) else list(ids)
        self._ids = [g if type(g) is str else str(g) for g in values]
        self._position: dict[str, int] = {}
        for i, g in enumerate(self._ids):
            self._position.setdefault(g.upper(), i)
        self._current: list[str | None] | None = None

    def rows(self, genes: Sequence[str]) -> dict[str, int]:
        """Signature gene → row position, as :func:`gene_rows` (which documents the rule)."""
        position = self._position
        rows = {str(g): position[str(g).upper()] for g in genes if str(g).upper() in position}
        unmatched = [str(g) for g in genes if str(g) not in rows]
        if not unmatched:
            return rows
        taken = set(rows.values())
        by_gene: dict[str, int] = {}
        for i, (g, current) in enumerate(zip(self._ids, self._current_symbols(), strict=True)):
            if current is None or i in taken:
                continue
            if g == current:  # the row under the current symbol is the gene's own
                by_gene[current] = i
            else:
                by_gene.setdefault(current, i)
        for gene in unmatched:
            pos = by_gene.get(current_symbol(gene) or "")
            if pos is not None and pos not in taken:
                rows[gene] = pos
                taken.add(pos)
        return rows

    def _current_symbols(self) -> list[str | None]:
        if self._current is None:
            self._current = [current_symbol(g) for g in self._ids]
        return self._current


def _present_ids(expression: pd.DataFrame | pd.Index | Sequence[str]) -> pd.Index:
    if isinstance(expression, pd.DataFrame):
        return expression.index[expression.notna().any(axis=1).to_numpy()]
    return pd.Index(expression)


def genes_found(expression: pd.DataFrame | pd.Index | Sequence[str], genes: Sequence[str]) -> list:
    """The genes of ``genes`` that the expression data has, with at least one value.

    Parameters
    ----------
    expression
        Genes × samples expression table; or just its gene ids (every row
        then counts as having values).
    genes
        Signature genes, in the order to return them.

    Returns
    -------
    list of str
        The found genes (:func:`gene_rows`), spelled as in ``genes``, in their order.
    """
    rows = gene_rows(_present_ids(expression), genes)
    return [str(g) for g in genes if str(g) in rows]


def identity_matches(
    expression: pd.DataFrame | pd.Index | Sequence[str], genes: Sequence[str]
) -> pd.DataFrame:
    """The signature genes found under another symbol of the same HGNC gene.

    Parameters
    ----------
    expression, genes
        As for :func:`genes_found`.

    Returns
    -------
    pandas.DataFrame
        One row per such gene, signature order: ``data_gene``,
        ``signature_gene``, ``hgnc_id``, ``note`` ("data GUCY1A1 = signature
        GUCY1A3, same HGNC id").
    """
    ids = _present_ids(expression)
    hgnc_ids = load_hgnc().hgnc_id
    records = []
    for gene, pos in gene_rows(ids, genes).items():
        data_gene = str(ids[pos])
        if data_gene.upper() != gene.upper():
            records.append(
                {
                    "data_gene": data_gene,
                    "signature_gene": gene,
                    "hgnc_id": hgnc_ids.get(current_symbol(gene) or "", ""),
                    "note": f"data {data_gene} = signature {gene}, same HGNC id",
                }
            )
    return pd.DataFrame(records, columns=["data_gene", "signature_gene", "hgnc_id", "note"])


def coverage_table(
    signature: pd.DataFrame, found: Sequence[str] | pd.Index, *, total: bool = False
) -> pd.DataFrame:
    """How many of each cell type's marker genes the data covers.

    Parameters
    ----------
    signature
        Genes × cell types; each gene marks the cell type expressing it most.
    found
        Signature genes present in the data (:func:`genes_found`).
    total
        Append a row ``all`` for the whole signature.

    Returns
    -------
    pandas.DataFrame
        Index ``cell_type``; columns ``marker_genes``, ``found``,
        ``fraction`` (found / marker_genes, NaN without markers), ``level``
        (:func:`coverage_level` of the fraction) and ``missing``
        (comma-separated genes, signature order).
    """
    marks = marker_genes(signature)
    found_set = {str(g) for g in found}
    groups = [(str(c), [str(g) for g in marks.index[marks == c]]) for c in signature.columns]
    if total:
        groups.append(("all", [str(g) for g in signature.index]))
    rows = []
    for cell_type, genes in groups:
        missing = [g for g in genes if g not in found_set]
        n = len(genes)
        fraction = (n - len(missing)) / n if n else np.nan
        rows.append(
            {
                "cell_type": cell_type,
                "marker_genes": n,
                "found": n - len(missing),
                "fraction": fraction,
                "level": coverage_level(fraction),
                "missing": ", ".join(missing),
            }
        )
    columns = ["cell_type", "marker_genes", "found", "fraction", "level", "missing"]
    return pd.DataFrame(rows, columns=columns).set_index("cell_type")


def sample_coverage_table(
    signature: pd.DataFrame, found: Sequence[str], has_value: np.ndarray, samples: Sequence[str]
) -> pd.DataFrame:
    """Per sample, the cell types for which it has values for fewer markers than the cohort.

    :func:`coverage_table` counts a gene as found when any sample has a value
    for it; a sample missing values counts only the genes it has values for.

    Parameters
    ----------
    signature
        Genes × cell types; each gene marks the cell type expressing it most.
    found
        Signature genes found in the data (:func:`genes_found`), in signature order.
    has_value : (len(found), len(samples)) bool array
        Whether each sample has a value for each found gene.
    samples
        Sample names, the columns of ``has_value``.

    Returns
    -------
    pandas.DataFrame
        One row per sample and cell type whose markers with a value in the
        sample are fewer than those found in the cohort (samples, then cell
        types, in input order); no rows for complete data.  Columns
        ``sample``, ``cell_type``, ``marker_genes``, ``found`` (markers with a
        value in the sample), ``fraction`` (found / marker_genes), ``level``
        (:func:`coverage_level`) and ``missing`` (markers without a value in
        the sample, signature order).
    """
    columns = list(SAMPLE_COVERAGE_COLUMNS)
    if has_value.all():
        return pd.DataFrame(columns=columns)
    marks = marker_genes(signature)
    cell_types = [str(c) for c in signature.columns]
    found = [str(g) for g in found]
    found_marks = marks.reindex(found).astype(str).to_numpy()
    # Found genes × cell types, one-hot: the counts of every sample at once.
    onehot = found_marks[:, None] == np.asarray(cell_types)[None, :]
    counts = has_value.astype(np.int64).T @ onehot.astype(np.int64)  # samples × cell types
    cohort = onehot.sum(axis=0)
    totals = {c: int((marks == c).sum()) for c in cell_types}
    genes_of = {c: [str(g) for g in marks.index[marks == c]] for c in cell_types}
    position = {g: i for i, g in enumerate(found)}
    rows = []
    for j, i in zip(*np.nonzero(counts < cohort[None, :]), strict=True):
        cell_type, n = cell_types[i], totals[cell_types[i]]
        fraction = counts[j, i] / n
        missing = [
            g for g in genes_of[cell_type] if g not in position or not has_value[position[g], j]
        ]
        rows.append(
            [
                str(samples[j]),
                cell_type,
                n,
                int(counts[j, i]),
                fraction,
                coverage_level(fraction),
                ", ".join(missing),
            ]
        )
    return pd.DataFrame(rows, columns=columns)


def coverage_level(fraction: float) -> str:
    """``"good"`` (at least :data:`COVERAGE_GOOD`), ``"check"`` (at least
    :data:`COVERAGE_FAIR`) or ``"poor"`` for a share of genes found (NaN: poor)."""
    if not np.isfinite(fraction) or fraction < COVERAGE_FAIR:
        return "poor"
    return "good" if fraction >= COVERAGE_GOOD else "check"

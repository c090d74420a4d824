"""Agreement of estimated with measured fractions: category matching and statistics.

Computing apart from drawing (as in scanpy): :func:`match_categories` proposes
which cell types make up each measured category (e.g. flow cytometry),
:func:`compare_fractions` pairs estimates with measurements in a tidy table and
:func:`agreement_table` scores each category; :func:`deconv_core.figures.measured_scatter_figure`
draws the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["agreement_table", "compare_fractions", "match_categories"]


def _tokens(name: str) -> frozenset[str]:
    """Lower-case word tokens of a name, plural 's' dropped ("T.cells.CD8" → {t, cell, cd8})."""
    words = "".join(c.lower() if c.isalnum() else " " for c in str(name)).split()
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words)


def match_categories(
    categories: Sequence[str],
    cell_types: Sequence[str],
    groups: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[str]]:
    """Propose which cell types make up each measured category.

    A category matches a cell type or one of the signature's ``groups`` when
    their names have the same words, ignoring case, punctuation, word order
    and plural "s" ("CD8 T cells" = "T.cells.CD8"); a matching group maps to
    all its members.

    Parameters
    ----------
    categories
        Names of the measured categories (columns of the measured fractions).
    cell_types
        The signature's cell types.
    groups
        The signature's coarser groups: group name → member cell types.

    Returns
    -------
    dict
        Category → list of cell types (empty when nothing matched; the user
        chooses then).
    """
    by_tokens: dict[frozenset[str], list[str]] = {}
    for cell_type in cell_types:
        by_tokens.setdefault(_tokens(cell_type), [str(cell_type)])
    for group, members in (groups or {}).items():
        known = [str(m) for m in members if str(m) in {str(c) for c in cell_types}]
        if known:
            by_tokens.setdefault(_tokens(group), known)
    return {str(c): list(by_tokens.get(_tokens(c), [])) for c in categories}


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
        could not be estimated in that sample, are dropped.
    """
    props = proportions.copy()
    props.index = [str(s) for s in props.index]
    meas = measured.copy()
    meas.index = [str(s) for s in meas.index]
    samples = [s for s in props.index if s in set(meas.index)]
    rows = []
    for category, members in mapping.items():
        members = [str(m) for m in members if str(m) in props.columns]
        if not members or category not in meas.columns:
            continue
        # A member that could not be estimated (no marker found) leaves the sum unknown.
        estimated = props.loc[samples, members].sum(axis=1, min_count=len(members))
        values = pd.to_numeric(meas.loc[samples, category], errors="coerce")
        for sample in samples:
            if pd.notna(values[sample]) and pd.notna(estimated[sample]):
                rows.append(
                    {
                        "sample": sample,
                        "category": str(category),
                        "estimated": float(estimated[sample]),
                        "measured": float(values[sample]),
                    }
                )
    return pd.DataFrame(rows, columns=["sample", "category", "estimated", "measured"])


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

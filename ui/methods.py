"""The Methods page's sections: methods side by side, their agreement, what 'other' holds.

Every number comes from :mod:`deconv_core.methods` through the run's
:class:`~deconv_core.analysis.Analysis`; the charts come from
:func:`deconv_core.figures.methods_figure`, which never puts a score on a
fraction axis.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from deconv_core.figures import methods_figure
from deconv_core.methods import (
    METHOD_LABELS,
    MethodsComparison,
    agreement_summary,
    compared_values,
    method_overview,
    shown_quantity,
    too_few_to_compare,
)
from deconv_core.text import visible
from deconv_core.thresholds import (
    METHOD_AGREEMENT_R,
    METHOD_RANK_GAP,
    MIN_SAMPLES_FOR_AGREEMENT,
    SMALL_COHORT,
)
from ui import widgets

__all__ = ["agreement_section", "methods_section", "other_section"]


def methods_section(comparison: MethodsComparison) -> None:
    """Which methods ran and what each one's numbers are (fraction or score)."""
    widgets.table(
        method_overview(comparison),
        hide_index=True,
        column_config={"units": st.column_config.TextColumn("what a number is", width="large")},
    )
    st.caption(
        "**Fractions** are shares of cells (0-100 %); **scores** are in arbitrary units: they "
        "rank samples for one population and are never comparable with fractions or between "
        "populations. The robust fit is the one the Results and QC pages show; the others are "
        "independent re-implementations from their papers (CIBERSORT, Newman 2015; EPIC, Racle "
        "2017; MCP-counter, Becht 2016)."
    )


def _agreement_rows(summary: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    table = summary.reset_index()
    table["cell_type"] = table["cell_type"].map(lambda q: shown_quantity(q, names))
    table["with"] = table["with"].map(METHOD_LABELS)
    table.insert(0, "agreement", table.pop("flagged").map({True: "🔴", False: "🟢"}))
    return table


def agreement_section(comparison: MethodsComparison, names: Mapping[str, str]) -> None:
    """Per cell type: the robust fit's least agreeing method, a chart and the worst samples.

    ``names`` maps cell-type ids to the display names shown
    (:attr:`deconv_core.signatures.Signature.shown_names`); the files keep the ids.
    """
    summary = agreement_summary(comparison.agreement)
    if summary.empty:
        st.info("Only one method ran: nothing to compare.")
        return
    too_few = too_few_to_compare(comparison.agreement)
    if too_few:
        st.info(f"Methods {too_few[0].lower() + too_few[1:]}.")
        return
    widgets.table(
        _agreement_rows(summary, names),
        hide_index=True,
        column_config={
            "cell_type": st.column_config.TextColumn("cell type"),
            "lowest_r": st.column_config.NumberColumn("lowest Spearman r", format="%.2f"),
            "with": st.column_config.TextColumn("with"),
            "disagree_most": st.column_config.TextColumn("samples ranked furthest apart"),
        },
    )
    n = int(summary["n"].max())
    st.caption(
        "Spearman r across samples between the robust fit and each other method, on one "
        "basis per pair (column basis): fractions as shares of the cell types both methods "
        "describe ('other' removed), so that a method with 'other' and one without can be "
        "compared; a score as it is, beside the summed fractions of all cells of the cell types "
        "its markers cover (beside shares it measures something else and is never flagged). "
        f"🔴: r below "
        f"{METHOD_AGREEMENT_R:g} over at least {MIN_SAMPLES_FOR_AGREEMENT} samples; the samples "
        f"ranked at least {METHOD_RANK_GAP:g} apart (rank percentiles) get a 'check' verdict. "
        + (f"Only {n} samples: r of so few is mostly noise." if n < SMALL_COHORT else "")
    )
    quantities = list(summary.index)
    quantity = st.selectbox(
        "Cell type to compare",
        quantities,
        format_func=lambda q: visible(shown_quantity(q, names)),
        key="methods_quantity",
    )
    values, kinds = compared_values(comparison, quantity)
    labelled = values.rename(columns=METHOD_LABELS)
    widgets.chart(
        methods_figure(
            labelled,
            {METHOD_LABELS[m]: k for m, k in kinds.items()},
            title=f"{shown_quantity(quantity, names)}: each method per sample",
            subtitle="Fractions on the top axis, scores (arbitrary units) on their own axis.",
        ),
        "methods_per_sample",
        key="methods_chart",
    )
    pairs = comparison.agreement[comparison.agreement["cell_type"] == quantity]
    widgets.table(
        pairs.drop(columns=["cell_type"]).replace(
            {"method_a": METHOD_LABELS, "method_b": METHOD_LABELS}
        ),  # fmt: skip
        hide_index=True,
        column_config={"spearman_r": st.column_config.NumberColumn("Spearman r", format="%.2f")},
    )


def other_section(comparison: MethodsComparison, mode: str) -> None:
    """'other' beside the tumour-content bound and the stromal scores (absolute mode)."""
    other = comparison.other
    if other.empty:
        st.info(
            "'other' exists only in absolute mode (choose Absolute under Mode on the Results "
            "page, with TPM data and a whole-transcriptome signature such as TIL10)."
            if mode != "absolute"
            else "The stromal scores need the marker-score method."
        )
        return
    kinds = other.attrs["kinds"]
    widgets.chart(
        methods_figure(
            other,
            kinds,
            title="What 'other' is made of",
            subtitle="'other' and the tumour bound are fractions of all cells; fibroblast and "
            "endothelial scores are in arbitrary units on their own axis.",
        ),
        "other_composition",
        key="other_chart",
    )
    widgets.table(other, column_config=_other_columns(kinds))
    st.caption(
        "**other** (fraction): the cells the signature's cell types do not explain. "
        "**tumour_at_most** (fraction): an upper bound of the cancer-cell content, equal to "
        "'other', since 'other' also holds fibroblasts, endothelial cells and any cell type the "
        "signature lacks; marker scores cannot be turned into fractions, so no lower bound is "
        "given. **Fibroblasts / Endothelial cells score**: MCP-counter's CC0 markers, arbitrary "
        "units: a sample with a higher score has more of that stroma than one with a lower "
        "score, and a high score means more of 'other' is stroma rather than tumour."
        + (
            " **Epithelial cells score** (arbitrary units; EPCAM, keratins 8/18/19, E-cadherin, "
            "claudins 4/7, ESRP1): carcinoma cells usually express these, immune and stromal "
            "cells do not; melanoma, sarcoma, lymphoma and normal epithelium break that rule."
            if "Epithelial cells score" in kinds
            else " No epithelial score: fewer than half of its 8 markers are in the data."
        )
    )


def _other_columns(kinds: dict[str, str]) -> dict:
    return {
        column: st.column_config.NumberColumn(
            f"{column} (fraction)" if kind == "fraction" else column,
            format="percent" if kind == "fraction" else "%.2f",
        )
        for column, kind in kinds.items()
    }

"""The dashboard's charts built from a result and the loaded side tables.

Shared by the Results and QC pages and by the zip download, so the zip holds
the same charts the pages show.  No streamlit here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from deconv_core.agreement import agreement_table, compare_fractions
from deconv_core.confounding import GeneExplanation
from deconv_core.deconvolve import DeconvResult, marker_genes
from deconv_core.figures import (
    gene_explanation_figure,
    group_boxplots_figure,
    measured_scatter_figure,
    proportion_intervals_figure,
    proportions_bar_figure,
    proportions_heatmap_figure,
    residual_heatmap_figure,
)
from deconv_core.ordering import order_samples, residual_samples, samples_by_fit
from deconv_core.qc import standardised_residuals

__all__ = ["export_figures", "residual_figure"]


def residual_figure(
    result: DeconvResult,
    *,
    gene_order: str = "cell type",
    sample_order: str = "input",
) -> go.Figure:
    """The residual heatmap of a result, limited to :data:`MAX_HEATMAP_SAMPLES` samples.

    Parameters
    ----------
    result
        The deconvolution result.
    gene_order
        ``"cell type"`` or ``"cluster"``.
    sample_order
        ``"input"``, ``"cluster"`` or ``"worst fit first"``.
    """
    z = standardised_residuals(result)
    samples, note = residual_samples(result)
    order: str | Sequence[str] = sample_order
    if sample_order == "worst fit first":
        keep = set(samples)
        order = [s for s in samples_by_fit(result.fit) if s in keep]
    return residual_heatmap_figure(
        z[samples],
        marker_genes(result.signature_matrix),
        gene_order=gene_order,
        sample_order=order,
        note=note,
    )


def export_figures(
    result: DeconvResult,
    *,
    groups: pd.Series | None = None,
    group_title: str = "group",
    sort_by: str | None = None,
    measured: pd.DataFrame | None = None,
    mapping: Mapping[str, Sequence[str]] | None = None,
    intervals: pd.DataFrame | None = None,
    n_resamples: int | None = None,
    explanation: GeneExplanation | None = None,
) -> dict[str, go.Figure]:
    """Every chart of the Results and QC pages, by file stem (for the zip).

    Parameters
    ----------
    result
        The deconvolution result.
    groups
        Sample → group (metadata column), or None.
    group_title
        Name of that column.
    sort_by
        Cell type the bars are sorted by, or None.
    measured
        Samples × categories, measured fractions matched to the samples.
    mapping
        Category → cell types for the comparison.
    intervals, n_resamples
        Bootstrap intervals (tidy, :func:`deconv_core.qc.bootstrap_intervals`)
        and how many resamples they rest on; adds ``composition_intervals``.
    explanation
        A gene explained by :func:`deconv_core.confounding.explain_gene`; adds
        ``gene_explainer_<gene>``.
    """
    props = result.proportions
    figures = {
        "composition_bars": proportions_bar_figure(
            props, meaning=result.meaning, groups=groups, sort_by=sort_by, group_title=group_title
        ),
        "proportions_heatmap": proportions_heatmap_figure(
            props,
            meaning=result.meaning,
            order=order_samples(props, sort_by=sort_by, groups=groups),
        ),
    }
    if groups is not None:
        figures["fractions_by_group"] = group_boxplots_figure(
            props, groups, meaning=result.meaning, group_title=group_title
        )
    if measured is not None and mapping:
        pairs = compare_fractions(props, measured, mapping)
        if len(pairs):
            figures["estimated_vs_measured"] = measured_scatter_figure(
                pairs, agreement_table(pairs), meaning=result.meaning
            )
    if intervals is not None:
        figures["composition_intervals"] = proportion_intervals_figure(
            intervals,
            meaning=result.meaning,
            order=order_samples(props, sort_by=sort_by, groups=groups),
            n_resamples=n_resamples,
        )
    figures["residual_heatmap"] = residual_figure(result)
    if explanation is not None:
        cell_types = [str(c) for c in result.signature_matrix.columns]
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in explanation.gene)
        figures[f"gene_explainer_{stem}"] = gene_explanation_figure(
            explanation.summary, gene=explanation.gene, cell_types=cell_types
        )
    return figures

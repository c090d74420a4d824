"""The dashboard's charts built from a result and the loaded side tables.

Shared by the Results and QC pages and by the zip download, so the zip holds
the same charts the pages show.  No streamlit here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from deconv_core.agreement import agreement_table, compare_fractions, describe_gaps
from deconv_core.analysis import Analysis
from deconv_core.deconvolve import marker_genes
from deconv_core.figures import (
    figure_config,
    group_boxplots_figure,
    measured_scatter_figure,
    proportion_intervals_figure,
    proportions_bar_figure,
    proportions_heatmap_figure,
    residual_heatmap_figure,
)
from deconv_core.labels import with_display_names
from deconv_core.ordering import order_samples, residual_samples
from deconv_core.qc import standardised_residuals

__all__ = [
    "chart_files",
    "export_figures",
    "figure_html",
    "measured_pairs",
    "residual_figure",
]


def residual_figure(
    analysis: Analysis,
    *,
    gene_order: str = "cell type",
    sample_order: str = "input",
) -> go.Figure:
    """The residual heatmap of a run, limited to :data:`MAX_HEATMAP_SAMPLES` samples.

    Parameters
    ----------
    analysis
        The run (its result, and its verdicts' worst-first order).
    gene_order
        ``"cell type"`` or ``"cluster"``.
    sample_order
        ``"input"``, ``"cluster"`` or ``"worst fit first"`` (the verdict's order).
    """
    result = analysis.result
    z = standardised_residuals(result)
    worst = analysis.worst_first
    samples, note = residual_samples(list(result.fit.index), worst)
    order: str | Sequence[str] = sample_order
    if sample_order == "worst fit first":
        keep = set(samples)
        order = [s for s in worst if s in keep]
    names = analysis.signature.shown_names
    return residual_heatmap_figure(
        z[samples],
        marker_genes(result.signature_matrix).map(lambda c: names.get(c, c)),
        gene_order=gene_order,
        sample_order=order,
        note=note,
    )


def figure_html(
    fig: go.Figure, config: Mapping[str, Any], *, include_plotlyjs: bool | str = True
) -> bytes:
    """A chart as an HTML page (self-contained when ``include_plotlyjs`` is True)."""
    with warnings.catch_warnings():
        # plotly.py's to_html knows fewer config keys than plotly.js; the two it names
        # (showEditInChartStudio, showLink) are real plotly.js options that keep the
        # page from offering to send the data to Plotly's servers.
        warnings.filterwarnings("ignore", r"\s*Unrecognized config options", UserWarning)
        text = fig.to_html(config=dict(config), include_plotlyjs=include_plotlyjs, full_html=True)
    return text.encode("utf-8")


def chart_files(figures: Mapping[str, go.Figure], *, image_format: str) -> dict[str, bytes]:
    """Charts as HTML pages sharing one ``plotly.min.js`` (file name → bytes).

    The folder is self-contained and a tenth of the size of one page per chart
    with its own copy of plotly.js.
    """
    from plotly.offline import get_plotlyjs

    files = {"plotly.min.js": get_plotlyjs().encode("utf-8")}
    for stem, fig in figures.items():
        config = figure_config(stem, image_format=image_format)
        files[f"{stem}.html"] = figure_html(fig, config, include_plotlyjs="directory")
    return files


def measured_pairs(
    analysis: Analysis,
    measured: pd.DataFrame | None,
    mapping: Mapping[str, Sequence[str]] | None,
) -> pd.DataFrame | None:
    """Estimated and measured fractions paired per sample and category, or None when none pair.

    Parameters
    ----------
    analysis
        The run (its cell-type proportions).
    measured
        Samples × categories, measured fractions matched to the samples.
    mapping
        Category → cell types whose estimates are summed.
    """
    if measured is None or not mapping:
        return None
    pairs = compare_fractions(analysis.result.proportions, measured, mapping)
    return pairs if len(pairs) else None


def measured_gaps(
    analysis: Analysis,
    measured: pd.DataFrame | None,
    mapping: Mapping[str, Sequence[str]] | None,
) -> pd.DataFrame:
    """The measured categories left out of the comparison or short of samples, and why
    (:func:`deconv_core.agreement.describe_gaps`; empty without measured fractions)."""
    if measured is None or not mapping:
        return describe_gaps(pd.DataFrame(), pd.DataFrame(), {})
    return describe_gaps(
        analysis.result.proportions, measured, mapping, names=analysis.signature.shown_names
    )


def export_figures(
    analysis: Analysis,
    *,
    groups: pd.Series | None = None,
    group_title: str = "group",
    measured: pd.DataFrame | None = None,
    mapping: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, go.Figure]:
    """Every chart of a run, by file stem (for the zip; the same from every page).

    Parameters
    ----------
    analysis
        The run (its intervals, when computed, add ``composition_intervals``).
    groups
        Sample → group (metadata column), or None.
    group_title
        Name of that column.
    measured
        Samples × categories, measured fractions matched to the samples.
    mapping
        Category → cell types for the comparison.
    """
    result = analysis.result
    names = analysis.signature.shown_names
    props = with_display_names(result.proportions, names)
    verdicts = analysis.verdicts["verdict"]
    order = order_samples(props, groups=groups)
    figures = {
        "composition_bars": proportions_bar_figure(
            props, meaning=result.meaning, groups=groups, group_title=group_title, verdicts=verdicts
        ),
        "proportions_heatmap": proportions_heatmap_figure(
            props, meaning=result.meaning, order=order, verdicts=verdicts
        ),
    }
    if groups is not None:
        figures["fractions_by_group"] = group_boxplots_figure(
            props, groups, meaning=result.meaning, group_title=group_title
        )
    pairs = measured_pairs(analysis, measured, mapping)
    if pairs is not None:
        figures["estimated_vs_measured"] = measured_scatter_figure(
            pairs, agreement_table(pairs), meaning=result.meaning
        )
    if analysis.intervals is not None:
        figures["composition_intervals"] = proportion_intervals_figure(
            with_display_names(analysis.intervals, names, column="cell_type"),
            meaning=result.meaning,
            order=order,
            n_resamples=analysis.options.bootstrap,
            verdicts=verdicts,
        )
    figures["residual_heatmap"] = residual_figure(analysis)
    return figures

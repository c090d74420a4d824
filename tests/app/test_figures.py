"""deconv_core.figures: pure table → figure functions, their limits and their text safety."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deconv_core import bootstrap_intervals, deconvolve, explain_gene, load_signature
from deconv_core.agreement import agreement_table
from deconv_core.deconvolve import marker_genes
from deconv_core.figures import (
    LEGEND_ROW,
    MAX_EXPLAINED_SHARE,
    MAX_HEATMAP_SAMPLES,
    MAX_TEXT_CELLS,
    OTHER_COLOR,
    SUBTITLE_WIDTH,
    cell_type_colors,
    figure_config,
    gene_explanation_figure,
    group_boxplots_figure,
    measured_scatter_figure,
    observed_vs_fitted_figure,
    plain,
    proportion_intervals_figure,
    proportions_bar_figure,
    proportions_heatmap_figure,
    residual_heatmap_figure,
    signature_heatmap_figure,
)
from deconv_core.qc import standardised_residuals
from deconv_core.thresholds import SMALL_COHORT
from tests.conftest import planted_mixtures

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def result():
    expr, _ = planted_mixtures(8, noise=0.1, seed=2)
    return deconvolve(expr, load_signature("TIL10"), mode="absolute")


def _random_proportions(n: int, k: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.dirichlet(np.ones(k), size=n)
    return pd.DataFrame(
        values, index=[f"S{i}" for i in range(n)], columns=[f"type{j}" for j in range(k)]
    )


def test_figures_module_imports_plotly_but_never_streamlit():
    code = (
        "import sys, deconv_core.figures; "
        "assert 'plotly' in sys.modules; "
        "assert not any(m == 'streamlit' or m.startswith('streamlit.') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_stacked_bars_one_trace_per_cell_type_and_panel(result):
    props = result.proportions
    groups = pd.Series({s: "A" if i < 5 else "B" for i, s in enumerate(props.index)})
    fig = proportions_bar_figure(props, meaning=result.meaning, groups=groups, sort_by="NK.cells")
    assert fig.layout.barmode == "stack"
    assert len(fig.data) == 2 * props.shape[1]
    names = [t.name for t in fig.data if t.showlegend]
    assert names == list(props.columns)
    assert fig.data[-1].marker.color == OTHER_COLOR  # 'other' is grey
    # every bar's values are the proportions, sample by sample
    first = fig.data[0]
    assert np.allclose(first.y, props.loc[list(first.x), props.columns[0]].to_numpy())
    assert "Absolute fractions" in fig.layout.title.subtitle.text
    assert "Sorted by NK.cells" in fig.layout.title.subtitle.text.replace("<br>", " ")


def test_large_cohorts_hide_sample_names_and_cell_text():
    props = _random_proportions(1000)
    bar = proportions_bar_figure(props, meaning="m")
    assert bar.layout.xaxis.showticklabels is False
    assert "hidden for 1000 samples" in bar.layout.title.subtitle.text
    heat = proportions_heatmap_figure(props, meaning="m")
    assert heat.data[0].texttemplate is None
    assert "values shown on hover" in heat.layout.title.subtitle.text
    small = proportions_heatmap_figure(_random_proportions(MAX_TEXT_CELLS // 10), meaning="m")
    assert small.data[0].texttemplate


def test_residual_heatmap_limits_samples_and_annotates_genes(result):
    z = standardised_residuals(result)
    marks = marker_genes(result.signature_matrix)
    fig = residual_heatmap_figure(z, marks, gene_order="cluster", sample_order="cluster")
    strip, main = fig.data[0], fig.data[1]
    assert len(strip.y) == len(main.y) == z.shape[0]
    assert sorted(main.x) == sorted(z.columns)
    assert main.zmid == 0
    legend = {t.name for t in fig.data[2:]}
    assert legend == set(result.signature_matrix.columns)
    wide = pd.DataFrame(
        np.zeros((3, MAX_HEATMAP_SAMPLES + 1)),
        index=list(z.index[:3]),
        columns=[f"s{i}" for i in range(MAX_HEATMAP_SAMPLES + 1)],
    )
    with pytest.raises(ValueError, match="at most"):
        residual_heatmap_figure(wide, marks)


def test_signature_heatmap_marks_genes_missing_from_the_data():
    sig = load_signature("TIL10").matrix
    found = list(sig.index[:100])
    fig = signature_heatmap_figure(sig, found=found, title="TIL10")
    strip, heat = fig.data
    assert int(np.asarray(strip.z).sum()) == 100
    assert np.nanmax(np.asarray(heat.z, dtype=float)) == pytest.approx(1.0)
    assert "100 of 170 genes found" in fig.layout.title.subtitle.text


def test_observed_vs_fitted_labels_the_largest_misses(result):
    z = standardised_residuals(result)
    sample = result.fit.index[0]
    fig = observed_vs_fitted_figure(
        result.observed[sample],
        result.fitted[sample],
        marker_genes(result.signature_matrix),
        sample=sample,
        z=z[sample],
        n_labels=5,
    )
    assert len(fig.layout.annotations) == 5
    top = z[sample].abs().sort_values(ascending=False).index[:5]
    assert {a.text for a in fig.layout.annotations} == set(top)


def test_user_text_is_escaped_everywhere_plotly_reads_markup():
    evil = '<a href="javascript:alert(1)">x</a>'
    props = pd.DataFrame({evil: [0.4, 0.6], "B": [0.6, 0.4]}, index=[evil + "s", "%{y}"])
    groups = pd.Series({evil + "s": "<b>g</b>", "%{y}": "<b>g</b>"})
    figures = [
        proportions_bar_figure(props, meaning="m", groups=groups, sort_by=evil),
        proportions_heatmap_figure(props, meaning="m"),
        group_boxplots_figure(props, groups, meaning="m", group_title=evil),
    ]
    for fig in figures:
        text = json.dumps(fig.to_plotly_json(), default=str)
        assert "<a href" not in text and "<b>g</b>" not in text
        assert "&lt;a href" in text
        # user text never becomes part of a hover template
        for trace in fig.data:
            template = trace.hovertemplate or ""
            assert "javascript" not in template and "%{y}s" not in template
    assert plain("<b>&") == "&lt;b&gt;&amp;"


def test_figure_config_keeps_everything_local():
    config = figure_config("my chart/1", image_format="svg")
    assert config["showSendToCloud"] is False and config["plotlyServerURL"] == ""
    assert "sendChartToCloud" in config["modeBarButtonsToRemove"]
    assert config["toImageButtonOptions"] == {"format": "svg", "filename": "my_chart_1", "scale": 2}
    with pytest.raises(ValueError, match="Unknown image format"):
        figure_config("x", image_format="jpeg")


def test_cell_type_colors_never_grey_for_a_cell_type():
    colors = cell_type_colors([*load_signature("TIL10").cell_types, "other"])
    assert colors["other"] == OTHER_COLOR
    assert len(set(colors.values())) == len(colors)


def test_measured_scatter_names_each_category_with_its_scores():
    pairs = pd.DataFrame(
        {
            "sample": ["s1", "s2", "s3", "s1", "s2"],
            "category": ["AB", "AB", "AB", "A", "A"],
            "estimated": [0.2, 0.3, 0.4, 0.1, 0.3],
            "measured": [0.2, 0.3, 0.4, 0.1, 0.2],
        }
    )
    fig = measured_scatter_figure(pairs, agreement_table(pairs), meaning="m")
    names = {t.name for t in fig.data}
    # n beside every r, the caution below SMALL_COHORT, RMSE in percent like the tables
    assert f"AB (r = 1.00, n = 3, too few for r (< {SMALL_COHORT}), RMSE 0.0 pp)" in names
    assert any(n.startswith("A (r = n/a, n = 2") and n.endswith("RMSE 7.1 pp)") for n in names)
    assert fig.layout.xaxis.tickformat == fig.layout.yaxis.tickformat == ".1%"


def test_every_proportion_axis_reads_percent_with_one_decimal(result):
    props = result.proportions
    groups = pd.Series(["a", "b"] * (len(props) // 2) + ["a"] * (len(props) % 2), index=props.index)
    boxes = group_boxplots_figure(props, groups, meaning="m", group_title="arm")
    bars = proportions_bar_figure(props, meaning="m")
    axes = [f.layout[k] for f in (boxes, bars) for k in f.layout.to_plotly_json() if "yaxis" in k]
    assert axes and {a.tickformat for a in axes} == {".1%"}


def test_interval_strips_show_each_estimate_with_its_interval(result):
    intervals = bootstrap_intervals(result, load_signature("TIL10"), n_resamples=30)
    order = list(result.proportions.index[::-1])
    fig = proportion_intervals_figure(intervals, meaning="m", order=order, n_resamples=30)
    assert [t.name for t in fig.data] == list(result.proportions.columns)  # one strip per type
    for trace in fig.data:
        assert list(trace.x) == order
        part = intervals[intervals["cell_type"] == trace.name].set_index("sample").loc[order]
        np.testing.assert_allclose(trace.y, part["estimate"])
        np.testing.assert_allclose(np.asarray(trace.y) + trace.error_y.array, part["upper"])
        np.testing.assert_allclose(np.asarray(trace.y) - trace.error_y.arrayminus, part["lower"])
    subtitle = fig.layout.title.subtitle.text.replace("<br>", " ")
    assert "95% confidence interval" in subtitle and "30 resamples" in subtitle


def test_gene_explainer_bars_are_shares_of_the_measured_expression(result):
    explanation = explain_gene(result, "CD8B")
    cell_types = list(result.signature_matrix.columns)
    fig = gene_explanation_figure(explanation.summary, gene="CD8B", cell_types=cell_types)
    summary = explanation.summary
    totals = np.nansum([np.asarray(t.y, dtype=float) for t in fig.data], axis=0)
    expected = np.maximum(summary["fitted"] / summary["observed"], 1.0)
    np.testing.assert_allclose(totals, expected)  # 100% or, when over-predicted, the prediction
    assert fig.data[-1].name == "not explained"
    assert fig.layout.barmode == "stack"
    assert "100% of the CD8B expression measured" in fig.layout.title.subtitle.text
    assert fig.layout.yaxis.range[1] <= MAX_EXPLAINED_SHARE * 1.08 + 1e-9


def test_gene_explainer_leaves_a_sample_without_measured_expression_blank():
    # GSE107572 on the QC page: a gene measured as 0 in one sample raised a RuntimeWarning.
    summary = pd.DataFrame(
        {"observed": [10.0, 0.0], "fitted": [8.0, 0.5], "B.cells": [8.0, 0.5]}, index=["s1", "s2"]
    )
    fig = gene_explanation_figure(summary, gene="CXCL2", cell_types=["B.cells"])
    rest = np.asarray(fig.data[-1].y, dtype=float)
    assert rest[0] == pytest.approx(0.2) and np.isnan(rest[1])


def test_new_charts_escape_user_text():
    evil = "<b>x</b>"
    intervals = pd.DataFrame(
        {
            "sample": [evil, "s2"],
            "cell_type": [evil, evil],
            "estimate": [0.2, 0.3],
            "lower": [0.1, 0.2],
            "upper": [0.3, 0.4],
        }
    )
    summary = pd.DataFrame(
        {"observed": [10.0, 5.0], "fitted": [8.0, 6.0], evil: [8.0, 6.0]}, index=[evil, "s2"]
    )
    figures = [
        proportion_intervals_figure(intervals, meaning="m"),
        gene_explanation_figure(summary, gene=evil, cell_types=[evil]),
    ]
    for fig in figures:
        text = json.dumps(fig.to_plotly_json(), default=str)
        assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text


def test_no_subtitle_line_is_longer_than_a_chart_shows(result):
    props = result.proportions
    sample = str(props.index[0])
    figs = [
        proportions_bar_figure(props, meaning="m " * 200),
        proportions_heatmap_figure(props, meaning="A long sentence that says what it means. " * 9),
        observed_vs_fitted_figure(
            result.observed[sample],
            result.fitted[sample],
            marker_genes(result.signature_matrix),
            sample=sample,
        ),
    ]
    for fig in figs:
        lines = str(fig.layout.title.subtitle.text).split("<br>")
        assert max(len(line) for line in lines) <= SUBTITLE_WIDTH, lines


def test_a_22_type_legend_fits_without_scrolling_in_distinct_colours():
    from tests.core.test_palette import LM22

    rng = np.random.default_rng(1)
    props = pd.DataFrame(rng.dirichlet(np.ones(22), 6), columns=LM22, index=list("abcdef"))
    verdicts = pd.Series(["good", "poor", "check", "good", "good", "good"], index=props.index)
    for fig in (
        proportions_bar_figure(props, meaning="m", verdicts=verdicts),
        group_boxplots_figure(props, pd.Series(list("xxxyyy"), index=props.index), meaning="m"),
    ):
        entries = {
            t.legendgroup or t.name for t in fig.data if t.showlegend is not False and t.name
        }
        plot = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
        assert plot >= LEGEND_ROW * len(entries), (plot, len(entries))
    bars = proportions_bar_figure(props, meaning="m")
    assert len({t.marker.color for t in bars.data}) == 22


def test_gene_heatmaps_name_every_gene_legibly(result):
    """170 TIL10 genes: each row at least GENE_ROW_PX tall, labels GENE_LABEL_PX (QA: 7 px)."""
    from deconv_core.figures import GENE_LABEL_PX, GENE_ROW_PX

    sig = load_signature("TIL10").matrix
    z = standardised_residuals(result)
    for fig, genes in (
        (signature_heatmap_figure(sig, title="TIL10"), len(sig)),
        (residual_heatmap_figure(z, marker_genes(result.signature_matrix)), z.shape[0]),
    ):
        plot = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
        assert genes > 100 and plot / genes >= GENE_ROW_PX - 1
        assert fig.layout.yaxis.tickfont.size == GENE_LABEL_PX >= 10
        assert fig.layout.yaxis.showticklabels

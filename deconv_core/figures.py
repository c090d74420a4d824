"""Charts of a deconvolution: pure functions from labelled tables to plotly figures.

Computing and drawing are separate (as in scanpy): other modules build the tidy
tables a chart shows (orders and clustering in :mod:`deconv_core.ordering`,
comparisons with measured fractions in :mod:`deconv_core.agreement`, residuals in
:mod:`deconv_core.qc`), and each ``*_figure`` function here only turns tables into a
:class:`plotly.graph_objects.Figure`.  The
functions never read files, never touch global state and never import
streamlit, so the dashboard, a notebook or a report can call them alike.

This is the only core module that imports plotly.

Text safety
    plotly.js interprets a subset of HTML in every label (``<b>``, ``<br>``,
    ``<a href=...>``) and ``%{...}`` in hover templates.  Every name that
    comes from a user's file (samples, genes, cell types, groups, measured
    categories) is therefore HTML-escaped with :func:`plain` and passed as
    data (``customdata``), never spliced into a template; plotly shows the
    escaped entities as the literal characters.

Size limits
    Charts stay responsive for 1,000 samples: values are printed in heatmap
    cells only up to :data:`MAX_TEXT_CELLS` cells, sample names are shown as
    tick labels only up to :data:`MAX_TICK_LABELS` samples (hover shows them
    always), and residual heatmaps take at most
    :data:`MAX_HEATMAP_SAMPLES` samples; the caller chooses which and says so.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from deconv_core.options import IMAGE_FORMATS, check_choice

# MAX_HEATMAP_SAMPLES (most residual-heatmap columns) lives with the code that chooses
# the samples; re-exported here for the figures' callers.
from deconv_core.ordering import (
    MAX_HEATMAP_SAMPLES,
    group_labels,
    order_samples,
    residual_gene_order,
    residual_sample_order,
    signature_gene_order,
)

# OTHER_COLOR lives with the palette; re-exported for the figures' callers.
from deconv_core.palette import OTHER_COLOR, PALETTE, assign_colors
from deconv_core.text import visible
from deconv_core.thresholds import SMALL_COHORT

__all__ = [
    "IMAGE_FORMATS",
    "MAX_HEATMAP_SAMPLES",
    "MAX_TEXT_CELLS",
    "MAX_TICK_LABELS",
    "GENE_LABEL_PX",
    "GENE_ROW_PX",
    "OTHER_COLOR",
    "PERCENT_AXIS",
    "LEGEND_ROW",
    "MAX_EXPLAINED_SHARE",
    "RESIDUAL_LIMIT",
    "SUBTITLE_WIDTH",
    "UNEXPLAINED_COLOR",
    "cell_type_colors",
    "figure_config",
    "gene_explanation_figure",
    "group_boxplots_figure",
    "measured_scatter_figure",
    "methods_figure",
    "observed_vs_fitted_figure",
    "plain",
    "proportion_intervals_figure",
    "proportions_bar_figure",
    "proportions_heatmap_figure",
    "residual_heatmap_figure",
    "signature_heatmap_figure",
]

#: Heatmaps print their values in the cells only up to this many cells.
MAX_TEXT_CELLS = 400
#: Sample names are written under the x axis only up to this many samples.
MAX_TICK_LABELS = 80
#: Gene rows of the heatmaps: label size and row pitch (px).  Every gene is named up to 250
#: genes; at 9 px rows and 8 px labels they were unreadable on a projector (QA, 150 genes).
GENE_LABEL_PX = 10
GENE_ROW_PX = 12
# Tallest gene heatmap (250 named genes at GENE_ROW_PX, plus title and axes).
_GENE_ROWS_MAX_PX = 3200
#: Standardised residuals are drawn clipped to ± this value.
RESIDUAL_LIMIT = 4.0
#: Tick format of every proportion axis and colour bar: percent with one decimal, as in the
#: hover texts and the dashboard's tables (a two-decimal range must not read "2%, 2%, 1%").
PERCENT_AXIS = ".1%"
#: Longest subtitle line, in characters (about 600 px at the subtitle's 12 px font, so it fits
#: a half-width chart on a 1400 px screen).
SUBTITLE_WIDTH = 100
#: Colour of the part of a gene's expression no cell type accounts for.
UNEXPLAINED_COLOR = "#d9d9d9"
#: The gene explainer draws shares of the measured expression up to this value.
MAX_EXPLAINED_SHARE = 2.0

_FONT = {"family": "Source Sans Pro, Arial, sans-serif", "size": 13}
_TEMPLATE = "plotly_white"


def plain(text: object) -> str:
    """Return ``text`` escaped so plotly shows it literally, never as markup.

    Parameters
    ----------
    text
        Any user-provided label (sample, gene, cell-type or group name).

    Returns
    -------
    str
        ``str(text)`` with invisible and direction-changing characters shown
        as code points (:func:`deconv_core.text.visible`) and ``&``, ``<`` and
        ``>`` replaced by HTML entities.
    """
    return html.escape(visible(text), quote=False)


def _plain_list(values: Sequence[object] | pd.Index) -> list[str]:
    return [plain(v) for v in values]


def cell_type_colors(cell_types: Sequence[str]) -> dict[str, str]:
    """A fixed colour per cell type or group, by name (``other`` is grey).

    Parameters
    ----------
    cell_types
        Cell-type or group names shown together.

    Returns
    -------
    dict
        Name → CSS colour from :func:`deconv_core.palette.assign_colors`: the
        same name gets the same colour in every chart, whatever its position.
    """
    return assign_colors(cell_types)


def figure_config(filename: str, *, image_format: str = "png") -> dict:
    """Plotly ``config`` for every chart: local image download, nothing sent anywhere.

    Parameters
    ----------
    filename
        File name (without extension) of the modebar's image download.
    image_format
        ``"png"`` or ``"svg"`` (see :data:`IMAGE_FORMATS`).

    Returns
    -------
    dict
        For ``st.plotly_chart(config=...)`` and ``Figure.to_html(config=...)``.
        plotly.js 4 shows a "Share chart" button that uploads the data to
        Plotly Cloud by default; it is switched off and its server URL
        emptied, because this tool must not send data off the machine.
    """
    check_choice("image format", image_format)
    safe_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in filename) or "chart"
    return {
        "displaylogo": False,
        "showSendToCloud": False,
        "showEditInChartStudio": False,
        "showLink": False,
        "plotlyServerURL": "",
        "modeBarButtonsToRemove": ["sendChartToCloud", "lasso2d", "select2d"],
        "toImageButtonOptions": {"format": image_format, "filename": safe_name, "scale": 2},
        "responsive": True,
    }


#: Height of one legend entry in pixels (plotly.js at the 13 px font, with its gap).
LEGEND_ROW = 22
_BOTTOM = 60


def _legend_entries(fig: go.Figure) -> int:
    """How many entries a vertical legend lists (0 for a horizontal one)."""
    if fig.layout.legend.orientation == "h" or fig.layout.showlegend is False:
        return 0
    shown = {
        t.legendgroup or t.name
        for t in fig.data
        if t.type in {"bar", "scatter", "box"} and t.showlegend is not False and t.name
    }
    return len(shown)


def _layout(
    fig: go.Figure,
    *,
    title: str,
    subtitle: str,
    height: int,
    panel_titles: bool = False,
    extra_top: int = 0,
) -> go.Figure:
    # Room for the title, each subtitle line, subplot titles and top tick labels.
    lines = subtitle.count("<br>") + 1 if subtitle else 0
    top = 56 + 17 * lines + (26 if panel_titles else 0) + extra_top
    # A vertical legend taller than the plot scrolls; give every entry its row instead.
    total = max(height + top - 90, top + _BOTTOM + LEGEND_ROW * _legend_entries(fig))
    fig.update_layout(
        template=_TEMPLATE,
        font=_FONT,
        height=total,
        title={
            "text": title,
            "subtitle": {"text": subtitle, "font": {"size": 12, "color": "#555"}},
            "x": 0,
            "xref": "container",
            "xanchor": "left",
            "pad": {"l": 10},
            "y": 1 - 14 / total,
            "yanchor": "top",
            "yref": "container",
        },
        margin={"l": 60, "r": 20, "t": top, "b": _BOTTOM},
        hoverlabel={"font": {"size": 12}},
    )
    return fig


def _wrap(text: str, width: int = SUBTITLE_WIDTH) -> str:
    """Break a long sentence into ``<br>``-separated lines (for subtitles), between words.

    plotly never wraps a title: a longer line is cut at the chart's edge, mid-word.
    """
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return "<br>".join(plain(x) for x in lines)


#: How each verdict that needs attention is marked on the charts (marker symbol, colour).
VERDICT_MARKS = {
    "poor": ("x", "#b2182b"),
    "check": ("circle-open", "#d08700"),
}
#: Height, as a fraction, at which the verdict marks sit above the bars.
_MARK_Y = 1.04
# The heatmap's row of verdict marks.
_VERDICT_ROW = "fit verdict"


def _verdict_marks(
    samples: Sequence[str], verdicts: pd.Series | None, y: object, *, show_legend: bool
) -> list[go.Scatter]:
    """Marker traces flagging the samples whose verdict is poor or check.

    ``y`` is where the marks sit (a number or a category); one trace per verdict
    that occurs, named "poor fit" / "check fit" so the legend explains them.
    """
    if verdicts is None:
        return []
    lookup = {str(k): str(v) for k, v in verdicts.items()}
    traces = []
    for verdict, (symbol, color) in VERDICT_MARKS.items():
        marked = [s for s in samples if lookup.get(str(s)) == verdict]
        if not marked:
            continue
        x = _plain_list(marked)
        traces.append(
            go.Scatter(
                x=x,
                y=[y] * len(x),
                mode="markers",
                name=f"{verdict} fit",
                legendgroup=f"verdict_{verdict}",
                showlegend=show_legend,
                marker={"symbol": symbol, "color": color, "size": 9, "line": {"width": 2}},
                customdata=x,
                hovertemplate=f"<b>%{{customdata}}</b><br>verdict: {verdict} (see the table)"
                "<extra></extra>",
                cliponaxis=False,
            )
        )
    return traces


def proportions_bar_figure(
    proportions: pd.DataFrame,
    *,
    meaning: str,
    groups: pd.Series | None = None,
    sort_by: str | None = None,
    group_title: str = "group",
    verdicts: pd.Series | None = None,
) -> go.Figure:
    """Stacked bars of each sample's composition.

    Parameters
    ----------
    proportions
        Samples × cell types (plus ``other`` in absolute mode), fractions in
        [0, 1]; each row sums to at most 1.
    meaning
        Sentence saying what the fractions are (``DeconvResult.meaning``),
        shown under the title.
    groups
        Sample → group label; each group gets its own panel.
    sort_by
        Cell type to sort samples by within each group (largest first).
    group_title
        Name of the grouping (e.g. the metadata column), for the hover text.
    verdicts
        Sample → verdict (good / check / poor, :mod:`deconv_core.verdict`);
        poor and check samples get a mark above their bar
        (:data:`VERDICT_MARKS`).  None: no marks.

    Returns
    -------
    plotly.graph_objects.Figure
        One bar trace per cell type, stacked; hover shows sample, cell type
        and percentage; then the verdict marks.
    """
    order = order_samples(proportions, sort_by=sort_by, groups=groups)
    props = proportions.copy()
    props.index = [str(s) for s in props.index]
    props = props.loc[order]
    cell_types = [str(c) for c in props.columns]
    colors = cell_type_colors(cell_types)
    labels = group_labels(order, groups) if groups is not None else ["all"] * len(order)
    panels = list(dict.fromkeys(labels))
    fig = _panel_subplots(panels, [labels.count(p) for p in panels], titled=groups is not None)
    group_hover = f"<br>{plain(group_title)}: %{{customdata[2]}}" if groups is not None else ""
    labels_arr = np.asarray(labels, dtype=object)
    for col, panel in enumerate(panels, start=1):
        members = [s for s, g in zip(order, labels_arr, strict=True) if g == panel]
        bars = _composition_bars(
            props, members, cell_types, colors, panel, group_hover, show_legend=col == 1
        )
        for trace in bars:
            fig.add_trace(trace, row=1, col=col)
        for trace in _verdict_marks(members, verdicts, _MARK_Y, show_legend=col == 1):
            fig.add_trace(trace, row=1, col=col)
    n = len(order)
    show_ticks = n <= MAX_TICK_LABELS
    marked = verdicts is not None and bool((verdicts.astype(str) != "good").any())
    fig.update_xaxes(type="category", showticklabels=show_ticks, tickangle=-60 if n > 12 else 0)
    top = _MARK_Y + 0.04 if marked else 1.0001
    fig.update_yaxes(tickformat=PERCENT_AXIS, range=[0, top], tickvals=[0, 0.25, 0.5, 0.75, 1.0])
    fig.update_yaxes(title_text="fraction", row=1, col=1)
    _stack_bars(fig, n)
    note = "" if show_ticks else f" Sample names hidden for {n} samples; hover for names."
    sort_note = f" Sorted by {sort_by}." if sort_by else ""
    if marked:
        note += " Marks above the bars: samples whose fit is poor (×) or to check (○)."
    return _layout(
        fig,
        title="Cell-type composition per sample",
        subtitle=_wrap(meaning + sort_note + note),
        height=520 if show_ticks else 460,
        panel_titles=groups is not None,
    )


def _panel_subplots(panels: list[str], counts: list[int], *, titled: bool) -> go.Figure:
    """One column of subplots per group, each as wide as its number of samples."""
    return make_subplots(
        rows=1,
        cols=len(panels),
        shared_yaxes=True,
        column_widths=[max(c, 1) for c in counts],
        horizontal_spacing=0.01 if len(panels) > 1 else 0.0,
        subplot_titles=[f"{plain(p)} (n={c})" for p, c in zip(panels, counts, strict=True)]
        if titled
        else None,
    )


def _composition_bars(
    props: pd.DataFrame,
    members: list[str],
    cell_types: list[str],
    colors: dict[str, str],
    panel: str,
    group_hover: str,
    *,
    show_legend: bool,
) -> list[go.Bar]:
    """One bar trace per cell type for the samples of one panel (stacked by the layout)."""
    x = _plain_list(members)
    bars = []
    for cell_type in cell_types:
        values = props.loc[members, cell_type].to_numpy(dtype=float)
        custom = np.column_stack([x, [plain(cell_type)] * len(x), [plain(panel)] * len(x)])
        bars.append(
            go.Bar(
                x=x,
                y=values,
                name=plain(cell_type),
                legendgroup=plain(cell_type),
                showlegend=show_legend,
                marker={"color": colors[cell_type], "line": {"width": 0}},
                customdata=custom,
                hovertemplate=(
                    "<b>%{customdata[0]}</b><br>%{customdata[1]}: %{y:.1%}"
                    + group_hover
                    + "<extra></extra>"
                ),
            )
        )
    return bars


def _stack_bars(fig: go.Figure, n_samples: int) -> None:
    """Stack the bar traces, with no gaps once the bars get thin (in place)."""
    fig.update_layout(
        barmode="stack", bargap=0.12 if n_samples < 200 else 0.0, legend={"traceorder": "normal"}
    )


def proportion_intervals_figure(
    intervals: pd.DataFrame,
    *,
    meaning: str,
    order: Sequence[str] | None = None,
    level: float = 0.95,
    n_resamples: int | None = None,
    verdicts: pd.Series | None = None,
) -> go.Figure:
    """Every estimate with its confidence interval: one strip per cell type.

    Stacked bars cannot show the uncertainty of each part legibly (a whisker on
    a segment's top mixes its own interval with the segments below it), so
    each cell type gets a strip of its own: a dot per sample at the estimate
    and a whisker over the interval.

    Parameters
    ----------
    intervals
        Tidy table of :func:`deconv_core.qc.bootstrap_intervals`: ``sample``,
        ``cell_type``, ``estimate``, ``lower``, ``upper`` (fractions).
    meaning
        Sentence saying what the fractions are, shown under the title.
    order
        Sample order along the x axis (default: order of first appearance).
    level
        Confidence level of the intervals, for the subtitle.
    n_resamples
        Bootstrap resamples behind the intervals, for the subtitle.
    verdicts
        Sample → verdict; poor and check samples are marked above the first
        strip (:data:`VERDICT_MARKS`).  None: no marks.

    Returns
    -------
    plotly.graph_objects.Figure
        One row per cell type (shared sample axis, own fraction axis), one
        scatter trace per row with asymmetric ``error_y``; then the verdict marks.
    """
    table = intervals.copy()
    table["sample"] = table["sample"].astype(str)
    table["cell_type"] = table["cell_type"].astype(str)
    samples = [str(s) for s in order] if order is not None else list(dict.fromkeys(table["sample"]))
    cell_types = list(dict.fromkeys(table["cell_type"]))
    colors = cell_type_colors(cell_types)
    rows = max(len(cell_types), 1)
    row_px = 92 if rows <= 12 else 70
    plot_px = rows * row_px
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=min(36 / plot_px, 0.9 / max(rows - 1, 1)),
        subplot_titles=_plain_list(cell_types),
    )
    x = _plain_list(samples)
    for row, cell_type in enumerate(cell_types, start=1):
        part = table[table["cell_type"] == cell_type].set_index("sample").reindex(samples)
        fig.add_trace(_interval_trace(part, x, cell_type, colors[cell_type], level), row=row, col=1)
    if cell_types:
        first = table.loc[table["cell_type"] == cell_types[0], "upper"].astype(float)
        top = float(np.nanmax(first)) if first.notna().any() else 0.0
        for trace in _verdict_marks(samples, verdicts, max(top, 0.01) * 1.15, show_legend=True):
            fig.add_trace(trace, row=1, col=1)
    n = len(samples)
    show_ticks = n <= MAX_TICK_LABELS
    fig.update_xaxes(type="category", showticklabels=False, showgrid=False)
    fig.update_xaxes(showticklabels=show_ticks, tickangle=-60 if n > 12 else 0, row=rows, col=1)
    fig.update_yaxes(tickformat=PERCENT_AXIS, rangemode="tozero", nticks=3, showgrid=True)
    fig.update_annotations(x=0, xanchor="left", yshift=4, font={"size": 12})
    return _layout(
        fig,
        title=f"Estimates with {level:.0%} confidence intervals",
        subtitle=_wrap(_interval_subtitle(meaning, level, n_resamples, n)),
        height=plot_px + (150 if show_ticks else 90),
        panel_titles=True,
    )


def _interval_trace(
    part: pd.DataFrame, x: list[str], cell_type: str, color: str, level: float
) -> go.Scatter:
    """One cell type's strip: a dot per sample at the estimate, a whisker over its interval."""
    est = part["estimate"].to_numpy(dtype=float)
    low = part["lower"].to_numpy(dtype=float)
    high = part["upper"].to_numpy(dtype=float)
    custom = np.column_stack([x, [plain(cell_type)] * len(x), low, high])
    return go.Scatter(
        x=x,
        y=est,
        mode="markers",
        name=plain(cell_type),
        showlegend=False,
        marker={"color": color, "size": 7 if len(x) <= 200 else 4},
        error_y={
            "type": "data",
            "symmetric": False,
            "array": np.clip(high - est, 0, None),
            "arrayminus": np.clip(est - low, 0, None),
            "color": color,
            "thickness": 1.5,
            "width": 3 if len(x) <= 80 else 0,
        },
        customdata=custom,
        hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}: %{y:.1%}"
        f"<br>{level:.0%} interval: "
        "%{customdata[2]:.1%} – %{customdata[3]:.1%}<extra></extra>",
    )


def _interval_subtitle(meaning: str, level: float, n_resamples: int | None, n: int) -> str:
    """What the dots and whiskers of the interval strips mean, and what they do not cover."""
    resampled = f" ({n_resamples} resamples)" if n_resamples else ""
    subtitle = (
        f"{meaning} Dot: the estimate; whisker: its {level:.0%} confidence interval from "
        f"resampling the signature genes{resampled}. A long whisker means the estimate depends "
        "on which genes happen to describe that cell type; it does not cover a wrong signature "
        "or cells the signature lacks."
    )
    if n > MAX_TICK_LABELS:
        subtitle += f" Sample names hidden for {n} samples; hover for names."
    return subtitle


def proportions_heatmap_figure(
    proportions: pd.DataFrame,
    *,
    meaning: str,
    order: Sequence[str] | None = None,
    verdicts: pd.Series | None = None,
) -> go.Figure:
    """Heatmap of proportions: cell types (rows) × samples (columns).

    Parameters
    ----------
    proportions
        Samples × cell types, fractions in [0, 1].
    meaning
        Sentence saying what the fractions are, shown under the title.
    order
        Sample order for the columns (default: input order).
    verdicts
        Sample → verdict; poor and check samples are marked in a row
        ``fit verdict`` above the cell types.  None: no row.

    Returns
    -------
    plotly.graph_objects.Figure
        Values are printed in the cells only when there are at most
        :data:`MAX_TEXT_CELLS` cells.
    """
    props = proportions.copy()
    props.index = [str(s) for s in props.index]
    if order is not None:
        props = props.loc[[str(s) for s in order]]
    samples = list(props.index)
    cell_types = [str(c) for c in props.columns]
    z = props.to_numpy(dtype=float).T
    x, y = _plain_list(samples), _plain_list(cell_types)
    custom = np.dstack(np.meshgrid(x, y))
    with_text = z.size <= MAX_TEXT_CELLS
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=y,
            customdata=custom,
            colorscale="YlGnBu",
            zmin=0,
            zmax=max(float(np.nanmax(z)) if np.isfinite(z).any() else 1.0, 1e-9),
            colorbar={"title": {"text": "fraction"}, "tickformat": PERCENT_AXIS},
            texttemplate="%{z:.0%}" if with_text else None,
            textfont={"size": 10},
            hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}: %{z:.1%}<extra></extra>",
            xgap=1 if len(samples) <= 100 else 0,
            ygap=1,
        )
    )
    marks = _verdict_marks(samples, verdicts, _VERDICT_ROW, show_legend=True)
    for trace in marks:
        fig.add_trace(trace)
    n = len(samples)
    show_ticks = n <= MAX_TICK_LABELS
    fig.update_xaxes(type="category", showticklabels=show_ticks, tickangle=-60 if n > 12 else 0)
    rows = [_VERDICT_ROW, *y] if marks else y
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=rows[::-1])
    if marks:
        fig.update_layout(legend={"orientation": "h", "y": -0.15})
    notes = []
    if not with_text:
        notes.append("values shown on hover")
    if not show_ticks:
        notes.append(f"sample names hidden for {n} samples")
    note = f" ({'; '.join(notes)})" if notes else ""
    return _layout(
        fig,
        title="Proportions heatmap",
        subtitle=_wrap(meaning) + note,
        height=max(320, 28 * len(cell_types) + 200),
    )


def group_boxplots_figure(
    proportions: pd.DataFrame, groups: pd.Series, *, meaning: str, group_title: str = "group"
) -> go.Figure:
    """Box plots of each cell type's fraction by group, one panel per cell type.

    Parameters
    ----------
    proportions
        Samples × cell types, fractions in [0, 1].
    groups
        Sample → group label (samples without one are shown as
        ``"(no group)"``).
    meaning
        Sentence saying what the fractions are, shown under the title.
    group_title
        Name of the grouping, shown in the subtitle and hover.

    Returns
    -------
    plotly.graph_objects.Figure
        Every sample is drawn as a point when there are at most 300.
    """
    props = proportions.copy()
    props.index = [str(s) for s in props.index]
    labels = group_labels(props.index, groups)
    panels = list(dict.fromkeys(labels))
    cell_types = [str(c) for c in props.columns]
    ncols = min(5, len(cell_types))
    nrows = math.ceil(len(cell_types) / ncols)
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        subplot_titles=_plain_list(cell_types),
        vertical_spacing=min(0.12, 0.5 / max(nrows, 1)),
        horizontal_spacing=0.04,
    )
    colors = assign_colors(panels)  # by the group's name: the same on every page
    show_points = len(props) <= 300
    labels_arr = np.asarray(labels, dtype=object)
    for i, cell_type in enumerate(cell_types):
        row, col = divmod(i, ncols)
        for group in panels:
            mask = labels_arr == group
            samples = _plain_list(props.index[mask])
            fig.add_trace(
                go.Box(
                    y=props.loc[mask, cell_type].to_numpy(dtype=float),
                    x=[plain(group)] * int(mask.sum()),
                    name=plain(group),
                    legendgroup=plain(group),
                    showlegend=i == 0,
                    marker={"color": colors[group], "size": 5},
                    boxpoints="all" if show_points else "outliers",
                    jitter=0.4,
                    pointpos=0,
                    customdata=np.column_stack([samples, [plain(group)] * len(samples)])
                    if samples
                    else None,
                    hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}: %{y:.1%}"
                    "<extra></extra>",
                ),
                row=row + 1,
                col=col + 1,
            )
    fig.update_xaxes(type="category", showticklabels=False)
    fig.update_yaxes(tickformat=PERCENT_AXIS, rangemode="tozero")
    fig.update_annotations(font={"size": 12})
    return _layout(
        fig,
        title=f"Fractions by {plain(group_title)}",
        subtitle=_wrap(meaning),
        height=150 + 230 * nrows,
        panel_titles=True,
    )


def _gene_rows(fig: go.Figure, n_genes: int) -> None:
    """Gene rows of a heatmap, top to bottom, each named on the first panel (in place).

    Every gene is named up to 250 (plotly would thin the labels otherwise); more are on hover.
    """
    fig.update_yaxes(type="category", autorange="reversed", showticklabels=False)
    fig.update_yaxes(
        showticklabels=n_genes <= 250,
        tickfont={"size": GENE_LABEL_PX},
        tickmode="linear",
        dtick=1,
        row=1,
        col=1,
    )


def signature_heatmap_figure(
    matrix: pd.DataFrame, *, found: Sequence[str] | None = None, title: str = "Signature"
) -> go.Figure:
    """Heatmap of a signature: genes (rows, grouped by the cell type they mark) × cell types.

    Parameters
    ----------
    matrix
        Genes × cell types, linear expression (e.g. TPM).
    found
        Signature genes present in the user's expression data; when given, a
        narrow strip left of the heatmap shows which genes the data covers.
    title
        Chart title (e.g. the signature's name).

    Returns
    -------
    plotly.graph_objects.Figure
        Colour is each gene's expression relative to its highest cell type
        (0–1, so the marker blocks stand out whatever the gene's level); hover
        shows the linear value.
    """
    cell_types = [str(c) for c in matrix.columns]
    genes = signature_gene_order(matrix)
    linear = matrix.loc[genes].to_numpy(dtype=float)
    y = _plain_list(genes)
    x = _plain_list(cell_types)
    n = len(genes)
    strip = found is not None
    fig = make_subplots(
        rows=1,
        cols=2 if strip else 1,
        shared_yaxes=True,
        column_widths=[0.06, 0.94] if strip else [1.0],
        horizontal_spacing=0.005,
    )
    if strip:
        present = _presence(genes, found)
        fig.add_trace(_presence_strip_trace(present, y), row=1, col=1)
    fig.add_trace(_signature_trace(linear, x, y), row=1, col=2 if strip else 1)
    fig.update_xaxes(type="category", tickangle=-45, side="top")
    _gene_rows(fig, n)
    subtitle = (
        f"{n} genes × {len(cell_types)} cell types, each gene scaled to its highest cell type; "
        "genes grouped by the cell type they mark."
    )
    if strip:
        n_found = int(present.sum())
        subtitle += (
            f" Left strip: {n_found} of {n} genes found in your data (green) or missing (red)."
        )
    if n > 250:
        subtitle += " Gene names on hover."
    return _layout(
        fig,
        title=plain(title),
        subtitle=_wrap(subtitle),
        height=int(min(_GENE_ROWS_MAX_PX, max(450, GENE_ROW_PX * n + 160))),
        extra_top=110,
    )


def _presence(genes: list[str], found: Sequence[str]) -> np.ndarray:
    """Genes × 1: 1.0 where the gene is among ``found`` (case-insensitive), else 0.0."""
    found_set = {str(g).upper() for g in found}
    return np.array([[1.0 if str(g).upper() in found_set else 0.0] for g in genes])


def _presence_strip_trace(present: np.ndarray, y: list[str]) -> go.Heatmap:
    """The narrow strip left of the signature heatmap: green found, red missing."""
    return go.Heatmap(
        z=present,
        x=["in data"],
        y=y,
        colorscale=[[0, "#e4572e"], [1, "#3fa34d"]],
        zmin=0,
        zmax=1,
        showscale=False,
        customdata=np.asarray([[g] for g in y], dtype=object),
        text=[["found" if p[0] else "missing"] for p in present],
        hovertemplate="<b>%{customdata}</b>: %{text} in your data<extra></extra>",
    )


def _signature_trace(linear: np.ndarray, x: list[str], y: list[str]) -> go.Heatmap:
    """Genes × cell types coloured by each gene's share of its maximum; hover: linear value."""
    z = linear / np.maximum(linear.max(axis=1, keepdims=True), 1e-12)
    custom = np.dstack(
        [
            np.tile(np.asarray(y, dtype=object)[:, None], (1, len(x))),
            np.tile(x, (len(y), 1)),
            linear,
        ]
    )
    return go.Heatmap(
        z=z,
        x=x,
        y=y,
        customdata=custom,
        colorscale="Viridis",
        zmin=0,
        zmax=1,
        colorbar={"title": {"text": "of gene's<br>maximum"}, "tickformat": PERCENT_AXIS},
        hovertemplate="<b>%{customdata[0]}</b> in %{customdata[1]}: %{customdata[2]:.4g}"
        " (%{z:.0%} of its maximum)<extra></extra>",
    )


def residual_heatmap_figure(
    z: pd.DataFrame,
    marks: pd.Series,
    *,
    gene_order: str = "cell type",
    sample_order: str | Sequence[str] = "input",
    note: str = "",
) -> go.Figure:
    """Heatmap of standardised residuals: signature genes × samples.

    Parameters
    ----------
    z
        Genes × samples, standardised residuals
        (:func:`deconv_core.qc.standardised_residuals`);
        at most :data:`MAX_HEATMAP_SAMPLES` columns (choose them beforehand).
    marks
        Gene → cell type it marks (:func:`deconv_core.deconvolve.marker_genes`).
    gene_order
        ``"cell type"`` (blocks of each cell type's genes, each sorted by mean
        residual) or ``"cluster"`` (hierarchical clustering of the genes).
    sample_order
        ``"input"``, ``"cluster"``, or an explicit list of samples.
    note
        Extra sentence for the subtitle (e.g. which samples were chosen).

    Returns
    -------
    plotly.graph_objects.Figure
        A narrow coloured strip left of the heatmap shows the cell type each
        gene marks; colours are clipped to ± :data:`RESIDUAL_LIMIT`.
    """
    if z.shape[1] > MAX_HEATMAP_SAMPLES:
        raise ValueError(
            f"The residual heatmap takes at most {MAX_HEATMAP_SAMPLES} samples, got {z.shape[1]}; "
            "choose the samples to show first."
        )
    table = z.copy()
    table.index = [str(g) for g in table.index]
    table.columns = [str(s) for s in table.columns]
    gene_marks = pd.Series([str(marks.get(g, "")) for g in table.index], index=table.index)
    cell_types = list(dict.fromkeys(str(m) for m in marks.to_numpy()))
    cell_types += [c for c in dict.fromkeys(gene_marks) if c not in cell_types]
    genes = residual_gene_order(table, gene_marks, cell_types, gene_order=gene_order)
    samples = residual_sample_order(table, sample_order)
    table = table.loc[genes, samples]
    colors = cell_type_colors(cell_types)
    y = _plain_list(genes)
    x = _plain_list(samples)
    fig = make_subplots(
        rows=1, cols=2, shared_yaxes=True, column_widths=[0.025, 0.975], horizontal_spacing=0.004
    )
    fig.add_trace(_mark_strip_trace(genes, y, gene_marks, cell_types, colors), row=1, col=1)
    fig.add_trace(_residual_trace(table, y, x, gene_marks), row=1, col=2)
    # Legend entries for the strip's colours.
    for c in cell_types:
        fig.add_trace(_legend_square(c, colors[c]), row=1, col=1)
    n_genes, n_samples = len(genes), len(samples)
    _residual_axes(fig, n_genes, n_samples)
    subtitle = (
        "log2(observed / fitted) of each signature gene (1 TPM added to both), divided by the "
        "sample's typical miss: red = more expression than the estimated mixture explains, "
        "blue = less; |value| ≥ 3 is unusual for that sample; colours clipped at "
        f"±{RESIDUAL_LIMIT:g}."
    )
    if note:
        subtitle += " " + plain(note)
    return _layout(
        fig,
        title="Residuals of the fit (signature genes × samples)",
        subtitle=_wrap(subtitle, 130),
        height=int(min(_GENE_ROWS_MAX_PX + 100, max(520, GENE_ROW_PX * n_genes + 240))),
    )


def _mark_strip_trace(
    genes: list[str],
    y: list[str],
    gene_marks: pd.Series,
    cell_types: list[str],
    colors: dict[str, str],
) -> go.Heatmap:
    """The narrow strip left of the residual heatmap: the cell type each gene marks."""
    code = {c: i for i, c in enumerate(cell_types)}
    strip_z = np.array([[code[gene_marks[g]]] for g in genes], dtype=float)
    k = max(len(cell_types), 1)
    # A discrete colour scale: each code gets a flat band of its colour.
    scale = []
    for c in cell_types:
        i = code[c]
        scale += [[i / k, colors[c]], [(i + 1) / k, colors[c]]]
    return go.Heatmap(
        z=strip_z + 0.5,
        x=["marks"],
        y=y,
        colorscale=scale,
        zmin=0,
        zmax=k,
        showscale=False,
        customdata=np.asarray([[g, plain(gene_marks[genes[i]])] for i, g in enumerate(y)])[
            :, None, :
        ],
        hovertemplate="<b>%{customdata[0]}</b> marks %{customdata[1]}<extra></extra>",
    )


def _residual_trace(
    table: pd.DataFrame, y: list[str], x: list[str], gene_marks: pd.Series
) -> go.Heatmap:
    """Standardised residuals (genes × samples, already ordered), clipped for the colours."""
    values = table.to_numpy(dtype=float)
    gene_grid = np.tile(np.asarray(y, dtype=object)[:, None], (1, len(x)))
    sample_grid = np.tile(np.asarray(x, dtype=object), (len(y), 1))
    mark_grid = np.tile(
        np.asarray([plain(gene_marks[g]) for g in table.index], dtype=object)[:, None],
        (1, len(x)),
    )
    return go.Heatmap(
        z=np.clip(values, -RESIDUAL_LIMIT, RESIDUAL_LIMIT),
        x=x,
        y=y,
        customdata=np.dstack([gene_grid, sample_grid, mark_grid, values]),
        colorscale="RdBu_r",
        zmid=0,
        zmin=-RESIDUAL_LIMIT,
        zmax=RESIDUAL_LIMIT,
        colorbar={
            "title": {"text": "std.<br>residual"},
            "len": 0.4,
            "y": 1.0,
            "yanchor": "top",
            "x": 1.02,
        },
        hovertemplate="<b>%{customdata[0]}</b> (marks %{customdata[2]})<br>"
        "sample %{customdata[1]}<br>standardised residual %{customdata[3]:.2f}<extra></extra>",
    )


def _legend_square(cell_type: str, color: str) -> go.Scatter:
    """An empty trace whose legend entry is a square of the cell type's colour."""
    return go.Scatter(
        x=[None],
        y=[None],
        mode="markers",
        marker={"color": color, "size": 10, "symbol": "square"},
        name=plain(cell_type),
        showlegend=True,
        hoverinfo="skip",
    )


def _residual_axes(fig: go.Figure, n_genes: int, n_samples: int) -> None:
    """Axes and legend of the residual heatmap (in place)."""
    fig.update_xaxes(type="category", showticklabels=False, row=1, col=1)
    fig.update_xaxes(
        type="category",
        showticklabels=n_samples <= MAX_TICK_LABELS,
        tickangle=-60 if n_samples > 12 else 0,
        row=1,
        col=2,
    )
    _gene_rows(fig, n_genes)
    fig.update_layout(
        legend={
            "title": {"text": "gene marks"},
            "x": 1.02,
            "xanchor": "left",
            "y": 0.55,
            "yanchor": "top",
            "font": {"size": 11},
        },
    )


def observed_vs_fitted_figure(
    observed: pd.Series,
    fitted: pd.Series,
    marks: pd.Series,
    *,
    sample: str,
    z: pd.Series | None = None,
    n_labels: int = 8,
) -> go.Figure:
    """Scatter of one sample's observed against fitted expression of the signature genes.

    Parameters
    ----------
    observed, fitted
        Gene → expression of one sample in the fit scale (TPM-like, each
        sample normalised to 1e6), from ``DeconvResult.observed`` /
        ``.fitted``.
    marks
        Gene → cell type it marks.
    sample
        Sample name (for the title).
    z
        Gene → standardised residual (:func:`deconv_core.qc.standardised_residuals`);
        the ``n_labels`` genes with the largest absolute value are labelled.
    n_labels
        How many genes to label.

    Returns
    -------
    plotly.graph_objects.Figure
        Axes are log10(1 + expression); the dashed diagonal is a perfect fit.
    """
    obs = observed.to_numpy(dtype=float)
    fit = fitted.reindex(observed.index).to_numpy(dtype=float)
    ok = np.isfinite(obs) & np.isfinite(fit)
    colors = cell_type_colors(list(dict.fromkeys(str(m) for m in marks.to_numpy())))
    fig = go.Figure()
    lx, ly = np.log10(1 + np.clip(fit, 0, None)), np.log10(1 + np.clip(obs, 0, None))
    for trace in _gene_scatter_traces(observed, marks, obs, fit, ok, lx, ly, colors):
        fig.add_trace(trace)
    top = float(np.nanmax(np.concatenate([lx[ok], ly[ok]]))) if ok.any() else 1.0
    fig.add_trace(_diagonal_trace(top, "perfect fit"))
    if z is not None and n_labels > 0:
        _label_largest(fig, observed.index, z, ok, lx, ly, n_labels)
    fig.update_xaxes(title_text="fitted: log10(1 + expression)", rangemode="tozero")
    fig.update_yaxes(title_text="observed: log10(1 + expression)", rangemode="tozero")
    return _layout(
        fig,
        title=f"Observed vs fitted expression: {plain(sample)}",
        subtitle=_wrap(
            "Signature genes of this sample, expression normalised to 1e6 per sample "
            "(TPM-like). Points on the diagonal are explained by the estimated mixture; labelled "
            "genes deviate most."
        ),
        height=560,
    )


def _gene_scatter_traces(
    observed: pd.Series,
    marks: pd.Series,
    obs: np.ndarray,
    fit: np.ndarray,
    ok: np.ndarray,
    lx: np.ndarray,
    ly: np.ndarray,
    colors: dict[str, str],
) -> list[go.Scatter]:
    """One scatter trace per cell type marked, of its genes' (log) fitted and observed values."""
    genes = [str(g) for g in observed.index]
    gene_marks = [str(marks.get(g, "")) for g in observed.index]
    traces = []
    for cell_type in dict.fromkeys(gene_marks):
        mask = ok & (np.asarray(gene_marks) == cell_type)
        names = [plain(g) for g, m in zip(genes, mask, strict=True) if m]
        traces.append(
            go.Scatter(
                x=lx[mask],
                y=ly[mask],
                mode="markers",
                name=plain(cell_type),
                marker={"color": colors.get(cell_type, "#444"), "size": 8, "opacity": 0.85},
                customdata=np.column_stack(
                    [names, [plain(cell_type)] * len(names), obs[mask], fit[mask]]
                )
                if names
                else None,
                hovertemplate="<b>%{customdata[0]}</b> (marks %{customdata[1]})<br>"
                "observed %{customdata[2]:.4g}<br>fitted %{customdata[3]:.4g}<extra></extra>",
            )
        )
    return traces


def _diagonal_trace(top: float, name: str) -> go.Scatter:
    """The dashed diagonal from 0 to ``top``: where estimate and reference agree."""
    return go.Scatter(
        x=[0, top],
        y=[0, top],
        mode="lines",
        line={"dash": "dash", "color": "#555", "width": 1},
        name=name,
        hoverinfo="skip",
    )


def _label_largest(
    fig: go.Figure,
    genes: pd.Index,
    z: pd.Series,
    ok: np.ndarray,
    lx: np.ndarray,
    ly: np.ndarray,
    n_labels: int,
) -> None:
    """Name the ``n_labels`` genes with the largest absolute residual ``z`` (in place)."""
    zz = z.reindex(genes).abs()
    for gene in zz.dropna().sort_values(ascending=False).index[:n_labels]:
        i = list(genes).index(gene)
        if ok[i]:
            fig.add_annotation(
                x=lx[i],
                y=ly[i],
                text=plain(gene),
                showarrow=True,
                arrowhead=0,
                ax=20,
                ay=-18,
                font={"size": 11},
            )


def gene_explanation_figure(
    summary: pd.DataFrame,
    *,
    gene: str,
    cell_types: Sequence[str],
    order: Sequence[str] | None = None,
) -> go.Figure:
    """Stacked bars: how much of one gene's measured expression each cell type accounts for.

    Parameters
    ----------
    summary
        ``GeneExplanation.summary`` of :func:`deconv_core.confounding.explain_gene`:
        index ``sample``; ``observed``, ``fitted``, ``unexplained`` and one column
        per cell type (its part), in the fit scale (TPM-like).
    gene
        The gene's name, for the title.
    cell_types
        The cell-type columns of ``summary``, in display order.
    order
        Sample order (default: the summary's).

    Returns
    -------
    plotly.graph_objects.Figure
        Each bar is 100% of the gene's measured expression in one sample (the
        dashed line); its segments are each cell type's part (coefficient ×
        its signature expression of the gene) and the unexplained rest
        (hatched grey).  A stack above the line means the cell types predict
        more than was measured.  Shares are drawn up to
        :data:`MAX_EXPLAINED_SHARE`; samples without measured expression are
        left blank.
    """
    table = summary.copy()
    table.index = [str(s) for s in table.index]
    samples = [str(s) for s in order] if order is not None else list(table.index)
    table = table.loc[samples]
    observed = table["observed"].to_numpy(dtype=float)
    fitted = table["fitted"].to_numpy(dtype=float)
    usable = np.isfinite(observed) & (observed > 0) & np.isfinite(fitted)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = np.where(usable, fitted / observed, np.nan)
    x = _plain_list(samples)
    explained_text = [f"{t:.0%}" if np.isfinite(t) else "n/a" for t in total]
    fig = go.Figure()
    for trace in _share_bars(table, [str(c) for c in cell_types], x, usable, explained_text):
        fig.add_trace(trace)
    fig.add_trace(_unexplained_bar(x, observed, fitted, usable, explained_text))
    top = float(np.nanmax(total)) if np.isfinite(total).any() else 1.0
    cut = top > MAX_EXPLAINED_SHARE
    fig.add_hline(
        y=1.0,
        line={"dash": "dash", "color": "#333", "width": 1},
        annotation_text="measured",
        annotation_position="top left",
        annotation_font={"size": 11, "color": "#333"},
        annotation_bgcolor="rgba(255, 255, 255, 0.85)",
    )
    n = len(samples)
    show_ticks = n <= MAX_TICK_LABELS
    fig.update_xaxes(type="category", showticklabels=show_ticks, tickangle=-60 if n > 12 else 0)
    fig.update_yaxes(
        title_text="share of measured expression",
        tickformat=PERCENT_AXIS,
        range=[0, min(max(top, 1.0), MAX_EXPLAINED_SHARE) * 1.08],
    )
    _stack_bars(fig, n)
    return _layout(
        fig,
        title=f"Where the measured {plain(gene)} comes from, per sample",
        subtitle=_wrap(_explanation_subtitle(gene, int((~usable).sum()), n, cut=cut)),
        height=500 if show_ticks else 440,
    )


def _share_bars(
    table: pd.DataFrame,
    types: list[str],
    x: list[str],
    usable: np.ndarray,
    explained_text: list[str],
) -> list[go.Bar]:
    """One bar trace per cell type: its part of the gene as a share of the measured expression."""
    observed = table["observed"].to_numpy(dtype=float)
    colors = cell_type_colors(types)
    bars = []
    for cell_type in types:
        part = table[cell_type].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(usable, part / observed, np.nan)
        if not np.any(np.nan_to_num(share) > 0):
            continue  # a cell type that accounts for none of the gene anywhere
        bars.append(
            go.Bar(
                x=x,
                y=share,
                name=plain(cell_type),
                marker={"color": colors[cell_type], "line": {"width": 0}},
                customdata=np.column_stack(
                    [x, [plain(cell_type)] * len(x), part, observed, explained_text]
                ),
                hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]} accounts for "
                "%{y:.1%} of the measured expression<br>(%{customdata[2]:.3g} of "
                "%{customdata[3]:.3g}; all cell types together: %{customdata[4]})"
                "<extra></extra>",
            )
        )
    return bars


def _unexplained_bar(
    x: list[str],
    observed: np.ndarray,
    fitted: np.ndarray,
    usable: np.ndarray,
    explained_text: list[str],
) -> go.Bar:
    """The hatched grey top of each bar: the share of the gene no cell type accounts for."""
    # np.where evaluates both branches: a sample without measured expression (0) divides by 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(usable, np.clip(observed - fitted, 0, None) / observed, np.nan)
    return go.Bar(
        x=x,
        y=rest,
        name="not explained",
        marker={
            "color": UNEXPLAINED_COLOR,
            "pattern": {"shape": "/", "fgcolor": "#8c8c8c", "size": 6},
            "line": {"width": 0},
        },
        customdata=np.column_stack(
            [x, np.clip(observed - fitted, 0, None), observed, explained_text]
        ),
        hovertemplate="<b>%{customdata[0]}</b><br>not explained by the signature's cell "
        "types: %{y:.1%}<br>(%{customdata[1]:.3g} of %{customdata[2]:.3g} measured)"
        "<extra></extra>",
    )


def _explanation_subtitle(gene: str, blank: int, n: int, *, cut: bool) -> str:
    """How to read the gene explainer's bars, and what is blank, cut or hidden."""
    subtitle = (
        f"Each bar is 100% of the {gene} expression measured in one sample (dashed line), split "
        "into the part each cell type accounts for (its estimated amount × its expression of the "
        "gene in the signature) and the part they do not explain (hatched grey). A bar above the "
        "line: the cell types predict more than was measured (overestimated, or cells here "
        "express less of it than the reference)."
    )
    if blank:
        subtitle += f" {blank} sample(s) without measured expression are blank."
    if cut:
        subtitle += f" Bars are cut at {MAX_EXPLAINED_SHARE:.0%}; hover for values."
    if n > MAX_TICK_LABELS:
        subtitle += f" Sample names hidden for {n} samples; hover for names."
    return subtitle


def _agreement_label(row: pd.Series | None) -> str:
    """``r = 0.85, n = 12, RMSE 4.1 pp`` (n beside every r; a caution below SMALL_COHORT).

    RMSE is a difference of fractions: percentage points, not a percent of the value.
    """
    if row is None:
        return "no pairs"
    n = int(row["n"])
    r = "n/a" if pd.isna(row["pearson_r"]) else f"{row['pearson_r']:.2f}"
    few = f", too few for r (< {SMALL_COHORT})" if n < SMALL_COHORT else ""
    return f"r = {r}, n = {n}{few}, RMSE {100 * row['rmse']:.1f} pp"


def measured_scatter_figure(
    pairs: pd.DataFrame,
    agreement: pd.DataFrame,
    *,
    meaning: str,
    title: str = "Estimated vs measured fractions",
    measured_label: str = "measured",
) -> go.Figure:
    """Scatter of estimated against measured fractions, one colour per category.

    Parameters
    ----------
    pairs
        Output of :func:`deconv_core.agreement.compare_fractions`.
    agreement
        Output of :func:`deconv_core.agreement.agreement_table` (its r and RMSE go into the legend).
    meaning
        Sentence saying what the estimated fractions are.
    title
        Chart title.
    measured_label
        What the x axis holds (``"measured"``; ``"true"`` for planted mixtures).

    Returns
    -------
    plotly.graph_objects.Figure
        The dashed diagonal is perfect agreement.
    """
    categories = list(dict.fromkeys(pairs["category"]))
    colors = cell_type_colors(categories)
    fig = go.Figure()
    for category in categories:
        part = pairs[pairs["category"] == category]
        row = agreement.loc[category] if category in agreement.index else None
        label = _agreement_label(row)
        fig.add_trace(
            go.Scatter(
                x=part["measured"].to_numpy(float),
                y=part["estimated"].to_numpy(float),
                mode="markers",
                name=f"{plain(category)} ({label})",
                marker={"color": colors[category], "size": 9, "opacity": 0.85},
                customdata=np.column_stack(
                    [_plain_list(part["sample"]), [plain(category)] * len(part)]
                ),
                hovertemplate="<b>%{customdata[0]}</b> · %{customdata[1]}<br>"
                f"{plain(measured_label)} %{{x:.1%}}<br>estimated %{{y:.1%}}<extra></extra>",
            )
        )
    top = float(np.nanmax(pairs[["estimated", "measured"]].to_numpy(float))) if len(pairs) else 1.0
    top = min(1.0, top * 1.05) if top > 0 else 1.0
    fig.add_trace(_diagonal_trace(top, "perfect agreement"))
    fig.update_xaxes(
        title_text=f"{plain(measured_label)} fraction", tickformat=PERCENT_AXIS, range=[0, top]
    )
    fig.update_yaxes(title_text="estimated fraction", tickformat=PERCENT_AXIS, range=[0, top])
    return _layout(
        fig,
        title=plain(title),
        subtitle=_wrap(meaning),
        height=560,
    )


#: Axis titles of the methods chart: fractions and scores never share an axis.
METHOD_AXES = {
    "fraction": "fraction of cells",
    "score": "score (arbitrary units; compare samples only)",
}


#: Line dash and marker symbol of a methods chart's series, by position, beside the palette's
#: colours (Okabe & Ito's first): series differ in three ways, not by colour alone (two
#: purples told the robust fit and the EPIC-style fit apart on a projector).
_SERIES_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_SERIES_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")


def _series_style(position: int) -> tuple[str, str, str]:
    """Colour, dash and marker symbol of the series at ``position`` of a methods chart."""
    return (
        PALETTE[position % len(PALETTE)],
        _SERIES_DASHES[position % len(_SERIES_DASHES)],
        _SERIES_SYMBOLS[position % len(_SERIES_SYMBOLS)],
    )


def methods_figure(
    values: pd.DataFrame,
    kinds: dict[str, str],
    *,
    title: str,
    subtitle: str = "",
) -> go.Figure:
    """Several estimates per sample, fractions and scores in separate panels.

    Parameters
    ----------
    values
        Samples × series (e.g. one column per method for one cell type, or
        'other' beside stromal scores); the row order is the x order.
    kinds
        Series → ``"fraction"`` (drawn on a 0-100 % axis) or ``"score"``
        (drawn on its own axis in arbitrary units).  A score is never drawn on
        a proportion axis.
    title, subtitle
        Chart title and a sentence under it.

    Returns
    -------
    plotly.graph_objects.Figure
        One panel per kind present, fractions on top.

    Raises
    ------
    ValueError
        A series without a kind, or with a kind other than fraction or score.
    """
    for column in values.columns:
        if kinds.get(column) not in METHOD_AXES:
            raise ValueError(
                f"{column!r} has kind {kinds.get(column)!r}; expected fraction or score."
            )
    panels = [k for k in METHOD_AXES if any(kinds[c] == k for c in values.columns)]
    fig = make_subplots(rows=max(len(panels), 1), cols=1, shared_xaxes=True, vertical_spacing=0.08)
    samples = _plain_list(values.index)
    x = list(range(len(samples)))
    for row, kind in enumerate(panels, start=1):
        for column in (c for c in values.columns if kinds[c] == kind):
            percent = kind == "fraction"
            color, dash, symbol = _series_style(list(values.columns).index(column))
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=values[column].to_numpy(float),
                    mode="lines+markers",
                    name=plain(column),
                    line={"color": color, "width": 1.5, "dash": dash},
                    marker={"symbol": symbol, "size": 7},
                    customdata=np.column_stack([samples, [plain(column)] * len(samples)]),
                    hovertemplate="<b>%{customdata[0]}</b> · %{customdata[1]}<br>"
                    + ("%{y:.1%}" if percent else "%{y:.2f} (score)")
                    + "<extra></extra>",
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(
            title_text=METHOD_AXES[kind],
            tickformat=".0%" if kind == "fraction" else None,
            rangemode="tozero" if kind == "fraction" else "normal",
            row=row,
            col=1,
        )
    show = len(samples) <= MAX_TICK_LABELS
    fig.update_xaxes(
        tickvals=x if show else [],
        ticktext=samples if show else [],
        row=len(panels) or 1,
        col=1,
    )
    return _layout(
        fig, title=plain(title), subtitle=_wrap(subtitle), height=220 + 200 * len(panels)
    )

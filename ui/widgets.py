"""Shared widgets: page setup and sidebar, "do this first" notes, charts, cards, downloads.

User-provided text (file, sample, gene, cell-type names, error sentences
quoting them) is shown through :func:`md`, which escapes Markdown, and never
with ``unsafe_allow_html``; tables go through ``st.dataframe``, which renders
text as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from pandas.io.formats.style import Styler

from deconv_core import report
from deconv_core.agreement import agreement_table, agreement_with_gaps
from deconv_core.analysis import Analysis
from deconv_core.figures import IMAGE_FORMATS, figure_config
from deconv_core.session import run_inputs
from deconv_core.text import visible
from ui import charts, loaders, state, trust
from ui.health import LIGHTS, HealthItem
from ui.screen import counted, screen_table
from ui.tables import group_columns, match_samples

__all__ = [
    "BADGES",
    "charts_context",
    "COVERAGE_COLUMNS",
    "PAGES",
    "chart",
    "downloads_section",
    "health_card",
    "lights_table",
    "md",
    "needs",
    "next_step",
    "page_setup",
    "require_data_and_signature",
    "side_table_upload",
    "table",
]

#: Page files, relative to app.py (for st.page_link).
PAGES = {
    "home": "app.py",
    "upload": "pages/1_Upload.py",
    "signature": "pages/2_Signature.py",
    "results": "pages/3_Results.py",
    "qc": "pages/4_QC.py",
    "methods": "pages/5_Methods.py",
}
_LABELS = {
    "home": "Home: load the demo",
    "upload": "Upload: your expression file",
    "signature": "Signature: choose the reference",
    "results": "Results: proportions",
    "qc": "QC: how far to trust them",
    "methods": "Methods: side by side",
}
#: The sidebar's page names.  Streamlit's own navigation names the home page after its
#: file ("app"); without st.navigation (CONVENTIONS: legacy routing with pages/) only a
#: rename of app.py would change that, and the design card fixes app.py.  So the built-in
#: menu is hidden (.streamlit/config.toml, client.showSidebarNavigation) and this one drawn.
NAV_LABELS = {
    "home": "Home",
    "upload": "Upload",
    "signature": "Signature",
    "results": "Results",
    "qc": "QC",
    "methods": "Methods",
}
_ICONS = {
    "home": ":material/home:",
    "upload": ":material/upload_file:",
    "signature": ":material/grid_on:",
    "results": ":material/bar_chart:",
    "qc": ":material/fact_check:",
    "methods": ":material/compare_arrows:",
}

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")


def md(text: object) -> str:
    """Escape Markdown so user text is shown literally in st.markdown/caption/error.

    Invisible and direction-changing characters are shown as code points
    (:func:`deconv_core.text.visible`).
    """
    return _MD_SPECIAL.sub(r"\\\1", visible(text))


def page_setup(title: str) -> None:
    """Configure the page and draw the sidebar (call first on every page)."""
    # An emoji, not a ":material/...:" icon: Streamlit's frontend fetches material page icons
    # from fonts.gstatic.com, while emoji icons become a local data: URL (nothing leaves
    # the machine; tests/e2e/test_privacy_browser.py checks every request).
    st.set_page_config(page_title=f"{title} · deconv-explorer", page_icon="🧬", layout="wide")
    _sidebar()


def _sidebar() -> None:
    expression, sig = state.expression(), state.signature()
    meta, measured = state.metadata(), state.measured()
    with st.sidebar:
        for page, label in NAV_LABELS.items():
            st.page_link(PAGES[page], label=label, icon=_ICONS[page])
        st.divider()
        st.subheader("Loaded")
        if expression is None:
            st.caption("Expression: nothing yet")
        else:
            genes, samples = expression.table.shape
            demo = " (demo)" if state.demo_loaded() else ""
            st.markdown(f"**Expression**{demo}: {md(expression.name)}")
            st.caption(f"{counted(samples, 'sample')} × {counted(genes, 'gene')}")
        if meta is not None:
            st.markdown(f"**Metadata**: {md(meta.name)}")
        if measured is not None:
            st.markdown(f"**Measured fractions**: {md(measured.name)}")
        if sig is None:
            st.caption("Signature: not chosen yet")
        else:
            st.markdown(f"**Signature**: {md(sig.name)}")
            cell_types, genes = sig.matrix.shape[1], sig.matrix.shape[0]
            st.caption(f"{counted(cell_types, 'cell type')} × {counted(genes, 'gene')}")
        mode = state.mode()
        st.markdown("**Mode**: " + ("absolute (with other)" if mode == "absolute" else "relative"))
        fit = "robust (Huber)" if state.loss() == "huber" else "least squares"
        st.markdown(f"**Fit**: {fit}")
        if expression is not None or sig is not None:
            st.button("Start over", on_click=state.clear_all, key="sidebar_clear")
        with st.expander("Chart images"):
            fmt = st.selectbox(
                "Camera button saves as",
                IMAGE_FORMATS,
                index=IMAGE_FORMATS.index(state.image_format()),
                format_func=str.upper,
                key="sidebar_image_format",
                help="Every chart has a camera button (top right, on hover) that saves the "
                "chart as an image in your browser.",
            )
            if fmt != state.image_format():
                state.set_image_format(fmt)


def needs(message: str, page: str) -> None:
    """Say what to do first and link to the page that provides it."""
    st.info(message, icon=":material/arrow_forward:")
    st.page_link(PAGES[page], label=_LABELS[page], icon=_ICONS[page])


def require_data_and_signature():  # type: ignore[no-untyped-def]
    """The loaded expression and signature; stops the page with a pointer to what is missing."""
    expression, sig = state.expression(), state.signature()
    if expression is None:
        needs(
            "No expression data yet: upload a file (or load the demo on the home page) first.",
            "upload",
        )
        st.stop()
    if sig is None:
        needs("No signature chosen yet: choose one first.", "signature")
        st.stop()
    return expression, sig


def side_table_upload(label: str, slot: str) -> None:
    """Uploader of an optional side table (metadata, measured fractions) with its error line."""
    file = st.file_uploader(
        label, type=loaders.TABLE_TYPES, key=state.uploader_key(f"upload_{slot}")
    )
    error = loaders.handle_upload(slot, file)
    if error:
        st.error(md(error), icon=":material/error:")


def next_step(page: str) -> None:
    """A link to the next page of the flow."""
    st.page_link(PAGES[page], label=f"Next: {_LABELS[page]}", icon=_ICONS[page])


def _fmt_name(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem)


def chart(fig: go.Figure, name: str, *, key: str) -> None:
    """Draw a chart with the shared config and a self-contained HTML download under it.

    Parameters
    ----------
    fig
        The figure.
    name
        File stem for its image and HTML downloads.
    key
        Widget key (unique on the page).
    """
    config = figure_config(name, image_format=state.image_format())
    st.plotly_chart(fig, config=config, theme=None, key=key)
    st.download_button(
        "Chart as HTML",
        data=lambda: charts.figure_html(fig, config),
        file_name=f"{_fmt_name(name)}.html",
        mime="text/html",
        key=f"{key}_html",
        on_click="ignore",
        icon=":material/download:",
        help="A self-contained page with the interactive chart; use the camera button on the "
        "chart for PNG/SVG.",
    )


#: Traffic lights as Streamlit badges (fixed text; icons from Streamlit's own icon font).
BADGES = {
    "green": ":green-badge[:material/check_circle: good]",
    "yellow": ":orange-badge[:material/warning: check]",
    "red": ":red-badge[:material/error: poor]",
}
# Keyed by the words of the lights, verdicts and coverage levels (good / check / poor).
_CELL_STYLES = {
    LIGHTS["green"]: "background-color: #dcf1e0; color: #1b5e20",
    LIGHTS["yellow"]: "background-color: #fff0c7; color: #6d4700",
    LIGHTS["red"]: "background-color: #fbdcd7; color: #8e1b10",
    "info": "color: #1f4e8c",
    "warning": "background-color: #fff0c7; color: #6d4700",
    "error": "background-color: #fbdcd7; color: #8e1b10",
}


#: Column settings of the per-cell-type coverage table (:func:`ui.health.coverage_card`).
COVERAGE_COLUMNS = {
    "light": st.column_config.TextColumn("status"),
    "found": st.column_config.NumberColumn("genes found"),
    "marker_genes": st.column_config.NumberColumn("marker genes"),
    "fraction": st.column_config.ProgressColumn(
        "share found", min_value=0.0, max_value=1.0, format="percent"
    ),
    "missing": st.column_config.TextColumn("missing genes", width="large"),
}


def _shown_names() -> dict[str, str]:
    sig = state.signature()
    return sig.shown_names if sig is not None else {}


def table(frame: pd.DataFrame, *, column_config: dict | None = None, **kwargs: object) -> None:
    """st.dataframe of a table as the dashboard shows tables (:func:`ui.screen.screen_table`):
    names as written, cell types by display name, one format per quantity, no "None"."""
    styler, config = screen_table(frame, column_config, _shown_names())
    st.dataframe(styler, column_config=config, **kwargs)


def lights_table(
    frame: pd.DataFrame, *, column: str, column_config: dict | None = None, **kwargs: object
) -> None:
    """:func:`table` with the traffic-light (or severity) column coloured."""
    styler, config = screen_table(frame, column_config, _shown_names())
    if isinstance(styler, Styler):  # a large table goes without colours (ui.screen)
        styler = styler.map(lambda v: _CELL_STYLES.get(v, ""), subset=[column])
    st.dataframe(styler, column_config=config, **kwargs)


def health_card(items: Sequence[HealthItem]) -> None:
    """Draw input-health items: traffic light, what was checked, finding, explanation."""
    for item in items:
        left, mid, right = st.columns([0.9, 1.6, 4.5], vertical_alignment="top")
        left.markdown(BADGES[item.light])
        mid.markdown(f"**{md(item.check)}**  \n{md(item.finding)}")
        right.caption(md(item.explanation))


def _zip_context() -> dict[str, object]:
    """Dashboard context for the manifest: how measured categories were mapped."""
    mapping = state.mapping()
    return {"comparison": {"measured_mapping": mapping}} if mapping else {}


#: Name of the zip among the download payloads (:func:`_download_files`).
_ZIP = "deconvolution_results.zip"


def _download_files(
    analysis: Analysis, image_format: str, context: dict[str, object], extra: dict[str, object]
) -> dict[str, bytes]:
    """The CSV tables and XLSX of :func:`deconv_core.report.output_files`, and the zip
    (with the estimated-vs-measured agreement when measured fractions are mapped).

    Draws a progress bar through the three steps (it is replayed, full, when
    the cached files are served again, then removed).
    """
    bar = st.progress(0.0, text="Writing the tables (CSV and XLSX)…")
    measured, mapping = context.get("measured"), context.get("mapping")
    pairs = charts.measured_pairs(analysis, measured, mapping)
    agreement = agreement_with_gaps(
        None if pairs is None else agreement_table(pairs),
        charts.measured_gaps(analysis, measured, mapping),
    )
    files = dict(report.output_files(analysis, agreement=agreement))
    bar.progress(1 / 3, text="Drawing the charts…")
    figures = charts.export_figures(analysis, **context)
    chart_files = charts.chart_files(figures, image_format=image_format)
    inputs = run_inputs(analysis, state.input_files())
    bar.progress(2 / 3, text="Packing the zip…")
    files[_ZIP] = report.bundle_zip(
        analysis, charts=chart_files, extra=extra, files=files, inputs=inputs, agreement=agreement
    )
    bar.empty()
    return files


@st.cache_data(max_entries=8, show_spinner=False)
def _cached_download_files(
    key: str,
    image_format: str,
    _analysis: Analysis,
    _context: dict[str, object],
    _extra: dict[str, object],
) -> dict[str, bytes]:
    # ``key`` identifies the run as the files are written from it (ui.loaders.analysis_key)
    # and the category mapping; the underscored arguments are not hashed.  The cache is
    # shared by every session of the server, so the key must cover all the files hold.
    return _download_files(_analysis, image_format, _context, _extra)


def _downloads_asked(key: str) -> bool:
    """Whether the current run's downloads were asked for; else draw the button that asks."""
    run = loaders.run_key()
    if state.asked("downloads", run):
        return True
    if st.button(
        "Prepare the downloads",
        key=f"{key}_prepare",
        icon=":material/download:",
        help="Computes what the files hold beyond this page (the 95% intervals and every "
        "check) and writes them; later visits to this run serve them at once.",
    ):
        # The files hold the gene checks: the verdicts above them must too (rerun to redraw).
        state.ask("downloads", run)
        state.ask("gene_checks", run)
        loaders.refresh()
        return True
    st.caption(
        "CSV tables, an XLSX workbook and a zip with everything the command line writes, "
        f"including the {trust.LEVEL:.0%} intervals ({trust.BOOTSTRAP_RESAMPLES} bootstrap "
        "resamples): made when you ask, because on a large cohort they take several seconds."
    )
    return False


def downloads_section(analysis: Analysis, *, key: str) -> None:
    """Download buttons: tables as CSV and XLSX, and a zip with everything and the manifest.

    Nothing is written until the user asks ("Prepare the downloads", once per
    run): then the run is completed with every check the command line runs
    (:func:`ui.loaders.current_analysis` with the intervals and gene checks)
    and written by :mod:`deconv_core.report`, the writer the command line
    uses, so the same run gives the same tables and manifest parameters; the
    charts in the zip are the same whichever page it is downloaded from
    (:func:`ui.charts.export_figures`).

    Once asked for, the files are made when the buttons are drawn (cached per
    run), not on click: a file made on click is stored unreferenced, and any
    session's next two script runs delete it, so under concurrent use the
    browser's fetch could meet a 404 (``benchmarks/concurrency.py``). A drawn
    file stays referenced while its button is shown.

    Parameters
    ----------
    analysis
        The page's run; completed with the checks still pending (None) first.
    key
        Prefix for widget keys.
    """
    if not _downloads_asked(key):
        return
    full, error = analysis, ""
    if analysis.intervals is None or analysis.confounding is None:
        full, error = loaders.current_analysis(with_intervals=True, with_gene_checks=True)
    if full is None:
        st.error(md(error), icon=":material/error:")
        return
    fmt = state.image_format()
    context, extra = charts_context(full), _zip_context()
    mapping = json.dumps(extra, sort_keys=True, default=list)
    files = _cached_download_files(
        f"{loaders.analysis_key(full)}|{mapping}", fmt, full, context, extra
    )

    cols = st.columns(5)
    for i, stem in enumerate(("proportions", "intervals", "fit", "warnings")):
        if f"{stem}.csv" not in files:
            continue
        cols[i].download_button(
            f"{stem.capitalize()} (CSV)",
            data=files[f"{stem}.csv"],
            file_name=f"{stem}.csv",
            mime="text/csv",
            key=f"{key}_{stem}_csv",
            on_click="ignore",
            icon=":material/download:",
        )
    cols[4].download_button(
        "Tables (XLSX)",
        data=files["results.xlsx"],
        file_name="deconvolution.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"{key}_xlsx",
        on_click="ignore",
        icon=":material/download:",
    )
    st.download_button(
        "Everything (zip: tables, charts, manifest to reproduce the run)",
        data=files[_ZIP],
        file_name=_ZIP,
        mime="application/zip",
        key=f"{key}_zip",
        on_click="ignore",
        icon=":material/folder_zip:",
        type="primary",
    )
    st.caption(
        f"Intervals: {trust.LEVEL:.0%} bootstrap intervals ({trust.BOOTSTRAP_RESAMPLES} "
        "resamples of the signature genes); fit: r, RMSE, R², the permutation p-value "
        f"({trust.PERMUTATIONS} random mixtures), the verdict and its reasons; seed "
        f"{trust.SEED}, so the same inputs give the same numbers. The files are the ones the "
        "command line writes for the same options. CSV and XLSX cells that start with = + - @ "
        "are written so spreadsheets never run them as formulas. The manifest records the "
        "inputs' SHA-256, the parameters and the package versions; the zip also holds the "
        "input files, so uploading it on the Upload page restores this run."
    )


def charts_context(analysis: Analysis) -> dict[str, object]:
    """The side tables the exported charts use: metadata groups and measured fractions.

    The first metadata column with 2-12 groups groups the samples; measured
    fractions are matched to the samples and mapped as the Results page maps them.
    """
    samples = [str(s) for s in analysis.result.proportions.index]
    context: dict[str, object] = {}
    meta, measured = state.metadata(), state.measured()
    if meta is not None:
        matched = match_samples(samples, meta.table)
        usable = group_columns(matched)
        if usable:
            context["group_title"] = usable[0]
            context["groups"] = matched[usable[0]]
    if measured is not None and state.mapping():
        context["measured"] = match_samples(samples, measured.table)
        context["mapping"] = state.mapping()
    return context

"""The Methods page (AppTest) and its chart: a score is never drawn on a fraction axis."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from deconv_core.cli import main
from deconv_core.figures import METHOD_AXES, methods_figure
from deconv_core.report import output_files
from deconv_core.thresholds import MIN_SAMPLES_FOR_AGREEMENT
from tests.app.conftest import ROOT, charts, new_app, texts

DEMO = ROOT / "assets" / "demo" / "expression.tsv.gz"

METHODS_PAGE = "pages/5_Methods.py"


def _axes_of(spec: dict) -> dict[str, str]:
    """Trace name → title of the y axis it is drawn on."""
    layout = spec["layout"]
    titles = {}
    for trace in spec["data"]:
        axis = "yaxis" + trace.get("yaxis", "y")[1:]
        titles[trace["name"]] = layout[axis]["title"]["text"]
    return titles


def test_methods_figure_keeps_scores_off_the_fraction_axis():
    values = pd.DataFrame(
        {"robust": [0.1, 0.3], "svr": [0.2, 0.25], "mcp": [5.0, 7.5]}, index=["S1", "S2"]
    )
    fig = methods_figure(
        values, {"robust": "fraction", "svr": "fraction", "mcp": "score"}, title="T"
    )
    titles = _axes_of(json.loads(fig.to_json()))
    assert titles == {
        "robust": METHOD_AXES["fraction"],
        "svr": METHOD_AXES["fraction"],
        "mcp": METHOD_AXES["score"],
    }
    assert fig.layout.yaxis.tickformat == ".0%" and fig.layout.yaxis2.tickformat is None
    only_scores = methods_figure(values[["mcp"]], {"mcp": "score"}, title="T")
    assert _axes_of(json.loads(only_scores.to_json())) == {"mcp": METHOD_AXES["score"]}
    with pytest.raises(ValueError, match="'mcp' has kind None"):
        methods_figure(values, {"robust": "fraction", "svr": "fraction"}, title="T")


def test_methods_page_empty_says_what_to_do_first():
    at = new_app()
    at.switch_page(METHODS_PAGE).run()
    assert not at.exception, at.exception
    assert any("No expression data yet" in t for t in texts(at, "info"))


def _reasons(at) -> str:  # type: ignore[no-untyped-def]
    at.switch_page("pages/3_Results.py").run()
    assert not at.exception, at.exception
    return " ".join(at.dataframe[0].value["reasons"])


def test_methods_page_on_the_demo_compares_methods_and_explains_other(demo_app, tmp_path):
    at = demo_app
    assert "the methods rank it far apart" not in _reasons(at)
    at.switch_page(METHODS_PAGE).run()
    assert not at.exception, at.exception
    overview = at.dataframe[0].value
    assert list(overview["kind"]) == ["fraction", "fraction", "fraction", "score"]
    summary = at.dataframe[1].value
    # cell types by display name on screen (ui.screen); the files keep the ids
    assert {"B cells", "CD8 T cells"} <= set(summary["cell_type"])
    # Scores are ranked on all 24 samples; fractions where either method sees the cell type.
    assert (summary.loc[summary["basis"] == "score", "n"] == 24).all()
    assert summary["n"].between(MIN_SAMPLES_FOR_AGREEMENT, 24).all()
    assert set(summary["basis"]) == {"shares", "all cells", "score"}
    assert "T cells (score) ~ CD4 T cells + CD8 T cells + Regulatory T cells" in set(
        summary["cell_type"]
    )  # a score and the cell types it covers, by display name too
    box = at.selectbox(key="methods_quantity")
    assert "CD4 T cells" in box.options and "T.cells.CD4" not in box.options
    # Choose a quantity a marker score takes part in: the score gets its own axis.
    box.set_value("CD8 T cells (score) ~ T.cells.CD8").run()  # the value is the id
    assert not at.exception, at.exception
    methods_chart, other_chart = (json.loads(c.proto.spec) for c in charts(at))
    title = methods_chart["layout"]["title"]["text"]
    assert title == "CD8 T cells (score) ~ CD8 T cells: each method per sample"
    titles = _axes_of(methods_chart)
    assert titles["marker scores (MCP-counter-style)"] == METHOD_AXES["score"]
    assert titles["robust fit (default)"] == METHOD_AXES["fraction"]
    assert _axes_of(other_chart) == {
        "other": METHOD_AXES["fraction"],
        "tumour_at_most": METHOD_AXES["fraction"],
        "Fibroblasts score": METHOD_AXES["score"],
        "Endothelial cells score": METHOD_AXES["score"],
    }
    assert any("upper bound of the cancer-cell content" in t for t in texts(at, "caption"))
    # The Results page now shows the same run, methods included: their disagreement flags
    # reach the verdicts there (the demo's monocytic lineage: none of its MCP-counter markers is
    # a TIL10 gene, so the simulated score carries no monocytes). The robust fit and the nu-SVR
    # agree once both are shares of the signature's cell types.
    reasons = _reasons(at)
    assert (
        "the methods rank it far apart for Monocytic lineage (score) ~ M1 macrophages + "
        "M2 macrophages + Monocytes (mcp-counter)" in reasons
    )
    assert "(nu-svr)" not in reasons and "(epic)" not in reasons
    # ... and the downloads hold the same methods tables as `run --method all`.
    (analysis,) = at.session_state["analysis"].values()
    assert analysis.options.methods == ("all",)
    files = output_files(analysis)
    out = tmp_path / "cli"
    assert main(["run", str(DEMO), "--signature", "TIL10", "--mode", "absolute",
                 "--method", "all", "--out", str(out)]) == 0  # fmt: skip
    for name in ("methods.csv", "methods_agreement.csv", "methods_other.csv"):
        assert files[name] == (out / name).read_bytes(), name


def test_methods_series_differ_by_colour_dash_and_marker():
    """Not by colour alone: the robust fit and the EPIC-style fit were two similar purples."""
    from deconv_core.palette import oklab

    names = ["robust fit (default)", "ν-SVR (CIBERSORT-style)", "constrained WLS with other"]
    values = pd.DataFrame({n: [0.1, 0.2, 0.3] for n in names}, index=["S1", "S2", "S3"])
    fig = methods_figure(values, dict.fromkeys(names, "fraction"), title="T")
    styles = [(t.line.color, t.line.dash, t.marker.symbol) for t in fig.data]
    for i in range(3):
        assert len({style[i] for style in styles}) == 3
    lab = oklab([color for color, _, _ in styles])
    gaps = np.linalg.norm(lab[:, None] - lab[None], axis=-1)
    assert gaps[np.triu_indices(3, 1)].min() > 15  # the palette's distinct first colours

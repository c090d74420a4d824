"""AppTest: trust (intervals, p-values, flags, confounding, gene explainer) and signatures
(diagnostics, groups, licence-restricted uploads, building from single-cell data)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from deconv_core.io.singlecell import read_single_cell
from deconv_core.signatures import LM22_CELL_TYPES
from deconv_core.singlecell import build_signature
from tests.app.conftest import (
    ROOT,
    build_single_cell,
    charts,
    new_app,
    sidebar_text,
    texts,
    uploader,
    visit,
)
from tests.conftest import planted_mixtures

SINGLE_CELL = ROOT / "tests" / "fixtures" / "singlecell"
# The demo's simulated activated samples (assets/demo/PROVENANCE.md): activation genes x6.
ACTIVATED = ("S04", "S13")


def _figure(chart) -> dict:
    return json.loads(chart.proto.spec)


def _config(chart) -> dict:
    return json.loads(chart.proto.config)


def _tsv(table: pd.DataFrame, index_label: str = "gene") -> bytes:
    buffer = io.StringIO()
    table.to_csv(buffer, sep="\t", index_label=index_label, float_format="%.5g")
    return buffer.getvalue().encode()


def _bulk_from(signature: pd.DataFrame, n: int = 5, seed: int = 1) -> bytes:
    """Bulk (genes × samples) mixed from a signature, plus filler genes."""
    rng = np.random.default_rng(seed)
    mixed = signature.to_numpy() @ rng.dirichlet(np.ones(signature.shape[1]), size=n).T
    filler = pd.DataFrame(
        rng.uniform(1, 50, size=(120, n)), index=[f"FILLER{i}" for i in range(120)]
    )
    table = pd.concat([pd.DataFrame(mixed, index=signature.index), filler])
    table.columns = [f"S{i + 1}" for i in range(n)]
    return _tsv(table)


@pytest.fixture(scope="module")
def demo_qc():
    """The demo loaded, on the QC page (one session shared by the QC checks)."""
    at = new_app()
    at.button(key="load_demo").click().run()
    visit(at, "qc")
    assert not at.exception, at.exception
    return at


def test_results_show_intervals_as_table_columns_and_error_bars(demo_app):
    at = visit(demo_app, "results")
    assert not at.exception
    at.toggle(key="results_intervals").set_value(True).run()
    assert not at.exception
    intervals = at.dataframe[1].value
    assert {"sample", "cell_type", "estimate", "lower", "upper"} <= set(intervals.columns)
    assert len(intervals) == 24 * 11
    ok = intervals.dropna()
    assert (ok["lower"] <= ok["estimate"] + 1e-12).all()
    assert (ok["estimate"] <= ok["upper"] + 1e-12).all()
    robust = intervals[intervals["cell_type"] == "Regulatory T cells"].set_index("sample")

    # Least squares reads the activated samples' CTLA4/ICOS as ~3x more Tregs,
    # and those estimates are the least certain of all Tregs estimates; the
    # robust default down-weights the genes and keeps the estimates plausible.
    assert "**Fit**: robust (Huber)" in sidebar_text(at)
    at.segmented_control(key="results_loss").set_value("squares").run()
    assert not at.exception
    assert "**Fit**: least squares" in sidebar_text(at)
    squares = at.dataframe[1].value
    squares = squares[squares["cell_type"] == "Regulatory T cells"].set_index("sample")
    width = squares["upper"] - squares["lower"]
    assert set(width.nlargest(2).index) == set(ACTIVATED)
    for sample in ACTIVATED:
        assert squares.loc[sample, "estimate"] > 2 * robust.loc[sample, "estimate"]
    others = robust.index.difference(list(ACTIVATED))
    np.testing.assert_allclose(
        robust.loc[others, "estimate"], squares.loc[others, "estimate"], atol=0.03
    )
    at.segmented_control(key="results_loss").set_value("huber").run()
    assert not at.exception
    figure = _figure(charts(at)[0])
    assert figure["layout"]["title"]["text"].startswith("Estimates with 95%")
    bars = [t for t in figure["data"] if "error_y" in t]
    assert len(bars) == 11 and all(t["error_y"]["arrayminus"] for t in bars)
    assert all(_config(c)["showSendToCloud"] is False for c in charts(at))


def test_results_level_switch_sums_cell_types_into_groups(demo_app):
    at = visit(demo_app, "results")
    at.segmented_control(key="results_level").set_value("groups").run()
    assert not at.exception
    table = at.dataframe[0].value.drop(columns=["verdict", "reasons"])
    assert "T cells" in table.columns and "Tregs" not in table.columns
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    assert at.toggle(key="results_intervals").disabled
    assert any("cell-type level only" in t for t in texts(at, "caption"))


def test_qc_fit_card_has_permutation_p_values_explained(demo_qc):
    card = demo_qc.dataframe[0].value
    assert "p_value" in card.columns
    assert (card["p_value"] <= 0.01).all()  # the demo's samples all fit far better than random
    assert any("how likely a random mix" in t for t in texts(demo_qc, "caption"))


def test_qc_confounding_callouts_name_the_activated_samples(demo_qc):
    callouts = [t for t in texts(demo_qc, "warning") if "Likely cause" in t]
    for sample in ACTIVATED:
        hits = [t for t in callouts if t.startswith(f"**{sample} · Tregs")]
        assert hits, callouts
        assert all("CTLA4" in t and "activated" in t for t in hits)
    assert not [t for t in callouts if not t.startswith(tuple(f"**{s}" for s in ACTIVATED))]
    findings = [d.value for d in demo_qc.dataframe if "estimate_without" in d.value.columns][0]
    # The robust fit already discounts the activation genes, so they may no
    # longer drive an estimate; their excess over the prediction is still named.
    codes = findings.groupby("code")["sample"].agg(set)
    assert codes["panel_excess"] == set(ACTIVATED)
    assert codes.get("driven_by_genes", set()) <= set(ACTIVATED)


def test_qc_lists_the_genes_the_robust_fit_down_weighted(demo_qc):
    table = [d.value for d in demo_qc.dataframe if "lowest_weight" in d.value.columns][0]
    activated = table[table["gene"].isin(["CTLA4", "ICOS", "STAT4", "SH2D2A"])]
    assert len(activated) == 4
    for examples in activated["examples"]:
        assert set(examples.split(", ")[:2]) == set(ACTIVATED)
    assert (activated["lowest_weight"] < 0.1).all()


def test_qc_gene_explainer_draws_and_explains_the_chosen_gene(demo_qc):
    at = demo_qc
    assert at.selectbox(key="qc_gene").value == "CTLA4"  # named by the confounding check
    titles = [_figure(c)["layout"]["title"]["text"] for c in charts(at)]
    assert any("CTLA4" in t for t in titles), titles
    sentence = "18% of CTLA4 in sample S04 is accounted for by Regulatory T cells"  # display name
    assert any(sentence in t for t in texts(at, "markdown"))
    at.selectbox(key="qc_gene").set_value("CD8B").run()
    assert not at.exception
    explainer = [_figure(c) for c in charts(at) if "CD8B" in _figure(c)["layout"]["title"]["text"]]
    assert explainer and "share of measured" in explainer[0]["layout"]["yaxis"]["title"]["text"]
    assert "not explained" in [t["name"] for t in explainer[0]["data"]]
    sentences = [d.value for d in at.dataframe if "sentence" in d.value.columns][0]
    assert len(sentences) == 24 and sentences["sentence"].str.contains("CD8B").all()


def test_qc_lists_flagged_genes_and_samples_and_every_warning():
    expr, _ = planted_mixtures(6, noise=0.1, seed=3)
    expr.loc["CD19"] *= 8  # the signature misdescribes CD19 in every sample
    rng = np.random.default_rng(0)
    genes = expr.index[:170]
    expr.loc[genes, "S6"] = rng.permutation(expr.loc[genes, "S6"].to_numpy())  # a garbled sample
    at = new_app()
    visit(at, "upload")
    uploader(at, "Bulk expression file").upload("bulk.tsv", _tsv(expr), "text/plain")
    at.run()
    visit(at, "signature")  # TIL10
    visit(at, "qc")
    assert not at.exception
    flagged_genes = [d.value for d in at.dataframe if "median_z" in d.value.columns][0]
    assert flagged_genes.iloc[0]["gene"] == "CD19"
    flagged_samples = [
        d.value for d in at.dataframe if list(d.value.columns) == ["sample", "code", "reason"]
    ]
    assert flagged_samples and "S6" in set(flagged_samples[0]["sample"])
    everything = " ".join(texts(at, "info") + texts(at, "warning"))
    assert "CD19 (B.cells marker)" in everything  # the residual_gene warning is listed


def test_signature_page_shows_diagnostics_and_checks_edited_groups(demo_app):
    at = visit(demo_app, "signature")
    assert not at.exception
    assert len(at.tabs) >= 4
    frames = [d.value for d in at.dataframe]
    markers = [f for f in frames if {"rank", "gene", "tau"} <= set(f.columns)][0]
    assert markers.groupby("cell_type").size().max() <= 10
    # Identifiability is shown once, from the one implementation (deconv_core.identifiability).
    assert sum({"correlation", "cosine"} <= set(f.columns) for f in frames) == 1
    assert any("Condition number" in m.label for m in at.metric)
    assert any("covers 170 of 170" in t for t in texts(at, "success"))

    assert "groups_reset" not in {b.key for b in at.button}  # the signature's own groups
    editor = at.data_editor[0]
    rows = list(editor.value["cell_type"])
    # Invalid: a group named after a cell type (Tregs) that is in another group.
    at.session_state[editor.key] = {
        "edited_rows": {rows.index("B.cells"): {"group": "Tregs"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    assert any("has the name of a cell type" in t for t in texts(at, "error")), texts(at, "error")

    # Valid: Tregs on their own; the Results page's group level follows.
    at.session_state[at.data_editor[0].key] = {
        "edited_rows": {rows.index("Tregs"): {"group": ""}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception and not at.error
    edited = at.data_editor[0].value.set_index("cell_type")["group"]
    assert edited["Tregs"] == "Tregs" and edited["T.cells.CD4"] == "T cells"
    assert "groups_reset" in {b.key for b in at.button}
    visit(at, "results")
    at.segmented_control(key="results_level").set_value("groups").run()
    # Tregs, in no group, stand for themselves, under their display name
    assert {"T cells", "Regulatory T cells"} <= set(at.dataframe[0].value.columns)


def test_lm22_like_upload_shows_the_licence_reminder_and_warns_in_the_run(app):
    rng = np.random.default_rng(0)
    lm22 = pd.DataFrame(
        rng.gamma(0.5, 200.0, size=(547, 22)),
        index=[f"GENE{i}" for i in range(547)],
        columns=list(LM22_CELL_TYPES),
    )
    visit(app, "signature")
    app.segmented_control(key="signature_source").set_value("My own file").run()
    uploader(app, "Signature file").upload("LM22.txt", _tsv(lm22, "Gene symbol"), "text/plain")
    app.run()
    assert not app.exception
    reminder = [t for t in texts(app, "warning") if "Licence reminder" in t]
    assert reminder and "LM22" in reminder[0] and "non-commercial" in reminder[0]
    visit(app, "upload")
    uploader(app, "Bulk expression file").upload("bulk.tsv", _bulk_from(lm22, 3), "text/plain")
    app.run()
    visit(app, "qc")
    assert not app.exception
    shown = " ".join(texts(app, "warning"))
    assert "looks like LM22" in shown  # the restricted_signature warning of the run


def test_single_cell_build_is_validated_chosen_and_used(app):
    at = build_single_cell(visit(app, "signature"))
    assert not at.exception and not at.error
    validation = [d.value for d in at.dataframe if "n_test" in d.value.columns][0]
    assert list(validation.index) == ["B cells", "Monocytes", "T cells", "NK cells", "all"]
    assert (validation["pearson_r"] > 0.9).all()
    assert any(m.label == "Condition number" for m in at.metric)
    assert {"sc_download_tsv", "sc_download_zip"} <= {b.key for b in at.download_button}
    # The marker table's caption says what the builder does: pairs, with their columns.
    markers = [d.value for d in at.dataframe if "versus" in d.value.columns][0]
    (caption,) = [t for t in texts(at, "caption") if t.startswith("Markers are chosen per pair")]
    assert "at least 2-fold higher there than in another type" in caption
    assert "'versus' names the types it was chosen against" in caption
    assert (markers["log2_fold_change"] >= 1).all()
    assert any(
        "marker genes are chosen for every pair of cell types" in t for t in texts(at, "caption")
    )

    at.button(key="sc_use").click().run()
    assert not at.exception
    assert "counts_signature" in sidebar_text(at) and "4 cell types" in sidebar_text(at)
    data = read_single_cell(
        SINGLE_CELL / "counts.csv.gz", labels=SINGLE_CELL / "labels.csv", name="counts.csv.gz"
    )
    built = build_signature(data).signature.matrix  # the same defaults and seed as the page
    visit(at, "upload")
    uploader(at, "Bulk expression file").upload("bulk.tsv", _bulk_from(built), "text/plain")
    at.run()
    visit(at, "results")
    assert not at.exception
    shown = list(at.dataframe[0].value.columns)
    assert shown == ["verdict", "B cells", "Monocytes", "T cells", "NK cells", "reasons"]

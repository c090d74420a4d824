"""Marker panels, confounding warnings and the gene explainer (deconv_core.confounding)."""

import numpy as np
import pandas as pd
import pytest

from deconv_core import deconvolve
from deconv_core.confounding import (
    PANEL_DIR,
    _few_genes_warnings,
    explain_gene,
    flag_confounders,
    load_panels,
    panel_table,
)
from deconv_core.deconvolve import coefficients_to_proportions
from deconv_core.genes import current_symbol, load_hgnc
from deconv_core.validation import InputError
from tests.conftest import planted_mixtures

# The activation-panel genes that TIL10 has: Treg markers ICOS and CTLA4, NK marker FASLG.
ACTIVATION_IN_TIL10 = ["FASLG", "ICOS", "CTLA4"]


def test_panels_ship_with_sources_and_approved_symbols():
    panels = load_panels()
    curated = [
        "activation",
        "interferon",
        "proliferation",
        "mhc_class_ii",
        "haemoglobin",
        "ribosomal",
        "mitochondrial",
    ]
    assert list(panels)[:8] == [*curated, "tumour_aberrant"]
    assert sum(name.startswith("mcp_") for name in panels) == 10
    approved = load_hgnc().approved
    for panel in panels.values():
        assert panel.genes and panel.title and panel.cause and panel.basis and panel.licence
        assert panel.cause[-1] in ".?"
        assert len(set(panel.genes)) == len(panel.genes)
        # MCP-counter's published lists keep their names (CXorf36, now DIPK2B): panels
        # find genes by HGNC identity, so every name must name exactly one gene.
        unknown = [g for g in panel.genes if g not in approved and current_symbol(g) is None]
        assert not unknown, f"{panel.name}: {unknown}"
    assert {"IFNG", "GZMB", "PRF1", "CD69", "ICOS", "PDCD1"} <= set(panels["activation"].genes)
    assert {"MKI67", "TOP2A"} <= set(panels["proliferation"].genes)
    assert "CAVIN2" in panels["mcp_endothelial_cells"].genes
    assert not panels["mcp_t_cells"].tested and panels["activation"].tested
    for name in (
        "PROVENANCE.md",
        "LICENSE_quanTIseq.txt",
        "LICENSE_MCPcounter_CC0.txt",
        "panels.json",
    ):
        assert (PANEL_DIR / name).is_file()
    table = panel_table()
    assert list(table.columns) == ["panel", "title", "gene"]
    assert len(table) == sum(len(p.genes) for p in panels.values())


def _activated(n: int, noise: float, seed: int, fold: float = 6.0) -> pd.DataFrame:
    expr, _ = planted_mixtures(n, noise=noise, seed=seed)
    expr.loc[ACTIVATION_IN_TIL10, "S1"] *= fold
    return expr


@pytest.mark.parametrize(("noise", "mode"), [(0.2, "relative"), (0.3, "absolute")])
def test_least_squares_estimate_driven_by_activation_genes_is_named(til10, noise, mode):
    result = deconvolve(_activated(40, noise, seed=1), til10, mode=mode, loss="squares")
    report = flag_confounders(result, til10)
    per_sample = [w for w in report.warnings if w.sample]
    assert {w.sample for w in per_sample} == {"S1"}
    driven = report.findings.query("code == 'driven_by_genes' and sample == 'S1'")
    row = driven.set_index("cell_type").loc["Tregs"]
    assert set(row["genes"].split(", ")) <= set(ACTIVATION_IN_TIL10)
    assert "activation" in row["panels"]
    assert row["fold"] > 3 and row["estimate_without"] < row["estimate"]
    warning = next(w for w in per_sample if w.code == "driven_by_genes")
    message = warning.message  # display name in the message, the id in the record
    assert message.startswith("Sample S1: the Regulatory T cells estimate")
    assert warning.cell_type == "Tregs"
    assert "activated cells, not more cells?" in message


@pytest.mark.parametrize(("noise", "mode"), [(0.2, "relative"), (0.3, "absolute")])
def test_robust_fit_resists_activation_genes_and_still_warns(til10, noise, mode):
    expr, shares = planted_mixtures(40, noise=noise, seed=1)
    expr.loc[ACTIVATION_IN_TIL10, "S1"] *= 6.0
    truth, _ = coefficients_to_proportions(shares.T.to_numpy(), til10, mode=mode)
    tregs = list(til10.matrix.columns).index("Tregs")
    robust = deconvolve(expr, til10, mode=mode)
    squares = deconvolve(expr, til10, mode=mode, loss="squares")
    error = {
        name: abs(res.proportions.loc["S1", "Tregs"] - truth[tregs, 0])
        for name, res in (("robust", robust), ("squares", squares))
    }
    # Least squares reads the 6x activation genes as ~10x more Tregs; the
    # robust fit down-weights them and stays within half a percentage point.
    assert error["squares"] > 0.02 and error["robust"] < 0.006
    assert (robust.robustness.loc[ACTIVATION_IN_TIL10, "S1"] < 0.5).all()

    report = flag_confounders(robust, til10)
    per_sample = [w for w in report.warnings if w.sample]
    assert {w.sample for w in per_sample} == {"S1"}
    row = report.findings.query("code == 'panel_excess' and sample == 'S1'").iloc[0]
    assert set(row["genes"].split(", ")) == set(ACTIVATION_IN_TIL10)
    assert "activation" in row["panels"] and row["fold"] > 3
    assert "Tregs" in row["cell_type"]
    message = next(w.message for w in per_sample if w.code == "panel_excess")
    assert "activated cells, not more cells?" in message
    assert "The robust fit gave them" in message


@pytest.mark.parametrize(("noise", "seed"), [(0.2, 11), (0.25, 12), (0.3, 13)])
def test_confounding_stays_quiet_on_clean_noisy_samples(til10, noise, seed):
    expr, _ = planted_mixtures(150, noise=noise, seed=seed)
    report = flag_confounders(deconvolve(expr, til10), til10)
    assert [w for w in report.warnings if w.severity != "info"] == []
    assert not report.findings["code"].isin(["driven_by_genes", "panel_excess"]).any()


def test_tumour_expressed_immune_genes_are_named(til10):
    expr, _ = planted_mixtures(20, noise=0.2, seed=5)
    tumour = [g for g in load_panels()["tumour_aberrant"].genes if g in expr.index]
    expr.loc[tumour, "S3"] *= 8
    report = flag_confounders(deconvolve(expr, til10), til10)
    assert {w.sample for w in report.warnings if w.sample} == {"S3"}
    messages = " ".join(w.message for w in report.warnings)
    assert "--exclude default,tumor" in messages


def test_flag_confounders_does_not_mutate_and_has_the_documented_table(til10):
    result = deconvolve(_activated(6, 0.2, seed=2), til10)
    before = (result.proportions.copy(), result.observed.copy())
    report = flag_confounders(result, til10)
    pd.testing.assert_frame_equal(result.proportions, before[0])
    pd.testing.assert_frame_equal(result.observed, before[1])
    assert list(report.findings.columns) == [
        "sample",
        "cell_type",
        "code",
        "genes",
        "panels",
        "fold",
        "estimate",
        "estimate_without",
        "cause",
        "message",
    ]


def test_explainer_parts_sum_to_the_fitted_value(til10):
    expr, _ = planted_mixtures(5, noise=0.2, seed=7)
    expr.loc["CTLA4", "S2"] *= 5
    result = deconvolve(expr, til10, mode="absolute")
    explanation = explain_gene(result, "ctla4")  # case-insensitive
    assert explanation.gene == "CTLA4"
    summary = explanation.summary
    cell_types = list(result.signature_matrix.columns)
    np.testing.assert_allclose(summary[cell_types].sum(axis=1), summary["fitted"], rtol=1e-12)
    np.testing.assert_allclose(summary["fitted"], result.fitted.loc["CTLA4"], rtol=1e-10)
    np.testing.assert_allclose(summary["fitted"] + summary["unexplained"], summary["observed"])
    parts = explanation.parts
    assert list(parts.columns) == ["sample", "part", "expression", "share"]
    by_sample = parts.groupby("sample", sort=False)["expression"].sum()
    np.testing.assert_allclose(by_sample, summary["observed"])
    sentence = summary.loc["S2", "sentence"]
    assert sentence.startswith(f"{summary.loc['S2', 'explained_share']:.0%} of CTLA4 in sample S2")
    assert "Tregs" in sentence and "not explained" in sentence
    # With the signature's display names the sentences use them; the columns keep the ids.
    named = explain_gene(result, "CTLA4", names=til10.shown_names).summary
    assert "Regulatory T cells" in named.loc["S2", "sentence"]
    assert "Tregs" not in named.loc["S2", "sentence"] and "Tregs" in named.columns
    # The 5x gene was discounted by the robust fit in S2, and the sentence says so.
    np.testing.assert_allclose(summary["weight"], result.robustness.loc["CTLA4"])
    assert summary.loc["S2", "weight"] < 0.5
    assert f"The robust fit gave CTLA4 {summary.loc['S2', 'weight']:.0%}" in sentence
    others = summary.drop(index="S2")
    assert not others.loc[others["weight"] >= 0.5, "sentence"].str.contains("robust fit").any()
    squares = explain_gene(deconvolve(expr, til10, mode="absolute", loss="squares"), "CTLA4")
    assert (squares.summary["weight"] == 1.0).all()
    assert not squares.summary["sentence"].str.contains("robust fit").any()


def test_explainer_refuses_genes_outside_the_fit(til10, planted):
    result = deconvolve(planted[0], til10)
    with pytest.raises(InputError, match="GAPDH is not one of the 153 TIL10 signature genes"):
        explain_gene(result, "GAPDH")
    with pytest.raises(InputError, match="^No gene was named; name one of the 153 TIL10"):
        explain_gene(result, "  ")
    with pytest.raises(InputError, match="it is on the exclusion list"):
        explain_gene(result, "CD36")  # on TIL10's default exclusion list
    result = deconvolve(planted[0].drop(index=["CD8B"]), til10)
    with pytest.raises(InputError, match="CD8B .* it is missing from the expression data"):
        explain_gene(result, "CD8B")


def test_batches_and_missing_values_do_not_change_the_answer(til10, monkeypatch):
    import deconv_core.confounding as confounding
    import deconv_core.qc as qc

    expr = _activated(7, 0.2, seed=4)
    expr.iloc[:20, 2] = np.nan  # S3 lacks 20 genes: fitted on the others
    expr.iloc[:-300, 4] = np.nan  # S5 keeps one signature gene: no fit at all
    expr.loc["CTLA4", "S5"] = 5.0
    result = deconvolve(expr, til10)
    whole = (
        flag_confounders(result, til10),
        qc.bootstrap_intervals(result, til10, n_resamples=20, seed=3),
    )
    monkeypatch.setattr(confounding, "_CHUNK", 2)
    monkeypatch.setattr(qc, "_CHUNK", 3)
    batched = (
        flag_confounders(result, til10),
        qc.bootstrap_intervals(result, til10, n_resamples=20, seed=3),
    )
    pd.testing.assert_frame_equal(whole[0].findings, batched[0].findings)
    assert whole[0].warnings == batched[0].warnings
    pd.testing.assert_frame_equal(whole[1], batched[1])
    intervals = whole[1].set_index("sample")
    assert intervals.loc["S5", ["lower", "upper"]].isna().all().all()
    assert intervals.loc["S3", ["lower", "upper"]].notna().all().all()
    assert {w.sample for w in whole[0].warnings if w.sample} == {"S1"}
    p = qc.permutation_test(result, n_permutations=50, seed=0).p_values
    assert np.isnan(p["S5"]) and p.drop("S5").notna().all()
    assert "could not be deconvolved" in explain_gene(result, "CTLA4").summary.loc["S5", "sentence"]
    qc.qc_warnings(result, signature=til10, p_values=p)


@pytest.mark.parametrize("workers", [1, 3])
def test_chunks_on_threads_give_the_findings_and_counts_of_one_pass(til10, monkeypatch, workers):
    import deconv_core.confounding as confounding

    expr = _activated(9, 0.3, seed=5)
    result = deconvolve(expr, til10)
    # A low bar for "rests on few genes", so that chunks add to the cohort's counts.
    whole = flag_confounders(result, til10, fragile_influence=0.05)
    assert any(w.code == "few_genes" for w in whole.warnings)
    assert (whole.findings["code"] == "fragile_estimate").sum() >= 5
    monkeypatch.setattr(confounding, "_CHUNK", 2)
    monkeypatch.setattr(confounding, "CHECK_WORKERS", workers)
    chunked = flag_confounders(result, til10, fragile_influence=0.05)
    pd.testing.assert_frame_equal(whole.findings, chunked.findings)
    assert whole.warnings == chunked.warnings


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_proportions_along_another_axis_equal_the_cell_types_by_samples_layout(til10, mode):
    # The leave-one-gene-out refits (genes, k, samples) are turned to proportions in
    # place of a reordered copy: the numbers must be the same to the last bit.
    rng = np.random.default_rng(3)
    k = til10.matrix.shape[1]
    coef = rng.random((7, k, 5)) * (rng.random((7, k, 5)) > 0.3)
    coef[2, :, 1] = 0.0  # a refit with no cell type left: NaN either way
    along, _ = coefficients_to_proportions(coef, til10, mode=mode, axis=1)
    flat, _ = coefficients_to_proportions(coef.transpose(1, 0, 2).reshape(k, -1), til10, mode=mode)
    assert along.shape == (7, k + (mode == "absolute"), 5)
    np.testing.assert_array_equal(along, flat.reshape(-1, 7, 5).transpose(1, 0, 2))
    assert np.isnan(along[2, :k, 1]).all()


def test_few_genes_names_the_cell_type_shown_its_id_and_its_most_common_genes():
    fragile = np.array([[4, 4], [2, 0]])  # samples assessed, samples fragile per cell type
    genes = [{"CD8B": 1, "CD8A": 2, "GZMK": 1, "PRF1": 1}, {}]
    (warning,) = _few_genes_warnings(
        ["T.cells.CD8", "B.cells"], ["CD8 T cells", "B cells"], fragile, genes, 0.2
    )
    assert warning.code == "few_genes" and warning.cell_type == "T.cells.CD8"
    assert warning.message.startswith("CD8 T cells estimates rest on few genes: in 2 of 4")
    assert "(most often CD8A, CD8B, GZMK)" in warning.message

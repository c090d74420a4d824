"""deconv_core.agreement: matching measured categories and scoring the agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deconv_core.agreement import (
    agreement_table,
    compare_fractions,
    describe_gaps,
    match_categories,
)
from deconv_core.deconvolve import deconvolve
from deconv_core.signatures import load_signature

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"


def test_match_categories_uses_words_and_the_signature_groups():
    til10 = load_signature("TIL10")
    mapping = match_categories(
        ["T cells", "CD8 T cells", "Monocytic lineage", "neutrophil", "Platelets"],
        til10.cell_types,
        til10.groups,
    )
    assert mapping["T cells"] == ["T.cells.CD4", "T.cells.CD8", "Tregs"]
    assert mapping["CD8 T cells"] == ["T.cells.CD8"]
    assert mapping["Monocytic lineage"] == ["Monocytes", "Macrophages.M1", "Macrophages.M2"]
    assert mapping["neutrophil"] == ["Neutrophils"]
    assert mapping["Platelets"] == []


SHARED = Path("/work/shared/data")
# Headers of real truth files (GSE107572: Finotello 2019 flow cytometry, and the 6-type truth
# of the Quasar deconvolution data) and what a biologist maps them to.
FINOTELLO_FACS = ["NK cells", "B cells", "Tregs", "mDC", "Monocytes", "Neutrophils"]
FINOTELLO_FACS += ["T cells CD8", "T cells CD4 conv", "Other"]
QUASAR = ["CD4Tcells", "CD8Tcells", "NK", "Bcells", "Monocytes", "Unknown"]


def test_real_truth_headers_as_written_in_the_files():
    folder = SHARED / "GSE107572_Finotello2019_PBMC"
    if not folder.exists():
        pytest.skip("benchmark data not on this machine")
    facs = pd.read_csv(folder / "ground_truth_facs_fractions_9types.tsv", sep="\t", index_col=0)
    quasar = pd.read_csv(
        folder / "ground_truth_fractions_6types_QuasarDeconData.tsv", sep="\t", index_col=0
    )
    assert list(facs.columns) == FINOTELLO_FACS and list(quasar.columns) == QUASAR


def test_finotello_flow_categories_are_proposed_with_til10_and_immunostates():
    til10, states = load_signature("TIL10"), load_signature("immunoStates")
    mapping = match_categories(
        FINOTELLO_FACS, til10.cell_types, til10.groups, names=til10.shown_names
    )
    assert mapping["T cells CD4 conv"] == ["T.cells.CD4"]
    assert mapping["mDC"] == ["Dendritic.cells"]  # TIL10's one dendritic-cell type
    assert mapping["T cells CD8"] == ["T.cells.CD8"] and mapping["Tregs"] == ["Tregs"]
    assert mapping["Other"] == []
    mapping = match_categories(
        FINOTELLO_FACS, states.cell_types, states.groups, names=states.shown_names
    )
    assert mapping["T cells CD4 conv"] == ["CD4_positive_alpha_beta_T_cell"]
    assert mapping["mDC"] == ["myeloid_dendritic_cell"]  # not the plasmacytoid ones
    assert mapping["Tregs"] == [] and mapping["Other"] == []


def test_run_together_and_short_names_are_proposed():
    til10 = load_signature("TIL10")
    mapping = match_categories(QUASAR, til10.cell_types, til10.groups, names=til10.shown_names)
    assert mapping == {
        "CD4Tcells": ["T.cells.CD4"],
        "CD8Tcells": ["T.cells.CD8"],
        "NK": ["NK.cells"],
        "Bcells": ["B.cells"],
        "Monocytes": ["Monocytes"],
        "Unknown": [],
    }


def test_a_category_named_like_a_display_name_is_proposed():
    # immunoStates' id is CD8_positive_alpha_beta_T_cell; its display name is "CD8 T cells".
    states = load_signature("immunoStates")
    assert states.shown_names["CD8_positive_alpha_beta_T_cell"] == "CD8 T cells"
    # Ids that say nothing (an uploaded signature's codes): the display names decide.
    codes, shown = ["ct_1", "ct_2"], {"ct_1": "CD8 T cells", "ct_2": "B cells"}
    assert match_categories(["CD8 T cells"], codes) == {"CD8 T cells": []}
    assert match_categories(["CD8 T cells"], codes, names=shown) == {"CD8 T cells": ["ct_1"]}
    mapping = match_categories(
        ["CD8 T cells"], states.cell_types, states.groups, names=states.shown_names
    )
    assert mapping["CD8 T cells"] == ["CD8_positive_alpha_beta_T_cell"]


def test_a_broader_category_is_proposed_as_the_sum_of_its_subtypes():
    states = load_signature("immunoStates")
    # Hoek 2015's flow header: immunoStates has CD14 and CD16 monocytes, no "monocytes".
    broad = ["monocytes", "Macrophages", "NK"]
    mapping = match_categories(broad, states.cell_types, states.groups, names=states.shown_names)
    assert mapping["monocytes"] == ["CD14_positive_monocyte", "CD16_positive_monocyte"]
    assert mapping["Macrophages"] == ["macrophage_m0", "macrophage_m1", "macrophage_m2"]
    assert mapping["NK"] == ["CD56bright_natural_killer_cell", "CD56dim_natural_killer_cell"]
    # LM22's cell-type names (the matrix itself is never shipped) against the Quasar truth.
    lm22 = ["B cells naive", "B cells memory", "Plasma cells", "T cells CD8", "T cells CD4 naive"]
    lm22 += ["T cells CD4 memory resting", "T cells CD4 memory activated", "NK cells resting"]
    lm22 += ["NK cells activated", "NK T cells", "T cells regulatory (Tregs)", "Monocytes"]
    mapping = match_categories(QUASAR + ["T cells"], lm22)
    assert mapping["CD4Tcells"] == lm22[4:7]  # not the Tregs: the category has no "regulatory"
    assert mapping["Bcells"] == lm22[:2] and mapping["CD8Tcells"] == ["T cells CD8"]
    assert mapping["NK"] == ["NK cells resting", "NK cells activated"]  # NKT cells are both kinds
    assert mapping["T cells"] == [*lm22[3:7], "T cells regulatory (Tregs)"]
    assert mapping["Monocytes"] == ["Monocytes"] and mapping["Unknown"] == []


@pytest.mark.parametrize("signature", ["TIL10", "immunoStates"])
def test_unrelated_or_partial_names_stay_unmapped(signature):
    sig = load_signature(signature)
    unrelated = ["Platelets", "Unknown", "Other", "other", "Cells", "Tumor cells", "Liver"]
    partial = ["CD4", "Myeloid cells", "Endothelial cells", "Memory cells", "Erythrocytes"]
    mapping = match_categories(
        unrelated + partial, sig.cell_types, sig.groups, names=sig.shown_names
    )
    assert mapping == {name: [] for name in unrelated + partial}
    # "CD4 T cells" is the CD4 cell type, not the whole T-cell group it shares words with.
    proposal = match_categories(["CD4 T cells"], sig.cell_types, sig.groups, names=sig.shown_names)
    (cd4,) = proposal["CD4 T cells"]
    assert "CD4" in cd4


def test_a_cell_type_that_could_not_be_estimated_leaves_its_category_out_there():
    # b could not be estimated in s2 (no marker with a value): a + b is unknown there, not a.
    props = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [0.1, np.nan, 0.1]}, index=["s1", "s2", "s3"])
    measured = pd.DataFrame({"AB": [0.2, 0.3, 0.4], "A": [0.1, 0.2, 0.3]}, index=props.index)
    pairs = compare_fractions(props, measured, {"AB": ["a", "b"], "A": ["a"]})
    by_category = pairs.groupby("category")["sample"].apply(list).to_dict()
    assert by_category == {"A": ["s1", "s2", "s3"], "AB": ["s1", "s3"]}


def test_compare_fractions_sums_mapped_cell_types_and_scores_them():
    props = pd.DataFrame(
        {"a": [0.1, 0.2, 0.3, 0.4], "b": [0.1, 0.1, 0.1, 0.1]}, index=["s1", "s2", "s3", "s4"]
    )
    measured = pd.DataFrame(
        {"AB": [0.2, 0.3, 0.4, np.nan], "A": [0.1, 0.2, 0.3, 0.5]}, index=["s1", "s2", "s3", "s4"]
    )
    pairs = compare_fractions(props, measured, {"AB": ["a", "b"], "A": ["a"], "X": []})
    assert set(pairs["category"]) == {"AB", "A"}
    assert len(pairs[pairs["category"] == "AB"]) == 3  # the missing measurement is dropped
    agreement = agreement_table(pairs)
    assert agreement.loc["AB", "rmse"] == pytest.approx(0.0)
    assert agreement.loc["AB", "pearson_r"] == pytest.approx(1.0)
    assert agreement.loc["A", "bias"] == pytest.approx(-0.025)


def test_describe_gaps_says_which_categories_and_samples_are_left_out_and_why():
    props = pd.DataFrame(
        {"a": [0.1, 0.2, 0.3], "b": [0.1, np.nan, 0.1], "c": [np.nan] * 3},
        index=["s1", "s2", "s3"],
    )
    measured = pd.DataFrame(
        {"AB": [0.2, 0.3, 0.4], "A": [0.1, 0.2, 0.3], "AC": [0.1, 0.2, 0.3], "Z": [0.1] * 3},
        index=props.index,
    )
    mapping = {"AB": ["a", "b"], "A": ["a"], "AC": ["a", "c"], "Z": [], "Q": ["a"]}
    gaps = describe_gaps(props, measured, mapping, names={"c": "Cee cells"}).set_index("category")
    assert list(gaps.index) == ["AB", "AC", "Z", "Q"]  # A is compared on every sample
    assert gaps.loc["AB", ["code", "compared", "left_out"]].tolist() == ["not_estimated", 2, 1]
    assert "b could not be estimated in 1 of 3 measured samples" in gaps.loc["AB", "reason"]
    assert gaps.loc["AC", ["code", "compared", "left_out"]].tolist() == ["not_estimated", 0, 3]
    assert gaps.loc["AC", "reason"].startswith("Cee cells could not be estimated in any")
    assert gaps.loc["Z", "code"] == "unmapped"
    assert gaps.loc["Q", "code"] == "not_measured"
    pairs = compare_fractions(props, measured, mapping)
    counts = pairs.groupby("category").size()
    assert counts["AB"] == gaps.loc["AB", "compared"] and "AC" not in counts


def test_b_cells_with_immunostates_on_the_demo_are_said_not_compared():
    # immunoStates maps "B cells" to naive, memory and plasma cells; memory B cells have no
    # marker in the demo data, so the sum is unknown and the category cannot be compared.
    expression = pd.read_csv(DEMO / "expression.tsv.gz", sep="\t", index_col=0)
    measured = pd.read_csv(DEMO / "measured_fractions.csv", index_col=0) / 100
    sig = load_signature("immunoStates")
    props = deconvolve(expression, sig).proportions
    mapping = match_categories(list(measured.columns), sig.cell_types, sig.groups)
    assert "memory_B_cell" in mapping["B cells"]
    assert "B cells" not in set(compare_fractions(props, measured, mapping)["category"])
    gaps = describe_gaps(props, measured, mapping, names=sig.shown_names).set_index("category")
    assert gaps.loc["B cells", ["code", "compared"]].tolist() == ["not_estimated", 0]
    assert gaps.loc["B cells", "left_out"] == measured["B cells"].notna().sum()
    assert (
        "Memory B cells could not be estimated in any measured sample"
        in (gaps.loc["B cells", "reason"])
    )


def test_the_exported_agreement_keeps_every_category_the_screen_warns_about():
    from deconv_core.agreement import agreement_with_gaps

    agreement = pd.DataFrame(
        {"n": [5, 3], "pearson_r": [0.9, 0.8], "rmse": [0.02, 0.03], "bias": [0.0, 0.01]},
        index=pd.Index(["T cells", "NK cells"], name="category"),
    )
    gaps = pd.DataFrame(
        {
            "category": ["NK cells", "B cells"],
            "code": ["not_estimated", "not_estimated"],
            "compared": [3, 0],
            "left_out": [2, 5],
            "reason": ["two samples lack NK markers", "memory B cells could not be estimated"],
        }
    )
    table = agreement_with_gaps(agreement, gaps)
    assert list(table.index) == ["T cells", "NK cells", "B cells"]
    assert table.loc["T cells", "note"] == "" and table.loc["NK cells", "n"] == 3
    assert table.loc["NK cells", "note"] == "two samples lack NK markers"
    assert table.loc["B cells", "n"] == 0 and np.isnan(table.loc["B cells", "rmse"])
    only_gaps = agreement_with_gaps(None, gaps.iloc[1:])
    assert list(only_gaps.index) == ["B cells"]
    assert agreement_with_gaps(None, gaps.iloc[:0]) is None

"""deconv_core.agreement: matching measured categories and scoring the agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deconv_core.agreement import agreement_table, compare_fractions, match_categories
from deconv_core.signatures import load_signature


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

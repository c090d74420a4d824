"""``run --method``: the methods side by side in the command line's outputs."""

import json

import pandas as pd
import pytest

from deconv_core.cli import main
from tests.core.test_methods import stromal_mixtures


@pytest.fixture
def tumour_file(tmp_path):
    expr, planted = stromal_mixtures(8, seed=4)
    path = tmp_path / "tumour.tsv"
    expr.to_csv(path, sep="\t", index_label="gene")
    return path, planted


def test_run_method_all_writes_fractions_scores_agreement_and_other(tumour_file, tmp_path, capsys):
    path, planted = tumour_file
    out = tmp_path / "out"
    args = ["run", str(path), "--signature", "TIL10", "--mode", "absolute", "--out", str(out)]
    assert main([*args, "--method", "all"]) == 0
    printed = capsys.readouterr().out
    assert "methods robust, nu-svr, epic, mcp-counter: " in printed
    assert "compared (cell types, 'other', marker populations) disagree" in printed
    # cell types by display name on the screen (methods_agreement.csv keeps the ids)
    assert "(Myeloid dendritic cells (score) ~ Dendritic cells)" in printed
    methods = pd.read_csv(out / "methods.csv")
    assert list(methods.columns) == ["method", "kind", "sample", "cell_type", "value"]
    kinds = methods.drop_duplicates("method").set_index("method")["kind"].to_dict()
    assert kinds == {"robust": "fraction", "nu-svr": "fraction", "epic": "fraction",
                     "mcp-counter": "score"}  # fmt: skip
    robust = methods[methods["method"] == "robust"].pivot(
        index="sample", columns="cell_type", values="value"
    )
    proportions = pd.read_csv(out / "proportions.csv", index_col="sample")
    pd.testing.assert_frame_equal(
        robust[proportions.columns], proportions, check_names=False, atol=1e-5
    )
    agreement = pd.read_csv(out / "methods_agreement.csv")
    assert {"cell_type", "method_a", "method_b", "n", "spearman_r", "flagged"} <= set(agreement)
    assert (agreement["n"] == 8).any()
    other = pd.read_csv(out / "methods_other.csv", index_col="sample")
    assert list(other.columns) == [
        "other",
        "tumour_at_most",
        "Fibroblasts score",
        "Endothelial cells score",
        "Epithelial cells score",
    ]
    assert other["Fibroblasts score"].corr(planted["Fibroblasts"], method="spearman") > 0.8
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["methods"] == ["all"]
    assert {"methods.csv", "methods_agreement.csv", "methods_other.csv"} <= set(manifest["files"])


def test_run_without_method_writes_no_method_files_and_keeps_the_manifest(tumour_file, tmp_path):
    path, _ = tumour_file
    out = tmp_path / "out"
    assert main(["run", str(path), "--signature", "TIL10", "--method", "robust",
                 "--out", str(out)]) == 0  # fmt: skip
    assert not (out / "methods.csv").exists()
    assert "methods" not in json.loads((out / "manifest.json").read_text())["parameters"]


def test_unknown_method_exits_2_listing_the_choices(tumour_file, tmp_path, capsys):
    path, _ = tumour_file
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path), "--signature", "TIL10", "--method", "cibersort",
              "--out", str(tmp_path / "o")])  # fmt: skip
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice" in err[0] and "nu-svr" in err[0]

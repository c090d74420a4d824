"""The command line's trust outputs: intervals, p-values, quality warnings, explain."""

import json

import numpy as np
import pandas as pd
import pytest

from deconv_core.cli import main
from tests.conftest import planted_mixtures


@pytest.fixture
def activated_file(tmp_path):
    expr, _ = planted_mixtures(8, noise=0.2, seed=1)
    expr.loc[["FASLG", "ICOS", "CTLA4"], "S1"] *= 6
    path = tmp_path / "bulk.tsv"
    expr.to_csv(path, sep="\t", index_label="gene")
    return path


def _run(bulk, out, *extra):
    return main(["run", str(bulk), "--signature", "TIL10", "--out", str(out), *extra])


def test_run_with_trust_options_is_byte_reproducible(activated_file, tmp_path):
    options = ["--mode", "absolute", "--bootstrap", "40", "--permutations", "100", "--seed", "7"]
    first, second = tmp_path / "a", tmp_path / "b"
    assert _run(activated_file, first, *options) == 0
    assert _run(activated_file, second, *options) == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert "intervals.csv" in names
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name

    intervals = pd.read_csv(first / "intervals.csv")
    assert list(intervals.columns) == ["sample", "cell_type", "estimate", "lower", "upper"]
    assert len(intervals) == 8 * 11
    props = pd.read_csv(first / "proportions.csv", index_col="sample")
    np.testing.assert_allclose(intervals["estimate"], props.to_numpy().ravel(), rtol=1e-5)
    fit = pd.read_csv(first / "fit.csv", index_col="sample")
    assert fit["p_value"].between(1 / 101 - 1e-6, 1).all()  # written with 6 digits
    manifest = json.loads((first / "manifest.json").read_text())
    params = manifest["parameters"]
    assert (params["bootstrap"], params["permutations"], params["seed"]) == (40, 100, 7)
    assert params["level"] == 0.95
    warnings = pd.read_csv(first / "warnings.csv", keep_default_na=False)
    assert manifest["result"]["warnings"] == len(warnings)
    assert params["loss"] == "huber" and params["weighting"] == "auto"
    assert manifest["result"]["weighting"] == "none"  # what auto chose for TIL10
    # The robust default down-weights the activation genes (see
    # test_confounding); the warning still names the sample, genes and panel.
    flagged = warnings[warnings["code"].isin(["driven_by_genes", "panel_excess"])]
    assert set(flagged["sample"]) == {"S1"}
    assert flagged["message"].str.contains("Regulatory T cells").any()
    assert flagged["cell_type"].str.contains("Tregs").any()
    assert flagged["message"].str.contains("ICOS").all()


def test_other_seed_changes_the_intervals(activated_file, tmp_path):
    assert _run(activated_file, tmp_path / "a", "--bootstrap", "20", "--seed", "1") == 0
    assert _run(activated_file, tmp_path / "b", "--bootstrap", "20", "--seed", "2") == 0
    a = (tmp_path / "a" / "intervals.csv").read_bytes()
    assert a != (tmp_path / "b" / "intervals.csv").read_bytes()


def test_defaults_compute_no_intervals_and_no_p_values(activated_file, tmp_path):
    assert _run(activated_file, tmp_path / "o") == 0
    assert not (tmp_path / "o" / "intervals.csv").exists()
    fit = pd.read_csv(tmp_path / "o" / "fit.csv", index_col="sample")
    assert fit["p_value"].isna().all()
    params = json.loads((tmp_path / "o" / "manifest.json").read_text())["parameters"]
    assert (params["bootstrap"], params["permutations"], params["seed"]) == (0, 0, 0)


def test_bad_trust_option_is_a_usage_error(activated_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _run(activated_file, tmp_path / "o", "--bootstrap", "-5")
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--bootstrap" in err[0]


def test_explain_writes_parts_and_sentences(activated_file, tmp_path, capsys):
    out = tmp_path / "sub" / "ctla4.csv"
    code = main(
        [
            "explain",
            str(activated_file),
            "--signature",
            "TIL10",
            "--gene",
            "CTLA4",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    table = pd.read_csv(out, index_col="sample")
    assert list(table.index) == [f"S{i}" for i in range(1, 9)]
    cell_types = list(table.columns[table.columns.get_loc("weight") + 1 : -1])
    assert len(cell_types) == 10 and table.columns[-1] == "sentence"
    np.testing.assert_allclose(table[cell_types].sum(axis=1), table["fitted"], rtol=1e-4)
    np.testing.assert_allclose(table["fitted"] + table["unexplained"], table["observed"], rtol=1e-4)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 8 and "CTLA4 in sample S1" in lines[0]


@pytest.mark.parametrize(
    ("gene", "bulk", "message"),
    [
        ("NOTAGENE", None, "is not one of the"),
        ("CD36", None, "exclusion list"),
        ("CD8A", "missing.tsv", "Cannot find"),
    ],
)
def test_explain_errors_are_one_line(activated_file, tmp_path, capsys, gene, bulk, message):
    bulk = str(tmp_path / bulk) if bulk else str(activated_file)
    out = tmp_path / "x.csv"
    code = main(["explain", bulk, "--signature", "TIL10", "--gene", gene, "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert not out.exists()

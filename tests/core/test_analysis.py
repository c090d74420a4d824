"""One analysis, one verdict: options checked once, verdicts, mode validity, the one writer."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from deconv_core.analysis import assess, fit_signature, run_analysis
from deconv_core.cli import main
from deconv_core.coverage import coverage_table, genes_found
from deconv_core.expression import load_expression
from deconv_core.options import RunOptions, check_options
from deconv_core.qc import flag_samples, permutation_test
from deconv_core.report import bundle_zip, output_files, write_outputs
from deconv_core.signature_diagnostics import describe_signature
from deconv_core.signatures import LM22_CELL_TYPES, load_signature
from deconv_core.thresholds import ALPHA, POOR_R
from deconv_core.validation import InputError
from deconv_core.verdict import VERDICTS, fit_grade, sample_verdicts
from tests.conftest import planted_mixtures


def _expression(tmp_path, expr, name="bulk.tsv"):
    path = tmp_path / name
    expr.to_csv(path, sep="\t", index_label="gene")
    return path, load_expression(path)


@pytest.fixture
def cohort(tmp_path):
    """Eight planted samples; S7 scrambled (no mixture), S8 a pure gene-wise shuffle."""
    expr, _ = planted_mixtures(8, noise=0.2, seed=4, n_filler=6000)
    rng = np.random.default_rng(3)
    sig_genes = list(load_signature("TIL10").matrix.index)
    expr.loc[sig_genes, "S7"] = rng.permutation(expr.loc[sig_genes, "S7"].to_numpy())
    return _expression(tmp_path, expr)


def test_unknown_option_values_list_the_valid_ones(til10):
    with pytest.raises(InputError, match=r"Unknown exclusion list 'tumour'.*default, tumor"):
        check_options(RunOptions(exclude="tumour"), til10.excluded_genes)
    with pytest.raises(InputError, match=r"Unknown mode 'abs'; use one of relative, absolute"):
        check_options(RunOptions(mode="abs"))
    with pytest.raises(InputError, match="whole number"):
        check_options(RunOptions(bootstrap=-1))
    # Past these a run would die allocating the draws (MemoryError) or run for days.
    with pytest.raises(InputError, match="bootstrap option must be at most 10,000"):
        check_options(RunOptions(bootstrap=10**11))
    with pytest.raises(InputError, match="permutations option must be at most 1,000,000"):
        check_options(RunOptions(permutations=10**12))
    # "default" is allowed for a signature without lists (it means "its default, if any").
    assert check_options(RunOptions(), {}).exclude == "default"


def test_cli_refuses_absurd_resample_counts_in_one_line(cohort, tmp_path, capsys):
    path, _ = cohort
    out = tmp_path / "out"
    for option in ("--bootstrap", "--permutations"):
        code = main(
            ["run", str(path), "--signature", "TIL10", option, str(10**12), "--out", str(out)]
        )
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "at most" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_refuses_an_unknown_exclusion_list(cohort, tmp_path, capsys):
    path, _ = cohort
    out = tmp_path / "out"
    code = main(
        ["run", str(path), "--signature", "TIL10", "--exclude", "tumour", "--out", str(out)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "'tumour'" in err[0] and "tumor" in err[0] and "none" in err[0]
    assert not out.exists()  # nothing written, nothing recorded


def test_verdict_agrees_with_the_flagged_samples(cohort, til10):
    _, expression = cohort
    options = RunOptions(permutations=200)
    analysis = run_analysis(expression, til10, options)
    verdicts = analysis.verdicts
    assert set(verdicts["verdict"]) <= set(VERDICTS)
    poor = set(verdicts.index[verdicts["verdict"] == "poor"])
    flagged = flag_samples(analysis.result, p_values=analysis.p_values)
    poor_codes = ["not_deconvolved", "poor_fit", "fit_not_significant"]
    flagged_poor = set(flagged.loc[flagged["code"].isin(poor_codes), "sample"])
    assert poor == flagged_poor and "S7" in poor
    assert analysis.worst_first[0] == "S7"
    reasons = verdicts.loc["S7", "reasons"]
    assert "poor fit" in reasons or "random mixtures" in reasons
    good = verdicts.index[verdicts["verdict"] == "good"]
    assert len(good) >= 5
    assert all(analysis.fit_table.loc[good, "pearson_r"] >= 0.9)


def test_high_p_value_makes_a_sample_poor():
    fit = pd.DataFrame({"pearson_r": [0.97, 0.97], "r2": [0.95, 0.95]}, index=["a", "b"])
    p = pd.Series([0.002, 0.64], index=["a", "b"])
    table = sample_verdicts(fit, (), p_values=p)
    assert list(table["verdict"]) == ["good", "poor"]
    assert f"p = 0.64 > {ALPHA:g}" in table.loc["b", "reasons"]
    assert fit_grade(POOR_R - 0.01, 0.9) == "poor" and fit_grade(np.nan, 0.9) == "poor"
    assert fit_grade(0.85, 0.9) == "check" and fit_grade(0.95, 0.9) == "good"


def test_low_coverage_makes_every_sample_check(tmp_path, til10):
    expr, _ = planted_mixtures(4, seed=1, n_filler=6000)
    keep = list(til10.matrix.index[:70]) + [g for g in expr.index if g.startswith("FILLER")]
    _, expression = _expression(tmp_path, expr.loc[keep])
    analysis = assess(
        expression, til10, RunOptions(), fit_signature(expression, til10, RunOptions())
    )
    assert set(analysis.verdicts["verdict"]) == {"check"}
    assert analysis.verdicts["reasons"].str.contains("few signature genes").all()


def test_coverage_is_the_same_everywhere(tmp_path, til10):
    expr, _ = planted_mixtures(3, seed=2, n_filler=6000)
    empty = list(til10.matrix.index[:20])
    expr.loc[empty] = np.nan  # present, but empty in every sample
    path, expression = _expression(tmp_path, expr)
    result = fit_signature(expression, til10, RunOptions(exclude="none"))
    described = describe_signature(til10, expression=expression.table).coverage
    found = genes_found(expression.table, list(til10.matrix.index))
    assert len(found) == len(result.genes_used) == 150
    assert described.loc["all", "found"] == 150
    pd.testing.assert_frame_equal(coverage_table(til10.matrix, found), described.drop(index="all"))
    pd.testing.assert_frame_equal(result.coverage, coverage_table(til10.matrix, found))


def _lm22_like(tmp_path):
    rng = np.random.default_rng(0)
    til10 = load_signature("TIL10").matrix
    genes = list(til10.index) + [f"G{i}" for i in range(547 - len(til10))]
    table = pd.DataFrame(
        rng.gamma(0.5, 200.0, size=(547, len(LM22_CELL_TYPES))),
        index=genes,
        columns=LM22_CELL_TYPES,
    )
    path = tmp_path / "LM22.txt"
    table.to_csv(path, sep="\t", index_label="Gene symbol")
    return path


def test_absolute_mode_is_refused_for_lm22_and_partial_single_cell_signatures(
    cohort, tmp_path, capsys
):
    path, expression = cohort
    lm22 = load_signature(str(_lm22_like(tmp_path)))
    assert lm22.restricted == "LM22"
    with pytest.raises(InputError, match="not meaningful with LM22.txt") as caught:
        fit_signature(expression, lm22, RunOptions(mode="absolute"))
    assert "microarray-derived" in str(caught.value)
    assert "--mode relative" in caught.value.text("cli")
    assert "Relative under Mode" in caught.value.text("app")
    # Relative mode runs.
    assert fit_signature(expression, lm22, RunOptions()).mode == "relative"
    # The command line says so in one line.
    out = tmp_path / "o"
    code = main(["run", str(path), "--signature", str(tmp_path / "LM22.txt"), "--mode",
                 "absolute", "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--mode relative" in err[0]
    # TIL10 (whole-transcriptome TPM with mRNA factors) is allowed.
    til10 = load_signature("TIL10")
    assert fit_signature(expression, til10, RunOptions(mode="absolute")).mode == "absolute"


def test_one_writer_gives_the_same_files_to_every_surface(cohort, til10, tmp_path):
    _, expression = cohort
    options = RunOptions(mode="absolute", bootstrap=20, permutations=50, seed=3)
    analysis = run_analysis(expression, til10, options)
    written = write_outputs(tmp_path / "out", analysis)
    assert written[-1].name == "manifest.json"  # last
    archive = zipfile.ZipFile(io.BytesIO(bundle_zip(analysis)))
    for name, data in output_files(analysis).items():
        assert (tmp_path / "out" / name).read_bytes() == data == archive.read(name), name
    folder = json.loads((tmp_path / "out" / "manifest.json").read_text())
    zipped = json.loads(archive.read("manifest.json"))
    assert folder["parameters"] == zipped["parameters"]
    assert folder["inputs"] == zipped["inputs"]
    assert (folder["interface"], zipped["interface"]) == ("command line", "dashboard")
    signature = folder["inputs"]["signature"]
    assert signature["name"] == "TIL10" and len(signature["sha256"]) == 64
    fit = pd.read_csv(tmp_path / "out" / "fit.csv", index_col="sample")
    assert {"verdict", "reasons", "p_value"} <= set(fit.columns)
    assert (
        folder["result"]["verdicts"]
        == fit["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0).to_dict()
    )


def test_permutation_p_values_feed_the_verdict(cohort, til10):
    _, expression = cohort
    result = fit_signature(expression, til10, RunOptions())
    p = permutation_test(result, n_permutations=100, seed=0).p_values
    analysis = assess(expression, til10, RunOptions(permutations=100), result, p_values=p)
    np.testing.assert_allclose(analysis.fit_table["p_value"], p.to_numpy())


def test_single_cell_signature_of_a_few_thousand_genes_is_refused_in_absolute_mode(
    cohort, tmp_path
):
    from pathlib import Path

    from deconv_core.io.singlecell import read_single_cell
    from deconv_core.singlecell import build_signature
    from deconv_core.singlecell_write import write_signature_build

    folder = Path(__file__).resolve().parents[1] / "fixtures" / "singlecell"
    data = read_single_cell(folder / "counts.csv.gz", labels=folder / "labels.csv")
    built = build_signature(data, n_mixtures=5, name="pbmc").signature
    assert data.genes.size < 15000 and built.mrna_scaling and not built.whole_transcriptome
    _, expression = cohort
    with pytest.raises(InputError, match="not on a whole-transcriptome TPM scale"):
        fit_signature(expression, built, RunOptions(mode="absolute"))
    # The sidecar carries the flag, so the written file is refused the same way.
    paths = write_signature_build(
        build_signature(data, n_mixtures=5, name="pbmc"), tmp_path / "pbmc.tsv"
    )
    again = load_signature(str(paths["signature"]))
    assert again.whole_transcriptome is False and again.mrna_scaling


def test_a_sample_that_cannot_be_fitted_is_poor_and_flagged(tmp_path, til10):
    expr, _ = planted_mixtures(5, noise=0.1, seed=6, n_filler=6000)
    expr.loc[list(til10.matrix.index[5:]), "S3"] = np.nan  # five signature genes left
    _, expression = _expression(tmp_path, expr)
    analysis = run_analysis(expression, til10, RunOptions())
    assert analysis.verdicts.loc["S3", "verdict"] == "poor"
    assert analysis.verdicts.loc["S3", "reasons"].startswith("not deconvolved")
    flagged = flag_samples(analysis.result)
    assert flagged.loc[flagged["sample"] == "S3", "code"].tolist() == ["not_deconvolved"]
    assert analysis.worst_first[0] == "S3"
    # The exclusion list is checked by the public function too, not silently ignored.
    with pytest.raises(InputError, match="Unknown exclusion list 'tumour'"):
        from deconv_core.deconvolve import deconvolve

        deconvolve(expression.table, til10, exclude="tumour")

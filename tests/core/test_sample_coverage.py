"""Marker coverage per sample, cell types without markers, and whole-name gene lists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deconv_core.analysis import run_analysis
from deconv_core.card import build_card, card_html
from deconv_core.coverage import marker_genes, name_list
from deconv_core.deconvolve import MEANINGS, RELATIVE_WITH_BLANKS, deconvolve
from deconv_core.expression import load_expression
from deconv_core.groups import group_proportions
from deconv_core.options import RunOptions
from deconv_core.report import output_files
from deconv_core.thresholds import COVERAGE_FAIR
from deconv_core.verdict import sample_verdicts
from tests.conftest import planted_mixtures


def _markers(til10, cell_type: str) -> list[str]:
    marks = marker_genes(til10.matrix)
    return [str(g) for g in marks.index[marks == cell_type]]


@pytest.fixture
def noisy():
    expr, _ = planted_mixtures(6, noise=0.1, seed=2)
    return expr


def test_name_list_cuts_at_whole_names_and_counts_the_rest():
    names = [f"GENE{i:02d}" for i in range(30)]
    text = name_list(names, limit=40)
    shown, rest = text.split(" and ")
    assert all(n in names for n in shown.split(", "))  # no name cut in the middle
    assert rest == f"{30 - len(shown.split(', '))} more"
    assert len(shown) <= 40
    assert name_list(["A", "B"]) == "A, B"
    assert name_list(["A" * 200, "B"], limit=10) == "A" * 200 + " and 1 more"


def test_cell_type_coverage_lists_whole_gene_names(planted, til10):
    expr, _ = planted
    b_genes = _markers(til10, "B.cells")
    res = deconvolve(expr.drop(index=b_genes), til10, exclude=None)
    (warning,) = [w for w in res.warnings if w.code == "cell_type_coverage"]
    listed = warning.message.split("(missing: ")[1].split(")")[0]
    shown, rest = listed.split(" and ")
    assert set(shown.split(", ")) <= set(b_genes)
    assert rest == f"{len(b_genes) - len(shown.split(', '))} more"


def test_a_sample_without_one_types_markers_is_flagged_and_left_empty(noisy, til10):
    b_genes = _markers(til10, "B.cells")
    holes = noisy.copy()
    holes.loc[b_genes, "S2"] = np.nan
    complete = deconvolve(noisy, til10)
    res = deconvolve(holes, til10)
    # The cohort-wide coverage is that of complete data.
    pd.testing.assert_frame_equal(res.coverage, complete.coverage)
    assert complete.sample_coverage.empty
    row = res.sample_coverage.set_index(["sample", "cell_type"]).loc[("S2", "B.cells")]
    assert row["found"] == 0 and row["marker_genes"] == len(b_genes) and row["level"] == "poor"
    (warning,) = [w for w in res.warnings if w.code == "sample_cell_type_coverage"]
    assert warning.sample == "S2" and warning.cell_type == "B.cells"
    assert warning.severity == "warning"
    assert f"only 0 of the {len(b_genes)} marker genes of B cells" in warning.message
    # Not a plain 0: the estimate cannot be made.
    assert np.isnan(res.proportions.loc["S2", "B.cells"])
    assert res.proportions.loc["S2"].drop("B.cells").notna().all()
    # The other samples are fitted as before.
    others = [s for s in noisy.columns if s != "S2"]
    pd.testing.assert_frame_equal(res.proportions.loc[others], complete.proportions.loc[others])
    verdicts = sample_verdicts(res.fit, res.warnings)["verdict"]
    before = sample_verdicts(complete.fit, complete.warnings)["verdict"]
    assert before["S2"] == "good" and verdicts["S2"] == "check"
    pd.testing.assert_series_equal(verdicts[others], before[others])


def test_a_sample_with_few_markers_keeps_its_estimate_and_gets_the_warning(noisy, til10):
    b_genes = _markers(til10, "B.cells")
    kept = int(len(b_genes) * COVERAGE_FAIR) - 1
    holes = noisy.copy()
    holes.loc[b_genes[kept:], "S3"] = np.nan
    res = deconvolve(holes, til10)
    (warning,) = [w for w in res.warnings if w.code == "sample_cell_type_coverage"]
    assert f"only {kept} of the {len(b_genes)}" in warning.message
    assert "less reliable" in warning.message
    assert np.isfinite(res.proportions.loc["S3", "B.cells"])
    assert sample_verdicts(res.fit, res.warnings).loc["S3", "verdict"] != "good"


def test_a_few_missing_markers_above_the_threshold_do_not_warn(noisy, til10):
    holes = noisy.copy()
    holes.loc[_markers(til10, "B.cells")[:2], "S1"] = np.nan
    res = deconvolve(holes, til10)
    assert len(res.sample_coverage) == 1  # counted and shown, not a warning
    assert "sample_cell_type_coverage" not in {w.code for w in res.warnings}


def test_a_type_without_any_marker_is_empty_not_zero(tmp_path, til10):
    expr, _ = planted_mixtures(6, noise=0.1, seed=2, n_filler=6000)
    b_genes = _markers(til10, "B.cells")
    path = tmp_path / "bulk.tsv"
    expr.drop(index=b_genes).to_csv(path, sep="\t", index_label="gene")
    options = RunOptions(bootstrap=5, mode="absolute")
    analysis = run_analysis(load_expression(path), til10, options)
    props = analysis.result.proportions
    assert props["B.cells"].isna().all()
    assert props.drop(columns="B.cells").notna().all().all()
    (warning,) = [w for w in analysis.warnings if w.code == "cell_type_coverage"]
    assert "cannot be estimated" in warning.message
    assert set(analysis.verdicts["verdict"]) <= {"check", "poor"}
    intervals = analysis.intervals.set_index("cell_type").loc["B.cells"]
    assert intervals[["estimate", "lower", "upper"]].isna().all().all()
    groups = group_proportions(props, analysis.groups)
    b_group = next(g for g, members in analysis.groups.items() if "B.cells" in members)
    assert groups[b_group].isna().all()
    files = output_files(analysis)
    assert "sample_coverage.csv" not in files  # no per-sample gaps
    first = files["proportions.csv"].decode().splitlines()[1].split(",")
    header = files["proportions.csv"].decode().splitlines()[0].split(",")
    assert first[header.index("B.cells")] == ""


def test_the_per_sample_table_is_written_only_with_gaps(tmp_path, noisy, til10):
    path = tmp_path / "bulk.tsv"
    holes = noisy.copy()
    holes.loc[_markers(til10, "B.cells"), "S2"] = np.nan
    holes.to_csv(path, sep="\t", index_label="gene")
    files = output_files(run_analysis(load_expression(path), til10, RunOptions()))
    lines = files["sample_coverage.csv"].decode().splitlines()
    assert lines[0] == "sample,cell_type,marker_genes,found,fraction,level,missing"
    assert lines[1].startswith("S2,B.cells,")


def test_the_card_shows_an_estimate_that_cannot_be_made_as_a_dash(tmp_path, noisy, til10):
    path = tmp_path / "bulk.tsv"
    holes = noisy.copy()
    holes.loc[_markers(til10, "B.cells"), "S2"] = np.nan
    holes.to_csv(path, sep="\t", index_label="gene")
    analysis = run_analysis(load_expression(path), til10, RunOptions())
    card = build_card(analysis, "S2", intervals=analysis.intervals)
    html = card_html(card)
    bars = html[html.index("<svg") : html.index("</svg>")]
    after_b = bars[bars.index(">B cells<") :]
    assert after_b.split("</text>")[1].endswith(">–")  # the bar's label, not "0.0 %"
    assert "its estimate cannot be made" in html


def test_the_meaning_says_a_blank_cell_type_leaves_the_sum_below_one(til10):
    expr, _ = planted_mixtures(4, noise=0.1, seed=9, n_filler=300)
    assert deconvolve(expr, til10).meaning == MEANINGS["relative"]
    expr.loc[[g for g in _markers(til10, "B.cells") if g in expr.index], "S2"] = np.nan
    result = deconvolve(expr, til10)
    assert np.isnan(result.proportions.loc["S2", "B.cells"])
    assert result.proportions.loc["S2"].sum() < 1 - 1e-6
    assert result.meaning == RELATIVE_WITH_BLANKS
    assert deconvolve(expr, til10, mode="absolute").meaning != RELATIVE_WITH_BLANKS

"""The deconvolution engine on planted mixtures of the shipped TIL10 signature."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deconv_core.coverage import coverage_table, marker_genes
from deconv_core.deconvolve import MEANINGS, deconvolve
from deconv_core.qc import qc_warnings
from deconv_core.validation import InputError
from tests.conftest import planted_mixtures


def _expected_cells(shares: pd.DataFrame, til10) -> pd.DataFrame:
    factors = pd.Series(til10.mrna_scaling)[shares.columns]
    cells = shares / factors
    return cells.div(cells.sum(axis=1), axis=0)


def test_relative_exact_without_noise(planted, til10):
    expr, shares = planted
    res = deconvolve(expr, til10, mode="relative", exclude=None)
    expected = _expected_cells(shares, til10)
    np.testing.assert_allclose(res.proportions.to_numpy(), expected.to_numpy(), atol=1e-9)
    np.testing.assert_allclose(res.proportions.sum(axis=1), 1.0)
    np.testing.assert_allclose(res.fit["r2"], 1.0, atol=1e-9)
    assert res.meaning == MEANINGS["relative"]
    assert list(res.proportions.index) == list(expr.columns)


def test_absolute_recovers_other(planted, til10):
    expr, shares = planted
    res = deconvolve(expr, til10, mode="absolute", exclude=None)
    assert list(res.proportions.columns) == [*til10.cell_types, "other"]
    np.testing.assert_allclose(res.proportions["other"], 0.3, atol=1e-9)
    expected = _expected_cells(shares, til10) * 0.7
    np.testing.assert_allclose(
        res.proportions[til10.cell_types].to_numpy(), expected.to_numpy(), atol=1e-9
    )
    np.testing.assert_allclose(res.coefficients.to_numpy(), shares.to_numpy(), atol=1e-9)


def test_without_mrna_scaling_relative_equals_shares(planted, til10):
    expr, shares = planted
    res = deconvolve(expr, til10, mode="relative", exclude=None, mrna_scaling=False)
    expected = shares.div(shares.sum(axis=1), axis=0)
    np.testing.assert_allclose(res.proportions.to_numpy(), expected.to_numpy(), atol=1e-9)


def test_close_with_noise(til10):
    expr, shares = planted_mixtures(20, noise=0.15, seed=3)
    res = deconvolve(expr, til10, mode="relative", exclude=None)
    expected = _expected_cells(shares, til10)
    assert np.abs(res.proportions.to_numpy() - expected.to_numpy()).mean() < 0.03
    assert (res.fit["pearson_r"] > 0.9).all()


def test_scale_invariance(planted, til10):
    expr, _ = planted
    a = deconvolve(expr, til10, mode="absolute")
    b = deconvolve(expr * 37.5, til10, mode="absolute")
    pd.testing.assert_frame_equal(a.proportions, b.proportions, atol=1e-12)


def test_default_exclusion_list_is_reported(planted, til10):
    expr, _ = planted
    res = deconvolve(expr, til10)
    excluded = set(til10.excluded_genes["default"]) & set(til10.matrix.index)
    assert excluded.isdisjoint(res.genes_used)
    assert set(res.genes_excluded) == excluded and res.genes_missing == ()  # all in the data
    assert "genes_excluded" in {w.code for w in res.warnings}


def test_missing_genes_are_those_absent_from_the_data_and_excluded_ones_are_apart(planted, til10):
    expr, _ = planted
    listed = [g for g in til10.excluded_genes["default"] if g in til10.matrix.index]
    fitted = [g for g in til10.matrix.index if g not in listed]
    absent = [listed[0], fitted[0], fitted[1]]  # one of them on the exclusion list
    res = deconvolve(expr.drop(index=absent), til10)
    assert res.genes_missing == tuple(g for g in til10.matrix.index if g in absent)
    assert res.genes_excluded == tuple(listed[1:])
    assert len(res.genes_used) + len(res.genes_missing) + len(res.genes_excluded) == len(
        til10.matrix
    )


def test_exclusion_lists_joined_by_commas_leave_out_every_list(planted, til10):
    # quanTIseq's tumour mode leaves out its noisy genes and the tumour-aberrant ones.
    expr, _ = planted
    lists = til10.excluded_genes
    in_sig = set(til10.matrix.index)
    both = (set(lists["default"]) | set(lists["tumor"])) & in_sig
    assert len(both) > len(set(lists["tumor"]) & in_sig)
    res = deconvolve(expr, til10, exclude="default, tumor")
    assert both.isdisjoint(res.genes_used) and both == set(res.genes_excluded)
    assert len(res.genes_used) == len(in_sig - both)
    note = next(w for w in res.warnings if w.code == "genes_excluded")
    assert f"{len(both)} signature genes" in note.message and "'tumor'" in note.message
    tumour_only = deconvolve(expr, til10, exclude="tumor")
    assert set(lists["default"]) - set(lists["tumor"]) <= set(tumour_only.genes_used)
    for bad in ("none,tumor", "default,tumour", ","):
        with pytest.raises(InputError, match="Unknown exclusion list"):
            deconvolve(expr, til10, exclude=bad)


def test_residuals_are_observed_minus_fitted(planted, til10):
    expr, _ = planted
    res = deconvolve(expr * np.linspace(0.8, 1.2, expr.shape[0])[:, None], til10, exclude=None)
    np.testing.assert_allclose(res.residuals, res.observed - res.fitted)
    assert list(res.residuals.index) == list(res.genes_used)


def test_case_insensitive_gene_matching(planted, til10):
    expr, _ = planted
    lower = expr.rename(index=str.lower)
    a = deconvolve(expr, til10, exclude=None)
    b = deconvolve(lower, til10, exclude=None)
    pd.testing.assert_frame_equal(a.proportions, b.proportions)


def test_partial_coverage_is_reported_per_cell_type(planted, til10):
    expr, _ = planted
    marks = marker_genes(til10.matrix)
    b_genes = list(marks.index[marks == "B.cells"])
    res = deconvolve(expr.drop(index=b_genes), til10, exclude=None)
    row = res.coverage.loc["B.cells"]
    assert row["found"] == 0 and row["marker_genes"] == len(b_genes)
    assert set(row["missing"].split(", ")) == set(b_genes)
    (warning,) = [w for w in res.warnings if w.code == "cell_type_coverage"]
    # the message names the cell type by its display name, the record keeps the id
    assert "marker genes of B cells were found" in warning.message
    assert warning.cell_type == "B.cells" and "B.cells" not in warning.message
    assert res.coverage.loc["T.cells.CD8", "fraction"] == 1.0


def test_too_few_genes_names_the_likely_cause(planted, til10):
    expr, _ = planted
    ens = expr.copy()
    ens.index = [f"ENSG{i:011d}" for i in range(expr.shape[0])]
    with pytest.raises(InputError, match=r"Only 0 of \d+ signature genes.*Ensembl"):
        deconvolve(ens, til10)
    mouse = expr.rename(index=lambda g: f"X{g.lower()}".capitalize())
    with pytest.raises(InputError, match="mouse"):
        deconvolve(mouse, til10)


def test_a_gene_subset_and_foreign_probes_name_their_likely_cause(planted, til10):
    expr, _ = planted
    subset = expr.loc[til10.matrix.index[:20]]  # 20 of the 170 signature genes, nothing else
    with pytest.raises(InputError, match=r"only 20 rows, 20 of them signature genes: it looks"):
        deconvolve(subset, til10)
    with pytest.raises(InputError, match=r"20 of the expression's column names are signature"):
        deconvolve(subset.T, til10)  # samples as rows: the file was not turned round
    probes = til10.matrix.set_axis([f"{i}_at" for i in range(len(til10.matrix))], axis=0)
    other_array = expr.set_axis([f"ILMN_{i}" for i in range(len(expr))], axis=0)
    with pytest.raises(InputError, match="both name microarray probes but share few"):
        deconvolve(other_array, probes)


def test_missing_values_fit_on_remaining_genes(planted, til10):
    expr, _ = planted
    holes = expr.copy()
    holes.iloc[:5, 0] = np.nan
    res = deconvolve(holes, til10, exclude=None)
    full = deconvolve(expr, til10, exclude=None)
    # Exact planted data: dropping a few genes of one sample changes nothing.
    pd.testing.assert_frame_equal(res.proportions, full.proportions, atol=1e-9)
    assert res.residuals.iloc[:5, 0].isna().all()


def test_unknown_mode(planted, til10):
    with pytest.raises(InputError, match="Unknown mode"):
        deconvolve(planted[0], til10, mode="fractions")


def test_absolute_overshoot_and_few_genes_warn(til10):
    expr, _ = planted_mixtures(3, covered=0.7, n_filler=0)
    res = deconvolve(expr, til10, mode="absolute", exclude=None)
    codes = {w.code for w in res.warnings}
    assert {"few_genes_absolute", "overshoot"} <= codes
    np.testing.assert_allclose(res.proportions["other"], 0.0, atol=1e-12)


def test_coverage_table_counts():
    sig = pd.DataFrame({"A": [5.0, 1.0, 0.0], "B": [0.0, 2.0, 9.0]}, index=["g1", "g2", "g3"])
    cov = coverage_table(sig, ["g1", "g3"])
    assert cov.loc["A", "marker_genes"] == 1 and cov.loc["A", "found"] == 1
    assert cov.loc["B", "marker_genes"] == 2 and cov.loc["B", "missing"] == "g2"


@pytest.mark.parametrize("loss", ["huber", "squares"])
@pytest.mark.parametrize("weighting", ["sqrt", "none"])
def test_every_estimator_is_exact_on_planted_data(planted, til10, weighting, loss):
    expr, shares = planted
    res = deconvolve(expr, til10, exclude=None, weighting=weighting, loss=loss)
    np.testing.assert_allclose(
        res.proportions.to_numpy(), _expected_cells(shares, til10).to_numpy(), atol=1e-9
    )
    assert len(res.gene_weights) == len(res.genes_used)
    assert (res.loss, res.weighting) == (loss, weighting)


def test_auto_weighting_weights_genes_only_when_a_few_dominate(til10):
    from deconv_core.deconvolve import choose_weighting

    assert choose_weighting(til10.matrix.to_numpy()) == "none"
    expr, shares = planted_mixtures(4, seed=3)
    res = deconvolve(expr, til10, exclude=None)
    assert res.weighting == "none" and "genes_weighted" not in {w.code for w in res.warnings}
    # Five genes 200x louder than the rest: unweighted, they would decide the fit.
    loud = til10.matrix.copy()
    loud.iloc[:5] *= 200
    assert choose_weighting(loud.to_numpy()) == "sqrt"
    bulk = pd.DataFrame(loud.to_numpy() @ shares.T.to_numpy(), index=loud.index)
    bulk.columns = list(shares.index)
    # mRNA shares are planted: no factors borrowed by lineage (see test_mrna).
    res = deconvolve(bulk, loud, exclude=None, mode="relative", mrna_scaling=False)
    assert res.weighting == "sqrt"
    assert res.gene_weights.iloc[:5].max() < res.gene_weights.iloc[5:].min()
    info = [w for w in res.warnings if w.code == "genes_weighted"]
    assert len(info) == 1 and info[0].severity == "info" and "--weighting none" in info[0].cli
    assert "--" not in info[0].text("app")
    forced = deconvolve(bulk, loud, exclude=None, weighting="none", mrna_scaling=False)
    assert forced.weighting == "none" and "genes_weighted" not in {w.code for w in forced.warnings}
    # Noise-free: every weighting recovers the planted shares (no mRNA factors here).
    expected = shares.div(shares.sum(axis=1), axis=0).to_numpy()
    for fit in (res, forced):
        np.testing.assert_allclose(fit.proportions.to_numpy(), expected, atol=1e-9)


def test_defaults_are_huber_without_gene_weights_and_robustness_is_reported(til10):
    expr, _ = planted_mixtures(5, noise=0.3, seed=2)
    expr.loc["CD19", "S2"] *= 30  # one gene the signature cannot explain in S2
    expr.loc["CD8B", "S3"] = np.nan
    res = deconvolve(expr, til10)
    assert (res.loss, res.weighting) == ("huber", "none")  # auto resolves to none for TIL10
    np.testing.assert_allclose(res.gene_weights, 1.0)
    rob = res.robustness
    assert list(rob.index) == list(res.genes_used) and list(rob.columns) == list(expr.columns)
    assert np.isnan(rob.loc["CD8B", "S3"]) and rob.drop(index="CD8B").notna().all().all()
    assert rob.loc["CD19", "S2"] < 0.1 < rob.loc["CD19"].drop("S2").min() / 3
    squares = deconvolve(expr, til10, loss="squares")
    assert (squares.robustness.drop(index="CD8B") == 1.0).all().all()
    # The outlier pulls least squares' B-cell estimate far more than Huber's.
    clean = expr.copy()
    clean.loc["CD19", "S2"] /= 30
    shift = {
        loss: abs(
            fit.proportions.loc["S2", "B.cells"]
            - deconvolve(clean, til10, loss=loss).proportions.loc["S2", "B.cells"]
        )
        for loss, fit in (("huber", res), ("squares", squares))
    }
    assert shift["huber"] < shift["squares"] / 3
    with pytest.raises(InputError, match="Unknown loss 'l1'; use one of huber, squares"):
        deconvolve(expr, til10, loss="l1")


def test_sqrt_weights_downweight_highly_expressed_genes(til10):
    from deconv_core.deconvolve import gene_weights

    sig = til10.matrix.to_numpy()
    w = gene_weights(sig)
    level = sig.mean(axis=1)
    assert w[np.argmax(level)] < w[np.argmin(level)]
    np.testing.assert_allclose(w.mean(), 1.0)
    np.testing.assert_allclose(gene_weights(sig, weighting="none"), 1.0)
    with pytest.raises(InputError, match="Unknown weighting"):
        deconvolve(pd.DataFrame(sig, index=til10.matrix.index), til10, weighting="cubic")


def test_fit_statistics_match_scipy(til10):
    from scipy import stats

    expr, _ = planted_mixtures(5, noise=0.3, seed=9)
    expr.iloc[3, 2] = np.nan
    res = deconvolve(expr, til10)
    for sample in ["S1", "S3"]:
        o, f = res.observed[sample], res.fitted[sample]
        ok = o.notna()
        o, f = o[ok].to_numpy(), f[ok].to_numpy()
        row = res.fit.loc[sample]
        assert row["pearson_r"] == pytest.approx(stats.pearsonr(o, f).statistic, abs=1e-12)
        assert row["spearman_r"] == pytest.approx(stats.spearmanr(o, f).statistic, abs=1e-12)
        assert row["r2"] == pytest.approx(1 - ((o - f) ** 2).sum() / ((o - o.mean()) ** 2).sum())
        assert row["rmse"] == pytest.approx(np.sqrt(((o - f) ** 2).mean()) / o.mean())


def test_fit_statistics_in_blocks_equal_one_sample_at_a_time():
    from deconv_core.deconvolve import _STATS_BLOCK, _fit_statistics

    rng = np.random.default_rng(5)
    n = 2 * _STATS_BLOCK + 7  # three blocks, the last one short
    observed = rng.lognormal(2, 1, size=(40, n))
    fitted = observed * rng.lognormal(0, 0.3, size=observed.shape)
    observed[3, 10] = np.nan  # a sample with a gap takes the one-by-one path
    stats = _fit_statistics(observed, fitted)
    for j in (0, 10, _STATS_BLOCK - 1, _STATS_BLOCK, n - 1):
        np.testing.assert_array_equal(
            stats[j], _fit_statistics(observed[:, [j]], fitted[:, [j]])[0]
        )


def test_mouse_ensembl_ids_are_named_as_the_likely_cause(planted, til10):
    expr, _ = planted
    mouse = expr.copy()
    mouse.index = [f"ENSMUSG{i:011d}" for i in range(expr.shape[0])]
    with pytest.raises(InputError, match="the expression names mouse genes and the signature"):
        deconvolve(mouse, til10)


def test_auto_weighting_follows_the_signature_platform(til10):
    """Single-cell signatures are fitted on relative errors, array ones with sqrt weights.

    Planted: bulk = TIL10 × shares, then every gene scaled by its own platform
    factor (lognormal, sd 0.5), the gene-wise mismatch between a profile from
    another platform and the bulk.  Relative errors recover the shares better.
    """
    import dataclasses

    from deconv_core.deconvolve import choose_weighting

    expr, shares = planted_mixtures(12, seed=4, n_filler=0)
    rng = np.random.default_rng(7)
    biased = expr.mul(rng.lognormal(0.0, 0.5, size=len(expr)), axis=0)
    expected = shares.div(shares.sum(axis=1), axis=0).to_numpy()
    single_cell = dataclasses.replace(
        til10, mrna_scaling={}, platform="single-cell RNA-seq (pseudo-bulk)"
    )
    array = dataclasses.replace(til10, mrna_scaling={}, platform="microarray (cross-platform)")
    assert choose_weighting(til10.matrix.to_numpy(), platform=single_cell.platform) == "relative"
    assert choose_weighting(til10.matrix.to_numpy(), platform=array.platform) == "sqrt"
    res = deconvolve(biased, single_cell, exclude=None, mrna_scaling=False)
    assert res.weighting == "relative"
    level = til10.matrix.loc[list(res.genes_used)].mean(axis=1)
    np.testing.assert_allclose(res.gene_weights * level, (res.gene_weights * level).iloc[0])
    info = [w for w in res.warnings if w.code == "genes_weighted"]
    assert len(info) == 1 and "single-cell" in info[0].message
    # The weighting alone, without the platform correction (tests/core/test_platform.py).
    alone = {"exclude": None, "mrna_scaling": False, "platform_correction": False}
    weighted = deconvolve(biased, single_cell, **alone)
    plain = deconvolve(biased, single_cell, weighting="none", **alone)
    error = {
        fit.weighting: np.abs(fit.proportions.to_numpy() - expected).mean()
        for fit in (weighted, plain)
    }
    assert error["relative"] < error["none"] / 1.5
    res = deconvolve(biased, array, exclude=None, mrna_scaling=False)
    assert res.weighting == "sqrt"
    assert "another platform" in [w for w in res.warnings if w.code == "genes_weighted"][0].message


def test_a_sample_of_one_repeated_value_has_no_fit_statistics(til10):
    from deconv_core.verdict import sample_verdicts

    expr, _ = planted_mixtures(3, noise=0.1, seed=2)
    expr["FLAT"] = 7.0  # the same value for every gene (float rounding leaves a 1e-30 spread)
    res = deconvolve(expr, til10)
    assert np.isnan(res.fit.loc["FLAT", ["pearson_r", "r2"]].astype(float)).all()
    assert (res.fit.drop(index="FLAT")["r2"] > 0.5).all()  # the others keep theirs
    reasons = sample_verdicts(res.fit).loc["FLAT", "reasons"]
    assert reasons.startswith("no fit to judge (r = nan, R² = nan: the sample's signature genes")


@pytest.mark.parametrize("names", [["S1", "S1", "S3"], ["S1", " ", "S3"]])
def test_repeated_or_blank_sample_names_are_refused_by_the_api(names, til10):
    """Every table of a result is keyed by sample: the loader refuses such names, and so
    does deconvolve for callers that built the table themselves."""
    expr, _ = planted_mixtures(3, seed=1)
    expr.columns = names
    with pytest.raises(InputError, match="sample names"):
        deconvolve(expr, til10)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-50.0, r"^The expression holds 2 negative value\(s\) \(first: CD8A in S1\); "),
        (np.inf, r"^The expression holds 2 infinite value\(s\) \(first: CD8A in S1\); "),
        (-np.inf, r"^The expression holds 2 infinite value\(s\) \(first: CD8A in S1\); "),
    ],
)
def test_values_no_expression_holds_are_refused_as_the_loader_refuses_them(
    planted, til10, value, message
):
    # Before, a negative marker value zeroed its cell type and an infinite one blanked the
    # whole sample, without a word.
    expr = planted[0].copy()
    expr.loc[["CD8A", "CD8B"], "S1"] = value
    before = expr.copy()
    with pytest.raises(InputError, match=message) as raised:
        deconvolve(expr, til10)
    assert "\n" not in str(raised.value)
    pd.testing.assert_frame_equal(expr, before)  # not modified
    expr.loc[["CD8A", "CD8B"], "S1"] = np.nan  # missing values stay allowed
    assert deconvolve(expr, til10).proportions.notna().all().all()


def test_log_scaled_data_given_directly_are_warned_about(planted, til10):
    expr, _ = planted
    logged = np.log2(expr + 1)
    res = deconvolve(logged, til10)
    (note,) = [w for w in res.warnings if w.code == "log_scale_not_converted"]
    assert note.severity == "warning" and "looks log-transformed" in note.message
    assert "deconv_core.scale.linearise" in note.message and "load_expression" in note.message
    # Linear data, and data the caller vouches for (the loader's and the Dask engine's), not.
    assert "log_scale_not_converted" not in {w.code for w in deconvolve(expr, til10).warnings}
    vouched = deconvolve(logged, til10, assume_linear=True)
    assert "log_scale_not_converted" not in {w.code for w in vouched.warnings}
    pd.testing.assert_frame_equal(vouched.proportions, res.proportions)


def test_small_linear_values_from_the_loader_get_no_log_warning(planted, til10, tmp_path):
    from deconv_core.analysis import fit_signature
    from deconv_core.expression import load_expression
    from deconv_core.options import RunOptions

    expr, _ = planted
    small = expr * (40 / expr.max().max())  # linear, but below 50 and not whole: log-like
    path = tmp_path / "small.tsv"
    small.to_csv(path, sep="\t", index_label="gene")
    loaded = load_expression(path, scale="linear")
    assert loaded.scale == "linear"
    result = fit_signature(loaded, til10, RunOptions())
    assert "log_scale_not_converted" not in {w.code for w in result.warnings}
    assert "log_scale_not_converted" in {w.code for w in deconvolve(small, til10).warnings}


def test_a_gene_the_robust_fit_set_aside_does_not_decide_the_fit_statistics(til10):
    """One gene 1,000x off in one sample: the robust estimate ignores it, so must r and R²."""
    from deconv_core.deconvolve import _fit_statistics
    from deconv_core.thresholds import SET_ASIDE

    expr, _ = planted_mixtures(4, noise=0.1, seed=5)
    gene = str(til10.matrix.index[3])
    broken = expr.copy()
    broken.loc[gene, "S2"] *= 1000.0
    result = deconvolve(broken, til10)
    assert result.robustness.loc[gene, "S2"] < SET_ASIDE
    Y, F = result.observed.to_numpy(), result.fitted.to_numpy()
    without = result.observed.index != gene
    expected = _fit_statistics(Y[without][:, [1]], F[without][:, [1]])[0]
    np.testing.assert_allclose(result.fit.loc["S2"].to_numpy(), expected)
    assert result.fit.loc["S2", "r2"] > 0.8  # with the gene, R² is far below 0
    # One gene is a stray: no warning on the sample; the run's summary (qc) names it.
    assert not [w for w in result.warnings if w.code == "genes_set_aside"]
    (note,) = [w for w in qc_warnings(result) if w.code == "set_aside_in_cohort"]
    assert note.severity == "info" and not note.sample and f"{gene} in 1" in note.message
    # Least squares sets nothing aside: its statistics keep every gene.
    plain = deconvolve(broken, til10, loss="squares")
    assert plain.fit.loc["S2", "r2"] < 0.5
    assert "set_aside_in_cohort" not in {w.code for w in qc_warnings(plain)}


def test_fit_statistics_of_samples_with_gaps_are_those_of_their_kept_genes():
    """The block path (masked sums, ranks of the kept values) gives each sample the numbers
    of its own kept genes computed alone, whatever samples share its block."""
    from deconv_core.deconvolve import _fit_statistics

    rng = np.random.default_rng(3)
    observed = rng.lognormal(3, 1, (60, 7))
    fitted = observed * rng.lognormal(0, 0.3, (60, 7))
    observed[rng.random((60, 7)) < 0.1] = np.nan
    observed[:, 6] = np.nan
    observed[:2, 6] = 1.0  # two values only: no statistics
    fitted[5, 3] = np.nan
    together = _fit_statistics(observed, fitted)
    for j in range(7):
        ok = ~np.isnan(observed[:, j]) & ~np.isnan(fitted[:, j])
        o, f = observed[ok, j], fitted[ok, j]
        if ok.sum() < 3:
            assert np.isnan(together[j]).all()
            continue
        alone = _fit_statistics(o[:, None], f[:, None])[0]
        np.testing.assert_allclose(together[j], alone, rtol=1e-12)
        r, rho = np.corrcoef(o, f)[0, 1], pd.Series(o).corr(pd.Series(f), method="spearman")
        r2 = 1 - ((o - f) ** 2).sum() / ((o - o.mean()) ** 2).sum()
        rmse = np.sqrt(((o - f) ** 2).mean()) / o.mean()
        np.testing.assert_allclose(together[j], [r, rho, rmse, r2], rtol=1e-10)


FINOTELLO_COUNTS = Path("/work/shared/data/GSE107572_Finotello2019_PBMC/expression_read_counts.tsv")


@pytest.mark.skipif(not FINOTELLO_COUNTS.exists(), reason="benchmark data not on this machine")
def test_real_read_counts_are_not_all_poor_because_of_one_ignored_gene(til10):
    """Finotello 2019 read counts: ADAM6 (robust weight ~0.003) made all 9 samples "poor"."""
    from deconv_core.expression import load_expression
    from deconv_core.verdict import sample_verdicts

    result = deconvolve(load_expression(FINOTELLO_COUNTS).table, til10)
    assert not [w for w in result.warnings if w.code == "genes_set_aside"]  # strays only
    (note,) = [w for w in qc_warnings(result) if w.code == "set_aside_in_cohort"]
    assert note.message.startswith("In 9 of 9 samples") and "ADAM6 in 9" in note.message
    verdicts = sample_verdicts(result.fit, result.warnings)["verdict"]
    assert (verdicts != "poor").sum() >= 8
    assert (result.fit["pearson_r"] > 0.7).all()


def test_a_sample_with_many_genes_set_aside_is_to_check(til10):
    """A fifth of S2's genes 1,000x off: r and R² on the rest look fine, so the note says
    the signature misses something and the verdict is check, not good."""
    from deconv_core.verdict import sample_verdicts

    expr, _ = planted_mixtures(4, noise=0.05, seed=5)
    genes = [str(g) for g in til10.matrix.index[::5]]
    expr.loc[genes, "S2"] *= 1000.0
    result = deconvolve(expr, til10)
    (note,) = [w for w in result.warnings if w.code == "genes_set_aside" and w.sample == "S2"]
    assert note.severity == "warning" and "the signature misses something" in note.message
    verdicts = sample_verdicts(result.fit, result.warnings)
    assert verdicts.loc["S2", "verdict"] == "check"
    assert "set aside several of its genes" in verdicts.loc["S2", "reasons"]

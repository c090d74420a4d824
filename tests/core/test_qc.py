"""Uncertainty, residual diagnostics and identifiability (deconv_core.qc)."""

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from deconv_core import deconvolve
from deconv_core.deconvolve import MODES, coefficients_to_proportions
from deconv_core.identifiability import condition_number
from deconv_core.qc import (
    bootstrap_intervals,
    flag_genes,
    flag_samples,
    permutation_test,
    qc_warnings,
    signature_identifiability,
    standardised_residuals,
)
from deconv_core.signature_diagnostics import describe_signature
from deconv_core.validation import InputError
from tests.conftest import planted_mixtures


def _truth(shares: pd.DataFrame, signature, mode: str) -> np.ndarray:
    """Planted proportions (cell types × samples) in the mode's units."""
    props, _ = coefficients_to_proportions(shares.T.to_numpy(), signature, mode=mode)
    return props


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_bootstrap_intervals_cover_the_truth_at_about_the_nominal_rate(til10, mode):
    # 60 samples x 10-11 cell types = 600-660 pairs; lognormal noise sd 0.25.
    # Tolerance: 95% intervals must cover 85-99% of the planted proportions
    # (percentile intervals from 153 genes undercover slightly; ~92% observed).
    expr, shares = planted_mixtures(60, noise=0.25, seed=21)
    result = deconvolve(expr, til10, mode=mode)
    table = bootstrap_intervals(result, til10, n_resamples=200, seed=5)
    lower = table["lower"].to_numpy().reshape(60, -1).T
    upper = table["upper"].to_numpy().reshape(60, -1).T
    truth = _truth(shares, til10, mode)
    covered = (truth >= lower - 1e-12) & (truth <= upper + 1e-12)
    assert 0.85 <= covered.mean() <= 0.99


def test_bootstrap_table_layout_and_reproducibility(til10):
    expr, _ = planted_mixtures(5, noise=0.2, seed=3)
    result = deconvolve(expr, til10, mode="absolute")
    before = result.proportions.copy()
    a = bootstrap_intervals(result, til10, n_resamples=30, seed=1)
    b = bootstrap_intervals(result, til10, n_resamples=30, seed=1)
    c = bootstrap_intervals(result, til10, n_resamples=30, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a[["lower", "upper"]].equals(c[["lower", "upper"]])
    assert list(a.columns) == ["sample", "cell_type", "estimate", "lower", "upper"]
    assert len(a) == 5 * 11 and a["cell_type"].iloc[10] == "other"
    assert list(a["sample"].unique()) == list(result.proportions.index)
    np.testing.assert_allclose(a["estimate"], result.proportions.to_numpy().ravel())
    assert (a["lower"] <= a["upper"]).all()
    assert ((a["lower"] >= 0) & (a["upper"] <= 1)).all()
    pd.testing.assert_frame_equal(result.proportions, before)


def test_bootstrap_progress_counts_every_refit_and_leaves_the_numbers_alone(til10, monkeypatch):
    import deconv_core.qc as qc

    monkeypatch.setattr(qc, "_CHUNK", 2)  # 5 samples in 3 chunks of refits
    expr, _ = planted_mixtures(5, noise=0.2, seed=3)
    result = deconvolve(expr, til10)
    calls: list[tuple[int, int]] = []
    with_bar = bootstrap_intervals(
        result, til10, n_resamples=7, seed=1, progress=lambda *a: calls.append(a)
    )
    assert calls == [(i, 21) for i in range(1, 22)]
    pd.testing.assert_frame_equal(
        with_bar, bootstrap_intervals(result, til10, n_resamples=7, seed=1)
    )


def test_bootstrap_batches_stay_within_the_memory_bound(til10, monkeypatch):
    import deconv_core.qc as qc

    expr, _ = planted_mixtures(5, noise=0.2, seed=3)
    result = deconvolve(expr, til10)
    whole = bootstrap_intervals(result, til10, n_resamples=7, seed=1)
    # Draws of 2 samples (7 resamples × 10 cell types × 8 bytes each) per batch.
    monkeypatch.setattr(qc, "_DRAWS_BYTES", 2 * 7 * 10 * 8)
    calls: list[tuple[int, int]] = []
    batched = bootstrap_intervals(
        result, til10, n_resamples=7, seed=1, progress=lambda *a: calls.append(a)
    )
    assert calls[-1] == (21, 21)  # 5 samples in 3 batches
    pd.testing.assert_frame_equal(batched, whole)


def test_bootstrap_narrows_with_less_noise(til10):
    widths = []
    for noise in (0.05, 0.3):
        expr, _ = planted_mixtures(10, noise=noise, seed=4)
        table = bootstrap_intervals(deconvolve(expr, til10), til10, n_resamples=50, seed=0)
        widths.append(float((table["upper"] - table["lower"]).mean()))
    assert widths[0] < widths[1] / 3


def test_bootstrap_rejects_bad_options(til10, planted):
    result = deconvolve(planted[0], til10)
    with pytest.raises(InputError, match="whole number >= 1"):
        bootstrap_intervals(result, til10, n_resamples=0)
    with pytest.raises(InputError, match="between 0 and 1"):
        bootstrap_intervals(result, til10, level=95)
    with pytest.raises(InputError, match="cell types"):
        bootstrap_intervals(result, til10.matrix.iloc[:, :5])
    with pytest.raises(InputError, match="at most 10,000; got 100,000,000,000"):
        bootstrap_intervals(result, til10, n_resamples=10**11)


def test_permutation_test_refuses_more_mixtures_than_it_can_hold(til10, planted):
    result = deconvolve(planted[0], til10)
    with pytest.raises(InputError, match="at most 1,000,000; got 1,000,000,000,000"):
        permutation_test(result, n_permutations=10**12)


def _shuffled(expr: pd.DataFrame, n_genes: int, n: int, seed: int) -> pd.DataFrame:
    """Random mixtures: each sample's signature-gene values shuffled among those genes."""
    rng = np.random.default_rng(seed)
    columns = []
    for j in range(n):
        values = expr.iloc[:, j % expr.shape[1]].to_numpy().copy()
        values[:n_genes] = rng.permutation(values[:n_genes])
        columns.append(values)
    return pd.DataFrame(
        np.column_stack(columns), index=expr.index, columns=[f"R{j}" for j in range(n)]
    )


def test_p_values_are_small_for_mixtures_and_uniform_for_random_ones(til10):
    expr, _ = planted_mixtures(10, noise=0.3, seed=3)
    random = _shuffled(expr, til10.matrix.shape[0], 150, seed=5)
    result = deconvolve(pd.concat([expr, random], axis=1), til10, exclude=None)
    test = permutation_test(result, n_permutations=500, seed=0)
    p = test.p_values
    assert p.name == "p_value" and test.null_correlations.shape == (500,)
    assert (p[expr.columns] <= 0.01).all()
    random_p = p[random.columns].to_numpy()
    # Random mixtures come from the same distribution as the null: about uniform.
    assert stats.kstest(random_p, "uniform").pvalue > 0.01
    counts = np.histogram(random_p, bins=5, range=(0, 1))[0]
    assert counts.min() >= 15
    assert p.min() >= 1 / 501


def test_permutation_test_is_reproducible(til10, planted):
    result = deconvolve(planted[0], til10)
    a = permutation_test(result, n_permutations=50, seed=4)
    b = permutation_test(result, n_permutations=50, seed=4)
    pd.testing.assert_series_equal(a.p_values, b.p_values)
    np.testing.assert_array_equal(a.null_correlations, b.null_correlations)
    with pytest.raises(InputError, match="permutations"):
        permutation_test(result, n_permutations=-1)


@pytest.mark.parametrize("loss", ["huber", "squares"])
def test_permutation_p_values_do_not_depend_on_the_mode(til10, loss):
    # The dashboard keeps the p-values across a switch of mode (ui.state.fit_key).
    expr, _ = planted_mixtures(8, noise=0.3, seed=9)
    relative, absolute = (deconvolve(expr, til10, mode=m, loss=loss) for m in MODES)
    assert not relative.proportions.equals(absolute.proportions.iloc[:, :-1])
    a = permutation_test(relative, n_permutations=60, seed=2)
    b = permutation_test(absolute, n_permutations=60, seed=2)
    pd.testing.assert_series_equal(a.p_values, b.p_values)
    np.testing.assert_array_equal(a.null_correlations, b.null_correlations)


def test_standardised_residuals_and_flagged_genes(til10):
    expr, _ = planted_mixtures(12, noise=0.2, seed=6)
    clean = deconvolve(expr, til10)
    z = standardised_residuals(clean)
    assert z.shape == clean.residuals.shape
    assert list(z.index) == list(clean.residuals.index)
    assert flag_genes(clean).empty
    bad = expr.copy()
    bad.loc["CD19"] *= 8  # the signature misdescribes CD19 in every sample
    bad.loc["TREM2"] *= 0.05
    flagged = flag_genes(deconvolve(bad, til10)).set_index("gene")
    assert flagged.loc["CD19", "direction"] == "higher"
    assert flagged.loc["CD19", "cell_type"] == "B.cells"
    assert flagged.loc["TREM2", "direction"] == "lower"
    assert "CD19 (B.cells marker)" in flagged.loc["CD19", "reason"]


def test_noise_free_fit_flags_nothing(til10, planted):
    result = deconvolve(planted[0], til10, exclude=None)
    assert np.abs(standardised_residuals(result).to_numpy()).max() < 1e-3
    assert qc_warnings(result, signature=til10) == ()


def test_poor_samples_are_flagged_with_a_reason(til10):
    expr, _ = planted_mixtures(8, noise=0.2, seed=9)
    rng = np.random.default_rng(1)
    expr["S8"] = rng.permutation(expr["S8"].to_numpy())  # no longer a mixture
    result = deconvolve(expr, til10)
    p = permutation_test(result, n_permutations=200, seed=0).p_values
    flagged = flag_samples(result, p_values=p)
    assert set(flagged["sample"]) == {"S8"}
    assert {"poor_fit", "fit_not_significant"} <= set(flagged["code"])
    codes = {w.code for w in qc_warnings(result, p_values=p) if w.sample == "S8"}
    assert "fit_not_significant" in codes


def test_identifiability_matches_the_signature_page(til10):
    whole = signature_identifiability(til10.matrix)
    assert whole.condition_number == pytest.approx(np.linalg.cond(til10.matrix.to_numpy()))
    assert whole.condition_number == condition_number(til10.matrix.to_numpy())
    page = describe_signature(til10)
    # One implementation: the Signature page's table is the same table, same ranking.
    pd.testing.assert_frame_equal(page.collinearity, whole.pairs)
    assert page.summary["condition_number"] == whole.condition_number
    assert not whole.pairs["collinear"].any()
    assert whole.pairs["cosine"].is_monotonic_decreasing


@pytest.mark.parametrize("factor", [1e-300, 1e-160, 1e300])
def test_cosines_and_correlations_ignore_the_signatures_scale(til10, factor):
    # Squares of such values underflow or overflow: NaN (and a warning), or a cosine off in
    # its 8th digit, before each column was scaled first.
    plain = signature_identifiability(til10.matrix).pairs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaled = signature_identifiability(til10.matrix * factor).pairs
    for column in ("cosine", "correlation"):
        np.testing.assert_allclose(scaled[column], plain[column], rtol=0, atol=1e-12)
    assert scaled["cell_type_a"].tolist() == plain["cell_type_a"].tolist()


def test_collinear_cell_types_are_warned_about(til10):
    matrix = til10.matrix.copy()
    rng = np.random.default_rng(2)
    matrix["Tregs"] = matrix["T.cells.CD4"] * rng.lognormal(0, 0.05, len(matrix))
    expr, _ = planted_mixtures(4, noise=0.1, seed=1)
    result = deconvolve(expr, matrix, exclude=None)
    ident = signature_identifiability(result.signature_matrix, weights=result.gene_weights)
    top = ident.pairs.iloc[0]
    assert {top["cell_type_a"], top["cell_type_b"]} == {"T.cells.CD4", "Tregs"}
    assert top["collinear"] and ident.condition_number > 50
    codes = {w.code for w in qc_warnings(result, signature=matrix)}
    assert {"collinear_cell_types", "ill_conditioned"} <= codes
    # With the signature's display names the message uses them; the record keeps the ids.
    named = qc_warnings(result, signature=replace(til10, matrix=matrix))
    (pair,) = [w for w in named if w.code == "collinear_cell_types"]
    assert pair.message.startswith("CD4 T cells and Regulatory T cells have nearly the same")
    # The genes it rests on are those the fit uses (found less the exclusion list), said so.
    assert f"on the {len(result.genes_used)} signature genes the fit uses (" in pair.message
    assert pair.cell_type == "T.cells.CD4, Tregs"


def test_identifiability_rejects_tiny_signatures(til10):
    with pytest.raises(InputError, match="at least 2 cell types"):
        signature_identifiability(til10.matrix.iloc[:, :1])
    with pytest.raises(InputError, match="No weight"):
        signature_identifiability(til10.matrix, weights=pd.Series({"CD19": 1.0}))

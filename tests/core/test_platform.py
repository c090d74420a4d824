"""Gene-wise correction of a signature from another platform than the bulk."""

import dataclasses

import numpy as np
import pytest

from deconv_core.deconvolve import deconvolve
from deconv_core.platform import from_other_platform, platform_factors
from deconv_core.thresholds import MIN_SAMPLES_PLATFORM
from tests.conftest import planted_mixtures


def _biased(n_samples: int, seed: int = 4):
    """Planted TIL10 mixtures with every gene scaled by its own platform factor."""
    expr, shares = planted_mixtures(n_samples, seed=seed, n_filler=0)
    factors = np.random.default_rng(11).lognormal(0.0, 0.7, size=len(expr))
    expected = shares.div(shares.sum(axis=1), axis=0).to_numpy()
    return expr.mul(factors, axis=0), factors, expected


def test_platforms_that_differ_from_bulk_rna_seq():
    assert from_other_platform("microarray (cross-platform)")
    assert from_other_platform("single-cell RNA-seq (pseudo-bulk)")
    assert not from_other_platform("RNA-seq (TPM)") and not from_other_platform("")


def test_factors_are_recovered_from_a_perfect_fit():
    rng = np.random.default_rng(0)
    S = rng.uniform(1, 100, size=(40, 3))
    coef = rng.dirichlet(np.ones(3), size=9).T
    truth = rng.lognormal(0.0, 0.5, size=40)
    Y = truth[:, None] * (S @ coef)
    Y[0, 0] = np.nan  # missing values are skipped
    got = np.log(platform_factors(S, Y, coef))
    expected = 0.5 * (np.log(truth) - np.median(np.log(truth)))
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_array_signature_is_corrected_with_enough_samples(til10):
    """The final fit uses the signature times the factors estimated from the first fit.

    (Whether the correction helps is measured on real data by the accuracy
    benchmarks; on planted data its effect depends on how the platforms differ,
    see the README's accuracy section.)
    """
    bulk, _, _ = _biased(12)
    array = dataclasses.replace(til10, mrna_scaling={}, platform="microarray (cross-platform)")
    kwargs = {"exclude": None, "mrna_scaling": False, "loss": "squares"}
    fixed = deconvolve(bulk, array, **kwargs)
    plain = deconvolve(bulk, array, platform_correction=False, **kwargs)
    genes = list(plain.genes_used)
    S = til10.matrix.loc[genes].to_numpy()
    np.testing.assert_allclose(plain.signature_matrix.to_numpy(), S)  # input untouched
    factors = platform_factors(S, plain.observed.to_numpy(), plain.coefficients.to_numpy().T)
    np.testing.assert_allclose(fixed.signature_matrix.to_numpy(), S * factors[:, None])
    assert np.ptp(np.log(factors)) > 1.0  # the planted factors were seen
    (info,) = [w for w in fixed.warnings if w.code == "platform_corrected"]
    assert "12 samples" in info.message and info.severity == "info"
    assert "platform_corrected" not in {w.code for w in plain.warnings}
    np.testing.assert_allclose(fixed.proportions.sum(axis=1), 1.0)


@pytest.mark.parametrize("n_samples", [1, MIN_SAMPLES_PLATFORM - 1])
def test_too_few_samples_are_not_corrected(til10, n_samples):
    bulk, _, _ = _biased(n_samples)
    array = dataclasses.replace(til10, mrna_scaling={}, platform="microarray")
    fit = deconvolve(bulk, array, exclude=None, mrna_scaling=False)
    plain = deconvolve(bulk, array, exclude=None, mrna_scaling=False, platform_correction=False)
    np.testing.assert_allclose(fit.proportions, plain.proportions)
    (warning,) = [w for w in fit.warnings if w.code == "platform_uncorrected"]
    assert f"at least {MIN_SAMPLES_PLATFORM} samples" in warning.message
    # A TPM signature from bulk RNA-seq is never corrected.
    rna = deconvolve(bulk, til10, exclude=None)
    assert not {"platform_corrected", "platform_uncorrected"} & {w.code for w in rna.warnings}


def _per_million_fit(seed: int = 1):
    """A signature of 4 cell types with 15 specific genes each, exact mixtures and their shares."""
    rng = np.random.default_rng(seed)
    S = rng.uniform(1, 20, size=(60, 4))
    for t in range(4):
        S[15 * t : 15 * (t + 1), t] *= 30  # each cell type's own markers
    coef = rng.dirichlet(np.full(4, 5.0), size=10).T
    return S, S @ coef, coef


def test_a_cell_types_share_error_is_not_written_into_the_factors():
    """The first fit halved cell type 0: its markers read high in every sample.

    Kept (array profiles), that pattern raises the factors of its markers, so the
    corrected signature would keep the halved share; removed (profiles per million
    like the data), the factors stay near 1.
    """
    S, Y, coef = _per_million_fit()
    wrong = coef.copy()
    wrong[0] /= 2
    kept = np.log(platform_factors(S, Y, wrong))
    removed = np.log(platform_factors(S, Y, wrong, cell_type_scale=False))
    assert kept[:15].min() > kept[15:].max()  # cell type 0's markers raised
    assert np.ptp(removed) < 0.1 * np.ptp(kept)


def test_gene_factors_survive_the_removal_of_cell_type_patterns():
    S, Y, coef = _per_million_fit()
    truth = np.random.default_rng(2).lognormal(0.0, 0.5, size=len(S))
    got = np.log(platform_factors(S, truth[:, None] * Y, coef, cell_type_scale=False))
    assert np.corrcoef(got, np.log(truth))[0, 1] > 0.95
    # A factor on cell type 0's markers (about 90% of their fitted values) is mostly removed.
    marked = np.where(np.arange(len(S)) < 15, 3.0, 1.0)[:, None] * Y
    kept = np.log(platform_factors(S, marked, coef))
    removed = np.log(platform_factors(S, marked, coef, cell_type_scale=False))
    assert np.ptp(removed) < 0.4 * np.ptp(kept)


def test_single_cell_signature_is_corrected_without_cell_type_patterns(til10):
    bulk, _, _ = _biased(12)
    built = dataclasses.replace(til10, platform="single-cell RNA-seq (pseudo-bulk)")
    kwargs = {"exclude": None, "mode": "relative"}
    fixed = deconvolve(bulk, built, **kwargs)
    plain = deconvolve(bulk, built, platform_correction=False, **kwargs)
    S = til10.matrix.loc[list(plain.genes_used)].to_numpy()
    first = (S, plain.observed.to_numpy(), plain.coefficients.to_numpy().T)
    factors = platform_factors(*first, cell_type_scale=False)
    np.testing.assert_allclose(fixed.signature_matrix.to_numpy(), S * factors[:, None])
    assert not np.allclose(factors, platform_factors(*first))
    (info,) = [w for w in fixed.warnings if w.code == "platform_corrected"]
    assert "shared by all genes of one cell type was left out" in info.message
    array = dataclasses.replace(til10, platform="microarray")
    array_warnings = deconvolve(bulk, array, **kwargs).warnings
    (info,) = [w for w in array_warnings if w.code == "platform_corrected"]
    assert "left out" not in info.message

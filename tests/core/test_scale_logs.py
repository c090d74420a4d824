"""Log scales beyond log2: pseudocount floors, log10(x + 1), ln(x + 1), declared scales."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deconv_core.cli import main
from deconv_core.deconvolve import deconvolve
from deconv_core.options import SCALE_NAMES
from deconv_core.scale import linearise
from deconv_core.validation import InputError
from tests.conftest import planted_mixtures

HOEK = Path("/work/shared/data/GSE64655_Hoek2015_PBMC/expression_tpm.tsv")


def _tpm_with_zeros(seed: int = 0) -> pd.DataFrame:
    """Planted TIL10 mixtures (linear TPM, 1e6 per sample) with 30% of filler genes at zero."""
    expr, _ = planted_mixtures(seed=seed)
    rng = np.random.default_rng(seed)
    filler = expr.index.str.startswith("FILLER")
    block = expr.loc[filler].to_numpy()
    kept = block * (rng.random(block.shape) > 0.3)
    expr.loc[filler] = kept * (block.sum(axis=0) / kept.sum(axis=0))
    return expr


@pytest.mark.parametrize(
    ("logged", "scale", "formula", "pseudocount"),
    [
        (lambda x: np.log2(x + 0.001), "log2", "2**x - 0.001", "pseudocount of 0.001"),
        (lambda x: np.log2(x + 0.01), "log2", "2**x - 0.01", "pseudocount of 0.01"),
        (lambda x: np.log10(x + 1), "log10p1", "10**x - 1", None),
        (lambda x: np.log(x + 1), "lnp1", "exp(x) - 1", None),
    ],
)
def test_log_scales_are_detected_and_undone(logged, scale, formula, pseudocount, til10):
    linear = _tpm_with_zeros()
    out = linearise(logged(linear))
    assert (out.detected, out.transformation) == (scale, formula)
    np.testing.assert_allclose(out.table.to_numpy(), linear.to_numpy(), rtol=1e-9, atol=1e-9)
    assert [w.code for w in out.warnings] == ["log_scale"]
    assert f"detected {SCALE_NAMES[scale]}" in out.warnings[0].message
    if pseudocount:
        assert pseudocount in out.warnings[0].message
    expected = deconvolve(linear, til10).proportions
    got = deconvolve(out.table, til10).proportions
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), atol=1e-9)


@pytest.mark.skipif(not HOEK.exists(), reason="benchmark data not on this machine")
@pytest.mark.parametrize("offset", [0.001, 0.01])
def test_real_log2_with_pseudocount_and_its_z_scores(offset):
    linear = pd.read_csv(HOEK, sep="\t", index_col=0)
    out = linearise(np.log2(linear + offset))
    np.testing.assert_allclose(out.table.to_numpy(), linear.to_numpy(), rtol=1e-9, atol=1e-9)
    # The same data z-scored per gene: negatives without a floor, still refused.
    log = np.log2(linear + 1)
    z = log.sub(log.mean(axis=1), axis=0).div(log.std(axis=1), axis=0).dropna()
    with pytest.raises(InputError, match=r"\d+% of values are negative and the typical gene mean"):
        linearise(z)


def test_z_scored_planted_table_is_refused():
    log = np.log2(_tpm_with_zeros() + 1)
    z = log.sub(log.mean(axis=1), axis=0).div(log.std(axis=1), axis=0).dropna()
    with pytest.raises(InputError, match="looks centred, z-scored or log-ratio"):
        linearise(z)


def _negative_log2_without_floor() -> pd.DataFrame:
    """log2 values, about 37% of them negative, gene means about 1: no floor, not centred."""
    rng = np.random.default_rng(3)
    values = rng.normal(1.0, 3.0, size=(400, 4))
    return pd.DataFrame(values, index=[f"G{i}" for i in range(400)]).add_prefix("s")


def test_refusal_names_only_the_condition_that_held():
    with pytest.raises(InputError) as caught:
        linearise(_negative_log2_without_floor())
    assert "of values are negative" in str(caught.value)
    assert "near 0" not in str(caught.value) and "gene mean" not in str(caught.value)


def test_declared_log2_is_honoured_with_negative_values():
    table = _negative_log2_without_floor()
    out = linearise(table, scale="log2")
    np.testing.assert_allclose(out.table.to_numpy(), 2.0 ** table.to_numpy())
    (warning,) = out.warnings
    assert "declared log2(x)" in warning.message
    assert "negative value(s)" in warning.message and "between 0 and 1" in warning.message


def test_declared_plus_one_scale_clips_negatives_and_says_so():
    linear = _tpm_with_zeros()
    out = linearise(np.log2(linear + 0.001), scale="log2p1")
    assert out.table.to_numpy().min() == 0.0
    assert "became 0" in out.warnings[0].message
    assert "pseudocount of 0.001: if so, the scale is log2" in out.warnings[0].message


def test_declared_log10p1_is_exact():
    linear = _tpm_with_zeros()
    out = linearise(np.log10(linear + 1), scale="log10p1")
    np.testing.assert_allclose(out.table.to_numpy(), linear.to_numpy(), rtol=1e-9, atol=1e-9)
    assert "declared log10(x + 1)" in out.warnings[0].message


def test_a_small_z_scored_table_has_no_floor_and_is_refused():
    # 30 genes x 3 samples: one value at the minimum is already 1% of the values.
    rng = np.random.default_rng(4)
    z = pd.DataFrame(rng.standard_normal((30, 3)), index=[f"G{i}" for i in range(30)])
    with pytest.raises(InputError, match="looks centred, z-scored or log-ratio"):
        linearise(z)


@pytest.mark.parametrize("blank", [np.nan, 0.0])
def test_an_empty_or_zero_sample_does_not_hide_the_base(blank):
    logged = np.log10(_tpm_with_zeros() + 1)
    out = linearise(logged.assign(EMPTY=blank))
    assert out.detected == "log10p1"
    assert "log_base_unknown" not in [w.code for w in out.warnings]


def test_unknown_base_is_not_guessed():
    # log2 of counts + 1: zeros, but no base gives TPM-like totals (libraries of ~1e7).
    counts = np.round(_tpm_with_zeros() * 10)
    out = linearise(np.log2(counts + 1))
    assert out.detected == "log2p1"
    np.testing.assert_allclose(out.table.to_numpy(), counts.to_numpy(), rtol=1e-9)
    base = next(w for w in out.warnings if w.code == "log_base_unknown")
    assert "--scale log10p1" in base.text("cli") and "--scale lnp1" in base.text("cli")


def test_cli_explicit_scale_on_pseudocount_data_gives_the_linear_proportions(tmp_path):
    linear = _tpm_with_zeros()
    np.log2(linear + 0.001).to_csv(tmp_path / "log.tsv", sep="\t")
    linear.to_csv(tmp_path / "linear.tsv", sep="\t")
    for name, scale in (("log", "log2"), ("linear", "linear")):
        args = ["run", str(tmp_path / f"{name}.tsv"), "--signature", "TIL10", "--scale", scale]
        assert main([*args, "--out", str(tmp_path / name)]) == 0
    got = pd.read_csv(tmp_path / "log" / "proportions.csv", index_col=0)
    expected = pd.read_csv(tmp_path / "linear" / "proportions.csv", index_col=0)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), atol=1e-6)
    warnings = pd.read_csv(tmp_path / "log" / "warnings.csv")
    assert warnings["message"].str.contains("2\\*\\*x - 0.001").any()


def test_the_centred_refusal_gives_each_surface_its_own_advice():
    with pytest.raises(InputError) as caught:
        linearise(_negative_log2_without_floor())
    cli, app = caught.value.text("cli"), caught.value.text("app")
    assert "--scale" in cli and "Give the data before centring" in cli and "upload" not in cli
    assert "'Scale of the values'" in app and "Upload the data" in app and "--" not in app

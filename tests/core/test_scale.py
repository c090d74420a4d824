"""Scale detection and linearisation."""

import numpy as np
import pandas as pd
import pytest

from deconv_core.scale import detect_scale, linearise
from deconv_core.validation import InputError


def _table(values, samples=("S1", "S2")):
    return pd.DataFrame(values, index=[f"G{i}" for i in range(len(values))], columns=list(samples))


def test_linear_tpm_is_left_alone():
    t = _table([[1.5, 200.25], [3000.5, 0.0], [12.0, 7.5]])
    out = linearise(t)
    assert out.detected == "linear"
    assert out.transformation == "none"
    pd.testing.assert_frame_equal(out.table, t.astype(float))
    assert out.warnings == ()


def test_log2_is_detected_and_unlogged_with_warning():
    linear = np.array([[100.0, 3.0], [1000.0, 20.0], [7.0, 4000.0]])
    out = linearise(_table(np.log2(linear)))
    assert out.detected == "log2"
    np.testing.assert_allclose(out.table.to_numpy(), linear)
    assert [w.code for w in out.warnings] == ["log_scale"]
    assert "2**x" in out.warnings[0].message
    assert "--scale linear" in out.warnings[0].text("cli")
    # --scale sets the expression's scale only: a signature's warning does not offer it
    (signature,) = linearise(_table(np.log2(linear)), what="signature").warnings
    assert "--scale" not in signature.text("cli") and "Upload" not in signature.text("app")
    assert "scale is detected, not chosen" in signature.text("cli")


def test_log2_plus_one_with_zeros():
    linear = np.array([[0.0, 3.0], [0.0, 20.0], [7.0, 0.0], [15.5, 2.5]])
    out = linearise(_table(np.log2(linear + 1)))
    assert out.detected == "log2p1"
    np.testing.assert_allclose(out.table.to_numpy(), linear, atol=1e-12)


def test_raw_counts_become_cpm_with_warning():
    counts = _table([[10, 300], [90, 700], [900, 0]])
    out = linearise(counts)
    assert out.detected == "counts"
    np.testing.assert_allclose(out.table.sum().to_numpy(), [1e6, 1e6])
    assert out.warnings[0].code == "raw_counts"


def test_declared_scale_overrides_detection():
    t = _table([[1.0, 2.0], [3.0, 4.0]])
    out = linearise(t, scale="linear")
    assert out.detected == "linear"
    np.testing.assert_allclose(out.table.to_numpy(), t.to_numpy())


def test_negative_values_are_an_error_naming_the_cell():
    t = _table([[100.0, -5.0], [200.0, 300.0]])
    with pytest.raises(InputError, match=r"negative value.*G0 in S2"):
        linearise(t)


def test_infinity_is_an_error():
    t = _table([[100.0, np.inf], [200.0, 300.0]])
    with pytest.raises(InputError, match="infinite"):
        linearise(t)


def test_zero_and_empty_samples_are_named_and_left_out():
    t = _table([[100.0, 0.0, np.nan], [200.0, 0.0, np.nan]], samples=("ok", "zero", "empty"))
    out = linearise(t)
    assert list(out.table.columns) == ["ok"]
    named = {(w.code, w.sample) for w in out.warnings}
    assert ("zero_sample", "zero") in named
    assert ("empty_sample", "empty") in named


def test_all_samples_empty_is_an_error():
    with pytest.raises(InputError, match="non-zero"):
        linearise(_table([[0.0, 0.0], [0.0, 0.0]]))


def test_unknown_scale_and_absurd_log_values():
    with pytest.raises(InputError, match="Unknown scale"):
        linearise(_table([[1.0, 2.0]]), scale="log7")
    with pytest.raises(InputError, match="above 1000"):
        linearise(_table([[1.0, 2000.0]]), scale="log2")


def test_detect_scale_on_empty_values():
    assert detect_scale(_table([[np.nan, np.nan]])) == "linear"


def test_absurdly_large_values_are_an_error():
    with pytest.raises(InputError, match=r"above 1e\+12.*G1 in S1"):
        linearise(_table([[1.0, 2.0], [9e307, 3.0]]))


def test_counts_with_a_few_median_halves_are_still_counts():
    rng = np.random.default_rng(0)
    counts = rng.poisson(30, size=(3000, 2)).astype(float)
    counts[0, 0] = 12.5  # median of a duplicated gene's two counts
    out = linearise(pd.DataFrame(counts, index=[f"G{i}" for i in range(3000)], columns=["A", "B"]))
    assert out.detected == "counts"

"""Verdict reasons never print a number on the wrong side of the limit they quote."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from deconv_core.qc import _fit_rows, _p_value_rows
from deconv_core.thresholds import ALPHA, GOOD_R, GOOD_R2, POOR_R, POOR_R2
from deconv_core.verdict import format_against, sample_verdicts

# Just under each limit, close enough that two decimals would round up to it.
CASES = {
    "r under good": (GOOD_R - 3e-4, 0.95, "check", "r", GOOD_R),
    "R² under good": (0.94, GOOD_R2 - 3e-4, "check", "R²", GOOD_R2),
    "r under poor": (POOR_R - 3e-4, 0.9, "poor", "r", POOR_R),
    "R² under poor": (0.94, POOR_R2 - 3e-4, "poor", "R²", POOR_R2),
}


def _shown(reason: str, name: str) -> float:
    return float(re.search(rf"\b{name} = ([0-9.]+)", reason).group(1))


@pytest.mark.parametrize("case", list(CASES))
def test_a_value_just_under_a_limit_is_printed_under_it(case):
    r, r2, verdict, name, limit = CASES[case]
    fit = pd.DataFrame({"pearson_r": [r], "r2": [r2]}, index=["S1"])
    row = sample_verdicts(fit).loc["S1"]
    assert row["verdict"] == verdict
    assert _shown(row["reasons"], name) < limit, row["reasons"]
    # the other statistic keeps its two decimals
    other = "R²" if name == "r" else "r"
    assert re.search(rf"\b{other} = [0-9]\.[0-9]{{2}}[;,)]", row["reasons"]), row["reasons"]


def test_the_gse11058_reason_reads_below_its_limit():
    # GSM279605 (GSE11058 with its own probe signature): R² 0.7997 read "R² = 0.80".
    fit = pd.DataFrame({"pearson_r": [0.9412], "r2": [0.7997]}, index=["GSM279605"])
    reasons = sample_verdicts(fit).loc["GSM279605", "reasons"]
    assert reasons.startswith("fair fit (r = 0.94, R² = 0.7997; good needs")


def test_a_p_value_just_over_alpha_is_printed_over_it():
    fit = pd.DataFrame({"pearson_r": [0.95], "r2": [0.9]}, index=["S1"])
    p = pd.Series({"S1": ALPHA + 1e-4})
    row = sample_verdicts(fit, p_values=p).loc["S1"]
    assert row["verdict"] == "poor"
    assert _shown(row["reasons"], "p") > ALPHA, row["reasons"]


def test_the_core_findings_print_the_same_numbers():
    fit = pd.DataFrame({"pearson_r": [0.94], "r2": [POOR_R2 - 3e-4]}, index=["S1"])
    assert _shown(_fit_rows(fit)[0][2], "R²") < POOR_R2
    message = _p_value_rows(pd.Series({"S1": ALPHA + 1e-5}), ALPHA)[0][2]
    assert _shown(message, "p") > ALPHA


@pytest.mark.parametrize(
    ("value", "limits", "kwargs", "text"),
    [
        (0.7997, (0.8,), {}, "0.7997"),
        (0.8, (0.8,), {}, "0.80"),
        (0.8004, (0.8,), {}, "0.80"),  # at or above a ≥ limit: two decimals are true
        (0.94, (0.75, 0.9), {}, "0.94"),
        (0.0501, (0.05,), {"significant": True, "ties": "below"}, "0.0501"),
        (0.05, (0.05,), {"significant": True, "ties": "below"}, "0.05"),
        (np.nan, (0.8,), {}, "nan"),
    ],
)
def test_format_against_adds_digits_only_when_rounding_would_cross(value, limits, kwargs, text):
    assert format_against(value, limits, **kwargs) == text


def test_format_against_refuses_an_unknown_tie_side():
    with pytest.raises(ValueError, match="ties must be 'above' or 'below'"):
        format_against(0.5, (0.5,), ties="equal")


def test_a_poor_r2_beside_a_good_r_says_the_sizes_are_off():
    """QA: a single-cell signature on bulk TPM gave 'poor fit (r = 0.97, R² = 0.42)', which
    read as a contradiction; the reason now says what such a pair means."""
    fit = pd.DataFrame({"pearson_r": [0.97, 0.6], "r2": [0.42, 0.42]}, index=["S1", "S2"])
    reasons = sample_verdicts(fit)["reasons"]
    assert "follow the sample's pattern (r) but not their sizes" in reasons["S1"]
    assert "sizes" not in reasons["S2"]  # r poor too: nothing to reconcile

"""The largest misses named per sample: the fast top three against a stable sort."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deconv_core.verdict import _misses, _top_three


def test_top_three_equals_a_stable_sort_with_ties_and_missing_columns():
    rng = np.random.default_rng(0)
    for trial in range(200):
        shape = (int(rng.integers(1, 30)), int(rng.integers(1, 12)))
        if trial % 2:  # many ties, and -1 standing for NaN
            size = rng.integers(-1, 4, size=shape).astype(float)
        else:
            size = np.abs(rng.normal(size=shape))
        expected = np.argsort(-size, axis=0, kind="stable")[:3]
        np.testing.assert_array_equal(_top_three(size), expected)


def test_misses_name_the_three_largest_by_size_then_gene_order():
    z = pd.DataFrame(
        {"s1": [0.5, -4.0, 3.0, 4.0, 2.5], "s2": [np.nan] * 5},
        index=["A", "B", "C", "D", "E"],
    )
    words = _misses(z)
    assert words["s1"] == "largest misses: B (lower), D (higher), C (higher)"
    assert words["s2"] == ""

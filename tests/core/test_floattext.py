"""deconv_core.floattext: the bytes of Python's '%.6g', a table at a time."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deconv_core.floattext import g6_lines

EDGES = [
    0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, -1.0, 0.5, 2.5, 0.1, 1e5, 1e6, 1e-4, 1e-5,
    123456.0, 1234565.0, 1234575.0, 999999.4, 999999.5, 9999995.0, 99999.95, 9.999995e-5,
    0.000123456789, 1e16, 1e22, 1e23, 1e-17, 1e-18, 1e-300, 5e-324, 1.7976931348623157e308,
]  # fmt: skip


def _python(values: np.ndarray) -> list[bytes]:
    """The reference: pandas' ``float_format="%.6g"``, NaN as an empty field."""
    cell = "%.6g"  # what pandas and the CSV files use
    return [",".join("" if v != v else cell % v for v in row).encode() for row in values.tolist()]


def test_edges_ties_and_rows_with_gaps_match_python():
    values = np.array(EDGES).reshape(1, -1)
    assert g6_lines(values) == _python(values)
    # Values exactly halfway between two 6-digit numbers and their neighbours, at
    # every exponent of the float path and past it, both signs.
    rng = np.random.default_rng(7)
    halves = (rng.integers(100_000, 1_000_000, 3_000) + 0.5) * 10.0 ** rng.integers(-25, 25, 3_000)
    halves *= rng.choice([-1.0, 1.0], halves.size)
    for values in (halves, np.nextafter(halves, np.inf), np.nextafter(halves, -np.inf)):
        values = values.reshape(-1, 50)
        values[3, [0, 7, 49]] = np.nan  # empty fields first, inside and last
        assert g6_lines(values) == _python(values)


@given(hnp.arrays(np.float64, st.tuples(st.integers(0, 4), st.integers(1, 5))))
def test_any_float_table_matches_python(values):
    assert g6_lines(values) == _python(values)

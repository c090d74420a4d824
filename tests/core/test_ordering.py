"""deconv_core.ordering: sample and gene orders behind the charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deconv_core.ordering import (
    cluster_order,
    order_samples,
    residual_gene_order,
    residual_sample_order,
    residual_samples,
)


def test_order_samples_groups_then_sorts_descending():
    props = pd.DataFrame({"a": [0.1, 0.5, 0.3, 0.9]}, index=["s1", "s2", "s3", "s4"])
    groups = pd.Series({"s1": "x", "s2": "y", "s3": "x", "s4": None})
    assert order_samples(props) == ["s1", "s2", "s3", "s4"]
    assert order_samples(props, sort_by="a") == ["s4", "s2", "s3", "s1"]
    assert order_samples(props, sort_by="a", groups=groups) == ["s3", "s1", "s2", "s4"]
    with pytest.raises(ValueError, match="no such cell type"):
        order_samples(props, sort_by="b")


def test_residual_heatmap_takes_the_worst_fits_of_a_large_cohort():
    samples = ["s1", "s2", "s3", "s4", "s5"]
    worst = ["s4", "s2", "s5", "s1", "s3"]  # the verdict's order
    chosen, note = residual_samples(samples, worst, limit=2)
    assert chosen == ["s2", "s4"]  # the two worst, in input order
    assert "fit worst" in note and "of 5" in note
    assert residual_samples(samples, worst) == (samples, "")


def test_cluster_order_puts_similar_rows_together():
    values = np.array([[0.0, 0.0], [10.0, 10.0], [0.1, 0.0], [10.0, 9.9]])
    order = list(cluster_order(values))
    assert sorted(order) == [0, 1, 2, 3]
    assert abs(order.index(0) - order.index(2)) == 1
    assert list(cluster_order(values[:2])) == [0, 1]


def test_residual_orders_check_their_option():
    z = pd.DataFrame(
        [[1.0, -1.0], [0.0, 2.0], [3.0, 0.0]], index=["g1", "g2", "g3"], columns=["s1", "s2"]
    )
    marks = pd.Series({"g1": "B", "g2": "A", "g3": "A"})
    assert residual_gene_order(z, marks, ["A", "B"], gene_order="cell type") == ["g3", "g2", "g1"]
    assert residual_sample_order(z, ["s2", "s1"]) == ["s2", "s1"]
    with pytest.raises(ValueError, match="Unknown gene order"):
        residual_gene_order(z, marks, ["A", "B"], gene_order="alphabet")
    with pytest.raises(ValueError, match="Unknown sample order"):
        residual_sample_order(z, "random")

"""The Results page's controls show the values in use: after a visit to another page, and
after a click on the selected option of a segmented control (which would empty it); its
tables list the samples in the order of its charts."""

from __future__ import annotations

import json

from tests.app.conftest import charts, sidebar_text, visit


def _view(at) -> tuple[str, str, str, bool]:  # type: ignore[no-untyped-def]
    """Level, sort, grouping and intervals switch as the Results page shows them."""
    level = at.segmented_control(key="results_level").value
    sort = at.selectbox(key="results_sort" if level == "cell types" else "results_sort_groups")
    group = at.selectbox(key="results_group").value
    return level, sort.value, group, at.toggle(key="results_intervals").value


def _round_trip(at, page: str) -> tuple[str, str, str, bool]:  # type: ignore[no-untyped-def]
    visit(at, page)
    visit(at, "results")
    assert not at.exception, at.exception
    return _view(at)


def test_a_fresh_visit_starts_from_the_defaults(demo_app):
    at = visit(demo_app, "results")
    assert _view(at) == ("cell types", "(input order)", "group", False)  # first metadata column


def test_view_settings_survive_a_visit_to_another_page(demo_app):
    at = visit(demo_app, "results")
    at.segmented_control(key="results_level").set_value("groups").run()
    at.selectbox(key="results_sort_groups").set_value("T cells").run()
    at.selectbox(key="results_group").set_value("diagnosis").run()
    table = at.dataframe[0].value
    assert _round_trip(at, "qc") == ("groups", "T cells", "diagnosis", False)
    assert list(at.dataframe[0].value.columns) == list(table.columns)  # still the groups

    at.segmented_control(key="results_level").set_value("cell types").run()
    at.selectbox(key="results_sort").set_value("other").run()
    at.toggle(key="results_intervals").set_value(True).run()
    assert _round_trip(at, "upload") == ("cell types", "other", "diagnosis", True)
    assert len(at.dataframe[1].value) == 24 * 11  # the intervals are computed and shown
    at.toggle(key="results_intervals").set_value(False).run()  # and an off switch stays off
    assert _round_trip(at, "qc")[3] is False


def test_emptied_mode_fit_and_level_controls_show_the_values_in_use(demo_app):
    at = visit(demo_app, "results")
    for key in ("results_mode", "results_loss", "results_level"):
        assert at.segmented_control(key=key).proto.required, key  # the browser keeps one on
    assert at.segmented_control(key="results_mode").value == "absolute"
    at.segmented_control(key="results_mode").set_value(None).run()  # as a click on it sends
    assert not at.exception, at.exception
    assert at.segmented_control(key="results_mode").value == "absolute"
    assert "**Mode**: absolute (with other)" in sidebar_text(at)
    at.segmented_control(key="results_loss").set_value(None).run()
    assert at.segmented_control(key="results_loss").value == "huber"
    assert "**Fit**: robust (Huber)" in sidebar_text(at)
    at.segmented_control(key="results_level").set_value("groups").run()
    groups = list(at.dataframe[0].value.columns)
    at.segmented_control(key="results_level").set_value(None).run()
    assert at.segmented_control(key="results_level").value == "groups"
    assert list(at.dataframe[0].value.columns) == groups
    at.segmented_control(key="results_mode").set_value("relative").run()  # a real change
    assert at.segmented_control(key="results_mode").value == "relative"
    assert "**Mode**: relative" in sidebar_text(at)
    assert _round_trip(at, "qc")[0] == "groups"
    assert at.segmented_control(key="results_mode").value == "relative"


def _heatmap_samples(at) -> list[str]:  # type: ignore[no-untyped-def]
    specs = [json.loads(c.proto.spec) for c in charts(at)]
    return next(list(t["x"]) for s in specs for t in s["data"] if t["type"] == "heatmap")


def test_the_tables_rows_follow_the_charts_order_of_samples(demo_app):
    at = visit(demo_app, "results")
    rows = list(at.dataframe[0].value.index)
    assert rows == _heatmap_samples(at)
    assert rows[:3] == ["S01", "S04", "S07"]  # grouped by the metadata's first column
    at.selectbox(key="results_group").set_value("(none)").run()
    at.selectbox(key="results_sort").set_value("other").run()
    rows = list(at.dataframe[0].value.index)
    assert rows == _heatmap_samples(at) and rows != sorted(rows)
    others = at.dataframe[0].value["other"]
    assert others.is_monotonic_decreasing  # largest share of other cells first
    at.toggle(key="results_intervals").set_value(True).run()
    long = at.dataframe[1].value
    assert list(dict.fromkeys(long["sample"])) == rows  # the intervals too

"""The Results page's controls show the values in use, also after a visit to another page."""

from __future__ import annotations

from tests.app.conftest import visit


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

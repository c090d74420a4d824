"""The Signature page's Source control always shows the source whose controls are drawn."""

from __future__ import annotations

from tests.app.conftest import visit


def test_emptied_source_control_shows_the_source_in_use(demo_app):
    at = visit(demo_app, "signature")
    control = at.segmented_control(key="signature_source")
    assert control.proto.required  # the browser keeps one option on
    assert control.value == "Built-in"
    control.set_value(None).run()  # as a click on the selected option sends
    assert not at.exception, at.exception
    assert at.segmented_control(key="signature_source").value == "Built-in"
    assert at.selectbox(key="signature_builtin").value == "TIL10"  # the controls it shows

"""AppTest: sessions are separate, caches are keyed by input (no real browser needed).

Every AppTest is its own session of the same process, sharing Streamlit's
``st.cache_data`` as the sessions of one server do.  The real-browser check
with five concurrent sessions is ``tests/e2e/test_privacy_browser.py``.
"""

from __future__ import annotations

from tests.app.conftest import bulk_tsv, new_app, sidebar_text, texts, uploader, visit


def _upload(name: str, data: bytes):
    at = new_app()
    visit(at, "upload")
    uploader(at, "Bulk expression file").upload(name, data, "text/plain")
    at.run()
    assert not at.exception and not at.error, texts(at, "error")
    return at


def _results(at) -> list[str]:
    visit(at, "results")
    assert not at.exception, at.exception
    return list(at.dataframe[0].value.index)


def test_two_sessions_see_only_their_own_data_and_a_new_one_sees_nothing():
    mine, yours = ["mine_1", "mine_2", "mine_3"], ["yours_1", "yours_2"]
    a = _upload("mine.tsv", bulk_tsv(3, seed=31, names=mine))
    b = _upload("yours.tsv", bulk_tsv(2, seed=32, names=yours))
    for at in (a, b):
        visit(at, "signature")  # chooses TIL10
    assert _results(a) == mine
    assert _results(b) == yours
    assert _results(a) == mine  # B's run did not replace A's result
    assert "mine.tsv" in sidebar_text(a) and "yours.tsv" not in sidebar_text(a)
    assert "yours.tsv" in sidebar_text(b) and "mine.tsv" not in sidebar_text(b)

    fresh = new_app()
    assert "Expression: nothing yet" in sidebar_text(fresh)
    visit(fresh, "results")
    assert any("No expression data yet" in t for t in texts(fresh, "info"))


def test_the_same_file_in_two_sessions_keeps_each_its_own_name_and_copy():
    data = bulk_tsv(3, seed=33)
    a = _upload("first name.tsv", data)
    b = _upload("second name.tsv", data)
    # The parse cache is keyed by content *and* name: each session shows its own file name.
    assert "first name.tsv" in sidebar_text(a) and "second name.tsv" in sidebar_text(b)
    # st.cache_data hands each session its own copy: nothing one session holds is another's.
    assert a.session_state["expression"] is not b.session_state["expression"]
    for at in (a, b):
        visit(at, "signature")
    assert _results(a) == _results(b) == ["S1", "S2", "S3"]
    assert a.session_state["result"][1] is not b.session_state["result"][1]

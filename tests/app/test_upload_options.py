"""Upload: the scale and species options apply to the loaded file, also after the user
came back from another page (when Streamlit has emptied the uploader)."""

from __future__ import annotations

from tests.app.conftest import bulk_tsv, new_app, texts, uploader, visit

# The health card's findings for declared counts and mouse genes.
COUNTS = "raw counts → counts per million"
MOUSE = "**Gene ids**  \nmouse"


def _health(at) -> str:  # type: ignore[no-untyped-def]
    return " ".join(texts(at, "markdown"))


def test_scale_and_species_chosen_after_a_visit_elsewhere_read_the_loaded_file_again():
    at = visit(new_app(), "upload")
    uploader(at, "Bulk expression file").upload("bulk.tsv", bulk_tsv(), "text/plain").run()
    visit(at, "results")
    result = at.dataframe[0].value
    visit(at, "upload")
    assert uploader(at, "Bulk expression file").value is None  # Streamlit forgot the file
    assert COUNTS not in _health(at) and MOUSE not in texts(at, "markdown")

    at.selectbox(key="upload_scale").select("log2p1").run()  # impossible for these values
    assert not at.exception, at.exception
    # Named as the choice is shown, not by its command-line word (log2p1).
    assert any(
        "declared as log2(x + 1) but holds values above 1000" in t for t in texts(at, "error")
    )
    # The refused choice stays in the box until the page is left: the caption says so.
    assert any(
        "Still using the data loaded before: bulk.tsv, read with the scale detect (recommended) "
        "and the species detect (recommended); the choice above was not applied." in t
        for t in texts(at, "caption")
    )

    at.selectbox(key="upload_scale").select("counts").run()
    assert not at.exception, at.exception
    assert texts(at, "error") == []
    assert COUNTS in _health(at)
    visit(at, "results")
    assert not at.dataframe[0].value.equals(result)  # refitted on counts per million

    visit(at, "upload")
    assert at.selectbox(key="upload_scale").value == "counts"  # shows what the data were read as
    at.selectbox(key="upload_species").select("mouse").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="upload_species").value == "mouse"
    assert COUNTS in _health(at)  # the scale chosen before is kept
    assert MOUSE in texts(at, "markdown")

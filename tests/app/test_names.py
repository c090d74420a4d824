"""Names shown as written: a right-to-left override is made visible, files keep it."""

from __future__ import annotations

import io
import json
import zipfile

from deconv_core.report import bundle_zip
from tests.app.conftest import bulk_tsv, charts, new_app, texts, uploader, visit

RTL = "rtl\u202egnp.exe\u202cend"
SHOWN = "rtl⟨U+202E⟩gnp.exe⟨U+202C⟩end"


def test_a_right_to_left_override_is_shown_escaped_and_kept_in_files():
    at = new_app()
    names = [RTL, "S2", "S3", "S4"]
    visit(at, "upload")
    uploader(at, "Bulk expression file").upload("bulk.tsv", bulk_tsv(4, names=names), "text/plain")
    at.run()
    assert not at.exception
    warned = " ".join(texts(at, "warning") + [str(d.value) for d in at.dataframe])
    assert "hidden_characters" in warned or "direction-changing" in warned
    visit(at, "signature")  # chooses TIL10
    at = visit(at, "results")
    assert not at.exception
    table = at.dataframe[0].value
    assert SHOWN in table.index and RTL not in table.index
    bars = json.dumps([c.proto.spec for c in charts(at)])
    assert "\\u202e" not in bars.lower() and "U+202E" in bars
    shown = " ".join(texts(at, "markdown") + texts(at, "caption") + texts(at, "error"))
    assert "\u202e" not in shown
    # Data files keep the name byte for byte.
    _, analysis = at.session_state["analysis"]
    archive = zipfile.ZipFile(io.BytesIO(bundle_zip(analysis)))
    assert RTL in archive.read("proportions.csv").decode("utf-8")

"""Hostile uploads: names shown as written, a gzip bomb refused; loaded data stay."""

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
    (analysis,) = at.session_state["analysis"].values()
    archive = zipfile.ZipFile(io.BytesIO(bundle_zip(analysis)))
    assert RTL in archive.read("proportions.csv").decode("utf-8")


def test_a_gzip_bomb_upload_is_refused_and_the_loaded_data_stay(demo_app):
    import gzip
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = packer.compress(b"G1\t0\n" * (2**20 // 5) * 64) + packer.flush()
    bomb = gzip.compress(b"gene\tS1\n") + member * 32  # about 2 GB of text from 2 MB
    at = visit(demo_app, "upload")
    uploader(at, "Bulk expression file").upload("bomb.tsv.gz", bomb, "application/gzip")
    at.run()
    assert not at.exception
    errors = texts(at, "error")
    assert any("The expression file" in t and "limit" in t for t in errors), errors
    # The demo is still what is loaded, and the other pages still work.
    at = visit(at, "results")
    assert not at.exception and at.dataframe[0].value.shape[0] == 24


def test_a_new_expression_file_sets_aside_side_tables_that_match_none_of_its_samples(demo_app):
    from tests.app.conftest import sidebar_text

    at = visit(demo_app, "upload")
    assert "metadata.csv" in sidebar_text(at)
    uploader(at, "Bulk expression file").upload("bulk.tsv", bulk_tsv(4), "text/plain")
    at.run()
    assert not at.exception
    side = sidebar_text(at)
    assert "metadata.csv" not in side and "measured_fractions.csv" not in side
    notes = " ".join(texts(at, "info"))
    assert "sample metadata metadata.csv matched none of the new samples" in notes
    assert "measured fractions measured_fractions.csv matched none" in notes

"""The tumour-board card on Results, and sessions restored from the results zip on Upload."""

from __future__ import annotations

import io
import json
import zipfile

from deconv_core.card import NOT_CHECKED
from tests.app.conftest import new_app, prepare_downloads, texts, uploader, visit
from ui import cards

ZIP = "deconvolution_results.zip"


def _verdict_box(at) -> str:
    found = [t for kind in ("success", "warning", "error") for t in texts(at, kind)]
    return next(t for t in found if t.startswith("**Fit verdict**"))


def test_card_of_the_chosen_sample_downloads_as_one_page(served):
    at = new_app()
    at.button(key="load_demo").click().run()
    visit(at, "results")
    assert not at.exception, at.exception
    box = at.selectbox(key="results_card_sample")
    worst = box.value
    assert worst in _verdict_box(at)  # starts at the first sample to check
    page = served[f"card_{worst}.html"].decode()
    assert f"Sample {worst}" in page and "@page { size: A4" in page
    assert served[f"card_{worst}.png"].startswith(b"\x89PNG")
    # the gene checks are pending: the page and the card say the verdict lacks them
    assert cards.CARD_WITHOUT_GENE_CHECKS in texts(at, "caption") and NOT_CHECKED in page
    at.button(key="run_gene_checks").click().run()
    assert cards.CARD_WITHOUT_GENE_CHECKS not in texts(at, "caption")
    assert NOT_CHECKED not in served[f"card_{worst}.html"].decode()
    box.set_value("S01" if worst != "S01" else "S02").run()
    assert not at.exception
    chosen = box.value
    assert f"card_{chosen}.html" in served
    assert any(
        t.startswith(f"**{chosen}:") for k in ("success", "warning", "error") for t in texts(at, k)
    )


def test_results_zip_restores_the_run_and_a_changed_one_is_refused(served):
    at = new_app()
    at.button(key="load_demo").click().run()
    visit(at, "results")
    at.segmented_control(key="results_loss").set_value("squares").run()
    prepare_downloads(at)
    assert not at.exception, at.exception
    before = _verdict_box(at)
    bundle = served[ZIP]

    fresh = new_app()
    visit(fresh, "upload")
    uploader(fresh, "Results zip").upload(ZIP, bundle, "application/zip").run()
    assert not fresh.exception, fresh.exception
    assert any("Restored the run of" in t for t in texts(fresh, "info"))
    visit(fresh, "results")
    assert not fresh.exception, fresh.exception
    assert _verdict_box(fresh) == before
    assert fresh.segmented_control(key="results_loss").value == "squares"
    assert any("the same verdicts as the bundle" in t for t in texts(fresh, "success"))
    assert "expression" in fresh.session_state
    assert fresh.session_state["measured"] is not None and fresh.session_state["metadata"]

    changed = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as src, zipfile.ZipFile(changed, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data + b"\n" if name.startswith("inputs/metadata/") else data)
    other = new_app()
    visit(other, "upload")
    uploader(other, "Results zip").upload(ZIP, changed.getvalue(), "application/zip").run()
    errors = texts(other, "error")
    assert len(errors) == 1
    assert "was changed: inputs/metadata/metadata.csv does not match" in errors[0]
    assert "expression" not in other.session_state  # nothing was loaded
    cut = bundle[: len(bundle) // 3]
    uploader(other, "Results zip").upload("cut.zip", cut, "application/zip").run()
    assert texts(other, "error") == [
        "The session bundle cut.zip is not a readable zip file (damaged or cut short); download "
        "the bundle again from the run (Results, Downloads: Everything) and upload that unchanged."
    ]
    edited = io.BytesIO()  # a manifest edited by hand: a group's members replaced by null
    with zipfile.ZipFile(io.BytesIO(bundle)) as src, zipfile.ZipFile(edited, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json":
                manifest = json.loads(data)
                manifest["parameters"]["groups"]["B cells"] = None
                data = json.dumps(manifest).encode()
            dst.writestr(name, data)
    uploader(other, "Results zip").upload("edited.zip", edited.getvalue(), "application/zip").run()
    assert not other.exception, other.exception  # was a TypeError after the inputs were cleared
    assert texts(other, "error")[0].startswith("The bundle's cell-type groups are not lists")
    assert "expression" not in other.session_state


def test_a_run_with_the_methods_restores_with_them(served):
    at = new_app()
    at.button(key="load_demo").click().run()
    at.switch_page("pages/5_Methods.py").run()
    visit(at, "results")
    prepare_downloads(at)
    assert not at.exception, at.exception
    recorded = _verdict_box(at)

    fresh = new_app()
    visit(fresh, "upload")
    uploader(fresh, "Results zip").upload(ZIP, served[ZIP], "application/zip").run()
    visit(fresh, "results")
    assert not fresh.exception, fresh.exception
    assert any("the same verdicts as the bundle" in t for t in texts(fresh, "success"))
    assert _verdict_box(fresh) == recorded

"""Sessions that come back: a bundle with its inputs restores the run; a changed one is refused."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from deconv_core.analysis import assess, fit_signature
from deconv_core.expression import load_expression
from deconv_core.io.limits import ReadLimits
from deconv_core.options import RunOptions
from deconv_core.report import bundle_zip
from deconv_core.session import InputFile, read_bundle, run_inputs
from deconv_core.signatures import load_signature
from deconv_core.validation import InputError
from deconv_core.verdict import verdict_counts
from tests.conftest import planted_mixtures

LIMITS = ReadLimits(max_text_bytes=64 * 2**20)


def _run(data: bytes, options: RunOptions):
    til10 = load_signature("TIL10")
    expression = load_expression(data, name="bulk.tsv", scale=options.scale)
    result = fit_signature(expression, til10, options)
    meta = {"sample_metadata": {"file": "meta.csv", "sha256": InputFile("m", META).sha256}}
    return assess(expression, til10, options, result, side_inputs=meta)


META = b"sample,arm\nS1,a\nS2,a\nS3,b\nS4,b\n"


@pytest.fixture(scope="module")
def bundle():
    expr, _ = planted_mixtures(4, noise=0.2, seed=7, n_filler=500)
    data = expr.to_csv(sep="\t", index_label="gene").encode()
    options = RunOptions(mode="absolute", exclude="none", loss="squares", seed=2)
    analysis = _run(data, options)
    inputs = {"expression": InputFile("bulk.tsv", data), "metadata": InputFile("meta.csv", META)}
    extra = {"comparison": {"measured_mapping": {"T cells": ["T.cells.CD4", "T.cells.CD8"]}}}
    return analysis, bundle_zip(analysis, inputs=inputs, extra=extra)


def _rewrite(data: bytes, change) -> bytes:
    """The zip with ``change(name, bytes)`` applied to each member (None drops it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            new = change(name, src.read(name))
            if new is not None:
                dst.writestr(name, new)
    return out.getvalue()


def test_round_trip_restores_the_same_run(bundle):
    analysis, data = bundle
    session = read_bundle(data, name="b.zip", limits=LIMITS)
    assert session.inputs["metadata"].data == META and session.signature == "TIL10"
    assert session.mapping == {"T cells": ["T.cells.CD4", "T.cells.CD8"]}
    options = session.options
    assert options == analysis.options
    assert session.groups == dict(analysis.groups)
    again = _run(session.inputs["expression"].data, options)
    pd.testing.assert_frame_equal(again.result.proportions, analysis.result.proportions)
    pd.testing.assert_frame_equal(again.verdicts, analysis.verdicts)
    assert again.expression.sha256 == analysis.expression.sha256
    assert session.verdicts == verdict_counts(analysis.verdicts)
    assert session.species == analysis.expression.species == "human"


def test_a_user_signatures_metadata_travels_with_it(bundle):
    analysis, _ = bundle
    table = b"gene\tA\n"
    files = {
        "expression": InputFile("bulk.tsv", b"x"),
        "signature": InputFile("s.tsv", table),
        "signature_metadata": InputFile("s.metadata.json", b"{}"),
    }
    mine = replace(analysis, signature=replace(analysis.signature, builtin=False, sha256=""))
    exp = replace(mine.expression, sha256=InputFile("", b"x").sha256)
    mine = replace(mine, expression=exp)
    assert set(run_inputs(mine, files)) == {"expression"}  # not this run's signature: neither
    sig = replace(mine.signature, sha256=InputFile("", table).sha256)
    assert set(run_inputs(replace(mine, signature=sig), files)) == set(files)


@pytest.mark.parametrize(
    ("member", "match"),
    [
        ("proportions.csv", r"was changed: proportions.csv does not match the SHA-256"),
        ("inputs/expression/bulk.tsv", r"was changed: inputs/expression/bulk.tsv does not match"),
    ],
)
def test_a_changed_file_is_refused_naming_it(bundle, member, match):
    changed = _rewrite(bundle[1], lambda n, d: d.replace(b"1", b"2", 1) if n == member else d)
    with pytest.raises(InputError, match=match):
        read_bundle(changed, name="b.zip", limits=LIMITS)


def test_added_and_missing_members_are_refused(bundle):
    extra = io.BytesIO()
    with zipfile.ZipFile(extra, "w") as dst, zipfile.ZipFile(io.BytesIO(bundle[1])) as src:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("inputs/expression/other.tsv", b"gene\tS1\n")
    with pytest.raises(InputError, match=r"holds inputs/expression/other.tsv, which its manifest"):
        read_bundle(extra.getvalue(), name="b.zip", limits=LIMITS)
    dropped = _rewrite(bundle[1], lambda n, d: None if n == "inputs/metadata/meta.csv" else d)
    with pytest.raises(InputError, match=r"incomplete: inputs/metadata/meta.csv is missing"):
        read_bundle(dropped, name="b.zip", limits=LIMITS)


def test_truncated_and_foreign_files_are_refused(bundle):
    data = bundle[1]
    with pytest.raises(InputError, match=r"b.zip is not a readable zip file \(damaged or cut"):
        read_bundle(data[: len(data) // 2], name="b.zip", limits=LIMITS)
    with pytest.raises(InputError, match=r"no manifest.json"):
        read_bundle(
            _rewrite(data, lambda n, d: None if n == "manifest.json" else d),
            name="b.zip",
            limits=LIMITS,
        )
    plain = bundle_zip(bundle[0])  # no inputs: results only
    with pytest.raises(InputError, match=r"holds results but not the inputs"):
        read_bundle(plain, name="b.zip", limits=LIMITS)


def test_a_zip_bomb_is_refused_before_unpacking(bundle):
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inputs/expression/bulk.tsv", b"0" * (80 * 2**20))
    assert len(bomb.getvalue()) < 2**20
    with pytest.raises(InputError, match=r"would unpack to 80.0 MB, over the limit of 64.0 MB"):
        read_bundle(bomb.getvalue(), name="b.zip", limits=LIMITS)


def test_only_the_runs_own_inputs_go_into_the_bundle(bundle):
    analysis = bundle[0]
    data = read_bundle(bundle[1], name="b.zip", limits=LIMITS).inputs["expression"].data
    files = {
        "expression": InputFile("bulk.tsv", data),
        "metadata": InputFile("other.csv", b"sample,arm\nS1,x\n"),  # not the run's metadata
        "signature": InputFile("til10.tsv", b"gene\tA\n"),  # the run used built-in TIL10
    }
    assert run_inputs(analysis, files) == {"expression": files["expression"]}
    assert run_inputs(analysis, {"expression": InputFile("x.tsv", data + b"\n")}) is None


def test_the_manifests_name_is_spelled_once():
    # The writer (report), the reader (session) and the table reader that recognises a
    # results zip (io.tables) read deconv_core.bundle.MANIFEST_FILE: renaming it there
    # renames it everywhere.
    import deconv_core

    root = Path(deconv_core.__file__).parent
    spelled = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*.py"))
               if '"manifest.json"' in p.read_text(encoding="utf-8")]  # fmt: skip
    assert spelled == ["bundle.py"]


def _edited(data: bytes, path: tuple[str, ...], value) -> bytes:
    """The bundle with one manifest entry replaced (the checksums do not cover the manifest)."""
    import json

    def change(name: str, member: bytes) -> bytes:
        if name != "manifest.json":
            return member
        manifest = json.loads(member)
        node = manifest
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return json.dumps(manifest).encode()

    return _rewrite(data, change)


@pytest.mark.parametrize(
    ("path", "value", "said"),
    [  # each was an AttributeError, TypeError or ValueError traceback
        (("inputs",), None, r"did not write \(inputs is not an object\)"),
        (("inputs", "signature"), "TIL10", r"\(inputs.signature is not an object\)"),
        (("result", "verdicts"), [1], r"\(result.verdicts is not an object\)"),
        (("comparison",), 5, r"\(comparison is not an object\)"),
        (("parameters", "level"), "x", "parameters cannot be read"),
        (("parameters", "groups", "B cells"), None, "groups are not lists of cell types"),
    ],
)
def test_an_edited_manifest_is_refused_in_one_line(bundle, path, value, said):
    with pytest.raises(InputError, match=said):
        session = read_bundle(_edited(bundle[1], path, value), name="b.zip", limits=LIMITS)
        assert session.options and session.groups  # what restoring reads next


@pytest.mark.parametrize("kind", ["unknown zip version", "encrypted member", "damaged member"])
def test_a_damaged_member_is_refused_in_one_line(bundle, kind):
    from tests.conftest import damage_zip

    damaged = damage_zip(bundle[1], "proportions.csv", kind)  # were NotImplementedError, ...
    said = r"b.zip (is damaged: proportions.csv|was changed|is not a readable zip)"
    with pytest.raises(InputError, match=said):
        read_bundle(damaged, name="b.zip", limits=LIMITS)

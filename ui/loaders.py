"""Cached parsing and deconvolution, and the handlers behind uploads and the demo button.

Every input arrives as ``(bytes, name)``: a browser upload, the demo button
and the tests all go through the same ``accept_*`` functions, so what a page
shows after a test is what it shows after a real upload.  Each handler
returns "" on success or the core's error sentence, and keeps what was
loaded before when it fails.

The sidebar (what is loaded) is drawn before a page's body, so whatever
changes what is loaded during a run asks for a rerun (:func:`refresh`): the
next run draws sidebar and page from the same state.

Caching: parsing and deconvolution are wrapped in ``st.cache_data`` with
small ``max_entries`` (a parsed 1,000 × 20,000 table is ~160 MB).  The
deconvolution cache is keyed by explicit identities (the input's SHA-256, the
signature key, mode and exclusion list) instead of hashing the tables on
every rerun.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Protocol

import pandas as pd
import streamlit as st

from deconv_core.analysis import Analysis, assess, fit_signature
from deconv_core.deconvolve import DeconvResult, suggest_mode
from deconv_core.expression import ExpressionData, load_expression
from deconv_core.io.limits import ReadLimits, dashboard_limits
from deconv_core.options import RunOptions
from deconv_core.qc import standardised_residuals
from deconv_core.report import parameters
from deconv_core.session import InputFile, Session, read_bundle
from deconv_core.signatures import Signature, builtin_names, load_signature
from deconv_core.validation import InputError
from ui import state, trust
from ui.screen import counted
from ui.tables import (
    SampleTable,
    match_samples,
    no_match_sentence,
    read_measured,
    read_metadata,
)

__all__ = [
    "DEFAULT_SIGNATURE",
    "DEMO_DIR",
    "EXPRESSION_TYPES",
    "TABLE_TYPES",
    "UploadedFile",
    "accept_bundle",
    "accept_expression",
    "accept_measured",
    "accept_metadata",
    "accept_signature",
    "analysis_key",
    "check_upload_size",
    "choose_builtin_signature",
    "current_analysis",
    "current_result",
    "expression_scale",
    "expression_species",
    "expression_summary",
    "follow_suggested_mode",
    "handle_upload",
    "load_demo",
    "read_limits",
    "reread_expression",
    "refresh",
    "residual_z",
    "run_key",
    "upload_help",
    "upload_limit_mb",
]

ROOT = Path(__file__).resolve().parents[1]
#: The signature chosen when nothing else is.
DEFAULT_SIGNATURE = "TIL10"
#: The bundled demo cohort (see its PROVENANCE.md).
DEMO_DIR = ROOT / "assets" / "demo"
#: File types the expression and signature uploaders accept (any of them gzipped).
EXPRESSION_TYPES = ["csv", "tsv", "txt", "tab", "xlsx", "xlsm", "gct", "gz"]
#: File types of the metadata and measured-fractions uploaders.
TABLE_TYPES = ["csv", "tsv", "txt", "xlsx"]


class UploadedFile(Protocol):
    """What the handlers need of ``st.file_uploader``'s return value."""

    file_id: str
    name: str

    def getvalue(self) -> bytes: ...


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def read_limits() -> ReadLimits:
    """What one upload may cost to read (:func:`deconv_core.io.limits.dashboard_limits`)."""
    return dashboard_limits(upload_limit_mb())


def upload_limit_mb() -> int:
    """The upload limit per file in MB (``server.maxUploadSize``, 1 MB = 2**20 bytes)."""
    return int(st.get_option("server.maxUploadSize"))


def _cli_command(slot: str, name: str) -> str:
    if slot == "signature":
        return f"python -m deconv_core run EXPRESSION --signature {name} --out results"
    return f"python -m deconv_core run {name} --signature TIL10 --out results"


def upload_help(slot: str = "expression") -> str:
    """Help text of an uploader: the limit, and that larger files go through the command line."""
    return (
        f"Up to {upload_limit_mb()} MB per file. Larger files go through the command line, "
        f"which reads them from disk: `{_cli_command(slot, 'FILE')}` (README, Command line)."
    )


def check_upload_size(slot: str, name: str, size: int) -> str:
    """Empty when a file fits the upload limit, else a sentence pointing to the command line.

    The browser's uploader enforces ``server.maxUploadSize`` itself; this
    check also covers files that reach the handlers another way.

    Parameters
    ----------
    slot
        ``"expression"``, ``"metadata"``, ``"measured"`` or ``"signature"``.
    name
        The file's name.
    size
        Its length in bytes.
    """
    limit = upload_limit_mb()
    if size <= limit * 2**20:
        return ""
    return (
        f"{name} is {size / 2**20:,.1f} MB, over the dashboard's upload limit of {limit} MB per "
        "file (server.maxUploadSize). Run it with the command line, which reads large files "
        f"from disk: {_cli_command(slot, shlex.quote(name))}"
    )


@st.cache_data(max_entries=2, show_spinner=False)
def _parse_expression(data: bytes, name: str, scale: str, species: str) -> ExpressionData:
    return load_expression(data, name=name, scale=scale, species=species, limits=read_limits())


@st.cache_data(max_entries=4, show_spinner=False)
def _parse_signature(data: bytes, name: str, metadata: bytes | None = None) -> Signature:
    return load_signature(data, name=name, limits=read_limits(), metadata=metadata)


@st.cache_data(max_entries=8, show_spinner=False)
def _deconvolve(
    key: str, options: RunOptions, _expression: ExpressionData, _signature: Signature
) -> DeconvResult:
    # ``key`` identifies the inputs (underscored arguments are not hashed).
    return fit_signature(_expression, _signature, options)


def accept_expression(data: bytes, name: str, *, scale: str = "auto", species: str = "auto") -> str:
    """Parse an expression file and load it.

    Parameters
    ----------
    data, name
        The file's bytes and name.
    scale
        Declared scale or ``"auto"``.
    species
        Declared species or ``"auto"``.

    Returns
    -------
    str
        "" on success, else the error sentence (the previous data stay loaded).
    """
    with st.status(f"Reading {name} ({_size(len(data))})…", expanded=False) as status:
        try:
            parsed = _parse_expression(data, name, scale, species)
        except InputError as exc:
            status.update(label=f"Could not read {name}", state="error")
            return exc.text("app")
        genes, samples = parsed.table.shape
        status.update(
            label=f"Read {name}: {counted(samples, 'sample')} × {counted(genes, 'gene')}",
            state="complete",
        )
    state.set_expression(parsed, key=f"{parsed.sha256}:{species}:{scale}")
    state.set_input_file("expression", InputFile(name, data))
    state.set_demo(False)
    _drop_unmatched_side_tables(list(parsed.table.columns))
    if state.signature() is None:
        choose_builtin_signature(DEFAULT_SIGNATURE)
    follow_suggested_mode()
    return ""


def _drop_unmatched_side_tables(samples: list[str]) -> None:
    """Forget metadata or measured fractions that match none of the new samples, saying so."""
    for slot, table, what in (
        ("metadata", state.metadata(), "sample metadata"),
        ("measured", state.measured(), "measured fractions"),
    ):
        if table is not None and match_samples(samples, table.table).empty:
            state.drop_side_table(slot)
            state.add_notice(
                f"The {what} {table.name} matched none of the new samples and were set aside; "
                "upload the ones that belong to this file."
            )


def follow_suggested_mode() -> None:
    """Start in the mode that is meaningful for the loaded data and signature, unless the
    user picked one (:func:`deconv_core.deconvolve.suggest_mode`)."""
    expression, signature = state.expression(), state.signature()
    if expression is None or signature is None:
        return
    mode, reason = suggest_mode(
        signature, n_genes=expression.table.shape[0], scale=expression.scale
    )
    state.set_suggested_mode(mode, reason)


def expression_species() -> str:
    """The species option the loaded expression was parsed with."""
    parts = state.expression_key().split(":")
    return parts[1] if len(parts) == 3 else "auto"


def expression_summary() -> str:
    """The loaded expression in words ("bulk.tsv (24 samples × 20,000 genes)"), or ""."""
    expression = state.expression()
    if expression is None:
        return ""
    genes, samples = expression.table.shape
    return f"{expression.name} ({counted(samples, 'sample')} × {counted(genes, 'gene')})"


def expression_scale() -> str:
    """The scale option the loaded expression was parsed with."""
    key = state.expression_key()
    return key.rsplit(":", 1)[-1] if ":" in key else "auto"


def _unmatched_ids(table: SampleTable) -> str:
    """The one-line refusal of a side table whose ids match no loaded sample, else ""."""
    expression = state.expression()
    if expression is None:
        return ""
    samples = list(expression.table.columns)
    if not match_samples(samples, table.table).empty:
        return ""
    return no_match_sentence(samples, table)


def accept_metadata(data: bytes, name: str) -> str:
    """Read and load sample metadata; "" or the error sentence."""
    try:
        table = read_metadata(data, name)
    except InputError as exc:
        return exc.text("app")
    refused = _unmatched_ids(table)
    if refused:
        return refused
    state.set_metadata(table)
    state.set_input_file("metadata", InputFile(name, data))
    return ""


def accept_measured(data: bytes, name: str) -> str:
    """Read and load measured fractions; "" or the error sentence."""
    try:
        table = read_measured(data, name)
    except InputError as exc:
        return exc.text("app")
    refused = _unmatched_ids(table)
    if refused:
        return refused
    state.set_measured(table)
    state.set_input_file("measured", InputFile(name, data))
    return ""


def accept_signature(data: bytes, name: str, metadata: InputFile | None = None) -> str:
    """Read a user's signature file (and its metadata) and choose it; "" or the error sentence."""
    with st.status(f"Reading signature {name}…", expanded=False) as status:
        try:
            sig = _parse_signature(data, name, metadata.data if metadata else None)
        except InputError as exc:
            status.update(label=f"Could not read {name}", state="error")
            return exc.text("app")
        status.update(label=f"Read signature {name}", state="complete")
    extra = f"+{metadata.sha256}" if metadata else ""
    state.set_signature(sig, key=f"upload:{hashlib.sha256(data).hexdigest()}{extra}")
    state.set_input_file("signature", InputFile(name, data))
    state.set_input_file("signature_metadata", metadata)
    follow_suggested_mode()
    return ""


def choose_builtin_signature(name: str) -> bool:
    """Choose a shipped signature by name; True when that changed the signature."""
    changed = state.set_signature(load_signature(name), key=f"builtin:{name}")
    if changed:
        state.set_input_file("signature", None)
        state.set_input_file("signature_metadata", None)
        follow_suggested_mode()
    return changed


def refresh(changed: bool = True) -> None:
    """Rerun the page when what is loaded changed, so the sidebar shows it."""
    if changed:
        st.rerun()


def accept_bundle(data: bytes, name: str) -> str:
    """Restore a session from a results bundle with its inputs; "" or the error sentence.

    Every file is checked against the SHA-256 its manifest records
    (:func:`deconv_core.session.read_bundle`) before anything loaded is
    replaced; then the inputs are loaded through the same handlers as uploads,
    and the options, cell-type groups and category mapping are set as the run had them.
    """
    try:
        session = read_bundle(data, name=name, limits=read_limits())
        options, groups = session.options, session.groups  # refused before anything changes
    except InputError as exc:
        return exc.text("app")
    state.clear_all()
    error = _restore_inputs(session, options.scale)
    if error:
        return error
    if options.methods:
        state.request_methods()
    state.set_mode(options.mode)
    state.set_exclude(options.exclude)
    state.set_loss(options.loss)
    state.set_groups(groups)
    if session.mapping:
        state.set_mapping(dict(session.mapping))
    state.set_restored(name, dict(session.verdicts))
    # The bundle's verdicts were made with every check (the downloads run them all).
    state.ask("gene_checks", run_key())
    state.add_notice(
        f"Restored the run of {name}: {expression_summary()} with {state.signature().name}, "
        f"{options.mode} mode; the Results page compares its verdicts with the bundle's."
    )
    return ""


def _restore_inputs(session: Session, scale: str) -> str:
    """Load a session's inputs as uploads would; "" or the first error sentence."""
    files = session.inputs
    expression = files["expression"]
    error = accept_expression(
        expression.data, expression.name, scale=scale, species=session.species
    )
    for slot in ("metadata", "measured"):
        if not error and slot in files:
            error = _HANDLERS[slot](files[slot].data, files[slot].name)
    if error:
        return error
    if "signature" in files:
        signature = files["signature"]
        return accept_signature(signature.data, signature.name, files.get("signature_metadata"))
    if session.signature not in builtin_names():
        return f"The bundle names a built-in signature {session.signature!r} this version lacks."
    choose_builtin_signature(session.signature)
    if state.signature().sha256 != session.signature_sha256:
        return (
            f"The bundle was made with another version of the built-in signature "
            f"{session.signature} (its SHA-256 differs); the run cannot be restored exactly."
        )
    return ""


_HANDLERS = {
    "expression": accept_expression,
    "metadata": accept_metadata,
    "measured": accept_measured,
    "signature": accept_signature,
    "bundle": accept_bundle,
}


def handle_upload(slot: str, file: UploadedFile | None, **options: str) -> str:
    """Load the file in an uploader once; on later reruns return the stored outcome.

    Parameters
    ----------
    slot
        ``"expression"``, ``"metadata"``, ``"measured"`` or ``"signature"``.
    file
        The uploader's value (None when empty).
    options
        Handler options (e.g. ``scale``); changing them reloads the file.

    Returns
    -------
    str
        "" or the error sentence of this file (a file over the upload limit
        is refused with :func:`check_upload_size`'s sentence).  A file that
        loads reruns the page (:func:`refresh`), so this returns only for
        errors and files handled before.
    """
    if file is None:
        return ""
    upload_id = f"{file.file_id}|{sorted(options.items())}"
    last = state.last_upload(slot)
    if last is not None and last[0] == upload_id:
        return last[1]
    data = file.getvalue()
    error = check_upload_size(slot, file.name, len(data)) or _HANDLERS[slot](
        data, file.name, **options
    )
    state.remember_upload(slot, upload_id, error)
    refresh(not error)
    return error


@dataclass(frozen=True)
class _KeptFile:
    """A loaded input's bytes as kept in the session, handled like an uploader's file."""

    file_id: str
    name: str
    data: bytes

    def getvalue(self) -> bytes:
        return self.data


def reread_expression(*, scale: str, species: str) -> str:
    """Read the loaded expression file again when the Upload page's scale or species changed.

    The uploader is empty after the user came back from another page
    (Streamlit forgets its file), but the file's bytes are kept
    (:func:`ui.state.input_files`): the new options apply to them as they would
    to the file in the uploader.  Nothing happens while the options are those
    the loaded data were read with.

    Parameters
    ----------
    scale, species
        The options chosen on the Upload page (``"auto"`` to detect).

    Returns
    -------
    str
        "" or the error sentence (the data read before stay loaded), as
        :func:`handle_upload`.
    """
    file = state.input_files().get("expression")
    if file is None or (scale, species) == (expression_scale(), expression_species()):
        return ""
    kept = _KeptFile(f"kept:{file.sha256}", file.name, file.data)
    return handle_upload("expression", kept, scale=scale, species=species)


def load_demo() -> str:
    """Load the bundled demo cohort, its metadata and measured fractions, TIL10 and absolute mode.

    Returns
    -------
    str
        "" on success, else the error sentence.
    """
    files = {
        "expression": "expression.tsv.gz",
        "metadata": "metadata.csv",
        "measured": "measured_fractions.csv",
    }
    for slot, file_name in files.items():
        error = _HANDLERS[slot]((DEMO_DIR / file_name).read_bytes(), file_name)
        if error:
            return error
    choose_builtin_signature(DEFAULT_SIGNATURE)
    state.forget_mode_choice()
    follow_suggested_mode()  # absolute: TIL10 and a whole transcriptome of TPM
    state.set_exclude("default")
    state.set_loss("huber")
    state.set_demo(True)
    return ""


def current_result() -> tuple[DeconvResult | None, str]:
    """Deconvolve what is loaded (cached), or return the stored result.

    Returns
    -------
    (result, error)
        The result and "" on success; (None, sentence) when the core refuses
        the inputs or the options (with the dashboard's advice); (None, "")
        when expression or signature is missing.
    """
    expression, signature = state.expression(), state.signature()
    if expression is None or signature is None:
        return None, ""
    key = state.result_key()
    result = state.result_for(key)
    if result is not None:
        return result, ""
    n = expression.table.shape[1]
    options = trust.options(expression_scale())
    # The progress box lives only while the fit runs: a finished box ("Deconvolved 24
    # samples") would describe the previous inputs after the next upload; a toast says it.
    box = st.empty()
    with box.status(f"Deconvolving {counted(n, 'sample')} with {signature.name}…", expanded=False):
        try:
            result = _deconvolve(key, options, expression, signature)
        except InputError as exc:
            error = exc.text("app")
        else:
            error = ""
    box.empty()
    if error:
        return None, error  # the page shows it (st.error)
    st.toast(f"Deconvolved {counted(n, 'sample')} with {signature.name}", icon="✅")
    state.set_result(key, result)
    return result, ""


def _side_inputs() -> dict[str, dict[str, str]]:
    """The loaded side tables' identities, for the manifest."""
    side = {}
    meta, measured = state.metadata(), state.measured()
    if meta is not None:
        side["sample_metadata"] = {"file": meta.name, "sha256": meta.sha256}
    if measured is not None:
        side["measured_fractions"] = {"file": measured.name, "sha256": measured.sha256}
    return side


def run_key() -> str:
    """Identity of the current run's assessment: the result's key (inputs and options by
    content), the cell-type groups and the side tables; "" when nothing is loaded."""
    if state.expression() is None or state.signature() is None:
        return ""
    side = _side_inputs()
    return "|".join([state.result_key(), state.groups_digest(), str(sorted(side.items()))])


def analysis_key(analysis: Analysis) -> str:
    """Identity of one run as it stands, for the caches of what is written from it (downloads,
    cards).

    Read off the analysis itself, not off the session, so that nothing the files
    depend on can be left out: the inputs by content (expression and signature
    SHA-256, the scale and species they were read as), the options with the
    methods asked for and the cell-type groups (the manifest's parameters), the
    side tables, which checks it holds (fields that are None) and its verdicts.

    Parameters
    ----------
    analysis
        The run.

    Returns
    -------
    str
        A hex SHA-256.
    """
    expression, signature = analysis.expression, analysis.signature
    identity = {
        "expression": [
            expression.name,
            expression.sha256,
            expression.scale,
            expression.transformation,
            expression.species,
        ],
        "signature": [signature.name, signature.sha256, signature.species],
        "parameters": parameters(analysis),
        "side_inputs": analysis.side_inputs,
        "absent": [f.name for f in fields(analysis) if getattr(analysis, f.name) is None],
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode("utf-8"))
    # The verdicts are what the screen shows next to the files: same verdicts, same files.
    digest.update(pd.util.hash_pandas_object(analysis.verdicts).to_numpy().tobytes())
    return digest.hexdigest()


def current_analysis(
    *, with_intervals: bool = False, with_gene_checks: bool = False
) -> tuple[Analysis | None, str]:
    """The run as one :class:`~deconv_core.analysis.Analysis`: result, checks and verdicts.

    The permutation p-values are always part of it: they cost the same at any
    cohort size (a fixed number of random mixtures) and the verdict uses them.
    The bootstrap intervals and the leave-gene-out confounding checks are left
    out (None) until a view asks for them; the verdicts then say that the gene
    checks are pending (:func:`ui.views.verdict_summary`).  Every check is
    cached per run (:mod:`ui.trust`), so asking again costs nothing.

    The other methods join once the Methods page asked for them
    (:func:`ui.state.request_methods`).

    Parameters
    ----------
    with_intervals
        Compute the bootstrap intervals (with a progress bar).
    with_gene_checks
        Run the confounding checks (leave-one-gene-out refits), and keep them
        in this run's later assessments (the Results page's too): they were
        asked for once (the QC page, the downloads, the Results button).

    Returns
    -------
    (analysis, error)
        As :func:`current_result`.
    """
    result, error = current_result()
    if result is None:
        return None, error
    expression, signature = state.expression(), state.signature()
    run = run_key()
    if with_gene_checks:
        state.ask("gene_checks", run)
    with_gene_checks = state.asked("gene_checks", run)
    with_methods = state.methods_requested()
    key = f"{run}#{with_intervals}{with_gene_checks}{with_methods}"
    analysis = state.analysis_for(key)
    if analysis is None:
        options = trust.options(expression_scale())
        analysis = assess(
            expression,
            signature,
            replace(options, methods=("all",)) if with_methods else options,
            result,
            p_values=trust.p_values(result),
            intervals=trust.intervals(result, signature) if with_intervals else None,
            confounding=trust.confounding(result, signature) if with_gene_checks else None,
            groups=state.groups(),
            side_inputs=_side_inputs(),
            methods=trust.methods(expression.table_for(signature), result, signature)
            if with_methods
            else None,
        )
        state.set_analysis(key, analysis)
    return analysis, ""


def residual_z(result: DeconvResult) -> pd.DataFrame:
    """Standardised residuals (genes × samples) of a result (:mod:`deconv_core.qc`)."""
    return standardised_residuals(result)

"""The dashboard's session state: the only module that touches ``st.session_state``.

What is loaded lives under a few keys, each set through a function here, so
that "changing the data clears what depended on it" is written down once
(:data:`_DEPENDENTS`).  Pages read through the getters and never see the keys.

Keys
    ``expression``      :class:`~deconv_core.expression.ExpressionData` or absent
    ``expression_key``  identity of the parsed expression (sha256 + scale)
    ``signature``       :class:`~deconv_core.signatures.Signature` or absent
    ``signature_key``   ``"builtin:<name>"`` or ``"upload:<sha256>"``
    ``metadata``        :class:`ui.tables.SampleTable` (sample metadata) or absent
    ``measured``        :class:`ui.tables.SampleTable` (measured fractions) or absent
    ``mode``            ``"relative"`` or ``"absolute"``
    ``exclude``         name of the signature's excluded-gene list, or ``"none"``
    ``loss``            ``"huber"`` (robust fit) or ``"squares"`` (plain NNLS)
    ``result``          (key, :class:`~deconv_core.deconvolve.DeconvResult`) of the last run
    ``analysis``        key → :class:`~deconv_core.analysis.Analysis`: the current run's
                        assessments (with and without the checks computed on demand)
    ``asked``           (what, run key) pairs: the on-demand work the user asked for, e.g.
                        ``("downloads", key)`` after "Prepare the downloads"
    ``mapping``         measured category → list of cell types
    ``groups``          (signature key, cell-type groups edited on the Signature page)
    ``groups_version``  bumped by "reset the groups", part of the group editor's key
    ``signature_build`` :class:`ui.builds.BuiltSignature`: the last signature built from
                        single-cell data (kept when another signature is chosen)
    ``uploads``         slot → (upload id, error sentence or "") of the last file handled
    ``demo``            True after "Load demo data"
    ``image_format``    ``"png"`` or ``"svg"`` for the charts' camera button
    ``generation``      bumped by "Start over", part of the file uploaders' keys
    ``input_files``     slot → :class:`~deconv_core.session.InputFile`: the loaded inputs'
                        bytes as uploaded, written into the session bundle
    ``restored``        (bundle name, verdict counts it recorded) after a session was restored
    ``methods_requested`` True once the Methods page ran the other methods for the loaded
                        data and signature (their disagreement flags then join every verdict)
    ``choices``         widget key → the value the user last chose in it (view settings such
                        as the Results page's level, sort, grouping and intervals switch)

Widget keys are Streamlit's: it forgets a widget's value when the user opens
another page, so a widget that must come back as the user left it (or always
show the value in use) is given it by :func:`prepare_widget` before it is drawn.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import streamlit as st

from deconv_core.analysis import Analysis
from deconv_core.deconvolve import DeconvResult
from deconv_core.expression import ExpressionData
from deconv_core.options import check_choice, exclusion_lists
from deconv_core.session import InputFile
from deconv_core.signatures import Signature
from ui.tables import SampleTable

if TYPE_CHECKING:
    from ui.builds import BuiltSignature

__all__ = [
    "analysis_for",
    "ask",
    "asked",
    "clear_all",
    "add_notice",
    "demo_loaded",
    "drop_side_table",
    "exclude",
    "expression",
    "groups",
    "groups_digest",
    "groups_edited",
    "groups_editor_key",
    "expression_key",
    "fit_key",
    "forget_mode_choice",
    "image_format",
    "input_files",
    "last_upload",
    "loss",
    "mapping",
    "measured",
    "metadata",
    "notices",
    "mode",
    "prepare_widget",
    "mode_chosen",
    "mode_reason",
    "methods_requested",
    "request_methods",
    "remember_choice",
    "remember_upload",
    "reset_groups",
    "restored",
    "result_for",
    "result_key",
    "set_analysis",
    "set_demo",
    "set_exclude",
    "set_expression",
    "set_groups",
    "set_image_format",
    "set_input_file",
    "set_loss",
    "set_mapping",
    "set_measured",
    "set_metadata",
    "set_mode",
    "set_suggested_mode",
    "set_restored",
    "set_result",
    "set_signature",
    "set_signature_build",
    "signature",
    "signature_build",
    "signature_key",
    "uploader_key",
]

#: What must be forgotten when a key changes.
_DEPENDENTS: dict[str, tuple[str, ...]] = {
    "expression": ("result", "analysis", "restored", "methods_requested"),
    "signature": ("result", "mapping", "groups", "analysis", "restored", "methods_requested"),
    "methods_requested": ("analysis",),
    "measured": ("mapping", "analysis"),
    "metadata": ("analysis",),
    "groups": ("mapping", "analysis", "restored"),
    "mode": ("result", "analysis", "restored"),
    "exclude": ("result", "analysis", "restored"),
    "loss": ("result", "analysis", "restored"),
}


def _get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


def _set(key: str, value: Any) -> None:
    st.session_state[key] = value
    for dependent in _DEPENDENTS.get(key, ()):
        st.session_state.pop(dependent, None)


def _pop(key: str) -> None:
    st.session_state.pop(key, None)
    for dependent in _DEPENDENTS.get(key, ()):
        st.session_state.pop(dependent, None)


# -- expression ------------------------------------------------------------------------------


def expression() -> ExpressionData | None:
    """The loaded expression data, or None."""
    return _get("expression")


def expression_key() -> str:
    """Identity of the loaded expression ("" when none)."""
    return _get("expression_key", "")


def set_expression(data: ExpressionData, *, key: str) -> None:
    """Load new expression data; forgets the result computed on the old one."""
    st.session_state["expression_key"] = key
    _set("expression", data)


# -- signature -------------------------------------------------------------------------------


def signature() -> Signature | None:
    """The chosen signature, or None."""
    return _get("signature")


def signature_key() -> str:
    """``"builtin:<name>"``, ``"upload:<sha256>"`` or "" when none."""
    return _get("signature_key", "")


def set_signature(sig: Signature, *, key: str) -> bool:
    """Choose a signature; forgets the result and the category mapping.

    Returns True when the signature changed.
    """
    if key == signature_key() and signature() is not None:
        return False
    st.session_state["signature_key"] = key
    _set("signature", sig)
    # An exclusion list of the previous signature means nothing for this one.
    if not set(exclusion_lists(exclude())) <= {"none", "default", *sig.excluded_genes}:
        _set("exclude", "default")
    return True


# -- cell-type groups ------------------------------------------------------------------------


def groups() -> dict[str, tuple[str, ...]]:
    """The cell-type groups in use: the user's edits for this signature, else its own groups.

    Empty when no signature is chosen or it has no groups.
    """
    sig = signature()
    if sig is None:
        return {}
    stored = _get("groups")
    if stored is not None and stored[0] == signature_key():
        return dict(stored[1])
    return dict(sig.groups)


def groups_edited() -> bool:
    """True when the groups in use are the user's edits, not the signature's own."""
    stored = _get("groups")
    return stored is not None and stored[0] == signature_key() and signature() is not None


def set_groups(value: dict[str, tuple[str, ...]]) -> bool:
    """Use these (validated) groups for the current signature; forgets the category mapping.

    A group that holds only the cell type of its own name changes nothing and is
    dropped.  Returns True when the groups in use changed.
    """

    def plain(mapping: dict) -> dict[str, tuple[str, ...]]:
        cleaned = {str(g): tuple(str(m) for m in members) for g, members in mapping.items()}
        return {g: m for g, m in cleaned.items() if m != (g,)}

    def as_sets(mapping: dict) -> dict[str, frozenset[str]]:
        return {g: frozenset(m) for g, m in mapping.items()}

    value = plain(value)
    if as_sets(value) == as_sets(plain(groups())):  # the order of members does not matter
        return False
    _set("groups", (signature_key(), value))
    return True


def reset_groups() -> None:
    """Go back to the signature's own groups (and empty the group editor)."""
    _pop("groups")
    st.session_state["groups_version"] = _get("groups_version", 0) + 1


def groups_editor_key() -> str:
    """Key of the group editor: new for another signature, other groups in use or a reset.

    The editor always starts from the groups in use, so a key that follows them keeps
    the table shown and the groups used the same after the user leaves the page.
    """
    return f"groups_editor_{_get('generation', 0)}_{_get('groups_version', 0)}_{groups_digest()}"


def groups_digest() -> str:
    """Short fingerprint of the signature and the groups in use (for widget keys)."""
    text = json.dumps([signature_key(), sorted(groups().items())], default=list)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# -- sample tables ---------------------------------------------------------------------------


def metadata() -> SampleTable | None:
    """The sample metadata, or None."""
    return _get("metadata")


def set_metadata(table: SampleTable) -> None:
    """Load sample metadata."""
    _set("metadata", table)


def measured() -> SampleTable | None:
    """The measured fractions (fractions in [0, 1]), or None."""
    return _get("measured")


def set_measured(table: SampleTable) -> None:
    """Load measured fractions; forgets the category mapping."""
    _set("measured", table)


def drop_side_table(slot: str) -> None:
    """Forget the metadata (``"metadata"``) or measured fractions (``"measured"``)."""
    if slot not in ("metadata", "measured"):
        raise ValueError(f"slot must be 'metadata' or 'measured', got {slot!r}")
    _pop(slot)
    set_input_file(slot, None)


# -- input files and restored sessions --------------------------------------------------------


def input_files() -> dict[str, InputFile]:
    """The loaded inputs' bytes as uploaded, by slot (for the session bundle)."""
    return dict(_get("input_files", {}))


def set_input_file(slot: str, file: InputFile | None) -> None:
    """Remember the bytes that filled ``slot`` (None: the slot holds no file, e.g. a built-in
    signature)."""
    files = input_files()
    files.pop(slot, None)
    if file is not None:
        files[slot] = file
    st.session_state["input_files"] = files


def restored() -> tuple[str, dict[str, int]] | None:
    """(bundle name, verdict counts it recorded) while the restored run is what is loaded."""
    return _get("restored")


def set_restored(name: str, verdicts: dict[str, int]) -> None:
    """Remember that the loaded run was restored from a bundle (forgotten on any change)."""
    st.session_state["restored"] = (name, dict(verdicts))


def notices() -> list[str]:
    """Sentences about what a load changed elsewhere (shown once, then forgotten)."""
    return list(st.session_state.pop("notices", []))


def add_notice(text: str) -> None:
    """Remember a sentence for :func:`notices`."""
    st.session_state["notices"] = [*_get("notices", []), text]


def mapping() -> dict[str, list[str]] | None:
    """Measured category → cell types, or None when not yet chosen."""
    return _get("mapping")


def set_mapping(value: dict[str, list[str]]) -> None:
    """Remember how measured categories map to cell types."""
    st.session_state["mapping"] = {str(k): list(v) for k, v in value.items()}


# -- parameters ------------------------------------------------------------------------------


def mode() -> str:
    """Deconvolution mode, ``"relative"`` (default) or ``"absolute"``."""
    return _get("mode", "relative")


def set_mode(value: str, *, chosen: bool = True) -> bool:
    """Change the mode (forgets the result); True when it changed.

    ``chosen``: the user picked it (it then stays until they pick another);
    False for the mode suggested for the data and signature
    (:func:`set_suggested_mode`).
    """
    check_choice("mode", value)
    if chosen:
        st.session_state["mode_chosen"] = True
        st.session_state.pop("mode_reason", None)
    if value == mode():
        return False
    _set("mode", value)
    return True


def mode_chosen() -> bool:
    """True when the user picked the mode, False while it follows the data and signature."""
    return bool(_get("mode_chosen", False))


def set_suggested_mode(value: str, reason: str) -> bool:
    """Follow the suggested mode (unless the user picked one); True when the mode changed."""
    if mode_chosen():
        return False
    st.session_state["mode_reason"] = reason
    return set_mode(value, chosen=False)


def forget_mode_choice() -> None:
    """Let the mode follow the data and signature again (e.g. for the demo)."""
    st.session_state.pop("mode_chosen", None)


def mode_reason() -> str:
    """Why the mode is what it is, when it follows the data and signature ("" otherwise)."""
    return "" if mode_chosen() else _get("mode_reason", "")


def exclude() -> str:
    """Excluded-gene list to leave out: ``"default"``, ``"tumor"`` or ``"none"``."""
    return _get("exclude", "default")


def set_exclude(value: str) -> bool:
    """Change the excluded-gene list (forgets the result); True when it changed.

    The list is checked against the signature when the run is fitted
    (:func:`deconv_core.options.check_exclude`).
    """
    if value == exclude():
        return False
    _set("exclude", value)
    return True


def loss() -> str:
    """Loss of the fit: ``"huber"`` (robust, the default) or ``"squares"``."""
    return _get("loss", "huber")


def set_loss(value: str) -> bool:
    """Change the loss of the fit (forgets the result); True when it changed."""
    check_choice("loss", value)
    if value == loss():
        return False
    _set("loss", value)
    return True


def image_format() -> str:
    """Format of the charts' camera button: ``"png"`` or ``"svg"``."""
    return _get("image_format", "png")


def set_image_format(value: str) -> None:
    """Change the charts' image format."""
    check_choice("image format", value)
    st.session_state["image_format"] = value


# -- result ----------------------------------------------------------------------------------


def result_for(key: str) -> DeconvResult | None:
    """The stored result if it was computed for ``key``, else None."""
    stored = _get("result")
    if stored is not None and stored[0] == key:
        return stored[1]
    return None


def set_result(key: str, value: DeconvResult) -> None:
    """Remember the result computed for ``key``."""
    st.session_state["result"] = (key, value)


def analysis_for(key: str) -> Analysis | None:
    """The stored assessment if it was made for ``key``, else None."""
    return _get("analysis", {}).get(key)


def set_analysis(key: str, value: Analysis) -> None:
    """Remember the assessment made for ``key``, beside at most one other of the same run
    (the page's, without the checks computed on demand, and the downloads' with them)."""
    stored = _get("analysis", {})
    kept = {k: v for k, v in stored.items() if k.split("#")[0] == key.split("#")[0]}
    kept = dict(list(kept.items())[-1:]) if len(kept) > 1 else kept
    st.session_state["analysis"] = {**kept, key: value}


def asked(what: str, key: str) -> bool:
    """Whether the user asked for ``what`` (``"downloads"``, ``"gene_checks"``) for run ``key``."""
    return (what, key) in _get("asked", ())


def ask(what: str, key: str) -> None:
    """Remember that the user asked for ``what`` for run ``key`` (the last few asks)."""
    if not asked(what, key):
        st.session_state["asked"] = (*_get("asked", ())[-7:], (what, key))


def result_key() -> str:
    """Identity of the result the loaded inputs give: expression, signature, mode, exclusion, loss.

    Cached computations on a result (intervals, p-values, ...) are keyed by it.
    """
    return "|".join([expression_key(), signature_key(), mode(), exclude(), loss()])


def fit_key() -> str:
    """Identity of the fit itself: :func:`result_key` without the mode.

    The mode only converts the fitted coefficients into proportions, so what
    depends on the fit alone (the permutation p-values) is keyed by this and
    survives a switch of mode.
    """
    return "|".join([expression_key(), signature_key(), exclude(), loss()])


# -- signature built from single-cell data ---------------------------------------------------


def signature_build() -> BuiltSignature | None:
    """The last signature built from single-cell data in this session, or None."""
    return _get("signature_build")


def set_signature_build(value: BuiltSignature) -> None:
    """Remember a signature built from single-cell data (choosing it is separate)."""
    st.session_state["signature_build"] = value


# -- uploads and demo ------------------------------------------------------------------------


def last_upload(slot: str) -> tuple[str, str] | None:
    """(upload id, error sentence or "") of the last file handled in ``slot``."""
    return _get("uploads", {}).get(slot)


def remember_upload(slot: str, upload_id: str, error: str = "") -> None:
    """Record that the file ``upload_id`` was handled in ``slot`` (with its error, if any)."""
    uploads = dict(_get("uploads", {}))
    uploads[slot] = (upload_id, error)
    st.session_state["uploads"] = uploads


def demo_loaded() -> bool:
    """True when the bundled demo is what is loaded."""
    return bool(_get("demo", False))


def set_demo(value: bool) -> None:
    """Mark whether the demo is what is loaded."""
    st.session_state["demo"] = value


def methods_requested() -> bool:
    """True once the Methods page asked for the other methods (for what is loaded now)."""
    return bool(_get("methods_requested", False))


def request_methods() -> None:
    """Run the other methods beside the robust fit, and flag disagreement in every verdict."""
    if not methods_requested():
        _set("methods_requested", True)


def prepare_widget(key: str, options: Sequence[Any], default: Any) -> None:
    """Before widget ``key`` is drawn: give it a value when it holds none of ``options``.

    It holds none after the user came back from another page (Streamlit drops
    the values of widgets a page did not draw) or emptied a segmented control
    by clicking its selected option.  It then gets the user's last choice
    (:func:`remember_choice`) if that is still one of ``options``, else
    ``default`` (e.g. the mode in use).  The widget must be drawn without a
    default of its own (``index``, ``default`` or ``value``), which would
    compete with this one.

    Parameters
    ----------
    key
        The widget's key.
    options
        Its valid values (``(False, True)`` for a toggle).
    default
        What it shows when the user chose nothing valid yet.
    """
    if _get(key) in options:
        return
    remembered = _get("choices", {}).get(key)
    st.session_state[key] = remembered if remembered in options else default


def remember_choice(key: str) -> None:
    """Remember the value of widget ``key`` as the user's choice (its ``on_change``).

    An emptied control (None) is not a choice: :func:`prepare_widget` puts the
    last one back.
    """
    value = _get(key)
    if value is not None:
        st.session_state["choices"] = {**_get("choices", {}), key: value}


def uploader_key(name: str) -> str:
    """Key of a file uploader; changes after :func:`clear_all` so the browser empties it."""
    return f"{name}_{_get('generation', 0)}"


def clear_all() -> None:
    """Forget everything that was loaded (keeps the image-format preference).

    File uploaders get new keys (:func:`uploader_key`): the browser would
    otherwise keep showing, and sending back, the files it holds.
    """
    keep = {"image_format"}
    generation = _get("generation", 0) + 1
    for key in list(st.session_state.keys()):
        if key not in keep:
            del st.session_state[key]
    st.session_state["generation"] = generation

"""Sessions that come back: the dashboard's zip bundle, read again to restore the run.

A bundle written with its inputs (:func:`deconv_core.report.bundle_zip` with
``inputs=``) holds the input files as they were uploaded under
``inputs/<slot>/<file name>`` and a manifest that records, besides the run's
parameters (options and cell-type groups) and the measured-fraction mapping,

``session``
    ``{"inputs": {slot: {"file", "path", "sha256"}}}``: which file fills
    which slot (``expression``, ``signature``, ``signature_metadata``: the
    ``NAME.metadata.json`` of a signature built from single-cell data,
    ``metadata``, ``measured``);
    a built-in signature is named in ``inputs.signature`` instead.
``checksums``
    The SHA-256 of every other file of the bundle.

:func:`read_bundle` refuses, with one sentence naming what did not match, a
file that is not a zip or is cut short, a zip that would unpack to more than
the read limit, a bundle without a session, a member that is missing,
unlisted or whose bytes do not match its recorded SHA-256.  The check finds
accidental and careless changes; it is not a signature (whoever edits the
files can edit the manifest too).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from deconv_core.analysis import Analysis
from deconv_core.bundle import MANIFEST_FILE
from deconv_core.io.limits import DAMAGED_ZIP_ERRORS, ReadLimits, format_size
from deconv_core.options import RunOptions, check_options
from deconv_core.validation import InputError

__all__ = [
    "INPUT_SLOTS",
    "MAX_MEMBERS",
    "InputFile",
    "Session",
    "input_members",
    "read_bundle",
    "run_inputs",
    "sha256_hex",
]

#: The inputs a session restores, in the order they are loaded.
INPUT_SLOTS = ("expression", "signature", "signature_metadata", "metadata", "measured")
#: Most members a bundle may hold (a run writes about 20).
MAX_MEMBERS = 500


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class InputFile:
    """One input as it was uploaded: file name and bytes."""

    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes."""
        return sha256_hex(self.data)


@dataclass(frozen=True)
class Session:
    """What a bundle restores.

    Attributes
    ----------
    inputs
        Slot (:data:`INPUT_SLOTS`) → the file; ``signature`` absent when the
        run used a built-in signature.
    signature
        The built-in signature's name, or "" when ``inputs["signature"]`` is used.
    signature_sha256
        The signature's SHA-256 as the run recorded it.
    parameters
        The manifest's ``parameters``: ``mode``, ``exclude``, ``scale``,
        ``loss``, ..., and ``groups`` (group → member cell types).
    mapping
        Measured category → cell types, or None when none was chosen.
    verdicts
        Verdict → number of samples, as the bundle's run had them.
    species
        The expression's species as the run read it (``"human"`` or
        ``"mouse"``), or ``"auto"`` when the manifest does not say.
    """

    inputs: Mapping[str, InputFile]
    signature: str
    signature_sha256: str
    parameters: Mapping[str, Any]
    mapping: Mapping[str, list[str]] | None = None
    verdicts: Mapping[str, int] = field(default_factory=dict)
    species: str = "auto"

    @property
    def options(self) -> RunOptions:
        """The run's options, from the parameters (checked against the allowed values).

        Raises
        ------
        InputError
            A parameter value that is not allowed (listing the valid ones).
        """
        known = {f.name for f in fields(RunOptions)}
        given = {k: v for k, v in self.parameters.items() if k in known and v is not None}
        try:
            return check_options(RunOptions(**given))
        except InputError:
            raise
        except (TypeError, ValueError) as exc:  # a parameter of the wrong kind (edited)
            raise InputError(
                f"The bundle's parameters cannot be read ({exc}); upload the input files instead."
            ) from exc

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """The cell-type groups the run used (group → members)."""
        groups = self.parameters.get("groups") or {}
        if any(not isinstance(members, list) for members in groups.values()):
            raise InputError(
                "The bundle's cell-type groups are not lists of cell types (an edited "
                "manifest); upload the input files instead."
            )
        return {str(g): tuple(str(m) for m in members) for g, members in groups.items()}


def _member_name(slot: str, name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
    return f"inputs/{slot}/{safe or 'file'}"


def input_members(inputs: Mapping[str, InputFile]) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The bundle members of a session's inputs and the manifest's ``session`` entry.

    Parameters
    ----------
    inputs
        Slot (:data:`INPUT_SLOTS`) → file.

    Returns
    -------
    (members, entry)
        Member path → bytes, and ``{"inputs": {slot: {"file", "path", "sha256"}}}``.

    Raises
    ------
    ValueError
        A slot that is not one of :data:`INPUT_SLOTS`.
    """
    unknown = set(inputs) - set(INPUT_SLOTS)
    if unknown:
        raise ValueError(f"unknown input slots {sorted(unknown)}; use {INPUT_SLOTS}")
    members, entry = {}, {}
    for slot in INPUT_SLOTS:
        if slot in inputs:
            file = inputs[slot]
            path = _member_name(slot, file.name)
            members[path] = file.data
            entry[slot] = {"file": file.name, "path": path, "sha256": file.sha256}
    return members, {"inputs": entry}


def run_inputs(analysis: Analysis, files: Mapping[str, InputFile]) -> dict[str, InputFile] | None:
    """The files that are a run's inputs: each one's SHA-256 must be the run's record of it.

    Parameters
    ----------
    analysis
        The run (its expression, signature and side inputs' SHA-256).
    files
        Slot → the bytes loaded in that slot.

    Returns
    -------
    dict or None
        The matching files (a built-in signature is named, not bundled); None
        when the expression file is not the run's, since a bundle without it
        could not restore the run.
    """
    side = analysis.side_inputs
    identities = {
        "expression": analysis.expression.sha256,
        "signature": "" if analysis.signature.builtin else analysis.signature.sha256,
        "metadata": side.get("sample_metadata", {}).get("sha256", ""),
        "measured": side.get("measured_fractions", {}).get("sha256", ""),
    }
    matching = {
        slot: file
        for slot, file in files.items()
        if identities.get(slot) and identities[slot] == file.sha256
    }
    if "signature" in matching and "signature_metadata" in files:
        matching["signature_metadata"] = files["signature_metadata"]
    return matching if "expression" in matching else None


def _refuse(name: str, problem: str) -> InputError:
    return InputError(
        f"The session bundle {name} {problem}; download the bundle again from the run "
        "(Results, Downloads: Everything) and upload that unchanged."
    )


def _open(data: bytes, name: str, limits: ReadLimits) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        items = archive.infolist()
    except (*DAMAGED_ZIP_ERRORS, ValueError) as exc:
        raise _refuse(name, "is not a readable zip file (damaged or cut short)") from exc
    if len(items) > MAX_MEMBERS:
        raise _refuse(name, f"holds {len(items):,} files, more than a run writes")
    # The sizes the directory states bound what zipfile inflates (it stops there and
    # checks the CRC), so their sum bounds the memory a bundle can take.
    unpacked = sum(i.file_size for i in items)
    if unpacked > limits.max_text_bytes:
        raise _refuse(
            name,
            f"would unpack to {format_size(unpacked)}, over the limit of "
            f"{format_size(limits.max_text_bytes)}",
        )
    return archive


def _read(archive: zipfile.ZipFile, member: str, name: str) -> bytes:
    try:
        return archive.read(member)
    except KeyError as exc:
        raise _refuse(name, f"is incomplete: {member} is missing") from exc
    except (*DAMAGED_ZIP_ERRORS, ValueError) as exc:
        raise _refuse(name, f"is damaged: {member} cannot be unpacked") from exc


def _manifest(archive: zipfile.ZipFile, name: str) -> dict[str, Any]:
    if MANIFEST_FILE not in archive.namelist():
        raise _refuse(name, f"is not a deconv-explorer results bundle (it has no {MANIFEST_FILE})")
    try:
        manifest = json.loads(_read(archive, MANIFEST_FILE, name).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _refuse(name, f"has a {MANIFEST_FILE} that is not readable JSON") from exc
    if not isinstance(manifest, dict) or manifest.get("tool") != "deconv-explorer":
        raise _refuse(name, f"has a {MANIFEST_FILE} that deconv-explorer did not write")
    if not isinstance(manifest.get("session"), dict) or not isinstance(
        manifest.get("checksums"), dict
    ):
        raise InputError(
            f"The bundle {name} holds results but not the inputs that made them (it was "
            "written by the command line or an older version); upload the input files instead."
        )
    _check_objects(manifest, name)
    return manifest


#: Entries of the manifest a session reads that are JSON objects when present (parents
#: first).  The checksums do not cover the manifest itself, so an edited one is checked.
_OBJECTS = (
    ("inputs",),
    ("inputs", "expression"),
    ("inputs", "signature"),
    ("parameters",),
    ("parameters", "groups"),
    ("result",),
    ("result", "verdicts"),
    ("comparison",),
)


def _check_objects(manifest: dict, name: str) -> None:
    """Refuse a manifest whose entries the session reads are not objects (hand-edited)."""
    for path in _OBJECTS:
        node = manifest
        for key in path[:-1]:
            node = node.get(key, {})
        if path[-1] in node and not isinstance(node[path[-1]], dict):
            raise _refuse(
                name,
                f"has a {MANIFEST_FILE} that deconv-explorer did not write "
                f"({'.'.join(path)} is not an object)",
            )


def _checked_members(archive: zipfile.ZipFile, manifest: dict, name: str) -> dict[str, bytes]:
    """Every member listed in the checksums, each checked; unlisted members refused."""
    checksums = {str(k): str(v) for k, v in manifest["checksums"].items()}
    unlisted = sorted(set(archive.namelist()) - set(checksums) - {MANIFEST_FILE})
    if unlisted:
        raise _refuse(
            name, f"was changed: it holds {unlisted[0]}, which its manifest does not list"
        )
    members = {}
    for member, expected in checksums.items():
        data = _read(archive, member, name)
        if sha256_hex(data) != expected:
            raise _refuse(
                name, f"was changed: {member} does not match the SHA-256 recorded in its manifest"
            )
        members[member] = data
    return members


def _inputs(manifest: dict, members: dict[str, bytes], name: str) -> dict[str, InputFile]:
    entry = manifest["session"].get("inputs", {})
    if not isinstance(entry, dict) or "expression" not in entry:
        raise _refuse(name, "names no expression file in its session")
    inputs = {}
    recorded = manifest.get("inputs", {})
    side = {"metadata": "sample_metadata", "measured": "measured_fractions"}
    for slot, info in entry.items():
        if slot not in INPUT_SLOTS or not isinstance(info, dict):
            raise _refuse(name, f"names an unknown input {slot!r} in its session")
        path = str(info.get("path", ""))
        if path not in members:
            raise _refuse(name, f"is incomplete: {path or 'the ' + slot + ' file'} is missing")
        file = InputFile(name=str(info.get("file", path)), data=members[path])
        # the run's own record of the input (manifest "inputs") must name these bytes too
        run_entry = recorded.get(side.get(slot, slot), {})
        if isinstance(run_entry, dict) and run_entry.get("sha256") not in (None, file.sha256):
            raise _refuse(
                name, f"was changed: the {slot} file is not the one the run's manifest records"
            )
        inputs[slot] = file
    return inputs


def read_bundle(data: bytes, *, name: str = "bundle", limits: ReadLimits) -> Session:
    """Read a session bundle, checking every file against the SHA-256 its manifest records.

    Parameters
    ----------
    data
        The zip's bytes.
    name
        Its file name (for the messages).
    limits
        Read limits; the members' stated unpacked sizes together may not
        exceed ``limits.max_text_bytes``.

    Returns
    -------
    Session

    Raises
    ------
    InputError
        One sentence naming what did not match (see the module docstring).
    """
    archive = _open(data, name, limits)
    with archive:
        manifest = _manifest(archive, name)
        members = _checked_members(archive, manifest, name)
    inputs = _inputs(manifest, members, name)
    signature_entry = manifest.get("inputs", {}).get("signature", {})
    builtin = bool(signature_entry.get("builtin")) and "signature" not in inputs
    if "signature" not in inputs and not builtin:
        raise _refuse(name, "names no signature: neither a built-in one nor a file")
    mapping = manifest.get("comparison", {}).get("measured_mapping")
    return Session(
        inputs=inputs,
        signature=str(signature_entry.get("name", "")) if builtin else "",
        signature_sha256=str(signature_entry.get("sha256", "")),
        parameters=dict(manifest.get("parameters", {})),
        mapping=dict(mapping) if isinstance(mapping, dict) else None,
        verdicts=dict(manifest.get("result", {}).get("verdicts", {})),
        species=_species(manifest),
    )


def _species(manifest: dict) -> str:
    species = manifest.get("inputs", {}).get("expression", {}).get("species")
    return species if species in ("human", "mouse") else "auto"

"""Names shared by the results bundle's writer, its reader and the table reader.

:mod:`deconv_core.report` writes a results folder or zip, :mod:`deconv_core.session`
restores a session from the zip, and :mod:`deconv_core.io.tables` recognises such a
zip given where a table was expected.  Only the standard library is imported here,
so each of them can read these names without importing the others.
"""

from __future__ import annotations

__all__ = ["MANIFEST_FILE"]

#: The manifest's file name: written last, it lists the bundle's files and checksums.
MANIFEST_FILE = "manifest.json"

"""Whether numpy backs large arrays with transparent huge pages: one policy, read everywhere.

numpy asks Linux for transparent huge pages for every array of 4 MB or more
(numpy documentation, "Global state").  Where huge pages are slow to come by --
this 2-core virtual machine under load -- the first touch of a 160 MB block took
0.03 to 2.9 s with them and 0.14 to 0.27 s without (alternating, one session),
and a 1,000-sample × 20,000-gene command-line run took 9.5-13.4 s without them
against 14.5-15.7 s with them (alternating, load near 7).  The command line and
the dashboard therefore turn them off for their process, unless the user set
``NUMPY_MADVISE_HUGEPAGE`` (which numpy reads when it loads, and which then
decides).
"""

from __future__ import annotations

import os

__all__ = ["ordinary_pages"]


def ordinary_pages() -> None:
    """Back new numpy arrays with ordinary pages, unless ``NUMPY_MADVISE_HUGEPAGE`` is set."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return
    from numpy._core import multiarray

    # numpy's own switch behind the variable (numpy >= 1.20; pinned in requirements.txt).
    toggle = getattr(multiarray, "_set_madvise_hugepage", None)
    if toggle is not None:
        toggle(False)

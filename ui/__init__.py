"""Streamlit glue of the dashboard: session state, cached loaders, shared widgets.

``ui.state`` is the only module that touches ``st.session_state``; ``ui.tables``,
``ui.health`` and ``ui.charts`` are pure and never import streamlit (every file the
dashboard offers for download is written by :mod:`deconv_core.report`).
``ui.trust`` runs the trust checks behind ``st.cache_data``, ``ui.views`` draws the
sections about them (and the group editor), and ``ui.builds`` builds a signature from
single-cell data.
"""

import sys

import numpy  # noqa: F401 - numpy and scipy each load their own OpenBLAS,
import scipy.linalg  # noqa: F401 - which must be loaded for the limit below to cover them

from deconv_core.hugepages import ordinary_pages
from deconv_core.threads import limit_blas_threads

# The server's event loop (health checks, websockets, downloads) shares the interpreter
# lock with every session's script thread. A thread waiting for the lock asks for it
# after the switch interval (default 5 ms) and may lose it again to another script
# thread, so with six sessions computing a health check took up to ~1 s; 1 ms
# halves that (benchmarks/concurrency.py); four threads bootstrapping at once ran no slower.
sys.setswitchinterval(0.001)

# One BLAS thread per dashboard process unless the user set a count (deconv_core.threads):
# sessions share the cores; on this 2-core machine under load, 1,000 samples x 20,000 genes
# took 5.9-6.3 s to fit and 11-15 s for the gene checks with OpenBLAS's 2 threads, 0.8-0.9 s
# and 2.0-2.6 s with one (measured in one run).
limit_blas_threads()
# Ordinary pages for numpy's large arrays (deconv_core.hugepages: huge pages are slow to come by
# on a loaded virtual machine), unless NUMPY_MADVISE_HUGEPAGE is set.
ordinary_pages()

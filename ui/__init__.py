"""Streamlit glue of the dashboard: session state, cached loaders, shared widgets.

``ui.state`` is the only module that touches ``st.session_state``; ``ui.tables``,
``ui.health`` and ``ui.charts`` are pure and never import streamlit (every file the
dashboard offers for download is written by :mod:`deconv_core.report`).
``ui.trust`` runs the trust checks behind ``st.cache_data``, ``ui.views`` draws the
sections about them (and the group editor), and ``ui.builds`` builds a signature from
single-cell data.
"""

import sys

# The server's event loop (health checks, websockets, downloads) shares the interpreter
# lock with every session's script thread. A thread waiting for the lock asks for it
# after the switch interval (default 5 ms) and may lose it again to another script
# thread, so with six sessions computing a health check took up to ~1 s; 1 ms
# halves that (benchmarks/concurrency.py); four threads bootstrapping at once ran no slower.
sys.setswitchinterval(0.001)

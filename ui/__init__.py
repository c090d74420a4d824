"""Streamlit glue of the dashboard: session state, cached loaders, shared widgets.

``ui.state`` is the only module that touches ``st.session_state``; ``ui.tables``,
``ui.health``, ``ui.downloads`` and ``ui.charts`` are pure and never import streamlit.
``ui.trust`` runs the trust checks behind ``st.cache_data``, ``ui.views`` draws the
sections about them (and the group editor), and ``ui.builds`` builds a signature from
single-cell data.
"""

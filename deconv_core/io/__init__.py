"""Readers of the files biologists have.

- :mod:`deconv_core.io.tables`: numeric tables (CSV, TSV, TXT, Excel, GCT,
  gzipped or not) through :func:`read_table`; re-exported here, so
  ``from deconv_core.io import read_table`` works.
- :mod:`deconv_core.io.singlecell`: single-cell counts (tables or AnnData
  ``.h5ad``) with their cell labels, :func:`~deconv_core.io.singlecell.read_single_cell`.
"""

from deconv_core.io.tables import MISSING_TOKENS, ReadInfo, ReadResult, read_table

__all__ = ["MISSING_TOKENS", "ReadInfo", "ReadResult", "read_table"]

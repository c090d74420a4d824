"""deconv_core: pure computation behind the deconvolution dashboard.

Data conventions (every module follows them):

- Expression and signature tables are ``pandas.DataFrame`` objects with genes
  as rows (index = gene symbol, ``str``) and samples or cell types as columns,
  on a linear scale (TPM, CPM, FPKM or array intensities, never log).
- Proportions are samples × cell types (index ``sample``), unitless
  fractions; what they are fractions *of* depends on the mode (see
  :data:`deconv_core.deconvolve.MEANINGS`).
- Public functions take and return labelled pandas objects and align by label;
  numerical kernels (:mod:`deconv_core.solvers`) take float64 arrays whose
  shapes their docstrings give.
- Inputs are never mutated; multi-part results are frozen dataclasses.
- Problems are raised as :class:`~deconv_core.validation.InputError` (a
  ``ValueError`` with a sentence saying what to do) or returned as
  :class:`~deconv_core.validation.DeconvWarning` records; nothing is printed.
- This package never imports streamlit.
"""

from deconv_core.deconvolve import MEANINGS, MODES, DeconvResult, deconvolve
from deconv_core.expression import ExpressionData, load_expression
from deconv_core.signatures import Signature, builtin_names, list_signatures, load_signature
from deconv_core.solvers import nnls
from deconv_core.validation import DeconvWarning, InputError, warnings_frame

__version__ = "0.1.0"

__all__ = [
    "MEANINGS",
    "MODES",
    "DeconvResult",
    "DeconvWarning",
    "ExpressionData",
    "InputError",
    "Signature",
    "builtin_names",
    "deconvolve",
    "list_signatures",
    "load_expression",
    "load_signature",
    "nnls",
    "warnings_frame",
]

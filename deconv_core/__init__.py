"""deconv_core: pure computation behind the deconvolution dashboard.

Data conventions (every module follows them):

- Expression and signature tables are ``pandas.DataFrame`` objects with genes
  as rows (index = gene symbol, ``str``) and samples or cell types as columns,
  on a linear scale (TPM, CPM, FPKM or array intensities, never log).
- Proportions are samples × cell types (index ``sample``), unitless
  fractions; what they are fractions *of* depends on the mode (see
  :data:`deconv_core.deconvolve.MEANINGS`).
- Every method's output declares its ``kind`` (:mod:`deconv_core.methods`):
  ``"fraction"`` (shares of cells) or ``"score"`` (arbitrary units that only
  rank samples); a score is never drawn on a fraction axis.
- Public functions take and return labelled pandas objects and align by label;
  numerical kernels (:mod:`deconv_core.solvers`) take float64 arrays whose
  shapes their docstrings give.
- Inputs are never mutated; multi-part results are frozen dataclasses.
- Problems are raised as :class:`~deconv_core.validation.InputError` (a
  ``ValueError`` with a sentence saying what to do) or returned as
  :class:`~deconv_core.validation.DeconvWarning` records; nothing is printed.
  Both carry what to do on the command line (its flags) and on the dashboard
  (its controls) separately.
- A run is one :class:`~deconv_core.analysis.Analysis`: options checked once
  (:mod:`deconv_core.options`), inputs with their SHA-256, the result, the
  warnings and one verdict per sample (:mod:`deconv_core.verdict`), written by
  one writer (:mod:`deconv_core.report`) for the command line and the
  dashboard.  Every threshold is defined once, in :mod:`deconv_core.thresholds`.
- This package never imports streamlit.
"""

import importlib
from typing import Any

#: Public name → the module that defines it.  The package imports them when first
#: used (PEP 562), so ``python -m deconv_core`` starts before numpy, pandas and
#: scipy load, and a Ctrl-C while they load ends with one line (``__main__``).
_PUBLIC = {
    "Analysis": "deconv_core.analysis",
    "assess": "deconv_core.analysis",
    "fit_signature": "deconv_core.analysis",
    "run_analysis": "deconv_core.analysis",
    "ConfoundingReport": "deconv_core.confounding",
    "GeneExplanation": "deconv_core.confounding",
    "MarkerPanel": "deconv_core.confounding",
    "explain_gene": "deconv_core.confounding",
    "flag_confounders": "deconv_core.confounding",
    "load_panels": "deconv_core.confounding",
    "LOSSES": "deconv_core.deconvolve",
    "MEANINGS": "deconv_core.deconvolve",
    "MODES": "deconv_core.deconvolve",
    "WEIGHTINGS": "deconv_core.deconvolve",
    "DeconvResult": "deconv_core.deconvolve",
    "deconvolve": "deconv_core.deconvolve",
    "ExpressionData": "deconv_core.expression",
    "load_expression": "deconv_core.expression",
    "check_groups": "deconv_core.groups",
    "group_proportions": "deconv_core.groups",
    "groups_table": "deconv_core.groups",
    "Identifiability": "deconv_core.identifiability",
    "signature_identifiability": "deconv_core.identifiability",
    "SingleCellData": "deconv_core.io.singlecell",
    "read_single_cell": "deconv_core.io.singlecell",
    "MethodResult": "deconv_core.methods",
    "MethodsComparison": "deconv_core.methods",
    "run_methods": "deconv_core.methods",
    "RunOptions": "deconv_core.options",
    "check_options": "deconv_core.options",
    "PermutationTest": "deconv_core.qc",
    "bootstrap_intervals": "deconv_core.qc",
    "downweighted_genes": "deconv_core.qc",
    "flag_genes": "deconv_core.qc",
    "flag_samples": "deconv_core.qc",
    "permutation_test": "deconv_core.qc",
    "qc_warnings": "deconv_core.qc",
    "standardised_residuals": "deconv_core.qc",
    "bundle_zip": "deconv_core.report",
    "write_outputs": "deconv_core.report",
    "SignatureDescription": "deconv_core.signature_diagnostics",
    "describe_signature": "deconv_core.signature_diagnostics",
    "scaled_signature": "deconv_core.signature_diagnostics",
    "Signature": "deconv_core.signatures",
    "builtin_names": "deconv_core.signatures",
    "list_signatures": "deconv_core.signatures",
    "load_signature": "deconv_core.signatures",
    "SignatureBuild": "deconv_core.singlecell",
    "build_signature": "deconv_core.singlecell",
    "huber_nnls": "deconv_core.solvers",
    "nnls": "deconv_core.solvers",
    "weighted_nnls": "deconv_core.solvers",
    "DeconvWarning": "deconv_core.validation",
    "InputError": "deconv_core.validation",
    "warnings_frame": "deconv_core.validation",
    "VERDICTS": "deconv_core.verdict",
    "sample_verdicts": "deconv_core.verdict",
}

__version__ = "0.1.0"

__all__ = [
    "VERDICTS",
    "Analysis",
    "RunOptions",
    "assess",
    "bundle_zip",
    "check_options",
    "fit_signature",
    "run_analysis",
    "sample_verdicts",
    "write_outputs",
    "LOSSES",
    "MEANINGS",
    "MODES",
    "WEIGHTINGS",
    "ConfoundingReport",
    "DeconvResult",
    "DeconvWarning",
    "ExpressionData",
    "GeneExplanation",
    "Identifiability",
    "InputError",
    "MarkerPanel",
    "MethodResult",
    "MethodsComparison",
    "PermutationTest",
    "Signature",
    "SignatureBuild",
    "SignatureDescription",
    "SingleCellData",
    "bootstrap_intervals",
    "build_signature",
    "builtin_names",
    "check_groups",
    "deconvolve",
    "describe_signature",
    "downweighted_genes",
    "explain_gene",
    "flag_confounders",
    "flag_genes",
    "flag_samples",
    "group_proportions",
    "groups_table",
    "huber_nnls",
    "list_signatures",
    "load_expression",
    "load_panels",
    "load_signature",
    "nnls",
    "permutation_test",
    "qc_warnings",
    "read_single_cell",
    "run_methods",
    "scaled_signature",
    "signature_identifiability",
    "standardised_residuals",
    "warnings_frame",
    "weighted_nnls",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})

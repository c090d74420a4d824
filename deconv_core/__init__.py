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

from deconv_core.startup import quiet_start, started_as_command

# Under "python -m deconv_core" a Ctrl-C while numpy, pandas and scipy load ends in
# one line and exit code 130 (deconv_core.startup); imported as a library, unchanged.
with quiet_start(started_as_command()):
    from deconv_core.analysis import Analysis, assess, fit_signature, run_analysis
    from deconv_core.confounding import (
        ConfoundingReport,
        GeneExplanation,
        MarkerPanel,
        explain_gene,
        flag_confounders,
        load_panels,
    )
    from deconv_core.deconvolve import LOSSES, MEANINGS, MODES, WEIGHTINGS, DeconvResult, deconvolve
    from deconv_core.expression import ExpressionData, load_expression
    from deconv_core.groups import check_groups, group_proportions, groups_table
    from deconv_core.identifiability import Identifiability, signature_identifiability
    from deconv_core.io.singlecell import SingleCellData, read_single_cell
    from deconv_core.methods import MethodResult, MethodsComparison, run_methods
    from deconv_core.options import RunOptions, check_options
    from deconv_core.qc import (
        PermutationTest,
        bootstrap_intervals,
        downweighted_genes,
        flag_genes,
        flag_samples,
        permutation_test,
        qc_warnings,
        standardised_residuals,
    )
    from deconv_core.report import bundle_zip, write_outputs
    from deconv_core.signature_diagnostics import (
        SignatureDescription,
        describe_signature,
        scaled_signature,
    )
    from deconv_core.signatures import Signature, builtin_names, list_signatures, load_signature
    from deconv_core.singlecell import SignatureBuild, build_signature
    from deconv_core.solvers import huber_nnls, nnls, weighted_nnls
    from deconv_core.validation import DeconvWarning, InputError, warnings_frame
    from deconv_core.verdict import VERDICTS, sample_verdicts

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

"""Command line: ``python -m deconv_core run|explain|signatures|build-signature``.

Exit codes: 0 success, 2 bad input or usage (one line on stderr beginning
``error:``, never a traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from deconv_core.analysis import Analysis, fit_signature, run_analysis
from deconv_core.card import build_card, card_file_names, card_html, check_sample
from deconv_core.confounding import explain_gene
from deconv_core.expression import load_expression, sha256_of
from deconv_core.hugepages import ordinary_pages
from deconv_core.io.limits import (
    DEFAULT_LIMITS,
    MIN_WORKER_MEMORY,
    ReadLimits,
    format_size,
    parse_size,
)
from deconv_core.methods import (
    MethodsComparison,
    agreement_summary,
    shown_quantity,
    too_few_to_compare,
)
from deconv_core.options import (
    BUILD_DEFAULTS as _BUILD,
)
from deconv_core.options import (
    LOSSES,
    MAX_BOOTSTRAP,
    MAX_MIXTURES,
    MAX_PERMUTATIONS,
    METHODS,
    MODES,
    SCALES,
    SINGLE_CELL_SCALE_ALIASES,
    SPECIES,
    WEIGHTINGS,
    RunOptions,
    check_count,
)
from deconv_core.report import check_out_dir, to_csv_bytes, write_file, write_outputs
from deconv_core.signatures import builtin_names, list_signatures, load_signature
from deconv_core.startup import ENDINGS
from deconv_core.threads import limit_blas_threads
from deconv_core.validation import DeconvWarning, InputError, check_input_file
from deconv_core.verdict import verdict_counts

if TYPE_CHECKING:
    from pathlib import Path

    from deconv_core.signature_diagnostics import SignatureDescription
    from deconv_core.signatures import Signature
    from deconv_core.singlecell import SignatureBuild

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line beginning ``error:``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


class _Progress:
    """Step messages on stderr, only when stderr is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.start = time.perf_counter()

    def step(self, message: str) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            self.stream.write(f"[{elapsed:6.1f}s] {message}\n")
            self.stream.flush()


# --scale of run and explain: the log scales are log_b(x) and log_b(x + 1).
_SCALE_HELP = (
    "input scale (default: detect); log2, log10, ln: log of the values (a floor of zeros "
    "logged with a pseudocount, e.g. log2(TPM + 0.001), is found and undone); log2p1, "
    "log10p1, lnp1: log(x + 1)"
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the command line."""
    parser = _Parser(
        prog="python -m deconv_core",
        description="Estimate cell-type proportions from bulk expression, locally.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="deconvolve a bulk expression file")
    run.add_argument(
        "bulk", help="expression file: genes x samples (CSV, TSV, TXT, XLSX, GCT, .gz)"
    )
    run.add_argument(
        "--signature",
        required=True,
        help=f"built-in name ({', '.join(builtin_names())}) or a signature file",
    )
    run.add_argument(
        "--mode",
        choices=MODES,
        default="relative",
        help="relative (default): shares of the signature's cell types, summing to 1 per "
        "sample; absolute: shares of all cells, with 'other' for what the cell types leave "
        "(whole-transcriptome TPM and a signature with mRNA-content factors, e.g. TIL10)",
    )
    run.add_argument("--scale", choices=SCALES, default="auto", help=_SCALE_HELP)
    _add_species(run)
    run.add_argument(
        "--exclude",
        default="default",
        help="signature gene list(s) to leave out: none, default (the signature's default list), "
        "or its lists joined by commas, e.g. default,tumor for TIL10 as quanTIseq's tumour mode "
        "(default: default)",
    )
    _add_fit_options(run)
    run.add_argument(
        "--no-mrna-scaling",
        action="store_true",
        help="do not correct for mRNA content per cell type",
    )
    run.add_argument(
        "--method",
        action="append",
        choices=METHODS,
        default=[],
        help="run other methods beside the default robust fit and compare them (repeatable; "
        "all: every one): nu-svr (CIBERSORT-style), epic (EPIC-style, with other), mcp-counter "
        "(marker scores, not fractions); writes methods.csv and methods_agreement.csv",
    )
    run.add_argument("--out", required=True, help="output folder (created if needed)")
    run.add_argument(
        "--card",
        action="append",
        default=[],
        metavar="SAMPLE",
        help="also write card_SAMPLE.html (one page, prints on A4) and card_SAMPLE.png: the "
        "sample's tumour-board card; repeat for more samples (a name unsafe or too long as a "
        "file name gets a short hash; the manifest's cards list each sample's files)",
    )
    _add_trust_options(run)
    _add_limit_options(run)
    _add_engine_options(run)
    _add_explain_command(sub)
    _add_signature_commands(sub)
    return parser


def _add_species(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--species",
        choices=SPECIES,
        default="auto",
        help="species of the expression data (default: detect); mouse genes are renamed to "
        "human one-to-one orthologs for a human signature, kept for a mouse signature",
    )


def _options(args: argparse.Namespace) -> RunOptions:
    """The run's options from the flags (checked by the core, once)."""
    return RunOptions(
        mode=args.mode,
        exclude=args.exclude,
        scale=args.scale,
        loss=args.loss,
        weighting=args.weighting,
        mrna_scaling=not args.no_mrna_scaling,
        bootstrap=args.bootstrap,
        permutations=args.permutations,
        seed=args.seed,
        methods=tuple(m for m in dict.fromkeys(args.method) if m != "robust"),
    )


@contextlib.contextmanager
def _refusing_unwritable(path: str, *, folder: bool) -> Iterator[None]:
    """The one wording of an output ``path`` (a folder, or a file) that cannot be written."""
    try:
        yield
    except OSError as exc:
        to, other = ("to ", "folder") if folder else ("", "path")
        raise InputError(
            f"Cannot write {to}{path!r}: {exc.strerror}; choose another {other}."
        ) from exc


def _run(args: argparse.Namespace, stream: TextIO, progress: _Progress) -> int:
    progress.step(f"reading {args.bulk}")
    check_input_file(args.bulk, what="expression")
    options = _options(args)
    check_out_dir(args.out)  # refuse an unusable folder before the work, not after
    limits = _limits(args)
    if args.engine == "dask":
        analysis = _run_dask(args, options, limits, progress)
    else:
        _check_memory_engine(args)
        expression = load_expression(
            args.bulk, scale=options.scale, species=args.species, limits=limits
        )
        for sample in args.card:  # refused before the work, not after
            check_sample(list(expression.table.columns), sample, left_out=expression.warnings)
        progress.step(
            f"read {expression.table.shape[0]} genes x {expression.table.shape[1]} samples; "
            f"loading signature {args.signature}"
        )
        signature = load_signature(args.signature, limits=limits)
        analysis = run_analysis(expression, signature, options, progress=progress.step)
    progress.step(f"writing results to {args.out}")
    with _refusing_unwritable(args.out, folder=True):
        files, cards = _cards(analysis, _carded(analysis, args.card))
        write_outputs(args.out, analysis, extra=files, cards=cards)
    _print_verdicts(analysis, stream)
    if analysis.methods is not None:
        _print_methods(analysis.methods, analysis.signature.shown_names, stream)
    progress.step("done")
    return 0


def _carded(analysis: Analysis, samples: list[str]) -> list[str]:
    """The samples of ``samples`` the run kept; a line on stderr for each it left out.

    The Dask engine checks the names before its work but learns that a sample
    has no data (and was left out) only once it has read it: the run's files
    are still written, with the other cards.
    """
    kept = list(analysis.result.proportions.index)
    carded = []
    for sample in samples:
        try:
            carded.append(check_sample(kept, sample, left_out=analysis.warnings))
        except InputError as exc:
            sys.stderr.write(f"warning: {' '.join(exc.text('cli').split())}\n")
    return carded


def _cards(analysis: Analysis, samples: list[str]) -> tuple[dict[str, bytes], dict[str, list[str]]]:
    """card_SAMPLE.html and card_SAMPLE.png of each sample by file name, and each sample's
    file names (:func:`~deconv_core.card.card_file_names`: one pair per sample)."""
    from deconv_core.card_png import card_png

    pages, images = card_file_names(samples), card_file_names(samples, "png")
    files, cards = {}, {}
    for sample in pages:
        card = build_card(analysis, sample, surface="cli")
        files[pages[sample]] = card_html(card).encode("utf-8")
        files[images[sample]] = card_png(card)
        cards[sample] = [pages[sample], images[sample]]
    return files, cards


def _run_dask(
    args: argparse.Namespace, options: RunOptions, limits: ReadLimits, progress: _Progress
) -> Analysis:
    """``run --engine dask``: the cohort read in chunks of samples on a Dask cluster."""
    from deconv_core.cohort_run import cluster_client, run_cohort

    signature = load_signature(args.signature, limits=limits)
    where = args.scheduler or f"a local cluster of {args.workers} workers"
    progress.step(f"starting the Dask engine on {where}")
    with cluster_client(
        args.scheduler, workers=args.workers, worker_memory=args.worker_memory
    ) as client:
        return run_cohort(
            args.bulk,
            signature,
            options,
            client=client,
            chunk_size=args.chunk_size,
            store=args.store,
            species=args.species,
            samples=args.card,  # a name the cohort lacks is refused before the work
            progress=progress.step,
        )


def _check_memory_engine(args: argparse.Namespace) -> None:
    """Refuse Dask-only options with the in-memory engine rather than ignore them."""
    given = [
        flag
        for flag, value, default in (
            ("--scheduler", args.scheduler, None),
            ("--workers", args.workers, 2),
            ("--worker-memory", args.worker_memory, 2 << 30),
            ("--chunk-size", args.chunk_size, _DEFAULT_CHUNK),
            ("--store", args.store, None),
        )
        if value != default
    ]
    if given:
        raise InputError(f"{', '.join(given)} only apply with --engine dask; add it or drop them.")


#: Samples per chunk of the Dask engine (deconv_core.cohort_run.DEFAULT_CHUNK, without
#: importing it: the in-memory engine's start-up stays quick).
_DEFAULT_CHUNK = 500


def _positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        return check_count(int(text), "the value", minimum=1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None


def _add_engine_options(run: argparse.ArgumentParser) -> None:
    """``run --engine dask`` and its options (README, "Large cohorts")."""
    run.add_argument(
        "--engine",
        choices=("memory", "dask"),
        default="memory",
        help="memory (default): read the whole file; dask: read chunks of samples on a Dask "
        "cluster (HDF5 in ARCHS4's layout, .h5ad, or a text table converted with --store)",
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --engine dask: an existing scheduler, e.g. tcp://10.0.0.5:8786 (default: a "
        "local cluster on this machine)",
    )
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=2,
        help="local cluster: worker processes (default 2)",
    )
    run.add_argument(
        "--worker-memory",
        type=_size,
        default=2 << 30,
        metavar="SIZE",
        help=f"local cluster: memory limit per worker (default 2G, at least "
        f"{format_size(MIN_WORKER_MEMORY)}; lower --chunk-size if workers run out)",
    )
    run.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=_DEFAULT_CHUNK,
        metavar="N",
        help=f"with --engine dask: samples per task (default {_DEFAULT_CHUNK})",
    )
    run.add_argument(
        "--store",
        metavar="PATH.h5",
        help="with --engine dask and a text table: the chunked HDF5 store it is converted to "
        "once (reused by later runs on the same table)",
    )


#: Samples listed by name in the verdict summary (worst first); the rest are in fit.csv.
_LISTED = 10


def _print_methods(methods: MethodsComparison, names: Mapping[str, str], stream: TextIO) -> None:
    """One line on the methods side by side: how many cell types they disagree on
    (by display name, ``names``; methods_agreement.csv keeps the ids)."""
    summary = agreement_summary(methods.agreement)
    flagged = [shown_quantity(str(q), names) for q in summary.index[summary["flagged"]]]
    ran = ", ".join(r.method for r in methods.results)
    too_few = too_few_to_compare(methods.agreement)
    if too_few:
        stream.write(f"methods {ran}: {too_few} (methods.csv, methods_agreement.csv)\n")
        return
    stream.write(
        f"methods {ran}: {len(flagged)} of {len(summary)} compared (cell types, 'other', "
        "marker populations) disagree"
        + (f" ({'; '.join(flagged)})" if flagged else "")
        + " (methods.csv, methods_agreement.csv)\n"
    )


def _print_verdicts(analysis: Analysis, stream: TextIO) -> None:
    """The verdict counts and the samples to look at, worst first."""
    counts = verdict_counts(analysis.verdicts)
    total = sum(counts.values())
    noun = "sample" if total == 1 else "samples"
    stream.write(
        f"{total} {noun}: {counts['good']} good, {counts['check']} check, "
        f"{counts['poor']} poor (fit.csv: verdict, reasons)\n"
    )
    flagged = analysis.to_check
    for sample in flagged[:_LISTED]:
        row = analysis.verdicts.loc[sample]
        stream.write(f"  {row['verdict']}: {sample}: {row['reasons']}\n")
    if len(flagged) > _LISTED:
        stream.write(f"  ... and {len(flagged) - _LISTED} more in fit.csv\n")
    serious = [w for w in analysis.warnings if w.severity != "info" and not w.sample]
    for w in serious:
        stream.write(f"{w.severity}: {w.text('cli')}\n")
    _print_left_out(analysis.warnings, analysis.verdicts.index, stream)


def _print_left_out(
    warnings: Sequence[DeconvWarning], shown: Collection[str], stream: TextIO
) -> None:
    """Warnings about samples left out of the analysis: no row of the output says why.

    ``shown``: the samples the output has a row for.
    """
    left_out = [w for w in warnings if w.severity != "info" and w.sample and w.sample not in shown]
    for w in left_out[:_LISTED]:
        stream.write(f"{w.severity}: {w.text('cli')}\n")
    if len(left_out) > _LISTED:
        stream.write(f"  ... and {len(left_out) - _LISTED} more in warnings.csv\n")


def _limits(args: argparse.Namespace) -> ReadLimits:
    """The reading limits of the command line (``--max-input-size``, ``--max-memory``)."""
    return ReadLimits(max_text_bytes=args.max_input_size, max_memory=args.max_memory)


def _size(text: str) -> int:
    """argparse type: a size such as 8G or 500M, in bytes."""
    try:
        return parse_size(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_limit_options(command: argparse.ArgumentParser) -> None:
    """The memory budget of reading the inputs (README, "Privacy and limits")."""
    command.add_argument(
        "--max-input-size",
        type=_size,
        default=DEFAULT_LIMITS.max_text_bytes,
        metavar="SIZE",
        help="largest input text after decompression, e.g. 16G (default 16G); larger files "
        "are refused before they are read",
    )
    command.add_argument(
        "--max-memory",
        type=_size,
        default=DEFAULT_LIMITS.max_memory,
        metavar="SIZE",
        help="largest estimated memory for parsing an input table, e.g. 8G (default 8G)",
    )


def _non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0."""
    try:
        return check_count(int(text), "the value")
    except ValueError:  # not a number, or below 0 (InputError is a ValueError)
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None


def _add_trust_options(run: argparse.ArgumentParser) -> None:
    """``run`` options of the uncertainty estimates (issue 4, "Trust")."""
    run.add_argument(
        "--bootstrap",
        type=_non_negative_int,
        default=0,
        metavar="B",
        help="bootstrap resamples of the signature genes for 95%% confidence intervals, "
        f"written to intervals.csv (default 0: off; 200 is a good choice; at most "
        f"{MAX_BOOTSTRAP:,})",
    )
    run.add_argument(
        "--permutations",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="random mixtures for the permutation p-value of each sample's fit, column "
        f"p_value of fit.csv (default 0: off; 1000 is a good choice; at most "
        f"{MAX_PERMUTATIONS:,})",
    )
    run.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        metavar="S",
        help="random seed of --bootstrap and --permutations (default 0)",
    )


def _add_explain_command(sub: argparse._SubParsersAction) -> None:
    """``explain BULK --signature NAME_OR_FILE --gene GENE --out FILE.csv``."""
    explain = sub.add_parser(
        "explain", help="split one signature gene's expression among the cell types"
    )
    explain.add_argument("bulk", help="expression file: genes x samples")
    explain.add_argument(
        "--signature",
        required=True,
        help=f"built-in name ({', '.join(builtin_names())}) or a signature file",
    )
    explain.add_argument("--gene", required=True, help="a gene of the signature, e.g. CTLA4")
    explain.add_argument("--out", required=True, help="CSV file to write, one row per sample")
    explain.add_argument("--scale", choices=SCALES, default="auto", help=_SCALE_HELP)
    _add_species(explain)
    explain.add_argument(
        "--exclude",
        default="default",
        help="signature gene list(s) to leave out: none, default (the signature's default list), "
        "or its lists joined by commas, e.g. default,tumor for TIL10 as quanTIseq's tumour mode "
        "(default: default)",
    )
    _add_fit_options(explain)


def _add_fit_options(command: argparse.ArgumentParser) -> None:
    """The options that choose the estimator (same for ``run`` and ``explain``)."""
    command.add_argument(
        "--loss",
        choices=LOSSES,
        default="huber",
        help="huber: robust fit that down-weights genes the signature describes badly "
        "(default); squares: plain non-negative least squares",
    )
    command.add_argument(
        "--weighting",
        choices=WEIGHTINGS,
        default="auto",
        help="gene weights of the fit: auto (default: relative for a signature built from "
        "single-cell data, sqrt for a microarray-derived one or when a few genes dominate, "
        "else none), none, sqrt (1/sqrt of each gene's mean profile) or relative (1/mean)",
    )


def _explain(args: argparse.Namespace, stream: TextIO, progress: _Progress) -> int:
    check_input_file(args.bulk, what="expression")
    progress.step(f"reading {args.bulk}")
    expression = load_expression(args.bulk, scale=args.scale, species=args.species)
    signature = load_signature(args.signature)
    progress.step("deconvolving")
    options = RunOptions(
        exclude=args.exclude, scale=args.scale, loss=args.loss, weighting=args.weighting
    )
    explanation = explain_gene(
        fit_signature(expression, signature, options), args.gene, names=signature.shown_names
    )
    with _refusing_unwritable(args.out, folder=False):
        write_file(args.out, to_csv_bytes(explanation.summary, index_label="sample"))
    for sentence in explanation.summary["sentence"]:
        stream.write(f"{sentence}\n")
    _print_left_out(expression.warnings, explanation.summary.index, stream)
    return 0


def _signatures(stream: TextIO) -> int:
    table = list_signatures()
    for name, row in table.iterrows():
        stream.write(f"{name}: {row['title']}\n")
        stream.write(f"  genes: {row['n_genes']}, cell types ({row['n_cell_types']}): ")
        stream.write(f"{row['cell_types']}\n")
        stream.write(f"  units: {row['units']}\n  licence: {row['licence']}\n")
        stream.write(f"  citation: {row['citation']}\n")
    return 0


def _add_signature_commands(sub: argparse._SubParsersAction) -> None:
    """``signatures [--describe NAME_OR_FILE]`` and ``build-signature``."""
    from deconv_core.io.singlecell import SINGLE_CELL_SCALES

    sigs = sub.add_parser("signatures", help="list the built-in signatures, or describe one")
    sigs.add_argument(
        "--describe",
        metavar="NAME_OR_FILE",
        help="diagnostics of a built-in or a signature file: markers, condition number, "
        "most collinear cell types",
    )
    sigs.add_argument(
        "--expression", metavar="FILE", help="with --describe: how much of it this file covers"
    )
    sigs.add_argument(
        "--top", type=int, default=5, help="with --describe: markers shown per cell type"
    )
    sigs.add_argument(
        "--out", dest="describe_out", metavar="DIR", help="with --describe: write tables as CSV"
    )
    build = sub.add_parser("build-signature", help="build a signature from single-cell counts")
    _add_limit_options(build)
    build.add_argument(
        "--counts", required=True, help="genes x cells counts: CSV, TSV (.gz) or AnnData .h5ad"
    )
    build.add_argument(
        "--labels", help="CSV/TSV of cell names and cell types (optional for .h5ad: obs column)"
    )
    build.add_argument("--label-column", help="column (or h5ad obs column) of the cell types")
    build.add_argument("--out", required=True, help="signature file to write, e.g. my_sig.tsv")
    build.add_argument(
        "--scale",
        choices=SINGLE_CELL_SCALES,
        type=lambda text: SINGLE_CELL_SCALE_ALIASES.get(text, text),
        default="auto",
        help="input scale (default: detect); lnp1: ln(x + 1), as scanpy's log1p (the name "
        "log1p is also accepted); log2p1: log2(x + 1); linear: CPM, TPM",
    )
    build.add_argument(
        "--min-cells",
        type=int,
        default=_BUILD["min_cells"],
        help=f"fewer cells: type left out (default {_BUILD['min_cells']})",
    )
    build.add_argument(
        "--min-markers",
        type=int,
        default=_BUILD["min_markers"],
        help=f"markers per ordered pair of types, at least (default {_BUILD['min_markers']})",
    )
    build.add_argument(
        "--max-markers",
        type=int,
        default=_BUILD["max_markers"],
        help=f"markers per ordered pair of types, at most (default {_BUILD['max_markers']})",
    )
    build.add_argument(
        "--min-log2-fold-change",
        type=float,
        default=_BUILD["min_log2_fold_change"],
        help="marker: log2 fold change of a type over the other type of each pair of cell types "
        f"(default {_BUILD['min_log2_fold_change']:g}: "
        f"{2 ** _BUILD['min_log2_fold_change']:g}-fold)",
    )
    build.add_argument(
        "--min-detection",
        type=float,
        default=_BUILD["min_detection"],
        help="marker: share of the type's cells with a non-zero count "
        f"(default {_BUILD['min_detection']:g})",
    )
    build.add_argument(
        "--test-fraction",
        type=float,
        default=_BUILD["test_fraction"],
        help="share of each type's cells held out for validation "
        f"(default {_BUILD['test_fraction']:g})",
    )
    build.add_argument(
        "--mixtures",
        type=int,
        default=_BUILD["n_mixtures"],
        help=f"validation mixtures (default {_BUILD['n_mixtures']}; 3 to {MAX_MIXTURES:,})",
    )
    build.add_argument(
        "--seed",
        type=int,
        default=_BUILD["seed"],
        help=f"seed of the split and the mixtures (default {_BUILD['seed']})",
    )


def _describe(args: argparse.Namespace, stream: TextIO) -> int:
    """``signatures --describe``: every refusal comes before any output is printed."""
    from deconv_core.signature_diagnostics import describe_signature

    if args.describe is None:
        raise InputError("--expression and --out need --describe NAME_OR_FILE.")
    check_count(args.top, "--top", minimum=1)
    if args.describe_out:
        check_out_dir(args.describe_out)
    signature = load_signature(args.describe)
    expression = None
    if args.expression:
        check_input_file(args.expression, what="expression")
        expression = load_expression(args.expression).table_for(signature)
    desc = describe_signature(signature, expression=expression)
    text = io.StringIO()
    _print_description(desc, signature, args, text)
    if args.describe_out:
        _write_description(desc, args.describe_out)
        text.write(f"  tables written to {args.describe_out}\n")
    stream.write(text.getvalue())
    return 0


def _print_description(
    desc: SignatureDescription, signature: Signature, args: argparse.Namespace, stream: TextIO
) -> None:
    """The description's summary, collinear pairs, markers, groups, coverage and warnings."""
    s = desc.summary
    stream.write(f"{s['name']}: {s['title'] or '(no title)'}\n")
    stream.write(f"  {s['n_genes']} genes x {s['n_cell_types']} cell types; units: {s['units']}\n")
    stream.write(f"  licence: {s['licence'] or 'unknown'}\n")
    if s["restricted"]:
        stream.write(f"  restricted: recognised as {s['restricted']}; never shipped or stored\n")
    scope = ""
    if desc.coverage is not None:
        scope = (
            f" (on the {s['identifiability_genes']} signature genes the fit uses, weighted "
            f"as in the fit; whole signature {s['condition_number_whole']:.1f})"
        )
    stream.write(f"  condition number: {s['condition_number']:.1f}{scope}\n")
    stream.write(f"  most collinear cell types{' on those genes' if scope else ''}:\n")
    for _, row in desc.collinearity.head(3).iterrows():
        stream.write(
            f"    {row['cell_type_a']} / {row['cell_type_b']}: r={row['correlation']:.2f}, "
            f"cosine={row['cosine']:.2f}\n"
        )
    stream.write(f"  top markers (of {s['n_genes']} genes; by fold change over the runner-up):\n")
    for cell_type, part in desc.markers.groupby("cell_type", sort=False):
        genes = ", ".join(part["gene"].head(args.top))
        stream.write(f"    {cell_type} ({len(part)}): {genes}\n")
    for group, members in signature.groups.items():
        stream.write(f"  group {group}: {', '.join(members)}\n")
    if desc.coverage is not None:
        stream.write(
            f"  coverage of {os.path.basename(args.expression)}: {s['genes_found']} of "
            f"{s['n_genes']} genes ({s['coverage']:.0%})\n"
        )
        for cell_type, row in desc.coverage.drop(index="all").iterrows():
            stream.write(f"    {cell_type}: {row['found']} of {row['marker_genes']}\n")
    for w in desc.warnings:
        stream.write(f"  {w.severity}: {w.text('cli')}\n")


def _write_description(desc: SignatureDescription, folder: str) -> None:
    """The description's tables as CSV files in ``folder``."""
    with _refusing_unwritable(folder, folder=True):
        os.makedirs(folder, exist_ok=True)
        desc.specificity.to_csv(os.path.join(folder, "specificity.csv"))
        desc.markers.to_csv(os.path.join(folder, "markers.csv"), index=False)
        desc.collinearity.to_csv(os.path.join(folder, "collinearity.csv"), index=False)
        desc.scaled.to_csv(os.path.join(folder, "scaled.csv"))
        desc.groups.to_csv(os.path.join(folder, "groups.csv"), index=False)
        if desc.coverage is not None:
            desc.coverage.to_csv(os.path.join(folder, "coverage.csv"))


def _build_signature(args: argparse.Namespace, stream: TextIO, progress: _Progress) -> int:
    """The build-signature command: read cells, build and validate, write, print a summary."""
    from deconv_core.io.singlecell import read_single_cell
    from deconv_core.singlecell import build_signature
    from deconv_core.singlecell_write import signature_paths

    signature_paths(args.out)  # refuse a folder before the work, not after
    check_input_file(args.counts, what="counts")
    if args.labels is not None:
        check_input_file(args.labels, what="labels")
    progress.step(f"reading {args.counts}")
    data = read_single_cell(
        args.counts,
        labels=args.labels,
        label_column=args.label_column,
        scale=args.scale,
        limits=_limits(args),
    )
    progress.step(f"read {data.counts.shape[0]} genes x {data.counts.shape[1]} cells; building")
    build = build_signature(
        data,
        min_cells=args.min_cells,
        min_log2_fold_change=args.min_log2_fold_change,
        min_detection=args.min_detection,
        min_markers=args.min_markers,
        max_markers=args.max_markers,
        test_fraction=args.test_fraction,
        n_mixtures=args.mixtures,
        seed=args.seed,
        name=os.path.basename(args.out),
    )
    paths = _write_build(build, args)
    _print_build(build, paths, args.seed, stream)
    progress.step("done")
    return 0


def _write_build(build: SignatureBuild, args: argparse.Namespace) -> dict[str, Path]:
    """Write the built signature and its reports to ``args.out``, with the inputs' identities."""
    from deconv_core.singlecell_write import write_signature_build

    provenance = {
        "counts": {"file": os.path.basename(args.counts), "sha256": sha256_of(args.counts)},
        "labels": (
            {"file": os.path.basename(args.labels), "sha256": sha256_of(args.labels)}
            if args.labels
            else {"h5ad_obs_column": args.label_column or "(detected)"}
        ),
        "command": "build-signature",
    }
    with _refusing_unwritable(args.out, folder=False):
        return write_signature_build(build, args.out, provenance=provenance)


def _print_build(build: SignatureBuild, paths: dict[str, Path], seed: int, stream: TextIO) -> None:
    """The signature's size, its held-out validation per cell type, warnings and files."""
    sig = build.signature
    stream.write(
        f"signature: {paths['signature']} ({sig.matrix.shape[0]} genes x "
        f"{sig.matrix.shape[1]} cell types, condition number {build.condition_number:.1f})\n"
    )
    stream.write(
        f"held-out validation ({build.parameters['n_mixtures']} pseudo-bulk mixtures of held-out "
        f"cells, seed {seed}):\n"
    )
    table = build.validation
    width = max(len(str(t)) for t in table.index)
    stream.write(f"  {'cell type':<{width}}  {'r':>6}  {'RMSE':>6}  train  test\n")
    for cell_type, row in table.iterrows():
        stream.write(
            f"  {cell_type:<{width}}  {row['pearson_r']:6.3f}  {row['rmse']:6.3f}  "
            f"{int(row['n_train']):5d}  {int(row['n_test']):4d}\n"
        )
    for w in build.warnings:
        stream.write(f"{w.severity}: {w.text('cli')}\n")
    stream.write(f"wrote: {', '.join(str(p) for p in paths.values())}\n")


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so the run unwinds like Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> NoReturn:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Ctrl-C exits with ``EXIT_INTERRUPTED`` and SIGTERM with
    ``EXIT_TERMINATED`` (both from :mod:`deconv_core.startup`), each with one line on stderr:
    ``run`` writes its folder only when the run is complete
    (:func:`deconv_core.report.write_outputs`), so an interrupted run leaves
    the folder as it was.

    Parameters
    ----------
    argv
        Arguments without the program name (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # point to the command's own help, where its options are
        parser.exit(
            2,
            f"error: unrecognized arguments: {' '.join(extra)} "
            f"(see '{parser.prog} {args.command} --help')\n",
        )
    limit_blas_threads()
    ordinary_pages()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        code, word = ENDINGS[signal.SIGINT]
        sys.stderr.write(f"{word}: {_left_as_it_was(args)}\n")
        return code
    except _Terminated:
        code, word = ENDINGS[signal.SIGTERM]
        sys.stderr.write(f"{word}: {_left_as_it_was(args)}\n")
        return code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _left_as_it_was(args: argparse.Namespace) -> str:
    out = getattr(args, "out", None) or getattr(args, "describe_out", None)
    return f"{out} was left as it was" if out else "nothing was written"


def _dispatch(args: argparse.Namespace) -> int:
    """Run one command; its documented errors become one line and exit code 2."""
    try:
        if args.command == "signatures":
            # `--describe ""` is an (empty) name to refuse, not a request for the list.
            if args.describe is not None or args.expression or args.describe_out:
                return _describe(args, sys.stdout)
            return _signatures(sys.stdout)
        if args.command == "build-signature":
            return _build_signature(args, sys.stdout, _Progress(sys.stderr))
        if args.command == "explain":
            return _explain(args, sys.stdout, _Progress(sys.stderr))
        return _run(args, sys.stdout, _Progress(sys.stderr))
    except InputError as exc:
        sys.stderr.write(f"error: {' '.join(exc.text('cli').split())}\n")
        return 2
    except BrokenPipeError:
        return _reader_gone()
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"error: {exc.strerror or exc}{where}\n")
        return 2


def _reader_gone() -> int:
    """The program reading stdout (e.g. ``| head``) closed it: stop quietly, as Unix tools do.

    stdout is pointed at /dev/null so the interpreter's last flush does not fail
    again (Python documentation, "Note on SIGPIPE"); 141 is what a shell reports
    for a program stopped by SIGPIPE.
    """
    with contextlib.suppress(OSError, ValueError):  # a stdout without a descriptor (tests)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141

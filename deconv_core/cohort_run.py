"""The Dask engine: one run over a cohort too large for memory, a chunk of samples at a time.

``python -m deconv_core run --engine dask`` builds the same
:class:`~deconv_core.analysis.Analysis` as the in-memory engine, and
:mod:`deconv_core.report` writes it; only the work is split:

1. **Fit** (workers, one pass): each chunk of samples is harmonised like the
   whole table would be (:func:`~deconv_core.genes.harmonise_genes` works per
   sample), brought to linear scale, named for the signature (mouse data: human
   orthologs, :func:`~deconv_core.expression.name_for_species`, row by row) and
   fitted with :func:`~deconv_core.analysis.fit_table`, the in-memory engine's call;
   per-sample checks (bootstrap intervals, the missing-value and empty-sample
   warnings) run with it.  A chunk returns its result on the signature genes
   only, and a summary of its values: maximum, minimum and the whole-number and
   zero counts of the evenly spaced values :func:`~deconv_core.scale.detect_scale`
   looks at, taken sample by sample, and what the log rules need
   (:func:`~deconv_core.scale.summarise_logs`: the count of values at the
   minimum, and per sample its finite values, maximum and ``sum(base**x)``).
2. **Scale**: the chunks are fitted with the scale (and pseudocount floor) of
   the first chunk; the driver applies the one rule
   (:func:`~deconv_core.scale.scale_from_summary`, then for logs
   :func:`~deconv_core.scale.decide_logs`: floor and base) to the summaries of
   all chunks and, in the rare cohort whose scale or floor differs from its
   first chunk's, fits every chunk again with the cohort's.
3. **Cohort** (driver): the chunks' results are joined; the permutation null is
   drawn from a seeded random subset of :data:`~deconv_core.thresholds.NULL_SAMPLES`
   samples (every sample when the cohort is no larger, so the p-values equal
   the in-memory engine's); the confounding, residual and outlier checks and
   the verdicts run on the joined result as in memory.

Memory: a worker holds one chunk (all genes × ``chunk_size`` samples, a few
float64 copies); the driver never holds the expression matrix, only the
signature genes × samples tables of the result (observed, fitted, residuals,
robust weights: 4 × 8 bytes × signature genes × samples) and the per-sample
tables.  A genes × samples table written once by
:func:`~deconv_core.io.chunked.convert_table` is read the same way.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deconv_core.analysis import Analysis, all_warnings, confound_and_assess, fit_table
from deconv_core.card import check_sample
from deconv_core.deconvolve import DeconvResult, meaning_for
from deconv_core.expression import ExpressionData, choose_table, name_for_species, sha256_of
from deconv_core.genes import detect_orientation, harmonise_genes
from deconv_core.io.chunked import ChunkedSource, open_chunked
from deconv_core.io.limits import MIN_WORKER_MEMORY, MiB, format_size
from deconv_core.methods import MethodEstimates, estimate_methods, join_estimates
from deconv_core.options import RunOptions, check_choice, check_options
from deconv_core.qc import bootstrap_intervals, permutation_null, permutation_p_values
from deconv_core.scale import (
    LOG_SCALES,
    SCALE_SAMPLE_VALUES,
    LogDecision,
    LogSummary,
    decide_logs,
    join_log_summaries,
    linearise,
    samples_with_data,
    scale_from_summary,
    summarise_logs,
)
from deconv_core.signatures import Signature
from deconv_core.species import resolve_species
from deconv_core.text import names_warning
from deconv_core.thresholds import NULL_SAMPLES
from deconv_core.validation import DeconvWarning, InputError

__all__ = ["DEFAULT_CHUNK", "cluster_client", "run_cohort", "worker_loss_error"]

#: Samples per chunk (default): 20,000 genes × 500 samples is 80 MB of float64 per copy.
DEFAULT_CHUNK = 500
# Random stream of the null's sample subset, apart from the bootstrap's and permutations'.
_NULL_SUBSET_STREAM = 2
# How long to try reaching a scheduler given with --scheduler before giving up.
_CONNECT_TIMEOUT = "10s"


@dataclass(frozen=True)
class _Summary:
    """What :func:`~deconv_core.scale.detect_scale` needs of a chunk."""

    vmax: float
    vmin: float
    n_sampled: int
    n_fractional: int
    n_zero: int
    logs: LogSummary


@dataclass(frozen=True)
class _CohortScale:
    """The scale decided on the chunks summarised: scale, pseudocount floor, log decision."""

    scale: str
    floor: float | None = None
    logs: LogDecision | None = None


@dataclass(frozen=True)
class _ChunkFit:
    """One chunk's fit (None when no sample of it has data) with the scale it assumed, and
    what was found reading it.

    ``species_warnings`` (the ``mouse_orthologs`` warning) and ``native_genes`` (mouse
    data: the harmonised mouse ids) depend on the gene ids only, as ``gene_changes`` does:
    the driver takes them from one chunk, so they appear once. ``methods``: the
    estimates of ``options.methods`` on the chunk's samples (None when none were asked).
    """

    result: DeconvResult | None
    warnings: tuple[DeconvWarning, ...]
    intervals: pd.DataFrame | None
    gene_changes: pd.DataFrame
    id_type: str
    transformation: str
    n_genes: int
    samples: tuple[str, ...]
    scale: str
    floor: float | None
    summary: _Summary
    species_warnings: tuple[DeconvWarning, ...]
    native_genes: pd.Index | None
    error: InputError | None = None
    methods: MethodEstimates | None = None


def _summarise(
    source: ChunkedSource, start: int, stop: int, *, sums: bool = True, species: str = "human"
) -> _Summary:
    """The scale summary of samples ``start:stop`` (:func:`_summary_of` after harmonising
    their ids as ``species``' ids, as the in-memory engine does before judging the scale)."""
    table = harmonise_genes(source.read(start, stop), species=species).table
    values = table.to_numpy(dtype=float)
    return _summary_of(values, start, len(source.samples), sums=sums)


def _summary_of(values: np.ndarray, start: int, n_samples: int, *, sums: bool) -> _Summary:
    """The scale summary of a chunk, as the whole table's evenly spaced sample would take it.

    Parameters
    ----------
    values : (genes, chunk samples) harmonised values of samples ``start`` onwards;
    n_samples : the cohort's number of samples;
    sums : take the per-sample power sums that tell a detected log scale's base.

    :func:`~deconv_core.scale.detect_scale` takes every ``step``-th value of
    the table read sample by sample (pandas keeps one float block per table, so
    ``ravel(order="K")`` runs down each sample's genes); the same positions are
    taken here within the chunk.
    """
    n_genes = values.shape[0]
    step = max(1, n_genes * n_samples // SCALE_SAMPLE_VALUES)
    flat = values.T.ravel()
    sample = flat[(-start * n_genes) % step :: step]
    sample = sample[np.isfinite(sample)]
    missing = np.isnan(values).all()
    return _Summary(
        vmax=float("nan") if missing else float(np.nanmax(values)),
        vmin=float("nan") if missing else float(np.nanmin(values)),
        n_sampled=int(sample.size),
        n_fractional=int(np.count_nonzero(sample != np.round(sample))),
        n_zero=int(np.count_nonzero(sample == 0)),
        logs=summarise_logs(values, sums=sums),
    )


def _fit_chunk(
    source: ChunkedSource,
    start: int,
    stop: int,
    *,
    scale: str,
    floor: float | None,
    signature: Signature,
    options: RunOptions,
    species: str,
) -> _ChunkFit:
    """Harmonise as ``species``' ids, linearise with ``scale`` (and the cohort's pseudocount
    ``floor`` if a log scale), name for the signature and fit samples ``start:stop``;
    summarise them."""
    mapped = harmonise_genes(source.read(start, stop), species=species)
    warnings = list(mapped.warnings)
    values = mapped.table.to_numpy(dtype=float)
    keep, empty = samples_with_data(values, mapped.table.columns)
    # The gene records from the ids alone (no samples): the same whether or not this fits.
    named = name_for_species(mapped.table.iloc[:, :0], mapped.changes, species=species)
    common = dict(
        gene_changes=named.gene_changes,
        id_type=mapped.id_type,
        n_genes=named.table.shape[0],
        scale=scale,
        floor=floor,
        summary=_summary_of(values, start, len(source.samples), sums=options.scale == "auto"),
        species_warnings=named.warnings,
        native_genes=None if named.native_table is None else named.native_table.index,
    )
    if not keep:  # linearise refuses a table without data; the cohort may still have some
        return _ChunkFit(None, (*warnings, *empty), None, transformation="", samples=(), **common)
    try:
        # A scale detected on the first chunk is a guess; the driver judges the cohort's.
        logs = {"floor": floor} if scale in LOG_SCALES else {}
        scaled = linearise(mapped.table, scale=scale, guessed=options.scale == "auto", **logs)
        linear = name_for_species(scaled.table, mapped.changes, species=species)
        table = choose_table(linear.table, linear.native_table, signature)
        result = fit_table(table, signature, options)
    except InputError as exc:  # perhaps only because ``scale`` was a guess: the driver decides
        return _ChunkFit(None, (), None, transformation="", samples=(), error=exc, **common)
    warnings.extend(scaled.warnings)
    intervals = None
    if options.bootstrap:
        intervals = bootstrap_intervals(
            result, signature, n_resamples=options.bootstrap, level=options.level, seed=options.seed
        )
    methods = None
    if options.methods:  # each sample on its own: compared on the driver once all are in
        methods = estimate_methods(table, result, signature, options.methods)
    return _ChunkFit(
        result,
        tuple(warnings),
        intervals,
        methods=methods,
        transformation=scaled.transformation,
        samples=tuple(str(s) for s in scaled.table.columns),
        **common,
    )


@contextlib.contextmanager
def cluster_client(
    scheduler: str | None = None,
    *,
    workers: int = 2,
    worker_memory: int = 2 << 30,
    processes: bool = True,
) -> Iterator[Any]:
    """A Dask client: on the scheduler at ``scheduler``, else on a new local cluster.

    The local cluster has ``workers`` single-threaded workers (processes, or
    threads of this process when ``processes`` is False) with ``worker_memory``
    bytes each; it talks TCP on 127.0.0.1 only, on ports the system chooses,
    serves no dashboard, and is closed when the block ends.

    Raises
    ------
    InputError
        ``scheduler`` is not an address with a host and port, cannot be
        reached, or ``worker_memory`` is below
        :data:`~deconv_core.io.limits.MIN_WORKER_MEMORY` (a worker that small
        stalls or is restarted for ever instead of failing).
    """
    from dask.distributed import Client, LocalCluster

    if scheduler:
        _check_address(scheduler)
        try:
            client = Client(scheduler, timeout=_CONNECT_TIMEOUT)
        except OSError as exc:
            raise InputError(
                f"Cannot reach a Dask scheduler at {scheduler!r} ({exc}); check the address "
                "(e.g. tcp://host:8786) or leave out --scheduler for a local cluster."
            ) from None
        with client:
            yield client
        return
    if worker_memory < MIN_WORKER_MEMORY:
        raise InputError(
            f"--worker-memory {format_size(worker_memory)} is too little for a Dask worker, "
            f"which needs at least {format_size(MIN_WORKER_MEMORY)} to load the fitting code "
            f"and a chunk; give --worker-memory {MIN_WORKER_MEMORY // MiB}M or more."
        )
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            memory_limit=worker_memory,
            protocol="tcp",
            host="127.0.0.1",
            # The scheduler's HTTP server (health checks) always starts; on port 0 it takes a
            # free port instead of 8787, which another cluster may hold.
            dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False},
            # A chunk's refusal (an InputError) reaches the caller as one line; the
            # workers' own "Compute Failed" log of it would print a traceback first.
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _check_address(scheduler: str) -> None:
    """Refuse a scheduler address without a host and port before connecting to it.

    distributed parses the address only while connecting, and its ValueError
    ("missing port number in address 'x'", "unknown address scheme 'http'") would
    surface as a traceback; schemes without a host and port (inproc://, of one
    process; ucx://) cannot serve a command-line run either.
    """
    from distributed.comm.addressing import get_address_host_port

    try:
        get_address_host_port(scheduler)
    except ValueError:
        raise InputError(
            f"--scheduler {scheduler!r} is not a Dask scheduler address; give it as "
            "tcp://host:port, port included, e.g. tcp://10.0.0.5:8786, or leave out "
            "--scheduler for a local cluster."
        ) from None


def _check_orientation(source: ChunkedSource, name: str) -> None:
    """Refuse a cohort whose column labels are gene ids: samples as rows (a text table
    saved the other way round), which no signature gene would be found in.

    The in-memory engine transposes such a table by the same rule
    (:func:`~deconv_core.genes.detect_orientation`); a chunk of samples here would be a
    chunk of genes.  Its other rule, by shape alone (more than 1,000 columns, more than
    rows, neither side gene ids), is not applied: a cohort for this engine may well have
    more samples than probe ids.
    """
    if detect_orientation(pd.Index(source.genes), pd.Index(source.samples)) == "labels":
        raise InputError(
            f"{name} has samples as rows and genes as columns; the Dask engine needs "
            "genes × samples: transpose it, or run without --engine dask (which transposes it)."
        )


def worker_loss_error(error: BaseException, *, chunk_size: int) -> InputError | None:
    """The one line for a run whose Dask workers stopped, or None for any other ``error``.

    A worker over its memory limit is restarted by its nanny; the driver then sees the
    chunk's task cancelled (``FutureCancelledError``), the worker given up on
    (``KilledWorker``) or the connection closed mid-transfer (``CommClosedError``,
    "Stream is closed"), none of which says memory.

    Parameters
    ----------
    error
        What the Dask client raised.
    chunk_size
        Samples per chunk of the run (``--chunk-size``).
    """
    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    if not isinstance(error, CancelledError | KilledWorker | CommClosedError):
        return None
    return InputError(
        f"The Dask workers stopped before the chunks of {chunk_size} samples were fitted "
        f"({type(error).__name__}), most likely out of memory; raise --worker-memory or "
        "lower --chunk-size."
    )


@contextlib.contextmanager
def _worker_losses(chunk_size: int) -> Iterator[None]:
    """Turn the errors of stopped workers into :func:`worker_loss_error`'s line."""
    try:
        yield
    except Exception as exc:  # only the lost-worker kinds are translated; the rest re-raised
        error = worker_loss_error(exc, chunk_size=chunk_size)
        if error is None:
            raise
        raise error from exc


def _chunks(n_samples: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(s, min(s + chunk_size, n_samples)) for s in range(0, n_samples, chunk_size)]


def _scale_of(parts: list[_Summary], declared: str) -> _CohortScale:
    """The scale of the chunks summarised (``declared`` unless "auto"), decided as
    :func:`~deconv_core.scale.linearise` decides it on the whole table in memory."""
    detected = declared
    if declared == "auto":
        vmax = np.array([p.vmax for p in parts])
        vmin = np.array([p.vmin for p in parts])
        detected = scale_from_summary(
            vmax=float(np.nanmax(vmax)) if not np.isnan(vmax).all() else float("nan"),
            vmin=float(np.nanmin(vmin)) if not np.isnan(vmin).all() else float("nan"),
            n_sampled=sum(p.n_sampled for p in parts),
            n_fractional=sum(p.n_fractional for p in parts),
            n_zero=sum(p.n_zero for p in parts),
        )
    if detected not in LOG_SCALES:
        return _CohortScale(detected)
    logs = decide_logs(
        join_log_summaries([p.logs for p in parts]),
        detected,
        auto=declared == "auto",
        declared=declared != "auto",
    )
    return _CohortScale(logs.scale, logs.floor, logs)


def run_cohort(
    path: str | os.PathLike,
    signature: Signature,
    options: RunOptions,
    *,
    client: Any,
    chunk_size: int = DEFAULT_CHUNK,
    store: str | os.PathLike | None = None,
    species: str = "auto",
    samples: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> Analysis:
    """One run over a cohort on disk, chunk by chunk on a Dask cluster.

    Parameters
    ----------
    path
        HDF5 (ARCHS4 layout), ``.h5ad`` or a genes × samples text table
        (:func:`~deconv_core.io.chunked.open_chunked`).
    signature, options
        As for :func:`~deconv_core.analysis.run_analysis`.
    client
        A ``dask.distributed.Client`` (:func:`cluster_client`).
    chunk_size
        Samples per task: a worker's memory grows with it, not with the cohort.
    store
        Where a text table is converted to (HDF5, reused when present).
    species
        ``"auto"`` (detect), ``"human"`` or ``"mouse"``, as for
        :func:`~deconv_core.expression.load_expression`: mouse genes are renamed to
        their human orthologs for a human signature, kept for a mouse one.
    samples
        Samples the caller will need (e.g. for cards): a name the cohort lacks
        is refused once the file is open, before any work.
    progress
        Called with a short sentence before each step.

    Returns
    -------
    Analysis
        The same tables as the in-memory engine's run on the same data (the
        permutation null differs only for cohorts above ``NULL_SAMPLES``).
    """
    step = progress or (lambda message: None)
    check_options(options, signature.excluded_genes)
    if chunk_size < 1:
        raise InputError(f"--chunk-size must be at least 1 sample, got {chunk_size}.")
    check_choice("species", species)  # before a text table is converted, not after
    source = open_chunked(path, store=store, progress=step)
    _check_orientation(source, Path(path).name)
    for sample in samples:
        check_sample(source.samples, sample)
    species = resolve_species(species, source.genes)  # the in-memory engine's rule
    chunks = _chunks(len(source.samples), chunk_size)
    step(f"{len(source.genes)} genes x {len(source.samples)} samples in {len(chunks)} chunks")
    with _worker_losses(chunk_size):
        analysis = _run_chunks(
            path, source, chunks, signature, options, species, client=client, step=step
        )
    engine = {"name": "dask", "chunk_size": str(chunk_size), "null_samples": str(NULL_SAMPLES)}
    return replace(analysis, side_inputs={**analysis.side_inputs, "engine": engine})


def _run_chunks(
    path: str | os.PathLike,
    source: ChunkedSource,
    chunks: list[tuple[int, int]],
    signature: Signature,
    options: RunOptions,
    species: str,
    *,
    client: Any,
    step: Callable[[str], None],
) -> Analysis:
    """:func:`run_cohort` once the cohort is open (``species`` resolved): fit the chunks,
    join and assess."""
    [remote] = client.scatter([source], broadcast=True, hash=False)
    # The scale is the whole cohort's, known only once every chunk is read: the chunks are
    # fitted with the first chunk's scale and summarised in the same pass, and refitted only
    # when the cohort turns out otherwise (so the data are read once, not twice).
    sums = options.scale == "auto"
    first = client.submit(
        _summarise, remote, *chunks[0], sums=sums, species=species, pure=False
    ).result()
    guess = _scale_of([first], options.scale)
    step(f"scale of the first chunk: {guess.scale}; deconvolving")
    sig = client.scatter(signature, broadcast=True, hash=False)
    fit = functools.partial(_fit_all, client, remote, chunks, sig, options, species, step)
    parts = fit(guess)
    cohort = _scale_of([p.summary for p in parts], options.scale)
    if cohort.logs is not None and cohort.logs.refusal:  # centred, as the whole table is judged
        raise cohort.logs.refusal
    if (cohort.scale, cohort.floor) != (guess.scale, guess.floor):
        step(f"scale of the cohort: {cohort.scale}; deconvolving again")
        parts = fit(cohort)
    for part in parts:
        if part.error is not None:
            raise part.error
    log_warnings = cohort.logs.warnings if cohort.logs else ()
    expression = _expression(path, source, parts, cohort.scale, log_warnings, species)
    result = _join([p.result for p in parts if p.result is not None], log_warnings)
    return _assess_cohort(expression, signature, options, result, parts, step)


def _fit_all(
    client: Any,
    source: Any,
    chunks: list[tuple[int, int]],
    signature: Any,
    options: RunOptions,
    species: str,
    step: Callable[[str], None],
    scale: _CohortScale,
) -> list[_ChunkFit]:
    """Every chunk fitted with ``scale``, in file order (each gathered as it is done)."""
    futures = [
        client.submit(
            _fit_chunk,
            source,
            a,
            b,
            scale=scale.scale,
            floor=scale.floor,
            signature=signature,
            options=options,
            species=species,
            pure=False,
        )
        for a, b in chunks
    ]
    parts = []
    for i, future in enumerate(futures):
        parts.append(future.result())
        future.release()
        if i == 0 and parts[0].error is not None:  # the first chunk's own scale: a real error
            raise parts[0].error
        step(f"chunk {i + 1} of {len(chunks)} fitted")
    return parts


def _expression(
    path: str | os.PathLike,
    source: ChunkedSource,
    parts: list[_ChunkFit],
    detected: str,
    log_warnings: tuple[DeconvWarning, ...],
    species: str,
) -> ExpressionData:
    """The cohort's :class:`ExpressionData`: its history, its shape, no table in memory
    (mouse data: the mouse gene ids, which a mouse signature's note counts)."""
    samples = [s for p in parts for s in p.samples]
    warnings = _replace_log(all_warnings(*(p.warnings for p in parts)), log_warnings)
    if not samples:
        raise InputError(
            "No sample of the expression has any non-zero value; check that the right file "
            "and columns were chosen."
        )
    first = next(p for p in parts if p.result is not None)
    return ExpressionData(
        table=pd.DataFrame(),
        name=Path(path).name,
        sha256=sha256_of(path),
        read_info=source.read_info,
        transposed=False,
        id_type=first.id_type,
        gene_changes=first.gene_changes,
        scale=detected,
        transformation=first.transformation,
        warnings=(
            *warnings,
            *names_warning(samples, what="sample names"),
            *first.species_warnings,
        ),
        species=species,
        native_table=None if first.native_genes is None else pd.DataFrame(index=first.native_genes),
        shape_on_disk=(first.n_genes, len(samples)),
    )


def _replace_log(
    warnings: tuple[DeconvWarning, ...], log_warnings: tuple[DeconvWarning, ...]
) -> tuple[DeconvWarning, ...]:
    """Chunks name their own maximum and floor in ``log_scale``; the cohort's warnings
    (``log_base_unknown`` if the base was not told, then ``log_scale``) name the cohort's."""
    if not log_warnings:
        return warnings
    return all_warnings(*(log_warnings if w.code == "log_scale" else (w,) for w in warnings))


def _join(results: list[DeconvResult], log_warnings: tuple[DeconvWarning, ...]) -> DeconvResult:
    """The chunks' results as one (samples in file order)."""
    genes = results[0].genes_used
    for r in results[1:]:
        if r.genes_used != genes:
            lost = sorted(set(genes) ^ set(r.genes_used))
            raise InputError(
                f"Signature gene(s) {', '.join(lost[:5])} have values in some chunks of samples "
                "and none in others, so the chunks would be fitted on different genes; fill "
                "the missing values, drop those genes, or use the in-memory engine."
            )
    warnings = all_warnings(*(r.warnings for r in results))
    by_rows = lambda name: pd.concat([getattr(r, name) for r in results], axis=0)  # noqa: E731
    by_cols = lambda name: pd.concat([getattr(r, name) for r in results], axis=1)  # noqa: E731
    codes = {w.code for w in warnings}
    first = results[0]
    proportions = by_rows("proportions")
    return replace(
        first,
        proportions=proportions,
        coefficients=by_rows("coefficients"),
        sample_coverage=_sample_coverage(results),
        fit=by_rows("fit"),
        fitted=by_cols("fitted"),
        residuals=by_cols("residuals"),
        observed=by_cols("observed"),
        robustness=by_cols("robustness"),
        warnings=warnings,
        meaning=meaning_for(first.mode, codes | {w.code for w in log_warnings}, proportions),
    )


def _sample_coverage(results: list[DeconvResult]) -> pd.DataFrame:
    """The chunks' per-sample coverage rows as one table (only chunks with gaps count:
    an empty table would make every column ``object``)."""
    gaps = [r.sample_coverage for r in results if len(r.sample_coverage)]
    return pd.concat(gaps, ignore_index=True) if gaps else results[0].sample_coverage


def _assess_cohort(
    expression: ExpressionData,
    signature: Signature,
    options: RunOptions,
    result: DeconvResult,
    parts: list[_ChunkFit],
    step: Callable[[str], None],
) -> Analysis:
    """The run-wide checks on the joined result, then the verdicts."""
    intervals = None
    if options.bootstrap:
        intervals = pd.concat([p.intervals for p in parts if p.intervals is not None])
        intervals = intervals.reset_index(drop=True)
    p_values = None
    if options.permutations:
        step(f"permutation test: {options.permutations} random mixtures")
        null = permutation_null(
            _null_subset(result, options.seed),
            n_permutations=options.permutations,
            seed=options.seed,
        )
        observed_r = result.fit["pearson_r"].to_numpy(dtype=float)
        p_values = pd.Series(
            permutation_p_values(null, observed_r), index=result.fit.index.copy(), name="p_value"
        )
    estimates = None
    if options.methods:
        estimates = join_estimates([p.methods for p in parts if p.methods is not None])
    return confound_and_assess(
        expression,
        signature,
        options,
        result,
        p_values=p_values,
        intervals=intervals,
        step=step,
        estimates=estimates,
    )


def _null_subset(result: DeconvResult, seed: int) -> DeconvResult:
    """``result`` on a seeded random subset of ``NULL_SAMPLES`` samples (all when fewer)."""
    n = result.observed.shape[1]
    if n <= NULL_SAMPLES:
        return result
    rng = np.random.default_rng([int(seed), _NULL_SUBSET_STREAM])
    chosen = np.sort(rng.choice(n, size=NULL_SAMPLES, replace=False))
    return replace(result, observed=result.observed.iloc[:, chosen])

"""Build a signature from single-cell RNA-seq counts, and check it on held-out cells.

Input is a :class:`~deconv_core.io.singlecell.SingleCellData` from
:func:`deconv_core.io.singlecell.read_single_cell` (counts or log data, labels,
harmonised genes; see that module).  The held-out validation (step 6) is in
:mod:`deconv_core.singlecell_validation`; writing the build to files is
:func:`deconv_core.singlecell_write.write_signature_build`.

Method (:func:`build_signature`)
--------------------------------
1. Cell types with fewer than ``min_cells`` cells are left out (warning
   ``few_cells``); at least two must remain.
2. Pseudo-bulk profiles: each cell is scaled to one million (counts per
   million, CPM) and the cells of a type are averaged: genes × cell types on a
   TPM-like scale (no gene-length correction, which UMI data do not need).
3. mRNA content: the median total counts per cell of each type, used as the
   signature's mRNA-scaling factors so that fits of bulk data give cell (not
   mRNA) fractions, as TIL10's factors do in quanTIseq.
4. Marker candidates, for every ordered pair of cell types (a, b): genes at
   least ``2**min_log2_fold_change`` times higher in a than in b (mean CPM,
   pseudo-count 1) and detected (count > 0) in at least ``min_detection`` of
   a's cells, ranked by log2 fold change times detection (a gene seen in few
   of a's cells gives a noisy profile however large its fold change).  Pairs
   rather than "a against the runner-up type": closely related types (CD4,
   CD8 and regulatory T cells) have almost no gene above every other type, but
   many that tell each pair apart, and a fit needs every pair separable.  The
   same idea underlies the pairwise or hierarchical gene selection of
   Rectangle (Hausmann 2024) and the distance-between-centroids criterion of
   AutoGeneS (Aliee & Theis 2021).  A pair with fewer than 3 candidates takes
   its genes with any positive fold change (warning ``weak_markers``); a pair
   of types no gene tells apart in either direction is refused.
5. Gene count: the signature is the union of the top ``n`` candidates of every
   ordered pair, ``n`` from ``min_markers`` to ``max_markers``; the ``n`` with
   the lowest condition number is kept (CIBERSORT's rule, Newman et al. 2015),
   and the condition number is reported.  The signature's platform is
   ``single-cell RNA-seq (pseudo-bulk)``, which makes
   :func:`deconv_core.deconvolve.deconvolve` weigh its genes by relative error
   (see :func:`deconv_core.deconvolve.choose_weighting`).
6. Validation (:mod:`deconv_core.singlecell_validation`): ``test_fraction`` of
   every type's cells are held out (seeded).
   Steps 2-5 are rerun on the remaining cells; ``n_mixtures`` pseudo-bulk
   mixtures of ``cells_per_mixture`` held-out cells each, with Dirichlet(1)
   proportions, are summed from their raw counts and deconvolved with
   :func:`deconv_core.deconvolve.deconvolve` (relative mode); Pearson r and
   RMSE against the cell fractions drawn are reported per type and pooled.
   The returned signature is then built from all cells with the same
   parameters, so the validation measures the method on unseen cells rather
   than this exact matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import zip_longest

import numpy as np
import pandas as pd
import scipy  # scipy.sparse loads on first use: a plain run never needs it

from deconv_core.identifiability import condition_number
from deconv_core.io.singlecell import SingleCellData
from deconv_core.options import BUILD_DEFAULTS, MAX_MIXTURES, check_count, check_fraction
from deconv_core.ranking import average_ranks
from deconv_core.signatures import Signature, check_signature
from deconv_core.singlecell_validation import HeldOutValidation, split_cells, validate_held_out
from deconv_core.thresholds import RECOVERY_R, WHOLE_TRANSCRIPTOME_GENES
from deconv_core.validation import DeconvWarning, InputError

__all__ = ["SignatureBuild", "build_signature"]

_MIN_CANDIDATES = 3
#: The platform of a built signature (it chooses relative-error gene weights in a fit).
SINGLE_CELL_PLATFORM = "single-cell RNA-seq (pseudo-bulk)"
# Fewer genes than this are not a whole transcriptome (absolute mode normalises
# bulk over all its genes; the deconvolve module asks for 5,000 at least).


@dataclass(frozen=True)
class SignatureBuild:
    """A signature built from single-cell data and its validation.

    Attributes
    ----------
    signature
        The signature: marker genes × cell types, CPM-like, with
        mRNA-scaling factors (median counts per cell) when the input was raw
        counts.
    profiles
        All genes × cell types: the pseudo-bulk profiles (mean per-cell CPM).
    markers
        One row per selected marker of each cell type (a gene can be a
        marker of several): ``cell_type``, ``rank``, ``gene``, ``expression``
        (CPM), ``versus`` (the other types of the pairs that selected the gene,
        joined by "; "), ``log2_fold_change`` (its smallest log2 fold change
        over those types, pseudo-count 1 CPM: at least ``min_log2_fold_change``
        except in the pairs of a ``weak_markers`` warning), ``runner_up`` (the
        other type where the gene is highest) and ``log2_fold_change_runner_up``
        (over it; negative when the gene is higher there, as a marker against
        some types need not be highest in its own), ``detection`` (share of the
        type's cells with a count), ``detection_elsewhere`` (highest share
        among the other types), ``auc`` (chance that a cell of the type has
        more of the gene than a cell of another type).
    cells
        Per cell type (index ``cell_type``): ``n_cells``, ``used`` (bool),
        ``n_train``, ``n_test`` (validation split), ``median_counts``.
    conditioning
        The gene-count search: ``markers_per_pair``, ``n_genes``,
        ``condition_number``, ``chosen`` (bool).
    condition_number
        Of the returned signature (2-norm).
    validation
        Per cell type, then ``all`` (pooled over mixtures × types): ``pearson_r``,
        ``rmse``, ``mean_true``, ``mean_estimate``, ``n_train``, ``n_test``.
    mixture_truth, mixture_estimate
        Mixtures × cell types: cell fractions drawn and estimated.
    parameters
        Every parameter of the build (for a manifest).
    warnings
        Everything worth knowing, as data.
    """

    signature: Signature
    profiles: pd.DataFrame
    markers: pd.DataFrame
    cells: pd.DataFrame
    conditioning: pd.DataFrame
    condition_number: float
    validation: pd.DataFrame
    mixture_truth: pd.DataFrame
    mixture_estimate: pd.DataFrame
    parameters: dict[str, object] = field(default_factory=dict)
    warnings: tuple[DeconvWarning, ...] = ()


# ---------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Profiles:
    cpm: np.ndarray  # genes × types, mean per-cell CPM
    detection: np.ndarray  # genes × types, share of cells with a count
    median_counts: np.ndarray  # types
    cell_cpm: scipy.sparse.csr_array  # genes × cells, per-cell CPM
    codes: np.ndarray  # cells, type of each cell


def _profiles(counts: scipy.sparse.csc_array, codes: np.ndarray, k: int) -> _Profiles:
    """Pseudo-bulk profiles of the cells ``counts`` (genes × cells), types ``codes``."""
    totals = np.asarray(counts.sum(axis=0)).ravel()
    scale = np.where(totals > 0, 1e6 / np.where(totals > 0, totals, 1.0), 0.0)
    n = counts.shape[1]
    membership = scipy.sparse.csr_array((np.ones(n), (np.arange(n), codes)), shape=(n, k))
    sizes = np.bincount(codes, minlength=k).astype(float)
    cpm = counts @ scipy.sparse.diags_array(scale)
    binary = counts.copy()
    binary.data = (binary.data > 0).astype(np.float64)
    mean_cpm = np.asarray((cpm @ membership).todense()) / sizes
    detection = np.asarray((binary @ membership).todense()) / sizes
    median = np.array([np.median(totals[codes == t]) for t in range(k)])
    return _Profiles(
        cpm=mean_cpm,
        detection=detection,
        median_counts=median,
        cell_cpm=scipy.sparse.csr_array(cpm),
        codes=codes,
    )


def _candidates(
    profiles: _Profiles, types: list[str], *, min_log2_fold_change: float, min_detection: float
) -> tuple[list[list[np.ndarray]], list[str]]:
    """Ranked marker candidates for every ordered pair of types, and the weak pairs.

    ``ranked[a][b]`` holds the gene positions higher in type ``a`` than in type
    ``b`` (empty for ``a == b``), best first.
    """
    cpm, detection = profiles.cpm, profiles.detection
    k = cpm.shape[1]
    log_cpm = _log_cpm(cpm)
    ranked: list[list[np.ndarray]] = []
    weak: list[str] = []
    for a in range(k):
        detected = detection[:, a] >= min_detection
        ranked.append([])
        for b in range(k):
            fold = log_cpm[:, a] - log_cpm[:, b]
            genes = np.flatnonzero(detected & (fold >= min_log2_fold_change)) if a != b else []
            if a != b and len(genes) < _MIN_CANDIDATES:
                # Only the few best fold changes: a longer list of barely higher genes
                # would fill the profile with housekeeping genes shared by both types.
                weak.append(f"{types[a]} over {types[b]}")
                genes = np.flatnonzero(detected & (fold > 0))
            genes = np.asarray(genes, dtype=np.int64)
            # Fold change times detection: a gene seen in few of the type's cells
            # gives a noisy profile however large its mean fold change.
            score = fold[genes] * detection[genes, a]
            ranked[a].append(genes[np.argsort(-score, kind="stable")])
    return ranked, weak


def _log_cpm(cpm: np.ndarray) -> np.ndarray:
    """log2(CPM + 1): the scale of every fold change of the build (barely expressed genes
    stay small)."""
    return np.log2(cpm + 1.0)


def _marker_rows(
    prof: _Profiles, ranked: list[list[np.ndarray]], n: int, t: int, types: list[str]
) -> pd.DataFrame:
    """The markers of type ``t``: its ``n`` best genes against each other type, in turn.

    Each gene is listed with the types of the pairs that selected it
    (``versus``) and its smallest log2 fold change over them, which is what
    the selection guarantees; ``runner_up`` is the other type where the gene is
    highest, with the fold change over it (negative when the gene is higher
    there: a marker against some types need not be highest in its own).
    """
    pairs = [pair[:n] for pair in ranked[t]]
    rows = np.asarray(_interleaved(pairs), dtype=np.int64)
    log_cpm = _log_cpm(prof.cpm[rows])
    others = np.array([b for b in range(len(types)) if b != t], dtype=np.int64)
    selected = np.array([np.isin(rows, pair) for pair in pairs]).T  # rows × types
    fold = log_cpm[:, [t]] - log_cpm
    runner = others[np.argmax(prof.cpm[np.ix_(rows, others)], axis=1)]
    positions = np.arange(rows.size)
    names = np.asarray(types, dtype=object)
    return pd.DataFrame(
        {
            "cell_type": types[t],
            "rank": positions + 1,
            "expression": prof.cpm[rows, t],
            "versus": ["; ".join(names[flags]) for flags in selected],
            "log2_fold_change": np.where(selected, fold, np.inf).min(axis=1),
            "runner_up": names[runner],
            "log2_fold_change_runner_up": fold[positions, runner],
            "detection": prof.detection[rows, t],
            "detection_elsewhere": prof.detection[np.ix_(rows, others)].max(axis=1),
            "auc": _auc(prof.cell_cpm, rows, prof.codes == t),
            "row": rows,
        }
    )


def _pair_union(ranked: list[list[np.ndarray]], n: int) -> np.ndarray:
    """Gene positions among the ``n`` best of every ordered pair of types, sorted."""
    parts = [pair[:n] for per_type in ranked for pair in per_type]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def _auc(cell_cpm: scipy.sparse.csr_array, rows: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Area under the ROC curve of each gene in ``rows`` separating ``own`` cells from the rest.

    The Mann-Whitney U statistic / (n_own × n_rest), ties counted half: the
    chance that a random cell of the type expresses the gene more than a random
    other cell (the statistic behind Wilcoxon marker tests in scanpy and Seurat).
    """
    if rows.size == 0:
        return np.zeros(0)
    values = cell_cpm[rows].toarray()
    ranks = average_ranks(values, axis=1)
    n_own, n_rest = int(own.sum()), int((~own).sum())
    if n_rest == 0:
        return np.ones(rows.size)
    u = ranks[:, own].sum(axis=1) - n_own * (n_own + 1) / 2
    return u / (n_own * n_rest)


def _choose_markers(
    cpm: np.ndarray, ranked: list[list[np.ndarray]], *, min_markers: int, max_markers: int
) -> tuple[int, np.ndarray, pd.DataFrame]:
    """Markers per pair of types minimising the condition number; n, gene rows, the search."""
    search = []
    best: tuple[float, int, np.ndarray] | None = None
    seen: set[tuple[int, ...]] = set()
    for n in range(min_markers, max_markers + 1):
        genes = _pair_union(ranked, n)
        key = tuple(genes)
        if key in seen:  # no pair has more candidates: same matrix as before
            continue
        seen.add(key)
        kappa = condition_number(cpm[genes])
        search.append({"markers_per_pair": n, "n_genes": genes.size, "condition_number": kappa})
        if best is None or kappa < best[0]:
            best = (kappa, n, genes)
    assert best is not None
    table = pd.DataFrame(search)
    table["chosen"] = table["markers_per_pair"] == best[1]
    return best[1], best[2], table


@dataclass(frozen=True)
class _Built:
    matrix: pd.DataFrame
    profiles: pd.DataFrame
    markers: pd.DataFrame
    conditioning: pd.DataFrame
    condition_number: float
    mrna: dict[str, float]
    weak: list[str]


def _build(
    counts: scipy.sparse.csc_array,
    codes: np.ndarray,
    types: list[str],
    genes: pd.Index,
    *,
    min_log2_fold_change: float,
    min_detection: float,
    min_markers: int,
    max_markers: int,
    with_mrna: bool,
) -> _Built:
    k = len(types)
    prof = _profiles(counts, codes, k)
    ranked, weak = _candidates(
        prof, types, min_log2_fold_change=min_log2_fold_change, min_detection=min_detection
    )
    _check_separable(ranked, types, min_detection)
    n, rows, search = _choose_markers(
        prof.cpm, ranked, min_markers=min_markers, max_markers=max_markers
    )
    profiles = pd.DataFrame(prof.cpm, index=genes, columns=types)
    profiles.index.name = "gene_symbol"
    # A type's markers: its best genes against each other type, taken in turn.
    per_type = [_marker_rows(prof, ranked, n, t, types) for t in range(k)]
    matrix = profiles.iloc[list(dict.fromkeys(int(r) for part in per_type for r in part["row"]))]
    markers = pd.concat(per_type, ignore_index=True)
    markers.insert(2, "gene", [str(genes[r]) for r in markers.pop("row")])
    mrna = (
        {t: float(m) for t, m in zip(types, prof.median_counts, strict=True)} if with_mrna else {}
    )
    return _Built(
        matrix=matrix,
        profiles=profiles,
        markers=markers,
        conditioning=search,
        condition_number=condition_number(matrix),
        mrna=mrna,
        weak=weak,
    )


def _interleaved(lists: list[np.ndarray]) -> list[int]:
    """The genes of several ranked lists, first of each, then second of each, ... (no repeats)."""
    return list(
        dict.fromkeys(int(g) for tier in zip_longest(*lists) for g in tier if g is not None)
    )


def _check_separable(ranked: list[list[np.ndarray]], types: list[str], min_detection: float):
    """Refuse pairs of cell types that no gene tells apart in either direction."""
    k = len(types)
    same = [
        f"{types[a]} and {types[b]}"
        for a in range(k)
        for b in range(a + 1, k)
        if ranked[a][b].size == 0 and ranked[b][a].size == 0
    ]
    if same:
        raise InputError(
            f"No gene is higher in one than in the other of {'; '.join(same)} (and detected "
            f"in at least {min_detection:.0%} of its cells), so they cannot be told apart; "
            "merge their labels or lower the detection threshold."
        )


#: The parameters of :func:`build_signature` that choose the markers (passed to :func:`_build`).
_MARKER_OPTIONS = ("min_log2_fold_change", "min_detection", "min_markers", "max_markers")


def build_signature(
    data: SingleCellData,
    *,
    min_cells: int = int(BUILD_DEFAULTS["min_cells"]),
    min_log2_fold_change: float = BUILD_DEFAULTS["min_log2_fold_change"],
    min_detection: float = BUILD_DEFAULTS["min_detection"],
    min_markers: int = int(BUILD_DEFAULTS["min_markers"]),
    max_markers: int = int(BUILD_DEFAULTS["max_markers"]),
    test_fraction: float = BUILD_DEFAULTS["test_fraction"],
    n_mixtures: int = int(BUILD_DEFAULTS["n_mixtures"]),
    cells_per_mixture: int = int(BUILD_DEFAULTS["cells_per_mixture"]),
    seed: int = int(BUILD_DEFAULTS["seed"]),
    name: str = "single-cell signature",
) -> SignatureBuild:
    """Build a signature from labelled single-cell data and validate it.

    The method and its parameters are described in the module docstring.

    Parameters
    ----------
    data
        Labelled single-cell data from :func:`read_single_cell`.
    min_cells
        Cell types with fewer cells are left out (warning ``few_cells``).
    min_log2_fold_change
        Marker threshold: log2 of the fold change of a type over the other type
        of each ordered pair (default 1, a two-fold change), on mean CPM with
        pseudo-count 1.
    min_detection
        Marker threshold: share of the type's cells with a non-zero count.
    min_markers, max_markers
        Range of markers per ordered pair of cell types searched for the lowest
        condition number.
    test_fraction
        Share of each type's cells held out for validation.
    n_mixtures, cells_per_mixture
        Size of the simulated pseudo-bulk validation.
    seed
        Seed of the split and of the mixtures; the same seed gives the same result.
    name
        Name of the signature.

    Returns
    -------
    SignatureBuild
        The signature (marker genes × cell types, CPM-like, linear), its
        markers, conditioning, cell counts, validation and warnings.

    Raises
    ------
    InputError
        Bad parameters, fewer than two cell types with ``min_cells`` cells, or
        a cell type without any marker gene.
    """
    _check_build_options(
        min_cells=min_cells,
        test_fraction=test_fraction,
        min_markers=min_markers,
        max_markers=max_markers,
        n_mixtures=n_mixtures,
        cells_per_mixture=cells_per_mixture,
        min_detection=min_detection,
        min_log2_fold_change=min_log2_fold_change,
    )
    warnings: list[DeconvWarning] = list(data.warnings)
    sizes = data.cell_type_counts()
    used_types, few_cells = _usable_cell_types(sizes, min_cells)
    warnings.extend(few_cells)
    position = {t: i for i, t in enumerate(used_types)}
    keep, counts, codes = _used_cells(data, position)
    chosen = {
        "min_cells": min_cells,
        "min_log2_fold_change": min_log2_fold_change,
        "min_detection": min_detection,
        "min_markers": min_markers,
        "max_markers": max_markers,
        "test_fraction": test_fraction,
        "n_mixtures": n_mixtures,
        "cells_per_mixture": cells_per_mixture,
        "seed": seed,
    }
    options = {k: chosen[k] for k in _MARKER_OPTIONS} | {"with_mrna": data.scale == "counts"}
    held_out = _validate_on_held_out_cells(
        counts,
        codes,
        used_types,
        data.genes,
        name=name,
        options=options,
        test_fraction=test_fraction,
        n_mixtures=n_mixtures,
        cells_per_mixture=cells_per_mixture,
        seed=seed,
    )

    # The signature itself, from all cells.
    final = _build(counts, codes, used_types, data.genes, **options)
    warnings.extend(_weak_marker_warnings(final, min_log2_fold_change))
    check_signature(final.matrix, what="built signature")
    warnings.extend(_coverage_warnings(data, held_out.validation))
    return SignatureBuild(
        signature=_built_signature(name, data, final, held_out.validation, n_cells=len(keep)),
        profiles=final.profiles,
        markers=final.markers,
        cells=_cells_table(data, sizes, position, held_out),
        conditioning=final.conditioning,
        condition_number=final.condition_number,
        validation=held_out.validation,
        mixture_truth=held_out.mixture_truth,
        mixture_estimate=held_out.mixture_estimate,
        parameters=_parameters_record(chosen, final, data.scale),
        warnings=tuple(warnings),
    )


def _used_cells(
    data: SingleCellData, position: dict[str, int]
) -> tuple[np.ndarray, scipy.sparse.csc_array, np.ndarray]:
    """Positions, counts (genes × cells) and type codes of the cells of the used types."""
    keep = np.flatnonzero(data.labels.isin(list(position)).to_numpy())
    counts = scipy.sparse.csc_array(data.counts[:, keep])
    codes = np.array([position[t] for t in data.labels.to_numpy()[keep]], dtype=np.int64)
    return keep, counts, codes


def _validate_on_held_out_cells(
    counts: scipy.sparse.csc_array,
    codes: np.ndarray,
    used_types: list[str],
    genes: pd.Index,
    *,
    name: str,
    options: dict,
    test_fraction: float,
    n_mixtures: int,
    cells_per_mixture: int,
    seed: int,
) -> HeldOutValidation:
    """Build a signature without the held-out cells and deconvolve mixtures of them."""
    rng = np.random.default_rng(seed)
    train, test = split_cells(codes, len(used_types), test_fraction, rng)
    trained = _build(counts[:, train], codes[train], used_types, genes, **options)
    return validate_held_out(
        counts,
        codes,
        train,
        test,
        Signature(
            name=name,
            matrix=trained.matrix,
            mrna_scaling=trained.mrna,
            platform=SINGLE_CELL_PLATFORM,
        ),
        genes,
        n_mixtures=n_mixtures,
        cells_per_mixture=cells_per_mixture,
        rng=rng,
    )


def _parameters_record(chosen: dict, final: _Built, input_scale: str) -> dict:
    """The parameters as recorded: those chosen, markers per pair of types kept, input scale."""
    kept = final.conditioning.loc[final.conditioning["chosen"], "markers_per_pair"]
    return {**chosen, "markers_per_pair": int(kept.iloc[0]), "input_scale": input_scale}


def _check_build_options(
    *,
    min_cells: int,
    test_fraction: float,
    min_markers: int,
    max_markers: int,
    n_mixtures: int,
    cells_per_mixture: int,
    min_detection: float,
    min_log2_fold_change: float,
) -> None:
    """Raise :class:`InputError` for a parameter of :func:`build_signature` out of range."""
    check_count(min_cells, "The fewest cells per cell type (one to train, one to test)", minimum=2)
    check_fraction(test_fraction, "The held-out share of cells")
    if not 1 <= min_markers <= max_markers:
        raise InputError(
            "The fewest markers per pair of cell types must be at least 1 and at most the most "
            "markers; "
            f"got {min_markers} and {max_markers}."
        )
    if n_mixtures > MAX_MIXTURES:
        raise InputError(
            f"The validation takes at most {MAX_MIXTURES:,} mixtures; got {n_mixtures:,}. "
            f"Give {MAX_MIXTURES:,} or fewer."
        )
    if n_mixtures < 3 or cells_per_mixture < 10:
        raise InputError(
            "The validation needs at least 3 mixtures of at least 10 cells each; "
            f"got {n_mixtures} mixtures of {cells_per_mixture} cells."
        )
    check_fraction(min_detection, "The detection share of a marker", closed=True)
    if not min_log2_fold_change >= 0:  # NaN too: every gene would pass a negative threshold
        raise InputError(
            "The marker fold change (log2) must be 0 or more (1: two-fold higher in a cell type "
            f"than in the other of a pair); got {min_log2_fold_change:g}."
        )


def _usable_cell_types(sizes: pd.Series, min_cells: int) -> tuple[list[str], list[DeconvWarning]]:
    """Cell types with at least ``min_cells`` cells, and a ``few_cells`` warning for the rest."""
    small = sizes[sizes < min_cells]
    used_types = [str(t) for t in sizes.index if sizes[t] >= min_cells]
    warnings = []
    if not small.empty:
        listing = ", ".join(f"{t} ({n} cells)" for t, n in small.items())
        warnings.append(
            DeconvWarning(
                "warning",
                "few_cells",
                f"Cell types with fewer than {min_cells} cells were left out of the signature: "
                f"{listing}; a profile from so few cells is unreliable.",
                cli="Lower --min-cells to keep them.",
                app="Lower 'Minimum cells per type' to keep them.",
            )
        )
    if len(used_types) < 2:
        raise InputError(
            f"Only {len(used_types)} cell type(s) have at least {min_cells} cells "
            f"({', '.join(f'{t}: {n}' for t, n in sizes.items())}); a signature needs at least "
            "two.",
            cli="Label more cells or lower --min-cells.",
            app="Label more cells or lower 'Minimum cells per type'.",
        )
    return used_types, warnings


def _weak_marker_warnings(final: _Built, min_log2_fold_change: float) -> list[DeconvWarning]:
    if not final.weak:
        return []
    return [
        DeconvWarning(
            "warning",
            "weak_markers",
            f"Fewer than {_MIN_CANDIDATES} genes are at least "
            f"{2**min_log2_fold_change:.3g}-fold higher in one cell type than in another for "
            f"{', '.join(final.weak[:8])}{', ...' if len(final.weak) > 8 else ''}; weaker "
            "markers were used and these types may be hard to tell apart.",
        )
    ]


def _coverage_warnings(data: SingleCellData, validation: pd.DataFrame) -> list[DeconvWarning]:
    """Warnings about what the signature covers: genes of the data, cell types recovered."""
    warnings = []
    if data.genes.size < WHOLE_TRANSCRIPTOME_GENES:
        warnings.append(
            DeconvWarning(
                "info",
                "partial_transcriptome",
                f"The single-cell data hold {data.genes.size:,} genes, not a whole "
                "transcriptome; the profiles are shares of these genes, so absolute mode is "
                "refused with this signature: use relative mode.",
            )
        )
    poor = validation.drop(index="all")
    poor = poor[poor["pearson_r"] < RECOVERY_R]
    if not poor.empty:
        warnings.append(
            DeconvWarning(
                "warning",
                "poor_recovery",
                f"On held-out cells the signature recovers {', '.join(poor.index)} poorly "
                f"(r < {RECOVERY_R}); treat their estimates with caution.",
            )
        )
    return warnings


def _cells_table(
    data: SingleCellData, sizes: pd.Series, position: dict[str, int], held_out: HeldOutValidation
) -> pd.DataFrame:
    """Per cell type: cells, whether used, the validation split and median counts per cell."""
    n_train, n_test = held_out.n_train, held_out.n_test
    column_totals = np.asarray(data.counts.sum(axis=0)).ravel()
    return pd.DataFrame(
        {
            "n_cells": sizes.astype(int),
            "used": [t in position for t in sizes.index],
            "n_train": [int(n_train[position[t]]) if t in position else 0 for t in sizes.index],
            "n_test": [int(n_test[position[t]]) if t in position else 0 for t in sizes.index],
            "median_counts": [
                float(np.median(column_totals[np.flatnonzero(data.labels.to_numpy() == t)]))
                for t in sizes.index
            ],
        },
        index=pd.Index([str(t) for t in sizes.index], name="cell_type"),
    )


def _built_signature(
    name: str, data: SingleCellData, final: _Built, validation: pd.DataFrame, *, n_cells: int
) -> Signature:
    """The returned signature with its description and provenance."""
    return Signature(
        name=name,
        matrix=final.matrix,
        title=f"Signature built from single-cell data ({data.name})",
        description=(
            f"{final.matrix.shape[0]} marker genes × {final.matrix.shape[1]} cell types; mean "
            f"per-cell CPM of {n_cells} cells; condition number {final.condition_number:.1f}; "
            f"held-out pseudo-bulk r {validation.loc['all', 'pearson_r']:.2f}."
        ),
        units="CPM-like (per-cell counts per million, mean per cell type; linear)",
        platform=SINGLE_CELL_PLATFORM,
        source=f"built by deconv_core.singlecell.build_signature from {data.name}",
        mrna_scaling=final.mrna,
        # Per-cell CPM over a whole transcriptome of counts is on the bulk's TPM-like
        # scale; over a few thousand genes it is not (deconvolve.absolute_mode_problems).
        whole_transcriptome=bool(final.mrna) and data.genes.size >= WHOLE_TRANSCRIPTOME_GENES,
    )

"""Methods side by side on planted data: recovery, semantics, edge cases, agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deconv_core.analysis import assess
from deconv_core.deconvolve import deconvolve
from deconv_core.expression import load_expression
from deconv_core.genes import load_hgnc
from deconv_core.methods import (
    BASES,
    EPITHELIAL_FILE,
    NU_VALUES,
    MethodResult,
    MethodsComparison,
    agreement_summary,
    compare_methods,
    compared_values,
    constrained_wls,
    epithelial_markers,
    marker_panels,
    marker_scores,
    method_overview,
    methods_table,
    nu_svr,
    resolve_methods,
    run_methods,
    shown_quantity,
    too_few_to_compare,
)
from deconv_core.options import RunOptions
from deconv_core.signatures import Signature
from deconv_core.thresholds import (
    METHOD_AGREEMENT_R,
    METHOD_NEGLIGIBLE,
    MIN_SAMPLES_FOR_AGREEMENT,
)
from deconv_core.validation import InputError
from tests.conftest import planted_mixtures


def _relative(shares: pd.DataFrame) -> pd.DataFrame:
    return shares.div(shares.sum(axis=1), axis=0)


def stromal_mixtures(n_samples: int = 30, *, seed: int = 0, noise: float = 0.3):
    """Tumour-like TPM: TIL10 immune mRNA shares, planted fibroblast and endothelial shares.

    Fibroblast and endothelial profiles are made here: their MCP-counter markers at 300 and
    150 TPM (log-normal noise), everything else background; tumour cells give 2 TPM of every
    stromal marker and 200 TPM of the epithelial markers, and the filler genes carry the rest
    of the million.
    Returns the expression and the planted shares (immune types, Fibroblasts, Endothelial
    cells, tumour), samples as rows.
    """
    rng = np.random.default_rng(seed)
    expr, immune = planted_mixtures(n_samples, covered=1.0, seed=seed, n_filler=6000)
    immune = immune * rng.uniform(0.2, 0.6, size=(n_samples, 1))
    fib = rng.uniform(0.0, 0.25, n_samples)
    endo = rng.uniform(0.0, 0.1, n_samples)
    tumour = 1.0 - immune.sum(axis=1).to_numpy() - fib - endo
    sig_genes = expr.index[~expr.index.str.startswith("FILLER")]
    signal = expr.loc[sig_genes] * (immune.sum(axis=1) / 1.0).to_numpy()
    panels = marker_panels()
    rows = {}
    for population, level, share in (("Fibroblasts", 300, fib), ("Endothelial cells", 150, endo)):
        for gene in panels[population]:
            rows[gene] = level * share * rng.lognormal(0, noise, n_samples) + 2 * tumour
    for gene in epithelial_markers():  # carcinoma cells: epithelial markers at 200 TPM
        rows[gene] = 200 * tumour * rng.lognormal(0, noise, n_samples)
    stroma = pd.DataFrame(rows, index=expr.columns).T
    filler_total = 1e6 - signal.sum(axis=0) - stroma.sum(axis=0)
    filler = pd.DataFrame(
        rng.dirichlet(np.ones(6000), size=n_samples).T * filler_total.to_numpy(),
        index=[f"FILLER{i}" for i in range(6000)],
        columns=expr.columns,
    )
    planted = immune.copy()
    planted["Fibroblasts"], planted["Endothelial cells"], planted["tumour"] = fib, endo, tumour
    return pd.concat([signal, stroma, filler]), planted


def test_nu_svr_recovers_planted_relative_proportions(til10):
    expr, shares = planted_mixtures(8, noise=0.1, seed=1)
    sig = til10.matrix
    out = nu_svr(expr.loc[sig.index], sig)
    truth = _relative(shares)
    assert out.kind == "fraction"
    assert np.allclose(out.values.sum(axis=1), 1.0)
    assert (out.values.to_numpy() >= 0).all()
    assert np.abs(out.values - truth).to_numpy().max() < 0.08
    assert set(out.details["nu"]) <= {0.25, 0.5, 0.75}


def test_nu_svr_edge_cases_all_zero_sample_and_single_cell_type(til10):
    expr, _ = planted_mixtures(3)
    sig = til10.matrix
    observed = expr.loc[sig.index].copy()
    observed["S2"] = 0.0
    out = nu_svr(observed, sig)
    assert out.values.loc["S2"].isna().all()
    assert [w.sample for w in out.warnings] == ["S2"]
    one = nu_svr(observed[["S1"]], sig[["T.cells.CD8"]])
    assert one.values.loc["S1", "T.cells.CD8"] == pytest.approx(1.0)


def plain_nu_svr(observed: pd.DataFrame, signature: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """The reference: one scikit-learn ``NuSVR`` per sample and ν, in a plain loop.

    ``observed``: genes × samples, linear, NaN where missing; ``signature``: genes × cell
    types, linear.  Returns the fractions (samples × cell types, NaN when not estimated),
    the chosen ν and the RMSE (standardised units; NaN when not estimated), as the
    method was written before its samples were fitted side by side.
    """
    from sklearn.svm import NuSVR

    S = signature.to_numpy(dtype=float)
    S = (S - S.mean()) / (S.std() or 1.0)
    fractions, nus, rmses = [], [], []
    for sample in observed.columns:
        y = observed[sample].to_numpy(dtype=float)
        keep = np.isfinite(y)
        best = (np.full(S.shape[1], np.nan), np.nan, np.nan)
        if keep.sum() > S.shape[1] and np.std(y[keep]) > 0:
            ys = (y[keep] - y[keep].mean()) / y[keep].std()
            for nu in NU_VALUES:
                w = NuSVR(nu=nu, C=1.0, kernel="linear").fit(S[keep], ys).coef_.ravel()
                w = np.clip(w, 0.0, None)
                if not w.sum() > 0:
                    continue
                w = w / w.sum()
                rmse = float(np.sqrt(np.mean((S[keep] @ w - ys) ** 2)))
                if not rmse >= best[2]:  # also true while best[2] is NaN
                    best = (w, nu, rmse)
        fractions.append(best[0])
        nus.append(best[1])
        rmses.append(best[2])
    return np.array(fractions), np.array(nus), np.array(rmses)


@pytest.mark.parametrize("workers", [1, 3])
def test_nu_svr_gives_the_plain_per_sample_fits(til10, monkeypatch, workers):
    # Noisy mixtures, some genes missing in some samples, a sample without signal and
    # one with too few genes: the fractions, the ν and the RMSE are those of the plain
    # loop, on one thread and on several.
    import deconv_core.methods as methods

    monkeypatch.setattr(methods, "SVR_WORKERS", workers)
    expr, _ = planted_mixtures(9, noise=0.3, seed=5)
    sig = til10.matrix
    observed = expr.loc[sig.index].copy()
    rng = np.random.default_rng(5)
    observed = observed.mask(rng.random(observed.shape) < 0.1)  # ~10% of the values missing
    observed["S1"] = expr.loc[sig.index, "S1"]  # one sample with every gene
    observed["S2"] = 0.0
    observed.loc[observed.index[sig.shape[1] :], "S3"] = np.nan  # = cell types: too few
    out = nu_svr(observed, sig)
    fractions, nus, rmses = plain_nu_svr(observed, sig)
    np.testing.assert_allclose(out.values.to_numpy(), fractions, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out.details["nu"].to_numpy(), nus)
    np.testing.assert_allclose(out.details["rmse"].to_numpy(), rmses, rtol=0, atol=1e-9)
    assert np.isnan(fractions[1:3]).all() and np.isfinite(fractions[3:]).all()
    assert [w.sample for w in out.warnings] == ["S2", "S3"]
    assert list(out.values.index) == list(observed.columns)


def test_nu_svr_of_no_sample_is_an_empty_table(til10):
    out = nu_svr(pd.DataFrame(index=til10.matrix.index), til10.matrix)
    assert out.values.shape == (0, til10.matrix.shape[1])
    assert list(out.details.columns) == ["nu", "rmse"] and out.details.empty
    assert out.warnings == ()


def _without_factors(sig: Signature) -> Signature:
    return Signature(name="planted", matrix=sig.matrix, whole_transcriptome=True)


def test_constrained_wls_recovers_shares_and_other(til10):
    expr, shares = planted_mixtures(6, covered=0.6, noise=0.05, seed=2)
    sig = _without_factors(til10)
    out = constrained_wls(expr.loc[sig.matrix.index], sig, list(sig.matrix.index))
    assert out.kind == "fraction"
    assert np.abs(out.values["other"] - 0.4).max() < 0.05
    # Without mRNA factors the covered fractions are the mRNA shares themselves.
    assert np.abs(out.values[shares.columns] - shares).to_numpy().max() < 0.05
    assert np.allclose(out.values.sum(axis=1), 1.0)
    codes = {w.code for w in out.warnings}
    assert "epic_uniform_weights" in codes and "epic_other_unreliable" in codes
    assert not out.applicable  # no mRNA factors: it never flags the robust fit
    up = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    robust = _scored({"A": up, "B": up[::-1]}, "robust")
    reversed_epic = _scored({"A": up[::-1], "B": up}, "epic").values
    for applicable, flagged in ((True, True), (False, False)):
        epic = MethodResult("epic", "fraction", "", reversed_epic, applicable=applicable)
        agreement, _ = compare_methods([robust, epic])
        assert agreement["flagged"].tolist() == [flagged, flagged]


def test_constrained_wls_caps_the_sum_at_one_and_skips_an_empty_sample(til10):
    expr, _ = planted_mixtures(3, covered=1.0)
    observed = expr.loc[til10.matrix.index] * 1.6  # more than the whole sample
    observed["S3"] = 0.0
    out = constrained_wls(observed, til10, list(til10.matrix.index))
    assert out.details.loc[["S1", "S2"], "mrna_share"].to_numpy() == pytest.approx(1.0, abs=1e-3)
    assert out.values.loc[["S1", "S2"], "other"].to_numpy() == pytest.approx(0.0, abs=1e-3)
    assert out.values.loc["S3"].isna().all()
    assert "epic_other_unreliable" not in {w.code for w in out.warnings}  # TIL10 qualifies
    assert out.applicable


def test_constrained_wls_uses_variability_weights(til10):
    expr, shares = planted_mixtures(4, covered=0.5, seed=3)
    sig = _without_factors(til10)
    observed = expr.loc[sig.matrix.index].copy()
    noisy = sig.matrix.index[:20]
    observed.loc[noisy] *= 5.0  # genes the reference says are highly variable
    variability = sig.matrix * 0.1
    variability.loc[noisy] = sig.matrix.loc[noisy] * 1000
    genes = list(sig.matrix.index)
    weighted = constrained_wls(observed, sig, genes, variability=variability)
    uniform = constrained_wls(observed, sig, genes)
    err = lambda r: np.abs(r.values[shares.columns] - shares).to_numpy().mean()  # noqa: E731
    assert err(weighted) < err(uniform) / 2
    assert "epic_weights" in {w.code for w in weighted.warnings}


def test_marker_scores_are_scores_invariant_to_library_size_and_report_missing_markers():
    expr, _ = stromal_mixtures(5)
    out = marker_scores(expr)
    assert out.kind == "score" and "not a fraction" in out.units
    doubled = marker_scores(expr * 2.0)
    assert np.allclose(out.values.to_numpy(), doubled.values.to_numpy(), equal_nan=True)
    missing = marker_scores(expr.drop(index=list(marker_panels()["Fibroblasts"])))
    assert missing.values["Fibroblasts"].isna().all()
    assert missing.values["Endothelial cells"].notna().all()
    assert missing.details.loc["Fibroblasts", "markers_found"] == 0
    assert [w.code for w in missing.warnings] == ["markers_missing"]
    assert "Fibroblasts" in missing.warnings[0].message


def test_marker_scores_match_symbols_case_insensitively():
    expr = pd.DataFrame({"S1": [10.0, 5.0, 1e6]}, index=["cd3d", "CD3G", "OTHER"])
    out = marker_scores(expr, {"T cells": ("CD3D", "CD3G", "CD5")})
    assert out.details.loc["T cells", "markers_found"] == 2
    assert out.values.loc["S1", "T cells"] > 0


def test_stromal_scores_track_planted_stroma_and_other_bounds_the_tumour(til10):
    expr, planted = stromal_mixtures(30)
    result = deconvolve(expr, til10, mode="absolute")
    comparison = run_methods(expr, result, til10, ["all"])
    other = comparison.other
    assert other.attrs["kinds"] == {
        "other": "fraction",
        "tumour_at_most": "fraction",
        "Fibroblasts score": "score",
        "Endothelial cells score": "score",
        "Epithelial cells score": "score",
    }
    for population in ("Fibroblasts", "Endothelial cells"):
        r = other[f"{population} score"].corr(planted[population], method="spearman")
        assert r > 0.9, population
    assert other["Epithelial cells score"].corr(planted["tumour"], method="spearman") > 0.9
    # Without most epithelial markers in the data, no epithelial score is claimed.
    few = expr.drop(index=list(epithelial_markers()[:5]))
    kept = run_methods(few, deconvolve(few, til10, mode="absolute"), til10, ["mcp-counter"])
    assert "Epithelial cells score" not in kept.other.columns
    assert (other["tumour_at_most"] >= planted["tumour"] - 0.02).all()


def test_other_composition_is_empty_without_other(til10, planted):
    expr, _ = planted
    result = deconvolve(expr, til10, mode="relative")
    assert run_methods(expr, result, til10, ["mcp-counter"]).other.empty


def _scored(values: dict[str, list[float]], method: str, kind: str = "fraction") -> MethodResult:
    frame = pd.DataFrame(values, index=pd.Index([f"S{i}" for i in range(8)], name="sample"))
    return MethodResult(method, kind, "", frame)


def test_compare_methods_flags_disagreement_with_the_robust_fit():
    up = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    robust = _scored({"A": up, "B": up, "C": [1.0] * 8}, "robust")
    svr = _scored({"A": up, "B": up[::-1], "C": [1.0] * 8}, "nu-svr")
    agreement, warnings = compare_methods([robust, svr])
    row = agreement.set_index("cell_type").loc["B"]
    assert row["spearman_r"] < METHOD_AGREEMENT_R and row["flagged"] and row["n"] == 8
    assert row["disagree_most"].startswith("S0 (0.88)")
    assert not agreement.set_index("cell_type").loc["A", "flagged"]
    assert [w.code for w in warnings if not w.sample] == ["methods_disagree"]
    flagged_samples = {w.sample for w in warnings if w.code == "methods_disagree_sample"}
    assert flagged_samples == {"S0", "S1", "S6", "S7"}


def test_compare_methods_needs_enough_samples_and_matches_scores_to_cell_types():
    short = MIN_SAMPLES_FOR_AGREEMENT - 1
    up = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    robust = _scored({"T.cells.CD4": up, "T.cells.CD8": up, "Tregs": up}, "robust")
    svr = _scored({"T.cells.CD4": up[::-1], "T.cells.CD8": up, "Tregs": up}, "nu-svr")
    agreement, _ = compare_methods(
        [
            MethodResult("robust", "fraction", "", robust.values.iloc[:short]),
            MethodResult("nu-svr", "fraction", "", svr.values.iloc[:short]),
        ]
    )
    assert not agreement["flagged"].any()
    scores = _scored({"CD8 T cells": up, "T cells": up}, "mcp-counter", "score")
    agreement, _ = compare_methods([robust, scores])
    names = set(agreement["cell_type"])
    assert "CD8 T cells (score) ~ T.cells.CD8" in names
    assert "T cells (score) ~ T.cells.CD4 + T.cells.CD8 + Tregs" in names


def test_run_methods_long_table_declares_kinds_and_rejects_unknown(til10, planted):
    expr, _ = planted
    result = deconvolve(expr, til10)
    comparison = run_methods(expr, result, til10, ["all"])
    assert [r.method for r in comparison.results] == ["robust", "nu-svr", "epic", "mcp-counter"]
    table = methods_table(comparison)
    kinds = table.groupby("method")["kind"].unique().map(list).to_dict()
    assert kinds == {
        "robust": ["fraction"],
        "nu-svr": ["fraction"],
        "epic": ["fraction"],
        "mcp-counter": ["score"],
    }
    assert resolve_methods(["epic"]) == ("robust", "epic")
    with pytest.raises(InputError, match="Unknown method 'cibersort'; use one of robust"):
        run_methods(expr, result, til10, ["cibersort"])


def test_disagreement_reaches_the_verdict(til10, tmp_path):
    expr, _ = planted_mixtures(8, noise=0.05, seed=5)
    result = deconvolve(expr, til10)
    svr = result.proportions.copy()
    svr["B.cells"] = svr["B.cells"].to_numpy()[::-1]  # a method that ranks B cells backwards
    results = [
        MethodResult("robust", "fraction", "", result.proportions),
        MethodResult("nu-svr", "fraction", "", svr),
    ]
    agreement, flags = compare_methods(results, names=til10.shown_names)
    methods = MethodsComparison(tuple(results), agreement, pd.DataFrame(), tuple(flags))
    expr.to_csv(tmp_path / "bulk.tsv", sep="\t", index_label="gene")
    expression = load_expression(tmp_path / "bulk.tsv")
    plain = assess(expression, til10, RunOptions(), result)
    flagged = assess(expression, til10, RunOptions(), result, methods=methods)
    named = {w.sample for w in flags if w.code == "methods_disagree_sample"}
    assert named and (plain.verdicts.loc[sorted(named), "verdict"] == "good").all()
    assert (flagged.verdicts.loc[sorted(named), "verdict"] == "check").all()
    reason = flagged.verdicts.loc[sorted(named)[0], "reasons"]
    assert "the methods rank it far apart for B cells (nu-svr)" in reason
    (run_wide,) = [w for w in flagged.warnings if w.code == "methods_disagree"]
    assert "rank samples differently for B cells (" in run_wide.message
    assert run_wide.cell_type == "B.cells" and set(agreement["cell_type"]) >= {"B.cells"}


def test_compared_values_and_summary_for_the_methods_view(til10, planted):
    expr, _ = planted
    result = deconvolve(expr, til10)
    comparison = run_methods(expr, result, til10, ["all"])
    values, kinds = compared_values(comparison, "B lineage (score) ~ B.cells")
    assert kinds == {"robust": "fraction", "nu-svr": "fraction", "epic": "fraction",
                     "mcp-counter": "score"}  # fmt: skip
    assert list(values.index) == list(result.proportions.index)
    summary = agreement_summary(comparison.agreement)
    # Samples where neither method sees B cells (both under METHOD_NEGLIGIBLE) are not ranked.
    b_cells, _ = compared_values(comparison, "B.cells")
    pair = b_cells[["robust", summary.loc["B.cells", "with"]]].dropna()
    seen = int((pair >= METHOD_NEGLIGIBLE).any(axis=1).sum())
    assert 0 < seen <= 6 and summary.loc["B.cells", "n"] == seen
    assert set(summary["with"]) <= {"nu-svr", "epic", "mcp-counter"}
    overview = method_overview(comparison)
    assert list(overview["kind"]) == ["fraction", "fraction", "fraction", "score"]
    with pytest.raises(InputError, match="No method estimates 'Mast cells'"):
        compared_values(comparison, "Mast cells")


def test_epithelial_markers_ship_with_provenance_and_approved_symbols():
    genes = epithelial_markers()
    assert len(genes) == 8 and len(set(genes)) == 8
    assert not [g for g in genes if g not in load_hgnc().approved]
    provenance = (EPITHELIAL_FILE.parent / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "`epithelial_markers.tsv`" in provenance and "MIT (this project)" in provenance


def test_a_compared_quantity_is_shown_with_display_names(til10):
    names = til10.shown_names
    assert shown_quantity("Tregs", names) == "Regulatory T cells"
    assert (
        shown_quantity("T cells (score) ~ T.cells.CD4 + T.cells.CD8 + Tregs", names)
        == "T cells (score) ~ CD4 T cells + CD8 T cells + Regulatory T cells"
    )
    assert shown_quantity("unknown", names) == "unknown" == shown_quantity("unknown", None)


def _shares_and_absolute(seed: int = 7, n: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Relative shares of three cell types, and the same shares of all cells with 'other'.

    'other' varies 0.5-0.96 between samples and rises with the share of A, so A's amount falls
    as its share rises: ranking amounts beside shares disagrees though both describe the same
    cells.
    """
    rng = np.random.default_rng(seed)
    index = pd.Index([f"S{i}" for i in range(n)], name="sample")
    a = np.linspace(0.1, 0.6, n)
    rest = 1.0 - a
    split = rng.uniform(0.3, 0.7, n)
    shares = pd.DataFrame({"A": a, "B": rest * split, "C": rest * (1 - split)}, index=index)
    other = 1.0 - 0.05 / a * np.linspace(1.0, 0.5, n)  # 0.5-0.96, rising faster than A
    absolute = shares.mul(1 - other, axis=0)
    absolute["other"] = other
    return shares, absolute


def _fractions(method: str, values: pd.DataFrame) -> MethodResult:
    return MethodResult(method, "fraction", "", values)


def test_methods_that_agree_up_to_other_are_not_flagged():
    shares, absolute = _shares_and_absolute()
    # Without renormalising, A's amount falls as its share rises: r of the raw values is -1.
    assert shares["A"].corr(absolute["A"], method="spearman") < -0.9
    for robust, other in ((shares, absolute), (absolute, shares)):  # relative and absolute mode
        method = "epic" if "other" in other.columns else "nu-svr"
        agreement, warnings = compare_methods(
            [
                MethodResult("robust", "fraction", "", robust),
                MethodResult(method, "fraction", "", other),
            ]
        )
        rows = agreement.set_index("cell_type")
        assert rows.loc[["A", "B", "C"], "basis"].eq("shares").all()
        assert rows.loc[["A", "B", "C"], "spearman_r"].to_numpy() == pytest.approx(1.0)
        assert not agreement["flagged"].any() and not warnings
        assert "other" not in rows.index  # only one of them estimates it


def test_a_blank_estimate_leaves_the_other_comparisons_whole():
    # The robust fit cannot estimate C in S3 (its markers missing there) and D anywhere:
    # the other cell types are still compared on every sample, C on the others.
    shares, absolute = _shares_and_absolute()
    robust = shares.assign(D=np.nan)
    robust.loc["S3", "C"] = np.nan
    other = absolute.assign(D=0.01)
    agreement, warnings = compare_methods([_fractions("robust", robust), _fractions("epic", other)])
    rows = agreement.set_index("cell_type")
    n = len(shares)
    assert rows.loc["A", "n"] == rows.loc["B", "n"] == n and rows.loc["C", "n"] == n - 1
    assert "D" not in rows.index
    assert rows.loc[["A", "B", "C"], "spearman_r"].to_numpy() == pytest.approx(1.0)
    assert not agreement["flagged"].any() and not warnings
    assert too_few_to_compare(agreement) is None


def test_a_real_disagreement_is_still_flagged_on_the_shares_basis():
    shares, absolute = _shares_and_absolute()
    backwards = shares.copy()
    backwards["A"] = backwards["A"].to_numpy()[::-1]  # a method that ranks A backwards
    backwards = backwards.div(backwards.sum(axis=1), axis=0).mul(1 - absolute["other"], axis=0)
    backwards["other"] = absolute["other"]
    agreement, warnings = compare_methods(
        [
            MethodResult("robust", "fraction", "", shares),
            MethodResult("epic", "fraction", "", backwards),
        ]
    )
    row = agreement.set_index("cell_type").loc["A"]
    assert row["basis"] == "shares" and row["flagged"] and row["spearman_r"] < METHOD_AGREEMENT_R
    assert "A" in {w.cell_type for w in warnings if w.code == "methods_disagree"}


def test_scores_are_compared_with_fractions_of_all_cells_and_labelled_as_scores():
    shares, absolute = _shares_and_absolute()
    names = {"A": "Monocytes", "B": "B.cells", "C": "T.cells.CD8"}
    shares, absolute = shares.rename(columns=names), absolute.rename(columns=names)
    # A score that follows the monocytes' amount in the whole sample (log scale, arbitrary).
    score = pd.DataFrame({"Monocytic lineage": np.log2(absolute["Monocytes"] * 1e3 + 1)})
    mcp = MethodResult("mcp-counter", "score", "", score)
    relative = MethodResult("robust", "fraction", "", shares)
    epic = MethodResult("epic", "fraction", "", absolute)
    agreement, warnings = compare_methods([relative, epic, mcp])
    rows = agreement[agreement["cell_type"] == "Monocytic lineage (score) ~ Monocytes"]
    # never two fractions under a score's label
    assert set(map(frozenset, rows[["method_a", "method_b"]].to_numpy())) == {
        frozenset({"robust", "mcp-counter"}),
        frozenset({"epic", "mcp-counter"}),
    }
    by_method = rows.set_index("method_a")
    assert by_method.loc["epic", "basis"] == "score"
    assert by_method.loc["epic", "spearman_r"] == pytest.approx(1.0)
    # beside shares the score measures something else: shown, never flagged
    assert by_method.loc["robust", "basis"] == "score vs shares"
    assert by_method.loc["robust", "spearman_r"] < METHOD_AGREEMENT_R
    assert not by_method.loc["robust", "flagged"] and not warnings
    # the robust fit in absolute mode: a score that ranks monocytes backwards is flagged
    backwards = MethodResult("mcp-counter", "score", "", score.iloc[::-1].set_axis(score.index))
    agreement, warnings = compare_methods(
        [MethodResult("robust", "fraction", "", absolute), backwards]
    )
    row = agreement.set_index("cell_type").loc["Monocytic lineage (score) ~ Monocytes"]
    assert row["basis"] == "score" and row["flagged"]
    assert set(BASES) >= set(agreement["basis"])


def test_one_sample_cannot_be_compared():
    shares, absolute = _shares_and_absolute()
    results = [
        MethodResult("robust", "fraction", "", shares.iloc[:1]),
        MethodResult("epic", "fraction", "", absolute.iloc[:1]),
    ]
    agreement, warnings = compare_methods(results)
    assert agreement["n"].eq(1).all() and agreement["spearman_r"].isna().all()
    assert not agreement["flagged"].any() and not warnings
    sentence = too_few_to_compare(agreement)
    assert sentence == (
        f"not compared: comparing methods needs at least {MIN_SAMPLES_FOR_AGREEMENT} samples "
        "estimated by both, and the robust fit shares at most 1 sample with another method"
    )
    enough, _ = compare_methods(
        [
            MethodResult("robust", "fraction", "", shares),
            MethodResult("epic", "fraction", "", absolute),
        ]
    )
    assert too_few_to_compare(enough) is None


def test_a_cell_type_about_absent_under_both_methods_is_not_ranked():
    """M1 macrophages of the QA's Hoek cohort: 0 in most samples under both methods and
    0.0014 vs 0 in one; their order is noise, so neither the cell type nor that sample is
    flagged, while a cell type present in the samples still is."""
    up = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    absent = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.002]
    trace = [0.0, 0.0014, 0.0, 0.001, 0.0, 0.0, 0.0, 0.0]
    robust = _scored({"A": up, "M1": absent}, "robust")
    svr = _scored({"A": up[::-1], "M1": trace}, "nu-svr")
    agreement, warnings = compare_methods([robust, svr])
    rows = agreement.set_index("cell_type")
    assert rows.loc["M1", "n"] == 0 and not rows.loc["M1", "flagged"]
    assert rows.loc["A", "flagged"] and rows.loc["A", "n"] == 8
    assert {w.cell_type for w in warnings if w.code == "methods_disagree"} == {"A"}
    assert all("M1" not in w.cell_type for w in warnings)
    # One method seeing the cell type in a sample keeps that sample in the comparison.
    svr = _scored({"A": up, "M1": [0.0, 0.0, 0.0, 0.05, 0.0, 0.0, 0.0, 0.0]}, "nu-svr")
    agreement, _ = compare_methods([robust, svr])
    assert agreement.set_index("cell_type").loc["M1", "n"] == 1

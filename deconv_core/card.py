"""A tumour-board card: one sample of a run, on one printable page.

:func:`build_card` gathers, from an :class:`~deconv_core.analysis.Analysis`,
everything a reader needs about one sample: its composition with bootstrap
intervals (computed for that sample alone when the run has none,
:func:`sample_intervals`), its verdict and every warning that concerns it
(its own and the run-wide ones), where it stands in the cohort (percentile
per cell type, when there are at least two samples), the genes that drive
its doubtful estimates (the confounding check's leave-gene-out findings) and
the signature used.  :func:`card_html` renders the card as one
self-contained HTML page (inline CSS and SVG, no scripts, fonts or links to
fetch) laid out for A4 paper.

Orientation and units: proportions are unitless fractions (0-1), shown as
percent with one decimal; percentiles are 0-100.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from deconv_core.analysis import Analysis
from deconv_core.deconvolve import DeconvResult
from deconv_core.qc import bootstrap_intervals
from deconv_core.signatures import Signature
from deconv_core.text import visible
from deconv_core.validation import DeconvWarning, InputError
from deconv_core.verdict import fit_stats

__all__ = [
    "CARD_LEVEL",
    "CARD_NAME_BYTES",
    "CARD_RESAMPLES",
    "NOT_CHECKED",
    "SampleCard",
    "axis_top",
    "build_card",
    "check_sample",
    "card_file_name",
    "card_file_names",
    "card_html",
    "cohort_percentiles",
    "sample_intervals",
    "sample_result",
]

#: Bootstrap resamples and level of a card's intervals when the run has none (as the
#: dashboard's and ``--bootstrap 200``).
CARD_RESAMPLES = 200
CARD_LEVEL = 0.95
_SUBJECT_COLUMNS = ["estimate", "lower", "upper", "percentile"]
_DRIVER_COLUMNS = ["cell_type", "code", "genes", "estimate", "estimate_without", "cause"]


@dataclass(frozen=True)
class SampleCard:
    """One sample of a run, as the card shows it.

    Attributes
    ----------
    sample
        The sample's name as in the input.
    verdict, reasons
        The run's verdict of the sample (good / check / poor) and its reasons.
    meaning
        What the proportions are shares of (the result's sentence).
    composition
        Index ``cell_type`` (the result's order): ``estimate``, ``lower``,
        ``upper`` (fractions, 0-1; interval NaN when the sample has no fit)
        and ``percentile`` (0-100: share of the cohort's samples with a lower
        estimate, ties counted half; NaN for a cohort of one).
    level, n_resamples
        Confidence level and bootstrap resamples of the intervals.
    fit
        ``pearson_r``, ``r2`` and ``p_value`` (NaN when not computed).
    warnings
        The warnings about this sample, then the run-wide ones.
    drivers
        The confounding findings of this sample: ``cell_type``, ``code``,
        ``genes``, ``estimate``, ``estimate_without``, ``cause``; empty when
        none (or when the check was not run, see ``drivers_checked``).
    drivers_checked
        True when the leave-gene-out check ran on this run.
    n_samples
        Samples in the run (the cohort the percentiles compare with).
    signature
        ``name``, ``sha256``, ``builtin``, ``genes`` (in the signature),
        ``genes_used`` (found in the data and fitted), ``coverage`` (the share
        of signature genes found and fitted, 0-1) and ``citation``.
    expression
        ``file`` and ``sha256`` of the expression input.
    mode
        ``relative`` or ``absolute``.
    names
        Cell-type id → the name people read (the signature's display names,
        :attr:`~deconv_core.signatures.Signature.shown_names`); ids not in it
        are shown as they are.
    surface
        Where the card was made, ``"app"`` or ``"cli"``: its warnings give the
        advice of that surface (a control to choose, or a flag to pass).
    """

    sample: str
    verdict: str
    reasons: str
    meaning: str
    composition: pd.DataFrame
    level: float
    n_resamples: int
    fit: dict[str, float]
    warnings: tuple[DeconvWarning, ...]
    drivers: pd.DataFrame
    drivers_checked: bool
    n_samples: int
    signature: dict[str, object] = field(default_factory=dict)
    expression: dict[str, str] = field(default_factory=dict)
    mode: str = "relative"
    names: dict[str, str] = field(default_factory=dict)
    surface: str = "app"

    def shown(self, cell: object) -> str:
        """The name the card shows for a cell-type id."""
        return self.names.get(str(cell), str(cell))


def check_sample(
    samples: Sequence[object], sample: object, *, left_out: Sequence[DeconvWarning] = ()
) -> str:
    """The sample's name when it is one of ``samples``, else an error listing the first ones.

    Parameters
    ----------
    samples
        The run's samples.
    sample
        The sample asked for.
    left_out
        Warnings of the input; one naming ``sample`` (e.g. ``zero_sample``: it
        was left out of the analysis) is quoted in the error instead of the list.

    Raises
    ------
    InputError
        A sample that is not among ``samples``.
    """
    names = [str(s) for s in samples]
    name = str(sample)
    # An empty name would match every run-wide warning (their sample is "").
    why = next((w.message for w in left_out if name and w.sample == name), "")
    if name not in names and why:
        raise InputError(f"No card for sample {name!r}: {why}")
    if name not in names:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise InputError(
            f"No sample named {name!r} in this run; choose one of its {len(names)} samples "
            f"({shown})."
        )
    return name


def _check_sample(analysis: Analysis, sample: object) -> str:
    return check_sample(list(analysis.result.proportions.index), sample)


def sample_result(result: DeconvResult, sample: str) -> DeconvResult:
    """The part of a result that concerns one sample (every per-sample table cut to it).

    Parameters
    ----------
    result
        The run's deconvolution.
    sample
        A sample of it.
    """
    rows, columns = [sample], [sample]
    return replace(
        result,
        proportions=result.proportions.loc[rows],
        coefficients=result.coefficients.loc[rows],
        sample_coverage=result.sample_coverage[result.sample_coverage["sample"] == sample],
        fit=result.fit.loc[rows],
        fitted=result.fitted[columns],
        residuals=result.residuals[columns],
        observed=result.observed[columns],
        robustness=result.robustness[columns],
    )


def sample_intervals(
    analysis: Analysis,
    sample: str,
    *,
    n_resamples: int = CARD_RESAMPLES,
    level: float = CARD_LEVEL,
    seed: int | None = None,
) -> pd.DataFrame:
    """Bootstrap intervals of one sample: the run's when it has them, else computed for it alone.

    Every resample draws the same genes for every sample and each sample is
    refitted on its own, so one sample's intervals equal its rows of the
    whole cohort's (same seed), at a fraction of the cost.

    Parameters
    ----------
    analysis
        The run.
    sample
        A sample of it.
    n_resamples, level
        Used when the run has no intervals.
    seed
        Seed of the resampling; None: the run's.

    Returns
    -------
    pandas.DataFrame
        Tidy as :func:`deconv_core.qc.bootstrap_intervals`: ``sample``,
        ``cell_type``, ``estimate``, ``lower``, ``upper`` (fractions).
    """
    name = _check_sample(analysis, sample)
    if analysis.intervals is not None:
        table = analysis.intervals
        return table[table["sample"].astype(str) == name].reset_index(drop=True)
    return bootstrap_intervals(
        sample_result(analysis.result, name),
        analysis.signature,
        n_resamples=n_resamples,
        level=level,
        seed=analysis.options.seed if seed is None else seed,
    )


def cohort_percentiles(proportions: pd.DataFrame, sample: str) -> pd.Series:
    """Where one sample stands in its cohort, per cell type (0-100; NaN for a cohort of one).

    The percentile is the share of the cohort's other samples whose estimate
    is lower, ties counted half (mid-rank), so the lowest of a cohort is 0 and
    the highest 100.

    Parameters
    ----------
    proportions
        Samples × cell types (fractions).
    sample
        A row of it.
    """
    others = proportions.drop(index=sample).astype(float)
    if others.empty:
        return pd.Series(np.nan, index=proportions.columns, name="percentile")
    value = proportions.loc[sample].astype(float)
    below = (others < value).sum() + 0.5 * (others == value).sum()
    counted = others.notna().sum().replace(0, np.nan)
    out = 100.0 * below / counted
    out[value.isna()] = np.nan
    return out.rename("percentile")


def _drivers(analysis: Analysis, sample: str) -> pd.DataFrame:
    report = analysis.confounding
    if report is None or report.findings.empty:
        return pd.DataFrame(columns=_DRIVER_COLUMNS)
    findings = report.findings
    mine = findings[findings["sample"].astype(str) == sample]
    return mine[_DRIVER_COLUMNS].reset_index(drop=True)


def _signature_identity(analysis: Analysis) -> dict[str, object]:
    sig: Signature = analysis.signature
    result = analysis.result
    used = len(result.genes_used)
    total = used + len(result.genes_missing) + len(result.genes_excluded)
    return {
        "name": sig.name,
        "sha256": sig.sha256,
        "builtin": sig.builtin,
        "genes": int(sig.matrix.shape[0]),
        "genes_used": used,
        "coverage": used / total if total else float("nan"),
        "citation": sig.citation,
    }


def build_card(
    analysis: Analysis,
    sample: object,
    *,
    intervals: pd.DataFrame | None = None,
    surface: str = "app",
) -> SampleCard:
    """The card of one sample of a run.

    Parameters
    ----------
    analysis
        The run.
    sample
        The sample's name.
    intervals
        Its intervals when already computed (:func:`sample_intervals`);
        None computes them.
    surface
        ``"app"`` (the dashboard) or ``"cli"`` (the command line): whose advice
        the card's warnings give.

    Raises
    ------
    InputError
        A sample that is not in the run.
    """
    name = _check_sample(analysis, sample)
    if intervals is None:
        intervals = sample_intervals(analysis, name)
    options = analysis.options
    level = options.level if analysis.intervals is not None else CARD_LEVEL
    resamples = options.bootstrap if analysis.intervals is not None else CARD_RESAMPLES
    props = analysis.result.proportions
    composition = (
        intervals.set_index(intervals["cell_type"].astype(str))[["estimate", "lower", "upper"]]
        .reindex([str(c) for c in props.columns])
        .astype(float)
    )
    composition["percentile"] = cohort_percentiles(props, name).to_numpy()
    composition.index.name = "cell_type"
    fit = analysis.fit_table.loc[name]
    verdict = analysis.verdicts.loc[name]
    warnings = tuple(w for w in analysis.warnings if w.sample == name) + tuple(
        w for w in analysis.warnings if not w.sample
    )
    return SampleCard(
        sample=name,
        verdict=str(verdict["verdict"]),
        reasons=str(verdict["reasons"]),
        meaning=analysis.result.meaning,
        composition=composition,
        level=float(level),
        n_resamples=int(resamples),
        fit={k: float(fit[k]) for k in ("pearson_r", "r2", "p_value")},
        warnings=warnings,
        drivers=_drivers(analysis, name),
        drivers_checked=analysis.confounding is not None,
        n_samples=int(props.shape[0]),
        signature=_signature_identity(analysis),
        expression={"file": analysis.expression.name, "sha256": analysis.expression.sha256},
        mode=analysis.result.mode,
        names=dict(analysis.signature.shown_names),
        surface=surface,
    )


#: The card's genes section when the run's leave-gene-out check did not run.
NOT_CHECKED = (
    "The leave-gene-out check was not run for this run, so the verdict does not include it."
)


#: Longest sample part of a card's file name, in UTF-8 bytes: file systems allow 255 bytes
#: per name (ext4, APFS, NTFS), and a name this short stays readable in a folder listing.
CARD_NAME_BYTES = 80
# What a name's hash suffix looks like: a sample name of this form is hashed too, so that a
# name kept as it is can never equal another sample's hashed name.
_HASH_DIGITS = 10
_HASHED = re.compile(rf"-[0-9a-f]{{{_HASH_DIGITS}}}")


def card_file_name(sample: str, suffix: str = "html", *, hashed: bool = False) -> str:
    """The file name of a sample's card: ``card_<sample>.<suffix>``, unique per sample.

    A name that is safe in a file name and at most :data:`CARD_NAME_BYTES`
    long is kept as it is.  Any other (characters other than letters, digits,
    ``-``, ``_`` and ``.`` replaced by ``_``, or cut to length) gets ``-`` and
    the first digits of the SHA-256 of the sample's name, so that samples
    whose names differ get different files (``a/b``, ``a_b`` and ``a:b``:
    ``card_a_b-….html``, ``card_a_b.html``, ``card_a_b-….html``).

    Parameters
    ----------
    sample
        The sample's name as in the input.
    suffix
        ``html`` or ``png``.
    hashed
        Add the hash even to a name kept as it is (:func:`card_file_names`
        does so for names that differ only in case).

    Returns
    -------
    str
        The file name, without a folder.
    """
    name = str(sample)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
    cut = stem.encode("utf-8")[:CARD_NAME_BYTES].decode("utf-8", errors="ignore")
    if hashed or cut != name or _HASHED.fullmatch(name[-_HASH_DIGITS - 1 :]):
        digest = hashlib.sha256(name.encode("utf-8", errors="surrogatepass")).hexdigest()
        cut = f"{cut or 'sample'}-{digest[:_HASH_DIGITS]}"
    return f"card_{cut}.{suffix}"


def card_file_names(samples: Sequence[str], suffix: str = "html") -> dict[str, str]:
    """Each sample's card file name (:func:`card_file_name`), none two alike.

    Names that would differ only in upper and lower case get the hash too, so
    the files stay apart on file systems that ignore case (macOS, Windows).

    Parameters
    ----------
    samples
        The samples whose cards are written together (repeats count once).
    suffix
        ``html`` or ``png``.

    Returns
    -------
    dict
        Sample → file name, in the order of ``samples``.
    """
    plain = {str(s): card_file_name(s, suffix) for s in dict.fromkeys(samples)}
    folded = Counter(name.casefold() for name in plain.values())
    return {
        sample: card_file_name(sample, suffix, hashed=True) if folded[name.casefold()] > 1 else name
        for sample, name in plain.items()
    }


# -- HTML ----------------------------------------------------------------------------------------

_VERDICT_STYLE = {
    "good": ("#dcf1e0", "#1b5e20", "good: the fit supports these estimates"),
    "check": ("#fff0c7", "#6d4700", "check: read the notes before relying on these estimates"),
    "poor": ("#fbdcd7", "#8e1b10", "poor: do not rely on these estimates"),
}
_CSS = """
@page { size: A4; margin: 14mm 14mm 16mm 14mm; }
* { box-sizing: border-box; }
body { font-family: "Helvetica Neue", Arial, "Liberation Sans", sans-serif; color: #1d1d1d;
  font-size: 10pt; line-height: 1.35; max-width: 182mm; margin: 0 auto; padding: 8mm 0; }
h1 { font-size: 16pt; margin: 0 0 2mm 0; }
h2 { font-size: 11.5pt; margin: 5mm 0 1.5mm 0; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { text-align: left; padding: 1mm 1.5mm; border-bottom: 1px solid #e3e3e3;
  vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { padding: 2mm 3mm; border-radius: 2mm; margin: 2mm 0; }
.muted { color: #555; font-size: 8.5pt; }
.mono { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 8pt; word-break: break-all; }
svg { display: block; margin: 1mm 0; }
section, tr, svg { break-inside: avoid; page-break-inside: avoid; }
@media print { body { padding: 0; max-width: none; } .verdict { print-color-adjust: exact;
  -webkit-print-color-adjust: exact; } }
"""


def _e(text: object) -> str:
    return html.escape(visible(text), quote=True)


def _pct(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{100 * value:.1f} %"


def axis_top(composition: pd.DataFrame) -> float:
    """End of the composition bars' axis (fraction): the largest estimate or upper bound,
    rounded up to the next 10 % (at least 10 %)."""
    values = composition[["estimate", "upper"]].to_numpy(dtype=float)
    top = max(float(np.nanmax(values, initial=0)), 0.05)
    return float(np.ceil(top * 10) / 10)


def _bars_svg(card: SampleCard) -> str:
    """Horizontal bars (estimate) with interval whiskers, one row per cell type."""
    composition = card.composition
    row, label_w, plot_w = 16, 170, 470
    scale = plot_w / axis_top(composition)
    height = row * len(composition) + 22
    parts = [
        f'<svg width="{label_w + plot_w + 60}" '
        f'height="{height}" role="img" aria-label="composition with intervals" '
        'font-size="10" font-family="Arial, sans-serif">'
    ]
    for i, (cell, r) in enumerate(composition.iterrows()):
        y = i * row + 4
        est = float(r["estimate"]) if np.isfinite(r["estimate"]) else 0.0
        label = _e(card.shown(cell))
        parts.append(f'<text x="{label_w - 6}" y="{y + 10}" text-anchor="end">{label}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 2}" width="{est * scale:.1f}" height="{row - 6}" '
            'fill="#4a78b5"/>'
        )
        if np.isfinite(r["lower"]) and np.isfinite(r["upper"]):
            x0, x1, ym = label_w + r["lower"] * scale, label_w + r["upper"] * scale, y + row / 2 - 1
            parts.append(
                f'<path d="M{x0:.1f} {ym - 4:.1f}v8M{x0:.1f} {ym:.1f}H{x1:.1f}M{x1:.1f} '
                f'{ym - 4:.1f}v8" stroke="#1d1d1d" stroke-width="1.2" fill="none"/>'
            )
        end = label_w + max(est, float(r["upper"]) if np.isfinite(r["upper"]) else 0) * scale
        parts.append(f'<text x="{end + 4:.1f}" y="{y + 10}">{_pct(r["estimate"])}</text>')
    axis_y = row * len(composition) + 8
    parts.append(
        f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" stroke="#888"/>'
    )
    for tick in np.linspace(0, plot_w / scale, 6):
        x = label_w + tick * scale
        parts.append(
            f'<text x="{x:.1f}" y="{axis_y + 12}" text-anchor="middle" fill="#555">'
            f"{100 * tick:.0f} %</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _composition_table(card: SampleCard) -> str:
    head = (
        "<tr><th>Cell type</th><th class='num'>Estimate</th>"
        f"<th class='num'>{card.level:.0%} interval</th><th class='num'>Cohort percentile</th></tr>"
    )
    rows = []
    for cell, r in card.composition.iterrows():
        interval = f"{_pct(r['lower'])} – {_pct(r['upper'])}" if np.isfinite(r["lower"]) else "–"
        pct = "–" if not np.isfinite(r["percentile"]) else f"{r['percentile']:.0f}"
        rows.append(
            f"<tr><td>{_e(card.shown(cell))}</td><td class='num'>{_pct(r['estimate'])}</td>"
            f"<td class='num'>{interval}</td><td class='num'>{pct}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _warnings_section(card: SampleCard) -> str:
    if not card.warnings:
        return "<p>No warnings concern this sample or the run.</p>"
    items = []
    for w in card.warnings:
        where = "this sample" if w.sample else "the whole run"
        # The surface's own advice; a warning with only the other's gives that.
        own, other = (w.cli, w.app) if card.surface == "cli" else (w.app, w.cli)
        todo = own or other
        advice = f" <span class='muted'>What to do: {_e(todo)}</span>" if todo else ""
        items.append(f"<li><b>{_e(w.severity)}</b> ({where}): {_e(w.message)}{advice}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _drivers_section(card: SampleCard) -> str:
    if not card.drivers_checked:
        return f"<p>{_e(NOT_CHECKED)}</p>"
    if card.drivers.empty:
        return (
            "<p>No estimate of this sample rests on a few genes: leaving any one gene or "
            "known confounder panel out does not change the picture.</p>"
        )
    rows = [
        f"<tr><td>{_e(r.cell_type)}</td><td>{_e(r.genes)}</td><td class='num'>"
        f"{_pct(float(r.estimate))}</td><td class='num'>{_pct(float(r.estimate_without))}</td>"
        f"<td>{_e(r.cause)}</td></tr>"
        for r in card.drivers.itertuples()
    ]
    head = (
        "<tr><th>Cell types</th><th>Genes</th><th class='num'>Estimate</th>"
        "<th class='num'>Without these genes</th><th>Likely cause</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _signature_section(card: SampleCard) -> str:
    sig = card.signature
    kind = "built-in" if sig.get("builtin") else "user-supplied"
    coverage = float(sig.get("coverage", float("nan")))
    rows = [
        ("Signature", f"{_e(sig.get('name', ''))} ({kind})"),
        (
            "Genes",
            f"{sig.get('genes_used', 0)} of {sig.get('genes', 0)} found and fitted "
            f"({_pct(coverage)})",
        ),
        ("Signature SHA-256", f"<span class='mono'>{_e(sig.get('sha256', ''))}</span>"),
        ("Expression file", _e(card.expression.get("file", ""))),
        (
            "Expression SHA-256",
            f"<span class='mono'>{_e(card.expression.get('sha256', ''))}</span>",
        ),
    ]
    if sig.get("citation"):
        rows.append(("Citation", _e(sig["citation"])))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def card_html(card: SampleCard) -> str:
    """The card as one self-contained HTML page (inline CSS and SVG), laid out for A4.

    Nothing is fetched when the page is opened or printed: no scripts,
    stylesheets, fonts or images from elsewhere.
    """
    from deconv_core import __version__

    background, colour, words = _VERDICT_STYLE.get(card.verdict, ("#eee", "#222", card.verdict))
    fit = card.fit
    p = fit["p_value"]
    stats = fit_stats(fit["pearson_r"], fit["r2"]) + (
        f", permutation p = {p:.2g}" if np.isfinite(p) else ""
    )
    cohort = (
        f"Percentiles compare with the other {card.n_samples - 1} samples of the run."
        if card.n_samples > 1
        else "A run of one sample: no cohort to compare with."
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sample card: {_e(card.sample)}</title><style>{_CSS}</style></head>
<body>
<h1>Sample {_e(card.sample)}</h1>
<div class="verdict" style="background:{background};color:{colour}">
<b>Verdict: {_e(words)}</b><br>{_e(card.reasons)}</div>
<p class="muted">{_e(card.meaning)} Fit: {stats}.</p>
<section><h2>Composition</h2>
{_bars_svg(card)}
<p class="muted">Bars: estimates; whiskers: {card.level:.0%} bootstrap intervals
({card.n_resamples} resamples of the signature genes). {cohort}</p>
{_composition_table(card)}</section>
<section><h2>Warnings that concern this sample</h2>{_warnings_section(card)}</section>
<section><h2>Genes behind doubtful estimates</h2>{_drivers_section(card)}</section>
<section><h2>Signature and inputs</h2>{_signature_section(card)}</section>
<p class="muted">deconv-explorer {_e(__version__)}, {_e(card.mode)} mode. Estimates from bulk
expression are for discussion with the other evidence, not a diagnosis.</p>
</body></html>
"""

"""The tumour-board card as a PNG image, for slides and documents that take no HTML.

Drawn with Pillow (pinned in requirements.txt; also what Streamlit itself uses)
and its built-in font, so nothing outside the package is read: the same
sections as :func:`deconv_core.card.card_html`, at the width of an A4 page at
150 dpi (1,240 pixels), as tall as the content needs.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from deconv_core.card import NOT_CHECKED, SampleCard, axis_top
from deconv_core.text import visible

__all__ = ["CARD_WIDTH", "card_png"]

#: Width of the image in pixels (A4 at 150 dpi).
CARD_WIDTH = 1240
_MARGIN = 60
_VERDICT_COLOURS = {
    "good": ((220, 241, 224), (27, 94, 32)),
    "check": ((255, 240, 199), (109, 71, 0)),
    "poor": ((251, 220, 215), (142, 27, 16)),
}
_INK, _MUTED, _BAR = (29, 29, 29), (90, 90, 90), (74, 120, 181)
# Pillow's built-in font covers Latin-1 but not these; written the plain way instead.
_PLAIN = str.maketrans({"²": "2", "–": "-", "—": "-", "−": "-", "•": "-", "≥": ">=", "≤": "<="})


def _fonts() -> dict[str, Any]:
    from PIL import ImageFont

    sizes = {"h1": 34, "h2": 24, "t": 18}
    return {name: ImageFont.load_default(size=px) for name, px in sizes.items()}


def _wrap(text: str, font: Any, width: int) -> list[str]:
    """Lines of ``text`` no wider than ``width`` pixels in ``font``."""
    lines: list[str] = []
    for paragraph in visible(text).translate(_PLAIN).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            trial = f"{line} {word}".strip()
            if line and font.getlength(trial) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


class _Canvas:
    """Draw commands collected top to bottom, replayed once the height is known."""

    def __init__(self) -> None:
        self.fonts = _fonts()
        self.y = _MARGIN
        self.ops: list[tuple] = []

    def text(self, text: str, size: str = "t", *, colour=_INK, x: int = _MARGIN, gap: int = 6):
        font = self.fonts[size]
        height = int(font.size * 1.3)
        for line in _wrap(text, font, CARD_WIDTH - x - _MARGIN):
            self.ops.append(("text", (x, self.y), line, font, colour))
            self.y += height
        self.y += gap

    def heading(self, text: str) -> None:
        self.y += 14
        self.text(text, "h2", gap=0)
        self.ops.append(("line", [(_MARGIN, self.y), (CARD_WIDTH - _MARGIN, self.y)], _MUTED))
        self.y += 10

    def box(self, lines: list[str], fill, colour) -> None:
        top = self.y
        self.ops.append(("box_placeholder", len(self.ops)))
        index = len(self.ops) - 1
        self.y += 10
        for i, line in enumerate(lines):
            self.text(line, "h2" if i == 0 else "t", colour=colour, x=_MARGIN + 14, gap=2)
        self.y += 8
        self.ops[index] = ("rect", [_MARGIN, top, CARD_WIDTH - _MARGIN, self.y], fill)
        self.y += 10

    def bars(self, card: SampleCard) -> None:
        font = self.fonts["t"]
        label_w, right = 260, 260
        plot_w = CARD_WIDTH - 2 * _MARGIN - label_w - right
        comp = card.composition
        scale = plot_w / axis_top(comp)
        x0 = _MARGIN + label_w
        for cell, row in comp.iterrows():
            y = self.y
            est = float(row["estimate"]) if np.isfinite(row["estimate"]) else 0.0
            self.ops.append(("text", (_MARGIN, y), visible(card.shown(cell)), font, _INK))
            self.ops.append(("rect", [x0, y + 3, x0 + est * scale, y + 21], _BAR))
            if np.isfinite(row["lower"]) and np.isfinite(row["upper"]):
                lo, hi = x0 + row["lower"] * scale, x0 + row["upper"] * scale
                self.ops.append(("line", [(lo, y + 12), (hi, y + 12)], _INK))
                self.ops.append(("line", [(lo, y + 5), (lo, y + 19)], _INK))
                self.ops.append(("line", [(hi, y + 5), (hi, y + 19)], _INK))
            interval = (
                f"{100 * row['lower']:.1f}–{100 * row['upper']:.1f} %"
                if np.isfinite(row["lower"])
                else ""
            )
            pct = f"P{row['percentile']:.0f}" if np.isfinite(row["percentile"]) else ""
            # An estimate that cannot be made (no marker gene) reads as a dash, not 0 %.
            shown = f"{100 * est:.1f} %" if np.isfinite(row["estimate"]) else "–"
            words = f"{shown}  ({interval})  {pct}".replace("()", "")
            self.ops.append(("text", (x0 + plot_w + 12, y), words.translate(_PLAIN), font, _INK))
            self.y += 28
        self.y += 6

    def render(self) -> bytes:
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (CARD_WIDTH, int(self.y + _MARGIN)), "white")
        draw = ImageDraw.Draw(image)
        for op in self.ops:
            if op[0] == "text":
                draw.text(op[1], op[2], font=op[3], fill=op[4])
            elif op[0] == "rect":
                draw.rectangle(op[1], fill=op[2])
            elif op[0] == "line":
                draw.line(op[1], fill=op[2], width=2)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()


def card_png(card: SampleCard) -> bytes:
    """The card as PNG bytes, 1,240 pixels wide: verdict, composition, warnings, genes,
    signature."""
    canvas = _Canvas()
    canvas.text(f"Sample {card.sample}", "h1", gap=10)
    fill, colour = _VERDICT_COLOURS.get(card.verdict, ((238, 238, 238), _INK))
    canvas.box([f"Verdict: {card.verdict}", card.reasons], fill, colour)
    canvas.text(card.meaning, colour=_MUTED)
    canvas.heading("Composition")
    canvas.bars(card)
    cohort = (
        f"percentile (P) among the other {card.n_samples - 1} samples"
        if card.n_samples > 1
        else "a run of one sample: no cohort percentile"
    )
    canvas.text(
        f"Estimate ({card.level:.0%} bootstrap interval, {card.n_resamples} resamples of the "
        f"signature genes) and {cohort}.",
        colour=_MUTED,
    )
    canvas.heading("Warnings that concern this sample")
    for w in card.warnings or ():
        where = "this sample" if w.sample else "the whole run"
        canvas.text(f"• {w.severity} ({where}): {w.message}", gap=4)
    if not card.warnings:
        canvas.text("No warnings concern this sample or the run.")
    canvas.heading("Genes behind doubtful estimates")
    if not card.drivers_checked:
        canvas.text(NOT_CHECKED)
    for r in card.drivers.itertuples():
        canvas.text(f"• {r.cell_type}: {r.genes}. {r.cause}", gap=4)
    if card.drivers_checked and card.drivers.empty:
        canvas.text("No estimate of this sample rests on a few genes.")
    canvas.heading("Signature and inputs")
    sig = card.signature
    canvas.text(
        f"{sig.get('name')}: {sig.get('genes_used')} of {sig.get('genes')} genes found and fitted "
        f"({100 * float(sig.get('coverage', float('nan'))):.1f} %); SHA-256 {sig.get('sha256')}",
        gap=4,
    )
    canvas.text(
        f"Expression {card.expression.get('file')}; SHA-256 {card.expression.get('sha256')}",
        colour=_MUTED,
    )
    return canvas.render()

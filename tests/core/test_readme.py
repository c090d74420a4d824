"""The README's threshold table is the code's: every threshold once, with its value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deconv_core import thresholds

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `([A-Z_0-9]+)` \| ([0-9.]+) \|", re.MULTILINE)


def test_every_threshold_is_in_the_readme_once_with_the_code_value():
    rows = ROW.findall(README.read_text(encoding="utf-8"))
    names = [name for name, _ in rows]
    assert sorted(names) == sorted(thresholds.__all__)
    for name, value in rows:
        assert getattr(thresholds, name) == pytest.approx(float(value)), name

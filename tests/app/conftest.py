"""Shared helpers of the AppTest suite: the app, page switching, small input files."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from tests.conftest import planted_mixtures

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
PAGES = {
    "home": "app.py",
    "upload": "pages/1_Upload.py",
    "signature": "pages/2_Signature.py",
    "results": "pages/3_Results.py",
    "qc": "pages/4_QC.py",
}


# Generous: the first run imports plotly and scipy; a loaded 2-core machine is slow.
TIMEOUT = 90


def new_app() -> AppTest:
    """A fresh session of the dashboard, run once on the home page."""
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()


def visit(at: AppTest, page: str) -> AppTest:
    """Switch to a page and run it, as a click in the sidebar does."""
    return at.switch_page(PAGES[page]).run()


def prepare_downloads(at: AppTest, key: str = "results_dl") -> AppTest:
    """Press "Prepare the downloads" of a page (``results_dl`` or ``qc_dl``) and run."""
    return at.button(key=f"{key}_prepare").click().run()


def unescape(text: str) -> str:
    """Undo the Markdown escapes the pages put before user text (``\\(`` → ``(``)."""
    return re.sub(r"\\(.)", r"\1", text)


def texts(at: AppTest, kind: str) -> list[str]:
    """Text of every element of one kind (``"markdown"``, ``"info"``, ...), unescaped."""
    return [unescape(str(e.value)) for e in getattr(at, kind)]


def sidebar_text(at: AppTest) -> str:
    """Everything the sidebar says, as one string, unescaped."""
    parts = [str(e.value) for e in at.sidebar.markdown] + [str(e.value) for e in at.sidebar.caption]
    return unescape(" ".join(parts))


def uploader(at: AppTest, label: str):
    """The file uploader with this label (keys change after "Start over")."""
    found = [u for u in at.file_uploader if u.label == label]
    assert len(found) == 1, [u.label for u in at.file_uploader]
    return found[0]


def charts(at: AppTest) -> list:
    """The plotly charts on the current page."""
    return list(at.get("plotly_chart"))


def build_single_cell(at: AppTest) -> AppTest:
    """On the Signature page: upload the fixture's counts and labels and press Build."""
    folder = ROOT / "tests" / "fixtures" / "singlecell"
    at.segmented_control(key="signature_source").set_value("Build from single-cell data").run()
    assert not at.exception, at.exception
    uploader(at, "Single-cell counts").upload(
        "counts.csv.gz", (folder / "counts.csv.gz").read_bytes(), "application/gzip"
    )
    uploader(at, "Cell labels").upload(
        "labels.csv", (folder / "labels.csv").read_bytes(), "text/csv"
    )
    at.run()
    at.selectbox(key="sc_label_column").set_value("cell_type").run()
    return at.button(key="sc_build").click().run()


def bulk_tsv(n_samples: int = 6, *, seed: int = 3, names: list[str] | None = None) -> bytes:
    """A small whole-transcriptome-like TSV (genes × samples, TPM) made from TIL10."""
    expr, _ = planted_mixtures(n_samples, noise=0.1, seed=seed, n_filler=300)
    if names is not None:
        expr.columns = names
    buffer = io.StringIO()
    expr.to_csv(buffer, sep="\t", index_label="gene", float_format="%.4f")
    return buffer.getvalue().encode()


def metadata_csv(samples: list[str]) -> bytes:
    """Sample metadata with a two-level group column and a numeric column."""
    frame = pd.DataFrame(
        {
            "sample": samples,
            "group": ["A" if i % 2 else "B" for i in range(len(samples))],
            "cellularity": [40 + i for i in range(len(samples))],
        }
    )
    return frame.to_csv(index=False).encode()


@pytest.fixture
def app() -> AppTest:
    return new_app()


@pytest.fixture
def demo_app() -> AppTest:
    at = new_app()
    at.button(key="load_demo").click().run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def served(monkeypatch):
    """File name → bytes of every download the pages draw (as the browser would fetch them)."""
    files: dict[str, bytes] = {}
    original = MediaFileManager.add

    def add(self, path_or_data, mimetype, coordinates, file_name=None, **kwargs):
        if file_name and isinstance(path_or_data, bytes):
            files[file_name] = path_or_data
        return original(self, path_or_data, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add", add)
    return files

"""Hostile and huge inputs are refused within a memory ceiling, in one line, before the work."""

from __future__ import annotations

import gzip
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from deconv_core.io.limits import (
    ReadLimits,
    check_parse_budget,
    dashboard_limits,
    gunzip_capped,
    parse_size,
)
from deconv_core.validation import InputError

ROOT = Path(__file__).resolve().parents[2]
MiB = 2**20


def _member(content: bytes, copies: int) -> bytes:
    """A gzip of ``content`` repeated ``copies`` times, as one compressed member."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join([*(packer.compress(content) for _ in range(copies)), packer.flush()])


def _bomb(line: bytes, gigabytes: float) -> bytes:
    """A multi-member gzip that inflates to about ``gigabytes`` GB of ``line`` repeated.

    Built from one 64 MB member copied, so it takes a second to make; the last
    member's trailer states 64 MB, so the stated size does not give it away.
    """
    member = _member(line * (MiB // len(line)), 64)
    return gzip.compress(b"gene\tS1\n") + member * int(gigabytes * 1024 / 64)


def _run_capped(script: str, data: bytes, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``script`` on ``data`` in a fresh interpreter whose address space is capped.

    The cap is what the interpreter uses after its imports plus 1.5 GB: reading
    the file whole would need several GB and die with MemoryError.
    """
    source = tmp_path / "input.bin"
    source.write_bytes(data)
    code = textwrap.dedent(
        f"""
        import resource, sys
        from deconv_core.expression import load_expression
        from deconv_core.io.limits import ReadLimits, dashboard_limits
        from deconv_core.validation import InputError
        size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + 1536 * 2**20, resource.RLIM_INFINITY))
        data = open({str(source)!r}, "rb").read()
        try:
            {script}
        except InputError as exc:
            print("refused:", exc)
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("line", [b"\0" * 64, b"G1\t0\n"])
def test_a_gzip_bomb_is_refused_in_one_line_under_a_memory_ceiling(line, tmp_path):
    bomb = _bomb(line, 6)  # about 6 GB of text from a few MB
    assert len(bomb) < 20 * MiB
    done = _run_capped(
        "load_expression(data, name='bomb.tsv.gz', limits=dashboard_limits(200))", bomb, tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refused: The expression file"), done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_file_of_200000_columns_is_refused_before_parsing(tmp_path):
    header = "gene\t" + "\t".join(f"S{i}" for i in range(200_000))
    row = "\t".join(["7"] * 200_000)
    text = "\n".join([header, *(f"G{r}\t{row}" for r in range(20))]) + "\n"
    done = _run_capped(
        "load_expression(data, name='wide.tsv', limits=dashboard_limits(200))",
        text.encode(),
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout.strip()
    assert out.startswith("refused: The expression file has 200,001 columns")
    assert "over the limit of 2.0 GB of memory" in out


def test_limits_in_words():
    assert parse_size("8G") == 8 * 2**30 and parse_size("500M") == 500 * MiB
    assert parse_size("2GB") == 2 * 2**30 and parse_size("1024") == 1024
    with pytest.raises(InputError, match="as a size"):
        parse_size("lots")
    assert dashboard_limits(200).max_text_bytes == 1000 * MiB
    with pytest.raises(InputError, match="10 columns and about 1,000,000,000 rows"):
        check_parse_budget(10**9, 10, ReadLimits(), what="expression")


def test_capped_gunzip_reads_normal_files_and_stops_bombs():
    text = b"gene\tS1\nG1\t1\n" * 1000
    assert gunzip_capped(gzip.compress(text) + gzip.compress(text), 10**6, what="x") == text * 2
    with pytest.raises(InputError, match="decompresses to more than 1.0 MB"):
        gunzip_capped(_member(b"\0" * MiB, 4), MiB, what="expression")

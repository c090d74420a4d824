"""Command line: ``python -m deconv_core run|signatures``.

Exit codes: 0 success, 2 bad input or usage (one line on stderr beginning
``error:``, never a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import NoReturn, TextIO

from deconv_core.deconvolve import MODES, WEIGHTINGS, deconvolve
from deconv_core.expression import load_expression, sha256_of
from deconv_core.report import write_outputs
from deconv_core.scale import SCALES
from deconv_core.signatures import builtin_names, list_signatures, load_signature
from deconv_core.validation import InputError

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
    run.add_argument("--mode", choices=MODES, default="relative")
    run.add_argument(
        "--scale", choices=SCALES, default="auto", help="input scale (default: detect)"
    )
    run.add_argument(
        "--exclude",
        default="default",
        help="signature gene list to leave out: default, tumor or none (default: default)",
    )
    run.add_argument(
        "--weighting",
        choices=WEIGHTINGS,
        default="sqrt",
        help="gene weights of the fit: sqrt (variance-stabilising, default) or none",
    )
    run.add_argument(
        "--no-mrna-scaling",
        action="store_true",
        help="do not correct for mRNA content per cell type",
    )
    run.add_argument("--out", required=True, help="output folder (created if needed)")
    sub.add_parser("signatures", help="list the built-in signatures")
    return parser


def _run(args: argparse.Namespace, progress: _Progress) -> int:
    progress.step(f"reading {args.bulk}")
    if not os.path.isfile(args.bulk):
        raise InputError(f"Cannot find the expression file {args.bulk!r}; check the path.")
    expression = load_expression(args.bulk, scale=args.scale)
    progress.step(
        f"read {expression.table.shape[0]} genes x {expression.table.shape[1]} samples; "
        f"loading signature {args.signature}"
    )
    signature = load_signature(args.signature)
    exclude = None if args.exclude == "none" else args.exclude
    progress.step("deconvolving")
    result = deconvolve(
        expression.table,
        signature,
        mode=args.mode,
        exclude=exclude,
        mrna_scaling=not args.no_mrna_scaling,
        weighting=args.weighting,
    )
    progress.step(f"writing results to {args.out}")
    parameters = {
        "command": "run",
        "signature": args.signature,
        "mode": args.mode,
        "scale": args.scale,
        "exclude": args.exclude,
        "mrna_scaling": not args.no_mrna_scaling,
        "weighting": args.weighting,
    }
    sig_sha = "" if signature.builtin else sha256_of(args.signature)
    try:
        write_outputs(
            args.out, result, expression, signature, parameters=parameters, signature_sha256=sig_sha
        )
    except OSError as exc:
        raise InputError(
            f"Cannot write to {args.out!r}: {exc.strerror}; choose another folder."
        ) from exc
    progress.step("done")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Parameters
    ----------
    argv
        Arguments without the program name (default: ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "signatures":
            return _signatures(sys.stdout)
        return _run(args, _Progress(sys.stderr))
    except InputError as exc:
        sys.stderr.write(f"error: {' '.join(str(exc).split())}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"error: {exc.strerror or exc}: {exc.filename or ''}\n")
        return 2

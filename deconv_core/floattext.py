"""Numbers as CSV text: the bytes of Python's ``'%.6g' % value``, a whole table at once.

A 1,000-sample run writes about 2.6 million numbers (residuals and robustness
weights); formatted one by one by Python they took 0.4-0.5 s.  Here the six
significant digits of every value are found with float64 arithmetic, each
cell's characters are written into fixed columns of a byte matrix (unused
positions hold NUL bytes) and one ``bytes.translate`` drops the NULs.  Values
whose rounding float64 cannot settle for certain (near a tie, zero, NaN,
infinities, extreme exponents) are formatted by Python itself, so the bytes are
the same as ``'%.6g'`` everywhere.
"""

from __future__ import annotations

import numpy as np

__all__ = ["g6_lines"]

# Decimal exponents whose power of ten is exact in float64 (10**22 is the last
# one), so a value is scaled into [1e5, 1e6) by one correctly rounded operation.
_MIN_EXP, _MAX_EXP = -17, 27
_POWERS = np.array([float(10**i) for i in range(23)])
# A scaled value (below 1e6) carries at most ~1.2e-10 of rounding error; a
# fractional part this close to one half is left to Python's exact rounding.
_TIE_MARGIN = 1e-7
# Cells per block: the block's temporaries stay in the cache (the whole table
# at once spent most of its time in page faults).
_BLOCK = 1 << 14
_LEAD = b"0.000"
_ZERO, _DOT, _MINUS = np.uint8(ord("0")), np.uint8(ord(".")), np.uint8(ord("-"))
# First column of each piece; Python's texts follow at _WIDTH, the separator is last.
_SIGN, _DIGITS, _EXPONENT, _WIDTH = 0, 6, 17, 21


def g6_lines(values: np.ndarray) -> list[bytes]:
    """Each row of a 2-D float array as ``'%.6g'`` texts joined by commas.

    Parameters
    ----------
    values : (n, m) float array, m ≥ 1 (rows are written as rows); NaN is
        written as an empty field, as pandas writes it.

    Returns
    -------
    list of n ASCII lines without their newline, line ``i`` equal to
    ``','.join('' if v != v else '%.6g' % v for v in values[i])``.
    """
    n, m = values.shape
    step = max(1, _BLOCK // m)
    lines: list[bytes] = []
    for first in range(0, n, step):
        lines += _block_lines(values[first : first + step])
    return lines


def _block_lines(values: np.ndarray) -> list[bytes]:
    """:func:`g6_lines` of a block of rows."""
    flat = np.ascontiguousarray(values, dtype=np.float64).ravel()
    d, exp, exact = _digits(flat)
    fallback = _python_cells(flat, ~exact)
    # Built column by column (each a contiguous row of ``chars``), read cell by cell.
    chars = np.zeros((_WIDTH + fallback.shape[0] + 1, flat.size), dtype=np.uint8)
    _write_exact(chars, flat, d, exp, exact)
    chars[_WIDTH:-1] = fallback
    chars[-1] = ord(",")
    chars[-1, values.shape[1] - 1 :: values.shape[1]] = ord("\n")
    return chars.T.tobytes().translate(None, b"\0").split(b"\n")[:-1]


def _digits(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Six rounded significant digits (an int in [1e5, 1e6)), decimal exponent, exactness.

    ``exact`` is False where float64 arithmetic cannot be trusted to round as
    ``'%.6g'`` does: zero, NaN, infinities, exponents outside the exact powers
    of ten, fractional parts within :data:`_TIE_MARGIN` of one half.
    """
    a = np.abs(flat)
    finite = np.isfinite(a) & (a > 0)
    with np.errstate(all="ignore"):
        exp = np.floor(np.log10(np.where(finite, a, 1.0))).astype(np.int64)
        exp = np.clip(exp, _MIN_EXP, _MAX_EXP)
        scaled = _scale(a, exp)
        exp = np.clip(exp - (scaled < 1e5) + (scaled >= 1e6), _MIN_EXP, _MAX_EXP)
        scaled = _scale(a, exp)
        rounded = np.rint(scaled)
        near_tie = np.abs(scaled - np.floor(scaled) - 0.5) < _TIE_MARGIN
    exact = finite & (scaled >= 1e5) & (scaled < 1e6) & ~near_tie
    exact &= (exp > _MIN_EXP) & (exp < _MAX_EXP)
    carry = rounded >= 1e6  # 999999.5 and above round up to 1.00000e(exp + 1)
    d = np.where(exact & ~carry, rounded, 100000).astype(np.int32)
    return d, exp + carry, exact


def _scale(a: np.ndarray, exp: np.ndarray) -> np.ndarray:
    """``a`` × 10^(5 - exp) by one multiply or divide by an exact power of ten."""
    shift = 5 - exp
    power = _POWERS[np.abs(shift)]
    return np.where(shift >= 0, a * power, a / power)


def _write_exact(
    chars: np.ndarray, flat: np.ndarray, d: np.ndarray, exp: np.ndarray, exact: np.ndarray
) -> None:
    """Write the ``exact`` cells' characters into ``chars`` (width, n); others stay NUL.

    Fixed notation (exponent -4 to 5, as ``%g``): ``exp + 1`` integer digits
    (zeros included) and the remaining significant ones after the point, or
    "0." and ``-exp - 1`` zeros first; exponent notation: ``d.ddddde±XX``.
    Trailing zeros of the six digits are dropped.
    """
    exp = exp.astype(np.int8)  # -17 to 28
    fixed = (exp >= -4) & (exp < 6)
    digits = [np.empty(0, np.uint8)] * 6
    significant = np.full(d.shape, 6, dtype=np.int8)
    rest, trailing = d.astype(np.uint32), np.ones(d.shape, dtype=bool)
    for j in range(5, -1, -1):  # floor division by a constant: 6x faster than divmod
        quotient = rest // 10
        digit = (rest - quotient * 10).astype(np.uint8)
        rest = quotient
        digits[j] = digit + _ZERO
        trailing &= digit == 0
        significant -= trailing & (j > 0)
    point = np.where(fixed, np.where(exp >= 0, exp + 1, 7), 1).astype(np.int8)
    shown = np.where(fixed & (exp >= 0), np.maximum(significant, exp + 1), significant) * exact
    chars[_SIGN] = (exact & np.signbit(flat)) * _MINUS
    lead = (1 - exp) * (exact & fixed & (exp < 0))
    for j, char in enumerate(_LEAD):
        chars[_SIGN + 1 + j] = (j < lead) * np.uint8(char)
    # Digit j in column 2j of the digits' piece; column 2j - 1 holds the point
    # when it precedes digit j (and a digit follows it).
    for j in range(6):
        chars[_DIGITS + 2 * j] = digits[j] * (j < shown)
        if j:
            chars[_DIGITS + 2 * j - 1] = ((point == j) & (shown > j)) * _DOT
    scientific = exact & ~fixed
    size = np.abs(exp).astype(np.uint8)
    chars[_EXPONENT] = scientific * np.uint8(ord("e"))
    chars[_EXPONENT + 1] = np.where(exp < 0, _MINUS, np.uint8(ord("+"))) * scientific
    chars[_EXPONENT + 2] = (size // 10 + _ZERO) * scientific
    chars[_EXPONENT + 3] = (size % 10 + _ZERO) * scientific


def _python_cells(flat: np.ndarray, where: np.ndarray) -> np.ndarray:
    """(width, n) Python's own ``'%.6g'`` of the cells ``where``, NUL-padded; NaN: empty."""
    rows = np.flatnonzero(where & ~np.isnan(flat))
    if rows.size == 0:
        return np.zeros((0, flat.size), dtype=np.uint8)
    # Each distinct bit pattern once: -0.0 ("-0") and 0.0 ("0") compare equal as floats.
    bits, inverse = np.unique(flat[rows].view(np.int64), return_inverse=True)
    texts = np.array([f"{v:.6g}" for v in bits.view(np.float64).tolist()], dtype=bytes)
    width = texts.dtype.itemsize
    cells = np.zeros((flat.size, width), dtype=np.uint8)
    cells[rows] = texts.view(np.uint8).reshape(-1, width)[inverse.ravel()]
    return cells.T

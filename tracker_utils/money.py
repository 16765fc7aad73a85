"""Money: one Decimal policy for every stage.

- Parse exactly (:func:`dec`): strings and ints as written, floats through their shortest repr, blanks as zero.
- Sum exactly (:func:`dsum`); never add values that were already rounded.
- Store exactly: in parquet, money columns are ``decimal128(38, 12)`` (:data:`ARROW_MONEY`, :func:`to_arrow`);
  a value that does not fit that scale is an error, never a silent rounding.
- Round once, at the output: :func:`money` (6 decimals, the data and JSON boundary), :func:`cents` and
  :func:`usd` (headlines). Rounding is ROUND_HALF_EVEN everywhere.
- Allocations that must add up use :func:`allocate` (largest remainder), so the rounded parts sum exactly to the
  rounded total.
"""
from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Iterable, Mapping

Q6 = Decimal("0.000001")          # data and JSON
CENT = Decimal("0.01")            # headlines
SCALE = 12                        # parquet money scale: exact for prices per 1K with up to 9 decimals
ZERO = Decimal(0)


def dec(value) -> Decimal:
    """Exact Decimal of an amount: a Decimal, int or string as written, a float via its shortest repr; None, "" and
    NaN are zero. Raises ValueError on text that is not a number."""
    if isinstance(value, Decimal):
        return value
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return ZERO
    try:
        d = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if d.is_nan():
        return ZERO
    return d


def dsum(values: Iterable) -> Decimal:
    """Exact sum of amounts (see :func:`dec`)."""
    total = ZERO
    for v in values:
        total += dec(v)
    return total


def quantize(d, q: Decimal = Q6) -> Decimal:
    return dec(d).quantize(q, rounding=ROUND_HALF_EVEN)


def money(d) -> str:
    """The data boundary: 6 decimals, e.g. ``'0.000639'``."""
    return str(quantize(d, Q6))


def plain(d) -> str:
    """An exact decimal as a plain string, no exponent, no trailing zeros: 0.00025, 0.070158, 0."""
    d = dec(d)
    if d == 0:
        return "0"
    s = format(d, "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def usd(d) -> str:
    """Headline dollars: cents from $0.10 up; smaller sums keep enough digits not to read as zero."""
    d = dec(d)
    sign, a = ("-" if d < 0 else ""), abs(d)
    q = CENT if a >= Decimal("0.1") or a == 0 else Decimal("0.0001") if a >= Decimal("0.01") else Q6
    return f"{sign}${a.quantize(q, rounding=ROUND_HALF_EVEN):,}"


def cents(d, sign: bool = False) -> str:
    """Headline money: dollars and cents ("<$0.01" for a non-zero amount under half a cent)."""
    d = dec(d)
    if d and abs(d) < Decimal("0.005"):
        return ("+" if sign and d > 0 else "-" if d < 0 else "") + "<$0.01"
    q = d.quantize(CENT, rounding=ROUND_HALF_EVEN)
    s = f"${abs(q):,}"
    return "-" + s if q < 0 else "+" + s if sign and q > 0 else s


def pct(part, whole, digits: int = 1) -> str:
    part, whole = dec(part), dec(whole)
    if not whole:
        return "n/a"
    return f"{(part / whole * 100).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)}%"


def allocate(parts: Mapping, q: Decimal = Q6, total=None) -> dict:
    """Round each exact part to ``q`` so that the rounded parts add up exactly to the rounded total (the exact sum
    of the parts, or ``total`` when given: the amount the parts split, e.g. a bill)
    (largest remainder: each part is floored, and the units left over go to the parts with the largest
    remainders, ties in key order)."""
    exact = {k: dec(v) for k, v in parts.items()}
    target = quantize(sum(exact.values(), ZERO) if total is None else total, q)
    floors = {k: (v / q).to_integral_value(rounding=ROUND_FLOOR) * q for k, v in exact.items()}
    left = int((target - sum(floors.values(), ZERO)) / q)          # 0 <= left <= len(parts)
    if not 0 <= left <= len(exact):
        raise ValueError(f"cannot split {target} over parts that add up to {sum(exact.values(), ZERO)}")
    keys = list(exact)
    order = sorted(keys, key=lambda k: (-(exact[k] - floors[k]), keys.index(k)))
    out = dict(floors)
    for k in order[:left]:
        out[k] += q
    return out


def prorate(amount, weights: Mapping, fallback: Mapping | None = None, q: Decimal = Q6) -> dict:
    """``amount`` split over ``weights`` (``fallback`` weights when they are all zero; equal parts when both are),
    rounded with :func:`allocate` so the parts add up exactly to the rounded amount."""
    amount = dec(amount)
    w = {k: dec(v) for k, v in weights.items()}
    if not sum(w.values(), ZERO) and fallback is not None:
        w = {k: dec(v) for k, v in fallback.items()}
    total = sum(w.values(), ZERO)
    if not total:
        w, total = {k: Decimal(1) for k in weights}, Decimal(len(weights))
    return allocate({k: amount * v / total for k, v in w.items()}, q=q, total=amount) if w else {}


# --- parquet -------------------------------------------------------------------------------------------------
def arrow_type():
    import pyarrow as pa
    return pa.decimal128(38, SCALE)


def to_arrow(values: Iterable):
    """A ``decimal128(38, 12)`` array of exact amounts; raises ValueError if one needs more than 12 decimals."""
    import pyarrow as pa
    q = Decimal(1).scaleb(-SCALE)
    out = []
    for v in values:
        d = dec(v)
        r = d.quantize(q)
        if r != d:
            raise ValueError(f"money amount {d} needs more than {SCALE} decimals")
        out.append(r)
    return pa.array(out, type=arrow_type())


def to_series(values: Iterable, index=None):
    """A pandas column of exact amounts backed by ``decimal128(38, 12)``: written to parquet as such, never as text
    or floats (see :func:`to_arrow`)."""
    import pandas as pd
    return pd.Series(pd.arrays.ArrowExtensionArray(to_arrow(values)), index=index)

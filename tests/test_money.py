"""The one Decimal policy: exact parsing and sums, one rounding at the output, allocations that add up."""
from __future__ import annotations

import random
from decimal import Decimal as D

import pyarrow as pa
import pytest

from tracker_utils import money


@pytest.mark.parametrize("value, exact", [
    ("0.000639", D("0.000639")), (0.1, D("0.1")), (3, D(3)), (None, D(0)), ("", D(0)), (float("nan"), D(0)),
    (D("6.3750E-4"), D("0.00063750")), (" 1.5 ", D("1.5")),
])
def test_dec_is_exact(value, exact):
    assert money.dec(value) == exact


def test_dec_rejects_text_that_is_not_a_number():
    with pytest.raises(ValueError, match="not a decimal amount: 'abc'"):
        money.dec("abc")


def test_formats_round_half_even_once():
    assert money.money(D("0.0000005")) == "0.000000" and money.money(D("0.0000015")) == "0.000002"
    assert money.cents(D("13.625")) == "$13.62" and money.cents(D("0.004")) == "<$0.01"
    assert money.cents(D("-1.5"), sign=True) == "-$1.50" and money.cents(D("2"), sign=True) == "+$2.00"
    assert money.usd(D("0.05")) == "$0.0500" and money.usd(D("0.000639")) == "$0.000639" and money.usd(D(0)) == "$0.00"
    assert money.plain(D("6.3750E-4")) == "0.0006375" and money.plain(D(0)) == "0"
    assert money.pct(D(1), D(3)) == "33.3%" and money.pct(1, 0) == "n/a"


def test_sum_of_rounded_parts_can_miss_the_rounded_total_but_allocate_never_does():
    parts = {"a": D("0.0000005"), "b": D("0.0000005"), "c": D("0.0000005")}
    naive = sum(money.quantize(v) for v in parts.values())
    total = money.quantize(sum(parts.values()))
    assert naive != total                                  # the bug the policy exists for: 0.000000 vs 0.000002
    shares = money.allocate(parts)
    assert sum(shares.values()) == total == D("0.000002")
    assert all(abs(shares[k] - parts[k]) < money.Q6 for k in parts)


def test_allocate_adds_up_on_random_parts_with_negatives():
    rng = random.Random(7)
    for _ in range(500):
        parts = {i: D(rng.randint(-10**9, 10**10)) / D(10**rng.randint(6, 12)) for i in range(rng.randint(1, 12))}
        shares = money.allocate(parts)
        assert sum(shares.values()) == money.quantize(sum(parts.values()))
        assert all(abs(shares[k] - parts[k]) < money.Q6 for k in parts)
        assert all(s == s.quantize(money.Q6) for s in shares.values())


def test_parquet_money_is_decimal128_and_never_silently_rounded():
    arr = money.to_arrow([D("0.00000025"), "1.5", 3, None])
    assert arr.type == pa.decimal128(38, 12)
    assert arr.to_pylist() == [D("0.000000250000"), D("1.5"), D(3), D(0)]
    with pytest.raises(ValueError, match="more than 12 decimals"):
        money.to_arrow([D("0.0000000000001")])


def test_prorate_adds_up_and_falls_back():
    from tracker_utils.money import prorate
    parts = prorate("1.000001", {"a": 1, "b": 1, "c": 1})
    assert sum(parts.values()) == D("1.000001")
    assert sorted(parts.values()) == [D("0.333333"), D("0.333334"), D("0.333334")]
    assert prorate("0.5", {"a": 0, "b": 0}, {"a": 3, "b": 1}) == {"a": D("0.375"), "b": D("0.125")}
    assert prorate("0.3", {"a": 0, "b": 0}, {"a": 0, "b": 0}) == {"a": D("0.15"), "b": D("0.15")}
    assert prorate("1", {}) == {}

"""An organization's bill, read in a member account's collection: the payer's lines, kept for one account.

The payer's bill (Cost Explorer grouped by LINKED_ACCOUNT, or CUR 2.0 with ``line_item_usage_account_id``) holds the
lines of every member account. A member's chain keeps its own and states what else was on the bill (per account,
lines and cost), so that the organization's views can tell accounts with no logs (``account_not_logged``) and
accounts absent from the bill.
"""
from __future__ import annotations

import pandas as pd

from tracker_utils.money import dec, plain


class NoAccountColumn(ValueError):
    """A consolidated bill whose lines do not name their member account."""


def member_lines(bill: pd.DataFrame, account: str) -> tuple[pd.DataFrame, dict]:
    """(the lines of ``account``, what the bill holds per account: {id: {"lines", "cost_usd"}}). Lines that name no
    account on a consolidated bill are an error: the request lacked LINKED_ACCOUNT (or the CUR export its
    ``line_item_usage_account_id`` column), and splitting it by guess would move one account's cost to another."""
    if not len(bill):
        return bill, {"this": account, "on_bill": {}}
    nameless = bill["account"].fillna("") == ""
    if nameless.any():
        raise NoAccountColumn(
            f"consolidated bill: {int(nameless.sum())} line(s) name no member account (Cost Explorer needs GroupBy "
            "LINKED_ACCOUNT, CUR 2.0 the line_item_usage_account_id column); set consolidated_bill: false for the "
            "bill of one account")
    on_bill = {}
    for a, g in bill.groupby("account", sort=True):
        regions = g["region"].fillna("").astype(str)
        on_bill[str(a)] = {"lines": int(len(g)), "cost_usd": _sum(g["cost_usd"]),
                           "by_region": {r: _sum(x["cost_usd"]) for r, x in g.groupby(regions, sort=True)}}
    mine = bill[bill["account"] == account].reset_index(drop=True)
    return mine, {"this": account, "on_bill": on_bill}


def _sum(values) -> str:
    return plain(sum((dec(c) for c in values), dec(0)))

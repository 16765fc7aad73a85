"""The organization's chargeback of a month: every member account's chargeback rows with an account column, one row
per account with no logs (its whole bill, ``account_not_logged``), per-account totals and the organization total,
which equals the consolidated bill of the month's days.

In: the run's Params, the members' Params, the organization document (:mod:`tracker_utils.report.organization`).
Each member's own chargeback is ``<output_dir>/<id>/periods/<month>/chargeback.csv`` (its roll-up made it). Out:
``<output_dir>/periods/<month>/chargeback.csv`` and ``chargeback.json``.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from tracker_utils.config import Params, resolve_path
from tracker_utils.io import write_json
from tracker_utils.money import dec, money
from tracker_utils.report import catalog
from tracker_utils.report.chargeback import _write_csv
from tracker_utils.report.redact import Redactor

NOT_LOGGED_APP = "(account not logged)"


def _member_rows(m: Params, month: str) -> tuple[list[str], list[dict]]:
    f = resolve_path(m.output_dir) / catalog.PERIODS / month / "chargeback.csv"
    if not f.exists():
        return [], []
    with f.open(newline="") as fh:
        rd = csv.DictReader(fh)
        return list(rd.fieldnames or []), list(rd)


def write_org_chargeback(p: Params, members: list[Params], doc: dict) -> list[Path]:
    """One organization chargeback per calendar month of the run; returns the CSV paths."""
    names = {a["id"]: a.get("name", "") for a in p.accounts}
    r = Redactor(enabled=p.redact)
    paths = []
    for month in catalog.periods_of(p.dates):
        cols, rows, per = [], [], defaultdict(lambda: {"billed": Decimal(0), "logs": Decimal(0)})
        missing = []
        for m in members:
            c, rs = _member_rows(m, month)
            if not rs and not c:
                missing.append(m.account)
            cols = cols or c
            for x in rs:
                rows.append({"account": m.account, "account_name": names.get(m.account, ""), **x})
                per[m.account]["billed"] += dec(x.get("billed_share_usd") or 0)
                per[m.account]["logs"] += dec(x.get("cost_usd") or 0)
        for g in doc["account_not_logged"]:
            if g["date"][:7] == month:
                per[g["account"]]["billed"] += dec(g["cost_usd"])
        for acct in sorted(a for a in per if a not in {m.account for m in members}):
            rows.append({"account": acct, "account_name": "", "app": NOT_LOGGED_APP, "matched": "False",
                         "billed_share_usd": money(per[acct]["billed"]), "cost_usd": money(0)})
        consolidated = sum((dec(d["consolidated_exact_usd"]) for d in doc["days"]      # exact: rounded once below
                            if d.get("known") and d["date"][:7] == month), Decimal(0))
        total = sum((v["billed"] for v in per.values()), Decimal(0))
        folder = resolve_path(p.output_dir) / catalog.PERIODS / month
        folder.mkdir(parents=True, exist_ok=True)
        head = ["account", "account_name"] + [c for c in (cols or ["app", "matched", "cost_usd", "billed_share_usd"])]
        paths.append(_write_csv(folder / "chargeback.csv", head, [r.obj(x) for x in rows]))
        write_json(folder / "chargeback.json", r.obj({
            "period": month, "currency": "USD", "members_missing": missing,
            "accounts": [{"account": a, "name": names.get(a, ""), "logged": a in {m.account for m in members},
                          "billed_usd": money(v["billed"]), "logs_cost_usd": money(v["logs"])}
                         for a, v in sorted(per.items())],
            "organization_billed_usd": money(total), "consolidated_bill_usd": money(consolidated),
            "method": "each member's chargeback (its share of its bill per application), and the whole bill of each "
                      "account with no logs"}))
    return paths

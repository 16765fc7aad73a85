"""The organization's roll-up of a period: ``<output_dir>/periods/<month>/rollup.html`` and ``rollup.json``.

In: the run's Params and the organization document (:func:`tracker_utils.report.organization.organization`, whose
per-report bill shares and unlogged lines are exact). Out: one row per account (the members, and each account on
the bill with no logs) and one per account and region: its bill (its lines of the consolidated bill), its reports'
logs cost and how many reports there are. The organization total is the consolidated bill of the month's days,
summed exactly and rounded once; the account cents on the page add up to it (``money.allocate`` through
:func:`tracker_utils.report.html.money_cells`) when the month balances. Account ids are aliased with ``redact``
(the page and the JSON are built from the redacted document).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from tracker_utils.config import Params, resolve_path
from tracker_utils.io import write_json
from tracker_utils.money import cents, dec, money
from tracker_utils.report import catalog
from tracker_utils.report.html import Money, money_cells, render, safe, table, wrap
from tracker_utils.report.redact import Redactor

ROLLUP_HTML, ROLLUP_JSON = "rollup.html", "rollup.json"


def _cell() -> dict:
    return {"billed": Decimal(0), "logs": Decimal(0), "reports": 0}


def _add(cells: dict, per: dict, acct: str, region: str, billed=0, logs=0, reports=0) -> None:
    for c in (cells[(acct, region)], per[acct]):
        c["billed"] += dec(billed)
        c["logs"] += dec(logs)
        c["reports"] += reports


def _row(c: dict) -> dict:
    return {"billed_usd": money(c["billed"]), "logs_cost_usd": money(c["logs"]), "reports": c["reports"]}


def period_doc(doc: dict, month: str, names: dict, configured: set) -> dict:
    """The organization's figures of one calendar month (exact sums; 6-decimal strings rounded once here)."""
    days = [d for d in doc["days"] if d["date"][:7] == month]
    known = [d for d in days if d.get("known")]
    consolidated = sum((dec(d["consolidated_exact_usd"]) for d in known), Decimal(0))
    cells: dict = defaultdict(_cell)
    per: dict = defaultdict(_cell)
    for x in (x for x in doc["runs"] if x["date"][:7] == month):
        done = x["billed_cost_usd"] is not None
        _add(cells, per, x["account"], x["region"], x.get("bill_usd", 0), x["logs_cost_usd"] if done else 0, int(done))
    for g in doc["account_not_logged"] + doc["unreported_regions"]:
        if g["date"][:7] == month:
            _add(cells, per, g["account"], g["region"] or "", g["cost_usd"])
    billed = sum((c["billed"] for c in per.values()), Decimal(0))
    balanced = bool(days) and len(known) == len(days) and billed == consolidated and all(d["balanced"] for d in known)
    statements = [f"NO BILL {d['date']}: the consolidated bill of the day was not read; the total leaves it out"
                  for d in days if not d.get("known")]
    statements += [f"UNBALANCED {d['date']}: the members' reports, the accounts not logged and the unreported regions "
                   "do not add up to the consolidated bill" for d in known if not d["balanced"]]
    statements += [f"REPORTS MISSING {d['date']}: not every member report of the day exists" for d in known
                   if not d.get("complete")]
    statements += [f"ACCOUNT NOT LOGGED {a}: {cents(per[a]['billed'])} of Bedrock usage on the bill, no logs configured"
                   for a in sorted(per) if a not in configured]
    return {"period": month, "start": days[0]["date"] if days else "", "end": days[-1]["date"] if days else "",
            "days": len(days), "days_known": len(known), "organization_total_usd": money(consolidated),
            "accounts_billed_usd": money(billed), "balanced": balanced,
            "complete": all(d.get("complete") for d in days) and bool(days),
            "accounts": [{"account": a, "name": names.get(a, ""), "logged": a in configured, **_row(per[a])}
                         for a in sorted(per)],
            "regions": [{"account": a, "region": r, **_row(c)} for (a, r), c in sorted(cells.items())],
            "statements": statements}


def _page(pd_doc: dict, redacted: bool) -> str:
    """The roll-up page: ``templates/org_rollup.html.j2`` (autoescaped) over the kit's tables."""
    import pandas as pd
    total = dec(pd_doc["organization_total_usd"])
    accts, regions = pd_doc["accounts"], pd_doc["regions"]
    fit = total if pd_doc["balanced"] else None           # the account cents add up to the headline's cents
    billed = money_cells([a["billed_usd"] for a in accts], total=fit)
    logs = money_cells([a["logs_cost_usd"] for a in accts])
    table_a = pd.DataFrame([{"account": a["account"], "name": a["name"], "logs": "configured" if a["logged"] else "none",
                             "reports": a["reports"], "billed": billed[i], "logs cost": logs[i]}
                            for i, a in enumerate(accts)]
                           + [{"account": "organization", "name": "", "logs": "",
                               "reports": sum(a["reports"] for a in accts), "billed": Money(total),
                               "logs cost": Money(sum((dec(a["logs_cost_usd"]) for a in accts), Decimal(0)))}])
    rb = money_cells([r["billed_usd"] for r in regions], total=fit)
    table_r = pd.DataFrame([{"account": r["account"], "region": r["region"] or "(no region)", "reports": r["reports"],
                             "billed": rb[i], "logs cost": Money(r["logs_cost_usd"])} for i, r in enumerate(regions)]
                           + [{"account": "organization", "region": "", "reports": sum(r["reports"] for r in regions),
                               "billed": Money(total), "logs cost": ""}])
    num = ("reports", "billed", "logs cost")
    return wrap(render("org_rollup.html.j2", period=pd_doc["period"], start=pd_doc["start"], end=pd_doc["end"],
                       total=Money(total), days_known=pd_doc["days_known"], balanced=pd_doc["balanced"],
                       statements=pd_doc["statements"], links=[a for a in accts if a["logged"]], redacted=redacted,
                       accounts_table=safe(table(table_a, num=num, total=True)),
                       regions_table=safe(table(table_r, num=num, total=True))))


def write_org_rollups(p: Params, doc: dict) -> list[Path]:
    """``periods/<month>/rollup.html`` and ``rollup.json`` of every calendar month of the run; returns the pages."""
    names = {a["id"]: a.get("name") or "" for a in p.accounts}
    configured = {a["id"] for a in p.accounts}
    r = Redactor(enabled=p.redact)
    out = []
    for month in catalog.periods_of(p.dates):
        shared = r.obj(period_doc(doc, month, names, configured))
        folder = resolve_path(p.output_dir) / catalog.PERIODS / month
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / ROLLUP_JSON, {**shared, "written": dt.datetime.now(dt.timezone.utc).isoformat(
            timespec="seconds")})
        page = folder / ROLLUP_HTML
        tmp = page.with_name(page.name + ".part")
        tmp.write_text(_page(shared, redacted=p.redact))
        tmp.replace(page)
        out.append(page)
    return out


__all__ = ["ROLLUP_HTML", "ROLLUP_JSON", "period_doc", "write_org_rollups"]

"""An organization's views: every member account's reports in one index, per-account totals, the usage of accounts
with no logs (``account_not_logged``) and an organization total that equals the consolidated bill.

In: the run's Params (with ``accounts:``), each member's Params (:func:`tracker_utils.config.member_params`) and
the outcomes of their chains. Each member chain's ``data/collect.json`` states the payer's bill of its day per
account and region (``bill.accounts.on_bill``), so the whole bill is known from any chain of that day. Out:
``<output_dir>/organization.json`` and ``<output_dir>/index.html`` (account ids aliased when ``redact``).

The identity, per day: consolidated bill = the members' billed cost in their reports (their configured regions)
+ ``account_not_logged`` (accounts on the bill not configured) + the members' bill in regions they do not report
(``unreported_region``). The organization total is the consolidated bill; the identity is checked, not assumed.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from tracker_utils import gaps
from tracker_utils.config import Params, resolve_path, run_dir
from tracker_utils.io import read_json, write_json
from tracker_utils.money import cents, dec, money, plain
from tracker_utils.report.html import render, safe, table, wrap
from tracker_utils.report.redact import Redactor

ORG_FILE = "organization.json"


def _chain_docs(m: Params, date: str, region: str) -> tuple[dict | None, dict | None]:
    """(summary.json, data/collect.json) of one member chain, None where absent."""
    rd = run_dir(m.output_dir, date, region)
    summary = read_json(rd / "summary.json") if (rd / "summary.json").exists() else None
    collect = read_json(rd / "data" / "collect.json") if (rd / "data" / "collect.json").exists() else None
    return summary, collect


def _member_rows(members: list[Params], dates: list[str], status: dict) -> tuple[list[dict], dict]:
    """One row per member, date and region (its report's totals), and the payer's bill per day as the chains saw
    it: {date: {account: {region: cost}}}."""
    rows, on_bill = [], {}
    for m in members:
        for d in dates:
            for r in m.regions:
                summary, collect = _chain_docs(m, d, r)
                accts = ((collect or {}).get("bill") or {}).get("accounts") or {}
                if accts.get("on_bill") is not None and d not in on_bill:
                    on_bill[d] = {a: dict(v.get("by_region") or {}) for a, v in accts["on_bill"].items()}
                t = (summary or {}).get("totals") or {}
                rows.append({"account": m.account, "date": d, "region": r,
                             "status": status.get((m.account, d, r), "complete" if summary else "missing"),
                             "report": f"{m.account}/{d}/{r}/report.html" if summary else "",
                             "billed_cost_usd": t.get("billed_cost_usd", "0") if summary else None,
                             "logs_cost_usd": t.get("logs_cost_usd", "0") if summary else None,
                             "cloudwatch_cost_usd": t.get("cloudwatch_cost_usd", "0") if summary else None})
    return rows, on_bill


TOLERANCE = Decimal("0.000001")      # a report's billed cost is quantized to 6 decimals; the bill's lines are exact


def _day(d: str, bill: dict, rows: list[dict], configured: dict, not_logged: list, unreported: list) -> dict:
    """One day of the identity: the consolidated bill split into the members' reported regions, the accounts not
    logged and the members' other regions; each member report's billed cost checked against its share."""
    total = sum((dec(c) for regions in bill.values() for c in regions.values()), Decimal(0))
    for acct, regions in sorted(bill.items()):
        for r, c in sorted(regions.items()):
            line = {"account": acct, "date": d, "region": r or None, "cost_usd": plain(dec(c))}
            if acct not in configured:
                not_logged.append({"kind": "account_not_logged", **line})
            elif r not in configured[acct].regions:
                unreported.append(line)
    mine = [x for x in rows if x["date"] == d]
    for x in mine:
        x["bill_usd"] = plain(dec((bill.get(x["account"]) or {}).get(x["region"], "0")))
        x["matches_bill"] = x["billed_cost_usd"] is not None and \
            abs(dec(x["billed_cost_usd"]) - dec(x["bill_usd"])) <= TOLERANCE
    reported = sum((dec(x["bill_usd"]) for x in mine), Decimal(0))
    nl = sum((dec(x["cost_usd"]) for x in not_logged if x["date"] == d), Decimal(0))
    ur = sum((dec(x["cost_usd"]) for x in unreported if x["date"] == d), Decimal(0))
    complete = all(x["billed_cost_usd"] is not None for x in mine)
    return {"date": d, "known": True, "consolidated_usd": money(total),
            "consolidated_exact_usd": plain(total), "members_reported_usd": money(reported),
            "account_not_logged_usd": money(nl), "unreported_region_usd": money(ur), "complete": complete,
            "balanced": complete and reported + nl + ur == total and all(x["matches_bill"] for x in mine)}


def organization(p: Params, members: list[Params], outcomes: list[dict] = ()) -> dict:
    """The organization document (see the module's identity); nothing is written."""
    status = {(o.get("account", ""), o["date"], o["region"]): o["status"] for o in outcomes}
    names = {a["id"]: a.get("name") or a["id"] for a in p.accounts}
    configured = {m.account: m for m in members}
    rows, on_bill = _member_rows(members, p.dates, status)
    not_logged, unreported, absent, days = [], [], [], []
    for d in p.dates:
        if d not in on_bill:
            days.append({"date": d, "consolidated_usd": None, "known": False, "complete": False, "balanced": False})
            continue
        days.append(_day(d, on_bill[d], rows, configured, not_logged, unreported))
        absent += [{"account": a, "date": d} for a in configured if a not in on_bill[d]]
    known = [x for x in days if x["known"]]
    org_total = sum((dec(c) for d in on_bill.values() for regions in d.values() for c in regions.values()), Decimal(0))
    return {"accounts": _per_account(on_bill, rows, names, configured), "runs": rows, "days": days,
            "account_not_logged": not_logged, "unreported_regions": unreported, "absent_from_bill": absent,
            "organization_total_usd": money(org_total), "complete": all(x["complete"] for x in days),
            "balanced": bool(known) and all(x["balanced"] for x in known),
            "statements": _statements(days, not_logged, absent, names)}


def _per_account(on_bill: dict, rows: list[dict], names: dict, configured: dict) -> list[dict]:
    """Each account's bill over the run (every region, from the consolidated bill) and its reports' logs cost."""
    billed: dict[str, Decimal] = defaultdict(Decimal)
    for bill in on_bill.values():
        for a, regions in bill.items():
            billed[a] += sum((dec(c) for c in regions.values()), Decimal(0))
    logs: dict[str, Decimal] = defaultdict(Decimal)
    reports: dict[str, int] = defaultdict(int)
    for x in rows:
        if x["billed_cost_usd"] is not None:
            logs[x["account"]] += dec(x["logs_cost_usd"])
            reports[x["account"]] += 1
    return [{"account": a, "name": names.get(a, ""), "logged": a in configured, "reports": reports[a],
             "billed_cost_usd": money(billed[a]), "logs_cost_usd": money(logs[a])}
            for a in sorted(set(billed) | set(configured))]


def _statements(days, not_logged, absent, names) -> list[str]:
    out = []
    by_acct: dict[str, Decimal] = defaultdict(Decimal)
    for x in not_logged:
        by_acct[x["account"]] += dec(x["cost_usd"])
    for a, c in sorted(by_acct.items()):
        out.append(f"ACCOUNT NOT LOGGED {a}: {cents(c)} of Bedrock usage on the bill, no logs configured "
                   f"({gaps.kind('account_not_logged').label})")
    for x in absent:
        out.append(f"ABSENT FROM BILL {x['account']} ({names.get(x['account'], '')}) on {x['date']}: configured, "
                   "no Bedrock line on the consolidated bill")
    for x in days:
        if not x["known"]:
            out.append(f"NO BILL {x['date']}: the consolidated bill of the day was not read; the organization "
                       "total leaves it out")
        elif not x["balanced"]:
            out.append(f"UNBALANCED {x['date']}: members {x['members_reported_usd']} + not logged "
                       f"{x['account_not_logged_usd']} + unreported regions {x['unreported_region_usd']} != "
                       f"consolidated {x['consolidated_usd']}" + ("" if x["complete"] else " (reports missing)"))
    return out


def write_organization(p: Params, members: list[Params], outcomes: list[dict] = ()) -> dict:
    """``organization.json`` and ``index.html`` in the run's output folder; returns the document, with ``index``
    (the page's path) and ``statements`` (one line each, for the log)."""
    doc = organization(p, members, outcomes)
    out = resolve_path(p.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = Redactor(enabled=p.redact)
    shared = r.obj(doc)
    write_json(out / ORG_FILE, {**shared, "written": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    index = out / "index.html"
    tmp = index.with_name(index.name + ".part")
    tmp.write_text(_page(shared, redacted=p.redact))
    tmp.replace(index)
    from tracker_utils.report.org_chargeback import write_org_chargeback
    from tracker_utils.report.org_rollup import write_org_rollups
    write_org_chargeback(p, members, doc)
    rollups = write_org_rollups(p, doc)
    return {**doc, "index": index, "rollups": rollups}


def _page(doc: dict, redacted: bool) -> str:
    """The organization's index, through ``templates/organization.html.j2`` (autoescaped: every value from data)."""
    import pandas as pd
    accts = pd.DataFrame([{"account": a["account"], "name": a["name"], "logs": "configured" if a["logged"] else "none",
                           "reports": a["reports"], "billed": cents(dec(a["billed_cost_usd"])),
                           "logs cost": cents(dec(a["logs_cost_usd"]))} for a in doc["accounts"]]
                         + [{"account": "organization", "name": "", "logs": "", "reports": "",
                             "billed": cents(dec(doc["organization_total_usd"])), "logs cost": ""}])
    runs = [{**x, "billed": cents(dec(x["billed_cost_usd"])) if x["billed_cost_usd"] else ""} for x in doc["runs"]]
    body = render("organization.html.j2", total=cents(dec(doc["organization_total_usd"])), balanced=doc["balanced"],
                  statements=doc["statements"], accounts=[a for a in doc["accounts"] if a["logged"]],
                  months=sorted({x["date"][:7] for x in doc["runs"]}), runs=runs, redacted=redacted,
                  accounts_table=safe(table(accts, num=("reports", "billed", "logs cost"), total=True)))
    return wrap(body)

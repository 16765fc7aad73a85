"""A month's budgets against what was billed: ``outputs/periods/<month>/alerts.json`` and the roll-up's budget table.

In: the month's completed summaries (the bill's total, and each application's share with its team and cost
centre) and the budgets file (:mod:`tracker_utils.budgets`). Out: every budget with its month to date, forecast and
status; alerts.json lists those at risk or over.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd

from tracker_utils import budgets
from tracker_utils.apps import Attribution
from tracker_utils.config import ParamError, Params, resolve_path
from tracker_utils.io import write_json
from tracker_utils.money import dec
from tracker_utils.report.html import Money, badge, box, esc, table

BADGES = {"ok": "ok", "at_risk": "warn", "over": "bad"}


def daily_amounts(summaries: list[dict]) -> dict[tuple[str, str], dict[str, Decimal]]:
    """(scope, name) -> {date: billed}: the bill's total per day, and per application, team and cost centre."""
    out: dict[tuple[str, str], dict[str, Decimal]] = {}

    def add(key, date, amount):
        day = out.setdefault(key, {})
        day[date] = day.get(date, Decimal(0)) + dec(amount)

    for s in summaries:
        add(("total", ""), s["date"], s["totals"]["billed_cost_usd"])
        for a in s.get("apps", []):
            add(("app", a["app"]), s["date"], a["billed_share_usd"])
            if a.get("team"):
                add(("team", a["team"]), s["date"], a["billed_share_usd"])
            if a.get("cost_centre"):
                add(("cost_centre", a["cost_centre"]), s["date"], a["billed_share_usd"])
    return out


def load_budgets(p: Params) -> dict:
    """The params' budgets, checked against the applications, teams and cost centres of apps.yaml."""
    rules = Attribution.load(resolve_path(p.apps_file)).rules
    try:
        return budgets.load(resolve_path(p.budgets_file), budgets.known_names(rules))
    except budgets.BudgetError as e:
        raise ParamError(str(e)) from None


def evaluate(p: Params, month: str, summaries: list[dict]) -> list[dict]:
    b = load_budgets(p)
    return budgets.evaluate(b, daily_amounts([s for s in summaries if s["date"][:7] == month]), month) if b else []


def write_alerts(p: Params, month: str, summaries: list[dict], folder: Path) -> dict:
    """``alerts.json`` of a month: the budgets at risk or over (and how many are ok)."""
    rows = evaluate(p, month, summaries)
    doc = {"month": month, "days_reported": len({s["date"] for s in summaries if s["date"][:7] == month}),
           "over": [r for r in rows if r["status"] == "over"], "at_risk": [r for r in rows if r["status"] == "at_risk"],
           "ok": sum(r["status"] == "ok" for r in rows), "method": budgets.__doc__.split("\n\n")[1].replace("\n", " ")}
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "alerts.json", doc)
    return doc


def budget_box(p: Params, month: str, summaries: list[dict]) -> str:
    """The month's budgets: actual month to date, the month-end forecast with its range, and the status."""
    rows = evaluate(p, month, summaries)
    if not rows:
        return "<p class='sub'>No budgets (params/budgets.yaml; see params/budgets.example.yaml).</p>"
    show = pd.DataFrame([{"Budget for": "Total" if r["scope"] == "total" else f"{r['scope'].replace('_', ' ')} {r['name']}",
                          "Monthly budget": Money(r["budget_usd"]), "Month to date": Money(r["mtd_usd"]),
                          "Month-end forecast": Money(r["forecast_usd"]),
                          "Range (95%)": "n/a" if r["forecast_low_usd"] is None
                          else f"{Money(r['forecast_low_usd'])} to {Money(r['forecast_high_usd'])}",
                          "Status": badge(r["status"].replace("_", " "), BADGES[r["status"]])} for r in rows])
    bad = [r for r in rows if r["status"] != "ok"]
    head = (f"<b>Budgets for {esc(month)}</b>: " + (", ".join(f"{esc(r['name'] or 'total')} {r['status'].replace('_', ' ')}"
                                                            for r in bad) if bad else "all within budget"))
    return box(head + table(show, {"Monthly budget", "Month to date", "Month-end forecast"}, raw={"Status"})
               + f"<small>{esc(budgets.__doc__.split(chr(10) * 2)[1])}</small>",
               "bad" if any(r["status"] == "over" for r in rows) else "warn" if bad else "ok")

"""The chargeback of a period: per application, team and cost centre, the share of the bill and where it comes from.

In: :class:`~tracker_utils.report.period.RollupData`. Out: the chargeback table of the roll-up, and beside it
``chargeback.csv``, ``chargeback.json`` and ``by_day_region.csv`` (exact decimal strings; the same period and
summaries give the same bytes, whichever runs made them) and ``focus.csv`` (:mod:`focus`).
"""
from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pandas as pd

from tracker_utils.apps import is_unattributed
from tracker_utils.io import write_json
from tracker_utils.money import allocate, money
from tracker_utils.report.html import Money, money_cells, table
from tracker_utils.report.period import RollupData, totals
from tracker_utils.schema import TOKENS

SHARE_COLUMNS = ["cost_usd", "billed_share_usd", "unpriced_share_usd", "beyond_logs_share_usd",
                 "batch_share_usd", "provisioned_share_usd"]     # the last two: parts of billed_share_usd


BASIS_WORDS = {"net": "the net bill (after credits, refunds and discounts)",
               "gross": "the gross bill (list price, before credits, refunds and discounts)"}


def basis(rd: RollupData) -> str:
    """``chargeback_basis``: which bill the chargeback allocates, ``net`` (the default) or ``gross``."""
    return getattr(getattr(rd, "params", None), "chargeback_basis", "net") or "net"


def _adjusted(s: dict) -> bool:
    return any(Decimal(v) for v in (s.get("totals", {}).get("adjustments_usd") or {}).values())


def _with_basis(s: dict, a: dict, gross: bool) -> dict:
    """An app row whose ``billed_share_usd`` is its share of the basis bill. A summary written before gross shares
    existed has none: its net share is its gross share only when the day has no adjustments (else it is named)."""
    if not gross:
        return a
    g = a.get("gross_share_usd")
    if g is None:
        if _adjusted(s):
            raise ValueError(f"{s['date']}/{s['region']}: the summary has credits, refunds or discounts and no gross "
                             "shares (written before chargeback_basis existed): re-run its reconcile to charge gross")
        g = a["billed_share_usd"]
    return {**a, "billed_share_usd": g}


def basis_total(rd: RollupData) -> Decimal:
    """The bill the chargeback allocates: the net bill, or the gross one."""
    key = "gross_cost_usd" if basis(rd) == "gross" else "billed_cost_usd"
    return sum((Decimal(s["totals"].get(key) or s["totals"]["billed_cost_usd"]) for s in rd.summaries), Decimal(0))


def chargeback_frame(rd: RollupData) -> pd.DataFrame:
    """Per application over the run: team, cost centre, invocations, tokens, cost from logs, share of the bill (of
    the ``chargeback_basis`` bill, net or gross). Money columns hold Decimals."""
    acc: dict[tuple, dict] = {}
    gross = basis(rd) == "gross"
    for s in rd.summaries:
        for a in (_with_basis(s, a, gross) for a in s.get("apps", [])):
            k = (a["app"], a.get("team", ""), a.get("cost_centre", ""))
            x = acc.setdefault(k, {"app": k[0], "team": k[1], "cost_centre": k[2], "matched": True, "invocations": 0,
                                   **{t: 0 for t in TOKENS}, **{c: Decimal(0) for c in SHARE_COLUMNS}, "days": set()})
            x["matched"] = x["matched"] and not is_unattributed(a)
            x["invocations"] += int(a["invocations"])
            for t in TOKENS:
                x[t] += int(a.get(t, 0))
            for c in SHARE_COLUMNS:
                x[c] += Decimal(a.get(c) or 0)
            x["days"].add(s["date"])
    rows = sorted(acc.values(), key=lambda x: (not x["matched"], -x["billed_share_usd"], x["app"]))
    shares = sum((x["billed_share_usd"] for x in rows), Decimal(0))
    # percentages of the bill at 2 decimals that add up to exactly 100.00 (largest remainder)
    pcts = allocate({i: x["billed_share_usd"] * 100 / shares for i, x in enumerate(rows)}, q=Decimal("0.01"),
                    total=Decimal(100)) if shares else {}
    for i, x in enumerate(rows):
        x["tokens"] = sum(x[t] for t in TOKENS)
        x["share_of_bill_pct"] = pcts.get(i)
        x["days"] = len(x["days"])
    cols = ["app", "team", "cost_centre", "matched", "invocations", *TOKENS, "tokens", *SHARE_COLUMNS,
            "share_of_bill_pct", "days"]
    return pd.DataFrame(rows, columns=cols)


def chargeback_table(rd: RollupData) -> str:
    df = chargeback_frame(rd)
    if df.empty:
        return "<p>No completed report: nothing to charge back.</p>"
    show_df = pd.DataFrame({
        "Application": [a + (" *" if Decimal(u) else "") for a, u in zip(df["app"], df["unpriced_share_usd"])],
        "Team": df["team"].replace("", "(none)"), "Cost centre": df["cost_centre"].replace("", "(none)"),
        "Invocations": df["invocations"].map("{:,}".format), "Tokens": df["tokens"].map("{:,}".format),
        "Cost from logs": money_cells(df["cost_usd"]), "Share of the bill": money_cells(df["billed_share_usd"]),
        "% of bill": df["share_of_bill_pct"].map(lambda v: f"{v}%" if v is not None else "n/a")})
    t = totals(rd)
    tot = {"Application": "Total", "Team": "", "Cost centre": "", "Invocations": f"{int(df['invocations'].sum()):,}",
           "Tokens": f"{int(df['tokens'].sum()):,}", "Cost from logs": Money(sum(df["cost_usd"], Decimal(0))),
           "Share of the bill": Money(sum(df["billed_share_usd"], Decimal(0))),
           "% of bill": f"{sum((v for v in df['share_of_bill_pct'] if v is not None), Decimal(0))}%"
           if t["billed"] else "n/a"}
    stated = f"<p class='sub'>Allocated: {BASIS_WORDS[basis(rd)]} (chargeback_basis: {basis(rd)}).</p>"
    show_df = pd.concat([show_df, pd.DataFrame([tot])], ignore_index=True)
    hl = [i for i, m in enumerate(df["matched"]) if not m]
    note = ("<p class='sub'>Highlighted rows matched no rule in apps.yaml: each is one IAM role (all its sessions) or "
            "user. A share marked * includes the scaled bill of a model with no price (unpriced share), which follows "
            "tokens, not cost. Download: <a href='chargeback.csv'>chargeback.csv</a> &middot; <a href='chargeback.json'>"
            "chargeback.json</a> (exact amounts, 6 decimals). The share of the bill of all applications can differ from "
            "the bill by usage that is never logged (batch, bedrock-mantle) and bill lines of unknown models.</p>")
    return stated + table(show_df, {"Invocations", "Tokens", "Cost from logs", "Share of the bill", "% of bill"}, hl,
                          total=True) + note


PERIOD_COLUMNS = ["period_start", "period_end", "regions", "currency"]
TEXT_COLUMNS = ("app", "team", "cost_centre")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(v):
    """A CSV cell a spreadsheet cannot run: text starting with ``= + - @``, a tab or a carriage return gets a
    leading ``'`` (OWASP's CSV-injection rule); numbers, and text that is a plain number, are left as they are."""
    if isinstance(v, str) and v.startswith(FORMULA_START) and not _NUMBER.fullmatch(v):
        return "'" + v
    return v


def write_chargeback(rd: RollupData) -> tuple[Path, Path]:
    """``chargeback.csv``, ``chargeback.json`` and ``by_day_region.csv`` beside the period's ``rollup.html`` (money
    as exact decimal strings; the same period and summaries give the same bytes, whichever runs made them)."""
    df = chargeback_frame(rd)
    out = rd.out_dir
    out.mkdir(parents=True, exist_ok=True)
    p = rd.params
    period = {"period_start": p.start, "period_end": p.end, "regions": " ".join(p.regions), "currency": "USD"}
    cols = ["app", "team", "cost_centre", "matched", "invocations", *TOKENS, "tokens", *SHARE_COLUMNS,
            "share_of_bill_pct"]
    rows = []
    for x in df.to_dict("records"):
        rows.append({c: (money(x[c]) if c in SHARE_COLUMNS else
                         ("" if x[c] is None else str(x[c])) if c == "share_of_bill_pct" else
                         rd.r(x[c]) if c in TEXT_COLUMNS else x[c]) for c in cols})
    csv_path = _write_csv(out / "chargeback.csv", PERIOD_COLUMNS + cols, [{**period, **r} for r in rows])
    _write_csv(out / "by_day_region.csv", ["date", "region", *cols[:5], *TOKENS, *SHARE_COLUMNS, "status"],
               by_day_region(rd))
    from tracker_utils.report import focus
    _write_csv(out / "focus.csv", focus.COLUMNS, focus.rows(rd))
    t = totals(rd)
    doc = {"period": {"start": p.start, "end": p.end, "name": rd.period}, "regions": p.regions, "currency": "USD",
           "reports_included": [f"{s['date']}/{s['region']}" for s in rd.summaries],
           "reports_missing": [f"{s['date']}/{s['region']}" for s in rd.states if s["status"] != "complete"],
           "billed_usd": money(t["billed"]), "logs_cost_usd": money(t["logs"]),
           "basis": basis(rd), "basis_usd": money(basis_total(rd)),
           "method": "share of the bill = the application's cost from logs scaled, per model, by billed / logs cost; "
                     f"the bill allocated is {BASIS_WORDS[basis(rd)]}",
           "applications": rows}
    json_path = write_json(out / "chargeback.json", doc)
    return csv_path, json_path


def by_day_region(rd: RollupData) -> list[dict]:
    """Per day, region and application: usage, cost from logs and share of the bill (for analysts)."""
    rows = []
    for s in rd.summaries:
        for a in s.get("apps", []):
            rows.append({"date": s["date"], "region": s["region"], "app": rd.r(a["app"]), "team": rd.r(a.get("team", "")),
                         "cost_centre": rd.r(a.get("cost_centre", "")), "matched": not is_unattributed(a),
                         "invocations": a["invocations"], **{t: a.get(t, 0) for t in TOKENS},
                         **{c: a.get(c, "0") for c in SHARE_COLUMNS}, "status": s.get("status", "")})
    return rows


def _write_csv(path: Path, cols: list[str], rows: list[dict]) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows([{c: csv_cell(v) for c, v in r.items()} for r in rows])
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(buf.getvalue())
    tmp.replace(path)
    return path

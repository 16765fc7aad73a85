"""A period's roll-up report: ``notebooks/05_rollup.ipynb`` run into ``outputs/periods/<period>/rollup.ipynb`` and
``rollup.html`` (the page parts are here; the data is :mod:`period`, the chargeback :mod:`chargeback`).

Only completed date-regions are read (those with ``summary.json``: it is written last); the others are listed as
failed or incomplete, never silently left out. Money is summed as :class:`~decimal.Decimal` from the summaries'
decimal strings.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from tracker_utils import budgets
from tracker_utils.report import anomalies
from tracker_utils.report.period import RollupData, completed_summaries, load, run_states, totals  # noqa: F401
from tracker_utils.report.chargeback import chargeback_table, write_chargeback  # noqa: F401
from tracker_utils.report.operations import rollup_section as operations_section  # noqa: F401 - for the notebook
from tracker_utils import handoff
from tracker_utils.apps import is_unattributed
from tracker_utils.config import Params, load_params, resolve_path, run_dir
from tracker_utils.io import read_json, read_parquet, write_json
from tracker_utils.gaps import ORDER as KIND_ORDER, TEXT as KIND_TEXT
from tracker_utils.money import allocate, cents, dsum, money, pct, usd
from tracker_utils.text import count, difference
from tracker_utils.report.charts import WIDTH_IN, _usd_axis, model_label, series_color
from tracker_utils.report.daily import ANOMALY_HINT, STATUS_BADGES, WORST_FIRST, _status, principals_frame
from tracker_utils.report.html import Money, badge, box, esc, kpis, money_cells, show, table
from tracker_utils.report.redact import Redactor
from tracker_utils.gaps import SHORT as GAP_SHORT

from tracker_utils.schema import TOKENS


# --- page parts ----------------------------------------------------------------------------------------------
def title(rd: RollupData) -> str:
    p = rd.params
    done = sum(s["status"] == "complete" for s in rd.states)
    return (f"<h1>Amazon Bedrock usage roll-up: {esc(p.start)} to {esc(p.end)}</h1>"
            f"<p class='sub'>Account {esc(p.account)} &middot; regions {esc(', '.join(p.regions))} &middot; "
            f"{done} of {len(rd.states)} date-region reports complete &middot; made "
            f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC &middot; <a href='../../index.html'>all reports</a></p>"
            "<p class='sub'><b>Billed</b> is what AWS charged (the bill). <b>Cost from logs</b> is every logged call priced "
            "at the price book. An application's <b>share of the bill</b> is its cost from logs scaled, model by model, to "
            "what was billed.</p>")


def status_box(rd: RollupData) -> str:
    """Failed and incomplete date-regions, at the top (nothing when every one completed)."""
    bad = [s for s in rd.states if s["status"] != "complete"]
    if not bad:
        return ""
    items = "".join(f"<li>{badge(s['status'], 'bad' if s['status'] == 'failed' else 'warn')} {esc(s['date'])} {esc(s['region'])}"
                    + (f": {esc(s['where'])}" if s["where"] else "") + (f": {esc(s['error'])}" if s["error"] else
                                                                         ": no summary.json (run it again)") + "</li>"
                    for s in bad)
    return box(f"<b>{len(bad)} of {len(rd.states)} date-region reports are missing from this roll-up</b> (their figures are "
               f"not in any total below)<ul>{items}</ul>", "bad")


def _forecast_kpi(rd: RollupData) -> tuple[str, str, str]:
    """The month-end forecast of the period's last month (tracker_utils.budgets.forecast: one method everywhere)."""
    ss = rd.summaries
    if not ss:
        return ("Month-end forecast", "n/a", "no reported day")
    month = max(s["date"] for s in ss)[:7]
    daily: dict[str, Decimal] = {}
    for s in ss:
        if s["date"][:7] == month:
            daily[s["date"]] = daily.get(s["date"], Decimal(0)) + Decimal(s["totals"]["billed_cost_usd"])
    f = budgets.forecast(daily, month)
    rng = f"{cents(f.low)} to {cents(f.high)}" if f.low is not None else "n/a (one reported day)"
    return ("Month-end forecast", cents(f.value), f"{month}, range {rng}")


def compare_box(rd: RollupData) -> str:
    """The period against the one of equal length before it: what changed, by application and model."""
    from tracker_utils.report import compare
    return compare.compare_box(rd)


def budget_box(rd: RollupData) -> str:
    """The budgets of the period's last month (actual month to date, forecast, status)."""
    from tracker_utils.report import alerts
    if not rd.summaries:
        return ""
    month = max(s["date"] for s in rd.summaries)[:7]
    return alerts.budget_box(rd.params, month, rd.summaries)


def headline(rd: RollupData) -> str:
    t = totals(rd)
    per_day = t["billed"] / t["days"] if t["days"] else Decimal(0)
    return kpis([
        ("Billed", cents(t["billed"]), f"{t['runs']} date-region reports, {t['days']} day{'s' if t['days'] != 1 else ''}"),
        ("Cost from logs", cents(t["logs"]), "lower bound: unpriced models" if t["lower_bound"] else "logs x price book"),
        ("Share explained by logs", pct(t["logs"], t["billed"]), "cost from logs / billed"),
        ("Average day", cents(per_day), "billed, all regions"),
        _forecast_kpi(rd),
        ("Unattributed", cents(t["unattributed"]), f"{pct(t['unattributed'], t['apps_share'])} of the bill"),
        ("Invocations", f"{t['logs_invocations']:,}", f"logs; CloudWatch counted {t['cloudwatch_invocations']:,}"),
    ])


def gap_rollup(rd: RollupData) -> list[dict]:
    """Per cause across the run: cost, invocations, how many date-regions."""
    acc: dict[str, dict] = {}
    for s in rd.summaries:
        for g in s["gaps"]:
            a = acc.setdefault(g["kind"], {"kind": g["kind"], "cost": Decimal(0), "invocations": 0, "runs": [],
                                           "in_logs": g.get("in_logs", False), "within_tolerance": True})
            a["cost"] += Decimal(g["cost_usd"])
            a["invocations"] += g["invocations"]
            a["runs"].append(f"{s['date']} {s['region']}")
            if g["kind"] == "unexplained":
                a["within_tolerance"] = a["within_tolerance"] and bool(g.get("within_tolerance"))
    return [acc[k] for k in KIND_ORDER if k in acc]


def run_verdict(rd: RollupData) -> str:
    """The run's reconciliation verdict in one sentence, from every completed summary's verdict, gaps and totals."""
    t = totals(rd)
    if not t["runs"]:
        return "No date-region report is complete: nothing to reconcile."
    parts = [f"Across {t['runs']} date-region report{'s' if t['runs'] != 1 else ''}, the logs explain "
             f"{pct(t['logs'], t['billed'])} of the {usd(t['billed'])} billed"]
    for g in gap_rollup(rd):
        if g["kind"] in ("unexplained", "failed_calls", "day_edge"):
            continue
        parts.append(f"{usd(g['cost'])} is {KIND_TEXT[g['kind']]} ({count(len(g['runs']), 'report')})")
    bad = [s for s in rd.summaries if _status(s)[0] == "unreconciled"]
    if bad:
        parts.append(f"{len(bad)} report{'s' if len(bad) != 1 else ''} ha{'ve' if len(bad) != 1 else 's'} an unexplained gap: "
                     + ", ".join(f"{s['date']} {s['region']}" for s in bad))
    else:
        parts.append("nothing is unexplained in any report")
    missing = len(rd.states) - t["runs"]
    s = "; ".join(parts) + "."
    if missing:
        s += f" {missing} date-region report{'s are' if missing != 1 else ' is'} missing and not counted."
    return s


def run_status(rd: RollupData) -> tuple[str, str, dict]:
    """The run's worst status (words, badge kind) and how many date-region reports have each status."""
    states = [s.get("status") or ("unreconciled" if _status(s)[0] == "unreconciled" else "partial")
              for s in rd.summaries]
    counts = {k: states.count(k) for k in WORST_FIRST if k in states}
    missing = sum(s["status"] != "complete" for s in rd.states)
    if missing:
        counts["incomplete"] = missing
    worst = next((k for k in WORST_FIRST if k in states), None)
    if worst is None:
        return ("incomplete", "warn", counts) if missing else ("nothing to reconcile", "grey", counts)
    words, kind = STATUS_BADGES[worst]
    if missing and worst in ("reconciled", "explained", "no_data"):
        return "incomplete", "warn", counts
    return words, kind, counts


def verdict_box(rd: RollupData) -> str:
    status, kind, counts = run_status(rd)
    bad = kind == "bad"
    per = ", ".join(f"{n} {STATUS_BADGES[k][0] if k in STATUS_BADGES else k}" for k, n in counts.items())
    gaps = gap_rollup(rd)
    rows = [{"Cause": KIND_TEXT.get(g["kind"], g["kind"]), "Cost": Money(g["cost"]),
             "Invocations": difference(g["invocations"], "CloudWatch", "the logs") if g["invocations"] else "",
             "Reports": f"{len(g['runs'])}",
             "Note": ("already counted in the logs" if g["in_logs"] else
                      "not billed" if g["kind"] == "failed_calls" else
                      "within tolerance (rounding)" if g["kind"] == "unexplained" and g["within_tolerance"] else "")}
            for g in gaps]
    tbl = table(pd.DataFrame(rows), {"Cost", "Invocations", "Reports"}) if rows else ""
    return box(f"<b>Reconciliation for the run</b> {badge(status, kind)} <small>worst of the reports; "
               f"{esc(per)}</small><p style='margin:6px 0'>{esc(run_verdict(rd))}</p>{tbl}",
               "bad" if bad else "warn" if kind == "warn" else "note")


def runs_table(rd: RollupData) -> str:
    """Every date-region: verdict, billed, cost from logs, share explained, causes; links to the reports."""
    rows = []
    for st in rd.states:
        base = "../../" if rd.period else ""          # a period's roll-up sits in outputs/periods/<name>/
        link = f"<a href='{base}{st['date']}/{st['region']}/report.html'>report</a>" if st["status"] == "complete" else ""
        if st["status"] == "complete":
            s = st["summary"]
            status, kind = _status(s)
            status = badge(status, kind) + (f" <small>{esc(' '.join(s.get('status_reasons') or []))}</small>"
                                            if s.get("status_reasons") and kind != "ok" else "")
            if st.get("stale_records"):
                n = st["stale_records"]
                status = badge(f"stale: {n:,} record{'s' if n != 1 else ''} of this day arrived after its report", "warn")
            t = s["totals"]
            rows.append({"Date": st["date"], "Region": st["region"], "Verdict": status,
                         "Billed": Money(t["billed_cost_usd"]), "Cost from logs": Money(t["logs_cost_usd"]),
                         "Explained": f"{t['explained_pct']}%" if t.get("explained_pct") else "n/a",
                         "Differences": esc(", ".join(GAP_SHORT.get(g["kind"], g["kind"]) for g in s["gaps"]
                                                      if g["kind"] not in ("day_edge",)) or "none"),
                         "Report": link})
        else:
            rows.append({"Date": st["date"], "Region": st["region"], "Verdict": badge(st["status"], "bad" if st["status"] == "failed" else "warn"),
                         "Billed": "", "Cost from logs": "", "Explained": "",
                         "Differences": esc(": ".join(x for x in (st["where"], st["error"]) if x) or "no summary.json"),
                         "Report": ""})
    return table(pd.DataFrame(rows), {"Billed", "Cost from logs", "Explained"}, raw={"Verdict", "Differences", "Report"})


# --- trends --------------------------------------------------------------------------------------------------
def model_daily(rd: RollupData) -> pd.DataFrame:
    rows = []
    for s in rd.summaries:
        for m in s["models"]:
            rows.append({"date": s["date"], "region": s["region"], "model": m["model"], "name": m.get("name", m["model"]),
                         "billed": Decimal(m["billed"]["cost_usd"]), "logs": Decimal(m["logs"]["cost_usd"])})
    return pd.DataFrame(rows, columns=["date", "region", "model", "name", "billed", "logs"])


def app_daily(rd: RollupData) -> pd.DataFrame:
    rows = []
    for s in rd.summaries:
        for a in s.get("apps", []):
            rows.append({"date": s["date"], "region": s["region"], "app": a["app"], "billed": Decimal(a["billed_share_usd"]),
                         "logs": Decimal(a["cost_usd"])})
    return pd.DataFrame(rows, columns=["date", "region", "app", "billed", "logs"])


def _trend(ax, df: pd.DataFrame, key: str, top: int, marks: dict | None = None):
    """One line per ``key`` of the daily summed ``billed`` (top N by total, the rest as "other")."""
    if df.empty:
        ax.text(0.5, 0.5, "no completed report", ha="center", va="center", transform=ax.transAxes)
        return
    piv = df.groupby(["date", key])["billed"].agg(lambda s: float(sum(s, Decimal(0)))).unstack(fill_value=0.0).sort_index()
    order = piv.sum().sort_values(ascending=False).index.tolist()
    keep = order[:top]
    if len(order) > top:
        piv["other"] = piv[order[top:]].sum(axis=1)
        keep = keep + ["other"]
    x = list(range(len(piv.index)))
    for i, k in enumerate(keep):
        c = series_color(k, i)
        mk = [(d, f) for d, f in (marks or {}).get(k, []) if d in piv.index]
        label = str(k) + "".join(f"  [{f} {dt.date.fromisoformat(d):%d %b}]" for d, f in mk)
        ax.plot(x, piv[k].values, marker="o", lw=2, color=c, label=label)
        for d, _ in mk:
            j = list(piv.index).index(d)
            ax.plot([j], [piv[k].iloc[j]], marker="o", ms=14, mfc="none", mec="#d04040", mew=2)
    ax.set_xticks(x, [dt.date.fromisoformat(d).strftime("%a %d %b") for d in piv.index], fontsize=9)
    if len(x) == 1:
        ax.set_xlim(-0.5, 0.5)
    ax.set_ylim(bottom=0)
    _usd_axis(ax, "y")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)


def chart_trend_models(rd: RollupData, top: int = 8):
    df = model_daily(rd)
    if not df.empty:
        df = df.assign(label=[rd.r(model_label(n, 30)) for n in df["name"]])
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.2))
    _trend(ax, df, "label", top)
    ax.set_title("Daily billed cost per model (USD, all regions)", loc="left", fontsize=12)
    ax.set_ylabel("USD billed")
    fig.tight_layout()
    return fig


def chart_trend_apps(rd: RollupData, top: int = 9):
    df = app_daily(rd)
    flags = anomaly_frame(rd)
    marks: dict[str, list] = {}
    for r in flags[(flags["flag"] != "") & (flags["level"] == "application")].to_dict("records"):
        marks.setdefault(r["app"], []).append((r["date"], f"{r['flag']} in {r['region']}"))
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.2))
    _trend(ax, df, "app", top, marks=marks)
    ax.set_title("Daily cost per application (share of the bill, USD, all regions); circled: anomaly (see legend)",
                 loc="left", fontsize=12)
    ax.set_ylabel("USD")
    fig.tight_layout()
    return fig


def region_table(rd: RollupData) -> str:
    """Billed and cost from logs per region, with a total row equal to the headline (cents allocated)."""
    rows = []
    for region in rd.params.regions:
        ss = [s for s in rd.summaries if s["region"] == region]
        if ss:
            rows.append({"Region": region, "Days": len(ss), "b": dsum(s["totals"]["billed_cost_usd"] for s in ss),
                         "l": dsum(s["totals"]["logs_cost_usd"] for s in ss),
                         "Invocations": sum(s["totals"]["logs_invocations"] for s in ss)})
    if not rows:
        return ""
    t = totals(rd)
    billed, logs = money_cells([r["b"] for r in rows], t["billed"]), money_cells([r["l"] for r in rows], t["logs"])
    show = [{"Region": r["Region"], "Days": r["Days"], "Billed": b, "Cost from logs": lg, "Explained": pct(r["l"], r["b"]),
             "Invocations": f"{r['Invocations']:,}"} for r, b, lg in zip(rows, billed, logs)]
    show.append({"Region": "Total", "Days": sum(r["Days"] for r in rows), "Billed": Money(t["billed"]),
                 "Cost from logs": Money(t["logs"]), "Explained": pct(t["logs"], t["billed"]),
                 "Invocations": f"{sum(r['Invocations'] for r in rows):,}"})
    return table(pd.DataFrame(show), {"Days", "Billed", "Cost from logs", "Explained", "Invocations"}, total=True)


def cost_lines(rd: RollupData) -> str:
    """The period's batch jobs and provisioned throughput, per day and region."""
    from tracker_utils.report.costlines import period_cost_lines
    return period_cost_lines(rd.summaries)


def top_principals(rd: RollupData, n: int = 15) -> str:
    pl = rd.price_logs
    g = principals_frame(pl, n)
    if g.empty:
        return "<p>No invocation logs.</p>"
    days = pl.groupby("principal")["date"].nunique()
    show_df = pd.DataFrame({"Principal": g["principal_name"].map(rd.r), "Kind": g["principal_kind"], "Application(s)": g["apps"],
                            "Days active": g["principal"].map(days).fillna(0).astype(int),
                            "Invocations": g["invocations"].map("{:,}".format), "Cost from logs": [Money(v) for v in g["cost"]]})
    hl = [i for i, m in enumerate(g["unmatched"]) if m]
    return table(show_df, {"Days active", "Invocations", "Cost from logs"}, hl) + (
        "<p class='sub'>Principal names are replaced by stable aliases in this shared report.</p>" if rd.r.enabled else "")


# --- anomalies -----------------------------------------------------------------------------------------------
def anomaly_frame(rd: RollupData) -> pd.DataFrame:
    """Flags for every region's days and applications of the run (baseline includes earlier completed days)."""
    p = rd.params
    f = anomalies.from_summaries(rd.history + rd.summaries, p.anomaly_window_days, p.anomaly_factor)
    return f[f["date"].isin(set(p.dates))].reset_index(drop=True)


def anomaly_box(rd: RollupData) -> str:
    p = rd.params
    f = anomaly_frame(rd)
    rule = (f"each day compared with the median of the previous {p.anomaly_window_days} days of the same region; flagged above "
            f"{p.anomaly_factor:g}x or below 1/{p.anomaly_factor:g} of it, ignoring moves under $0.01")
    flagged = f[f["flag"] != ""]
    if flagged.empty:
        checked = int((f["history"] >= anomalies.MIN_HISTORY).sum()) if not f.empty else 0
        return box(f"<b>Cost anomalies</b>: none among {count(checked, 'checked day and application figure')} ({esc(rule)}; "
                   f"a figure needs {anomalies.MIN_HISTORY} earlier days to be checked).", "ok" if checked else "note")
    rows = [{"Date": r["date"], "Region": r["region"], "What": r["app"] or "total spend", "Flag": badge(r["flag"], "bad" if r["flag"] != "low" else "warn"),
             "Cost": usd(r["value"]), "Trailing median": usd(r["baseline"]) if r["baseline"] is not None else "",
             "Ratio": f"{r['ratio']:.1f}x" if r["ratio"] is not None else "", "Earlier days": r["history"]}
            for r in flagged.to_dict("records")]
    return box(f"<b>Cost anomalies: {len(rows)}</b> ({esc(rule)}). " + ANOMALY_HINT + table(pd.DataFrame(rows), {"Cost", "Trailing median", "Ratio", "Earlier days"},
                                                                              raw={"Flag"}), "warn")


def footer(rd: RollupData) -> str:
    return ("<p class='sub'>Made by the Bedrock Usage Tracker from the completed date-region reports of this run (their "
            "summary.json). Days and regions that failed or did not finish are listed at the top and left out of every "
            "figure.</p>")

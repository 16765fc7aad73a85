"""Stage 4, report: tables and charts a manager can read with the code hidden.

Every function takes a loaded :class:`ReportData` and returns HTML (tables, boxes) or a matplotlib figure (the charts
live in :mod:`tracker_utils.report.daily_charts` and are re-exported here); the notebook only hands them to
:meth:`ReportData.show`, which redacts text (``params.redact``) and embeds figures as PNG. Money is shown in dollars
and cents in headlines, with more digits in tables of small sums. The building blocks here (``Redactor``, ``table``, ``fig_html``, ``box``...) are shared by the roll-up and the explorer.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd

from tracker_utils.report import anomalies
from tracker_utils.report.operations import daily_section as operations_section  # noqa: F401 - for the notebook
from tracker_utils.apps import is_unattributed, unmatched
from tracker_utils import budgets
from tracker_utils.config import RunConfig
from tracker_utils.text import count, difference
from tracker_utils.io import read_json, read_parquet
from tracker_utils.gaps import TEXT as KIND_TEXT
from tracker_utils.gaps import COLOURS as GAP_COLOURS, SHORT as GAP_SHORT
from tracker_utils.money import cents, dec, dsum, pct, usd  # noqa: F401
from tracker_utils.schema import PRICE, RECONCILE
from tracker_utils.report.charts import (APP_COLOR, UNATTR_COLOR, WIDTH_IN, _bar_labels, _new_fig,  # noqa: F401
                                         _usd_axis, model_label, series_color)
# the charts (and the frames they share with the tables below), re-exported: notebooks call ``daily.chart_apps(d)``...
from tracker_utils.report.daily_charts import (_gap_labels, apps_frame, chart_apps, chart_costs,  # noqa: F401
                                               chart_hourly, chart_models, chart_reconciliation, models_frame)
from tracker_utils.report.html import Money, badge, box, esc, fig_html, kpis, money_cells, show, table, wrap  # noqa: F401
from tracker_utils.report.redact import NO_REDACTION, Redactor, run_principals  # noqa: F401

# --- the report's data ----------------------------------------------------------------------------------------
@dataclass
class ReportData:
    cfg: RunConfig
    summary: dict
    price_logs: pd.DataFrame
    hourly: pd.DataFrame
    usage_types: pd.DataFrame
    redact: bool = False
    history: list = field(default_factory=list)       # same region, other dates (completed or reconciled)
    _redactor: Redactor | None = None

    @property
    def r(self) -> Redactor:
        if self._redactor is None:
            principals = self.price_logs["principal"].unique() if "principal" in self.price_logs else []
            self._redactor = Redactor(self.redact, self.cfg.params.account, principals)
        return self._redactor

    def show(self, *items) -> None:
        show(*items)


def load(cfg: RunConfig) -> ReportData:
    """The report's data. With ``redact`` every value is redacted here, before anything is rendered: principals,
    sessions and the account id (``cfg.params.account`` included) are aliases from then on."""
    r = Redactor(cfg.params.redact, cfg.params.account, run_principals(cfg.run_dir) if cfg.params.redact else ())
    if r.enabled:
        import dataclasses
        cfg = dataclasses.replace(cfg, params=r.params(cfg.params))
    return ReportData(cfg=cfg, summary=r.obj(read_json(cfg.data(RECONCILE.SUMMARY))),
                      price_logs=r.frame(read_parquet(cfg.data(PRICE.LOGS))),
                      hourly=r.frame(read_parquet(cfg.data(RECONCILE.HOURLY))),
                      usage_types=r.frame(read_parquet(cfg.data(RECONCILE.USAGE_TYPES))),
                      redact=cfg.params.redact, history=[r.obj(h) for h in _run_summaries(cfg)], _redactor=r)


def _run_summaries(cfg: RunConfig) -> list[dict]:
    """Summaries of the same region in the output folder, one per date: the completed one (``summary.json``) when
    there is one, else the reconciled one (``data/summary.json``) of a run still in progress."""
    root = cfg.run_dir.parent.parent
    out = {}
    for pattern in (f"*/{cfg.region}/data/summary.json", f"*/{cfg.region}/summary.json"):
        for p in sorted(root.glob(pattern)):
            try:
                s = read_json(p)
            except Exception:  # noqa: BLE001 - a half-written neighbour is skipped
                continue
            if s.get("region") == cfg.region and "totals" in s:
                out[s["date"]] = s
    return [out[k] for k in sorted(out)]


# --- page parts -----------------------------------------------------------------------------------------------
def _long_date(iso: str) -> str:
    d = dt.date.fromisoformat(iso)
    return f"{d.strftime('%a')} {d.day} {d.strftime('%B %Y')}"


def title(d: ReportData) -> str:
    s = d.summary
    src = s.get("sources", {})
    bill = {"ce": "Cost Explorer", "cur": "the Cost and Usage Report", "none": "none collected"}.get(src.get("bill"), src.get("bill", ""))
    sub = (f"Account {esc(d.cfg.params.account)} &middot; logs read as of {esc(str(src.get('as_of', ''))[:16].replace('T', ' '))} UTC "
           f"&middot; bill: {esc(bill)} &middot; report made {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    return (f"<h1>Amazon Bedrock usage: {esc(s['region'])}, {_long_date(s['date'])} (UTC day)</h1><p class='sub'>{sub}</p>"
            f"<p class='status'><b>Status:</b> {status_line(s)}</p>"
            "<p class='sub'><b>Billed</b> is what AWS charged (the bill). <b>Cost from logs</b> is every logged call priced at "
            "the price book. <b>CloudWatch</b> counts calls independently and tells whether the logs are complete.</p>")


def _dq_issues(dq: dict) -> list[str]:
    issues = []
    if dq.get("unpriced_models"):
        issues.append(f"<b>Unpriced models</b>: {', '.join(map(esc, dq['unpriced_models']))}: priced at $0, so the "
                      f"cost from logs is a <b>lower bound</b>. Add them to params/prices.csv.")
    if dq.get("records_malformed"):
        kinds = ", ".join(f"{esc(k)}: {v:,}" for k, v in dq.get("records_quarantined_by_kind", {}).items()
                          if k not in ("duplicate", "other_region"))
        issues.append(f"<b>{dq['records_malformed']:,} malformed records</b> quarantined" + (f" ({kinds})" if kinds else "")
                      + "; they are not counted (see data/collect_quarantine.parquet)")
    if dq.get("records_duplicate"):
        conflicting = dq.get("records_duplicate_conflicting", 0)
        issues.append(f"<b>{dq['records_duplicate']:,} duplicate records</b> (same requestId) counted once"
                      + (f"; <b>{conflicting:,} of them with other token counts</b> than the copy kept" if conflicting
                         else "") + (f" ({esc(dq['duplicate_rule'])})" if dq.get("duplicate_rule") else ""))
    if dq.get("records_other_region"):
        where = ", ".join(f"{esc(k)}: {v:,}" for k, v in dq.get("records_other_region_by_region", {}).items())
        issues.append(f"<b>{count(dq['records_other_region'], 'record')} name{'s' if dq['records_other_region'] == 1 else ''} another region</b>" + (f" ({where})" if where else "")
                      + ": they were found under this region's prefix, and are not counted or priced as its usage")
    odd = {k: v for k, v in (dq.get("files_skipped") or {}).items() if k not in BENIGN_SKIPS}
    if odd:
        issues.append(f"<b>{sum(odd.values()):,} objects skipped</b>: "
                      + ", ".join(f"{esc(k.replace('_', ' '))}: {v:,}" for k, v in sorted(odd.items())))
    if dq.get("files_bad"):
        issues.append(f"<b>Damaged log files</b>: {', '.join(f'{esc(k)}: {esc(v)}' for k, v in dq['files_bad'].items())}")
    if dq.get("provisioned_models"):
        issues.append(f"<b>Provisioned throughput</b> ({', '.join(map(esc, dq['provisioned_models']))}) is billed by the hour, "
                      "not per token: its model-unit hours are split by token share (see Batch jobs and provisioned "
                      "throughput)")
    if (dq.get("batch") or {}).get("manifests_missing") or (dq.get("batch") or {}).get("manifests_bad"):
        b = dq["batch"]
        issues.append(f"<b>Batch job manifests not read</b>: {', '.join(map(esc, b.get('manifests_missing', []) + b.get('manifests_bad', [])))}"
                      ": their tokens stay usage that is never logged")
    if (dq.get("batch") or {}).get("error"):
        issues.append(f"<b>Batch jobs not listed</b>: {esc(dq['batch']['error'])}")
    if dq.get("unmatched_bill_usage_types"):
        issues.append(f"<b>Bill usage types not in the price book</b>: {', '.join(map(esc, dq['unmatched_bill_usage_types']))}")
    for msg in dq.get("unknown_service_tier_messages") or []:
        issues.append(f"<b>Unknown service tier</b>: {esc(msg)}")
    if dq.get("bill_adjustments_note"):
        issues.append(f"<b>Credits, refunds and discounts not read</b>: {esc(dq['bill_adjustments_note'])}")
    if dq.get("bill_unplaced_lines"):
        issues.append(f"<b>{len(dq['bill_unplaced_lines'])} bill line(s)</b> could not be placed in a region")
    return issues


BENIGN_SKIPS = {"permission_check", "data_sidecar_folder", "folder", "not_a_log_file"}


def _dq_facts(dq: dict) -> str:
    days = dq.get("records_of_other_days") or {}
    where = (" (" + ", ".join(f"{esc(d)}: {n:,}" for d, n in list(days.items())[:12])
             + (f", and {len(days) - 12} more days" if len(days) > 12 else "") + "; counted in their own days' reports)"
             if days else "")
    other = f", {dq['records_other_region']:,} of another region" if dq.get("records_other_region") else ""
    return (f"{dq.get('files_read', 0):,} log files, {dq.get('records_read', 0):,} records read: {dq.get('records_used', 0):,} used, "
            f"{dq.get('records_outside_day', 0):,} belong to other days{where}, {dq.get('records_late', 0):,} arrived after "
            f"the collection time, {dq.get('records_malformed', 0):,} malformed, {dq.get('records_duplicate', 0):,} "
            f"duplicates{other}.")


DELIVERY_GAPS = ("late_delivery", "logging_outage", "missing_delivery")


def _delivery_issues(summary: dict) -> list[str]:
    return [f"<b>{esc(KIND_TEXT[g['kind']].capitalize())}</b>: {esc(g['explanation'])}"
            for g in summary.get("gaps", []) if g["kind"] in DELIVERY_GAPS]


def quality_box(d: ReportData) -> str:
    """The data-quality box: a warning listing every issue, or a one-line "clean" note (only when nothing but
    duplicates was quarantined and no log delivery was late, lost or missing)."""
    dq = d.summary["data_quality"]
    issues = _dq_issues(dq) + _delivery_issues(d.summary)
    if issues:
        return box("<b>Data quality: needs attention</b><ul>" + "".join(f"<li>{i}</li>" for i in issues)
                   + f"</ul><small>{_dq_facts(dq)}</small>", "warn")
    return box(f"<b>Data quality: clean.</b> <small>{_dq_facts(dq)}</small>", "ok")


def quality_top(d: ReportData) -> str:
    """The data-quality box for the top of the report: only when something is not zero."""
    return quality_box(d) if _dq_issues(d.summary["data_quality"]) + _delivery_issues(d.summary) else ""


def quality_bottom(d: ReportData) -> str:
    """The data-quality facts at the end of the report when they were not already shown at the top."""
    return "" if _dq_issues(d.summary["data_quality"]) + _delivery_issues(d.summary) else quality_box(d)


def _unattributed(apps: list[dict]) -> tuple[Decimal, Decimal]:
    un = [a for a in apps if is_unattributed(a)]
    return dsum(a["billed_share_usd"] for a in un), dsum(a["billed_share_usd"] for a in apps)


def headline_figures(d: ReportData) -> dict:
    """The headline numbers (Decimal money) used by :func:`headline`; also handy for tests."""
    s, t = d.summary, d.summary["totals"]
    billed, logs = Decimal(t["billed_cost_usd"]), Decimal(t["logs_cost_usd"])
    day = dt.date.fromisoformat(s["date"])
    others = {x["date"]: x for x in d.history}
    others[s["date"]] = s
    prev = others.get((day - dt.timedelta(days=1)).isoformat())
    month = [x for k, x in sorted(others.items()) if k[:7] == s["date"][:7] and k <= s["date"]]
    mtd = dsum(x["totals"]["billed_cost_usd"] for x in month)
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    # the month-end forecast: one method for every page (tracker_utils.budgets.forecast)
    fc = budgets.forecast({x["date"]: Decimal(x["totals"]["billed_cost_usd"]) for x in month}, s["date"][:7])
    forecast = fc.value
    un, total_share = _unattributed(s.get("apps", []))
    return {"billed": billed, "logs": logs, "explained_pct": t.get("explained_pct"), "lower_bound": t.get("lower_bound"),
            "previous": Decimal(prev["totals"]["billed_cost_usd"]) if prev else None,
            "change": (billed - Decimal(prev["totals"]["billed_cost_usd"])) if prev else None,
            "mtd": mtd, "mtd_days": len(month), "day_of_month": day.day, "days_in_month": days_in_month,
            "forecast": forecast, "forecast_range": fc, "unattributed": un, "apps_total": total_share,
            "logs_invocations": t["logs_invocations"], "cloudwatch_invocations": t["cloudwatch_invocations"],
            "gross": Decimal(t.get("gross_cost_usd") or t["billed_cost_usd"]),
            "adjustments": {k: Decimal(v) for k, v in (t.get("adjustments_usd") or {}).items() if Decimal(v)}}


def headline(d: ReportData) -> str:
    f = headline_figures(d)
    if f["change"] is None:
        change, change_sub = "n/a", "no report for the previous day"
    else:
        change = cents(f["change"], sign=True)
        change_sub = (f"{(f['change'] / f['previous'] * 100):+.1f}% vs {cents(f['previous'])}" if f["previous"]
                      else f"vs {cents(f['previous'])}")
    missing = f["day_of_month"] - f["mtd_days"]
    adj = f["adjustments"]
    terms = ", ".join(f"{k} {cents(v, sign=True)}" for k, v in sorted(adj.items()))
    items = [
        ("Billed (the bill)", cents(f["billed"]),
         f"net: gross {cents(f['gross'])}, {terms}" if adj else "Cost Explorer, this region and day"),
        ("Cost from logs", cents(f["logs"]), "lower bound: unpriced models" if f["lower_bound"] else "logs x price book"),
        ("Share explained by logs", f"{f['explained_pct']}%" if f["explained_pct"] else "n/a",
         "cost from logs / gross bill" if adj else "cost from logs / billed"),
        ("Change vs previous day", change, change_sub),
        ("Month to date", cents(f["mtd"]), f"{f['mtd_days']} day{'s' if f['mtd_days'] != 1 else ''} reported"
         + (f", {missing} missing" if missing > 0 else "")),
        ("Month-end forecast", cents(f["forecast"]), "range " + (f"{cents(f['forecast_range'].low)} to "
                                                                  f"{cents(f['forecast_range'].high)}" if f["forecast_range"].low is not None
                                                                  else "n/a (one reported day)") + "; this region"),
        ("Unattributed", cents(f["unattributed"]), f"{pct(f['unattributed'], f['apps_total'])} of the bill: no rule in apps.yaml"),
        ("Invocations", f"{f['logs_invocations']:,}", f"logs; CloudWatch counted {f['cloudwatch_invocations']:,}"),
    ]
    return kpis(items)


# the status ladder of reconcile (summary.json "status"): its words and colours; green is for reconciled only
STATUS_BADGES = {"reconciled": ("reconciled", "ok"), "explained": ("explained", "info"), "partial": ("partial", "warn"),
                 "unreconciled": ("unreconciled", "bad"), "no_data": ("no data", "grey")}
WORST_FIRST = ("unreconciled", "partial", "explained", "reconciled", "no_data")


def _status(summary: dict) -> tuple[str, str]:
    """(status words, badge kind) for one summary."""
    state = summary.get("status")
    if state not in STATUS_BADGES:       # a summary written before the ladder existed
        unexp = next((g for g in summary["gaps"] if g["kind"] == "unexplained"), None)
        state = "unreconciled" if unexp is not None and not unexp.get("within_tolerance") else "partial"
    return STATUS_BADGES[state]


def status_line(summary: dict) -> str:
    """The badge and the reasons, for the report headline and the index."""
    words, kind = _status(summary)
    reasons = " ".join(summary.get("status_reasons") or [])
    return f"{badge(words, kind)} {esc(reasons)}" if reasons else badge(words, kind)


def verdict_box(d: ReportData) -> str:
    s = d.summary
    status, kind = _status(s)
    items = "".join(f"<li><span class='dot' style='background:{GAP_COLOURS.get(g['kind'], '#000')}'></span>"
                    f"<b>{esc(KIND_TEXT.get(g['kind'], g['kind']).capitalize())}</b>: {esc(g['explanation'])}</li>"
                    for g in s["gaps"])
    return box(f"<b>Reconciliation</b> {status_line(s)}<p style='margin:6px 0'>{esc(s['verdict'])}</p>"
               f"<ul>{items}</ul><small>{esc(s.get('method', ''))}</small>",
               {"bad": "bad", "warn": "warn", "ok": "ok"}.get(kind, "note"))


ANOMALY_HINT = ("<small>An application's cost is its share of the bill: its logs cost scaled, per model, to what was "
                "billed for logged usage (usage that is never logged, such as batch jobs, is a row of its own).</small>")


def anomaly_rows(d: ReportData) -> pd.DataFrame:
    """This day's flags (total and per application) against the region's trailing median."""
    p = d.cfg.params
    hist = [x for x in d.history if x["date"] < d.summary["date"]] + [d.summary]
    f = anomalies.from_summaries(hist, p.anomaly_window_days, p.anomaly_factor)
    return f[f["date"] == d.summary["date"]].reset_index(drop=True)


def anomaly_box(d: ReportData) -> str:
    p = d.cfg.params
    f = anomaly_rows(d)
    flagged = f[f["flag"] != ""]
    rule = (f"compared with the median of the previous {p.anomaly_window_days} days; flagged above "
            f"{p.anomaly_factor:g}x or below 1/{p.anomaly_factor:g} of it, ignoring moves under $0.01")
    if not flagged.empty:
        items = "".join(f"<li>{badge(r['flag'], 'bad' if r['flag'] != 'low' else 'warn')} "
                        f"{esc(anomalies.describe(r, p.anomaly_factor))}</li>" for r in flagged.to_dict("records"))
        return box(f"<b>Cost anomalies on this day</b> ({esc(rule)}). {ANOMALY_HINT}<ul>{items}</ul>", "warn")
    hist = int(f["history"].max()) if not f.empty else 0
    if hist < anomalies.MIN_HISTORY:
        return box(f"<b>Cost anomalies</b>: not checked: {count(hist, 'earlier day')} reported in the window, "
                   f"{anomalies.MIN_HISTORY} needed ({esc(rule)}).", "note")
    return box(f"<b>Cost anomalies</b>: none. The day's total and every application are within range ({esc(rule)}; "
               f"{count(hist, 'earlier day')}).", "ok")


# --- applications ---------------------------------------------------------------------------------------------
def apps_table(d: ReportData) -> str:
    df = apps_frame(d)
    if df.empty:
        return "<p>No invocation logs for this day.</p>"
    total_share = dsum(df["billed_share_usd"])
    tok = df["input_tokens"] + df["output_tokens"] + df["cache_read_tokens"] + df["cache_write_tokens"]
    show_df = pd.DataFrame({
        "Application": [a + (" *" if Decimal(u or 0) else "") for a, u in
                        zip(df["app"], df.get("unpriced_share_usd", pd.Series([0] * len(df))))],
        "Team": df["team"].replace("", "(none)"), "Cost centre": df["cost_centre"].replace("", "(none)"),
        "Invocations": df["invocations"].map("{:,}".format), "Tokens": tok.map("{:,}".format),
        "Cost from logs": money_cells(df["cost_usd"]),
        "Share of the bill": money_cells(df["billed_share_usd"]),
        "% of bill": (df["share_of_bill_pct"].map(lambda v: f"{v}%" if v is not None else "n/a")
                      if "share_of_bill_pct" in df else df["billed_share_usd"].map(lambda v: pct(v, total_share)))})
    tot = {"Application": "Total", "Team": "", "Cost centre": "", "Invocations": f"{int(df['invocations'].sum()):,}",
           "Tokens": f"{int(tok.sum()):,}", "Cost from logs": Money(dsum(df["cost_usd"])), "Share of the bill": Money(total_share),
           "% of bill": "100%" if total_share else "n/a"}
    show_df = pd.concat([show_df, pd.DataFrame([tot])], ignore_index=True)
    hl = [i for i, m in enumerate(unmatched(df)) if m]
    marked = ("<p class='sub'>* The share includes the scaled bill of a model with no price "
              f"({', '.join(esc(a) for a, u in zip(df['app'], df['unpriced_share_usd']) if Decimal(u or 0))}): it "
              "follows tokens, not cost.</p>") if "unpriced_share_usd" in df and any(Decimal(u or 0) for u in df["unpriced_share_usd"]) else ""
    return table(show_df, {"Invocations", "Tokens", "Cost from logs", "Share of the bill", "% of bill"}, hl, total=True) \
        + marked + unattributed_note(d)


def unattributed_note(d: ReportData) -> str:
    """Who is behind the unattributed usage (so a rule can be added to params/apps.yaml)."""
    pl = d.price_logs
    if pl.empty or not unmatched(pl).any():
        return "<p class='sub'>Every call is attributed to an application.</p>"
    u = pl[unmatched(pl)]
    g = u.groupby(["principal", "principal_name", "principal_kind"]).agg(
        invocations=("invocations", "sum"), cost=("cost_usd", dsum),
        meta=("request_metadata", lambda s: sorted(set(x for x in s if x)))).reset_index().sort_values("cost", ascending=False)
    who = "; ".join(f"{esc(r.principal_kind)} <b>{esc(r.principal_name)}</b> ({count(r.invocations, 'call')}, {usd(r.cost)}"
                    + (f", metadata {esc(', '.join(r.meta))}" if r.meta else ", no request metadata") + ")"
                    for r in g.itertuples(index=False))
    return box(f"<b>Unattributed usage</b> (highlighted): no rule in params/apps.yaml matches {who}. Each such "
               "principal is a row of its own (a role with all its sessions, or a user), with no team. "
               "Add a rule (role, user, request metadata or application inference profile) to charge it to a team.", "warn")


# --- models ---------------------------------------------------------------------------------------------------
def _gap_words(gaps: list[dict]) -> str:
    return ", ".join(GAP_SHORT.get(g["kind"], g["kind"]) for g in gaps if g["kind"] != "day_edge") or "none"


def cost_lines(d: ReportData) -> str:
    """Batch jobs and provisioned throughput of the day (:mod:`tracker_utils.report.costlines`)."""
    from tracker_utils.report.costlines import cost_lines as lines
    return lines(d.summary)


def models_table(d: ReportData) -> str:
    df = models_frame(d)
    if df.empty:
        return "<p>No usage.</p>"
    df = df.sort_values("billed", ascending=False)
    total = sum(df["billed"], Decimal(0))
    show_df = pd.DataFrame({"Model": df["name"], "Invocations (logs)": df["logs_invocations"].map("{:,}".format),
                            "Invocations (CloudWatch)": df["cloudwatch_invocations"].map("{:,}".format),
                            "Tokens (CloudWatch)": df["tokens"].map("{:,}".format),
                            "Cost from logs": money_cells(df["logs_cost"]),
                            "CloudWatch at book prices": money_cells(df["cloudwatch_cost"]),
                            "Billed": money_cells(df["billed"]), "% of bill": df["billed"].map(lambda v: pct(v, total)),
                            "Differences": df["gap_list"].map(_gap_words)})
    return table(show_df, {"Invocations (logs)", "Invocations (CloudWatch)", "Tokens (CloudWatch)", "Cost from logs",
                           "CloudWatch at book prices", "Billed", "% of bill"})


# --- reconciliation -------------------------------------------------------------------------------------------
def gaps_table(d: ReportData) -> str:
    rows = []
    for m in d.summary["models"]:
        for g in m["gaps"]:
            rows.append({"Model": m.get("name", m["model"]), "Cause": KIND_TEXT.get(g["kind"], g["kind"]),
                         "Invocations": "" if not g["invocations"] else difference(g["invocations"], "CloudWatch", "the logs"),
                         "Tokens (in / out)": f"{g['input_tokens']:+,} / {g['output_tokens']:+,}",
                         "USD": Money(g["cost_usd"]), "Hours (UTC)": ", ".join(f"{h:02d}" for h in g["hours"]),
                         "Explanation": g["explanation"]})
    if not rows:
        return "<p>No differences: logs, CloudWatch and the bill agree.</p>"
    return (f"<details><summary><b>Every difference, model by model ({len(rows)})</b>: click to open</summary>"
            + table(pd.DataFrame(rows), {"Invocations", "Tokens (in / out)", "USD"}) + "</details>")


def usage_types_table(d: ReportData) -> str:
    u = d.usage_types
    if u.empty:
        return "<p>No bill lines for this region and day.</p>"
    names = d.summary.get("display_names") or {m["model"]: m.get("name", m["model"]) for m in d.summary["models"]}

    def money_or_blank(v):
        return Money(v) if v not in (None, "") and not (isinstance(v, float) and pd.isna(v)) else ""

    show_df = pd.DataFrame({"Bill line (usage type)": u["usage_type"], "Model": u["base_model"].map(lambda b: names.get(b, b)),
                            "Billed tokens": u["billed_tokens"].map("{:,}".format),
                            "Billed": u["billed_cost_usd"].map(money_or_blank),
                            "CloudWatch at book prices": u["cloudwatch_cost_usd"].map(money_or_blank),
                            "Logs at book prices": u["logs_cost_usd"].map(money_or_blank),
                            "Bill vs CloudWatch": u["bill_vs_cloudwatch"].fillna("").map(lambda k: GAP_SHORT.get(k, k)),
                            "Bill vs logs": u["bill_vs_logs"].fillna("")})
    return (f"<details><summary><b>Every bill line ({len(show_df)})</b> with the same usage priced from CloudWatch and from "
            "the logs: click to open</summary>"
            + table(show_df, {"Billed tokens", "Billed", "CloudWatch at book prices", "Logs at book prices"}) + "</details>")


# --- principals -----------------------------------------------------------------------------------------------
def principals_frame(pl: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    if pl.empty:
        return pd.DataFrame(columns=["principal", "principal_name", "principal_kind", "apps", "invocations", "sessions", "cost",
                                     "unmatched"])
    pl = pl.assign(unmatched=unmatched(pl))
    g = pl.groupby(["principal", "principal_name", "principal_kind"]).agg(
        apps=("app", lambda s: ", ".join(sorted(set(s)))), invocations=("invocations", "sum"),
        sessions=("sessions", "sum"), cost=("cost_usd", dsum), unmatched=("unmatched", "any")).reset_index()
    return g.sort_values("cost", ascending=False).head(n).reset_index(drop=True)


def top_principals(d: ReportData, n: int = 10) -> str:
    g = principals_frame(d.price_logs, n)
    if g.empty:
        return "<p>No invocation logs.</p>"
    show_df = pd.DataFrame({"Principal": g["principal_name"].map(d.r), "Kind": g["principal_kind"], "Application(s)": g["apps"],
                            "Invocations": g["invocations"].map("{:,}".format), "Cost from logs": [Money(v) for v in g["cost"]]})
    hl = [i for i, m in enumerate(g["unmatched"]) if m]
    return table(show_df, {"Invocations", "Cost from logs"}, hl) + (
        "<p class='sub'>Principal names are replaced by stable aliases in this shared report.</p>" if d.r.enabled else "")


def footer(d: ReportData) -> str:
    return ("<p class='sub'>Made by the Bedrock Usage Tracker. Cost from logs uses the price book (params/prices.csv); cache "
            "writes are priced at the 5-minute rate. Hours are UTC. Figures for the previous day and the month come from "
            "the other reports in the same output folder.</p>")

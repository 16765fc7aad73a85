"""Stage 4, report: tables and charts a manager can read with the code hidden.

Every function takes a loaded :class:`ReportData` and returns HTML (tables, boxes) or a matplotlib figure; the
notebook only displays them. Money is shown in dollars and cents in headlines, 6 decimals in tables of small sums.
"""
from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import html
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .config import RunConfig  # noqa: E402
from .io import read_json, read_parquet  # noqa: E402
from .reconcile import KIND_TEXT, dsum, usd  # noqa: E402

CSS = """
<style>
.bt-box{border:1px solid #ccd;border-radius:6px;padding:10px 14px;margin:8px 0;font-family:sans-serif;max-width:1200px}
.bt-warn{background:#fff4e5;border-color:#f0a030}
.bt-ok{background:#eef8ee;border-color:#7a7}
.bt-kpis{display:flex;flex-wrap:wrap;gap:10px;font-family:sans-serif}
.bt-kpi{border:1px solid #dde;border-radius:6px;padding:8px 14px;min-width:150px;background:#fafbff}
.bt-kpi .v{font-size:22px;font-weight:600}.bt-kpi .l{font-size:12px;color:#556}
table.bt{border-collapse:collapse;font-family:sans-serif;font-size:13px}
table.bt th{background:#eef;text-align:left;padding:4px 8px}table.bt td{padding:3px 8px;border-bottom:1px solid #eee}
table.bt td.n{text-align:right;font-variant-numeric:tabular-nums}
</style>
"""
GAP_COLORS = {"late_delivery": "#f0a030", "logging_outage": "#d04040", "failed_calls": "#9060c0", "unpriced_model": "#808080",
              "price_mismatch": "#c06080", "unlogged_endpoint": "#4090c0", "scope": "#60a060", "unexplained": "#202020",
              "day_edge": "#a0a0a0"}


@dataclass
class ReportData:
    cfg: RunConfig
    summary: dict
    price_logs: pd.DataFrame
    hourly: pd.DataFrame
    usage_types: pd.DataFrame
    redact: bool = False

    @property
    def aliases(self) -> dict:
        return _aliases(self) if self.redact else {}


def load(cfg: RunConfig) -> ReportData:
    return ReportData(cfg=cfg, summary=read_json(cfg.data("summary.json")),
                      price_logs=read_parquet(cfg.data("price_logs.parquet")),
                      hourly=read_parquet(cfg.data("reconcile_hourly.parquet")),
                      usage_types=read_parquet(cfg.data("reconcile_usage_types.parquet")),
                      redact=cfg.params.redact)


def _alias(kind: str, value: str) -> str:
    return f"{kind}-{hashlib.sha256(value.encode()).hexdigest()[:6]}"


def _aliases(d: ReportData) -> dict:
    out = {d.cfg.params.account: _alias("account", d.cfg.params.account)}
    for r in d.price_logs[["principal", "principal_name", "principal_kind"]].drop_duplicates().itertuples(index=False):
        out[r.principal] = _alias(r.principal_kind, r.principal)
        out[r.principal_name] = _alias(r.principal_kind, r.principal)
    for mid in d.price_logs["model_id"].unique():
        m = re.search(r"\d{12}", mid)
        if m:
            out[m.group(0)] = _alias("account", m.group(0))
    return out


def redact_text(text: str, aliases: dict) -> str:
    for k in sorted(aliases, key=len, reverse=True):
        if k:
            text = text.replace(k, aliases[k])
    return re.sub(r"(?<!\d)\d{12}(?!\d)", lambda m: _alias("account", m.group(0)), text) if aliases else text


def _table(df: pd.DataFrame, num: set[str] = frozenset(), aliases: dict | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for r in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, r):
            s = html.escape(str(v))
            cells.append(f"<td class='n'>{s}</td>" if c in num else f"<td>{s}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    out = f"<table class='bt'><tr>{head}</tr>{''.join(rows)}</table>"
    return redact_text(out, aliases) if aliases else out


def _run_summaries(cfg: RunConfig) -> list[dict]:
    """Completed summaries of the same region in the output folder (for day-over-day and month to date)."""
    root = cfg.run_dir.parent.parent
    out = []
    for p in sorted(root.glob(f"*/{cfg.region}/data/summary.json")):
        try:
            s = read_json(p)
        except Exception:  # noqa: BLE001 - a half-written neighbour is skipped
            continue
        out.append(s)
    return out


def headline(d: ReportData) -> str:
    s, t = d.summary, d.summary["totals"]
    billed, logs = Decimal(t["billed_cost_usd"]), Decimal(t["logs_cost_usd"])
    day = dt.date.fromisoformat(s["date"])
    others = {x["date"]: x for x in _run_summaries(d.cfg)}
    prev = others.get((day - dt.timedelta(days=1)).isoformat())
    change = "n/a (no report for the previous day)"
    if prev:
        pb = Decimal(prev["totals"]["billed_cost_usd"])
        change = f"{usd(billed - pb)} ({((billed - pb) / pb * 100):+.1f}%)" if pb else usd(billed - pb)
    mtd_days = [x for k, x in others.items() if k[:7] == s["date"][:7] and k <= s["date"]]
    mtd = dsum(x["totals"]["billed_cost_usd"] for x in mtd_days)
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    forecast = mtd / len(mtd_days) * days_in_month if mtd_days else Decimal(0)
    kpis = [("Billed (Cost Explorer)", usd(billed)), ("Cost from logs", usd(logs) + (" (lower bound)" if t["lower_bound"] else "")),
            ("Share explained by logs", f"{t['explained_pct']}%" if t["explained_pct"] else "n/a"),
            ("Change vs previous day", change),
            (f"Month to date ({len(mtd_days)} day{'s' if len(mtd_days) != 1 else ''} reported)", usd(mtd)),
            ("Month-end forecast (run rate)", usd(forecast)),
            ("Invocations (logs / CloudWatch)", f"{t['logs_invocations']:,} / {t['cloudwatch_invocations']:,}")]
    cells = "".join(f"<div class='bt-kpi'><div class='v'>{html.escape(v)}</div><div class='l'>{html.escape(l)}</div></div>"
                    for l, v in kpis)
    return CSS + f"<div class='bt-kpis'>{cells}</div>"


def quality_box(d: ReportData) -> str:
    dq = d.summary["data_quality"]
    issues = []
    if dq.get("unpriced_models"):
        issues.append(f"<b>Unpriced models</b>: {', '.join(map(html.escape, dq['unpriced_models']))}: priced at $0, so the "
                      f"cost from logs is a <b>lower bound</b>. Add them to params/prices.csv.")
    if dq.get("records_malformed"):
        issues.append(f"<b>{dq['records_malformed']:,} malformed records</b> quarantined "
                      f"({', '.join(f'{k}: {v}' for k, v in dq.get('records_quarantined_by_kind', {}).items() if k != 'duplicate')}); "
                      "see data/collect_quarantine.parquet")
    if dq.get("records_duplicate"):
        issues.append(f"<b>{dq['records_duplicate']:,} duplicate records</b> (same requestId) counted once")
    if dq.get("files_bad"):
        issues.append(f"<b>Damaged files</b>: {', '.join(f'{k}: {v}' for k, v in dq['files_bad'].items())}")
    if dq.get("provisioned_models"):
        issues.append(f"<b>Provisioned throughput</b> ({', '.join(dq['provisioned_models'])}) is billed by the hour, not per token")
    if dq.get("unmatched_bill_usage_types"):
        issues.append(f"<b>Bill usage types not in the price book</b>: {', '.join(map(html.escape, dq['unmatched_bill_usage_types']))}")
    facts = (f"{dq.get('files_read', 0):,} log files, {dq.get('records_read', 0):,} records read: {dq.get('records_used', 0):,} used, "
             f"{dq.get('records_outside_day', 0):,} belong to other days, {dq.get('records_late', 0):,} arrived after the collection "
             f"time, {dq.get('records_malformed', 0):,} malformed, {dq.get('records_duplicate', 0):,} duplicates.")
    if issues:
        return CSS + "<div class='bt-box bt-warn'><b>Data quality: needs attention</b><ul>" + \
            "".join(f"<li>{i}</li>" for i in issues) + f"</ul><small>{facts}</small></div>"
    return CSS + f"<div class='bt-box bt-ok'><b>Data quality: clean.</b> <small>{facts}</small></div>"


def verdict_box(d: ReportData) -> str:
    s = d.summary
    text = html.escape(s["verdict"])
    rows = [g for g in s["gaps"]]
    items = "".join(f"<li><b>{html.escape(g['kind'])}</b>: {html.escape(g['explanation'])}</li>" for g in rows)
    return CSS + f"<div class='bt-box'><b>Reconciliation.</b> {text}<ul>{items}</ul>" \
                 f"<small>{html.escape(s.get('method', ''))}</small></div>"


def apps_frame(d: ReportData) -> pd.DataFrame:
    rows = d.summary["apps"]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.sort_values("billed_share_usd", key=lambda s: s.map(Decimal), ascending=False)
    return df


def apps_table(d: ReportData) -> str:
    df = apps_frame(d)
    if df.empty:
        return "<p>No invocation logs.</p>"
    show = pd.DataFrame({"Application": df["app"], "Team": df["team"], "Cost centre": df["cost_centre"],
                         "Invocations": df["invocations"].map("{:,}".format),
                         "Input tokens": df["input_tokens"].map("{:,}".format),
                         "Output tokens": df["output_tokens"].map("{:,}".format),
                         "Cost from logs": df["cost_usd"].map(lambda v: usd(Decimal(v))),
                         "Share of the bill": df["billed_share_usd"].map(lambda v: usd(Decimal(v)))})
    return CSS + _table(show, {"Invocations", "Input tokens", "Output tokens", "Cost from logs", "Share of the bill"}, d.aliases)


def models_frame(d: ReportData) -> pd.DataFrame:
    rows = []
    for m in d.summary["models"]:
        rows.append({"model": m["model"], "name": m.get("name", m["model"]),
                     "logs_invocations": m["logs"]["invocations"], "cloudwatch_invocations": m["cloudwatch"]["invocations"],
                     "logs_cost": Decimal(m["logs"]["cost_usd"]), "cloudwatch_cost": Decimal(m["cloudwatch"]["cost_usd"]),
                     "billed": Decimal(m["billed"]["cost_usd"]), "gaps": ", ".join(g["kind"] for g in m["gaps"])})
    return pd.DataFrame(rows)


def models_table(d: ReportData) -> str:
    df = models_frame(d)
    if df.empty:
        return "<p>No usage.</p>"
    df = df.sort_values("billed", ascending=False)
    show = pd.DataFrame({"Model": df["name"], "Invocations (logs)": df["logs_invocations"].map("{:,}".format),
                         "Invocations (CloudWatch)": df["cloudwatch_invocations"].map("{:,}".format),
                         "Cost from logs": df["logs_cost"].map(usd), "CloudWatch at book prices": df["cloudwatch_cost"].map(usd),
                         "Billed": df["billed"].map(usd), "Gaps": df["gaps"]})
    return CSS + _table(show, {"Invocations (logs)", "Invocations (CloudWatch)", "Cost from logs",
                               "CloudWatch at book prices", "Billed"})


def _short(name: str, n: int = 28) -> str:
    return name if len(name) <= n else name[:n - 1] + "…"


def chart_costs(d: ReportData):
    apps = apps_frame(d)
    models = models_frame(d)
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.2))
    if not apps.empty:
        a = apps.copy()
        a["v"] = a["billed_share_usd"].map(float)
        a = a.sort_values("v")
        labels = [redact_text(x, d.aliases) if d.aliases else x for x in a["app"]]
        axes[0].barh(labels, a["v"], color="#4a78b0")
    axes[0].set_title("Cost by application (share of the bill, USD)")
    axes[0].set_xlabel("USD")
    if not models.empty:
        m = models.assign(v=models["billed"].map(float)).sort_values("v")
        axes[1].barh([_short(x) for x in m["name"]], m["v"], color="#6a9a50")
    axes[1].set_title("Cost by model (billed, USD)")
    axes[1].set_xlabel("USD")
    fig.tight_layout()
    return fig


def chart_hourly(d: ReportData):
    h = d.hourly
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.2))
    if not h.empty:
        h = h.assign(hr=pd.to_datetime(h["hour"], utc=True).dt.hour)
        by = h.groupby("hr")[["logs_invocations", "cloudwatch_invocations", "late_invocations"]].sum().reindex(range(24), fill_value=0)
        axes[0].plot(by.index, by["cloudwatch_invocations"], label="CloudWatch", color="#333", lw=2)
        axes[0].plot(by.index, by["logs_invocations"], label="Logs", color="#4a78b0", lw=2, ls="--")
        for hr in h.loc[h["cause"].isin(["logging_outage", "unexplained"]), "hr"].unique():
            axes[0].axvspan(hr - 0.5, hr + 0.5, color="#d04040", alpha=0.15)
        for hr in h.loc[h["late_invocations"] > 0, "hr"].unique():
            axes[0].axvspan(hr - 0.5, hr + 0.5, color="#f0a030", alpha=0.15)
        axes[0].legend()
        tok = h.assign(tokens=h["cloudwatch_input_tokens"] + h["cloudwatch_output_tokens"])
        names = d.summary["models"]
        name_of = {m["model"]: _short(m.get("name", m["model"]), 22) for m in names}
        piv = tok.pivot_table(index="base_model", columns="hr", values="tokens", aggfunc="sum", fill_value=0)
        piv = piv.reindex(columns=range(24), fill_value=0)
        im = axes[1].imshow(piv.values, aspect="auto", cmap="Blues")
        axes[1].set_yticks(range(len(piv.index)), [name_of.get(i, i) for i in piv.index], fontsize=8)
        axes[1].set_xticks(range(0, 24, 3))
        fig.colorbar(im, ax=axes[1], label="tokens (CloudWatch)")
    axes[0].set_title("Invocations per hour (UTC); shaded: hours with gaps")
    axes[0].set_xlabel("hour (UTC)")
    axes[0].set_ylabel("invocations")
    axes[1].set_title("Tokens per model and hour (UTC)")
    axes[1].set_xlabel("hour (UTC)")
    fig.tight_layout()
    return fig


def chart_reconciliation(d: ReportData):
    models = models_frame(d)
    fig, ax = plt.subplots(figsize=(12.5, 4.6))
    if not models.empty:
        m = models.sort_values("billed", ascending=False).reset_index(drop=True)
        x = range(len(m))
        w = 0.27
        ax.bar([i - w for i in x], m["logs_cost"].map(float), w, label="Logs at book prices", color="#4a78b0")
        ax.bar(list(x), m["cloudwatch_cost"].map(float), w, label="CloudWatch at book prices", color="#999")
        ax.bar([i + w for i in x], m["billed"].map(float), w, label="Billed", color="#6a9a50")
        top = max(float(m[["logs_cost", "cloudwatch_cost", "billed"]].max().max()), 1e-9)
        for i, g in enumerate(m["gaps"]):
            kinds = [k for k in g.split(", ") if k and k != "day_edge"]
            if kinds:
                ax.text(i, top * 1.02, "\n".join(kinds), ha="center", va="bottom", fontsize=7,
                        color=GAP_COLORS.get(kinds[0], "#000"))
        ax.set_ylim(0, top * 1.35)
        ax.set_xticks(list(x), [_short(n, 20) for n in m["name"]], rotation=25, ha="right", fontsize=8)
        ax.legend()
    ax.set_title("Logs vs CloudWatch vs bill per model (USD), gaps labelled by cause")
    ax.set_ylabel("USD")
    fig.tight_layout()
    return fig


def gaps_table(d: ReportData) -> str:
    rows = []
    for m in d.summary["models"]:
        for g in m["gaps"]:
            rows.append({"Model": m.get("name", m["model"]), "Cause": g["kind"], "Invocations": f"{g['invocations']:+,}",
                         "Input tokens": f"{g['input_tokens']:+,}", "Output tokens": f"{g['output_tokens']:+,}",
                         "USD": g["cost_usd"], "Hours (UTC)": ", ".join(f"{h:02d}" for h in g["hours"]),
                         "Explanation": g["explanation"]})
    if not rows:
        return "<p>No gaps: logs, CloudWatch and the bill agree.</p>"
    return CSS + _table(pd.DataFrame(rows), {"Invocations", "Input tokens", "Output tokens", "USD"})


def usage_types_table(d: ReportData) -> str:
    u = d.usage_types
    if u.empty:
        return "<p>No bill lines for this region and day.</p>"
    show = u[["usage_type", "base_model", "billed_tokens", "billed_cost_usd", "cloudwatch_cost_usd", "logs_cost_usd",
              "bill_vs_cloudwatch", "bill_vs_logs"]].fillna("")
    return CSS + _table(show, {"billed_tokens", "billed_cost_usd", "cloudwatch_cost_usd", "logs_cost_usd"})


def top_principals(d: ReportData, n: int = 10) -> str:
    pl = d.price_logs
    if pl.empty:
        return "<p>No invocation logs.</p>"
    g = pl.groupby(["principal_name", "principal_kind", "app"]).agg(
        invocations=("invocations", "sum"), sessions=("sessions", "sum"), cost=("cost_usd", dsum)).reset_index()
    g = g.sort_values("cost", ascending=False).head(n)
    show = pd.DataFrame({"Principal": g["principal_name"], "Kind": g["principal_kind"], "Application": g["app"],
                         "Invocations": g["invocations"].map("{:,}".format), "Cost from logs": g["cost"].map(usd)})
    return CSS + _table(show, {"Invocations", "Cost from logs"}, d.aliases)


def title(d: ReportData) -> str:
    s = d.summary
    return f"# Amazon Bedrock usage: {s['region']}, {s['date']} (UTC)"

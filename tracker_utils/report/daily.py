"""Stage 4, report: tables and charts a manager can read with the code hidden.

Every function takes a loaded :class:`ReportData` and returns HTML (tables, boxes) or a matplotlib figure; the
notebook only hands them to :meth:`ReportData.show`, which redacts text (``params.redact``) and embeds figures as
PNG. Money is shown in dollars and cents in headlines, with more digits in tables of small sums. The building
blocks here (``Redactor``, ``table``, ``fig_html``, ``box``...) are shared by the roll-up and the explorer.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from tracker_utils.report import anomalies  # noqa: E402
from tracker_utils.apps import UNATTRIBUTED  # noqa: E402
from tracker_utils.config import RunConfig  # noqa: E402
from tracker_utils.io import read_json, read_parquet  # noqa: E402
from tracker_utils.gaps import TEXT as KIND_TEXT  # noqa: E402
from tracker_utils.gaps import COLOURS as GAP_COLOURS, SHORT as GAP_SHORT  # noqa: E402
from tracker_utils.money import cents, dec, dsum, pct, usd  # noqa: E402
from tracker_utils.schema import PRICE, RECONCILE  # noqa: E402
from tracker_utils.report.charts import (APP_COLOR, UNATTR_COLOR, WIDTH_IN, _bar_labels, _new_fig,  # noqa: E402,F401
                                         _usd_axis, model_label, series_color)
from tracker_utils.report.html import badge, box, esc, fig_html, kpis, show, table, wrap  # noqa: E402,F401
from tracker_utils.report.redact import NO_REDACTION, Redactor, _aliases, redact_text  # noqa: E402,F401

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

    @property
    def aliases(self) -> dict:
        return _aliases(self) if self.redact else {}

    def show(self, *items) -> None:
        show(*items, redactor=self.r)


def load(cfg: RunConfig) -> ReportData:
    return ReportData(cfg=cfg, summary=read_json(cfg.data(RECONCILE.SUMMARY)),
                      price_logs=read_parquet(cfg.data(PRICE.LOGS)),
                      hourly=read_parquet(cfg.data(RECONCILE.HOURLY)),
                      usage_types=read_parquet(cfg.data(RECONCILE.USAGE_TYPES)),
                      redact=cfg.params.redact, history=_run_summaries(cfg))


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
            "<p class='sub'><b>Billed</b> is what AWS charged (the bill). <b>Cost from logs</b> is every logged call priced at "
            "the price book. <b>CloudWatch</b> counts calls independently and tells whether the logs are complete.</p>")


def _dq_issues(dq: dict) -> list[str]:
    issues = []
    if dq.get("unpriced_models"):
        issues.append(f"<b>Unpriced models</b>: {', '.join(map(esc, dq['unpriced_models']))}: priced at $0, so the "
                      f"cost from logs is a <b>lower bound</b>. Add them to params/prices.csv.")
    if dq.get("records_malformed"):
        kinds = ", ".join(f"{esc(k)}: {v:,}" for k, v in dq.get("records_quarantined_by_kind", {}).items() if k != "duplicate")
        issues.append(f"<b>{dq['records_malformed']:,} malformed records</b> quarantined" + (f" ({kinds})" if kinds else "")
                      + "; they are not counted (see data/collect_quarantine.parquet)")
    if dq.get("records_duplicate"):
        issues.append(f"<b>{dq['records_duplicate']:,} duplicate records</b> (same requestId) counted once")
    if dq.get("files_bad"):
        issues.append(f"<b>Damaged log files</b>: {', '.join(f'{esc(k)}: {esc(v)}' for k, v in dq['files_bad'].items())}")
    if dq.get("provisioned_models"):
        issues.append(f"<b>Provisioned throughput</b> ({', '.join(map(esc, dq['provisioned_models']))}) is billed by the hour, "
                      "not per token")
    if dq.get("unmatched_bill_usage_types"):
        issues.append(f"<b>Bill usage types not in the price book</b>: {', '.join(map(esc, dq['unmatched_bill_usage_types']))}")
    if dq.get("bill_unplaced_lines"):
        issues.append(f"<b>{len(dq['bill_unplaced_lines'])} bill line(s)</b> could not be placed in a region")
    return issues


def _dq_facts(dq: dict) -> str:
    return (f"{dq.get('files_read', 0):,} log files, {dq.get('records_read', 0):,} records read: {dq.get('records_used', 0):,} used, "
            f"{dq.get('records_outside_day', 0):,} belong to other days, {dq.get('records_late', 0):,} arrived after the collection "
            f"time, {dq.get('records_malformed', 0):,} malformed, {dq.get('records_duplicate', 0):,} duplicates.")


def quality_box(d: ReportData) -> str:
    """The data-quality box: a warning listing every issue, or a one-line "clean" note."""
    dq = d.summary["data_quality"]
    issues = _dq_issues(dq)
    if issues:
        return box("<b>Data quality: needs attention</b><ul>" + "".join(f"<li>{i}</li>" for i in issues)
                   + f"</ul><small>{_dq_facts(dq)}</small>", "warn")
    return box(f"<b>Data quality: clean.</b> <small>{_dq_facts(dq)}</small>", "ok")


def quality_top(d: ReportData) -> str:
    """The data-quality box for the top of the report: only when something is not zero."""
    return quality_box(d) if _dq_issues(d.summary["data_quality"]) else ""


def quality_bottom(d: ReportData) -> str:
    """The data-quality facts at the end of the report when they were not already shown at the top."""
    return "" if _dq_issues(d.summary["data_quality"]) else quality_box(d)


def _unattributed(apps: list[dict]) -> tuple[Decimal, Decimal]:
    un = [a for a in apps if a["app"] == UNATTRIBUTED]
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
    # run rate: the average reported day, for every day of the month (days not reported, past or future, at the average)
    forecast = mtd / len(month) * days_in_month if month else Decimal(0)
    un, total_share = _unattributed(s.get("apps", []))
    return {"billed": billed, "logs": logs, "explained_pct": t.get("explained_pct"), "lower_bound": t.get("lower_bound"),
            "previous": Decimal(prev["totals"]["billed_cost_usd"]) if prev else None,
            "change": (billed - Decimal(prev["totals"]["billed_cost_usd"])) if prev else None,
            "mtd": mtd, "mtd_days": len(month), "day_of_month": day.day, "days_in_month": days_in_month,
            "forecast": forecast, "unattributed": un, "apps_total": total_share,
            "logs_invocations": t["logs_invocations"], "cloudwatch_invocations": t["cloudwatch_invocations"]}


def headline(d: ReportData) -> str:
    f = headline_figures(d)
    if f["change"] is None:
        change, change_sub = "n/a", "no report for the previous day"
    else:
        change = cents(f["change"], sign=True)
        change_sub = (f"{(f['change'] / f['previous'] * 100):+.1f}% vs {cents(f['previous'])}" if f["previous"]
                      else f"vs {cents(f['previous'])}")
    missing = f["day_of_month"] - f["mtd_days"]
    items = [
        ("Billed (the bill)", cents(f["billed"]), "Cost Explorer, this region and day"),
        ("Cost from logs", cents(f["logs"]), "lower bound: unpriced models" if f["lower_bound"] else "logs x price book"),
        ("Share explained by logs", f"{f['explained_pct']}%" if f["explained_pct"] else "n/a", "cost from logs / billed"),
        ("Change vs previous day", change, change_sub),
        ("Month to date", cents(f["mtd"]), f"{f['mtd_days']} day{'s' if f['mtd_days'] != 1 else ''} reported"
         + (f", {missing} missing" if missing > 0 else "")),
        ("Month-end forecast", cents(f["forecast"]), f"average reported day x {f['days_in_month']} days"),
        ("Unattributed", cents(f["unattributed"]), f"{pct(f['unattributed'], f['apps_total'])} of the bill: no rule in apps.yaml"),
        ("Invocations", f"{f['logs_invocations']:,}", f"logs; CloudWatch counted {f['cloudwatch_invocations']:,}"),
    ]
    return kpis(items)


def _status(summary: dict) -> tuple[str, str]:
    """("reconciled" | "unexplained gap" | "no bill", badge kind) for one summary."""
    unexp = next((g for g in summary["gaps"] if g["kind"] == "unexplained"), None)
    if summary.get("sources", {}).get("bill") in ("none", None) or not Decimal(summary["totals"]["billed_cost_usd"]):
        return "no bill", "grey"
    if unexp is not None and not unexp.get("within_tolerance"):
        return "unexplained gap", "bad"
    return "reconciled", "ok"


def verdict_box(d: ReportData) -> str:
    s = d.summary
    status, kind = _status(s)
    items = "".join(f"<li><span class='dot' style='background:{GAP_COLOURS.get(g['kind'], '#000')}'></span>"
                    f"<b>{esc(KIND_TEXT.get(g['kind'], g['kind']).capitalize())}</b>: {esc(g['explanation'])}</li>"
                    for g in s["gaps"])
    return box(f"<b>Reconciliation</b> {badge(status, kind)}<p style='margin:6px 0'>{esc(s['verdict'])}</p>"
               f"<ul>{items}</ul><small>{esc(s.get('method', ''))}</small>", "bad" if kind == "bad" else "note")


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
        return box(f"<b>Cost anomalies</b>: not checked: {hist} earlier day(s) reported in the window, "
                   f"{anomalies.MIN_HISTORY} needed ({esc(rule)}).", "note")
    return box(f"<b>Cost anomalies</b>: none. The day's total and every application are within range ({esc(rule)}; "
               f"{hist} earlier day(s)).", "ok")


# --- applications ---------------------------------------------------------------------------------------------
def apps_frame(d: ReportData) -> pd.DataFrame:
    rows = d.summary["apps"]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.sort_values("billed_share_usd", key=lambda s: s.map(Decimal), ascending=False)
    return df.reset_index(drop=True)


def apps_table(d: ReportData) -> str:
    df = apps_frame(d)
    if df.empty:
        return "<p>No invocation logs for this day.</p>"
    total_share = dsum(df["billed_share_usd"])
    tok = df["input_tokens"] + df["output_tokens"] + df["cache_read_tokens"] + df["cache_write_tokens"]
    show_df = pd.DataFrame({
        "Application": df["app"], "Team": df["team"].replace("", "(none)"), "Cost centre": df["cost_centre"].replace("", "(none)"),
        "Invocations": df["invocations"].map("{:,}".format), "Tokens": tok.map("{:,}".format),
        "Cost from logs": df["cost_usd"].map(lambda v: usd(Decimal(v))),
        "Share of the bill": df["billed_share_usd"].map(lambda v: usd(Decimal(v))),
        "% of bill": df["billed_share_usd"].map(lambda v: pct(v, total_share))})
    tot = {"Application": "Total", "Team": "", "Cost centre": "", "Invocations": f"{int(df['invocations'].sum()):,}",
           "Tokens": f"{int(tok.sum()):,}", "Cost from logs": usd(dsum(df["cost_usd"])), "Share of the bill": usd(total_share),
           "% of bill": "100%" if total_share else "n/a"}
    show_df = pd.concat([show_df, pd.DataFrame([tot])], ignore_index=True)
    hl = [i for i, a in enumerate(df["app"]) if a == UNATTRIBUTED]
    return table(show_df, {"Invocations", "Tokens", "Cost from logs", "Share of the bill", "% of bill"}, hl, total=True) \
        + unattributed_note(d)


def unattributed_note(d: ReportData) -> str:
    """Who is behind the unattributed usage (so a rule can be added to params/apps.yaml)."""
    pl = d.price_logs
    if pl.empty or not (pl["app"] == UNATTRIBUTED).any():
        return "<p class='sub'>Every call is attributed to an application.</p>"
    u = pl[pl["app"] == UNATTRIBUTED]
    g = u.groupby(["principal", "principal_name", "principal_kind"]).agg(
        invocations=("invocations", "sum"), cost=("cost_usd", dsum),
        meta=("request_metadata", lambda s: sorted(set(x for x in s if x)))).reset_index().sort_values("cost", ascending=False)
    who = "; ".join(f"{esc(r.principal_kind)} <b>{esc(r.principal_name)}</b> ({r.invocations:,} calls, {usd(r.cost)}"
                    + (f", metadata {esc(', '.join(r.meta))}" if r.meta else ", no request metadata") + ")"
                    for r in g.itertuples(index=False))
    return box(f"<b>Unattributed usage</b> (highlighted): no rule in params/apps.yaml matches {who}. "
               "Add a rule (role, user, request metadata or application inference profile) to charge it to a team.", "warn")


def chart_apps(d: ReportData):
    """Cost by application: share of the bill, unattributed in orange."""
    df = apps_frame(d)
    fig, ax = _new_fig(max(2.2, 0.42 * len(df) + 1.2))
    if df.empty:
        ax.text(0.5, 0.5, "no invocation logs", ha="center", va="center", transform=ax.transAxes)
    else:
        a = df.iloc[::-1]
        vals = a["billed_share_usd"].map(float)
        total = float(dsum(df["billed_share_usd"])) or 1.0
        labels = [f"{r.app}  ({r.team or 'no team'}, {r.cost_centre or 'no cost centre'})" for r in a.itertuples()]
        colors = [UNATTR_COLOR if x == UNATTRIBUTED else APP_COLOR for x in a["app"]]
        bars = ax.barh([d.r(x) for x in labels], vals, color=colors)
        top = max(vals.max(), 1e-9)
        _bar_labels(ax, bars, [f"{usd(Decimal(v))}  ({float(Decimal(v)) / total * 100:.1f}%)" for v in a["billed_share_usd"]], top)
        for t, a_name in zip(ax.get_yticklabels(), a["app"]):
            if a_name == UNATTRIBUTED:
                t.set_color(UNATTR_COLOR)
                t.set_fontweight("bold")
        ax.set_xlim(0, top * 1.22)
        _usd_axis(ax)
    ax.set_title("Cost by application: share of the bill (USD); orange = unattributed", loc="left", fontsize=12)
    ax.set_xlabel("USD (logs cost of each model scaled to what was billed)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# --- models ---------------------------------------------------------------------------------------------------
def models_frame(d: ReportData) -> pd.DataFrame:
    rows = []
    for m in d.summary["models"]:
        rows.append({"model": m["model"], "name": m.get("name", m["model"]),
                     "logs_invocations": m["logs"]["invocations"], "cloudwatch_invocations": m["cloudwatch"]["invocations"],
                     "tokens": sum(m["cloudwatch"].get(k, 0) for k in ("input_tokens", "output_tokens", "cache_read_tokens",
                                                                          "cache_write_tokens")),
                     "logs_cost": Decimal(m["logs"]["cost_usd"]), "cloudwatch_cost": Decimal(m["cloudwatch"]["cost_usd"]),
                     "billed": Decimal(m["billed"]["cost_usd"]), "gaps": ", ".join(g["kind"] for g in m["gaps"]),
                     "gap_list": m["gaps"]})
    return pd.DataFrame(rows)


def _gap_words(gaps: list[dict]) -> str:
    return ", ".join(GAP_SHORT.get(g["kind"], g["kind"]) for g in gaps if g["kind"] != "day_edge") or "none"


def models_table(d: ReportData) -> str:
    df = models_frame(d)
    if df.empty:
        return "<p>No usage.</p>"
    df = df.sort_values("billed", ascending=False)
    total = sum(df["billed"], Decimal(0))
    show_df = pd.DataFrame({"Model": df["name"], "Invocations (logs)": df["logs_invocations"].map("{:,}".format),
                            "Invocations (CloudWatch)": df["cloudwatch_invocations"].map("{:,}".format),
                            "Tokens (CloudWatch)": df["tokens"].map("{:,}".format),
                            "Cost from logs": df["logs_cost"].map(usd), "CloudWatch at book prices": df["cloudwatch_cost"].map(usd),
                            "Billed": df["billed"].map(usd), "% of bill": df["billed"].map(lambda v: pct(v, total)),
                            "Differences": df["gap_list"].map(_gap_words)})
    return table(show_df, {"Invocations (logs)", "Invocations (CloudWatch)", "Tokens (CloudWatch)", "Cost from logs",
                           "CloudWatch at book prices", "Billed", "% of bill"})


def chart_models(d: ReportData):
    """Cost by model: billed next to the cost from logs."""
    df = models_frame(d)
    fig, ax = _new_fig(max(2.2, 0.5 * len(df) + 1.2))
    if df.empty:
        ax.text(0.5, 0.5, "no usage", ha="center", va="center", transform=ax.transAxes)
    else:
        m = df.sort_values("billed").reset_index(drop=True)
        y = range(len(m))
        h = 0.38
        b1 = ax.barh([i + h / 2 for i in y], m["billed"].map(float), h, label="Billed", color="#6a9a50")
        ax.barh([i - h / 2 for i in y], m["logs_cost"].map(float), h, label="Cost from logs", color=APP_COLOR)
        top = max(float(m[["billed", "logs_cost"]].max().max()), 1e-9)
        _bar_labels(ax, b1, [usd(v) for v in m["billed"]], top)
        ax.set_yticks(list(y), [d.r(model_label(n)) for n in m["name"]])
        ax.set_xlim(0, top * 1.15)
        _usd_axis(ax)
        ax.legend(loc="lower right")
    ax.set_title("Cost by model (USD): billed vs cost from logs", loc="left", fontsize=12)
    ax.set_xlabel("USD")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def chart_costs(d: ReportData):
    """Both cost charts in one figure (kept for callers of the first version)."""
    return chart_apps(d)


# --- hour by hour ---------------------------------------------------------------------------------------------
def chart_hourly(d: ReportData):
    """Invocations per hour (logs vs CloudWatch, gap hours shaded) and a heat map of tokens per model and hour."""
    h = d.hourly
    n_models = max(1, h["base_model"].nunique()) if not h.empty else 1
    fig, axes = plt.subplots(2, 1, figsize=(WIDTH_IN, 3.6 + 0.42 * n_models + 1.6),
                             gridspec_kw={"height_ratios": [3.6, 0.42 * n_models + 0.6]})
    ax, hm = axes
    if not h.empty:
        h = h.assign(hr=pd.to_datetime(h["hour"], utc=True).dt.hour)
        by = h.groupby("hr")[["logs_invocations", "cloudwatch_invocations", "late_invocations"]].sum().reindex(range(24), fill_value=0)
        outage = set(h.loc[h["cause"].isin(["logging_outage", "unexplained"]), "hr"])
        late = set(h.loc[h["late_invocations"] > 0, "hr"])
        for hr in outage:
            ax.axvspan(hr - 0.5, hr + 0.5, color="#d04040", alpha=0.15, lw=0)
        for hr in late - outage:
            ax.axvspan(hr - 0.5, hr + 0.5, color="#f0a030", alpha=0.2, lw=0)
        ax.plot(by.index, by["cloudwatch_invocations"], label="CloudWatch (all calls AWS counted)", color="#333", lw=2, marker="o", ms=3)
        ax.plot(by.index, by["logs_invocations"], label="Invocation logs", color=APP_COLOR, lw=2, ls="--", marker="o", ms=3)
        from matplotlib.patches import Patch
        handles, _ = ax.get_legend_handles_labels()
        if late - outage:
            handles.append(Patch(color="#f0a030", alpha=0.3, label="late log delivery"))
        if outage:
            handles.append(Patch(color="#d04040", alpha=0.3, label="logging outage / unexplained"))
        ax.legend(handles=handles, loc="upper left", fontsize=9)
        ax.set_ylim(0, max(1, by[["logs_invocations", "cloudwatch_invocations"]].max().max()) * 1.25)
        tok = h.assign(tokens=h["cloudwatch_input_tokens"] + h["cloudwatch_output_tokens"]
                       + h["cloudwatch_cache_read_tokens"] + h["cloudwatch_cache_write_tokens"])
        name_of = {m["model"]: model_label(m.get("name", m["model"]), 28) for m in d.summary["models"]}
        piv = tok.pivot_table(index="base_model", columns="hr", values="tokens", aggfunc="sum", fill_value=0)
        piv = piv.reindex(columns=range(24), fill_value=0)
        piv = piv.loc[piv.sum(axis=1).sort_values(ascending=False).index]
        im = hm.imshow(piv.values / 1000, aspect="auto", cmap="Blues", interpolation="nearest")
        hm.set_yticks(range(len(piv.index)), [d.r(name_of.get(i, model_label(i))) for i in piv.index], fontsize=9)
        hm.set_xticks(range(24), [f"{i:02d}" for i in range(24)], fontsize=8)
        cb = fig.colorbar(im, ax=hm, pad=0.01, fraction=0.03)
        cb.set_label("thousand tokens")
    else:
        ax.text(0.5, 0.5, "no hourly data", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(range(24), [f"{i:02d}" for i in range(24)], fontsize=8)
    ax.set_xlim(-0.5, 23.5)
    ax.set_title("Invocations per hour (UTC): CloudWatch vs logs; shaded hours have gaps", loc="left", fontsize=12)
    ax.set_xlabel("hour of the day (UTC)")
    ax.set_ylabel("invocations")
    ax.grid(alpha=0.3)
    hm.set_title("Tokens per model and hour (UTC, CloudWatch: input + output + cache)", loc="left", fontsize=12)
    hm.set_xlabel("hour of the day (UTC)")
    fig.tight_layout()
    return fig


# --- reconciliation -------------------------------------------------------------------------------------------
def _gap_labels(gaps: list[dict]) -> list[tuple[str, str]]:
    """(text, colour) for each gap of a model worth writing on the chart: every cost, and usage-only gaps by calls."""
    out = []
    for g in gaps:
        k, c = g["kind"], Decimal(g["cost_usd"])
        if k == "day_edge":
            continue
        if abs(c) >= Decimal("0.00005"):
            sign = "+" if c > 0 else "-"
            out.append((f"{GAP_SHORT.get(k, k)} {sign}{usd(abs(c))}", GAP_COLOURS.get(k, "#000")))
        elif g["invocations"]:
            out.append((f"{GAP_SHORT.get(k, k)} ({abs(g['invocations']):,} calls)", GAP_COLOURS.get(k, "#000")))
    return out


def chart_reconciliation(d: ReportData):
    """Per model: logs, CloudWatch and the bill side by side, each model's differences written beside it by cause;
    below, the day's bridge from the cost from logs to the bill, one step per cause."""
    models = models_frame(d)
    n = max(1, len(models))
    fig, (ax, wf) = plt.subplots(2, 1, figsize=(WIDTH_IN, 0.78 * n + 1.4 + 3.4),
                                 gridspec_kw={"height_ratios": [0.78 * n + 1.0, 3.0]})
    if not models.empty:
        m = models.sort_values("billed", ascending=True).reset_index(drop=True)
        y = list(range(len(m)))
        h = 0.26
        ax.barh([i + h for i in y], m["billed"].map(float), h, label="Billed", color="#6a9a50")
        ax.barh(y, m["cloudwatch_cost"].map(float), h, label="CloudWatch usage (book prices)", color="#999")
        ax.barh([i - h for i in y], m["logs_cost"].map(float), h, label="Cost from logs (book prices)", color=APP_COLOR)
        top = max(float(m[["logs_cost", "cloudwatch_cost", "billed"]].max().max()), 1e-9)
        for i, row in m.iterrows():
            end = max(float(row["logs_cost"]), float(row["cloudwatch_cost"]), float(row["billed"]))
            ax.text(end + top * 0.01, i + h, f"billed {usd(row['billed'])}", va="center", fontsize=8, color="#3b6a2a")
            labels = _gap_labels(row["gap_list"])
            x0 = top * 1.17
            for j, (txt, col) in enumerate(labels[:3]):
                ax.text(x0, i + h - j * h, txt, va="center", ha="left", fontsize=9, color=col, fontweight="bold")
        ax.axvline(top * 1.15, color="#ccc", lw=1)
        ax.text(top * 1.17, len(m) - 0.45, "differences by cause", fontsize=9, color="#556", va="bottom")
        ax.set_xlim(0, top * 1.68)
        ax.set_ylim(-0.6, len(m) - 0.1)
        ax.set_yticks(y, [d.r(model_label(nm, 26)) for nm in m["name"]], fontsize=9)
        ax.set_xticks([v for v in ax.get_xticks() if 0 <= v <= top * 1.12])
        ax.legend(loc="lower right", fontsize=9, bbox_to_anchor=(0.68, 0.0))
        _usd_axis(ax)
        # the bridge: cost from logs -> each cause -> billed
        t = d.summary["totals"]
        logs, billed = Decimal(t["logs_cost_usd"]), Decimal(t["billed_cost_usd"])
        steps = [(g["kind"], Decimal(g["cost_usd"])) for g in d.summary["gaps"] if not g.get("in_logs")
                 and abs(Decimal(g["cost_usd"])) >= Decimal("0.00005")]
        rest = billed - logs - sum((v for _, v in steps), Decimal(0))
        if abs(rest) >= Decimal("0.00005"):
            steps.append(("unexplained", rest))
        labels, lefts, widths, colors = ["Cost from logs"], [0.0], [float(logs)], [APP_COLOR]
        run = logs
        for kind, v in steps:
            labels.append(GAP_SHORT.get(kind, kind))
            lefts.append(float(min(run, run + v)))
            widths.append(abs(float(v)))
            colors.append(GAP_COLOURS.get(kind, "#000"))
            run += v
        labels.append("Billed")
        lefts.append(0.0)
        widths.append(float(billed))
        colors.append("#6a9a50")
        ys = list(range(len(labels)))[::-1]
        bars = wf.barh(ys, widths, left=lefts, color=colors, height=0.6)
        wf.set_yticks(ys, labels)
        vals = [logs] + [v for _, v in steps] + [billed]
        span = max(float(billed), float(logs), 1e-9)
        for i, (b, v) in enumerate(zip(bars, vals)):
            txt = usd(v) if i in (0, len(vals) - 1) else ("+" if v > 0 else "-") + usd(abs(v))
            wf.text(b.get_x() + b.get_width() + span * 0.01, b.get_y() + b.get_height() / 2, txt, va="center", fontsize=9)
        wf.set_xlim(0, span * 1.18)
        _usd_axis(wf)
        wf.grid(axis="x", alpha=0.3)
    ax.set_title("Logs vs CloudWatch vs bill per model (USD); differences labelled by cause", loc="left", fontsize=12)
    ax.set_xlabel("USD")
    ax.grid(axis="x", alpha=0.3)
    wf.set_title("From the cost in the logs to the bill: what each cause adds (USD)", loc="left", fontsize=12)
    fig.tight_layout()
    return fig


def gaps_table(d: ReportData) -> str:
    rows = []
    for m in d.summary["models"]:
        for g in m["gaps"]:
            rows.append({"Model": m.get("name", m["model"]), "Cause": KIND_TEXT.get(g["kind"], g["kind"]),
                         "Invocations": f"{g['invocations']:+,}", "Tokens (in / out)": f"{g['input_tokens']:+,} / {g['output_tokens']:+,}",
                         "USD": usd(Decimal(g["cost_usd"])), "Hours (UTC)": ", ".join(f"{h:02d}" for h in g["hours"]),
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
        return usd(Decimal(v)) if v not in (None, "") and not (isinstance(v, float) and pd.isna(v)) else ""

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
        return pd.DataFrame(columns=["principal", "principal_name", "principal_kind", "apps", "invocations", "sessions", "cost"])
    g = pl.groupby(["principal", "principal_name", "principal_kind"]).agg(
        apps=("app", lambda s: ", ".join(sorted(set(s)))), invocations=("invocations", "sum"),
        sessions=("sessions", "sum"), cost=("cost_usd", dsum)).reset_index()
    return g.sort_values("cost", ascending=False).head(n).reset_index(drop=True)


def top_principals(d: ReportData, n: int = 10) -> str:
    g = principals_frame(d.price_logs, n)
    if g.empty:
        return "<p>No invocation logs.</p>"
    show_df = pd.DataFrame({"Principal": g["principal_name"].map(d.r), "Kind": g["principal_kind"], "Application(s)": g["apps"],
                            "Invocations": g["invocations"].map("{:,}".format), "Cost from logs": g["cost"].map(usd)})
    hl = [i for i, a in enumerate(g["apps"]) if UNATTRIBUTED in a.split(", ")]
    return table(show_df, {"Invocations", "Cost from logs"}, hl) + (
        "<p class='sub'>Principal names are replaced by stable aliases in this shared report.</p>" if d.r.enabled else "")


def footer(d: ReportData) -> str:
    return ("<p class='sub'>Made by the Bedrock Usage Tracker. Cost from logs uses the price book (params/prices.csv); cache "
            "writes are priced at the 5-minute rate. Hours are UTC. Figures for the previous day and the month come from "
            "the other reports in the same output folder.</p>")

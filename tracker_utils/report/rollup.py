"""The run's roll-up: the index page (``outputs/index.html``), the roll-up report (``notebooks/05_rollup.ipynb`` run
into ``outputs/rollup.ipynb`` / ``rollup.html``) and the chargeback files (``outputs/chargeback.csv`` / ``.json``).

Only completed date-regions are read (those with ``summary.json``: it is written last); the others are listed as
failed or incomplete, never silently left out. Money is summed as :class:`~decimal.Decimal` from the summaries'
decimal strings.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from tracker_utils.report import anomalies
from tracker_utils import handoff
from tracker_utils.apps import UNATTRIBUTED
from tracker_utils.config import Params, load_params, resolve_path, run_dir
from tracker_utils.io import read_json, read_parquet, write_json
from tracker_utils.gaps import ORDER as KIND_ORDER, TEXT as KIND_TEXT
from tracker_utils.money import cents, dsum, money, pct, usd
from tracker_utils.report.charts import WIDTH_IN, _usd_axis, model_label, series_color
from tracker_utils.report.daily import ANOMALY_HINT, _status, principals_frame
from tracker_utils.report.html import badge, box, esc, kpis, show, table
from tracker_utils.report.redact import Redactor, run_principals
from tracker_utils.gaps import SHORT as GAP_SHORT

from tracker_utils.schema import TOKENS


# --- what the run produced -----------------------------------------------------------------------------------
def run_states(p: Params, outcomes=None) -> list[dict]:
    """One entry per date and region of the run: status complete | failed | incomplete, and its summary if complete."""
    by = {(o.date, o.region): o for o in (outcomes or [])}
    out = []
    for d in p.dates:
        for r in p.regions:
            rd = run_dir(p.output_dir, d, r)
            st = {"date": d, "region": r, "status": "incomplete", "summary": None, "error": "", "where": ""}
            o = by.get((d, r))
            info = {}
            if o is not None:
                info = dict(o.__dict__)
            elif (rd / "run.json").exists():
                try:
                    info = read_json(rd / "run.json")
                except Exception:  # noqa: BLE001
                    info = {}
            if (rd / "summary.json").exists():
                try:
                    st["summary"] = read_json(rd / "summary.json")
                    st["status"] = "complete"
                    st["stale_records"] = handoff.pending(resolve_path(p.output_dir), r, d, rd)
                except Exception as e:  # noqa: BLE001 - unreadable: treat as incomplete
                    st["error"] = f"summary.json unreadable: {e}"
            elif info.get("status") == "failed":
                st["status"] = "failed"
                st["error"] = (info.get("error") or "").splitlines()[0] if info.get("error") else ""
                nb = info.get("failed_notebook") or "setup"
                st["where"] = f"{nb}.ipynb" + (f" cell {info['failed_cell']}" if info.get("failed_cell") else "")
            elif info.get("status") == "complete":
                st["error"] = "finished but summary.json is missing"
            out.append(st)
    return out


def completed_summaries(output_dir: str | Path, regions: list[str] | None = None, before: str | None = None,
                        after: str | None = None) -> list[dict]:
    """Every completed summary in an output folder (optionally of some regions and within [after, before])."""
    out = []
    for pth in sorted(resolve_path(output_dir).glob("*/*/summary.json")):
        try:
            s = read_json(pth)
        except Exception:  # noqa: BLE001
            continue
        if "totals" not in s or (regions and s.get("region") not in regions):
            continue
        if (before and s["date"] > before) or (after and s["date"] < after):
            continue
        out.append(s)
    return out


# --- the roll-up's data --------------------------------------------------------------------------------------
@dataclass
class RollupData:
    params: Params
    states: list[dict]
    price_logs: pd.DataFrame
    history: list[dict] = field(default_factory=list)    # earlier completed days (for the anomaly baseline)
    redactor: Redactor = field(default_factory=Redactor)
    interactive: bool = False

    @property
    def summaries(self) -> list[dict]:
        return [s["summary"] for s in self.states if s["status"] == "complete"]

    @property
    def out_dir(self) -> Path:
        return resolve_path(self.params.output_dir)

    @property
    def r(self) -> Redactor:
        return self.redactor

    def show(self, *items) -> None:
        show(*items)


def load(params_file: str = "", output_dir: str = "", interactive: bool = False) -> RollupData:
    """The run's completed summaries and invocation-log frames (the notebook's one call after its parameters)."""
    overrides = {"output_dir": output_dir} if output_dir else {}
    p = load_params(params_file or None, overrides)
    states = run_states(p)
    frames = []
    for st in states:
        if st["status"] != "complete":
            continue
        f = run_dir(p.output_dir, st["date"], st["region"]) / "data" / "price_logs.parquet"
        if f.exists():
            frames.append(read_parquet(f).assign(date=st["date"], region=st["region"]))
    pl = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["date", "region", "principal", "principal_name", "principal_kind", "app", "team", "cost_centre",
                 "base_model", "invocations", "sessions", *TOKENS, "cost_usd"])
    start = (dt.date.fromisoformat(p.start) - dt.timedelta(days=p.anomaly_window_days)).isoformat()
    history = completed_summaries(p.output_dir, p.regions, before=(dt.date.fromisoformat(p.start) - dt.timedelta(days=1)).isoformat(),
                                  after=start)
    r = redactor_for(p, states)
    return RollupData(r.params(p), redacted_states(r, states), r.frame(pl), [r.obj(h) for h in history], r, interactive)


def redactor_for(p: Params, states: list[dict]) -> Redactor:
    """The run's redactor (a no-op unless ``redact``): it knows every principal of the completed date-regions."""
    principals: set[str] = set()
    if p.redact:
        for st in states:
            if st["status"] == "complete":
                principals |= run_principals(run_dir(p.output_dir, st["date"], st["region"]))
    return Redactor(p.redact, p.account, principals)


def redacted_states(r: Redactor, states: list[dict]) -> list[dict]:
    """The states as a shared page shows them: summaries and error messages redacted (values, before rendering)."""
    return [{**st, "summary": r.obj(st["summary"]), "error": r(st["error"])} for st in states] if r.enabled else states


# --- page parts ----------------------------------------------------------------------------------------------
def title(rd: RollupData) -> str:
    p = rd.params
    done = sum(s["status"] == "complete" for s in rd.states)
    return (f"<h1>Amazon Bedrock usage roll-up: {esc(p.start)} to {esc(p.end)}</h1>"
            f"<p class='sub'>Account {esc(p.account)} &middot; regions {esc(', '.join(p.regions))} &middot; "
            f"{done} of {len(rd.states)} date-region reports complete &middot; made "
            f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC &middot; <a href='index.html'>all reports</a></p>"
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


def totals(rd: RollupData) -> dict:
    ss = rd.summaries
    billed = dsum(s["totals"]["billed_cost_usd"] for s in ss)
    logs = dsum(s["totals"]["logs_cost_usd"] for s in ss)
    cw = dsum(s["totals"]["cloudwatch_cost_usd"] for s in ss)
    apps = [a for s in ss for a in s.get("apps", [])]
    un = dsum(a["billed_share_usd"] for a in apps if a["app"] == UNATTRIBUTED)
    share = dsum(a["billed_share_usd"] for a in apps)
    return {"billed": billed, "logs": logs, "cloudwatch": cw, "unattributed": un, "apps_share": share,
            "logs_invocations": sum(s["totals"]["logs_invocations"] for s in ss),
            "cloudwatch_invocations": sum(s["totals"]["cloudwatch_invocations"] for s in ss),
            "days": len({s["date"] for s in ss}), "runs": len(ss), "lower_bound": any(s["totals"].get("lower_bound") for s in ss)}


def headline(rd: RollupData) -> str:
    t = totals(rd)
    per_day = t["billed"] / t["days"] if t["days"] else Decimal(0)
    return kpis([
        ("Billed", cents(t["billed"]), f"{t['runs']} date-region reports, {t['days']} day{'s' if t['days'] != 1 else ''}"),
        ("Cost from logs", cents(t["logs"]), "lower bound: unpriced models" if t["lower_bound"] else "logs x price book"),
        ("Share explained by logs", pct(t["logs"], t["billed"]), "cost from logs / billed"),
        ("Average day", cents(per_day), "billed, all regions"),
        ("30-day run rate", cents(per_day * 30), "average day x 30"),
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
        parts.append(f"{usd(abs(g['cost']))} is {KIND_TEXT[g['kind']]} ({len(g['runs'])} report{'s' if len(g['runs']) != 1 else ''})")
    bad = [s for s in rd.summaries if _status(s)[0] == "unexplained gap"]
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


def verdict_box(rd: RollupData) -> str:
    bad = any(_status(s)[0] == "unexplained gap" for s in rd.summaries)
    missing = any(s["status"] != "complete" for s in rd.states)
    status = "unexplained gap" if bad else "incomplete" if missing else "reconciled" if rd.summaries else "nothing to reconcile"
    kind = "bad" if bad else "warn" if missing else "ok" if rd.summaries else "grey"
    gaps = gap_rollup(rd)
    rows = [{"Cause": KIND_TEXT.get(g["kind"], g["kind"]), "Cost": usd(g["cost"]), "Invocations": f"{g['invocations']:+,}",
             "Reports": f"{len(g['runs'])}",
             "Note": ("already counted in the logs" if g["in_logs"] else
                      "not billed" if g["kind"] == "failed_calls" else
                      "within tolerance (rounding)" if g["kind"] == "unexplained" and g["within_tolerance"] else "")}
            for g in gaps]
    tbl = table(pd.DataFrame(rows), {"Cost", "Invocations", "Reports"}) if rows else ""
    return box(f"<b>Reconciliation for the run</b> {badge(status, kind)}<p style='margin:6px 0'>{esc(run_verdict(rd))}</p>{tbl}",
               "bad" if bad else "note")


def runs_table(rd: RollupData) -> str:
    """Every date-region: verdict, billed, cost from logs, share explained, causes; links to the reports."""
    rows = []
    for st in rd.states:
        link = f"<a href='{st['date']}/{st['region']}/report.html'>report</a>" if st["status"] == "complete" else ""
        if st["status"] == "complete":
            s = st["summary"]
            status, kind = _status(s)
            if st.get("stale_records"):
                n = st["stale_records"]
                status, kind = f"stale: {n:,} record{'s' if n != 1 else ''} of this day arrived after its report", "warn"
            t = s["totals"]
            rows.append({"Date": st["date"], "Region": st["region"], "Verdict": badge(status, kind),
                         "Billed": cents(t["billed_cost_usd"]), "Cost from logs": cents(t["logs_cost_usd"]),
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


# --- chargeback ----------------------------------------------------------------------------------------------
def chargeback_frame(rd: RollupData) -> pd.DataFrame:
    """Per application over the run: team, cost centre, invocations, tokens, cost from logs, share of the bill.
    Money columns hold Decimals."""
    acc: dict[tuple, dict] = {}
    for s in rd.summaries:
        for a in s.get("apps", []):
            k = (a["app"], a.get("team", ""), a.get("cost_centre", ""))
            x = acc.setdefault(k, {"app": k[0], "team": k[1], "cost_centre": k[2], "invocations": 0,
                                   **{t: 0 for t in TOKENS}, "cost_usd": Decimal(0), "billed_share_usd": Decimal(0),
                                   "days": set()})
            x["invocations"] += int(a["invocations"])
            for t in TOKENS:
                x[t] += int(a.get(t, 0))
            x["cost_usd"] += Decimal(a["cost_usd"])
            x["billed_share_usd"] += Decimal(a["billed_share_usd"])
            x["days"].add(s["date"])
    rows = sorted(acc.values(), key=lambda x: (x["app"] == UNATTRIBUTED, -x["billed_share_usd"], x["app"]))
    billed = totals(rd)["billed"]
    for x in rows:
        x["tokens"] = sum(x[t] for t in TOKENS)
        x["share_of_bill_pct"] = (x["billed_share_usd"] / billed * 100).quantize(Decimal("0.01")) if billed else None
        x["days"] = len(x["days"])
    cols = ["app", "team", "cost_centre", "invocations", *TOKENS, "tokens", "cost_usd", "billed_share_usd",
            "share_of_bill_pct", "days"]
    return pd.DataFrame(rows, columns=cols)


def chargeback_table(rd: RollupData) -> str:
    df = chargeback_frame(rd)
    if df.empty:
        return "<p>No completed report: nothing to charge back.</p>"
    show_df = pd.DataFrame({
        "Application": df["app"], "Team": df["team"].replace("", "(none)"), "Cost centre": df["cost_centre"].replace("", "(none)"),
        "Invocations": df["invocations"].map("{:,}".format), "Tokens": df["tokens"].map("{:,}".format),
        "Cost from logs": df["cost_usd"].map(usd), "Share of the bill": df["billed_share_usd"].map(usd),
        "% of bill": df["share_of_bill_pct"].map(lambda v: f"{v}%" if v is not None else "n/a")})
    t = totals(rd)
    tot = {"Application": "Total", "Team": "", "Cost centre": "", "Invocations": f"{int(df['invocations'].sum()):,}",
           "Tokens": f"{int(df['tokens'].sum()):,}", "Cost from logs": usd(sum(df["cost_usd"], Decimal(0))),
           "Share of the bill": usd(sum(df["billed_share_usd"], Decimal(0))),
           "% of bill": pct(sum(df["billed_share_usd"], Decimal(0)), t["billed"])}
    show_df = pd.concat([show_df, pd.DataFrame([tot])], ignore_index=True)
    hl = [i for i, a in enumerate(df["app"]) if a == UNATTRIBUTED]
    note = ("<p class='sub'>Download: <a href='chargeback.csv'>chargeback.csv</a> &middot; <a href='chargeback.json'>"
            "chargeback.json</a> (exact amounts, 6 decimals). The share of the bill of all applications can differ from "
            "the bill by usage that is never logged (batch, bedrock-mantle) and bill lines of unknown models.</p>")
    return table(show_df, {"Invocations", "Tokens", "Cost from logs", "Share of the bill", "% of bill"}, hl, total=True) + note


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
    """``chargeback.csv`` and ``chargeback.json`` beside ``rollup.html`` (money as exact decimal strings)."""
    df = chargeback_frame(rd)
    out = rd.out_dir
    out.mkdir(parents=True, exist_ok=True)
    cols = ["app", "team", "cost_centre", "invocations", *TOKENS, "tokens", "cost_usd", "billed_share_usd", "share_of_bill_pct"]
    rows = []
    for x in df.to_dict("records"):
        rows.append({c: (money(x[c]) if c in ("cost_usd", "billed_share_usd") else
                         ("" if x[c] is None else str(x[c])) if c == "share_of_bill_pct" else
                         rd.r(x[c]) if c in TEXT_COLUMNS else x[c]) for c in cols})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows([{c: csv_cell(v) for c, v in r.items()} for r in rows])
    csv_path = out / "chargeback.csv"
    tmp = csv_path.with_suffix(".csv.tmp")
    tmp.write_text(buf.getvalue())
    tmp.replace(csv_path)
    t = totals(rd)
    doc = {"period": {"start": rd.params.start, "end": rd.params.end}, "regions": rd.params.regions, "currency": "USD",
           "reports_included": [f"{s['date']}/{s['region']}" for s in rd.summaries],
           "reports_missing": [f"{s['date']}/{s['region']}" for s in rd.states if s["status"] != "complete"],
           "billed_usd": money(t["billed"]), "logs_cost_usd": money(t["logs"]),
           "method": "share of the bill = the application's cost from logs scaled, per model, by billed / logs cost",
           "applications": rows, "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    json_path = write_json(out / "chargeback.json", doc)
    return csv_path, json_path


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
    rows = []
    for region in rd.params.regions:
        ss = [s for s in rd.summaries if s["region"] == region]
        if not ss:
            continue
        b = dsum(s["totals"]["billed_cost_usd"] for s in ss)
        lg = dsum(s["totals"]["logs_cost_usd"] for s in ss)
        rows.append({"Region": region, "Days": len(ss), "Billed": usd(b), "Cost from logs": usd(lg), "Explained": pct(lg, b),
                     "Invocations": f"{sum(s['totals']['logs_invocations'] for s in ss):,}"})
    return table(pd.DataFrame(rows), {"Days", "Billed", "Cost from logs", "Explained", "Invocations"}) if rows else ""


def top_principals(rd: RollupData, n: int = 15) -> str:
    pl = rd.price_logs
    g = principals_frame(pl, n)
    if g.empty:
        return "<p>No invocation logs.</p>"
    days = pl.groupby("principal")["date"].nunique()
    show_df = pd.DataFrame({"Principal": g["principal_name"].map(rd.r), "Kind": g["principal_kind"], "Application(s)": g["apps"],
                            "Days active": g["principal"].map(days).fillna(0).astype(int),
                            "Invocations": g["invocations"].map("{:,}".format), "Cost from logs": g["cost"].map(usd)})
    hl = [i for i, a in enumerate(g["apps"]) if UNATTRIBUTED in a.split(", ")]
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
        return box(f"<b>Cost anomalies</b>: none among {checked} checked day and application figure(s) ({esc(rule)}; "
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

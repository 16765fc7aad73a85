"""The operations view: latency, throttles, errors and quota headroom per model, in the daily report and the roll-up.

In: the collect stage's ``COLLECT.OPERATIONS`` (per hour and model id) and ``COLLECT.OPERATIONS_MODELS`` (per model
id: the day's latency percentiles from CloudWatch, the busiest minute against the TPM/RPM quota). Out: a callout
(throttles above 0, or a model whose busiest minute used more than 80% of a quota), a table, a chart, and the
period's per-model summary for the roll-up. Every sentence goes through the ``operations.html.j2`` template
(autoescaped); a model without a quota says so, it is never shown as having headroom.
"""
from __future__ import annotations

import math

import pandas as pd

from tracker_utils.config import run_dir
from tracker_utils.io import read_parquet
from tracker_utils.report.charts import WIDTH_IN, model_label, plt
from tracker_utils.report.html import render, table
from tracker_utils.schema import COLLECT
from tracker_utils.text import count

THRESHOLD_PCT = 80.0
HOURLY = ["hour", "model_id", "invocations", "throttles", "client_errors", "server_errors", "latency_p50_ms",
          "latency_p90_ms", "latency_p99_ms", "peak_minute_tokens", "peak_minute_requests"]


def _read(path, columns=None) -> pd.DataFrame:
    return read_parquet(path) if path.exists() else pd.DataFrame(columns=columns or ["model_id"])


def frames(d) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per hour, per model) of a daily report's date and region, redacted like the rest of the page."""
    cfg = d.cfg
    return (d.r.frame(_read(cfg.data(COLLECT.OPERATIONS), HOURLY)),
            d.r.frame(_read(cfg.data(COLLECT.OPERATIONS_MODELS))))


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _hhmm(iso: str) -> str:
    return iso[11:16] + " UTC" if iso and len(iso) >= 16 else "?"


def callouts(models: pd.DataFrame, when: str = "") -> list[str]:
    """One sentence per model with throttles above 0 or a busiest minute above 80% of a quota (plain text)."""
    out = []
    for r in models.to_dict("records"):
        at = f" on {r['date']}" if when and r.get("date") else ""
        if r.get("throttles", 0) > 0:
            out.append(f"{r['model_id']}: {count(int(r['throttles']), 'throttled request')}{at} (InvocationThrottles)")
        for key, unit, col in (("tpm", "tokens", "peak_tokens_per_minute"), ("rpm", "requests", "peak_requests_per_minute")):
            pct, quota = _num(r.get(f"{key}_used_pct")), _num(r.get(f"{key}_quota"))
            if pct is not None and pct > THRESHOLD_PCT:
                out.append(f"{r['model_id']}: its busiest minute ({_hhmm(r.get(f'peak_{unit}_at', ''))}{at}) used "
                           f"{pct:.1f}% of the {unit}-per-minute quota ({int(r[col]):,} of {quota:,.0f}; "
                           f"{r.get(f'{key}_quota_name', '')})")
    return out


def callout_box(models: pd.DataFrame, when: str = "") -> str:
    """The warning when throttles are above 0 or a model peaked over 80% of its quota; otherwise a one-line all-clear
    that names the models without a quota."""
    if not len(models):
        return render("operations.html.j2", kind="note", title="Operations: no CloudWatch operations data",
                      items=[], note="no InvocationLatency or 1-minute metrics were recorded for this day")
    items = callouts(models, when)
    missing = sorted(models.loc[models["tpm_quota"].isna(), "model_id"]) if "tpm_quota" in models else []
    note = (f"No quota found for {', '.join(missing)}: their headroom is unknown. " if missing else "") + \
        "Headroom: the busiest minute's InputTokenCount + OutputTokenCount and Invocations (1-minute sums) against " \
        "the account's quotas (Service Quotas); output-token burndown rates are not applied."
    if items:
        return render("operations.html.j2", kind="warn", title="Operations: throttles or quotas near their limit",
                      items=items, note=note)
    return render("operations.html.j2", kind="ok", items=[], note=note,
                  title=f"Operations: no throttles; every busiest minute stayed within {THRESHOLD_PCT:.0f}% of its quota")


def _pct(v) -> str:
    v = _num(v)
    return "no quota" if v is None else f"{v:.1f}%"


def _ms(v) -> str:
    v = _num(v)
    return "" if v is None else f"{v:,.0f}"


def models_table(models: pd.DataFrame) -> str:
    if not len(models):
        return ""
    rows = [{"Model id": r["model_id"], "Invocations": f"{int(r['invocations']):,}",
             "Throttles": f"{int(r['throttles']):,}", "Client errors": f"{int(r['client_errors']):,}",
             "Server errors": f"{int(r['server_errors']):,}", "p50 ms": _ms(r["latency_p50_ms"]),
             "p90 ms": _ms(r["latency_p90_ms"]), "p99 ms": _ms(r["latency_p99_ms"]),
             "Peak tokens/min": f"{int(r['peak_tokens_per_minute']):,} at {_hhmm(r['peak_tokens_at'])}",
             "TPM quota": "" if _num(r["tpm_quota"]) is None else f"{r['tpm_quota']:,.0f}",
             "% of TPM": _pct(r["tpm_used_pct"]),
             "Peak requests/min": f"{int(r['peak_requests_per_minute']):,}",
             "RPM quota": "" if _num(r["rpm_quota"]) is None else f"{r['rpm_quota']:,.0f}",
             "% of RPM": _pct(r["rpm_used_pct"]), "Note": r["quota_note"] or ""} for r in models.to_dict("records")]
    df = pd.DataFrame(rows)
    hl = [i for i, r in enumerate(models.to_dict("records"))
          if r["throttles"] > 0 or (_num(r["tpm_used_pct"]) or 0) > THRESHOLD_PCT
          or (_num(r["rpm_used_pct"]) or 0) > THRESHOLD_PCT]
    return table(df, num=[c for c in df.columns if c not in ("Model id", "Note", "Peak tokens/min")] +
                 ["Peak tokens/min"], highlight=hl)


def chart(hourly: pd.DataFrame, models: pd.DataFrame):
    """Left: each model's busiest minute as % of its TPM and RPM quota (80% marked); right: throttles and errors
    per hour."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(WIDTH_IN, max(3.0, 0.38 * len(models) + 1.4)))
    m = models.iloc[::-1]
    labels = [model_label(x) for x in m["model_id"]]
    y = range(len(m))
    a1.barh([i + 0.2 for i in y], m["tpm_used_pct"].fillna(0), height=0.4, label="tokens/min", color="#4a78b0")
    a1.barh([i - 0.2 for i in y], m["rpm_used_pct"].fillna(0), height=0.4, label="requests/min", color="#9467bd")
    for i, v in zip(y, m["tpm_used_pct"]):
        v = _num(v)
        a1.text(1 if v is None else v + 1, i + 0.2, "no quota" if v is None else f"{v:.1f}%", va="center", fontsize=8,
                color="#c03030" if v is None or v > THRESHOLD_PCT else "#333")
    a1.axvline(THRESHOLD_PCT, color="#c03030", ls="--", lw=1)
    a1.set_yticks(list(y), labels)
    a1.set_xlim(0, max(100.0, float(m[["tpm_used_pct", "rpm_used_pct"]].max().max() or 0) * 1.05))
    a1.set_title("Busiest minute, % of quota", loc="left", fontsize=11)
    a1.legend(fontsize=8, loc="lower right")
    h = hourly.groupby(hourly["hour"].dt.hour)[["throttles", "client_errors", "server_errors"]].sum() \
        if len(hourly) else pd.DataFrame(columns=["throttles", "client_errors", "server_errors"])
    h = h.reindex(range(24), fill_value=0)
    bottom = pd.Series(0, index=h.index)
    for col, colour in (("throttles", "#e07b00"), ("client_errors", "#bcbd22"), ("server_errors", "#d62728")):
        a2.bar(h.index, h[col], bottom=bottom, color=colour, label=col.replace("_", " "))
        bottom = bottom + h[col]
    a2.set_xticks(range(0, 24, 3))
    a2.set_xlabel("hour (UTC)")
    a2.set_title("Throttles and errors per hour (CloudWatch)", loc="left", fontsize=11)
    a2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def daily_section(d) -> list:
    """The daily report's operations section: callout, chart, table (for ``ReportData.show``)."""
    hourly, models = frames(d)
    if not len(models):
        return [callout_box(models)]
    return [callout_box(models), chart(hourly, models), models_table(models)]


# --- the roll-up -------------------------------------------------------------------------------------------------
def period_models(output_dir, states: list[dict]) -> pd.DataFrame:
    """Every completed date and region's per-model operations frame, with ``date`` and ``region``."""
    frames_ = []
    for st in states:
        if st["status"] != "complete":
            continue
        f = run_dir(output_dir, st["date"], st["region"]) / "data" / COLLECT.OPERATIONS_MODELS
        if f.exists():
            frames_.append(read_parquet(f).assign(date=st["date"], region=st["region"]))
    return pd.concat(frames_, ignore_index=True) if frames_ else pd.DataFrame(columns=["date", "region", "model_id"])


def period_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per region and model id over the period: invocations, throttles, errors, the worst day's p99 and the highest
    share of the TPM and RPM quota any minute used (with its day)."""
    rows = []
    for (region, model_id), g in df.groupby(["region", "model_id"], sort=True):
        tp, rp = g["tpm_used_pct"].astype(float), g["rpm_used_pct"].astype(float)
        rows.append({"region": region, "model_id": model_id, "days": int(g["date"].nunique()),
                     "invocations": int(g["invocations"].sum()), "throttles": int(g["throttles"].sum()),
                     "errors": int(g["client_errors"].sum() + g["server_errors"].sum()),
                     "worst_p99_ms": _num(g["latency_p99_ms"].astype(float).max()),
                     "max_tpm_used_pct": _num(tp.max()), "max_tpm_day": g.loc[tp.idxmax(), "date"] if tp.notna().any() else "",
                     "max_rpm_used_pct": _num(rp.max()), "has_quota": bool(g["tpm_quota"].notna().any())})
    return pd.DataFrame(rows)


def rollup_section(rd) -> list:
    """The roll-up's per-model operations summary: a callout and a table."""
    df = rd.r.frame(period_models(rd.params.output_dir, rd.states))
    if not len(df):
        return [callout_box(df)]
    s = period_summary(df)
    items = []
    for r in s.to_dict("records"):
        if r["throttles"] > 0:
            items.append(f"{r['model_id']} ({r['region']}): {count(r['throttles'], 'throttled request')} in "
                         f"{count(r['days'], 'day')}")
        if (r["max_tpm_used_pct"] or 0) > THRESHOLD_PCT:
            items.append(f"{r['model_id']} ({r['region']}): a minute on {r['max_tpm_day']} used "
                         f"{r['max_tpm_used_pct']:.1f}% of the tokens-per-minute quota")
        if (r["max_rpm_used_pct"] or 0) > THRESHOLD_PCT:
            items.append(f"{r['model_id']} ({r['region']}): a minute used {r['max_rpm_used_pct']:.1f}% of the "
                         f"requests-per-minute quota")
    box_ = render("operations.html.j2", kind="warn" if items else "ok", items=items,
                  title="Operations over the period: throttles or quotas near their limit" if items else
                  "Operations over the period: no throttles; no minute above 80% of a quota",
                  note="Per region and model id; the quota share is the busiest minute's.")
    view = pd.DataFrame([{"Region": r["region"], "Model id": r["model_id"], "Days": r["days"],
                          "Invocations": f"{r['invocations']:,}", "Throttles": f"{r['throttles']:,}",
                          "Errors": f"{r['errors']:,}", "Worst p99 ms": _ms(r["worst_p99_ms"]),
                          "Max % of TPM": _pct(r["max_tpm_used_pct"]) if r["has_quota"] else "no quota",
                          "Max % of RPM": _pct(r["max_rpm_used_pct"]) if r["has_quota"] else "no quota"}
                         for r in s.to_dict("records")])
    return [box_, table(view, num=["Days", "Invocations", "Throttles", "Errors", "Worst p99 ms", "Max % of TPM",
                                   "Max % of RPM"])]

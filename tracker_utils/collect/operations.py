"""The operations view of one date and region: latency, throttles, errors and quota headroom per model id.

In: the hourly CloudWatch sums (:func:`tracker_utils.collect.cloudwatch.parse_metric_data`), the operations
recording (:func:`~tracker_utils.collect.cloudwatch.parse_operations`: latency percentiles, 1-minute sums), the
rate quotas (:func:`tracker_utils.collect.quotas.parse_quotas`) and the application-profile cache. Out: two frames,
``COLLECT.OPERATIONS`` (per hour and model id) and ``COLLECT.OPERATIONS_MODELS`` (per model id for the day, with the
peak minute and its share of the TPM and RPM quota).

The peak minute is the busiest 1-minute sum of ``InputTokenCount + OutputTokenCount`` (tokens) and of ``Invocations``
(requests) of every model id that counts against the same quota (an application profile counts against its
source's). Without a quota the share is empty and ``quota_note`` says why: never a silent 100% headroom. Output-token
burndown rates (some models count an output token as several against TPM) are not applied.
"""
from __future__ import annotations

import pandas as pd

from tracker_utils.collect import quotas as q

ERRORS = {"InvocationThrottles": "throttles", "InvocationClientErrors": "client_errors",
          "InvocationServerErrors": "server_errors", "Invocations": "invocations"}
COUNTS = ["invocations", "throttles", "client_errors", "server_errors"]
LATENCY = ["latency_p50_ms", "latency_p90_ms", "latency_p99_ms"]
HOURLY_COLUMNS = ["hour", "model_id", *COUNTS, *LATENCY, "peak_minute_tokens", "peak_minute_requests"]
MODEL_COLUMNS = ["model_id", *COUNTS, *LATENCY, "peak_tokens_per_minute", "peak_tokens_at", "peak_requests_per_minute",
                 "peak_requests_at", "tpm_quota", "tpm_quota_name", "rpm_quota", "rpm_quota_name", "tpm_used_pct",
                 "rpm_used_pct", "quota_shared_with", "quota_note"]


def _counts(cw: pd.DataFrame) -> pd.DataFrame:
    """Per hour and model id: invocations, throttles, client and server errors (hourly Sums)."""
    c = cw[cw["metric"].isin(ERRORS) & (cw["model_id"] != "")]
    if not len(c):
        return pd.DataFrame(columns=["hour", "model_id", *COUNTS])
    w = c.pivot_table(index=["hour", "model_id"], columns="metric", values="value", aggfunc="sum").rename(columns=ERRORS)
    w = w.reindex(columns=COUNTS).fillna(0).astype("int64").reset_index()
    w.columns.name = None
    return w


def _latency(ops: pd.DataFrame, period: int) -> pd.DataFrame:
    lat = ops[(ops["metric"] == "InvocationLatency") & (ops["period"] == period)]
    if not len(lat):
        return pd.DataFrame(columns=["time", "model_id", *LATENCY])
    w = lat.pivot_table(index=["time", "model_id"], columns="stat", values="value", aggfunc="max")
    w = w.rename(columns={s: f"latency_{s}_ms" for s in ("p50", "p90", "p99")}).reindex(columns=LATENCY).reset_index()
    w.columns.name = None
    return w


def _minutes(ops: pd.DataFrame) -> pd.DataFrame:
    """Per minute and model id: tokens (input + output) and requests (1-minute Sums)."""
    m = ops[(ops["period"] == 60) & ops["metric"].isin(["Invocations", "InputTokenCount", "OutputTokenCount"])]
    if not len(m):
        return pd.DataFrame(columns=["time", "model_id", "tokens", "requests"])
    w = m.pivot_table(index=["time", "model_id"], columns="metric", values="value", aggfunc="sum").fillna(0)
    w = w.reindex(columns=["Invocations", "InputTokenCount", "OutputTokenCount"], fill_value=0)
    out = pd.DataFrame({"tokens": (w["InputTokenCount"] + w["OutputTokenCount"]).round().astype("int64"),
                        "requests": w["Invocations"].round().astype("int64")}).reset_index()
    return out


def _peak(minutes: pd.DataFrame, col: str) -> tuple[int, str]:
    """The busiest minute's value and time (the earliest on a tie)."""
    if not len(minutes):
        return 0, ""
    s = minutes.groupby("time")[col].sum()
    top = s.max()
    return int(top), s[s == top].index.min().isoformat()


def hourly(cw: pd.DataFrame, ops: pd.DataFrame) -> pd.DataFrame:
    """``COLLECT.OPERATIONS``: per hour and model id, counts, latency percentiles and the hour's busiest minute."""
    df = _counts(cw)
    lat = _latency(ops, 3600).rename(columns={"time": "hour"})
    df = df.merge(lat, on=["hour", "model_id"], how="outer")
    mins = _minutes(ops)
    if len(mins):
        mins = mins.assign(hour=mins["time"].dt.floor("h"))
        pk = mins.groupby(["hour", "model_id"]).agg(peak_minute_tokens=("tokens", "max"),
                                                      peak_minute_requests=("requests", "max")).reset_index()
        df = df.merge(pk, on=["hour", "model_id"], how="outer")
    df = df.reindex(columns=HOURLY_COLUMNS)
    for c in [*COUNTS, "peak_minute_tokens", "peak_minute_requests"]:
        df[c] = pd.to_numeric(df[c]).fillna(0).astype("int64")
    for c in LATENCY:
        df[c] = pd.to_numeric(df[c]).astype("float64")
    df["hour"] = pd.to_datetime(df["hour"], utc=True)
    return df.sort_values(["hour", "model_id"]).reset_index(drop=True)


def models(cw: pd.DataFrame, ops: pd.DataFrame, quotas: pd.DataFrame, profiles: dict | None = None) -> pd.DataFrame:
    """``COLLECT.OPERATIONS_MODELS``: per model id for the day, with the peak minute against its TPM/RPM quota."""
    counts = _counts(cw).groupby("model_id")[COUNTS].sum()
    lat = _latency(ops, 86400).groupby("model_id")[LATENCY].max()
    mins = _minutes(ops)
    ids = sorted(set(counts.index) | set(lat.index) | set(mins["model_id"]))
    matched = {m: q.match(m, quotas, profiles) for m in ids}
    group = {m: (x["tpm_name"], x["rpm_name"]) if (x["tpm_name"] or x["rpm_name"]) else ("", m)
             for m, x in matched.items()}
    rows = []
    for m in ids:
        members = sorted(k for k in ids if group[k] == group[m])
        mm = mins[mins["model_id"].isin(members)]
        tok, tok_at = _peak(mm, "tokens")
        req, req_at = _peak(mm, "requests")
        x = matched[m]
        rows.append({"model_id": m, **{c: int(counts[c].get(m, 0)) if len(counts) else 0 for c in COUNTS},
                     **{c: float(lat[c].get(m)) if m in lat.index else float("nan") for c in LATENCY},
                     "peak_tokens_per_minute": tok, "peak_tokens_at": tok_at, "peak_requests_per_minute": req,
                     "peak_requests_at": req_at, "tpm_quota": x["tpm"], "tpm_quota_name": x["tpm_name"],
                     "rpm_quota": x["rpm"], "rpm_quota_name": x["rpm_name"],
                     "tpm_used_pct": 100.0 * tok / x["tpm"] if x["tpm"] and len(mm) else None,
                     "rpm_used_pct": 100.0 * req / x["rpm"] if x["rpm"] and len(mm) else None,
                     "quota_shared_with": ", ".join(k for k in members if k != m), "quota_note": x["note"]})
    df = pd.DataFrame(rows, columns=MODEL_COLUMNS)
    for c in ("tpm_quota", "rpm_quota", "tpm_used_pct", "rpm_used_pct", *LATENCY):
        df[c] = pd.to_numeric(df[c]).astype("float64")
    return df


def summary(models_df: pd.DataFrame, quota_info: dict) -> dict:
    """What ``collect.json`` says about the operations view (the report's callout reads the frames)."""
    over = models_df[models_df["tpm_used_pct"].fillna(0).gt(80) | models_df["rpm_used_pct"].fillna(0).gt(80)]
    return {"models": int(len(models_df)), "throttles": int(models_df["throttles"].sum()),
            "client_errors": int(models_df["client_errors"].sum()),
            "server_errors": int(models_df["server_errors"].sum()),
            "over_80pct_of_quota": sorted(over["model_id"]),
            "without_quota": sorted(models_df.loc[models_df["tpm_quota"].isna(), "model_id"]), "quotas": quota_info}

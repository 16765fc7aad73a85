"""CloudWatch ``AWS/Bedrock`` metrics: recorded GetMetricData pages in, hourly sums per ModelId out.

The recorded form (``cloudwatch/<region>/<date>.json``) is what :mod:`tracker_utils.collect.aws` writes and what
the demo account holds: ``{"list_metrics": [pages], "get_metric_data": {"queries": [...], "pages": [...]}}``.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

# Both spellings of the cache metrics exist in AWS material; normalise to the *Count form.
CANONICAL = {
    "CacheReadInputTokens": "CacheReadInputTokenCount",
    "CacheWriteInputTokens": "CacheWriteInputTokenCount",
}
USAGE_METRICS = ["Invocations", "InputTokenCount", "OutputTokenCount", "CacheReadInputTokenCount",
                 "CacheWriteInputTokenCount", "InvocationThrottles", "InvocationClientErrors", "InvocationServerErrors"]
DELIVERY_METRICS = [
    "ModelInvocationLogsS3DeliverySuccess", "ModelInvocationLogsS3DeliveryFailure",
    "ModelInvocationLogsCloudWatchDeliverySuccess", "ModelInvocationLogsCloudWatchDeliveryFailure",
    "ModelInvocationLargeDataS3DeliverySuccess", "ModelInvocationLargeDataS3DeliveryFailure",
]
WANTED = set(USAGE_METRICS) | set(DELIVERY_METRICS) | set(CANONICAL)
COLUMNS = ["hour", "model_id", "metric", "value"]


def metric_query(qid: str, metric: str, dims: list, period: int, stat: str, account: str = "") -> dict:
    """One GetMetricData query of ``AWS/Bedrock``; ``account`` names the source account when read through a
    monitoring account (``MetricDataQuery.AccountId``)."""
    return {"Id": qid, "ReturnData": True, "MetricStat": {"Metric": {
        "Namespace": "AWS/Bedrock", "MetricName": metric, "Dimensions": dims}, "Period": period, "Stat": stat},
        **({"AccountId": account} if account else {})}


def metric_queries(list_metrics_pages: list[dict], account: str = "") -> list[dict]:
    """GetMetricData queries (hourly Sum) for every usage and delivery metric ListMetrics discovered. ``account``:
    read through a monitoring account (cross-account observability), each query names the source account
    (``MetricDataQuery.AccountId``)."""
    seen, queries = set(), []
    for page in list_metrics_pages:
        for m in page.get("Metrics", []):
            if m.get("Namespace", "AWS/Bedrock") != "AWS/Bedrock" or m.get("MetricName") not in WANTED:
                continue
            dims = m.get("Dimensions") or []
            if any(d["Name"] != "ModelId" for d in dims):
                continue     # ServiceTier/ContextWindow splits would double count the ModelId series
            key = (m["MetricName"], tuple((d["Name"], d["Value"]) for d in dims))
            if key in seen:
                continue
            seen.add(key)
            queries.append(metric_query(f"m{len(queries)}", m["MetricName"], dims, 3600, "Sum", account))
    return queries


def _ts(v) -> pd.Timestamp:
    t = pd.Timestamp(v)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def parse_metric_data(recorded: dict) -> pd.DataFrame:
    """Tidy frame ``hour, model_id, metric, value`` (model_id "" for the account-wide delivery metrics)."""
    queries = {q["Id"]: q for q in recorded.get("get_metric_data", {}).get("queries", [])}
    rows = []
    partial = []
    for page in recorded.get("get_metric_data", {}).get("pages", []):
        for res in page.get("MetricDataResults", []):
            q = queries.get(res["Id"])
            if q is None:
                raise ValueError(f"GetMetricData result {res['Id']} has no matching query in the recording")
            if res.get("StatusCode", "Complete") != "Complete":
                partial.append(res["Id"])
            metric = q["MetricStat"]["Metric"]
            name = CANONICAL.get(metric["MetricName"], metric["MetricName"])
            model_id = next((d["Value"] for d in metric.get("Dimensions", []) if d["Name"] == "ModelId"), "")
            for t, v in zip(res.get("Timestamps", []), res.get("Values", [])):
                rows.append((_ts(t), model_id, name, int(round(v))))
    df = pd.DataFrame(rows, columns=COLUMNS)
    if partial:
        raise ValueError(f"GetMetricData results not complete (StatusCode != Complete): {partial[:5]}")
    if df.empty:
        df["hour"] = pd.to_datetime(df["hour"], utc=True)
        df["value"] = df["value"].astype("int64")
        return df
    # A metric recorded under both spellings is the same series: keep one value per hour, never the sum.
    df = df.groupby(["hour", "model_id", "metric"], as_index=False)["value"].max()
    return df.sort_values(["hour", "model_id", "metric"]).reset_index(drop=True)


def day_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    t0 = dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc)
    return t0, t0 + dt.timedelta(days=1)


# --- the operations view (issue 18): latency percentiles and 1-minute sums --------------------------------------------
LATENCY_STATS = ("p50", "p90", "p99")
MINUTE_METRICS = ("Invocations", "InputTokenCount", "OutputTokenCount")
OPS_COLUMNS = ["time", "model_id", "metric", "stat", "period", "value"]


def operations_queries(list_metrics_pages: list[dict], account: str = "") -> list[dict]:
    """GetMetricData queries of the operations view, per ModelId that ListMetrics names: ``InvocationLatency``
    p50/p90/p99 (extended statistics) hourly and for the day, and 1-minute ``Sum`` s of the invocations and tokens
    (the peak minute, for quota headroom). ``account``: as in :func:`metric_queries`."""
    seen, queries = set(), []

    def add(metric, dims, period, stat):
        queries.append(metric_query(f"o{len(queries)}", metric, dims, period, stat, account))
    for page in list_metrics_pages:
        for m in page.get("Metrics", []):
            dims = m.get("Dimensions") or []
            name = m.get("MetricName")
            if m.get("Namespace", "AWS/Bedrock") != "AWS/Bedrock" or len(dims) != 1 or dims[0]["Name"] != "ModelId" \
                    or name not in ("InvocationLatency", *MINUTE_METRICS) or (name, dims[0]["Value"]) in seen:
                continue
            seen.add((name, dims[0]["Value"]))
            if name == "InvocationLatency":
                for stat in LATENCY_STATS:
                    for period in (3600, 86400):
                        add(name, dims, period, stat)
            else:
                add(name, dims, 60, "Sum")
    return queries


def parse_operations(recorded: dict) -> pd.DataFrame:
    """The ``operations`` recording as ``time, model_id, metric, stat, period, value`` (floats: latency in ms)."""
    ops = recorded.get("operations") or {}
    queries = {q["Id"]: q for q in ops.get("queries", [])}
    rows, partial = [], []
    for page in ops.get("pages", []):
        for res in page.get("MetricDataResults", []):
            q = queries.get(res["Id"])
            if q is None:
                raise ValueError(f"GetMetricData result {res['Id']} has no matching operations query in the recording")
            if res.get("StatusCode", "Complete") != "Complete":
                partial.append(res["Id"])
            ms = q["MetricStat"]
            model_id = next((d["Value"] for d in ms["Metric"].get("Dimensions", []) if d["Name"] == "ModelId"), "")
            for t, v in zip(res.get("Timestamps", []), res.get("Values", [])):
                if v is not None:
                    rows.append((_ts(t), model_id, ms["Metric"]["MetricName"], ms["Stat"], int(ms["Period"]), float(v)))
    if partial:
        raise ValueError(f"GetMetricData operations results not complete: {partial[:5]}")
    df = pd.DataFrame(rows, columns=OPS_COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return df.sort_values(["model_id", "metric", "stat", "period", "time"]).reset_index(drop=True)

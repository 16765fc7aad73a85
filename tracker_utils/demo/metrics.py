"""CloudWatch: the ``ListMetrics`` and ``GetMetricData`` response pages for ``AWS/Bedrock``, one region and day.

In: a region, a date and the invocations. Out: ``_cw_pages``, a JSON-serialisable dict of hourly sums per
``ModelId`` (invocations, tokens, cache tokens, errors, throttles) and the log-delivery success/failure metrics.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from tracker_utils.demo.spec import CACHE_MODELS, Inv
from tracker_utils.demo import operations as ops


def _cw_pages(region: str, day: str, invs: list[Inv], page_size: int = 40) -> dict:
    """GetMetricData response pages (and the ListMetrics pages) as boto3 returns them, JSON-serialised."""
    d0 = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=dt.timezone.utc)
    series: dict[tuple[str, str], dict[dt.datetime, int]] = defaultdict(lambda: defaultdict(int))
    delivery: dict[tuple[str, str], dict[dt.datetime, int]] = defaultdict(lambda: defaultdict(int))
    for inv in invs:
        if inv.region != region or inv.day != day:
            continue
        hour = inv.ts.replace(minute=0, second=0)
        s = series
        if inv.error:
            metric = {"ThrottlingException": "InvocationThrottles", "ValidationException": "InvocationClientErrors"}.get(
                inv.error, "InvocationServerErrors")
            s[(inv.model_id, metric)][hour] += 1
        else:
            s[(inv.model_id, "Invocations")][hour] += 1
            s[(inv.model_id, "InputTokenCount")][hour] += inv.input_tokens
            s[(inv.model_id, "OutputTokenCount")][hour] += inv.output_tokens
            if any(m in inv.model_id for m in CACHE_MODELS) or "application-inference-profile" in inv.model_id:
                s[(inv.model_id, "CacheReadInputTokenCount")][hour] += inv.cache_read_tokens
                s[(inv.model_id, "CacheWriteInputTokenCount")][hour] += inv.cache_write_tokens
        key = "ModelInvocationLogsS3DeliverySuccess" if inv.delivered is not None else "ModelInvocationLogsS3DeliveryFailure"
        delivery[("", key)][hour] += 1
        delivery[("", "ModelInvocationLogsS3DeliverySuccess")][hour] += 0
        delivery[("", "ModelInvocationLogsS3DeliveryFailure")][hour] += 0
    list_metrics = []
    queries, results = [], []
    for n, ((model_id, metric), points) in enumerate(sorted({**series, **delivery}.items())):
        dims = [{"Name": "ModelId", "Value": model_id}] if model_id else []
        list_metrics.append({"Namespace": "AWS/Bedrock", "MetricName": metric, "Dimensions": dims})
        qid = f"m{n}"
        queries.append({"Id": qid, "MetricStat": {"Metric": {"Namespace": "AWS/Bedrock", "MetricName": metric,
                        "Dimensions": dims}, "Period": 3600, "Stat": "Sum"}, "ReturnData": True})
        times = sorted(points, reverse=True)          # CloudWatch returns newest first by default
        results.append({"Id": qid, "Label": metric, "Timestamps": [t.isoformat() for t in times],
                        "Values": [float(points[t]) for t in times], "StatusCode": "Complete"})
    pages = ops.metric_data_pages(results, page_size, "token")
    lm_pages = [{"Metrics": list_metrics[i:i + 50], **({"NextToken": f"lm-{i + 50}"} if i + 50 < len(list_metrics) else {})}
                for i in range(0, max(len(list_metrics), 1), 50)]
    operations, latency_listed = ops.operations_recording(region, day, invs, page_size)
    if lm_pages and latency_listed:        # ListMetrics also names InvocationLatency for every model id it has
        lm_pages[-1]["Metrics"] = lm_pages[-1]["Metrics"] + latency_listed
    return {"region": region, "date": day, "namespace": "AWS/Bedrock", "period": 3600,
            "start": d0.isoformat(), "end": (d0 + dt.timedelta(days=1)).isoformat(),
            "list_metrics": lm_pages, "get_metric_data": {"queries": queries, "pages": pages},
            "operations": operations}

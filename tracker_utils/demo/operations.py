"""The demo's operations data: CloudWatch latency percentiles and 1-minute sums, and the Service Quotas table.

In: the invocations. Out: ``operations_recording`` (the ``"operations"`` part of ``cloudwatch/<region>/<date>.json``:
GetMetricData queries and pages for ``InvocationLatency`` p50/p90/p99, hourly and for the day, and 1-minute sums of
``Invocations``, ``InputTokenCount`` and ``OutputTokenCount``), ``quota_pages`` (``servicequotas/<region>.json``:
``ListServiceQuotas(ServiceCode="bedrock")`` pages) and ``operations_truth`` (what the report must show).

Known values: latency is the same in every hour (``LATENCY_P50_MS``; p90 = 2 x p50, p99 = 4 x p50); every quota is
``QUOTA_TPM`` / ``QUOTA_RPM`` except the tokens-per-minute quota of the models in ``TIGHT_QUOTA``, set to the busiest
minute of the demo's days / 0.9 rounded up to two significant digits (so that minute uses 81.8-90% of it); the
unknown model has no quota. Throttles and errors are the generator's failed calls (ThrottlingException,
ValidationException = client error, anything else = server error).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import defaultdict

from tracker_utils.demo.spec import (LATENCY_P50_MS, QUOTA_MODEL_NAMES, QUOTA_RPM, QUOTA_TPM, TIGHT_QUOTA, Inv)
from tracker_utils.demo.bill import PROVISIONED_MARK

PERCENTILES = {"p50": 1, "p90": 2, "p99": 4}          # multiples of the model's p50
SCOPE_WORDS = {"in_region": "On-demand", "geo": "Cross-region", "global": "Global cross-region"}
ERROR_METRIC = {"ThrottlingException": "InvocationThrottles", "ValidationException": "InvocationClientErrors"}


def latency_ms(model_id: str) -> dict[str, float]:
    """The model's InvocationLatency percentiles (ms), the same for every hour and the day."""
    p50 = next((v for k, v in LATENCY_P50_MS if k in model_id), 800)
    return {p: float(p50 * m) for p, m in PERCENTILES.items()}


def _ok(invs: list[Inv], region: str, day: str) -> list[Inv]:
    return [i for i in invs if i.region == region and i.day == day and i.error is None]


def minute_series(region: str, day: str, invs: list[Inv]) -> dict[str, dict[str, dict[dt.datetime, int]]]:
    """Per model id: ``{"Invocations"|"InputTokenCount"|"OutputTokenCount": {minute: sum}}`` (successful calls)."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for inv in _ok(invs, region, day):
        m = inv.ts.replace(second=0, microsecond=0)
        out[inv.model_id]["Invocations"][m] += 1
        out[inv.model_id]["InputTokenCount"][m] += inv.input_tokens
        out[inv.model_id]["OutputTokenCount"][m] += inv.output_tokens
    return out


def _result(qid: str, label: str, points: dict) -> dict:
    times = sorted(points, reverse=True)
    return {"Id": qid, "Label": label, "Timestamps": [t.isoformat() for t in times],
            "Values": [float(points[t]) for t in times], "StatusCode": "Complete"}


def _query(qid: str, metric: str, model_id: str, period: int, stat: str) -> dict:
    return {"Id": qid, "ReturnData": True, "MetricStat": {"Metric": {
        "Namespace": "AWS/Bedrock", "MetricName": metric, "Dimensions": [{"Name": "ModelId", "Value": model_id}]},
        "Period": period, "Stat": stat}}


def operations_recording(region: str, day: str, invs: list[Inv], page_size: int = 40) -> tuple[dict, list[dict]]:
    """The ``operations`` GetMetricData recording of one region and day, and the ListMetrics entries it adds."""
    d0 = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=dt.timezone.utc)
    hours: dict[str, set] = defaultdict(set)
    for inv in _ok(invs, region, day):
        hours[inv.model_id].add(inv.ts.replace(minute=0, second=0, microsecond=0))
    minutes = minute_series(region, day, invs)
    queries, results, listed = [], [], []
    for model_id in sorted(hours):
        lat = latency_ms(model_id)
        listed.append({"Namespace": "AWS/Bedrock", "MetricName": "InvocationLatency",
                       "Dimensions": [{"Name": "ModelId", "Value": model_id}]})
        for stat, v in lat.items():
            for period, points in ((3600, {h: v for h in hours[model_id]}), (86400, {d0: v})):
                qid = f"o{len(queries)}"
                queries.append(_query(qid, "InvocationLatency", model_id, period, stat))
                results.append(_result(qid, f"InvocationLatency {stat}", points))
        for metric in ("Invocations", "InputTokenCount", "OutputTokenCount"):
            qid = f"o{len(queries)}"
            queries.append(_query(qid, metric, model_id, 60, "Sum"))
            results.append(_result(qid, metric, minutes[model_id][metric]))
    return {"queries": queries, "pages": metric_data_pages(results, page_size, "ops")}, listed


def metric_data_pages(results: list[dict], page_size: int, token: str) -> list[dict]:
    """GetMetricData's answer in pages of ``page_size`` results, each but the last with its NextToken."""
    pages = []
    for i in range(0, max(len(results), 1), page_size):
        page = {"MetricDataResults": results[i:i + page_size], "Messages": []}
        if i + page_size < len(results):
            page["NextToken"] = f"{token}-{i + page_size}"
        pages.append(page)
    return pages


# --- quotas ------------------------------------------------------------------------------------------------------
def _group(inv: Inv) -> tuple[str, str]:
    """The quota an invocation counts against: its base model and scope (an application profile: its source's). A
    provisioned model's calls run on its bought capacity, against no on-demand quota: a group of their own."""
    if PROVISIONED_MARK in inv.model_id:
        return inv.model_id, "provisioned"
    return inv.base_model, inv.scope


def _peaks(region: str, day: str, invs: list[Inv], key) -> dict:
    """Per ``key(inv)``: the busiest minute's tokens and requests, with the minute (earliest on a tie)."""
    tok: dict = defaultdict(lambda: defaultdict(int))
    req: dict = defaultdict(lambda: defaultdict(int))
    for inv in _ok(invs, region, day):
        m = inv.ts.replace(second=0, microsecond=0)
        tok[key(inv)][m] += inv.input_tokens + inv.output_tokens
        req[key(inv)][m] += 1
    out = {}
    for k in tok:
        tm = min(tok[k], key=lambda m: (-tok[k][m], m))
        rm = min(req[k], key=lambda m: (-req[k][m], m))
        out[k] = {"tokens": tok[k][tm], "tokens_at": tm, "requests": req[k][rm], "requests_at": rm}
    return out


def _ceil2(x: float) -> int:
    """Rounded up to two significant digits (9,123 -> 9,200)."""
    if x <= 0:
        return 100
    step = 10 ** max(0, int(math.floor(math.log10(x))) - 1)
    return int(math.ceil(x / step) * step)


def quota_values(region: str, days: list[str], invs: list[Inv]) -> dict[tuple[str, str], tuple[int, int]]:
    """(base model, scope) -> (TPM, RPM) of the region: the defaults, and the tight TPM of ``TIGHT_QUOTA``."""
    out = {}
    for inv in invs:
        if inv.region == region and inv.base_model in QUOTA_MODEL_NAMES and PROVISIONED_MARK not in inv.model_id:
            out[_group(inv)] = (QUOTA_TPM, QUOTA_RPM)
    for r, model_id in TIGHT_QUOTA:
        if r != region:
            continue
        g = next((_group(i) for i in invs if i.region == region and i.model_id == model_id), None)
        peak = max((_peaks(region, d, invs, _group).get(g, {}).get("tokens", 0) for d in days), default=0)
        if g is not None and peak:
            out[g] = (_ceil2(peak / 0.9), QUOTA_RPM)
    return out


def _quota(region: str, account: str, name: str, value: float) -> dict:
    code = "L-" + hashlib.sha1(name.encode()).hexdigest()[:8].upper()
    return {"ServiceCode": "bedrock", "ServiceName": "Amazon Bedrock", "QuotaCode": code, "QuotaName": name,
            "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:bedrock/{code}", "Value": float(value),
            "Unit": "None", "Adjustable": True, "GlobalQuota": False}


NOISE = (("Batch inference job size (in GB) for Anthropic Claude 3 Haiku", 5),
         ("Model invocation max tokens per day for Anthropic Claude Sonnet 4.5 V1", 1_440_000_000),
         ("On-demand latency-optimized model inference tokens per minute for Anthropic Claude 3.5 Haiku", 500_000),
         ("On-demand model inference tokens per minute for Anthropic Claude 3.5 Sonnet V2", 400_000),
         ("Cross-region model inference tokens per minute for Meta Llama 3 70B Instruct", 300_000))


def quota_pages(region: str, account: str, days: list[str], invs: list[Inv], page_size: int = 25) -> dict:
    """``ListServiceQuotas(ServiceCode="bedrock")`` of the region as boto3 returns it: every model's TPM and RPM quota
    in each scope, plus quotas that must match no model (batch, per day, latency-optimized, other versions)."""
    quotas = [_quota(region, account, n, v) for n, v in NOISE]
    for (base, scope), (tpm, rpm) in sorted(quota_values(region, days, invs).items()):
        name = QUOTA_MODEL_NAMES[base]
        quotas.append(_quota(region, account, f"{SCOPE_WORDS[scope]} model inference tokens per minute for {name}", tpm))
        quotas.append(_quota(region, account, f"{SCOPE_WORDS[scope]} model inference requests per minute for {name}", rpm))
    quotas.sort(key=lambda q: q["QuotaCode"])
    pages = []
    for i in range(0, len(quotas), page_size):
        page = {"Quotas": quotas[i:i + page_size]}
        if i + page_size < len(quotas):
            page["NextToken"] = f"sq-{i + page_size}"
        pages.append(page)
    return {"region": region, "service_code": "bedrock", "pages": pages}


def operations_truth(region: str, day: str, days: list[str], invs: list[Inv]) -> dict:
    """Per model id: counts, latency, the busiest minute (of its quota: an id shares it with others of the same base
    model and scope) and the share of the quota it used (None without a quota), as the report must show them."""
    mine = [i for i in invs if i.region == region and i.day == day]
    quotas = quota_values(region, days, invs)
    peaks = _peaks(region, day, invs, _group)
    out: dict[str, dict] = {}
    for inv in mine:
        m = out.setdefault(inv.model_id, {"invocations": 0, "throttles": 0, "client_errors": 0, "server_errors": 0,
                                          "group": _group(inv)})
        if inv.error is None:
            m["invocations"] += 1
        else:
            key = {"InvocationThrottles": "throttles", "InvocationClientErrors": "client_errors"}.get(
                ERROR_METRIC.get(inv.error, ""), "server_errors")
            m[key] += 1
    for model_id, m in out.items():
        g = m.pop("group")
        pk = peaks.get(g)
        tpm, rpm = quotas.get(g, (None, None))
        m.update({f"latency_{p}_ms": v for p, v in latency_ms(model_id).items()} if m["invocations"] else {})
        if pk:
            m.update({"peak_tokens_per_minute": pk["tokens"], "peak_tokens_at": pk["tokens_at"].isoformat(),
                      "peak_requests_per_minute": pk["requests"], "peak_requests_at": pk["requests_at"].isoformat()})
        m.update({"tpm_quota": tpm, "rpm_quota": rpm,
                  "tpm_used_pct": 100.0 * pk["tokens"] / tpm if pk and tpm else None,
                  "rpm_used_pct": 100.0 * pk["requests"] / rpm if pk and rpm else None})
    return dict(sorted(out.items()))

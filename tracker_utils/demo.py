"""The demo account: a deterministic, seeded copy of what a real AWS account holds for Bedrock.

``build_demo(root)`` writes, under ``root``:

- ``s3/<bucket>/<prefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/<YYYYMMDDTHHMMSSZ>_<hex>.json.gz``
  gzipped JSON-lines invocation logs in the real record schema, filed under the hour they were *delivered*
  (so records of day D near midnight sit in day D+1's first hour folder), a large body in a ``data/`` sidecar,
  and the zero-byte ``amazon-bedrock-logs-permission-check`` object. File modification times are the delivery times.
- ``cloudwatch/<region>/<date>.json``: ``ListMetrics`` and ``GetMetricData`` response pages for ``AWS/Bedrock``
  (hourly sums per ``ModelId``, cache token metrics, error and throttle counts, log-delivery metrics).
- ``costexplorer/<date>.json``: the ``GetCostAndUsage`` request and its response pages (daily, grouped by SERVICE
  and USAGE_TYPE), in both billing shapes (first-party ``Amazon Bedrock`` and Marketplace ``(Amazon Bedrock Edition)``).
- ``cur/bedrock-export/data/BILLING_PERIOD=YYYY-MM/part-00000.parquet``: the same bill as a CUR 2.0 data export, one row
  per day, usage type and ``line_item_iam_principal``, plus a tax row and another service's row (both excluded).
- ``ground_truth.json``: what a correct pipeline must report for every date and region, in the ``summary.json``
  shape. It is computed here from the generator's own list of invocations (what really happened), not by the
  pipeline's code, so comparing the two is a real test.

Injected discrepancies, each with a known size: late log delivery (us-east-1, day 2, 14:00-15:00 UTC: part of the
records delivered after the collection time), a logging outage (ap-northeast-2, day 1, 09:00 UTC, with the S3
delivery-failure metric), throttled and failed calls (logged with an ``errorCode``, not counted as CloudWatch
invocations), Claude 3 Haiku billed in the Marketplace shape, a model the price book does not know
(``anthropic.claude-opus-5-5-20261101-v1:0``), a stale price (Nova Lite in Seoul billed 10% above the book), and usage
with no logs or metrics (a batch job and a ``bedrock-mantle`` call) on the bill.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import random
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from tracker_utils.price.book import PriceBook
from tracker_utils.schema import TOKENS

CANARY = "CANARY-PROMPT-7f3a9c"          # planted in every prompt and response; must never reach outputs/
UNKNOWN_MODEL = "anthropic.claude-opus-5-5-20261101-v1:0"
UNKNOWN_MODEL_PRICES = {"input": Decimal("0.006"), "output": Decimal("0.03")}   # what "AWS" bills it at
APP_PROFILE_ARN = "arn:aws:bedrock:us-east-1:{account}:application-inference-profile/a1b2c3d4e5f6"
APP_PROFILE_SOURCE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
Q = Decimal("0.000001")

# The demo's view of AWS billing: first-party billing names and the Marketplace-billed model.
BILLING_NAMES = {
    "anthropic.claude-3-7-sonnet-20250219-v1:0": "Claude3.7Sonnet",
    "anthropic.claude-sonnet-4-5-20250929-v1:0": "Claude4.5Sonnet",
    "anthropic.claude-sonnet-4-20250514-v1:0": "Claude4Sonnet",
    "anthropic.claude-haiku-4-5-20251001-v1:0": "Claude4.5Haiku",
    "amazon.nova-lite-v1:0": "NovaLite",
    "amazon.titan-embed-text-v2:0": "TitanEmbeddingV2-Text",
    "meta.llama3-3-70b-instruct-v1:0": "Llama3-3-70B",
    "openai.gpt-oss-120b-1:0": "openai.gpt-oss-120b",
    UNKNOWN_MODEL: "Claude5.5Opus",
}
MARKETPLACE = {"anthropic.claude-3-haiku-20240307-v1:0": "Claude 3 Haiku (Amazon Bedrock Edition)"}
REGION_CODE = {"us-east-1": "USE1", "ap-northeast-2": "APN2", "us-west-2": "USW2", "eu-central-1": "EUC1"}
FP_UNIT = {"input": "input-tokens", "output": "output-tokens", "cache_read": "cache-read-input-token-count",
           "cache_write_5m": "cache-write-input-token-count"}
MP_UNIT = {"input": "InputTokenCount", "output": "OutputTokenCount", "cache_read": "CacheReadInputTokenCount",
           "cache_write_5m": "CacheWriteInputTokenCount"}
TOKEN_KEYS = tuple(TOKENS)
UNIT_OF = {"input_tokens": "input", "output_tokens": "output", "cache_read_tokens": "cache_read",
           "cache_write_tokens": "cache_write_5m"}
SERVED_BY = {"us": ["us-east-1", "us-east-2", "us-west-2"], "apac": ["ap-northeast-2", "ap-northeast-1", "ap-southeast-1"],
             "global": ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "ap-northeast-1"]}


@dataclass
class DemoSpec:
    account: str = "123456789012"
    bucket: str = "demo-bedrock-logs"
    prefix: str = "bedrock/invocation-logs"
    regions: tuple = ("us-east-1", "ap-northeast-2")
    start: str = "2026-11-02"
    days: int = 3
    per_day: int = 3000                 # invocations a day in us-east-1 (ap-northeast-2 gets half)
    seed: int = 20261102
    as_of_hours: float = 1.0            # the collection runs this long after the day ends (params: logs_as_of "+1h")
    window_after_hours: int = 3         # hour folders after the day that the collector reads
    large_body_bytes: int = 120_000     # > 100 KB goes to the data/ sidecar

    @property
    def dates(self) -> list[str]:
        d0 = dt.date.fromisoformat(self.start)
        return [(d0 + dt.timedelta(days=i)).isoformat() for i in range(self.days)]


# --- the account's applications ---------------------------------------------------------------------------------
# (app, weight, principal kind, principal name, sessions, models[(model id, weight, operations)], tokens profile, metadata)
def _apps(region: str, account: str):
    prof = APP_PROFILE_ARN.format(account=account)
    if region == "us-east-1":
        return [
            ("Chatbot", 30, "role", "ChatbotProd-BedrockRole", 40,
             [("global.anthropic.claude-sonnet-4-5-20250929-v1:0", 6, ["Converse", "ConverseStream"]),
              ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 4, ["ConverseStream"])], "chat", None),
            ("DocSummarizer", 18, "role", "DocSummarizer-BedrockRole", 25,
             [("us.anthropic.claude-3-7-sonnet-20250219-v1:0", 5, ["InvokeModel"]),
              ("anthropic.claude-3-haiku-20240307-v1:0", 5, ["InvokeModelWithResponseStream", "InvokeModel"])], "doc", None),
            ("CodeReview", 10, "role", "CodeReview-BedrockRole", 15,
             [("us.meta.llama3-3-70b-instruct-v1:0", 8, ["Converse"]),
              ("global." + UNKNOWN_MODEL, 2, ["Converse"])], "code", None),
            ("SearchIndexer", 15, "role", "SearchIndexer-BedrockRole", 12,
             [("amazon.titan-embed-text-v2:0", 1, ["InvokeModel"])], "embed", None),
            ("SupportAgent", 10, "role", "SharedLambda-BedrockRole", 30, [(prof, 1, ["Converse", "ConverseStream"])], "chat", None),
            ("Triage", 6, "role", "SharedPlatform-BedrockRole", 10,
             [("amazon.nova-lite-v1:0", 1, ["Converse"])], "short", {"project": "triage"}),
            ("KnowledgeIngest", 4, "role", "SharedPlatform-BedrockRole", 10,
             [("amazon.nova-lite-v1:0", 1, ["InvokeModel"])], "short", {"project": "kb-ingest"}),
            ("Analytics", 5, "user", "alice", 1,
             [("us.anthropic.claude-3-7-sonnet-20250219-v1:0", 1, ["Converse", "InvokeModelWithResponseStream"])], "doc", None),
            ("Analytics", 3, "user", "bob.data", 1, [("anthropic.claude-3-haiku-20240307-v1:0", 1, ["InvokeModel"])], "doc", None),
            ("unattributed", 2, "user", "carol", 1, [("anthropic.claude-3-haiku-20240307-v1:0", 1, ["Converse"])], "short", None),
        ]
    return [
        ("Chatbot", 30, "role", "ChatbotProd-BedrockRole", 20,
         [("apac.anthropic.claude-sonnet-4-20250514-v1:0", 6, ["ConverseStream", "Converse"]),
          ("global.anthropic.claude-haiku-4-5-20251001-v1:0", 4, ["Converse"])], "chat", None),
        ("DocSummarizer", 20, "role", "DocSummarizer-BedrockRole", 10,
         [("anthropic.claude-3-haiku-20240307-v1:0", 1, ["InvokeModelWithResponseStream", "InvokeModel"])], "doc", None),
        ("CodeReview", 15, "role", "CodeReview-BedrockRole", 8,
         [("apac.amazon.nova-lite-v1:0", 1, ["Converse"])], "code", None),
        ("SearchIndexer", 20, "role", "SearchIndexer-BedrockRole", 6,
         [("amazon.titan-embed-text-v2:0", 1, ["InvokeModel"])], "embed", None),
        ("Triage", 10, "role", "SharedPlatform-BedrockRole", 5,
         [("apac.amazon.nova-lite-v1:0", 1, ["Converse"])], "short", {"project": "triage"}),
        ("Analytics", 5, "user", "alice", 1,
         [("apac.anthropic.claude-sonnet-4-20250514-v1:0", 1, ["Converse"])], "doc", None),
    ]


CACHE_MODELS = ("claude-sonnet-4-5", "claude-sonnet-4-2025", "claude-haiku-4-5", "claude-3-7-sonnet")


def _tokens(rng: random.Random, profile: str, model_id: str) -> tuple[int, int, int, int]:
    def ln(mu, sigma, lo=1):
        return max(lo, int(rng.lognormvariate(mu, sigma)))
    if profile == "embed":
        return ln(5.3, 0.6), 0, 0, 0
    if profile == "short":
        inp, out = ln(5.5, 0.5), ln(4.0, 0.6)
    elif profile == "code":
        inp, out = ln(7.0, 0.6), ln(5.5, 0.6)
    elif profile == "doc":
        inp, out = ln(7.4, 0.7), ln(5.2, 0.5)
    else:
        inp, out = ln(6.2, 0.8), ln(5.3, 0.7)
    cr = cw = 0
    if profile == "chat" and any(m in model_id for m in CACHE_MODELS):
        r = rng.random()
        if r < 0.55:
            cr = ln(7.6, 0.3)
        elif r < 0.65:
            cw = ln(7.5, 0.3)
    return inp, out, cr, cw


@dataclass
class Inv:
    ts: dt.datetime
    region: str
    model_id: str
    base_model: str
    scope: str
    app: str
    arn: str
    operation: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    request_id: str
    metadata: dict | None = None
    error: str | None = None
    delivered: dt.datetime | None = None     # None: never delivered (logging outage)
    late: bool = False
    large: bool = False
    inference_region: str | None = None

    @property
    def day(self) -> str:
        return self.ts.date().isoformat()


def _scope_and_base(model_id: str, book: PriceBook, region: str) -> tuple[str, str]:
    if model_id.endswith(UNKNOWN_MODEL):
        return ("global" if model_id.startswith("global.") else "in_region"), UNKNOWN_MODEL
    r = book.resolve(model_id, region)
    return r.scope, r.base_model


def _hour_weights() -> list[float]:
    import math
    return [1.0 + 0.85 * math.sin((h - 8) / 24 * 2 * math.pi) for h in range(24)]


def _ceil5(t: dt.datetime) -> dt.datetime:
    t2 = t.replace(second=0, microsecond=0)
    add = (5 - t2.minute % 5) % 5
    if add == 0 and t > t2:
        add = 5
    return t2 + dt.timedelta(minutes=add)


def generate(spec: DemoSpec, book: PriceBook) -> list[Inv]:
    rng = random.Random(spec.seed)
    weights = _hour_weights()
    out: list[Inv] = []
    for region in spec.regions:
        apps = _apps(region, spec.account)
        app_w = [a[1] for a in apps]
        sessions = {a[3]: [f"{a[3].split('-')[0].lower()}-{rng.getrandbits(32):08x}" for _ in range(a[4])] for a in apps}
        for di, day in enumerate(spec.dates):
            d0 = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=dt.timezone.utc)
            n = int(spec.per_day * (1.0 if region == "us-east-1" else 0.5) * (1.0, 1.15, 0.9, 1.05, 1.0, 0.6, 0.5)[di % 7])
            for _ in range(n):
                h = rng.choices(range(24), weights)[0]
                ts = d0 + dt.timedelta(hours=h, seconds=rng.randrange(3600))
                app = rng.choices(apps, app_w)[0]
                name, kind, pname = app[0], app[2], app[3]
                if kind == "role":
                    arn = f"arn:aws:sts::{spec.account}:assumed-role/{pname}/{rng.choice(sessions[pname])}"
                else:
                    arn = f"arn:aws:iam::{spec.account}:user/{pname}"
                model_id, _, ops = rng.choices(app[5], [m[1] for m in app[5]])[0]
                scope, base = _scope_and_base(model_id, book, region)
                i, o, cr, cw = _tokens(rng, app[6], model_id)
                op = rng.choice(ops)
                inv = Inv(ts=ts, region=region, model_id=model_id, base_model=base, scope=scope, app=name, arn=arn,
                          operation=op, input_tokens=i, output_tokens=o, cache_read_tokens=cr, cache_write_tokens=cw,
                          request_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                          metadata=dict(app[7]) if app[7] else None)
                if kind == "role" and pname == "SharedPlatform-BedrockRole" and rng.random() < 0.03:
                    inv.metadata, inv.app = None, "unattributed"      # a caller that forgot its metadata
                pfx = model_id.split(".")[0]
                if scope in ("geo", "global"):
                    inv.inference_region = rng.choice(SERVED_BY["global" if scope == "global" else pfx if pfx in SERVED_BY else "us"])
                r = rng.random()
                injected_hour = (region == "us-east-1" and di == 1 and h in (14, 15)) or (region != "us-east-1" and di == 0 and h == 9)
                if r < 0.012 and not injected_hour:
                    inv.error = rng.choice(["ThrottlingException", "ThrottlingException", "ValidationException", "ModelErrorException"])
                    inv.input_tokens = inv.output_tokens = inv.cache_read_tokens = inv.cache_write_tokens = 0
                inv.delivered = _ceil5(ts + dt.timedelta(seconds=rng.randrange(40, 540)))
                out.append(inv)
    out.sort(key=lambda x: (x.region, x.ts, x.request_id))
    # injections -------------------------------------------------------------------------------------------
    dates = spec.dates
    for inv in out:
        hour = inv.ts.hour
        if inv.region == "us-east-1" and len(dates) > 1 and inv.day == dates[1] and hour in (14, 15) \
                and inv.model_id.startswith(("global.anthropic.claude-sonnet", "us.anthropic.claude-3-7", "amazon.titan")) \
                and int(inv.request_id[:2], 16) < 150:
            inv.late = True   # delivered after the collection (1 h after the day) but before the window closes
            nxt = dt.datetime.combine(inv.ts.date() + dt.timedelta(days=1), dt.time(0), tzinfo=dt.timezone.utc)
            inv.delivered = nxt + dt.timedelta(hours=spec.as_of_hours, minutes=25 + 5 * (hour - 14) + int(inv.request_id[2], 16) % 3 * 5)
        if inv.region != "us-east-1" and inv.day == dates[0] and hour == 9:
            inv.delivered = None   # logging outage: never delivered
    # one large request per region and day: body in the data/ sidecar
    seen = set()
    for inv in out:
        k = (inv.region, inv.day)
        if k not in seen and inv.error is None and inv.delivered is not None and not inv.late and inv.ts.hour == 12 \
                and inv.model_id.startswith(("us.anthropic", "apac.anthropic", "global.anthropic.claude-sonnet")):
            seen.add(k)
            inv.large = True
    return out


# --- writing the sources -----------------------------------------------------------------------------------------
def _body(inv: Inv, rng: random.Random) -> tuple[dict, object]:
    prompt = f"{CANARY} Summarise ticket #{rng.randrange(10**6)} for customer {rng.choice(['Ana', 'Min-jun', 'Li', 'Sam'])}."
    answer = f"{CANARY} The customer reports a billing issue; next step is a refund review."
    if inv.model_id.startswith("amazon.titan-embed"):
        return {"inputText": prompt, "dimensions": 512}, {"embedding": [0.01, -0.02, 0.03], "inputTextTokenCount": inv.input_tokens}
    if inv.operation in ("Converse", "ConverseStream"):
        inp = {"messages": [{"role": "user", "content": [{"text": prompt}]}], "inferenceConfig": {"maxTokens": 1024}}
        usage = {"inputTokens": inv.input_tokens, "outputTokens": inv.output_tokens,
                 "totalTokens": inv.input_tokens + inv.output_tokens,
                 "cacheReadInputTokens": inv.cache_read_tokens, "cacheWriteInputTokens": inv.cache_write_tokens}
        if inv.operation == "Converse":
            return inp, {"output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                         "stopReason": "end_turn", "metrics": {"latencyMs": 900}, "usage": usage}
        return inp, [{"messageStart": {"role": "assistant"}}, {"contentBlockDelta": {"delta": {"text": answer}}},
                     {"messageStop": {"stopReason": "end_turn"}}, {"metadata": {"usage": usage, "metrics": {"latencyMs": 1200}}}]
    inp = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 2000, "messages": [{"role": "user", "content": prompt}]}
    if inv.operation == "InvokeModel":
        return inp, {"id": "msg_demo", "type": "message", "role": "assistant", "content": [{"type": "text", "text": answer}],
                     "usage": {"input_tokens": inv.input_tokens, "output_tokens": inv.output_tokens}}
    return inp, [{"type": "message_start"}, {"type": "content_block_delta", "delta": {"text": answer}},
                 {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                     "inputTokenCount": inv.input_tokens, "outputTokenCount": inv.output_tokens,
                     "invocationLatency": 1500, "firstByteLatency": 300}}]


def _record(inv: Inv, spec: DemoSpec, rng: random.Random, sidecar_uri: str | None, new_order: bool) -> dict:
    inp_body, out_body = _body(inv, rng)
    inp = {"inputContentType": "application/json"}
    if sidecar_uri:
        inp["inputBodyS3Path"] = sidecar_uri
    else:
        inp["inputBodyJson"] = inp_body
    inp.update({"inputTokenCount": inv.input_tokens, "cacheReadInputTokenCount": inv.cache_read_tokens,
                "cacheWriteInputTokenCount": inv.cache_write_tokens})
    out = {"outputContentType": "application/json", "outputTokenCount": inv.output_tokens}
    if inv.error is None:
        out["outputBodyJson"] = out_body
    head = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0"}
    body = {"timestamp": inv.ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "accountId": spec.account,
            "identity": {"arn": inv.arn}, "region": inv.region, "requestId": inv.request_id,
            "operation": inv.operation, "modelId": inv.model_id, "input": inp, "output": out}
    if inv.error:
        body["errorCode"] = inv.error
    if inv.inference_region:
        body["inferenceRegion"] = inv.inference_region
    if inv.metadata:
        body["requestMetadata"] = inv.metadata
    return {**body, **head} if new_order else {**head, **body}


def _log_prefix(spec: DemoSpec, region: str) -> str:
    return f"{spec.prefix}/AWSLogs/{spec.account}/BedrockModelInvocationLogs/{region}"


def write_logs(root: Path, spec: DemoSpec, invs: list[Inv]) -> dict:
    """Write log files. Returns {file key: [request ids]} for the ground truth's file counts."""
    rng = random.Random(spec.seed + 1)
    s3 = root / "s3" / spec.bucket
    files: dict[str, list[Inv]] = defaultdict(list)
    for inv in invs:
        if inv.delivered is None:
            continue
        files[(inv.region, inv.delivered)].append(inv)
    (s3 / spec.prefix).mkdir(parents=True, exist_ok=True)
    (s3 / spec.prefix / "amazon-bedrock-logs-permission-check").write_bytes(b"")
    written: dict[str, list[Inv]] = {}
    for (region, when), batch in sorted(files.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        folder = f"{_log_prefix(spec, region)}/{when:%Y/%m/%d/%H}"
        key = f"{folder}/{when:%Y%m%dT%H%M%SZ}_{rng.getrandbits(64):016x}.json.gz"
        lines = []
        for inv in batch:
            sidecar = None
            if inv.large:
                skey = f"{folder}/data/{inv.request_id}_input.json.gz"
                big = {"messages": [{"role": "user", "content": CANARY + " " + "x" * spec.large_body_bytes}]}
                p = s3 / skey
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(gzip.compress(json.dumps(big).encode(), mtime=0))
                sidecar = f"s3://{spec.bucket}/{skey}"
            lines.append(json.dumps(_record(inv, spec, rng, sidecar, new_order=when.day % 2 == 0), separators=(",", ":")))
        path = s3 / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
        ts = when.timestamp()
        os.utime(path, (ts, ts))
        written[key] = batch
    return written


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
    pages = []
    for i in range(0, max(len(results), 1), page_size):
        page = {"MetricDataResults": results[i:i + page_size], "Messages": []}
        if i + page_size < len(results):
            page["NextToken"] = f"token-{i + page_size}"
        pages.append(page)
    lm_pages = [{"Metrics": list_metrics[i:i + 50], **({"NextToken": f"lm-{i + 50}"} if i + 50 < len(list_metrics) else {})}
                for i in range(0, max(len(list_metrics), 1), 50)]
    return {"region": region, "date": day, "namespace": "AWS/Bedrock", "period": 3600,
            "start": d0.isoformat(), "end": (d0 + dt.timedelta(days=1)).isoformat(),
            "list_metrics": lm_pages, "get_metric_data": {"queries": queries, "pages": pages}}


def _money(d: Decimal) -> str:
    return format(d.normalize(), "f") if d else "0"


def _bill_lines(spec: DemoSpec, invs: list[Inv], book: PriceBook, day: str) -> list[tuple[str, str, Decimal, Decimal, dict]]:
    """(service, usage type, quantity, cost, truth) per line: CloudWatch's tokens at AWS's prices, plus injections."""
    acc: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))   # line -> IAM principal -> tokens
    for inv in invs:
        if inv.day != day or inv.error:
            continue
        for k in TOKEN_KEYS:
            t = getattr(inv, k)
            if t:
                acc[(inv.region, inv.base_model, inv.scope, "standard", UNIT_OF[k])][_iam_principal(inv.arn)] += t
    dates = spec.dates
    batch_role = f"arn:aws:iam::{spec.account}:role/NightlyBatch-BedrockRole"
    if "us-east-1" in spec.regions:
        if day == dates[min(2, len(dates) - 1)]:     # a batch job: billed, never logged, no runtime metrics
            acc[("us-east-1", "amazon.nova-lite-v1:0", "in_region", "batch", "input")][batch_role] += 2_400_000
            acc[("us-east-1", "amazon.nova-lite-v1:0", "in_region", "batch", "output")][batch_role] += 610_000
        if day == dates[0]:                           # bedrock-mantle (OpenAI-compatible) calls: not logged
            acc[("us-east-1", "openai.gpt-oss-120b-1:0", "in_region", "mantle", "input")][batch_role] += 185_000
            acc[("us-east-1", "openai.gpt-oss-120b-1:0", "in_region", "mantle", "output")][batch_role] += 64_000
    lines = []
    for (region, model, scope, tier, unit), by_principal in sorted(acc.items()):
        tokens = sum(by_principal.values())
        truth = {"region": region, "model": model, "scope": scope, "tier": tier, "unit": unit, "tokens": tokens,
                 "by_principal": dict(by_principal)}
        if model == UNKNOWN_MODEL:
            price = UNKNOWN_MODEL_PRICES[unit]
        else:
            price = book.unit_price(model, region, scope, "standard" if tier == "mantle" else tier, unit, day)
            if price is None:
                raise RuntimeError(f"demo needs a price for {model} {region} {scope} {tier} {unit} in params/prices.csv")
            if region == "ap-northeast-2" and model == "amazon.nova-lite-v1:0":
                price = price * Decimal("1.1")        # AWS raised the price; the book is stale
                truth["stale"] = True
        cost = Decimal(tokens) * price / 1000
        truth["price"] = price
        rc = REGION_CODE[region]
        if model in MARKETPLACE:
            suffix = "_Global" if scope == "global" else ""
            service = MARKETPLACE[model]
            usage = f"{rc}-MP:{rc}_{MP_UNIT[unit]}{suffix}-Units"
            qty = Decimal(tokens) / Decimal(1_000_000)
        else:
            service = "Amazon Bedrock"
            name = BILLING_NAMES[model]
            if tier == "mantle":
                usage = f"{rc}-{name}-mantle-{FP_UNIT[unit]}-standard"
            else:
                usage = f"{rc}-{name}-{FP_UNIT[unit]}" + ("-batch" if tier == "batch" else "") \
                        + ("-cross-region-global" if scope == "global" else "")
            qty = Decimal(tokens) / Decimal(1000)
        lines.append((service, usage, qty, cost, truth))
    # lines with the same usage type (geo and in-region of one model) are one line on the bill
    merged: dict[tuple[str, str], list] = {}
    for service, usage, qty, cost, truth in lines:
        if (service, usage) in merged:
            m = merged[(service, usage)]
            m[0] += qty
            m[1] += cost
            m[2].append(truth)
        else:
            merged[(service, usage)] = [qty, cost, [truth]]
    return [(s, u, q, c, t) for (s, u), (q, c, t) in merged.items()]


def _iam_principal(arn: str) -> str:
    """What CUR 2.0's line_item_iam_principal holds: the role (not the session) or the user."""
    if ":assumed-role/" in arn:
        head, rest = arn.split(":assumed-role/", 1)
        return head.replace(":sts::", ":iam::") + ":role/" + rest.split("/", 1)[0]
    return arn


def _cur_rows(spec: DemoSpec, bills: dict) -> list[dict]:
    """CUR 2.0 export rows for the demo's bill: one per day, usage type and IAM principal, plus tax and S3 rows."""
    rows = []
    for day, lines in bills.items():
        start = f"{day}T00:00:00Z"
        for service, usage, _, _, truths in lines:
            mp = service != "Amazon Bedrock"
            for t in truths:
                per_unit = 1_000_000 if mp else 1000
                for principal, tokens in sorted(t["by_principal"].items()):
                    rows.append({
                        "line_item_usage_start_date": start, "line_item_usage_end_date": start[:11] + "23:59:59Z",
                        "line_item_product_code": "prod-demo7h2k3haiku" if mp else "AmazonBedrock",
                        "product_servicecode": "prod-demo7h2k3haiku" if mp else "AmazonBedrock",
                        "line_item_usage_type": usage,
                        "line_item_operation": "InvokeModelStreamingInference" if t["unit"] == "output" else "InvokeModelInference",
                        "line_item_usage_amount": float(Decimal(tokens) / per_unit),
                        "line_item_unblended_cost": float(Decimal(tokens) * t["price"] / 1000),
                        "line_item_line_item_type": "Usage", "product_region_code": t["region"],
                        "bill_billing_entity": "AWS Marketplace" if mp else "AWS",
                        "product_product_name": service if mp else "Amazon Bedrock",
                        "line_item_iam_principal": principal})
        rows.append({**rows[-1], "line_item_line_item_type": "Tax", "line_item_usage_type": "Tax",
                     "line_item_usage_amount": 0.0, "line_item_unblended_cost": 1.23,
                     "line_item_iam_principal": ""})
        rows.append({**rows[-1], "line_item_product_code": "AmazonS3", "product_servicecode": "AmazonS3",
                     "line_item_line_item_type": "Usage", "line_item_usage_type": "USE1-TimedStorage-ByteHrs",
                     "product_product_name": "Amazon Simple Storage Service", "line_item_unblended_cost": 4.56,
                     "bill_billing_entity": "AWS"})
    return rows


def _ce_pages(day: str, lines, page_size: int = 12) -> dict:
    d1 = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    groups = [{"Keys": [s, u], "Metrics": {"UnblendedCost": {"Amount": _money(c), "Unit": "USD"},
                                            "UsageQuantity": {"Amount": _money(q), "Unit": "N/A"}}}
              for s, u, q, c, _ in sorted(lines, key=lambda x: (x[0], x[1]))]
    pages = []
    for i in range(0, max(len(groups), 1), page_size):
        page = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
                "ResultsByTime": [{"TimePeriod": {"Start": day, "End": d1}, "Total": {}, "Groups": groups[i:i + page_size],
                                   "Estimated": False}],
                "DimensionValueAttributes": []}
        if i + page_size < len(groups):
            page["NextPageToken"] = f"page-{i + page_size}"
        pages.append(page)
    request = {"TimePeriod": {"Start": day, "End": d1}, "Granularity": "DAILY",
               "Metrics": ["UnblendedCost", "UsageQuantity"],
               "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
               "Filter": {"Or": [{"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"]}},
                                 {"Dimensions": {"Key": "SERVICE", "Values": sorted(set(MARKETPLACE.values())),
                                                 "MatchOptions": ["EQUALS"]}}]}}
    return {"request": request, "pages": pages}


# --- ground truth --------------------------------------------------------------------------------------------------
def _zero() -> dict:
    return {"invocations": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0,
            "cost": Decimal(0)}


def _add(acc: dict, inv: Inv, book: PriceBook, count_errors: bool = True) -> None:
    acc["invocations"] += 1
    for k in TOKEN_KEYS:
        acc[k] += getattr(inv, k)
    acc["cost"] += _cost(inv, book)


def _cost(inv: Inv, book: PriceBook) -> Decimal:
    total = Decimal(0)
    for k in TOKEN_KEYS:
        t = getattr(inv, k)
        if t:
            p = book.unit_price(inv.base_model, inv.region, inv.scope, "standard", UNIT_OF[k], inv.day) \
                if inv.base_model != UNKNOWN_MODEL else None
            if p is not None:
                total += Decimal(t) * p / 1000
    return total


def _fmt(acc: dict) -> dict:
    d = {k: v for k, v in acc.items() if k != "cost"}
    d["cost_usd"] = str(acc["cost"].quantize(Q))
    return d


def ground_truth(spec: DemoSpec, invs: list[Inv], files: dict, bills: dict, book: PriceBook) -> dict:
    runs = {}
    for region in spec.regions:
        prefix = _log_prefix(spec, region)
        for day in spec.dates:
            d0 = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=dt.timezone.utc)
            as_of = d0 + dt.timedelta(days=1, hours=spec.as_of_hours)
            window_end = d0 + dt.timedelta(days=1, hours=spec.window_after_hours)
            # files the collector reads: hour folders from 00:00 of the day up to the window end
            in_window = {k: b for k, b in files.items() if k.startswith(prefix + "/")
                         and d0 <= dt.datetime.strptime(k[len(prefix) + 1:len(prefix) + 14], "%Y/%m/%d/%H").replace(
                             tzinfo=dt.timezone.utc) < window_end}
            read = [inv for b in in_window.values() for inv in b]
            outside = sum(1 for inv in read if inv.day != day)
            mine = [inv for inv in invs if inv.region == region and inv.day == day]
            logs = [inv for inv in mine if inv.delivered is not None and inv.delivered <= as_of]
            late = [inv for inv in mine if inv.late]
            lost = [inv for inv in mine if inv.delivered is None]
            edge = [inv for inv in logs if inv.delivered.date() != inv.ts.date()]
            models: dict[str, dict] = {}

            def model(base: str) -> dict:
                if base not in models:
                    models[base] = {"model": base, "model_ids_seen": set(), "logs": _zero(), "cloudwatch": _zero(),
                                    "billed": Decimal(0), "gaps": {}}
                return models[base]

            def gap(m: dict, kind: str, inv: Inv | None = None, sign: int = 1, cost: Decimal | None = None,
                    tokens: dict | None = None) -> None:
                g = m["gaps"].setdefault(kind, {"kind": kind, **{k: v for k, v in _zero().items()}, "hours": set()})
                if inv is not None:
                    g["invocations"] += sign
                    for k in TOKEN_KEYS:
                        g[k] += sign * getattr(inv, k)
                    g["cost"] += sign * _cost(inv, book)
                    g["hours"].add(inv.ts.hour)
                if cost is not None:
                    g["cost"] += cost
                for k, v in (tokens or {}).items():
                    g[k] += v

            for inv in logs:
                m = model(inv.base_model)
                m["model_ids_seen"].add(inv.model_id)
                _add(m["logs"], inv, book)
                if inv.error:
                    gap(m, "failed_calls", inv, sign=-1)
            for inv in mine:
                if inv.error is None:
                    m = model(inv.base_model)
                    m["model_ids_seen"].add(inv.model_id)
                    _add(m["cloudwatch"], inv, book)
            for inv in late:
                gap(model(inv.base_model), "late_delivery", inv)
            for inv in lost:
                gap(model(inv.base_model), "logging_outage", inv)
            for inv in edge:
                gap(model(inv.base_model), "day_edge", inv)
            for service, usage, qty, cost, truths in bills.get(day, []):
                if truths[0]["region"] != region:
                    continue
                assert len({t["model"] for t in truths}) == 1, usage
                m = model(truths[0]["model"])
                m["billed"] += cost
                book_cost = Decimal(0)
                for t in truths:
                    tok = {"input": "input_tokens", "output": "output_tokens", "cache_read": "cache_read_tokens",
                           "cache_write_5m": "cache_write_tokens"}[t["unit"]]
                    if t["tier"] in ("batch", "mantle"):
                        gap(m, "unlogged_endpoint", tokens={tok: t["tokens"]})
                    elif t["model"] == UNKNOWN_MODEL:
                        gap(m, "unpriced_model", tokens={tok: t["tokens"]})
                    elif t.get("stale"):
                        gap(m, "price_mismatch", tokens={tok: t["tokens"]})
                    if t.get("stale"):
                        book_cost += Decimal(t["tokens"]) * book.unit_price(t["model"], region, t["scope"], "standard",
                                                                            t["unit"], day) / 1000
                t0 = truths[0]
                if t0["tier"] in ("batch", "mantle"):
                    gap(m, "unlogged_endpoint", cost=cost)
                elif t0["model"] == UNKNOWN_MODEL:
                    gap(m, "unpriced_model", cost=cost)
                elif t0.get("stale"):
                    gap(m, "price_mismatch", cost=cost - book_cost)
            out_models = []
            for base in sorted(models):
                m = models[base]
                gaps = []
                for kind in sorted(m["gaps"]):
                    g = m["gaps"][kind]
                    gg = _fmt({k: g[k] for k in ("invocations", *TOKEN_KEYS, "cost")})
                    if kind in ("unlogged_endpoint", "unpriced_model", "price_mismatch"):
                        gg["invocations"] = 0
                    gaps.append({"kind": kind, **gg, "hours": sorted(g["hours"])})
                out_models.append({"model": base, "model_ids_seen": sorted(m["model_ids_seen"]),
                                   "logs": _fmt(m["logs"]), "cloudwatch": _fmt(m["cloudwatch"]),
                                   "billed": {"cost_usd": str(m["billed"].quantize(Q))}, "gaps": gaps})
            apps: dict[str, dict] = defaultdict(_zero)
            for inv in logs:
                _add(apps[inv.app], inv, book)
            unlogged = sum((c for _, _, _, c, t in bills.get(day, []) if t[0]["region"] == region
                            and t[0]["tier"] in ("batch", "mantle")), Decimal(0))
            if unlogged:
                apps["(unlogged usage: batch, bedrock-mantle)"] = _zero()
            unpriced = sorted({inv.base_model for inv in mine if inv.base_model == UNKNOWN_MODEL})
            runs[f"{day}/{region}"] = {
                "date": day, "region": region, "models": out_models,
                "apps": [{"app": a, **{k: v for k, v in _fmt(apps[a]).items() if k in ("invocations", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd")}} for a in sorted(apps)],
                "totals": {
                    "logs_cost_usd": str(sum((m["logs"]["cost"] for m in models.values()), Decimal(0)).quantize(Q)),
                    "cloudwatch_cost_usd": str(sum((m["cloudwatch"]["cost"] for m in models.values()), Decimal(0)).quantize(Q)),
                    "billed_cost_usd": str(sum((m["billed"] for m in models.values()), Decimal(0)).quantize(Q)),
                    "logs_invocations": len(logs),
                    "cloudwatch_invocations": sum(1 for inv in mine if inv.error is None),
                },
                "data_quality": {"files_read": len(in_window), "records_read": len(read),
                                 "records_malformed": 0, "records_duplicate": 0,
                                 "records_outside_day": outside, "records_late": len(late),
                                 "unpriced_models": unpriced},
            }
    return {"spec": {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.__dict__.items()},
            "as_of": f"+{spec.as_of_hours:g}h", "runs": runs}


def build_demo(root: str | Path, spec: DemoSpec | None = None, book: PriceBook | None = None) -> dict:
    """Write the demo account under ``root`` (replacing what is there) and return its ground truth."""
    spec = spec or DemoSpec()
    book = book or PriceBook.load()
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    invs = generate(spec, book)
    files = write_logs(root, spec, invs)
    for region in spec.regions:
        for day in spec.dates:
            p = root / "cloudwatch" / region / f"{day}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(_cw_pages(region, day, invs), indent=1))
    bills = {}
    for day in spec.dates:
        lines = _bill_lines(spec, invs, book, day)
        bills[day] = lines
        p = root / "costexplorer" / f"{day}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(_ce_pages(day, lines), indent=1))
    cur = root / "cur" / "bedrock-export" / "data" / f"BILLING_PERIOD={spec.start[:7]}" / "part-00000.parquet"
    cur.parent.mkdir(parents=True, exist_ok=True)
    import pandas as pd
    pd.DataFrame(_cur_rows(spec, bills)).to_parquet(cur, index=False)
    truth = ground_truth(spec, invs, files, bills, book)
    (root / "ground_truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True))
    (root / "README.md").write_text(
        "# Demo account (generated by tracker_utils.demo, do not edit)\n\n"
        f"Account {spec.account}, bucket {spec.bucket}, regions {', '.join(spec.regions)}, days {', '.join(spec.dates)}.\n"
        "Layout mirrors S3 (s3/), CloudWatch GetMetricData pages (cloudwatch/), Cost Explorer pages (costexplorer/).\n"
        "ground_truth.json is what a correct pipeline reports.\n")
    return truth


# --- the seed's day ---------------------------------------------------------------------------------------------------
SEED_DAY = "2025-10-18"
# model id as called: (CloudWatch invocations, input, output), (logs invocations, input, output)
SEED_COUNTS = {
    "anthropic.claude-3-haiku-20240307-v1:0": ((70, 2550, 13977), (60, 2130, 11977)),
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0": ((23, 506, 4576), (23, 506, 4576)),
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0": ((52, 1828, 10400), (45, 1528, 9000)),
    "us.anthropic.claude-opus-4-20250514-v1:0": ((25, 420, 2800), (25, 420, 2800)),
}
# Cost Explorer, filtered to SERVICE = "Amazon Bedrock" as the seed's write-up did
SEED_BILL = [("USE1-Claude3Haiku-input-tokens", "2.556", "0.000639"),
             ("USE1-Claude3Haiku-output-tokens", "13.9872", "0.017484"),
             ("USE1-Claude3.7Sonnet-input-tokens", "0.506", "0.001518"),
             ("USE1-Claude3.7Sonnet-output-tokens", "4.576", "0.068640")]


def _split(total: int, n: int) -> list[int]:
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def build_seed_day(root: str | Path, account: str = "123456789012", bucket: str = "demo-bedrock-logs",
                   prefix: str = "bedrock/invocation-logs") -> Path:
    """The write-up's day (us-east-1, 2025-10-18) as sources: CloudWatch 170 invocations, logs 153, and the bill it showed."""
    root = Path(root)
    region, day = "us-east-1", SEED_DAY
    d0 = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=dt.timezone.utc)
    rng = random.Random(18)
    spec = DemoSpec(account=account, bucket=bucket, prefix=prefix, regions=(region,), start=day, days=1)
    cw_invs, log_lines = [], defaultdict(list)
    for model_id, ((cn, ci, co), (ln, li, lo)) in SEED_COUNTS.items():
        for (n, i_tot, o_tot), into in (((cn, ci, co), "cw"), ((ln, li, lo), "logs")):
            ins, outs = _split(i_tot, n), _split(o_tot, n)
            for k in range(n):
                ts = d0 + dt.timedelta(hours=9 + k % 8, minutes=k % 60, seconds=k)
                inv = Inv(ts=ts, region=region, model_id=model_id, base_model="", scope="", app="seed",
                          arn=f"arn:aws:sts::{account}:assumed-role/Seed-BedrockRole/s{k % 3}", operation="InvokeModel",
                          input_tokens=ins[k], output_tokens=outs[k], cache_read_tokens=0, cache_write_tokens=0,
                          request_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
                if into == "cw":
                    cw_invs.append(inv)
                else:
                    inv.delivered = _ceil5(ts + dt.timedelta(minutes=3))
                    log_lines[inv.delivered].append(inv)
    s3 = root / "s3" / bucket
    for when, batch in sorted(log_lines.items()):
        key = f"{_log_prefix(spec, region)}/{when:%Y/%m/%d/%H}/{when:%Y%m%dT%H%M%SZ}_{rng.getrandbits(64):016x}.json.gz"
        p = s3 / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(("\n".join(json.dumps(_record(inv, spec, rng, None, False)) for inv in batch) + "\n").encode()))
    rec = _cw_pages(region, day, cw_invs)
    # the seed had no log-delivery metrics: drop them
    keep = [q for q in rec["get_metric_data"]["queries"] if q["MetricStat"]["Metric"]["Dimensions"]]
    ids = {q["Id"] for q in keep}
    rec["get_metric_data"]["queries"] = keep
    for page in rec["get_metric_data"]["pages"]:
        page["MetricDataResults"] = [r for r in page["MetricDataResults"] if r["Id"] in ids]
    (root / "cloudwatch" / region).mkdir(parents=True, exist_ok=True)
    (root / "cloudwatch" / region / f"{day}.json").write_text(json.dumps(rec))
    groups = [{"Keys": ["Amazon Bedrock", u], "Metrics": {"UnblendedCost": {"Amount": c, "Unit": "USD"},
                                                          "UsageQuantity": {"Amount": q, "Unit": "N/A"}}}
              for u, q, c in SEED_BILL]
    d1 = (d0 + dt.timedelta(days=1)).date().isoformat()
    ce = {"request": {"TimePeriod": {"Start": day, "End": d1}, "Granularity": "DAILY",
                      "Metrics": ["UnblendedCost", "UsageQuantity"],
                      "Filter": {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"]}},
                      "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}]},
          "pages": [{"ResultsByTime": [{"TimePeriod": {"Start": day, "End": d1}, "Groups": groups, "Estimated": False}]}]}
    (root / "costexplorer").mkdir(parents=True, exist_ok=True)
    (root / "costexplorer" / f"{day}.json").write_text(json.dumps(ce))
    return root

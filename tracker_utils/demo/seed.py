"""The seed's day: the write-up's us-east-1 day (2025-10-18) rebuilt as sources.

In: a root directory (and optionally account, bucket, prefix). Out: ``build_seed_day`` writes S3 logs (153
invocations), CloudWatch pages (170 invocations, no log-delivery metrics) and the Cost Explorer bill the write-up
showed, and returns the root. The 17 invocations the logs lack are those of one hour, 14:00 UTC, for which no log
object was delivered at all: CloudWatch counts 10 Claude 3 Haiku and 7 Claude Sonnet 4.5 calls in it.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import uuid
from collections import defaultdict
from pathlib import Path

from tracker_utils.demo.logs import _log_prefix, _record
from tracker_utils.demo.metrics import _cw_pages
from tracker_utils.demo.spec import DemoSpec, Inv
from tracker_utils.demo.traffic import _ceil5


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


MISSING_HOUR = 14                     # no log object was delivered for this hour
LOGGED_HOURS = [9, 10, 11, 12, 13, 15, 16, 17]


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
        # the logged calls, in hours 09-17 but 14 (CloudWatch counts them too), and the calls of 14:00 no log holds
        for (n, i_tot, o_tot), logged in (((ln, li, lo), True), ((cn - ln, ci - li, co - lo), False)):
            ins, outs = _split(i_tot, n), _split(o_tot, n)
            for k in range(n):
                hour = LOGGED_HOURS[k % len(LOGGED_HOURS)] if logged else MISSING_HOUR
                ts = d0 + dt.timedelta(hours=hour, minutes=k % 50, seconds=k % 60)   # delivered within the hour
                inv = Inv(ts=ts, region=region, model_id=model_id, base_model="", scope="", app="seed",
                          arn=f"arn:aws:sts::{account}:assumed-role/Seed-BedrockRole/s{k % 3}", operation="InvokeModel",
                          input_tokens=ins[k], output_tokens=outs[k], cache_read_tokens=0, cache_write_tokens=0,
                          request_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
                cw_invs.append(inv)
                if logged:
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

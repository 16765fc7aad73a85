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
- ``batch/<region>/<date>.json``: the ``ListModelInvocationJobs`` response for the day, and each finished job's
  ``manifest.json.out`` under ``s3/demo-batch-output/batch-jobs/<job id>/`` (one job's manifest is missing on
  purpose); a provisioned Nova Lite (``provisioned-model/...`` ARN) in the logs and its model-unit hours on the bill
  (:mod:`tracker_utils.demo.batch`).
- ``ground_truth.json``: what a correct pipeline must report for every date and region, in the ``summary.json``
  shape. It is computed here from the generator's own list of invocations (what really happened), not by the
  pipeline's code, so comparing the two is a real test.

Injected discrepancies, each with a known size: late log delivery (us-east-1, day 2, 14:00-15:00 UTC: part of the
records delivered after the collection time), a logging outage (ap-northeast-2, day 1, 09:00 UTC, with the S3
delivery-failure metric), throttled and failed calls (logged with an ``errorCode``, not counted as CloudWatch
invocations), Claude 3 Haiku billed in the Marketplace shape, a model the price book does not know
(``anthropic.claude-opus-5-5-20261101-v1:0``), a stale price (Nova Lite in Seoul billed 10% above the book), and usage
with no logs or metrics (a batch job and a ``bedrock-mantle`` call) on the bill.

Modules, in the order the demo is built: ``spec`` (constants, ``DemoSpec``, ``Inv``, the applications),
``traffic`` (the invocations), ``logs`` (S3 log files), ``metrics`` (CloudWatch pages), ``bill`` (Cost Explorer
pages and CUR rows), ``truth`` (the ground truth), ``build`` (``build_demo``) and ``seed`` (``build_seed_day``).
"""
from tracker_utils.demo.build import build_demo
from tracker_utils.demo.logs import write_logs
from tracker_utils.demo.seed import SEED_BILL, SEED_COUNTS, SEED_DAY, build_seed_day
from tracker_utils.demo.spec import (
    APP_PROFILE_ARN, APP_PROFILE_SOURCE, BILLING_NAMES, CACHE_MODELS, CANARY, FP_UNIT, MARKETPLACE, MP_UNIT, Q,
    REGION_CODE, SERVED_BY, TOKEN_KEYS, UNIT_OF, UNKNOWN_MODEL, UNKNOWN_MODEL_PRICES, DemoSpec, Inv,
)
from tracker_utils.demo.traffic import generate
from tracker_utils.demo.truth import ground_truth

__all__ = [
    "APP_PROFILE_ARN", "APP_PROFILE_SOURCE", "BILLING_NAMES", "CACHE_MODELS", "CANARY", "FP_UNIT", "MARKETPLACE",
    "MP_UNIT", "Q", "REGION_CODE", "SEED_BILL", "SEED_COUNTS", "SEED_DAY", "SERVED_BY", "TOKEN_KEYS", "UNIT_OF",
    "UNKNOWN_MODEL", "UNKNOWN_MODEL_PRICES", "DemoSpec", "Inv", "build_demo", "build_seed_day", "generate",
    "ground_truth", "write_logs",
]

"""Batch inference jobs and provisioned throughput in the demo account.

In: a ``DemoSpec``. Out:

- ``batch_jobs(spec)``: the jobs that really ran (name, role, model, tokens, records, times, whether the manifest
  exists); ``write_batch(root, spec, jobs)`` writes, per region and day, the recorded ``ListModelInvocationJobs``
  response (``batch/<region>/<date>.json``) and each finished job's ``manifest.json.out`` at the real S3 layout
  (``s3/<output bucket>/<prefix>/<job id>/manifest.json.out``). One job's manifest is missing on purpose: its bill
  stays ``unlogged_endpoint``.
- the provisioned model (``PROVISIONED``): an ARN the logs call, the model behind it (in
  ``params/inference_profiles.yaml``) and the model-unit hours the bill charges every day. The hourly rate is the
  demo's own figure, not a published price.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tracker_utils.demo.spec import PROVISIONED_ARN, DemoSpec

BATCH_BUCKET = "demo-batch-output"
BATCH_PREFIX = "batch-jobs"
BATCH_ROLE = "BedrockBatch-ServiceRole"
PROVISIONED = {"arn": PROVISIONED_ARN,
               "model": "amazon.nova-lite-v1:0", "region": "us-east-1", "model_units": 1,
               "usd_per_model_unit_hour": Decimal("0.1"),      # the demo's rate (invented)
               "usage_type": "USE1-NovaLite-ProvisionedThroughput-1Month-ModelUnits"}


def provisioned_arn(spec: DemoSpec) -> str:
    return PROVISIONED["arn"].format(account=spec.account)


@dataclass
class Job:
    name: str
    job_id: str
    model_id: str
    base_model: str
    scope: str
    submit: dt.datetime
    end: dt.datetime | None
    status: str
    input_tokens: int
    output_tokens: int
    records: int
    errors: int
    app: str                    # whose job it is (the apps.yaml rules name it from the job name)
    manifest: bool = True

    @property
    def day(self) -> str | None:
        return self.end.date().isoformat() if self.end else None


def batch_jobs(spec: DemoSpec) -> list[Job]:
    """us-east-1's jobs: day 2 one job; the last day two jobs with manifests, one whose manifest is missing, and one
    still running (listed, not of any day)."""
    if "us-east-1" not in spec.regions:
        return []
    d = [dt.datetime.combine(dt.date.fromisoformat(x), dt.time(0), tzinfo=dt.timezone.utc) for x in spec.dates]
    last, mid = d[-1], d[min(1, len(d) - 1)]
    lite, geo = "amazon.nova-lite-v1:0", "us.amazon.nova-lite-v1:0"
    h = dt.timedelta(hours=1)
    jobs = [
        Job(f"doc-summaries-{mid:%Y%m%d}", "b7k2m9x4p1q8", lite, lite, "in_region", mid - 3 * h, mid + 5.2 * h,
            "Completed", 500_000, 120_000, 250, 0, "DocSummarizer"),
        Job(f"doc-summaries-{last:%Y%m%d}", "c3n8v5z2r6t1", lite, lite, "in_region", last - 2 * h, last + 3.2 * h,
            "Completed", 1_600_000, 410_000, 800, 4, "DocSummarizer"),
        Job(f"triage-backfill-{last:%Y%m%d}", "d9w4e7y1u3i5", geo, lite, "geo", last + 1 * h, last + 6.5 * h,
            "PartiallyCompleted", 800_000, 200_000, 400, 11, "Triage"),
        Job(f"nightly-eval-{last:%Y%m%d}", "e2r5t8y1u4o7", lite, lite, "in_region", last + 2 * h, last + 9 * h,
            "Completed", 300_000, 90_000, 150, 0, f"role:{BATCH_ROLE}", manifest=False),
        Job(f"long-run-{last:%Y%m%d}", "f6g9h2j5k8l1", lite, lite, "in_region", last + 20 * h, None,
            "InProgress", 0, 0, 0, 0, f"role:{BATCH_ROLE}", manifest=False),
    ]
    if spec.account != DemoSpec.account:     # another account's jobs (an organization's member): ids of its own
        for j in jobs:
            j.job_id = hashlib.sha256(f"{spec.account}/{j.job_id}".encode()).hexdigest()[:12]
    return jobs


def _summary(spec: DemoSpec, j: Job) -> dict:
    arn = f"arn:aws:bedrock:us-east-1:{spec.account}:model-invocation-job/{j.job_id}"
    out = {"jobArn": arn, "jobName": j.name, "modelId": j.model_id,
           "roleArn": f"arn:aws:iam::{spec.account}:role/{BATCH_ROLE}", "status": j.status,
           "submitTime": j.submit.isoformat(), "lastModifiedTime": (j.end or j.submit).isoformat(),
           "inputDataConfig": {"s3InputDataConfig": {"s3InputFormat": "JSONL",
                                                     "s3Uri": f"s3://{BATCH_BUCKET}/inputs/{j.name}.jsonl"}},
           "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{BATCH_BUCKET}/{BATCH_PREFIX}/"}},
           "timeoutDurationInHours": 24}
    if j.end:
        out["endTime"] = j.end.isoformat()
    return out


def listing(spec: DemoSpec, jobs: list[Job], region: str, day: str) -> dict:
    """The ListModelInvocationJobs recording for a region and day: jobs submitted in the 7 days up to the day's end."""
    d0 = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=dt.timezone.utc)
    lo, hi = d0 - dt.timedelta(days=7), d0 + dt.timedelta(days=1)
    mine = [_summary(spec, j) for j in jobs if region == "us-east-1" and lo <= j.submit < hi]
    return {"request": {"submitTimeAfter": lo.isoformat(), "submitTimeBefore": hi.isoformat()},
            "pages": [{"invocationJobSummaries": mine}]}


def manifest(j: Job) -> dict:
    return {"totalRecordCount": j.records, "processedRecordCount": j.records, "successRecordCount": j.records - j.errors,
            "errorRecordCount": j.errors, "inputTokenCount": j.input_tokens, "outputTokenCount": j.output_tokens}


def write_batch(root: Path, spec: DemoSpec, jobs: list[Job], account_dir: bool = False) -> None:
    """The listings under ``batch/<region>/`` (``batch/<account>/<region>/`` for an organization's member, each
    account answering its own ListModelInvocationJobs) and the manifests in the shared output bucket."""
    for region in spec.regions:
        for day in spec.dates:
            p = Path(root) / "batch" / (spec.account if account_dir else "") / region / f"{day}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(listing(spec, jobs, region, day), indent=1))
    for j in jobs:
        if j.manifest and j.end:
            p = Path(root) / "s3" / BATCH_BUCKET / BATCH_PREFIX / j.job_id / "manifest.json.out"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(manifest(j)))


def jobs_of(jobs: list[Job], region: str, day: str) -> list[Job]:
    """The finished jobs that ended in ``region`` on ``day`` (what the bill charges that day)."""
    return [j for j in jobs if region == "us-east-1" and j.day == day]


def cost_lines_truth(spec: DemoSpec, region: str, day: str, jobs: list[Job], logs: list, bills: dict, book) -> dict:
    """What a correct pipeline says of the day's batch jobs and provisioned throughput: each job's tokens and cost
    at the book's batch price, and each application's exact share of the two cost lines (batch: its jobs' cost;
    provisioned: its tokens on the provisioned ARN over all tokens there)."""
    out_jobs, batch_apps = [], {}
    for j in sorted(jobs, key=lambda j: j.name):
        cost = sum((Decimal(n) * book.unit_price(j.base_model, region, j.scope, "batch", u, day) / 1000
                    for u, n in (("input", j.input_tokens), ("output", j.output_tokens)) if j.manifest), Decimal(0))
        out_jobs.append({"job_name": j.name, "app": j.app, "manifest_found": j.manifest,
                         "input_tokens": j.input_tokens if j.manifest else 0,
                         "output_tokens": j.output_tokens if j.manifest else 0, "cost_usd": str(cost)})
        if cost:
            batch_apps[j.app] = batch_apps.get(j.app, Decimal(0)) + cost
    arn = provisioned_arn(spec)
    billed = sum((c for _, _, _, c, t in bills.get(day, []) if t[0]["region"] == region
                  and t[0]["tier"] == "provisioned"), Decimal(0))
    tokens: dict[str, int] = {}
    for inv in logs:
        if inv.model_id == arn:
            tokens[inv.app] = tokens.get(inv.app, 0) + inv.input_tokens + inv.output_tokens \
                + inv.cache_read_tokens + inv.cache_write_tokens
    total = sum(tokens.values())
    prov = {a: str(billed * n / total) for a, n in sorted(tokens.items())} if total else {}
    return {"batch": {"jobs": out_jobs, "app_shares": {a: str(v) for a, v in sorted(batch_apps.items())}},
            "provisioned": {"billed_usd": str(billed), "tokens": dict(sorted(tokens.items())), "app_shares": prov}}

"""Batch inference jobs as a source: the jobs of the day (``bedrock:ListModelInvocationJobs``) and each job's output
manifest (``manifest.json.out``), the only record of a batch job's tokens (batch jobs are never in the invocation logs).

- **Listing** (ListModelInvocationJobs, every page): ``invocationJobSummaries[]`` with ``jobArn``, ``jobName``,
  ``modelId``, ``roleArn``, ``status``, ``submitTime``, ``endTime`` and
  ``outputDataConfig.s3OutputDataConfig.s3Uri``. Requested with ``submitTimeAfter`` = the day's start minus 7 days
  (a job runs at most ``timeoutDurationInHours`` = 168 h) and ``submitTimeBefore`` = the day's end.
- **A job of the day** is one whose ``endTime`` falls in the UTC day [U: that the bill dates a job's tokens on the
  day it ends is an assumption; a job spanning midnight is counted once, on its last day]. Jobs still running, or
  ``Failed`` (no output), are counted and not read.
- **Manifest**: ``<s3Uri>/<job id>/manifest.json.out`` (the job id is the last part of ``jobArn``), JSON
  ``{totalRecordCount, processedRecordCount, successRecordCount, errorRecordCount, inputTokenCount,
  outputTokenCount}``. A missing or unreadable manifest is counted and named (its tokens stay unexplained by any
  manifest: the bill's batch line keeps them as ``unlogged_endpoint``), never guessed.

Locally (``source: local``/``demo``) the listing is the recorded response ``batch/<region>/<date>.json``
(``{"request": ..., "pages": [...]}``, the layout of ``cloudwatch/`` and ``costexplorer/``) and the manifests are
files at their S3 keys under ``s3/<bucket>/``. From AWS the listing is kept under ``data/raw/batch/`` the same way.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

LOOKBACK = dt.timedelta(days=7)
FINISHED = ("Completed", "PartiallyCompleted", "Stopped", "Expired")      # statuses that leave a manifest
MANIFEST = "manifest.json.out"
MANIFEST_FIELDS = {"totalRecordCount": "records_total", "processedRecordCount": "records_processed",
                   "successRecordCount": "records_success", "errorRecordCount": "records_error",
                   "inputTokenCount": "input_tokens", "outputTokenCount": "output_tokens"}
COLUMNS = ["job_arn", "job_id", "job_name", "model_id", "role_arn", "status", "submit_time", "end_time",
           "manifest_uri", "manifest_found", *MANIFEST_FIELDS.values()]


def _aware(t) -> dt.datetime | None:
    if t is None or t == "":
        return None
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def listing_request(day: dt.date) -> dict:
    """The ListModelInvocationJobs parameters for the jobs that can end on ``day``."""
    d0 = dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc)
    return {"submitTimeAfter": (d0 - LOOKBACK).isoformat(), "submitTimeBefore": (d0 + dt.timedelta(days=1)).isoformat()}


def manifest_location(job: dict) -> tuple[str, str]:
    """(bucket, key) of a job's ``manifest.json.out``: ``<output s3Uri>/<job id>/manifest.json.out``."""
    uri = (((job.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}).get("s3Uri") or "")
    if not uri.startswith("s3://"):
        raise ValueError(f"job {job.get('jobName')!r}: no s3:// output location")
    bucket, _, prefix = uri[5:].partition("/")
    job_id = str(job.get("jobArn", "")).rsplit("/", 1)[-1]
    return bucket, "/".join(p for p in (prefix.strip("/"), job_id, MANIFEST) if p)


def parse_manifest(data: bytes, where: str) -> dict:
    """The manifest's counts as the frame's columns; a field that is missing counts 0, a bad value raises."""
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise ValueError(f"{where}: not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: not a JSON object")
    out = {}
    for field, col in MANIFEST_FIELDS.items():
        v = doc.get(field, 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{where}: {field} = {v!r} is not a non-negative integer")
        out[col] = v
    return out


def jobs_of_day(pages: list[dict], day: dt.date) -> tuple[list[dict], dict]:
    """The finished jobs that ended on ``day``, and counts of what was listed."""
    d0 = dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc)
    d1 = d0 + dt.timedelta(days=1)
    listed, out, unfinished, failed = 0, [], 0, 0
    for page in pages:
        for job in page.get("invocationJobSummaries", []) or []:
            listed += 1
            end = _aware(job.get("endTime"))
            if end is None or not d0 <= end < d1:
                unfinished += end is None
                continue
            if job.get("status") not in FINISHED:
                failed += 1
                continue
            out.append(job)
    return out, {"jobs_listed": listed, "jobs_of_day": len(out), "jobs_not_ended": unfinished,
                 "jobs_failed_that_day": failed}


def frame(jobs: list[dict], read_manifest) -> tuple[pd.DataFrame, dict]:
    """One row per job of the day with its manifest's counts. ``read_manifest(bucket, key) -> bytes | None``
    (None: no such object). Missing and bad manifests are counted and named, with a one-line message each."""
    rows, missing, bad = [], [], []
    for job in jobs:
        row = {"job_arn": job.get("jobArn", ""), "job_id": str(job.get("jobArn", "")).rsplit("/", 1)[-1],
               "job_name": job.get("jobName", ""), "model_id": job.get("modelId", ""),
               "role_arn": job.get("roleArn", ""), "status": job.get("status", ""),
               "submit_time": str(_aware(job.get("submitTime")) or ""), "end_time": str(_aware(job.get("endTime"))),
               "manifest_uri": "", "manifest_found": False, **{c: 0 for c in MANIFEST_FIELDS.values()}}
        try:
            bucket, key = manifest_location(job)
            row["manifest_uri"] = f"s3://{bucket}/{key}"
            data = read_manifest(bucket, key)
            if data is None:
                missing.append(row["job_name"])
                log.warning("batch job %s: no manifest at %s", row["job_name"], row["manifest_uri"])
            else:
                row.update(parse_manifest(data, row["manifest_uri"]), manifest_found=True)
        except ValueError as e:
            bad.append(f"{row['job_name']}: {e}"[:300])
            log.warning("batch job %s: %s", row["job_name"], e)
        rows.append(row)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df = df.astype({c: "int64" for c in MANIFEST_FIELDS.values()} | {"manifest_found": bool})
    return df, {"manifests_read": int(df["manifest_found"].sum()), "manifests_missing": sorted(missing),
                "manifests_bad": bad}


# --- sources ------------------------------------------------------------------------------------------------------
def local_recording(root: Path, region: str, date: str, account: str = "") -> dict | None:
    """The recorded ListModelInvocationJobs response of a local folder (``batch/<region>/<date>.json``, or an
    organization member's ``batch/<account>/<region>/<date>.json``), or None when there is none."""
    base = Path(root) / "batch"
    if account and (base / account).is_dir():
        base = base / account
    p = base / region / f"{date}.json"
    return json.loads(p.read_text()) if p.exists() else None


def local_reader(root: Path):
    """Reads manifests from ``<root>/s3/<bucket>/<key>`` (the demo's copy of S3)."""
    base = (Path(root) / "s3").resolve()

    def read(bucket: str, key: str) -> bytes | None:
        p = (base / bucket / key).resolve()
        if base not in p.parents:
            raise ValueError(f"s3://{bucket}/{key}: outside the local S3 folder")
        return p.read_bytes() if p.is_file() else None
    return read


# the listing's answers where the endpoint (an emulator, a region without batch inference) does not serve it
UNAVAILABLE = {"UnknownOperationException", "UnknownOperation", "NotFound", "404", "InvalidAction"}


class ListingUnavailable(RuntimeError):
    """ListModelInvocationJobs is not served where the kit asked: recorded like a denial, and collect goes on."""


def fetch_listing(ctx, day: dt.date) -> dict:
    """ListModelInvocationJobs, every page, as a recording (timestamps as ISO strings)."""
    from tracker_utils.collect.aws import aws_errors, explain
    req = listing_request(day)
    client = ctx.client("bedrock")
    pages = []
    try:
        for page in client.get_paginator("list_model_invocation_jobs").paginate(
                submitTimeAfter=_aware(req["submitTimeAfter"]), submitTimeBefore=_aware(req["submitTimeBefore"])):
            page.pop("ResponseMetadata", None)
            pages.append(json.loads(json.dumps(page, default=lambda o: o.isoformat())))
    except aws_errors() as e:
        resp = getattr(e, "response", None) or {}
        code = str((resp.get("Error") or {}).get("Code", ""))
        if resp.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404 or code in UNAVAILABLE:
            raise ListingUnavailable(f"{code or 'HTTP 404'}: bedrock:ListModelInvocationJobs is not served at this "
                                     f"endpoint or region; batch jobs were not read") from None
        raise explain(e, "bedrock", "ListModelInvocationJobs") from None
    return {"request": req, "pages": pages}


def aws_reader(ctx):
    """Reads manifests with s3:GetObject; a missing object (NoSuchKey) is None."""
    from tracker_utils.collect.s3 import get_object_bytes

    def read(bucket: str, key: str) -> bytes | None:
        client = ctx.client("s3")
        try:
            return get_object_bytes(client, bucket, key, attempts=ctx.max_attempts)
        except client.exceptions.NoSuchKey:
            return None
        except Exception as e:  # noqa: BLE001 - explain() wraps it; a 404 without NoSuchKey is still missing
            if "NoSuchKey" in str(e) or "Not Found" in str(e) or "404" in str(e):
                return None
            raise
    return read


def collect(recording: dict | None, day: dt.date, read_manifest) -> tuple[pd.DataFrame, dict]:
    """The jobs of the day and their manifests, and what the collection saw (``data_quality["batch"]``)."""
    if recording is None:
        return pd.DataFrame(columns=COLUMNS), {"recorded": False}
    jobs, counts = jobs_of_day(recording.get("pages", []), day)
    df, seen = frame(jobs, read_manifest)
    return df, {"recorded": True, **counts, **seen}

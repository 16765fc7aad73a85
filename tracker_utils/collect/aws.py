"""Collect from a real AWS account: S3 invocation logs, CloudWatch ``AWS/Bedrock`` metrics, Cost Explorer, CUR files.

Everything here returns the same shapes the local (demo) path reads from disk, so the rest of the chain cannot tell
the two apart: :func:`list_log_objects` gives :class:`~tracker_utils.collect.logs.LogObject` s, :func:`fetch_cloudwatch`
and :func:`fetch_cost_explorer` give the recorded dicts of ``cloudwatch/<region>/<date>.json`` and
``costexplorer/<date>.json``. Every listing and result is read to its last page.

Credentials: the standard boto3 chain (``params.profile`` or ``AWS_PROFILE``, environment, SSO, instance role).
Endpoint: ``params.endpoint_url`` or ``AWS_ENDPOINT_URL`` (an emulator such as moto). Retries: botocore "standard"
mode with ``params.max_attempts`` (throttling and 5xx are retried with backoff); an object whose body breaks off
mid-transfer is fetched again by :func:`get_object_bytes`.

A missing permission or expired credentials raise :class:`AwsAccessError` with one line naming the IAM action
(``AccessDenied: the kit needs s3:ListBucket on arn:aws:s3:::my-bucket``); ``docs/iam-policy.json`` lists every
action the kit calls.

Operation log: set ``BEDROCK_TRACKER_AWS_CALL_LOG=/path/file`` and every AWS operation made is appended to that file
as ``<service> <Operation>`` (a least-privilege audit; the tests use it).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import threading
import time
import weakref
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tracker_utils.collect import cloudwatch as cwsrc
from tracker_utils.collect import logs as logsrc

CALL_LOG_ENV = "BEDROCK_TRACKER_AWS_CALL_LOG"
CE_REGION = "us-east-1"                       # Cost Explorer's only endpoint
CE_CLOSED_AFTER = dt.timedelta(hours=48)      # a day's costs are final-ish this long after it ends (see fetch_cost_explorer)
GMD_MAX_QUERIES = 500                         # GetMetricData limit per request
LIST_THREADS = 8                              # hour prefixes listed at once
GET_THREADS = 16                              # log objects downloaded at once
PREFETCH_WINDOW = 64                          # objects downloaded ahead of the reader (bounds memory)

# (test hooks) extra botocore event handlers registered on every session the kit creates: [(event name, handler)]
EVENT_HOOKS: list[tuple[str, Callable]] = []

# botocore service name -> IAM prefix (CloudWatch signs as "monitoring" but its IAM prefix is "cloudwatch")
IAM_PREFIX = {"s3": "s3", "cloudwatch": "cloudwatch", "ce": "ce", "athena": "athena", "glue": "glue",
              "pricing": "pricing", "bedrock": "bedrock", "sts": "sts"}
# operations whose IAM action is not "<prefix>:<Operation>"
IAM_ACTION_OVERRIDES = {("s3", "ListObjectsV2"): "s3:ListBucket", ("s3", "ListObjects"): "s3:ListBucket",
                        ("s3", "HeadObject"): "s3:GetObject", ("s3", "HeadBucket"): "s3:ListBucket",
                        ("sts", "GetCallerIdentity"): "sts:GetCallerIdentity"}

ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
                 "UnauthorizedException", "Forbidden", "403"}
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
BAD_CREDENTIALS = {"InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId",
                   "SignatureDoesNotMatch", "InvalidSignatureException", "IncompleteSignature",
                   "AuthFailure", "MissingAuthenticationToken"}


class AwsAccessError(RuntimeError):
    """One line a person can act on: the IAM action that is missing, or the credentials that expired."""


def aws_errors() -> tuple:
    """Service errors and credential failures (what :func:`explain` can turn into an :class:`AwsAccessError`)."""
    from botocore import exceptions as be
    return (be.ClientError, be.NoCredentialsError, be.PartialCredentialsError, be.CredentialRetrievalError,
            be.TokenRetrievalError, be.SSOTokenLoadError, be.UnauthorizedSSOTokenError)


def iam_action(service: str, operation: str) -> str:
    """The IAM action a botocore ``service``/``operation`` needs (``("s3", "ListObjectsV2")`` -> ``s3:ListBucket``)."""
    return IAM_ACTION_OVERRIDES.get((service, operation)) or f"{IAM_PREFIX.get(service, service)}:{operation}"


def explain(exc: BaseException, service: str, operation: str, resource: str = "*") -> BaseException:
    """Turn an access or credential failure into :class:`AwsAccessError`; anything else is returned unchanged."""
    from botocore import exceptions as be
    if isinstance(exc, AwsAccessError):
        return exc
    if isinstance(exc, (be.NoCredentialsError, be.PartialCredentialsError)):
        return AwsAccessError("NoCredentials: no AWS credentials found (set AWS_PROFILE / params.profile, run "
                              "`aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    if isinstance(exc, (be.TokenRetrievalError, be.SSOTokenLoadError, be.UnauthorizedSSOTokenError,
                        be.CredentialRetrievalError)):
        return AwsAccessError(f"ExpiredCredentials: the AWS SSO session has expired or is missing; run `aws sso login` "
                              f"({type(exc).__name__})")
    if isinstance(exc, be.ProfileNotFound):
        return AwsAccessError(f"ProfileNotFound: {exc}")
    if isinstance(exc, be.ClientError):
        err = exc.response.get("Error", {}) or {}
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        action = iam_action(service, operation)
        if code in EXPIRED or ("expired" in str(err.get("Message", "")).lower() and code in BAD_CREDENTIALS):
            return AwsAccessError(f"ExpiredToken: the AWS credentials have expired (refresh them, e.g. `aws sso login`, "
                                  f"and run again); failed on {action}")
        if code in BAD_CREDENTIALS:
            return AwsAccessError(f"{code}: the AWS credentials are not valid for this account/endpoint; failed on {action}")
        if code in ACCESS_DENIED or (status == 403 and code not in EXPIRED):
            return AwsAccessError(f"AccessDenied: the kit needs {action} on {resource}")
    return exc


@dataclass
class AwsContext:
    """A boto3 session and what the kit reads with it, for one region."""

    session: Any
    region: str
    account: str
    bucket: str
    prefix: str
    endpoint_url: str | None
    max_attempts: int = 8
    profile: str = ""
    _clients: dict = field(default_factory=dict, repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_params(cls, params, region: str) -> "AwsContext":
        return cls.create(region=region, account=params.account, bucket=params.logs_bucket, prefix=params.logs_prefix,
                          endpoint_url=params.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
                          profile=params.profile, max_attempts=params.max_attempts)

    @classmethod
    def create(cls, region: str, account: str = "", bucket: str = "", prefix: str = "", endpoint_url: str | None = None,
               profile: str = "", max_attempts: int = 8) -> "AwsContext":
        import boto3
        from botocore import exceptions as be
        try:
            session = boto3.Session(profile_name=profile or None, region_name=region)
        except be.ProfileNotFound as e:
            raise AwsAccessError(f"ProfileNotFound: {e}") from None
        events = session.events
        for name, handler in EVENT_HOOKS:
            events.register(name, handler)
        if os.environ.get(CALL_LOG_ENV):
            events.register("before-call", _CallLog(os.environ[CALL_LOG_ENV]))
        return cls(session=session, region=region, account=account, bucket=bucket, prefix=prefix,
                   endpoint_url=endpoint_url or None, max_attempts=max(1, int(max_attempts)), profile=profile)

    def spec(self) -> dict:
        """Picklable description (a worker process builds its own session from it)."""
        return {"region": self.region, "account": self.account, "bucket": self.bucket, "prefix": self.prefix,
                "endpoint_url": self.endpoint_url, "profile": self.profile, "max_attempts": self.max_attempts}

    def client(self, service: str, region: str | None = None):
        """One client per service and region (botocore clients are thread-safe; sessions are not)."""
        region = region or self.region
        key = (service, region)
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                from botocore.config import Config
                kw: dict = {"retries": {"mode": "standard", "max_attempts": self.max_attempts},
                            "max_pool_connections": max(GET_THREADS, LIST_THREADS) + 4,
                            "connect_timeout": 10, "read_timeout": 60}
                if service == "s3" and self.endpoint_url:
                    kw["s3"] = {"addressing_style": "path"}
                c = self.session.client(service, region_name=region, endpoint_url=self.endpoint_url, config=Config(**kw))
                self._clients[key] = c
            return c


class _CallLog:
    """``before-call`` handler appending ``<service> <Operation>`` lines to a file (least-privilege audit)."""

    def __init__(self, path: str):
        self.path = path

    def __call__(self, model=None, **_):
        if model is not None:
            with open(self.path, "a") as f:
                f.write(f"{model.service_model.service_name} {model.name}\n")


def _jsonable(o):
    """A boto3 response as plain JSON values (datetimes as ISO strings, no ResponseMetadata)."""
    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items() if k != "ResponseMetadata"}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, dt.datetime):
        if o.tzinfo is None:
            o = o.replace(tzinfo=dt.timezone.utc)
        return o.astimezone(dt.timezone.utc).isoformat()
    if isinstance(o, dt.date):
        return o.isoformat()
    return o


# ---------------------------------------------------------------------------------------------------------------------
# S3 invocation logs
# ---------------------------------------------------------------------------------------------------------------------
_RETRY_BODY_ERRORS: tuple | None = None


def _body_errors() -> tuple:
    """Exceptions that mean "the connection broke while the body was streaming": worth a fresh GET."""
    global _RETRY_BODY_ERRORS
    if _RETRY_BODY_ERRORS is None:
        from botocore import exceptions as be
        import urllib3.exceptions as ue
        _RETRY_BODY_ERRORS = (be.ResponseStreamingError, be.IncompleteReadError, be.ReadTimeoutError,
                              be.ConnectionClosedError, be.EndpointConnectionError, be.ConnectionError,
                              ue.ProtocolError, ue.ReadTimeoutError, ConnectionError, TimeoutError, _ShortBody)
    return _RETRY_BODY_ERRORS


class _ShortBody(IOError):
    pass


def get_object_bytes(client, bucket: str, key: str, attempts: int = 8) -> bytes:
    """GET one object, whole. A body cut off mid-transfer (reset, timeout, short read) is fetched again."""
    errors = _body_errors()
    for attempt in range(1, attempts + 1):
        try:
            resp = client.get_object(Bucket=bucket, Key=key)
            data = resp["Body"].read()
            want = resp.get("ContentLength")
            if want is not None and len(data) != int(want):
                raise _ShortBody(f"{key}: got {len(data)} of {want} bytes")
            return data
        except aws_errors() as e:
            raise explain(e, "s3", "GetObject", f"arn:aws:s3:::{bucket}/{key}") from None
        except errors:
            if attempt == attempts:
                raise
            time.sleep(min(5.0, 0.1 * 2 ** (attempt - 1)) * (0.5 + random.random()))
    raise AssertionError("unreachable")


_WORKER_CONTEXTS: dict[tuple, AwsContext] = {}


class _Prefetcher:
    """Downloads log objects on a thread pool a bounded window ahead of the (sequential) reader."""

    def __init__(self, ctx: AwsContext, keys: list[str], threads: int = GET_THREADS, window: int = PREFETCH_WINDOW):
        self.ctx, self.keys, self.window = ctx, keys, window
        self.index = {k: i for i, k in enumerate(keys)}
        self.futures: dict[str, Any] = {}
        self.submitted = 0
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="s3-get")
        self.client = ctx.client("s3")
        weakref.finalize(self, self.pool.shutdown, wait=False, cancel_futures=True)

    def _submit(self, key: str):
        return self.pool.submit(get_object_bytes, self.client, self.ctx.bucket, key, self.ctx.max_attempts)

    def get(self, key: str) -> bytes:
        i = self.index.get(key)
        with self.lock:
            if i is not None:
                upto = min(len(self.keys), max(self.submitted, i) + self.window)
                for j in range(max(self.submitted, i), upto):
                    k = self.keys[j]
                    if k not in self.futures:
                        self.futures[k] = self._submit(k)
                self.submitted = max(self.submitted, upto)
            fut = self.futures.pop(key, None)
        if fut is None:
            return get_object_bytes(self.client, self.ctx.bucket, key, self.ctx.max_attempts)
        return fut.result()


class S3Reader:
    """``LogObject.read``: the object's bytes. Picklable: in another process it opens its own session."""

    def __init__(self, spec: dict, key: str, prefetcher: "_Prefetcher | None" = None):
        self.spec, self.key, self.prefetcher = spec, key, prefetcher

    def __getstate__(self):          # the thread pool stays in this process
        return {"spec": self.spec, "key": self.key, "prefetcher": None}

    def __call__(self) -> bytes:
        if self.prefetcher is not None:
            return self.prefetcher.get(self.key)
        k = tuple(sorted(self.spec.items()))
        ctx = _WORKER_CONTEXTS.get(k)
        if ctx is None:
            ctx = _WORKER_CONTEXTS[k] = AwsContext.create(**self.spec)
        return get_object_bytes(ctx.client("s3"), self.spec["bucket"], self.key, self.spec["max_attempts"])


def _list_prefix(client, bucket: str, prefix: str) -> tuple[list[dict], list[str]]:
    """Every object and sub-folder directly under ``prefix`` (all pages)."""
    contents, folders = [], []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            contents.extend(page.get("Contents", []) or [])
            folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", []) or [])
    except aws_errors() as e:
        raise explain(e, "s3", "ListObjectsV2", f"arn:aws:s3:::{bucket}") from None
    return contents, folders


def list_log_objects(ctx: AwsContext, day: dt.date, after_hours: int) -> tuple[list[logsrc.LogObject], dict]:
    """List every log batch of the day's hour folders and ``after_hours`` more (records are filed by delivery time).

    Each hour folder is listed with a delimiter, to its last page; ``data/`` sidecar folders and anything that is not
    a ``.json.gz`` batch are counted in the returned ``skipped`` dict (same keys as the local reader). The objects'
    ``read`` downloads them on a shared thread pool, ahead of the reader.
    """
    base = logsrc.log_base(ctx.prefix, ctx.account, ctx.region)
    client = ctx.client("s3")
    prefixes = logsrc.hour_prefixes(base, day, after_hours)
    with ThreadPoolExecutor(max_workers=LIST_THREADS, thread_name_prefix="s3-list") as ex:
        listed = list(ex.map(lambda p: _list_prefix(client, ctx.bucket, p), prefixes))
    found, skipped = [], Counter()
    for pfx, (contents, folders) in zip(prefixes, listed):
        for f in folders:
            skipped["data_sidecar_folder" if f.rstrip("/").rsplit("/", 1)[-1] == "data" else "folder"] += 1
        for o in contents:
            key = o["Key"]
            if key.endswith("/"):
                skipped["folder"] += 1
                continue
            if not logsrc.is_log_key(key):
                name = key.rsplit("/", 1)[-1]
                skipped["permission_check" if name == logsrc.PERMISSION_CHECK else "not_a_log_file"] += 1
                continue
            lm = o.get("LastModified") or dt.datetime.now(dt.timezone.utc)
            if lm.tzinfo is None:
                lm = lm.replace(tzinfo=dt.timezone.utc)
            found.append((key, int(o.get("Size", 0)), logsrc.delivered_at_from_key(key, lm.astimezone(dt.timezone.utc)),
                          str(o.get("ETag", "")).strip('"')))
    found.sort(key=lambda x: x[0])
    pf = _Prefetcher(ctx, [f[0] for f in found]) if found else None
    spec = ctx.spec()
    objs = [logsrc.LogObject(key=k, size=s, delivered_at=d, etag=e, read=S3Reader(spec, k, pf))
            for k, s, d, e in found]
    return objs, dict(skipped)


# ---------------------------------------------------------------------------------------------------------------------
# CloudWatch AWS/Bedrock
# ---------------------------------------------------------------------------------------------------------------------
def fetch_cloudwatch(ctx: AwsContext, day: dt.date) -> dict:
    """Hourly Sum of every ``AWS/Bedrock`` usage and delivery metric ListMetrics finds, for one day.

    No model list is hard-coded: ListMetrics (every page) names the ModelIds, both spellings of the cache metrics
    (``CacheReadInputTokenCount`` / ``CacheReadInputTokens``) are accepted, queries go in batches of at most 500 and
    every GetMetricData ``NextToken`` page is read (the pages of one request are merged, see
    :func:`merge_metric_data_pages`). Returns the recorded form the demo holds (ISO strings for times).
    Note: ListMetrics only returns metrics with data points in the last two weeks; collect a day within 14 days (the
    raw record in ``data/raw/`` keeps it replayable afterwards).
    """
    cw = ctx.client("cloudwatch")
    t0, t1 = cwsrc.day_window(day)
    lm_pages = []
    try:
        for page in cw.get_paginator("list_metrics").paginate(Namespace="AWS/Bedrock"):
            lm_pages.append(_jsonable(page))
    except aws_errors() as e:
        raise explain(e, "cloudwatch", "ListMetrics") from None
    queries = cwsrc.metric_queries(lm_pages)
    pages = []
    try:
        for i in range(0, len(queries), GMD_MAX_QUERIES):
            batch = queries[i:i + GMD_MAX_QUERIES]
            raw = [_jsonable(page) for page in cw.get_paginator("get_metric_data").paginate(
                MetricDataQueries=batch, StartTime=t0, EndTime=t1, ScanBy="TimestampDescending")]
            pages.append(merge_metric_data_pages(raw))
    except aws_errors() as e:
        raise explain(e, "cloudwatch", "GetMetricData") from None
    return {"region": ctx.region, "date": day.isoformat(), "namespace": "AWS/Bedrock", "period": 3600,
            "start": t0.isoformat(), "end": t1.isoformat(), "list_metrics": lm_pages,
            "get_metric_data": {"queries": queries, "pages": pages}}


def merge_metric_data_pages(pages: list[dict]) -> dict:
    """The NextToken pages of one GetMetricData request as one page.

    A series cut by a page boundary comes back with ``StatusCode: PartialData`` and continues under the same Id on the
    next page; merged, it carries the status of its last piece (``Complete`` when every page was read), which is what
    :func:`tracker_utils.collect.cloudwatch.parse_metric_data` checks. ``pages_read`` keeps the raw page count.
    """
    merged: dict[str, dict] = {}
    messages: list = []
    for page in pages:
        messages.extend(page.get("Messages", []) or [])
        for res in page.get("MetricDataResults", []) or []:
            m = merged.get(res["Id"])
            if m is None:
                m = merged[res["Id"]] = {"Id": res["Id"], "Label": res.get("Label", ""), "Timestamps": [], "Values": [],
                                         "StatusCode": "Complete"}
            m["Timestamps"].extend(res.get("Timestamps", []) or [])
            m["Values"].extend(res.get("Values", []) or [])
            m["StatusCode"] = res.get("StatusCode", "Complete")
            if res.get("Messages"):
                m.setdefault("Messages", []).extend(res["Messages"])
    return {"MetricDataResults": list(merged.values()), "Messages": messages, "pages_read": len(pages)}


# ---------------------------------------------------------------------------------------------------------------------
# Cost Explorer
# ---------------------------------------------------------------------------------------------------------------------
def ce_day_closed(day: dt.date, at: dt.datetime) -> bool:
    """A day's Cost Explorer figures are treated as final once it ended more than 48 hours before ``at``."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=dt.timezone.utc)
    return at >= end + CE_CLOSED_AFTER


def cost_explorer_request(day: dt.date, services: list[str]) -> dict:
    """The GetCostAndUsage request: one day, DAILY, cost and quantity, by SERVICE and USAGE_TYPE, Bedrock only."""
    d1 = day + dt.timedelta(days=1)
    return {"TimePeriod": {"Start": day.isoformat(), "End": d1.isoformat()}, "Granularity": "DAILY",
            "Metrics": ["UnblendedCost", "UsageQuantity"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            "Filter": {"Dimensions": {"Key": "SERVICE", "Values": services}}}


def bedrock_services(ctx: AwsContext, day: dt.date) -> list[str]:
    """Every SERVICE value of the day that is Bedrock: ``Amazon Bedrock`` (always), ``Amazon Bedrock Service`` and
    each ``<Model> (Amazon Bedrock Edition)`` (Marketplace), found with GetDimensionValues (every page)."""
    return _discover_services(ctx, day)[0]


def _discover_services(ctx: AwsContext, day: dt.date) -> tuple[list[str], int]:
    from tracker_utils.usage_types import is_bedrock_service
    ce = ctx.client("ce", CE_REGION)
    kw = {"TimePeriod": {"Start": day.isoformat(), "End": (day + dt.timedelta(days=1)).isoformat()},
          "Dimension": "SERVICE", "SearchString": "Bedrock", "Context": "COST_AND_USAGE"}
    found = {"Amazon Bedrock"}
    token, calls = None, 0
    try:
        while True:
            calls += 1
            resp = ce.get_dimension_values(**kw, **({"NextPageToken": token} if token else {}))
            found.update(v["Value"] for v in resp.get("DimensionValues", []) if is_bedrock_service(v.get("Value")))
            token = resp.get("NextPageToken")
            if not token:
                break
    except aws_errors() as e:
        raise explain(e, "ce", "GetDimensionValues") from None
    return sorted(found), calls


def fetch_cost_explorer(ctx: AwsContext, day: dt.date, cache_dir: Path, now: dt.datetime | None = None) -> dict:
    """The day's Bedrock bill from Cost Explorer: ``{"request": ..., "pages": [...], "fetched_at": ...}``.

    Each Cost Explorer request costs $0.01, so raw responses are cached in ``cache_dir/costexplorer/<date>.json``.
    Cache rule: a day is *closed* when it ended more than 48 hours ago; a cached response is reused if it was
    fetched after the day closed, or less than 15 minutes ago (another region's run of the same day). Anything else (no cache, or a cache taken while the day was still open and costs
    could still move) is fetched again (about 2-3 requests: the SERVICE discovery and the pages).
    """
    from tracker_utils.io import read_json, write_json
    now = now or dt.datetime.now(dt.timezone.utc)
    path = Path(cache_dir) / "costexplorer" / f"{day.isoformat()}.json"
    if path.exists():
        try:
            cached = read_json(path)
            fetched = dt.datetime.fromisoformat(str(cached.get("fetched_at", "")).replace("Z", "+00:00"))
            if fetched.tzinfo is None:
                fetched = fetched.replace(tzinfo=dt.timezone.utc)
            fresh = now - fetched < dt.timedelta(minutes=15)     # fetched moments ago, e.g. by another region's run
            if (ce_day_closed(day, fetched) or fresh) and cached.get("pages") is not None and cached.get("request"):
                cached["from_cache"] = True
                return cached
        except (ValueError, TypeError, OSError):
            pass        # unreadable or no fetched_at: fetch again
    services, discovery_calls = _discover_services(ctx, day)
    request = cost_explorer_request(day, services)
    ce = ctx.client("ce", CE_REGION)
    pages, token = [], None
    try:
        while True:
            resp = ce.get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
            pages.append(_jsonable(resp))
            token = resp.get("NextPageToken")
            if not token:
                break
    except aws_errors() as e:
        raise explain(e, "ce", "GetCostAndUsage") from None
    rec = {"request": request, "pages": pages, "fetched_at": now.isoformat(timespec="seconds"), "scope": "all",
           "closed": ce_day_closed(day, now), "requests_made": len(pages) + discovery_calls}
    write_json(path, rec)
    return rec


# ---------------------------------------------------------------------------------------------------------------------
# CUR 2.0 data exports
# ---------------------------------------------------------------------------------------------------------------------
def _split_s3(uri: str) -> tuple[str, str]:
    m = re.fullmatch(r"s3://([^/]+)/?(.*)", uri)
    if not m:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return m.group(1), m.group(2)


def fetch_cur(ctx: AwsContext, s3_uri: str, dest: Path) -> list[Path]:
    """Download the CUR 2.0 export files (``.parquet``, ``.csv.gz``, ``.csv``) under ``s3_uri`` into ``dest``.

    Every listing page is read; a file already downloaded with the same size and ETag is not fetched again.
    Returns the local paths, sorted (for :func:`tracker_utils.collect.bill.read_cur`).
    """
    bucket, prefix = _split_s3(s3_uri)
    client = ctx.client("s3")
    objs = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []) or []:
                if o["Key"].endswith((".parquet", ".csv.gz", ".csv")):
                    objs.append(o)
    except aws_errors() as e:
        raise explain(e, "s3", "ListObjectsV2", f"arn:aws:s3:::{bucket}") from None
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / ".etags.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}

    def one(o) -> Path:
        rel = o["Key"][len(prefix):].lstrip("/") if o["Key"].startswith(prefix) else o["Key"]
        parts = [p for p in rel.split("/") if p not in ("", ".", "..")]
        local = dest.joinpath(*parts) if parts else dest / o["Key"].rsplit("/", 1)[-1]
        etag = str(o.get("ETag", "")).strip('"')
        if local.exists() and local.stat().st_size == o.get("Size") and manifest.get(str(local)) == etag:
            return local
        data = get_object_bytes(client, bucket, o["Key"], ctx.max_attempts)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, local)
        manifest[str(local)] = etag
        return local

    with ThreadPoolExecutor(max_workers=GET_THREADS, thread_name_prefix="cur-get") as ex:
        paths = list(ex.map(one, objs))
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    if not paths:
        raise FileNotFoundError(f"no CUR .parquet / .csv.gz files under {s3_uri}")
    return sorted(paths)


__all__ = ["AwsAccessError", "AwsContext", "EVENT_HOOKS", "S3Reader", "bedrock_services", "ce_day_closed",
           "cost_explorer_request", "explain", "fetch_cloudwatch", "fetch_cost_explorer", "fetch_cur",
           "get_object_bytes", "iam_action", "list_log_objects", "merge_metric_data_pages"]

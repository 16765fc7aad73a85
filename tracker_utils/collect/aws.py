"""Collect from a real AWS account: S3 invocation logs, CloudWatch ``AWS/Bedrock`` metrics, Cost Explorer, CUR files.

Everything here returns the same shapes the local (demo) path reads from disk, so the rest of the chain cannot tell
the two apart: :func:`tracker_utils.collect.s3.list_log_objects` gives
:class:`~tracker_utils.collect.logs.LogObject` s (S3 reading lives in :mod:`tracker_utils.collect.s3`), :func:`fetch_cloudwatch`
and :func:`fetch_cost_explorer` give the recorded dicts of ``cloudwatch/<region>/<date>.json`` and
``costexplorer/<date>.json``. Every listing and result is read to its last page.

Credentials: the standard boto3 chain (``params.profile`` or ``AWS_PROFILE``, environment, SSO, instance role).
Endpoint: ``params.endpoint_url`` or ``AWS_ENDPOINT_URL`` (an emulator such as moto). Retries: botocore "standard"
mode with ``params.max_attempts`` (throttling and 5xx are retried with backoff); an object whose body breaks off
mid-transfer is fetched again by :func:`tracker_utils.collect.s3.get_object_bytes`.

A missing permission or expired credentials raise :class:`AwsAccessError` with one line naming the IAM action
(``AccessDenied: the kit needs s3:ListBucket on arn:aws:s3:::my-bucket``); ``docs/iam-policy.json`` lists every
action the kit calls.

Operation log: set ``BEDROCK_TRACKER_AWS_CALL_LOG=/path/file`` and every AWS operation made is appended to that file
as ``<service> <Operation>`` (a least-privilege audit; the tests use it).
"""
from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tracker_utils.collect import cloudwatch as cwsrc

CALL_LOG_ENV = "BEDROCK_TRACKER_AWS_CALL_LOG"
CE_REGION = "us-east-1"                       # Cost Explorer's only endpoint
CE_CLOSED_AFTER = dt.timedelta(hours=48)      # a day's costs are final-ish this long after it ends (see fetch_cost_explorer)
GMD_MAX_QUERIES = 500                         # GetMetricData limit per request
LIST_THREADS = 8                              # S3 hour prefixes listed at once (see collect.s3)
GET_THREADS = 16                              # S3 objects downloaded at once (see collect.s3)

# (test hooks) extra botocore event handlers registered on every session the kit creates: [(event name, handler)]
EVENT_HOOKS: list[tuple[str, Callable]] = []

# botocore service name -> IAM prefix (CloudWatch signs as "monitoring" but its IAM prefix is "cloudwatch")
IAM_PREFIX = {"s3": "s3", "cloudwatch": "cloudwatch", "ce": "ce", "athena": "athena", "glue": "glue",
              "pricing": "pricing", "bedrock": "bedrock", "sts": "sts", "service-quotas": "servicequotas",
              "bcm-data-exports": "bcm-data-exports"}
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
    role_arn: str = ""                       # assumed (sts:AssumeRole) with the profile's or the chain's credentials
    _clients: dict = field(default_factory=dict, repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_params(cls, params, region: str) -> "AwsContext":
        return cls.create(region=region, account=params.account, bucket=params.logs_bucket, prefix=params.logs_prefix,
                          endpoint_url=params.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
                          profile=params.profile, max_attempts=params.max_attempts,
                          role_arn=getattr(params, "role_arn", ""))

    @classmethod
    def create(cls, region: str, account: str = "", bucket: str = "", prefix: str = "", endpoint_url: str | None = None,
               profile: str = "", max_attempts: int = 8, role_arn: str = "") -> "AwsContext":
        import boto3
        from botocore import exceptions as be
        try:
            session = boto3.Session(profile_name=profile or None, region_name=region)
        except be.ProfileNotFound as e:
            raise AwsAccessError(f"ProfileNotFound: {e}") from None
        _register(session)
        if role_arn:
            from tracker_utils.collect.assume import assumed_session
            try:
                session = assumed_session(session, role_arn, region, endpoint_url or None)
            except aws_errors() as e:
                raise explain(e, "sts", "AssumeRole", role_arn) from None
            _register(session)
        return cls(session=session, region=region, account=account, bucket=bucket, prefix=prefix,
                   endpoint_url=endpoint_url or None, max_attempts=max(1, int(max_attempts)), profile=profile,
                   role_arn=role_arn)

    def spec(self) -> dict:
        """Picklable description (a worker process builds its own session from it)."""
        return {"region": self.region, "account": self.account, "bucket": self.bucket, "prefix": self.prefix,
                "endpoint_url": self.endpoint_url, "profile": self.profile, "max_attempts": self.max_attempts,
                "role_arn": self.role_arn}

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


def _register(session) -> None:
    """The test hooks and the operation log on a session the kit made."""
    events = session.events
    for name, handler in EVENT_HOOKS:
        events.register(name, handler)
    if os.environ.get(CALL_LOG_ENV):
        events.register("before-call", _CallLog(os.environ[CALL_LOG_ENV]))


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
# CloudWatch AWS/Bedrock
# ---------------------------------------------------------------------------------------------------------------------
def fetch_cloudwatch(ctx: AwsContext, day: dt.date, account: str = "") -> dict:
    """Hourly Sum of every ``AWS/Bedrock`` usage and delivery metric ListMetrics finds, for one day.

    No model list is hard-coded: ListMetrics (every page) names the ModelIds, both spellings of the cache metrics
    (``CacheReadInputTokenCount`` / ``CacheReadInputTokens``) are accepted, queries go in batches of at most 500 and
    every GetMetricData ``NextToken`` page is read (the pages of one request are merged, see
    :func:`merge_metric_data_pages`). Returns the recorded form the demo holds (ISO strings for times).
    Note: ListMetrics only returns metrics with data points in the last two weeks; collect a day within 14 days (the
    raw record in ``data/raw/`` keeps it replayable afterwards).
    ``account``: ``ctx`` is a monitoring account (cross-account observability) and this is the source account read
    through it: ListMetrics with ``IncludeLinkedAccounts`` and ``OwningAccount``, every query with ``AccountId``.
    """
    cw = ctx.client("cloudwatch")
    t0, t1 = cwsrc.day_window(day)
    lm_pages = []
    linked = {"IncludeLinkedAccounts": True, "OwningAccount": account} if account else {}
    try:
        for page in cw.get_paginator("list_metrics").paginate(Namespace="AWS/Bedrock", **linked):
            lm_pages.append(_jsonable(page))
    except aws_errors() as e:
        raise explain(e, "cloudwatch", "ListMetrics") from None
    queries = cwsrc.metric_queries(lm_pages, account)
    ops_queries = cwsrc.operations_queries(lm_pages, account)   # latency percentiles, 1-minute sums (operations view)
    return {"region": ctx.region, "date": day.isoformat(), "namespace": "AWS/Bedrock", "period": 3600,
            **({"monitoring_account": ctx.account, "source_account": account} if account else {}),
            "start": t0.isoformat(), "end": t1.isoformat(), "list_metrics": lm_pages,
            "get_metric_data": {"queries": queries, "pages": _metric_data(cw, queries, t0, t1)},
            "operations": {"queries": ops_queries, "pages": _metric_data(cw, ops_queries, t0, t1)}}


def _metric_data(cw, queries: list[dict], t0: dt.datetime, t1: dt.datetime) -> list[dict]:
    """Every page of GetMetricData for ``queries`` (at most 500 a request), one merged page per request."""
    pages = []
    try:
        for i in range(0, len(queries), GMD_MAX_QUERIES):
            batch = queries[i:i + GMD_MAX_QUERIES]
            raw = [_jsonable(page) for page in cw.get_paginator("get_metric_data").paginate(
                MetricDataQueries=batch, StartTime=t0, EndTime=t1, ScanBy="TimestampDescending")]
            pages.append(merge_metric_data_pages(raw))
    except aws_errors() as e:
        raise explain(e, "cloudwatch", "GetMetricData") from None
    return pages


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
    """The GetCostAndUsage request of the usage: one day, DAILY, cost and quantity, by SERVICE and USAGE_TYPE,
    Bedrock only, RECORD_TYPE Usage only (the gross bill: no credits, refunds, discounts or tax mixed in)."""
    d1 = day + dt.timedelta(days=1)
    return {"TimePeriod": {"Start": day.isoformat(), "End": d1.isoformat()}, "Granularity": "DAILY",
            "Metrics": ["UnblendedCost", "UsageQuantity"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            "Filter": {"And": [{"Dimensions": {"Key": "SERVICE", "Values": services}},
                               {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}}]}}


def adjustments_request(day: dt.date, services: list[str]) -> dict:
    """The GetCostAndUsage request of the bill's adjustments: the same day and services, RECORD_TYPE a credit, refund
    or discount (every spelling of :data:`bill.RECORD_TYPES`), by RECORD_TYPE and USAGE_TYPE. GroupBy takes at most
    two dimensions, so the SERVICE is not a group: a first-party usage type still names its model, a Marketplace
    one does not (its adjustment is the account's)."""
    from tracker_utils.collect.bill import RECORD_TYPES
    d1 = day + dt.timedelta(days=1)
    return {"TimePeriod": {"Start": day.isoformat(), "End": d1.isoformat()}, "Granularity": "DAILY",
            "Metrics": ["UnblendedCost", "UsageQuantity"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "RECORD_TYPE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            "Filter": {"And": [{"Dimensions": {"Key": "SERVICE", "Values": services}},
                               {"Dimensions": {"Key": "RECORD_TYPE", "Values": sorted(RECORD_TYPES)}}]}}


def _all_pages(ce, request: dict) -> list[dict]:
    pages, token = [], None
    try:
        while True:
            resp = ce.get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
            pages.append(_jsonable(resp))
            token = resp.get("NextPageToken")
            if not token:
                return pages
    except aws_errors() as e:
        raise explain(e, "ce", "GetCostAndUsage") from None


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
    could still move) is fetched again (about 3-4 requests: the SERVICE discovery, the usage pages and the
    adjustments' pages, see :func:`adjustments_request`). A recording made before adjustments were a request of
    their own has no ``adjustments``: it is read as before (collect says so in its bill's data quality).
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
    pages = _all_pages(ce, request)
    adj = {"request": adjustments_request(day, services)}
    adj["pages"] = _all_pages(ce, adj["request"])
    rec = {"request": request, "pages": pages, "adjustments": adj, "fetched_at": now.isoformat(timespec="seconds"),
           "scope": "all", "closed": ce_day_closed(day, now),
           "requests_made": len(pages) + len(adj["pages"]) + discovery_calls}
    write_json(path, rec)
    return rec



__all__ = ["AwsAccessError", "AwsContext", "EVENT_HOOKS", "adjustments_request", "bedrock_services", "ce_day_closed",
           "cost_explorer_request", "explain", "fetch_cloudwatch", "fetch_cost_explorer", "iam_action",
           "merge_metric_data_pages"]

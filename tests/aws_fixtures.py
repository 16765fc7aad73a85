"""AWS emulator fixtures: moto in server mode on 127.0.0.1 (a free port), loaded with the demo account.

``aws_env`` (session) starts ``moto.server.ThreadedMotoServer`` in this process, sets dummy credentials (inherited by
the notebook kernels the runner starts) and stops it at the end. ``aws_demo`` (session) loads the ``small_demo``
account into it: the log objects into S3 (same keys, so the delivery time stays in the file names), the demo's hourly
metric values into CloudWatch with their 2026-11 timestamps (moto keeps data points of any age and answers
GetMetricData for them; real CloudWatch only accepts data up to two weeks old, which does not matter to a reader),
and the Cost Explorer pages into moto's ``/moto-api/static/ce/cost-and-usage-results`` queue.

What moto 5.1.16 lacks is added here by patching the server's response classes in this process (the server runs
in a thread of the test process). Each addition follows the AWS API's documented behaviour:

- Cost Explorer ``GetDimensionValues`` (not implemented in moto): the SERVICE values of the preloaded
  GetCostAndUsage results whose period overlaps the request, filtered by ``SearchString`` (case-insensitive
  substring), paged by ``EMULATOR["ce_dimension_page_size"]`` with ``NextPageToken``.
- CloudWatch ``GetMetricData``: moto answers every query in one response and scans every stored data point for each
  query and period (minutes for a few hundred series). Replaced by an indexed version with AWS paging: at most
  ``EMULATOR["cw_page_datapoints"]`` data points per response (AWS: 100,800), ``NextToken``, and ``StatusCode``
  ``PartialData`` on a series that continues on the next page.
- Athena ``GetQueryResults``: moto returns every row at once; here at most ``MaxResults`` (<= 1,000) rows per page
  with ``NextToken``, like Athena (the header row is the first row of the first page, as Athena sends it).
- Bedrock ``ListModelInvocationJobs`` (not implemented in moto): the job summaries loaded with ``put_batch_jobs``
  for the account and region, filtered by ``submitTimeAfter`` / ``submitTimeBefore`` (submitTime strictly after /
  before), sorted by submit time, paged by ``maxResults`` with ``nextToken``. The jobs' manifests are S3 objects.

Moto's Cost Explorer queue hands the next queued result to each new request *body*, and keeps it for identical
bodies. The loader therefore primes the queue in order by calling the kit's own ``fetch_cost_explorer`` once per
day; the notebook kernels later send byte-identical requests and get the same pages, in any order.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import socket
import uuid
from pathlib import Path

import pytest

EMULATOR = {"cw_page_datapoints": 100_800, "ce_dimension_page_size": 100, "sq_page_size": 10}
DUMMY_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent/aws-config",
             "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials", "AWS_EC2_METADATA_DISABLED": "true"}
UNSET_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
MOTO_ACCOUNT = "123456789012"            # moto's default account (= the demo's account)


# ---------------------------------------------------------------------------------------------------------------------
# moto additions
# ---------------------------------------------------------------------------------------------------------------------
_CW_PAGES: dict[str, list] = {}
# day -> the Bedrock services of a payer's bill queued grouped by [LINKED_ACCOUNT, USAGE_TYPE] (no SERVICE group to
# read them from): GetDimensionValues answers them for that day (see tests/test_org_aws.py)
LINKED_SERVICES: dict[str, list] = {}
_BATCH_JOBS: dict[tuple[str, str], dict[str, dict]] = {}      # (account, region) -> jobArn -> summary
_PATCHED = False
_CW_LIST_METRICS = None         # moto's own ListMetrics (wrapped by _cw_list_metrics)


def _aware(t) -> dt.datetime:
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc)


def _ce_get_dimension_values(self) -> str:
    params = json.loads(self.body or "{}")
    if params.get("Dimension") != "SERVICE":
        return json.dumps({"DimensionValues": [], "ReturnSize": 0, "TotalSize": 0})
    start, end = params["TimePeriod"]["Start"], params["TimePeriod"]["End"]
    search = (params.get("SearchString") or "").lower()
    backend = self.ce_backend
    results = list(backend.cost_usage_results.values()) + list(backend.cost_usage_results_queue)
    values = set()
    for res in results:
        keys = [g.get("Key") for g in res.get("GroupDefinitions", [])] or ["SERVICE"]
        if "SERVICE" not in keys:       # a payer's bill by LINKED_ACCOUNT: its requests' SERVICE filters
            values.update(v for v in LINKED_SERVICES.get(start, ()) if search in v.lower())
            continue
        i = keys.index("SERVICE")
        for period in res.get("ResultsByTime", []):
            tp = period.get("TimePeriod", {})
            if tp.get("Start", "") >= end or tp.get("End", "9999") <= start:
                continue
            for g in period.get("Groups", []):
                v = g["Keys"][i]
                if search in v.lower():
                    values.add(v)
    values = sorted(values)
    size = EMULATOR["ce_dimension_page_size"]
    off = int(params.get("NextPageToken") or 0)
    page = values[off:off + size]
    out = {"DimensionValues": [{"Value": v, "Attributes": {}} for v in page], "ReturnSize": len(page),
           "TotalSize": len(values)}
    if off + size < len(values):
        out["NextPageToken"] = str(off + size)
    return json.dumps(out)


CW_LINKED: dict[str, set[str]] = {}     # cross-account observability: monitoring account -> its source accounts


def _cw_backend(self, account: str | None):
    """The CloudWatch backend a request reads: the caller's, or (``AccountId`` / ``OwningAccount``) a source
    account linked to the caller's monitoring account; any other account is refused as AWS does."""
    from moto.cloudwatch.models import cloudwatch_backends
    if not account or account == self.current_account:
        return self.cloudwatch_backend
    if account not in CW_LINKED.get(self.current_account, set()):
        from moto.cloudwatch.exceptions import InvalidParameterValue
        raise InvalidParameterValue(f"account {account} is not a source account of {self.current_account}")
    return cloudwatch_backends[account][self.region]


def _cw_list_metrics(self):
    """ListMetrics with ``IncludeLinkedAccounts`` + ``OwningAccount`` (moto ignores both): the source's metrics."""
    from moto.core.responses import ActionResult
    owning = self._get_param("OwningAccount")
    if not owning:
        return _CW_LIST_METRICS(self)
    if str(self._get_param("IncludeLinkedAccounts")).lower() != "true":
        from moto.cloudwatch.exceptions import InvalidParameterValue
        raise InvalidParameterValue("OwningAccount needs IncludeLinkedAccounts")
    token, metrics = _cw_backend(self, owning).list_metrics(
        self._get_param("NextToken"), self._get_param("Namespace"), self._get_param("MetricName"),
        self._get_params().get("Dimensions", []))
    return ActionResult({"Metrics": metrics, "NextToken": token, "OwningAccounts": [owning] * len(metrics)})


def _cw_get_metric_data(self):
    from moto.core.responses import ActionResult
    params = self._get_params()
    token = params.get("NextToken")
    if token:
        if token not in _CW_PAGES:
            from moto.cloudwatch.exceptions import InvalidParameterValue
            raise InvalidParameterValue("Request parameter NextToken is invalid")
        series = _CW_PAGES.pop(token)
    else:
        start, end = _aware(params["StartTime"]), _aware(params["EndTime"])
        desc = (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
        indexes: dict[str, dict[tuple, list]] = {}
        series = []
        for q in params.get("MetricDataQueries", []):
            if "MetricStat" not in q:
                raise NotImplementedError("emulator: only MetricStat queries")
            index = indexes.get(q.get("AccountId") or "")
            if index is None:      # the series of the query's account (MetricDataQuery.AccountId)
                index = indexes[q.get("AccountId") or ""] = {}
                for md in _cw_backend(self, q.get("AccountId")).get_all_metrics():
                    ts = _aware(md.timestamp)
                    if start <= ts < end:
                        dims = tuple(sorted((d.name, d.value) for d in md.dimensions))
                        index.setdefault((md.namespace, md.name, dims), []).append(md)
            ms = q["MetricStat"]
            m = ms["Metric"]
            dims = tuple(sorted((d["Name"], d["Value"]) for d in m.get("Dimensions", []) or []))
            stat, period = ms["Stat"], int(ms["Period"])
            buckets: dict[dt.datetime, list[float]] = {}
            for md in index.get((m["Namespace"], m["MetricName"], dims), []):
                ts = _aware(md.timestamp)
                b = start + dt.timedelta(seconds=(ts - start).total_seconds() // period * period)
                v = getattr(md, "sum_stat", None)
                buckets.setdefault(b, []).append(float(v if v is not None else md.value))
            if stat == "Sum":
                agg = {b: sum(v) for b, v in buckets.items()}
            elif stat == "SampleCount":
                agg = {b: float(len(v)) for b, v in buckets.items()}
            elif re.fullmatch(r"p\d+(\.\d+)?", stat):     # extended statistic: nearest-rank percentile (moto: None)
                agg = {b: _percentile(v, float(stat[1:])) for b, v in buckets.items()}
            else:
                raise NotImplementedError(f"emulator: stat {stat}")
            points = sorted(agg.items(), reverse=desc)
            series.append([q["Id"], q.get("Label") or f"{m['MetricName']} {stat}", points])
    limit = int(params.get("MaxDatapoints") or EMULATOR["cw_page_datapoints"])
    results, used, rest = [], 0, []
    for i, (qid, label, points) in enumerate(series):
        room = limit - used
        if room <= 0 and points:
            rest = series[i:]
            break
        take, more = points[:room], points[room:]
        used += len(take)
        results.append({"id": qid, "label": label, "timestamps": [t for t, _ in take], "values": [v for _, v in take],
                        "status_code": "PartialData" if more else "Complete"})
        if more:
            rest = [[qid, label, more]] + series[i + 1:]
            break
    out = {"MetricDataResults": results, "Messages": []}
    if rest:
        tok = uuid.uuid4().hex
        _CW_PAGES[tok] = rest
        out["NextToken"] = tok
    return ActionResult(out)


def _percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the samples at or below it."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


SERVICE_QUOTAS: dict[str, list[dict]] = {}     # region -> the quotas ListServiceQuotas returns (see aws_demo)


def _sq_list_service_quotas(self) -> str:
    """Service Quotas ``ListServiceQuotas`` (not in moto): the quotas loaded for the region, paged by MaxResults."""
    params = json.loads(self.body or "{}")
    quotas = [q for q in SERVICE_QUOTAS.get(self.region, []) if q.get("ServiceCode") == params.get("ServiceCode")]
    size = int(params.get("MaxResults") or EMULATOR["sq_page_size"])
    off = int(params.get("NextToken") or 0)
    out = {"Quotas": quotas[off:off + size]}
    if off + size < len(quotas):
        out["NextToken"] = str(off + size)
    return json.dumps(out)


def _athena_get_query_results(self) -> str:
    exec_id = self._get_param("QueryExecutionId")
    res = self.athena_backend.get_query_results(exec_id).to_dict()
    rows = res["ResultSet"]["Rows"]
    size = min(int(self._get_param("MaxResults") or 1000), 1000)
    off = int(self._get_param("NextToken") or 0)
    out = {"ResultSet": {"Rows": rows[off:off + size], "ResultSetMetadata": res["ResultSet"]["ResultSetMetadata"]},
           "UpdateCount": 0}
    if off + size < len(rows):
        out["NextToken"] = str(off + size)
    return json.dumps(out)


def _bedrock_list_model_invocation_jobs(self) -> str:
    q = {k: v[0] for k, v in self.querystring.items()}
    jobs = sorted(_BATCH_JOBS.get((self.current_account, self.region), {}).values(),
                  key=lambda j: (_aware(j["submitTime"]), j["jobArn"]))
    if q.get("submitTimeAfter"):
        jobs = [j for j in jobs if _aware(j["submitTime"]) > _aware(q["submitTimeAfter"])]
    if q.get("submitTimeBefore"):
        jobs = [j for j in jobs if _aware(j["submitTime"]) < _aware(q["submitTimeBefore"])]
    size = int(q.get("maxResults") or 1000)
    off = int(q.get("nextToken") or 0)
    out = {"invocationJobSummaries": jobs[off:off + size]}
    if off + size < len(jobs):
        out["nextToken"] = str(off + size)
    return json.dumps(out)


def put_batch_jobs(region: str, summaries: list[dict], account: str = MOTO_ACCOUNT) -> int:
    """Job summaries (the demo's recorded ListModelInvocationJobs entries) that ListModelInvocationJobs answers."""
    store = _BATCH_JOBS.setdefault((account, region), {})
    for j in summaries:
        store[j["jobArn"]] = j
    return len(store)


def patch_moto() -> None:
    """Install the additions above (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    from moto.athena.responses import AthenaResponse
    from moto.bedrock.responses import BedrockResponse
    from moto.ce.responses import CostExplorerResponse
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.servicequotas.responses import ServiceQuotasResponse
    ServiceQuotasResponse.list_service_quotas = _sq_list_service_quotas
    CostExplorerResponse.get_dimension_values = _ce_get_dimension_values
    CloudWatchResponse.get_metric_data = _cw_get_metric_data
    global _CW_LIST_METRICS
    _CW_LIST_METRICS = CloudWatchResponse.list_metrics
    CloudWatchResponse.list_metrics = _cw_list_metrics
    AthenaResponse.get_query_results = _athena_get_query_results
    BedrockResponse.list_model_invocation_jobs = _bedrock_list_model_invocation_jobs
    from moto.bedrock import urls as bedrock_urls      # the route, before the server builds its URL map
    bedrock_urls.url_paths.setdefault("{0}/model-invocation-jobs$", BedrockResponse.dispatch)
    _PATCHED = True


# ---------------------------------------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------------------------------------
class Moto:
    """A running moto server and small helpers to talk to it."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def client(self, service: str, region: str = "us-east-1"):
        import boto3
        from botocore.config import Config
        cfg = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32,
                     s3={"addressing_style": "path"})
        return boto3.session.Session().client(service, region_name=region, endpoint_url=self.endpoint, config=cfg)

    def post(self, path: str, payload) -> int:
        import urllib.request
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        req = urllib.request.Request(self.endpoint + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status

    def set_auth(self, enforce: bool) -> None:
        """Turn moto's IAM enforcement on (every following request is checked) or off."""
        self.post("/moto-api/reset-auth", "0" if enforce else "inf")

    def ctx(self, region: str = "us-east-1", **kw):
        from tracker_utils.collect.aws import AwsContext
        return AwsContext.create(region=region, endpoint_url=self.endpoint, **kw)


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="session")
def aws_env():
    """moto on 127.0.0.1:<free port> with dummy credentials; stopped (and the environment restored) at the end."""
    from moto.server import ThreadedMotoServer
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    patch_moto()
    saved = {k: os.environ.get(k) for k in (*DUMMY_ENV, *UNSET_ENV)}
    os.environ.update(DUMMY_ENV)
    for k in UNSET_ENV:
        os.environ.pop(k, None)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield Moto(f"http://127.0.0.1:{port}")
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------------------------------------------------------------
# loading data
# ---------------------------------------------------------------------------------------------------------------------
def put_objects(moto: Moto, bucket: str, items) -> int:
    """Create ``bucket`` (over HTTP) and store ``(key, bytes)`` items straight into the server's S3 backend.

    Loading is not what the tests test, and one HTTP PUT per object costs ~4 ms of the test process's GIL; the kit
    then reads everything over HTTP like any client."""
    from moto.s3.models import s3_backends
    s3 = moto.client("s3")
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    backend = s3_backends[MOTO_ACCOUNT]["aws"]
    n = 0
    for key, data in items:
        backend.put_object(bucket, key, data)
        n += 1
    return n


def upload_tree(moto: Moto, folder: Path, bucket: str) -> int:
    """Every file under ``folder`` into ``bucket``, its relative path as key. Returns the object count."""
    return put_objects(moto, bucket, ((p.relative_to(folder).as_posix(), p.read_bytes())
                                      for p in sorted(folder.rglob("*")) if p.is_file()))


def put_metrics(moto: Moto, region: str, points: list[tuple], alt_spelling: bool = False) -> int:
    """``points``: (hour, model_id, metric, value); model_id '' = no dimension. Stored in the server's CloudWatch
    backend (as PutMetricData would); the kit reads them with ListMetrics / GetMetricData over HTTP."""
    from moto.cloudwatch.models import cloudwatch_backends
    data = []
    for hour, model_id, metric, value in points:
        if alt_spelling:
            metric = {"CacheReadInputTokenCount": "CacheReadInputTokens",
                      "CacheWriteInputTokenCount": "CacheWriteInputTokens"}.get(metric, metric)
        data.append({"MetricName": metric, "Dimensions": [{"Name": "ModelId", "Value": model_id}] if model_id else [],
                     "Timestamp": _aware(hour), "Value": float(value)})
    cloudwatch_backends[MOTO_ACCOUNT][region].put_metric_data("AWS/Bedrock", data)
    return len(data)


def demo_metric_points(root: Path, region: str, date: str) -> list[tuple]:
    """The demo's recorded GetMetricData values as (time, model id, metric, value): hourly sums, except the
    invocations and token counts, which are stored per minute (from the 1-minute recording; they add up to the same
    hourly sums) so that the peak minute can be asked for."""
    from tracker_utils.collect import cloudwatch as cwsrc
    rec = json.loads((root / "cloudwatch" / region / f"{date}.json").read_text())
    df = cwsrc.parse_metric_data(rec)
    ops = cwsrc.parse_operations(rec)
    minutes = ops[ops["period"] == 60]
    by_minute = set(zip(minutes["model_id"], minutes["metric"]))
    points = [(r.hour.to_pydatetime(), r.model_id, r.metric, int(r.value)) for r in df.itertuples(index=False)
              if (r.model_id, r.metric) not in by_minute]
    return points + [(r.time.to_pydatetime(), r.model_id, r.metric, int(r.value)) for r in minutes.itertuples(index=False)]


def put_demo_latency(moto: Moto, root: Path, region: str, date: str) -> int:
    """Latency samples whose nearest-rank p50/p90/p99 are the demo's recorded hourly values: 100 samples per hour
    and model id (50 at p50, 40 at p90, 9 at p99, 1 above), stored as PutMetricData ``Values``/``Counts``."""
    from moto.cloudwatch.models import cloudwatch_backends
    from tracker_utils.collect import cloudwatch as cwsrc
    ops = cwsrc.parse_operations(json.loads((root / "cloudwatch" / region / f"{date}.json").read_text()))
    lat = ops[(ops["metric"] == "InvocationLatency") & (ops["period"] == 3600)]
    data = []
    for (t, model_id), g in lat.groupby(["time", "model_id"]):
        v = dict(zip(g["stat"], g["value"]))
        data.append({"MetricName": "InvocationLatency", "Dimensions": [{"Name": "ModelId", "Value": model_id}],
                     "Timestamp": _aware(t.to_pydatetime()), "Values": [v["p50"], v["p90"], v["p99"], v["p99"] * 1.5],
                     "Counts": [50, 40, 9, 1], "Unit": "Milliseconds"})
    cloudwatch_backends[MOTO_ACCOUNT][region].put_metric_data("AWS/Bedrock", data)
    return len(data)


def queue_ce_pages(moto: Moto, pages: list[dict], account: str = MOTO_ACCOUNT, forget: bool = False) -> None:
    """``pages`` as the answers to the account's next GetCostAndUsage requests. moto keeps each answer for the
    request that took it, for the server's life (one per session; ``aws_demo`` primes the demo's days that way, for
    every test after it). ``forget`` drops the account's earlier answers first: a test that asks a request an
    earlier test asked (the same day, service and grouping) would get the earlier test's bill otherwise."""
    if forget:
        from moto.ce.models import ce_backends
        backend = ce_backends[account]["aws"]
        backend.cost_usage_results.clear()
        backend.cost_usage_results_queue.clear()
    assert moto.post("/moto-api/static/ce/cost-and-usage-results", {"account_id": account, "results": pages}) == 201


def queue_athena_result(moto: Moto, columns: list[str], rows: list[list], region: str = "us-east-1",
                        account: str = MOTO_ACCOUNT) -> None:
    """Athena's answer to the next query: a header row, then the rows (values as strings, None = NULL)."""
    def row(vals):
        return {"Data": [{} if v is None else {"VarCharValue": v if isinstance(v, str) else
                                              ("true" if v is True else "false" if v is False else str(v))}
                         for v in vals]}
    payload = {"account_id": account, "region": region, "results": [{
        "rows": [row(columns)] + [row(r) for r in rows],
        "column_info": [{"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c, "Label": c,
                         "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True}
                        for c in columns]}]}
    assert moto.post("/moto-api/static/athena/query-results", payload) == 201


@pytest.fixture(scope="session")
def aws_demo(aws_env, small_demo, tmp_path_factory):
    """The small demo account inside moto. ap-northeast-2's cache metrics use the other spelling
    (``CacheReadInputTokens`` / ``CacheWriteInputTokens``) to prove both are read."""
    from tracker_utils.collect import aws
    root, spec, truth = small_demo
    moto = aws_env
    counts = {"objects": upload_tree(moto, root / "s3" / spec.bucket, spec.bucket)}
    # batch jobs: their manifests in their output bucket, their summaries behind ListModelInvocationJobs
    for bucket in (p for p in (root / "s3").iterdir() if p.is_dir() and p.name != spec.bucket):
        counts["objects"] += upload_tree(moto, bucket, bucket.name)
    counts["batch_jobs"] = 0
    for rec in sorted((root / "batch").glob("*/*.json")):
        for page in json.loads(rec.read_text())["pages"]:
            counts["batch_jobs"] = put_batch_jobs(rec.parent.name, page["invocationJobSummaries"])
    counts["metric_points"] = 0
    for region in spec.regions:
        for date in spec.dates:
            counts["metric_points"] += put_metrics(moto, region, demo_metric_points(root, region, date),
                                                   alt_spelling=region == "ap-northeast-2")
            counts["latency_series_hours"] = counts.get("latency_series_hours", 0) + put_demo_latency(
                moto, root, region, date)
        SERVICE_QUOTAS[region] = [q for page in json.loads((root / "servicequotas" / f"{region}.json").read_text())["pages"]
                                  for q in page["Quotas"]]
    prime = tmp_path_factory.mktemp("ce_prime")
    ctx = moto.ctx("us-east-1")
    counts["ce_pages"] = 0
    for date in spec.dates:
        recording = json.loads((root / "costexplorer" / f"{date}.json").read_text())
        pages, adj = recording["pages"], recording["adjustments"]["pages"]
        queue_ce_pages(moto, pages + adj)          # the usage request's pages, then the adjustments request's
        rec = aws.fetch_cost_explorer(ctx, dt.date.fromisoformat(date), prime)
        assert len(rec["pages"]) == len(pages), (date, len(rec["pages"]), len(pages))
        groups = [[g["Keys"] for p in ps for r in p["ResultsByTime"] for g in r["Groups"]]
                  for ps in (rec["adjustments"]["pages"], adj)]
        assert groups[0] == groups[1], (date, groups)
        counts["ce_pages"] += len(pages) + len(adj)
    return {"moto": moto, "root": root, "spec": spec, "truth": truth, "counts": counts}


# ---------------------------------------------------------------------------------------------------------------------
# DuckDB stand-in for Athena (the SQL proof)
# ---------------------------------------------------------------------------------------------------------------------
JSON_STRUCTURE = {            # the table's columns (create_table.sql), under the JSON keys of the records
    "schemaType": "VARCHAR", "schemaVersion": "VARCHAR", "timestamp": "VARCHAR", "accountId": "VARCHAR",
    "requestId": "VARCHAR", "operation": "VARCHAR", "modelId": "VARCHAR", "identity": {"arn": "VARCHAR"},
    "region": "VARCHAR", "inferenceRegion": "VARCHAR", "errorCode": "VARCHAR",
    "requestMetadata": "MAP(VARCHAR, VARCHAR)",
    "input": {"inputContentType": "VARCHAR", "inputTokenCount": "BIGINT", "cacheReadInputTokenCount": "BIGINT",
              "cacheWriteInputTokenCount": "BIGINT", "cacheReadInputTokens": "BIGINT", "cacheWriteInputTokens": "BIGINT"},
    "output": {"outputContentType": "VARCHAR", "outputTokenCount": "BIGINT"},
    "performanceConfig": {"latency": "VARCHAR"},
}


def duckdb_athena(bucket_root: Path, bucket: str, database: str = "bedrock_logs", table: str = "invocations"):
    """A DuckDB connection with ``<database>.<table>`` laid over a bucket folder the way the Athena table reads S3.

    Like the OpenX JSON SerDe with ``ignore.malformed.json``: one row per non-blank line of every ``.json.gz`` object
    (recursively, so ``data/`` sidecars are read too), the declared columns matched case-insensitively, and a row of
    NULLs for a line that is not JSON of that shape. Plus Athena's ``"$path"`` (``s3://bucket/key``) and the projected
    partition columns ``account``, ``log_region`` and ``dt`` from the key path.
    """
    import duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE SCHEMA {database}")
    glob = (bucket_root / "**" / "*.json.gz").as_posix()
    strip = len(bucket_root.as_posix()) + 2
    structure = json.dumps(JSON_STRUCTURE).replace("'", "''")
    con.execute(f"""
        CREATE VIEW {database}.{table} AS
        SELECT unnest(TRY(from_json(l.line, '{structure}'))),
               's3://{bucket}/' || substr(l.filename, {strip}) AS "$path",
               regexp_extract(l.filename, '/AWSLogs/([^/]+)/BedrockModelInvocationLogs/', 1) AS account,
               regexp_extract(l.filename, '/BedrockModelInvocationLogs/([^/]+)/', 1) AS log_region,
               regexp_extract(l.filename, '/BedrockModelInvocationLogs/[^/]+/(\\d{{4}}/\\d{{2}}/\\d{{2}}/\\d{{2}})/', 1) AS dt
        FROM read_csv('{glob}', columns = {{'line': 'VARCHAR'}}, delim = '\\x1f', quote = '', escape = '',
                      header = false, filename = true, auto_detect = false, max_line_size = 67108864,
                      new_line = '\\n') l
        WHERE trim(l.line) <> ''""")
    return con


def duckdb_sql(athena_sql: str) -> str:
    """The Athena (Trino) query transpiled to DuckDB by sqlglot."""
    import sqlglot
    return sqlglot.transpile(athena_sql, read="trino", write="duckdb")[0]


def run_duckdb(con, athena_sql: str, values: list) -> tuple[list[str], list[list]]:
    cur = con.execute(duckdb_sql(athena_sql), values)
    cols = [d[0] for d in cur.description]
    return cols, [list(r) for r in cur.fetchall()]


__all__ = ["CW_LINKED", "EMULATOR", "SERVICE_QUOTAS", "Moto", "put_demo_latency", "aws_demo", "aws_env", "demo_metric_points", "duckdb_athena", "duckdb_sql",
           "patch_moto", "put_metrics", "put_objects", "queue_athena_result", "queue_ce_pages", "run_duckdb", "upload_tree"]


def run_org_recording_calls(ov: dict, calls: Path, log=lambda *_: None) -> list:
    """``runner.run`` of an organization with every AWS call it makes written to ``calls``; the outcomes."""
    from tracker_utils.collect import aws
    from tracker_utils.run import runner
    os.environ[aws.CALL_LOG_ENV] = str(calls)
    try:
        return runner.run("", ov, force=True, jobs=1, log=log)
    finally:
        os.environ.pop(aws.CALL_LOG_ENV, None)


def org_summaries(out: Path, truth: dict):
    """Each member's (account, date/region, summary) after asserting it equals the organization's ground truth."""
    from tests.test_pipeline import compare_summary
    for acct, t in truth["accounts"].items():
        for key, want in t["runs"].items():
            got = json.loads((out / acct / key / "summary.json").read_text())
            assert compare_summary(got, want) == [], (acct, key)
            yield acct, key, got

"""Collecting from AWS (issue 3): the kit against moto in server mode over HTTP, and the Athena SQL against DuckDB.

Fixtures are in tests/aws_fixtures.py (moto on 127.0.0.1, the demo account loaded into it, the moto additions for
GetDimensionValues and AWS-style paging of GetMetricData and GetQueryResults, and the DuckDB stand-in for Athena).
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

from tests.aws_fixtures import (EMULATOR, duckdb_athena, put_metrics, queue_athena_result,
                                queue_ce_pages, run_duckdb, upload_tree)
from tests.conftest import REPO, write_params
from tracker_utils import config, money
from tracker_utils.collect import stage as collect
from tracker_utils.collect import athena
from tracker_utils.collect import aws, s3
from tracker_utils.collect import bill as billsrc
from tracker_utils.collect import cloudwatch as cwsrc
from tracker_utils.collect import logs as logsrc

SUMMARY_KEYS = ("models", "apps", "totals", "gaps", "data_quality")
GROUP_KEYS = ["timestamp", "operation", "model_id", "principal", "region", "inference_region", "error_code", "latency",
              "request_metadata", "day_edge"]
SUMS = ["records", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]
COUNTS = ("files_read", "records_read", "records_used", "records_late", "records_outside_day", "records_duplicate",
          "records_malformed")


# ---------------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------------
def run_cfg(out: Path, date: str, region: str, **values) -> config.RunConfig:
    out.mkdir(parents=True, exist_ok=True)
    pf = write_params(out / f"params-{date}-{region}.yaml", output_dir=str(out), start=date, end=date, **values)
    return config.resolve(date, region, params_file=str(pf), interactive=False)


def aws_values(moto, spec, **more) -> dict:
    return dict(source="aws", endpoint_url=moto.endpoint, logs_bucket=spec.bucket, logs_prefix=spec.prefix,
                account=spec.account, cost_source="ce", logs_as_of="+1h", regions=list(spec.regions), **more)


def grouped(df: pd.DataFrame) -> pd.DataFrame:
    """Record rows (local reader) or group rows (Athena) at one grain: hour x every key, with sums."""
    d = df.copy()
    if "records" not in d:
        d["records"] = 1
    d["timestamp"] = d["timestamp"].dt.floor("h")
    d["day_edge"] = d["delivered_at"].dt.floor("D") != d["timestamp"].dt.floor("D")
    g = d.groupby(GROUP_KEYS, dropna=False).agg(
        **{c: (c, "sum") for c in SUMS}, delivered_at=("delivered_at", "max")).reset_index()
    return g.sort_values(GROUP_KEYS).reset_index(drop=True)


def assert_same_logs(athena_res, local_res) -> None:
    pd.testing.assert_frame_equal(grouped(athena_res.used), grouped(local_res.used))
    pd.testing.assert_frame_equal(grouped(athena_res.late), grouped(local_res.late))
    assert {k: athena_res.quality[k] for k in COUNTS} == {k: local_res.quality[k] for k in COUNTS}
    assert list(athena_res.used.columns) == athena.FRAME_COLUMNS


def first_difference(a, b, path="") -> str:
    """Where two JSON values first differ (for a readable assertion message)."""
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), f"{path}.{k}")
    elif isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {a!r} != {b!r}"


def local_logs(root: Path, spec, cfg) -> logsrc.LogsResult:
    base = logsrc.log_base(spec.prefix, spec.account, cfg.region)
    objs, _ = logsrc.list_local(root / "s3" / spec.bucket, base, cfg.day, cfg.params.window_after_hours)
    return logsrc.collect(objs, cfg.day, cfg.as_of)


class Recorder:
    """``before-parameter-build`` hook: every AWS operation the kit makes, as (botocore service, operation, API params)."""

    def __init__(self):
        self.calls: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()

    def __call__(self, model=None, params=None, **_):
        with self.lock:
            self.calls.append((model.service_model.service_name, model.name, params or {}))

    def ops(self, service=None, op=None) -> list:
        return [c for c in self.calls if (service is None or c[0] == service) and (op is None or c[1] == op)]


def _response(request, status: int, body: str, ctype: str):
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_):
            yield body.encode()

    return AWSResponse(request.url, status, {"Content-Type": ctype, "x-amzn-RequestId": "injected"}, Raw())


def error_response(service: str, request, code: str, status: int = 400, message: str = "injected"):
    """A real-shaped AWS error for the service's protocol (S3 rest-xml, CloudWatch query, JSON 1.1 for the rest)."""
    if service == "s3":
        return _response(request, status, f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                                          f'<Message>{message}</Message><RequestId>x</RequestId></Error>', "application/xml")
    if service == "cloudwatch":
        return _response(request, status, '<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">'
                                          f'<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>'
                                          '</Error><RequestId>x</RequestId></ErrorResponse>', "text/xml")
    return _response(request, status, json.dumps({"__type": code, "Message": message}), "application/x-amz-json-1.1")


class Injector:
    """``before-send`` hook answering chosen calls with an error, before they reach the server."""

    SERVICE = {"s3": "s3", "cloudwatch": "cloudwatch", "cost-explorer": "ce", "athena": "athena"}

    def __init__(self, plan: dict):
        self.plan = plan                  # service -> (how many calls, code, status) or (predicate, code, status)
        self.done: dict[str, int] = {}
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, request, event_name: str, **_):
        parts = event_name.split(".")
        service, op = self.SERVICE.get(parts[1], parts[1]), parts[2]
        rule = self.plan.get(service)
        if rule is None:
            return None
        n, code, status = rule
        with self.lock:
            self.seen[service] = self.seen.get(service, 0) + 1
            hit = n(op) if callable(n) else self.done.get(service, 0) < n and self.seen[service] % 2 == 1
            if hit:
                self.done[service] = self.done.get(service, 0) + 1
        return error_response(service, request, code, status) if hit else None


class BrokenBodies:
    """``after-call.s3.GetObject`` hook: the first ``n`` object bodies break off mid-transfer (connection reset)."""

    def __init__(self, n: int):
        self.n, self.done, self.lock = n, 0, threading.Lock()

    def __call__(self, parsed=None, **_):
        from botocore.exceptions import ResponseStreamingError
        from urllib3.exceptions import ProtocolError
        with self.lock:
            if self.done >= self.n:
                return
            self.done += 1
        real = parsed["Body"]

        class Broken:
            def read(self, *a, **k):
                real.read(10)
                real.close()
                raise ResponseStreamingError(error=ProtocolError("Connection broken: IncompleteRead(10 bytes read)"))

            def close(self):
                real.close()

        parsed["Body"] = Broken()


# ---------------------------------------------------------------------------------------------------------------------
# (1) the notebook chain with source: aws equals the local run
# ---------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def aws_chain(demo_run, aws_demo, tmp_path_factory):
    """runner.run with source aws against moto (2 regions x 3 days, jobs 2), recording every AWS operation.

    ``demo_run`` is requested first so the local chain's worker processes are forked before the moto server thread
    exists (forking a process with a live server thread is best avoided; the AWS chain has to)."""
    from tracker_utils.run import runner
    moto, spec = aws_demo["moto"], aws_demo["spec"]
    out = tmp_path_factory.mktemp("aws_outputs")
    calls = out / "aws-calls.log"
    pf = write_params(out / "params.yaml", output_dir=str(out), start=spec.start, end=spec.dates[-1],
                      **aws_values(moto, spec))
    os.environ[aws.CALL_LOG_ENV] = str(calls)
    try:
        outcomes = runner.run(str(pf), {}, force=True, jobs=2, log=lambda *_: None)
    finally:
        os.environ.pop(aws.CALL_LOG_ENV, None)
    return out, outcomes, calls


def test_notebook_chain_on_aws_equals_local_run(demo_run, aws_chain, aws_demo):
    out, outcomes, calls = aws_chain
    local_out, _, local_outcomes, truth = demo_run
    assert [o.status for o in outcomes] == ["complete"] * len(outcomes), [(o.date, o.region, o.error) for o in outcomes]
    assert len(outcomes) == len(local_outcomes) == 6
    for o in outcomes:
        got = json.loads((out / o.date / o.region / "summary.json").read_text())
        want = json.loads((local_out / o.date / o.region / "summary.json").read_text())
        for key in SUMMARY_KEYS:
            assert got[key] == want[key], (o.date, o.region, key, first_difference(got[key], want[key]))
        c = json.loads((out / o.date / o.region / "data" / "collect.json").read_text())
        assert c["source"] == "aws" and c["cloudwatch"]["recorded"] and c["bill"]["scope"] == "all"
    # every listing, metric and bill page was read through the emulator
    ops = calls.read_text().split("\n")
    assert sum(op == "s3 ListObjectsV2" for op in ops) == 6 * 27         # 24 hours + 3 after, per date and region
    # one paid Cost Explorer request set per day, shared by both regions' runs
    assert sum(op == "ce GetCostAndUsage" for op in ops) == aws_demo["counts"]["ce_pages"]


def test_replaying_a_run_offline_from_its_raw_folder(aws_chain, aws_demo, tmp_path):
    """data/raw/ of a run + a copy of the log prefix is a data_root for source: local, with the same collect output."""
    out, _, _ = aws_chain
    root, spec = aws_demo["root"], aws_demo["spec"]
    replay = tmp_path / "replay"
    for raw in out.glob("*/*/data/raw"):
        shutil.copytree(raw, replay, dirs_exist_ok=True)
    (replay / "s3").symlink_to(root / "s3", target_is_directory=True)
    date, region = spec.dates[1], "us-east-1"
    cfg = run_cfg(tmp_path / "out", date, region, source="local", data_root=str(replay), logs_as_of="+1h",
                  regions=list(spec.regions))
    collect.run(cfg)
    aws_data = out / date / region / "data"
    for name in ("collect_logs", "collect_logs_late", "collect_cloudwatch", "collect_bill"):
        pd.testing.assert_frame_equal(pd.read_parquet(cfg.data(f"{name}.parquet")), pd.read_parquet(aws_data / f"{name}.parquet"))
    a, b = json.loads(cfg.data("collect.json").read_text()), json.loads((aws_data / "collect.json").read_text())
    assert a["data_quality"] == b["data_quality"] and a["bill"] == b["bill"]


# ---------------------------------------------------------------------------------------------------------------------
# (2) more than 1,000 objects in one listing
# ---------------------------------------------------------------------------------------------------------------------
N_BIG = 1020


def test_listing_more_than_1000_objects(aws_env, tmp_path, monkeypatch):
    moto, bucket, account = aws_env, "big-listing", "210987654321"
    base = tmp_path / "bucket"
    hour = base / logsrc.log_base("logs", account, "us-east-1") / "2026" / "10" / "01" / "05"
    hour.mkdir(parents=True)
    t0 = dt.datetime(2026, 10, 1, 5, tzinfo=dt.timezone.utc)
    for i in range(N_BIG):
        rec = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": f"{t0:%Y-%m-%dT%H}:{i // 60 % 60:02d}:{i % 60:02d}Z",
               "requestId": f"req-{i:05d}", "operation": "Converse", "modelId": "amazon.nova-lite-v1:0",
               "identity": {"arn": f"arn:aws:iam::{account}:user/u{i % 7}"}, "region": "us-east-1",
               "input": {"inputTokenCount": i + 1}, "output": {"outputTokenCount": 2}}
        when = t0 + dt.timedelta(seconds=i)
        (hour / f"{when:%Y%m%dT%H%M%S}{i % 1000:03d}Z_{i:016x}.json.gz").write_bytes(gzip.compress(json.dumps(rec).encode()))
    (hour / "data").mkdir()
    (hour / "data" / "req-00001_input.json.gz").write_bytes(gzip.compress(b'{"messages": []}'))
    (hour / "notes.txt").write_text("not a log")
    assert upload_tree(moto, base, bucket) == N_BIG + 2
    rec = Recorder()
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-parameter-build", rec)])
    ctx = moto.ctx("us-east-1", account=account, bucket=bucket, prefix="logs")
    objs, skipped = s3.list_log_objects(ctx, dt.date(2026, 10, 1), 3)
    assert len(objs) == N_BIG and len({o.key for o in objs}) == N_BIG
    assert skipped == {"data_sidecar_folder": 1, "not_a_log_file": 1}
    hour_calls = [c for c in rec.ops("s3", "ListObjectsV2") if c[2].get("Prefix", "").endswith("/2026/10/01/05/")]
    assert len(hour_calls) == 2 and hour_calls[1][2].get("ContinuationToken")          # 1,000 + the rest
    assert objs[0].delivered_at == t0 and objs[1].delivered_at == t0 + dt.timedelta(seconds=1, milliseconds=1)
    import pickle
    again = pickle.loads(pickle.dumps(objs[5].read))            # a process-pool worker gets a reader without the pool
    assert again.prefetcher is None and gzip.decompress(again()).startswith(b'{"schemaType"')
    res = logsrc.collect(objs, dt.date(2026, 10, 1))                                    # 16 download threads
    assert res.quality["records_used"] == N_BIG and res.used["input_tokens"].sum() == N_BIG * (N_BIG + 1) // 2
    assert len(rec.ops("s3", "GetObject")) == N_BIG + 1


# ---------------------------------------------------------------------------------------------------------------------
# (3) throttling and broken downloads change nothing
# ---------------------------------------------------------------------------------------------------------------------
def test_throttling_and_broken_downloads_give_identical_results(aws_demo, tmp_path, monkeypatch):
    moto, spec = aws_demo["moto"], aws_demo["spec"]
    date, region = spec.dates[1], "us-east-1"          # the day with late deliveries
    clean = run_cfg(tmp_path / "clean", date, region, **aws_values(moto, spec))
    collect.run(clean)
    inj = Injector({"s3": (3, "SlowDown", 503), "cloudwatch": (2, "Throttling", 400),
                    "ce": (2, "LimitExceededException", 400)})
    broken = BrokenBodies(3)
    rec = Recorder()
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-send", inj), ("after-call.s3.GetObject", broken),
                                             ("before-parameter-build", rec)])
    noisy = run_cfg(tmp_path / "noisy", date, region, **aws_values(moto, spec))
    collect.run(noisy)
    assert inj.done == {"s3": 3, "cloudwatch": 2, "ce": 2} and broken.done == 3
    files = json.loads(clean.data("collect_files.json").read_text())    # the log objects read
    manifests = json.loads(clean.data("collect.json").read_text())["data_quality"]["batch"]["manifests_read"]
    assert len(files) > 100 and manifests == 1
    assert len(rec.ops("s3", "GetObject")) == len(files) + manifests + 3   # three objects fetched again
    for name in ("collect_logs", "collect_logs_late", "collect_quarantine", "collect_cloudwatch", "collect_bill"):
        pd.testing.assert_frame_equal(pd.read_parquet(noisy.data(f"{name}.parquet")), pd.read_parquet(clean.data(f"{name}.parquet")))
    a, b = json.loads(noisy.data("collect.json").read_text()), json.loads(clean.data("collect.json").read_text())
    for k in ("data_quality", "cloudwatch", "bill", "window"):
        assert a[k] == b[k], k


# ---------------------------------------------------------------------------------------------------------------------
# (4) GetMetricData and Cost Explorer pagination (and the Cost Explorer cache)
# ---------------------------------------------------------------------------------------------------------------------
def test_getmetricdata_pages_batches_and_listmetrics_pages(aws_env, monkeypatch):
    moto, region, day = aws_env, "eu-west-1", dt.date(2026, 10, 10)
    t0 = dt.datetime(2026, 10, 10, tzinfo=dt.timezone.utc)
    points = [(t0 + dt.timedelta(hours=h), f"model-{m:03d}", "Invocations", m * 10 + h) for m in range(600) for h in (3, 4)]
    points += [(t0 + dt.timedelta(hours=3), f"model-{m:03d}", "CacheReadInputTokens", 7) for m in range(2)]
    points += [(t0 + dt.timedelta(hours=h), "", "ModelInvocationLogsS3DeliverySuccess", 5) for h in range(24)]
    points += [(t0 - dt.timedelta(hours=1), "model-000", "Invocations", 999)]        # the day before: not read
    put_metrics(moto, region, points)
    monkeypatch.setitem(EMULATOR, "cw_page_datapoints", 251)          # odd: a series is cut by a page end
    rec = Recorder()
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-parameter-build", rec)])
    out = aws.fetch_cloudwatch(moto.ctx(region), day)
    assert len(out["list_metrics"]) == 2                                   # moto pages ListMetrics at 500
    queries = out["get_metric_data"]["queries"]
    assert len(queries) == 603
    gmd = rec.ops("cloudwatch", "GetMetricData")
    usage = [c for c in gmd if c[2]["MetricDataQueries"][0]["Id"].startswith("m")]
    assert [len(c[2]["MetricDataQueries"]) for c in usage if not c[2].get("NextToken")] == [500, 103]
    assert len(usage) == 4 + 1                                  # 1,000 points = 4 pages; 100 x 2 + 2 + 24 = 1 page
    assert [p["pages_read"] for p in out["get_metric_data"]["pages"]] == [4, 1]
    # the operations view's queries (1-minute Invocations sums of the 600 models) go in requests of their own
    ops = [c for c in gmd if c[2]["MetricDataQueries"][0]["Id"].startswith("o")]
    assert [len(c[2]["MetricDataQueries"]) for c in ops if not c[2].get("NextToken")] == [500, 100]
    assert len(gmd) == len(usage) + len(ops) and [p["pages_read"] for p in out["operations"]["pages"]] == [4, 1]
    assert all(r["StatusCode"] == "Complete" for p in out["get_metric_data"]["pages"] for r in p["MetricDataResults"])
    df = cwsrc.parse_metric_data(json.loads(json.dumps(out)))              # survives a JSON round trip
    inv = df[df["metric"] == "Invocations"]
    assert len(inv) == 1200 and int(inv["value"].sum()) == sum(m * 10 + h for m in range(600) for h in (3, 4))
    assert set(df["metric"]) == {"Invocations", "CacheReadInputTokenCount", "ModelInvocationLogsS3DeliverySuccess"}
    assert int(df[df["metric"] == "ModelInvocationLogsS3DeliverySuccess"]["value"].sum()) == 5 * 24


def _ce_page(day: str, groups: list, token: str | None) -> dict:
    d1 = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    page = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            "ResultsByTime": [{"TimePeriod": {"Start": day, "End": d1}, "Total": {}, "Groups": groups, "Estimated": False}],
            "DimensionValueAttributes": []}
    if token:
        page["NextPageToken"] = token
    return page


def test_cost_explorer_pages_discovery_and_cache(aws_env, tmp_path, monkeypatch):
    moto, day = aws_env, dt.date(2026, 10, 12)
    services = ["Amazon Bedrock", "Claude 3 Haiku (Amazon Bedrock Edition)", "Claude Sonnet 4 (Amazon Bedrock Edition)",
                "Amazon Bedrock AgentCore"]
    groups = [{"Keys": [services[i % 4], f"USE1-Item{i:02d}-input-tokens"],
               "Metrics": {"UnblendedCost": {"Amount": f"0.{i + 1:02d}", "Unit": "USD"},
                           "UsageQuantity": {"Amount": str(i + 1), "Unit": "N/A"}}} for i in range(30)]
    pages = [_ce_page(day.isoformat(), groups[i:i + 10], f"p{i + 10}" if i + 10 < 30 else None) for i in range(0, 30, 10)]
    queue_ce_pages(moto, pages)
    monkeypatch.setitem(EMULATOR, "ce_dimension_page_size", 1)
    rec = Recorder()
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-parameter-build", rec)])
    ctx = moto.ctx()
    closed_at = dt.datetime(2026, 10, 15, 0, 1, tzinfo=dt.timezone.utc)
    got = aws.fetch_cost_explorer(ctx, day, tmp_path, now=closed_at - dt.timedelta(hours=2))   # day not closed yet
    assert len(got["pages"]) == 3 and not got["closed"]
    assert len(rec.ops("ce", "GetDimensionValues")) == 4                  # 4 values, one per page
    assert got["request"]["Filter"]["And"][0]["Dimensions"]["Values"] == sorted(services[:3])   # AgentCore is not Bedrock usage
    assert got["request"]["Filter"]["And"][1] == {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}}
    # the usage request's 3 pages, then the adjustments request (RECORD_TYPE x USAGE_TYPE): one page, $0.01 more
    assert [bool(c[2].get("NextPageToken")) for c in rec.ops("ce", "GetCostAndUsage")] == [False, True, True, False]
    assert [c[2]["GroupBy"][0]["Key"] for c in rec.ops("ce", "GetCostAndUsage")] == ["SERVICE"] * 3 + ["RECORD_TYPE"]
    assert got["requests_made"] == 4 + 4
    bill = billsrc.parse_cost_explorer_pages(got["pages"])
    assert len(bill) == 30 and sum(money.dec(c) for c in bill["cost_usd"]) == sum(money.dec(f"0.{i:02d}") for i in range(1, 31))
    n = len(rec.calls)
    again = aws.fetch_cost_explorer(ctx, day, tmp_path)                    # cached before the close: fetched again
    assert len(rec.calls) == n + 4 + 4 and again["closed"] and not again.get("from_cache")
    third = aws.fetch_cost_explorer(ctx, day, tmp_path)                    # cached after the close: free
    assert len(rec.calls) == n + 8 and third.get("from_cache") and third["pages"] == again["pages"]
    assert aws.ce_day_closed(day, closed_at) and not aws.ce_day_closed(day, closed_at - dt.timedelta(minutes=2))


def test_cur_export_download(aws_env, tmp_path):
    moto = aws_env
    header = ["line_item_usage_start_date", "line_item_product_code", "product_servicecode", "line_item_usage_type",
              "line_item_operation", "line_item_usage_amount", "line_item_unblended_cost", "line_item_line_item_type",
              "product_region_code", "bill_billing_entity"]
    rows = [["2026-10-18T00:00:00Z", "AmazonBedrock", "AmazonBedrock", "USE1-NovaLite-input-tokens",
             "InvokeModelInference", "10.625", "0.0006375", "Usage", "us-east-1", "AWS"],
            ["2026-10-18T00:00:00Z", "AmazonS3", "AmazonS3", "USE1-TimedStorage", "", "1", "0.5", "Usage", "us-east-1", "AWS"]]
    src = tmp_path / "src" / "exports" / "bedrock" / "data" / "BILLING_PERIOD=2026-10"
    src.mkdir(parents=True)
    (src / "part-0.csv.gz").write_bytes(gzip.compress(("\n".join(",".join(r) for r in [header] + rows) + "\n").encode()))
    (src / "manifest.json").write_text("{}")
    upload_tree(moto, tmp_path / "src", "cur-bucket")
    ctx = moto.ctx()
    paths = s3.fetch_cur(ctx, "s3://cur-bucket/exports/bedrock/", tmp_path / "dl")
    assert [p.name for p in paths] == ["part-0.csv.gz"]
    df, report = billsrc.read_cur(paths, "2026-10-18", "2026-10-18")
    assert report["rows_read"] == 2 and list(df["cost_usd"]) == ["0.0006375"]
    assert s3.fetch_cur(ctx, "s3://cur-bucket/exports/bedrock/", tmp_path / "dl") == paths   # no re-download needed


# ---------------------------------------------------------------------------------------------------------------------
# (5) access denied and expired credentials: one line naming the IAM action
# ---------------------------------------------------------------------------------------------------------------------
def test_access_denied_and_expired_messages(aws_demo, monkeypatch):
    moto, spec = aws_demo["moto"], aws_demo["spec"]
    day = dt.date.fromisoformat(spec.dates[0])

    def ctx_with(plan):
        monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-send", Injector(plan))])
        return moto.ctx("us-east-1", account=spec.account, bucket=spec.bucket, prefix=spec.prefix)

    def message(fn, plan) -> str:
        with pytest.raises(aws.AwsAccessError) as e:
            fn(ctx_with(plan))
        assert "\n" not in str(e.value)
        return str(e.value)

    deny = lambda code="AccessDenied", status=403: (lambda op: True, code, status)      # noqa: E731
    assert message(lambda c: s3.list_log_objects(c, day, 3), {"s3": deny()}) == \
        f"AccessDenied: the kit needs s3:ListBucket on arn:aws:s3:::{spec.bucket}"
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-send", Injector({"s3": (lambda op: op == "GetObject", "AccessDenied", 403)}))])
    objs, _ = s3.list_log_objects(moto.ctx("us-east-1", account=spec.account, bucket=spec.bucket, prefix=spec.prefix), day, 3)
    with pytest.raises(aws.AwsAccessError, match=r"^AccessDenied: the kit needs s3:GetObject on arn:aws:s3:::demo-bedrock-logs/bedrock/"):
        objs[0].read()
    assert message(lambda c: aws.fetch_cloudwatch(c, day), {"cloudwatch": deny()}) == \
        "AccessDenied: the kit needs cloudwatch:ListMetrics on *"
    assert message(lambda c: aws.fetch_cloudwatch(c, day), {"cloudwatch": (lambda op: op == "GetMetricData", "AccessDenied", 403)}) == \
        "AccessDenied: the kit needs cloudwatch:GetMetricData on *"
    assert message(lambda c: aws.fetch_cost_explorer(c, day, Path("/nonexistent-cache")), {"ce": deny("AccessDeniedException", 400)}) == \
        "AccessDenied: the kit needs ce:GetDimensionValues on *"
    assert message(lambda c: athena.run_query(c, "SELECT 1", None, "bedrock_logs"), {"athena": deny("AccessDeniedException", 400)}) == \
        f"AccessDenied: the kit needs athena:StartQueryExecution on arn:aws:athena:us-east-1:{spec.account}:workgroup/primary"
    expired = message(lambda c: s3.list_log_objects(c, day, 3), {"s3": deny("ExpiredToken", 400)})
    assert expired.startswith("ExpiredToken: the AWS credentials have expired") and "s3:ListBucket" in expired
    assert message(lambda c: aws.fetch_cloudwatch(c, day), {"cloudwatch": deny("ExpiredToken", 403)}).startswith("ExpiredToken:")
    assert message(lambda c: aws.fetch_cost_explorer(c, day, Path("/nonexistent-cache")),
                   {"ce": deny("ExpiredTokenException", 400)}).startswith("ExpiredToken:")


def test_access_denied_is_the_recorded_failure_reason(aws_demo, tmp_path):
    """moto enforcing IAM for real: a user denied athena:StartQueryExecution; the runner records the one-line reason.

    (The Athena engine is used because moto 5.1.16 cannot verify SigV4 signatures of S3 requests whose query string
    has an encoded '/', e.g. ListObjectsV2 with Prefix and Delimiter: every S3 listing fails with
    SignatureDoesNotMatch under enforcement. The S3 message is checked in the test above.)"""
    from tracker_utils.run import runner
    moto, spec = aws_demo["moto"], aws_demo["spec"]
    iam = moto.client("iam")
    iam.create_user(UserName="tracker-no-athena")
    iam.put_user_policy(UserName="tracker-no-athena", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                               {"Effect": "Deny", "Action": "athena:StartQueryExecution", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="tracker-no-athena")["AccessKey"]
    pf = write_params(tmp_path / "params.yaml", output_dir=str(tmp_path / "out"), start=spec.dates[0], end=spec.dates[0],
                      **aws_values(moto, spec, engine="athena"))
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    os.environ.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    os.environ.pop("AWS_SESSION_TOKEN", None)
    moto.set_auth(True)
    try:
        out = runner.run_one(str(pf), {}, spec.dates[0], "us-east-1", force=True)
    finally:
        moto.set_auth(False)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    assert out.status == "failed" and out.failed_notebook == "01_collect"
    assert out.error == ("AwsAccessError: AccessDenied: the kit needs athena:StartQueryExecution on "
                         f"arn:aws:athena:us-east-1:{spec.account}:workgroup/primary")
    run = json.loads((tmp_path / "out" / spec.dates[0] / "us-east-1" / "run.json").read_text())
    assert run["error"] == out.error and not (tmp_path / "out" / spec.dates[0] / "us-east-1" / "summary.json").exists()


# ---------------------------------------------------------------------------------------------------------------------
# (6) Athena: the SQL proved on DuckDB, and the engine on moto with results paged beyond 1,000 rows
# ---------------------------------------------------------------------------------------------------------------------
def test_athena_query_equals_local_reader_on_duckdb(small_demo, tmp_path):
    root, spec, _ = small_demo
    con = duckdb_athena(root / "s3" / spec.bucket, spec.bucket)
    import sqlglot
    from sqlglot import exp
    for region in spec.regions:
        for date in spec.dates:
            cfg = run_cfg(tmp_path, date, region, data_root=str(root), logs_as_of="+1h")
            sql = athena.query_text(cfg)
            tree = sqlglot.parse_one(sql, read="trino")
            marks = list(tree.find_all(exp.Placeholder))
            assert len(marks) == 7 and all(m.find_ancestor(exp.Where) for m in marks)    # Athena: `?` only in WHERE
            scans = [t for t in tree.find_all(exp.Table) if t.name == "invocations"]
            assert len(scans) == 1 and not any(c.alias_or_name in ("raw",) for c in tree.find_all(exp.CTE))
            cols, rows = run_duckdb(con, sql, athena.query_values(cfg))
            assert_same_logs(athena.result_to_logs(cols, rows), local_logs(root, spec, cfg))


def test_athena_query_reads_both_cache_spellings_on_duckdb(small_demo, tmp_path):
    """The demo's log files with every other record's cache counts under ``cacheReadInputTokens`` /
    ``cacheWriteInputTokens``: the query and the local reader agree, and the totals are those of the demo."""
    root, spec, _ = small_demo
    region, date = spec.regions[0], spec.dates[0]
    shutil.copytree(root / "s3", tmp_path / "s3")
    for f in (tmp_path / "s3").rglob("*.json.gz"):
        if "/data/" in f.as_posix():
            continue
        lines = [json.loads(x) for x in gzip.decompress(f.read_bytes()).splitlines() if x.strip()]
        for i, r in enumerate(lines):
            inp = r.get("input") or {}
            if i % 2 and "cacheReadInputTokenCount" in inp:
                inp["cacheReadInputTokens"] = inp.pop("cacheReadInputTokenCount")
                inp["cacheWriteInputTokens"] = inp.pop("cacheWriteInputTokenCount")
        f.write_bytes(gzip.compress(b"\n".join(json.dumps(r).encode() for r in lines) + b"\n"))
        os.utime(f, (f.stat().st_atime, (root / f.relative_to(tmp_path)).stat().st_mtime))
    con = duckdb_athena(tmp_path / "s3" / spec.bucket, spec.bucket)
    cfg = run_cfg(tmp_path / "out", date, region, data_root=str(tmp_path), logs_as_of="+1h")
    cols, rows = run_duckdb(con, athena.query_text(cfg), athena.query_values(cfg))
    got = athena.result_to_logs(cols, rows)
    assert_same_logs(got, local_logs(tmp_path, spec, cfg))
    demo = local_logs(root, spec, cfg).used
    assert demo["cache_read_tokens"].sum() > 0 and demo["cache_write_tokens"].sum() > 0
    for c in ("cache_read_tokens", "cache_write_tokens"):
        assert got.used[c].sum() == demo[c].sum()


@pytest.fixture(scope="module")
def big_demo(tmp_path_factory):
    """One region, two days, ~1,500 invocations on day 2 (1,300+ groups), plus a re-delivered (duplicate) file and
    a file with a line that is not JSON and a record without token counts."""
    from tracker_utils import demo
    root = tmp_path_factory.mktemp("big_demo")
    spec = demo.DemoSpec(per_day=1300, days=2, regions=("us-east-1",), start="2026-10-06")
    demo.build_demo(root, spec)
    base = root / "s3" / spec.bucket / logsrc.log_base(spec.prefix, spec.account, "us-east-1")
    first = sorted((base / "2026/10/07/10").glob("*.json.gz"))[0]
    shutil.copy(first, base / "2026/10/07/11" / "20261007T115959123Z_0d0d0d0d0d0d0d0d.json.gz")
    bad = [b'{"not json', json.dumps({"timestamp": "2026-10-07T10:00:01Z", "requestId": "no-tokens", "operation": "Converse",
                                      "modelId": "amazon.nova-lite-v1:0", "input": {}, "output": {"outputTokenCount": 1}}).encode()]
    (base / "2026/10/07/10" / "20261007T103000Z_0b0b0b0b0b0b0b0b.json.gz").write_bytes(gzip.compress(b"\n".join(bad) + b"\n"))
    return root, spec


def test_athena_engine_on_moto_pages_beyond_1000_rows(aws_env, big_demo, tmp_path, monkeypatch):
    moto, (root, spec) = aws_env, big_demo
    date = spec.dates[1]
    cfg = run_cfg(tmp_path, date, "us-east-1", source="aws", endpoint_url=moto.endpoint, logs_bucket=spec.bucket,
                  logs_prefix=spec.prefix, account=spec.account, logs_as_of="+1h", regions=["us-east-1"],
                  engine="athena", athena_workgroup="primary")
    con = duckdb_athena(root / "s3" / spec.bucket, spec.bucket)
    cols, rows = run_duckdb(con, athena.query_text(cfg), athena.query_values(cfg))
    assert len(rows) > 1100
    queue_athena_result(moto, cols, rows)                 # what Athena answers: the same rows, as strings
    rec = Recorder()
    # throttling and a 5xx on Athena are retried to the same result (issue 8)
    inj = Injector({"athena": (lambda op: op in ("GetQueryExecution", "GetQueryResults") and inj.seen["athena"] in (2, 5),
                               "ThrottlingException", 400)})
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-send", inj), ("before-parameter-build", rec)])
    monkeypatch.setattr(athena, "POLL_FIRST", 0.01)
    res = athena.collect(moto.ctx("us-east-1", account=spec.account), cfg)
    assert res.quality["athena"]["result_pages"] == 2 and res.quality["athena"]["result_rows"] == len(rows)
    assert inj.done == {"athena": 2}
    assert len(rec.ops("athena", "GetQueryResults")) >= 2
    start = rec.ops("athena", "StartQueryExecution")[0][2]
    assert start["ExecutionParameters"] == [f"'{spec.account}'", "'us-east-1'", "'2026/10/07/00'", "'2026/10/08/02'", "'*'", "'*'", "'*'"]
    assert start["QueryString"] == athena.query_text(cfg) and not any(k in start["QueryString"] for k in athena.LITERALS)
    local = local_logs(root, spec, cfg)
    assert local.quality["records_duplicate"] > 0 and local.quality["records_malformed"] == 2
    assert_same_logs(res, local)
    assert_same_logs(athena.result_to_logs(cols, rows), local)


def test_pricing_weights_athena_groups_by_records(big_demo, tmp_path):
    from tracker_utils.apps import Attribution
    from tracker_utils.price.pricer import aggregate_logs
    root, spec = big_demo
    cfg = run_cfg(tmp_path, spec.dates[1], "us-east-1", data_root=str(root), logs_as_of="+1h", regions=["us-east-1"])
    con = duckdb_athena(root / "s3" / spec.bucket, spec.bucket)
    res = athena.result_to_logs(*run_duckdb(con, athena.query_text(cfg), athena.query_values(cfg)))
    attr = Attribution.load(REPO / "params" / "apps.yaml", REPO / "params" / "inference_profiles.yaml")
    keys = ["hour", "model_id", "principal", "app", "operation", "status", "request_metadata", "day_edge"]
    a = aggregate_logs(res.used, attr).groupby(keys)[["invocations", "input_tokens", "sessions"]].sum()
    b = aggregate_logs(local_logs(root, spec, cfg).used, attr).groupby(keys)[["invocations", "input_tokens", "sessions"]].sum()
    pd.testing.assert_frame_equal(a, b)


def test_athena_create_table_statement(aws_env, monkeypatch):
    p = config.load_params(None, {"regions": ["us-east-1", "ap-northeast-2"]})
    ddl = athena.create_table_sql(p)
    assert "LOCATION 's3://demo-bedrock-logs/bedrock/invocation-logs/AWSLogs/'" in ddl
    assert "'storage.location.template' = 's3://demo-bedrock-logs/bedrock/invocation-logs/AWSLogs/${account}/" \
           "BedrockModelInvocationLogs/${log_region}/${dt}/'" in ddl
    assert "'projection.account.values' = '123456789012'" in ddl
    assert "'projection.log_region.values' = 'us-east-1,ap-northeast-2'" in ddl and "yyyy/MM/dd/HH" in ddl
    for bad in ({"athena_table": "x; DROP TABLE y"}, {"logs_prefix": "a'b"}, {"athena_database": "db-1"}):
        with pytest.raises((ValueError, config.ParamError)):
            athena.create_table_sql(config.load_params(None, bad))
    rec = Recorder()
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-parameter-build", rec)])
    monkeypatch.setattr(athena, "POLL_FIRST", 0.01)
    ids = athena.create_table(aws_env.ctx("us-east-1", account="123456789012"), p)
    assert len(ids) == 2
    sent = [c[2]["QueryString"] for c in rec.ops("athena", "StartQueryExecution")]
    assert sent[0] == "CREATE DATABASE IF NOT EXISTS bedrock_logs" and sent[1].startswith("CREATE EXTERNAL TABLE IF NOT EXISTS")


# ---------------------------------------------------------------------------------------------------------------------
# (7) the app filter is data, never SQL
# ---------------------------------------------------------------------------------------------------------------------
INJECTION = "%' OR '1'='1"


ATHENA = {"source": "aws", "engine": "athena"}      # app_filter is only taken by the athena engine (issue 14)


def test_app_filter_injection_is_a_parameter(aws_env, small_demo, tmp_path, monkeypatch):
    root, spec, _ = small_demo
    moto = aws_env
    cfg = run_cfg(tmp_path, spec.dates[0], "us-east-1", source="aws", endpoint_url=moto.endpoint, engine="athena",
                  logs_bucket=spec.bucket, account=spec.account, logs_as_of="+1h", app_filter=INJECTION)
    principal = athena.principal_filter(cfg.params)
    assert principal == INJECTION
    # DuckDB, prepared parameters: nothing matches the literal string
    con = duckdb_athena(root / "s3" / spec.bucket, spec.bucket)
    sql = athena.query_text(cfg)
    cols, rows = run_duckdb(con, sql, athena.query_values(cfg, principal))
    res = athena.result_to_logs(cols, rows, principal=principal)
    assert res.used.empty and res.late.empty and res.quality["records_read"] == 0
    # the same value pasted into the text (what the seed tool did) returns every row: the test has teeth
    pasted = sql.replace("? = '*'", "'' = '*'").replace("contains(split(?, '|'), identity.arn)",
                                                         f"identity.arn LIKE '%{INJECTION}%'")
    cols2, rows2 = run_duckdb(con, pasted, athena.query_values(cfg, principal)[:4] + [principal])
    assert athena.result_to_logs(cols2, rows2).quality["records_used"] == 300
    # Athena on moto: the value travels in ExecutionParameters only
    queue_athena_result(moto, cols, rows)
    rec = Recorder()
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-parameter-build", rec)])
    monkeypatch.setattr(athena, "POLL_FIRST", 0.01)
    got = athena.collect(moto.ctx("us-east-1", account=spec.account), cfg)
    start = rec.ops("athena", "StartQueryExecution")[0][2]
    assert start["ExecutionParameters"][4:] == ["'%'' OR ''1''=''1'"] * 3
    assert INJECTION not in start["QueryString"] and "1'='1" not in start["QueryString"]
    assert got.used.empty
    # an application of apps.yaml becomes its exact role / user names; a glob or metadata rule cannot pre-filter
    assert athena.principal_filter(config.load_params(None, {"app_filter": "Analytics", **ATHENA})) == "alice|bob.data"
    assert athena.principal_filter(config.load_params(None, {"app_filter": "Chatbot", **ATHENA})) == "ChatbotProd-BedrockRole"
    assert athena.principal_filter(config.load_params(None, {"app_filter": "SupportAgent", **ATHENA})) == "*"
    assert athena.principal_filter(config.load_params(None, {})) == "*"
    cfg2 = run_cfg(tmp_path, spec.dates[0], "us-east-1", data_root=str(root), logs_as_of="+1h")
    cols3, rows3 = run_duckdb(con, athena.query_text(cfg2), athena.query_values(cfg2, "alice|bob.data"))
    only = athena.result_to_logs(cols3, rows3, principal="alice|bob.data")
    assert set(only.used["principal"]) == {f"arn:aws:iam::{spec.account}:user/alice", f"arn:aws:iam::{spec.account}:user/bob.data"}
    loc = local_logs(root, spec, cfg2)
    assert only.quality["records_used"] == int(loc.used["principal"].str.contains(":user/(?:alice|bob.data)$").sum())


# ---------------------------------------------------------------------------------------------------------------------
# (8) least privilege: every operation the kit made is in docs/iam-policy.json, and nothing else is
# ---------------------------------------------------------------------------------------------------------------------
# Actions the policy grants that the kit's own boto3 calls never show: Athena performs them with the caller's
# credentials (reading the Glue catalog and the log bucket, writing query results), or other commands make them.
INDIRECT = {
    "glue:GetDatabase": "Athena reads the catalog for every query",
    "glue:GetTable": "Athena reads the table definition for every query",
    "glue:CreateDatabase": "Athena runs CREATE DATABASE (create-table, once)",
    "glue:CreateTable": "Athena runs CREATE EXTERNAL TABLE (create-table, once)",
    "s3:GetBucketLocation": "Athena locates the log and result buckets",
    "s3:PutObject": "Athena writes query results",
    "s3:AbortMultipartUpload": "Athena writes query results",
    "s3:ListMultipartUploadParts": "Athena writes query results",
    "s3:ListBucketMultipartUploads": "Athena writes query results",
    "pricing:GetProducts": "bedrock-tracker prices refresh (tracker_utils/price_refresh.py)",
    # moto has no GetInferenceProfile: tracker_utils/profiles.py calls both, proven with Stubber in test_profiles.py
    "bedrock:GetInferenceProfile": "application profiles missing from params/inference_profiles.yaml",
    "bedrock:GetProvisionedModelThroughput": "provisioned models missing from params/inference_profiles.yaml",
    "bedrock:ListTagsForResource": "the tags of those application profiles (attribution)",
}


def test_least_privilege_policy_covers_every_call(aws_chain, aws_demo, big_demo, tmp_path, monkeypatch):
    policy = json.loads((REPO / "docs" / "iam-policy.json").read_text())
    granted = set()
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow" and "*" not in "".join(st["Action"])
        granted.update(st["Action"])
    # operations of the notebook chain (recorded in the kernels) ...
    made = {tuple(line.split()) for line in aws_chain[2].read_text().splitlines() if line.strip()}
    # ... and of the Athena engine, CUR download and create-table, run here
    rec = Recorder()
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-parameter-build", rec)])
    monkeypatch.setattr(athena, "POLL_FIRST", 0.01)
    moto, spec = aws_demo["moto"], aws_demo["spec"]
    cfg = run_cfg(tmp_path, spec.dates[0], "us-east-1", **aws_values(moto, spec, engine="athena"))
    con = duckdb_athena(aws_demo["root"] / "s3" / spec.bucket, spec.bucket)
    queue_athena_result(moto, *run_duckdb(con, athena.query_text(cfg), athena.query_values(cfg)))
    collect.run(cfg)
    athena.create_table(moto.ctx("us-east-1", account=spec.account), cfg.params)
    # ... and of `bedrock-tracker doctor` (with --check-bill) and a run that reads the logging configuration
    from tracker_utils.collect import doctor, logconfig
    doctor.check(cfg.params, check_bill=True, until=dt.date.fromisoformat(spec.dates[-1]))
    try:
        logconfig.discover(cfg.params, "us-east-1")
    except aws.AwsAccessError:
        pass                       # logging off in the emulator: the call was made all the same
    # ... and of finding the CUR 2.0 export with Data Exports (not in moto: answered by a before-call hook)
    from tests.test_exports import DataExports
    from tracker_utils.collect import exports
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-parameter-build", rec),
                                             ("before-call.bcm-data-exports", DataExports({"cur": "COST_AND_USAGE_REPORT"}))])
    assert len(exports.cur_exports(moto.ctx("us-east-1"))) == 1
    made |= {(s, o) for s, o, _ in rec.calls}
    needed = {aws.iam_action(s, o) for s, o in made}
    assert needed - granted == set(), f"operations not in docs/iam-policy.json: {sorted(needed - granted)}"
    assert granted - needed - set(INDIRECT) == set(), f"policy grants unused actions: {sorted(granted - needed - set(INDIRECT))}"
    assert needed >= {"s3:ListBucket", "s3:GetObject", "cloudwatch:ListMetrics", "cloudwatch:GetMetricData",
                      "ce:GetCostAndUsage", "ce:GetDimensionValues", "athena:StartQueryExecution",
                      "athena:GetQueryExecution", "athena:GetQueryResults",
                      "bedrock:GetModelInvocationLoggingConfiguration", "sts:GetCallerIdentity",
                      "servicequotas:ListServiceQuotas", "bcm-data-exports:ListExports", "bcm-data-exports:GetExport"}

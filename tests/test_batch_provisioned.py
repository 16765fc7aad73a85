"""Batch jobs and provisioned throughput (issue 19, points 2 and 4): the ListModelInvocationJobs and manifest.json.out
shapes, the batch price, the ledger's batch and provisioned lines, the chargeback's split, and the demo's truth."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from types import SimpleNamespace

import pandas as pd
import pytest

from tracker_utils.collect import batch
from tracker_utils.usage_types import parse_usage_type

DAY = dt.date(2026, 11, 4)
ACCOUNT = "123456789012"


def job(name: str, job_id: str, status: str = "Completed", end: str | None = "2026-11-04T03:12:45Z",
        model: str = "amazon.nova-lite-v1:0", out_uri: str = "s3://out-bucket/results/") -> dict:
    """One invocationJobSummaries entry as boto3's ListModelInvocationJobs returns it (timestamps as datetimes)."""
    j = {"jobArn": f"arn:aws:bedrock:us-east-1:{ACCOUNT}:model-invocation-job/{job_id}", "jobName": name,
         "modelId": model, "roleArn": f"arn:aws:iam::{ACCOUNT}:role/BatchRole", "status": status,
         "submitTime": dt.datetime(2026, 11, 3, 22, 40, tzinfo=dt.timezone.utc),
         "lastModifiedTime": dt.datetime(2026, 11, 4, 3, 12, 45, tzinfo=dt.timezone.utc),
         "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://in-bucket/x.jsonl", "s3InputFormat": "JSONL"}},
         "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": out_uri}}, "timeoutDurationInHours": 24}
    if end:
        j["endTime"] = dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
    return j


MANIFEST = {"totalRecordCount": 800, "processedRecordCount": 800, "successRecordCount": 796, "errorRecordCount": 4,
            "inputTokenCount": 1_600_000, "outputTokenCount": 410_000}


def test_listing_shape_is_botocores():
    """The summaries used here validate against botocore's own ListModelInvocationJobs output shape (the Stubber
    checks every field name and type)."""
    import boto3
    from botocore.stub import Stubber
    client = boto3.client("bedrock", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("list_model_invocation_jobs", {"invocationJobSummaries": [job("a", "j1")]})
        assert client.list_model_invocation_jobs()["invocationJobSummaries"][0]["jobName"] == "a"


@pytest.mark.parametrize("code,status", [("404", 404), ("UnknownOperationException", 400)])
def test_a_listing_not_served_is_recorded_and_collect_goes_on(code, status):
    """An endpoint or region that does not serve ListModelInvocationJobs (moto answers 404) is one recorded line,
    not an abort; a denial still names the IAM action."""
    import boto3
    from botocore.stub import Stubber
    from tracker_utils.collect.aws import AwsAccessError
    client = boto3.client("bedrock", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    ctx = SimpleNamespace(client=lambda name: client)
    with Stubber(client) as stub:
        stub.add_client_error("list_model_invocation_jobs", code, "Not Found", status)
        with pytest.raises(batch.ListingUnavailable, match="ListModelInvocationJobs is not served"):
            batch.fetch_listing(ctx, DAY)
        stub.add_client_error("list_model_invocation_jobs", "AccessDeniedException", "no", 403)
        with pytest.raises(AwsAccessError, match="bedrock:ListModelInvocationJobs"):
            batch.fetch_listing(ctx, DAY)
    assert not issubclass(batch.ListingUnavailable, AwsAccessError)


def test_jobs_of_the_day_by_end_time():
    pages = [{"invocationJobSummaries": [job("today", "j1"), job("yesterday", "j2", end="2026-11-03T23:59:59Z")]},
             {"invocationJobSummaries": [job("running", "j3", status="InProgress", end=None),
                                         job("failed", "j4", status="Failed"),
                                         job("midnight", "j5", end="2026-11-04T00:00:00Z"),
                                         job("tomorrow", "j6", end="2026-11-05T00:00:00Z")]}]
    jobs, counts = batch.jobs_of_day(pages, DAY)
    assert [j["jobName"] for j in jobs] == ["today", "midnight"]
    assert counts == {"jobs_listed": 6, "jobs_of_day": 2, "jobs_not_ended": 1, "jobs_failed_that_day": 1}


@pytest.mark.parametrize("uri,key", [("s3://out-bucket/results/", "results/j1/manifest.json.out"),
                                     ("s3://out-bucket/results", "results/j1/manifest.json.out"),
                                     ("s3://out-bucket", "j1/manifest.json.out")])
def test_manifest_location_is_the_job_id_folder(uri, key):
    assert batch.manifest_location(job("a", "j1", out_uri=uri)) == ("out-bucket", key)


def test_manifest_fields_and_bad_manifests():
    got = batch.parse_manifest(json.dumps(MANIFEST).encode(), "m")
    assert got == {"records_total": 800, "records_processed": 800, "records_success": 796, "records_error": 4,
                   "input_tokens": 1_600_000, "output_tokens": 410_000}
    # an embedding job's manifest has no outputTokenCount: 0
    assert batch.parse_manifest(b'{"totalRecordCount": 2, "inputTokenCount": 7}', "m")["output_tokens"] == 0
    for bad in (b"{", b"[1]", b'{"inputTokenCount": -1}', b'{"inputTokenCount": "12"}', b'{"outputTokenCount": 1.5}'):
        with pytest.raises(ValueError, match="^m: "):
            batch.parse_manifest(bad, "m")


def test_frame_counts_missing_and_bad_manifests():
    store = {("out-bucket", "results/j1/manifest.json.out"): json.dumps(MANIFEST).encode(),
             ("out-bucket", "results/j3/manifest.json.out"): b"not json"}
    jobs = [job("good", "j1"), job("missing", "j2"), job("broken", "j3")]
    df, seen = batch.frame(jobs, lambda b, k: store.get((b, k)))
    assert list(df["manifest_found"]) == [True, False, False]
    assert int(df["input_tokens"].sum()) == 1_600_000 and int(df["output_tokens"].sum()) == 410_000
    assert seen["manifests_read"] == 1 and seen["manifests_missing"] == ["missing"]
    assert len(seen["manifests_bad"]) == 1 and seen["manifests_bad"][0].startswith("broken: s3://out-bucket/results/j3")


def test_local_reader_stays_inside_its_folder(tmp_path):
    (tmp_path / "s3" / "b" / "k").mkdir(parents=True)
    (tmp_path / "s3" / "b" / "k" / "manifest.json.out").write_text("{}")
    read = batch.local_reader(tmp_path)
    assert read("b", "k/manifest.json.out") == b"{}" and read("b", "nope") is None
    with pytest.raises(ValueError, match="outside"):
        read("b", "../../../etc/passwd")


@pytest.mark.parametrize("usage_type,name", [("USE1-NovaLite-ProvisionedThroughput-1Month-ModelUnits", "NovaLite"),
                                             ("USW2-Claude3Haiku-Provisioned-Throughput", "Claude3Haiku"),
                                             ("USE1-NovaPro-ProvisionedModelUnits", "NovaPro")])
def test_provisioned_usage_types(usage_type, name):
    u = parse_usage_type(usage_type, "Amazon Bedrock")
    assert (u.recognized, u.tier, u.unit, u.billing_name, u.tokens_per_unit) == (True, "provisioned", "model_unit_hours",
                                                                                 name, 1)
    # a batch line is still per token, with its tier
    b = parse_usage_type("USE1-Claude4Sonnet-input-tokens-batch", "Amazon Bedrock")
    assert (b.unit, b.tier, b.tokens_per_unit) == ("input", "batch", 1000)


def _priced_jobs(rows):
    from tracker_utils.apps import Attribution
    from tracker_utils.price.batch import price_jobs
    from tracker_utils.price.book import PriceBook
    from tracker_utils.price.pricer import Pricer
    rules = [{"app": "Docs", "team": "K", "cost_centre": "C1", "match": {"batch_job": "doc-*"}}]
    df = pd.DataFrame(rows, columns=["job_name", "model_id", "role_arn", "input_tokens", "output_tokens"])
    return price_jobs(df, Pricer(PriceBook.load(), "us-east-1", "2026-11-04"), Attribution(rules))


def test_batch_price_is_the_books_batch_row_never_a_fallback():
    """Nova Lite batch in us-east-1: $0.00003 / $0.00012 per 1K (prices.csv, 50% of on-demand); a model with no batch
    row is unpriced, not priced at on-demand."""
    role = f"arn:aws:iam::{ACCOUNT}:role/BatchRole"
    df, unpriced = _priced_jobs([["doc-1", "amazon.nova-lite-v1:0", role, 1_600_000, 410_000],
                                 ["other", "us.amazon.nova-lite-v1:0", role, 1000, 0],
                                 ["doc-2", "anthropic.claude-3-7-sonnet-20250219-v1:0", role, 1000, 1000]])
    assert df["cost_usd"].tolist()[:2] == [Decimal("1600") * Decimal("0.00003") + Decimal("410") * Decimal("0.00012"),
                                          Decimal("0.00003")]
    assert df["scope"].tolist()[:2] == ["in_region", "geo"]
    assert df["app"].tolist() == ["Docs", "role:BatchRole", "Docs"] and df["matched"].tolist() == [True, False, True]
    claude = df.iloc[2]         # Claude 3.7 Sonnet has no batch row in the book (bedrock-facts: batch "-")
    assert not claude["priced"] and claude["cost_usd"] == 0
    assert [(u["model"], u["unit"], u["jobs"]) for u in unpriced] == [
        ("anthropic.claude-3-7-sonnet-20250219-v1:0", "input", ["doc-2"]),
        ("anthropic.claude-3-7-sonnet-20250219-v1:0", "output", ["doc-2"])]


def _bill_row(usage_type: str, cost: str, tokens: int, quantity: str | None = None):
    u = parse_usage_type(usage_type, "Amazon Bedrock")
    return SimpleNamespace(usage_type=usage_type, service="Amazon Bedrock", base_model="amazon.nova-lite-v1:0",
                           unit=u.unit, tier=u.tier, scope=u.scope, endpoint=u.endpoint, tokens=tokens, cost_usd=cost,
                           quantity=quantity or str(Decimal(tokens) / 1000), matched=True, recognized=True,
                           billing_name=u.billing_name, record_type="usage")


def _ledger(rows, jobs):
    from tracker_utils.reconcile.ledger import Ledger
    led = Ledger()
    bill = pd.DataFrame([vars(r) for r in rows])
    empty = pd.DataFrame(columns=["base_model", "scope", "tier"])
    led.bill(bill, empty, empty, {"source": "ce"}, [], (Decimal("0.0001"), Decimal(1)), jobs)
    return led.models["amazon.nova-lite-v1:0"]["gaps"]


def _jobs(tokens_in: int, cost_in: str, names=("doc-1",)):
    return pd.DataFrame({"job_name": list(names), "base_model": "amazon.nova-lite-v1:0", "scope": "in_region",
                         "input_tokens": [tokens_in] + [0] * (len(names) - 1), "output_tokens": 0,
                         "cost_input": [Decimal(cost_in)] + [Decimal(0)] * (len(names) - 1),
                         "cost_output": Decimal(0)})


def test_batch_line_explained_by_manifests_and_the_rest_unlogged():
    """2,000K tokens billed at $0.06; the manifests hold 1,600K ($0.048): batch $0.048, unlogged $0.012 / 400K."""
    gaps = _ledger([_bill_row("USE1-NovaLite-input-tokens-batch", "0.06", 2_000_000)], _jobs(1_600_000, "0.048"))
    assert set(gaps) == {"batch", "unlogged_endpoint"}
    assert (gaps["batch"].sizes["input_tokens"], gaps["batch"].sizes["cost"]) == (1_600_000, Decimal("0.048"))
    assert (gaps["unlogged_endpoint"].sizes["input_tokens"], gaps["unlogged_endpoint"].sizes["cost"]) == \
        (400_000, Decimal("0.012"))


def test_batch_line_without_manifests_stays_unlogged_and_a_wrong_price_is_named():
    gaps = _ledger([_bill_row("USE1-NovaLite-input-tokens-batch", "0.06", 2_000_000)], None)
    assert set(gaps) == {"unlogged_endpoint"} and gaps["unlogged_endpoint"].sizes["cost"] == Decimal("0.06")
    gaps = _ledger([_bill_row("USE1-NovaLite-input-tokens-batch", "0.066", 2_000_000)], _jobs(2_000_000, "0.06"))
    assert set(gaps) == {"batch", "price_mismatch"} and gaps["price_mismatch"].sizes["cost"] == Decimal("0.006")


def test_manifests_without_a_bill_line_are_unexplained_and_provisioned_is_a_cost_line():
    gaps = _ledger([_bill_row("USE1-NovaLite-ProvisionedThroughput-1Month-ModelUnits", "2.4", 24, "24")],
                   _jobs(1000, "0.00003"))
    assert gaps["provisioned"].sizes["cost"] == Decimal("2.4") and gaps["unexplained"].sizes["cost"] == Decimal("-0.00003")
    from tracker_utils.reconcile.verdict import NOT_A_DIFFERENCE
    assert {"batch", "provisioned"} <= NOT_A_DIFFERENCE


def test_provisioned_split_by_token_share_adds_up_exactly():
    """$10 of model-unit hours over 1 and 2 tokens: $3.333333 and $6.666667 (largest remainder), the total exact."""
    from tracker_utils.reconcile.ledger import Gap
    from tracker_utils.reconcile.shares import apps_table
    g = Gap("provisioned")
    g.add(None, Decimal(10))
    models = {"m": {"billed": Decimal(10), "logs": {"cost": Decimal(0), "input_tokens": 3, "output_tokens": 0,
                                                    "cache_read_tokens": 0, "cache_write_tokens": 0},
                    "gaps": {"provisioned": g}}}
    logs = pd.DataFrame({"app": ["A", "B"], "team": "", "cost_centre": "", "matched": True, "base_model": "m",
                         "tier": "provisioned", "invocations": [1, 1], "input_tokens": [1, 2], "output_tokens": 0,
                         "cache_read_tokens": 0, "cache_write_tokens": 0, "cost_usd": [Decimal(0), Decimal(0)]})
    rows = {a["app"]: a for a in apps_table(logs, models)}
    assert rows["A"]["provisioned_share_usd"] == "3.333333" and rows["B"]["provisioned_share_usd"] == "6.666667"
    assert sum(Decimal(a["billed_share_usd"]) for a in rows.values()) == Decimal(10)


@pytest.fixture(scope="module")
def demo_day(tmp_path_factory):
    """The small demo's last day in us-east-1 through collect, price and reconcile (in this process)."""
    from tracker_utils import config, demo
    from tracker_utils.collect import stage as collect
    from tracker_utils.price import stage as pricing
    from tracker_utils.reconcile import stage as reconcile
    root = tmp_path_factory.mktemp("bp") / "demo"
    spec = demo.DemoSpec(per_day=300)
    truth = demo.build_demo(root, spec)
    date = spec.dates[-1]
    cfg = config.resolve(date, "us-east-1", data_root=str(root), output_dir=str(root.parent / "out"),
                         start=spec.start, end=date)
    collect.run(cfg)
    pricing.run(cfg)
    return reconcile.run(cfg), truth["runs"][f"{date}/us-east-1"]


def test_demo_batch_jobs_equal_their_truth(demo_day):
    got, want = demo_day
    jobs = {j["job_name"]: j for j in got["batch"]["jobs"]}
    assert sorted(jobs) == [j["job_name"] for j in want["batch"]["jobs"]]
    for w in want["batch"]["jobs"]:
        g = jobs[w["job_name"]]
        assert (g["app"], g["manifest_found"], g["input_tokens"], g["output_tokens"]) == \
            (w["app"], w["manifest_found"], w["input_tokens"], w["output_tokens"])
        assert Decimal(g["cost_usd"]) == Decimal(w["cost_usd"]).quantize(Decimal("0.000001"))
    assert got["data_quality"]["batch"]["manifests_missing"] == ["nightly-eval-20261104"]
    shares = {a["app"]: Decimal(a["batch_share_usd"]) for a in got["apps"] if Decimal(a["batch_share_usd"])}
    assert shares == {a: Decimal(v).quantize(Decimal("0.000001")) for a, v in want["batch"]["app_shares"].items()}


def test_demo_provisioned_shares_equal_their_truth(demo_day):
    got, want = demo_day
    prov = want["provisioned"]
    assert Decimal(prov["billed_usd"]) > 0 and len(prov["app_shares"]) == 2
    shares = {a["app"]: Decimal(a["provisioned_share_usd"]) for a in got["apps"] if Decimal(a["provisioned_share_usd"])}
    assert set(shares) == set(prov["app_shares"])
    for app, v in prov["app_shares"].items():
        assert abs(shares[app] - Decimal(v)) <= Decimal("0.000001"), app
    assert sum(shares.values()) == Decimal(prov["billed_usd"])
    (m,) = got["provisioned"]["models"]
    assert m["tokens"] == sum(prov["tokens"].values()) and Decimal(m["billed_usd"]) == Decimal(prov["billed_usd"])
    assert not any(g["kind"] in ("unexplained", "price_mismatch") for g in got["gaps"])
    assert got["status"] == "partial"          # the unpriced model, as before: the cost lines do not move it


@pytest.mark.slow
def test_batch_jobs_from_aws_equal_the_local_collection(aws_demo, tmp_path):
    """Through moto over HTTP: ListModelInvocationJobs (the emulator's addition, paged) and the manifests from S3 give
    the local folder's batch frame and counts; the listing is kept under data/raw/batch/ for replay."""
    from tests.test_aws import aws_values, run_cfg
    from tracker_utils.collect import stage as collect
    from tracker_utils.schema import COLLECT
    moto, spec = aws_demo["moto"], aws_demo["spec"]
    date, region = spec.dates[-1], "us-east-1"
    got = collect.run(run_cfg(tmp_path / "aws", date, region, **aws_values(moto, spec)))
    local = collect.run(run_cfg(tmp_path / "local", date, region, source="local", data_root=str(aws_demo["root"]),
                                logs_bucket=spec.bucket, logs_prefix=spec.prefix, account=spec.account,
                                logs_as_of="+1h", regions=list(spec.regions)))
    assert got["data_quality"]["batch"] == local["data_quality"]["batch"]
    assert got["data_quality"]["batch"]["jobs_of_day"] == 3 and got["data_quality"]["batch"]["manifests_read"] == 2
    a = pd.read_parquet(tmp_path / "aws" / date / region / "data" / COLLECT.BATCH)
    b = pd.read_parquet(tmp_path / "local" / date / region / "data" / COLLECT.BATCH)
    pd.testing.assert_frame_equal(a, b)
    raw = json.loads((tmp_path / "aws" / date / region / "data" / "raw" / "batch" / region / f"{date}.json").read_text())
    assert {j["jobName"] for p in raw["pages"] for j in p["invocationJobSummaries"]} >= set(a["job_name"])


@pytest.mark.slow
def test_listing_pages_and_a_missing_permission(aws_demo, monkeypatch):
    """Every page is read (maxResults 2 over the demo's jobs); AccessDenied is one line naming the action."""
    from botocore.stub import Stubber
    from tracker_utils.collect.aws import AwsAccessError
    moto, spec = aws_demo["moto"], aws_demo["spec"]
    ctx = moto.ctx("us-east-1", account=spec.account)
    day = dt.date.fromisoformat(spec.dates[-1])
    whole = batch.fetch_listing(ctx, day)
    client = ctx.client("bedrock")
    orig = client.get_paginator

    def small_pages(name):
        p = orig(name)
        real = p.paginate
        p.paginate = lambda **kw: real(**kw, PaginationConfig={"PageSize": 2})
        return p
    monkeypatch.setattr(client, "get_paginator", small_pages)
    paged = batch.fetch_listing(ctx, day)
    assert len(paged["pages"]) >= 3
    flat = lambda rec: [j["jobArn"] for p in rec["pages"] for j in p["invocationJobSummaries"]]   # noqa: E731
    assert flat(paged) == flat(whole) and len(flat(whole)) == 5      # submitted in the 7 days up to the day's end
    monkeypatch.undo()
    with Stubber(client) as stub:
        stub.add_client_error("list_model_invocation_jobs", "AccessDeniedException", "no", 403)
        with pytest.raises(AwsAccessError, match="bedrock:ListModelInvocationJobs"):
            batch.fetch_listing(ctx, day)


def test_report_lines_are_escaped_and_state_the_method(demo_day):
    import copy
    from tracker_utils.report.costlines import cost_lines, period_cost_lines
    got, want = demo_day
    s = copy.deepcopy(got)
    s["batch"]["jobs"][0]["job_name"] = "<script>alert(1)</script>"
    page = cost_lines(s)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "nightly-eval-20261104" in page and "missing" in page
    assert "token" in page and s["provisioned"]["models"][0]["model"] in page
    assert "$2.40" in page                       # the day's model-unit hours (24 x $0.10, the demo's rate)
    assert cost_lines({"batch": {"jobs": []}, "provisioned": {"models": []}}) == ""
    odd = cost_lines({"provisioned": {"models": [], "unknown_model_ids": ["arn:aws:bedrock:x:1:provisioned-model/<b>"]}})
    assert "inference_profiles.yaml" in odd and "&lt;b&gt;" in odd
    assert "$2.40" in period_cost_lines([got]) and period_cost_lines([{"date": "d", "region": "r"}]) == ""


def test_provisioned_tokens_cost_nothing_per_token_and_are_not_unpriced():
    """The demo's ARN resolves to Nova Lite (inference_profiles.yaml); an ARN of unknown origin keeps its own id.
    Neither is priced per token, neither is listed as unpriced."""
    from tracker_utils.price.book import PriceBook
    from tracker_utils.price.pricer import Pricer
    known = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/pm7x2k9q4w1e"
    odd = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/zzzz"
    pricer = Pricer(PriceBook.load(), "us-east-1", "2026-11-04")
    df = pd.DataFrame({"model_id": [known, odd, "amazon.nova-lite-v1:0"], "input_tokens": 1000, "output_tokens": 1000,
                       "cache_read_tokens": 0, "cache_write_tokens": 0})
    out = pricer.price_frame(df)
    assert out["base_model"].tolist() == ["amazon.nova-lite-v1:0", odd, "amazon.nova-lite-v1:0"]
    assert out["tier"].tolist() == ["provisioned", "provisioned", "standard"]
    assert out["cost_usd"].tolist() == [0, 0, Decimal("0.00006") + Decimal("0.00024")]
    assert out["priced"].all() and pricer.unpriced == {} and pricer.provisioned == {known, odd}


def test_chargeback_carries_the_batch_and_provisioned_shares(demo_day):
    """The period chargeback sums each application's batch and provisioned parts over its days."""
    from types import SimpleNamespace as NS
    from tracker_utils.report.chargeback import SHARE_COLUMNS, chargeback_frame
    got, want = demo_day
    assert {"batch_share_usd", "provisioned_share_usd"} <= set(SHARE_COLUMNS)
    twice = [got, {**got, "date": "2026-11-05"}]
    rows = {r["app"]: r for r in chargeback_frame(NS(summaries=twice)).to_dict("records")}
    for app, v in want["provisioned"]["app_shares"].items():
        one = next(Decimal(a["provisioned_share_usd"]) for a in got["apps"] if a["app"] == app)
        assert rows[app]["provisioned_share_usd"] == 2 * one and abs(one - Decimal(v)) <= Decimal("0.000001")

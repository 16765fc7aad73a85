"""The demo organization's chain through moto over HTTP: each member's role assumed (sts:AssumeRole), the logs read
from a central bucket and an own one, each member's CloudWatch metrics in its own account, the payer's Cost Explorer
by LINKED_ACCOUNT (its role assumed). Its summaries equal the demo's ground truth (as the local run's do), and every
AWS call is in the member and payer policies."""
from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal

import pytest

from tests.aws_fixtures import LINKED_SERVICES, _aware, put_batch_jobs, put_objects, queue_ce_pages
from tests.test_pipeline import compare_summary

PAYER = "999900001111"
DAY = "2026-11-02"


def _load_org(moto, root) -> None:
    """The organization's data into moto: buckets (the kit reads them across accounts), metrics and batch jobs per
    member account,
    the payer's Cost Explorer pages under the payer account."""
    from moto.cloudwatch.models import cloudwatch_backends

    from tracker_utils.collect import cloudwatch as cwsrc
    for bucket in sorted(p.name for p in (root / "s3").iterdir()):
        folder = root / "s3" / bucket
        put_objects(moto, bucket, ((p.relative_to(folder).as_posix(), p.read_bytes())
                                   for p in sorted(folder.rglob("*")) if p.is_file()))
    for f in sorted((root / "cloudwatch").glob("*/*/*.json")):     # each member's metrics, loaded afresh (the
        cloudwatch_backends[f.parent.parent.name][f.parent.name].metric_data = []     # moto server is per session)
    for f in sorted((root / "cloudwatch").glob("*/*/*.json")):
        acct, region = f.parent.parent.name, f.parent.name
        df = cwsrc.parse_metric_data(json.loads(f.read_text()))
        data = [{"MetricName": r.metric, "Dimensions": [{"Name": "ModelId", "Value": r.model_id}] if r.model_id else [],
                 "Timestamp": _aware(r.hour.to_pydatetime()), "Value": float(r.value)} for r in df.itertuples()]
        cloudwatch_backends[acct][region].put_metric_data("AWS/Bedrock", data)
    for f in sorted((root / "batch").glob("*/*/*.json")):          # each member's ListModelInvocationJobs
        for page in json.loads(f.read_text())["pages"]:
            put_batch_jobs(f.parent.name, page["invocationJobSummaries"], account=f.parent.parent.name)
    rec = json.loads((root / "costexplorer" / f"{DAY}.json").read_text())
    LINKED_SERVICES[DAY] = [r["service"] for r in rec["requests"]]
    pages = [pg for r in rec["requests"] for pg in r["pages"]]
    queue_ce_pages(moto, pages, PAYER, forget=True)


@pytest.mark.slow
def test_org_chain_over_http_equals_the_ground_truth(aws_env, tmp_path):
    from tracker_utils.collect import aws
    from tracker_utils.demo.org import build_org_demo, org_overrides
    from tracker_utils.run import runner
    root = tmp_path / "org"
    truth = build_org_demo(root, start=DAY, days=1, per_day=300)
    _load_org(aws_env, root)
    accounts = [{**a, "role_arn": f"arn:aws:iam::{a['id']}:role/BedrockUsageTracker"} for a in org_overrides()["accounts"]]
    ov = {**org_overrides(), "accounts": accounts, "source": "aws", "endpoint_url": aws_env.endpoint,
          "cost_source": "ce", "logs_as_of": "+1h", "start": DAY, "end": DAY, "output_dir": str(tmp_path / "out"),
          "payer_role_arn": f"arn:aws:iam::{PAYER}:role/BedrockUsageTrackerBill"}
    calls = tmp_path / "calls.log"
    os.environ[aws.CALL_LOG_ENV] = str(calls)
    try:
        lines: list[str] = []
        outcomes = runner.run("", ov, force=True, jobs=1, log=lines.append)
    finally:
        os.environ.pop(aws.CALL_LOG_ENV, None)
    assert all(o.status in ("complete", "skipped") for o in outcomes), [(o.account, o.region, o.error) for o in outcomes]
    out = tmp_path / "out"
    for acct, t in truth["accounts"].items():
        for key, want in t["runs"].items():
            got = json.loads((out / acct / key / "summary.json").read_text())
            assert compare_summary(got, want) == [], (acct, key)
            c = json.loads((out / acct / key / "data" / "collect.json").read_text())
            assert c["source"] == "aws" and c["cloudwatch"]["recorded"]
    doc = json.loads((out / "organization.json").read_text())
    assert doc["organization_total_usd"] == truth["consolidated"][DAY] and doc["balanced"]
    assert {g["account"] for g in doc["account_not_logged"]} == {"210987654321"}
    ops = [tuple(x.split()) for x in calls.read_text().splitlines() if x.strip()]
    assert ("sts", "AssumeRole") in ops
    # the paid requests: one set for the day (every member's chain reads the payer's cached recording)
    assert sum(op == ("ce", "GetCostAndUsage") for op in ops) == len(
        [pg for r in json.loads((root / "costexplorer" / f"{DAY}.json").read_text())["requests"] for pg in r["pages"]])
    from tests.test_accounts_aws import _policy_actions
    made = {aws.iam_action(*op) for op in ops}
    granted = _policy_actions("iam-policy-member.json") | _policy_actions("iam-policy-payer.json")
    assert made - granted == set(), sorted(made - granted)
    assert Decimal(doc["organization_total_usd"]) > 0 and dt.date.fromisoformat(DAY)

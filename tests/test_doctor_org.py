"""``bedrock-tracker doctor`` for an organization (issue 17): each member account checked in its own role (moto over
HTTP, sts:AssumeRole), one summary row per account and region, the payer's bill access once, exit 0 only when every
account would work."""
from __future__ import annotations

import io
import json

import pytest

from tests.conftest import write_params
from tests.test_aws import Recorder
from tests.test_doctor import cli_args
from tests.test_org_aws import DAY, PAYER, _load_org
from tracker_utils.collect import aws

ROLE = "arn:aws:iam::{}:role/BedrockUsageTracker"


def _member_ctx(moto, account: str, region: str):
    return aws.AwsContext.create(region=region, account=account, endpoint_url=moto.endpoint, role_arn=ROLE.format(account))


@pytest.fixture(scope="module")
def org_logging(aws_env, tmp_path_factory):
    """The demo organization in moto, and each member's logging configured to its bucket in each of its regions."""
    from tracker_utils.demo.org import build_org_demo, org_overrides
    root = tmp_path_factory.mktemp("org_doctor")
    build_org_demo(root, start=DAY, days=1, per_day=300)
    _load_org(aws_env, root)
    ov = org_overrides()
    accounts = [{**a, "role_arn": ROLE.format(a["id"])} for a in ov["accounts"]]
    for a in accounts:
        for region in a["regions"]:
            _member_ctx(aws_env, a["id"], region).client("bedrock").put_model_invocation_logging_configuration(
                loggingConfig={"s3Config": {"bucketName": a["logs_bucket"], "keyPrefix": "bedrock/invocation-logs"},
                               "textDataDeliveryEnabled": True})
    values = {**ov, "accounts": accounts, "source": "aws", "endpoint_url": aws_env.endpoint, "cost_source": "ce",
              "start": DAY, "end": DAY, "payer_role_arn": f"arn:aws:iam::{PAYER}:role/BedrockUsageTrackerBill"}
    yield aws_env, values
    for a in accounts:
        for region in a["regions"]:
            _member_ctx(aws_env, a["id"], region).client("bedrock").delete_model_invocation_logging_configuration()


def _doctor(path, *argv) -> tuple[int, str]:
    out = io.StringIO()
    args = cli_args("doctor", "--params", str(path), "--until", DAY, "--days", "1", *argv)
    return args.func(args, out=out), out.getvalue()


@pytest.mark.slow
def test_doctor_checks_every_account_in_its_role_and_the_payer_once(org_logging, tmp_path, monkeypatch):
    moto, values = org_logging
    rec = Recorder()
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-parameter-build", rec)])
    path = write_params(tmp_path / "org.yaml", **values)
    code, text = _doctor(path, "--json", "--check-bill")
    report = json.loads(text)
    assert code == 0 and report["ok"], [r for r in report["checks"] if r["status"] == "fail"]
    from tracker_utils.collect.doctor_org import summary_rows
    rows = summary_rows(report)
    per_region = {(r["account"], r["region"]) for r in rows if r["region"]}
    assert per_region == {(a["id"], r) for a in values["accounts"] for r in a["regions"]}      # 5 account-regions
    assert {r["account"] for r in rows if not r["region"]} == {a["id"] for a in values["accounts"]} | {"payer"}
    # each member's identity is its own account, through its role; the payer's is the payer
    assert {a["account"]: a["arn"].split(":")[4] for a in report["accounts"]} == {a["id"]: a["id"] for a in values["accounts"]}
    assert report["payer"]["account"] == PAYER
    assert {c[2]["RoleArn"] for c in rec.ops("sts", "AssumeRole")} >= {ROLE.format(a["id"]) for a in values["accounts"]}
    log_rows = [r for r in report["checks"] if r["check"] == "log objects"]
    assert len(log_rows) == 5 and all(r["status"] == "ok" for r in log_rows)
    assert any("AWSLogs/444455556666/" in r["detail"] and "org-central-bedrock-logs" in r["detail"] for r in log_rows)
    # the bill once, with the payer's credentials: GetDimensionValues + GetCostAndUsage, not once per member
    assert len(rec.ops("ce")) == 2
    assert [r["account"] for r in report["checks"] if r["check"] == "bill"] == ["payer"]
    # the table: one row per account and region, and the verdict
    code, table = _doctor(path)
    assert code == 0 and table.rstrip().endswith("a run would work in every account")
    assert sum(line.startswith("777788889999  lab") for line in table.splitlines()) == 3     # account + 2 regions


@pytest.mark.slow
def test_doctor_fails_when_one_account_would_not_work(org_logging, tmp_path):
    moto, values = org_logging
    # lab's ap-northeast-2 logs elsewhere, and one more account whose profile does not exist
    ctx = _member_ctx(moto, "777788889999", "ap-northeast-2")
    ctx.client("bedrock").put_model_invocation_logging_configuration(loggingConfig={
        "s3Config": {"bucketName": "lab-bedrock-logs", "keyPrefix": "elsewhere"}, "textDataDeliveryEnabled": True})
    try:
        bad = {**values, "accounts": values["accounts"] + [
            {"id": "999988887777", "name": "new", "regions": ["us-east-1"], "profile": "no-such-profile"}]}
        code, table = _doctor(write_params(tmp_path / "org.yaml", **bad))
    finally:
        ctx.client("bedrock").put_model_invocation_logging_configuration(loggingConfig={
            "s3Config": {"bucketName": "lab-bedrock-logs", "keyPrefix": "bedrock/invocation-logs"},
            "textDataDeliveryEnabled": True})
    assert code == 1
    lines = table.splitlines()
    lab = next(x for x in lines if x.startswith("777788889999") and "ap-northeast-2" in x)
    assert "FAIL" in lab and "params fail" in lab
    assert next(x for x in lines if x.startswith("777788889999") and "us-east-1" in x).split()[3] != "FAIL"
    assert any(x.startswith("999988887777") and "FAIL" in x and "identity fail" in x for x in lines)
    assert any("ProfileNotFound" in x for x in lines)
    assert lines[-1] == "a run would not work: 2 checks failed (777788889999, 999988887777)"
    assert 'fix (777788889999 ap-northeast-2, params): on account 777788889999 under accounts: set logs_bucket: ' \
           'lab-bedrock-logs and logs_prefix: "elsewhere"' in lines

"""Organizations over HTTP (moto): sts:AssumeRole into a member account's role, with its session name and
duration, and one listing per account of a central bucket (keys under AWSLogs/<account>/)."""
from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest

from tests.aws_fixtures import queue_ce_pages

MEMBER = "111122223333"
OTHER = "444455556666"


@pytest.mark.slow
def test_assume_role_into_a_member_and_list_its_part_of_a_central_bucket(aws_env, tmp_path, monkeypatch):
    from tracker_utils.collect import aws, s3
    from tracker_utils.collect.assume import DURATION_SECONDS, ROLE_SESSION_NAME
    from tracker_utils.collect.logs import log_base
    from tracker_utils.config import load_params, member_params
    calls = tmp_path / "calls.log"
    monkeypatch.setenv(aws.CALL_LOG_ENV, str(calls))
    role = f"arn:aws:iam::{MEMBER}:role/BedrockUsageTracker"
    p = load_params(None, {"source": "aws", "endpoint_url": aws_env.endpoint, "logs_bucket": "org-central",
                           "accounts": [{"id": MEMBER, "role_arn": role}, {"id": OTHER, "role_arn": role}]})
    m = member_params(p)[0]
    ctx = aws.AwsContext.from_params(m, "us-east-1")
    who = ctx.client("sts").get_caller_identity()
    assert who["Account"] == MEMBER                                    # the member's credentials, not the caller's
    assert who["Arn"].endswith(f":assumed-role/BedrockUsageTracker/{ROLE_SESSION_NAME}")
    creds = ctx.session.get_credentials()
    assert creds.method == "sts-assume-role" and creds.get_frozen_credentials().access_key != "testing"
    assert DURATION_SECONDS == 3600
    # the central bucket (in the member's account here), holding two accounts' logs
    raw = ctx.client("s3")
    raw.create_bucket(Bucket="org-central")
    day = dt.date(2026, 11, 2)
    rec = gzip.compress(json.dumps({"requestId": "r"}).encode() + b"\n")
    for acct in (MEMBER, OTHER):
        base = log_base(p.logs_prefix, acct, "us-east-1")
        for h in (1, 5):
            raw.put_object(Bucket="org-central", Key=f"{base}/2026/11/02/{h:02d}/20261102T{h:02d}0000Z_{acct}.json.gz",
                           Body=rec)
    objs, _ = s3.list_log_objects(ctx, day, 0)
    assert len(objs) == 2 and all(f"/AWSLogs/{MEMBER}/" in o.key for o in objs)
    ops = calls.read_text().split("\n")
    assert "sts AssumeRole" in ops and "s3 ListObjectsV2" in ops
    made = {aws.iam_action(*line.split()) for line in ops if line.strip()} - {"s3:CreateBucket", "s3:PutObject"}
    granted = _policy_actions("iam-policy-member.json") | _policy_actions("iam-policy-payer.json")
    assert made - granted == set(), sorted(made - granted)


PAYER = "999900001111"


def _policy_actions(name: str) -> set[str]:
    from tests.conftest import REPO
    doc = json.loads((REPO / "docs" / name).read_text())
    out = set()
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow"
        out.update([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    return out


@pytest.mark.slow
def test_the_payer_bill_by_linked_account_over_http_equals_the_local_recording(aws_env, tmp_path, monkeypatch):
    """Cost Explorer on the payer (its role assumed): one [LINKED_ACCOUNT, USAGE_TYPE] request per service, every
    page; parsed, it is the local recording's bill per account. Every call is in the member and payer policies."""
    from tracker_utils.collect import accounts as acc
    from tracker_utils.collect import aws
    from tracker_utils.collect.bill import parse_linked_cost_explorer, split_by_account
    from tracker_utils.config import load_params, member_params
    from tracker_utils.demo.org import build_org_demo, org_overrides
    build_org_demo(tmp_path / "org", days=1, per_day=120)
    local = json.loads((tmp_path / "org" / "costexplorer" / "2026-11-02.json").read_text())
    pages = [pg for r in local["requests"] for pg in r["pages"]]
    queue_ce_pages(aws_env, pages, PAYER, forget=True)
    services = [r["service"] for r in local["requests"]]
    # moto's GetDimensionValues addition reads SERVICE groups, which a LINKED_ACCOUNT bill has not: stubbed here
    monkeypatch.setattr(aws, "_discover_services", lambda ctx, day: (services, 1))
    calls = tmp_path / "calls.log"
    monkeypatch.setenv(aws.CALL_LOG_ENV, str(calls))
    p = load_params(None, {**org_overrides(), "source": "aws", "endpoint_url": aws_env.endpoint,
                           "payer_role_arn": f"arn:aws:iam::{PAYER}:role/BedrockUsageTrackerBill"})
    m = member_params(p)[0]
    ctx = acc.payer_context(m)
    assert ctx.client("sts").get_caller_identity()["Account"] == PAYER
    rec = acc.fetch_linked_cost_explorer(ctx, dt.date(2026, 11, 2), tmp_path / "cache")
    assert [len(r["request"]["GroupBy"]) for r in rec["requests"]] == [2] * len(services)
    assert rec["requests_made"] == 1 + len(pages)
    got, want = (split_by_account(parse_linked_cost_explorer(x)) for x in (rec, local))
    assert sorted(got) == sorted(want) and len(got) == 4
    for a in want:
        assert got[a][["usage_type", "cost_usd", "tokens"]].equals(want[a][["usage_type", "cost_usd", "tokens"]])
    again = acc.fetch_linked_cost_explorer(ctx, dt.date(2026, 11, 2), tmp_path / "cache")
    assert again.get("from_cache")                    # $0.01 a request: fetched once
    made = {aws.iam_action(*line.split()) for line in calls.read_text().splitlines() if line.strip()}
    granted = _policy_actions("iam-policy-member.json") | _policy_actions("iam-policy-payer.json")
    assert made and made - granted == set(), sorted(made - granted)
    from tests.conftest import REPO
    trust = json.loads((REPO / "docs" / "iam-trust-policy-member.json").read_text())["Statement"][0]
    assert trust["Action"] == "sts:AssumeRole" and "bedrock-usage-tracker" in json.dumps(trust["Condition"])


@pytest.mark.slow
def test_the_payer_cur_export_over_http_is_split_by_account_as_the_local_one(aws_env, tmp_path, monkeypatch):
    """A CUR 2.0 export with line_item_usage_account_id in the payer's bucket, read through the payer's role by a
    member's collection: its lines are the member's lines of the local export, the others stated per account."""
    import pandas as pd

    from tracker_utils.collect import aws, stage
    from tracker_utils.config import RunConfig, load_params, member_params, run_dir
    from tracker_utils.demo.org import build_org_demo, org_overrides
    from tracker_utils.schema import COLLECT
    root = tmp_path / "org"
    build_org_demo(root, days=1, per_day=120)
    payer_role = f"arn:aws:iam::{PAYER}:role/BedrockUsageTrackerBill"
    base = {**org_overrides(), "data_root": str(root), "start": "2026-11-02", "end": "2026-11-02", "cost_source": "cur"}
    from tracker_utils.collect.accounts import payer_context
    p_aws = load_params(None, {**base, "source": "aws", "endpoint_url": aws_env.endpoint, "payer_role_arn": payer_role,
                               "cur": "s3://payer-cur/exports/bedrock/", "output_dir": str(tmp_path / "aws")})
    s3c = payer_context(member_params(p_aws)[0]).client("s3")
    s3c.create_bucket(Bucket="payer-cur")
    for f in (root / "cur").rglob("*.parquet"):
        s3c.put_object(Bucket="payer-cur", Key="exports/bedrock/" + f.relative_to(root / "cur").as_posix(),
                       Body=f.read_bytes())
    calls = tmp_path / "calls.log"
    monkeypatch.setenv(aws.CALL_LOG_ENV, str(calls))          # from here: the collection's own calls
    p_local = load_params(None, {**base, "cur": str(root / "cur"), "output_dir": str(tmp_path / "local")})
    got = {}
    for name, p in (("aws", p_aws), ("local", p_local)):
        m = member_params(p)[0]
        cfg = RunConfig(params=m, date="2026-11-02", region="us-east-1",
                        run_dir=run_dir(m.output_dir, "2026-11-02", "us-east-1"))
        cfg.data_dir.mkdir(parents=True)
        info = stage._collect_bill(cfg, None)
        got[name] = (pd.read_parquet(cfg.data(COLLECT.BILL)), info["accounts"])
    (a, ia), (b, ib) = got["aws"], got["local"]
    assert set(a.account) == {"111122223333"} and len(a) > 0
    assert a[["usage_type", "cost_usd", "tokens"]].equals(b[["usage_type", "cost_usd", "tokens"]]) and ia == ib
    ops = calls.read_text().split("\n")
    assert "sts AssumeRole" in ops and "s3 GetObject" in ops
    made = {aws.iam_action(*x.split()) for x in ops if x.strip()} - {"s3:CreateBucket", "s3:PutObject"}
    granted = _policy_actions("iam-policy-member.json") | _policy_actions("iam-policy-payer.json")
    assert made - granted == set(), sorted(made - granted)

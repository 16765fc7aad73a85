"""CloudWatch through one monitoring account (issue 17, point 1: ``cloudwatch_account:``, cross-account
observability): ListMetrics with ``IncludeLinkedAccounts`` and ``OwningAccount``, GetMetricData with
``MetricDataQuery.AccountId`` = the member, in the monitoring account's credentials.

The moto additions in tests/aws_fixtures.py answer a query of a linked source account from that account's metrics
and refuse any other account, as AWS does; the metrics stay in each member account, so a read that did not name
the member would find nothing in the monitoring account."""
from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from tests.aws_fixtures import CW_LINKED, org_summaries, run_org_recording_calls
from tests.test_aws import Recorder
from tests.test_org_aws import DAY, PAYER, _load_org
from tracker_utils import config

MONITORING = "555566667777"
MONITORING_ROLE = f"arn:aws:iam::{MONITORING}:role/BedrockUsageTrackerMonitoring"


def test_cloudwatch_account_params_and_the_monitoring_credentials():
    from tracker_utils.demo.org import org_overrides
    ov = org_overrides()
    p = config.load_params(None, {**ov, "cloudwatch_account": MONITORING, "cloudwatch_role_arn": MONITORING_ROLE})
    assert {(m.cloudwatch_account, m.cloudwatch_role_arn) for m in config.member_params(p)} == {(MONITORING, MONITORING_ROLE)}
    # the monitoring account is one of accounts: its own role_arn / profile read the metrics of the others
    accts = [{**a, "profile": "shop"} if a["id"] == "111122223333" else a for a in ov["accounts"]]
    p2 = config.load_params(None, {**ov, "accounts": accts, "cloudwatch_account": "111122223333"})
    assert {(m.cloudwatch_profile, m.cloudwatch_role_arn) for m in config.member_params(p2)} == {("shop", "")}
    from tracker_utils.collect.accounts import monitoring_context
    shop = config.member_params(p2)[0]
    assert monitoring_context(shop, "us-east-1") == (None, "")      # the monitoring account reads its own
    with pytest.raises(config.ParamError, match="cloudwatch_account: '5555' is not a 12-digit"):
        config.load_params(None, {"cloudwatch_account": "5555"})


def _metrics(rec: dict):
    from tracker_utils.collect import cloudwatch as cwsrc
    return cwsrc.parse_metric_data(rec), cwsrc.parse_operations(rec)


@pytest.mark.slow
def test_reads_through_the_monitoring_account_equal_the_per_account_reads(aws_env, tmp_path, monkeypatch):
    from tracker_utils.collect import aws
    from tracker_utils.collect.accounts import monitoring_context
    from tracker_utils.demo.org import build_org_demo, org_overrides
    root = tmp_path / "org"
    build_org_demo(root, start=DAY, days=1, per_day=300)
    _load_org(aws_env, root)
    CW_LINKED[MONITORING] = {"111122223333", "444455556666"}          # lab is not linked
    p = config.load_params(None, {**org_overrides(), "source": "aws", "endpoint_url": aws_env.endpoint,
                                  "start": DAY, "end": DAY, "cloudwatch_account": MONITORING,
                                  "cloudwatch_role_arn": MONITORING_ROLE})
    day = dt.date.fromisoformat(DAY)
    rec = Recorder()
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-parameter-build", rec)])
    for m in config.member_params(p)[:2]:
        for region in m.regions:
            ctx, source = monitoring_context(m, region)
            assert source == m.account and ctx.account == MONITORING
            through = aws.fetch_cloudwatch(ctx, day, account=source)
            own = aws.fetch_cloudwatch(aws.AwsContext.create(      # the per-account read, in the member's role
                region=region, account=m.account, endpoint_url=aws_env.endpoint,
                role_arn=f"arn:aws:iam::{m.account}:role/BedrockUsageTracker"), day)
            (h1, o1), (h2, o2) = _metrics(through), _metrics(own)
            assert len(h1) > 0 and len(o1) > 0
            assert h1.equals(h2) and o1.equals(o2), (m.account, region)
            assert through["monitoring_account"] == MONITORING and through["source_account"] == m.account
    lm = [c[2] for c in rec.ops("cloudwatch", "ListMetrics") if "OwningAccount" in c[2]]
    gmd = [q for c in rec.ops("cloudwatch", "GetMetricData") for q in c[2]["MetricDataQueries"]
           if q.get("AccountId")]
    assert lm and all(c["IncludeLinkedAccounts"] is True for c in lm)
    assert {c["OwningAccount"] for c in lm} == {q["AccountId"] for q in gmd} == {"111122223333", "444455556666"}
    # the monitoring account alone has no Bedrock metrics: without AccountId nothing would be read
    mon = aws.AwsContext.create(region="us-east-1", account=MONITORING, endpoint_url=aws_env.endpoint,
                                role_arn=MONITORING_ROLE)
    assert len(_metrics(aws.fetch_cloudwatch(mon, day))[0]) == 0
    # an account not linked to the monitoring account is refused (one line, named), not read as empty
    lab = config.member_params(p)[2]
    with pytest.raises(Exception, match="777788889999 is not a source account"):
        aws.fetch_cloudwatch(monitoring_context(lab, "us-east-1")[0], day, account=lab.account)
    # doctor reads as a run reads: through the monitoring account, naming it; the unlinked account is a FAIL row
    from tracker_utils.collect import doctor
    rows: list = []
    shop, lab_ctx = config.member_params(p)[0], aws.AwsContext.from_params(lab, "us-east-1")
    models = doctor._cloudwatch(aws.AwsContext.from_params(shop, "us-east-1"), rows, shop)
    doctor._guard(rows, "us-east-1", "cloudwatch", doctor._cloudwatch, lab_ctx, rows, lab)
    assert models and rows[0].status == "ok" and f"through monitoring account {MONITORING}" in rows[0].detail
    assert rows[1].status == "fail" and "777788889999 is not a source account" in rows[1].detail


@pytest.mark.slow
def test_org_chain_with_a_monitoring_account_equals_the_ground_truth(aws_env, tmp_path):
    from tracker_utils.collect import aws
    from tracker_utils.demo.org import build_org_demo, org_overrides
    root = tmp_path / "org"
    truth = build_org_demo(root, start=DAY, days=1, per_day=300)
    _load_org(aws_env, root)
    CW_LINKED[MONITORING] = {a["id"] for a in org_overrides()["accounts"]}
    accounts = [{**a, "role_arn": f"arn:aws:iam::{a['id']}:role/BedrockUsageTracker"} for a in org_overrides()["accounts"]]
    ov = {**org_overrides(), "accounts": accounts, "source": "aws", "endpoint_url": aws_env.endpoint,
          "cost_source": "ce", "logs_as_of": "+1h", "start": DAY, "end": DAY, "output_dir": str(tmp_path / "out"),
          "payer_role_arn": f"arn:aws:iam::{PAYER}:role/BedrockUsageTrackerBill",
          "cloudwatch_account": MONITORING, "cloudwatch_role_arn": MONITORING_ROLE}
    calls = tmp_path / "calls.log"
    outcomes = run_org_recording_calls(ov, calls)
    assert all(o.status == "complete" for o in outcomes), [(o.account, o.region, o.error) for o in outcomes]
    out = tmp_path / "out"
    for acct, key, _ in org_summaries(out, truth):       # the CloudWatch figures included
        region = key.split("/")[1]
        raw = json.loads((out / acct / key / "data" / "raw" / "cloudwatch" / region / f"{DAY}.json").read_text())
        assert (raw["monitoring_account"], raw["source_account"]) == (MONITORING, acct)
    ops = [tuple(x.split()) for x in calls.read_text().splitlines() if x.strip()]
    from tests.test_accounts_aws import _policy_actions
    made = {aws.iam_action(*op) for op in ops}
    granted = (_policy_actions("iam-policy-member.json") | _policy_actions("iam-policy-payer.json")
               | _policy_actions("iam-policy-monitoring.json"))
    assert made - granted == set(), sorted(made - granted)

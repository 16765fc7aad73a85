"""Athena over an organization's central logging bucket (issue 17, point 6): one table whose ``account`` partition
lists the accounts logging there; each member's query filters on its own account through an execution parameter.

The SQL is run on DuckDB over the demo organization's buckets (moto's Athena runs no SQL), per member and region,
and equals the local reader of that member's own prefix. The organization's chain with ``engine: athena`` through
moto (each member's role assumed, DuckDB's rows as Athena's answers) gives the demo's ground truth."""
from __future__ import annotations

import dataclasses
import json
import os

import pytest

from tests.aws_fixtures import duckdb_athena, org_summaries, queue_athena_result, run_duckdb, run_org_recording_calls
from tests.test_aws import assert_same_logs
from tracker_utils import config
from tracker_utils.collect import athena
from tracker_utils.collect import logs as logsrc

DAY = "2026-11-02"
LAB_TABLE = "lab_invocations"


@pytest.fixture(scope="module")
def org_root(tmp_path_factory):
    from tracker_utils.demo.org import build_org_demo
    root = tmp_path_factory.mktemp("org_athena")
    return root, build_org_demo(root, start=DAY, days=1, per_day=300)


def _org_params(root, **more) -> config.Params:
    from tracker_utils.demo.org import org_overrides
    ov = org_overrides()
    accounts = [{**a, "athena_table": LAB_TABLE} if a["logs_bucket"] != ov["logs_bucket"] else a
                for a in ov["accounts"]]
    return config.load_params(None, {**ov, "accounts": accounts, "data_root": str(root), "start": DAY, "end": DAY,
                                     "logs_as_of": "+1h", **more})


def _cfg(m: config.Params, region: str, tmp) -> config.RunConfig:
    return config.RunConfig(params=m, date=DAY, region=region, run_dir=tmp)


def _athena_rows(root, m, region, tmp):
    """What Athena answers to member ``m``'s query of ``region``: the query run by DuckDB over its bucket."""
    con = duckdb_athena(root / "s3" / m.logs_bucket, m.logs_bucket, table=m.athena_table)
    cfg = _cfg(m, region, tmp)
    return run_duckdb(con, athena.query_text(cfg, m.athena_database, m.athena_table), athena.query_values(cfg))


def test_one_table_over_the_central_bucket_with_the_account_projected(org_root):
    root, _ = org_root
    p = _org_params(root)
    tables = athena.org_tables(p)
    assert [(t["params"].athena_table, t["accounts"]) for t in tables] == [
        ("invocations", ["111122223333", "444455556666"]), (LAB_TABLE, ["777788889999"])]
    central, lab = athena.org_table_sql(p)
    assert "LOCATION 's3://org-central-bedrock-logs/bedrock/invocation-logs/AWSLogs/'" in central
    assert "'projection.account.values' = '111122223333,444455556666'" in central
    assert "'projection.log_region.values' = 'us-east-1,ap-northeast-2'" in central
    assert "${account}/BedrockModelInvocationLogs/${log_region}/${dt}/'" in central
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS bedrock_logs.lab_invocations" in lab
    assert "'projection.account.values' = '777788889999'" in lab and "s3://lab-bedrock-logs/" in lab
    # the same table name over two buckets: refused (the other account's queries would silently find nothing)
    clash = config.load_params(None, {**dataclasses.asdict(p), "accounts": [
        {**a, "athena_table": None} for a in p.accounts]})
    with pytest.raises(ValueError, match="name one table bedrock_logs.invocations over two locations"):
        athena.org_tables(clash)


def test_each_members_query_of_the_central_table_reads_its_own_account(org_root, tmp_path):
    root, truth = org_root
    p = _org_params(root)
    seen = 0
    for m in config.member_params(p):
        for region in m.regions:
            cfg = _cfg(m, region, tmp_path)
            values = athena.query_values(cfg)
            assert values[0] == m.account and m.account not in athena.query_text(cfg)     # a value, not SQL text
            got = athena.result_to_logs(*_athena_rows(root, m, region, tmp_path), region=region)
            base = logsrc.log_base(m.logs_prefix, m.account, region)
            objs, _ = logsrc.list_local(root / "s3" / m.logs_bucket, base, cfg.day, m.window_after_hours)
            want = logsrc.collect(objs, cfg.day, cfg.as_of)
            assert_same_logs(got, want)
            dq = truth["accounts"][m.account]["runs"][f"{DAY}/{region}"]["data_quality"]
            assert (got.quality["records_read"], got.quality["files_read"]) == (dq["records_read"], dq["files_read"])
            assert got.quality["records_used"] > 0
            seen += 1
    assert seen == 5
    # the central bucket holds both members: without the account filter the query would read them together
    shop = config.member_params(p)[0]
    con = duckdb_athena(root / "s3" / shop.logs_bucket, shop.logs_bucket)
    both = con.execute("SELECT count(DISTINCT account) FROM bedrock_logs.invocations").fetchone()[0]
    assert both == 2


ANALYTICS = "888877776666"          # the account holding the one table (athena_role_arn)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["member", "analytics"])
def test_org_chain_with_engine_athena_over_http_equals_the_ground_truth(aws_env, org_root, tmp_path, where):
    """``member``: each member's queries in its own account (its role); ``analytics``: every query in the account
    of ``athena_role_arn``, where the one table over the central bucket is."""
    from moto.athena.models import athena_backends

    from tests.test_org_aws import PAYER, _load_org
    from tracker_utils.collect import aws
    root, truth = org_root
    _load_org(aws_env, root)
    p = _org_params(root)
    accounts = [{**a, "role_arn": f"arn:aws:iam::{a['id']}:role/BedrockUsageTracker"} for a in p.accounts]
    ov = {**dataclasses.asdict(p), "accounts": accounts, "source": "aws", "engine": "athena",
          "endpoint_url": aws_env.endpoint, "cost_source": "ce", "output_dir": str(tmp_path / "out"),
          "payer_role_arn": f"arn:aws:iam::{PAYER}:role/BedrockUsageTrackerBill",
          "athena_role_arn": f"arn:aws:iam::{ANALYTICS}:role/BedrockUsageTrackerAthena" if where == "analytics" else ""}
    for acct in [ANALYTICS] + [a["id"] for a in accounts]:      # the session's moto: this test's executions only
        for region in ("us-east-1", "ap-northeast-2"):
            athena_backends[acct][region].executions.clear()
    for m in config.member_params(config.load_params(None, ov)):
        for region in m.regions:        # one query per member, region and day: Athena's answer queued where it runs
            cols, rows = _athena_rows(root, m, region, tmp_path)          # (the runner runs the members in order)
            queue_athena_result(aws_env, cols, rows, region=region, account=m.account if where == "member" else ANALYTICS)
    calls = tmp_path / "calls.log"
    outcomes = run_org_recording_calls(ov, calls)
    assert all(o.status == "complete" for o in outcomes), [(o.account, o.region, o.error) for o in outcomes]
    out = tmp_path / "out"
    for acct, key, _ in org_summaries(out, truth):
        c = json.loads((out / acct / key / "data" / "collect.json").read_text())
        assert c["engine"] == "athena"
    # each member's query went to Athena (in its own account, or the analytics one) with its account as the first
    # execution parameter
    members = config.member_params(config.load_params(None, ov))
    for region in ("us-east-1", "ap-northeast-2"):
        mine = [m for m in members if region in m.regions]
        if where == "member":
            ex = [e for m in mine for e in athena_backends[m.account][region].executions.values()]
        else:
            ex = list(athena_backends[ANALYTICS][region].executions.values())
            assert not any(athena_backends[m.account][region].executions for m in mine)
        assert [e.execution_parameters[0] for e in ex] == [f"'{m.account}'" for m in mine]
        for e, m in zip(ex, mine):
            assert m.account not in e.query and f"FROM bedrock_logs.{m.athena_table}" in e.query
    ops = {tuple(x.split()) for x in calls.read_text().splitlines() if x.strip()}
    assert ("athena", "StartQueryExecution") in ops and ("s3", "ListObjectsV2") not in ops
    from tests.test_accounts_aws import _policy_actions
    made = {aws.iam_action(*op) for op in ops}
    granted = _policy_actions("iam-policy-member.json") | _policy_actions("iam-policy-payer.json")
    assert made - granted == set(), sorted(made - granted)

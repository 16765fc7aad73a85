"""Reconciliation on hand-computed cases: each cause found, sized, and the identities hold."""
from __future__ import annotations

from decimal import Decimal as D

import pandas as pd
import pytest

from tracker_utils.money import money, usd
from tracker_utils.schema import TOKENS
from tracker_utils.reconcile import ledger as R
from tracker_utils.reconcile import verdict
from tracker_utils.apps import App, Attribution, principal_parts

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
IN, OUT = D("0.00025"), D("0.00125")     # USD per 1K tokens


def line(hour, inv, i, o, status="ok", model_id=HAIKU, scope="in_region", day_edge=False):
    ci, co = D(i) * IN / 1000, D(o) * OUT / 1000
    return {"hour": pd.Timestamp(f"2026-11-02T{hour:02d}:00Z"), "model_id": model_id, "base_model": HAIKU,
            "scope": scope, "status": status, "day_edge": day_edge, "tier": "standard",
            "invocations": inv, "input_tokens": i, "output_tokens": o, "cache_read_tokens": 0, "cache_write_tokens": 0,
            "cost_input": str(ci), "cost_output": str(co), "cost_cache_read": "0", "cost_cache_write": "0",
            "cost_usd": str(ci + co), "app": "A", "team": "", "cost_centre": ""}


def bill_line(usage_type, unit, tokens, cost, matched=True, tier="standard", endpoint="runtime", scope="regional",
              billing_name="Claude3Haiku", base=HAIKU, recognized=True):
    return {"usage_type": usage_type, "service": "Amazon Bedrock", "unit": unit, "tier": tier, "scope": scope,
            "endpoint": endpoint, "tokens": tokens, "cost_usd": str(cost), "matched": matched,
            "base_model": base if matched else "", "billing_name": billing_name, "recognized": recognized,
            "reason": None, "shape": "first_party", "region": "us-east-1"}


@pytest.fixture
def case():
    logs = pd.DataFrame([line(10, 5, 1000, 500), line(10, 1, 0, 0, status="ThrottlingException"),
                         line(11, 3, 600, 300), line(23, 1, 100, 50, day_edge=True)])
    late = pd.DataFrame([line(11, 2, 400, 200)])
    cw = pd.DataFrame([line(10, 5, 1000, 500), line(11, 5, 1000, 500), line(12, 4, 800, 400), line(23, 1, 100, 50)])
    cw_in = 1000 + 1000 + 800 + 100
    cw_out = 500 + 500 + 400 + 50
    bill = pd.DataFrame([
        bill_line("USE1-Claude3Haiku-input-tokens", "input", cw_in, D(cw_in) * IN / 1000),
        bill_line("USE1-Claude3Haiku-output-tokens", "output", cw_out, D(cw_out) * OUT / 1000 * D("1.1")),
        bill_line("USE1-Claude3Haiku-input-tokens-batch", "input", 10000, D("0.00125"), tier="batch"),
        bill_line("USE1-Claude9Mega-input-tokens", "input", 2000, D("0.5"), matched=False, billing_name="Claude9Mega"),
    ])
    delivery = pd.DataFrame([{"hour": pd.Timestamp("2026-11-02T12:00Z"), "model_id": "",
                              "metric": "ModelInvocationLogsS3DeliveryFailure", "value": 4}])
    models, hourly, ut = R.reconcile(logs, late, cw, bill, delivery, {"scope": "all", "source": "ce"},
                                     ["anthropic.claude-9-mega-v1:0"])
    return verdict.summarise(models, {}), hourly, ut


def gaps(summary, model=HAIKU):
    return {g["kind"]: g for g in next(m for m in summary if m["model"] == model)["gaps"]}


def test_usage_causes_sized_by_hand(case):
    s, hourly, _ = case
    g = gaps(s)
    assert g["failed_calls"]["invocations"] == -1 and g["failed_calls"]["hours"] == [10]
    assert (g["late_delivery"]["invocations"], g["late_delivery"]["input_tokens"], g["late_delivery"]["hours"]) == (2, 400, [11])
    assert D(g["late_delivery"]["cost_usd"]) == D("0.000350")           # 400*0.00025/1K + 200*0.00125/1K
    assert (g["logging_outage"]["invocations"], g["logging_outage"]["output_tokens"], g["logging_outage"]["hours"]) == (4, 400, [12])
    assert D(g["logging_outage"]["cost_usd"]) == D("0.000700")          # 800*0.00025/1K + 400*0.00125/1K
    assert g["day_edge"]["invocations"] == 1 and g["day_edge"]["in_logs"]
    assert "unexplained" not in g
    assert dict(zip(hourly["hour"].dt.hour, hourly["cause"])) == {10: "failed_calls", 11: "late_delivery",
                                                                  12: "logging_outage", 23: "match"}


def test_cost_causes_sized_by_hand(case):
    s, _, ut = case
    g = gaps(s)
    # output billed at 1.1x: 1450 tokens * 0.00125/1K = 0.0018125, +10% = 0.00018125
    assert D(g["price_mismatch"]["cost_usd"]) == D("0.000181")
    assert g["price_mismatch"]["output_tokens"] == 1450
    assert D(g["unlogged_endpoint"]["cost_usd"]) == D("0.001250") and g["unlogged_endpoint"]["input_tokens"] == 10000
    mega = gaps(s, "anthropic.claude-9-mega-v1:0")
    assert D(mega["unpriced_model"]["cost_usd"]) == D("0.5")
    row = ut.set_index("usage_type").loc["USE1-Claude3Haiku-input-tokens"]
    assert row["bill_vs_cloudwatch"] == "agrees" and row["bill_vs_logs"] == "differs"


def test_identities(case):
    s, _, _ = case
    for m in s:
        for k in ("invocations", "input_tokens", "output_tokens"):
            assert m["cloudwatch"][k] - m["logs"][k] == sum(g[k] for g in m["gaps"] if g["usage_gap"])
        cost = sum(D(g["cost_usd"]) for g in m["gaps"] if not g["in_logs"])
        assert abs(D(m["billed"]["cost_usd"]) - D(m["logs"]["cost_usd"]) - cost) <= D("0.000003")


def test_unexplained_when_logs_short_without_delivery_failure():
    logs = pd.DataFrame([line(10, 3, 300, 30)])
    cw = pd.DataFrame([line(10, 5, 500, 50)])
    empty = logs.iloc[0:0]
    models, hourly, _ = R.reconcile(logs, empty, cw, pd.DataFrame(columns=["usage_type"]), pd.DataFrame(
        columns=["hour", "model_id", "metric", "value"]), {"scope": "all", "source": "none", "missing": False}, [])
    s = verdict.summarise(models, {})
    g = gaps(s)["unexplained"]
    assert (g["invocations"], g["input_tokens"], g["output_tokens"]) == (2, 200, 20)
    assert not g["within_tolerance"]
    assert "cannot be told apart" in g["explanation"]


def test_usage_type_in_millions_and_money_format():
    assert usd(D("13.626463")) == "$13.63"
    assert usd(D("-0.3939")) == "-$0.39"
    assert usd(D("0.0267")) == "$0.0267"
    assert usd(D("0.0000015")) == "$0.000002"
    assert money(D("0.0006375")) == "0.000638"


def test_attribution_rules(tmp_path):
    (tmp_path / "apps.yaml").write_text(
        "apps:\n"
        "  - {app: Triage, match: {role: Shared-*, request_metadata: {project: triage}}}\n"
        "  - {app: Support, team: Care, match: {application_profile_tags: {app: Support}}}\n"
        "  - {app: Chat, team: CX, cost_centre: CC-1, match: {role: Chat-BedrockRole}}\n"
        "  - {app: People, match: {user: [alice, bob]}}\n")
    (tmp_path / "inference_profiles.yaml").write_text(
        "profiles:\n  'arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/x1':\n"
        "    tags: {app: Support}\n")
    a = Attribution.load(tmp_path / "apps.yaml")
    role = "arn:aws:sts::111122223333:assumed-role/Chat-BedrockRole/"
    assert a.attribute(role + "s1", "", HAIKU) == a.attribute(role + "s2", "", HAIKU)      # sessions: one app
    assert a.attribute(role + "s1", "", HAIKU).cost_centre == "CC-1"
    shared = "arn:aws:sts::111122223333:assumed-role/Shared-Role/s"
    assert a.attribute(shared, '{"project":"triage"}', HAIKU).app == "Triage"
    assert a.attribute(shared, "", HAIKU) == App("role:Shared-Role", matched=False)     # no rule: its principal
    prof = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/x1"
    assert a.attribute("arn:aws:iam::111122223333:user/zed", "", prof).app == "Support"
    assert a.attribute("arn:aws:iam::111122223333:user/alice", "", HAIKU).app == "People"
    assert a.attribute("arn:aws:iam::111122223333:user/mallory", "", HAIKU) == App("user:mallory", matched=False)
    assert principal_parts(role + "s1") == ("arn:aws:sts::111122223333:assumed-role/Chat-BedrockRole", "role", "Chat-BedrockRole")
    with pytest.raises(ValueError, match="unknown condition"):
        Attribution([{"app": "X", "match": {"rol": "x"}}])


def test_injection_text_in_app_filter_is_data(tmp_path):
    """An application filter is compared as data: SQL-looking text matches nothing."""
    from tracker_utils.price.pricer import aggregate_logs
    logs = pd.DataFrame([{"request_id": "r1", "timestamp": pd.Timestamp("2026-11-02T10:00:00Z"), "operation": "Converse",
                          "model_id": HAIKU, "principal": "arn:aws:iam::111122223333:user/alice", "region": "us-east-1",
                          "inference_region": "", "input_tokens": 1, "output_tokens": 1, "cache_read_tokens": 0,
                          "cache_write_tokens": 0, "error_code": "", "latency": "", "request_metadata": "",
                          "file": "f", "line": 1, "delivered_at": pd.Timestamp("2026-11-02T10:05:00Z")}])
    agg = aggregate_logs(logs, Attribution([]))
    assert len(agg[agg["app"] == "%' OR '1'='1"]) == 0
    assert list(agg["app"]) == ["user:alice"] and not agg["matched"].any()


# --- issue 13: missing delivery, no CloudWatch, the status ladder ----------------------------------------------------
def test_an_hour_with_calls_and_no_log_record_is_a_missing_delivery():
    logs = pd.DataFrame([line(10, 5, 1000, 500)])
    cw = pd.DataFrame([line(10, 5, 1000, 500), line(14, 3, 600, 300)])      # 14:00: CloudWatch only
    models, hourly, _ = R.reconcile(logs, pd.DataFrame(), cw, pd.DataFrame(columns=list(bill_line("u", "input", 0, 0))),
                                    pd.DataFrame(), {"scope": "all", "source": "none"}, [])
    g = gaps(verdict.summarise(models, {}))
    assert (g["missing_delivery"]["invocations"], g["missing_delivery"]["hours"]) == (3, [14])
    assert "unexplained" not in g and "re-collect after 24 hours" in g["missing_delivery"]["explanation"]
    # with a delivery failure that hour it is a logging outage, as before
    failed = pd.DataFrame([{"hour": pd.Timestamp("2026-11-02T14:00Z"), "model_id": "",
                            "metric": "ModelInvocationLogsS3DeliveryFailure", "value": 1}])
    models, _, _ = R.reconcile(logs, pd.DataFrame(), cw, pd.DataFrame(columns=list(bill_line("u", "input", 0, 0))),
                               failed, {"scope": "all", "source": "none"}, [])
    assert set(gaps(verdict.summarise(models, {}))) == {"logging_outage"}


def test_no_cloudwatch_calls_nothing_unexplained_and_says_so():
    logs = pd.DataFrame([line(10, 5, 1000, 500), line(11, 2, 10, 10)])
    models, hourly, _ = R.reconcile(logs, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(columns=list(bill_line("u", "input", 0, 0))),
                                    pd.DataFrame(), {"scope": "all", "source": "none"}, [])
    s = verdict.summarise(models, {})
    assert gaps(s) == {} and set(hourly["cause"]) == {"no_cloudwatch"}
    text = verdict.verdict(D(0), D("0.001"), verdict.roll_up_gaps(s), 7, 0, False, [], cloudwatch=False)
    assert "CloudWatch has no AWS/Bedrock metrics for this day" in text and "unexplained" in text


def _evidence(**kw):
    base = dict(billed=D("10"), cw_invocations=100, gaps=[], unpriced=[], cloudwatch=True, bill_present=True,
                bill_closed=True, quality={"records_read": 100, "records_malformed": 0}, tol_tokens_pct=0.5,
                tol_cost_pct=1.0, tol_cost_abs=0.0001)
    return verdict.Evidence(**{**base, **kw})


def _gap(kind, cost="0", n=0, **kw):
    return {"kind": kind, "cost_usd": cost, "invocations": n, **{t: 0 for t in ("input_tokens", "output_tokens",
                                                                              "cache_read_tokens", "cache_write_tokens")}, **kw}


@pytest.mark.parametrize("ev, want", [
    (dict(), "reconciled"),
    (dict(gaps=[_gap("rounding", "0.0004"), _gap("failed_calls", "0", -3), _gap("day_edge", "0.1", 2)]), "reconciled"),
    (dict(gaps=[_gap("price_mismatch", "0.004")]), "explained"),
    (dict(gaps=[_gap("missing_delivery", "0.02", 17)]), "explained"),
    (dict(gaps=[_gap("unexplained", "0.00005", 0, within_tolerance=True)]), "reconciled"),
    (dict(unpriced=["vendor.new-v1:0"]), "partial"),
    (dict(cloudwatch=False, cw_invocations=0), "partial"),
    (dict(bill_present=False), "partial"),
    (dict(bill_closed=False), "partial"),
    (dict(quality={"records_read": 100, "records_malformed": 5}), "partial"),
    (dict(quality={"records_read": 1000, "records_malformed": 1}), "reconciled"),        # 0.1%: within tolerance
    (dict(quality={"records_read": 100, "records_malformed": 0, "records_other_region": 1}), "partial"),
    (dict(gaps=[_gap("unexplained", "0.5", 4, within_tolerance=False)], unpriced=["x"]), "unreconciled"),
    (dict(quality={"records_read": 0}, cw_invocations=0, has_bill_lines=False, billed=D(0)), "no_data"),
])
def test_status_ladder(ev, want):
    state, reasons = verdict.status(_evidence(**ev))
    assert state == want and reasons and all(r.endswith(".") for r in reasons)


def test_principals_no_rule_matches_are_one_chargeback_row_each_sessions_merged():
    """An account with no rule for its roles: one row per role (all its sessions) and per user, not one lump."""
    from tracker_utils.price.pricer import Pricer, aggregate_logs
    from tracker_utils.price.book import PriceBook
    from tracker_utils.reconcile.shares import apps_table
    acct = "111122223333"
    arns = ([f"arn:aws:sts::{acct}:assumed-role/Billing-Role/s{i}" for i in range(4)]
            + [f"arn:aws:sts::{acct}:assumed-role/Search-Role/job-{i}" for i in range(3)] + [f"arn:aws:iam::{acct}:user/dana"])
    rows = [{"request_id": f"r{i}", "timestamp": pd.Timestamp("2026-11-02T10:00:00Z"), "operation": "Converse",
             "model_id": HAIKU, "principal": arn, "region": "us-east-1", "inference_region": "",
             "input_tokens": 1000, "output_tokens": 100, "cache_read_tokens": 0, "cache_write_tokens": 0,
             "error_code": "", "latency": "", "request_metadata": "", "file": "f", "line": i,
             "delivered_at": pd.Timestamp("2026-11-02T10:05:00Z")} for i, arn in enumerate(arns)]
    agg = aggregate_logs(pd.DataFrame(rows), Attribution([]))
    priced = Pricer(PriceBook.load(), "us-east-1", "2026-11-02").price_frame(agg)
    billed = D("0.01")
    models = {HAIKU: {"billed": billed, "gaps": {}, "logs": {"cost": sum(priced["cost_usd"], D(0)),
                                                              **{t: int(priced[t].sum()) for t in TOKENS}}}}
    apps = apps_table(priced, models)
    assert {a["app"]: a["invocations"] for a in apps} == {"role:Billing-Role": 4, "role:Search-Role": 3, "user:dana": 1}
    assert all(a["matched"] is False and a["team"] == "" and a["cost_centre"] == "" for a in apps)
    assert sum(D(a["billed_share_usd"]) for a in apps) == billed
    assert sum(D(a["share_of_bill_pct"]) for a in apps) == D("100.00")

"""Cost Explorer with record types: the usage request (RECORD_TYPE Usage) and one request for the adjustments
(GroupBy [RECORD_TYPE, USAGE_TYPE]), parsed into bill lines of their own record type; an old recording without the
adjustments request is read as before and says so.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from tests.aws_fixtures import queue_ce_pages
from tracker_utils.collect import aws
from tracker_utils.collect.bill import parse_cost_explorer_recording
from tracker_utils.io import write_json
from tracker_utils.reconcile.stage import _data_quality

DAY = dt.date(2026, 9, 14)
SONNET = "USE1-Claude4.5Sonnet-input-tokens-cross-region-global"
MP = "USE1-MP:USE1_InputTokenCount-Units"


def _page(defs, groups, token=None):
    page = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": k} for k in defs],
            "ResultsByTime": [{"TimePeriod": {"Start": DAY.isoformat(), "End": (DAY + dt.timedelta(days=1)).isoformat()},
                               "Total": {}, "Estimated": False, "Groups": [
                                   {"Keys": list(k), "Metrics": {"UnblendedCost": {"Amount": c, "Unit": "USD"},
                                                                 "UsageQuantity": {"Amount": q, "Unit": "N/A"}}}
                                   for k, c, q in groups]}]}
    if token:
        page["NextPageToken"] = token
    return page


USAGE = [_page(("SERVICE", "USAGE_TYPE"), [(("Amazon Bedrock", SONNET), "3.00", "1000")], "p1"),
         _page(("SERVICE", "USAGE_TYPE"), [(("Claude 3 Haiku (Amazon Bedrock Edition)", MP), "0.50", "2")])]
ADJ = [_page(("RECORD_TYPE", "USAGE_TYPE"), [(("EdpDiscount", SONNET), "-0.09", "0"), (("Credit", SONNET), "-0.10", "0"),
                                             (("EdpDiscount", MP), "-0.015", "0")])]


def _by_type(df):
    return {(r.record_type, r.usage_type): (D(r.cost_usd), r.service) for r in df.itertuples()}


def test_a_recording_with_adjustments_gives_lines_of_their_record_type():
    df, recorded = parse_cost_explorer_recording({"pages": USAGE, "adjustments": {"pages": ADJ}})
    assert recorded
    assert _by_type(df) == {
        ("usage", SONNET): (D("3.00"), "Amazon Bedrock"),
        ("usage", MP): (D("0.50"), "Claude 3 Haiku (Amazon Bedrock Edition)"),
        ("discount", SONNET): (D("-0.09"), "Amazon Bedrock"),       # first party: its usage type names the model
        ("credit", SONNET): (D("-0.10"), "Amazon Bedrock"),
        ("discount", MP): (D("-0.015"), "")}                        # Marketplace: no SERVICE group, no model
    net = sum(D(c) for c in df["cost_usd"])
    gross = sum(D(c) for c, t in zip(df["cost_usd"], df["record_type"]) if t == "usage")
    assert (net, gross) == (D("3.295"), D("3.50"))


def test_an_old_recording_is_read_as_before_and_says_so():
    df, recorded = parse_cost_explorer_recording({"pages": USAGE})
    assert not recorded and set(df["record_type"]) == {"usage"} and len(df) == 2
    collect = {"data_quality": {}, "bill": {"adjustments_note": "the Cost Explorer recording has no adjustments "
                                                                "request"}}
    dq = _data_quality(collect, {"unpriced_models": []})
    assert dq["bill_adjustments_note"].startswith("the Cost Explorer recording has no adjustments request")


@pytest.mark.slow
def test_fetch_makes_the_usage_and_the_adjustments_requests(aws_env, tmp_path):
    # an account of its own: forgetting the answers of the demo's account would take the session's demo bill away
    # from every later test that reads it (moto keeps an answer per request for the server's life)
    moto, own = aws_env, "999900003333"
    queue_ce_pages(moto, USAGE + ADJ, own, forget=True)
    closed = dt.datetime.combine(DAY + dt.timedelta(days=4), dt.time(0), tzinfo=dt.timezone.utc)
    ctx = moto.ctx(role_arn=f"arn:aws:iam::{own}:role/BedrockUsageTracker")
    assert ctx.client("sts").get_caller_identity()["Account"] == own
    rec = aws.fetch_cost_explorer(ctx, DAY, tmp_path, now=closed)
    assert rec["request"]["Filter"]["And"][1] == {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}}
    adj_req = rec["adjustments"]["request"]
    assert [g["Key"] for g in adj_req["GroupBy"]] == ["RECORD_TYPE", "USAGE_TYPE"]
    assert {"Credit", "Refund", "EdpDiscount", "PrivateRateDiscount"} <= set(adj_req["Filter"]["And"][1]["Dimensions"]["Values"])
    assert (len(rec["pages"]), len(rec["adjustments"]["pages"])) == (2, 1)
    assert rec["requests_made"] >= 3          # the SERVICE discovery, two usage pages, one adjustments page
    df, recorded = parse_cost_explorer_recording(rec)
    assert recorded and sum(D(c) for c in df["cost_usd"]) == D("3.295")
    # the recording is cached: a second fetch after the close is free and the same
    again = aws.fetch_cost_explorer(ctx, DAY, tmp_path, now=closed)
    assert again.get("from_cache") and again["adjustments"]["pages"] == rec["adjustments"]["pages"]


def test_a_cached_recording_without_adjustments_is_reused_without_a_request(tmp_path, monkeypatch):
    day = DAY - dt.timedelta(days=1)
    write_json(tmp_path / "costexplorer" / f"{day}.json",
               {"request": {"Filter": {}}, "pages": USAGE, "fetched_at": "2026-09-20T00:00:00+00:00"})

    def no_aws(*a, **k):
        raise AssertionError("a paid request was made")
    monkeypatch.setattr(aws, "_discover_services", no_aws)
    rec = aws.fetch_cost_explorer(None, day, tmp_path)
    df, recorded = parse_cost_explorer_recording(rec)
    assert rec["from_cache"] and not recorded and len(df) == 2


def test_a_discount_on_a_model_the_book_lacks_lands_on_that_model():
    import pandas as pd
    from tests.test_reconcile import bill_line
    from tracker_utils.reconcile import ledger as R
    mega = "anthropic.claude-9-mega-v1:0"
    bill = pd.DataFrame([
        {**bill_line("USE1-Claude9Mega-input-tokens", "input", 2000, D("0.5"), matched=False,
                     billing_name="Claude9Mega"), "record_type": "usage"},
        {**bill_line("USE1-Claude9Mega-input-tokens", "input", 0, D("-0.015"), matched=False,
                     billing_name="Claude9Mega"), "record_type": "discount"},
        {**bill_line("USE1-Other-input-tokens", "input", 0, D("-0.2"), matched=False, billing_name="Other"),
         "record_type": "credit"}])
    empty = pd.DataFrame(columns=["hour", "model_id", "base_model", "scope", "status", "tier", "day_edge",
                                  "invocations", "input_tokens", "output_tokens", "cache_read_tokens",
                                  "cache_write_tokens", "cost_usd"])
    models, _, _ = R.reconcile(empty, empty, empty, bill, pd.DataFrame(columns=["hour", "model_id", "metric", "value"]),
                               {"scope": "all", "source": "ce"}, [mega])
    assert models[mega]["billed"] == D("0.485")
    assert models[mega]["gaps"]["discount"].sizes["cost"] == D("-0.015")
    assert models[R.ADJUSTMENTS_MODEL]["gaps"]["credit"].sizes["cost"] == D("-0.2")

"""The demo's EDP discount and promotional credit: on its second day the bill carries an EDP discount of 3% of each
first-party usage line and a $0.10 credit on one usage type, in the Cost Explorer recording (the adjustments
request) and in the CUR export alike; the pipeline sizes them, and the chargeback allocates the net or the gross bill.
"""
from __future__ import annotations

import json
from decimal import Decimal as D
from types import SimpleNamespace

import pandas as pd

from tracker_utils.demo.bill import CREDIT, adjustment_day

SONNET_LINE = "USE1-Claude4.5Sonnet-input-tokens-cross-region-global"


def _groups(pages):
    return [g for p in pages for r in p["ResultsByTime"] for g in r["Groups"]]


def _expected(root, day):
    """From the usage pages alone: -3% of every first-party usage line of the day, and the credit."""
    rec = json.loads((root / "costexplorer" / f"{day}.json").read_text())
    want = {}
    for g in _groups(rec["pages"]):
        service, usage = g["Keys"]
        cost = D(g["Metrics"]["UnblendedCost"]["Amount"])
        if service == "Amazon Bedrock" and cost:
            want[("EdpDiscount", usage)] = -cost * 3 / 100
    want[("Credit", SONNET_LINE)] = D("-0.10")
    return rec, want


def test_the_recording_and_the_export_carry_the_discount_and_the_credit(small_demo):
    root, spec, _ = small_demo
    day = adjustment_day(spec)
    assert day == "2026-11-03" and CREDIT == (SONNET_LINE, D("-0.10"))
    rec, want = _expected(root, day)
    got = {tuple(g["Keys"]): D(g["Metrics"]["UnblendedCost"]["Amount"]) for g in _groups(rec["adjustments"]["pages"])}
    assert got == want
    for other in set(spec.dates) - {day}:
        assert _groups(json.loads((root / "costexplorer" / f"{other}.json").read_text())["adjustments"]["pages"]) == []
    cur = pd.read_parquet(next((root / "cur").rglob("*.parquet")))
    adj = cur[cur["line_item_line_item_type"].isin(["EdpDiscount", "Credit"])]
    assert set(adj["line_item_usage_start_date"].str[:10]) == {day}
    by = adj.groupby(["line_item_line_item_type", "line_item_usage_type"])["line_item_unblended_cost"].sum()
    assert set(by.index) == set(want)
    assert all(abs(D(str(v)) - want[k]) < D("1e-12") for k, v in by.items())


def test_the_ground_truth_sizes_them(small_demo):
    root, spec, truth = small_demo
    day = adjustment_day(spec)
    rec, want = _expected(root, day)
    for region, code in (("us-east-1", "USE1-"), ("ap-northeast-2", "APN2-")):
        t = truth["runs"][f"{day}/{region}"]["totals"]
        discount = sum((v for (k, u), v in want.items() if k == "EdpDiscount" and u.startswith(code)), D(0))
        credit = D("-0.10") if region == "us-east-1" else D(0)
        gross = sum((D(g["Metrics"]["UnblendedCost"]["Amount"]) for g in _groups(rec["pages"])
                     if g["Keys"][1].startswith(code)), D(0))
        assert D(t["adjustments_usd"]["discount"]) == discount.quantize(D("0.000001"))
        assert D(t["adjustments_usd"]["credit"]) == credit
        assert abs(D(t["gross_cost_usd"]) - gross) <= D("0.000001")
        assert abs(D(t["billed_cost_usd"]) - (gross + discount + credit)) <= D("0.000001")


def test_the_pipeline_sizes_them_and_both_chargebacks_add_up(demo_run):
    from tracker_utils.report import chargeback as C
    out, _, _, truth = demo_run
    day = "2026-11-03"
    s = json.loads((out / day / "us-east-1" / "summary.json").read_text())
    t, want = s["totals"], truth["runs"][f"{day}/us-east-1"]["totals"]
    assert (t["adjustments_usd"], t["gross_cost_usd"], t["billed_cost_usd"]) == \
        (want["adjustments_usd"], want["gross_cost_usd"], want["billed_cost_usd"])
    kinds = {g["kind"] for m in s["models"] for g in m["gaps"]}
    assert {"discount", "credit"} <= kinds and "unexplained" not in kinds
    params = {b: SimpleNamespace(start=day, end=day, regions=["us-east-1"], account="123456789012", chargeback_basis=b)
              for b in ("net", "gross")}
    cb = {b: C.chargeback_frame(SimpleNamespace(summaries=[s], params=p)) for b, p in params.items()}
    net, gross = (sum(cb[b]["billed_share_usd"], D(0)) for b in ("net", "gross"))
    assert net == D(t["billed_cost_usd"]) and gross == D(t["gross_cost_usd"])
    adj = D(t["adjustments_usd"]["discount"]) + D(t["adjustments_usd"]["credit"])
    assert gross - net == -adj and adj < 0
    # the headline says the bill is net, with the gross and both terms
    html = (out / day / "us-east-1" / "report.html").read_text()
    from tracker_utils.money import cents
    assert f"net: gross {cents(t['gross_cost_usd'])}, credit -$0.10, discount " in html

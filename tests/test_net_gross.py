"""Net and gross: credits, refunds and discounts are named terms of the money identity, never a price_mismatch.

Hand-made bill lines: Cost Explorer pages grouped by RECORD_TYPE, CUR adjustment line types, and the ledger sizing
each adjustment on the model its line names.
"""
from __future__ import annotations

from decimal import Decimal as D

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tracker_utils import gaps
from tracker_utils.money import usd
from tracker_utils.collect.bill import parse_cost_explorer_pages, read_cur, record_type
from tracker_utils.reconcile import ledger as R
from tracker_utils.reconcile import verdict
from tests.test_reconcile import HAIKU, IN, OUT, bill_line, line


def _ce_page(groups, defs=("USAGE_TYPE", "RECORD_TYPE")):
    return {"GroupDefinitions": [{"Type": "DIMENSION", "Key": k} for k in defs],
            "ResultsByTime": [{"TimePeriod": {"Start": "2026-11-02", "End": "2026-11-03"}, "Groups": [
                {"Keys": list(keys), "Metrics": {"UnblendedCost": {"Amount": cost, "Unit": "USD"},
                                                 "UsageQuantity": {"Amount": qty, "Unit": "N/A"}}}
                for keys, cost, qty in groups]}]}


def test_record_types_are_named_in_every_spelling():
    assert [record_type(t) for t in ("Usage", "Credit", "Refund", "EdpDiscount", "PrivateRateDiscount",
                                     "Enterprise Discount Program Discount", "Tax", None, "")] == \
        ["usage", "credit", "refund", "discount", "discount", "discount", "usage", "usage", "usage"]


def test_cost_explorer_pages_grouped_by_record_type():
    ut = "USE1-Claude3Haiku-input-tokens"
    df = parse_cost_explorer_pages([_ce_page([((ut, "Usage"), "0.25", "1000"), ((ut, "Credit"), "-0.05", "0"),
                                              ((ut, "EdpDiscount"), "-0.0125", "0"), ((ut, "Refund"), "-0.01", "0")])])
    got = {r.record_type: (D(r.cost_usd), r.tokens) for r in df.itertuples()}
    assert got == {"usage": (D("0.25"), 1_000_000), "credit": (D("-0.05"), 0), "discount": (D("-0.0125"), 0),
                   "refund": (D("-0.01"), 0)}
    plain = parse_cost_explorer_pages([_ce_page([(("Amazon Bedrock", ut), "0.2", "800")], ("SERVICE", "USAGE_TYPE"))])
    assert list(plain.record_type) == ["usage"]


def test_cur_keeps_discounts_as_bill_lines(tmp_path):
    types = ["Usage", "EdpDiscount", "PrivateRateDiscount", "Refund", "Tax"]
    costs = ["1.00", "-0.10", "-0.05", "-0.20", "0.07"]
    n = len(types)
    pq.write_table(pa.table({
        "line_item_usage_start_date": ["2026-11-02T01:00:00Z"] * n, "line_item_product_code": ["AmazonBedrock"] * n,
        "product_servicecode": ["AmazonBedrock"] * n, "line_item_usage_type": ["USE1-Claude3Haiku-input-tokens"] * n,
        "line_item_operation": ["InvokeModelInference"] * n, "line_item_usage_amount": ["4000", "0", "0", "0", "0"],
        "line_item_unblended_cost": costs, "line_item_line_item_type": types, "product_region_code": ["us-east-1"] * n,
        "bill_billing_entity": ["AWS"] * n}), tmp_path / "cur.parquet")
    df, report = read_cur([tmp_path], "2026-11-02", "2026-11-02")
    by = {r: D(sum((D(c) for c in f.cost_usd), D(0))) for r, f in df.groupby("record_type")}
    assert by == {"usage": D("1.00"), "discount": D("-0.15"), "refund": D("-0.20")}
    assert report["excluded"] == {"Tax": {"rows": 1, "cost_usd": "0.07"}}
    assert report["adjustments"] == {"discount": {"rows": 2, "cost_usd": "-0.15"}, "refund": {"rows": 1, "cost_usd": "-0.2"}}
    assert set(df.loc[df.record_type != "usage", "tokens"]) == {0}


def _adj(usage_type, cost, rtype, matched=True):
    return {**bill_line(usage_type, "input", 0, cost, matched=matched, billing_name="Claude3Haiku" if matched else None),
            "record_type": rtype}


def _case(extra):
    logs = pd.DataFrame([line(10, 5, 1000, 500), line(11, 3, 600, 300)])
    cw = logs.copy()
    usage = [bill_line("USE1-Claude3Haiku-input-tokens", "input", 1600, D(1600) * IN / 1000),
             bill_line("USE1-Claude3Haiku-output-tokens", "output", 800, D(800) * OUT / 1000)]
    bill = pd.DataFrame([{**u, "record_type": "usage"} for u in usage] + extra)
    models, _, ut = R.reconcile(logs, logs.iloc[0:0], cw, bill, pd.DataFrame(columns=["hour", "model_id", "metric",
                                                                                       "value"]),
                                {"scope": "all", "source": "cur"}, [])
    return models, verdict.summarise(models, {}), ut


def test_credits_refunds_and_discounts_are_sized_never_a_price_mismatch():
    ut = "USE1-Claude3Haiku-input-tokens"
    models, summary, rows = _case([_adj(ut, D("-0.0001"), "credit"), _adj(ut, D("-0.00004"), "discount"),
                                   _adj(ut, D("-0.00002"), "discount"), _adj(ut, D("-0.00003"), "refund")])
    g = {x["kind"]: x for x in next(m for m in summary if m["model"] == HAIKU)["gaps"]}
    assert set(g) == {"credit", "discount", "refund"}
    assert (D(g["credit"]["cost_usd"]), D(g["discount"]["cost_usd"]), D(g["refund"]["cost_usd"])) == \
        (D("-0.0001"), D("-0.00006"), D("-0.00003"))
    assert all(g[k]["input_tokens"] == 0 and not g[k]["usage_gap"] for k in g)
    m = models[HAIKU]
    # the money identity: billed (net) - logs cost = the sum of the gaps' costs
    assert m["billed"] - m["logs"]["cost"] == sum((x.sizes["cost"] for x in m["gaps"].values()), D(0))
    assert list(rows.loc[rows["record_type"] == "usage", "bill_vs_cloudwatch"]) == ["agrees", "agrees"]
    assert "credit" in g["credit"]["explanation"] and "$0.0001" in g["credit"]["explanation"]


def test_without_record_types_a_discount_looks_like_a_price_error():
    """The same discounted bill netted into the usage line (Cost Explorer without RECORD_TYPE): price_mismatch."""
    logs = pd.DataFrame([line(10, 5, 1_000_000, 0)])
    bill = pd.DataFrame([bill_line("USE1-Claude3Haiku-input-tokens", "input", 10**6, D(10**6) * IN / 1000 * D("0.9"))])
    models, _, _ = R.reconcile(logs, logs.iloc[0:0], logs.copy(), bill, pd.DataFrame(
        columns=["hour", "model_id", "metric", "value"]), {"scope": "all", "source": "ce"}, [])
    assert "price_mismatch" in models[HAIKU]["gaps"]


def test_an_account_credit_naming_no_model_is_sized_on_its_own_row():
    models, summary, _ = _case([_adj("", D("-1.5"), "credit", matched=False)])
    assert R.ADJUSTMENTS_MODEL in models and "unexplained" not in models[R.ADJUSTMENTS_MODEL]["gaps"]
    assert models[R.ADJUSTMENTS_MODEL]["gaps"]["credit"].sizes["cost"] == D("-1.5")
    assert not models[HAIKU]["gaps"]


def test_adjustments_leave_the_status_reconciled_and_are_in_the_sentence():
    _, summary, _ = _case([_adj("USE1-Claude3Haiku-input-tokens", D("-0.0001"), "discount")])
    day = verdict.roll_up_gaps(summary)
    e = verdict.Evidence(billed=D("0.0014"), cw_invocations=8, gaps=day, unpriced=[], cloudwatch=True,
                         bill_present=True, bill_closed=True, quality={"records_read": 8}, tol_tokens_pct=0.5,
                         tol_cost_pct=1.0, tol_cost_abs=0.0001)
    assert verdict.status(e)[0] == "reconciled"
    assert verdict.gap_sentence(day[0], D("-0.0001")).startswith(usd(D("0.0001")) + " of discounts")


def test_the_adjustment_kinds_are_in_the_table():
    for k in gaps.ADJUSTMENT_KINDS:
        kind = gaps.kind(k)
        assert kind.label and kind.short and kind.colour and kind.per_model and kind.per_day
        assert not kind.usage_gap and not kind.in_logs


def test_totals_show_gross_and_net():
    from tracker_utils.reconcile.stage import _totals
    models, summary, _ = _case([_adj("USE1-Claude3Haiku-input-tokens", D("-0.0001"), "credit"),
                                _adj("", D("-0.0002"), "discount", matched=False)])
    t = _totals(models, summary, {"bill": {}}, [])
    net = D(1600) * IN / 1000 + D(800) * OUT / 1000 - D("0.0003")
    assert (D(t["net_cost_usd"]), D(t["gross_cost_usd"])) == (net.quantize(D("0.000001")), (net + D("0.0003")).quantize(D("0.000001")))
    assert {k: D(v) for k, v in t["adjustments_usd"].items()} == {"credit": D("-0.0001"), "refund": 0,
                                                                  "discount": D("-0.0002")}
    assert t["explained_pct"] == "100.0"          # the logs at list price explain the gross bill

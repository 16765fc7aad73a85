"""Service tiers from the record: read in collect (both paths), priced at the tier's rate, reconciled per tier.

Prices are the book's Mistral Large 3 rows in us-west-2 (AWS Price List 2026-10-03): standard 0.0005 / 0.0015, flex
0.00025 / 0.00075, priority 0.00088 / 0.00263 USD per 1K tokens (input / output).
"""
from __future__ import annotations

import gzip
from decimal import Decimal as D

import orjson
import pandas as pd
import pytest

from tracker_utils.apps import Attribution
from tracker_utils.collect import logs
from tracker_utils.collect.logs.records import _Bad, _fast_record, _record
from tracker_utils.price.book import TIERS, PriceBook
from tracker_utils.price.pricer import Pricer, aggregate_logs
from tracker_utils.price.tiers import cloudwatch_tier_split, tier_of, tier_quality
from tracker_utils.reconcile.ledger import Ledger
from tracker_utils.usage_types import parse_usage_type

ML3 = "mistral.mistral-large-3-675b-instruct"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def rec(rid="r-1", model=ML3, region="us-west-2", i=1000, o=2000, **top) -> dict:
    """A Converse record as Bedrock logs it (the bodies elided), with top-level fields ``top``."""
    return {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2026-11-02T10:15:00Z",
            "accountId": "123456789012", "identity": {"arn": "arn:aws:sts::123456789012:assumed-role/App/s1"},
            "region": region, "requestId": rid, "operation": "Converse", "modelId": model,
            "input": {"inputContentType": "application/json", "inputBodyJson": {"messages": []},
                      "inputTokenCount": i},
            "output": {"outputContentType": "application/json", "outputBodyJson": {"output": {}},
                       "outputTokenCount": o}, **top}


def both(r: dict):
    """The exact path's tier and the fast path's (None when the fast path hands the line over)."""
    fast = _fast_record(orjson.dumps(r), {}, 1)
    return _record(r, {}, 1)[-1], (fast[-1] if fast is not None else None)


@pytest.mark.parametrize("top, tier", [
    ({"serviceTier": "flex"}, "flex"),
    ({"serviceTier": {"type": "priority"}}, "priority"),
    ({"serviceTier": "default"}, "default"),
    ({"serviceTier": None}, ""),
    ({"serviceTier": {}}, ""),
    ({}, ""),
    ({"serviceTier": "reserved"}, "reserved"),           # kept as written: the price stage names it
])
def test_the_tier_is_read_in_both_forms_on_both_paths(top, tier):
    assert both(rec(**top)) == (tier, tier)


@pytest.mark.parametrize("value, reason", [
    (3, "serviceTier is not a string: 3"),
    ({"type": 7}, "serviceTier.type is not a string: 7"),
    ("please summarise this contract for me", "serviceTier is not a tier name: <text of 37 characters>"),
])
def test_a_bad_tier_is_a_counted_bad_field_with_one_line_and_no_text(value, reason):
    r = rec(serviceTier=value)
    assert _fast_record(orjson.dumps(r), {}, 1) is None
    with pytest.raises(_Bad) as e:
        _record(r, {}, 1)
    assert (e.value.kind, e.value.reason) == ("bad_field", reason)
    data = gzip.compress(orjson.dumps(r) + b"\n" + orjson.dumps(rec("r-2", serviceTier="flex")) + b"\n")
    rows, problems, n, _ = logs.parse_object("k", data, pd.Timestamp("2026-11-02T10:20Z").to_pydatetime())
    assert n == 2 and len(rows) == 1 and rows[0][-1] == "flex"
    assert [(p[0], p[4]) for p in problems] == [("bad_field", reason)]
    assert "contract" not in repr(problems)


def test_the_collected_frame_has_the_tier_column():
    lines = [rec("a", serviceTier="flex"), rec("b"), rec("c", serviceTier={"type": "priority"})]
    data = gzip.compress(b"\n".join(orjson.dumps(r) for r in lines) + b"\n")
    rows, _, _, _ = logs.parse_object("k", data, pd.Timestamp("2026-11-02T10:20Z").to_pydatetime())
    df = logs.frame(rows)
    assert df.set_index("request_id")["service_tier"].to_dict() == {"a": "flex", "b": "", "c": "priority"}


def test_tier_of_latency_first_then_service_tier():
    assert tier_of("optimized", "flex") == "latency_optimized"
    assert [tier_of("", t) for t in ("", "default", "flex", "priority", "FLEX", "reserved")] == \
        ["standard", "standard", "flex", "priority", "flex", "reserved"]


def _priced(records: list[dict], region="us-west-2"):
    data = gzip.compress(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    rows, _, _, _ = logs.parse_object("k", data, pd.Timestamp("2026-11-02T10:20Z").to_pydatetime())
    agg = aggregate_logs(logs.frame(rows), Attribution([]))
    pricer = Pricer(PriceBook.load(), region, "2026-11-02")
    return agg, pricer.price_frame(agg), pricer


def test_flex_and_priority_are_priced_at_their_rates():
    agg, priced, pricer = _priced([rec("a", serviceTier="flex"), rec("b", serviceTier={"type": "priority"}),
                                   rec("c", serviceTier="default")])
    cost = priced.set_index("tier")["cost_usd"].map(D).to_dict()
    # 1,000 input and 2,000 output tokens each
    assert cost == {"flex": D("0.00025") + 2 * D("0.00075"), "priority": D("0.00088") + 2 * D("0.00263"),
                    "standard": D("0.0005") + 2 * D("0.0015")}
    assert priced["priced"].all() and not pricer.unpriced


def test_a_tier_the_book_lacks_is_unpriced_and_named_never_standard():
    agg, priced, pricer = _priced([rec("a", model=HAIKU, region="us-east-1", serviceTier="flex"),
                                   rec("b", serviceTier="reserved")], region="us-west-2")
    assert not priced["priced"].any() and (priced["cost_usd"].map(D) == 0).all()
    _, priced_e, pricer_e = _priced([rec("a", model=HAIKU, region="us-east-1", serviceTier="flex")], "us-east-1")
    assert pricer_e.unpriced[HAIKU]["tiers"] == {"flex"} and pricer_e.unpriced[HAIKU]["tokens"] == 3000
    q = tier_quality(priced, TIERS)
    assert q["unknown_service_tiers"] == {"reserved": 1}
    assert q["messages"] == ["1 record with the service tier 'reserved', which the price book does not know: unpriced"]


def _cw(hour, model_id, inv, i, o):
    return {"hour": pd.Timestamp(f"2026-11-02T{hour:02d}:00Z"), "model_id": model_id, "invocations": inv,
            "input_tokens": i, "output_tokens": o, "cache_read_tokens": 0, "cache_write_tokens": 0,
            "throttles": 0, "client_errors": 0, "server_errors": 0, "cache_write_1h_tokens": 0}


def test_cloudwatch_is_split_by_the_logs_tiers():
    logged = [rec(f"f{k}", serviceTier="flex") for k in range(3)] + [rec(f"s{k}") for k in range(2)]
    agg, _, _ = _priced(logged)
    # CloudWatch counts 6 calls in that hour: one more standard call than the logs (a missing record)
    cw = pd.DataFrame([_cw(10, ML3, 6, 6500, 12500), _cw(11, ML3, 1, 10, 20)])
    split = cloudwatch_tier_split(cw, agg)
    got = {(r.hour.hour, r.tier): (r.invocations, r.input_tokens, r.output_tokens) for r in split.itertuples()}
    assert got == {(10, "flex"): (3, 3000, 6000), (10, "standard"): (3, 3500, 6500), (11, "standard"): (1, 10, 20)}
    assert split.groupby("hour")[["invocations", "input_tokens", "output_tokens"]].sum().values.tolist() == \
        [[6, 6500, 12500], [1, 10, 20]]


def _bill(usage_type, tokens, cost):
    u = parse_usage_type(usage_type, "Amazon Bedrock")
    return {"usage_type": usage_type, "service": "Amazon Bedrock", "base_model": ML3, "unit": u.unit, "tier": u.tier,
            "scope": u.scope, "endpoint": u.endpoint, "tokens": tokens, "cost_usd": str(cost), "matched": True,
            "recognized": True, "billing_name": u.billing_name, "record_type": "usage", "reason": None,
            "shape": "first_party"}


def test_a_flex_line_reconciles_against_the_flex_calls():
    """3 flex + 2 standard calls of 1,000 / 2,000 tokens, all in CloudWatch, billed per tier at the book's rates."""
    logged = [rec(f"f{k}", serviceTier="flex") for k in range(3)] + [rec(f"s{k}") for k in range(2)]
    agg, priced, pricer = _priced(logged)
    cw = pricer.price_frame(cloudwatch_tier_split(pd.DataFrame([_cw(10, ML3, 5, 5000, 10000)]), agg))
    ut = "USW2-Mistral-Large-3-675b-Instruct-"
    bill = pd.DataFrame([_bill(ut + "input-tokens-flex", 3000, D("0.00075")),
                         _bill(ut + "output-tokens-flex", 6000, D("0.0045")),
                         _bill(ut + "input-tokens", 2000, D("0.001")),
                         _bill(ut + "output-tokens", 4000, D("0.006"))])
    assert list(bill["tier"]) == ["flex", "flex", "standard", "standard"]
    led = Ledger()
    led.usage(priced, priced.iloc[0:0], cw, pd.DataFrame(columns=["hour", "metric", "value"]))
    rows = led.bill(bill, priced, cw, {"source": "ce"}, [], (D("0.000001"), D("0.1")))
    assert list(rows["bill_vs_cloudwatch"]) == ["agrees"] * 4
    assert list(rows["cloudwatch_tokens"]) == [3000, 6000, 2000, 4000]
    assert not led.models[ML3]["gaps"]
    assert led.models[ML3]["billed"] == led.models[ML3]["logs"]["cost"] == D("0.01225")
    # the flex calls billed at the standard rate: a price_mismatch on the flex line, sized by hand
    bill.loc[0, "cost_usd"] = str(D("0.0015"))
    led = Ledger()
    led.usage(priced, priced.iloc[0:0], cw, pd.DataFrame(columns=["hour", "metric", "value"]))
    rows = led.bill(bill, priced, cw, {"source": "ce"}, [], (D("0.000001"), D("0.1")))
    g = led.models[ML3]["gaps"]
    assert set(g) == {"price_mismatch"} and g["price_mismatch"].sizes["cost"] == D("0.00075")


def test_a_logs_file_written_before_tiers_is_priced_as_standard(tmp_path):
    from tracker_utils.price.pricer import aggregate_logs_file
    df = pd.DataFrame({"timestamp": pd.to_datetime(["2026-11-02T10:00Z"] * 2, utc=True),
                       "delivered_at": pd.to_datetime(["2026-11-02T10:05Z"] * 2, utc=True),
                       "model_id": [ML3] * 2, "principal": ["p"] * 2, "operation": ["Converse"] * 2,
                       "error_code": [""] * 2, "latency": ["", "optimized"], "request_metadata": [""] * 2,
                       "input_tokens": [1, 2], "output_tokens": [2, 3], "cache_read_tokens": [0, 0],
                       "cache_write_tokens": [0, 0]})
    df.to_parquet(tmp_path / "old.parquet")
    got = aggregate_logs_file(tmp_path / "old.parquet", Attribution([])).set_index("tier")["input_tokens"].to_dict()
    assert got == {"standard": 1, "latency_optimized": 2}


def test_an_unknown_tier_reaches_the_summary_and_the_page():
    from tracker_utils.reconcile.stage import _data_quality
    from tracker_utils.report.daily import _dq_issues
    _, priced, _ = _priced([rec("a", serviceTier="reserved"), rec("b", serviceTier="reserved"), rec("c")])
    price = {"unpriced_models": [ML3], "service_tiers": tier_quality(priced, TIERS)}
    dq = _data_quality({"data_quality": {}, "bill": {}}, price)
    assert dq["unknown_service_tiers"] == {"reserved": 2}
    issues = _dq_issues(dq)
    assert any("2 records with the service tier &#x27;reserved&#x27;" in i for i in issues), issues
    assert "unknown_service_tiers" not in _data_quality({"data_quality": {}, "bill": {}}, {"unpriced_models": []})


def test_the_demo_latency_optimized_calls_reconcile_at_their_tier(demo_run):
    """The demo's Nova Pro calls (performanceConfig.latency "optimized") are priced at the book's latency-optimized
    rate ($0.001 / $0.004 per 1K, AWS pricing page) and their -latency-optimized bill lines agree with them."""
    import json
    from tracker_utils.demo.spec import LATENCY_OPTIMIZED
    out, _, _, truth = demo_run
    nova = LATENCY_OPTIMIZED["to"]
    seen = 0
    for key in truth["runs"]:
        if not key.endswith("us-east-1"):
            continue
        data = out / key / "data"
        pl = pd.read_parquet(data / "price_logs.parquet")
        f = pl[pl["base_model"] == nova]
        assert set(f["tier"]) == {"latency_optimized"}
        want = (D(int(f["input_tokens"].sum())) * D("0.001") + D(int(f["output_tokens"].sum())) * D("0.004")) / 1000
        assert sum(f["cost_usd"].map(D)) == want
        ut = pd.read_parquet(data / "reconcile_usage_types.parquet")
        lines = ut[(ut["base_model"] == nova) & (ut["record_type"] == "usage")]
        assert set(lines["usage_type"]) == {"USE1-NovaPro-input-tokens-latency-optimized",
                                            "USE1-NovaPro-output-tokens-latency-optimized"}
        assert set(lines["bill_vs_cloudwatch"]) == {"agrees"}
        s = json.loads((out / key / "summary.json").read_text())
        m = next(m for m in s["models"] if m["model"] == nova)
        assert not {g["kind"] for g in m["gaps"]} - {"discount", "failed_calls"}
        seen += int(f["invocations"].sum())
    assert seen > 0


def test_an_hour_no_log_covers_takes_the_bills_one_tier():
    from tracker_utils.price.tiers import bill_tiers
    ut = "USW2-Mistral-Large-3-675b-Instruct-"
    bill = pd.DataFrame([_bill(ut + "input-tokens-flex", 3000, D("0.00075")),
                         _bill(ut + "output-tokens-flex", 6000, D("0.0045")),
                         {**_bill(ut + "input-tokens", 0, D("-0.01")), "record_type": "discount"},
                         {**_bill("USE1-Claude3Haiku-input-tokens", 10, D("0.1")), "base_model": HAIKU},
                         {**_bill("USE1-Claude3Haiku-input-tokens-latency-optimized", 10, D("0.1")),
                          "base_model": HAIKU}])
    assert bill_tiers(bill) == {ML3: "flex"}          # Haiku is billed at two tiers: unknown
    agg, _, _ = _priced([rec("f1", serviceTier="flex")])            # logs at 10:00 only
    cw = pd.DataFrame([_cw(10, ML3, 1, 1000, 2000), _cw(12, ML3, 2, 40, 50), _cw(12, HAIKU, 1, 5, 5)])
    split = cloudwatch_tier_split(cw, agg, unlogged={ML3: "flex"})
    got = {(r.hour.hour, r.model_id, r.tier): r.invocations for r in split.itertuples()}
    assert got == {(10, ML3, "flex"): 1, (12, ML3, "flex"): 2, (12, HAIKU, "standard"): 1}
    plain = cloudwatch_tier_split(cw, agg)
    assert {(r.hour.hour, r.tier) for r in plain.itertuples() if r.model_id == ML3} == {(10, "flex"), (12, "standard")}

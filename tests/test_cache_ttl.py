"""Cache writes split by TTL, read from the response body while collecting, and both spellings of the cache counts.

Shapes: Converse ``usage.cacheDetails``, ConverseStream's final ``metadata`` event, Anthropic InvokeModel
``usage.cache_creation`` (and its stream's ``message_start``), and the ``cacheReadInputTokens`` /
``cacheWriteInputTokens`` spelling of the top-level counts (LiteLLM PR #31693).
"""
from __future__ import annotations

import datetime as dt
import gzip

import orjson
import pytest

from tracker_utils.collect import logs
from tracker_utils.collect.logs.records import _record

UTC = dt.timezone.utc
T = dt.datetime(2026, 4, 20, 0, 20, tzinfo=UTC)


def rec(rid="r1", op="Converse", inp=None, body=None, **top):
    inp = {"inputTokenCount": 10, **(inp or {})}
    out = {"outputTokenCount": 20}
    if body is not None:
        out["outputBodyJson"] = body
    return {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2026-04-20T00:17:33Z",
            "requestId": rid, "operation": op, "modelId": "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "region": "us-east-1", "input": inp, "output": out, **top}


def parse(r) -> tuple:
    """(input, output, cache read, cache write, 1h cache write, ttl assumed) of one record."""
    t = _record(r, {}, 1)
    return t[10:14] + t[15:17]


CONVERSE_USAGE = {"inputTokens": 10, "outputTokens": 20, "totalTokens": 2530, "cacheReadInputTokens": 0,
                  "cacheWriteInputTokens": 2500,
                  "cacheDetails": [{"ttl": "1h", "inputTokens": 1800}, {"ttl": "5m", "inputTokens": 700}]}


# --- A: both spellings -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("read_key,write_key", [("cacheReadInputTokenCount", "cacheWriteInputTokenCount"),
                                                ("cacheReadInputTokens", "cacheWriteInputTokens")])
def test_both_spellings_of_the_cache_counts(read_key, write_key):
    got = parse(rec(inp={read_key: 5686, write_key: 321}))
    assert got[:4] == (10, 20, 5686, 321)


def test_the_count_spelling_wins_when_both_are_present():
    got = parse(rec(inp={"cacheReadInputTokenCount": 7, "cacheReadInputTokens": 9}))
    assert got[2] == 7


def test_the_other_spelling_is_checked_like_the_first():
    with pytest.raises(Exception) as e:
        _record(rec(inp={"cacheWriteInputTokens": -3}), {}, 1)
    assert e.value.kind == "bad_token_count"


def test_cloudwatch_accepts_both_metric_spellings():
    from tracker_utils.collect.cloudwatch import parse_metric_data
    dims = [{"Name": "ModelId", "Value": "m"}]
    q = [{"Id": f"q{i}", "MetricStat": {"Metric": {"MetricName": n, "Dimensions": dims}}}
         for i, n in enumerate(["CacheWriteInputTokens", "CacheReadInputTokenCount"])]
    pages = [{"MetricDataResults": [{"Id": "q0", "Timestamps": ["2026-04-20T01:00:00Z"], "Values": [40.0]},
                                    {"Id": "q1", "Timestamps": ["2026-04-20T01:00:00Z"], "Values": [9.0]}]}]
    df = parse_metric_data({"get_metric_data": {"queries": q, "pages": pages}})
    assert dict(zip(df["metric"], df["value"])) == {"CacheWriteInputTokenCount": 40, "CacheReadInputTokenCount": 9}


# --- B: the TTL split from the body ----------------------------------------------------------------------------------
def test_converse_cache_details():
    r = rec(inp={"cacheWriteInputTokenCount": 2500},
            body={"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}}, "stopReason": "end_turn",
                  "usage": CONVERSE_USAGE, "metrics": {"latencyMs": 900}})
    assert parse(r)[3:] == (2500, 1800, 0)


def test_converse_stream_final_metadata_event():
    events = [{"messageStart": {"role": "assistant"}}, {"contentBlockDelta": {"delta": {"text": "hi"}}},
              {"messageStop": {"stopReason": "end_turn"}},
              {"metadata": {"usage": CONVERSE_USAGE, "metrics": {"latencyMs": 1200}}}]
    r = rec(op="ConverseStream", inp={"cacheWriteInputTokens": 2500}, body=events)
    assert parse(r)[3:] == (2500, 1800, 0)


def test_anthropic_invoke_model_cache_creation():
    body = {"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "hi"}],
            "usage": {"input_tokens": 10, "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 0,
                      "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
                      "output_tokens": 20}}
    r = rec(op="InvokeModel", inp={"cacheWriteInputTokenCount": 3000}, body=body)
    assert parse(r)[3:] == (3000, 2000, 0)


def test_anthropic_stream_message_start():
    events = [{"type": "message_start", "message": {"id": "msg_1", "usage": {
                  "input_tokens": 10, "cache_creation_input_tokens": 900,
                  "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 900}}}},
              {"type": "content_block_delta", "delta": {"text": "hi"}},
              {"type": "message_delta", "usage": {"output_tokens": 20}},
              {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 10}}]
    r = rec(op="InvokeModelWithResponseStream", inp={"cacheWriteInputTokenCount": 900}, body=events)
    assert parse(r)[3:] == (900, 900, 0)


@pytest.mark.parametrize("body", [
    None,                                                                          # body in a sidecar / not logged
    {"usage": {"inputTokens": 10, "cacheWriteInputTokens": 500}},                  # no cacheDetails
    {"usage": {"cacheDetails": [{"ttl": "1h", "inputTokens": 501}]}},             # more 1h than written
    {"usage": {"cacheDetails": [{"ttl": "1h", "inputTokens": "x"}]}},             # unreadable detail
    [{"metadata": {"usage": {"inputTokens": 10}}}],                                # stream without detail
])
def test_cache_writes_without_usable_ttl_are_assumed_5m(body):
    assert parse(rec(inp={"cacheWriteInputTokenCount": 500}, body=body))[3:] == (500, 0, 1)


def test_no_cache_writes_no_assumption_and_5m_only_detail():
    assert parse(rec(body={"usage": CONVERSE_USAGE}))[3:] == (0, 0, 0)      # the top-level total rules
    five = {"usage": {"cacheDetails": [{"ttl": "5m", "inputTokens": 40}]}}
    assert parse(rec(inp={"cacheWriteInputTokenCount": 40}, body=five))[3:] == (40, 0, 0)


def test_collect_carries_the_split_and_counts_assumed_records(tmp_path):
    recs = [rec("a", inp={"cacheWriteInputTokenCount": 2500}, body={"usage": CONVERSE_USAGE}),
            rec("b", inp={"cacheWriteInputTokens": 300}),
            rec("c", inp={"cacheWriteInputTokens": 300}),
            rec("d")]
    key = logs.log_base("p", "565521294060", "us-east-1") + "/2026/04/20/00/20260420T002000Z_abc.json.gz"
    path = tmp_path / key
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"\n".join(orjson.dumps(r) for r in recs) + b"\n"))
    from tracker_utils.collect.logs.listing import LogObject
    objs = [LogObject(key=key, size=path.stat().st_size, etag="e", delivered_at=T, read=path.read_bytes)]
    res = logs.collect(objs, dt.date(2026, 4, 20))
    used = res.used.set_index("request_id")
    assert used["cache_write_tokens"].to_dict() == {"a": 2500, "b": 300, "c": 300, "d": 0}
    assert used["cache_write_1h_tokens"].to_dict() == {"a": 1800, "b": 0, "c": 0, "d": 0}
    assert res.quality["cache_ttl_assumed"] == 2


# --- B: pricing the split ---------------------------------------------------------------------------------------------
SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_cli_price_gives_the_1h_rate_with_its_source(capsys):
    import json
    from decimal import Decimal
    from tracker_utils.price.book import PriceBook
    from tracker_utils.run import cli
    rc = cli.main(["price", "--region", "us-east-1", "--model", SONNET45, "--input-tokens", "0", "--output-tokens",
                   "0", "--cache-write-1h-tokens", "1000000", "--json"])
    q = json.loads(capsys.readouterr().out)
    row = PriceBook.load().price_row(SONNET45, "us-east-1", "in_region", "standard", "cache_write_1h", q["date"])
    assert rc in (0, None) and [ln["unit"] for ln in q["lines"]] == ["cache_write_1h"]
    assert q["lines"][0]["usd_per_1k"] == str(row.usd_per_1k) and q["lines"][0]["source"] == row.source
    assert row.source and Decimal(q["total_usd_exact"]) == row.usd_per_1k * 1000
    five = PriceBook.load().unit_price(SONNET45, "us-east-1", "in_region", "standard", "cache_write_5m", q["date"])
    assert row.usd_per_1k > five            # the 1h rate, not the 5m one


def _usage(**tokens):
    import pandas as pd
    base = {"model_id": SONNET45, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
            "cache_write_tokens": 0}
    return pd.DataFrame([{**base, **tokens}])


def test_pricer_splits_cache_writes_by_ttl():
    from decimal import Decimal
    from tracker_utils.price.book import PriceBook
    from tracker_utils.price.pricer import Pricer
    book = PriceBook.load()
    p = Pricer(book, "us-east-1", "2026-04-20")
    got = p.price_frame(_usage(cache_write_tokens=3000, cache_write_1h_tokens=2000)).iloc[0]
    r5 = book.unit_price(SONNET45, "us-east-1", "in_region", "standard", "cache_write_5m", "2026-04-20")
    r1 = book.unit_price(SONNET45, "us-east-1", "in_region", "standard", "cache_write_1h", "2026-04-20")
    assert Decimal(str(got["cost_cache_write_5m"])) == 1000 * r5 / 1000
    assert Decimal(str(got["cost_cache_write_1h"])) == 2000 * r1 / 1000
    assert Decimal(str(got["cost_cache_write"])) == Decimal(str(got["cost_usd"])) == r5 + 2 * r1
    old = p.price_frame(_usage(cache_write_tokens=3000)).iloc[0]            # no column: all at 5m
    assert Decimal(str(old["cost_usd"])) == 3 * r5 and Decimal(str(old["cost_cache_write_1h"])) == 0


def test_cloudwatch_cache_writes_follow_the_logs_ttl_share():
    import pandas as pd
    from tracker_utils.price.pricer import cloudwatch_ttl_split
    h = pd.Timestamp("2026-04-20T01:00:00Z")
    cw = pd.DataFrame({"hour": [h, h, h + pd.Timedelta(hours=1)], "model_id": ["m", "n", "m"],
                       "cache_write_tokens": [1000, 50, 70]})
    logs = pd.DataFrame({"hour": [h, h], "model_id": ["m", "m"], "cache_write_tokens": [600, 300],
                         "cache_write_1h_tokens": [600, 0]})
    late = pd.DataFrame({"hour": [h], "model_id": ["m"], "cache_write_tokens": [100], "cache_write_1h_tokens": [0]})
    out = cloudwatch_ttl_split(cw, logs, late)
    assert out["cache_write_1h_tokens"].tolist() == [600, 0, 0]    # 1000 * 600/1000; no logs for n or hour 2
    assert cloudwatch_ttl_split(cw)["cache_write_1h_tokens"].tolist() == [0, 0, 0]


def _ledger_case(logs_1h: int):
    """Logs and CloudWatch of one hour (3000 cache writes, ``logs_1h`` of them 1h in the logs), priced at the book,
    against a bill of 1000 5m and 2000 1h cache writes at the book's rates. Returns the model's gaps by kind."""
    from tracker_utils.price.book import PriceBook
    from tracker_utils.price.pricer import Pricer, cloudwatch_ttl_split
    from tracker_utils.reconcile import ledger as R
    from tracker_utils.reconcile import verdict
    import pandas as pd
    book = PriceBook.load()
    pricer = Pricer(book, "us-east-1", "2026-04-20")
    hour = pd.Timestamp("2026-04-20T01:00:00Z")
    logs = _usage(cache_write_tokens=3000, cache_write_1h_tokens=logs_1h).assign(
        hour=hour, invocations=3, status="ok", day_edge=False)
    cw = _usage(cache_write_tokens=3000).assign(hour=hour, invocations=3)
    price_logs, price_cw = pricer.price_frame(logs), pricer.price_frame(cloudwatch_ttl_split(cw, logs))
    rate = {u: book.unit_price(SONNET45, "us-east-1", "in_region", "standard", u, "2026-04-20")
            for u in ("cache_write_5m", "cache_write_1h")}
    bill = pd.DataFrame([{"usage_type": f"USE1-ClaudeSonnet4.5-{u}", "service": "Amazon Bedrock", "unit": u,
                          "tier": "standard", "scope": "regional", "endpoint": "runtime", "tokens": n,
                          "cost_usd": str(n * rate[u] / 1000), "matched": True, "base_model": SONNET45,
                          "billing_name": "ClaudeSonnet4.5", "recognized": True, "reason": None,
                          "shape": "first_party", "region": "us-east-1"}
                         for u, n in (("cache_write_5m", 1000), ("cache_write_1h", 2000))])
    models, _, ut = R.reconcile(price_logs, price_logs.iloc[0:0], price_cw, bill, pd.DataFrame(
        columns=["hour", "model_id", "metric", "value"]), {"scope": "all", "source": "ce"}, [])
    summary = verdict.summarise(models, {})
    return {g["kind"]: g for g in next(m for m in summary if m["model"] == SONNET45)["gaps"]}, ut


def test_the_ledger_compares_1h_bill_lines_with_the_split():
    g, ut = _ledger_case(logs_1h=2000)
    assert "price_mismatch" not in g and "unexplained" not in g
    assert set(ut["bill_vs_cloudwatch"]) == {"agrees"}
    assert dict(zip(ut["unit"], ut["cloudwatch_tokens"])) == {"cache_write_5m": 1000, "cache_write_1h": 2000}
    g, _ = _ledger_case(logs_1h=0)        # the TTL ignored: the 1h writes look like a price-book error
    assert "price_mismatch" in g

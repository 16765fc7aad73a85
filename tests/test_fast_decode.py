"""The collector's fast path (msgspec, envelope only) against its exact path (orjson + ``_record``).

The fast path may decline a line (it then goes the exact way), but whatever it returns must be what the exact path
returns for that line. Checked on hand-made edge cases, on the demo's records, and on the benchmark generator's
records (look-alike keys in prompts, tool schemas and stream events).
"""
from __future__ import annotations

import copy
import gzip
import json
import sys
from pathlib import Path

import orjson
import pytest

from tracker_utils.collect.logs.records import _Bad, _fast_record, _record

BASE = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2026-11-02T10:00:00Z",
        "accountId": "123456789012", "identity": {"arn": "arn:aws:sts::123456789012:assumed-role/R/s"},
        "region": "us-east-1", "requestId": "r-1", "operation": "Converse",
        "modelId": "anthropic.claude-sonnet-4-5-20250929-v1:0", "inferenceRegion": "us-east-2",
        "performanceConfig": {"latency": "optimized"}, "requestMetadata": {"team": "b", "app": "a"},
        "input": {"inputContentType": "application/json", "inputTokenCount": 10, "cacheReadInputTokenCount": 3,
                  "cacheWriteInputTokenCount": 100,
                  "inputBodyJson": {"messages": [{"content": [{"text": '"inputTokenCount": 999'}]}]}},
        "output": {"outputContentType": "application/json", "outputTokenCount": 5,
                   "outputBodyJson": {"usage": {"cacheDetails": [{"ttl": "1h", "inputTokens": 60},
                                                                 {"ttl": "5m", "inputTokens": 40}]}}}}


def exact(raw: bytes):
    try:
        return _record(orjson.loads(raw), {}, 7)
    except (orjson.JSONDecodeError, _Bad):
        return "bad"


def mutate(path: str, value):
    r = copy.deepcopy(BASE)
    *parents, leaf = path.split(".")
    d = r
    for p in parents:
        d = d[p]
    if value is KeyError:
        del d[leaf]
    else:
        d[leaf] = value
    return json.dumps(r).encode()        # (orjson cannot write integers past 64 bits)


EDGES = [("schemaVersion", 1.0), ("schemaVersion", "2.0"), ("schemaVersion", None), ("schemaType", None),
         ("schemaType", KeyError), ("schemaVersion", KeyError), ("requestId", ""), ("requestId", 5),
         ("requestId", KeyError), ("operation", "Chat"), ("modelId", None), ("timestamp", "yesterday"),
         ("timestamp", "2026-11-02T10:00:00"), ("timestamp", 17), ("input", None), ("input", []), ("output", "x"),
         ("input.inputTokenCount", 10.0), ("input.inputTokenCount", -1), ("input.inputTokenCount", "10"),
         ("input.inputTokenCount", 10**30), ("input.inputTokenCount", KeyError), ("input.inputTokenCount", None),
         ("output.outputTokenCount", 2**63), ("output.outputTokenCount", True),
         ("input.cacheReadInputTokenCount", None), ("input.cacheReadInputTokenCount", KeyError),
         ("input.cacheWriteInputTokenCount", KeyError), ("input.cacheWriteInputTokenCount", 0),
         ("input.cacheWriteInputTokenCount", 50), ("input.cacheReadInputTokens", 7),
         ("identity", None), ("identity", "me"), ("identity", {}), ("identity.arn", None), ("identity.arn", 3),
         ("region", None), ("region", 1), ("inferenceRegion", KeyError), ("errorCode", "ThrottlingException"),
         ("errorCode", None), ("errorCode", {}), ("performanceConfig", None), ("performanceConfig", {}),
         ("performanceConfig", []), ("performanceConfig.latency", 1), ("requestMetadata", {}),
         ("requestMetadata", None), ("requestMetadata", []), ("requestMetadata", {"z": {"y": [1, 2]}, "a": None}),
         ("output.outputBodyJson", None), ("output.outputBodyJson", "text"), ("output.outputBodyJson", KeyError),
         ("output.outputBodyJson", [{"metadata": {"usage": {"cacheDetails": [{"ttl": "1h", "inputTokens": 9}]}}}])]


@pytest.mark.parametrize("path,value", EDGES, ids=[f"{p}={v!r}"[:60] for p, v in EDGES])
def test_the_fast_path_returns_what_the_exact_path_does_or_declines(path, value):
    raw = mutate(path, value)
    fast = _fast_record(raw, {}, 7)
    want = exact(raw)
    assert fast is None or fast == want
    if want == "bad":
        assert fast is None


def test_the_fast_path_takes_the_plain_record_and_malformed_lines_go_the_exact_way():
    raw = orjson.dumps(BASE)
    assert _fast_record(raw, {}, 7) == exact(raw) != "bad"
    assert _fast_record(raw, {}, 7)[15:17] == (60, 0)                  # the 1h split read from the raw body
    for broken in (raw[:-1], raw + b" x", b"[1, 2]", b"   ", raw.replace(b"10,", b"NaN,", 1)):
        assert _fast_record(broken, {}, 7) is None


def test_a_good_envelope_around_a_damaged_prompt_is_counted(tmp_path):
    """The bodies are checked for JSON syntax only: invalid UTF-8 inside a prompt no longer loses the record's
    tokens (the exact path would quarantine the whole line), and the prompt is still not kept."""
    raw = orjson.dumps(BASE).replace(b'\\"inputTokenCount\\": 999', b'\xff\xfe 999')
    assert exact(raw) == "bad"
    row = _fast_record(raw, {}, 7)
    assert row is not None and row[10:14] == (10, 5, 3, 100)
    assert all(b"\xff" not in str(v).encode() for v in row)


def _demo_lines(root: Path) -> list[bytes]:
    out = []
    for f in sorted(root.rglob("*.json.gz")):
        out += [ln for ln in gzip.decompress(f.read_bytes()).split(b"\n") if ln.strip()]
    return out


def test_same_rows_on_the_demo_records(tmp_path):
    from tracker_utils import demo
    demo.build_demo(tmp_path, demo.DemoSpec(per_day=200, days=1))
    lines = _demo_lines(tmp_path)
    assert len(lines) > 200
    taken = 0
    for raw in lines:
        fast = _fast_record(raw, {}, 7)
        if fast is not None:
            taken += 1
            assert fast == exact(raw)
    assert taken >= 0.95 * len(lines)         # the fast path is the common one


def test_same_rows_on_the_benchmark_records_with_look_alike_keys():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import gen
    text, spaces = gen.corpus()
    plan = gen.file_plan(50_000)[:4]
    lines = [ln for p in plan for ln in gen._records(p, text, spaces)]
    assert len(lines) > 100
    for raw in lines:
        fast = _fast_record(raw, {}, 7)
        assert fast is not None or exact(raw) == "bad"
        if fast is not None:
            assert fast == exact(raw)
    # the corpus does exercise the trap: token-count keys inside bodies, as text and as real keys
    assert sum(ln.count(b"inputTokenCount") > 1 for ln in lines) > 10


def test_metadata_is_cached_by_its_bytes_and_odd_metadata_goes_the_exact_way():
    cache: dict = {}
    a = _fast_record(orjson.dumps({**BASE, "requestMetadata": {"b": "1", "a": "2"}}), cache, 7)
    b = _fast_record(orjson.dumps({**BASE, "requestId": "r-2", "requestMetadata": {"b": "1", "a": "2"}}), cache, 7)
    assert a[9] == b[9] == '{"a":"2","b":"1"}'
    assert _fast_record(orjson.dumps({**BASE, "requestMetadata": 5}), cache, 7) is None
    bad_utf8 = orjson.dumps({**BASE, "requestMetadata": {"k": "v"}}).replace(b'"v"', b'"\xff"')
    assert _fast_record(bad_utf8, cache, 7) is None and exact(bad_utf8) == "bad"

"""The invocation-log reader: exact for every record shape, the same answer whatever the chunking, batching or
number of worker processes, and a re-run over unchanged objects reuses the collection without reading anything."""
from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import time

import orjson
import pandas as pd
import pytest

from tracker_utils.collect import logs

UTC = dt.timezone.utc
DAY = dt.date(2026, 4, 20)
BASE = logs.log_base("p", "565521294060", "us-west-2")
PROFILE = "arn:aws:bedrock:us-west-2:565521294060:inference-profile/global.anthropic.claude-opus-4-7"


# --- a reference reader: the obvious code, for comparison ---------------------------------------------------------
def reference(objs, day, as_of=None) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    rows, seen = [], set()
    for o in sorted(objs, key=lambda o: o.key):
        for i, raw in enumerate(gzip.decompress(o.read()).split(b"\n"), 1):
            if not raw.strip():
                continue
            r = json.loads(raw)
            if r["requestId"] in seen:
                continue
            seen.add(r["requestId"])
            inp, out = r["input"], r["output"]
            meta = r.get("requestMetadata")
            rows.append((r["requestId"], pd.Timestamp(r["timestamp"]).tz_convert("UTC"), r["operation"], r["modelId"],
                         r.get("identity", {}).get("arn", ""), r.get("region", ""), r.get("inferenceRegion", ""),
                         inp["inputTokenCount"], out["outputTokenCount"], inp.get("cacheReadInputTokenCount", 0),
                         inp.get("cacheWriteInputTokenCount", 0), r.get("errorCode", ""),
                         r.get("performanceConfig", {}).get("latency", ""),
                         json.dumps(meta, sort_keys=True, separators=(",", ":")) if meta else "", o.key, i,
                         o.delivered_at, *reference_ttl(inp, out), reference_tier(r.get("serviceTier"))))
    df = logs.frame(rows)
    d0 = pd.Timestamp(day).tz_localize("UTC")
    in_day = (df["timestamp"] >= d0) & (df["timestamp"] < d0 + pd.Timedelta(days=1))
    late = df["delivered_at"] > pd.Timestamp(as_of) if as_of is not None else pd.Series(False, index=df.index)
    return (df[in_day & ~late].reset_index(drop=True), df[in_day & late].reset_index(drop=True),
            int((~in_day).sum()))


def reference_tier(v) -> str:
    """serviceTier as written: a string, or an object's "type"; "" when absent."""
    return (v.get("type") or "") if isinstance(v, dict) else (v or "")


def reference_ttl(inp: dict, out: dict) -> tuple[int, int]:
    """(1h cache writes, TTL assumed) the obvious way: Converse cacheDetails, the stream's metadata event, or
    Anthropic's cache_creation."""
    cw = inp.get("cacheWriteInputTokenCount", inp.get("cacheWriteInputTokens", 0))
    if not cw:
        return 0, 0
    body = out.get("outputBodyJson")
    usages = [body.get("usage")] if isinstance(body, dict) else [
        e.get("metadata", {}).get("usage") or e.get("usage") or e.get("message", {}).get("usage")
        for e in body or [] if isinstance(e, dict)]
    for u in reversed([u for u in usages if isinstance(u, dict)]):
        if "cacheDetails" in u:
            return sum(d["inputTokens"] for d in u["cacheDetails"] if d["ttl"] == "1h"), 0
        if "cache_creation" in u:
            return u["cache_creation"].get("ephemeral_1h_input_tokens", 0), 0
    return 0, 1


def demo_objects(small_demo, region, day):
    root, spec, truth = small_demo
    base = logs.log_base(spec.prefix, spec.account, region)
    objs, _ = logs.list_local(root / "s3" / spec.bucket, base, dt.date.fromisoformat(day), spec.window_after_hours)
    as_of = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=UTC) + dt.timedelta(days=1, hours=1)
    return objs, as_of, truth["runs"][f"{day}/{region}"]


def test_demo_account_equals_reference_and_ground_truth(small_demo):
    _, spec, _ = small_demo
    for region in spec.regions:
        for day in spec.dates:
            objs, as_of, truth = demo_objects(small_demo, region, day)
            res = logs.collect(objs, dt.date.fromisoformat(day), as_of)
            used, late, outside = reference(objs, dt.date.fromisoformat(day), as_of)
            pd.testing.assert_frame_equal(res.used, used)
            pd.testing.assert_frame_equal(res.late, late)
            q, tq = res.quality, truth["data_quality"]
            assert (q["files_read"], q["records_read"], q["records_outside_day"], q["records_late"]) == \
                (tq["files_read"], tq["records_read"], tq["records_outside_day"], tq["records_late"])
            assert q["records_used"] == truth["totals"]["logs_invocations"]
            assert q["records_malformed"] == q["records_duplicate"] == 0 and res.quarantine.empty
            assert "CANARY" not in res.used.to_csv()


# --- every record shape --------------------------------------------------------------------------------------------
def shapes() -> list[dict]:
    """Records in the shapes of bedrock-facts 1.2 and the demo, with look-alike keys in their bodies."""
    new = {"timestamp": "2026-04-20T00:17:33Z", "accountId": "565521294060", "region": "us-west-2",
           "requestId": "f3ae32b1-ae22-48f1-ba9c-d8075737f52a", "operation": "InvokeModelWithResponseStream",
           "modelId": PROFILE,
           "input": {"inputContentType": "application/json",
                     "inputBodyS3Path": "s3://b/p/AWSLogs/565521294060/BedrockModelInvocationLogs/us-west-2/2026/04/20/00/"
                                        "data/f3ae32b1-ae22-48f1-ba9c-d8075737f52a_input.json.gz",
                     "inputTokenCount": 6, "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 225913},
           "output": {"outputContentType": "application/json",
                      "outputBodyJson": [{"type": "message_start"}, {"type": "content_block_delta",
                                                                     "delta": {"text": "ok"}},
                                         {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                                             "inputTokenCount": 999999, "outputTokenCount": 888888,
                                             "invocationLatency": 1, "firstByteLatency": 1,
                                             "cacheReadInputTokenCount": 777, "cacheWriteInputTokenCount": 666}}],
                      "outputTokenCount": 167},
           "identity": {"arn": "arn:aws:iam::565521294060:user/your-br-api-key"},
           "inferenceRegion": "us-east-1", "schemaType": "ModelInvocationLog", "schemaVersion": "1.0"}
    old = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2026-04-20T22:54:57Z",
           "accountId": "111111111111", "identity": {"arn": "arn:aws:iam::111111111111:user/john.doe@example.com"},
           "region": "us-west-2", "requestId": "6f9e9644-0000-4000-8000-000000000001",
           "operation": "InvokeModelWithResponseStream", "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
           "input": {"inputContentType": "application/json",
                     "inputBodyJson": {"messages": [{"role": "user", "content":
                                       'count my "inputTokenCount": 5 and {"outputTokenCount": 7} \\" \\\\'}],
                                       "anthropic_version": "bedrock-2023-05-31", "max_tokens": 2000},
                     "inputTokenCount": 571},
           "output": {"outputContentType": "application/json", "outputBodyJson": [{"type": "message_start"}],
                      "outputTokenCount": 12}}
    converse = {"timestamp": "2026-04-20T10:00:00.250+02:00", "region": "us-west-2",
                "requestId": "c0000000-0000-4000-8000-000000000002", "operation": "Converse",
                "modelId": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "input": {"inputContentType": "application/json",
                          "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "안녕하세요 ☃ 𝄞"}]}],
                                            "toolConfig": {"tools": [{"toolSpec": {"name": "meter", "inputSchema": {
                                                "json": {"type": "object", "properties": {
                                                    "inputTokenCount": {"type": "integer"},
                                                    "requestId": {"type": "string"},
                                                    "modelId": {"type": "string"}}}}}}]}},
                          "cacheWriteInputTokenCount": 40, "inputTokenCount": 12, "cacheReadInputTokenCount": 30000},
                "output": {"outputBodyJson": {"output": {"message": {"content": [{"toolUse": {"input": {
                    "inputTokenCount": 1, "outputTokenCount": 2}}}]}}, "stopReason": "guardrail_intervened",
                    "usage": {"inputTokens": 12, "outputTokens": 3}}, "outputTokenCount": 3,
                    "outputContentType": "application/json"},
                "requestMetadata": {"team": "search", "app": "bot"}, "performanceConfig": {"latency": "optimized"},
                "identity": {"arn": "arn:aws:sts::565521294060:assumed-role/Chat-Role/session-1"},
                "inferenceRegion": "us-east-2", "schemaType": "ModelInvocationLog", "schemaVersion": "1.0"}
    failed = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2026-04-20T23:59:59Z",
              "identity": {"arn": "arn:aws:iam::1:user/x"}, "region": "us-west-2",
              "requestId": "e0000000-0000-4000-8000-000000000003", "operation": "ConverseStream",
              "modelId": "amazon.nova-lite-v1:0", "errorCode": "ThrottlingException",
              "input": {"inputContentType": "application/json", "inputBodyJson": {"inputTokenCount": 5},
                        "inputTokenCount": 0, "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0},
              "output": {"outputContentType": "application/json", "outputTokenCount": 0}}
    embed = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2026-04-20T05:00:00",
             "region": "us-west-2", "requestId": "a0000000-0000-4000-8000-000000000004", "operation": "InvokeModel",
             "modelId": "arn:aws:bedrock:us-west-2::foundation-model/amazon.titan-embed-text-v2:0",
             "input": {"inputBodyJson": {"inputText": "x"}, "inputTokenCount": 3},
             "output": {"outputBodyJson": {"embedding": [0.1, -0.2], "inputTextTokenCount": 3}, "outputTokenCount": 0}}
    return [new, old, converse, failed, embed]


def shuffled(obj, rng):
    """The same JSON with every object's keys in another order."""
    if isinstance(obj, dict):
        items = list(obj.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(obj, list):
        return [shuffled(v, rng) for v in obj]
    return obj


def write(root, hour, name, lines: list[bytes], sep=b"\n", end=b"\n") -> None:
    p = root / "s3" / BASE / hour / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(gzip.compress(sep.join(lines) + end, mtime=0))


def listing(root):
    return logs.list_local(root / "s3", BASE, DAY, 3)[0]


def test_every_record_shape_is_read_exactly(tmp_path):
    recs = shapes()
    write(tmp_path, "2026/04/20/00", "20260420T002000Z_a.json.gz", [orjson.dumps(r) for r in recs])
    res = logs.collect(listing(tmp_path), DAY)
    assert res.quality["records_used"] == 5 and res.quarantine.empty
    u = res.used.set_index("request_id")
    a = u.loc["f3ae32b1-ae22-48f1-ba9c-d8075737f52a"]
    assert (a.input_tokens, a.output_tokens, a.cache_read_tokens, a.cache_write_tokens) == (6, 167, 0, 225913)
    assert (a.model_id, a.inference_region, a.operation) == (PROFILE, "us-east-1", "InvokeModelWithResponseStream")
    assert a.principal == "arn:aws:iam::565521294060:user/your-br-api-key" and a.timestamp == pd.Timestamp(
        "2026-04-20T00:17:33Z")
    b = u.loc["6f9e9644-0000-4000-8000-000000000001"]
    assert (b.input_tokens, b.output_tokens, b.cache_read_tokens, b.cache_write_tokens) == (571, 12, 0, 0)
    assert b.inference_region == "" and b.request_metadata == "" and b.latency == ""
    c = u.loc["c0000000-0000-4000-8000-000000000002"]
    assert (c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens) == (12, 3, 30000, 40)
    assert c.timestamp == pd.Timestamp("2026-04-20T08:00:00.250Z") and c.latency == "optimized"
    assert c.request_metadata == '{"app":"bot","team":"search"}' and c.error_code == ""
    d = u.loc["e0000000-0000-4000-8000-000000000003"]
    assert d.error_code == "ThrottlingException" and d.input_tokens == 0 and d.line == 4
    e = u.loc["a0000000-0000-4000-8000-000000000004"]
    assert e.principal == "" and e.timestamp == pd.Timestamp("2026-04-20T05:00:00Z") and e.input_tokens == 3


def test_key_order_does_not_matter(tmp_path):
    rng = random.Random(7)
    recs = shapes()
    write(tmp_path / "a", "2026/04/20/00", "20260420T002000Z_a.json.gz", [orjson.dumps(r) for r in recs])
    for k in range(3):
        write(tmp_path / f"b{k}", "2026/04/20/00", "20260420T002000Z_a.json.gz",
              [orjson.dumps(shuffled(r, rng)) for r in recs], sep=b"\r\n", end=b"")
    want = logs.collect(listing(tmp_path / "a"), DAY).used.drop(columns=["file"])
    for k in range(3):
        got = logs.collect(listing(tmp_path / f"b{k}"), DAY).used.drop(columns=["file"])
        pd.testing.assert_frame_equal(got, want)


def mixed_files(root, n_files=6, per_file=40, seed=3) -> None:
    """Files of shuffled shapes with fresh ids, a re-delivered record, and neighbours' days."""
    rng = random.Random(seed)
    rid = 0
    for f in range(n_files):
        lines = []
        for _ in range(per_file):
            r = dict(rng.choice(shapes()))
            rid += 1
            r["requestId"] = f"{rid:08x}-0000-4000-8000-{rng.getrandbits(48):012x}"
            r["timestamp"] = f"2026-04-{rng.choice([19, 20, 20, 20, 21])}T{rng.randrange(24):02d}:00:00Z"
            lines.append(orjson.dumps(shuffled(r, rng)))
        if f == 3:
            lines.append(lines[5])           # the same record delivered twice
        write(root, f"2026/04/20/{f:02d}", f"20260420T{f:02d}1500Z_{f:04x}.json.gz", lines)


def test_chunking_batching_and_workers_change_nothing(tmp_path, monkeypatch):
    mixed_files(tmp_path)
    objs = listing(tmp_path)
    as_of = dt.datetime(2026, 4, 20, 3, 30, tzinfo=UTC)
    base = logs.collect(objs, DAY, as_of)
    used, late, outside = reference(objs, DAY, as_of)
    pd.testing.assert_frame_equal(base.used, used)
    pd.testing.assert_frame_equal(base.late, late)
    assert base.quality["records_outside_day"] == outside and base.quality["records_duplicate"] == 1
    assert len(base.late) > 0
    with monkeypatch.context() as m:        # tiny pieces: every line crosses chunk, block and batch boundaries
        for mod, name, v in ((logs.scan, "CHUNK_BYTES", 7), (logs.scan, "BLOCK_BYTES", 3),
                             (logs.scan, "BATCH_ROWS", 2), (logs.store, "ROW_GROUP_ROWS", 5)):
            m.setattr(mod, name, v)
        small = logs.collect(objs, DAY, as_of)
    pd.testing.assert_frame_equal(small.used, base.used)
    assert small.quality == base.quality
    with monkeypatch.context() as m:        # every id hashes alike: duplicates are still told apart on the ids
        m.setattr(logs.spill, "_hash_ids", lambda blob, offsets: __import__("numpy").zeros(len(offsets) - 1, "uint64"))
        same = logs.collect(objs, DAY, as_of)
    pd.testing.assert_frame_equal(same.used, base.used)
    assert same.quality == base.quality
    monkeypatch.setattr(logs.pool, "PARALLEL_MIN_BYTES", 0)
    par = logs.collect(objs, DAY, as_of, workers=2)
    pd.testing.assert_frame_equal(par.used, base.used)
    pd.testing.assert_frame_equal(par.late, base.late)
    assert par.quality == base.quality and par.files == base.files


def test_unpicklable_readers_go_through_the_parent(tmp_path, monkeypatch):
    """An S3 reader may be a closure over a client: the parent calls it and the workers get the bytes."""
    mixed_files(tmp_path)
    objs = listing(tmp_path)
    blobs = {o.key: o.read() for o in objs}
    calls = []

    def closure_for(key):
        def read():
            calls.append(key)
            return blobs[key]
        return read

    s3ish = [logs.LogObject(o.key, o.size, o.delivered_at, o.etag, read=closure_for(o.key)) for o in objs]
    monkeypatch.setattr(logs.pool, "PARALLEL_MIN_BYTES", 0)
    a = logs.collect(objs, DAY)
    b = logs.collect(s3ish, DAY, workers=2)
    pd.testing.assert_frame_equal(a.used, b.used)
    assert a.quality == b.quality and sorted(calls) == sorted(blobs)


def test_a_failing_reader_fails_the_collection(tmp_path, monkeypatch):
    mixed_files(tmp_path, n_files=3)
    objs = listing(tmp_path)

    def boom():
        raise OSError("connection reset")

    objs[1] = logs.LogObject(objs[1].key, objs[1].size, objs[1].delivered_at, objs[1].etag, read=boom)
    with pytest.raises(OSError, match="connection reset"):
        logs.collect(objs, DAY, out_dir=tmp_path / "data")
    monkeypatch.setattr(logs.pool, "PARALLEL_MIN_BYTES", 0)
    with pytest.raises(OSError, match="connection reset"):
        logs.collect(objs, DAY, workers=2, out_dir=tmp_path / "data")
    assert not (tmp_path / "data" / logs.MANIFEST_FILE).exists()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == []      # no half-written files or spill left


def test_rerun_over_unchanged_objects_reads_nothing(tmp_path, monkeypatch):
    mixed_files(tmp_path)
    out = tmp_path / "data"
    as_of = dt.datetime(2026, 4, 21, 1, tzinfo=UTC)
    first = logs.collect(listing(tmp_path), DAY, as_of, out_dir=out)
    assert not first.cached
    stamp = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}

    def no_reading(*a, **k):
        raise AssertionError("an object was read")

    with monkeypatch.context() as m:
        m.setattr(logs.scan, "_scan", no_reading)
        t0 = time.perf_counter()
        again = logs.collect(listing(tmp_path), DAY, as_of, out_dir=out)
        assert time.perf_counter() - t0 < 1.0
    assert again.cached and again.quality == first.quality and again.files == first.files
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()} == stamp
    pd.testing.assert_frame_equal(again.used, first.used)
    pd.testing.assert_frame_equal(again.quarantine, first.quarantine, check_dtype=False)
    # anything that changes the answer collects again
    assert not logs.collect(listing(tmp_path), DAY, as_of + dt.timedelta(hours=1), out_dir=out).cached
    assert logs.collect(listing(tmp_path), DAY, as_of + dt.timedelta(hours=1), out_dir=out).cached
    assert logs.collect(listing(tmp_path), DAY, as_of + dt.timedelta(hours=1), workers=2, out_dir=out).cached
    with pytest.raises(logs.StrictError, match="duplicate"):     # strict is part of the answer too
        logs.collect(listing(tmp_path), DAY, as_of + dt.timedelta(hours=1), strict=True, out_dir=out)
    assert not logs.collect(listing(tmp_path), DAY, as_of + dt.timedelta(hours=1), out_dir=out).cached
    time.sleep(0.01)
    mixed_files(tmp_path, seed=4)                       # same keys, new bytes
    changed = logs.collect(listing(tmp_path), DAY, as_of, out_dir=out)
    assert not changed.cached
    (out / logs.USED_FILE).unlink()
    assert not logs.collect(listing(tmp_path), DAY, as_of, out_dir=out).cached


def test_over_long_lines_are_skipped_and_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(logs.scan, "MAX_LINE_BYTES", 2000)
    monkeypatch.setattr(logs.scan, "CHUNK_BYTES", 500)
    recs = shapes()
    big = json.loads(json.dumps(recs[1]))
    big["input"]["inputBodyJson"]["messages"][0]["content"] = "z" * 5000
    big["requestId"] = "big-one"
    fits = orjson.dumps(recs[0])
    assert len(fits) <= 2000
    write(tmp_path, "2026/04/20/00", "20260420T002000Z_a.json.gz",
          [fits, orjson.dumps(big), orjson.dumps(recs[2]), orjson.dumps(big)], end=b"")
    res = logs.collect(listing(tmp_path), DAY)
    assert res.quality["records_read"] == 4 and res.quality["records_used"] == 2
    assert list(res.quarantine[["kind", "line", "request_id"]].itertuples(index=False, name=None)) == [
        ("line_too_long", 2, "big-one"), ("line_too_long", 4, "big-one")]


def test_parse_object_and_helpers():
    data = gzip.compress(b"\n".join(orjson.dumps(r) for r in shapes()[:2]) + b"\n")
    t = dt.datetime(2026, 4, 20, 0, 20, tzinfo=UTC)
    rows, problems, n, fproblem = logs.parse_object("k", data, t)
    assert n == 2 and problems == [] and fproblem is None
    assert len(rows[0]) == len(logs.COLUMNS)
    assert rows[0][:4] == ("f3ae32b1-ae22-48f1-ba9c-d8075737f52a", dt.datetime(2026, 4, 20, 0, 17, 33, tzinfo=UTC),
                           "InvokeModelWithResponseStream", PROFILE)
    assert rows[0][7:11] == (6, 167, 0, 225913) and rows[0][14:17] == ("k", 1, t)
    assert rows[0][17:19] == (0, 1)     # cache writes, no TTL detail in the body: assumed 5m
    assert rows[0][19] == ""            # no serviceTier
    assert logs.delivered_at_from_key("x/20260606T070102123Z_ab.json.gz", t) == dt.datetime(
        2026, 6, 6, 7, 1, 2, 123000, tzinfo=UTC)
    assert logs.delivered_at_from_key("x/other.json.gz", t) == t
    assert logs.hour_prefixes("b", dt.date(2026, 4, 20), 1)[-1] == "b/2026/04/21/00/"
    assert logs.log_base("/p/", "1", "r") == "p/AWSLogs/1/BedrockModelInvocationLogs/r"
    assert logs.default_workers(1) >= 1

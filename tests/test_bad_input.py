"""Issue 8, item 1: the bad-input corpus. Every bad file and line is counted by kind, quarantined with its file, line
and reason (never its body), and the run goes on; ``strict=True`` fails at the first one instead.

The corpus is built in a temporary folder laid out like the bucket; every expected count is written out by hand.
"""
from __future__ import annotations

import datetime as dt
import gzip
import zlib

import orjson
import pandas as pd
import pytest

from tracker_utils.collect import logs

CANARY = "CANARY-BAD-INPUT-5e1d"          # in every prompt and response; must never reach the outputs
DAY = dt.date(2026, 11, 2)
AS_OF = dt.datetime(2026, 11, 3, 1, tzinfo=dt.timezone.utc)
ACCOUNT, BUCKET, PREFIX, REGION = "123456789012", "bad-bucket", "logs", "us-east-1"
BASE = logs.log_base(PREFIX, ACCOUNT, REGION)


def rec(rid, ts="2026-11-02T10:00:00Z", it=10, ot=5, op="Converse", **over) -> dict:
    r = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": ts, "accountId": ACCOUNT,
         "identity": {"arn": f"arn:aws:iam::{ACCOUNT}:user/alice"}, "region": REGION, "requestId": rid,
         "operation": op, "modelId": "amazon.nova-lite-v1:0",
         "input": {"inputContentType": "application/json",
                   "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": f"{CANARY} prompt {rid}"}]}]},
                   "inputTokenCount": it, "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0},
         "output": {"outputContentType": "application/json",
                    "outputBodyJson": {"output": {"message": {"content": [{"text": f"{CANARY} answer"}]}}},
                    "outputTokenCount": ot}}
    for k, v in over.items():
        if v is DROP:
            r.pop(k, None)
        else:
            r[k] = v
    return r


DROP = object()


def line(r) -> bytes:
    return orjson.dumps(r)


def with_input(r, **kv) -> dict:
    r["input"] = {**r["input"], **kv}
    for k, v in kv.items():
        if v is DROP:
            del r["input"][k]
    return r


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def put(root, hour: str, name: str, data: bytes) -> str:
    """Write an object under the hour folder ``YYYY/MM/DD/HH``; returns its key."""
    key = f"{BASE}/{hour}/{name}"
    p = root / "s3" / BUCKET / key
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return key


def build(root) -> dict:
    """The corpus. Returns the keys by letter."""
    k = {}
    a_lines = [
        line(rec("r1")),                                                        # 1 used
        line(rec("r2", it=20)),                                                 # 2 used
        b'{"requestId": "bad-json-1", "text": "' + CANARY.encode() + b' cut here',   # 3 invalid_json
        b"",                                                                    # 4 blank: not a record
        b"[1, 2]",                                                              # 5 invalid_json (not an object)
        line(with_input(rec("m1"), inputTokenCount=DROP)),                      # 6 missing_token_counts
        line(rec("n1", it=-3)),                                                 # 7 bad_token_count (negative)
        line(rec("n2", it=f"{CANARY} 12")),                                     # 8 bad_token_count (text)
        line(rec("n3", ot=7.5)),                                                # 9 bad_token_count (fraction)
        line(rec("n4", it=True)),                                               # 10 bad_token_count (bool)
        line(rec("s1", schemaVersion="2.0")),                                   # 11 unknown_schema_version
        line(rec("o1", op="ApplyGuardrail")),                                   # 12 unknown_operation
        line(rec("r1", it=999)),                                                # 13 duplicate of line 1
        line(rec("x1", ts="2026-11-01T23:59:59Z")),                             # 14 outside the day
        line(rec("x2", ts="2026-11-03T00:00:00Z")),                             # 15 outside the day
        line(rec("t1", ts="not-a-time")),                                       # 16 bad_timestamp
        b'{"requestId": "u1", "text": "' + CANARY.encode() + b' \xff\xfe"}',    # 17 invalid_utf8
        line(with_input(rec("r3", it=30), cacheReadInputTokenCount=3.0)),       # 18 used (3.0 is 3)
        line(rec("f1", region=12)),                                             # 19 bad_field
        line(rec("", it=1)),                                                    # 20 missing_field (empty requestId)
    ]
    k["A"] = put(root, "2026/11/02/10", "20261102T100500Z_aaaa.json.gz", gz(b"\n".join(a_lines) + b"\n"))
    b = gz(line(rec("r4")) + b"\n" + line(rec("r5")) + b"\n")
    k["B"] = put(root, "2026/11/02/10", "20261102T101000Z_bbbb.json.gz", b[:-8])          # trailer cut off
    k["C"] = put(root, "2026/11/02/11", "20261102T110500Z_cccc.json.gz", line(rec("c1")) + b"\n")   # not gzip
    k["D"] = put(root, "2026/11/02/11", "20261102T111000Z_dddd.json.gz", b"")                       # empty
    big = rec("big1")
    big["input"]["inputBodyJson"]["messages"][0]["content"][0]["text"] = CANARY + " " + "y" * (50 << 20)
    big_line = line(big)
    assert len(big_line) > 50 << 20
    e = zlib.compressobj(1, zlib.DEFLATED, 31)
    k["E"] = put(root, "2026/11/02/12", "20261102T120500Z_eeee.json.gz",
                 e.compress(line(rec("r6")) + b"\n" + big_line + b"\n" + line(rec("r7")) + b"\n") + e.flush())
    k["F"] = put(root, "2026/11/02/12", "20261102T121000Z_ffff.json.gz",
                 gz(line(rec("r2", it=777)) + b"\n" + line(rec("r8")) + b"\n"))               # r2 seen in A
    k["G"] = put(root, "2026/11/02/13", "20261102T130500Z_gggg.json.gz",
                 gz(line(rec("r9")) + b"\n") + b"GARBAGE " + CANARY.encode())
    h = bytearray(gz(line(rec("h1")) + b"\n"))
    h[-8] ^= 0xFF                                                                              # CRC mismatch
    k["H"] = put(root, "2026/11/02/13", "20261102T131000Z_hhhh.json.gz", bytes(h))
    k["I"] = put(root, "2026/11/02/14", "20261102T140500Z_iiii.json.gz",
                 gz(line(rec("r10")) + b"\n") + gz(line(rec("r11")) + b"\r\n"))             # two gzip members
    k["J"] = put(root, "2026/11/02/14", "20261102T141000Z_jjjj.json.gz", gz(line(rec("r12"))) + b"\0" * 64)
    k["K"] = put(root, "2026/11/03/01", "20261103T013000Z_kkkk.json.gz",                    # delivered after as_of
                 gz(line(rec("r13", ts="2026-11-02T23:58:00Z")) + b"\n"))
    # what the listing must skip: a data/ sidecar folder, the permission-check marker, a stray file
    put(root, "2026/11/02/10", f"data/r1_input.json.gz", gz(CANARY.encode()))
    put(root, "2026/11/02/10", logs.PERMISSION_CHECK, b"")
    put(root, "2026/11/02/11", "notes.txt", CANARY.encode())
    return k


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    keys = build(root)
    objs, skipped = logs.list_local(root / "s3" / BUCKET, BASE, DAY, 3)
    out = root / "run" / "data"
    res = logs.collect(objs, DAY, AS_OF, out_dir=out)
    return root, keys, objs, skipped, res, out


def test_listing_skips_sidecars_and_the_marker(corpus):
    _, keys, objs, skipped, _, _ = corpus
    assert skipped == {"data_sidecar_folder": 1, "permission_check": 1, "not_a_log_file": 1}
    assert [o.key for o in objs] == sorted(keys.values())
    assert not logs.is_log_key(f"{BASE}/2026/11/02/10/data/r1_input.json.gz")
    assert not logs.is_log_key(f"{PREFIX}/{logs.PERMISSION_CHECK}")


def test_every_problem_is_counted_by_kind(corpus):
    _, keys, _, _, res, _ = corpus
    q = res.quality
    assert q["files_read"] == 11
    assert q["files_bad"] == {"truncated_gzip": 1, "not_gzip": 1, "empty_file": 1, "trailing_garbage": 1,
                              "corrupt_gzip": 1}
    assert q["records_quarantined_by_kind"] == {
        "bad_field": 1, "bad_timestamp": 1, "bad_token_count": 4, "duplicate": 2, "invalid_json": 2,
        "invalid_utf8": 1, "line_too_long": 1, "missing_field": 1, "missing_token_counts": 1,
        "unknown_operation": 1, "unknown_schema_version": 1}
    assert q["records_malformed"] == 14 and q["records_duplicate"] == 2
    assert q["records_used"] == 12 and q["records_late"] == 1 and q["records_outside_day"] == 2
    # no record is silently dropped: 19 (A) + 2 (B) + 3 (E) + 2 (F) + 1 (G) + 2 (I) + 1 (J) + 1 (K)
    assert q["records_read"] == 31 == q["records_used"] + q["records_late"] + q["records_outside_day"] + 16
    per_file = {f["key"]: (f["records"], f["problem"].split(":")[0]) for f in res.files}
    assert per_file == {keys["A"]: (19, ""), keys["B"]: (2, "truncated_gzip"), keys["C"]: (0, "not_gzip"),
                        keys["D"]: (0, "empty_file"), keys["E"]: (3, ""), keys["F"]: (2, ""),
                        keys["G"]: (1, "trailing_garbage"), keys["H"]: (0, "corrupt_gzip"), keys["I"]: (2, ""),
                        keys["J"]: (1, ""), keys["K"]: (1, "")}


def test_used_late_and_outside_records(corpus):
    _, keys, _, _, res, _ = corpus
    used = res.used
    assert sorted(used["request_id"]) == sorted(["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11",
                                                  "r12"])
    by = used.set_index("request_id")
    assert by.loc["r1", "input_tokens"] == 10 and by.loc["r1", "line"] == 1 and by.loc["r1", "file"] == keys["A"]
    assert by.loc["r2", "input_tokens"] == 20 and by.loc["r2", "file"] == keys["A"]          # the first one is kept
    assert by.loc["r3", "cache_read_tokens"] == 3
    assert by.loc["r7", "line"] == 3 and by.loc["r11", "line"] == 2         # members continue the lines
    assert list(res.late["request_id"]) == ["r13"] and res.late["file"].iloc[0] == keys["K"]
    assert str(used["timestamp"].dtype) == "datetime64[ns, UTC]" and used["input_tokens"].dtype == "int64"


def test_quarantine_rows_by_hand(corpus):
    _, k, _, _, res, out = corpus
    qf = pd.read_parquet(out / "collect_quarantine.parquet")
    rows = sorted(qf[["kind", "file", "line", "request_id"]].itertuples(index=False, name=None))
    expected = sorted([
        ("invalid_json", k["A"], 3, "bad-json-1"), ("invalid_json", k["A"], 5, ""),
        ("missing_token_counts", k["A"], 6, "m1"), ("bad_token_count", k["A"], 7, "n1"),
        ("bad_token_count", k["A"], 8, "n2"), ("bad_token_count", k["A"], 9, "n3"),
        ("bad_token_count", k["A"], 10, "n4"), ("unknown_schema_version", k["A"], 11, "s1"),
        ("unknown_operation", k["A"], 12, "o1"), ("duplicate", k["A"], 13, "r1"),
        ("bad_timestamp", k["A"], 16, "t1"), ("invalid_utf8", k["A"], 17, "u1"), ("bad_field", k["A"], 19, "f1"),
        ("missing_field", k["A"], 20, ""), ("line_too_long", k["E"], 2, "big1"), ("duplicate", k["F"], 1, "r2"),
        ("truncated_gzip", k["B"], 0, ""), ("not_gzip", k["C"], 0, ""), ("empty_file", k["D"], 0, ""),
        ("trailing_garbage", k["G"], 0, ""), ("corrupt_gzip", k["H"], 0, ""),
    ])
    assert rows == expected
    reason = {(r.file, r.line): r.reason for r in qf.itertuples()}
    assert reason[(k["A"], 5)] == "line is not a JSON object"
    assert reason[(k["A"], 6)] == "inputTokenCount is missing"
    assert reason[(k["A"], 7)] == "inputTokenCount is negative: -3"
    assert reason[(k["A"], 8)].startswith("inputTokenCount is not an integer: <text of")
    assert reason[(k["A"], 9)] == "outputTokenCount is not an integer: 7.5"
    assert reason[(k["A"], 10)] == "inputTokenCount is not an integer: True"
    assert reason[(k["A"], 11)] == "schemaVersion '2.0'"
    assert reason[(k["A"], 12)] == "operation 'ApplyGuardrail'"
    # a copy with other counts than the one kept says so, with both (kept: the first delivered)
    assert reason[(k["A"], 13)] == ("requestId seen before in this collection, with other counts (kept "
                                    f"{k['A']} line 1: 10/5/0/0; this copy: 999/5/0/0)")
    assert reason[(k["A"], 16)] == "timestamp 'not-a-time'"
    assert reason[(k["A"], 17)] == "line is not valid UTF-8"
    assert reason[(k["A"], 19)] == "region is not a string: 12"
    assert reason[(k["A"], 20)] == "requestId is missing"
    assert reason[(k["E"], 2)] == f"line longer than {logs.MAX_LINE_BYTES} bytes"
    assert reason[(k["B"], 0)] == "truncated_gzip" and reason[(k["H"], 0)].startswith("corrupt_gzip: ")


def test_no_body_text_reaches_the_outputs(corpus):
    _, _, _, _, res, out = corpus
    assert CANARY not in res.quarantine.to_csv()
    for p in out.iterdir():
        assert CANARY.encode() not in p.read_bytes(), p.name
    assert sorted(p.name for p in out.iterdir()) == sorted([logs.USED_FILE, logs.LATE_FILE, logs.QUARANTINE_FILE,
                                                            logs.MANIFEST_FILE])


def test_strict_fails_at_the_first_problem(corpus):
    root, keys, objs, _, _, _ = corpus
    with pytest.raises(logs.StrictError, match=rf"{keys['A']} line 3: invalid_json"):
        logs.collect(objs, DAY, AS_OF, strict=True)
    later = [o for o in objs if o.key > keys["A"]]
    with pytest.raises(logs.StrictError, match=rf"{keys['B']}: truncated_gzip"):
        logs.collect(later, DAY, AS_OF, strict=True)
    only_dup = [o for o in objs if o.key == keys["F"]] + [o for o in objs if o.key == keys["I"]]
    assert logs.collect(only_dup, DAY, AS_OF, strict=True).quality["records_used"] == 4
    root2 = root / "dup"
    put(root2, "2026/11/02/10", "20261102T100000Z_x.json.gz", gz(line(rec("d1")) + b"\n"))
    put(root2, "2026/11/02/11", "20261102T110000Z_y.json.gz", gz(line(rec("d2")) + b"\n" + line(rec("d1")) + b"\n"))
    objs2, _ = logs.list_local(root2 / "s3" / BUCKET, BASE, DAY, 3)
    with pytest.raises(logs.StrictError, match=r"_y\.json\.gz line 2: duplicate"):
        logs.collect(objs2, DAY, AS_OF, strict=True, out_dir=root2 / "data")
    assert not (root2 / "data" / logs.MANIFEST_FILE).exists() and not (root2 / "data" / logs.USED_FILE).exists()


def test_parallel_workers_agree_on_the_corpus(corpus, monkeypatch):
    _, _, objs, _, res, _ = corpus
    monkeypatch.setattr(logs.pool, "PARALLEL_MIN_BYTES", 0)
    res2 = logs.collect(objs, DAY, AS_OF, workers=2)
    assert res2.quality == res.quality
    pd.testing.assert_frame_equal(res2.used, res.used)
    pd.testing.assert_frame_equal(res2.quarantine.sort_values(["file", "line"]).reset_index(drop=True),
                                  res.quarantine.sort_values(["file", "line"]).reset_index(drop=True))
    keys = corpus[1]
    with pytest.raises(logs.StrictError, match=rf"{keys['A']} line 3: invalid_json"):    # still the first, in key order
        logs.collect(objs, DAY, AS_OF, strict=True, workers=2)


def test_the_collect_stage_quarantines_and_goes_on(corpus, tmp_path):
    """Through ``collect.run`` (the notebook's call): data_quality in collect.json, the quarantine in data/."""
    import json
    from tracker_utils import config
    from tracker_utils.collect import stage as collect
    root = corpus[0]
    cw = root / "cloudwatch" / REGION / f"{DAY}.json"            # an empty recording: this test is about the logs
    cw.parent.mkdir(parents=True, exist_ok=True)
    cw.write_text(json.dumps({"region": REGION, "date": DAY.isoformat(), "namespace": "AWS/Bedrock", "period": 3600,
                              "list_metrics": [], "get_metric_data": {"queries": [], "pages": []}}))
    cfg = config.resolve(DAY.isoformat(), REGION, output_dir=str(tmp_path / "out"), source="local",
                         data_root=str(root), account=ACCOUNT, logs_bucket=BUCKET, logs_prefix=PREFIX,
                         cost_source="none", logs_as_of="+1h")
    summary = collect.run(cfg)
    assert summary["data_quality"]["records_read"] == 31
    assert summary["data_quality"]["records_quarantined_by_kind"]["duplicate"] == 2
    assert summary["data_quality"]["files_skipped"] == {"data_sidecar_folder": 1, "permission_check": 1,
                                                        "not_a_log_file": 1}
    q = pd.read_parquet(cfg.data("collect_quarantine.parquet"))
    assert len(q) == 21 and set(q.columns) == set(logs.QUARANTINE_COLUMNS)
    assert CANARY.encode() not in cfg.data("collect_quarantine.parquet").read_bytes()

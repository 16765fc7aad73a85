"""Issue 12: collect never counts twice, never loses a record, never runs out of memory.

Small hand-made batches in a folder laid out like the bucket; every expected count is written out by hand.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import orjson
import pytest

from tracker_utils import config, handoff
from tracker_utils.collect import logs
from tracker_utils.collect.logs import spill

UTC = dt.timezone.utc
DAY = dt.date(2026, 11, 2)
ACCOUNT, REGION = "123456789012", "us-east-1"
BASE = logs.log_base("logs", ACCOUNT, REGION)


def rec(rid, ts="2026-11-02T10:00:00Z", it=10, ot=5, region=REGION) -> dict:
    return {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": ts, "accountId": ACCOUNT,
            "identity": {"arn": f"arn:aws:iam::{ACCOUNT}:user/alice"}, "region": region, "requestId": rid,
            "operation": "Converse", "modelId": "amazon.nova-lite-v1:0",
            "input": {"inputTokenCount": it}, "output": {"outputTokenCount": ot}}


def put(root, hour: str, name: str, records, raw: bytes | None = None):
    d = root / BASE / hour
    d.mkdir(parents=True, exist_ok=True)
    body = raw if raw is not None else b"\n".join(orjson.dumps(r) for r in records) + b"\n"
    (d / name).write_bytes(gzip.compress(body, mtime=0))
    return f"{BASE}/{hour}/{name}"


def collect(root, **kw):
    objs, skipped = logs.list_local(root, BASE, DAY, 3)
    res = logs.collect(objs, DAY, **kw)
    res.skipped = skipped
    return res


def identity_holds(q: dict) -> bool:
    return q["records_read"] == sum(q[k] for k in logs.collection.IDENTITY)


def ids_hash(ids):
    enc = [i.encode() for i in ids]
    off = np.zeros(len(enc) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in enc], out=off[1:])
    return spill._hash_ids(b"".join(enc), off)


# --- 1. one identity for a request ---------------------------------------------------------------------------------
def test_an_id_hashes_alike_whatever_else_is_in_its_batch():
    rid = "5c0ffee0-0000-4000-8000-000000000001"
    alone = ids_hash([rid])[0]
    same_width = ids_hash([rid, "5c0ffee0-0000-4000-8000-000000000002"])[0]
    mixed = ids_hash(["x", rid, "y" * 200])[1]
    assert alone == same_width == mixed
    assert len(set(ids_hash([f"id-{i}" for i in range(1000)]).tolist())) == 1000


def test_a_redelivered_request_across_batches_of_different_shapes_is_counted_once(tmp_path):
    rid = "5c0ffee0-0000-4000-8000-000000000001"
    put(tmp_path, "2026/11/02/10", "20261102T100500Z_a.json.gz",
        [rec(rid), rec("5c0ffee0-0000-4000-8000-000000000002")])               # ids of one length
    put(tmp_path, "2026/11/02/11", "20261102T110500Z_b.json.gz",
        [rec("short"), rec(rid), rec("a-much-longer-request-id-than-the-others-here")])   # mixed lengths
    q = collect(tmp_path).quality
    assert (q["records_read"], q["records_used"], q["records_duplicate"]) == (5, 4, 1)
    assert q["records_duplicate_conflicting"] == 0 and identity_holds(q)


def test_copies_with_other_counts_are_named_and_the_first_delivered_is_kept(tmp_path):
    first = put(tmp_path, "2026/11/02/10", "20261102T100500Z_a.json.gz", [rec("r1", it=10)])
    later = put(tmp_path, "2026/11/02/12", "20261102T120500Z_b.json.gz", [rec("r2"), rec("r1", it=999)])
    res = collect(tmp_path)
    q = res.quality
    assert (q["records_used"], q["records_duplicate"], q["records_duplicate_conflicting"]) == (2, 1, 1)
    assert "first delivered" in q["duplicate_rule"]
    [c] = q["duplicate_conflicts"]
    assert c["request_id"] == "r1" and c["kept"]["file"] == first and c["kept"]["input_tokens"] == 10
    assert c["dropped"]["file"] == later and c["dropped"]["line"] == 2 and c["dropped"]["input_tokens"] == 999
    assert int(res.used.loc[res.used["request_id"] == "r1", "input_tokens"].iloc[0]) == 10


# --- 2. plausible counts only ----------------------------------------------------------------------------------------
def test_implausible_counts_are_quarantined_and_sums_cannot_overflow(tmp_path):
    put(tmp_path, "2026/11/02/10", "20261102T100500Z_a.json.gz",
        [rec("big1", it=5 * 10**18), rec("big2", it=5 * 10**18), rec("ok", it=7), rec("f", ot=1e30)])
    res = collect(tmp_path)
    q = res.quality
    assert q["records_used"] == 1 and q["records_quarantined_by_kind"] == {"implausible_token_count": 3}
    assert int(res.used["input_tokens"].sum()) == 7 and identity_holds(q)
    reasons = set(res.quarantine["reason"])
    assert "inputTokenCount is 5,000,000,000,000,000,000, above max_tokens_per_record (10,000,000)" in reasons
    # the limit is a parameter
    low = logs.collect(logs.list_local(tmp_path, BASE, DAY, 3)[0], DAY, max_tokens=5)
    assert low.quality["records_used"] == 0
    with pytest.raises(config.ParamError, match="max_tokens_per_record"):
        config.load_params(None, {"max_tokens_per_record": 0})


# --- 3. memory bounded by design -------------------------------------------------------------------------------------
def test_quarantine_keeps_counts_and_only_a_few_examples(tmp_path):
    put(tmp_path, "2026/11/02/10", "20261102T100500Z_a.json.gz", None, raw=b"{}\n" * 5000 + b"nope\n" * 300)
    res = collect(tmp_path)
    q = res.quality
    assert q["records_quarantined_by_kind"] == {"missing_field": 5000, "invalid_json": 300}
    assert q["records_malformed"] == 5300 and identity_holds(q)
    assert res.quarantine["kind"].value_counts().to_dict() == {"missing_field": logs.scan.EXAMPLES,
                                                               "invalid_json": logs.scan.EXAMPLES}


@pytest.mark.slow
def test_three_million_bad_lines_collect_under_512_mb(tmp_path):
    put(tmp_path, "2026/11/02/10", "20261102T100500Z_a.json.gz", None, raw=b"{}\n" * 3_000_000)
    code = textwrap.dedent(f"""
        import datetime as dt, json, re
        from tracker_utils.collect import logs
        objs, _ = logs.list_local(__import__("pathlib").Path({str(tmp_path)!r}), {BASE!r}, dt.date(2026, 11, 2), 3)
        res = logs.collect(objs, dt.date(2026, 11, 2), out_dir={str(tmp_path / 'out')!r})
        # VmHWM: this process's own peak (ru_maxrss would include the pytest process it was forked from)
        hwm = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
        print(json.dumps({{"q": res.quality, "rss_mb": hwm / 1024}}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["q"]["records_malformed"] == 3_000_000 and out["q"]["records_read"] == 3_000_000
    assert out["rss_mb"] < 512, out["rss_mb"]
    print(f"3,000,000 bad lines: peak RSS {out['rss_mb']:.0f} MB")


# --- 4. only regular files are read ----------------------------------------------------------------------------------
def test_special_files_are_skipped_and_counted_never_read(tmp_path):
    good = put(tmp_path, "2026/11/02/10", "20261102T100000Z_good.json.gz", [rec("r1")])
    d = tmp_path / BASE / "2026/11/02/10"
    os.mkfifo(d / "20261102T100100Z_fifo.json.gz")
    os.symlink("/dev/zero", d / "20261102T100200Z_zero.json.gz")
    os.symlink(d / "gone.json.gz", d / "20261102T100300Z_dangling.json.gz")
    os.symlink(d / "20261102T100400Z_loop.json.gz", d / "20261102T100400Z_loop.json.gz")
    os.symlink(tmp_path / good, d / "20261102T100500Z_alias.json.gz")          # inside the root: read
    res = collect(tmp_path)
    assert res.skipped == {"not_a_regular_file": 1, "symlink_outside_data_root": 1, "dangling_symlink": 1,
                           "symlink_loop": 1}
    assert res.quality["files_read"] == 2 and res.quality["records_used"] == 1 and res.quality["records_duplicate"] == 1


# --- 5. region checked -----------------------------------------------------------------------------------------------
def test_a_record_of_another_region_is_not_this_regions_usage(tmp_path):
    put(tmp_path, "2026/11/02/10", "20261102T100500Z_a.json.gz",
        [rec("r1"), rec("r2", region="eu-west-1"), rec("r3", region="")])
    res = collect(tmp_path, region=REGION)
    q = res.quality
    assert (q["records_used"], q["records_other_region"]) == (2, 1)
    assert q["records_other_region_by_region"] == {"eu-west-1": 1} and q["records_malformed"] == 0
    assert set(res.used["request_id"]) == {"r1", "r3"} and identity_holds(q)
    [row] = res.quarantine.itertuples()
    assert (row.kind, row.request_id) == ("other_region", "r2") and "eu-west-1" in row.reason


# --- 6. every record lands in its own day ----------------------------------------------------------------------------
def test_a_batch_of_twelve_days_counts_each_day_and_hands_it_over(tmp_path):
    days = [DAY + dt.timedelta(days=k) for k in range(-6, 6)]            # 12 days, the collected one among them
    key = put(tmp_path, "2026/11/02/10", "20261102T100500Z_a.json.gz",
              [rec(f"r{k}-{i}", ts=f"{d}T12:00:00Z") for k, d in enumerate(days) for i in range(k + 1)])
    res = collect(tmp_path)
    q = res.quality
    want = {d.isoformat(): k + 1 for k, d in enumerate(days) if d != DAY}
    assert q["records_of_other_days"] == want and q["records_outside_day"] == sum(want.values())
    assert q["records_used"] == days.index(DAY) + 1 and identity_holds(q)
    assert res.other_days == {d: {key: n} for d, n in want.items()}
    out = tmp_path / "outputs"
    objects = {f["key"]: {k: f[k] for k in ("key", "size", "etag", "delivered_at")} for f in res.files}
    assert handoff.write(out, REGION, DAY.isoformat(), res.other_days, objects) == 11
    x = (DAY - dt.timedelta(days=6)).isoformat()
    [entry] = handoff.received(out, REGION, x)
    assert entry["key"] == key and entry["records"] == 1
    # the day it was handed to, when it has a report that did not read the object, is stale by that many records
    rd = out / x / REGION
    (rd / "data").mkdir(parents=True)
    (rd / "summary.json").write_text("{}")
    (rd / "data" / "collect_files.json").write_text("[]")
    assert handoff.pending(out, REGION, x, rd) == 1
    (rd / "data" / "collect_files.json").write_text(json.dumps([{"key": key}]))
    assert handoff.pending(out, REGION, x, rd) == 0

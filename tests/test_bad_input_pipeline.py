"""Bad input through the whole chain: counted by kind in summary.json, quarantined with file and line, no body
kept, and the good data's result unchanged (the run goes on)."""
from __future__ import annotations

import gzip
import json
import zlib
import shutil

import pandas as pd
import pytest

from tests.test_pipeline import compare_summary
from tracker_utils import config
from tracker_utils.collect import stage as collect
from tracker_utils.price import stage as pricing
from tracker_utils.reconcile import stage as reconcile
from tracker_utils.demo import CANARY
from tracker_utils.collect.logs import StrictError


def plant(root, spec, date):
    """Copy the demo and drop a corpus of bad objects into the day's 10:00 folder."""
    folder = next((root / "s3" / spec.bucket).glob(f"**/us-east-1/{date.replace('-', '/')}/10"))
    good = sorted(folder.glob("*.json.gz"))[0]
    lines = gzip.decompress(good.read_bytes()).decode().splitlines()
    rec = json.loads(lines[0])

    def variant(**changes):
        r = json.loads(json.dumps(rec))
        r["requestId"] = changes.pop("rid")
        for path, value in changes.items():
            obj = r
            keys = path.split("__")
            for k in keys[:-1]:
                obj = obj[k]
            if value is None:
                obj.pop(keys[-1])
            else:
                obj[keys[-1]] = value
        r.setdefault("input", {})["inputBodyJson"] = {"prompt": CANARY}
        return json.dumps(r)

    bad_lines = [
        "{not json " + CANARY,                                                 # invalid JSON
        variant(rid="bad-1", input__inputTokenCount=None),                      # missing token count
        variant(rid="bad-2", output__outputTokenCount=-5),                      # negative count
        variant(rid="bad-3", input__inputTokenCount=1.5),                       # non-integer count
        variant(rid="bad-4", schemaVersion="9.9"),                              # unknown schema version
        variant(rid="bad-5", operation="ApplyGuardrail"),                       # unknown operation
        lines[0],                                                               # duplicate requestId
    ]
    raw = ("\n".join(bad_lines) + "\n").encode() + b'{"requestId": "bad-6", "x": "\xff\xfe"}\n'   # not UTF-8
    (folder / "20991231T000000Z_badlines.json.gz").write_bytes(gzip.compress(raw))
    one = variant(rid="bad-7") + "\n"
    whole = gzip.compress(one.encode())
    cut = whole[: len(whole) // 2]                                              # a download cut in the middle
    (folder / "20991231T000001Z_truncated.json.gz").write_bytes(cut)
    partial = zlib.decompressobj(31).decompress(cut)                            # what survives of the record
    (folder / "20991231T000002Z_notgzip.json.gz").write_bytes(b"plain text, not gzip " + CANARY.encode())
    (folder / "20991231T000003Z_empty.json.gz").write_bytes(b"")
    return folder, 1 if partial.strip() else 0


@pytest.fixture(scope="module")
def corpus(small_demo, tmp_path_factory):
    src, spec, truth = small_demo
    root = tmp_path_factory.mktemp("bad") / "account"
    shutil.copytree(src, root)
    date = spec.dates[0]
    _, partial_lines = plant(root, spec, date)
    return root, spec, truth, date, partial_lines


def run(root, spec, date, out, **kw):
    cfg = config.resolve(date, "us-east-1", data_root=str(root), output_dir=str(out), start=spec.start,
                         end=spec.dates[-1], logs_as_of="", **kw)
    collect.run(cfg)
    pricing.run(cfg)
    return reconcile.run(cfg), cfg


def test_corpus_is_counted_quarantined_and_the_run_goes_on(corpus, tmp_path):
    root, spec, truth, date, partial = corpus
    s, cfg = run(root, spec, date, tmp_path)
    dq = s["data_quality"]
    assert dq["records_quarantined_by_kind"] == {
        "bad_token_count": 2, "duplicate": 1, "invalid_json": 1 + partial, "invalid_utf8": 1, "missing_token_counts": 1,
        "unknown_operation": 1, "unknown_schema_version": 1}
    assert dq["records_malformed"] == 7 + partial and dq["records_duplicate"] == 1
    assert dq["files_bad"] == {"empty_file": 1, "not_gzip": 1, "truncated_gzip": 1}
    assert dq["records_read"] == dq["records_used"] + dq["records_late"] + dq["records_outside_day"] \
        + dq["records_malformed"] + dq["records_duplicate"]
    q = pd.read_parquet(cfg.data("collect_quarantine.parquet"))
    assert set(q.columns) == {"kind", "file", "line", "request_id", "reason"}
    assert set(q.loc[q["kind"] == "bad_token_count", "request_id"]) == {"bad-2", "bad-3"}
    assert (q.loc[q["line"] > 0, "file"].str.endswith(("_badlines.json.gz", "_truncated.json.gz"))).all()
    assert not q.astype(str).apply(lambda c: c.str.contains(CANARY, regex=False)).any().any()
    # the good data's figures are exactly the clean run's (logs_as_of "" reads the late records too: skip totals)
    want = json.loads(json.dumps(truth["runs"][f"{date}/us-east-1"]))
    errs = [e for e in compare_summary(s, want) if not e.startswith(("data_quality", "totals"))]
    assert errs == []


def test_strict_mode_fails_on_the_first_problem(corpus, tmp_path):
    root, spec, _, date, _ = corpus
    with pytest.raises(StrictError):
        run(root, spec, date, tmp_path, strict=True)

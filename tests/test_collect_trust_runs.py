"""Issue 12, through the runner: records of other days land in their own day's report, and two runs at once are safe."""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys

import orjson
import pytest

from tests.conftest import write_params

pytestmark = pytest.mark.slow
REGION = "us-east-1"


def _inject(root, spec, hour_folder: str, name: str, day: str, n: int, tag: str) -> None:
    """A late batch in ``hour_folder`` holding ``n`` records of ``day`` (beyond any collection window of it)."""
    base = root / "s3" / spec.bucket / spec.prefix / "AWSLogs" / spec.account / "BedrockModelInvocationLogs" / REGION
    d = base / hour_folder
    d.mkdir(parents=True, exist_ok=True)
    recs = [{"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": f"{day}T08:00:0{i}Z",
             "accountId": spec.account, "identity": {"arn": f"arn:aws:iam::{spec.account}:user/late-{tag}"},
             "region": REGION, "requestId": f"late-{tag}-{i}", "operation": "Converse",
             "modelId": "amazon.nova-lite-v1:0", "input": {"inputTokenCount": 100}, "output": {"outputTokenCount": 10}}
            for i in range(n)]
    (d / name).write_bytes(gzip.compress(b"\n".join(orjson.dumps(r) for r in recs) + b"\n", mtime=0))


def _summary(out, day):
    return json.loads((out / day / REGION / "summary.json").read_text())


def _counted(s) -> int:
    return s["data_quality"]["records_used"] + s["data_quality"]["records_late"]


def test_records_of_another_day_are_counted_in_that_days_report(small_demo, tmp_path):
    from tracker_utils.run import runner
    src, spec, _ = small_demo
    root = tmp_path / "demo"
    shutil.copytree(src, root, symlinks=True)
    d1, _, d3 = spec.dates
    alone = _counted(_rerun_without(root, spec, tmp_path, d1))      # day 1 without any late batch
    y, m, dd = d3.split("-")
    _inject(root, spec, f"{y}/{m}/{dd}/12", f"{y}{m}{dd}T120500Z_late1.json.gz", d1, 5, "a")
    out = tmp_path / "out"
    pf = write_params(tmp_path / "p.yaml", data_root=str(root), output_dir=str(out), start=d1, end=d3,
                      regions=[REGION])
    outcomes = runner.run(str(pf), {}, jobs=1)
    assert [o.status for o in outcomes] == ["complete"] * 3
    assert _summary(out, d3)["data_quality"]["records_of_other_days"][d1] == 5
    # found by day 3's collection, after day 1's report was made: day 1 is redone in the same run and counts them
    assert _counted(_summary(out, d1)) == alone + 5
    assert "stale: " not in (out / "index.html").read_text()
    # found later, by a run of another day only: day 1 is stale, and the next run that covers it redoes it
    _inject(root, spec, f"{y}/{m}/{dd}/13", f"{y}{m}{dd}T130500Z_late2.json.gz", d1, 3, "b")
    runner.run(str(pf), {"start": d3, "end": d3}, force=True)
    assert _summary(out, d3)["data_quality"]["records_of_other_days"][d1] == 8
    assert "stale: 3 records of this day arrived after its report" in (out / "index.html").read_text()
    again = runner.run(str(pf), {"start": d1, "end": d1})
    assert [o.status for o in again] == ["complete"] and _counted(_summary(out, d1)) == alone + 8


def _rerun_without(root, spec, tmp_path, day):
    """Day ``day`` run alone on its own output folder: what it counts on its own."""
    from tracker_utils.run import runner
    out = tmp_path / "clean_out"
    pf = write_params(tmp_path / "clean.yaml", data_root=str(root), output_dir=str(out), start=day, end=day,
                      regions=[REGION])
    runner.run(str(pf), {}, jobs=1)
    return _summary(out, day)


def test_two_runs_at_once_are_safe_and_equal_one_run(demo_run, small_demo, tmp_path):
    ref_out = demo_run[0]
    root, spec, _ = small_demo
    out = tmp_path / "out"
    pf = write_params(tmp_path / "p.yaml", data_root=str(root), output_dir=str(out), start=spec.start,
                      end=spec.dates[1], regions=[REGION])
    cmd = [sys.executable, "-m", "tracker_utils", "run", "--params", str(pf)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (so, se) in zip(procs, results):
        assert p.returncode == 0, so + se
    text = "".join(so for so, _ in results)
    assert "waiting for it to finish" in text or "already complete" in text
    for day in spec.dates[:2]:
        got = (out / day / REGION / "summary.json").read_bytes()
        assert got == (ref_out / day / REGION / "summary.json").read_bytes(), day

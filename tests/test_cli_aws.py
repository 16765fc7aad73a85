"""Issue 3's acceptance command, as a user would run it: a standalone moto server loaded by hand over HTTP, then
``bedrock-tracker run --source aws ... --cost-source cur --cur FILE``; the summary equals the demo's ground truth
(which the local run also equals)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from tests.aws_fixtures import _free_port
from tests.test_pipeline import compare_summary

ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
       "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def moto_server():
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    assert exe, "moto_server not installed (pip install 'moto[server]', part of make test)"
    port = _free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def test_acceptance_command_against_a_hand_loaded_emulator(moto_server, small_demo, tmp_path):
    import boto3
    from tracker_utils.collect import cloudwatch as cwsrc
    root, spec, truth = small_demo
    date, region = spec.dates[1], "us-east-1"
    s = boto3.session.Session(**{k.lower(): v for k, v in ENV.items() if k != "AWS_DEFAULT_REGION"},
                              region_name=region)
    s3 = s.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket=spec.bucket)
    bucket_root = root / "s3" / spec.bucket
    for p in sorted(bucket_root.rglob("*")):
        if p.is_file():
            s3.put_object(Bucket=spec.bucket, Key=p.relative_to(bucket_root).as_posix(), Body=p.read_bytes())
    cw = s.client("cloudwatch", endpoint_url=moto_server)
    df = cwsrc.parse_metric_data(json.loads((root / "cloudwatch" / region / f"{date}.json").read_text()))
    data = [{"MetricName": r.metric, "Dimensions": [{"Name": "ModelId", "Value": r.model_id}] if r.model_id else [],
             "Timestamp": r.hour.to_pydatetime(), "Value": float(r.value)} for r in df.itertuples(index=False)]
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace="AWS/Bedrock", MetricData=data[i:i + 500])
    cur = next((root / "cur").rglob("*.parquet"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tracker_utils", "run", "--source", "aws", "--endpoint-url", moto_server,
           "--logs-bucket", spec.bucket, "--account", spec.account, "--start", date, "--end", date,
           "--regions", region, "--cost-source", "cur", "--cur", str(cur), "--output-dir", str(out),
           "--logs-as-of", "+1h"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | ENV
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads((out / date / region / "summary.json").read_text())
    assert got["sources"]["logs"] == "aws" and got["sources"]["bill"] == "cur"
    # a standalone moto does not serve ListModelInvocationJobs (it answers 404): collect goes on and says so, and the
    # bill's batch line stays unlogged_endpoint, at the cost the manifests explain where the listing is served
    want = truth["runs"][f"{date}/{region}"]
    batch_models = sorted(m["model"] for m in want["models"] if any(g["kind"] == "batch" for g in m["gaps"]))
    assert batch_models, "the demo day has a batch job"
    c = json.loads((out / date / region / "data" / "collect.json").read_text())
    assert "ListModelInvocationJobs is not served" in c["data_quality"]["batch"]["error"]
    gm = {m["model"]: m for m in got["models"]}
    for name in batch_models:
        w = next(m for m in want["models"] if m["model"] == name)
        wkinds = {g["kind"]: g for g in w["gaps"]}
        gkinds = {g["kind"]: g for g in gm[name]["gaps"]}
        assert set(gkinds) == set(wkinds) - {"batch"} | {"unlogged_endpoint"}
        expected = Decimal(wkinds["batch"]["cost_usd"]) + Decimal(wkinds.get("unlogged_endpoint", {}).get("cost_usd", 0))
        assert Decimal(gkinds["unlogged_endpoint"]["cost_usd"]) == expected
    errs = [e for e in compare_summary(got, want)
            if not (e.startswith(tuple(f"{n} gap kinds" for n in batch_models)) or e.startswith("apps differ"))]
    assert errs == []
    assert sorted({a["app"] for a in got["apps"]} - {a["app"] for a in want["apps"]}) == [
        next(a["app"] for a in got["apps"] if a["app"].startswith("(unlogged usage"))]

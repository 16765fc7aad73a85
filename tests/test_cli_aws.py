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
    assert compare_summary(got, truth["runs"][f"{date}/{region}"]) == []

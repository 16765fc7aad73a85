"""Nothing leaked (the demo's canary is in every prompt and response, and in no output), nothing lost on a kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from tracker_utils.demo import CANARY


def test_canary_reaches_no_output_file(demo_run, small_demo):
    root, _, _ = small_demo
    # the canary really is in the sources (otherwise this test proves nothing)
    import gzip
    some_log = next(root.glob("s3/**/*.json.gz"))
    assert CANARY.encode() in gzip.decompress(some_log.read_bytes())
    out, _, _, _ = demo_run
    checked = 0
    for p in out.rglob("*"):
        if not p.is_file():
            continue
        data = p.read_bytes()
        assert CANARY.encode() not in data, p
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
            for c in df.columns:
                if df[c].dtype == object:
                    assert not df[c].astype(str).str.contains(CANARY, regex=False).any(), (p, c)
        checked += 1
    assert checked > 50


def test_parquet_holds_counts_and_ids_not_bodies(demo_run):
    out, _, _, _ = demo_run
    logs = pd.read_parquet(next(out.glob("*/us-east-1/data/collect_logs.parquet")))
    assert not any("body" in c.lower() or "prompt" in c.lower() for c in logs.columns)
    assert set(logs.columns) >= {"request_id", "model_id", "principal", "input_tokens", "output_tokens"}


def test_killed_run_leaves_nothing_complete_and_rerun_matches(demo_run, small_demo, tmp_path):
    """SIGKILL the runner mid-run; nothing half-done looks complete; the re-run equals an uninterrupted run."""
    ref_out, ref_params, _, _ = demo_run
    root, spec, _ = small_demo
    from tests.conftest import write_params
    out = tmp_path / "out"
    pf = write_params(tmp_path / "p.yaml", data_root=str(root), output_dir=str(out), start=spec.start,
                      end=spec.dates[1], regions=["us-east-1"])
    cmd = [sys.executable, "-m", "tracker_utils", "run", "--params", str(pf), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:       # wait until the first report is done and the second is under way
        done = list(out.glob("*/*/summary.json"))
        started = [p for p in out.glob("*/*/01_collect.ipynb")]
        if done and len(started) > len(done):
            time.sleep(0.5)
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    complete = {p.parent for p in out.glob("*/*/summary.json")}
    assert 1 <= len(complete) < 2
    for d in out.glob("*/*"):
        if d not in complete:
            assert not (d / "summary.json").exists() and not (d / "report.html").exists() or not (d / "summary.json").exists()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(complete)} already complete" in r.stdout
    assert len(list(out.glob("*/*/summary.json"))) == 2
    for ref in ref_out.glob("*/us-east-1/summary.json"):
        rel = ref.relative_to(ref_out)
        if rel.parts[0] > spec.dates[1]:
            continue
        got = json.loads((out / rel).read_text())
        want = json.loads(ref.read_text())
        assert got == want, rel

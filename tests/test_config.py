"""Parameters are checked up front: one clear message each, before any work starts."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tracker_utils.config import ParamError, load_params, resolve


def write(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, message", [
    ("regoins: [us-east-1]\n", "unknown parameter 'regoins' (did you mean 'regions'?)"),
    ("start: 2026-13-01\n", "start: '2026-13-01' is not a valid day"),
    ("start: '20261101'\n", "start: '20261101' is not an ISO day"),
    ("start: '2026-11-05'\nend: '2026-11-01'\n", "end 2026-11-01 is before start 2026-11-05"),
    ("regions: [us-east1]\n", "regions: unknown region(s) us-east1"),
    ("source: aws\nlogs_bucket: ''\n", "logs_bucket: needed when source is aws"),
    ("cost_source: cur\n", "cur: a CUR 2.0 export path"),
    ("account: '1234'\n", "account: '1234' is not a 12-digit AWS account id"),
    ("engine: spark\n", "engine: 'spark' is not one of"),
    ("jobs: many\n", "jobs: expected an integer"),
    ("source: local\ndata_root: /nonexistent/folder\n", "data_root: /nonexistent/folder does not exist"),
])
def test_bad_params_fail_with_one_clear_message(tmp_path, text, message):
    with pytest.raises(ParamError) as e:
        load_params(write(tmp_path, text))
    assert message in str(e.value)


def test_yaml_dates_and_overrides(tmp_path):
    p = load_params(write(tmp_path, "start: 2026-11-02\nend: 2026-11-03\n"), {"regions": "us-east-1,eu-central-1"})
    assert p.dates == ["2026-11-02", "2026-11-03"]
    assert p.regions == ["us-east-1", "eu-central-1"]


def test_resolve_builds_paths(tmp_path):
    cfg = resolve("2026-11-02", "us-east-1", output_dir=str(tmp_path))
    assert cfg.data_dir == tmp_path / "2026-11-02" / "us-east-1" / "data"
    assert cfg.data_dir.is_dir()
    assert cfg.as_of.isoformat() == "2026-11-03T01:00:00+00:00"   # "+1h" in the default params
    with pytest.raises(ParamError):
        resolve("2026-11-02", "us-east1")


def test_cli_rejects_bad_params_before_any_work(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tracker_utils", "run", "--start", "2026-11-05", "--end", "2026-11-01",
                        "--output-dir", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 2
    assert "end 2026-11-01 is before start 2026-11-05" in r.stderr
    assert not (tmp_path / "out").exists()

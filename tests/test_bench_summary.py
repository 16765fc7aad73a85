"""``make bench``'s last line: every benchmark's keys, the 200k collect's ratios renamed as the issue names them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "summary.py"


def test_one_line_with_every_key(tmp_path):
    (tmp_path / "c200.txt").write_text("table\n\ncollect/zcat_floor=0.95 duckdb_auto/collect=2.1 collect_peak_rss_mb=300\n")
    (tmp_path / "c1m.txt").write_text("collect/zcat_floor=0.80 duckdb_auto/collect=1.9 collect_peak_rss_mb=240\n")
    (tmp_path / "chain.txt").write_text("runs...\nchain_s=2.10 month_s=85.0 month_days=30\n")
    out = subprocess.run([sys.executable, str(SCRIPT), *(str(tmp_path / f) for f in ("c200.txt", "c1m.txt", "chain.txt"))],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["chain_s=2.10", "month_s=85.0", "month_days=30", "collect200k/zcat_floor=0.95",
                   "duckdb_auto/collect200k=2.1", "collect200k_peak_rss_mb=300", "collect/zcat_floor=0.80",
                   "duckdb_auto/collect=1.9", "collect_peak_rss_mb=240"]


def test_a_failed_benchmark_is_an_error_not_a_blank(tmp_path):
    for f in ("a", "b"):
        (tmp_path / f).write_text("collect/zcat_floor=1\n")
    (tmp_path / "chain").write_text("Traceback ...\n")
    r = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "chain")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "no key=value" in r.stderr


pytestmark = pytest.mark.slow

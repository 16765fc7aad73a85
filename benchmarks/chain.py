"""Benchmark: the notebook chain's fixed costs (issue 16, kernels and notebooks).

    .venv/bin/python benchmarks/chain.py [--repeat 3] [--days 6] [--skip-month]

Builds the demo (``tracker_utils.demo.build_demo``, ``DemoSpec(per_day=300, days=3)``) into a temporary folder,
then, each measurement in its own fresh Python process (as ``bedrock-tracker run`` would be):

- ``one``: ``runner.run`` of one date and region (jobs 1), ``--repeat`` times, forced;
- ``demo``: ``runner.run`` of the 3 days x 2 regions with jobs 2, ``--repeat`` times, forced;
- ``month``: a demo generated with ``--days`` days (30 is a month) in 2 regions, ``runner.run`` with jobs 2, once.

Per run it prints the wall time and, from each chain's ``run.json``, the chain seconds, the kernel start-up
seconds and the seconds per notebook. The last line is machine-readable:
``chain_s=<median chain seconds> month_s=<seconds for the --days x 2 regions run> month_days=<days>``
(``chain_s`` is the median over every chain of the ``one`` and ``demo`` runs of the ``seconds`` in run.json,
i.e. one chain inside a run; with ``--days`` below 30, ``month30_est_s`` extrapolates by chains).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = sys.executable
START = "2026-11-02"


def build(root: Path, days: int) -> None:
    from tracker_utils import demo
    demo.build_demo(root, demo.DemoSpec(per_day=300, days=days, start=START))


def write_params(path: Path, **values) -> Path:
    import yaml
    base = yaml.safe_load((REPO / "params" / "default.yaml").read_text())
    base.update(values)
    path.write_text(yaml.safe_dump(base))
    return path


def _child(pf: str, jobs: int) -> None:
    """In a fresh process: one forced ``runner.run``; prints its wall seconds as JSON."""
    os.environ.setdefault("MPLBACKEND", "agg")
    from tracker_utils.run import runner
    t0 = time.perf_counter()
    outcomes = runner.run(pf, {}, force=True, jobs=jobs, log=lambda *_: None)
    wall = time.perf_counter() - t0
    print(json.dumps({"wall": wall, "failed": [o.date + " " + o.region for o in outcomes if o.status == "failed"]}))


def run_once(pf: Path, out: Path, jobs: int) -> dict:
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}    # this checkout's tracker_utils, in the runner and its kernels
    r = subprocess.run([PY, __file__, "--child", str(pf), "--jobs", str(jobs)], capture_output=True, text=True,
                       cwd=str(REPO), env=env)
    total = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"run failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["failed"]:
        sys.exit(f"chains failed: {res['failed']}")
    chains = []
    for rj in sorted(out.glob("20*/*/run.json")):
        chains.append(json.loads(rj.read_text()))
    return {"wall": res["wall"], "process": total, "chains": chains}


def show(label: str, res: dict) -> None:
    ch = res["chains"]
    nbs = {}
    for c in ch:
        for k, v in c.get("notebook_seconds", {}).items():
            nbs.setdefault(k, []).append(v)
    per_nb = " ".join(f"{k}={statistics.median(v):.2f}" for k, v in sorted(nbs.items()))
    print(f"{label}: wall {res['wall']:.1f}s (process {res['process']:.1f}s), {len(ch)} chain(s), chain median "
          f"{statistics.median(c['seconds'] for c in ch):.2f}s, kernel median "
          f"{statistics.median(c.get('kernel_seconds', 0) for c in ch):.2f}s, notebooks (median) {per_nb}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--days", type=int, default=6, help="days of the 'month' run (30: a month); 0 skips it")
    ap.add_argument("--child", default="")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    if a.child:
        return _child(a.child, a.jobs)
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("MPLBACKEND", "agg")
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"load average at start: {load:.2f}, cores: {os.cpu_count()}", flush=True)
    chain_s = []
    with tempfile.TemporaryDirectory(prefix="bench_chain_") as tmp:
        tmp = Path(tmp)
        build(tmp / "demo", 3)
        for i in range(a.repeat):    # alternate one chain and the demo, so a busy spell hits both alike
            out1 = tmp / f"out_one_{i}"
            pf1 = write_params(tmp / f"one_{i}.yaml", data_root=str(tmp / "demo"), output_dir=str(out1),
                               start=START, end=START, regions=["us-east-1"])
            r1 = run_once(pf1, out1, 1)
            show(f"one date-region, jobs 1, run {i + 1}", r1)
            chain_s += [c["seconds"] for c in r1["chains"]]
            out6 = tmp / f"out_demo_{i}"
            pf6 = write_params(tmp / f"demo_{i}.yaml", data_root=str(tmp / "demo"), output_dir=str(out6),
                               start=START, end="2026-11-04")
            r6 = run_once(pf6, out6, 2)
            show(f"3 days x 2 regions, jobs 2, run {i + 1}", r6)
            chain_s += [c["seconds"] for c in r6["chains"]]
        month_s = float("nan")
        if a.days:
            build(tmp / "month", a.days)
            import datetime as dt
            end = (dt.date.fromisoformat(START) + dt.timedelta(days=a.days - 1)).isoformat()
            outm = tmp / "out_month"
            pfm = write_params(tmp / "month.yaml", data_root=str(tmp / "month"), output_dir=str(outm),
                               start=START, end=end)
            rm = run_once(pfm, outm, 2)
            show(f"{a.days} days x 2 regions, jobs 2", rm)
            month_s = rm["wall"]
    extra = f" month30_est_s={month_s * 30 / a.days:.1f}" if a.days and a.days != 30 else ""
    print(f"chain_s={statistics.median(chain_s):.2f} month_s={month_s:.1f} month_days={a.days}{extra}")


if __name__ == "__main__":
    main()

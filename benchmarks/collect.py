"""Benchmark: collecting a busy day of invocation logs (issue 7).

    .venv/bin/python benchmarks/collect.py [--records N] [--skip-demo] [--skip-baselines]

Generates (once, cached under .bench/) a day of N records at realistic body sizes in ~200 hourly files laid out like
the S3 bucket, then measures on the same files, each in its own subprocess so peaks don't mix:

- the kit's collect: ``tracker_utils.collect.logs.list_local`` + ``collect`` exactly as ``tracker_utils.collect.stage.run``
  calls them (workers for one chain, output written to a data folder), and the re-run over unchanged files;
- the decompression floor: ``zcat`` of every file the kit reads, spread over every core (``xargs -P nproc``);
- DuckDB ``read_json`` with auto-detect, and with explicit columns (for reference);
- ``pandas.read_json(lines=True)`` on a subset of the files, extrapolated by records (the output says so);
- the demo's end-to-end ``bedrock-tracker run --jobs 1`` and ``--jobs 2`` on fresh output folders, with the time
  spent starting kernels (``kernel_seconds`` in each ``run.json``).

Memory: the peak of the summed RSS of the measured process and all its children, sampled every 20 ms (RSS counts
shared library pages once per process, so this is an upper bound), next to the largest single process's peak RSS
(``wait4``, exact). The last line is machine-readable:
``collect/zcat_floor=<x> duckdb_auto/collect=<y> pandas/collect=<z> collect_peak_rss_mb=<m>``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BENCH = REPO / ".bench"
PY = sys.executable


# --- measuring a subprocess -----------------------------------------------------------------------------------------
def _tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _mem(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes of one process."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


def measure(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> dict:
    """Run ``cmd``; wall seconds, its stdout's last JSON line, and memory peaks of its process tree."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, text=True)
    peak = {"rss": 0, "pss": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            rss = pss = 0
            for q in _tree(p.pid):
                r, s = _mem(q)
                rss, pss = rss + r, pss + s
            peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)
            stop.wait(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out_chunks: list[str] = []
    err_chunks: list[str] = []
    t_out = threading.Thread(target=lambda: out_chunks.append(p.stdout.read()), daemon=True)
    t_err = threading.Thread(target=lambda: err_chunks.append(p.stderr.read()), daemon=True)
    t_out.start()
    t_err.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    th.join()
    t_out.join()
    t_err.join()
    out = "".join(out_chunks)
    result: dict = {}
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            break
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed ({p.returncode}):\n{''.join(err_chunks)[-3000:]}")
    result.update(wall=wall, cpu=ru.ru_utime + ru.ru_stime, peak_tree_rss_mb=peak["rss"] / 2**20,
                  peak_tree_pss_mb=peak["pss"] / 2**20, max_process_rss_mb=ru.ru_maxrss / 1024)
    return result


# --- what runs inside the subprocesses ------------------------------------------------------------------------------
def _objects(root: Path):
    import datetime as dt
    sys.path.insert(0, str(HERE))
    import gen
    from tracker_utils.collect import logs
    objs, skipped = logs.list_local(root / "s3" / gen.BUCKET, gen.base_key(), gen.DAY, 3)
    as_of = dt.datetime.combine(gen.DAY, dt.time(0), tzinfo=dt.timezone.utc) + dt.timedelta(days=1, hours=1)
    return objs, skipped, as_of


def child_collect(root: Path, out: Path) -> dict:
    """What ``tracker_utils.collect.stage.run`` does with the logs of one date and region (``--jobs 1``)."""
    sys.path.insert(0, str(HERE))
    import gen
    from tracker_utils.collect import logs
    t0 = time.perf_counter()
    objs, skipped = logs.list_local(root / "s3" / gen.BUCKET, gen.base_key(), gen.DAY, 3)
    import datetime as dt
    as_of = dt.datetime.combine(gen.DAY, dt.time(0), tzinfo=dt.timezone.utc) + dt.timedelta(days=1, hours=1)
    res = logs.collect(objs, gen.DAY, as_of, strict=False, workers=logs.default_workers(1), out_dir=out)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "records": res.quality["records_read"], "quality": res.quality,
            "cached": res.cached, "timings": getattr(res, "timings", {}), "files": len(objs),
            "workers": logs.default_workers(1)}


MALFORMED_LINES = 1_000_000


def ensure_malformed(root: Path, lines: int = MALFORMED_LINES) -> Path:
    """One log object of ``lines`` malformed lines (empty objects, broken JSON, wrong types, implausible counts)."""
    import gzip
    sys.path.insert(0, str(HERE))
    import gen
    d = root / "s3" / gen.BUCKET / gen.base_key() / gen.DAY.strftime("%Y/%m/%d") / "10"
    f = d / f"{gen.DAY:%Y%m%d}T100000Z_malformed.json.gz"
    if not f.exists():
        d.mkdir(parents=True, exist_ok=True)
        pattern = [b"{}", b'{"requestId": "x", "operation": "Converse"', b'{"requestId": "r", "operation": "Converse", '
                   b'"modelId": "m", "timestamp": "2026-01-01T00:00:00Z", "input": {"inputTokenCount": 5e18}, '
                   b'"output": {"outputTokenCount": 1}}', b"[1, 2, 3]", b'{"requestId": 7}']
        body = b"\n".join(pattern[i % len(pattern)] for i in range(lines)) + b"\n"
        tmp = f.with_suffix(".tmp")
        tmp.write_bytes(gzip.compress(body, compresslevel=6, mtime=0))
        tmp.replace(f)
    return f


def child_malformed(root: Path, out: Path) -> dict:
    """Collect one object of malformed lines: every line counted, memory flat."""
    sys.path.insert(0, str(HERE))
    import gen
    from tracker_utils.collect import logs
    ensure_malformed(root)
    objs, _ = logs.list_local(root / "s3" / gen.BUCKET, gen.base_key(), gen.DAY, 3)
    t0 = time.perf_counter()
    res = logs.collect(objs, gen.DAY, strict=False, workers=1, out_dir=out)
    return {"seconds": time.perf_counter() - t0, "records": res.quality["records_read"],
            "malformed": res.quality["records_malformed"], "quarantine_rows": len(res.quarantine)}


def child_duckdb(root: Path, explicit: bool) -> dict:
    import duckdb
    objs, _, _ = _objects(root)
    files = [str(root / "s3" / "bench-bedrock-logs" / o.key) for o in objs]
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads={os.cpu_count()}")
    if explicit:
        cols = ("{requestId: 'VARCHAR', timestamp: 'VARCHAR', operation: 'VARCHAR', modelId: 'VARCHAR', "
                "identity: 'STRUCT(arn VARCHAR)', region: 'VARCHAR', inferenceRegion: 'VARCHAR', errorCode: 'VARCHAR', "
                "input: 'STRUCT(inputTokenCount BIGINT, cacheReadInputTokenCount BIGINT, cacheWriteInputTokenCount BIGINT)', "
                "output: 'STRUCT(outputTokenCount BIGINT)'}")
        src = f"read_json(?, format='newline_delimited', columns={cols})"
    else:
        src = "read_json(?, format='newline_delimited')"
    con.execute(f"""CREATE TABLE logs AS SELECT requestId, "timestamp", operation, modelId, identity.arn AS principal,
                    region, input.inputTokenCount AS input_tokens, output.outputTokenCount AS output_tokens
                    FROM {src}""", [files])
    n = con.execute("SELECT count(*) FROM logs").fetchone()[0]
    return {"seconds": time.perf_counter() - t0, "records": n}


def _floor_part(args) -> int:
    paths, parse = args
    import orjson
    from tracker_utils.collect import logs
    n = 0
    for path in paths:
        for lineno, raw, _ in logs.scan._lines(logs.scan._inflate(logs.scan._blocks_of(logs.LocalFile(path)), [])):
            if parse:
                orjson.loads(raw)
            n += 1
    return n


def child_floor(root: Path, parse: bool) -> dict:
    """ISA-L inflate (and orjson.loads of every line, when ``parse``) of every file over every core, nothing else:
    what any reader built on these two costs at least."""
    import multiprocessing as mp
    objs, _, _ = _objects(root)
    paths = [str(root / "s3" / "bench-bedrock-logs" / o.key) for o in objs]
    k = os.cpu_count() or 1
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(k) as pool:
        n = sum(pool.map(_floor_part, [(paths[i::k], parse) for i in range(k)]))
    return {"seconds": time.perf_counter() - t0, "records": n}


def child_pandas(root: Path, fraction: float) -> dict:
    import pandas as pd
    objs, _, _ = _objects(root)
    total = sum(o.size for o in objs)
    t0 = time.perf_counter()
    n = used = 0
    for o in objs:
        if used >= fraction * total:
            break
        df = pd.read_json(root / "s3" / "bench-bedrock-logs" / o.key, lines=True, compression="gzip")
        n += len(df)
        used += o.size
        del df
    return {"seconds": time.perf_counter() - t0, "records": n, "gz_bytes": used}


# --- the benchmark --------------------------------------------------------------------------------------------------
def _fmt_row(name: str, r: dict, records: int, json_mb: float, note: str = "") -> str:
    s = r["seconds_full"]
    cpu = r["cpu"] * s / r["wall"]
    return (f"| {name} | {s:,.2f} | {cpu:,.1f} | {records / s:,.0f} | {json_mb / s:,.0f} | {r['peak_tree_rss_mb']:,.0f} | "
            f"{r['max_process_rss_mb']:,.0f} | {note} |")


def demo_runs(log) -> dict:
    """``bedrock-tracker run --jobs 1`` and ``--jobs 2`` on the demo account, each into a fresh output folder."""
    exe = str(Path(PY).parent / "bedrock-tracker")
    demo_root = REPO / "demo_account"
    if not (demo_root / "ground_truth.json").exists():
        log("building demo_account/ ...")
        subprocess.run([PY, "-c", "from tracker_utils import demo; from tracker_utils.config import resolve_path; "
                        "demo.build_demo(resolve_path('demo_account'))"], check=True, cwd=REPO)
    out = {}
    for jobs in (1, 2):
        d = Path(tempfile.mkdtemp(prefix=f"bench-demo-j{jobs}-", dir=BENCH))
        t0 = time.perf_counter()
        p = subprocess.run([exe, "run", "--jobs", str(jobs), "--output-dir", str(d), "--force"], cwd=REPO,
                           capture_output=True, text=True)
        wall = time.perf_counter() - t0
        runs = [json.loads(f.read_text()) for f in sorted(d.glob("*/*/run.json"))]
        t1 = time.perf_counter()           # the same command again: every chain complete, the roll-up's inputs unchanged
        again = subprocess.run([exe, "run", "--jobs", str(jobs), "--output-dir", str(d)], cwd=REPO,
                               capture_output=True, text=True)
        noop = time.perf_counter() - t1
        out[jobs] = {"wall": wall, "ok": p.returncode == 0 and again.returncode == 0, "chains": len(runs),
                     "noop_wall": noop,
                     "complete": sum(r["status"] == "complete" for r in runs),
                     "kernel_seconds": sum(r.get("kernel_seconds", 0) for r in runs),
                     "chain_seconds": sum(r.get("seconds", 0) for r in runs),
                     "collect_seconds": sum(r.get("notebook_seconds", {}).get("01_collect", 0) for r in runs),
                     "tail": p.stdout.strip().splitlines()[-1:] + p.stderr.strip().splitlines()[-3:]}
        shutil.rmtree(d, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--bodies", choices=("realistic", "small"), default="realistic",
                    help="realistic: ~2.6 KB prompts and ~1 KB responses; small: ~60 B and ~80 B (the demo's shape)")
    ap.add_argument("--pandas-fraction", type=float, default=0.03, help="share of the bytes pandas reads")
    ap.add_argument("--skip-demo", action="store_true", help="leave out the end-to-end demo runs")
    ap.add_argument("--skip-baselines", action="store_true", help="only the kit's collect and the zcat floor")
    ap.add_argument("--repeat", type=int, default=3, help="runs of collect and zcat, alternated (the best is kept)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        what, root = a.child[0], Path(a.child[1])
        if what == "collect":
            r = child_collect(root, Path(a.child[2]))
        elif what == "malformed":
            r = child_malformed(root, Path(a.child[2]))
        elif what in ("inflate", "inflate+orjson"):
            r = child_floor(root, what == "inflate+orjson")
        elif what in ("duckdb", "duckdb-explicit"):
            r = child_duckdb(root, what == "duckdb-explicit")
        else:
            r = child_pandas(root, float(a.child[2]))
        print(json.dumps(r))
        return 0

    sys.path.insert(0, str(HERE))
    import gen
    BENCH.mkdir(exist_ok=True)
    if a.bodies == "small":
        root = BENCH / f"data-{a.records}-small"
        info = gen.ensure(root, a.records, prompt_mean=60, response_mean=80)
    else:
        root = BENCH / f"data-{a.records}"
        info = gen.ensure(root, a.records)
    objs, skipped, _ = _objects(root)
    json_mb, gz_mb = info["json_bytes"] / 1e6, info["gz_bytes"] / 1e6
    print(f"data ({a.bodies} bodies): {info['records']:,} records in {len(objs)} files read by the kit (of {info['files']} + the "
          f"permission-check marker and a data/ sidecar), {json_mb:,.0f} MB JSON, {gz_mb:,.0f} MB gzip, "
          f"{json_mb * 1e6 / info['records']:,.0f} B/record; {os.cpu_count()} cores; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    results: dict = {}
    me = str(Path(__file__).resolve())

    # the decompression floor and the kit's collect, alternated, best of --repeat
    listing = BENCH / f"files-{a.records}.txt"
    listing.write_text("\0".join(str(root / "s3" / gen.BUCKET / o.key) for o in objs))
    zcat_cmd = ["bash", "-c", f"xargs -0 -P {os.cpu_count()} -n 4 zcat < {listing} > /dev/null"]
    for k in range(a.repeat):
        z = measure(zcat_cmd)
        z["seconds_full"] = z["wall"]
        print(f"  zcat floor run {k + 1}: {z['wall']:.2f} s ({z['cpu']:.1f} CPU s)", flush=True)
        if "zcat" not in results or z["wall"] < results["zcat"]["wall"]:
            results["zcat"] = z
        out = Path(tempfile.mkdtemp(prefix="bench-collect-", dir=BENCH))
        try:
            c = measure([PY, me, "--child", "collect", str(root), str(out)], env=env)
            c["seconds_full"] = c["wall"]
            print(f"  collect run {k + 1}: {c['wall']:.2f} s wall, {c['cpu']:.1f} CPU s ({c['seconds']:.2f} s in the call: "
                  f"{c['timings']}), peak tree RSS {c['peak_tree_rss_mb']:.0f} MB", flush=True)
            if "collect" not in results or c["wall"] < results["collect"]["wall"]:
                results["collect"] = c
            again = measure([PY, me, "--child", "collect", str(root), str(out)], env=env)
            again["seconds_full"] = again["seconds"]
            assert again["cached"] and again["quality"] == c["quality"], "re-run did not reuse the collection"
            results["rerun"] = again
        finally:
            shutil.rmtree(out, ignore_errors=True)
    q = results["collect"]["quality"]
    print(f"  collect accounted for every record: {q}", flush=True)

    for name in ("inflate", "inflate+orjson"):
        r = measure([PY, me, "--child", name, str(root)], env=env)
        r["seconds_full"] = r["wall"]
        results[name] = r
        print(f"  {name} floor: {r['wall']:.1f} s, {r['cpu']:.1f} CPU s", flush=True)
    if not a.skip_baselines:
        for name, extra in (("duckdb-explicit", []), ("duckdb", [])):
            r = measure([PY, me, "--child", name, str(root), *extra], env=env)
            r["seconds_full"] = r["wall"]
            results[name] = r
            print(f"  {name}: {r['wall']:.1f} s, {r['records']:,} records", flush=True)
        r = measure([PY, me, "--child", "pandas", str(root), str(a.pandas_fraction)], env=env)
        r["seconds_full"] = r["wall"] * info["records"] / max(1, r["records"])
        results["pandas"] = r
        print(f"  pandas: {r['wall']:.1f} s for {r['records']:,} records ({r['gz_bytes'] / 1e6:.0f} MB gzip), "
              f"extrapolated {r['seconds_full']:.0f} s for all", flush=True)

    demo = {} if a.skip_demo else demo_runs(lambda m: print(m, flush=True))

    n = info["records"]
    print()
    print(f"| step | seconds | CPU seconds | records/s | MB/s (JSON) | peak RSS MB (tree) | peak RSS MB (largest "
          f"process) | note |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    w = results["collect"]["workers"]
    print(_fmt_row("kit collect (list_local + collect)", results["collect"], n, json_mb,
                   f"{w} worker process(es), writes collect_logs*.parquet; best of {a.repeat}"))
    rr = results["rerun"]
    print(f"| kit collect, re-run on unchanged files | {rr['seconds']:.3f} | | | | {rr['peak_tree_rss_mb']:,.0f} | "
          f"{rr['max_process_rss_mb']:,.0f} | manifest matched, nothing read (process start not counted) |")
    print(_fmt_row(f"zcat floor (xargs -P {os.cpu_count()})", results["zcat"], n, json_mb, f"best of {a.repeat}"))
    print(_fmt_row("ISA-L inflate only, every core", results["inflate"], n, json_mb,
                   "floor of any reader built on ISA-L (lines cut, nothing parsed)"))
    print(_fmt_row("ISA-L inflate + orjson.loads, every core", results["inflate+orjson"], n, json_mb,
                   "floor of an exact orjson reader (nothing extracted or written)"))
    if not a.skip_baselines:
        print(_fmt_row("DuckDB read_json, auto-detect", results["duckdb"], n, json_mb, ""))
        print(_fmt_row("DuckDB read_json, explicit columns", results["duckdb-explicit"], n, json_mb, "reference"))
        pr = results["pandas"]
        print(_fmt_row("pandas.read_json(lines=True)", pr, n, json_mb,
                       f"extrapolated from {pr['records']:,} records ({pr['wall']:.1f} s); RSS is the subset's"))
    for jobs, d in demo.items():
        print(f"| demo `bedrock-tracker run --jobs {jobs}` | {d['wall']:.1f} | | | | | | {d['complete']}/{d['chains']} "
              f"chains complete; kernel start {d['kernel_seconds']:.1f} s of {d['chain_seconds']:.1f} chain-s "
              f"({100 * d['kernel_seconds'] / max(d['chain_seconds'], 1e-9):.0f}%); 01_collect "
              f"{d['collect_seconds']:.1f} s; the same command again (a no-op) {d['noop_wall']:.2f} s |")
        if not d["ok"]:
            print(f"  demo --jobs {jobs} failed: {d['tail']}")
    bad_root = BENCH / "data-malformed"
    bad = measure([PY, me, "--child", "malformed", str(bad_root), str(Path(tempfile.mkdtemp(prefix="bench-bad-", dir=BENCH)))],
                  env=env)
    br = bad
    print(f"| kit collect, one file of {br['records']:,} malformed lines | {bad['wall']:.2f} | {bad['cpu']:.1f} | "
          f"{br['records'] / bad['wall']:,.0f} | | {bad['peak_tree_rss_mb']:,.0f} | {bad['max_process_rss_mb']:,.0f} | "
          f"{br['malformed']:,} counted as malformed, {br['quarantine_rows']} examples kept |")
    c = results["collect"]["seconds_full"]
    ratio = c / results["zcat"]["seconds_full"]
    print(f"\nCPU seconds (less sensitive to other load on the machine): collect {results['collect']['cpu']:.1f}, "
          f"zcat {results['zcat']['cpu']:.1f} (collect/zcat {results['collect']['cpu'] / results['zcat']['cpu']:.2f})"
          + (f", DuckDB auto {results['duckdb']['cpu']:.1f} (DuckDB/collect "
             f"{results['duckdb']['cpu'] / results['collect']['cpu']:.2f})" if "duckdb" in results else "")
          + f"; peak PSS of the collect tree {results['collect']['peak_tree_pss_mb']:.0f} MB")
    duck = results["duckdb"]["seconds_full"] / c if "duckdb" in results else float("nan")
    pand = results["pandas"]["seconds_full"] / c if "pandas" in results else float("nan")
    print()
    print(f"collect/zcat_floor={ratio:.2f} duckdb_auto/collect={duck:.1f} pandas/collect={pand:.1f} "
          f"collect_peak_rss_mb={results['collect']['peak_tree_rss_mb']:.0f} "
          f"malformed1m_s={bad['wall']:.2f} malformed1m_peak_rss_mb={bad['peak_tree_rss_mb']:.0f}"
          + (f" noop_run_s={demo[2]['noop_wall']:.2f}" if 2 in demo else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

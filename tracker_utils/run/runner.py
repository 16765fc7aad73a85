"""Run the four notebooks for every date and region with papermill, export the reports, write the index.

One long-lived runner process (or one per ``--jobs`` worker) executes every notebook; papermill and nbconvert are
imported once. A date and region is complete only when its ``summary.json`` exists: it is written last and
atomically, after the report HTML, so a killed run leaves nothing that looks complete and the next run redoes
exactly what is missing.
"""
from __future__ import annotations

import datetime as dt
import re
import logging
import multiprocessing
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from filelock import FileLock, Timeout

from tracker_utils import handoff
from tracker_utils.config import (SNAPSHOT_SUFFIX, ParamError, Params, central_buckets, check_chains, load_params,
                                  member_params, resolve_path, run_dir, write_snapshot)
from tracker_utils.io import read_json, write_json
from tracker_utils.run.notebook import (EXECUTION_TIMEOUT, NOTEBOOK_DIR, NOTEBOOKS, ROLLUP_NOTEBOOK, ChainKernel,
                                        check_notebooks, log_cells, ensure_kernel, execute, export_html,
                                        prewarm, reuse_mode, shared_kernel)
from tracker_utils.text import count

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    date: str
    region: str
    status: str                  # complete | skipped | failed
    seconds: float = 0.0
    failed_notebook: str = ""
    failed_cell: int | None = None
    error: str = ""
    kernel_seconds: float = 0.0
    notebook_seconds: dict = field(default_factory=dict)
    account: str = ""            # the member account of an organization's run ("" for a run of one account)


def run_one(params: str | Params, overrides: dict, date: str, region: str, force: bool = False) -> Outcome:
    """One date-region chain. ``params`` is a validated Params (from :func:`run`) or a params file to validate.

    A lock per chain (``<date>/<region>/.lock``) keeps two runs from working on it at once: the second waits (one
    line says so), then skips it if the first completed it. A complete chain is redone when other days' collections
    handed it records its report has not counted (it is *stale*), or with ``force``."""
    p = params if isinstance(params, Params) else load_params(params or None, overrides)
    rd = run_dir(p.output_dir, date, region)
    rd.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(rd / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info(f"{date} {region}: another run is working on it; waiting for it to finish")
        lock.acquire()
    try:
        return _run_locked(p, date, region, rd, force)
    finally:
        lock.release()


def _run_locked(p: Params, date: str, region: str, rd, force: bool) -> Outcome:
    import papermill as pm
    if (rd / "summary.json").exists() and not force:
        if not handoff.pending(resolve_path(p.output_dir), region, date, rd):
            return Outcome(date, region, "skipped")
        logger.info(f"{date} {region}: stale (records of this day were found by other days' collections); redoing")
    if (rd / "summary.json").exists():
        (rd / "summary.json").unlink()
    kernel = ensure_kernel()
    out = Outcome(date, region, "complete")
    t0 = time.perf_counter()
    # the kernels load the values the runner validated, frozen: no kernel validates the params file again
    pf = write_snapshot(p, rd / "data" / f"params{SNAPSHOT_SUFFIX}")
    # one kernel, reset before each notebook, for the chain (or every chain of this process; notebook.REUSE_ENV)
    mode = reuse_mode()
    chain = shared_kernel(kernel, NOTEBOOK_DIR) if mode == "process" else ChainKernel(kernel, NOTEBOOK_DIR)
    started = chain.start_seconds
    for nb in NOTEBOOKS:
        t1 = time.perf_counter()
        target = rd / f"{nb}.ipynb"
        try:
            res = (chain.execute if mode != "none" else execute)(
                str(NOTEBOOK_DIR / f"{nb}.ipynb"), str(target),
                parameters={"date": date, "region": region, "params_file": str(pf), "output_dir": str(resolve_path(p.output_dir)),
                            "interactive": False},
                kernel_name=kernel, cwd=str(NOTEBOOK_DIR), progress_bar=False, log_output=log_cells(),
                execution_timeout=EXECUTION_TIMEOUT, report_mode=False)
            cells = res.get("cells", [])
            if cells:
                first = cells[0].get("metadata", {}).get("papermill", {})
                try:
                    st = dt.datetime.fromisoformat(res["metadata"]["papermill"]["start_time"])
                    c0 = dt.datetime.fromisoformat(first["start_time"])
                    out.kernel_seconds += max(0.0, (c0 - st).total_seconds())
                except Exception:  # noqa: BLE001 - timing is informative only
                    pass
        except pm.PapermillExecutionError as e:
            out.status, out.failed_notebook = "failed", nb
            out.failed_cell = e.exec_count
            out.error = f"{e.ename}: {e.evalue}".strip()[:500]
            break
        except Exception as e:  # noqa: BLE001 - a dead kernel, a timeout: record and go on with other runs
            out.status, out.failed_notebook = "failed", nb
            out.error = f"{type(e).__name__}: {e}"[:500]
            break
        finally:
            out.notebook_seconds[nb] = round(time.perf_counter() - t1, 2)
    if mode != "process":
        chain.close()
    out.kernel_seconds = round(out.kernel_seconds + chain.start_seconds - started, 2)
    if out.status == "complete":
        export_html(rd / "04_report.ipynb", rd / "report.html", hide_code=True)
        from tracker_utils.report.redact import shared_summary
        summary = shared_summary(p, rd, read_json(rd / "data" / "summary.json"))   # redacted with redact: shared
        write_json(rd / "summary.json", summary)        # last, atomically: its presence means complete
    out.seconds = round(time.perf_counter() - t0, 2)
    write_json(rd / "run.json", {**out.__dict__, "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    return out


def _worker(args):
    params_file, overrides, date, region, force = args
    try:
        return run_one(params_file, overrides, date, region, force)
    except Exception as e:  # noqa: BLE001
        return Outcome(date, region, "failed", error=f"{type(e).__name__}: {e}\n{traceback.format_exc()[-800:]}")


def _fresh(p: Params, date: str, region: str) -> bool:
    """Complete, and no other day handed it records it has not counted."""
    rd = run_dir(p.output_dir, date, region)
    return (rd / "summary.json").exists() and not handoff.pending(resolve_path(p.output_dir), region, date, rd)


def _chains(p: Params, pairs: list[tuple[str, str]], force: bool, jobs: int, log) -> list[Outcome]:
    """Every date-region chain (complete ones are skipped at once unless ``force``), in parallel with ``jobs``."""
    outcomes: list[Outcome] = []
    todo = [(d, r) for d, r in pairs if force or not _fresh(p, d, r)]
    skipped = [Outcome(d, r, "skipped") for d, r in pairs if (d, r) not in set(todo)]
    if not todo:                    # a no-op run: no kernel, no papermill import
        return skipped
    check_notebooks()
    ensure_kernel()
    args = [(p, {}, d, r, force) for d, r in todo]     # validated once, here
    n = len(pairs)
    outcomes.extend(skipped)
    if jobs > 1:
        # spawn, not fork: the parent may hold threads (an emulator in tests, boto3 pools), and a forked child
        # that inherits a half-held lock can die before its kernel starts
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as ex:
            futs = {ex.submit(_worker, a): a for a in args}
            # while the workers run the chains, this process readies the kernel its roll-ups will run on
            warm = prewarm(ensure_kernel(), NOTEBOOK_DIR) if reuse_mode() == "process" else None
            for f in as_completed(futs):
                outcomes.append(f.result())
                _log_outcome(log, len(outcomes), n, outcomes[-1])
        if warm is not None:
            warm.join()
    else:
        if reuse_mode() == "process":       # the kernel starts on the other core while this process imports papermill
            prewarm(ensure_kernel(), NOTEBOOK_DIR)
        for a in args:
            outcomes.append(_worker(a))
            _log_outcome(log, len(outcomes), n, outcomes[-1])
    order = {pr: i for i, pr in enumerate(pairs)}
    return sorted(outcomes, key=lambda o: order.get((o.date, o.region), 0))


def run(params_file: str = "", overrides: dict | None = None, force: bool = False, jobs: int | None = None,
        log=None, yes: bool = False) -> list[Outcome]:
    """Validate everything up front, run every date and region, rebuild the periods the run touched (the calendar
    months of its dates, month to date) and the index of every report. Returns the outcomes.
    ``jobs`` None: the params' ``jobs``. A run of more than ``max_chains`` chains is refused unless ``yes``."""
    log = log or logger.info
    overrides = dict(overrides or {})
    if jobs is not None:
        overrides["jobs"] = jobs
    p = load_params(params_file or None, overrides)     # raises ParamError before any work
    check_chains(p, yes)
    if not p.accounts:
        return _run_account(p, force, log)
    # an organization: each member account's chains, periods and index under <output_dir>/<id>/, then its views
    from tracker_utils.report.organization import write_organization
    members = member_params(p)
    log(f"bedrock-tracker: organization of {len(members)} account(s): {', '.join(m.account for m in members)}")
    for bucket, ids in central_buckets(p).items():
        log(f"central bucket {bucket}: accounts {', '.join(ids)} (one listing per account and region)")
    if p.engine == "athena":      # one table per bucket; a table named over two buckets is refused before any work
        from tracker_utils.collect.athena import org_tables
        try:
            for t in org_tables(p):
                log(f"athena table {t['params'].athena_database}.{t['params'].athena_table}: accounts "
                    f"{', '.join(t['accounts'])} (each query filters on its own account)")
        except ValueError as e:
            raise ParamError(str(e)) from None
    outcomes, alerts = [], []
    for m in members:
        res = _run_account(m, force, lambda s, a=m.account: log(f"{a} {s}"))
        for o in res:
            o.account = m.account
        outcomes += res
        alerts += [{**a, "account": m.account} for a in res.alerts]
    org = write_organization(p, members, [o.__dict__ for o in outcomes])
    for line in org["statements"]:
        log(line)
    log(str(org["index"]))
    return RunResult(outcomes, alerts)


def _run_account(p: Params, force: bool, log) -> "RunResult":
    """The chains of one account (every date and region), its periods' roll-ups, its index and budgets."""
    jobs = p.jobs
    pairs = [(d, r) for d in p.dates for r in p.regions]
    log(f"bedrock-tracker: {len(pairs)} report(s): {p.start}..{p.end} x {', '.join(p.regions)} (source {p.source}, jobs {jobs})")
    t0 = time.perf_counter()
    outcomes = _redo_stale(p, _chains(p, pairs, force, jobs, log), log)
    from tracker_utils.report import catalog
    from tracker_utils.report.index import stale_elsewhere, write_index
    out = resolve_path(p.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    periods = [catalog.month_period(out, m, p.regions, upto=max(d for d in p.dates if d[:7] == m), with_catalog=True)
               for m in catalog.periods_of(p.dates)]
    with FileLock(str(out / ".rollup.lock")):    # one roll-up and index at a time, whatever runs share the folder
        rolls = {per.label: run_rollup(p, per, log=log) for per in periods}
        index = write_index(p, outcomes, rolls)
        alerts = _alerts(p, periods, log)
    failed = [o for o in outcomes if o.status == "failed"]
    log(f"done in {time.perf_counter() - t0:.1f}s: {sum(o.status == 'complete' for o in outcomes)} complete, "
        f"{sum(o.status == 'skipped' for o in outcomes)} already complete, {len(failed)} failed")
    for o in failed:
        where = f"{o.failed_notebook}.ipynb" + (f" cell {o.failed_cell}" if o.failed_cell else "")
        log(f"FAILED {o.date} {o.region}: {where}: {o.error.splitlines()[0] if o.error else ''}")
    for d, r, n in stale_elsewhere(p, [{"date": o.date, "region": o.region} for o in outcomes]):
        log(f"STALE {d} {r}: {count(n, 'record')} of that day arrived after its report; run it again to count them")
    for name, roll in rolls.items():
        if roll.get("status") == "failed":
            log(f"FAILED roll-up of {name} (05_rollup.ipynb): {roll.get('error', '')}")
            outcomes.append(Outcome(name, "all regions", "failed", failed_notebook="05_rollup",
                                    error=roll.get("error", "")))
    log(str(index))
    return RunResult(outcomes, alerts)


class RunResult(list):
    """The outcomes of a run (a list, as before), with the budgets over or at risk of the months it touched."""

    def __init__(self, outcomes: list[Outcome], alerts: list[dict]):
        super().__init__(outcomes)
        self.alerts = alerts

    @property
    def over_budget(self) -> bool:
        return any(a["status"] == "over" for a in self.alerts)


def _alerts(p: Params, periods, log) -> list[dict]:
    """alerts.json of every month the run touched; the budgets at risk or over, said in one line each."""
    from tracker_utils.report import alerts, catalog
    found = []
    complete = [e for e in catalog.scan(p.output_dir) if e.status == "complete"]      # read once for every month
    for per in periods:
        if not per.is_month:
            continue
        ss = [e.summary for e in complete if e.date[:7] == per.name and e.region in per.regions]
        doc = alerts.write_alerts(p, per.name, ss, per.folder(p.output_dir))
        for r in doc["over"] + doc["at_risk"]:
            found.append(r)
            log(f"BUDGET {r['status'].upper().replace('_', ' ')} {per.name} {r['scope']} {r['name'] or 'total'}: "
                f"${r['mtd_usd']} to date, forecast ${r['forecast_usd']} for a budget of ${r['budget_usd']}")
    return found


def _redo_stale(p: Params, outcomes: list[Outcome], log) -> list[Outcome]:
    """Chains of this run that other chains of it handed records to, after they were done: redone once, so that
    every record found in the run is counted in its own day's report."""
    out = resolve_path(p.output_dir)
    pending = {(o.date, o.region): handoff.pending(out, o.region, o.date, run_dir(out, o.date, o.region))
               for o in outcomes if o.status in ("complete", "skipped")}
    stale = [o for o in outcomes if pending.get((o.date, o.region))]
    for i, o in enumerate(stale, 1):
        n = pending[(o.date, o.region)]
        log(f"[redo {i}/{len(stale)}] {o.date} {o.region}: {count(n, 'record')} of this day were found by other days")
        again = _worker((p, {}, o.date, o.region, True))
        outcomes = [again if (x.date, x.region) == (o.date, o.region) else x for x in outcomes]
        _log_outcome(log, i, len(stale), again)
    return outcomes


def _log_outcome(log, i, n, o: Outcome) -> None:
    extra = f" ({o.seconds:.1f}s)" if o.status == "complete" else ""
    if o.status == "failed":
        extra = f": {o.failed_notebook or 'setup'} failed: {o.error.splitlines()[0] if o.error else ''}"
    log(f"[{i}/{n}] {o.date} {o.region} {o.status}{extra}")


def rollup(params_file: str = "", overrides: dict | None = None, period: str = "", log=None) -> dict:
    """``bedrock-tracker rollup``: the roll-up and chargeback of one period from the catalog, whichever runs made
    its reports. ``period`` is a month (``2026-11``: month to date); otherwise the params' start and end (a whole
    calendar month is named after it, any other span ``<start>_<end>``). Rewrites the index."""
    log = log or logger.info
    p = load_params(params_file or None, dict(overrides or {}))
    if not p.accounts:
        return _rollup_account(p, period, log)
    # an organization: each member's roll-up, then the organization's views over the same days
    import dataclasses
    from tracker_utils.report.organization import write_organization
    res = {m.account: _rollup_account(m, period, lambda s, a=m.account: log(f"{a} {s}")) for m in member_params(p)}
    days = {"start": min(r["start"] for r in res.values()), "end": max(r["end"] for r in res.values())}
    org = dataclasses.replace(p, **days)
    write_organization(org, member_params(org))
    status = "failed" if any(r["status"] == "failed" for r in res.values()) else "complete"
    return {"status": status, "accounts": res, "error": "; ".join(f"{a}: {r['error']}" for a, r in res.items()
                                                                   if r.get("error"))}


def _rollup_account(p: Params, period: str, log) -> dict:
    """One account's roll-up of the period (see :func:`rollup`)."""
    from tracker_utils.report import catalog
    from tracker_utils.report.index import write_index
    out = resolve_path(p.output_dir)
    if period:
        if not re.fullmatch(r"\d{4}-\d{2}", period):
            raise ParamError(f"--period: {period!r} is not a month (YYYY-MM); use --start and --end for other spans")
        per = catalog.month_period(out, period, p.regions)
    else:
        per = catalog.span_period(p.start, p.end, p.regions)
    with FileLock(str(out / ".rollup.lock")):
        res = run_rollup(p, per, log=log)
        write_index(p, [], {per.label: res})
    log(f"roll-up {per.label} ({per.start}..{per.end}, {', '.join(per.regions)}): {res['status']}"
        + (" (unchanged inputs: kept)" if res.get("cached") else "") + f": {per.folder(out) / 'rollup.html'}")
    return {**res, "start": per.start, "end": per.end}


def _rollup_inputs(p: Params, period) -> dict:
    """What a period's roll-up is made from: when none of it changed, the roll-up is not made again."""
    files = []
    for d in period.dates:
        for r in period.regions:
            f = run_dir(p.output_dir, d, r) / "summary.json"
            if f.exists():
                st = f.stat()
                files.append([f"{d}/{r}", st.st_size, st.st_mtime_ns])
    extra = [resolve_path(x) for x in (p.apps_file, getattr(p, "budgets_file", "") or "") if x]
    return {"period": [period.start, period.end, list(period.regions), period.label], "summaries": files,
            "params": {k: v for k, v in p.to_dict().items() if k not in ("start", "end", "regions", "jobs")},
            "files": [[str(x), x.stat().st_mtime_ns] for x in extra if x.exists()],
            "notebook": (NOTEBOOK_DIR / f"{ROLLUP_NOTEBOOK}.ipynb").stat().st_mtime_ns}


def run_rollup(p: Params, period, log=None) -> dict:
    """Execute ``notebooks/05_rollup.ipynb`` for one period into ``outputs/periods/<name>/rollup.ipynb`` and
    export ``rollup.html`` (code hidden), with the chargeback files beside it. Skipped when its inputs (the
    period's summaries, the params, apps and budgets files) are what the last roll-up was made from. Never raises:
    returns {"status": "complete" | "failed", "error", "seconds", "cached"}."""
    import dataclasses
    folder = period.folder(p.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    inputs = _rollup_inputs(p, period)
    done = folder / "rollup.json"
    if done.exists() and (folder / "rollup.html").exists():
        try:
            prev = read_json(done)
            if prev.get("status") == "complete" and prev.get("inputs") == inputs:
                return {**prev, "cached": True}
        except (OSError, ValueError):
            pass
    pp = dataclasses.replace(p, start=period.start, end=period.end, regions=list(period.regions))
    pf = write_snapshot(pp, folder / f"rollup_params{SNAPSHOT_SUFFIX}")
    log = log or logger.warning
    res = {"status": "complete", "error": "", "seconds": 0.0}
    try:
        # on this process's kernel when chains ran here (jobs 1): started and imported already
        run_nb = shared_kernel(ensure_kernel(), NOTEBOOK_DIR).execute if reuse_mode() == "process" else execute
        run_nb(str(NOTEBOOK_DIR / f"{ROLLUP_NOTEBOOK}.ipynb"), str(folder / "rollup.ipynb"),
                parameters={"params_file": str(pf), "output_dir": str(resolve_path(p.output_dir)),
                            "period": period.label, "interactive": False},
                kernel_name=ensure_kernel(), cwd=str(NOTEBOOK_DIR), progress_bar=False,
                log_output=log_cells(), execution_timeout=EXECUTION_TIMEOUT)
        export_html(folder / "rollup.ipynb", folder / "rollup.html", hide_code=True)
    except Exception as e:  # noqa: BLE001 - a failed roll-up must not lose the date-region reports
        ename = getattr(e, "ename", type(e).__name__)
        evalue = getattr(e, "evalue", str(e))
        res = {"status": "failed", "error": f"{ename}: {evalue}".strip()[:500]}
        (folder / "rollup.html").unlink(missing_ok=True)     # never leave a stale roll-up that looks current
        log(f"roll-up of {period.label} FAILED: {res['error'].splitlines()[0] if res['error'] else ''} "
            f"(see {folder / 'rollup.ipynb'})")
    res["seconds"] = round(time.perf_counter() - t0, 2)
    write_json(done, {**res, "inputs": inputs,
                      "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    return {**res, "cached": False}

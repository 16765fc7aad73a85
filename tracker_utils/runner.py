"""Run the four notebooks for every date and region with papermill, export the reports, write the index.

One long-lived runner process (or one per ``--jobs`` worker) executes every notebook; papermill and nbconvert are
imported once. A date and region is complete only when its ``summary.json`` exists: it is written last and
atomically, after the report HTML, so a killed run leaves nothing that looks complete and the next run redoes
exactly what is missing.
"""
from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .config import REPO, Params, ParamError, load_params, run_dir, resolve_path
from .io import read_json, write_json

NOTEBOOKS = ["01_collect", "02_price", "03_reconcile", "04_report"]
NOTEBOOK_DIR = REPO / "notebooks"
KERNEL = "bedrock-tracker"
PASSED = {"date", "region", "params_file", "output_dir", "interactive"}
EXECUTION_TIMEOUT = 1800


def ensure_kernel() -> str:
    """A kernel named ``bedrock-tracker`` that runs this interpreter; registered under sys.prefix if missing."""
    from jupyter_client.kernelspec import KernelSpecManager
    ksm = KernelSpecManager()
    specs = ksm.find_kernel_specs()
    if KERNEL in specs:
        argv = json.loads((Path(specs[KERNEL]) / "kernel.json").read_text()).get("argv", [])
        if argv and Path(argv[0]).exists():
            return KERNEL
    from ipykernel.kernelspec import install
    install(kernel_name=KERNEL, display_name="Bedrock Usage Tracker (Python)", prefix=sys.prefix)
    return KERNEL


def check_notebooks() -> None:
    """Every notebook declares the parameters the runner passes (papermill only warns on unknown names)."""
    import papermill as pm
    for nb in NOTEBOOKS:
        declared = set(pm.inspect_notebook(str(NOTEBOOK_DIR / f"{nb}.ipynb")))
        missing = PASSED - declared
        if missing:
            raise ParamError(f"notebook {nb}.ipynb does not declare parameter(s) {sorted(missing)}")


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


def _kernel_start_failure(e: Exception) -> bool:
    """A kernel that died while starting (e.g. a port taken between jupyter_client choosing it and the kernel
    binding it, when kernels start side by side): nothing of the notebook ran, so running it again is safe."""
    from nbclient.exceptions import DeadKernelError
    text = str(e)
    return isinstance(e, DeadKernelError) and "kernel_info" in text or "Kernel died before replying to kernel_info" in text \
        or "Address already in use" in text or "Kernel didn't respond" in text


def execute(src: str, dst: str, attempts: int = 3, **kw):
    """papermill.execute_notebook, started again (up to ``attempts`` times) only when the kernel failed to start.
    A failing cell is never retried: it raises PapermillExecutionError at once."""
    import papermill as pm
    for attempt in range(1, attempts + 1):
        try:
            return pm.execute_notebook(src, dst, **kw)
        except pm.PapermillExecutionError:
            raise
        except Exception as e:  # noqa: BLE001 - only kernel start failures are retried
            if attempt == attempts or not _kernel_start_failure(e):
                raise
            time.sleep(0.5 * attempt)


def export_html(ipynb: Path, html: Path, hide_code: bool = True) -> Path:
    import nbformat
    from nbconvert import HTMLExporter
    nb = nbformat.read(str(ipynb), as_version=4)
    exp = HTMLExporter(exclude_input=hide_code, exclude_input_prompt=hide_code, exclude_output_prompt=hide_code,
                       extra_template_basedirs=[str(Path(__file__).parent / "nbtemplates")], template_name="offline")
    body, _ = exp.from_notebook_node(nb, resources={"metadata": {"name": ipynb.stem}})
    tmp = html.with_suffix(".html.tmp")
    tmp.write_text(body)
    os.replace(tmp, html)
    return html


def run_one(params_file: str, overrides: dict, date: str, region: str, force: bool = False,
            log=print) -> Outcome:
    import papermill as pm
    p = load_params(params_file or None, overrides)
    rd = run_dir(p.output_dir, date, region)
    if (rd / "summary.json").exists() and not force:
        return Outcome(date, region, "skipped")
    if (rd / "summary.json").exists():
        (rd / "summary.json").unlink()
    rd.mkdir(parents=True, exist_ok=True)
    kernel = ensure_kernel()
    out = Outcome(date, region, "complete")
    t0 = time.perf_counter()
    # a params file for the kernels: the same validated values the runner resolved
    pf = rd / "data" / "params.yaml"
    pf.parent.mkdir(parents=True, exist_ok=True)
    import yaml
    pf.write_text(yaml.safe_dump(p.to_dict(), sort_keys=True))
    for nb in NOTEBOOKS:
        t1 = time.perf_counter()
        target = rd / f"{nb}.ipynb"
        try:
            res = execute(
                str(NOTEBOOK_DIR / f"{nb}.ipynb"), str(target),
                parameters={"date": date, "region": region, "params_file": str(pf), "output_dir": str(resolve_path(p.output_dir)),
                            "interactive": False},
                kernel_name=kernel, cwd=str(NOTEBOOK_DIR), progress_bar=False, log_output=False,
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
    if out.status == "complete":
        export_html(rd / "04_report.ipynb", rd / "report.html", hide_code=True)
        summary = read_json(rd / "data" / "summary.json")
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


def run(params_file: str = "", overrides: dict | None = None, force: bool = False, jobs: int = 1,
        log=print) -> list[Outcome]:
    """Validate everything up front, run every date and region, write the index. Returns the outcomes."""
    overrides = dict(overrides or {})
    p = load_params(params_file or None, overrides)     # raises ParamError before any work
    check_notebooks()
    ensure_kernel()
    pairs = [(d, r) for d in p.dates for r in p.regions]
    log(f"bedrock-tracker: {len(pairs)} report(s): {p.start}..{p.end} x {', '.join(p.regions)} (source {p.source}, jobs {jobs})")
    outcomes: list[Outcome] = []
    t0 = time.perf_counter()
    args = [(params_file, overrides, d, r, force) for d, r in pairs]
    if jobs > 1:
        # spawn, not fork: the parent may hold threads (an emulator in tests, boto3 pools), and a forked child
        # that inherits a half-held lock can die before its kernel starts
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as ex:
            futs = {ex.submit(_worker, a): a for a in args}
            for i, f in enumerate(as_completed(futs), 1):
                o = f.result()
                outcomes.append(o)
                _log_outcome(log, i, len(pairs), o)
    else:
        for i, a in enumerate(args, 1):
            o = _worker(a)
            outcomes.append(o)
            _log_outcome(log, i, len(pairs), o)
    from . import rollup
    roll = rollup.run_rollup(p, log=log)           # 05_rollup -> outputs/rollup.html + chargeback.csv/json; never raises
    index = rollup.write_index(p, outcomes, roll)
    failed = [o for o in outcomes if o.status == "failed"]
    log(f"done in {time.perf_counter() - t0:.1f}s: {sum(o.status == 'complete' for o in outcomes)} complete, "
        f"{sum(o.status == 'skipped' for o in outcomes)} already complete, {len(failed)} failed")
    for o in failed:
        where = f"{o.failed_notebook}.ipynb" + (f" cell {o.failed_cell}" if o.failed_cell else "")
        log(f"FAILED {o.date} {o.region}: {where}: {o.error.splitlines()[0] if o.error else ''}")
    if roll.get("status") == "failed":
        log(f"FAILED roll-up (05_rollup.ipynb): {roll.get('error', '')}")
        outcomes.append(Outcome("all dates", "all regions", "failed", failed_notebook="05_rollup",
                                error=roll.get("error", "")))
    log(str(index))
    return outcomes


def _log_outcome(log, i, n, o: Outcome) -> None:
    extra = f" ({o.seconds:.1f}s)" if o.status == "complete" else ""
    if o.status == "failed":
        extra = f": {o.failed_notebook or 'setup'} failed: {o.error.splitlines()[0] if o.error else ''}"
    log(f"[{i}/{n}] {o.date} {o.region} {o.status}{extra}")

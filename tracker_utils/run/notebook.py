"""Executing one notebook: the kit's kernel, papermill with retries on kernel start-up only, and the HTML export with
the code hidden. Used by the runner for every date-region chain and for the run's roll-up."""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from tracker_utils.config import REPO, ParamError

log = logging.getLogger(__name__)

NOTEBOOKS = ["01_collect", "02_price", "03_reconcile", "04_report"]
ROLLUP_NOTEBOOK = "05_rollup"
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


def log_cells() -> bool:
    """papermill's ``log_output``: the cells' output goes to the ``papermill`` logger when someone listens to it
    (``bedrock-tracker -v``); otherwise it stays in the executed notebook only."""
    return logging.getLogger("papermill").isEnabledFor(logging.INFO) and bool(logging.getLogger("papermill").handlers)


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


# --- one kernel for the four notebooks of a chain ------------------------------------------------------------------
# Starting a kernel and importing pandas, pyarrow, matplotlib and tracker_utils in it cost about as much as a
# notebook's own work at demo sizes; a chain's notebooks therefore share one kernel, reset before each notebook
# (a new IPython session: empty namespace, execution count 1, figures closed, warning registries cleared, the
# working directory restored), so each notebook sees what a fresh kernel would show it, but modules stay imported.
RESET_CODE = """\
def _tracker_reset(cwd):
    import os, sys, warnings
    ip = get_ipython()
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
    ip.reset(new_session=True)
    ip.execution_count = 1
    warnings.onceregistry.clear()
    try:
        warnings._filters_mutated()     # invalidates every module's __warningregistry__: warnings show again
    except AttributeError:
        pass
    os.chdir(cwd)
_tracker_reset({cwd!r})
"""
ENGINE = "tracker-shared-kernel"          # see tracker_utils.run.engine


def _register_engine() -> None:
    """Register the shared-kernel papermill engine (:mod:`tracker_utils.run.engine`)."""
    from tracker_utils.run import engine
    engine.register()


class ChainKernel:
    """One kernel for a chain's notebooks: ``with ChainKernel(name, cwd) as k: k.execute(src, dst, ...)``.

    Started on first use, again (up to ``attempts`` times) only when it failed to start; a notebook is never
    retried. A kernel that died (or a notebook that failed) is not reused: the next notebook gets a new kernel.
    ``start_seconds`` adds up the time spent starting kernels."""

    def __init__(self, kernel_name: str, cwd: str, attempts: int = 3, startup_timeout: int = 60):
        self.kernel_name, self.cwd, self.attempts, self.startup_timeout = kernel_name, str(cwd), attempts, startup_timeout
        self.km = None
        self.kc = None      # blocking client: the resets
        self.akc = None     # asynchronous client that nbclient drives, made by the first notebook, then reused
        self.start_seconds = 0.0
        self.warming = None  # a prewarm thread (see prewarm), joined before the kernel is used

    def __enter__(self) -> "ChainKernel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        from jupyter_client.manager import KernelManager
        t0 = time.perf_counter()
        try:
            for attempt in range(1, self.attempts + 1):
                km = KernelManager(kernel_name=self.kernel_name)
                km.client_class = "jupyter_client.asynchronous.AsyncKernelClient"    # what nbclient drives
                kc = None
                try:
                    km.start_kernel(extra_arguments=["--HistoryManager.hist_file=:memory:"], cwd=self.cwd)
                    from jupyter_client.blocking import BlockingKernelClient
                    # parent=km: the client asks the manager whether the kernel process lives. Without it, it
                    # judges by the heartbeat, which a busy machine misses for a second, and wait_for_ready then
                    # fails a healthy kernel with "Kernel died before replying to kernel_info".
                    kc = BlockingKernelClient(parent=km)
                    kc.load_connection_info(km.get_connection_info())
                    kc.start_channels()
                    kc.wait_for_ready(timeout=self.startup_timeout)
                    self.km, self.kc = km, kc
                    return
                except Exception as e:  # noqa: BLE001 - only start failures come here; retried, then raised
                    _quiet_shutdown(km, kc)
                    if attempt == self.attempts or not _kernel_start_failure(e):
                        raise
                    time.sleep(0.5 * attempt)
        finally:
            self.start_seconds += time.perf_counter() - t0

    def _reset(self) -> None:
        reply = self.kc.execute_interactive(RESET_CODE.format(cwd=self.cwd), silent=True, store_history=False,
                                            timeout=self.startup_timeout, output_hook=lambda msg: None)
        if reply["content"].get("status") != "ok":
            raise RuntimeError(f"could not reset the kernel: {reply['content'].get('ename')}: "
                               f"{reply['content'].get('evalue')}")

    def execute(self, src: str, dst: str, **kw):
        """papermill.execute_notebook on this chain's kernel (started, or reset, first)."""
        import papermill as pm
        _register_engine()
        if self.warming is not None:
            self.warming.join()
            self.warming = None
        if self.km is not None and not self.km.is_alive():
            self.close()
        if self.km is None:
            self._start()
        else:
            self._reset()
        kw.pop("kernel_name", None)
        try:
            return pm.execute_notebook(src, dst, kernel_name=self.kernel_name, engine_name=ENGINE, km=self.km,
                                       chain=self, **kw)
        except BaseException:
            self.close()        # a failed notebook's kernel is not handed to anything else
            raise

    def close(self) -> None:
        km, kc, akc, self.km, self.kc, self.akc = self.km, self.kc, self.akc, None, None, None
        if akc is not None:
            try:
                akc.stop_channels()
            except Exception:  # noqa: BLE001
                pass
        _quiet_shutdown(km, kc)


# Which notebooks share a kernel: "process" (default): every chain a runner process (or --jobs worker) executes,
# reset before each notebook, and a new kernel whenever the environment changed (a kernel sees the environment it
# was started with); "chain": the four notebooks of one chain; "none": a fresh kernel for every notebook.
REUSE_ENV = "BEDROCK_TRACKER_KERNEL_REUSE"
_SHARED: "ChainKernel | None" = None


def reuse_mode() -> str:
    mode = os.environ.get(REUSE_ENV, "process").strip().lower() or "process"
    return mode if mode in ("process", "chain", "none") else "process"


def shared_kernel(kernel_name: str, cwd) -> ChainKernel:
    """This process's kernel for the chains it runs (see :data:`REUSE_ENV`); shut down when the process exits."""
    global _SHARED
    key = (kernel_name, str(cwd), tuple(sorted(os.environ.items())))
    if _SHARED is not None and _SHARED.key != key:
        _SHARED.close()
        _SHARED = None
    if _SHARED is None:
        import atexit
        from multiprocessing import util as mp_util
        _SHARED = ChainKernel(kernel_name, cwd)
        _SHARED.key = key
        atexit.register(_SHARED.close)
        mp_util.Finalize(_SHARED, _SHARED.close, exitpriority=10)    # a pool worker exits without atexit
    return _SHARED


# What the notebooks import, loaded in a kernel before its first notebook (modules stay across resets).
PRELOAD = ("import pandas, pyarrow, matplotlib.pyplot\n"
           "import tracker_utils.collect, tracker_utils.price, tracker_utils.reconcile\n"
           "import tracker_utils.report.daily, tracker_utils.report.rollup, tracker_utils.report.stages")


def prewarm(kernel_name: str, cwd):
    """In a background thread: start this process's shared kernel and import :data:`PRELOAD` in it, import
    papermill and build the HTML exporter, so that the first notebook this process runs afterwards (a run's
    roll-up, while the ``--jobs`` workers run the chains; or the first chain, while this process imports the rest)
    starts warm. Returns the thread; the kernel's ``execute`` joins it first. A failure is logged and left to the notebook's own start, which raises it."""
    import threading
    chain = shared_kernel(kernel_name, cwd)

    def work():
        try:
            # the kernel first: it boots and imports on the other core while this process imports papermill and
            # builds the exporter (with --jobs 1 the runner's own thread is importing papermill at the same time,
            # and an import waits for the other's lock: started after it, the kernel began a second too late)
            if chain.km is None:
                chain._start()
            msg_id = chain.kc.execute(PRELOAD, silent=True, store_history=False)
            import papermill  # noqa: F401
            _register_engine()
            _exporter(True)
            reply = _reply(chain.kc, msg_id, chain.startup_timeout)
            if reply["content"].get("status") != "ok":
                log.warning("kernel preload failed: %s: %s", reply["content"].get("ename"),
                               reply["content"].get("evalue"))
        except Exception as e:  # noqa: BLE001 - the notebook starts its own kernel then, and reports a failure
            log.warning("kernel prewarm failed: %s: %s", type(e).__name__, e)
            chain.close()

    t = threading.Thread(target=work, name="kernel-prewarm", daemon=True)
    chain.warming = t
    t.start()
    return t


def _reply(kc, msg_id: str, timeout: float) -> dict:
    """The shell reply to ``msg_id``, after its output (none: it ran silent) is drained up to the kernel's idle."""
    deadline = time.monotonic() + timeout
    while True:
        reply = kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"):
            return reply


def _quiet_shutdown(km, kc) -> None:
    if kc is not None:
        try:
            kc.stop_channels()
        except Exception:  # noqa: BLE001
            pass
    if km is not None:
        try:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001
            pass
        try:
            km.cleanup_resources()
        except Exception:  # noqa: BLE001
            pass


_EXPORTERS: dict = {}


def _exporter(hide_code: bool):
    """One HTMLExporter per process and setting: its templates are loaded and compiled once."""
    exp = _EXPORTERS.get(hide_code)
    if exp is None:
        from nbconvert import HTMLExporter
        exp = _EXPORTERS[hide_code] = HTMLExporter(
            exclude_input=hide_code, exclude_input_prompt=hide_code, exclude_output_prompt=hide_code,
            optimistic_validation=True,     # validate once, after the preprocessors (each validation compiles a schema)
            extra_template_basedirs=[str(Path(__file__).parent / "nbtemplates")], template_name="offline")
    return exp


def export_html(ipynb: Path, html: Path, hide_code: bool = True) -> Path:
    import nbformat
    nb = nbformat.read(str(ipynb), as_version=4)
    body, _ = _exporter(hide_code).from_notebook_node(nb, resources={"metadata": {"name": ipynb.stem}})
    tmp = html.with_suffix(".html.tmp")
    tmp.write_text(body)
    os.replace(tmp, html)
    return html

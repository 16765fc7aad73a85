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

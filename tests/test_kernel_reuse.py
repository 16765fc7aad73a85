"""Notebooks share a kernel (one per runner process, reset before each notebook): what each notebook sees and records
is what a fresh kernel would give it; failures still name the notebook's cell; start failures are retried."""
from __future__ import annotations

import os

import nbformat
import papermill as pm
import pytest

from tracker_utils.run import notebook


def _nb(path, *sources, params=True):
    cells = []
    if params:
        c = nbformat.v4.new_code_cell('x = "default"')
        c.metadata["tags"] = ["parameters"]
        cells.append(c)
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": notebook.KERNEL, "display_name": "k", "language": "python"}
    nbformat.write(nb, str(path))
    return str(path)


def _counts(nb):
    return [c.execution_count for c in nb.cells if c.cell_type == "code"]


def _run(k, src, dst, **params):
    return k.execute(src, dst, parameters=params, kernel_name=notebook.ensure_kernel(), progress_bar=False)


@pytest.mark.slow
def test_a_shared_kernel_looks_fresh_to_every_notebook(tmp_path):
    a = _nb(tmp_path / "a.ipynb", "leak = 41\nimport os, warnings\nos.chdir('/')",
            "warnings.warn('once per notebook')",
            "import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\nplt.figure()\nprint(len(plt.get_fignums()))")
    b = _nb(tmp_path / "b.ipynb", "print('leak' in dir(), x)",
            "import os\nprint(os.getcwd())",
            "import warnings\nwarnings.warn('once per notebook')",
            "import matplotlib.pyplot as plt\nprint(len(plt.get_fignums()))")
    with notebook.ChainKernel(notebook.ensure_kernel(), tmp_path) as k:
        ra = _run(k, a, str(tmp_path / "a_out.ipynb"), x="one")
        pid = k.km.provisioner.pid if hasattr(k.km, "provisioner") else None
        rb = _run(k, b, str(tmp_path / "b_out.ipynb"), x="two")
        assert k.km.provisioner.pid == pid                          # the same kernel ran both
    assert k.km is None                                             # shut down on leaving the block
    # papermill's record: injected parameters, execution counts from 1 in each notebook
    assert _counts(ra) == [1, 2, 3, 4, 5] and _counts(rb) == [1, 2, 3, 4, 5, 6]
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in rb.cells)
    out = ["".join(o.get("text", "") for o in c.get("outputs", [])) for c in rb.cells if c.cell_type == "code"]
    assert out[2] == "False two\n"                                 # no variable of a, the new parameter
    assert out[3].strip() == str(tmp_path)                          # the working directory restored
    assert "once per notebook" in out[4]                            # a warning shown again
    assert out[5].strip() == "0"                                    # a's figures closed
    written = nbformat.read(str(tmp_path / "b_out.ipynb"), as_version=4)
    assert _counts(written) == _counts(rb) and written.metadata.papermill.parameters == {"x": "two"}


@pytest.mark.slow
def test_a_failing_cell_is_named_and_its_kernel_is_not_reused(tmp_path):
    bad = _nb(tmp_path / "bad.ipynb", "y = 1", "raise ValueError('broken on purpose')", "print('never')")
    good = _nb(tmp_path / "good.ipynb", "print('y' in dir())")
    with notebook.ChainKernel(notebook.ensure_kernel(), tmp_path) as k:
        with pytest.raises(pm.PapermillExecutionError) as e:
            _run(k, bad, str(tmp_path / "bad_out.ipynb"))
        assert e.value.exec_count == 3 and e.value.ename == "ValueError" and "broken on purpose" in e.value.evalue
        assert k.km is None                                         # closed at once
        r = _run(k, good, str(tmp_path / "good_out.ipynb"))         # a new kernel
    assert r.cells[-1].outputs[0]["text"] == "False\n"
    saved = nbformat.read(str(tmp_path / "bad_out.ipynb"), as_version=4)      # written with the error, as before
    assert saved.cells[0].cell_type == "markdown" and "An Exception was encountered" in "".join(saved.cells[0].source)


@pytest.mark.slow
def test_the_process_kernel_is_replaced_when_the_environment_changes(tmp_path, monkeypatch):
    k1 = notebook.shared_kernel(notebook.ensure_kernel(), tmp_path)
    assert notebook.shared_kernel(notebook.ensure_kernel(), tmp_path) is k1
    monkeypatch.setenv("BEDROCK_TRACKER_TEST_ENV", "changed")
    k2 = notebook.shared_kernel(notebook.ensure_kernel(), tmp_path)
    assert k2 is not k1
    env = _nb(tmp_path / "env.ipynb", "import os\nprint(os.environ.get('BEDROCK_TRACKER_TEST_ENV'))")
    r = _run(k2, env, str(tmp_path / "env_out.ipynb"))
    assert r.cells[-1].outputs[0]["text"] == "changed\n"
    k2.close()


def test_kernel_start_failures_are_retried_then_raised(monkeypatch):
    import jupyter_client.manager as jm
    starts = []

    class FlakyKM:
        has_kernel = False

        def __init__(self, **kw):
            pass

        def start_kernel(self, **kw):
            starts.append(kw)
            raise RuntimeError("Kernel died before replying to kernel_info")

        def cleanup_resources(self):
            pass

    monkeypatch.setattr(jm, "KernelManager", FlakyKM)
    monkeypatch.setattr(notebook.time, "sleep", lambda s: None)
    k = notebook.ChainKernel("whatever", "/tmp", attempts=3)
    with pytest.raises(RuntimeError, match="kernel_info"):
        k._start()
    assert len(starts) == 3 and k.km is None
    assert starts[0]["cwd"] == "/tmp"

    def not_a_start_failure(self, **kw):
        starts.append(kw)
        raise ValueError("no such kernel")
    monkeypatch.setattr(FlakyKM, "start_kernel", not_a_start_failure)
    with pytest.raises(ValueError):
        k._start()
    assert len(starts) == 4                                         # not retried


def test_reuse_mode_defaults_to_process(monkeypatch):
    monkeypatch.delenv(notebook.REUSE_ENV, raising=False)
    assert notebook.reuse_mode() == "process"
    for m in ("chain", "none", "process"):
        monkeypatch.setenv(notebook.REUSE_ENV, m)
        assert notebook.reuse_mode() == m


def test_the_html_exporter_is_made_once_per_setting():
    assert notebook._exporter(True) is notebook._exporter(True)
    assert notebook._exporter(False) is not notebook._exporter(True)


def test_executed_chain_notebooks_count_from_one(demo_run):
    out, _, outcomes, _ = demo_run
    assert all(o.status == "complete" for o in outcomes)
    for o in outcomes:
        for nb in notebook.NOTEBOOKS:
            counts = _counts(nbformat.read(str(out / o.date / o.region / f"{nb}.ipynb"), as_version=4))
            assert counts == list(range(1, len(counts) + 1)), (o.date, o.region, nb, counts)


@pytest.mark.slow
def test_a_kernel_that_dies_mid_notebook_leaves_the_cells_run_so_far_and_is_replaced(tmp_path):
    dies = _nb(tmp_path / "dies.ipynb", "print('before')", "import os\nos._exit(1)", "print('never')")
    after = _nb(tmp_path / "after.ipynb", "print('fine')")
    with notebook.ChainKernel(notebook.ensure_kernel(), tmp_path) as k:
        with pytest.raises(Exception) as e:
            _run(k, dies, str(tmp_path / "dies_out.ipynb"))
        assert not isinstance(e.value, pm.PapermillExecutionError) and k.km is None
        assert _run(k, after, str(tmp_path / "after_out.ipynb")).cells[-1].outputs[0]["text"] == "fine\n"
    saved = nbformat.read(str(tmp_path / "dies_out.ipynb"), as_version=4)     # written at the end, whatever happened
    assert saved.cells[1].outputs[0]["text"] == "before\n"


@pytest.mark.slow
def test_a_missed_heartbeat_does_not_fail_a_healthy_kernel(tmp_path, monkeypatch):
    """On a busy machine the heartbeat misses a beat; the start must judge the kernel by its process instead (it
    used to fail with "Kernel died before replying to kernel_info")."""
    from jupyter_client.channels import HBChannel
    monkeypatch.setattr(HBChannel, "is_beating", lambda self: False)
    nb = _nb(tmp_path / "a.ipynb", "print(6 * 7)")
    with notebook.ChainKernel(notebook.ensure_kernel(), tmp_path, attempts=1) as k:
        out = _run(k, nb, str(tmp_path / "a_out.ipynb"), x="one")
    assert "42" in "".join(o.get("text", "") for c in out.cells if c.cell_type == "code" for o in c.get("outputs", []))


@pytest.mark.slow
def test_a_prewarmed_kernel_has_the_notebooks_modules_and_still_looks_fresh(tmp_path):
    k = notebook.shared_kernel(notebook.ensure_kernel(), tmp_path)
    k.close()
    t = notebook.prewarm(notebook.ensure_kernel(), tmp_path)
    t.join(120)
    assert not t.is_alive() and k.km is not None and k.km.is_alive()      # started in the background
    pid = k.km.provisioner.pid
    nb = _nb(tmp_path / "w.ipynb", "import sys\nprint('tracker_utils.report.rollup' in sys.modules, "
                                   "'pandas' in sys.modules, 'tracker_utils' in dir())")
    r = _run(k, nb, str(tmp_path / "w_out.ipynb"), x="p")
    assert k.km.provisioner.pid == pid                                   # the notebook ran on the warm kernel
    assert r.cells[-1].outputs[0]["text"] == "True True False\n"         # modules loaded, the namespace empty
    assert _counts(r) == [1, 2, 3]
    k.close()


def test_a_failed_prewarm_leaves_no_kernel_and_says_why(tmp_path, monkeypatch):
    k = notebook.shared_kernel("no-such-kernel-xyz", tmp_path)
    said = []

    def refuse(self):
        raise RuntimeError("no kernel today")
    monkeypatch.setattr(notebook.ChainKernel, "_start", refuse)
    monkeypatch.setattr(notebook.log, "warning", lambda msg, *a: said.append(msg % a))
    notebook.prewarm("no-such-kernel-xyz", tmp_path).join(60)
    assert k.km is None
    assert said == ["kernel prewarm failed: RuntimeError: no kernel today"]

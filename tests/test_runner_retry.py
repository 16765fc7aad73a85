"""A kernel that dies while starting is started again; a failing cell is never retried."""
from __future__ import annotations

import papermill as pm
import pytest

from tracker_utils.run import notebook as runner


def test_kernel_start_failure_is_retried_then_succeeds(monkeypatch):
    calls = []

    def flaky(src, dst, **kw):
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return {"ok": True}

    monkeypatch.setattr(pm, "execute_notebook", flaky)
    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    assert runner.execute("a.ipynb", "b.ipynb") == {"ok": True} and len(calls) == 3


def test_cell_errors_and_other_failures_are_not_retried(monkeypatch):
    calls = []

    def failing(src, dst, **kw):
        calls.append(1)
        raise pm.PapermillExecutionError(3, 3, "x", "ValueError", "bad", [])

    monkeypatch.setattr(pm, "execute_notebook", failing)
    with pytest.raises(pm.PapermillExecutionError):
        runner.execute("a.ipynb", "b.ipynb")
    assert len(calls) == 1

    def timeout(src, dst, **kw):
        calls.append(1)
        raise TimeoutError("Cell execution timed out")

    monkeypatch.setattr(pm, "execute_notebook", timeout)
    with pytest.raises(TimeoutError):
        runner.execute("a.ipynb", "b.ipynb")
    assert len(calls) == 2

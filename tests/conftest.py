"""Shared fixtures: a small demo account built once per session, and the chain run on it once."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("MPLBACKEND", "agg")
pytest_plugins = ["tests.aws_fixtures"]

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(per_day=300, days=3, start="2026-11-02")


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """A small demo account (300 invocations a day in us-east-1) and its ground truth."""
    from tracker_utils import demo
    root = tmp_path_factory.mktemp("demo_account")
    spec = demo.DemoSpec(**SMALL)
    truth = demo.build_demo(root, spec)
    return root, spec, truth


def write_params(path: Path, **values) -> Path:
    base = yaml.safe_load((REPO / "params" / "default.yaml").read_text())
    base.update(values)
    path.write_text(yaml.safe_dump(base))
    return path


@pytest.fixture(scope="session")
def demo_run(small_demo, tmp_path_factory):
    """The whole chain (papermill, four notebooks, 2 regions x 3 days) run once on the small demo."""
    from tracker_utils.run import runner
    root, spec, truth = small_demo
    out = tmp_path_factory.mktemp("outputs")
    pf = write_params(out / "params.yaml", data_root=str(root), output_dir=str(out), start=spec.start,
                      end=spec.dates[-1])
    outcomes = runner.run(str(pf), {}, force=True, jobs=2)
    return out, pf, outcomes, truth


# --- the fast loop: `make check` runs `pytest -m "not slow"` ------------------------------------------------------
# A test is slow when it starts a Jupyter kernel, a subprocess or the AWS emulator. Tests that use these fixtures
# are marked automatically; the others that start one carry @pytest.mark.slow. A test that is not marked and still
# starts a subprocess fails at once (see _no_subprocess_in_fast_tests), so the marker cannot go stale.
SLOW_FIXTURES = {"demo_run", "aws_env", "aws_demo", "big_demo"}
SLOW_TESTS = {   # tests that start a subprocess themselves (the CLI, the price-book scripts, a standalone emulator)
    "test_acceptance_command_against_a_hand_loaded_emulator", "test_cli_rejects_bad_params_before_any_work",
    "test_build_script_reproduces_the_csvs", "test_cli_python_m_subprocess",
    "test_crosscheck_against_litellm_has_no_unexplained_disagreement",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_subprocess_in_fast_tests(request, monkeypatch):
    if request.node.get_closest_marker("slow"):
        yield
        return
    import subprocess

    def refuse(*a, **k):
        raise RuntimeError(f"{request.node.nodeid} starts a subprocess: mark it @pytest.mark.slow")
    monkeypatch.setattr(subprocess, "Popen", refuse)
    yield

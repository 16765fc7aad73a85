"""Parameters are checked up front: one clear message each, before any work starts."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tracker_utils.config import ParamError, load_params, resolve


def write(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, message", [
    ("regoins: [us-east-1]\n", "unknown parameter 'regoins' (did you mean 'regions'?)"),
    ("start: 2026-13-01\n", "start: '2026-13-01' is not a valid day"),
    ("start: '20261101'\n", "start: '20261101' is not an ISO day"),
    ("start: '2026-11-05'\nend: '2026-11-01'\n", "end 2026-11-01 is before start 2026-11-05"),
    ("regions: [us-east1]\n", "regions: unknown region(s) us-east1"),
    ("cost_source: cur\n", "cur: a CUR 2.0 export path"),
    ("account: '1234'\n", "account: '1234' is not a 12-digit AWS account id"),
    ("engine: spark\n", "engine: 'spark' is not one of"),
    ("jobs: many\n", "jobs: expected an integer"),
    ("source: local\ndata_root: /nonexistent/folder\n", "data_root: /nonexistent/folder does not exist"),
])
def test_bad_params_fail_with_one_clear_message(tmp_path, text, message):
    with pytest.raises(ParamError) as e:
        load_params(write(tmp_path, text))
    assert message in str(e.value)


def test_yaml_dates_and_overrides(tmp_path):
    p = load_params(write(tmp_path, "start: 2026-11-02\nend: 2026-11-03\n"), {"regions": "us-east-1,eu-central-1"})
    assert p.dates == ["2026-11-02", "2026-11-03"]
    assert p.regions == ["us-east-1", "eu-central-1"]


def test_resolve_builds_paths(tmp_path):
    cfg = resolve("2026-11-02", "us-east-1", output_dir=str(tmp_path))
    assert cfg.data_dir == tmp_path / "2026-11-02" / "us-east-1" / "data"
    assert cfg.data_dir.is_dir()
    assert cfg.as_of.isoformat() == "2026-11-03T01:00:00+00:00"   # "+1h" in the default params
    with pytest.raises(ParamError):
        resolve("2026-11-02", "us-east1")


def test_cli_rejects_bad_params_before_any_work(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tracker_utils", "run", "--start", "2026-11-05", "--end", "2026-11-01",
                        "--output-dir", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 2
    assert "end 2026-11-01 is before start 2026-11-05" in r.stderr
    assert not (tmp_path / "out").exists()


def test_default_params_file_documents_every_key_of_the_schema():
    """params/default.yaml is the reference: every Params field is set there with a comment explaining it."""
    import dataclasses
    import re
    from tracker_utils.config import DEFAULT_PARAMS, Params
    lines = DEFAULT_PARAMS.read_text().splitlines()
    keyed = {m.group(1): line for line in lines if (m := re.match(r"^([a-z_]+):", line))}
    fields = [f.name for f in dataclasses.fields(Params)]
    missing = [k for k in fields if k not in keyed]
    assert not missing, f"params/default.yaml lacks {missing}"
    assert not [k for k in keyed if k not in fields], "params/default.yaml sets a key the schema does not know"
    undocumented = [k for k, line in keyed.items() if "#" not in line]
    assert not undocumented, f"keys without a comment in params/default.yaml: {undocumented}"


def test_notebooks_resolve_their_parameters_through_config():
    """Every notebook, the roll-up and the explorer included, resolves its parameters through config."""
    import nbformat
    from tracker_utils.config import REPO
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        src = "\n".join(c.source for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code")
        assert "config.resolve" in src, f"{path.name} does not call config.resolve"


def test_a_runner_snapshot_is_loaded_without_validating_again(tmp_path):
    """The runner validates the params file once; kernels load the frozen snapshot as it is."""
    from tracker_utils import config
    p = config.load_params(None, {"regions": ["us-east-1"]})
    snap = config.write_snapshot(p, tmp_path / f"params{config.SNAPSHOT_SUFFIX}")
    before = config.VALIDATIONS
    q = config.load_params(str(snap), {"output_dir": str(tmp_path)})
    assert config.VALIDATIONS == before
    assert q.regions == ["us-east-1"] and q.output_dir == str(tmp_path)
    # anything else overridden is validated as usual
    with pytest.raises(ParamError, match="unknown region"):
        config.load_params(str(snap), {"regions": ["mars-1"]})
    assert config.VALIDATIONS == before
    # a file that only looks like a snapshot is validated as a params file
    fake = tmp_path / f"fake{config.SNAPSHOT_SUFFIX}"
    fake.write_text('{"snapshot": "no", "params": {"regoins": 1}}')
    with pytest.raises(ParamError):
        config.load_params(str(fake))

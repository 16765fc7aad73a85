"""The one CLI: every subcommand is registered in tracker_utils.run.cli (no module carries its own)."""
from __future__ import annotations

import io
import argparse

from tracker_utils.run import cli


def _args(*argv):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    cli.add_athena_command(sub)
    return ap.parse_args(list(argv))


def test_athena_show_ddl_and_query_come_from_the_cli():
    out = io.StringIO()
    assert cli.athena_command(_args("athena", "show-ddl"), out) == 0
    ddl = out.getvalue()
    assert "CREATE EXTERNAL TABLE" in ddl and "bedrock_logs" in ddl and "projection.enabled" in ddl.lower()
    out = io.StringIO()
    assert cli.athena_command(_args("athena", "show-query"), out) == 0
    assert "SELECT" in out.getvalue().upper()


def test_no_source_module_parses_arguments():
    import pathlib
    import tracker_utils
    root = pathlib.Path(tracker_utils.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "argparse" in p.read_text() and p.parent.name != "run"]
    assert offenders == []


def test_verbose_shows_the_cells_output_and_default_does_not():
    import logging
    from tracker_utils.run import notebook
    pm = logging.getLogger("papermill")
    saved = (pm.level, list(pm.handlers), pm.propagate)
    try:
        pm.handlers = []
        pm.setLevel(logging.NOTSET)
        cli.configure_logging(logging.INFO)
        assert not notebook.log_cells()
        cli.configure_logging(logging.DEBUG)
        assert notebook.log_cells()
    finally:
        pm.level, pm.handlers, pm.propagate = saved[0], saved[1], saved[2]
        cli.configure_logging(logging.INFO)

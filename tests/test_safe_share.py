"""Issue 14: what a log record or an apps file holds never runs, leaks or breaks a shared page.

Slow: every test here runs the chain (papermill, a kernel) with :func:`tracker_utils.run.runner.run`.
"""
from __future__ import annotations

import csv
import gzip
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import write_params
from tracker_utils import demo
from tracker_utils.config import REPO
from tracker_utils.run import runner

pytestmark = pytest.mark.slow            # every test here starts kernels (papermill) through the runner

ACCOUNT = "123456789012"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SVG = "'><svg onload=alert(1)>"
# (payload, where it is planted)
MODEL = f"anthropic.x{SCRIPT}$\\undefinedcmd$-v1:0"          # a model id: unpriced, in tables and in chart labels
USER = IMG.replace("/", "")                                   # an IAM user name (an ARN's last part has no "/")
ROLE_SESSION = SVG                                            # a role session name
META = SCRIPT                                                 # a request-metadata value
ERROR = IMG                                                   # an error code
APP, TEAM, CENTRE = SCRIPT + " app", IMG + " team", '=HYPERLINK("http://x","y")'
USAGE_TYPE = f"USE1-{SCRIPT}-input-tokens"
RAW = ["<script>alert(1)", "<img src=x onerror", "<svg onload"]   # what must never reach a page unescaped
INVISIBLE_USER = "ali\u200bce\u202e"


def _bucket_day(root: Path, spec, date: str) -> list[Path]:
    return sorted((root / "s3" / spec.bucket).glob(f"**/us-east-1/{date.replace('-', '/')}/*/*.json.gz"))


def _plant(root: Path, spec, date: str) -> None:
    """Rewrite records of one log file of the day with the payloads, and add a bill line with a payload usage type."""
    f = next(p for p in _bucket_day(root, spec, date) if "/12/" in str(p))
    recs = [json.loads(x) for x in gzip.decompress(f.read_bytes()).decode().splitlines()]
    assert len(recs) >= 1
    base = recs[0]

    def clone(i, **kw):
        r = json.loads(json.dumps(base))
        r["requestId"] = f"payload-{i}"
        r.update(kw)
        return r

    recs += [
        clone(1, modelId=MODEL),
        clone(2, identity={"arn": f"arn:aws:iam::{ACCOUNT}:user/{USER}"}, requestMetadata={"project": META}),
        clone(3, identity={"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Payload-Role/{ROLE_SESSION}"}),
        clone(4, identity={"arn": f"arn:aws:iam::{ACCOUNT}:user/payload-app"}, errorCode=ERROR),
        clone(5, identity={"arn": f"arn:aws:iam::{ACCOUNT}:user/{INVISIBLE_USER}"}),
    ]
    f.write_bytes(gzip.compress(("\n".join(json.dumps(r) for r in recs) + "\n").encode()))
    ce = root / "costexplorer" / f"{date}.json"
    doc = json.loads(ce.read_text())
    groups = doc["pages"][0]["ResultsByTime"][0]["Groups"]
    groups.append({"Keys": ["Amazon Bedrock", USAGE_TYPE],
                   "Metrics": {"UnblendedCost": {"Amount": "0.01", "Unit": "USD"},
                               "UsageQuantity": {"Amount": "1", "Unit": "N/A"}}})
    ce.write_text(json.dumps(doc))


def _apps_file(path: Path) -> Path:
    rules = yaml.safe_load((REPO / "params" / "apps.yaml").read_text())
    rules["apps"].insert(0, {"app": APP, "team": TEAM, "cost_centre": CENTRE, "match": {"user": "payload-app"}})
    path.write_text(yaml.safe_dump(rules))
    return path


@pytest.fixture(scope="module")
def payload_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("payload_account")
    spec = demo.DemoSpec(per_day=60, days=1, regions=("us-east-1",))
    demo.build_demo(root, spec)
    date = spec.start
    _plant(root, spec, date)
    out = tmp_path_factory.mktemp("payload_out")
    pf = write_params(out / "params.yaml", data_root=str(root), output_dir=str(out), start=date, end=date,
                      regions=["us-east-1"], apps_file=str(_apps_file(out / "apps.yaml")))
    outcomes = runner.run(str(pf), {}, force=True, jobs=1)
    return out, date, outcomes


def _with_code(ipynb: Path) -> str:
    """An executed notebook exported as a user would, code shown (nbconvert's default HTML template)."""
    import nbformat
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(str(ipynb), as_version=4))
    return body


def test_no_payload_survives_unescaped_in_any_page(payload_run):
    out, date, outcomes = payload_run
    # a "$\undefinedcmd$" model id used to fail 04_report (mathtext): every chain and the roll-up complete
    assert [o.status for o in outcomes] == ["complete"], [o.error for o in outcomes]
    rd = out / date / "us-east-1"
    roll = next(out.glob("periods/*/rollup.html"))
    pages = {p.name: p.read_text() for p in [rd / "report.html", roll, out / "index.html"]}
    for nb in sorted(rd.glob("0*.ipynb")) + [roll.with_suffix(".ipynb")]:
        pages[f"{nb.name} (with code)"] = _with_code(nb)
    assert len(pages) == 8
    for name, text in pages.items():
        leaked = [r for r in RAW if r in text]
        assert not leaked, (name, leaked)
    # the check means something: the payloads are there, escaped, in the pages that show those fields
    report = pages["report.html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report                         # model id, app, metadata
    assert "&lt;img src=x onerror=alert(1)&gt;" in report                            # user name, team
    assert "USE1-&lt;script&gt;" in report                                           # usage type
    assert "anthropic.x&lt;script&gt;" in pages["02_price.ipynb (with code)"]         # 02_price's unpriced models
    assert "anthropic.x&lt;script&gt;" in pages["03_reconcile.ipynb (with code)"]     # 03_reconcile's verdict
    assert "&lt;script&gt;alert(1)&lt;/script&gt; app" in pages["rollup.html"]      # roll-up's chargeback
    # invisible characters are shown as escapes, never raw
    assert "ali\\u200bce\\u202e" in report and "\u200b" not in report and "\u202e" not in report


def test_chargeback_csv_cells_are_not_formulas(payload_run):
    out, _, _ = payload_run
    rows = list(csv.DictReader(next(out.glob("periods/*/chargeback.csv")).open()))
    mine = next(r for r in rows if r["team"] == TEAM)
    assert mine["cost_centre"] == "'" + CENTRE and mine["app"] == APP
    assert all(not r[c].startswith(("=", "+", "@", "\t", "\r")) for r in rows for c in ("app", "team", "cost_centre"))
    assert float(mine["cost_usd"]) >= 0 and int(mine["invocations"]) == 1          # numbers stay numbers


# --- redaction: the shared bundle holds no real principal, session or account id ----------------------------------
SHORT_USERS = ["td", "b", "a", "tr"]


@pytest.fixture(scope="module")
def redacted_run(tmp_path_factory):
    """The small demo with IAM users named like HTML tags (td, b, tr) and a one-letter user, run with redact."""
    root = tmp_path_factory.mktemp("redact_account")
    spec = demo.DemoSpec(per_day=120, days=1, regions=("us-east-1",))
    demo.build_demo(root, spec)
    f = next(p for p in _bucket_day(root, spec, spec.start) if "/09/" in str(p))
    recs = [json.loads(x) for x in gzip.decompress(f.read_bytes()).decode().splitlines()]
    for i, u in enumerate(SHORT_USERS):
        r = json.loads(json.dumps(recs[0]))
        r["requestId"], r["identity"] = f"short-{i}", {"arn": f"arn:aws:iam::{ACCOUNT}:user/{u}"}
        recs.append(r)
    f.write_bytes(gzip.compress(("\n".join(json.dumps(r) for r in recs) + "\n").encode()))
    out = tmp_path_factory.mktemp("redact_out")
    pf = write_params(out / "params.yaml", data_root=str(root), output_dir=str(out), start=spec.start,
                      end=spec.start, regions=["us-east-1"], redact=True)
    outcomes = runner.run(str(pf), {}, force=True, jobs=1)
    assert [o.status for o in outcomes] == ["complete"], [o.error for o in outcomes]
    return out, spec.start


def _secrets(rd: Path) -> set[str]:
    from tracker_utils.apps import principal_parts
    arns = set(pd.read_parquet(rd / "data" / "collect_logs.parquet", columns=["principal"])["principal"])
    out = {ACCOUNT}
    for a in arns:
        name = principal_parts(a)[2]
        if len(name) > 2:                     # names of one or two letters: checked as whole cells below
            out.add(name)
        if ":assumed-role/" in a:
            out.add(a.rsplit("/", 1)[-1])
    return out


SHARED = ["index.html", "periods/*/rollup.html", "periods/*/chargeback.csv", "periods/*/chargeback.json",
          "periods/*/by_day_region.csv", "periods/*/focus.csv", "*/*/report.html", "*/*/summary.json"]


def test_redacted_bundle_holds_no_principal_session_or_account(redacted_run):
    out, date = redacted_run
    rd = out / date / "us-east-1"
    secrets = _secrets(rd)
    assert {"ChatbotProd-BedrockRole", "alice", ACCOUNT} <= secrets
    assert any(re.fullmatch(r"chatbotprod-[0-9a-f]{8}", s) for s in secrets)                # session names too
    files = [p for pat in SHARED for p in out.glob(pat)]
    assert {p.name for p in files} >= {"index.html", "rollup.html", "chargeback.csv", "chargeback.json",
                                       "by_day_region.csv", "report.html", "summary.json"}
    for p in files:
        text = p.read_text()
        leaked = sorted(s for s in secrets if s in text)
        assert not leaked, (p.name, leaked)
    # the private copy keeps the real names (and the check means something)
    assert "alice" in set(pd.read_parquet(rd / "data" / "price_logs.parquet")["principal_name"])


def test_short_names_do_not_touch_markup(redacted_run):
    out, date = redacted_run
    report = (out / date / "us-east-1" / "report.html").read_text()
    rollup = next(out.glob("periods/*/rollup.html")).read_text()
    for page in (report, rollup, (out / "index.html").read_text()):
        assert "<user-" not in page and "</user-" not in page                               # no tag was rewritten
    assert report.count("<td") > 50 and report.count("<b>") > 5 and "<table" in report
    # the short users are aliased where they are whole values (a cell, a name), never shown as themselves
    from tracker_utils.report.redact import Redactor
    cells = re.findall(r"<(?:td|b)[^>]*>([^<]*)</(?:td|b)>", report)
    assert not set(SHORT_USERS) & set(cells)
    alias = Redactor(True, ACCOUNT).alias("user", f"arn:aws:iam::{ACCOUNT}:user/td")
    assert alias in report

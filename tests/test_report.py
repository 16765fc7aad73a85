"""Shared reports: the per date-region report, the roll-up, the index, the chargeback files, anomalies, redaction.

The demo's reports are checked for every section with real numbers (taken from the summaries), no code and no
tracebacks; the anomaly rules and the redactor are unit-tested on hand-made inputs.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tracker_utils.report import anomalies

from tracker_utils.report import daily as report

from tracker_utils.report import index, rollup
from tracker_utils.config import load_params
from tracker_utils import gaps, money
from tracker_utils.money import usd
from tracker_utils.report import redact

from .conftest import write_params

IMG = re.compile(r"<img [^>]*src=['\"]data:image/png;base64,")
DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


def _text(path: Path) -> str:
    """The HTML without its embedded images (so searches look at words, not base64), attributes in double quotes
    (nbconvert re-serialises the HTML outputs it embeds)."""
    html = DATA_URI.sub("data:image/png;base64,", path.read_text())
    return re.sub(r"='([^'<>]*)'", r'="\1"', html)


def assert_shareable(html: str, name: str) -> None:
    """No code, no prompts, no tracebacks or error output in an exported notebook."""
    cells = re.findall(r'<div class="(jp-Cell jp-CodeCell[^"]*)"', html)
    assert cells, f"{name}: no output cells"
    assert all("jp-mod-noInput" in c for c in cells), f"{name}: a code cell's input is shown"
    assert "hl-ipython3" not in html and 'class="jp-InputPrompt' not in html, f"{name}: code is shown"
    assert "In&nbsp;[" not in html and "In [" not in html, f"{name}: input prompts are shown"
    assert "Traceback" not in html, f"{name}: a traceback"
    assert not re.search(r'<div[^>]*data-mime-type="application/vnd.jupyter.(stderr|error)"', html), f"{name}: error output"
    assert "widget-state+json" not in html, f"{name}: widget state (needs a front end)"


# --- the per date-region report --------------------------------------------------------------------------------
def test_every_report_has_every_section_with_real_numbers(demo_run):
    out, _, _, truth = demo_run
    for key in truth["runs"]:
        s = json.loads((out / key / "summary.json").read_text())
        page = out / key / "report.html"
        html = _text(page)
        assert_shareable(html, key)
        for words in ("Billed (the bill)", "Cost from logs", "Share explained by logs", "Change vs previous day",
                      "Month to date", "Month-end forecast", "Cost by application", "Cost by model", "Hour by hour",
                      "Reconciliation", "Top principals", "Team", "Cost centre", "Cost anomalies"):
            assert words in html, (key, words)
        assert money.cents(s["totals"]["billed_cost_usd"]) in html
        assert money.cents(s["totals"]["logs_cost_usd"]) in html
        for a in s["apps"]:              # every application with its team, cost centre and share of the bill
            assert f"<td>{a['app']}" in html
            assert f'title="{money.plain(a["billed_share_usd"])} USD"' in html     # cents shown, exact on hover
            if a["team"]:
                assert f"<td>{a['team']}</td>" in html and f"<td>{a['cost_centre']}</td>" in html
        for g in s["gaps"]:               # every cause is named
            assert gaps.TEXT[g["kind"]].capitalize() in html, (key, g["kind"])
        # four charts: applications, models, hours, reconciliation; each titled (alt text) and labelled
        imgs = IMG.findall(page.read_text())
        assert len(imgs) >= 4, key
        for alt in ("Cost by application", "Cost by model", "Invocations per hour", "Logs vs CloudWatch vs bill"):
            assert re.search(r'<img alt="' + re.escape(alt), html), (key, alt)


def test_unattributed_usage_is_visible_with_its_principals(demo_run):
    out, _, _, _ = demo_run
    html = _text(out / "2026-11-02" / "us-east-1" / "report.html")
    assert '<tr class="hl"><td>user:carol</td>' in html              # no rule: a row of its own, named after her
    assert "Unattributed usage" in html and "carol" in html          # who to write a rule for (not redacted here)
    assert "Unattributed" in html.split("Reconciliation", 1)[0]      # a headline figure


def test_data_quality_box_is_on_top_when_something_is_not_zero(demo_run):
    out, _, _, truth = demo_run
    for key in truth["runs"]:
        s = json.loads((out / key / "summary.json").read_text())
        html = _text(out / key / "report.html")
        dq = s["data_quality"]
        noisy = dq["unpriced_models"] or dq["records_malformed"] or dq["records_duplicate"]
        if noisy:
            top = html.split("Billed (the bill)", 1)[0]
            assert "Data quality: needs attention" in top, key
            for m in dq["unpriced_models"]:
                assert m in top
        elif "Data quality: needs attention" not in html:
            assert html.index("Data quality: clean") > html.index("Top principals"), key


def test_quality_box_lists_malformed_duplicates_and_unpriced_only_when_not_zero():
    def data(**dq):
        base = {"files_read": 10, "records_read": 100, "records_used": 95, "records_malformed": 0, "records_duplicate": 0,
                "unpriced_models": [], "files_bad": {}}
        return report.ReportData(cfg=None, summary={"data_quality": {**base, **dq}}, price_logs=pd.DataFrame(),
                                 hourly=pd.DataFrame(), usage_types=pd.DataFrame())
    clean = data()
    assert report.quality_top(clean) == "" and "Data quality: clean" in report.quality_bottom(clean)
    noisy = data(records_malformed=3, records_duplicate=2, unpriced_models=["vendor.new-model-v1:0"],
                 records_quarantined_by_kind={"bad_json": 3})
    top = report.quality_top(noisy)
    assert "needs attention" in top and "3 malformed records" in top and "bad_json: 3" in top
    assert "2 duplicate records" in top and "vendor.new-model-v1:0" in top and "lower bound" in top
    assert report.quality_bottom(noisy) == ""


def test_headline_figures_are_exact(demo_run):
    out, pf, _, _ = demo_run
    from tracker_utils import config
    cfg = config.resolve("2026-11-04", "us-east-1", params_file=str(pf), output_dir=str(out))
    d = report.load(cfg)
    f = report.headline_figures(d)
    days = [json.loads((out / x / "us-east-1" / "summary.json").read_text()) for x in ("2026-11-02", "2026-11-03", "2026-11-04")]
    billed = [Decimal(x["totals"]["billed_cost_usd"]) for x in days]
    assert f["billed"] == billed[2]
    assert f["change"] == billed[2] - billed[1]
    assert f["mtd"] == sum(billed) and f["mtd_days"] == 3
    # month to date + the average reported day for each of the 26 days after 2026-11-04 (tracker_utils.budgets)
    assert f["forecast"] == sum(billed) + sum(billed) / 3 * 26
    mean = sum(billed) / 3
    sd = (sum((b - mean) ** 2 for b in billed) / 2).sqrt()
    assert abs(f["forecast_range"].high - f["forecast"] - Decimal("1.96") * sd * Decimal(26).sqrt()) < Decimal("1e-20")
    html = report.headline(d)
    assert money.cents(f["change"], sign=True) in html and money.cents(f["forecast"]) in html


def test_cents_and_pct():
    assert money.cents(Decimal("1234.5678")) == "$1,234.57"
    assert money.cents("0.004") == "<$0.01"
    assert money.cents(Decimal("-1.5"), sign=True) == "-$1.50"
    assert money.cents(Decimal("2"), sign=True) == "+$2.00"
    assert money.cents(0) == "$0.00"
    assert money.pct(1, 3) == "33.3%" and money.pct(1, 0) == "n/a"


# --- the roll-up, the chargeback files and the index ------------------------------------------------------------
def test_rollup_report_and_chargeback_files(demo_run):
    out, _, _, truth = demo_run
    period = out / "periods" / "2026-11"            # the demo's month, month to date
    page = period / "rollup.html"
    assert page.exists() and (period / "rollup.ipynb").exists()
    html = _text(page)
    assert_shareable(html, "rollup.html")
    summaries = [json.loads((out / k / "summary.json").read_text()) for k in truth["runs"]]
    billed = sum((Decimal(s["totals"]["billed_cost_usd"]) for s in summaries), Decimal(0))
    assert money.cents(billed) in html
    for words in ("Chargeback by application", "Daily trends", "Reconciliation for the run", "Top principals",
                  "Cost anomalies", "nothing is unexplained in any report", "Every date and region"):
        assert words in html, words
    assert len(IMG.findall(page.read_text())) >= 2
    for alt in ("Daily billed cost per model", "Daily cost per application"):
        assert alt in html
    # chargeback: exact sums over the completed summaries, beside rollup.html
    with open(period / "chargeback.csv") as f:
        rows = list(csv.DictReader(f))
    doc = json.loads((period / "chargeback.json").read_text())
    assert {(r["period_start"], r["period_end"], r["currency"]) for r in rows} == {("2026-11-02", "2026-11-04", "USD")}
    assert doc["period"] == {"start": "2026-11-02", "end": "2026-11-04", "name": "2026-11"}
    assert [r["app"] for r in rows] == [a["app"] for a in doc["applications"]]
    assert set(rows[0]) >= {"app", "team", "cost_centre", "invocations", "input_tokens", "output_tokens", "tokens",
                            "cost_usd", "billed_share_usd", "share_of_bill_pct"}
    want: dict[str, dict] = {}
    for s in summaries:
        for a in s["apps"]:
            w = want.setdefault(a["app"], {"inv": 0, "cost": Decimal(0), "share": Decimal(0), "team": a["team"],
                                           "cc": a["cost_centre"]})
            w["inv"] += a["invocations"]
            w["cost"] += Decimal(a["cost_usd"])
            w["share"] += Decimal(a["billed_share_usd"])
    assert {r["app"] for r in rows} == set(want)
    for r in rows:
        w = want[r["app"]]
        assert int(r["invocations"]) == w["inv"]
        assert Decimal(r["cost_usd"]) == w["cost"] and Decimal(r["billed_share_usd"]) == w["share"]
        assert (r["team"], r["cost_centre"]) == (w["team"], w["cc"])
        assert f"<td>{r['app']}" in html and f'title="{money.plain(w["share"])} USD"' in html
    assert rows[-1]["matched"] == "False" and rows[0]["matched"] == "True"       # rows no rule matched come last
    assert sum(Decimal(r["share_of_bill_pct"]) for r in rows) == Decimal("100.00")
    assert sum(Decimal(r["billed_share_usd"]) for r in rows) == billed
    # a share scaled from a model with no price is marked, and says how much of it that is
    marked = [r for r in rows if Decimal(r["unpriced_share_usd"])]
    assert marked and all(f"<td>{r['app']} *</td>" in html for r in marked)
    assert doc["billed_usd"] == f"{billed:.6f}" and len(doc["reports_included"]) == len(truth["runs"])
    assert isinstance(doc["applications"][0]["billed_share_usd"], str)


def test_index_links_every_report_and_the_rollup(demo_run):
    out, _, _, truth = demo_run
    html = _text(out / "index.html")
    for href in ("rollup.html", "chargeback.csv", "chargeback.json", "by_day_region.csv"):
        assert f'href="periods/2026-11/{href}"' in html and (out / "periods" / "2026-11" / href).exists()
    assert "<h2>November 2026</h2>" in html
    for key in truth["runs"]:
        s = json.loads((out / key / "summary.json").read_text())
        row = re.search(rf"<tr[^>]*><td>{key.split('/')[0]}</td><td>{key.split('/')[1]}</td>(.*?)</tr>", html).group(1)
        assert f'b-{"warn" if s["status"] == "partial" else "info"}">{s["status"]}</span>' in row
        assert f'href="{key}/report.html"' in row
        assert money.cents(s["totals"]["billed_cost_usd"]) in row and money.cents(s["totals"]["logs_cost_usd"]) in row


def test_index_and_rollup_show_failed_and_incomplete_runs(demo_run, tmp_path):
    """A run that failed and one that never finished are listed as such and left out of every total."""
    out, pf, _, _ = demo_run
    p = load_params(str(pf), {"output_dir": str(tmp_path), "start": "2026-11-02", "end": "2026-11-04",
                              "regions": ["us-east-1"]})
    ok = tmp_path / "2026-11-02" / "us-east-1"
    shutil.copytree(out / "2026-11-02" / "us-east-1", ok, ignore=shutil.ignore_patterns("raw", "*.ipynb"))
    failed = tmp_path / "2026-11-03" / "us-east-1"
    failed.mkdir(parents=True)
    (failed / "run.json").write_text(json.dumps({"status": "failed", "failed_notebook": "02_price", "failed_cell": 3,
                                                 "error": "KeyError: 'boom'\nmore"}))
    idx = _text(index.write_index(p, None, {"2026-11": {"status": "failed", "error": "ValueError: no"}}))
    assert re.search(r"<td>2026-11-03</td><td>us-east-1</td>.*?failed.*?02_price.ipynb cell 3.*?KeyError", idx)
    assert re.search(r"<td>2026-11-04</td><td>us-east-1</td>.*?incomplete", idx)
    assert "roll-up report of 2026-11 failed" in idx and 'periods/2026-11/rollup.html' not in idx
    pf2 = tmp_path / "params.yaml"
    pf2.write_text(yaml.safe_dump(p.to_dict()))
    rd = rollup.load(params_file=str(pf2))
    box = rollup.status_box(rd)
    assert "2 of 3 date-region reports are missing" in box and "02_price.ipynb cell 3" in box
    s = json.loads((ok / "summary.json").read_text())
    assert rollup.totals(rd)["billed"] == Decimal(s["totals"]["billed_cost_usd"])
    assert "2 date-region reports are missing and not counted" in rollup.run_verdict(rd)


# --- anomalies on hand-made series ------------------------------------------------------------------------------
def _days(values, start="2026-10-01"):
    d0 = dt.date.fromisoformat(start)
    return {(d0 + dt.timedelta(days=i)).isoformat(): Decimal(str(v)) for i, v in enumerate(values) if v is not None}


def test_a_spike_and_a_drop_are_flagged():
    rows = anomalies.flag_series(_days([10, 11, 9, 10, 30, 10, 4]), window_days=7, factor=2.0)
    flags = [r["flag"] for r in rows]
    assert flags == ["", "", "", "", "high", "", "low"]
    spike = rows[4]
    assert spike["baseline"] == Decimal("10") and spike["history"] == 4 and spike["ratio"] == 3.0
    assert rows[6]["baseline"] == Decimal("10")                 # median of 10, 11, 9, 10, 30, 10


def test_within_the_factor_is_not_flagged():
    rows = anomalies.flag_series(_days([10, 10, 10, 19.99, 5.01]), window_days=7, factor=2.0)
    assert [r["flag"] for r in rows] == ["", "", "", "", ""]


def test_the_window_is_calendar_days_and_needs_history():
    # 100 a month ago is outside a 7-day window; only the last two days count
    vals = _days([100] + [None] * 20 + [1, 1, 3])
    rows = anomalies.flag_series(vals, window_days=7, factor=2.0)
    assert [r["history"] for r in rows] == [0, 0, 1, 2]
    assert [r["flag"] for r in rows] == ["", "", "", "high"]
    assert rows[1].get("note") == "no history"
    # missing days are not zeros: a gap in the runs does not make the next day "high"
    rows = anomalies.flag_series(_days([5, 5, None, None, 5]), window_days=7, factor=2.0)
    assert rows[-1]["flag"] == "" and rows[-1]["history"] == 2


def test_floor_and_new_series():
    rows = anomalies.flag_series(_days([0.001, 0.001, 0.009]), window_days=7, factor=2.0)
    assert rows[-1]["flag"] == ""                               # 9x, but under a cent
    rows = anomalies.flag_series(_days([0, 0, 0, 2]), window_days=7, factor=2.0)
    assert rows[-1]["flag"] == "new" and rows[-1]["ratio"] is None
    with pytest.raises(ValueError):
        anomalies.flag_series({}, window_days=0)
    with pytest.raises(ValueError):
        anomalies.flag_series({}, factor=1.0)


def test_flag_table_fills_absent_days_with_zero():
    rows = [{"date": d, "app": "A", "value": v} for d, v in _days([5, 5, 5]).items()]
    rows += [{"date": d, "app": "B", "value": v} for d, v in _days([2, 2]).items()]     # B absent on day 3
    dates = list(_days([1, 1, 1]))
    f = anomalies.flag_table(rows, ["app"], window_days=7, factor=2.0, dates=dates)
    b = f[f["app"] == "B"].reset_index(drop=True)
    assert list(b["value"]) == [Decimal(2), Decimal(2), Decimal(0)] and b.loc[2, "flag"] == "low"
    assert (f[f["app"] == "A"]["flag"] == "").all()


def test_from_summaries_flags_days_and_applications():
    def summ(date, billed, apps):
        return {"date": date, "region": "us-east-1", "totals": {"billed_cost_usd": str(billed), "logs_cost_usd": str(billed)},
                "apps": [{"app": a, "billed_share_usd": str(v), "cost_usd": str(v)} for a, v in apps.items()]}
    ss = [summ("2026-10-01", 10, {"Chat": 8, "Docs": 2}), summ("2026-10-02", 10, {"Chat": 8, "Docs": 2}),
          summ("2026-10-03", 10, {"Chat": 8, "Docs": 2}), summ("2026-10-04", 30, {"Chat": 8, "Docs": 22})]
    f = anomalies.from_summaries(ss, 7, 2.0)
    hit = f[(f["flag"] != "")]
    assert set(zip(hit["level"], hit["app"], hit["date"])) == {("day", "", "2026-10-04"), ("application", "Docs", "2026-10-04")}
    row = hit[hit["app"] == "Docs"].iloc[0].to_dict()
    assert "Docs in us-east-1 on 2026-10-04: $22.00, 11.0x the trailing median of $2.00" in anomalies.describe(row, 2.0)


# --- redaction --------------------------------------------------------------------------------------------------
def test_redactor_aliases_are_stable_and_whole_word():
    arn = "arn:aws:sts::123456789012:assumed-role/ChatbotProd-BedrockRole/chatbotprod-1a2b3c4d"
    r = redact.Redactor(True, "123456789012", [arn, "arn:aws:iam::123456789012:user/bob.data"])
    a = r.alias("role", "arn:aws:sts::123456789012:assumed-role/ChatbotProd-BedrockRole")
    text = (f"ChatbotProd-BedrockRole and {arn} called; bob.data, not bob.database or malice; "
            "profile arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x; 20261101")
    got = r(text)
    assert got.count(a) == 2 and "chatbotprod-1a2b3c4d" not in got
    assert "bob.data," not in got and "bob.database" in got and "malice" in got
    assert "123456789012" not in got and r.alias("account", "123456789012") in got and "20261101" in got
    assert redact.Redactor(True, "123456789012", [arn])("ChatbotProd-BedrockRole") == a       # stable
    assert redact.Redactor(False, "123456789012", [arn])(text) == text                          # off: no-op
    df = r.frame(pd.DataFrame({"p": ["alice", "ChatbotProd-BedrockRole"], "n": [1, 2]}))
    assert df["p"].tolist() == ["alice", a] and df["n"].tolist() == [1, 2]


@pytest.fixture(scope="session")
def redacted_run(small_demo, tmp_path_factory):
    """One date-region run with ``redact: true`` (plus its roll-up and index), on the session's small demo."""
    from tracker_utils.run import runner
    root, spec, _ = small_demo
    out = tmp_path_factory.mktemp("outputs_redacted")
    pf = write_params(out / "params.yaml", data_root=str(root), output_dir=str(out), start=spec.start, end=spec.start,
                      regions=["us-east-1"], redact=True)
    o = runner.run_one(str(pf), {}, spec.start, "us-east-1", force=True)
    assert o.status == "complete", o.error
    p = load_params(str(pf))
    from tracker_utils.report import catalog
    assert runner.run_rollup(p, catalog.month_period(out, spec.start[:7], p.regions))["status"] == "complete"
    index.write_index(p, [o])
    return out, spec.start


def _secrets(run_dir: Path) -> set[str]:
    """Every principal name, role session name and account id in the run's raw logs."""
    from tracker_utils.apps import principal_parts
    arns = set(pd.read_parquet(run_dir / "data" / "collect_logs.parquet", columns=["principal"])["principal"])
    out = {"123456789012"}
    for a in arns:
        out.add(principal_parts(a)[2])
        if ":assumed-role/" in a:
            out.add(a.rsplit("/", 1)[-1])
    return out


def test_redacted_reports_name_no_principal_and_no_account(redacted_run, demo_run):
    out, date = redacted_run
    secrets = _secrets(out / date / "us-east-1")
    assert {"ChatbotProd-BedrockRole", "alice", "bob.data", "carol", "123456789012"} <= secrets
    assert any(re.fullmatch(r"chatbotprod-[0-9a-f]{8}", s) for s in secrets)       # session names too
    pages = [out / date / "us-east-1" / "report.html", out / "periods" / "2026-11" / "rollup.html", out / "index.html"]
    for page in pages:
        html = _text(page)
        leaked = sorted(s for s in secrets if s in html)
        assert not leaked, (page.name, leaked)
    report_html = _text(pages[0])
    assert re.search(r"<td>role-[0-9a-f]{6}</td>", report_html) and "account-" in report_html
    assert re.search(r"<td>role-[0-9a-f]{6}</td>", _text(pages[1]))
    # the same aliases in the report and the roll-up
    aliases = set(re.findall(r"(?:role|user)-[0-9a-f]{6}", report_html))
    assert aliases and aliases <= set(re.findall(r"(?:role|user)-[0-9a-f]{6}", _text(pages[1])))
    # and the check means something: without redact the same names are there
    plain = _text(demo_run[0] / date / "us-east-1" / "report.html")
    assert "ChatbotProd-BedrockRole" in plain and "carol" in plain and "123456789012" in plain


def test_gap_vocabulary_complete():
    """Every gap kind has a label, a short label and its own colour (rounding used to be drawn like unexplained)."""
    colours = [k.colour for k in gaps.KINDS]
    for k in gaps.KINDS:
        assert k.label and k.short and k.colour, k.name
        assert gaps.SHORT[k.name] and gaps.COLOURS[k.name] and gaps.TEXT[k.name]
    assert len(set(colours)) == len(colours)
    assert gaps.COLOURS["rounding"] != gaps.COLOURS["unexplained"]


def test_every_gap_kind_has_both_sentences_with_known_fields():
    """The sentences live in the gaps table; a template naming a field the filler does not know fails here."""
    import string
    from tracker_utils.reconcile import verdict
    for k in gaps.KINDS:
        for template in (k.per_model, k.per_day):
            assert template.strip(), k.name
            names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
            assert names <= set(verdict.FIELDS), (k.name, names - set(verdict.FIELDS))
            assert verdict.fill(template, name="M", n="1", cost="$1.00")
    g = {"kind": "late_delivery", "invocations": 3, "hours": [14, 15]}
    assert verdict.gap_sentence(g, money.dec("0.5")) == (
        "3 calls in 2 hours (14:00, 15:00 UTC) reached the log bucket after the collection time: $0.50; "
        "collect again to include them")


def test_html_kit_escapes():
    from tracker_utils.report import html as kit
    out = kit.table(pd.DataFrame({"a<": ["<b>x</b>"], "raw": ["<i>y</i>"]}), {"a<"}, raw={"raw"})
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "<i>y</i>" in out and "<th class='n'>a&lt;</th>" in out
    assert kit.badge("<x>", "bad") == "<span class='badge b-bad'>&lt;x&gt;</span>"
    assert kit.box("<b>ok</b>", "warn") == "<div class='bt-box bt-warn'><b>ok</b></div>"


def _png_size(page: str) -> tuple[int, int]:
    import base64
    import struct
    raw = base64.b64decode(page.split("base64,", 1)[1].split("'", 1)[0])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", raw[16:24])


def test_bridge_with_nothing_logged_nor_billed_draws_its_steps():
    """Logs and bill at 0 while CloudWatch counts usage (a wrong prefix, a bill not in yet): the bridge's steps are
    the whole picture. Their labels used to sit a billion axis widths to the right, and the PNG came out 0 px wide
    ('cannot write empty image' failed the report)."""
    from decimal import Decimal

    from tracker_utils.report.charts import MAX_PX, plt
    from tracker_utils.report.daily_charts import _bridge
    from tracker_utils.report.html import fig_html
    fig, wf = plt.subplots(figsize=(12, 3))
    _bridge(wf, Decimal(0), Decimal(0), [("missing_delivery", Decimal("1.349221")), ("unexplained", Decimal("-1.349221"))])
    lo, hi = wf.get_xlim()
    assert lo <= 0 and hi >= 1.349221
    w, h = _png_size(fig_html(fig))
    assert 600 <= w <= MAX_PX and h > 100


def test_an_artist_far_off_its_axes_keeps_the_figures_box():
    from tracker_utils.report.charts import MAX_PX, plt
    from tracker_utils.report.html import fig_html
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.set_xlim(0, 1)
    ax.text(60, 0.5, "far away")          # 60 axis widths to the right
    w, h = _png_size(fig_html(fig))
    assert 500 <= w <= MAX_PX and h > 100

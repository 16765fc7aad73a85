"""Issue 15: the month builds itself: the catalog, periods, budgets and the FOCUS file."""
from __future__ import annotations

import csv
import json
import shutil
from decimal import Decimal

import pytest
import yaml

from tests.conftest import write_params
from tracker_utils import budgets
from tracker_utils.config import ParamError, load_params
from tracker_utils.report import alerts, focus
from tracker_utils.run import cli
from tracker_utils.run.runner import Outcome, RunResult

PERIOD_FILES = ("chargeback.csv", "chargeback.json", "by_day_region.csv", "focus.csv")


# --- budgets and the forecast (hand-made days) -----------------------------------------------------------------------
def _summary(date, billed, apps):
    return {"date": date, "region": "us-east-1", "totals": {"billed_cost_usd": billed},
            "apps": [{"app": a, "team": t, "cost_centre": c, "billed_share_usd": v} for a, t, c, v in apps]}


def test_forecast_is_one_method_with_a_range():
    f = budgets.forecast({"2026-11-01": Decimal("10"), "2026-11-02": Decimal("14")}, "2026-11")
    assert f.mtd == 24 and f.value == 24 + 12 * 28 and f.days_reported == 2
    sd = Decimal(8).sqrt()                                   # sample variance of 10 and 14 is 8
    band = Decimal("1.96") * sd * Decimal(28).sqrt()
    assert abs((f.high - f.value) - band) < Decimal("1e-20") and abs((f.value - f.low) - band) < Decimal("1e-20")
    one = budgets.forecast({"2026-11-05": Decimal("3")}, "2026-11")
    assert one.value == 3 + 3 * 25 and one.low is None


@pytest.mark.parametrize("budget, want", [("1000", "ok"), ("100", "at_risk"), ("20", "over")])
def test_budget_status_alerts_and_exit_code(tmp_path, budget, want):
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump({"apps": [{"app": "Chatbot", "team": "CX", "cost_centre": "C1",
                                                                  "match": {"role": "Chat*"}}]}))
    (tmp_path / "budgets.yaml").write_text(yaml.safe_dump({"monthly": {"apps": {"Chatbot": budget}}}))
    p = load_params(None, {"apps_file": str(tmp_path / "apps.yaml"), "budgets_file": str(tmp_path / "budgets.yaml"),
                           "output_dir": str(tmp_path / "out")})
    ss = [_summary("2026-11-01", "12", [("Chatbot", "CX", "C1", "10")]),
          _summary("2026-11-02", "12", [("Chatbot", "CX", "C1", "14")])]
    doc = alerts.write_alerts(p, "2026-11", ss, tmp_path / "out" / "periods" / "2026-11")
    stored = json.loads((tmp_path / "out" / "periods" / "2026-11" / "alerts.json").read_text())
    assert stored == json.loads(json.dumps(doc))
    listed = {r["name"]: r["status"] for r in doc["over"] + doc["at_risk"]}
    assert listed == ({} if want == "ok" else {"Chatbot": want}) and doc["ok"] == (want == "ok")
    row = alerts.evaluate(p, "2026-11", ss)[0]
    assert (row["mtd_usd"], row["forecast_usd"]) == ("24.00", "360.00")        # 24 + 12 x 28 days
    result = RunResult([Outcome("2026-11-02", "us-east-1", "complete")], doc["over"] + doc["at_risk"])
    assert cli._exit_code(result) == (budgets.EXIT_OVER if want == "over" else 0)


def test_a_budget_for_an_unknown_application_is_refused_with_a_suggestion(tmp_path):
    rules = [{"app": "Chatbot", "team": "CX"}, {"app": "DocSummarizer"}]
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"monthly": {"apps": {"Chatbt": 5}}}))
    with pytest.raises(budgets.BudgetError, match=r"application 'Chatbt' is not in apps.yaml \(did you mean 'Chatbot'\?\)"):
        budgets.load(tmp_path / "b.yaml", budgets.known_names(rules))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"monthly": {"team": {"CX": 5}}}))
    with pytest.raises(budgets.BudgetError, match="did you mean 'teams'"):
        budgets.load(tmp_path / "b.yaml", budgets.known_names(rules))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"monthly": {"apps": {"role:Other-Role": 5}, "total": 50}}))
    assert budgets.load(tmp_path / "b.yaml", budgets.known_names(rules))["app"] == {"role:Other-Role": Decimal(5)}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"monthly": {"apps": {"Chatbt": 5}}}))
    p = load_params(None, {"budgets_file": str(tmp_path / "b.yaml"), "apps_file": str(tmp_path / "none.yaml")})
    with pytest.raises(ParamError, match="not in apps.yaml"):
        alerts.load_budgets(p)


# --- on the demo ------------------------------------------------------------------------------------------------------
def test_focus_file_has_the_columns_and_adds_up_to_the_bill(demo_run):
    out, _, _, truth = demo_run
    rows = list(csv.DictReader((out / "periods" / "2026-11" / "focus.csv").open()))
    assert list(rows[0]) == focus.COLUMNS
    billed = sum(Decimal(json.loads((out / k / "summary.json").read_text())["totals"]["billed_cost_usd"])
                 for k in truth["runs"])
    assert sum(Decimal(r["BilledCost"]) for r in rows) == billed
    assert {r["ServiceCategory"] for r in rows} == {"AI and Machine Learning"}
    assert {r["ConsumedUnit"] for r in rows} == {"Tokens"} and {r["BillingCurrency"] for r in rows} == {"USD"}
    chatbot = [r for r in rows if json.loads(r["Tags"])["application"] == "Chatbot"]
    assert chatbot and all(int(r["ConsumedQuantity"]) == sum(int(r[c]) for c in
                           ("x_InputTokens", "x_OutputTokens", "x_CacheReadTokens", "x_CacheWriteTokens")) for r in chatbot)


@pytest.mark.slow
def test_a_one_day_run_after_the_demo_keeps_every_report_and_the_month(demo_run, small_demo, tmp_path):
    from tracker_utils.run import runner
    ref, _, _, truth = demo_run
    out = tmp_path / "out"
    shutil.copytree(ref, out, ignore=shutil.ignore_patterns("*.ipynb", "screenshots"))
    root, spec, _ = small_demo
    pf = write_params(tmp_path / "p.yaml", data_root=str(root), output_dir=str(out), start=spec.dates[1],
                      end=spec.dates[1], regions=["us-east-1"])
    assert [o.status for o in runner.run(str(pf), {}, force=True)] == ["complete"]
    index = (out / "index.html").read_text()
    assert sum(f"{k}/report.html" in index for k in truth["runs"]) == 6
    doc = json.loads((out / "periods" / "2026-11" / "chargeback.json").read_text())
    assert doc["period"]["start"] == spec.dates[0] and doc["period"]["end"] == spec.dates[-1]
    # every region and day of the month so far, not only the one-day run's region
    assert len(doc["reports_included"]) == 6 and doc["regions"] == ["ap-northeast-2", "us-east-1"]


@pytest.mark.slow
def test_a_daily_job_builds_the_same_month_as_one_run(demo_run, small_demo, tmp_path):
    """The demo's days one run at a time, as a scheduler would: the month's files equal those of one run."""
    from tracker_utils.run import runner
    ref = demo_run[0]
    root, spec, _ = small_demo
    out = tmp_path / "out"
    pf = write_params(tmp_path / "p.yaml", data_root=str(root), output_dir=str(out), start=spec.start,
                      end=spec.dates[-1])
    for day in spec.dates:
        runner.run(str(pf), {"start": day, "end": day})
    for name in PERIOD_FILES:
        assert (out / "periods" / "2026-11" / name).read_bytes() == (ref / "periods" / "2026-11" / name).read_bytes(), name


def test_what_changed_ranks_applications_and_models_by_their_contribution():
    from tracker_utils.report import compare

    def s(date, apps, models):
        return {"date": date, "region": "us-east-1", "totals": {"billed_cost_usd": str(sum(Decimal(v) for v in apps.values()))},
                "apps": [{"app": a, "billed_share_usd": v} for a, v in apps.items()],
                "models": [{"model": m, "name": m, "billed": {"cost_usd": v}} for m, v in models.items()]}
    before = [s("2026-11-01", {"Chatbot": "10", "Search": "5"}, {"haiku": "9", "nova": "6"})]
    now = [s("2026-11-02", {"Chatbot": "11", "Search": "1", "New": "4"}, {"haiku": "6", "nova": "10"})]
    apps = compare.contributions(now, before, "app")
    assert list(apps["name"]) == ["New", "Search", "Chatbot"]               # by size of the change (ties: by name)
    assert list(apps["change"]) == [Decimal(4), Decimal(-4), Decimal(1)] and list(apps["share"]) == ["400.0%", "-400.0%", "100.0%"]
    models = compare.contributions(now, before, "model")
    assert dict(zip(models["name"], models["change"])) == {"nova": Decimal(4), "haiku": Decimal(-3)}

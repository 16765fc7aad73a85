"""The explorer: static under papermill (interactive=False), widgets otherwise, the same drawing function for both."""
from __future__ import annotations

import json
from decimal import Decimal

import nbformat
import pytest

from tracker_utils.report import explore


@pytest.fixture(scope="module")
def data(demo_run):
    return explore.load(output_dir=str(demo_run[0]), params_file=str(demo_run[1]))


def test_explore_notebook_runs_static_under_papermill(demo_run, tmp_path):
    import papermill as pm
    from tracker_utils.run import runner
    out, pf, _, _ = demo_run
    target = tmp_path / "explore.ipynb"
    runner.execute(str(runner.NOTEBOOK_DIR / "explore.ipynb"), str(target),
                        parameters={"params_file": str(pf), "output_dir": str(out), "interactive": False,
                                    "regions": "us-east-1", "metric": "cost"},
                        kernel_name=runner.ensure_kernel(), cwd=str(runner.NOTEBOOK_DIR), progress_bar=False,
                        execution_timeout=120)
    nb = nbformat.read(str(target), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "application/vnd.jupyter.widget-view+json" not in json.dumps(outputs)      # no widgets in batch
    assert html.count("data:image/png;base64,") >= 2                                  # daily and per-model charts
    assert "Cost from logs (USD) per day and application" in html and "regions us-east-1" in html
    for app in ("Chatbot", "Analytics", "user:carol"):
        assert f"<td>{app}</td>" in html


def test_load_reads_every_run_and_totals_match_the_summaries(demo_run, data):
    out, _, _, truth = demo_run
    assert len(data.summaries) == len(truth["runs"]) and not data.incomplete
    assert set(data.regions) == {"us-east-1", "ap-northeast-2"} and len(data.dates) == 3
    for key in truth["runs"]:
        date, region = key.split("/")
        s = json.loads((out / key / "summary.json").read_text())
        part = explore.select(data, explore.Selection(start=date, end=date, regions=(region,)))
        assert int(part["invocations"].sum()) == s["totals"]["logs_invocations"]
        for a in s["apps"]:          # summary.json holds each application's cost rounded to 6 decimals
            cost = sum(part.loc[part["app"] == a["app"], "cost"], Decimal(0))
            assert cost.quantize(Decimal("0.000001")) == Decimal(a["cost_usd"]), (key, a["app"])


def test_filters_and_metrics(data):
    sel = explore.Selection.parse(start=data.dates[0], end=data.dates[0], regions="us-east-1", apps="Chatbot, Analytics",
                                  metric="invocations")
    part = explore.select(data, sel)
    assert set(part["app"]) == {"Chatbot", "Analytics"} and set(part["date"]) == {data.dates[0]}
    t = explore.tables(data, sel)
    assert "Invocations by model and application" in t["pivot"] and f"{int(part['invocations'].sum()):,}" in t["kpis"]
    figs = explore.figures(data, sel)
    assert set(figs) == {"daily", "models"}
    assert figs["daily"].axes[0].get_title("left") == "Invocations per day and application"
    one_model = data.models[0]
    assert set(explore.select(data, explore.Selection(models=(one_model,)))["model"]) == {one_model}
    assert "Nothing matches" in explore.tables(data, explore.Selection(apps=("no-such-app",)))["apps"]
    with pytest.raises(ValueError):
        explore.Selection.parse(metric="dollars")
    with pytest.raises(ValueError):
        explore.Selection.parse(start="11/02/2026")


def test_widgets_redraw_in_place_with_the_same_function(data, monkeypatch):
    calls = []
    real = explore.render

    def spy(d, sel):
        calls.append(sel)
        return real(d, sel)

    monkeypatch.setattr(explore, "render", spy)
    monkeypatch.setattr(explore, "show", lambda *items, redactor=None: None)     # no front end in tests
    ui = explore.app(data, explore.Selection(metric="cost"))
    assert calls and calls[-1].metric == "cost"                        # drawn once on start
    ui.controls["metric"].value = "tokens"
    assert calls[-1].metric == "tokens"
    ui.controls["regions"].value = ("ap-northeast-2",)
    assert calls[-1].regions == ("ap-northeast-2",) and calls[-1].metric == "tokens"
    ui.controls["dates"].value = (data.dates[1], data.dates[2])
    assert (calls[-1].start, calls[-1].end) == (data.dates[1], data.dates[2])
    import ipywidgets as w
    assert isinstance(ui.output, w.Output) and ui.output in ui.children


def test_billed_share_is_the_default_and_equals_the_chargeback(demo_run, data, tmp_path):
    import csv
    out = demo_run[0]
    assert explore.Selection().metric == "billed" and list(explore.METRICS)[0] == "billed"
    rows = list(csv.DictReader((out / "periods" / "2026-11" / "chargeback.csv").open()))
    every = explore.select(data, explore.Selection())
    for r in rows:                    # the same selection (the whole period) gives the roll-up's shares exactly
        mine = sum(every.loc[every["app"] == r["app"], "billed"], Decimal(0))
        assert mine == Decimal(r["billed_share_usd"]), r["app"]
    assert "Share of the bill" in explore.tables(data, explore.Selection())["apps"]
    # an application keeps its colour whatever is selected
    figs = [explore.figures(data, explore.Selection(apps=apps)) for apps in ((), ("Chatbot",), ("Analytics", "Chatbot"))]
    colours = {tuple(p.get_facecolor()) for f in figs for p in f["daily"].axes[0].containers
               if p.get_label() == "Chatbot" for p in p.patches[:1]}
    assert len(colours) == 1
    # the selection exported: its shares add up to what the tables show
    path = explore.export_csv(data, explore.Selection(regions=("us-east-1",)), tmp_path / "sel.csv")
    got = list(csv.DictReader(path.open()))
    assert {r["region"] for r in got} == {"us-east-1"}
    part = explore.select(data, explore.Selection(regions=("us-east-1",)))
    assert sum(Decimal(r["billed_share_usd"]) for r in got) == sum(part["billed"], Decimal(0))


def test_the_date_range_is_written_out_and_the_selection_exports(data, monkeypatch, tmp_path):
    monkeypatch.setattr(explore, "show", lambda *items, redactor=None: None)
    monkeypatch.chdir(tmp_path)
    ui = explore.app(data, explore.Selection())
    ui.controls["dates"].value = (data.dates[0], data.dates[1])
    assert ui.controls["range"].value == f"<b>{data.dates[0]}</b> to <b>{data.dates[1]}</b>"
    ui.export()
    assert (tmp_path / f"explore_selection_{data.dates[0]}_{data.dates[1]}.csv").exists()

"""The whole chain (papermill, 4 notebooks, 2 regions x 3 days) on a small demo equals the demo's ground truth."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tracker_utils import money

TOKENS = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]


def _gap_key(g):
    return g["kind"]


def _sized(label: str, g: dict, w: dict, counts, errs: list[str]) -> None:
    """Counts must be equal; cost_usd within 1e-6 USD."""
    for k in counts:
        if g[k] != w[k]:
            errs.append(f"{label}.{k}: {g[k]} != {w[k]}")
    if abs(Decimal(g["cost_usd"]) - Decimal(w["cost_usd"])) > Decimal("0.000001"):
        errs.append(f"{label}.cost_usd: {g['cost_usd']} != {w['cost_usd']}")


def compare_summary(got: dict, want: dict) -> list[str]:
    """Differences between a summary.json and the ground truth (empty list = equal)."""
    errs = []
    gm = {m["model"]: m for m in got["models"]}
    wm = {m["model"]: m for m in want["models"]}
    if set(gm) != set(wm):
        errs.append(f"models differ: extra {sorted(set(gm) - set(wm))} missing {sorted(set(wm) - set(gm))}")
    for name in sorted(set(gm) & set(wm)):
        g, w = gm[name], wm[name]
        if g["model_ids_seen"] != w["model_ids_seen"]:
            errs.append(f"{name}: model_ids_seen {g['model_ids_seen']} != {w['model_ids_seen']}")
        for src in ("logs", "cloudwatch"):
            _sized(f"{name} {src}", g[src], w[src], ("invocations", *TOKENS), errs)
        _sized(f"{name} billed", g["billed"], w["billed"], (), errs)
        gg = {x["kind"]: x for x in g["gaps"]}
        wg = {x["kind"]: x for x in w["gaps"]}
        if set(gg) != set(wg):
            errs.append(f"{name} gap kinds {sorted(gg)} != {sorted(wg)}")
        for kind in set(gg) & set(wg):
            _sized(f"{name} gap {kind}", gg[kind], wg[kind], ("invocations", *TOKENS), errs)
            if kind in ("late_delivery", "logging_outage") and gg[kind]["hours"] != wg[kind]["hours"]:
                errs.append(f"{name} gap {kind}.hours {gg[kind]['hours']} != {wg[kind]['hours']}")
    ga = {a["app"]: a for a in got["apps"]}
    wa = {a["app"]: a for a in want["apps"]}
    if set(ga) != set(wa):
        errs.append(f"apps differ: {sorted(ga)} != {sorted(wa)}")
    for app in set(ga) & set(wa):
        _sized(f"app {app}", ga[app], wa[app], ("invocations", "input_tokens", "output_tokens"), errs)
    for k, v in want["totals"].items():
        gv = got["totals"].get(k)
        if isinstance(v, str):
            if gv is None or abs(Decimal(gv) - Decimal(v)) > Decimal("0.000001"):
                errs.append(f"totals.{k}: {gv} != {v}")
        elif gv != v:
            errs.append(f"totals.{k}: {gv} != {v}")
    for k, v in want["data_quality"].items():
        if got["data_quality"].get(k) != v:
            errs.append(f"data_quality.{k}: {got['data_quality'].get(k)} != {v}")
    return errs


def test_every_run_completes_and_is_indexed(demo_run):
    out, _, outcomes, truth = demo_run
    assert len(outcomes) == 6
    assert all(o.status == "complete" for o in outcomes), [(o.date, o.region, o.error) for o in outcomes]
    index = (out / "index.html").read_text()
    for key in truth["runs"]:
        date, region = key.split("/")
        assert f"{date}/{region}/report.html" in index
        assert (out / date / region / "report.html").exists()
        for nb in ("01_collect", "02_price", "03_reconcile", "04_report"):
            assert (out / date / region / f"{nb}.ipynb").exists()


@pytest.mark.parametrize("key", ["2026-11-02/us-east-1", "2026-11-03/us-east-1", "2026-11-04/us-east-1",
                                 "2026-11-02/ap-northeast-2", "2026-11-03/ap-northeast-2", "2026-11-04/ap-northeast-2"])
def test_summary_equals_ground_truth(demo_run, key):
    out, _, _, truth = demo_run
    got = json.loads((out / key / "summary.json").read_text())
    want = truth["runs"][key]
    assert compare_summary(got, want) == []


def test_every_injected_gap_is_found_and_nothing_unexplained(demo_run):
    out, _, _, truth = demo_run
    kinds = set()
    for key in truth["runs"]:
        s = json.loads((out / key / "summary.json").read_text())
        assert not any(g["kind"] == "unexplained" for g in s["gaps"]), s["verdict"]
        assert "nothing is unexplained" in s["verdict"]
        kinds |= {g["kind"] for g in s["gaps"]}
    assert {"late_delivery", "logging_outage", "failed_calls", "day_edge", "unpriced_model", "price_mismatch",
            "unlogged_endpoint"} <= kinds


def test_identities_hold(demo_run):
    """CloudWatch - logs = sum of usage gaps; billed - logs cost = sum of cost gaps, for every model."""
    out, _, _, truth = demo_run
    for key in truth["runs"]:
        s = json.loads((out / key / "summary.json").read_text())
        for m in s["models"]:
            for k in ("invocations", *TOKENS):
                usage = sum(g[k] for g in m["gaps"] if g["usage_gap"])
                assert m["cloudwatch"][k] - m["logs"][k] == usage, (key, m["model"], k)
            cost = sum(Decimal(g["cost_usd"]) for g in m["gaps"] if not g["in_logs"])
            # each figure is rounded to 6 decimals on its own: allow half a micro-dollar per term
            terms = 2 + len(m["gaps"])
            diff = Decimal(m["billed"]["cost_usd"]) - Decimal(m["logs"]["cost_usd"]) - cost
            assert abs(diff) <= Decimal("0.0000005") * terms, (key, m["model"], diff)


def test_rerun_skips_complete_runs(demo_run):
    from tracker_utils.run import runner
    out, pf, _, _ = demo_run
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/*/summary.json")}
    outcomes = runner.run(str(pf), {}, force=False, jobs=1)
    assert all(o.status == "skipped" for o in outcomes)
    assert before == {p: p.stat().st_mtime_ns for p in out.glob("*/*/summary.json")}


def test_application_shares_add_up_to_the_bill(demo_run):
    out, _, _, truth = demo_run
    for key in truth["runs"]:
        s = json.loads((out / key / "summary.json").read_text())
        shares = sum(Decimal(a["billed_share_usd"]) for a in s["apps"])
        assert shares == Decimal(s["totals"]["billed_cost_usd"]), key          # exactly: rounded once, largest remainder
        assert all(Decimal(a["billed_share_usd"]) == Decimal(a["billed_share_usd"]).quantize(Decimal("0.000001"))
                   for a in s["apps"])


def test_percentages_and_table_totals_add_up_exactly(demo_run):
    """Per summary: the shares' percentages add up to 100.00; in every report, each money column of the
    applications table adds up, in cents, to its total row, and the total row equals the headline."""
    import html as html_lib
    import re
    out, _, _, truth = demo_run
    cell = re.compile(r"<span title=['\"](-?[0-9.]+) USD['\"]>([^<]*)</span>")
    for key in truth["runs"]:
        s = json.loads((out / key / "summary.json").read_text())
        assert sum(Decimal(a["share_of_bill_pct"]) for a in s["apps"]) == Decimal("100.00"), key
        html = (out / key / "report.html").read_text()
        table = html.split("Cost by application", 1)[1].split("</table>", 1)[0]
        rows = [[(e, html_lib.unescape(t)) for e, t in cell.findall(r)] for r in table.split("<tr")[2:]]
        money_rows = [r for r in rows if len(r) == 2]
        *body, total = money_rows
        for col in (0, 1):
            shown = [Decimal(r[col][1].replace("$", "").replace(",", "").replace("<", "")) if "<" not in r[col][1]
                     else Decimal(0) for r in body]
            assert sum(shown) == Decimal(total[col][1].replace("$", "").replace(",", "")), (key, col)
        billed = Decimal(s["totals"]["billed_cost_usd"])
        assert Decimal(total[1][0]) == billed and total[1][1] == money.cents(billed), key


def test_statuses_follow_the_injected_discrepancies(demo_run):
    """us-east-1 has a model the book does not price every day (partial: a lower bound); ap-northeast-2 has a
    stale price every day and a logging outage on day 1 (explained: named and sized). Nothing is green."""
    out, _, _, truth = demo_run
    want = {}
    for key in truth["runs"]:
        date, region = key.split("/")
        want[key] = "partial" if region == "us-east-1" else "explained"
    got = {k: json.loads((out / k / "summary.json").read_text())["status"] for k in truth["runs"]}
    assert got == want
    s = json.loads((out / next(iter(truth["runs"])) / "summary.json").read_text())
    first_apne2 = json.loads((out / f"{min(k.split('/')[0] for k in truth['runs'])}/ap-northeast-2/summary.json").read_text())
    assert "a logging outage" in " ".join(first_apne2["status_reasons"])
    assert "a price the book has wrong" in " ".join(first_apne2["status_reasons"])
    assert s["status_reasons"]
    index = (out / "index.html").read_text()
    assert index.count("b-warn'>partial<") == 3 and index.count("b-info'>explained<") == 3
    assert "b-ok'>reconciled<" not in index


def test_money_crosses_stages_as_decimal128(demo_run):
    """Money in the stage files is exact decimal128(38, 12): never text, never floats."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tracker_utils.schema import COLLECT, PRICE
    out = demo_run[0]
    data = next(out.glob("*/us-east-1/data"))
    want = pa.decimal128(38, 12)
    files = {COLLECT.BILL: ["cost_usd"], PRICE.BILL: ["cost_usd"],
             **{f: ["cost_usd", "cost_input", "cost_output", "cost_cache_read", "cost_cache_write"]
                for f in (PRICE.LOGS, PRICE.LOGS_LATE, PRICE.CLOUDWATCH)}}
    for name, cols in files.items():
        schema = pq.read_schema(data / name)
        for c in cols:
            assert schema.field(c).type == want, (name, c, schema.field(c).type)
    logs = pq.read_table(data / PRICE.LOGS).to_pandas()
    assert logs["cost_usd"].map(type).eq(Decimal).all() and logs["cost_usd"].sum() > 0


def test_cur_export_gives_the_same_reconciliation_as_cost_explorer(small_demo, tmp_path):
    """The demo's bill as a CUR 2.0 export (per IAM principal, with tax and S3 rows) reconciles exactly as CE does."""
    from tracker_utils import config
    from tracker_utils.collect import stage as collect
    from tracker_utils.price import stage as pricing
    from tracker_utils.reconcile import stage as reconcile
    root, spec, truth = small_demo
    for key, want in truth["runs"].items():
        date, region = key.split("/")
        cfg = config.resolve(date, region, data_root=str(root), output_dir=str(tmp_path), cost_source="cur",
                             cur=str(root / "cur"), start=spec.start, end=spec.dates[-1])
        info = collect.run(cfg)
        assert info["bill"]["source"] == "cur" and info["bill"]["excluded"]["Tax"]["rows"] == 1
        pricing.run(cfg)
        got = reconcile.run(cfg)
        assert compare_summary(got, want) == [], key
        # per-principal cost straight from the bill: roles without sessions, adding up to the bill
        principals = {p["principal"]: Decimal(p["cost_usd"]) for p in got["bill_principals"]}
        assert any(p.endswith(":role/ChatbotProd-BedrockRole") for p in principals), key
        assert not any("assumed-role" in p for p in principals)
        assert abs(sum(principals.values()) - Decimal(got["totals"]["billed_cost_usd"])) <= Decimal("0.00001")


def test_collecting_again_detects_late_delivery(small_demo, tmp_path):
    """Collect as of +1h, then again later: the objects that arrived in between are named as late delivery."""
    from tracker_utils import config
    from tracker_utils.collect import stage as collect
    from tracker_utils.price import stage as pricing
    from tracker_utils.reconcile import stage as reconcile
    root, spec, truth = small_demo
    date, region = spec.dates[1], "us-east-1"
    kw = dict(data_root=str(root), output_dir=str(tmp_path), start=spec.start, end=spec.dates[-1])
    first = collect.run(config.resolve(date, region, logs_as_of="+1h", **kw))
    assert first["data_quality"]["arrived_since_previous_collection"] is None
    cfg = config.resolve(date, region, logs_as_of="+3h", **kw)
    again = collect.run(cfg)
    arrivals = again["data_quality"]["arrived_since_previous_collection"]
    late = truth["runs"][f"{date}/{region}"]["data_quality"]["records_late"]
    assert arrivals["new_records_of_day"] == late > 0 and arrivals["hours"] == [14, 15]
    pricing.run(cfg)
    s = reconcile.run(cfg)
    assert f"{late:,} records arrived after the previous collection" in s["verdict"]
    assert not any(g["kind"] == "late_delivery" for g in s["gaps"])     # now included: no gap left


def test_compare_summary_reports_differences(small_demo):
    """The comparison itself can fail: a changed token count, cost and gap are each reported."""
    import copy
    _, _, truth = small_demo
    want = truth["runs"]["2026-11-03/us-east-1"]
    got = copy.deepcopy(want)
    got["models"][0]["logs"]["input_tokens"] += 1
    got["models"][0]["cloudwatch"]["cost_usd"] = str(Decimal(got["models"][0]["cloudwatch"]["cost_usd"]) + Decimal("0.00001"))
    got["apps"][0]["cost_usd"] = "999.000000"
    errs = compare_summary(got, want)
    assert len(errs) == 3 and any("logs.input_tokens" in e for e in errs) and any("cloudwatch.cost_usd" in e for e in errs)
    assert compare_summary(want, want) == []


@pytest.mark.slow
def test_a_region_with_no_data_is_a_no_data_report(small_demo, tmp_path):
    """No logs, no metrics and no bill lines (the demo has nothing in us-west-2): a report, not a failure."""
    from tests.conftest import write_params
    from tracker_utils.run import cli
    root, spec, _ = small_demo
    out = tmp_path / "out"
    pf = write_params(tmp_path / "p.yaml", data_root=str(root), output_dir=str(out), start=spec.start, end=spec.start,
                      regions=["us-west-2"])
    assert cli.main(["-q", "run", "--params", str(pf)]) == 0
    s = json.loads((out / spec.start / "us-west-2" / "summary.json").read_text())
    assert s["status"] == "no_data" and s["status_reasons"][0].startswith("No invocation logs, no CloudWatch metrics")
    assert "no data" in (out / spec.start / "us-west-2" / "report.html").read_text()
    assert "b-grey'>no data<" in (out / "index.html").read_text()

"""Logging switched on partway through the day: the status names it in one line, and the hours before it (and the
start hour's unlogged part) are a missing delivery, never unexplained.

The case: a copy of the small demo whose us-east-1 log objects of one day exist only from the 09 hour folder on,
and whose CloudWatch log-delivery metrics are absent before then (what an account shows while logging is off). The
truth is the demo's own invocations: the first record of the day delivered from 09:00 on.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil

import pandas as pd

from tracker_utils import config, demo
from tracker_utils.collect import logconfig
from tracker_utils.collect import stage as collect
from tracker_utils.price import stage as pricing
from tracker_utils.price.book import PriceBook
from tracker_utils.reconcile import stage as reconcile
from tracker_utils.schema import RECONCILE

REGION, CUT = "us-east-1", 9


def _switched_on_at_nine(small_demo, tmp_path):
    root, spec, truth = small_demo
    date = spec.dates[1]
    copy = tmp_path / "account"
    shutil.copytree(root, copy, symlinks=True)
    d = dt.date.fromisoformat(date)
    base = copy / "s3" / spec.bucket / spec.prefix / "AWSLogs" / spec.account / "BedrockModelInvocationLogs" / REGION
    for h in range(CUT):
        shutil.rmtree(base / f"{d:%Y/%m/%d}" / f"{h:02d}", ignore_errors=True)
    invs = demo.generate(spec, PriceBook.load())
    t_cut = dt.datetime.combine(d, dt.time(CUT), tzinfo=dt.timezone.utc)
    first = min(i.ts for i in invs if i.region == REGION and i.day == date and i.delivered and i.delivered >= t_cut)
    cw_path = copy / "cloudwatch" / REGION / f"{date}.json"
    rec = json.loads(cw_path.read_text())
    queries = {q["Id"]: q for q in rec["get_metric_data"]["queries"]}
    for page in rec["get_metric_data"]["pages"]:
        for res in page["MetricDataResults"]:
            if "Delivery" in queries[res["Id"]]["MetricStat"]["Metric"]["MetricName"]:
                keep = [(t, v) for t, v in zip(res["Timestamps"], res["Values"])
                        if dt.datetime.fromisoformat(t).hour >= first.hour]
                res["Timestamps"], res["Values"] = [t for t, _ in keep], [v for _, v in keep]
    cw_path.write_text(json.dumps(rec))
    cfg = config.resolve(date, REGION, data_root=str(copy), output_dir=str(tmp_path / "out"), start=spec.start,
                         end=spec.dates[-1])
    return cfg, first


def test_logging_started_partway_is_a_finding_not_unexplained(small_demo, tmp_path):
    cfg, first = _switched_on_at_nine(small_demo, tmp_path)
    info = collect.run(cfg)
    f = info["data_quality"]["logging_started"]
    assert f["first_record_at"] == pd.Timestamp(first).floor("s").isoformat() or f["first_record_at"].startswith(
        first.strftime("%Y-%m-%dT%H:%M:%S"))
    assert f["finding"].startswith(f"logging started at {first:%H:%M} UTC")
    assert max(f["hours_before"]) < first.hour and f["cloudwatch_invocations_before"] > 0
    pricing.run(cfg)
    s = reconcile.run(cfg)
    assert s["status"] == "partial"
    started = [r for r in s["status_reasons"] if r.startswith("Logging started at")]
    assert len(started) == 1 and f"{first:%H:%M} UTC" in started[0]
    hourly = pd.read_parquet(cfg.data(RECONCILE.HOURLY))
    early = hourly[hourly["hour"].dt.hour <= first.hour]
    assert set(early.loc[early["residual_invocations"] > 0, "cause"]) == {"missing_delivery"}
    assert "unexplained" not in set(early["cause"])
    missing = next(g for g in s["gaps"] if g["kind"] == "missing_delivery")
    assert set(f["hours_before"]) <= set(missing["hours"])
    unexp = next((g for g in s["gaps"] if g["kind"] == "unexplained"), None)
    assert unexp is None or unexp.get("within_tolerance")


def test_no_finding_on_the_unchanged_demo_or_for_an_outage(small_demo, tmp_path):
    """The demo itself (records from 00:00; an outage at 09:00 with the delivery-failure metric) has no such finding."""
    root, spec, truth = small_demo
    for region in spec.regions:
        cfg = config.resolve(spec.dates[0], region, data_root=str(root), output_dir=str(tmp_path), start=spec.start,
                             end=spec.dates[-1])
        assert "logging_started" not in collect.run(cfg)["data_quality"]
    hours = pd.to_datetime(["2026-11-03T03:00Z", "2026-11-03T04:00Z"], utc=True)
    cw = pd.DataFrame({"hour": hours, "model_id": ["m", ""], "metric": ["Invocations",
                                                                        "ModelInvocationLogsS3DeliveryFailure"],
                       "value": [5, 1]})
    times = [pd.Timestamp("2026-11-03T05:10Z")]
    assert logconfig.started_finding(times, cw, "2026-11-03") is None          # a delivery failure: an outage
    f = logconfig.started_finding(times, cw[cw["model_id"] == "m"], "2026-11-03")
    assert f["finding"].startswith("logging started at 05:10 UTC on 2026-11-03") and f["hours_before"] == [3]

"""The operations view: latency percentiles, throttles and errors, and quota headroom against Service Quotas.

Truth: the demo's spec (``LATENCY_P50_MS``: p90 = 2 x p50, p99 = 4 x p50, the same every hour) and its ground truth
(``operations`` of each run: counts, the busiest minute of each quota and the quota the demo wrote), computed from
the generator's own invocations; quota names matched by hand below.
"""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from tracker_utils import config
from tracker_utils.collect import operations as opsrc
from tracker_utils.collect import quotas as q
from tracker_utils.collect import stage as collect
from tracker_utils.demo.spec import TIGHT_QUOTA
from tracker_utils.schema import COLLECT

TIGHT = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"


def _rec(*names_values):
    return {"pages": [{"Quotas": [{"QuotaCode": f"L-{i}", "QuotaName": n, "Value": v, "ServiceCode": "bedrock"}
                                  for i, (n, v) in enumerate(names_values)]}]}


QUOTAS = q.parse_quotas(_rec(
    ("On-demand model inference tokens per minute for Anthropic Claude 3 Haiku", 400_000),
    ("On-demand InvokeModel requests per minute for Anthropic Claude 3 Haiku", 1_000),
    ("Cross-region model inference tokens per minute for Anthropic Claude 3.7 Sonnet V1", 500_000),
    ("Global cross-region model inference tokens per minute for Anthropic Claude Sonnet 4.5 V1", 600_000),
    ("Cross-region model inference tokens per minute for Anthropic Claude Sonnet 4.5 V1", 700_000),
    ("Cross-region model inference tokens per minute for Meta Llama 3 70B Instruct", 1),
    ("Cross-region model inference tokens per minute for Meta Llama 3.3 70B Instruct", 300_000),
    ("On-demand model inference tokens per minute for Anthropic Claude 3.5 Sonnet V2", 2),
    ("On-demand model inference tokens per minute for Amazon Titan Text Embeddings V2", 300_000),
    ("On-demand latency-optimized model inference tokens per minute for Anthropic Claude 3 Haiku", 3),
    ("Batch inference job size (in GB) for Anthropic Claude 3 Haiku", 5),
    ("Model invocation max tokens per day for Anthropic Claude 3 Haiku", 6),
))


@pytest.mark.parametrize("model_id,tpm,rpm", [
    ("anthropic.claude-3-haiku-20240307-v1:0", 400_000, 1_000),          # "InvokeModel requests" is the RPM quota
    ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", 500_000, None),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", 600_000, None),  # global, not the cross-region one
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 700_000, None),
    ("us.meta.llama3-3-70b-instruct-v1:0", 300_000, None),                # 3.3, not Llama 3
    ("us.meta.llama3-70b-instruct-v1:0", 1, None),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", None, None),            # v1 is not the V2 quota
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", 2, None),
    ("amazon.titan-embed-text-v2:0", 300_000, None),                      # embed = Embeddings
    ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", 400_000, 1_000),
    ("global.anthropic.claude-opus-5-5-20261101-v1:0", None, None),
])
def test_quota_names_match_model_ids(model_id, tpm, rpm):
    m = q.match(model_id, QUOTAS)
    assert (m["tpm"], m["rpm"]) == (tpm, rpm)
    if tpm is None and rpm is None:
        assert m["note"].startswith("no ") and model_id in m["note"]
    # batch, per-day and latency-optimized quotas are not rate quotas of a model
    assert not QUOTAS["quota_name"].str.contains("Batch|per day|latency-optimized").any()


def test_application_profile_counts_against_its_source_quota():
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
    assert q.match(arn, QUOTAS, {arn: {"source": "anthropic.claude-3-haiku-20240307-v1:0"}})["tpm"] == 400_000
    unknown = q.match(arn, QUOTAS, {})
    assert unknown["tpm"] is None and "application inference profile" in unknown["note"]
    assert q.match("anthropic.claude-3-haiku-20240307-v1:0", q.parse_quotas(None))["note"].startswith("no quota table")


def test_peak_minute_sums_the_model_ids_of_one_quota():
    """Two ids on one quota: their minutes add up; the earliest busiest minute wins a tie; no quota = no share."""
    t = pd.Timestamp("2026-11-03T10:00Z")
    rows = []
    for mid, minute, inv, i, o in [("anthropic.claude-3-haiku-20240307-v1:0", 1, 2, 100, 50),
                                   ("arn:aws:bedrock:us-east-1:1:application-inference-profile/x", 1, 1, 1000, 0),
                                   ("anthropic.claude-3-haiku-20240307-v1:0", 2, 5, 10, 0),
                                   ("global.anthropic.claude-opus-5-5-20261101-v1:0", 3, 1, 7, 7)]:
        tm = t + pd.Timedelta(minutes=minute)
        rows += [(tm, mid, "Invocations", "Sum", 60, float(inv)), (tm, mid, "InputTokenCount", "Sum", 60, float(i)),
                 (tm, mid, "OutputTokenCount", "Sum", 60, float(o))]
    ops = pd.DataFrame(rows, columns=["time", "model_id", "metric", "stat", "period", "value"])
    cw = pd.DataFrame(columns=["hour", "model_id", "metric", "value"])
    prof = {"arn:aws:bedrock:us-east-1:1:application-inference-profile/x": {"source": "anthropic.claude-3-haiku-20240307-v1:0"}}
    m = opsrc.models(cw, ops, QUOTAS, prof).set_index("model_id")
    haiku = m.loc["anthropic.claude-3-haiku-20240307-v1:0"]
    assert haiku["peak_tokens_per_minute"] == 1150 and haiku["peak_tokens_at"] == "2026-11-03T10:01:00+00:00"
    assert haiku["peak_requests_per_minute"] == 5 and haiku["peak_requests_at"] == "2026-11-03T10:02:00+00:00"
    assert haiku["tpm_used_pct"] == pytest.approx(100 * 1150 / 400_000) and haiku["rpm_used_pct"] == pytest.approx(0.5)
    assert "application-inference-profile/x" in haiku["quota_shared_with"]
    opus = m.loc["global.anthropic.claude-opus-5-5-20261101-v1:0"]
    assert math.isnan(opus["tpm_used_pct"]) and math.isnan(opus["tpm_quota"]) and opus["quota_note"]


def _collected(small_demo, tmp_path):
    root, spec, truth = small_demo
    out = {}
    for key in truth["runs"]:
        date, region = key.split("/")
        cfg = config.resolve(date, region, data_root=str(root), output_dir=str(tmp_path), start=spec.start,
                             end=spec.dates[-1])
        info = collect.run(cfg)
        out[key] = (cfg, info)
    return out


def _equal_to_truth(models: pd.DataFrame, want: dict, key: str) -> None:
    got = models.set_index("model_id")
    assert sorted(got.index) == sorted(want), key
    for model_id, w in want.items():
        for col, v in w.items():
            g = got.loc[model_id, col]
            if v is None:
                assert g is None or (isinstance(g, float) and math.isnan(g)), (key, model_id, col, g)
            elif isinstance(v, float):
                assert g == pytest.approx(v, rel=1e-12), (key, model_id, col, g, v)
            else:
                assert g == v, (key, model_id, col, g, v)


def test_collect_operations_equal_the_demo_truth(small_demo, tmp_path):
    """Every run: percentiles, counts, peak minutes and quota shares equal the ground truth; by hand, Claude Sonnet 4.5
    (global) is 1,200 / 2,400 / 4,800 ms and its tight quota is used over 80% on at least one day."""
    root, spec, truth = small_demo
    over, throttled = set(), 0
    for key, (cfg, info) in _collected(small_demo, tmp_path).items():
        models = pd.read_parquet(cfg.data(COLLECT.OPERATIONS_MODELS))
        _equal_to_truth(models, truth["runs"][key]["operations"], key)
        throttled += int(models["throttles"].sum())
        over |= {(cfg.region, m) for m in info["operations"]["over_80pct_of_quota"]}
        hourly = pd.read_parquet(cfg.data(COLLECT.OPERATIONS))
        assert hourly.groupby("model_id")["invocations"].sum().to_dict() == models.set_index("model_id")["invocations"].to_dict()
        if cfg.region == "us-east-1":
            row = models.set_index("model_id").loc[TIGHT]
            assert (row["latency_p50_ms"], row["latency_p90_ms"], row["latency_p99_ms"]) == (1200.0, 2400.0, 4800.0)
            ok = hourly[(hourly["model_id"] == TIGHT) & (hourly["invocations"] > 0)]
            assert len(ok) and set(ok["latency_p99_ms"]) == {4800.0}
            assert "global.anthropic.claude-opus-5-5-20261101-v1:0" in info["operations"]["without_quota"]
    assert throttled > 0
    assert over == set(TIGHT_QUOTA)


def test_callout_is_escaped_and_never_claims_headroom_without_a_quota():
    from tracker_utils.report import operations as rep
    m = pd.DataFrame([{"model_id": "<script>alert(1)</script>", "invocations": 3, "throttles": 2, "client_errors": 0,
                       "server_errors": 0, "latency_p50_ms": 1.0, "latency_p90_ms": 2.0, "latency_p99_ms": 4.0,
                       "peak_tokens_per_minute": 900, "peak_tokens_at": "2026-11-03T10:01:00+00:00",
                       "peak_requests_per_minute": 1, "peak_requests_at": "2026-11-03T10:01:00+00:00",
                       "tpm_quota": None, "tpm_quota_name": "", "rpm_quota": None, "rpm_quota_name": "",
                       "tpm_used_pct": None, "rpm_used_pct": None, "quota_shared_with": "", "quota_note": "no quota"}])
    for c in ("tpm_quota", "rpm_quota", "tpm_used_pct", "rpm_used_pct"):
        m[c] = m[c].astype(float)
    html = rep.callout_box(m)
    assert "<script>" not in html and "&lt;script&gt;" in html and "2 throttled requests" in html
    assert "No quota found for &lt;script&gt;" in html
    t = rep.models_table(m)
    assert "no quota" in t and "100" not in t.replace("1.0", "")


@pytest.mark.slow
def test_report_and_rollup_show_the_known_values(demo_run):
    """End to end on the demo: the daily report's callout names the tight model with the truth's share of its quota,
    the table its percentiles; the roll-up has the per-model summary."""
    out, _, outcomes, truth = demo_run
    for key, run in truth["runs"].items():
        date, region = key.split("/")
        page = (out / date / region / "report.html").read_text().replace('"', "'")     # nbconvert's quotes
        assert "Operations: " in page
        for model_id, w in run["operations"].items():
            if (w["tpm_used_pct"] or 0) > 80:
                assert f"used {w['tpm_used_pct']:.1f}% of the tokens-per-minute quota ({w['peak_tokens_per_minute']:,} " \
                       f"of {w['tpm_quota']:,.0f}" in page, (key, model_id)
            if w["throttles"]:
                assert f"{model_id}: {w['throttles']} throttled request" in page, (key, model_id)
        if region == "us-east-1":
            assert ">1,200</td><td class='n'>2,400</td><td class='n'>4,800<" in page
    rollup = next(out.glob("periods/*/rollup.html")).read_text()
    assert "Operations over the period" in rollup and TIGHT in rollup


@pytest.mark.slow
def test_operations_through_moto_over_http(aws_demo, tmp_path):
    """source: aws against moto: GetMetricData with p50/p90/p99 and 1-minute sums, ListServiceQuotas (a stub in the
    emulator, paged), cached on disk; the frames equal the ground truth, like the local run."""
    from tests.test_aws import aws_values, run_cfg
    moto, spec, truth = aws_demo["moto"], aws_demo["spec"], aws_demo["truth"]
    for date in spec.dates[1:]:
        for region in spec.regions:
            cfg = run_cfg(tmp_path, date, region, **aws_values(moto, spec))
            info = collect.run(cfg)
            assert info["operations"]["quotas"]["recorded"], info["operations"]
            _equal_to_truth(pd.read_parquet(cfg.data(COLLECT.OPERATIONS_MODELS)),
                            truth["runs"][f"{date}/{region}"]["operations"], (date, region))
            raw = json.loads((cfg.data_dir / "raw" / "servicequotas" / f"{region}.json").read_text())
            assert len(raw["pages"]) > 1                      # every page read
            assert (tmp_path / "_cache" / "servicequotas" / f"{region}.json").exists()

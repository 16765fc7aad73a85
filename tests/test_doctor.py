"""Issue 18 (points 1-3): `doctor`, the logs location discovered from the logging configuration, and a wrong place
named as a finding (``data_quality["logs_location"]`` in collect.json), against moto over HTTP.

The account of these tests logs at the root of ``root-logs`` (the demo's objects, their ``bedrock/invocation-logs/``
prefix cut off), while the params say the demo's prefix.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_params
from tests.test_aws import Injector, aws_values, run_cfg
from tracker_utils import config
from tracker_utils.collect import aws, doctor, logconfig
from tracker_utils.collect import logs as logsrc
from tracker_utils.collect import stage as collect
from tracker_utils.run import cli

ROOT_BUCKET = "root-logs"
REGION = "us-east-1"


def _base(spec, prefix: str, region: str = REGION) -> str:
    return logsrc.log_base(prefix, spec.account, region)


@pytest.fixture(scope="module")
def root_logging(aws_demo):
    """The demo's log objects at the root of ROOT_BUCKET, and logging configured there in both regions."""
    from tests.aws_fixtures import put_objects
    moto, spec, root = aws_demo["moto"], aws_demo["spec"], aws_demo["root"]
    folder = root / "s3" / spec.bucket / spec.prefix
    put_objects(moto, ROOT_BUCKET, ((p.relative_to(folder).as_posix(), p.read_bytes())
                                    for p in sorted(folder.rglob("*")) if p.is_file()))
    for region in spec.regions:
        moto.client("bedrock", region).put_model_invocation_logging_configuration(loggingConfig={
            "s3Config": {"bucketName": ROOT_BUCKET, "keyPrefix": ""}, "textDataDeliveryEnabled": True,
            "imageDataDeliveryEnabled": False, "embeddingDataDeliveryEnabled": True})
    yield aws_demo
    for region in spec.regions:
        moto.client("bedrock", region).delete_model_invocation_logging_configuration()


def _params(tmp_path: Path, moto, spec, name: str, **values) -> Path:
    v = {**aws_values(moto, spec), "output_dir": str(tmp_path / "out"), "start": spec.dates[1], "end": spec.dates[1],
         "regions": [REGION], "logs_bucket": ROOT_BUCKET, **values}
    return write_params(tmp_path / name, **v)


def _doctor(*argv) -> tuple[int, str]:
    out = io.StringIO()
    args = cli_args("doctor", *argv)
    return args.func(args, out=out), out.getvalue()


def cli_args(*argv):
    import argparse
    ap = argparse.ArgumentParser()
    cli.add_doctor_command(ap.add_subparsers(dest="cmd"))
    return ap.parse_args(list(argv))


def _rows(report: dict, check: str) -> list[dict]:
    return [r for r in report["checks"] if r["check"] == check]


def _local_day_objects(root: Path, spec, day: str) -> int:
    d = dt.date.fromisoformat(day)
    folder = root / "s3" / spec.bucket / _base(spec, spec.prefix) / f"{d:%Y/%m/%d}"
    return sum(1 for p in folder.rglob("*") if p.is_file() and logsrc.is_log_key(p.relative_to(root).as_posix()))


# ---------------------------------------------------------------------------------------------------------------------
# doctor
# ---------------------------------------------------------------------------------------------------------------------
def test_doctor_names_the_mismatch_and_writes_a_working_params_file(root_logging, tmp_path):
    moto, spec, root = root_logging["moto"], root_logging["spec"], root_logging["root"]
    wrong = _params(tmp_path, moto, spec, "wrong.yaml", logs_prefix=spec.prefix)
    written = tmp_path / "found.yaml"
    rc, text = _doctor("--params", str(wrong), "--until", spec.dates[-1], "--json", "--write-params", str(written))
    report = json.loads(text)
    assert rc == 1 and report["ok"] is False and report["account"] == spec.account
    logging_row, = _rows(report, "logging")
    assert logging_row["status"] == "ok"
    assert logging_row["detail"] == (f"on, to s3://{ROOT_BUCKET}/; data types delivered: text, embedding "
                                     f"(not: image, video)")
    params_row, = _rows(report, "params")
    assert params_row["status"] == "fail"
    assert params_row["detail"] == (f"the params say s3://{ROOT_BUCKET}/{spec.prefix}/; logging is configured to "
                                    f"s3://{ROOT_BUCKET}/")
    assert params_row["fix"].startswith(f'set logs_bucket: {ROOT_BUCKET} and logs_prefix: ""')
    objects_row, = _rows(report, "log objects")
    total = sum(_local_day_objects(root, spec, d) for d in spec.dates)
    assert total > 0
    assert objects_row["status"] == "fail" and objects_row["detail"].startswith(
        f"no log objects under s3://{ROOT_BUCKET}/{_base(spec, spec.prefix)}/ for {spec.dates[0]}..{spec.dates[-1]}; "
        f"{total} log objects under s3://{ROOT_BUCKET}/{_base(spec, '')}/")
    assert _rows(report, "bill")[0]["status"] == "skip"          # Cost Explorer only with --check-bill
    # the written file names the configured place, the account of the credentials and the regions logging to S3
    values = yaml.safe_load(written.read_text())
    assert (values["logs_bucket"], values["logs_prefix"], values["account"], values["source"]) == \
        (ROOT_BUCKET, "", spec.account, "aws")
    assert values["regions"] == [REGION]
    # ... and doctor on it finds nothing wrong; the objects per day are the demo's
    rc, text = _doctor("--params", str(written), "--until", spec.dates[-1], "--json")
    again = json.loads(text)
    assert rc == 0 and again["ok"], [r for r in again["checks"] if r["status"] == "fail"]
    objects_row, = _rows(again, "log objects")
    assert objects_row["status"] == "ok"
    assert objects_row["detail"] == ", ".join(f"{d} {_local_day_objects(root, spec, d)}" for d in spec.dates) + \
        f" under s3://{ROOT_BUCKET}/{_base(spec, '')}/"
    assert _rows(again, "read object")[0]["status"] == "ok"
    cw_row, = _rows(again, "cloudwatch")
    assert "seen in AWS/Bedrock" in cw_row["detail"] and cw_row["status"] in ("ok", "warn")


def test_doctor_table_lists_the_fix_and_exit_code(root_logging, tmp_path):
    moto, spec = root_logging["moto"], root_logging["spec"]
    wrong = _params(tmp_path, moto, spec, "wrong.yaml", logs_prefix=spec.prefix)
    rc, text = _doctor("--params", str(wrong), "--until", spec.dates[-1])
    assert rc == 1
    assert f'fix ({REGION}, params): set logs_bucket: {ROOT_BUCKET} and logs_prefix: ""' in text
    assert text.rstrip().endswith("a run would not work: 2 checks failed")


def test_doctor_check_bill_calls_cost_explorer_only_when_asked(root_logging, tmp_path, monkeypatch):
    from tests.test_aws import Recorder
    moto, spec = root_logging["moto"], root_logging["spec"]
    good = _params(tmp_path, moto, spec, "good.yaml", logs_prefix="")
    rec = Recorder()
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-parameter-build", rec)])
    rc, _ = _doctor("--params", str(good), "--until", spec.dates[-1])
    assert rc == 0 and rec.ops("ce") == []
    assert {(s, o) for s, o, _ in rec.calls} >= {("sts", "GetCallerIdentity"),
                                                 ("bedrock", "GetModelInvocationLoggingConfiguration"),
                                                 ("s3", "ListObjectsV2"), ("s3", "HeadObject"),
                                                 ("cloudwatch", "ListMetrics"), ("cloudwatch", "GetMetricData")}
    assert not [c for c in rec.calls if c[1].startswith(("Put", "Delete", "Create", "Start"))]
    rc, text = _doctor("--params", str(good), "--until", spec.dates[-1], "--check-bill", "--json")
    assert rc == 0 and [o for _, o, _ in rec.ops("ce")] == ["GetDimensionValues", "GetCostAndUsage"]
    assert _rows(json.loads(text), "bill")[0]["status"] == "ok"


def test_doctor_names_the_iam_action_that_is_denied(root_logging, tmp_path, monkeypatch):
    moto, spec = root_logging["moto"], root_logging["spec"]
    good = _params(tmp_path, moto, spec, "good.yaml", logs_prefix="")
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-send", Injector({
        "bedrock": (lambda op: op == "GetModelInvocationLoggingConfiguration", "AccessDeniedException", 403),
        "cloudwatch": (lambda op: op == "GetMetricData", "AccessDenied", 403)}))])
    rc, text = _doctor("--params", str(good), "--until", spec.dates[-1], "--json")
    report = json.loads(text)
    assert rc == 1
    assert _rows(report, "logging")[0]["detail"] == \
        "AccessDenied: the kit needs bedrock:GetModelInvocationLoggingConfiguration on *"
    assert _rows(report, "cloudwatch")[0]["detail"] == "AccessDenied: the kit needs cloudwatch:GetMetricData on *"
    assert _rows(report, "log objects")[0]["status"] == "ok"     # the params' place is still read


def test_doctor_cur_export_path(root_logging, tmp_path):
    moto, spec, root = root_logging["moto"], root_logging["spec"], root_logging["root"]
    cur = next((root / "cur").rglob("*.parquet"))
    ok = _params(tmp_path, moto, spec, "cur.yaml", logs_prefix="", cost_source="cur", cur=str(cur.parent))
    report = json.loads(_doctor("--params", str(ok), "--until", spec.dates[-1], "--json")[1])
    assert _rows(report, "bill")[0]["status"] == "ok" and str(cur.parent) in _rows(report, "bill")[0]["detail"]
    bad = _params(tmp_path, moto, spec, "cur-bad.yaml", logs_prefix="", cost_source="cur",
                  cur=f"s3://{ROOT_BUCKET}/no-such-export/")
    rc, text = _doctor("--params", str(bad), "--until", spec.dates[-1], "--json")
    assert rc == 1 and _rows(json.loads(text), "bill")[0]["detail"] == \
        f"CUR export: no .parquet/.csv.gz/.csv object under s3://{ROOT_BUCKET}/no-such-export/"


# ---------------------------------------------------------------------------------------------------------------------
# run: discovery, the doctor's file, the wrong place
# ---------------------------------------------------------------------------------------------------------------------
def test_run_with_the_doctors_params_file_reproduces_the_summary(root_logging, tmp_path):
    from tests.test_pipeline import compare_summary
    from tracker_utils.run import runner
    moto, spec, truth = root_logging["moto"], root_logging["spec"], root_logging["truth"]
    wrong = _params(tmp_path, moto, spec, "wrong.yaml", logs_prefix=spec.prefix)
    written = tmp_path / "found.yaml"
    _doctor("--params", str(wrong), "--until", spec.dates[-1], "--write-params", str(written))
    outcomes = runner.run(str(written), {}, force=True, log=lambda *_: None)
    assert [o.status for o in outcomes] == ["complete"], [o.error for o in outcomes]
    date = spec.dates[1]
    got = json.loads((tmp_path / "out" / date / REGION / "summary.json").read_text())
    assert compare_summary(got, truth["runs"][f"{date}/{REGION}"]) == []
    col = json.loads((tmp_path / "out" / date / REGION / "data" / "collect.json").read_text())
    assert "logs_location" not in col["data_quality"] and col["data_quality"]["files_read"] > 0


def test_run_with_the_wrong_prefix_ends_with_the_finding(root_logging, tmp_path):
    from tracker_utils.run import runner
    moto, spec, truth = root_logging["moto"], root_logging["spec"], root_logging["truth"]
    wrong = _params(tmp_path, moto, spec, "wrong.yaml", logs_prefix=spec.prefix)
    date = spec.dates[1]
    out = runner.run_one(str(wrong), {}, date, REGION, force=True)
    assert out.status == "complete", out.error
    col = json.loads((tmp_path / "out" / date / REGION / "data" / "collect.json").read_text())
    want = truth["runs"][f"{date}/{REGION}"]["totals"]["cloudwatch_invocations"]
    finding = col["data_quality"]["logs_location"]
    configured = f"s3://{ROOT_BUCKET}/{_base(spec, spec.prefix)}/"
    n = finding["cloudwatch_invocations"]
    assert n == want > 0
    assert finding == {
        "configured": configured, "discovered": f"s3://{ROOT_BUCKET}/", "logging": "s3", "objects": 0,
        "cloudwatch_invocations": n,
        "finding": f"no log objects under {configured} for {date} while CloudWatch counts {n} invocations; "
                   f"logging is configured to s3://{ROOT_BUCKET}/"}
    assert col["data_quality"]["files_read"] == 0
    # the date's status says so in one line, and no usage is called unexplained for it
    s = json.loads((tmp_path / "out" / date / REGION / "summary.json").read_text())
    assert s["status"] == "partial" and s["status_reasons"][0].startswith(f"No log objects under {configured}")
    assert s["finding"] == finding["finding"] and "unexplained" not in {g["kind"] for g in s["gaps"]}


def test_run_with_logs_bucket_empty_reads_the_logging_configuration(root_logging, tmp_path):
    moto, spec = root_logging["moto"], root_logging["spec"]
    date = spec.dates[1]
    explicit = run_cfg(tmp_path / "explicit", date, REGION, **{**aws_values(moto, spec), "regions": [REGION],
                                                                 "logs_bucket": ROOT_BUCKET, "logs_prefix": ""})
    empty = run_cfg(tmp_path / "empty", date, REGION, **{**aws_values(moto, spec), "regions": [REGION],
                                                           "logs_bucket": "", "logs_prefix": "ignored"})
    assert empty.params.logs_bucket == ""
    want, got = collect.run(explicit), collect.run(empty)
    assert got["logs_location_discovered"] == {"region": REGION, "logs_bucket": ROOT_BUCKET, "logs_prefix": "",
                                               "from": "GetModelInvocationLoggingConfiguration"}
    assert got["data_quality"] == want["data_quality"] and got["data_quality"]["files_read"] > 0
    written = yaml.safe_load(empty.data("params.yaml").read_text())
    assert (written["logs_bucket"], written["logs_prefix"]) == (ROOT_BUCKET, "")
    assert config.load_params(empty.data("params.yaml")).logs_bucket == ROOT_BUCKET
    assert not explicit.data("params.yaml").exists()


def test_logs_bucket_empty_with_logging_off_is_one_clear_line(root_logging, tmp_path):
    moto, spec = root_logging["moto"], root_logging["spec"]
    p = config.Params(**{**config.Params().to_dict(), **aws_values(moto, spec), "logs_bucket": ""})
    with pytest.raises(aws.AwsAccessError) as e:
        logconfig.discover(p, "eu-west-1")
    assert str(e.value) == ("logs_bucket is empty and model invocation logging in eu-west-1 is off: turn on S3 "
                            "delivery (Bedrock console, Settings) or set logs_bucket/logs_prefix")


# ---------------------------------------------------------------------------------------------------------------------
# fast: shapes without the emulator
# ---------------------------------------------------------------------------------------------------------------------
def test_parse_logging_configuration():
    assert logconfig.parse({}, "us-east-1") == {
        "region": "us-east-1", "enabled": False, "s3_bucket": "", "s3_prefix": "", "cloudwatch_log_group": "",
        "data_types": {"text": False, "image": False, "embedding": False, "video": False}}
    got = logconfig.parse({"loggingConfig": {"s3Config": {"bucketName": "b", "keyPrefix": "/logs/x/"},
                                             "cloudWatchConfig": {"logGroupName": "g", "roleArn": "r"},
                                             "videoDataDeliveryEnabled": True}}, "eu-west-1")
    assert (got["enabled"], got["s3_bucket"], got["s3_prefix"], got["cloudwatch_log_group"]) == (True, "b", "logs/x", "g")
    assert got["data_types"] == {"text": False, "image": False, "embedding": False, "video": True}
    assert logconfig.s3_uri("b", "") == "s3://b/" and logconfig.s3_uri("b", "/p/q/") == "s3://b/p/q/"


def test_location_finding_sentences():
    base = "p/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1"
    local = logconfig.location_finding(None, "b", base, "2026-11-03", 1)
    assert local["finding"] == (f"no log objects under s3://b/{base}/ for 2026-11-03 while CloudWatch counts 1 "
                                "invocation; the logging configuration was not read (local source)")
    assert (local["discovered"], local["logging"], local["objects"]) == (None, "unknown", 0)


def test_write_params_with_two_places_leaves_the_bucket_to_discovery(tmp_path):
    p = config.Params()
    report = {"account": "210987654321", "regions": ["us-east-1", "eu-west-1", "ap-northeast-2"],
              "discovered": {"us-east-1": {"logs_bucket": "a", "logs_prefix": ""},
                             "ap-northeast-2": {"logs_bucket": "b", "logs_prefix": "x"}}}
    path = doctor.write_params(p, report, tmp_path / "p.yaml")
    got = config.load_params(path)
    assert (got.source, got.account, got.logs_bucket, got.regions) == \
        ("aws", "210987654321", "", ["us-east-1", "ap-northeast-2"])
    report["discovered"].pop("ap-northeast-2")
    got = config.load_params(doctor.write_params(p, report, tmp_path / "q.yaml"))
    assert (got.logs_bucket, got.logs_prefix, got.regions) == ("a", "", ["us-east-1"])


def test_wrong_prefix_on_a_local_source_is_a_finding(small_demo, tmp_path):
    root, spec, truth = small_demo
    date = spec.dates[1]
    cfg = run_cfg(tmp_path, date, REGION, source="local", data_root=str(root), logs_prefix="elsewhere",
                  regions=[REGION])
    summary = collect.run(cfg)
    finding = summary["data_quality"]["logs_location"]
    assert finding["configured"] == f"s3://{spec.bucket}/{_base(spec, 'elsewhere')}/"
    assert finding["cloudwatch_invocations"] > 0 and finding["discovered"] is None
    assert json.loads(cfg.data("collect.json").read_text())["data_quality"]["logs_location"] == finding
    right = run_cfg(tmp_path / "right", date, REGION, source="local", data_root=str(root), regions=[REGION])
    assert "logs_location" not in collect.run(right)["data_quality"]


def test_doctor_without_a_params_file_for_the_account(root_logging, tmp_path):
    """The first thing a new user types: the default (demo) params. The checks read the logging configuration and
    --write-params gives a file on which doctor finds nothing wrong."""
    moto, spec = root_logging["moto"], root_logging["spec"]
    written = tmp_path / "mine.yaml"
    rc, text = _doctor("--endpoint-url", moto.endpoint, "--regions", REGION, "--until", spec.dates[-1], "--json",
                       "--write-params", str(written))
    report = json.loads(text)
    assert [r["status"] for r in report["checks"] if r["check"] == "params"] == ["warn", "ok"]
    assert rc == 0 and report["discovered"] == {REGION: {"logs_bucket": ROOT_BUCKET, "logs_prefix": ""}}
    values = yaml.safe_load(written.read_text())
    assert (values["source"], values["logs_bucket"], values["logs_prefix"]) == ("aws", ROOT_BUCKET, "")
    assert _doctor("--params", str(written), "--until", spec.dates[-1])[0] == 0


def test_doctor_reports_a_missing_bucket_as_one_row(root_logging, tmp_path):
    moto, spec = root_logging["moto"], root_logging["spec"]
    pf = _params(tmp_path, moto, spec, "nobucket.yaml", logs_bucket="no-such-bucket-here", logs_prefix="")
    rc, text = _doctor("--params", str(pf), "--until", spec.dates[-1], "--json")
    row, = _rows(json.loads(text), "log objects")
    assert rc == 1 and row["status"] == "fail" and "NoSuchBucket" in row["detail"] and "\n" not in row["detail"]

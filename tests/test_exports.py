"""The CUR 2.0 export found with Data Exports (``bcm-data-exports:ListExports`` + ``GetExport``) when ``cur:`` is
empty: in ``doctor`` and in a run. moto has no Data Exports, so a ``before-call`` hook answers for it (the parsed
responses of the API's documented shapes); S3 is moto over HTTP, holding the demo's CUR parquet."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.test_aws import aws_values, run_cfg
from tests.test_doctor import _doctor, _params, _rows, root_logging  # noqa: F401 - root_logging is a fixture
from tracker_utils import config
from tracker_utils.collect import aws, exports
from tracker_utils.collect import stage as collect

CUR_BUCKET, CUR_PREFIX, CUR_NAME = "billing-exports", "cur2", "bedrock-export"
ARN = "arn:aws:bcm-data-exports:us-east-1:123456789012:export/{}-0a1b2c"


class _Http:
    status_code = 200
    headers: dict = {}


class DataExports:
    """``before-call.bcm-data-exports`` hook: ListExports and GetExport answered from ``exports``
    (name -> query table); every call is counted."""

    def __init__(self, exports_: dict[str, str]):
        self.exports, self.calls = exports_, []

    def __call__(self, model=None, params=None, **_):
        self.calls.append(model.name)
        if model.name == "ListExports":
            return _Http(), {"Exports": [{"ExportArn": ARN.format(n), "ExportName": n,
                                          "ExportStatus": {"StatusCode": "HEALTHY"}} for n in self.exports]}
        arn = json.loads(params["body"])["ExportArn"]         # the serialised request (JSON protocol)
        name = next(n for n in self.exports if ARN.format(n) == arn)
        return _Http(), {"Export": {"Name": name, "ExportArn": arn,
                                    "DataQuery": {"QueryStatement": f"SELECT * FROM {self.exports[name]}"},
                                    "DestinationConfigurations": {"S3Destination": {
                                        "S3Bucket": CUR_BUCKET, "S3Prefix": CUR_PREFIX, "S3Region": "us-east-1"}}}}


@pytest.fixture(scope="module")
def cur_in_s3(root_logging):
    from tests.aws_fixtures import put_objects
    root = root_logging["root"]
    folder = root / "cur"
    put_objects(root_logging["moto"], CUR_BUCKET, ((f"{CUR_PREFIX}/{p.relative_to(folder).as_posix()}", p.read_bytes())
                                                   for p in sorted(folder.rglob("*.parquet"))))
    return root_logging


def test_find_cur_export_picks_the_cur_one():
    hook = DataExports({"focus-export": "FOCUS_1_0_AWS", CUR_NAME: "COST_AND_USAGE_REPORT"})

    class Ctx:
        def client(self, service, region):
            import boto3
            c = boto3.session.Session().client(service, region_name=region, aws_access_key_id="x",
                                               aws_secret_access_key="x")
            c.meta.events.register("before-call.bcm-data-exports", hook)
            return c
    found = exports.find_cur_export(Ctx())
    assert found["uri"] == f"s3://{CUR_BUCKET}/{CUR_PREFIX}/{CUR_NAME}/data/" and found["name"] == CUR_NAME
    assert found["others"] == [] and hook.calls == ["ListExports", "GetExport", "GetExport"]
    hook.exports = {"focus-export": "FOCUS_1_0_AWS"}
    with pytest.raises(aws.AwsAccessError, match="NoCurExport: no CUR 2.0 export"):
        exports.find_cur_export(Ctx())


def test_doctor_finds_the_cur_export_with_list_exports(cur_in_s3, tmp_path, monkeypatch):
    moto, spec = cur_in_s3["moto"], cur_in_s3["spec"]
    hook = DataExports({"focus-export": "FOCUS_1_0_AWS", CUR_NAME: "COST_AND_USAGE_REPORT"})
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-call.bcm-data-exports", hook)])
    pf = _params(tmp_path, moto, spec, "cur-find.yaml", logs_prefix="", cost_source="cur", cur="")
    rc, text = _doctor("--params", str(pf), "--until", spec.dates[-1], "--json")
    report = json.loads(text)
    uri = f"s3://{CUR_BUCKET}/{CUR_PREFIX}/{CUR_NAME}/data/"
    assert _rows(report, "cur export")[0]["status"] == "ok" and uri in _rows(report, "cur export")[0]["detail"]
    assert _rows(report, "bill")[0] == {"region": "", "check": "bill", "status": "ok", "fix": "",
                                        "detail": f"CUR export: 1 file under {uri}"}
    assert rc == 0 and "ListExports" in hook.calls
    # the quotas row (ListServiceQuotas through the emulator): the unknown model has no TPM quota, a warning only
    quotas = _rows(report, "quotas")[0]
    assert quotas["status"] == "warn" and "no tokens-per-minute quota found for" in quotas["detail"]
    assert "global.anthropic.claude-opus-5-5-20261101-v1:0" in quotas["detail"]
    assert "global.anthropic.claude-sonnet-4-5-20250929-v1:0" not in quotas["detail"]
    hook.exports = {}
    rc, text = _doctor("--params", str(pf), "--until", spec.dates[-1], "--json")
    bill = _rows(json.loads(text), "bill")[0]
    assert rc == 1 and bill["status"] == "fail" and "bcm-data-exports:ListExports" in bill["detail"]


def test_run_with_cur_empty_reads_the_export_it_finds(cur_in_s3, tmp_path, monkeypatch):
    """The same bill lines as the CUR file read from disk."""
    moto, spec, root = cur_in_s3["moto"], cur_in_s3["spec"], cur_in_s3["root"]
    monkeypatch.setattr(aws, "EVENT_HOOKS", [("before-call.bcm-data-exports",
                                              DataExports({CUR_NAME: "COST_AND_USAGE_REPORT"}))])
    date = spec.dates[1]
    cfg = run_cfg(tmp_path / "aws", date, "us-east-1", **{**aws_values(moto, spec), "cost_source": "cur", "cur": ""})
    info = collect.run(cfg)
    assert info["bill"]["cur_export"] == {"name": CUR_NAME, "uri": f"s3://{CUR_BUCKET}/{CUR_PREFIX}/{CUR_NAME}/data/"}
    local = config.resolve(date, "us-east-1", data_root=str(root), output_dir=str(tmp_path / "local"), cost_source="cur",
                           cur=str(root / "cur"), start=spec.start, end=spec.dates[-1])
    collect.run(local)
    got, want = pd.read_parquet(cfg.data("collect_bill.parquet")), pd.read_parquet(local.data("collect_bill.parquet"))
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, want)


def test_cur_empty_is_refused_outside_aws(tmp_path):
    with pytest.raises(config.ParamError, match="cur: a CUR 2.0 export path"):
        config.resolve("2026-11-03", "us-east-1", output_dir=str(tmp_path), cost_source="cur", cur="")

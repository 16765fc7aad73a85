"""Application inference profiles resolved through bedrock:GetInferenceProfile (Stubber) and cached in params."""
from __future__ import annotations

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from tracker_utils.collect import profiles
from tracker_utils.price.book import PriceBook

ARN = "arn:aws:bedrock:eu-central-1:111122223333:application-inference-profile/zz9"
FM = "arn:aws:bedrock:{r}::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.mark.parametrize("regions, source", [
    (["eu-central-1"], "anthropic.claude-sonnet-4-5-20250929-v1:0"),
    (["eu-central-1", "eu-west-1", "eu-west-3"], "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    (["us-east-1", "eu-west-1", "ap-northeast-1"], "global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    (["ap-northeast-1", "ap-northeast-3"], "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"),
])
def test_source_profile_from_the_model_regions(regions, source):
    assert profiles.source_of([FM.format(r=r) for r in regions]) == source


def test_missing_profiles_are_fetched_cached_and_priced(tmp_path):
    import shutil
    from tracker_utils.config import REPO
    for f in ("prices.csv", "models.csv", "inference_profiles.yaml"):
        shutil.copy(REPO / "params" / f, tmp_path / f)
    client = boto3.client("bedrock", region_name="eu-central-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as st:
        st.add_response("get_inference_profile", {
            "inferenceProfileName": "claims-bot", "inferenceProfileArn": ARN, "inferenceProfileId": "zz9",
            "status": "ACTIVE", "type": "APPLICATION",
            "models": [{"modelArn": FM.format(r=r)} for r in ("eu-central-1", "eu-west-1", "eu-west-3")]},
            {"inferenceProfileIdentifier": ARN})
        st.add_response("list_tags_for_resource", {"tags": [{"key": "app", "value": "Claims"}]}, {"resourceARN": ARN})
        added = profiles.resolve_missing({ARN, "anthropic.claude-3-haiku-20240307-v1:0"}, tmp_path / "inference_profiles.yaml", client)
        st.assert_no_pending_responses()
    assert added[ARN]["source"] == "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    cached = yaml.safe_load((tmp_path / "inference_profiles.yaml").read_text())["profiles"]
    assert cached[ARN]["tags"] == {"app": "Claims"} and len(cached) >= 2       # the demo's entry is kept
    r = PriceBook.load(tmp_path).resolve(ARN, "eu-central-1")
    assert (r.base_model, r.scope, r.kind) == ("anthropic.claude-sonnet-4-5-20250929-v1:0", "geo", "application_inference_profile")
    # a cached profile is never fetched again (no stubbed responses left: a call would raise)
    with Stubber(client):
        assert profiles.resolve_missing({ARN}, tmp_path / "inference_profiles.yaml", client) == {}


PM = "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/q8w7e6r5t4y3"


def _provisioned_response(model_arn: str, foundation: str) -> dict:
    import datetime as dt
    t = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    return {"modelUnits": 2, "desiredModelUnits": 2, "provisionedModelName": "nova-lite-pt", "provisionedModelArn": PM,
            "modelArn": model_arn, "desiredModelArn": model_arn, "foundationModelArn": foundation,
            "status": "InService", "creationTime": t, "lastModifiedTime": t, "commitmentDuration": "OneMonth"}


@pytest.mark.parametrize("custom", [False, True])
def test_provisioned_models_are_resolved_by_get_provisioned_model_throughput(tmp_path, custom):
    """A provisioned-model ARN in the logs is fetched once (GetProvisionedModelThroughput), cached with the
    foundation model behind it as ``source``, and the book then resolves it as provisioned throughput of that model."""
    import shutil
    from tracker_utils.config import REPO
    for f in ("prices.csv", "models.csv", "inference_profiles.yaml"):
        shutil.copy(REPO / "params" / f, tmp_path / f)
    foundation = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"
    model = "arn:aws:bedrock:us-east-1:111122223333:custom-model/amazon.nova-lite-v1:0/abc123" if custom else foundation
    client = boto3.client("bedrock", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as st:
        st.add_response("get_provisioned_model_throughput", _provisioned_response(model, foundation),
                        {"provisionedModelId": PM})
        st.add_response("list_tags_for_resource", {"tags": []}, {"resourceARN": PM})
        added = profiles.resolve_missing({PM, "amazon.nova-lite-v1:0"}, tmp_path / "inference_profiles.yaml", client)
        st.assert_no_pending_responses()
    entry = yaml.safe_load((tmp_path / "inference_profiles.yaml").read_text())["profiles"][PM]
    assert added == {PM: entry}
    assert entry["source"] == "amazon.nova-lite-v1:0" and entry["model_units"] == 2
    assert entry["fetched_from"] == "bedrock:GetProvisionedModelThroughput"
    assert entry.get("model") == (model if custom else None)
    r = PriceBook.load(tmp_path).resolve(PM, "us-east-1")
    assert (r.base_model, r.kind) == ("amazon.nova-lite-v1:0", "provisioned")
    with Stubber(client):          # cached: never fetched again
        assert profiles.resolve_missing({PM}, tmp_path / "inference_profiles.yaml", client) == {}


def test_a_provisioned_model_without_a_foundation_model_is_an_error_not_a_guess(tmp_path):
    client = boto3.client("bedrock", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as st:
        st.add_response("get_provisioned_model_throughput", _provisioned_response(PM, ""), {"provisionedModelId": PM})
        with pytest.raises(ValueError, match="names no foundation model"):
            profiles.resolve_missing({PM}, tmp_path / "inference_profiles.yaml", client)
    assert not (tmp_path / "inference_profiles.yaml").exists()

"""Application inference profiles: resolved through ``bedrock:GetInferenceProfile`` and cached in
``params/inference_profiles.yaml`` (editable by hand; an entry there is never fetched again).

An application profile's ARN says nothing about the model behind it. ``GetInferenceProfile`` lists the foundation
models it routes to (one per region it can serve from); the cache records the model as a profile id the price book
understands: the bare model id for one region, the geography's prefix (``us.``, ``eu.``, ``apac.``, ...) when every
region is in one geography, ``global.`` otherwise. Tags (``ListTagsForResource``) feed application attribution.

A provisioned-model ARN (provisioned throughput) is resolved the same way through
``bedrock:GetProvisionedModelThroughput``: ``source`` is the foundation model it serves (``foundationModelArn``), and
the entry keeps its model units. Its tokens are not priced per token; the bill's model-unit hours are.
"""
from __future__ import annotations

from pathlib import Path

import yaml

APP_PROFILE = ":application-inference-profile/"
PROVISIONED = ":provisioned-model/"
GEOGRAPHY = (("us-gov-", "us-gov"), ("us-", "us"), ("ca-", "ca"), ("eu-", "eu"), ("ap-northeast-1", "jp"),
             ("ap-northeast-3", "jp"), ("ap-southeast-2", "au"), ("ap-southeast-4", "au"), ("ap-", "apac"))


def _geo(region: str) -> str:
    return next((g for prefix, g in GEOGRAPHY if region.startswith(prefix)), "global")


def source_of(model_arns: list[str]) -> str:
    """The profile id the price book resolves: bare id (one region), geo prefix (one geography), or global."""
    parsed = []
    for arn in model_arns:
        parts = arn.split(":", 5)
        region, rest = (parts[3], parts[5]) if len(parts) > 5 else ("", arn)
        parsed.append((region, rest.split("/", 1)[-1]))
    if not parsed:
        raise ValueError("the inference profile lists no models")
    models = {m for _, m in parsed}
    if len(models) != 1:
        raise ValueError(f"the inference profile routes to several models: {sorted(models)}")
    model = models.pop()
    regions = {r for r, _ in parsed if r}
    if len(regions) <= 1:
        return model
    geos = {_geo(r) for r in regions}
    return f"{geos.pop()}.{model}" if len(geos) == 1 and "global" not in geos else f"global.{model}"


def fetch(client, arn: str) -> dict:
    """One cache entry from GetInferenceProfile (+ ListTagsForResource for the tags)."""
    p = client.get_inference_profile(inferenceProfileIdentifier=arn)
    entry = {"name": p.get("inferenceProfileName", ""),
             "source": source_of([m["modelArn"] for m in p.get("models", [])]),
             "fetched_from": "bedrock:GetInferenceProfile"}
    tags = client.list_tags_for_resource(resourceARN=arn).get("tags", [])
    if tags:
        entry["tags"] = {t["key"]: t["value"] for t in tags}
    return entry


def fetch_provisioned(client, arn: str) -> dict:
    """One cache entry from GetProvisionedModelThroughput (+ ListTagsForResource). ``source`` is the foundation
    model behind it; a custom model's provisioned throughput names its custom model ARN as ``model``."""
    p = client.get_provisioned_model_throughput(provisionedModelId=arn)
    foundation = p.get("foundationModelArn") or ""
    if not foundation:
        raise ValueError(f"{arn}: GetProvisionedModelThroughput names no foundation model")
    entry = {"name": p.get("provisionedModelName", ""), "source": foundation.rsplit("/", 1)[-1],
             "fetched_from": "bedrock:GetProvisionedModelThroughput"}
    if p.get("modelArn") and p["modelArn"] != foundation:
        entry["model"] = p["modelArn"]
    if p.get("modelUnits") is not None:
        entry["model_units"] = int(p["modelUnits"])
    tags = client.list_tags_for_resource(resourceARN=arn).get("tags", [])
    if tags:
        entry["tags"] = {t["key"]: t["value"] for t in tags}
    return entry


def resolve_missing(model_ids, cache_file: Path, client) -> dict[str, dict]:
    """Fetch the application profiles and provisioned models in ``model_ids`` the cache lacks and add them to the
    cache file."""
    cache_file = Path(cache_file)
    data = (yaml.safe_load(cache_file.read_text()) or {}) if cache_file.exists() else {}
    profiles = data.setdefault("profiles", {}) or {}
    data["profiles"] = profiles
    missing = sorted({m for m in model_ids if (APP_PROFILE in m or PROVISIONED in m) and m not in profiles})
    added = {arn: (fetch_provisioned if PROVISIONED in arn else fetch)(client, arn) for arn in missing}
    if added:
        profiles.update(added)
        tmp = cache_file.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(data, sort_keys=True, allow_unicode=True))
        tmp.replace(cache_file)
    return added

"""Service Quotas for Bedrock: the account's tokens- and requests-per-minute quotas, matched to CloudWatch model ids.

In: ``ListServiceQuotas(ServiceCode="bedrock")`` pages (recorded as ``servicequotas/<region>.json``: the demo's
layout, and the run's ``data/raw/``). Out: :func:`parse_quotas` (the rate quotas as a frame) and :func:`match`
(the TPM and RPM quota of a model id, or a note saying why there is none: never a silent 100% headroom).

Quota names look like ``On-demand model inference tokens per minute for Anthropic Claude Sonnet 4.5 V1``,
``Cross-region model inference requests per minute for ...`` and ``Global cross-region model inference ...``; older
ones say ``On-demand InvokeModel requests per minute for ...``. The scope is the model id's: a bare id (or a
foundation-model ARN) is on-demand, ``us.``/``eu.``/``apac.``/... a cross-region profile, ``global.`` global. The
model is matched on its name's words (``claude-3-7-sonnet`` = ``Claude 3.7 Sonnet``; ``titan-embed-text-v2`` =
``Titan Text Embeddings V2``; the date and a ``v1`` are ignored, a ``v2`` is not), counted as a multiset so that
``Llama 3.3`` is not ``Llama 3``; the quota may add only provider words (``Anthropic``, ``Amazon``, ``Meta``...).
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pandas as pd

QUOTA_COLUMNS = ["quota_code", "quota_name", "value", "kind", "scope", "model_name"]
CACHE_HOURS = 24                 # a cached ListServiceQuotas answer is reused this long (quotas rarely change)
GEO_PREFIXES = ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "apne", "sa")
PROVIDER_WORDS = {"anthropic", "amazon", "meta", "mistral", "ai", "cohere", "openai", "deepseek", "writer",
                  "stability", "qwen", "twelvelabs", "luma", "moonshot", "minimax", "google", "nvidia"}
_RATE = re.compile(r"^(?P<head>.*?)\b(?P<kind>tokens|requests) per minute for (?P<model>.+)$", re.I)
_EXCLUDE = ("batch", "latency-optimized", "provisioned", "priority", "flex", "reserved")


def _scope_of_name(head: str) -> str | None:
    h = head.lower()
    if any(w in h for w in _EXCLUDE):
        return None
    if "global" in h:
        return "global"
    if "cross-region" in h or "cross region" in h:
        return "cross_region"
    return "on_demand" if "on-demand" in h or "on demand" in h else None


def parse_quotas(recorded: dict | None) -> pd.DataFrame:
    """The tokens/requests-per-minute quotas of a ``ListServiceQuotas`` recording (other quotas are left out)."""
    rows = []
    for page in (recorded or {}).get("pages", []):
        for q in page.get("Quotas", []):
            m = _RATE.match(str(q.get("QuotaName", "")).strip())
            scope = _scope_of_name(m["head"]) if m else None
            if m and scope and q.get("Value") is not None:
                rows.append((q.get("QuotaCode", ""), q["QuotaName"], float(q["Value"]), m["kind"].lower(), scope,
                             m["model"].strip()))
    return pd.DataFrame(rows, columns=QUOTA_COLUMNS)


def _words(text: str) -> Counter:
    """A name's words, lower case, letters and digits apart (``llama3`` -> llama 3, ``4.5`` -> 4 5), dates and a
    ``v1`` dropped (``v2`` kept), ``embeddings`` -> ``embed``."""
    out = Counter()
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if re.fullmatch(r"v\d+", word):
            if word != "v1":
                out[word] += 1
            continue
        for w in re.findall(r"[a-z]+|\d+", word):
            if not (w.isdigit() and len(w) == 8):
                out["embed" if w.startswith("embed") else w] += 1
    return out


def model_scope(model_id: str) -> tuple[str, str]:
    """(scope, model name part) of a CloudWatch ModelId: ``us.anthropic.claude-3-7-sonnet-20250219-v1:0`` ->
    ("cross_region", "claude-3-7-sonnet-20250219 v1"). ARNs name their model after the last ``/``."""
    mid = model_id.strip()
    if mid.startswith("arn:"):
        mid = mid.rsplit("/", 1)[-1]
    head, _, rest = mid.partition(".")
    scope = "on_demand"
    if head == "global":
        scope, mid = "global", rest
    elif head in GEO_PREFIXES:
        scope, mid = "cross_region", rest
    _, _, name = mid.partition(".")                 # the provider: "anthropic." (kept apart, it may be absent)
    name = name or mid
    ver = re.search(r"-v?(\d+)(?::\d+)?$", name)
    if ver:
        name = name[:ver.start()] + (f" v{ver[1]}" if int(ver[1]) > 1 else "")
    name = re.sub(r":\d+k?$", "", name)
    return scope, name


def _matches(model_words: Counter, quota_model: str) -> int | None:
    """How many words the quota adds (provider words only), or None when it names another model."""
    q = _words(quota_model)
    if model_words - q:
        return None
    extra = q - model_words
    return sum(extra.values()) if set(extra) <= PROVIDER_WORDS else None


def match(model_id: str, quotas: pd.DataFrame, profiles: dict | None = None) -> dict:
    """The TPM and RPM quota of a model id: ``{"tpm": value|None, "tpm_name", "rpm", "rpm_name", "note"}``."""
    out = {"tpm": None, "tpm_name": "", "rpm": None, "rpm_name": "", "note": ""}
    if ":application-inference-profile/" in model_id:
        source = ((profiles or {}).get(model_id) or {}).get("source")
        if not source:
            out["note"] = "an application inference profile whose model is unknown (not in inference_profiles.yaml)"
            return out
        model_id = source
    scope, name = model_scope(model_id)
    words = _words(name)
    if quotas is None or not len(quotas):
        out["note"] = "no quota table (ListServiceQuotas not recorded)"
        return out
    for kind, key in (("tokens", "tpm"), ("requests", "rpm")):
        cands = quotas[(quotas["kind"] == kind) & (quotas["scope"] == scope)]
        scored = sorted((s, r.quota_name, r.value) for r in cands.itertuples()
                        if (s := _matches(words, r.model_name)) is not None)
        if scored:
            out[key], out[f"{key}_name"] = scored[0][2], scored[0][1]
    if out["tpm"] is None and out["rpm"] is None:
        out["note"] = f"no {scope.replace('_', '-')} quota found for {model_id}"
    elif out["tpm"] is None or out["rpm"] is None:
        out["note"] = f"no {'tokens' if out['tpm'] is None else 'requests'}-per-minute quota found for {model_id}"
    return out


# --- reading them ------------------------------------------------------------------------------------------------
def fetch_quotas(ctx, cache_dir: Path, now: dt.datetime | None = None) -> dict:
    """``ListServiceQuotas(ServiceCode="bedrock")`` of the context's region, every page, cached in
    ``cache_dir/servicequotas/<region>.json`` for ``CACHE_HOURS``. A failure (no permission, an endpoint that lacks
    the API) is returned as ``{"error": "..."}``: the report then says the quotas are unknown."""
    from tracker_utils.collect import aws
    from tracker_utils.io import read_json, write_json
    now = now or dt.datetime.now(dt.timezone.utc)
    path = Path(cache_dir) / "servicequotas" / f"{ctx.region}.json"
    if path.exists():
        try:
            cached = read_json(path)
            if now - dt.datetime.fromisoformat(cached["fetched_at"]) < dt.timedelta(hours=CACHE_HOURS):
                return {**cached, "from_cache": True}
        except (ValueError, KeyError, TypeError, OSError):
            pass
    pages = []
    try:
        for page in ctx.client("service-quotas").get_paginator("list_service_quotas").paginate(ServiceCode="bedrock"):
            pages.append(aws._jsonable(page))
    except Exception as e:  # noqa: BLE001 - quotas are optional: the report says they are unknown, and why
        err = aws.explain(e, "service-quotas", "ListServiceQuotas") if isinstance(e, aws.aws_errors()) else e
        return {"region": ctx.region, "service_code": "bedrock", "error": f"{type(err).__name__}: {err}"[:300]}
    rec = {"region": ctx.region, "service_code": "bedrock", "pages": pages,
           "fetched_at": now.isoformat(timespec="seconds")}
    write_json(path, rec)
    return rec

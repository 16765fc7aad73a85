"""Parse Amazon Bedrock bill usage types (Cost Explorer ``USAGE_TYPE`` / CUR ``line_item_usage_type``).

Two billing shapes exist (see ``/work/shared/reference/bedrock-facts.md`` section 3):

* **first_party** -- service ``Amazon Bedrock`` / ``Amazon Bedrock Service``::

      {REGION}-{BillingName}[-mantle]-{token-type}[-{modifier}...]

  e.g. ``USE1-Claude4.6Sonnet-output-tokens-cross-region-global``,
  ``USE1-openai.gpt-oss-120b-mantle-input-tokens-standard``.  Billing names contain dashes and
  dots (``Llama3-1-405B``, ``TitanEmbeddingV2-Text``), so the name is whatever is left once a
  token type plus a tail of *known* modifiers has been matched from the right.

* **marketplace** -- service ``<Model> (Amazon Bedrock Edition)``::

      {R}-MP:{R}_{Component}[_Global][_Batch]-Units            (camel)
      {R}-MP:{R}_{input_tokens|...}[_1h][_long_ctx][_global]_{tier}-Units   (snake)

  The model comes from the service name, so ``billing_name`` is None.

Components are matched *exactly* (never by suffix: ``CacheWrite1hInputTokenCount`` ends with
``InputTokenCount``).  Anything not understood comes back with ``recognized=False`` and a
``reason``; the parser never raises on bad input.

Verification status ([V] verified, [P] partly, [U] unverified):

* first-party quantity unit = 1K tokens -> ``tokens_per_unit=1000``  [U/P]  (a public
  reconciler multiplying CE quantity by 1000 matched CloudWatch to 0.00 %; no AWS doc seen)
* Marketplace ``-Units`` quantity = 1M tokens -> ``tokens_per_unit=1_000_000``  [P]
* the first-party 1h cache-write spellings (``cache-write-1h-input-token-count``,
  ``cache-write-input-token-count-1h``, ``cache-write-1h-tokens``) and the mantle spellings
  ``cache-read-tokens`` / ``cache-write-tokens`` are taken from third-party code  [U]
* ``-cross-region-geo`` (geo profile) suffix  [U]; it is treated as ``scope='regional'``,
  because the bill cannot tell in-region from geo CRIS apart anyway [V for MP]
* modifiers are accepted in any order (``-cross-region-global-batch`` and
  ``-batch-cross-region-global`` parse the same)  [U]
* the order of ``_long_ctx`` / ``_global`` in snake Marketplace names  [U]
* mantle ``-global`` scope modifier (``...-mantle-input-tokens-global-standard``)  [U]
* ``{Name}-Model-Customization-{token-type}`` (price-list form) -> ``tier='training'``  [U];
  ``{Name}-Customization-Training`` is kept unrecognized (``unit='other'``, ``tier='training'``)
* reserved-capacity usage types (``...-reserved-1-month-...-per-minute...``) are not per-token and
  are reported unrecognized
* provisioned throughput: ``{R}-{BillingName}-ProvisionedThroughput[-{commitment}][-ModelUnits...]`` (also
  ``-Provisioned-Throughput``, ``-ProvisionedModelUnits``), quantity = model-unit hours -> ``unit='model_unit_hours'``,
  ``tier='provisioned'``, ``tokens_per_unit=1``  [U: no real line seen; the name part is the billing name]
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Billing region prefix -> region code.  Source: AWS "Region billing codes" page
# (docs.aws.amazon.com/global-infrastructure/latest/regions/aws-region-billing-codes.html),
# seen for North America, Africa and Asia Pacific (incl. APS7-APS9, APE2).  Europe, Middle East,
# South America and GovCloud rows were cut off in the copy we saw; those rows agree across several
# independent public billing-code tables [P].
REGION_CODES: dict[str, str] = {
    # North America
    "USE1": "us-east-1", "USE2": "us-east-2", "USW1": "us-west-1", "USW2": "us-west-2",
    "CAN1": "ca-central-1", "CAN2": "ca-west-1", "MXC1": "mx-central-1",
    # GovCloud [P]
    "UGW1": "us-gov-west-1", "UGE1": "us-gov-east-1",
    # South America [P]
    "SAE1": "sa-east-1",
    # Europe.  eu-west-1 is "EU" on the AWS page and in Bedrock price-list items
    # (EU-MP:EU_InputTokenCount_Global-Units, EU-Claude4.5Sonnet-...) [P]; "EUW1" is kept as an
    # alias because third-party code uses it [U].
    "EU": "eu-west-1", "EUW1": "eu-west-1", "EUW2": "eu-west-2", "EUW3": "eu-west-3",
    "EUC1": "eu-central-1", "EUC2": "eu-central-2", "EUN1": "eu-north-1",
    "EUS1": "eu-south-1", "EUS2": "eu-south-2",
    # Asia Pacific (AWS page) [V]
    "APN1": "ap-northeast-1", "APN2": "ap-northeast-2", "APN3": "ap-northeast-3",
    "APS1": "ap-southeast-1", "APS2": "ap-southeast-2", "APS3": "ap-south-1",
    "APS4": "ap-southeast-3", "APS5": "ap-south-2", "APS6": "ap-southeast-4",
    "APS7": "ap-southeast-5", "APS8": "ap-southeast-6", "APS9": "ap-southeast-7",
    "APE1": "ap-east-1", "APE2": "ap-east-2",
    # Middle East, Israel [P]; Africa [V] (older tables say "CPT", the AWS page says AFS1)
    "MES1": "me-south-1", "MEC1": "me-central-1", "ILC1": "il-central-1",
    "AFS1": "af-south-1",
}
_ALIASES = {"EUW1"}  # accepted when parsing, never produced by region_prefix()
_PREFIX_OF: dict[str, str] = {r: p for p, r in REGION_CODES.items() if p not in _ALIASES}


def region_prefix(region: str) -> str:
    """Billing prefix for a region code (``'ap-northeast-2'`` -> ``'APN2'``, ``'eu-west-1'`` -> ``'EU'``)."""
    try:
        return _PREFIX_OF[region]
    except KeyError:
        raise KeyError(f"no billing usage-type prefix known for region {region!r}; "
                       f"add it to tracker_utils.usage_types.REGION_CODES") from None


BEDROCK_SERVICES = ("Amazon Bedrock", "Amazon Bedrock Service")
EDITION_SUFFIX = "(Amazon Bedrock Edition)"


def is_bedrock_service(service: str | None) -> bool:
    """True for ``Amazon Bedrock``, ``Amazon Bedrock Service`` and ``<Model> (Amazon Bedrock Edition)``."""
    s = (service or "").strip()
    return s in BEDROCK_SERVICES or s.endswith(EDITION_SUFFIX)


@dataclass(frozen=True)
class UsageType:
    usage_type: str
    shape: str                      # 'first_party' | 'marketplace' | 'unknown'
    region: str | None = None
    region_code: str | None = None  # billing prefix, e.g. 'USE1'
    billing_name: str | None = None
    unit: str = "other"             # input|output|cache_read|cache_write_5m|cache_write_1h|model_unit_hours|other
    tier: str = "standard"          # standard|batch|flex|priority|latency_optimized|custom_model|training|provisioned
    scope: str = "regional"         # 'global' or 'regional' (in-region or geo: indistinguishable)
    endpoint: str = "runtime"       # 'runtime' or 'mantle'
    long_context: bool = False
    tokens_per_unit: int = 1
    recognized: bool = False
    reason: str | None = None


def _alt(words) -> str:
    """Regex alternation, longest first, so a longer word always wins over its prefix."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


# --- first party -----------------------------------------------------------------------------
_FP_TOKEN = {
    "input-tokens": "input",
    "output-tokens": "output",
    "cache-read-input-token-count": "cache_read",
    "cache-write-input-token-count": "cache_write_5m",
    "cache-write-1h-input-token-count": "cache_write_1h",   # [U]
    "cache-read-tokens": "cache_read",                       # mantle spelling [U]
    "cache-write-tokens": "cache_write_5m",                  # mantle spelling [U]
    "cache-write-1h-tokens": "cache_write_1h",               # [U]
}
_FP_TIERS = {"batch": "batch", "flex": "flex", "priority": "priority", "standard": "standard",
             "latency-optimized": "latency_optimized", "custom-model": "custom_model"}
_FP_MODS = [*_FP_TIERS, "cross-region-global", "cross-region-geo", "global", "long-context", "1h"]
_FP_RE = re.compile(
    rf"^(?P<name>.+?)(?P<mantle>-mantle)?-(?P<tok>{_alt(_FP_TOKEN)})"
    rf"(?P<mods>(?:-(?:{_alt(_FP_MODS)}))*)$")
_MODS_SPLIT = re.compile(rf"-({_alt(_FP_MODS)})")
_TRAINING_RE = re.compile(r"^(?P<name>.+?)-(?:Model-)?Customization(?:-(?P<what>.+))?$")
_PROVISIONED_RE = re.compile(r"^(?P<name>.+?)-(?:Provisioned-?Throughput|ProvisionedModelUnits?)(?:-[A-Za-z0-9.]+)*$",
                             re.IGNORECASE)

# --- marketplace -------------------------------------------------------------------------------
_MP_RE = re.compile(r"^(?P<r1>[A-Z]{2,4}\d?)-MP:(?P<r2>[A-Z]{2,4}\d?)_(?P<comp>.+)-Units$")
_MP_CAMEL = {
    "InputTokenCount": "input",
    "OutputTokenCount": "output",
    "CacheReadInputTokenCount": "cache_read",
    "CacheWriteInputTokenCount": "cache_write_5m",
    "CacheWrite1hInputTokenCount": "cache_write_1h",
}
_MP_CAMEL_RE = re.compile(rf"^(?P<c>{_alt(_MP_CAMEL)})(?P<g>_Global)?(?P<b>_Batch)?$")
_MP_SNAKE = {"input_tokens": "input", "output_tokens": "output",
             "cache_read_tokens": "cache_read", "cache_write_tokens": "cache_write_5m"}
_MP_SNAKE_RE = re.compile(
    rf"^(?P<c>{_alt(_MP_SNAKE)})(?P<h>_1h)?"
    r"(?:(?P<l1>_long_ctx)?(?P<g>_global)?|(?P<g2>_global)?(?P<l2>_long_ctx)?)"
    r"(?:_(?P<t>standard|batch|flex|priority))?$")


def parse_usage_type(usage_type: str, service: str | None = None) -> UsageType:
    """Parse one usage type.  Never raises; unknown forms get ``recognized=False`` and a reason.

    ``service`` (CE ``SERVICE`` / CUR service name) is optional; when given and not a Bedrock
    service the row is reported as not recognized.
    """
    ut = "" if usage_type is None else str(usage_type).strip()
    if service is not None and not is_bedrock_service(service):
        return UsageType(ut, "unknown", reason="not a Bedrock service")
    m = _MP_RE.match(ut)
    if m:
        return _parse_marketplace(ut, m)
    prefix, sep, rest = ut.partition("-")
    if not sep or not rest:
        return UsageType(ut, "unknown", reason="no '{REGION}-' prefix")
    if prefix not in REGION_CODES:
        return UsageType(ut, "unknown", reason=f"unknown region prefix {prefix!r}")
    return _parse_first_party(ut, prefix, rest)


def _parse_first_party(ut: str, prefix: str, rest: str) -> UsageType:
    base = dict(usage_type=ut, shape="first_party", region=REGION_CODES[prefix], region_code=prefix)
    m = _FP_RE.match(rest)
    if not m:
        pt = _PROVISIONED_RE.match(rest)
        if pt:  # model-unit hours of provisioned throughput: a cost line of its own, not per token
            return UsageType(**base, billing_name=pt["name"], unit="model_unit_hours", tier="provisioned",
                             tokens_per_unit=1, recognized=True)
        t = _TRAINING_RE.match(rest)
        if t:  # e.g. USE1-NovaLite-Customization-Training: not per-token inference
            return UsageType(**base, billing_name=t["name"], tier="training",
                             reason="model customization usage (not per-token inference)")
        if "reserved" in rest.lower():
            return UsageType(**base, reason="reserved-capacity usage type (not per-token)")
        return UsageType(**base, reason="no known token type in first-party usage type")
    name, unit = m["name"], _FP_TOKEN[m["tok"]]
    mods = _MODS_SPLIT.findall(m["mods"])
    if len(mods) != len(set(mods)):
        return UsageType(**base, billing_name=name, reason=f"repeated modifier in {m['mods']!r}")
    tiers = [_FP_TIERS[x] for x in mods if x in _FP_TIERS]
    if len(tiers) > 1:
        return UsageType(**base, billing_name=name, reason=f"conflicting tiers {tiers}")
    if "1h" in mods:
        if unit != "cache_write_5m":
            return UsageType(**base, billing_name=name, reason="'-1h' on a non cache-write unit")
        unit = "cache_write_1h"
    tier = tiers[0] if tiers else "standard"
    t = _TRAINING_RE.match(name)  # USE1-NovaMicro-Model-Customization-input-tokens (price list)
    if t and t["what"] is None:
        name, tier = t["name"], "training"
    glob = "cross-region-global" in mods or "global" in mods
    return UsageType(**base, billing_name=name, unit=unit, tier=tier,
                     scope="global" if glob else "regional",
                     endpoint="mantle" if m["mantle"] else "runtime",
                     long_context="long-context" in mods, tokens_per_unit=1000, recognized=True)


def _parse_marketplace(ut: str, m: re.Match) -> UsageType:
    r1 = m["r1"]
    base = dict(usage_type=ut, shape="marketplace", region=REGION_CODES.get(r1), region_code=r1)
    if r1 not in REGION_CODES:
        return UsageType(**base, reason=f"unknown region prefix {r1!r}")
    if m["r2"] != r1:
        return UsageType(**base, reason=f"region prefixes differ ({r1!r} vs {m['r2']!r})")
    comp = m["comp"]
    c = _MP_CAMEL_RE.match(comp)
    if c:
        return UsageType(**base, unit=_MP_CAMEL[c["c"]], tier="batch" if c["b"] else "standard",
                         scope="global" if c["g"] else "regional",
                         tokens_per_unit=1_000_000, recognized=True)
    s = _MP_SNAKE_RE.match(comp)
    if s:
        unit = _MP_SNAKE[s["c"]]
        if s["h"]:
            if unit != "cache_write_5m":
                return UsageType(**base, reason=f"'_1h' on a non cache-write component {comp!r}")
            unit = "cache_write_1h"
        return UsageType(**base, unit=unit, tier=s["t"] or "standard",
                         scope="global" if (s["g"] or s["g2"]) else "regional",
                         long_context=bool(s["l1"] or s["l2"]),
                         tokens_per_unit=1_000_000, recognized=True)
    return UsageType(**base, reason=f"unknown Marketplace component {comp!r}")

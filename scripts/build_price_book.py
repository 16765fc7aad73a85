#!/usr/bin/env python3
"""Build params/prices.csv and params/models.csv from the compact tables below.

The CSVs are the data the kit reads; this script only exists so that the book is
reviewable: every price is written once here, per 1M tokens as AWS and most public
tables quote it, with the source it came from, and the rules of bedrock-facts
section 5 (cache multipliers, batch 50 %, global discount from the 4.5 generation
on, source-region pricing, Nova regional rates) are applied in code, not by hand.

    python scripts/build_price_book.py            # rewrite params/*.csv
    python scripts/build_price_book.py --check    # exit 1 if the CSVs are stale

Conventions
- usd_per_1k = USD per 1,000 tokens (unit `image`: USD per image).
- Every model gets explicit rows for each scope it can be billed under in a region:
  `in_region` and `geo` (us./eu./apac./jp./au. profiles) always carry the same
  price (AWS: cross-region inference is priced at the source region's rate), and
  `global` rows exist only where a global. profile exists.
- `in_region` rows are also written for models that AWS only serves through an
  inference profile: a Cost Explorer usage type without a cross-region suffix
  covers in-region *and* geo use, so a reader of the bill needs that key priced.
- A disagreement with the LiteLLM cross-check is explained in the row's source
  with the words "LiteLLM ... differs" (scripts/crosscheck_prices.py looks for it).
- Models served only on the bedrock-mantle endpoint (Gemma 4, GPT-5.x, Grok) are priced
  from LiteLLM's bedrock_mantle/ keys, in_region in the US regions; their source says
  "bedrock_mantle/" (the cross-check compares those keys only for such models).
- A guess (billing name, launch date used as effective_from, region) is marked [U].
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params"

PRICE_COLUMNS = ["model", "region", "scope", "tier", "unit", "usd_per_1k", "effective_from", "source"]
MODEL_COLUMNS = ["model", "name", "provider", "family", "billing_names", "marketplace_service"]

# --------------------------------------------------------------------------------------
# Regions and the geography each belongs to (which geo profile a source region uses).
# --------------------------------------------------------------------------------------
US = ["us-east-1", "us-east-2", "us-west-2"]
EU = ["eu-central-1", "eu-west-1", "eu-west-3"]
APAC = ["ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ap-south-1"]
ALL = US + EU + APAC
AREAS = {"US": US, "EU": EU, "APAC": APAC}

# Sources (short, dated).
AWS = "AWS pricing page 2025-07-20"
LL = "LiteLLM 2026-07-24"
PL_S46 = "AWS Price List + bill 2026-07 (captured, bedrock-facts 5)"
PL_APN1 = "AWS Price List 2026-08-26 APN1-NovaPro (captured in public test fixture)"
PL_ML3 = "AWS Price List 2026-10-03 USW2-Mistral-Large-3 (captured in public test fixture)"
FACTS = "bedrock-facts 5 (Price List captures)"

D = Decimal
M = D(1000)  # per 1M -> per 1K


def fmt(d: Decimal) -> str:
    """Plain decimal string, no exponent, no trailing zeros (0.00025, 0.003, 0.0165)."""
    s = format(d.normalize(), "f")
    return s


@dataclass
class Model:
    id: str
    name: str
    provider: str
    family: str
    billing: str = ""          # '|'-separated Cost Explorer billing names (first-party shape)
    mp: str = ""               # Cost Explorer service name of the Marketplace shape
    launch: str = ""           # effective_from of its rows


@dataclass
class Rows:
    rows: list = field(default_factory=list)

    def add(self, m: Model, region: str, scope: str, tier: str, unit: str, per_1m, source: str):
        v = D(str(per_1m)) / M
        self.rows.append([m.id, region, scope, tier, unit, fmt(v), m.launch, source])

    def add_1k(self, m: Model, region: str, scope: str, tier: str, unit: str, per_1k, source: str):
        """For non-token units (`image`): the price is per unit, not per 1K."""
        self.rows.append([m.id, region, scope, tier, unit, fmt(D(str(per_1k))), m.launch, source])


MODELS: list[Model] = []
R = Rows()


def model(*a, **k) -> Model:
    m = Model(*a, **k)
    MODELS.append(m)
    return m


# --------------------------------------------------------------------------------------
# Anthropic Claude. Prices per 1M tokens. Same price in every region (LiteLLM eu./apac.
# equal us.; bedrock-facts 5 "Claude 3.x priced the same in APAC"); Seoul has no
# Seoul-specific source and is assumed to follow the list price.
#
#   glob: None      no global. profile
#         "same"    global. profile at the regional price (older models)
#         "disc"    in/out below are the GLOBAL price; in-region and geo = 1.1x
#   cache: source of the cache prices, or None when Bedrock sells no prompt caching
#   h1:   source of the 1h cache-write price, or None
#   batch: source of the batch price (50 % of on-demand), or None
# --------------------------------------------------------------------------------------
DERIVED_CACHE = "derived: cache write 5m = 1.25x input, cache read = 0.1x input (Anthropic rule)"
DERIVED_1H = "derived: cache write 1h = 2x input (Anthropic rule)"
DERIVED_BATCH = "derived: batch = 50% of on-demand (AWS rule)"
BARE_GLOBAL = "; LiteLLM bare id differs: it carries the global price, AWS in-region = geo = 1.1x global"

CLAUDE = [
    # id, name, billing, launch, areas, glob, in, out, cache, h1, batch, base source
    ("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", "Claude3Haiku", "2024-03-07",
     ["US", "EU", "APAC"], None, "0.25", "1.25",
     DERIVED_CACHE + "; AWS page 2025-07-20 lists none; matches " + LL, None, AWS, AWS),
    ("anthropic.claude-3-sonnet-20240229-v1:0", "Claude 3 Sonnet", "Claude3Sonnet", "2024-02-29",
     ["US", "EU", "APAC"], None, "3", "15", None, None, None, LL),
    ("anthropic.claude-3-opus-20240229-v1:0", "Claude 3 Opus", "Claude3Opus", "2024-02-29",
     ["US"], None, "15", "75", None, None, None, LL),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", "Claude 3.5 Haiku", "Claude3.5Haiku", "2024-10-22",
     ["US"], None, "0.8", "4", AWS, None, None, AWS),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet", "Claude3.5Sonnet", "2024-06-20",
     ["US", "EU", "APAC"], None, "3", "15", None, None, AWS, AWS),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "Claude 3.5 Sonnet v2", "Claude3.5SonnetV2", "2024-10-22",
     ["US", "EU", "APAC"], None, "3", "15", AWS, None, AWS, AWS),
    ("anthropic.claude-3-7-sonnet-20250219-v1:0", "Claude 3.7 Sonnet", "Claude3.7Sonnet", "2025-02-19",
     ["US", "EU", "APAC"], None, "3", "15", AWS,
     DERIVED_1H + "; 1h TTL availability for this model unverified", None, AWS),
    ("anthropic.claude-sonnet-4-20250514-v1:0", "Claude Sonnet 4", "Claude4Sonnet", "2025-05-14",
     ["US", "EU", "APAC"], "same", "3", "15", AWS, DERIVED_1H,
     DERIVED_BATCH + "; Price List has Claude4Sonnet batch SKUs, rate unverified", AWS),
    ("anthropic.claude-opus-4-20250514-v1:0", "Claude Opus 4", "Claude4Opus", "2025-05-14",
     ["US", "EU"], None, "15", "75", AWS, DERIVED_1H, None, AWS),
    ("anthropic.claude-opus-4-1-20250805-v1:0", "Claude Opus 4.1", "Claude4.1Opus", "2025-08-05",
     ["US", "EU"], None, "15", "75", LL, DERIVED_1H, None, LL),
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude Sonnet 4.5", "Claude4.5Sonnet", "2025-09-29",
     ["US", "EU", "APAC"], "disc", "3", "15", LL, LL, FACTS, LL + " + " + FACTS),
    ("anthropic.claude-haiku-4-5-20251001-v1:0", "Claude Haiku 4.5", "Claude4.5Haiku", "2025-10-01",
     ["US", "EU", "APAC"], "disc", "1", "5", LL, LL,
     FACTS + " (input verified; output = 50% rule, unverified)", LL + " + " + FACTS),
    ("anthropic.claude-opus-4-5-20251101-v1:0", "Claude Opus 4.5", "Claude4.5Opus", "2025-11-01",
     ["US", "EU"], "disc", "5", "25", LL, LL, None, LL),
    ("anthropic.claude-sonnet-4-6", "Claude Sonnet 4.6", "Claude4.6Sonnet", "2026-01-01",
     ["US", "EU", "APAC"], "disc", "3", "15", PL_S46, PL_S46, PL_S46, PL_S46 + "; " + LL),
    ("anthropic.claude-opus-4-6-v1", "Claude Opus 4.6", "Claude4.6Opus", "2026-01-01",
     ["US", "EU", "APAC"], "disc", "5", "25", LL, LL, None, LL),
    ("anthropic.claude-opus-4-7", "Claude Opus 4.7", "Claude4.7Opus", "2026-01-01",
     ["US", "EU", "APAC"], "disc", "5", "25", LL, LL, None, LL),
    ("anthropic.claude-opus-4-8", "Claude Opus 4.8", "Claude4.8Opus", "2026-01-01",
     ["US", "EU", "APAC"], "disc", "5", "25", LL, LL, None, LL),
    # Claude 5 generation (LiteLLM: global., us., eu., bare; jp./au. for Opus and Sonnet, none for Fable).
    # Launch dates are not in the sources: 2026-01-01 is a lower bound, as for Opus 4.7/4.8. No batch:
    # no source says AWS sells batch for them. Anthropic's $0 research preview (claude-mythos-preview)
    # stays out of the book (scripts/crosscheck_prices.py gives the reason).
    ("anthropic.claude-opus-5", "Claude Opus 5", "Claude5Opus", "2026-01-01",
     ["US", "EU", "APAC"], "disc", "5", "25", LL, LL, None, LL),
    ("anthropic.claude-sonnet-5", "Claude Sonnet 5", "Claude5Sonnet", "2026-01-01",
     ["US", "EU", "APAC"], "disc", "2", "10", LL, LL, None, LL),
    ("anthropic.claude-fable-5", "Claude Fable 5", "Claude5Fable", "2026-01-01",
     ["US", "EU"], "disc", "10", "50", LL, LL, None, LL),
]
# The demo's "model the book does not know yet": never in the book, under no id or billing name.
DEMO_UNKNOWN_MODEL = "anthropic.claude-opus-5-5-20261101-v1:0"
DEMO_UNKNOWN_BILLING = "Claude5.5Opus"
# Notes attached to every row of a model.
C5_DATE = "; effective_from 2026-01-01 is a lower bound (launch date not in the sources) [U]"
MODEL_NOTES = {
    "anthropic.claude-opus-5": "; billing name Claude5Opus and Marketplace service name guessed [U]" + C5_DATE,
    "anthropic.claude-sonnet-5": "; billing name Claude5Sonnet and Marketplace service name guessed [U]" + C5_DATE,
    "anthropic.claude-fable-5": "; billing name Claude5Fable and Marketplace service name guessed [U]" + C5_DATE,
}
# Notes attached to specific (model, area-or-region, scope) groups: explanations of
# LiteLLM disagreements and of assumptions.
SEOUL_NOTE = "; ap-northeast-2: no Seoul-specific source, list price assumed [U]"
CLAUDE_NOTES = {
    # LiteLLM's eu. entry for Opus 4.5 has the global price and no 1h price.
    ("anthropic.claude-opus-4-5-20251101-v1:0", "EU", "geo"):
        "; LiteLLM eu. entry differs: it carries the global price (us. and jp./au. entries of later Opus carry 1.1x)",
}


def build_claude():
    for (mid, name, billing, launch, areas, glob, p_in, p_out, cache, h1, batch, src) in CLAUDE:
        m = model(mid, name, "Anthropic", "claude", billing, f"{name} (Amazon Bedrock Edition)", launch)
        g_in, g_out = D(p_in), D(p_out)
        if glob == "disc":
            r_in, r_out = g_in * D("1.1"), g_out * D("1.1")
        else:
            r_in, r_out = g_in, g_out
        regional = [(a, r) for a in areas for r in AREAS[a]]
        plan = []  # (region, area, scope, in, out)
        for area, region in regional:
            plan.append((region, area, "in_region", r_in, r_out))
            plan.append((region, area, "geo", r_in, r_out))
        if glob:
            # A global. profile can be called from every commercial source region.
            for area in ("US", "EU", "APAC"):
                for region in AREAS[area]:
                    plan.append((region, area, "global", g_in, g_out))
        for region, area, scope, pin, pout in plan:
            note = CLAUDE_NOTES.get((mid, area, scope), "") + MODEL_NOTES.get(mid, "")
            if region == "ap-northeast-2":
                note += SEOUL_NOTE
            if scope == "in_region" and glob == "disc":
                note += BARE_GLOBAL
            if scope == "global":
                s_main = src + ("; global = regional price (no global discount before the 4.5 generation)"
                                if glob == "same" else "; global = ~10% below geo/in-region")
            elif glob == "disc":
                s_main = src + "; geo/in-region = 1.1x global"
            else:
                s_main = src + ("; same price for every scope" if region in US else
                                "; same price as us-east-1 (Claude priced uniformly by region)")
            R.add(m, region, scope, "standard", "input", pin, s_main + note)
            R.add(m, region, scope, "standard", "output", pout, s_main + note)
            if cache:
                R.add(m, region, scope, "standard", "cache_write_5m", pin * D("1.25"), cache + note)
                R.add(m, region, scope, "standard", "cache_read", pin * D("0.1"), cache + note)
            if h1:
                R.add(m, region, scope, "standard", "cache_write_1h", pin * 2, h1 + note)
            if batch:
                R.add(m, region, scope, "batch", "input", pin / 2, batch + note)
                R.add(m, region, scope, "batch", "output", pout / 2, batch + note)


# --------------------------------------------------------------------------------------
# Amazon Nova. Source-region pricing: EU ~1.3x US, APAC (LiteLLM apac.) 1.05x US;
# Tokyo's Price List row for Nova Pro is 1.2x US (0.96/3.84), so Tokyo gets 1.2x.
# cache read = 0.25x input; no cache-write price is published (cache writes are left
# unpriced rather than guessed). Batch = 50 %.
# --------------------------------------------------------------------------------------
NOVA = {
    # model: {area: (in, out, source)}
    "amazon.nova-micro-v1:0": {"US": ("0.035", "0.14", AWS), "EU": ("0.046", "0.184", LL + " eu."),
                               "APAC": ("0.037", "0.148", LL + " apac.")},
    "amazon.nova-lite-v1:0": {"US": ("0.06", "0.24", AWS), "EU": ("0.078", "0.312", LL + " eu. + EUC1 Price List capture"),
                              "APAC": ("0.063", "0.252", LL + " apac.")},
    "amazon.nova-pro-v1:0": {"US": ("0.8", "3.2", AWS), "EU": ("1.05", "4.2", LL + " eu."),
                             "APAC": ("0.84", "3.36", LL + " apac.")},
    "amazon.nova-premier-v1:0": {"US": ("2.5", "12.5", AWS)},
}
NOVA_META = {
    "amazon.nova-micro-v1:0": ("Nova Micro", "NovaMicro", "2024-12-03"),
    "amazon.nova-lite-v1:0": ("Nova Lite", "NovaLite", "2024-12-03"),
    "amazon.nova-pro-v1:0": ("Nova Pro", "NovaPro", "2024-12-03"),
    "amazon.nova-premier-v1:0": ("Nova Premier", "NovaPremier", "2025-04-30"),
}
TOKYO_NOVA = {
    "amazon.nova-pro-v1:0": ("0.96", "3.84", PL_APN1),
    "amazon.nova-micro-v1:0": ("0.042", "0.168", "derived: 1.2x US like the APN1-NovaPro Price List row [U]"),
    "amazon.nova-lite-v1:0": ("0.072", "0.288", "derived: 1.2x US like the APN1-NovaPro Price List row [U]"),
}
TOKYO_NOTE = "; LiteLLM apac. differs: its 1.05x APAC rate is not Tokyo's source-region rate (Price List APN1 = 1.2x US)"
APAC_NOTE = "; APAC rate from LiteLLM apac. applied to this source region [U]"


def build_nova():
    for mid, areas in NOVA.items():
        name, billing, launch = NOVA_META[mid]
        m = model(mid, name, "Amazon", "nova", billing, "", launch)
        for area, (p_in, p_out, src) in areas.items():
            for region in AREAS[area]:
                note = ""
                if area == "APAC":
                    if region == "ap-northeast-1" and mid in TOKYO_NOVA:
                        p_in, p_out, src_r = TOKYO_NOVA[mid]
                        note = TOKYO_NOTE
                    else:
                        p_in, p_out = areas["APAC"][0], areas["APAC"][1]
                        src_r = src
                        note = APAC_NOTE
                else:
                    src_r = src
                pin, pout = D(p_in), D(p_out)
                for scope in ("in_region", "geo"):
                    s = src_r + "; geo = in-region (source-region price)" + note
                    R.add(m, region, scope, "standard", "input", pin, s)
                    R.add(m, region, scope, "standard", "output", pout, s)
                    pl = src_r == PL_APN1  # the captured APN1 Nova Pro rows include cache read and batch
                    R.add(m, region, scope, "standard", "cache_read", pin * D("0.25"),
                          (PL_APN1 if pl else "derived: Nova cache read = 0.25x input (AWS rule)"
                           + ("; AWS page 2025-07-20 lists it" if area == "US" else "")) + note)
                    bsrc = (AWS if area == "US" else DERIVED_BATCH) + note
                    R.add(m, region, scope, "batch", "input", pin / 2, (PL_APN1 + note) if pl else bsrc)
                    R.add(m, region, scope, "batch", "output", pout / 2, bsrc)
                    if mid == "amazon.nova-pro-v1:0" and region in ("us-east-1", "us-east-2"):
                        R.add(m, region, scope, "latency_optimized", "input", D("1"), AWS + " (latency optimized)")
                        R.add(m, region, scope, "latency_optimized", "output", D("4"), AWS + " (latency optimized)")

    # Nova 2 Lite: global 0.30/2.50 (cache read 0.075), geo and in-region 0.33/2.75 in every area.
    m = model("amazon.nova-2-lite-v1:0", "Nova 2 Lite", "Amazon", "nova", "Nova2.0Lite", "", "2025-12-02")
    for region in ALL:
        for scope, pin, pout in (("in_region", D("0.33"), D("2.75")), ("geo", D("0.33"), D("2.75")),
                                 ("global", D("0.3"), D("2.5"))):
            s = LL + (" us./eu./apac. (same in every geography)" if scope != "global" else " global.")
            if scope == "in_region":
                s += "; in-region = geo" + BARE_GLOBAL
            R.add(m, region, scope, "standard", "input", pin, s)
            R.add(m, region, scope, "standard", "output", pout, s)
            R.add(m, region, scope, "standard", "cache_read", pin * D("0.25"), s)

    # Nova 2 Pro (preview): LiteLLM us./eu./apac. and the bare id all carry 2.1875/17.50, and it lists no
    # global. profile, so in-region = geo at one price everywhere; cache read = 0.25x input (Nova rule,
    # LiteLLM agrees). Image and audio input tokens are billed as input tokens (LiteLLM: same rate).
    m = model("amazon.nova-2-pro-preview-20251202-v1:0", "Nova 2 Pro (preview)", "Amazon", "nova",
              "Nova2.0Pro", "", "2025-12-02")
    s = (LL + " us./eu./apac. + bare id (same in every geography, no global. profile listed)"
         + "; billing name Nova2.0Pro guessed from Nova2.0Lite [U]")
    for region in ALL:
        for scope in ("in_region", "geo"):
            R.add(m, region, scope, "standard", "input", D("2.1875"), s)
            R.add(m, region, scope, "standard", "output", D("17.5"), s)
            R.add(m, region, scope, "standard", "cache_read", D("2.1875") * D("0.25"), s)

    # Nova 2 Multimodal Embeddings: text input per token, images per image (audio and video are priced per
    # second, which the token book does not carry). us-east-1 only (AWS model and batch-inference docs);
    # AWS lists batch inference for it there, so batch = 50 % (AWS rule).
    m = model("amazon.nova-2-multimodal-embeddings-v1:0", "Nova 2 Multimodal Embeddings", "Amazon", "nova",
              "Nova2.0MultimodalEmbeddings", "", "2025-10-28")
    s = LL + "; us-east-1 only; billing name guessed [U]"
    R.add(m, "us-east-1", "in_region", "standard", "input", D("0.135"), s)
    R.add(m, "us-east-1", "in_region", "batch", "input", D("0.135") / 2,
          DERIVED_BATCH + "; AWS batch-inference doc lists this model in us-east-1")
    R.add_1k(m, "us-east-1", "in_region", "standard", "image", "0.00006",
             LL + "; unit image = USD per input image; audio/video per second not in the book")


# --------------------------------------------------------------------------------------
# Simple in-region (and optionally geo) models: one price per region group.
# --------------------------------------------------------------------------------------
UNVERIFIED_REGION = "; regional rate unverified, US list price assumed [U]"
TITAN_TEXT_NOTE = "; LiteLLM differs: it keeps the 2023 launch price, AWS cut Titan Text prices in 2024"


def simple(mid, name, provider, family, billing, mp, launch, regions, scopes, units, source, batch=None,
           note_by_region=None):
    """units: {unit: per_1m}. batch: source string -> batch rows at 50 %."""
    m = model(mid, name, provider, family, billing, mp, launch)
    for region in regions:
        note = (note_by_region or {}).get(region, "")
        for scope in scopes:
            for unit, per_1m in units.items():
                src = source if isinstance(source, str) else source(region)
                R.add(m, region, scope, "standard", unit, D(per_1m), src + note)
            if batch:
                for unit in ("input", "output"):
                    if unit in units:
                        R.add(m, region, scope, "batch", unit, D(units[unit]) / 2, batch + note)
    return m


def regional(mid, name, provider, family, billing, mp, launch, table, scopes=("in_region",), batch=None):
    """table: {region: (in, out, source)} with per-region prices."""
    m = model(mid, name, provider, family, billing, mp, launch)
    for region, (p_in, p_out, src) in table.items():
        for scope in scopes:
            R.add(m, region, scope, "standard", "input", D(p_in), src)
            if p_out is not None:
                R.add(m, region, scope, "standard", "output", D(p_out), src)
            if batch:
                R.add(m, region, scope, "batch", "input", D(p_in) / 2, batch)
                if p_out is not None:
                    R.add(m, region, scope, "batch", "output", D(p_out) / 2, batch)
    return m


def build_others():
    IR, IRG = ("in_region",), ("in_region", "geo")
    # ---- Amazon Titan -----------------------------------------------------------
    unv = {r: UNVERIFIED_REGION for r in ALL if r not in ("us-east-1", "us-west-2")}
    simple("amazon.titan-embed-text-v2:0", "Titan Text Embeddings V2", "Amazon", "titan",
           "TitanEmbeddingV2-Text", "", "2024-04-30", ALL, IR, {"input": "0.02"}, LL + " + " + FACTS,
           batch="bedrock-facts 5 (batch 0.01/1M)", note_by_region=unv)
    simple("amazon.titan-embed-text-v1", "Titan Embeddings G1 - Text", "Amazon", "titan",
           "TitanEmbeddingsG1-Text", "", "2023-09-28", ["us-east-1", "us-west-2", "eu-central-1", "ap-northeast-1"],
           IR, {"input": "0.1"}, LL, note_by_region=unv)
    m = simple("amazon.titan-embed-image-v1", "Titan Multimodal Embeddings G1", "Amazon", "titan",
               "TitanEmbeddingsG1-Multimodal", "", "2023-11-29", ["us-east-1", "us-west-2"], IR,
               {"input": "0.8"}, LL)
    for region in ("us-east-1", "us-west-2"):
        R.add_1k(m, region, "in_region", "standard", "image", "0.00006",
                 LL + "; unit image = USD per input image")
    simple("amazon.titan-text-lite-v1", "Titan Text G1 - Lite", "Amazon", "titan", "TitanTextLite", "",
           "2023-11-29", ["us-east-1", "us-west-2"], IR, {"input": "0.15", "output": "0.2"},
           "AWS pricing page Titan table (2024 price; not in the stored 2025-07-20 snapshot) [U]" + TITAN_TEXT_NOTE)
    simple("amazon.titan-text-express-v1", "Titan Text G1 - Express", "Amazon", "titan", "TitanTextExpress", "",
           "2023-11-29", ["us-east-1", "us-west-2"], IR, {"input": "0.2", "output": "0.6"},
           "AWS pricing page Titan table (2024 price; not in the stored 2025-07-20 snapshot) [U]" + TITAN_TEXT_NOTE)
    simple("amazon.titan-text-premier-v1:0", "Titan Text G1 - Premier", "Amazon", "titan", "TitanTextPremier", "",
           "2024-05-07", ["us-east-1"], IR, {"input": "0.5", "output": "1.5"}, LL)

    # ---- Meta Llama ---------------------------------------------------------------
    stale = "; LiteLLM differs: it keeps the launch price, AWS page 2025-07-20 has the current one"
    L3 = {"us-east-1": ("0.3", "0.6", AWS), "us-west-2": ("0.3", "0.6", AWS),
          "eu-west-1": ("0.32", "0.65", LL + " bedrock/eu-west-1"), "eu-west-2": ("0.39", "0.78", LL + " bedrock/eu-west-2"),
          "ap-south-1": ("0.36", "0.72", LL + " bedrock/ap-south-1"), "ca-central-1": ("0.35", "0.69", LL + " bedrock/ca-central-1"),
          "sa-east-1": ("0.5", "1.01", LL + " bedrock/sa-east-1")}
    regional("meta.llama3-8b-instruct-v1:0", "Llama 3 8B Instruct", "Meta", "llama", "Llama3-8B", "",
             "2024-04-23", L3)
    L3b = {"us-east-1": ("2.65", "3.5", AWS), "us-west-2": ("2.65", "3.5", AWS),
           "eu-west-1": ("2.86", "3.78", LL + " bedrock/eu-west-1"), "eu-west-2": ("3.45", "4.55", LL + " bedrock/eu-west-2"),
           "ap-south-1": ("3.18", "4.2", LL + " bedrock/ap-south-1"), "ca-central-1": ("3.05", "4.03", LL + " bedrock/ca-central-1"),
           "sa-east-1": ("4.45", "5.88", LL + " bedrock/sa-east-1")}
    regional("meta.llama3-70b-instruct-v1:0", "Llama 3 70B Instruct", "Meta", "llama", "Llama3-70B", "",
             "2024-04-23", L3b)
    for mid, name, billing, p, note in (
            ("meta.llama3-1-8b-instruct-v1:0", "Llama 3.1 8B Instruct", "Llama3-1-8B", "0.22", ""),
            ("meta.llama3-1-70b-instruct-v1:0", "Llama 3.1 70B Instruct", "Llama3-1-70B", "0.72", stale),
            ("meta.llama3-1-405b-instruct-v1:0", "Llama 3.1 405B Instruct", "Llama3-1-405B", "2.4", stale)):
        m = simple(mid, name, "Meta", "llama", billing, "", "2024-07-23", US, IRG, {"input": p, "output": p},
                   AWS + note, batch=AWS + note)
        lat = {"meta.llama3-1-70b-instruct-v1:0": "0.9", "meta.llama3-1-405b-instruct-v1:0": "3"}.get(mid)
        if lat:
            for scope in IRG:
                for unit in ("input", "output"):
                    R.add(m, "us-east-2", scope, "latency_optimized", unit, D(lat), AWS + " (latency optimized, us-east-2)")
    for mid, name, billing, p, eu_p, note in (
            ("meta.llama3-2-1b-instruct-v1:0", "Llama 3.2 1B Instruct", "Llama3-2-1B", "0.1", "0.13", ""),
            ("meta.llama3-2-3b-instruct-v1:0", "Llama 3.2 3B Instruct", "Llama3-2-3B", "0.15", "0.19", ""),
            ("meta.llama3-2-11b-instruct-v1:0", "Llama 3.2 11B Vision Instruct", "Llama3-2-11B", "0.16", None, stale),
            ("meta.llama3-2-90b-instruct-v1:0", "Llama 3.2 90B Vision Instruct", "Llama3-2-90B", "0.72", None, stale)):
        table = {r: (p, p, AWS + note) for r in US}
        if eu_p:
            table.update({r: (eu_p, eu_p, LL + " eu. (EU source-region rate)") for r in EU})
        regional(mid, name, "Meta", "llama", billing, "", "2024-09-25", table, scopes=IRG)
    simple("meta.llama3-3-70b-instruct-v1:0", "Llama 3.3 70B Instruct", "Meta", "llama", "Llama3-3-70B", "",
           "2024-12-19", US, IRG, {"input": "0.72", "output": "0.72"}, AWS, batch=AWS)
    simple("meta.llama4-maverick-17b-instruct-v1:0", "Llama 4 Maverick 17B Instruct", "Meta", "llama",
           "Llama4-Maverick-17B", "", "2025-04-28", US, IRG, {"input": "0.24", "output": "0.97"}, AWS, batch=AWS)
    simple("meta.llama4-scout-17b-instruct-v1:0", "Llama 4 Scout 17B Instruct", "Meta", "llama",
           "Llama4-Scout-17B", "", "2025-04-28", US, IRG, {"input": "0.17", "output": "0.66"}, AWS, batch=AWS)

    # ---- Mistral --------------------------------------------------------------------
    regional("mistral.mistral-7b-instruct-v0:2", "Mistral 7B Instruct", "Mistral AI", "mistral",
             "Mistral-7B-Instruct", "", "2024-03-01",
             {"us-east-1": ("0.15", "0.2", LL), "us-west-2": ("0.15", "0.2", LL),
              "eu-west-3": ("0.2", "0.26", LL + " bedrock/eu-west-3"),
              "ap-southeast-2": ("0.2", "0.26", "bedrock-facts 5 (Sydney Mistral 7B)")})
    regional("mistral.mixtral-8x7b-instruct-v0:1", "Mixtral 8x7B Instruct", "Mistral AI", "mistral",
             "Mixtral-8x7B-Instruct", "", "2024-03-01",
             {"us-east-1": ("0.45", "0.7", LL), "us-west-2": ("0.45", "0.7", LL),
              "eu-west-3": ("0.59", "0.91", LL + " bedrock/eu-west-3")})
    u = "; conflicting public figures (inventivehq: 4.00/12.00 per 1M) [U]"
    regional("mistral.mistral-large-2402-v1:0", "Mistral Large (24.02)", "Mistral AI", "mistral",
             "Mistral-Large", "", "2024-04-02",
             {"us-east-1": ("8", "24", LL + u), "us-west-2": ("8", "24", LL + u),
              "eu-west-3": ("10.4", "31.2", LL + " bedrock/eu-west-3" + u)})
    regional("mistral.mistral-large-2407-v1:0", "Mistral Large 2 (24.07)", "Mistral AI", "mistral",
             "Mistral-Large-2407", "", "2024-07-24",
             {"us-west-2": ("3", "9", LL + "; conflicting public figure 2.00/6.00 per 1M [U]")})
    regional("mistral.mistral-small-2402-v1:0", "Mistral Small (24.02)", "Mistral AI", "mistral",
             "Mistral-Small", "", "2024-05-23", {"us-east-1": ("1", "3", LL)})
    simple("mistral.pixtral-large-2502-v1:0", "Pixtral Large (25.02)", "Mistral AI", "mistral", "Pixtral-Large", "",
           "2025-04-08", US + EU, IRG, {"input": "2", "output": "6"},
           lambda r: AWS if r in US else LL + " eu. (same as US)")
    m = model("mistral.mistral-large-3-675b-instruct", "Mistral Large 3", "Mistral AI", "mistral",
              "Mistral-Large-3-675b-Instruct|mistral.mistral-large-3-675b-instruct", "", "2025-12-02")
    for region, src in (("us-west-2", PL_ML3), ("us-east-1", LL + " (US list price)")):
        R.add(m, region, "in_region", "standard", "input", D("0.5"), src)
        R.add(m, region, "in_region", "standard", "output", D("1.5"), src)
    for tier, p_in, p_out in (("batch", "0.25", "0.75"), ("flex", "0.25", "0.75"), ("priority", "0.88", "2.63")):
        R.add(m, "us-west-2", "in_region", tier, "input", D(p_in), PL_ML3)
        R.add(m, "us-west-2", "in_region", tier, "output", D(p_out), PL_ML3)

    # ---- Cohere -----------------------------------------------------------------------
    simple("cohere.command-r-v1:0", "Command R", "Cohere", "cohere", "CommandR", "", "2024-04-30",
           ["us-east-1", "us-west-2"], IR, {"input": "0.5", "output": "1.5"}, AWS)
    simple("cohere.command-r-plus-v1:0", "Command R+", "Cohere", "cohere", "CommandRPlus", "", "2024-04-30",
           ["us-east-1", "us-west-2"], IR, {"input": "3", "output": "15"}, AWS)
    simple("cohere.embed-english-v3", "Embed English v3", "Cohere", "cohere", "EmbedEnglish", "", "2023-11-13",
           ["us-east-1", "us-west-2"], IR, {"input": "0.1"}, LL)
    simple("cohere.embed-multilingual-v3", "Embed Multilingual v3", "Cohere", "cohere", "EmbedMultilingual", "",
           "2023-11-13", ["us-east-1", "us-west-2"], IR, {"input": "0.1"}, LL)
    simple("cohere.embed-v4:0", "Embed v4", "Cohere", "cohere", "EmbedV4", "", "2025-07-01",
           ["us-east-1"], IR, {"input": "0.12"}, LL)

    # ---- DeepSeek ---------------------------------------------------------------------
    simple("deepseek.r1-v1:0", "DeepSeek-R1", "DeepSeek", "deepseek", "DeepSeekR1", "", "2025-03-10",
           US, IRG, {"input": "1.35", "output": "5.4"}, AWS + " + " + LL + " us.")
    m = model("deepseek.v3.2", "DeepSeek V3.2", "DeepSeek", "deepseek", "deepseek.v3.2", "", "2025-10-01")
    for region, scopes, p_in, p_out, src in (
            ("us-east-1", IRG, "0.62", "1.85", LL), ("us-east-2", IRG, "0.62", "1.85", LL),
            ("us-west-2", IRG, "0.62", "1.85", LL),
            ("ap-northeast-1", IR, "0.74", "2.22", LL + " bedrock/ap-northeast-1"),
            ("ap-south-1", IR, "0.74", "2.22", LL + " bedrock/ap-south-1"),
            ("eu-north-1", IRG, "0.74", "2.22", LL + " bedrock/eu-north-1 + eu."),
            ("sa-east-1", IR, "0.74", "2.22", LL + " bedrock/sa-east-1"),
            ("ap-southeast-3", IR, "0.74", "2.22", LL + " bedrock/ap-southeast-3")):
        for scope in scopes:
            R.add(m, region, scope, "standard", "input", D(p_in), src)
            R.add(m, region, scope, "standard", "output", D(p_out), src)

    # ---- OpenAI open-weight -------------------------------------------------------------
    simple("openai.gpt-oss-120b-1:0", "gpt-oss-120b", "OpenAI", "gpt-oss", "gpt-oss-120b|openai.gpt-oss-120b", "",
           "2025-08-05", US, IR, {"input": "0.15", "output": "0.6"}, LL)
    simple("openai.gpt-oss-20b-1:0", "gpt-oss-20b", "OpenAI", "gpt-oss", "gpt-oss-20b|openai.gpt-oss-20b", "",
           "2025-08-05", US, IR, {"input": "0.07", "output": "0.3"}, LL)

    # ---- AI21 Labs (Marketplace-billed) ---------------------------------------------------
    simple("ai21.jamba-1-5-large-v1:0", "Jamba 1.5 Large", "AI21 Labs", "jamba", "",
           "Jamba 1.5 Large (Amazon Bedrock Edition)", "2024-08-22", ["us-east-1"], IR,
           {"input": "2", "output": "8"}, AWS)
    simple("ai21.jamba-1-5-mini-v1:0", "Jamba 1.5 Mini", "AI21 Labs", "jamba", "",
           "Jamba 1.5 Mini (Amazon Bedrock Edition)", "2024-08-22", ["us-east-1"], IR,
           {"input": "0.2", "output": "0.4"}, AWS)
    simple("ai21.jamba-instruct-v1:0", "Jamba-Instruct", "AI21 Labs", "jamba", "",
           "Jamba-Instruct (Amazon Bedrock Edition)", "2024-06-25", ["us-east-1"], IR,
           {"input": "0.5", "output": "0.7"}, AWS)


# --------------------------------------------------------------------------------------
# Open-weight and third-party models added from LiteLLM 2026-07-24 (per 1M tokens).
#
# Conventions (the same as gpt-oss and DeepSeek V3.2 above):
# - LiteLLM's bare id is the US list price: in_region rows in the book's US regions.
# - bedrock/<region>/<id> is that source region's rate: in_region rows there (no geo profile exists).
# - us./eu. keys add geo rows in that geography at the same price (source-region pricing).
# - No batch rows: no source says AWS sells batch inference for these models.
# - Billing names are guesses [U]: the model id without its version suffix, the form AWS bills its newest
#   open-weight models under (deepseek.v3.2, mistral.mistral-large-3-675b-instruct, openai.gpt-oss-120b).
# - Launch dates: 2025-09-18 (Qwen3 / DeepSeek-V3.1 launch), 2025-12-02 (re:Invent 2025 open-weight
#   launch), 2025-04-28 (Writer). For models that reached Bedrock later and whose date is not in the
#   sources, 2025-12-02 is a lower bound (marked "effective_from is a lower bound").
# --------------------------------------------------------------------------------------
QWEN_DAY, REINVENT, WRITER_DAY = "2025-09-18", "2025-12-02", "2025-04-28"
LOWER_BOUND = "; effective_from is a lower bound (Bedrock launch date not in the sources) [U]"
GUESSED_BILLING = "; billing name (model id less any version suffix) guessed [U]"


def id_billing(mid: str) -> str:
    """'qwen.qwen3-32b-v1:0' -> 'qwen.qwen3-32b'; 'openai.gpt-oss-safeguard-20b' unchanged."""
    head, sep, tail = mid.rpartition("-")
    if sep and ":" in tail and tail.lstrip("v").replace(":", "").isdigit():
        return head
    return mid


# id, name, provider, family, launch, US list (in, out), {region: (in, out)} from bedrock/<region>/ keys,
# geo-profile areas LiteLLM lists, extra note on the US rows
OPEN_WEIGHT = [
    # ---- Qwen
    ("qwen.qwen3-235b-a22b-2507-v1:0", "Qwen3 235B A22B 2507", "Qwen", "qwen", QWEN_DAY, ("0.22", "0.88"), {}, ()),
    ("qwen.qwen3-32b-v1:0", "Qwen3 32B", "Qwen", "qwen", QWEN_DAY, ("0.15", "0.6"), {}, ()),
    ("qwen.qwen3-coder-30b-a3b-v1:0", "Qwen3 Coder 30B A3B", "Qwen", "qwen", QWEN_DAY, ("0.15", "0.6"), {}, ()),
    ("qwen.qwen3-coder-480b-a35b-v1:0", "Qwen3 Coder 480B A35B", "Qwen", "qwen", QWEN_DAY, ("0.22", "1.8"), {}, ()),
    ("qwen.qwen3-next-80b-a3b", "Qwen3 Next 80B A3B", "Qwen", "qwen", REINVENT, ("0.15", "1.2"), {}, ()),
    ("qwen.qwen3-vl-235b-a22b", "Qwen3 VL 235B A22B", "Qwen", "qwen", REINVENT, ("0.53", "2.66"), {}, ()),
    ("qwen.qwen3-coder-next", "Qwen3 Coder Next", "Qwen", "qwen", None, ("0.5", "1.2"),
     {"ap-northeast-1": ("0.6", "1.44"), "ap-south-1": ("0.6", "1.44"), "ap-southeast-3": ("0.6", "1.44"),
      "eu-central-1": ("0.6", "1.44"), "eu-south-1": ("0.6", "1.44"), "eu-west-1": ("0.6", "1.44"),
      "eu-west-2": ("0.78", "1.86"), "sa-east-1": ("0.6", "1.44")}, ()),
    # ---- MiniMax
    ("minimax.minimax-m2", "MiniMax M2", "MiniMax", "minimax", REINVENT, ("0.3", "1.2"), {}, ()),
    ("minimax.minimax-m2.1", "MiniMax M2.1", "MiniMax", "minimax", None, ("0.3", "1.2"),
     {"ap-northeast-1": ("0.36", "1.44"), "ap-south-1": ("0.36", "1.44"), "ap-southeast-3": ("0.36", "1.44"),
      "eu-central-1": ("0.36", "1.44"), "eu-north-1": ("0.36", "1.44"), "eu-south-1": ("0.36", "1.44"),
      "eu-west-1": ("0.36", "1.44"), "eu-west-2": ("0.47", "1.86"), "sa-east-1": ("0.36", "1.44")}, ()),
    ("minimax.minimax-m2.5", "MiniMax M2.5", "MiniMax", "minimax", None, ("0.3", "1.2"),
     {"ap-northeast-1": ("0.36", "1.44"), "ap-south-1": ("0.36", "1.44"), "ap-southeast-2": ("0.309", "1.236"),
      "ap-southeast-3": ("0.36", "1.44"), "eu-central-1": ("0.36", "1.44"), "eu-north-1": ("0.36", "1.44"),
      "eu-south-1": ("0.36", "1.44"), "eu-west-1": ("0.36", "1.44"), "eu-west-2": ("0.47", "1.86"),
      "sa-east-1": ("0.36", "1.44")}, ()),
    # ---- Moonshot AI Kimi. LiteLLM has Kimi K2 Thinking under two ids: moonshot.kimi-k2-thinking (bare
    # only) and moonshotai.kimi-k2-thinking (regional keys); the book prices both, since it matches ids
    # exactly and never falls back from one to the other. Kimi K2.5 is moonshotai. only.
    ("moonshot.kimi-k2-thinking", "Kimi K2 Thinking", "Moonshot AI", "kimi", REINVENT, ("0.6", "2.5"), {}, (),
     "; LiteLLM lists this id (bare) and moonshotai.kimi-k2-thinking (regional) for the same model"),
    ("moonshotai.kimi-k2-thinking", "Kimi K2 Thinking (moonshotai. id)", "Moonshot AI", "kimi", REINVENT,
     ("0.6", "2.5"),
     {"ap-northeast-1": ("0.73", "3.03"), "ap-south-1": ("0.71", "2.94"), "sa-east-1": ("0.73", "3.03")}, (),
     "; LiteLLM bedrock/moonshotai.kimi-k2-thinking (no region) differs: it carries the ap-northeast-1 /"
     " sa-east-1 rate 0.73/3.03, while its bedrock/us-* keys and moonshot.kimi-k2-thinking say 0.60/2.50"),
    ("moonshotai.kimi-k2.5", "Kimi K2.5", "Moonshot AI", "kimi", None, ("0.6", "3"),
     {"ap-northeast-1": ("0.72", "3.6"), "ap-south-1": ("0.72", "3.6"), "ap-southeast-3": ("0.72", "3.6"),
      "eu-north-1": ("0.72", "3.6"), "sa-east-1": ("0.72", "3.6")}, (),
     "; LiteLLM bedrock/moonshotai.kimi-k2.5 (no region) differs: output 3.03, while its bare id and"
     " bedrock/us-* keys say 3.00"),
    # ---- Google Gemma 3 (Gemma 4 is served on the bedrock-mantle endpoint only: see MANTLE below)
    ("google.gemma-3-4b-it", "Gemma 3 4B IT", "Google", "gemma", REINVENT, ("0.04", "0.08"), {}, ()),
    ("google.gemma-3-12b-it", "Gemma 3 12B IT", "Google", "gemma", REINVENT, ("0.09", "0.29"), {}, ()),
    ("google.gemma-3-27b-it", "Gemma 3 27B IT", "Google", "gemma", REINVENT, ("0.23", "0.38"), {}, ()),
    # ---- NVIDIA Nemotron
    ("nvidia.nemotron-nano-9b-v2", "Nemotron Nano 9B v2", "NVIDIA", "nemotron", REINVENT, ("0.06", "0.23"), {}, ()),
    ("nvidia.nemotron-nano-12b-v2", "Nemotron Nano 12B v2 VL", "NVIDIA", "nemotron", REINVENT, ("0.2", "0.6"),
     {}, ()),
    ("nvidia.nemotron-nano-3-30b", "Nemotron 3 Nano 30B", "NVIDIA", "nemotron", None, ("0.06", "0.24"), {}, ()),
    ("nvidia.nemotron-super-3-120b", "Nemotron 3 Super 120B", "NVIDIA", "nemotron", None, ("0.15", "0.65"),
     {}, ()),
    # ---- Writer Palmyra (LiteLLM: bare id and us. profile)
    ("writer.palmyra-x4-v1:0", "Palmyra X4", "Writer", "palmyra", WRITER_DAY, ("2.5", "10"), {}, ("US",)),
    ("writer.palmyra-x5-v1:0", "Palmyra X5", "Writer", "palmyra", WRITER_DAY, ("0.6", "6"), {}, ("US",)),
    # ---- Z.ai GLM
    ("zai.glm-4.7", "GLM 4.7", "Z.ai", "glm", None, ("0.6", "2.2"), {}, ()),
    ("zai.glm-4.7-flash", "GLM 4.7 Flash", "Z.ai", "glm", None, ("0.07", "0.4"), {}, ()),
    ("zai.glm-5", "GLM 5", "Z.ai", "glm", None, ("1", "3.2"), {}, (),
     "; LiteLLM bedrock/us-east-1 and bedrock/us-west-2 agree"),
    # ---- Mistral AI (newer)
    ("mistral.devstral-2-123b", "Devstral 2 123B", "Mistral AI", "mistral", None, ("0.4", "2"), {}, ()),
    ("mistral.magistral-small-2509", "Magistral Small 1.2 (25.09)", "Mistral AI", "mistral", REINVENT,
     ("0.5", "1.5"), {}, ()),
    ("mistral.ministral-3-3b-instruct", "Ministral 3 3B Instruct", "Mistral AI", "mistral", REINVENT,
     ("0.1", "0.1"), {}, ()),
    ("mistral.ministral-3-8b-instruct", "Ministral 3 8B Instruct", "Mistral AI", "mistral", REINVENT,
     ("0.15", "0.15"), {}, ()),
    ("mistral.ministral-3-14b-instruct", "Ministral 3 14B Instruct", "Mistral AI", "mistral", REINVENT,
     ("0.2", "0.2"), {}, ()),
    ("mistral.voxtral-mini-3b-2507", "Voxtral Mini 3B (25.07)", "Mistral AI", "mistral", REINVENT,
     ("0.04", "0.04"), {}, ()),
    ("mistral.voxtral-small-24b-2507", "Voxtral Small 24B (25.07)", "Mistral AI", "mistral", REINVENT,
     ("0.1", "0.3"), {}, ()),
    # ---- OpenAI open-weight safety models (runtime price; LiteLLM's bedrock_mantle/ price of the 20b differs)
    ("openai.gpt-oss-safeguard-120b", "gpt-oss-safeguard-120b", "OpenAI", "gpt-oss", REINVENT, ("0.15", "0.6"),
     {}, ()),
    ("openai.gpt-oss-safeguard-20b", "gpt-oss-safeguard-20b", "OpenAI", "gpt-oss", REINVENT, ("0.07", "0.2"),
     {}, ()),
    # ---- DeepSeek-V3.1
    ("deepseek.v3-v1:0", "DeepSeek-V3.1", "DeepSeek", "deepseek", QWEN_DAY, ("0.58", "1.68"), {}, ()),
]

# Served only on the bedrock-mantle endpoint (OpenAI-compatible Chat Completions / Responses): LiteLLM prices
# them only as bedrock_mantle/<id>, with no region. Their usage is never in invocation logs or the runtime
# CloudWatch metrics; it reaches the bill as {R}-<id>-mantle-... usage types (bedrock-facts 3.1), which the
# billing name (the id) maps back. US list price assumed for the US regions [U].
# id, name, provider, family, {unit: per 1M}
MANTLE = [
    ("google.gemma-4-e2b", "Gemma 4 E2B", "Google", "gemma", {"input": "0.04", "output": "0.08"}),
    ("google.gemma-4-26b-a4b", "Gemma 4 26B A4B", "Google", "gemma", {"input": "0.13", "output": "0.4"}),
    ("google.gemma-4-31b", "Gemma 4 31B", "Google", "gemma", {"input": "0.14", "output": "0.4"}),
    ("xai.grok-4.3", "Grok 4.3", "xAI", "grok", {"input": "1.25", "output": "2.5", "cache_read": "0.2"}),
    ("openai.gpt-5.4", "GPT-5.4", "OpenAI", "gpt", {"input": "2.75", "output": "16.5", "cache_read": "0.275"}),
    ("openai.gpt-5.5", "GPT-5.5", "OpenAI", "gpt", {"input": "5.5", "output": "33", "cache_read": "0.55"}),
    ("openai.gpt-5.6-luna", "GPT-5.6 Luna", "OpenAI", "gpt",
     {"input": "1.1", "output": "6.6", "cache_read": "0.11", "cache_write_5m": "1.375"}),
    ("openai.gpt-5.6-sol", "GPT-5.6 Sol", "OpenAI", "gpt",
     {"input": "5.5", "output": "33", "cache_read": "0.55", "cache_write_5m": "6.875"}),
    ("openai.gpt-5.6-terra", "GPT-5.6 Terra", "OpenAI", "gpt",
     {"input": "2.75", "output": "16.5", "cache_read": "0.275", "cache_write_5m": "3.4375"}),
]
MANTLE_SOURCE = (LL + " bedrock_mantle/ (bedrock-mantle endpoint only: bill lines, never in invocation logs;"
                 " no region listed, US list price assumed [U])")


def build_open_weight():
    for entry in OPEN_WEIGHT:
        mid, name, provider, family, launch, (u_in, u_out), regional_prices, geo_areas = entry[:8]
        us_note = entry[8] if len(entry) > 8 else ""
        m = model(mid, name, provider, family, id_billing(mid), "", launch or REINVENT)
        tail = GUESSED_BILLING + ("" if launch else LOWER_BOUND)
        plan = {r: (u_in, u_out, LL + " bare id (US list price)" + us_note) for r in US}
        for region, (p_in, p_out) in regional_prices.items():
            plan[region] = (p_in, p_out, LL + f" bedrock/{region}")
        for region, (p_in, p_out, src) in plan.items():
            scopes = ["in_region"]
            if any(region in AREAS[a] for a in geo_areas):
                scopes.append("geo")
                src += f" + {'/'.join(a.lower() + '.' for a in geo_areas)} profile"
            for scope in scopes:
                R.add(m, region, scope, "standard", "input", D(p_in), src + tail)
                R.add(m, region, scope, "standard", "output", D(p_out), src + tail)


def build_mantle():
    for mid, name, provider, family, units in MANTLE:
        m = model(mid, name, provider, family, mid, "", REINVENT)
        for region in US:
            for unit, per_1m in units.items():
                R.add(m, region, "in_region", "standard", unit, D(per_1m),
                      MANTLE_SOURCE + GUESSED_BILLING + LOWER_BOUND)


def build():
    MODELS.clear()
    R.rows.clear()
    build_claude()
    build_nova()
    build_others()
    build_open_weight()
    build_mantle()
    # Sanity: no duplicate keys, the demo's unknown model absent, every model has rows.
    keys = [tuple(r[:5]) + (r[6],) for r in R.rows]
    dup = {k for k in keys if keys.count(k) > 1} if len(keys) != len(set(keys)) else set()
    if dup:
        raise SystemExit(f"duplicate price keys: {sorted(dup)[:5]}")
    # The demo's unknown model (and any Opus 5.5 id) stays out, and nothing is billed under its name:
    # the book knows anthropic.claude-opus-5, which must not price anthropic.claude-opus-5-5-... .
    assert not any(r[0].startswith("anthropic.claude-opus-5-5") for r in R.rows)
    assert DEMO_UNKNOWN_MODEL not in {m.id for m in MODELS}
    assert not any(DEMO_UNKNOWN_BILLING.lower() in (n.lower() for n in m.billing.split("|")) for m in MODELS)
    assert not any("opus 5.5" in m.mp.lower() for m in MODELS)
    ids = {m.id for m in MODELS}
    assert len(ids) == len(MODELS), "duplicate model"
    assert ids == {r[0] for r in R.rows}, "model without rows or rows without model"
    rows = sorted(R.rows, key=lambda r: (r[0], r[1], r[2], r[3], r[4], r[6]))
    return rows, sorted(MODELS, key=lambda m: m.id)


def render() -> tuple[str, str]:
    rows, models = build()
    p = io.StringIO()
    w = csv.writer(p, lineterminator="\n")
    w.writerow(PRICE_COLUMNS)
    w.writerows(rows)
    q = io.StringIO()
    w = csv.writer(q, lineterminator="\n")
    w.writerow(MODEL_COLUMNS)
    for m in models:
        w.writerow([m.id, m.name, m.provider, m.family, m.billing, m.mp])
    return p.getvalue(), q.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params-dir", default=str(PARAMS))
    ap.add_argument("--check", action="store_true", help="only check that the CSVs are up to date")
    a = ap.parse_args(argv)
    out = Path(a.params_dir)
    prices, models = render()
    targets = {out / "prices.csv": prices, out / "models.csv": models}
    if a.check:
        stale = [str(p) for p, text in targets.items() if not p.exists() or p.read_text() != text]
        if stale:
            print("stale: " + ", ".join(stale) + " (run scripts/build_price_book.py)")
            return 1
        print("price book up to date")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for p, text in targets.items():
        p.write_text(text)
    n_rows = prices.count("\n") - 1
    n_models = models.count("\n") - 1
    regions = {line.split(",")[1] for line in prices.splitlines()[1:]}
    print(f"wrote {n_rows} price rows, {n_models} models, {len(regions)} regions to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Cross-check the price book against a LiteLLM price table (model_prices_and_context_window.json).

    python scripts/crosscheck_prices.py PATH_TO_LITELLM_JSON [--params-dir DIR] [--on YYYY-MM-DD]

How LiteLLM keys map to book keys (model, region, scope):
- ``bedrock/<region>/<model>``     that source region, in_region and geo (source-region price)
- ``<model>`` / ``bedrock/invoke/<model>``  the US list price: in_region in the book's US regions
- ``us.`` / ``eu.`` / ``apac.`` / ``jp.`` / ``au.`` / ``ca.`` ``<model>``  geo in that geography's regions
- ``global.<model>``               global in every region the book prices it
- ``bedrock_mantle/<model>``       the US list price (in_region) of a model the book prices from the
                                    bedrock-mantle endpoint (its source says ``bedrock_mantle/``); for a
                                    model priced on bedrock-runtime the mantle key is listed as outside the book
Fields: input_cost_per_token -> input, output_cost_per_token -> output, cache_read_input_token_cost
-> cache_read, cache_creation_input_token_cost -> cache_write_5m, cache_creation_input_token_cost_above_1hr
-> cache_write_1h, *_batches -> tier batch, input_cost_per_image -> image (per image).
Per-token prices are multiplied by 1000 in Decimal (from the float's repr) and compared exactly
with the book's price in effect on --on (default: the LiteLLM snapshot date 2026-07-24).

Output: every disagreement (model, region, scope, tier, unit, book vs litellm), split into those the
book row's ``source`` explains (it says "LiteLLM ... differs") and unexplained ones; LiteLLM prices
the book has no row for, each with the reason the book leaves it out (or "no reason"); and a
final count line ending in "N unexplained". Exit status 1 when anything is unexplained.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker_utils.price.book import PriceBook  # noqa: E402

US = ["us-east-1", "us-east-2", "us-west-2"]
GEOS = {
    "us": US,
    "eu": ["eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "eu-south-1"],
    "apac": ["ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
             "ap-south-1"],
    "jp": ["ap-northeast-1", "ap-northeast-3"],
    "au": ["ap-southeast-2", "ap-southeast-4"],
    "ca": ["ca-central-1"],
}
FIELDS = [
    ("input_cost_per_token", "standard", "input", True),
    ("output_cost_per_token", "standard", "output", True),
    ("cache_read_input_token_cost", "standard", "cache_read", True),
    ("cache_creation_input_token_cost", "standard", "cache_write_5m", True),
    ("cache_creation_input_token_cost_above_1hr", "standard", "cache_write_1h", True),
    ("input_cost_per_token_batches", "batch", "input", True),
    ("output_cost_per_token_batches", "batch", "output", True),
    ("input_cost_per_image", "standard", "image", False),
]
EXPLAINED = re.compile(r"LiteLLM\b[^;]*\bdiffers\b", re.I)

# Why the book leaves out a LiteLLM model (matched on the base model id, first match wins).
NOT_IN_BOOK = [
    (r"^anthropic\.claude-mythos", "Claude Mythos preview: LiteLLM lists it at $0 (no public per-token price); "
     "left out rather than priced at $0"),
    (r"^anthropic\.claude-(v1|v2|instant)", "Claude 1/2/Instant: retired on Bedrock"),
    (r"^anthropic\.claude-3-7-sonnet-20240620", "not a Bedrock model id (LiteLLM typo entry)"),
    (r"@|^claude-", "alias, not a Bedrock model id"),
    (r"^ai21\.j2-", "Jurassic-2: retired on Bedrock"),
    (r"^cohere\.command-(light-)?text", "Cohere Command / Command Light (legacy text): retired on Bedrock"),
    (r"^meta\.llama2-", "Llama 2: retired on Bedrock"),
    (r"rerank", "rerank models are priced per query, not per token"),
    (r"^amazon\.titan-image|^amazon\.nova-canvas|^amazon\.nova-reel|^stability\.|x-\d+/|^max-x-max",
     "image/video generation: priced per image/second, not in the token book"),
    (r"^amazon\.titan-embed-g1-text-02", "old alias of amazon.titan-embed-text-v1"),
    (r"^twelvelabs\.", "video models (per second), not in the token book"),
]
NOT_IN_BOOK_KEYS = [
    (r"/\d+-month-commitment/", "provisioned-throughput commitment, not on-demand"),
    (r"^bedrock/us-gov-|^us-gov\.", "GovCloud: not in the book's regions"),
]
MANTLE_PREFIX = "bedrock_mantle/"
MANTLE_OF_RUNTIME_MODEL = ("bedrock-mantle endpoint price of a model the book prices on bedrock-runtime (mantle bill "
                           "lines are priced at the runtime rate; mantle calls are not in invocation logs)")
# Units the book deliberately does not price for a model although LiteLLM lists one.
MISSING_UNIT_OK = [
    (r"^anthropic\.claude-3-(sonnet|opus)-2024", r"cache_", "Bedrock sells no prompt caching for Claude 3 Sonnet/Opus"),
    (r"^anthropic\.claude-3-5-sonnet-20240620", r"cache_", "AWS page 2025-07-20: no prompt caching for Claude 3.5 Sonnet v1"),
]
# Regions/geographies where the book does not sell a model that LiteLLM lists.
MISSING_REGION_OK = [
    (r"^anthropic\.claude-3-5-haiku", r"^eu\.", "Claude 3.5 Haiku is not sold in the EU (LiteLLM's eu. entry "
     "carries Claude 3 Haiku prices)"),
    (r"^anthropic\.claude-3-opus", r"^eu\.", "Claude 3 Opus is sold only through the US geography"),
]


def to_decimal(v) -> Decimal:
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(str(v))


def parse_key(key: str, book_regions: set[str]):
    """LiteLLM key -> (base model, [(region, scope)], kind) or None when it is not a Bedrock price key."""
    k = key
    if k.startswith(MANTLE_PREFIX):
        rest = k[len(MANTLE_PREFIX):]
        return (None if "/" in rest else (rest, [(r, "in_region") for r in US], "bedrock_mantle/ (US list)"))
    if k.startswith("bedrock/"):
        rest = k[len("bedrock/"):]
        head, sep, tail = rest.partition("/")
        if head == "invoke":
            k = tail
        elif sep and re.match(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", head):
            if "/" in tail:
                return None
            return tail, [(head, "in_region"), (head, "geo")], f"bedrock/{head}"
        else:
            k = rest
    if "/" in k:
        return None
    head, sep, rest = k.partition(".")
    if head == "global" and sep:
        return rest, [(r, "global") for r in sorted(book_regions)], "global."
    if head in GEOS and sep:
        return rest, [(r, "geo") for r in GEOS[head]], f"{head}."
    return k, [(r, "in_region") for r in US], "bare (US list)"


def reason_for(patterns, text):
    for pat, why in patterns:
        if re.search(pat, text):
            return why
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Cross-check the price book with a LiteLLM price JSON")
    ap.add_argument("litellm_json")
    ap.add_argument("--params-dir", default=None)
    ap.add_argument("--on", default="2026-07-24", help="compare the book's prices in effect on this date")
    a = ap.parse_args(argv)

    book = PriceBook.load(a.params_dir)
    data = json.loads(Path(a.litellm_json).read_text())
    book_regions = book.regions()
    known = book.known_models()
    # Models the book prices from LiteLLM's bedrock_mantle/ keys (served only on the bedrock-mantle endpoint).
    mantle_priced = {r.model for r in book.rows if MANTLE_PREFIX in r.source}

    compared = agree = 0
    explained, unexplained = [], []
    missing = []         # (what, reason or None)
    not_in_book = defaultdict(list)  # reason -> keys
    for key in sorted(data):
        entry = data[key]
        if not isinstance(entry, dict):
            continue
        why = reason_for(NOT_IN_BOOK_KEYS, key)
        if key.startswith(MANTLE_PREFIX):
            mm = key[len(MANTLE_PREFIX):]
            # mantle ids drop the runtime version suffix (openai.gpt-oss-120b = the billing name of -1:0)
            runtime = mm if mm in known else book.model_for_billing_name(mm)
            if runtime and runtime not in mantle_priced:
                why = MANTLE_OF_RUNTIME_MODEL
            # a mantle-only model the book prices is compared below; an unknown one gets its NOT_IN_BOOK reason
        if why:
            not_in_book[why].append(key)
            continue
        parsed = parse_key(key, book_regions)
        if parsed is None:
            not_in_book["not a per-token Bedrock key"].append(key)
            continue
        model, targets, kind = parsed
        if model not in known:
            not_in_book[reason_for(NOT_IN_BOOK, model) or "NO REASON: model missing from the book"].append(key)
            continue
        fields = [(f, tier, unit, per_tok) for f, tier, unit, per_tok in FIELDS
                  if isinstance(entry.get(f), (int, float)) and not isinstance(entry.get(f), bool)]
        regions_for_model = book.regions(model)
        in_book_targets = [(r, s) for r, s in targets if r in regions_for_model]
        if not in_book_targets:
            why = reason_for([(p2, w) for p1, p2, w in MISSING_REGION_OK if re.search(p1, model)], key)
            if why is None and kind.startswith("bedrock/"):
                why = "region not in the book" if targets[0][0] not in book_regions else None
            missing.append((f"{key}: no book row for the model there", why,
                            ",".join(sorted({r for r, _ in targets}))))
            continue
        for region, scope in in_book_targets:
            # Only compare scopes the book prices for this model in this region.
            if not any(book.unit_price(model, region, scope, t, u, a.on) is not None
                       for _, t, u, _ in FIELDS):
                continue
            for f, tier, unit, per_tok in fields:
                ll = to_decimal(entry[f]) * (1000 if per_tok else 1)
                row = book.price_row(model, region, scope, tier, unit, a.on)
                if row is None:
                    if ll == 0:
                        continue  # LiteLLM 0 = not charged (e.g. embeddings output); the book omits it
                    why = next((w for p1, p2, w in MISSING_UNIT_OK if re.search(p1, model) and re.search(p2, unit)),
                               None)
                    missing.append((f"{key} -> {model} {scope} {tier} {unit} (LiteLLM {ll.normalize():f})",
                                    why, region))
                    continue
                compared += 1
                if row.usd_per_1k == ll:
                    agree += 1
                    continue
                line = (f"{model} {region} {scope} {tier} {unit}: book {row.usd_per_1k} vs litellm "
                        f"{ll.normalize():f} ({kind} key {key})")
                (explained if EXPLAINED.search(row.source) else unexplained).append((line, row.source))

    print(f"== disagreements explained in the book's source column ({len(explained)})")
    for line, src in explained:
        print(f"  {line}\n      source: {src}")
    print(f"== UNEXPLAINED disagreements ({len(unexplained)})")
    for line, src in unexplained:
        print(f"  {line}\n      source: {src}")
    miss_ok = [m for m in missing if m[1]]
    miss_no = [m for m in missing if not m[1]]
    print(f"== LiteLLM prices with no book row ({len(missing)}: {len(miss_ok)} with a reason, {len(miss_no)} without)")
    grouped = defaultdict(list)
    for what, why, region in missing:
        grouped[(what, why)].append(region)
    for (what, why), regions in grouped.items():
        print(f"  {what} in {', '.join(regions)}  [{why or 'NO REASON'}]")
    n_out = sum(len(v) for v in not_in_book.values())
    print(f"== LiteLLM keys for models/regions outside the book ({n_out})")
    for why in sorted(not_in_book):
        keys = not_in_book[why]
        print(f"  {why}: {len(keys)} keys, e.g. {', '.join(keys[:4])}")
    no_reason_keys = sum(len(v) for k, v in not_in_book.items() if k.startswith("NO REASON"))
    bad = len(unexplained)
    print(f"compared {compared} prices on {a.on}: {agree} agree, {len(explained) + bad} disagree "
          f"({len(explained)} explained in source); {len(missing)} LiteLLM prices without a book row "
          f"({len(miss_no)} without a reason); {n_out} LiteLLM keys outside the book "
          f"({no_reason_keys} without a reason); {bad} unexplained")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""`bedrock-tracker prices refresh`: update params/prices.csv from the AWS Price List API.

Reads every product of the three Bedrock offers through ``pricing:GetProducts`` (paginated):

- ``AmazonBedrock``                  first-party, priced per 1K tokens
- ``AmazonBedrockFoundationModels``  Marketplace "(Amazon Bedrock Edition)", ``Units`` = 1M tokens
- ``AmazonBedrockService``           newer tiers (global batch, long context...), per 1K tokens

and maps each product to a book key ``(model, region, scope, tier, unit)`` from its usage type:

- first-party ``{REGION}-{BillingName}-{token-type}[-{modifier}...]`` where the billing name is
  looked up in models.csv ``billing_names`` and the modifiers are ``cross-region-global``
  (scope global), ``cross-region-geo`` (geo), ``batch|flex|priority|standard|latency-optimized``
  (tier). ``-mantle`` names (the bedrock-mantle endpoint) are used only when no runtime SKU
  prices the same key.
- Marketplace ``{R}-MP:{R}_{Component}[_Global][_Batch]-Units`` (and the snake form
  ``{R}-MP:{R}_input_tokens[_global]_standard-Units``) with the model from the product's
  ``servicename`` through models.csv ``marketplace_service``.

A usage type without a cross-region suffix prices both in-region and geo (us./eu./apac.)
calls, so it yields an ``in_region`` and a ``geo`` row (only ``in_region`` for a first-party
model the book prices without any geo row, i.e. one without a geo profile). Usage types are matched exactly,
never by suffix (``CacheWrite1hInputTokenCount`` also ends with ``InputTokenCount``).
Long-context, custom-model, provisioned and non-token SKUs are skipped and counted.

Writing: a key the Price List prices differently from the book gets a *new* row with
``effective_from`` = the refresh date (history is kept, so older usage keeps its old price);
a new key is added; a key the Price List does not have is kept (``--replace`` drops it).
The diff (added / changed old -> new / removed) is printed. Rows written here carry the
source ``AWS Price List API <date>``. scripts/build_price_book.py remains the reviewable
origin of the book: fold lasting changes into its tables.
"""
from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tracker_utils.price.book import DEFAULT_PARAMS, PRICE_COLUMNS, PriceBook, to_date

SERVICE_CODES = ("AmazonBedrock", "AmazonBedrockFoundationModels", "AmazonBedrockService")

REGION_PREFIXES = {
    "USE1": "us-east-1", "USE2": "us-east-2", "USW1": "us-west-1", "USW2": "us-west-2",
    "CAN1": "ca-central-1", "CAN2": "ca-west-1", "SAE1": "sa-east-1", "MXC1": "mx-central-1",
    "EUC1": "eu-central-1", "EUC2": "eu-central-2", "EUW1": "eu-west-1", "EUW2": "eu-west-2",
    "EUW3": "eu-west-3", "EUN1": "eu-north-1", "EUS1": "eu-south-1", "EUS2": "eu-south-2",
    "APN1": "ap-northeast-1", "APN2": "ap-northeast-2", "APN3": "ap-northeast-3",
    "APS1": "ap-southeast-1", "APS2": "ap-southeast-2", "APS3": "ap-south-1", "APS4": "ap-southeast-3",
    "APS5": "ap-south-2", "APS6": "ap-southeast-4", "APS7": "ap-southeast-5", "APE1": "ap-east-1",
    "MEC1": "me-central-1", "MES1": "me-south-1", "AFS1": "af-south-1", "ILC1": "il-central-1",
    "UGW1": "us-gov-west-1", "UGE1": "us-gov-east-1",
}

THOUSAND = Decimal(1000)

# ---------------------------------------------------------------- usage-type grammars
_FP = re.compile(
    r"^(?P<prefix>[A-Z]+\d+)-(?P<name>.+?)-(?P<token>"
    r"cache-read-input-token-count|cache-write-1h-input-token-count|cache-write-input-token-count|"
    r"cache-read-tokens|cache-write-tokens-5m|cache-write-tokens-1h|cache-write-tokens|"
    r"input-tokens|output-tokens)(?P<mods>(?:-[A-Za-z0-9]+)*)$")
_FP_UNITS = {
    "input-tokens": "input", "output-tokens": "output",
    "cache-read-input-token-count": "cache_read", "cache-read-tokens": "cache_read",
    "cache-write-input-token-count": "cache_write_5m", "cache-write-tokens": "cache_write_5m",
    "cache-write-tokens-5m": "cache_write_5m",
    "cache-write-1h-input-token-count": "cache_write_1h", "cache-write-tokens-1h": "cache_write_1h",
}
# Modifier phrases after the token type, longest first.
_FP_MODS = [
    ("cross-region-global", ("scope", "global")), ("cross-region-geo", ("scope", "geo")),
    ("latency-optimized", ("tier", "latency_optimized")), ("global", ("scope", "global")),
    ("standard", ("tier", "standard")), ("batch", ("tier", "batch")), ("flex", ("tier", "flex")),
    ("priority", ("tier", "priority")),
    ("long-context", ("skip", "long context")), ("long-ctx", ("skip", "long context")),
    ("custom-model", ("skip", "custom model")), ("reserved", ("skip", "reserved capacity")),
]

_MP = re.compile(r"^(?P<prefix>[A-Z]+\d+)-MP:(?P<prefix2>[A-Z]+\d+)_(?P<comp>.+)-Units$")
_MP_CAMEL = re.compile(
    r"^(?P<c>InputTokenCount|OutputTokenCount|CacheReadInputTokenCount|CacheWriteInputTokenCount|"
    r"CacheWrite1hInputTokenCount)(?P<g>_Global)?(?P<b>_Batch)?$")
_MP_CAMEL_UNITS = {"InputTokenCount": "input", "OutputTokenCount": "output",
                   "CacheReadInputTokenCount": "cache_read", "CacheWriteInputTokenCount": "cache_write_5m",
                   "CacheWrite1hInputTokenCount": "cache_write_1h"}
_MP_MILLION = re.compile(r"^Million(?P<b>Batch)?(?P<c>Input|Output)Tokens(?P<g>_Global)?$")
_MP_SNAKE = re.compile(
    r"^(?P<c>input_tokens|output_tokens|cache_read_tokens|cache_write_tokens_5m|cache_write_tokens_1h|"
    r"cache_write_tokens)(?P<mods>(?:_[a-z0-9]+)*)$")
_MP_SNAKE_UNITS = {"input_tokens": "input", "output_tokens": "output", "cache_read_tokens": "cache_read",
                   "cache_write_tokens": "cache_write_5m", "cache_write_tokens_5m": "cache_write_5m",
                   "cache_write_tokens_1h": "cache_write_1h"}


@dataclass(frozen=True)
class ParsedUsage:
    shape: str                 # 'first_party' | 'marketplace'
    region_prefix: str
    unit: str
    tier: str
    scopes: tuple              # ('global',) | ('geo',) | ('in_region', 'geo')
    explicit_scope: bool
    billing_name: str | None = None
    mantle: bool = False


class Skip(Exception):
    """A product that does not map to a book key; the message is the reason (counted)."""


def _apply_mods(tokens: list[str], table) -> tuple[str, str | None]:
    tier, scope = "standard", None
    text = "-".join(tokens)
    while text:
        for phrase, (kind, value) in table:
            if text == phrase or text.startswith(phrase + "-"):
                if kind == "skip":
                    raise Skip(value)
                if kind == "tier":
                    tier = value
                else:
                    scope = value
                text = text[len(phrase) + 1:]
                break
        else:
            raise Skip(f"unknown usage-type modifier {text!r}")
    return tier, scope


def parse_usage_type(usagetype: str) -> ParsedUsage:
    """Parse a Bedrock usage type (first-party or Marketplace). Raises Skip when it is not a
    token price the book keys on."""
    ut = (usagetype or "").strip()
    m = _MP.match(ut)
    if m:
        comp = m.group("comp")
        c = _MP_CAMEL.match(comp)
        if c:
            scope = "global" if c.group("g") else None
            tier = "batch" if c.group("b") else "standard"
            unit = _MP_CAMEL_UNITS[c.group("c")]
        elif _MP_MILLION.match(comp):
            c = _MP_MILLION.match(comp)
            scope = "global" if c.group("g") else None
            tier = "batch" if c.group("b") else "standard"
            unit = "input" if c.group("c") == "Input" else "output"
        else:
            c = _MP_SNAKE.match(comp)
            if not c:
                raise Skip("not a token usage type")
            unit = _MP_SNAKE_UNITS[c.group("c")]
            mods = [t for t in c.group("mods").split("_") if t]
            # snake modifiers: global, long ctx, and a tier word
            snake = [("global", ("scope", "global")), ("long-ctx", ("skip", "long context")),
                     ("standard", ("tier", "standard")), ("batch", ("tier", "batch")),
                     ("flex", ("tier", "flex")), ("priority", ("tier", "priority"))]
            tier, scope = _apply_mods(mods, snake)
        scopes = (scope,) if scope else ("in_region", "geo")
        return ParsedUsage("marketplace", m.group("prefix"), unit, tier, scopes, scope is not None)
    m = _FP.match(ut)
    if not m:
        raise Skip("not a token usage type")
    name = m.group("name")
    mantle = False
    if name.endswith("-mantle"):
        name, mantle = name[: -len("-mantle")], True
    mods = [t for t in m.group("mods").split("-") if t]
    tier, scope = _apply_mods(mods, _FP_MODS)
    scopes = (scope,) if scope else ("in_region", "geo")
    return ParsedUsage("first_party", m.group("prefix"), _FP_UNITS[m.group("token")], tier, scopes,
                       scope is not None, billing_name=name, mantle=mantle)


# ---------------------------------------------------------------- product documents
def price_per_1k(doc: dict, service_code: str) -> Decimal:
    """USD per 1K tokens from a product's OnDemand terms. Raises Skip when it has none or
    several different prices, or a unit that is not a token count."""
    terms = (doc.get("terms") or {}).get("OnDemand") or {}
    found = []
    for term in terms.values():
        for dim in (term.get("priceDimensions") or {}).values():
            usd = (dim.get("pricePerUnit") or {}).get("USD")
            if usd is None:
                continue
            if str(dim.get("beginRange", "0")) not in ("0", ""):
                continue  # volume tiers above the first: not an on-demand list price
            found.append((usd, (dim.get("unit") or "").strip(), dim.get("description") or ""))
    if not found:
        raise Skip("no OnDemand USD price")
    prices = set()
    for usd, unit, _desc in found:
        try:
            p = Decimal(str(usd))
        except InvalidOperation:
            raise Skip(f"bad price {usd!r}")
        u = unit.lower()
        if u in ("1k tokens", "1k token"):
            prices.add(p)
        elif u in ("1m tokens", "1m token"):
            prices.add(p / THOUSAND)
        elif u == "units" and service_code == "AmazonBedrockFoundationModels":
            prices.add(p / THOUSAND)  # Marketplace Units = 1M tokens
        else:
            raise Skip(f"unit {unit!r} is not a token count")
    if len(prices) != 1:
        raise Skip("several different OnDemand prices")
    return prices.pop()


@dataclass
class Candidate:
    key: tuple                 # (model, region, scope, tier, unit)
    usd_per_1k: Decimal
    usagetype: str
    service_code: str
    rank: int                  # higher wins: explicit scope, runtime (non-mantle) SKU


def product_candidates(doc: dict, service_code: str, book: PriceBook) -> list[Candidate]:
    attrs = (doc.get("product") or {}).get("attributes") or {}
    ut = attrs.get("usagetype") or ""
    pu = parse_usage_type(ut)
    region = attrs.get("regionCode") or REGION_PREFIXES.get(pu.region_prefix)
    if not region:
        raise Skip(f"unknown region prefix {pu.region_prefix}")
    if pu.shape == "marketplace":
        svc = attrs.get("servicename") or ""
        model = book.model_for_marketplace_service(svc)
        if not model:
            raise Skip(f"unmapped Marketplace service {svc!r}")
    else:
        model = book.model_for_billing_name(pu.billing_name)
        if not model:
            raise Skip(f"unmapped billing name {pu.billing_name!r}")
    price = price_per_1k(doc, service_code)
    rank = (2 if pu.explicit_scope else 0) + (0 if pu.mantle else 1)
    scopes = pu.scopes
    known_scopes = book.scopes(model)
    if pu.shape == "first_party" and not pu.explicit_scope and known_scopes and "geo" not in known_scopes:
        scopes = ("in_region",)  # the book knows the model has no geo profile: in-region calls only
    return [Candidate((model, region, s, pu.tier, pu.unit), price, ut, service_code, rank) for s in scopes]


def fetch_products(client, service_code: str, filters: list | None = None):
    """Yield product documents (dicts) of one service code, following NextToken."""
    kwargs = {"ServiceCode": service_code, "FormatVersion": "aws_v1"}
    if filters:
        kwargs["Filters"] = filters
    for page in client.get_paginator("get_products").paginate(**kwargs):
        for item in page.get("PriceList", []):
            yield json.loads(item) if isinstance(item, str) else item


# ---------------------------------------------------------------- refresh
@dataclass
class RefreshResult:
    rows: list                                   # rows to write (dicts with PRICE_COLUMNS)
    added: list = field(default_factory=list)    # (key, new)
    changed: list = field(default_factory=list)  # (key, old, new)
    removed: list = field(default_factory=list)  # (key, old)
    unchanged: int = 0
    kept: list = field(default_factory=list)     # keys the Price List did not price (kept)
    conflicts: list = field(default_factory=list)  # (key, [(usagetype, price)...])
    products: int = 0
    mapped: int = 0
    skipped: Counter = field(default_factory=Counter)


def read_raw_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [dict(r) for r in csv.DictReader(f)]


def _plain(d: Decimal) -> str:
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


def refresh(client, params_dir: str | Path | None = None, regions: list[str] | None = None,
            effective_from=None, replace: bool = False, today=None) -> RefreshResult:
    params = Path(params_dir) if params_dir else DEFAULT_PARAMS
    book = PriceBook.load(params)
    eff = to_date(effective_from or today)
    stamp = to_date(today).isoformat()
    source = f"AWS Price List API {stamp}"

    res = RefreshResult(rows=[])
    cands = _collect_candidates(client, book, regions, res)
    api = _api_prices(cands, res)
    res.rows = _merge(read_raw_rows(params / "prices.csv"), api, regions, eff, source, replace, res)
    return res


def _collect_candidates(client, book: PriceBook, regions: list[str] | None,
                        res: RefreshResult) -> dict[tuple, list[Candidate]]:
    """Every price list product of the service codes (per region when given) mapped to price book keys; counts the
    products, mapped and skipped ones in ``res``."""
    cands: dict[tuple, list[Candidate]] = {}
    filter_sets = [[{"Type": "TERM_MATCH", "Field": "regionCode", "Value": r}] for r in regions] if regions else [None]
    for sc in SERVICE_CODES:
        for flt in filter_sets:
            for doc in fetch_products(client, sc, flt):
                res.products += 1
                try:
                    for c in product_candidates(doc, sc, book):
                        cands.setdefault(c.key, []).append(c)
                    res.mapped += 1
                except Skip as e:
                    res.skipped[str(e)] += 1
    return cands


def _api_prices(cands: dict[tuple, list[Candidate]], res: RefreshResult) -> dict[tuple, Decimal]:
    """One price per key: the highest-ranked candidates' price; keys whose top candidates disagree go to
    ``res.conflicts`` instead."""
    api: dict[tuple, Decimal] = {}
    for key, cs in cands.items():
        top = max(c.rank for c in cs)
        best = {c.usd_per_1k for c in cs if c.rank == top}
        if len(best) > 1:
            res.conflicts.append((key, sorted((c.usagetype, _plain(c.usd_per_1k)) for c in cs if c.rank == top)))
            continue
        api[key] = best.pop()
    return api


def _merge(raw: list[dict], api: dict[tuple, Decimal], regions: list[str] | None, eff: date, source: str,
           replace: bool, res: RefreshResult) -> list[dict]:
    """The new prices.csv rows: the current rows with the API prices applied from ``eff`` (kept, unchanged, changed,
    removed and added keys recorded in ``res``), sorted."""
    by_key: dict[tuple, list[dict]] = {}
    for r in raw:
        by_key.setdefault((r["model"], r["region"], r["scope"], r["tier"], r["unit"]), []).append(r)
    out: list[dict] = []
    region_scope = set(regions) if regions else None
    for key, rows in by_key.items():
        rows.sort(key=lambda r: r["effective_from"])
        if key not in api:
            if replace and (region_scope is None or key[1] in region_scope):
                current = _current(rows, eff)
                res.removed.append((key, current["usd_per_1k"] if current else rows[-1]["usd_per_1k"]))
                continue
            res.kept.append(key)
            out.extend(rows)
            continue
        new = api[key]
        current = _current(rows, eff)
        if current is not None and Decimal(current["usd_per_1k"]) == new:
            res.unchanged += 1
            out.extend(rows)
            continue
        keep = [r for r in rows if r["effective_from"] != eff.isoformat()]
        out.extend(keep)
        out.append(_row(key, new, eff, source))
        res.changed.append((key, current["usd_per_1k"] if current else "none in effect", _plain(new)))
    for key, new in api.items():
        if key not in by_key:
            out.append(_row(key, new, eff, source))
            res.added.append((key, _plain(new)))
    out.sort(key=lambda r: (r["model"], r["region"], r["scope"], r["tier"], r["unit"], r["effective_from"]))
    return out


def _current(rows: list[dict], on: date) -> dict | None:
    cur = None
    for r in rows:
        if r["effective_from"] <= on.isoformat():
            cur = r
    return cur


def _row(key, price: Decimal, eff: date, source: str) -> dict:
    model, region, scope, tier, unit = key
    return {"model": model, "region": region, "scope": scope, "tier": tier, "unit": unit,
            "usd_per_1k": _plain(price), "effective_from": eff.isoformat(), "source": source}


def write_prices(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=PRICE_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)


def print_diff(res: RefreshResult, out=None, eff: date | None = None) -> None:
    out = out or sys.stdout
    k = lambda key: " ".join(key)  # noqa: E731
    for key, new in sorted(res.added):
        print(f"+ added    {k(key)}  {new}", file=out)
    for key, old, new in sorted(res.changed):
        print(f"~ changed  {k(key)}  {old} -> {new}" + (f"  (effective {eff})" if eff else ""), file=out)
    for key, old in sorted(res.removed):
        print(f"- removed  {k(key)}  {old}", file=out)
    for key, seen in sorted(res.conflicts):
        print(f"! conflict {k(key)}  " + ", ".join(f"{u}={p}" for u, p in seen) + "  (book left as is)", file=out)
    print(f"{res.products} products read, {res.mapped} mapped; {len(res.added)} added, {len(res.changed)} changed, "
          f"{len(res.removed)} removed, {res.unchanged} unchanged, {len(res.kept)} book keys not in the Price List "
          f"(kept), {len(res.conflicts)} conflicts", file=out)
    if res.skipped:
        top = ", ".join(f"{why} x{n}" for why, n in res.skipped.most_common(12))
        print(f"skipped {sum(res.skipped.values())} products: {top}", file=out)


def make_client(endpoint_url: str | None = None):
    import boto3

    return boto3.client("pricing", region_name="us-east-1", endpoint_url=endpoint_url)


def refresh_command(args, client=None, out=None, today=None) -> int:
    out = out or sys.stdout
    params = Path(args.params_dir) if getattr(args, "params_dir", None) else DEFAULT_PARAMS
    client = client or make_client(getattr(args, "endpoint_url", None))
    today = today or datetime.now(timezone.utc).date()
    eff = to_date(getattr(args, "effective_from", None) or today)
    res = refresh(client, params, regions=getattr(args, "regions", None), effective_from=eff,
                  replace=getattr(args, "replace", False), today=today)
    print_diff(res, out, eff)
    if getattr(args, "dry_run", False):
        print("dry run: prices.csv not written", file=out)
    else:
        write_prices(params / "prices.csv", res.rows)
        print(f"wrote {len(res.rows)} rows to {params / 'prices.csv'}", file=out)
    return 0

"""The price book: what one token of a Bedrock model costs, where, when and how it was called.

Data (the kit reads only these; see scripts/build_price_book.py for how they are made):
- ``params/prices.csv``  ``model,region,scope,tier,unit,usd_per_1k,effective_from,source``
- ``params/models.csv``  ``model,name,provider,family,billing_names,marketplace_service``
- ``params/inference_profiles.yaml``  cached ``bedrock:GetInferenceProfile`` results for
  application inference profiles (ARN -> name, source profile/model, tags).

Rules the code enforces:
- Money is ``decimal.Decimal`` only. ``usd_per_1k`` is parsed from the CSV text, never from a float.
- A price is looked up by the exact key (model, region, scope, tier, unit) and the row with the
  greatest ``effective_from <= on``. A missing key is ``None``: there is **no** fallback to another
  model, region, scope or tier (the seed tool's "unknown models cost what Claude 3 Haiku costs" bug).
- ``cost = tokens * usd_per_1k / 1000`` exactly; nothing is rounded until display.
  ``quote()['total_usd']`` is the exact sum of the lines, rounded once to 6 decimals with
  ROUND_HALF_EVEN (banker's rounding, the ``decimal`` default; it does not bias sums of many
  rounded values upward). ``total_usd_exact`` carries the unrounded sum.
- Unit ``image`` (and any other non-token unit) is priced per unit, not per 1K:
  ``cost = count * usd_per_1k``.
"""
from __future__ import annotations

import csv
import hashlib
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterable

from tracker_utils.money import money, plain

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PARAMS = REPO / "params"

PRICE_COLUMNS = ["model", "region", "scope", "tier", "unit", "usd_per_1k", "effective_from", "source"]
MODEL_COLUMNS = ["model", "name", "provider", "family", "billing_names", "marketplace_service"]
SCOPES = ("in_region", "geo", "global")
TIERS = ("standard", "batch", "flex", "priority", "latency_optimized")
TOKEN_UNITS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
KINDS = ("foundation_model", "inference_profile", "application_inference_profile", "provisioned", "unknown")

# System inference-profile prefixes: geography -> scope.
GEO_PREFIXES = ("us-gov", "us", "eu", "apac", "jp", "au", "ca")
GLOBAL_PREFIX = "global"

THOUSAND = Decimal(1000)
SIX_PLACES = Decimal("0.000001")


class PriceBookError(ValueError):
    """The params files are malformed (bad column, bad decimal, duplicate key...)."""


@dataclass(frozen=True)
class Resolved:
    model_id: str            # as passed
    base_model: str | None   # base foundation model id, None if unknown/provisioned
    scope: str               # 'in_region' | 'geo' | 'global'
    kind: str                # 'foundation_model'|'inference_profile'|'application_inference_profile'|'provisioned'|'unknown'
    profile: str | None      # system profile id e.g. 'us.anthropic...' when there is one


@dataclass(frozen=True)
class PriceRow:
    model: str
    region: str
    scope: str
    tier: str
    unit: str
    usd_per_1k: Decimal
    effective_from: date
    source: str


def to_date(on) -> date:
    """date | datetime | 'YYYY-MM-DD' | ISO timestamp | None (today, UTC) -> date."""
    if on is None:
        return datetime.now(timezone.utc).date()
    if isinstance(on, datetime):
        return on.date()
    if isinstance(on, date):
        return on
    if isinstance(on, str):
        try:
            return date.fromisoformat(on.strip()[:10])
        except ValueError as e:
            raise ValueError(f"not an ISO date: {on!r}") from e
    # pandas.Timestamp and friends
    if hasattr(on, "date"):
        return on.date()
    raise TypeError(f"cannot use {on!r} as a date")


def parse_decimal(text: str, where: str = "") -> Decimal:
    try:
        d = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as e:
        raise PriceBookError(f"{where}: usd_per_1k {text!r} is not a decimal") from e
    if not d.is_finite() or d < 0:
        raise PriceBookError(f"{where}: usd_per_1k {text!r} must be a finite, non-negative decimal")
    return d


def is_token_unit(unit: str) -> bool:
    return unit in TOKEN_UNITS


def line_cost(unit: str, count: int, usd_per_1k: Decimal) -> Decimal:
    """Exact cost of `count` units: tokens are priced per 1K, other units (image) per unit."""
    if is_token_unit(unit):
        return Decimal(int(count)) * usd_per_1k / THOUSAND
    return Decimal(int(count)) * usd_per_1k


def _split_profile(model_id: str) -> tuple[str | None, str]:
    """'us.anthropic.x' -> ('us', 'anthropic.x'); 'anthropic.x' -> (None, 'anthropic.x')."""
    head, sep, rest = model_id.partition(".")
    if sep and rest:
        if head == GLOBAL_PREFIX or head in GEO_PREFIXES:
            return head, rest
    return None, model_id


BOOK_FILES = ("prices.csv", "models.csv", "inference_profiles.yaml")
_LOADED: dict[str, "PriceBook"] = {}      # content hash of BOOK_FILES -> the parsed book (see PriceBook.load)
UNIT_ORDER = ["input", "output", "cache_read", "cache_write_5m", "cache_write_1h"]


class PriceBook:
    """Loaded price book. Build it with :meth:`load`; it is read-only afterwards."""

    def __init__(self, rows: Iterable[PriceRow], models: list[dict], profiles: dict | None = None,
                 params_dir: Path | None = None):
        self.params_dir = params_dir
        self._index: dict[tuple, tuple[list[date], list[PriceRow]]] = {}
        grouped: dict[tuple, list[PriceRow]] = {}
        for r in rows:
            grouped.setdefault((r.model, r.region, r.scope, r.tier, r.unit), []).append(r)
        for key, rs in grouped.items():
            rs.sort(key=lambda r: r.effective_from)
            dates = [r.effective_from for r in rs]
            if len(set(dates)) != len(dates):
                raise PriceBookError(f"duplicate price row for {key} on the same effective_from")
            self._index[key] = (dates, rs)
        self.rows: list[PriceRow] = [r for _, rs in self._index.values() for r in rs]
        self.models: dict[str, dict] = {m["model"]: m for m in models}
        self._billing: dict[str, str] = {}
        self._billing_ci: dict[str, str] = {}
        self._marketplace: dict[str, str] = {}
        for m in models:
            for name in filter(None, (n.strip() for n in (m.get("billing_names") or "").split("|"))):
                if name in self._billing and self._billing[name] != m["model"]:
                    raise PriceBookError(f"billing name {name!r} maps to two models")
                self._billing[name] = m["model"]
                self._billing_ci.setdefault(name.lower(), m["model"])
            svc = (m.get("marketplace_service") or "").strip()
            if svc:
                self._marketplace[self._norm_service(svc)] = m["model"]
        self._model_ids: set[str] = set(self.models) | {k[0] for k in self._index}
        self._model_regions: dict[str, set[str]] = {}
        self._model_scopes: dict[str, set[str]] = {}
        for k in self._index:
            self._model_regions.setdefault(k[0], set()).add(k[1])
            self._model_scopes.setdefault(k[0], set()).add(k[2])
        self.profiles: dict[str, dict] = dict(profiles or {})
        self._resolve_cache: dict[tuple[str, str], Resolved] = {}

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, params_dir: str | Path | None = None) -> "PriceBook":
        """The book of ``params_dir``. A process keeps the last few books it parsed, keyed by the content hash of
        the three files, so the notebooks of a month's chains (which share a kernel) parse it once, and an edited
        file is read again."""
        d = Path(params_dir) if params_dir is not None else DEFAULT_PARAMS
        h = hashlib.sha256(str(d.resolve()).encode())
        for name in BOOK_FILES:
            f = d / name
            h.update(b"\0" + (f.read_bytes() if f.exists() else b"\0missing"))
        key = h.hexdigest()
        book = _LOADED.get(key)
        if book is None:
            book = cls._parse(d)
            _LOADED[key] = book
            while len(_LOADED) > 4:
                _LOADED.pop(next(iter(_LOADED)))
        return book

    @classmethod
    def _parse(cls, d: Path) -> "PriceBook":
        rows = list(read_prices(d / "prices.csv"))
        models = read_models(d / "models.csv") if (d / "models.csv").exists() else []
        profiles = read_profiles(d / "inference_profiles.yaml")
        return cls(rows, models, profiles, params_dir=d)

    # ------------------------------------------------------------------ resolution
    def resolve(self, model_id: str, region: str) -> Resolved:
        key = (model_id, region)
        hit = self._resolve_cache.get(key)
        if hit is None:
            hit = self._resolve(model_id, region, depth=0)
            self._resolve_cache[key] = hit
        return hit

    def _known(self, base: str) -> bool:
        return base in self._model_ids

    def _base_of(self, mid: str) -> str | None:
        """Known base model for a bare id, tolerating provisioned-context suffixes like ':200k'."""
        if self._known(mid):
            return mid
        # 'anthropic.claude-3-haiku-20240307-v1:0:200k' (context-window variant ids)
        head, sep, tail = mid.rpartition(":")
        if sep and tail.endswith("k") and tail[:-1].isdigit() and self._known(head):
            return head
        return None

    def _resolve(self, model_id: str, region: str, depth: int) -> Resolved:
        mid = (model_id or "").strip()
        if mid.startswith("arn:"):
            return self._resolve_arn(model_id, mid, region, depth)
        prefix, rest = _split_profile(mid)
        if prefix is not None:
            scope = "global" if prefix == GLOBAL_PREFIX else "geo"
            base = self._base_of(rest)
            return Resolved(model_id, base, scope, "inference_profile" if base else "unknown", mid)
        base = self._base_of(mid)
        return Resolved(model_id, base, "in_region", "foundation_model" if base else "unknown", None)

    def _resolve_arn(self, model_id: str, arn: str, region: str, depth: int) -> Resolved:
        # arn:aws:bedrock:<region>:<account>:<resource-type>/<id>
        parts = arn.split(":", 5)
        resource = parts[5] if len(parts) == 6 else ""
        rtype, _, rid = resource.partition("/")
        if rtype == "foundation-model":
            base = self._base_of(rid)
            return Resolved(model_id, base, "in_region", "foundation_model" if base else "unknown", None)
        if rtype == "inference-profile":
            inner = self._resolve(rid, region, depth + 1)
            return Resolved(model_id, inner.base_model, inner.scope, inner.kind, inner.profile)
        if rtype == "application-inference-profile":
            entry = self.profiles.get(arn) or self._profile_by_id(rid)
            if not entry or not entry.get("source") or depth > 3:
                return Resolved(model_id, None, "in_region", "application_inference_profile", None)
            inner = self._resolve(str(entry["source"]), region, depth + 1)
            return Resolved(model_id, inner.base_model, inner.scope, "application_inference_profile",
                            inner.profile)
        if rtype == "provisioned-model":
            # the model behind it from params/inference_profiles.yaml (GetProvisionedModelThroughput's modelArn)
            entry = self.profiles.get(arn) or self._profile_by_id(rid)
            if not entry or not entry.get("source") or depth > 3:
                return Resolved(model_id, None, "in_region", "provisioned", None)
            inner = self._resolve(str(entry["source"]), region, depth + 1)
            return Resolved(model_id, inner.base_model, inner.scope, "provisioned", None)
        return Resolved(model_id, None, "in_region", "unknown", None)

    def _profile_by_id(self, rid: str) -> dict | None:
        for arn, entry in self.profiles.items():
            if arn.rsplit("/", 1)[-1] == rid:
                return entry
        return None

    def application_profile(self, arn: str) -> dict | None:
        """The yaml entry (name, source, tags) of an application inference profile ARN."""
        return self.profiles.get(arn) or self._profile_by_id(arn.rsplit("/", 1)[-1])

    # ------------------------------------------------------------------ prices
    def price_row(self, model, region, scope, tier, unit, on=None) -> PriceRow | None:
        hit = self._index.get((model, region, scope, tier, unit))
        if hit is None:
            return None
        dates, rows = hit
        i = bisect_right(dates, to_date(on))
        return rows[i - 1] if i else None

    def unit_price(self, model, region, scope, tier, unit, on=None) -> Decimal | None:
        """USD per 1K tokens (per unit for non-token units) in effect on `on`, or None."""
        row = self.price_row(model, region, scope, tier, unit, on)
        return row.usd_per_1k if row else None

    def cost(self, model, region, scope, tier, unit, tokens: int, on=None) -> Decimal | None:
        """Exact Decimal cost, tokens * usd_per_1k / 1000 (no rounding), or None when unpriced."""
        p = self.unit_price(model, region, scope, tier, unit, on)
        if p is None:
            return None
        return line_cost(unit, tokens, p)

    def quote(self, model_id, region, input_tokens=0, output_tokens=0, cache_read_tokens=0,
              cache_write_tokens=0, cache_write_1h_tokens=0, tier="standard", on=None) -> dict:
        d = to_date(on)
        res = self.resolve(model_id, region)
        wanted = [("input", input_tokens), ("output", output_tokens), ("cache_read", cache_read_tokens),
                  ("cache_write_5m", cache_write_tokens), ("cache_write_1h", cache_write_1h_tokens)]
        lines, unpriced = [], []
        total = Decimal(0)
        for unit, n in wanted:
            n = int(n or 0)
            if n < 0:
                raise ValueError(f"{unit} tokens must not be negative")
            if n == 0:
                continue
            row = self.price_row(res.base_model, region, res.scope, tier, unit, d) if res.base_model else None
            if row is None:
                unpriced.append(unit)
                continue
            price = row.usd_per_1k
            c = line_cost(unit, n, price)
            total += c
            lines.append({"unit": unit, "tokens": n, "usd_per_1k": plain(price), "cost_usd": money(c),
                          "cost_usd_exact": plain(c), "effective_from": row.effective_from.isoformat(),
                          "source": row.source})
        return {
            "model": model_id,
            "base_model": res.base_model,
            "region": region,
            "scope": res.scope,
            "kind": res.kind,
            "tier": tier,
            "date": d.isoformat(),
            "lines": lines,
            "total_usd": money(total),
            "total_usd_exact": plain(total),
            "unpriced": unpriced,
            # False when the book has no row at all for this model in this region: every
            # token of it is unpriced, whatever units were asked for.
            "known": bool(res.base_model) and region in self._model_regions.get(res.base_model, ()),
        }

    def rates(self, model_id, region, tier="standard", on=None) -> list[dict]:
        """The model's prices in effect on ``on`` in ``region`` at ``tier``: one entry per unit (USD per 1K tokens,
        or per unit for units that are not tokens), in the book's unit order."""
        d = to_date(on)
        res = self.resolve(model_id, region)
        if not res.base_model:
            return []
        units = sorted({k[4] for k in self._index if k[:4] == (res.base_model, region, res.scope, tier)},
                       key=lambda u: (UNIT_ORDER.index(u) if u in UNIT_ORDER else len(UNIT_ORDER), u))
        out = []
        for unit in units:
            price = self.unit_price(res.base_model, region, res.scope, tier, unit, d)
            if price is not None:
                out.append({"unit": unit, "usd_per_1k": plain(price)})
        return out

    # ------------------------------------------------------------------ names
    @staticmethod
    def _norm_service(s: str) -> str:
        s = " ".join(s.split()).lower()
        suffix = " (amazon bedrock edition)"
        return s[: -len(suffix)] if s.endswith(suffix) else s

    def model_for_billing_name(self, name: str) -> str | None:
        if not name:
            return None
        n = name.strip()
        return self._billing.get(n) or self._billing_ci.get(n.lower())

    def model_for_marketplace_service(self, service: str) -> str | None:
        if not service:
            return None
        return self._marketplace.get(self._norm_service(service))

    def display_name(self, model: str) -> str:
        m = self.models.get(model)
        if m is None and model:
            _, rest = _split_profile(model)
            m = self.models.get(rest)
        return (m or {}).get("name") or model

    def known_models(self) -> set[str]:
        return set(self._model_ids)

    def scopes(self, model: str) -> set[str]:
        """Scopes the book prices `model` under anywhere (a model without geo rows has no geo profile)."""
        return set(self._model_scopes.get(model, ()))

    def regions(self, model: str | None = None) -> set[str]:
        """Regions with at least one price row (for `model`, or for any model)."""
        if model is None:
            return {k[1] for k in self._index}
        return set(self._model_regions.get(model, ()))


# ---------------------------------------------------------------------- file readers
def read_prices(path: Path) -> Iterable[PriceRow]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != PRICE_COLUMNS:
            raise PriceBookError(f"{path}: columns must be exactly {','.join(PRICE_COLUMNS)}, "
                                 f"got {','.join(reader.fieldnames or [])}")
        for i, r in enumerate(reader, start=2):
            where = f"{path.name}:{i}"
            if r["scope"] not in SCOPES:
                raise PriceBookError(f"{where}: scope {r['scope']!r} not in {SCOPES}")
            if r["tier"] not in TIERS:
                raise PriceBookError(f"{where}: tier {r['tier']!r} not in {TIERS}")
            if not r["model"] or not r["region"] or not r["unit"]:
                raise PriceBookError(f"{where}: model, region and unit are required")
            try:
                eff = date.fromisoformat(r["effective_from"])
            except ValueError as e:
                raise PriceBookError(f"{where}: effective_from {r['effective_from']!r} is not an ISO date") from e
            yield PriceRow(r["model"], r["region"], r["scope"], r["tier"], r["unit"],
                           parse_decimal(r["usd_per_1k"], where), eff, r["source"])


def read_models(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != MODEL_COLUMNS:
            raise PriceBookError(f"{path}: columns must be exactly {','.join(MODEL_COLUMNS)}")
        return [dict(r) for r in reader]


def read_profiles(path: Path) -> dict:
    if not path.exists():
        return {}
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise PriceBookError(f"{path}: 'profiles' must be a mapping of ARN -> entry")
    return {str(k): dict(v or {}) for k, v in profiles.items()}

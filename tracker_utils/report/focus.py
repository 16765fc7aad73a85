"""``focus.csv``: a period's chargeback in FOCUS 1.2 columns (FinOps Open Cost and Usage Specification), for tools
that read FOCUS.

In: :class:`~tracker_utils.report.period.RollupData` (each day's applications with their share of the bill, and
the priced logs). Out: one row per day, region, application and model. ``BilledCost`` is the application's share
of the bill, split over its models in proportion to their cost from logs (by tokens where a model is unpriced),
with largest-remainder rounding: the rows add up exactly to each application's share, and so to the bill.
``ListCost`` is the cost from logs at the price book. Tokens are ``ConsumedQuantity`` (``ConsumedUnit``
"Tokens"), by kind in ``x_`` columns.
"""
from __future__ import annotations

import calendar
import datetime as dt
import json
from decimal import Decimal

from tracker_utils.money import dec, money, plain, prorate
from tracker_utils.report.period import RollupData
from tracker_utils.schema import TOKENS

COLUMNS = ["BilledCost", "EffectiveCost", "ListCost", "BillingCurrency", "ConsumedQuantity", "ConsumedUnit",
           "ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd", "ChargeCategory",
           "ChargeDescription", "ProviderName", "ServiceName", "ServiceCategory", "SkuId", "SkuPriceId", "RegionId",
           "SubAccountId", "Tags", "x_InputTokens", "x_OutputTokens", "x_CacheReadTokens", "x_CacheWriteTokens",
           "x_MatchedRule", "x_UnpricedShare"]


def _models_of(rd: RollupData, date: str, region: str, app: str) -> list[dict]:
    """The application's usage per model that day (from the priced logs): cost from logs and tokens."""
    pl = rd.price_logs
    if pl.empty:
        return []
    f = pl[(pl["date"] == date) & (pl["region"] == region) & (pl["app"] == app)]
    out = []
    for base, g in f.groupby("base_model"):
        out.append({"model": base, "cost": sum((dec(v) for v in g["cost_usd"]), Decimal(0)),
                    **{t: int(g[t].sum()) for t in TOKENS}})
    return out


def _split(share: Decimal, models: list[dict]) -> list[tuple[dict, Decimal]]:
    """The share over the models, by cost from logs (by tokens when there is none), adding up exactly."""
    if not models:
        return [({"model": "", "cost": Decimal(0), **{t: 0 for t in TOKENS}}, share)]
    parts = prorate(share, {i: m["cost"] for i, m in enumerate(models)},
                    {i: sum(m[t] for t in TOKENS) for i, m in enumerate(models)})
    return [(m, parts[i]) for i, m in enumerate(models)]


def rows(rd: RollupData) -> list[dict]:
    out = []
    for s in rd.summaries:
        d = dt.date.fromisoformat(s["date"])
        month_end = calendar.monthrange(d.year, d.month)[1]
        common = {"BillingCurrency": "USD", "ChargePeriodStart": f"{d}T00:00:00Z",
                  "ChargePeriodEnd": f"{d + dt.timedelta(days=1)}T00:00:00Z",
                  "BillingPeriodStart": f"{d:%Y-%m}-01T00:00:00Z",
                  "BillingPeriodEnd": f"{(dt.date(d.year, d.month, month_end) + dt.timedelta(days=1))}T00:00:00Z",
                  "ChargeCategory": "Usage", "ProviderName": "AWS", "ServiceName": "Amazon Bedrock",
                  "ServiceCategory": "AI and Machine Learning", "RegionId": s["region"],
                  "SubAccountId": rd.r(rd.params.account)}
        for a in s.get("apps", []):
            share = dec(a["billed_share_usd"])
            unpriced = dec(a.get("unpriced_share_usd") or 0)
            tags = json.dumps({"application": rd.r(a["app"]), "team": rd.r(a.get("team", "")),
                               "cost_centre": rd.r(a.get("cost_centre", ""))}, sort_keys=True)
            for m, part in _split(share, _models_of(rd, s["date"], s["region"], a["app"])):
                tokens = sum(m[t] for t in TOKENS)
                out.append({**common, "BilledCost": money(part), "EffectiveCost": money(part),
                            "ListCost": money(m["cost"]), "ConsumedQuantity": tokens, "ConsumedUnit": "Tokens",
                            "ChargeDescription": f"Amazon Bedrock {m['model'] or a['app']}",
                            "SkuId": m["model"] or "unlogged", "SkuPriceId": f"{m['model'] or 'unlogged'}:tokens",
                            "Tags": tags, "x_InputTokens": m["input_tokens"], "x_OutputTokens": m["output_tokens"],
                            "x_CacheReadTokens": m["cache_read_tokens"], "x_CacheWriteTokens": m["cache_write_tokens"],
                            "x_MatchedRule": str(a.get("matched", True)).lower(),
                            "x_UnpricedShare": plain(unpriced) if unpriced else "0"})
    return out

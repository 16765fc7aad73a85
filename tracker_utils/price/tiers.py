"""Service tiers: the tier a log record is priced at, and CloudWatch's usage split by the logs' tiers.

A record names its tier twice over: ``performanceConfig.latency`` ("optimized": latency-optimized inference) and
``serviceTier`` ("default" | "flex" | "priority", collect's ``service_tier`` column). The price follows the tier; a
tier the book has no price for (for that model and region) is unpriced and named, never priced as standard.

CloudWatch's ``ModelId`` metrics do not say the tier, so its usage is split by the logs (see :data:`CW_TIER_METHOD`).
In: the aggregated usage frames of :mod:`pricer`. Out: ``tier`` values, the split CloudWatch frame and the data
quality lines of ``price.json``.
"""
from __future__ import annotations

import pandas as pd

from tracker_utils.schema import TOKENS
from tracker_utils.text import count

# serviceTier as Bedrock's API spells it -> the price book's tier
SERVICE_TIERS = {"": "standard", "default": "standard", "standard": "standard", "flex": "flex",
                 "priority": "priority"}
LATENCY_OPTIMIZED = "optimized"
SPLIT = ["invocations", *TOKENS, "cache_write_1h_tokens"]
CW_TIER_METHOD = ("CloudWatch counts usage per model id without its service tier: each hour and model id's "
                  "CloudWatch usage at a tier other than standard (flex, priority, latency-optimized) is what the logs "
                  "(on time and late) count at that tier, never more than CloudWatch's total; the rest is standard")


def tier_of(latency: str, service_tier: str) -> str:
    """The book's tier for a record: latency-optimized first, else its service tier; a tier name the kit does not
    know is kept as written (the book has no price for it: the usage is unpriced and named)."""
    if latency == LATENCY_OPTIMIZED:
        return "latency_optimized"
    st = service_tier or ""
    return SERVICE_TIERS.get(st.lower(), st)


def tiers(latency, service_tier) -> list[str]:
    return [tier_of(a or "", b or "") for a, b in zip(latency, service_tier)]


def cloudwatch_tier_split(cw_usage: pd.DataFrame, *logs: pd.DataFrame) -> pd.DataFrame:
    """``cw_usage`` (one row per hour and model id) with a ``tier`` column: split as :data:`CW_TIER_METHOD` says.
    Integer arithmetic; every column of an hour and model id still sums to CloudWatch's figure."""
    df = cw_usage.copy()
    frames = [f for f in logs if not f.empty and "tier" in f]
    other = pd.concat(frames)[lambda f: ~f["tier"].isin(["standard", "provisioned"])] if frames else None
    if df.empty or other is None or other.empty:
        df["tier"] = "standard"
        return df
    cols = [c for c in SPLIT if c in df and c in other]
    by = other.groupby(["hour", "model_id", "tier"])[cols].sum()
    want: dict = {}
    for (hour, mid, tier), vals in zip(by.index, by.itertuples(index=False, name=None)):
        want.setdefault((hour, mid), []).append((tier, dict(zip(cols, map(int, vals)))))
    rows = []
    for r in df.to_dict("records"):
        rest = dict(r, tier="standard")
        for tier, v in sorted(want.get((r["hour"], r["model_id"]), []), key=lambda x: x[0]):
            part = {**{k: 0 for k in r if k not in ("hour", "model_id")}, "hour": r["hour"], "model_id": r["model_id"],
                    "tier": tier}
            for c in cols:
                part[c] = min(v[c], int(rest[c]))
                rest[c] = int(rest[c]) - part[c]
            if "cache_write_1h_tokens" in part:     # the 1h writes are a part of the cache writes, per row
                extra = max(0, part["cache_write_1h_tokens"] - part["cache_write_tokens"])
                part["cache_write_1h_tokens"] -= extra
                rest["cache_write_1h_tokens"] = int(rest["cache_write_1h_tokens"]) + extra
            rows.append(part)
        if any(int(rest[c]) for c in rest if c not in ("hour", "model_id", "tier")) or not want.get(
                (r["hour"], r["model_id"])):
            rows.append(rest)
    out = pd.DataFrame(rows, columns=[*df.columns, "tier"])
    for c in df.columns:
        if c not in ("hour", "model_id"):
            out[c] = out[c].astype(df[c].dtype)
    return out


def tier_quality(price_logs: pd.DataFrame, book_tiers) -> dict:
    """Records per tier, and the tiers the book does not know with a one-line message each (counted, not dropped)."""
    if price_logs.empty or "tier" not in price_logs:
        return {"records_by_tier": {}, "unknown_service_tiers": {}, "messages": []}
    n = price_logs.groupby("tier")["invocations"].sum()
    by_tier = {str(k): int(v) for k, v in n.items() if int(v)}
    unknown = {k: v for k, v in by_tier.items() if k not in book_tiers and k != "provisioned"}
    msgs = [f"{count(v, 'record')} with the service tier {k!r}, which the price book does not know: unpriced"
            for k, v in sorted(unknown.items())]
    return {"records_by_tier": dict(sorted(by_tier.items())), "unknown_service_tiers": dict(sorted(unknown.items())),
            "messages": msgs}

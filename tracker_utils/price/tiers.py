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
                  "(on time and late) count at that tier, never more than CloudWatch's total; the rest is standard. "
                  "An hour and model id no log record covers takes its model's tier on the bill when the bill bills "
                  "that model at one tier only, else standard")


def tier_of(latency: str, service_tier: str) -> str:
    """The book's tier for a record: latency-optimized first, else its service tier; a tier name the kit does not
    know is kept as written (the book has no price for it: the usage is unpriced and named)."""
    if latency == LATENCY_OPTIMIZED:
        return "latency_optimized"
    st = service_tier or ""
    return SERVICE_TIERS.get(st.lower(), st)


def tiers(latency, service_tier) -> list[str]:
    return [tier_of(a or "", b or "") for a, b in zip(latency, service_tier)]


RUNTIME_TIERS = ("standard", "flex", "priority", "latency_optimized")     # tiers a runtime call is billed at


def bill_tiers(bill: pd.DataFrame) -> dict[str, str]:
    """Per base model, the one runtime tier its usage lines bill (models billed at several tiers are left out)."""
    if bill.empty or "tier" not in bill:
        return {}
    use = bill[bill["matched"] & bill["tier"].isin(RUNTIME_TIERS) & (bill["endpoint"] == "runtime")]
    if "record_type" in use:
        use = use[use["record_type"].fillna("usage") == "usage"]
    tiers = use.groupby("base_model")["tier"].agg(lambda t: sorted(set(t)))
    return {b: t[0] for b, t in tiers.items() if len(t) == 1}


def cloudwatch_tier_split(cw_usage: pd.DataFrame, *logs: pd.DataFrame, unlogged: dict | None = None) -> pd.DataFrame:
    """``cw_usage`` (one row per hour and model id) with a ``tier`` column: split as :data:`CW_TIER_METHOD` says.
    Integer arithmetic; every column of an hour and model id still sums to CloudWatch's figure. ``unlogged``: model
    id -> tier for the hours of a model id no log record covers (its model's one tier on the bill)."""
    df = cw_usage.copy()
    frames = [f for f in logs if not f.empty and "tier" in f]
    logged = pd.concat(frames) if frames else None
    df["tier"] = "standard"
    if unlogged and not df.empty:
        seen = set(map(tuple, logged[["hour", "model_id"]].itertuples(index=False))) if frames else set()
        df["tier"] = [unlogged.get(m, "standard") if (h, m) not in seen else "standard"
                      for h, m in zip(df["hour"], df["model_id"])]
    other = logged[~logged["tier"].isin(["standard", "provisioned"])] if frames else None
    if df.empty or other is None or other.empty:
        return df
    pre = list(df["tier"])               # the tier of the rows no log record covers
    df = df.drop(columns="tier")
    cols = [c for c in SPLIT if c in df and c in other]
    by = other.groupby(["hour", "model_id", "tier"])[cols].sum()
    want: dict = {}
    for (hour, mid, tier), vals in zip(by.index, by.itertuples(index=False, name=None)):
        want.setdefault((hour, mid), []).append((tier, dict(zip(cols, map(int, vals)))))
    rows = []
    for r, t0 in zip(df.to_dict("records"), pre):
        rest = dict(r, tier=t0)
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

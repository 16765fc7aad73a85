"""Stage 2, price: tokens times the price book, exactly (``data/price_*.parquet`` and ``data/price.json``).

Usage is aggregated first (integer token sums per hour, model id, principal, application, ...) and each aggregate is
priced once with ``decimal.Decimal``: no float ever touches money. Money columns are exact decimal strings.
A model or region the book does not price is priced at nothing and listed in ``unpriced``; there is no fallback.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal

import pandas as pd

from .apps import Attribution, principal_parts
from .config import RunConfig, resolve_path
from .io import read_parquet, write_json, write_parquet
from .prices import PriceBook

TOKENS = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]
UNITS = {"input_tokens": "input", "output_tokens": "output", "cache_read_tokens": "cache_read",
         "cache_write_tokens": "cache_write_5m"}
COST_COLS = {"input_tokens": "cost_input", "output_tokens": "cost_output", "cache_read_tokens": "cost_cache_read",
             "cache_write_tokens": "cost_cache_write"}
PROFILE_PREFIX = re.compile(r"^(us|eu|apac|jp|au|ca|us-gov|global)\.")
CW_METRICS = {"Invocations": "invocations", "InputTokenCount": "input_tokens", "OutputTokenCount": "output_tokens",
              "CacheReadInputTokenCount": "cache_read_tokens", "CacheWriteInputTokenCount": "cache_write_tokens",
              "InvocationThrottles": "throttles", "InvocationClientErrors": "client_errors",
              "InvocationServerErrors": "server_errors"}


def dec(v) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(str(v)) if v not in (None, "") else Decimal(0)


def base_of(model_id: str, resolved) -> str:
    """The base foundation-model id; for a model the book does not know, the id without profile prefix or ARN."""
    if resolved.base_model:
        return resolved.base_model
    if resolved.kind == "provisioned":
        return model_id
    m = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    return PROFILE_PREFIX.sub("", m)


class Pricer:
    """Resolves model ids and prices aggregated usage lines; remembers what it could not price."""

    def __init__(self, book: PriceBook, region: str, date: str):
        self.book, self.region, self.date = book, region, date
        self.unpriced: dict[str, dict] = {}
        self.provisioned: set[str] = set()
        self._price: dict[tuple, Decimal | None] = {}

    def resolve(self, model_id: str) -> dict:
        r = self.book.resolve(model_id, self.region)
        if r.kind == "provisioned":
            self.provisioned.add(model_id)
        return {"base_model": base_of(model_id, r), "scope": r.scope, "kind": r.kind}

    def price(self, model: str, scope: str, tier: str, unit: str) -> Decimal | None:
        k = (model, scope, tier, unit)
        if k not in self._price:
            self._price[k] = self.book.unit_price(model, self.region, scope, tier, unit, self.date)
        return self._price[k]

    def price_frame(self, df: pd.DataFrame, model_ids_col: str = "model_id") -> pd.DataFrame:
        """Add base_model/scope/kind and exact cost columns to an aggregated usage frame."""
        df = df.copy()
        res = {m: self.resolve(m) for m in df[model_ids_col].unique()}
        for k in ("base_model", "scope", "kind"):
            df[k] = df[model_ids_col].map(lambda m: res[m][k])
        if "tier" not in df:
            df["tier"] = "standard"
        costs = {c: [] for c in COST_COLS.values()}
        totals, priced = [], []
        for row in df[["base_model", "scope", "tier", model_ids_col, *TOKENS]].itertuples(index=False):
            total, ok = Decimal(0), True
            for tcol in TOKENS:
                tokens = int(getattr(row, tcol))
                c = Decimal(0)
                if tokens:
                    p = self.price(row.base_model, row.scope, row.tier, UNITS[tcol])
                    if p is None:
                        ok = False
                        u = self.unpriced.setdefault(row.base_model, {"model": row.base_model, "model_ids": set(),
                                                                      "units": set(), "tokens": 0})
                        u["model_ids"].add(getattr(row, model_ids_col))
                        u["units"].add(UNITS[tcol])
                        u["tokens"] += tokens
                    else:
                        c = Decimal(tokens) * p / 1000
                costs[COST_COLS[tcol]].append(str(c))
                total += c
            totals.append(str(total))
            priced.append(ok)
        for c, vals in costs.items():
            df[c] = pd.Series(vals, index=df.index, dtype="object")
        df["cost_usd"] = pd.Series(totals, index=df.index, dtype="object")
        df["priced"] = priced
        return df


def aggregate_logs(logs: pd.DataFrame, attribution: Attribution) -> pd.DataFrame:
    """Group records to (hour, model id, principal, application, operation, status) with integer token sums."""
    keys = ["hour", "model_id", "principal", "principal_kind", "principal_name", "app", "team", "cost_centre",
            "operation", "status", "tier", "request_metadata", "day_edge"]
    if logs.empty:
        return pd.DataFrame(columns=keys + ["invocations", "sessions", *TOKENS])
    df = logs.copy()
    df["hour"] = df["timestamp"].dt.floor("h")
    parts = {a: principal_parts(a) for a in df["principal"].unique()}
    df["session_arn"] = df["principal"]
    df["principal"] = df["session_arn"].map(lambda a: parts[a][0])
    df["principal_kind"] = df["session_arn"].map(lambda a: parts[a][1])
    df["principal_name"] = df["session_arn"].map(lambda a: parts[a][2])
    combos = df[["session_arn", "request_metadata", "model_id"]].drop_duplicates()
    app_of = {tuple(c): attribution.attribute(*c) for c in combos.itertuples(index=False)}
    keyser = list(zip(df["session_arn"], df["request_metadata"], df["model_id"]))
    df["app"] = [app_of[k].app for k in keyser]
    df["team"] = [app_of[k].team for k in keyser]
    df["cost_centre"] = [app_of[k].cost_centre for k in keyser]
    df["status"] = df["error_code"].where(df["error_code"] != "", "ok")
    df["tier"] = df["latency"].map(lambda v: "latency_optimized" if v == "optimized" else "standard")
    df["day_edge"] = df["delivered_at"].dt.floor("D") != df["timestamp"].dt.floor("D")
    # one row per record (local reader), or one row per group with its record count (Athena engine)
    df["invocations"] = df["records"] if "records" in df else 1
    g = df.groupby(keys, dropna=False, sort=True)
    out = g[["invocations", *TOKENS]].sum().reset_index()
    out["sessions"] = g["session_arn"].nunique().values
    return out


def cloudwatch_usage(cw: pd.DataFrame) -> pd.DataFrame:
    """Hourly usage per ModelId from the metric frame (one column per metric)."""
    usage = cw[(cw["model_id"] != "") & cw["metric"].isin(CW_METRICS)]
    cols = list(CW_METRICS.values())
    if usage.empty:
        return pd.DataFrame(columns=["hour", "model_id", *cols])
    wide = usage.pivot_table(index=["hour", "model_id"], columns="metric", values="value", aggfunc="sum", fill_value=0)
    wide = wide.rename(columns=CW_METRICS).reset_index()
    for c in cols:
        if c not in wide:
            wide[c] = 0
        wide[c] = wide[c].astype("int64")
    wide.columns.name = None
    return wide[["hour", "model_id", *cols]]


def bill_models(bill: pd.DataFrame, book: PriceBook) -> pd.DataFrame:
    """Map each bill line to a base model (billing name or Marketplace service) and a comparable scope and tier."""
    df = bill.copy()
    models = []
    for r in df.itertuples(index=False):
        m = None
        if r.shape == "first_party" and r.billing_name:
            m = book.model_for_billing_name(r.billing_name)
        elif r.shape == "marketplace":
            m = book.model_for_marketplace_service(r.service)
        models.append(m or "")
    df["base_model"] = models
    df["matched"] = df["base_model"] != ""
    return df


def run(cfg: RunConfig) -> dict:
    p = cfg.params
    book = PriceBook.load(resolve_path(p.prices_dir))
    attribution = Attribution.load(resolve_path(p.apps_file), resolve_path(p.prices_dir) / "inference_profiles.yaml")
    pricer = Pricer(book, cfg.region, cfg.date)

    logs = read_parquet(cfg.data("collect_logs.parquet"))
    late = read_parquet(cfg.data("collect_logs_late.parquet"))
    price_logs = pricer.price_frame(aggregate_logs(logs, attribution))
    price_late = pricer.price_frame(aggregate_logs(late, attribution))
    write_parquet(price_logs, cfg.data("price_logs.parquet"))
    write_parquet(price_late, cfg.data("price_logs_late.parquet"))

    cw = read_parquet(cfg.data("collect_cloudwatch.parquet"))
    price_cw = pricer.price_frame(cloudwatch_usage(cw))
    write_parquet(price_cw, cfg.data("price_cloudwatch.parquet"))

    bill = bill_models(read_parquet(cfg.data("collect_bill.parquet")), book)
    write_parquet(bill, cfg.data("price_bill.parquet"))

    unpriced = [{"model": u["model"], "model_ids": sorted(u["model_ids"]), "units": sorted(u["units"]),
                 "tokens": u["tokens"]} for u in sorted(pricer.unpriced.values(), key=lambda u: u["model"])]
    summary = {
        "date": cfg.date, "region": cfg.region,
        "unpriced_models": [u["model"] for u in unpriced],
        "unpriced": unpriced,
        "provisioned_models": sorted(pricer.provisioned),
        "unmatched_bill_usage_types": sorted(bill.loc[~bill["matched"], "usage_type"].unique().tolist()),
        "display_names": {m: book.display_name(m) for m in
                          sorted(set(price_logs["base_model"]) | set(price_cw["base_model"]) | set(bill["base_model"]) - {""})},
        "cache_write_assumption": "cache writes in logs and CloudWatch are priced at the 5-minute TTL rate "
                                  "(neither source tells the TTL)",
    }
    write_json(cfg.data("price.json"), summary)
    return summary

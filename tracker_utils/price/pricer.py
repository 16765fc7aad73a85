"""Pricing: tokens times the price book, exactly.

Usage is aggregated first (integer token sums per hour, model id, principal, application, ...) and each aggregate is
priced once with ``decimal.Decimal``: no float ever touches money. Money columns are ``decimal128(38, 12)``.
A model or region the book does not price is priced at nothing and listed in ``unpriced``; there is no fallback.
"""
from __future__ import annotations

import re
from decimal import Decimal

import pandas as pd

from tracker_utils.apps import Attribution, principal_parts
from tracker_utils.schema import TOKENS, TTL_COLUMNS
from tracker_utils.money import to_series
from tracker_utils.price.book import PriceBook
from tracker_utils.price.tiers import tiers

UNITS = {"input_tokens": "input", "output_tokens": "output", "cache_read_tokens": "cache_read",
         "cache_write_tokens": "cache_write_5m"}
COST_COLS = {"input_tokens": "cost_input", "output_tokens": "cost_output", "cache_read_tokens": "cost_cache_read",
             "cache_write_tokens": "cost_cache_write"}
# cache writes by TTL: ``cache_write_tokens`` is the total; its 1h part is priced at cache_write_1h, the rest at 5m.
# ``cost_cache_write`` stays the cost of all cache writes (the sum of the two columns below).
TTL_COST_COLS = {"cache_write_5m": "cost_cache_write_5m", "cache_write_1h": "cost_cache_write_1h"}
SUMS = [*TOKENS, *TTL_COLUMNS]          # the integer columns summed when usage is aggregated
PROFILE_PREFIX = re.compile(r"^(us|eu|apac|jp|au|ca|us-gov|global)\.")
CW_METRICS = {"Invocations": "invocations", "InputTokenCount": "input_tokens", "OutputTokenCount": "output_tokens",
              "CacheReadInputTokenCount": "cache_read_tokens", "CacheWriteInputTokenCount": "cache_write_tokens",
              "InvocationThrottles": "throttles", "InvocationClientErrors": "client_errors",
              "InvocationServerErrors": "server_errors"}


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
        """Add base_model/scope/kind and exact cost columns to an aggregated usage frame.

        Cache writes: ``cache_write_tokens - cache_write_1h_tokens`` at cache_write_5m, ``cache_write_1h_tokens`` at
        cache_write_1h (a frame without the column has no 1h writes)."""
        df = df.copy()
        res = {m: self.resolve(m) for m in df[model_ids_col].unique()}
        for k in ("base_model", "scope", "kind"):
            df[k] = df[model_ids_col].map(lambda m: res[m][k])
        if "tier" not in df:
            df["tier"] = "standard"
        # provisioned throughput is billed by the model-unit hour, not per token: its tokens cost nothing here
        df.loc[df["kind"] == "provisioned", "tier"] = "provisioned"
        for c in TTL_COLUMNS:
            if c not in df:
                df[c] = 0
        costs = {c: [] for c in [*COST_COLS.values(), *TTL_COST_COLS.values()]}
        totals, priced = [], []
        for row in df[["base_model", "scope", "tier", model_ids_col, *SUMS]].itertuples(index=False):
            self._row_costs(row, model_ids_col, costs, totals, priced)
        for c, vals in costs.items():
            df[c] = to_series(vals, df.index)
        df["cost_usd"] = to_series(totals, df.index)
        df["priced"] = priced
        return df

    def _row_costs(self, row, model_ids_col: str, costs: dict, totals: list, priced: list) -> None:
        """Append one aggregated row's exact costs (per column and total) and whether every unit had a price."""
        cw = int(row.cache_write_tokens)
        h1 = min(int(row.cache_write_1h_tokens), cw)
        parts = [(tcol, UNITS[tcol], int(getattr(row, tcol))) for tcol in TOKENS if tcol != "cache_write_tokens"]
        parts += [("cache_write_tokens", "cache_write_5m", cw - h1), ("cache_write_tokens", "cache_write_1h", h1)]
        total, ok = Decimal(0), True
        by_unit = {}
        for tcol, unit, tokens in parts:
            c = Decimal(0)
            if tokens and row.tier != "provisioned":
                p = self.price(row.base_model, row.scope, row.tier, unit)
                if p is None:
                    ok = False
                    u = self.unpriced.setdefault(row.base_model, {"model": row.base_model, "model_ids": set(),
                                                                  "units": set(), "tokens": 0, "tiers": set()})
                    u["model_ids"].add(getattr(row, model_ids_col))
                    u["tiers"].add(row.tier)
                    u["units"].add(unit)
                    u["tokens"] += tokens
                else:
                    c = Decimal(tokens) * p / 1000
            by_unit[unit] = c
            total += c
        for tcol in (t for t in TOKENS if t != "cache_write_tokens"):
            costs[COST_COLS[tcol]].append(by_unit[UNITS[tcol]])
        costs["cost_cache_write"].append(by_unit["cache_write_5m"] + by_unit["cache_write_1h"])
        for unit, col in TTL_COST_COLS.items():
            costs[col].append(by_unit[unit])
        totals.append(total)
        priced.append(ok)


PRICING_COLUMNS = ["timestamp", "delivered_at", "model_id", "principal", "operation", "error_code", "latency",
                   "request_metadata", "service_tier", *SUMS]
REPEATED = ["model_id", "principal", "operation", "error_code", "latency", "request_metadata", "service_tier"]


def aggregate_logs_file(path, attribution: Attribution, batch_rows: int = 250_000) -> pd.DataFrame:
    """:func:`aggregate_logs` over a parquet file, a batch of rows at a time: memory does not grow with the day."""
    import pyarrow.parquet as pq
    names = pq.read_schema(path).names          # files written before a column existed lack it
    pf = pq.ParquetFile(path, read_dictionary=[c for c in REPEATED if c in names])
    cols = [c for c in PRICING_COLUMNS + ["records"] if c in pf.schema_arrow.names]
    g = None
    for batch in pf.iter_batches(batch_size=batch_rows, columns=cols):
        if not batch.num_rows:
            continue
        part = _first_level(batch.to_pandas())
        if g is not None:        # fold into the running groups: never more rows than distinct groups
            part = pd.concat([g, part], ignore_index=True).groupby(
                RAW_KEYS, dropna=False, sort=False)[["invocations", *SUMS]].sum().reset_index()
        g = part
    if g is None:
        return aggregate_logs(read_logs(path), attribution)
    return _resolve(g, attribution)


def read_logs(path) -> pd.DataFrame:
    """Only the columns pricing needs; repeated strings read once each: memory stays small for a million records."""
    import pyarrow.parquet as pq
    schema = pq.read_schema(path)
    cols = [c for c in PRICING_COLUMNS + ["records"] if c in schema.names]
    table = pq.read_table(path, columns=cols, read_dictionary=[c for c in REPEATED if c in cols])
    return table.to_pandas()      # repeated strings as categories: 1 to 4 bytes a row


def aggregate_logs(logs: pd.DataFrame, attribution: Attribution) -> pd.DataFrame:
    """Group records to (hour, model id, principal, application, operation, status) with integer token sums.

    Two steps keep a million records cheap: first group on the raw record fields (a few ten thousand groups), then
    resolve principals and applications once per group, and group again on the resolved keys.
    """
    keys = ["hour", "model_id", "principal", "principal_kind", "principal_name", "app", "team", "cost_centre",
            "matched", "operation", "status", "tier", "request_metadata", "day_edge"]
    if logs.empty:
        return pd.DataFrame(columns=keys + ["invocations", "sessions", *SUMS])
    return _resolve(_first_level(logs), attribution)


RAW_KEYS = ["hour", "model_id", "principal", "request_metadata", "operation", "error_code", "latency", "service_tier",
            "day_edge"]


def _first_level(logs: pd.DataFrame) -> pd.DataFrame:
    """Group records on their raw fields (integer sums)."""
    raw = RAW_KEYS
    df = pd.DataFrame({
        "hour": logs["timestamp"].dt.floor("h"),
        "day_edge": logs["delivered_at"].dt.floor("D") != logs["timestamp"].dt.floor("D"),
        # one row per record (local reader), or one row per group with its record count (Athena engine)
        "invocations": logs["records"] if "records" in logs else 1,
        **{c: logs[c] for c in raw if c not in ("hour", "day_edge", "service_tier")},
        "service_tier": logs["service_tier"] if "service_tier" in logs else "",    # files written before tiers
        **{t: logs[t] if t in logs else 0 for t in SUMS}})     # files written before the TTL split: none
    g = df.groupby(raw, dropna=False, sort=False, observed=True)[["invocations", *SUMS]].sum().reset_index()
    for c in raw:
        if isinstance(g[c].dtype, pd.CategoricalDtype):
            g[c] = g[c].astype(object)
    return g


def _resolve(g: pd.DataFrame, attribution: Attribution) -> pd.DataFrame:
    """Resolve principals (sessions of a role are one principal) and applications once per raw group, regroup."""
    keys = ["hour", "model_id", "principal", "principal_kind", "principal_name", "app", "team", "cost_centre",
            "matched", "operation", "status", "tier", "request_metadata", "day_edge"]
    g = g.rename(columns={"principal": "session_arn"})
    parts = {a: principal_parts(a) for a in g["session_arn"].unique()}
    g["principal"] = [parts[a][0] for a in g["session_arn"]]
    g["principal_kind"] = [parts[a][1] for a in g["session_arn"]]
    g["principal_name"] = [parts[a][2] for a in g["session_arn"]]
    apps = [attribution.attribute(a, m, mid) for a, m, mid in zip(g["session_arn"], g["request_metadata"], g["model_id"])]
    g["app"] = [a.app for a in apps]
    g["team"] = [a.team for a in apps]
    g["cost_centre"] = [a.cost_centre for a in apps]
    g["matched"] = [a.matched for a in apps]
    g["status"] = g["error_code"].where(g["error_code"] != "", "ok")
    g["tier"] = tiers(g["latency"], g["service_tier"] if "service_tier" in g else [""] * len(g))
    final = g.groupby(keys, dropna=False, sort=True)
    out = final[["invocations", *SUMS]].sum().reset_index()
    out["sessions"] = final["session_arn"].nunique().values
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


CW_TTL_METHOD = ("CloudWatch counts cache writes without their TTL: each hour and model id's CloudWatch cache writes "
                 "are split by the logs' 1h share of that hour and model id (on-time and late records; rounded half "
                 "up); with no logged cache writes, all are priced as 5m")


def cloudwatch_ttl_split(cw_usage: pd.DataFrame, *logs: pd.DataFrame) -> pd.DataFrame:
    """``cw_usage`` with ``cache_write_1h_tokens``: CloudWatch's cache writes split by the logs' 1h share per hour
    and model id (see :data:`CW_TTL_METHOD`). Integer arithmetic; never more than CloudWatch's total."""
    df = cw_usage.copy()
    frames = [f[["hour", "model_id", "cache_write_tokens", "cache_write_1h_tokens"]] for f in logs
              if not f.empty and "cache_write_1h_tokens" in f]
    if df.empty or not frames:
        df["cache_write_1h_tokens"] = 0
        return df
    share = pd.concat(frames).groupby(["hour", "model_id"])[["cache_write_tokens", "cache_write_1h_tokens"]].sum()
    lw = {k: (int(a), int(b)) for k, a, b in zip(share.index, share["cache_write_tokens"],
                                                   share["cache_write_1h_tokens"])}
    out = []
    for hour, mid, cw in zip(df["hour"], df["model_id"], df["cache_write_tokens"]):
        w, h = lw.get((hour, mid), (0, 0))
        out.append(min(int(cw), (2 * int(cw) * h + w) // (2 * w)) if w and h else 0)
    df["cache_write_1h_tokens"] = pd.Series(out, index=df.index, dtype="int64")
    return df


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

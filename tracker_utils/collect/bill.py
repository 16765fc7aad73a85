"""The bill side: Cost Explorer pages and CUR 2.0 data exports -> one tidy daily frame.

Every row is one (date, service, usage_type, operation, principal) with exact amounts:

* ``quantity`` and ``cost_usd`` are **decimal strings** (exact; parsed with ``Decimal`` and written
  in plain notation, e.g. ``'0.0006375'``), never floats.  Sum them with ``Decimal`` too.
* ``tokens`` = ``quantity * tokens_per_unit`` rounded half-up to an int, for recognized token
  units; 0 otherwise.  The units are an assumption: first-party quantity in 1K tokens [U/P],
  Marketplace ``-Units`` in 1M tokens [P] (see :mod:`tracker_utils.usage_types`).
* ``date`` is the ISO day (``'YYYY-MM-DD'``, UTC) as a string.
* the usage-type columns (``shape`` ... ``reason``) come from
  :func:`tracker_utils.usage_types.parse_usage_type`; rows are never dropped for not being
  understood, they carry ``recognized=False`` and a ``reason``.
"""
from __future__ import annotations

import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tracker_utils.money import dec, plain
from tracker_utils.usage_types import EDITION_SUFFIX, is_bedrock_service, parse_usage_type

BILL_COLUMNS = ["date", "service", "usage_type", "operation", "region", "region_code", "shape",
                "billing_name", "unit", "tier", "scope", "endpoint", "long_context", "quantity",
                "tokens", "cost_usd", "recognized", "reason", "principal", "source", "record_type", "account"]
# ``account``: the member account of the line (Cost Explorer's LINKED_ACCOUNT, CUR's line_item_usage_account_id),
# "" when the bill does not say (a bill of one account, grouped without LINKED_ACCOUNT)
_KEY = ("date", "service", "usage_type", "operation", "principal", "account", "record_type")

# The record type of a bill line (Cost Explorer's RECORD_TYPE, CUR's line_item_line_item_type) -> ``record_type``:
# ``usage`` (what the usage type says was used, at list price), or an adjustment that makes the net bill differ from
# the gross: ``credit`` (promotional, support credits), ``refund``, ``discount`` (EDP, private pricing, bundled).
# Both the API / CUR spellings and the console's are accepted. Any other type (or none) is usage, as before.
RECORD_TYPES = {"Credit": "credit", "Refund": "refund",
                "EdpDiscount": "discount", "PrivateRateDiscount": "discount", "BundledDiscount": "discount",
                "DistributorDiscount": "discount", "Discount": "discount",
                "Enterprise Discount Program Discount": "discount", "Private Rate Card Discount": "discount",
                "Bundled Discount": "discount"}
ADJUSTMENTS = ("credit", "refund", "discount")

# CUR 2.0 product codes of first-party Bedrock, mapped to the CE SERVICE name of the same charges
# so CE and CUR frames group alike (AmazonBedrockService shows as "Amazon Bedrock Service" in CE [P]).
CUR_PRODUCT_SERVICE = {"AmazonBedrock": "Amazon Bedrock", "AmazonBedrockService": "Amazon Bedrock Service"}
# Line item types kept as usage.  DiscountedUsage (reserved-instance covered usage) is kept so no
# usage disappears, but its unblended cost is normally 0 (the RI fee is a separate line) [U for Bedrock].
CUR_KEPT_TYPES = ("Usage", "DiscountedUsage")
# Line item types kept as adjustments of the bill (a bill line with its ``record_type``): credits, refunds, discounts.
CUR_ADJUSTMENT_TYPES = tuple(t for t in RECORD_TYPES if " " not in t)
_CUR_REQUIRED = ["line_item_usage_start_date", "line_item_product_code", "product_servicecode",
                 "line_item_usage_type", "line_item_operation", "line_item_usage_amount",
                 "line_item_unblended_cost", "line_item_line_item_type", "product_region_code",
                 "bill_billing_entity"]
_CUR_OPTIONAL = ["product_product_name", "line_item_iam_principal", "product", "line_item_usage_account_id"]


def empty_bill() -> pd.DataFrame:
    """An empty bill frame with the right columns and dtypes."""
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in BILL_COLUMNS})
    return df.astype({"tokens": "int64", "long_context": bool, "recognized": bool})


@lru_cache(maxsize=4096)
def _parse(usage_type: str, service: str):
    return parse_usage_type(usage_type, service if service else None)


def record_type(value) -> str:
    """``usage``, ``credit``, ``refund`` or ``discount`` for a RECORD_TYPE / line item type (see RECORD_TYPES)."""
    return RECORD_TYPES.get(str(value or "").strip(), "usage")


def _rows_to_frame(acc: dict, source: str) -> pd.DataFrame:
    """``acc``: {(date, service, usage_type, operation, principal, account, record_type): [qty, cost, region_fb]}.
    An adjustment line (credit, refund, discount) is money only: its tokens are 0."""
    if not acc:
        return empty_bill()
    out = []
    for (date, service, usage_type, operation, principal, account, rtype), (qty, cost, region_fb) in sorted(acc.items()):
        u = _parse(usage_type, service)
        tokens = 0
        if u.recognized and u.unit != "other" and rtype == "usage":
            tokens = int((qty * u.tokens_per_unit).to_integral_value(rounding=ROUND_HALF_UP))
        out.append({
            "date": date, "service": service, "usage_type": usage_type, "operation": operation,
            "region": u.region or region_fb or None, "region_code": u.region_code, "shape": u.shape,
            "billing_name": u.billing_name, "unit": u.unit, "tier": u.tier, "scope": u.scope,
            "endpoint": u.endpoint, "long_context": u.long_context, "quantity": plain(qty),
            "tokens": tokens, "cost_usd": plain(cost), "recognized": u.recognized,
            "reason": u.reason, "principal": principal, "source": source, "record_type": rtype, "account": account})
    df = pd.DataFrame(out, columns=BILL_COLUMNS)
    return df.astype({"tokens": "int64", "long_context": bool, "recognized": bool})


def _add(acc: dict, key: tuple, qty: Decimal, cost: Decimal, region_fb: str | None = None) -> None:
    cur = acc.get(key)
    if cur is None:
        acc[key] = [qty, cost, region_fb]
    else:
        cur[0] += qty
        cur[1] += cost
        cur[2] = cur[2] or region_fb


# ---------------------------------------------------------------------------------------------
# Cost Explorer
# ---------------------------------------------------------------------------------------------
def parse_cost_explorer_pages(pages: list[dict], service: str = "") -> pd.DataFrame:
    """Tidy frame from ``GetCostAndUsage`` responses (all pages of one request, as boto3 returns them).

    Expected request: Granularity DAILY, Metrics [UnblendedCost, UsageQuantity], GroupBy
    [SERVICE, USAGE_TYPE] (an extra OPERATION or RECORD_TYPE group is honoured: with RECORD_TYPE, credits,
    refunds and discounts become lines of their own ``record_type``; without it every group is usage).  Key order is read from the
    response's ``GroupDefinitions`` when present, else assumed [SERVICE, USAGE_TYPE] (a single
    key is taken as USAGE_TYPE).  Estimated groups are kept.  Services other than Bedrock are
    kept with ``recognized=False`` and reason 'not a Bedrock service'; the request should filter them.
    A LINKED_ACCOUNT group (a payer's bill) fills ``account``; with it the two groups the API allows are
    [LINKED_ACCOUNT, USAGE_TYPE], so the SERVICE is the request's filter: pass it as ``service``.
    """
    acc: dict = {}
    for page in pages or []:
        defs = [g.get("Key") for g in page.get("GroupDefinitions") or []]
        for period in page.get("ResultsByTime") or []:
            date = str(period["TimePeriod"]["Start"])[:10]
            for group in period.get("Groups") or []:
                keys = list(group.get("Keys") or [])
                names = defs if len(defs) == len(keys) else (
                    ["USAGE_TYPE"] if len(keys) == 1 else ["SERVICE", "USAGE_TYPE", "OPERATION"][:len(keys)])
                k = dict(zip(names, keys))
                metrics = group.get("Metrics") or {}
                qty = dec((metrics.get("UsageQuantity") or {}).get("Amount", "0"))
                cost = dec((metrics.get("UnblendedCost") or {}).get("Amount", "0"))
                key = (date, k.get("SERVICE", service), k.get("USAGE_TYPE", ""), k.get("OPERATION", ""), "",
                       k.get("LINKED_ACCOUNT", ""), record_type(k.get("RECORD_TYPE")))
                _add(acc, key, qty, cost)
    return _rows_to_frame(acc, "ce")


def parse_cost_explorer_recording(rec: dict) -> tuple[pd.DataFrame, bool]:
    """A single account's recording: the usage pages, and the adjustments' pages (GroupBy [RECORD_TYPE, USAGE_TYPE],
    see ``aws.adjustments_request``) when the recording has them. Returns (bill lines, adjustments recorded). An
    adjustment of a first-party usage type is an ``Amazon Bedrock`` line (the request has no SERVICE group)."""
    usage = parse_cost_explorer_pages(rec.get("pages") or [])
    adj = rec.get("adjustments")
    if not isinstance(adj, dict) or adj.get("pages") is None:
        return usage, False
    lines = parse_cost_explorer_pages(adj["pages"])
    if lines.empty:
        return usage, True
    lines.loc[(lines["service"] == "") & (lines["shape"] == "first_party"), "service"] = "Amazon Bedrock"
    lines = lines[lines["record_type"] != "usage"]     # the filter asks for adjustments only
    df = pd.concat([usage, lines], ignore_index=True) if len(usage) else lines.reset_index(drop=True)
    return df.astype({"tokens": "int64", "long_context": bool, "recognized": bool}), True


def linked_request(service: str, start: str, end: str) -> dict:
    """The GetCostAndUsage request of one Bedrock service on a payer's bill, per member account: GroupBy takes at
    most two dimensions, so [LINKED_ACCOUNT, USAGE_TYPE] with the SERVICE as the filter (one request per service)."""
    return {"TimePeriod": {"Start": start, "End": end}, "Granularity": "DAILY",
            "Metrics": ["UnblendedCost", "UsageQuantity"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            "Filter": {"Dimensions": {"Key": "SERVICE", "Values": [service], "MatchOptions": ["EQUALS"]}}}


def parse_linked_cost_explorer(rec: dict) -> pd.DataFrame:
    """A payer's recording ``{"linked": true, "requests": [{"service", "request", "pages"}, ...]}`` (one request per
    service, see :func:`linked_request`) as one frame with ``account`` filled from LINKED_ACCOUNT."""
    frames = [parse_cost_explorer_pages(r["pages"], service=r["service"]) for r in rec.get("requests") or []]
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_bill()
    df = pd.concat(frames, ignore_index=True)
    return df.astype({"tokens": "int64", "long_context": bool, "recognized": bool})


def split_by_account(bill: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The lines of a payer's bill per member account (``account``; "" for lines that name none)."""
    return {a: g.reset_index(drop=True) for a, g in bill.groupby("account", sort=True)} if len(bill) else {}


# ---------------------------------------------------------------------------------------------
# CUR 2.0
# ---------------------------------------------------------------------------------------------
def _cur_files(paths) -> list[Path]:
    files: list[Path] = []
    for p in ([paths] if isinstance(paths, (str, Path)) else paths):
        p = Path(p)
        cands = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        files += [q for q in cands if q.name.endswith((".parquet", ".csv.gz", ".csv"))]
    if not files:
        raise FileNotFoundError(f"no CUR .parquet / .csv.gz files under {paths!r}")
    return files


def _read_cur_file(path: Path) -> pa.Table:
    """Read only the needed columns (missing optional ones become null)."""
    if path.name.endswith(".parquet"):
        have = set(pq.read_schema(path).names)
        missing = [c for c in _CUR_REQUIRED if c not in have]
        if missing:
            raise ValueError(f"{path}: not a CUR 2.0 export, missing columns {missing}")
        table = pq.read_table(path, columns=[c for c in _CUR_REQUIRED + _CUR_OPTIONAL if c in have])
    else:  # csv / csv.gz: everything as strings, so amounts stay exact
        header = pacsv.open_csv(path).schema.names
        missing = [c for c in _CUR_REQUIRED if c not in header]
        if missing:
            raise ValueError(f"{path}: not a CUR 2.0 export, missing columns {missing}")
        cols = [c for c in _CUR_REQUIRED + _CUR_OPTIONAL if c in header]
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            include_columns=cols, column_types={c: pa.string() for c in cols},
            strings_can_be_null=True, null_values=[""]))
    return table


def _product_name(table: pa.Table) -> pa.Array:
    """``product_product_name``, else ``product_name`` out of the CUR 2.0 ``product`` map column."""
    names = table.column_names
    if "product_product_name" in names:
        return _flat(pc.cast(table["product_product_name"], pa.string()))
    if "product" not in names:
        return pa.nulls(table.num_rows, pa.string())
    col = table["product"]
    if pa.types.is_map(col.type):
        return _flat(pc.cast(pc.map_lookup(col, "product_name", "first"), pa.string()))
    out = []  # CSV exports serialise the map as JSON text
    for v in col.to_pylist():
        try:
            v = json.loads(v) if v else {}
        except ValueError:
            v = {}
        out.append(v.get("product_name") if isinstance(v, dict) else None)
    return pa.array(out, pa.string())


def _flat(x):
    return x.combine_chunks() if isinstance(x, pa.ChunkedArray) else x


def _str(t: pa.Table, name: str) -> pa.Array:
    """A column as non-null strings ('' for a missing column or nulls)."""
    if name not in t.column_names:
        return pa.array([""] * t.num_rows, pa.string())
    return _flat(pc.fill_null(pc.cast(t[name], pa.string()), ""))


def _dec_col(col) -> pa.Array:
    """Exact decimal amounts.  Strings are parsed as written; doubles (parquet) go through Arrow's
    shortest round-trip text (the same digits Python's repr shows), so no binary noise is added.
    decimal256(76, 40) holds any realistic amount; anything else raises (never rounds silently)."""
    s = pc.utf8_trim_whitespace(pc.fill_null(pc.cast(col, pa.string()), ""))
    return _flat(pc.cast(pc.if_else(pc.equal(s, ""), "0", s), pa.decimal256(76, 40)))


def _utc_day(col: pa.ChunkedArray) -> pa.Array:
    """ISO day strings of the UTC date of each timestamp (naive timestamps are taken as UTC)."""
    if not pa.types.is_timestamp(col.type):  # CSV text such as 2025-10-18T01:00:00Z
        col = pa.array(pd.to_datetime(col.to_pandas(), utc=True, format="ISO8601"), pa.timestamp("ns", "UTC"))
    col = pc.cast(col, pa.timestamp(col.type.unit, "UTC"))
    return pc.cast(pc.cast(col, pa.date32()), pa.string())


def _bedrock_rows(t: pa.Table, path: Path) -> pa.Table | None:
    """The Bedrock rows of one CUR file (first party, or Marketplace "(Amazon Bedrock Edition)"), with the columns
    the bill needs and exact decimal amounts; None when it has none."""
    t = t.combine_chunks()
    code, pname = _str(t, "line_item_product_code"), _product_name(t)
    is_fp = pc.is_in(code, value_set=pa.array(list(CUR_PRODUCT_SERVICE)))
    is_mp = pc.and_(pc.equal(_str(t, "bill_billing_entity"), "AWS Marketplace"),
                    pc.fill_null(pc.ends_with(pname, EDITION_SUFFIX), False))
    mask = _flat(pc.or_(is_fp, is_mp))
    t, code, pname = t.filter(mask), code.filter(mask), pname.filter(mask)
    if t.num_rows == 0:
        return None
    try:
        qty, cost = _dec_col(t["line_item_usage_amount"]), _dec_col(t["line_item_unblended_cost"])
    except pa.ArrowInvalid as e:
        raise ValueError(f"{path}: an amount is not a decimal number ({e})") from None
    return pa.table({
        "date": _utc_day(t["line_item_usage_start_date"]),
        "service": pc.if_else(pc.equal(code, "AmazonBedrockService"), "Amazon Bedrock Service",
                              pc.if_else(pc.equal(code, "AmazonBedrock"), "Amazon Bedrock", pname)),
        "usage_type": _str(t, "line_item_usage_type"), "operation": _str(t, "line_item_operation"),
        "principal": _str(t, "line_item_iam_principal"), "account": _str(t, "line_item_usage_account_id"),
        "region": _str(t, "product_region_code"),
        "lit": _str(t, "line_item_line_item_type"),
        "qty": qty, "cost": cost,
    })


def read_cur(paths: list[str | Path], start: str, end: str) -> tuple[pd.DataFrame, dict]:
    """Read CUR 2.0 data export files (parquet or csv[.gz]; files or folders, recursively).

    Keeps Bedrock rows -- product code ``AmazonBedrock`` / ``AmazonBedrockService``, or billing
    entity ``AWS Marketplace`` with a product name ending ``(Amazon Bedrock Edition)`` -- whose UTC
    usage-start day is in [start, end] (ISO days, inclusive), of line item type ``Usage`` or
    ``DiscountedUsage`` -- or an adjustment (Credit, Refund, EdpDiscount, PrivateRateDiscount, BundledDiscount,
    ...: see :data:`RECORD_TYPES`), kept as a line with its ``record_type``; aggregates them per (date, service, usage_type, operation, principal)
    with exact Decimal sums.  ``service`` is the CE name (``Amazon Bedrock``, ``Amazon Bedrock
    Service``) for first party, the Edition name for Marketplace.

    Returns ``(frame, report)``; ``report = {"rows_read", "rows_used", "rows_bedrock_in_range",
    "rows_bedrock_without_date", "files", "excluded": {line_item_type: {"rows", "cost_usd"}}}``
    where ``rows_read`` counts every row of every file (all services), ``excluded`` counts the
    Bedrock rows in range that were *not* kept (Tax, SavingsPlan..., Fee, ...),
    with their unblended cost as a decimal string, so nothing leaves silently; ``adjustments``
    ({record_type: {"rows", "cost_usd"}}) counts the credit, refund and discount rows kept.
    Parquet amounts stored as doubles are converted via their shortest repr [exact as displayed].
    """
    start, end = str(start)[:10], str(end)[:10]
    acc: dict = {}
    excluded: dict = defaultdict(lambda: [0, Decimal(0)])
    adjustments: dict = defaultdict(lambda: [0, Decimal(0)])
    n = {"read": 0, "used": 0, "in_range": 0, "no_date": 0}
    files = _cur_files(paths)
    for path in files:
        t = _read_cur_file(path)
        n["read"] += t.num_rows
        g = _bedrock_rows(t, path) if t.num_rows else None
        if g is None:
            continue
        n["no_date"] += g["date"].null_count
        g = g.filter(pc.and_(pc.greater_equal(g["date"], start), pc.less_equal(g["date"], end)))
        n["in_range"] += g.num_rows
        kept = pc.is_in(g["lit"], value_set=pa.array(CUR_KEPT_TYPES + CUR_ADJUSTMENT_TYPES))
        for r in g.filter(pc.invert(kept)).group_by("lit").aggregate([("cost", "sum"), ("cost", "count")]).to_pylist():
            e = excluded[r["lit"]]
            e[0] += r["cost_count"]
            e[1] += r["cost_sum"]
        g = g.filter(kept)
        n["used"] += g.num_rows
        agg = g.group_by([*_KEY[:-1], "lit"]).aggregate([("qty", "sum"), ("cost", "sum"), ("cost", "count"),
                                                            ("region", "max")])
        for r in agg.to_pylist():
            rtype = record_type(r["lit"])
            if rtype != "usage":
                a = adjustments[rtype]
                a[0] += r["cost_count"]
                a[1] += r["cost_sum"]
            _add(acc, (*(r[k] for k in _KEY[:-1]), rtype), r["qty_sum"], r["cost_sum"], r["region_max"] or None)
    rows_read, rows_used, rows_in, rows_no_date = n["read"], n["used"], n["in_range"], n["no_date"]
    report = {"rows_read": rows_read, "rows_used": rows_used, "rows_bedrock_in_range": rows_in,
              "rows_bedrock_without_date": rows_no_date, "files": len(files),
              "excluded": {k: {"rows": v[0], "cost_usd": plain(v[1])} for k, v in sorted(excluded.items())},
              "adjustments": {k: {"rows": v[0], "cost_usd": plain(v[1])} for k, v in sorted(adjustments.items())}}
    return _rows_to_frame(acc, "cur"), report


__all__ = ["ADJUSTMENTS", "BILL_COLUMNS", "CUR_ADJUSTMENT_TYPES", "CUR_KEPT_TYPES", "CUR_PRODUCT_SERVICE",
           "RECORD_TYPES", "empty_bill", "is_bedrock_service", "linked_request", "parse_cost_explorer_pages",
           "parse_cost_explorer_recording",
           "parse_linked_cost_explorer", "read_cur", "record_type", "split_by_account"]

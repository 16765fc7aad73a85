"""Stage 3, reconcile, as a step of the chain: reads the price stage's files, writes ``summary.json``.

In: ``collect.json``, ``price.json``, ``price_*.parquet`` and ``collect_cloudwatch.parquet`` (names from
:mod:`tracker_utils.schema`). Out: ``reconcile_hourly.parquet``, ``reconcile_usage_types.parquet`` and
``summary.json``.
"""
from __future__ import annotations

from decimal import Decimal

import pandas as pd

from tracker_utils.config import RunConfig
from tracker_utils.gaps import ADJUSTMENT_KINDS
from tracker_utils.io import read_json, read_parquet, write_json, write_parquet
from tracker_utils.money import dsum, money
from tracker_utils.reconcile.ledger import reconcile
from tracker_utils.reconcile.costlines import BATCH_METHOD, batch_section, provisioned_section
from tracker_utils.reconcile.shares import PROVISIONED_METHOD, apps_table
from tracker_utils.reconcile.verdict import Evidence, roll_up_gaps, status, summarise, verdict
from tracker_utils.schema import COLLECT, PRICE, RECONCILE

METHOD = ("Totals come from the bill. Applications are split by the invocation logs; each application's "
          "billed share is its logs cost scaled, per model, by that model's billed / logs cost (by tokens "
          "where the model is unpriced). CloudWatch tells whether the logs are complete.")


def bill_lines(bill: pd.DataFrame) -> pd.DataFrame:
    """One line per usage type: a CUR export splits lines by IAM principal and operation; the comparison does not."""
    if bill.empty:
        return bill
    keys = [c for c in bill.columns if c not in ("quantity", "tokens", "cost_usd", "principal", "operation")]
    g = bill.groupby(keys, dropna=False, sort=True)
    out = g["tokens"].sum().reset_index()
    out["quantity"] = g["quantity"].agg(lambda v: str(dsum(v))).values
    out["cost_usd"] = g["cost_usd"].agg(lambda v: str(dsum(v))).values
    return out


def bill_principals(bill: pd.DataFrame) -> list[dict]:
    """Cost per IAM principal straight from the bill, when the CUR 2.0 export has line_item_iam_principal."""
    if bill.empty or "principal" not in bill or not (bill["principal"].fillna("") != "").any():
        return []
    out = [{"principal": p or "(none)", "cost_usd": money(dsum(f["cost_usd"]))}
           for p, f in bill.fillna({"principal": ""}).groupby("principal")]
    return sorted(out, key=lambda r: -Decimal(r["cost_usd"]))


def _totals(models_raw: dict, models: list[dict], collect: dict, unpriced: list) -> dict:
    """Day totals: exact sums of the exact per-model amounts, rounded once when written."""
    billed = sum((m["billed"] for m in models_raw.values()), Decimal(0))
    logs_cost = sum((m["logs"]["cost"] for m in models_raw.values()), Decimal(0))
    cw_cost = sum((m["cloudwatch"]["cost"] for m in models_raw.values()), Decimal(0))
    adj = {k: sum((m["gaps"][k].sizes["cost"] for m in models_raw.values() if k in m["gaps"]), Decimal(0))
           for k in ADJUSTMENT_KINDS}
    gross = billed - sum(adj.values())      # the list-price bill: what the logs, priced at the book, explain
    return {"billed_cost_usd": money(billed), "logs_cost_usd": money(logs_cost), "cloudwatch_cost_usd": money(cw_cost),
            "net_cost_usd": money(billed), "gross_cost_usd": money(gross),
            "adjustments_usd": {k: money(v) for k, v in adj.items()},
            "logs_invocations": sum(m["logs"]["invocations"] for m in models),
            "cloudwatch_invocations": sum(m["cloudwatch"]["invocations"] for m in models),
            "explained_pct": str((logs_cost / gross * 100).quantize(Decimal("0.1"))) if gross else None,
            "lower_bound": bool(unpriced), "bill_scope": collect["bill"].get("scope", "all")}


def _data_quality(collect: dict, price: dict) -> dict:
    dq = dict(collect["data_quality"])
    dq["unpriced_models"] = price["unpriced_models"]
    dq["provisioned_models"] = price.get("provisioned_models", [])
    dq["unmatched_bill_usage_types"] = price.get("unmatched_bill_usage_types", [])
    dq["bill_unplaced_lines"] = collect["bill"].get("unplaced_lines", [])
    tiers = price.get("service_tiers") or {}
    if tiers.get("unknown_service_tiers"):           # records naming a tier the book does not know: unpriced
        dq["unknown_service_tiers"] = tiers["unknown_service_tiers"]
        dq["unknown_service_tier_messages"] = tiers.get("messages", [])
    if collect["bill"].get("adjustments_note"):      # a Cost Explorer recording made without the adjustments request
        dq["bill_adjustments_note"] = collect["bill"]["adjustments_note"]
    return dq


def run(cfg: RunConfig) -> dict:
    """Reconcile one date and region. Returns the summary (also written to ``data/summary.json``)."""
    p = cfg.params
    collect, price = read_json(cfg.data(COLLECT.SUMMARY)), read_json(cfg.data(PRICE.SUMMARY))
    price_logs = read_parquet(cfg.data(PRICE.LOGS))
    price_cw = read_parquet(cfg.data(PRICE.CLOUDWATCH))
    bill_raw = read_parquet(cfg.data(PRICE.BILL))
    cw_raw = read_parquet(cfg.data(COLLECT.CLOUDWATCH))
    display = price.get("display_names", {})
    unpriced = price["unpriced_models"]
    tols = (p.tolerance_tokens_pct, p.tolerance_cost_pct, p.tolerance_cost_abs)
    batch_path = cfg.data(PRICE.BATCH)            # priced before batch jobs were a source: none
    batch = read_parquet(batch_path) if batch_path.exists() else None
    models_raw, hourly, usage_types = reconcile(
        price_logs, read_parquet(cfg.data(PRICE.LOGS_LATE)), price_cw, bill_lines(bill_raw),
        cw_raw[cw_raw["model_id"] == ""], collect["bill"], unpriced, *tols, display,
        logging_started=str((collect["data_quality"].get("logging_started") or {}).get("first_record_at", ""))[11:16],
        batch=batch)
    models = summarise(models_raw, display, *tols)
    gaps = roll_up_gaps(models)
    totals = _totals(models_raw, models, collect, unpriced)
    # the 1-hour part of the cache writes (logs: from the bodies; CloudWatch: split by the logs' share)
    totals["cache_write_1h_tokens"] = price.get("cache_write_1h_tokens", {"logs": 0, "cloudwatch": 0})
    bill_present = not collect["bill"].get("missing") and collect["bill"].get("source") != "none"
    covered = sum((m["logs"]["cost"] for m in models_raw.values() if m["bill_lines"]), Decimal(0))
    billed = sum((m["billed"] for m in models_raw.values()), Decimal(0))
    cloudwatch = not price_cw.empty
    dq = _data_quality(collect, price)
    state, reasons = status(Evidence(
        billed=billed, cw_invocations=totals["cloudwatch_invocations"], gaps=gaps, unpriced=unpriced,
        cloudwatch=cloudwatch, bill_present=bill_present, bill_closed=collect["bill"].get("closed", True),
        quality=dq, tol_tokens_pct=p.tolerance_tokens_pct, tol_cost_pct=p.tolerance_cost_pct,
        tol_cost_abs=p.tolerance_cost_abs, has_bill_lines=not bill_raw.empty))
    summary = {
        "date": cfg.date, "region": cfg.region,
        "status": state, "status_reasons": reasons,
        "verdict": verdict(billed, sum((m["logs"]["cost"] for m in models_raw.values()), Decimal(0)), gaps,
                           totals["logs_invocations"], totals["cloudwatch_invocations"], bill_present, unpriced,
                           covered, collect["data_quality"].get("arrived_since_previous_collection"), cloudwatch)
        if state != "no_data" else reasons[0],
        **({"finding": dq["logs_location"]["finding"]} if (dq.get("logs_location") or {}).get("finding") else {}),
        "models": models,
        "apps": apps_table(price_logs, models_raw, batch),
        "batch": batch_section(batch, models_raw, price),
        "provisioned": provisioned_section(price_logs, models_raw, price),
        "totals": totals,
        "gaps": gaps,
        "bill_principals": bill_principals(bill_raw),
        "data_quality": dq,
        "sources": {"logs": collect["source"], "engine": collect["engine"], "as_of": collect["as_of"],
                    "bill": collect["bill"].get("source"), "cloudwatch": collect["cloudwatch"]["recorded"]},
        "method": METHOD + " " + BATCH_METHOD + " " + PROVISIONED_METHOD,
    }
    write_parquet(hourly, cfg.data(RECONCILE.HOURLY))
    write_parquet(usage_types, cfg.data(RECONCILE.USAGE_TYPES))
    write_json(cfg.data(RECONCILE.SUMMARY), summary)
    return summary

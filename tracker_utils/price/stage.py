"""Stage 2, price, as a step of the chain: reads collect's files, writes ``data/price_*.parquet`` and ``price.json``.

In: ``collect_logs*.parquet``, ``collect_cloudwatch.parquet``, ``collect_bill.parquet`` (names from
:mod:`tracker_utils.schema`) and the price book. Out: ``price_logs*.parquet``, ``price_cloudwatch.parquet``,
``price_bill.parquet`` (money as ``decimal128``) and ``price.json`` (what could not be priced, and why).
"""
from __future__ import annotations

import pandas as pd

from tracker_utils.apps import Attribution
from tracker_utils.config import RunConfig, resolve_path
from tracker_utils.io import read_parquet, write_json, write_parquet
from tracker_utils.money import to_series
from tracker_utils.price.batch import JOB_COLUMNS, METHOD as BATCH_METHOD, price_jobs
from tracker_utils.price.book import TIERS, PriceBook
from tracker_utils.price.pricer import (CW_TTL_METHOD, Pricer, aggregate_logs_file, bill_models,
                                        cloudwatch_ttl_split, cloudwatch_usage)
from tracker_utils.price.tiers import CW_TIER_METHOD, bill_tiers, cloudwatch_tier_split, tier_quality
from tracker_utils.schema import COLLECT, PRICE


def run(cfg: RunConfig) -> dict:
    """Price one date and region. Returns the price summary (also written to ``data/price.json``)."""
    p = cfg.params
    book = PriceBook.load(resolve_path(p.prices_dir))
    attribution = Attribution.load(resolve_path(p.apps_file), resolve_path(p.prices_dir) / "inference_profiles.yaml")
    pricer = Pricer(book, cfg.region, cfg.date)

    logs, late = (aggregate_logs_file(cfg.data(f), attribution) for f in (COLLECT.LOGS, COLLECT.LOGS_LATE))
    price_logs, price_late = pricer.price_frame(logs), pricer.price_frame(late)
    write_parquet(price_logs, cfg.data(PRICE.LOGS))
    write_parquet(price_late, cfg.data(PRICE.LOGS_LATE))

    bill = bill_models(read_parquet(cfg.data(COLLECT.BILL)), book)
    bill["cost_usd"] = to_series(bill["cost_usd"], bill.index)
    write_parquet(bill, cfg.data(PRICE.BILL))

    cw = read_parquet(cfg.data(COLLECT.CLOUDWATCH))
    usage = cloudwatch_ttl_split(cloudwatch_usage(cw), logs, late)
    by_bill = bill_tiers(bill)           # the tier of an hour no log record covers, where the bill says it
    unlogged = {m: by_bill[b] for m in usage["model_id"].unique() if (b := pricer.resolve(m)["base_model"]) in by_bill}
    price_cw = pricer.price_frame(cloudwatch_tier_split(usage, logs, late, unlogged=unlogged))
    write_parquet(price_cw, cfg.data(PRICE.CLOUDWATCH))

    jobs_path = cfg.data(COLLECT.BATCH)      # collected before batch jobs were a source: none
    jobs = read_parquet(jobs_path) if jobs_path.exists() else pd.DataFrame(columns=JOB_COLUMNS)
    price_batch, batch_unpriced = price_jobs(jobs, pricer, attribution)
    write_parquet(price_batch, cfg.data(PRICE.BATCH))

    unpriced = [{"model": u["model"], "model_ids": sorted(u["model_ids"]), "units": sorted(u["units"]),
                 "tokens": u["tokens"], "tiers": sorted(u.get("tiers", ()))} for u in sorted(pricer.unpriced.values(), key=lambda u: u["model"])]
    summary = {
        "date": cfg.date, "region": cfg.region,
        "unpriced_models": [u["model"] for u in unpriced],
        "unpriced": unpriced,
        "provisioned_models": sorted(pricer.provisioned),
        "unmatched_bill_usage_types": sorted(bill.loc[~bill["matched"], "usage_type"].unique().tolist()),
        "display_names": {m: book.display_name(m) for m in
                          sorted(set(price_logs["base_model"]) | set(price_cw["base_model"]) | set(bill["base_model"]) - {""})},
        "cache_write_assumption": "log records give the TTL split of their cache writes in the response body "
                                  "(cacheDetails or cache_creation); records without it are priced at the 5-minute "
                                  "rate (collect's data_quality.cache_ttl_assumed counts them). " + CW_TTL_METHOD,
        "batch": {"jobs": int(len(price_batch)), "unpriced": batch_unpriced, "method": BATCH_METHOD},
        # provisioned-model ARN -> the model behind it (params/inference_profiles.yaml), "" when unknown
        "provisioned": {m: pricer.resolve(m)["base_model"] if book.resolve(m, cfg.region).base_model else ""
                        for m in sorted(pricer.provisioned)},
        "service_tiers": {**tier_quality(price_logs, TIERS), "method": CW_TIER_METHOD},
        "cache_write_1h_tokens": {"logs": int(price_logs["cache_write_1h_tokens"].sum()),
                                  "cloudwatch": int(price_cw["cache_write_1h_tokens"].sum())},
    }
    write_json(cfg.data(PRICE.SUMMARY), summary)
    return summary

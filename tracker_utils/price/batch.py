"""Batch jobs priced at the batch rate, and the application each job belongs to.

In: collect's ``collect_batch.parquet`` (one row per job of the day with its manifest's token counts), the price
book and the application rules. Out: one row per job with ``base_model``, ``scope``, ``app`` / ``team`` /
``cost_centre`` / ``matched``, exact ``cost_input``, ``cost_output`` and ``cost_usd``.

- **Price**: the book's ``tier = batch`` rows (``params/prices.csv``), found by the job's ``modelId`` like a log
  record's (a bare model id is in-region, ``us.``/``global.`` profiles are geo/global). A model the book has no
  batch price for is priced at nothing and listed as unpriced: never at the on-demand rate, never at a multiplier.
- **Application** (stated in the report): the ``params/apps.yaml`` rules applied to the job as to a log record
  whose principal is the job's service role (``roleArn``), whose model is the job's ``modelId``, with the job's
  name for the ``batch_job`` condition (a glob). A job no rule matches falls back to its role, ``role:<name>``,
  unmatched, as usage in the logs does.
"""
from __future__ import annotations

from decimal import Decimal

import pandas as pd

from tracker_utils.apps import Attribution
from tracker_utils.money import to_series

METHOD = ("Batch jobs: the jobs that ended on the day (ListModelInvocationJobs), their tokens from each job's "
          "manifest.json.out, priced at the book's batch rate; each job belongs to the application the apps.yaml "
          "rules give its service role, model and job name (condition batch_job).")
JOB_COLUMNS = ["job_arn", "job_name", "model_id", "role_arn", "status", "end_time", "manifest_found", "input_tokens",
               "output_tokens"]
UNITS = {"input_tokens": ("input", "cost_input"), "output_tokens": ("output", "cost_output")}


def price_jobs(jobs: pd.DataFrame, pricer, attribution: Attribution) -> tuple[pd.DataFrame, list[dict]]:
    """The jobs with their application and exact batch cost; and the (model, unit) pairs the book has no batch
    price for."""
    df = jobs.copy()
    if df.empty:
        for c in ("base_model", "scope", "app", "team", "cost_centre", "cost_input", "cost_output", "cost_usd"):
            df[c] = pd.Series(dtype=object)
        df["matched"] = pd.Series(dtype=bool)
        df["priced"] = pd.Series(dtype=bool)
        return df, []
    res = [pricer.resolve(m) for m in df["model_id"]]
    df["base_model"] = [r["base_model"] for r in res]
    df["scope"] = [r["scope"] for r in res]
    apps = [attribution.attribute(role, {}, mid, batch_job=name)
            for role, mid, name in zip(df["role_arn"], df["model_id"], df["job_name"])]
    df["app"] = [a.app for a in apps]
    df["team"] = [a.team for a in apps]
    df["cost_centre"] = [a.cost_centre for a in apps]
    df["matched"] = [a.matched for a in apps]
    costs = {c: [] for _, c in UNITS.values()}
    totals, priced, unpriced = [], [], {}
    for r in df.itertuples(index=False):
        total, ok = Decimal(0), True
        for tcol, (unit, ccol) in UNITS.items():
            n, c = int(getattr(r, tcol)), Decimal(0)
            if n:
                p = pricer.price(r.base_model, r.scope, "batch", unit)
                if p is None:
                    ok = False
                    unpriced.setdefault((r.base_model, unit), {"model": r.base_model, "unit": unit, "tier": "batch",
                                                               "jobs": []})["jobs"].append(r.job_name)
                else:
                    c = Decimal(n) * p / 1000
            costs[ccol].append(c)
            total += c
        totals.append(total)
        priced.append(ok)
    for c, vals in costs.items():
        df[c] = to_series(vals, df.index)
    df["cost_usd"] = to_series(totals, df.index)
    df["priced"] = priced
    return df, list(unpriced.values())

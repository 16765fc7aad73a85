"""The two cost lines that are not per logged token: batch jobs and provisioned throughput, as ``summary.json``'s
``batch`` and ``provisioned`` sections (the ledger sizes them as the gap kinds ``batch`` and ``provisioned``; the
chargeback splits them in :mod:`shares`).

In: the priced jobs (``price_batch.parquet``), the priced logs, the exact per-model ledger and ``price.json``.
"""
from __future__ import annotations

from decimal import Decimal

import pandas as pd

from tracker_utils.money import dsum, money
from tracker_utils.reconcile.shares import PROVISIONED_METHOD, gap_cost
from tracker_utils.schema import TOKENS

BATCH_METHOD = ("Batch jobs are attributed to the application the apps.yaml rules give the job (its service role, "
                "model and name: condition batch_job), and their bill is split by the jobs' cost at the batch price.")


def batch_section(batch: pd.DataFrame | None, models: dict, price: dict) -> dict:
    """The jobs of the day (name, application, model, manifest counts, cost at the batch price) and the totals: what
    the manifests explain of the bill (``batch``) and what they do not (``unlogged_endpoint`` of batch lines)."""
    jobs = []
    if batch is not None and not batch.empty:
        for r in batch.sort_values("job_name").itertuples(index=False):
            jobs.append({"job_name": r.job_name, "app": r.app, "matched": bool(r.matched), "model_id": r.model_id,
                         "base_model": r.base_model, "status": r.status, "end_time": r.end_time,
                         "manifest_found": bool(r.manifest_found), "input_tokens": int(r.input_tokens),
                         "output_tokens": int(r.output_tokens), "cost_usd": money(r.cost_usd),
                         "priced": bool(r.priced)})
    billed = sum((gap_cost(m, "batch") for m in models.values()), Decimal(0))
    return {"jobs": jobs, "billed_usd": money(billed),
            "jobs_cost_usd": money(dsum(batch["cost_usd"])) if batch is not None and not batch.empty else money(0),
            "unpriced": (price.get("batch") or {}).get("unpriced", []), "method": BATCH_METHOD}


def provisioned_section(price_logs: pd.DataFrame, models: dict, price: dict) -> dict:
    """Per model with model-unit hours on the bill: the cost, the provisioned ARNs the logs used, and their tokens."""
    arns = price.get("provisioned") or {}
    prov = price_logs[price_logs["tier"] == "provisioned"] if not price_logs.empty and "tier" in price_logs \
        else price_logs.iloc[0:0]
    out = []
    for base in sorted(set(arns.values()) | {b for b, m in models.items() if gap_cost(m, "provisioned")}):
        if not base:
            continue
        f = prov[prov["base_model"] == base] if not prov.empty else prov
        out.append({"model": base, "billed_usd": money(gap_cost(models.get(base, {"gaps": {}}), "provisioned")),
                    "model_ids": sorted(a for a, b in arns.items() if b == base),
                    "invocations": int(f["invocations"].sum()) if not f.empty else 0,
                    "tokens": int(sum(int(f[t].sum()) for t in TOKENS)) if not f.empty else 0})
    unknown = sorted(a for a, b in arns.items() if not b)
    return {"models": out, "unknown_model_ids": unknown, "method": PROVISIONED_METHOD}

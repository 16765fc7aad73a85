"""Stage 3, reconcile: logs vs CloudWatch vs the bill, every difference sized and named.

In: what the price stage wrote (``data/price_*.parquet``, ``data/price.json``).
Out: ``data/reconcile_*.parquet`` and ``summary.json`` (the per-model gaps, the application split and the verdict).

Modules: :mod:`ledger` (the exact per-model comparison and its gaps), :mod:`verdict` (the sentences),
:mod:`shares` (each application's share of the bill) and :mod:`stage` (files in, files out).
"""
from tracker_utils.reconcile.stage import run

__all__ = ["run"]

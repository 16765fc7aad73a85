"""Stage 3, reconcile: logs vs CloudWatch vs the bill, every difference sized and named.

In: what the price stage wrote (``data/price_*.parquet``, ``data/price.json``).
Out: ``data/reconcile_*.parquet`` and ``summary.json`` (the per-model gaps, the application split and the verdict).
"""
from tracker_utils.reconcile.ledger import run

__all__ = ["run"]

"""Bedrock Usage Tracker: what did we spend on Amazon Bedrock, on which model, for which application, and does it
match the bill?

The package reads as the pipeline. Each stage is a sub-package with a ``run(cfg)`` that one notebook calls; a stage
reads only the files earlier stages wrote (declared in :mod:`tracker_utils.schema`), never their code:

    collect/    01_collect   logs, CloudWatch and the bill  -> data/collect_*.parquet, collect.json
    price/      02_price     usage x the price book          -> data/price_*.parquet, price.json
    reconcile/  03_reconcile logs vs CloudWatch vs the bill  -> data/reconcile_*.parquet, summary.json
    report/     04_report    the pages a manager reads, the roll-up, chargeback, the explorer
    run/        papermill execution, the batch runner and the ``bedrock-tracker`` CLI
    demo/       the seeded demo account and its ground truth

Shared modules, imported by every stage and importing none: :mod:`~tracker_utils.config` (parameters),
:mod:`~tracker_utils.money` (the Decimal policy), :mod:`~tracker_utils.schema` (columns and stage files),
:mod:`~tracker_utils.gaps` (the gap kinds), :mod:`~tracker_utils.io` (atomic files), :mod:`~tracker_utils.apps`
(principals and application rules) and :mod:`~tracker_utils.usage_types` (the bill's usage-type vocabulary).
The arrows are checked by import-linter (``[tool.importlinter]`` in pyproject.toml).
"""

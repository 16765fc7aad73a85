"""Column vocabularies and the files each stage reads and writes: declared once, used by every stage.

A stage reads only the files of earlier stages, by the names declared here, never their code.
"""
from __future__ import annotations

# --- columns ---------------------------------------------------------------------------------------------------
TOKENS = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]
COUNTS = ["invocations", *TOKENS]
# The cache-write split by TTL, read from the response body's usage block. Not in TOKENS (which is summed as the
# tokens of a record): ``cache_write_1h_tokens`` is the 1-hour part of ``cache_write_tokens`` (the 5-minute part is
# the difference); ``cache_ttl_assumed`` counts records with cache writes and no TTL detail (priced as 5 minutes).
TTL_COLUMNS = ["cache_write_1h_tokens", "cache_ttl_assumed"]

# --- stage files (under outputs/<date>/<region>/data/, except summary.json and run.json one level up) --------------
class COLLECT:
    """Written by collect (stage 1)."""
    LOGS = "collect_logs.parquet"                 # records of the day (ids, counts; never prompts)
    LOGS_LATE = "collect_logs_late.parquet"       # records delivered after the collection time
    QUARANTINE = "collect_quarantine.parquet"     # bad input: kind, file, line, request id, reason (no bodies)
    MANIFEST = "collect_logs_manifest.json"       # objects read (key, size, ETag): re-runs on unchanged input are free
    CLOUDWATCH = "collect_cloudwatch.parquet"     # hourly AWS/Bedrock metric sums per model id
    BILL = "collect_bill.parquet"                 # bill lines (Cost Explorer or CUR)
    FILES = "collect_files.json"                  # log objects seen, for late-delivery detection
    BATCH = "collect_batch.parquet"               # batch inference jobs of the day and their manifests' counts
    SUMMARY = "collect.json"                      # counts, sources, data quality
    OPERATIONS = "collect_operations.parquet"     # per hour and model id: latency p50/p90/p99, throttles, errors
    OPERATIONS_MODELS = "collect_operations_models.parquet"  # per model id: the day's peak minute vs its TPM/RPM quota
    QUOTAS = "collect_quotas.parquet"             # the account's Bedrock tokens/requests-per-minute quotas


class PRICE:
    """Written by price (stage 2)."""
    LOGS = "price_logs.parquet"                   # usage per hour, model, principal and application, priced
    LOGS_LATE = "price_logs_late.parquet"
    CLOUDWATCH = "price_cloudwatch.parquet"       # CloudWatch usage priced at the book
    BILL = "price_bill.parquet"                   # bill lines matched to the book
    BATCH = "price_batch.parquet"                 # batch jobs priced at the batch rate, with their application
    SUMMARY = "price.json"


class RECONCILE:
    """Written by reconcile (stage 3)."""
    HOURLY = "reconcile_hourly.parquet"           # logs vs CloudWatch per hour and model id
    USAGE_TYPES = "reconcile_usage_types.parquet" # bill vs CloudWatch vs logs per usage type
    SUMMARY = "summary.json"                      # in data/; the runner copies it one level up last, atomically


class RUN:
    """Written by the runner."""
    SUMMARY = "summary.json"                      # its presence means the date and region is complete
    RUN = "run.json"
    PARAMS = "params.snapshot.json"               # in data/: the validated params, frozen, that the kernels load

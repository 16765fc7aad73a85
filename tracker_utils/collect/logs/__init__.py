"""Bedrock model invocation logs: gzipped JSON lines in, one tidy frame of counts and ids out.

Prompts and responses never leave this package: a record is reduced to its ids, timestamps and token counts as
soon as it is parsed. Every line read is accounted for: used, outside the day, delivered after the collection
time (late), or quarantined with its file, line and reason.

How it runs in bounded memory at the speed of the disk (``benchmarks/collect.py`` measures it):

- an object is inflated with ISA-L in 4 MiB pieces and cut into lines without copying; each line is parsed exactly
  with orjson (a scan for the few fields would be fooled by tool schemas or stream events that carry real
  ``inputTokenCount`` keys inside a body), and only the ids, times and counts are kept;
- objects are spread over ``workers`` processes started with ``spawn`` (the reading path imports neither pandas nor
  pyarrow, so a worker stays near 45 MB). Local files are streamed from disk by the workers; any other reader (an S3
  download, a closure over a client) is called in the parent by a few threads and the bytes go to the workers;
- a worker spills its rows, dictionary-encoded, in batches of ``BATCH_ROWS`` to a part file; the parent keeps one
  64-bit hash per record (8 bytes), finds the hashes seen twice, and in a second pass over the parts settles
  duplicates exactly (by comparing the request ids themselves), splits the day, the late and the outside rows, and
  streams them into ``collect_logs.parquet`` and ``collect_logs_late.parquet`` row group by row group;
- with ``out_dir`` (what ``collect.run`` passes) the frames in the result are read from those files on first use,
  and a manifest (``collect_logs_manifest.json``) makes a re-run over unchanged objects (same keys, sizes, ETags,
  day, collection time, mode and parser) return at once without reading anything.

The package, in reading order: :mod:`listing` (where the objects are), :mod:`records` (one record), :mod:`scan`
(one object), :mod:`spill` (rows to part files, id hashes), :mod:`pool` (many objects side by side), :mod:`store`
(parquet files and manifest) and :mod:`collection` (the two passes). Import names from here.
"""
from tracker_utils.collect.logs.collection import collect, frame, parse_object
from tracker_utils.collect.logs.listing import (
    FILE_TS, PERMISSION_CHECK, LocalFile, LogObject, delivered_at_from_key, hour_prefixes, is_log_key, list_local,
    local_object, log_base,
)
from tracker_utils.collect.logs.pool import default_workers
from tracker_utils.collect.logs.records import (
    COLUMNS, DICT_COLUMNS, INT_COLUMNS, OPERATIONS, QUARANTINE_COLUMNS, SCHEMA_TYPE, SCHEMA_VERSIONS, StrictError,
)
from tracker_utils.collect.logs.scan import MAX_LINE_BYTES
from tracker_utils.collect.logs.store import (
    CACHE_VERSION, LATE_FILE, MANIFEST_FILE, QUARANTINE_FILE, USED_FILE, LogsResult,
)

__all__ = [
    "CACHE_VERSION", "COLUMNS", "DICT_COLUMNS", "FILE_TS", "INT_COLUMNS", "LATE_FILE", "MANIFEST_FILE",
    "MAX_LINE_BYTES", "OPERATIONS", "PERMISSION_CHECK", "QUARANTINE_COLUMNS", "QUARANTINE_FILE", "SCHEMA_TYPE",
    "SCHEMA_VERSIONS", "USED_FILE", "LocalFile", "LogObject", "LogsResult", "StrictError", "collect",
    "default_workers", "delivered_at_from_key", "frame", "hour_prefixes", "is_log_key", "list_local", "local_object", "log_base",
    "parse_object",
]

"""Stage 1, collect: read the three sources for one date and region, and write tidy files.

In: the invocation logs (gzipped JSON lines, from a folder laid out like S3, from S3 itself, or through Athena),
CloudWatch ``AWS/Bedrock`` metrics and the bill (Cost Explorer pages or a CUR 2.0 export).
Out: ``data/collect_*.parquet`` and ``data/collect.json`` (see :mod:`tracker_utils.schema`). Prompts and responses
never leave this stage.
"""
from tracker_utils.collect.stage import run

__all__ = ["run"]

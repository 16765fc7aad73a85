"""The account's CUR 2.0 export, found with AWS Data Exports (``bcm-data-exports``), when no ``cur:`` URI is given.

``ListExports`` (every page) names the exports; ``GetExport`` says what each one queries and where it writes. A CUR
2.0 export queries ``COST_AND_USAGE_REPORT`` and writes ``s3://<bucket>/<prefix>/<export name>/data/``
(``BILLING_PERIOD=YYYY-MM/`` folders of parquet or csv.gz files): that is the URI a run reads. Data Exports has one
endpoint, ``us-east-1``.
"""
from __future__ import annotations

from tracker_utils.collect.aws import AwsAccessError, aws_errors, explain

EXPORTS_REGION = "us-east-1"


def _uri(dest: dict, name: str) -> str:
    s3 = dest.get("S3Destination") or {}
    prefix = str(s3.get("S3Prefix") or "").strip("/")
    return f"s3://{s3.get('S3Bucket', '')}/{prefix + '/' if prefix else ''}{name}/data/"


def cur_exports(ctx) -> list[dict]:
    """Every CUR 2.0 export of the account: ``{"name", "arn", "uri", "status"}``, sorted by name."""
    client = ctx.client("bcm-data-exports", EXPORTS_REGION)
    op, out = "ListExports", []
    try:
        refs = [e for page in client.get_paginator("list_exports").paginate() for e in page.get("Exports", [])]
        op = "GetExport"
        for ref in refs:
            ex = client.get_export(ExportArn=ref["ExportArn"]).get("Export", {})
            query = str((ex.get("DataQuery") or {}).get("QueryStatement", "")).upper()
            if "COST_AND_USAGE_REPORT" not in query:
                continue                  # FOCUS, cost optimisation or carbon exports
            name = ex.get("Name") or ref.get("ExportName", "")
            out.append({"name": name, "arn": ref["ExportArn"], "uri": _uri(ex.get("DestinationConfigurations") or {}, name),
                        "status": str((ref.get("ExportStatus") or {}).get("StatusCode", ""))})
    except aws_errors() as e:
        raise explain(e, "bcm-data-exports", op) from None
    return sorted(out, key=lambda e: e["name"])


def find_cur_export(ctx) -> dict:
    """The CUR 2.0 export a run reads (the first healthy one by name); one clear line when there is none."""
    found = cur_exports(ctx)
    if not found:
        raise AwsAccessError("NoCurExport: no CUR 2.0 export (COST_AND_USAGE_REPORT) found with "
                             "bcm-data-exports:ListExports; create one (Billing console, Data Exports) or set cur:")
    healthy = [e for e in found if e["status"] in ("", "HEALTHY")] or found
    return {**healthy[0], "others": [e["name"] for e in found if e is not healthy[0]]}

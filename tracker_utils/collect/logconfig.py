"""Where Bedrock delivers the invocation logs of a region: ``bedrock:GetModelInvocationLoggingConfiguration``.

Used three ways: ``bedrock-tracker doctor`` shows it and compares it with the params; a ``run`` with ``logs_bucket``
empty takes the bucket and prefix from it (:func:`discover`); and a collection that finds no log object under the
configured prefix names the configured place next to it (:func:`location_finding`).

The configuration is read as :func:`read` returns it::

    {"region": "us-east-1", "enabled": True, "s3_bucket": "b", "s3_prefix": "p", "cloudwatch_log_group": "",
     "data_types": {"text": True, "image": False, "embedding": False, "video": False}}

``enabled`` is true when logs go to S3 or CloudWatch Logs; the kit reads the S3 copy only.
"""
from __future__ import annotations

from tracker_utils.text import count
from tracker_utils.collect.aws import AwsAccessError, AwsContext, aws_errors, explain

DATA_TYPES = {"text": "textDataDeliveryEnabled", "image": "imageDataDeliveryEnabled",
              "embedding": "embeddingDataDeliveryEnabled", "video": "videoDataDeliveryEnabled"}


def parse(response: dict, region: str) -> dict:
    """The ``loggingConfig`` of a GetModelInvocationLoggingConfiguration response, in the kit's words."""
    cfg = (response or {}).get("loggingConfig") or {}
    s3c = cfg.get("s3Config") or {}
    cwc = cfg.get("cloudWatchConfig") or {}
    bucket = str(s3c.get("bucketName") or "")
    group = str(cwc.get("logGroupName") or "")
    return {"region": region, "enabled": bool(bucket or group), "s3_bucket": bucket,
            "s3_prefix": str(s3c.get("keyPrefix") or "").strip("/"), "cloudwatch_log_group": group,
            "data_types": {k: bool(cfg.get(v, False)) for k, v in DATA_TYPES.items()}}


def read(ctx: AwsContext) -> dict:
    """The region's logging configuration (see the module docstring); AwsAccessError names the IAM action."""
    try:
        resp = ctx.client("bedrock").get_model_invocation_logging_configuration()
    except aws_errors() as e:
        raise explain(e, "bedrock", "GetModelInvocationLoggingConfiguration") from None
    return parse(resp, ctx.region)


def s3_uri(bucket: str, prefix: str) -> str:
    """``s3://bucket/prefix/`` (``s3://bucket/`` at the root)."""
    p = prefix.strip("/")
    return f"s3://{bucket}/" + (p + "/" if p else "")


def discover(params, region: str) -> dict:
    """The bucket and prefix a run with ``logs_bucket`` empty reads in ``region``: ``{"logs_bucket", "logs_prefix",
    "region", "from": "GetModelInvocationLoggingConfiguration"}``. One clear line when there is none to take."""
    conf = read(AwsContext.from_params(params, region))
    if not conf["s3_bucket"]:
        where = (f"to CloudWatch Logs only ({conf['cloudwatch_log_group']})" if conf["enabled"] else "off")
        raise AwsAccessError(f"logs_bucket is empty and model invocation logging in {region} is {where}: turn on "
                             f"S3 delivery (Bedrock console, Settings) or set logs_bucket/logs_prefix")
    return {"region": region, "logs_bucket": conf["s3_bucket"], "logs_prefix": conf["s3_prefix"],
            "from": "GetModelInvocationLoggingConfiguration"}


def location_finding(ctx: AwsContext | None, bucket: str, base: str, date: str, invocations: int) -> dict:
    """The ``data_quality["logs_location"]`` finding: no log object under the configured place for the whole day
    while CloudWatch counts ``invocations``. ``base`` is the key prefix listed (``<prefix>/AWSLogs/<account>/
    BedrockModelInvocationLogs/<region>``); ``ctx`` (None for a local source) reads where logging is configured.

    Shape: ``{"configured": "s3://b/<base>/", "discovered": "s3://b2/p2/" | None, "discovered_error": str (only when
    the configuration could not be read), "logging": "s3" | "cloudwatch_only" | "off" | "unknown", "objects": 0,
    "cloudwatch_invocations": N, "finding": "<one sentence>"}``."""
    configured = f"s3://{bucket}/{base.strip('/')}/"
    out: dict = {"configured": configured, "discovered": None, "logging": "unknown", "objects": 0,
                 "cloudwatch_invocations": int(invocations)}
    where = "the logging configuration was not read (local source)"
    if ctx is not None:
        try:
            conf = read(ctx)
        except AwsAccessError as e:
            out["discovered_error"] = str(e)
            where = f"the logging configuration could not be read ({e})"
        else:
            if conf["s3_bucket"]:
                out["logging"] = "s3"
                out["discovered"] = s3_uri(conf["s3_bucket"], conf["s3_prefix"])
                if out["discovered"] == s3_uri(bucket, _prefix_of(base)):
                    where = (f"logging is configured to that place ({out['discovered']}): delivery failed or "
                             f"logging was off that day")
                else:
                    where = f"logging is configured to {out['discovered']}"
            else:
                out["logging"] = "cloudwatch_only" if conf["enabled"] else "off"
                where = ("logging delivers to CloudWatch Logs only" if conf["enabled"]
                         else f"model invocation logging is off in {ctx.region}")
    out["finding"] = (f"no log objects under {configured} for {date} while CloudWatch counts "
                      f"{count(int(invocations), 'invocation')}; {where}")
    return out


def started_finding(times: list, cw, date: str) -> dict | None:
    """``data_quality["logging_started"]``: the day's first log record is at hour H > 0 while CloudWatch counts
    invocations in earlier hours, and no log delivery (success or failure) is recorded in them: logging was switched
    on that day. ``times`` are the timestamps of the day's records (on time and late), ``cw`` the hourly CloudWatch
    frame. Those hours stay a missing delivery (never unexplained); this names why, in one line. None otherwise
    (no records at all is :func:`location_finding`; a delivery failure before H is a logging outage)."""
    import pandas as pd
    if not len(times) or not len(cw):
        return None
    first = pd.Timestamp(min(times))
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    start = first.floor("h")
    before = cw[pd.to_datetime(cw["hour"], utc=True) < start]
    inv = before[(before["metric"] == "Invocations") & (before["model_id"] != "")]
    delivered = before[before["metric"].isin(["ModelInvocationLogsS3DeliverySuccess",
                                              "ModelInvocationLogsS3DeliveryFailure"])]["value"].sum()
    n = int(inv["value"].sum())
    if start.hour == 0 or n <= 0 or delivered > 0:
        return None
    hours = sorted({pd.Timestamp(h).hour for h in inv.loc[inv["value"] > 0, "hour"]})
    span = f"{hours[0]:02d}:00" + (f"-{hours[-1]:02d}:00" if len(hours) > 1 else "")
    return {"first_record_at": first.isoformat(), "hours_before": hours, "cloudwatch_invocations_before": n,
            "finding": f"logging started at {first:%H:%M} UTC on {date}: there is no log record before then, while "
                       f"CloudWatch counts {count(n, 'invocation')} in {count(len(hours), 'earlier hour')} ({span} "
                       f"UTC) with no log delivery; that usage was never logged (a missing delivery, not unexplained)"}


def _prefix_of(base: str) -> str:
    """The configured key prefix of a log base (``p/AWSLogs/<account>/...`` -> ``p``)."""
    head = base.strip("/").split("AWSLogs/", 1)[0]
    return head.strip("/")


__all__ = ["DATA_TYPES", "discover", "location_finding", "parse", "read", "s3_uri", "started_finding"]

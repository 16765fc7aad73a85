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


def _prefix_of(base: str) -> str:
    """The configured key prefix of a log base (``p/AWSLogs/<account>/...`` -> ``p``)."""
    head = base.strip("/").split("AWSLogs/", 1)[0]
    return head.strip("/")


__all__ = ["DATA_TYPES", "discover", "location_finding", "parse", "read", "s3_uri"]

"""``bedrock-tracker doctor``: check, read-only, that a run against this AWS account would work, before running it.

Per region (and once for the account) it checks, in this order, and reports one row per check:

- ``identity``: ``sts:GetCallerIdentity`` (the account the credentials belong to) against ``params.account``;
- ``logging``: the model invocation logging configuration (on or off, the S3 bucket and key prefix, the data types
  delivered), with ``bedrock:GetModelInvocationLoggingConfiguration``;
- ``params``: that ``logs_bucket``/``logs_prefix`` name the place logging is configured to, with the fix;
- ``log objects``: log objects of the last ``days`` days (``s3:ListBucket``, one listing per day folder, at most
  1,000 keys each) where a run would read, and where logging is configured when that differs;
- ``read object``: ``s3:HeadObject`` of one of them (the ``s3:GetObject`` permission, nothing downloaded);
- ``cloudwatch``: the ``AWS/Bedrock`` models ListMetrics sees and whether the delivery metrics exist, then one small
  GetMetricData query (``cloudwatch:ListMetrics``, ``cloudwatch:GetMetricData``);
- ``quotas``: ``servicequotas:ListServiceQuotas``, the Bedrock rate quotas, and the models CloudWatch sees that have
  no tokens-per-minute quota (the operations view's headroom; a denial is a warning);
- ``bill``: Cost Explorer only with ``check_bill`` (each request costs $0.01: GetDimensionValues and one
  GetCostAndUsage for yesterday); for ``cost_source: cur`` that the export's local path or ``s3://`` URI holds files;
  with ``cur:`` empty the export is found first with ``bcm-data-exports:ListExports`` and ``GetExport`` (a
  ``cur export`` row).

A failed call is a row naming the IAM action (:class:`tracker_utils.collect.aws.AwsAccessError`). Statuses: ``ok``,
``warn`` (a run works but says less), ``fail`` (a run would fail or read the wrong place), ``skip`` (not checked).
:func:`check` returns ``{"account", "arn", "regions", "checks": [rows], "discovered": {region: {...}}, "ok"}``;
``ok`` is true when no row failed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

from tracker_utils.collect import logconfig
from tracker_utils.collect import logs as logsrc
from tracker_utils.collect.aws import CE_REGION, AwsAccessError, AwsContext, aws_errors, explain
from tracker_utils.collect.cloudwatch import DELIVERY_METRICS, metric_query
from tracker_utils.text import count

DAYS = 3                 # days of log objects looked for, ending today (UTC)
LIST_MAX_KEYS = 1000     # one listing page per day folder


@dataclass
class Row:
    region: str          # "" for the account
    check: str
    status: str          # ok | warn | fail | skip
    detail: str
    fix: str = ""


def check(params, regions: list[str] | None = None, check_bill: bool = False, until: dt.date | None = None,
          days: int = DAYS, bill: bool = True) -> dict:
    """Every check for the account and each region (see the module docstring). ``bill`` False: no bill row (an
    organization's member: the bill is the payer's, checked once, see :mod:`tracker_utils.collect.doctor_org`)."""
    regions = list(regions or params.regions)
    until = until or dt.datetime.now(dt.timezone.utc).date()
    rows: list[Row] = []
    ident = _guard(rows, "", "identity", _identity, params, regions[0], rows) or {}
    account = ident.get("account") or params.account
    if params.source != "aws":
        rows.append(Row("", "params", "warn", f"the params are for source {params.source}: the checks read each "
                        f"region's logging configuration; --write-params FILE writes a params file for this account"))
        params = dataclasses.replace(params, source="aws", logs_bucket="", logs_prefix="", account=account)
    discovered: dict = {}
    for region in regions:
        ctx = AwsContext.from_params(params, region)
        conf = _guard(rows, region, "logging", _logging, ctx, rows)
        if conf and conf["s3_bucket"]:
            discovered[region] = {"logs_bucket": conf["s3_bucket"], "logs_prefix": conf["s3_prefix"]}
        _params_match(params, region, conf, rows)
        _guard(rows, region, "log objects", _log_objects, ctx, params, conf, account, until, days, rows)
        models = _guard(rows, region, "cloudwatch", _cloudwatch, ctx, rows, params)
        _guard(rows, region, "quotas", _quotas, ctx, models or [], rows)
    if bill:
        _guard(rows, "", "bill", _bill, params, regions[0], check_bill, until, rows)
    return {"account": ident.get("account", ""), "arn": ident.get("arn", ""), "regions": regions,
            "until": until.isoformat(), "days": days, "checks": [asdict(r) for r in rows],
            "discovered": discovered, "ok": not any(r.status == "fail" for r in rows)}


def _guard(rows: list[Row], region: str, name: str, fn, *args):
    """``fn(*args)``; a failure that is not an access error (no such bucket, no endpoint) is a fail row too."""
    from botocore.exceptions import BotoCoreError
    try:
        return fn(*args)
    except AwsAccessError as e:
        rows.append(Row(region, name, "fail", str(e)))
    except (*aws_errors(), BotoCoreError) as e:
        rows.append(Row(region, name, "fail", f"{type(e).__name__}: {e}".replace("\n", " ")[:300]))
    return None


def _identity(params, region: str, rows: list[Row]) -> dict:
    ctx = AwsContext.from_params(params, region)
    try:
        resp = ctx.client("sts").get_caller_identity()
    except aws_errors() as e:
        rows.append(Row("", "identity", "fail", str(explain(e, "sts", "GetCallerIdentity"))))
        return {}
    except AwsAccessError as e:
        rows.append(Row("", "identity", "fail", str(e)))
        return {}
    account, arn = str(resp.get("Account", "")), str(resp.get("Arn", ""))
    if params.source == "aws" and account and account != params.account:
        rows.append(Row("", "identity", "fail", f"the credentials are of account {account} ({arn}); the params say "
                        f"account {params.account}", fix=f"set account: \"{account}\""))
    else:
        rows.append(Row("", "identity", "ok", f"account {account} as {arn}"))
    return {"account": account, "arn": arn}


def _logging(ctx: AwsContext, rows: list[Row]) -> dict | None:
    try:
        conf = logconfig.read(ctx)
    except AwsAccessError as e:
        rows.append(Row(ctx.region, "logging", "fail", str(e)))
        return None
    types = conf["data_types"]
    delivered = ", ".join(k for k, on in types.items() if on) or "none"
    not_delivered = ", ".join(k for k, on in types.items() if not on)
    kinds = f"data types delivered: {delivered}" + (f" (not: {not_delivered})" if not_delivered else "")
    if conf["s3_bucket"]:
        rows.append(Row(ctx.region, "logging", "ok", f"on, to {logconfig.s3_uri(conf['s3_bucket'], conf['s3_prefix'])}"
                        + (f" and CloudWatch Logs {conf['cloudwatch_log_group']}" if conf["cloudwatch_log_group"] else "")
                        + f"; {kinds}"))
    elif conf["enabled"]:
        rows.append(Row(ctx.region, "logging", "fail", f"on, to CloudWatch Logs {conf['cloudwatch_log_group']} only; "
                        f"the kit reads the S3 copy; {kinds}", fix="add S3 delivery (Bedrock console, Settings, "
                        "Model invocation logging: S3 or Both)"))
    else:
        rows.append(Row(ctx.region, "logging", "fail", "model invocation logging is off",
                        fix="turn it on with S3 delivery (Bedrock console, Settings, Model invocation logging)"))
    return conf


def _params_match(params, region: str, conf: dict | None, rows: list[Row]) -> None:
    if conf is None or not conf["s3_bucket"]:
        rows.append(Row(region, "params", "skip", "no S3 logging configuration to compare logs_bucket/logs_prefix with"))
        return
    there = logconfig.s3_uri(conf["s3_bucket"], conf["s3_prefix"])
    if not params.logs_bucket:
        rows.append(Row(region, "params", "ok", f"logs_bucket is empty: a run reads {there} (the logging configuration)"))
        return
    said = logconfig.s3_uri(params.logs_bucket, params.logs_prefix)
    if said == there:
        rows.append(Row(region, "params", "ok", f"logs_bucket/logs_prefix name {there}"))
        return
    rows.append(Row(region, "params", "fail", f"the params say {said}; logging is configured to {there}",
                    fix=f"set logs_bucket: {conf['s3_bucket']} and logs_prefix: \"{conf['s3_prefix']}\" (or leave "
                        f"logs_bucket empty to read the logging configuration; --write-params FILE writes them)"))


def _count_day(ctx: AwsContext, bucket: str, base: str, day: dt.date) -> tuple[int, str]:
    """Log objects in the day folder (at most LIST_MAX_KEYS) and one of their keys."""
    prefix = f"{base}/{day:%Y/%m/%d}/"
    try:
        resp = ctx.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=LIST_MAX_KEYS)
    except aws_errors() as e:
        raise explain(e, "s3", "ListObjectsV2", f"arn:aws:s3:::{bucket}") from None
    keys = [o["Key"] for o in resp.get("Contents", []) or [] if logsrc.is_log_key(o["Key"])]
    return len(keys), (keys[0] if keys else "")


def _objects_in(ctx: AwsContext, bucket: str, prefix: str, account: str, until: dt.date, days: int) -> dict:
    base = logsrc.log_base(prefix, account, ctx.region)
    per_day, key = {}, ""
    for i in range(days - 1, -1, -1):
        d = until - dt.timedelta(days=i)
        n, k = _count_day(ctx, bucket, base, d)
        per_day[d.isoformat()] = n
        key = key or k
    return {"where": f"s3://{bucket}/{base}/", "per_day": per_day, "total": sum(per_day.values()), "key": key,
            "bucket": bucket}


def _log_objects(ctx: AwsContext, params, conf: dict | None, account: str, until: dt.date, days: int,
                 rows: list[Row]) -> None:
    there = conf if conf and conf["s3_bucket"] else None
    bucket = params.logs_bucket or (there["s3_bucket"] if there else "")
    if not bucket:
        rows.append(Row(ctx.region, "log objects", "skip", "no bucket to look in"))
        return
    prefix = params.logs_prefix if params.logs_bucket else there["s3_prefix"]
    try:
        run = _objects_in(ctx, bucket, prefix, params.account, until, days)
        alt = None
        if there and logconfig.s3_uri(bucket, prefix) != logconfig.s3_uri(there["s3_bucket"], there["s3_prefix"]):
            alt = _objects_in(ctx, there["s3_bucket"], there["s3_prefix"], account, until, days)
    except AwsAccessError as e:
        rows.append(Row(ctx.region, "log objects", "fail", str(e)))
        return
    span = f"{(until - dt.timedelta(days=days - 1)).isoformat()}..{until.isoformat()}"
    found = ", ".join(f"{d} {n}" for d, n in run["per_day"].items())
    if run["total"]:
        rows.append(Row(ctx.region, "log objects", "ok", f"{found} under {run['where']}"))
    elif alt and alt["total"]:
        rows.append(Row(ctx.region, "log objects", "fail", f"no log objects under {run['where']} for {span}; "
                        f"{count(alt['total'], 'log object')} under {alt['where']}, where logging is configured",
                        fix="read the configured place (see params)"))
    else:
        rows.append(Row(ctx.region, "log objects", "warn", f"no log objects under {run['where']} for {span} "
                        f"(no usage logged those days, or delivery fails: see the delivery metrics)"))
    _read_one(ctx, (run if run["total"] else alt) or run, rows)


def _read_one(ctx: AwsContext, found: dict, rows: list[Row]) -> None:
    if not found["key"]:
        rows.append(Row(ctx.region, "read object", "skip", "no log object to read (s3:GetObject not exercised)"))
        return
    try:
        ctx.client("s3").head_object(Bucket=found["bucket"], Key=found["key"])
    except aws_errors() as e:
        err = explain(e, "s3", "HeadObject", f"arn:aws:s3:::{found['bucket']}/{found['key']}")
        rows.append(Row(ctx.region, "read object", "fail", str(err)))
        return
    rows.append(Row(ctx.region, "read object", "ok", f"s3:GetObject allowed on s3://{found['bucket']}/{found['key']}"))


def _cloudwatch(ctx: AwsContext, rows: list[Row], params=None) -> None:
    """With ``cloudwatch_account`` the metrics are read as a run reads them: through the monitoring account."""
    from tracker_utils.collect.accounts import monitoring_context
    mon, source = monitoring_context(params, ctx.region) if params is not None else (None, "")
    cw = (mon or ctx).client("cloudwatch")
    linked = {"IncludeLinkedAccounts": True, "OwningAccount": source} if source else {}
    models, delivery = set(), set()
    try:
        for page in cw.get_paginator("list_metrics").paginate(Namespace="AWS/Bedrock", **linked):
            for m in page.get("Metrics", []) or []:
                dims = {d["Name"]: d["Value"] for d in m.get("Dimensions") or []}
                if "ModelId" in dims:
                    models.add(dims["ModelId"])
                if m.get("MetricName") in DELIVERY_METRICS:
                    delivery.add(m["MetricName"])
    except aws_errors() as e:
        rows.append(Row(ctx.region, "cloudwatch", "fail", str(explain(e, "cloudwatch", "ListMetrics"))))
        return
    try:
        t1 = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
        cw.get_metric_data(StartTime=t1 - dt.timedelta(hours=1), EndTime=t1,
                           MetricDataQueries=[metric_query("doctor", "Invocations", [], 3600, "Sum", source)])
    except aws_errors() as e:
        rows.append(Row(ctx.region, "cloudwatch", "fail", str(explain(e, "cloudwatch", "GetMetricData"))))
        return
    shown = ", ".join(sorted(models)[:8]) + (f" and {len(models) - 8} more" if len(models) > 8 else "")
    dl = (f"delivery metrics: {', '.join(sorted(delivery))}" if delivery
          else "no delivery metrics (ModelInvocationLogsS3Delivery*): delivery cannot be checked against them")
    via = f" through monitoring account {mon.account}" if source else ""
    if models:
        rows.append(Row(ctx.region, "cloudwatch", "ok" if delivery else "warn",
                        f"{count(len(models), 'model')} seen in AWS/Bedrock{via} ({shown}); {dl}"))
        return sorted(models)
    else:
        rows.append(Row(ctx.region, "cloudwatch", "warn", f"no AWS/Bedrock model metrics in the last two weeks: "
                        f"usage cannot be reconciled against CloudWatch; {dl}"))


def _quotas(ctx: AwsContext, models: list[str], rows: list[Row]) -> None:
    """``servicequotas:ListServiceQuotas`` (the operations view's headroom): the rate quotas, and the models seen
    in CloudWatch that have none. Optional for a run, so a denial is a warning."""
    from tracker_utils.collect import quotas
    pages = []
    try:
        for page in ctx.client("service-quotas").get_paginator("list_service_quotas").paginate(ServiceCode="bedrock"):
            pages.append(page)
    except aws_errors() as e:
        rows.append(Row(ctx.region, "quotas", "warn", f"{explain(e, 'service-quotas', 'ListServiceQuotas')}: the "
                        f"operations view will say the quotas are unknown"))
        return
    df = quotas.parse_quotas({"pages": pages})
    without = [m for m in models if quotas.match(m, df)["tpm"] is None]
    rows.append(Row(ctx.region, "quotas", "ok" if len(df) and not without else "warn",
                    f"{count(len(df), 'tokens/requests-per-minute quota')} for Bedrock"
                    + (f"; no tokens-per-minute quota found for {', '.join(without[:5])}"
                       + (f" and {len(without) - 5} more" if len(without) > 5 else "") if without else "")))


def _bill(params, region: str, check_bill: bool, until: dt.date, rows: list[Row]) -> None:
    if params.cost_source == "none":
        rows.append(Row("", "bill", "skip", "cost_source is none: nothing is reconciled against money"))
    elif params.cost_source == "cur":
        rows.append(_cur_row(params, region, rows))
    elif not check_bill:
        rows.append(Row("", "bill", "skip", "Cost Explorer not called (each request costs $0.01): "
                        "--check-bill calls it twice"))
    else:
        rows.append(_cost_explorer_row(params, region, until))


def _cost_explorer_row(params, region: str, until: dt.date) -> Row:
    ce = AwsContext.from_params(params, region).client("ce", CE_REGION)
    day = until - dt.timedelta(days=1)
    period = {"Start": day.isoformat(), "End": until.isoformat()}
    op = "GetDimensionValues"
    try:
        ce.get_dimension_values(TimePeriod=period, Dimension="SERVICE", SearchString="Bedrock")
        op = "GetCostAndUsage"
        ce.get_cost_and_usage(TimePeriod=period, Granularity="DAILY", Metrics=["UnblendedCost"],
                              Filter={"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"]}})
    except aws_errors() as e:
        return Row("", "bill", "fail", str(explain(e, "ce", op)))
    return Row("", "bill", "ok", f"Cost Explorer answers GetDimensionValues and GetCostAndUsage ({day}; $0.02)")


def _cur_export(params, region: str, rows: list[Row]) -> str:
    """No ``cur:`` given: the account's CUR 2.0 export, found with ``bcm-data-exports:ListExports``."""
    from tracker_utils.collect import exports
    found = exports.find_cur_export(AwsContext.from_params(params, region))
    others = f" (also: {', '.join(found['others'])})" if found["others"] else ""
    rows.append(Row("", "cur export", "ok", f"CUR 2.0 export {found['name']} found with ListExports, writing to "
                    f"{found['uri']}{others}; with cur: empty a run reads it", fix="" if params.cur else
                    f"or set cur: {found['uri']}"))
    return found["uri"]


def _cur_row(params, region: str, rows: list[Row] | None = None) -> Row:
    uri = params.cur
    if not uri:
        try:
            uri = _cur_export(params, region, rows if rows is not None else [])
        except AwsAccessError as e:
            return Row("", "bill", "fail", str(e), fix="set cur: to the export's s3:// URI (Billing console, Data Exports)")
    if not uri.startswith("s3://"):
        from tracker_utils.config import resolve_path
        path = resolve_path(uri)
        files = ([path] if path.is_file() else
                 [p for p in path.rglob("*") if p.name.endswith((".parquet", ".csv.gz", ".csv"))] if path.is_dir() else [])
        if files:
            return Row("", "bill", "ok", f"CUR export: {count(len(files), 'file')} at {path}")
        return Row("", "bill", "fail", f"CUR export: no .parquet/.csv.gz/.csv file at {path}",
                   fix="set cur: to the export's path or s3:// URI")
    bucket, _, prefix = uri[5:].partition("/")
    try:
        resp = AwsContext.from_params(params, region).client("s3").list_objects_v2(
            Bucket=bucket, Prefix=prefix, MaxKeys=LIST_MAX_KEYS)
    except aws_errors() as e:
        return Row("", "bill", "fail", str(explain(e, "s3", "ListObjectsV2", f"arn:aws:s3:::{bucket}")))
    n = sum(o["Key"].endswith((".parquet", ".csv.gz", ".csv")) for o in resp.get("Contents", []) or [])
    if n:
        return Row("", "bill", "ok", f"CUR export: {count(n, 'file')} under {uri}")
    return Row("", "bill", "fail", f"CUR export: no .parquet/.csv.gz/.csv object under {uri}",
               fix="set cur: to the export's s3:// URI (Billing console, Data Exports)")


def discovered_params(params, report: dict) -> dict:
    """The params (as a dict) a run should use, from what :func:`check` found: source aws, the account of the
    credentials, the regions logging to S3, and their bucket and prefix (``logs_bucket`` empty, so that each region
    reads its own configuration, when the regions log to different places)."""
    values = params.to_dict()
    found = report["discovered"]
    places = {(v["logs_bucket"], v["logs_prefix"]) for v in found.values()}
    values["source"] = "aws"
    if report.get("account"):
        values["account"] = report["account"]
    if found:
        values["regions"] = [r for r in report["regions"] if r in found]
    if len(places) == 1:
        values["logs_bucket"], values["logs_prefix"] = next(iter(places))
    elif places:
        values["logs_bucket"], values["logs_prefix"] = "", ""
    return values


def write_params(params, report: dict, path: str | Path) -> Path:
    """Write :func:`discovered_params` as a params YAML (validated by loading it back)."""
    import yaml

    from tracker_utils.config import load_params
    path = Path(path)
    values = discovered_params(params, report)
    head = (f"# written by bedrock-tracker doctor from account {report.get('account', '')}'s logging configuration "
            f"({', '.join(values['regions'])})\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + yaml.safe_dump(values, sort_keys=False))
    load_params(path)
    return path


def format_table(report: dict) -> str:
    """The report as a plain-text table, fixes under it, then the verdict."""
    rows = report["checks"]
    w = [max([len(h)] + [len(r[k] or "-") for r in rows]) for h, k in (("region", "region"), ("check", "check"),
                                                                        ("status", "status"))]
    out = [f"account {report['account'] or '?'} ({report['arn'] or 'identity unknown'}); regions "
           f"{', '.join(report['regions'])}; log objects looked for {report['days']} days to {report['until']}", ""]
    out.append(f"{'region':<{w[0]}}  {'check':<{w[1]}}  {'status':<{w[2]}}  detail")
    for r in rows:
        out.append(f"{r['region'] or '-':<{w[0]}}  {r['check']:<{w[1]}}  {r['status'].upper():<{w[2]}}  {r['detail']}")
    fixes = [r for r in rows if r["fix"]]
    if fixes:
        out.append("")
        out += [f"fix ({r['region'] or 'account'}, {r['check']}): {r['fix']}" for r in fixes]
    failed = sum(r["status"] == "fail" for r in rows)
    out += ["", "a run would work" if report["ok"] else f"a run would not work: {count(failed, 'check')} failed"]
    return "\n".join(out)


__all__ = ["DAYS", "Row", "check", "discovered_params", "format_table", "write_params"]

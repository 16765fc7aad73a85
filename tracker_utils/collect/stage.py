"""Stage 1, collect: raw sources in, tidy frames out (``data/collect_*.parquet`` and ``data/collect.json``).

Sources: invocation logs (local folder laid out like S3, or S3 itself, or Athena), CloudWatch ``AWS/Bedrock``
metrics (recorded GetMetricData pages) and the bill (Cost Explorer pages or CUR 2.0 files). The raw CloudWatch and
Cost Explorer responses are kept under ``data/raw/`` in the demo's layout, so any run can be replayed offline.
Prompts and responses stop here: the frames hold counts and ids only.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass

import pandas as pd
from filelock import FileLock

from tracker_utils import handoff
from tracker_utils.config import RunConfig, resolve_path
from tracker_utils.io import read_json, write_json, write_parquet
from tracker_utils.collect import cloudwatch as cwsrc
from tracker_utils.collect import logs as logsrc
from tracker_utils.money import plain, to_series
from tracker_utils.schema import COLLECT

BEDROCK_FIRST_PARTY = "Amazon Bedrock"


def bill_scope(request: dict | None, params_scope: str) -> str:
    """'all' when the bill covers Marketplace (Amazon Bedrock Edition) lines, 'first_party' when a filter missed them."""
    if params_scope == "first_party":
        return "first_party"
    text = json.dumps((request or {}).get("Filter", {}))
    if '"SERVICE"' not in text:
        return "all"
    return "all" if "Amazon Bedrock Edition" in text else "first_party"


def _local_sources(cfg: RunConfig):
    p = cfg.params
    root = cfg.data_root
    base = logsrc.log_base(p.logs_prefix, p.account, cfg.region)
    bucket = root / "s3" / p.logs_bucket
    objs, skipped = logsrc.list_local(bucket, base, cfg.day, p.window_after_hours, boundary=root)
    listed = {o.key for o in objs}
    for entry in handoff.received(resolve_path(p.output_dir), cfg.region, cfg.date):
        if entry["key"] in listed:
            continue
        o, why = logsrc.local_object(bucket, entry["key"], boundary=root)
        if o is None:
            skipped[f"handed_over_{why}"] = skipped.get(f"handed_over_{why}", 0) + 1
        else:
            objs.append(o)
    if not root.exists():
        raise FileNotFoundError(f"data_root {root} does not exist (for the demo: bedrock-tracker demo, or make demo)")
    # a missing recording is a stated condition, not a failure: the status says what it limits
    cw_path = root / "cloudwatch" / cfg.region / f"{cfg.date}.json"
    if p.consolidated_bill and (root / "cloudwatch" / p.account).is_dir():     # an organization's recordings
        cw_path = root / "cloudwatch" / p.account / cfg.region / f"{cfg.date}.json"
    cw = read_json(cw_path) if cw_path.exists() else None
    ce = None
    if p.cost_source == "ce":
        ce_path = root / "costexplorer" / f"{cfg.date}.json"
        ce = read_json(ce_path) if ce_path.exists() else None
    sq_path = root / "servicequotas" / f"{cfg.region}.json"     # ListServiceQuotas pages (optional)
    return objs, skipped, cw, ce, None, None, read_json(sq_path) if sq_path.exists() else None


def _previous_collection(cfg: RunConfig) -> dict | None:
    """What an earlier collection of this date and region saw (its object manifest and collection time)."""
    try:
        as_of = read_json(cfg.data(COLLECT.SUMMARY))["as_of"]
        t = dt.datetime.fromisoformat(as_of)
        # objects delivered after that collection's time did not exist for it (the demo replays a point in time)
        files = {f["key"] for f in read_json(cfg.data(COLLECT.FILES))
                 if dt.datetime.fromisoformat(f["delivered_at"]) <= t}
        return {"files": files, "as_of": as_of}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _arrivals(previous: dict | None, res) -> dict | None:
    """Late delivery seen by collecting again: log objects that did not exist at the previous collection."""
    if previous is None:
        return None
    new = {f["key"] for f in res.files} - previous["files"]
    used = res.used[res.used["file"].isin(new)] if len(res.used) and new else res.used.iloc[0:0]
    if not len(used):
        return None        # nothing new: a re-run gives exactly the outputs of a single run
    hours = sorted({int(h) for h in used["timestamp"].dt.hour})
    return {"previous_as_of": previous["as_of"], "new_files": len(new), "new_records_of_day": int(len(used)),
            "hours": hours}


def _resolve_profiles(cfg: RunConfig, ctx, res) -> dict:
    """Application inference profiles and provisioned models seen in the logs and missing from the cache:
    GetInferenceProfile or GetProvisionedModelThroughput, cached."""
    from tracker_utils.collect import profiles
    ids = set(res.used["model_id"].astype(str).unique()) | set(res.late["model_id"].astype(str).unique())
    cache = resolve_path(cfg.params.prices_dir) / "inference_profiles.yaml"
    with FileLock(str(cache.with_suffix(".lock"))):      # regions may run in parallel
        try:
            added = profiles.resolve_missing(ids, cache, ctx.client("bedrock"))
        except Exception as e:  # noqa: BLE001 - the profile stays unpriced and is listed as such; say why
            return {"resolved": [], "error": f"{type(e).__name__}: {e}"[:300]}
    return {"resolved": sorted(added)} if added else {}


@dataclass
class _Sources:
    """What was found for one date and region, before anything is written."""
    objects: list
    skipped: dict
    cloudwatch: dict | None
    cost_explorer: dict | None
    ctx: object = None               # the AWS context, when reading from AWS
    athena: object = None            # a LogsResult already made by Athena
    quotas: dict | None = None       # ListServiceQuotas(ServiceCode="bedrock") pages, or {"error": ...}


def _discover_location(cfg: RunConfig) -> dict | None:
    """With ``logs_bucket`` empty (source aws), the bucket and prefix come from the region's logging configuration:
    ``cfg.params`` is replaced by one that names them (so every later step of this collection reads there) and they
    are written to ``data/params.yaml`` (a params file for this run). Returns what was discovered, or None."""
    import dataclasses

    import yaml

    from tracker_utils.collect import logconfig
    p = cfg.params
    if p.source != "aws" or p.logs_bucket:
        return None
    found = logconfig.discover(p, cfg.region)
    cfg.params = dataclasses.replace(p, logs_bucket=found["logs_bucket"], logs_prefix=found["logs_prefix"])
    head = (f"# the parameters of this run; logs_bucket and logs_prefix were read from the model invocation logging "
            f"configuration of {cfg.region}\n")
    text = head + yaml.safe_dump(cfg.params.to_dict(), sort_keys=False)
    path = cfg.data("params.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    tmp.replace(path)
    return found


def _location_finding(cfg: RunConfig, src: "_Sources", res, cw: pd.DataFrame) -> dict | None:
    """``data_quality["logs_location"]`` when not one log object was found under the configured prefix for the day
    while CloudWatch counts invocations (see :func:`tracker_utils.collect.logconfig.location_finding`)."""
    from tracker_utils.collect import logconfig
    invocations = int(cw.loc[(cw["metric"] == "Invocations") & (cw["hour"] < pd.Timestamp(cfg.day_end)), "value"].sum()) \
        if len(cw) else 0
    if invocations <= 0 or len(res.files) or len(src.objects):
        return None
    p = cfg.params
    base = logsrc.log_base(p.logs_prefix, p.account, cfg.region)
    return logconfig.location_finding(src.ctx if p.source == "aws" else None, p.logs_bucket, base, cfg.date,
                                      invocations)


def _started_finding(cfg: RunConfig, res, cw: pd.DataFrame) -> dict | None:
    """``data_quality["logging_started"]`` (see :func:`tracker_utils.collect.logconfig.started_finding`)."""
    from tracker_utils.collect import logconfig
    times = [t for f in (res.used, res.late) if len(f) for t in (f["timestamp"].min(),)]
    day = cw[pd.to_datetime(cw["hour"], utc=True) < pd.Timestamp(cfg.day_end)] if len(cw) else cw
    return logconfig.started_finding(times, day, cfg.date)


def _aws_sources(cfg: RunConfig) -> _Sources:
    from tracker_utils.collect import aws, s3
    p = cfg.params
    ctx = aws.AwsContext.from_params(p, cfg.region)
    athena_res, objs, skipped = None, [], {}
    if p.engine == "athena":
        from tracker_utils.collect import athena
        athena_res = athena.collect(athena.athena_context(p, cfg.region, ctx), cfg)
    else:
        objs, skipped = s3.list_log_objects(ctx, cfg.day, p.window_after_hours)
        listed = {o.key for o in objs}
        objs += [s3.handed_object(ctx, e) for e in handoff.received(resolve_path(p.output_dir), cfg.region, cfg.date)
                 if e["key"] not in listed]
    from tracker_utils.collect.accounts import monitoring_context
    cw_ctx, source = monitoring_context(p, cfg.region)     # cloudwatch_account: through the monitoring account
    cw_rec = aws.fetch_cloudwatch(cw_ctx or ctx, cfg.day, account=source)
    ce_rec = None
    if p.cost_source == "ce":      # one paid request per day, shared by every region (runs may be parallel)
        cache = resolve_path(p.output_dir) / "_cache"
        if p.consolidated_bill:       # a member's output_dir is <run>/<id>: the payer's bill is cached once for all
            cache = resolve_path(p.output_dir).parent / "_cache"
        cache.mkdir(parents=True, exist_ok=True)
        with FileLock(str(cache / f"costexplorer-{cfg.date}.lock")):
            if p.consolidated_bill:       # the payer's bill, by LINKED_ACCOUNT, with the payer's credentials
                from tracker_utils.collect.accounts import fetch_linked_cost_explorer, payer_context
                ce_rec = fetch_linked_cost_explorer(payer_context(p), cfg.day, cache)
            else:
                ce_rec = aws.fetch_cost_explorer(ctx, cfg.day, cache)
    from tracker_utils.collect import quotas
    sq_rec = quotas.fetch_quotas(ctx, resolve_path(p.output_dir) / "_cache")
    return _Sources(objs, skipped, cw_rec, ce_rec, ctx=ctx, athena=athena_res, quotas=sq_rec)


def _collect_logs(cfg: RunConfig, src: _Sources):
    """The logs of the day: ``collect_logs*.parquet`` and ``collect_quarantine.parquet``."""
    if src.athena is not None:
        res = src.athena
        write_parquet(res.used, cfg.data(COLLECT.LOGS))
        write_parquet(res.late, cfg.data(COLLECT.LOGS_LATE))
        write_parquet(res.quarantine, cfg.data(COLLECT.QUARANTINE))
        return res
    # writes the files itself, and reuses them when the objects are unchanged
    p = cfg.params
    res = logsrc.collect(src.objects, cfg.day, cfg.as_of, strict=p.strict, workers=logsrc.default_workers(p.jobs),
                         out_dir=cfg.data_dir, region=cfg.region, max_tokens=p.max_tokens_per_record)
    if res.other_days:         # records of other days: hand the objects that hold them to their own day
        objects = {f["key"]: {k: f[k] for k in ("key", "size", "etag", "delivered_at")} for f in res.files}
        handoff.write(resolve_path(p.output_dir), cfg.region, cfg.date, res.other_days, objects)
    return res


def _collect_cloudwatch(cfg: RunConfig, cw_rec: dict | None) -> pd.DataFrame:
    if cw_rec is not None:
        write_json(cfg.data_dir / "raw" / "cloudwatch" / cfg.region / f"{cfg.date}.json", cw_rec)
        cw = cwsrc.parse_metric_data(cw_rec)
    else:
        cw = pd.DataFrame(columns=cwsrc.COLUMNS)
    write_parquet(cw, cfg.data(COLLECT.CLOUDWATCH))
    return cw


def _collect_operations(cfg: RunConfig, src: _Sources, cw: pd.DataFrame) -> dict:
    """The operations view: ``collect_operations*.parquet`` and ``collect_quotas.parquet`` (the raw ListServiceQuotas
    answer kept in ``data/raw/servicequotas/``, like the other raw responses)."""
    import yaml

    from tracker_utils.collect import operations, quotas
    rec = src.quotas
    if rec is not None:
        write_json(cfg.data_dir / "raw" / "servicequotas" / f"{cfg.region}.json", rec)
    qdf = quotas.parse_quotas(rec)
    ops = cwsrc.parse_operations(src.cloudwatch or {})
    cache = resolve_path(cfg.params.prices_dir) / "inference_profiles.yaml"
    profiles = ((yaml.safe_load(cache.read_text()) or {}).get("profiles") or {}) if cache.exists() else {}
    models = operations.models(cw, ops, qdf, profiles)
    write_parquet(operations.hourly(cw, ops), cfg.data(COLLECT.OPERATIONS))
    write_parquet(models, cfg.data(COLLECT.OPERATIONS_MODELS))
    write_parquet(qdf, cfg.data(COLLECT.QUOTAS))
    info = {"recorded": rec is not None and "pages" in rec, "rate_quotas": int(len(qdf))}
    if rec is not None and rec.get("error"):
        info["error"] = rec["error"]
    return operations.summary(models, info)


def _read_bill(cfg: RunConfig, ce_rec: dict | None) -> tuple[pd.DataFrame, dict]:
    """The bill lines of the day (every region) and what is known about where they came from."""
    from tracker_utils.collect import bill as billsrc
    p = cfg.params
    info: dict = {"source": p.cost_source, "scope": p.bill_services}
    if p.cost_source == "ce" and ce_rec is not None:
        write_json(cfg.data_dir / "raw" / "costexplorer" / f"{cfg.date}.json", ce_rec)
        linked = "requests" in ce_rec           # a payer's bill: one request per service, by LINKED_ACCOUNT
        if linked:
            bill = billsrc.parse_linked_cost_explorer(ce_rec)
        else:
            bill, info["adjustments_recorded"] = billsrc.parse_cost_explorer_recording(ce_rec)
            if not info["adjustments_recorded"]:
                info["adjustments_note"] = ("the Cost Explorer recording has no adjustments request (made before the "
                                            "kit asked for credits, refunds and discounts): its lines are read as usage")
        pages = [pg for r in ce_rec["requests"] for pg in r["pages"]] if linked else ce_rec["pages"]
        # a recording made by the kit covers every Bedrock service it discovered ("scope": "all"); a recording
        # from elsewhere is judged by its request's SERVICE filter
        info["scope"] = "first_party" if p.bill_services == "first_party" else (
            ce_rec.get("scope") or bill_scope(ce_rec.get("request"), p.bill_services))
        # final once Cost Explorer stops estimating it (a recording made by the kit also says whether the day closed)
        estimated = any(r.get("Estimated") for pg in pages for r in pg.get("ResultsByTime", []))
        info["closed"] = bool(ce_rec.get("closed", True)) and not estimated
    elif p.cost_source == "cur":
        found = None
        if p.cur.startswith("s3://") or not p.cur:
            from tracker_utils.collect import aws, exports, s3
            from tracker_utils.collect.accounts import payer_context     # a payer's export: the payer's credentials
            ctx = payer_context(p) if p.consolidated_bill else aws.AwsContext.from_params(p, cfg.region)
            if not p.cur:             # source aws, no URI: the account's CUR 2.0 export (Data Exports)
                found = exports.find_cur_export(ctx)
            cur_paths = s3.fetch_cur(ctx, p.cur or found["uri"], cfg.data_dir / "raw" / "cur")
        else:
            cur_paths = [resolve_path(p.cur)]
        bill, cur_info = billsrc.read_cur(cur_paths, cfg.date, cfg.date)
        info = {"source": p.cost_source, **cur_info, "scope": p.bill_services,
                **({"cur_export": {k: found[k] for k in ("name", "uri")}} if found else {})}
    else:
        bill = billsrc.empty_bill()
        info = {"source": p.cost_source, "missing": p.cost_source != "none", "scope": p.bill_services}
    return bill, info


def _collect_bill(cfg: RunConfig, ce_rec: dict | None) -> dict:
    """``collect_bill.parquet``: this region's bill lines; lines of other regions and of none are counted."""
    bill, info = _read_bill(cfg, ce_rec)
    if cfg.params.consolidated_bill:
        from tracker_utils.collect.accounts import member_lines
        bill, info["accounts"] = member_lines(bill, cfg.params.account)
    if cfg.params.bill_services == "first_party":
        bill = bill[bill["service"] == BEDROCK_FIRST_PARTY]
    in_region = bill["region"] == cfg.region
    info["other_region_lines"] = int((bill["region"].notna() & ~in_region & (bill["region"] != "")).sum())
    unplaced = bill[bill["region"].isna() | (bill["region"] == "")]
    info["unplaced_lines"] = [{"service": r.service, "usage_type": r.usage_type, "cost_usd": plain(r.cost_usd)}
                              for r in unplaced.itertuples()]
    bill = bill[in_region].reset_index(drop=True)
    bill["cost_usd"] = to_series(bill["cost_usd"], bill.index)
    write_parquet(bill, cfg.data(COLLECT.BILL))
    return info


def _collect_batch(cfg: RunConfig, src: _Sources) -> dict:
    """``collect_batch.parquet``: the batch inference jobs that ended on the day and their manifests' counts
    (:mod:`tracker_utils.collect.batch`). Without access to ListModelInvocationJobs, or where it is not served
    (HTTP 404), the reason is recorded and the bill's batch lines stay unexplained by any manifest
    (``unlogged_endpoint``)."""
    from tracker_utils.collect import batch
    err = None
    if cfg.params.source in ("demo", "local"):
        member = cfg.params.account if cfg.params.consolidated_bill else ""
        rec = batch.local_recording(cfg.data_root, cfg.region, cfg.date, member)
        read = batch.local_reader(cfg.data_root)
    else:
        from tracker_utils.collect.aws import AwsAccessError
        read = batch.aws_reader(src.ctx)
        try:
            rec = batch.fetch_listing(src.ctx, cfg.day)
            write_json(cfg.data_dir / "raw" / "batch" / cfg.region / f"{cfg.date}.json", rec)
        except (AwsAccessError, batch.ListingUnavailable) as e:
            rec = None
            err = str(e)[:300]
    df, info = batch.collect(rec, cfg.day, read)
    if err:
        info["error"] = err
    write_parquet(df, cfg.data(COLLECT.BATCH))
    return info


def run(cfg: RunConfig) -> dict:
    """Collect one date and region. Returns the collect summary (also written to ``data/collect.json``)."""
    t0 = time.perf_counter()
    discovered = _discover_location(cfg)
    p = cfg.params
    if p.source in ("demo", "local"):
        src = _Sources(*_local_sources(cfg))
    else:
        src = _aws_sources(cfg)
    previous = _previous_collection(cfg)
    res = _collect_logs(cfg, src)
    cw = _collect_cloudwatch(cfg, src.cloudwatch)
    ops_info = _collect_operations(cfg, src, cw)
    bill_info = _collect_bill(cfg, src.cost_explorer)
    quality = dict(res.quality)
    if p.source == "aws":
        fetched = _resolve_profiles(cfg, src.ctx, res)
        if fetched:              # only when something was fetched or failed: otherwise identical to a local run
            quality["application_profiles"] = fetched
    quality["files_skipped"] = src.skipped
    quality["batch"] = _collect_batch(cfg, src)
    finding = _location_finding(cfg, src, res, cw)
    if finding:                  # only then: otherwise identical to a local run
        quality["logs_location"] = finding
    started = _started_finding(cfg, res, cw)
    if started:                  # logging switched on partway through the day
        quality["logging_started"] = started
    quality["arrived_since_previous_collection"] = _arrivals(previous, res)
    summary = {
        "date": cfg.date, "region": cfg.region, "source": p.source, "engine": p.engine,
        "as_of": cfg.as_of.isoformat() if cfg.as_of else dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "as_of_param": p.logs_as_of,
        "window": {"first_hour": f"{cfg.date}T00:00Z", "hours": 24 + p.window_after_hours},
        "data_quality": quality,
        "cloudwatch": {"recorded": src.cloudwatch is not None,
                       "series": int(cw[["model_id", "metric"]].drop_duplicates().shape[0])},
        "bill": bill_info,
        "operations": ops_info,
        **({"logs_location_discovered": discovered} if discovered else {}),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    write_json(cfg.data(COLLECT.FILES), res.files)
    write_json(cfg.data(COLLECT.SUMMARY), summary)
    return summary

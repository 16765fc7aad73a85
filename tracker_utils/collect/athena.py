"""``engine: athena``: aggregate a day of invocation logs in Amazon Athena instead of downloading every object.

One query per date and region (``tracker_utils/collect/sql/daily_usage.sql``), one scan of the hour folders, returns one
row per group of records with the same hour, model id, principal ARN, operation, region, inference region, error
code, latency tier, request metadata and day-edge flag, separately for records used and delivered late, with the
record count and the four token sums; plus the counts of malformed, duplicate and outside-the-day records and a total
row (records and files read). The day is decided by each record's own timestamp while partition projection prunes
the scan to the day's hour folders and ``window_after_hours`` more. The application / principal filter and the
partition values are Athena execution parameters: nothing a user types is pasted into SQL text (the only values
written into the text are three integers the kit computes: the day's bounds and the collection time).

The optional table (``tracker_utils/collect/sql/create_table.sql``) uses partition projection over the log prefix
(``account`` and ``log_region`` enums, ``dt`` = ``YYYY/MM/DD/HH`` from the key path; an organization's central
bucket is one table whose ``account`` lists its members, each query filters on its own); create it once with
``python -m tracker_utils.collect.athena create-table --params params/my-account.yaml``.

:func:`collect` returns a :class:`~tracker_utils.collect.logs.LogsResult` whose ``used`` and ``late`` frames have the
local reader's columns plus ``records`` (see :data:`FRAME_COLUMNS`): one row per group, not per record.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

import orjson
import pandas as pd

from tracker_utils.collect import logs as logsrc
from tracker_utils.schema import TOKENS
from tracker_utils.collect.aws import AwsAccessError, AwsContext, aws_errors, explain

SQL_DIR = Path(__file__).resolve().parent / "sql"
QUERY_FILE = SQL_DIR / "daily_usage.sql"
DDL_FILE = SQL_DIR / "create_table.sql"
SQL_TABLE = "bedrock_logs.invocations"        # the table name written in daily_usage.sql
CATALOG = "AwsDataCatalog"
FIRST_HOUR = "2023/01/01/00"                  # projection range start (model invocation logging exists since 2023)
ALL = "*"                                      # principal filter value meaning "everyone"
FRAME_COLUMNS = logsrc.COLUMNS + ["records"]
RESULT_COLUMNS = ["is_total", "fate", "hour_s", "operation", "model_id", "principal", "region", "inference_region",
                  "error_code", "latency", "request_metadata", "day_edge", "records", "input_tokens", "output_tokens",
                  "cache_read_tokens", "cache_write_tokens", "delivered_ms", "files"]
OPTIONAL_COLUMNS = ["service_tier"]
FATES = ("used", "late", "malformed", "duplicate", "outside_day")
LITERALS = ("{day_start_s}", "{day_end_s}", "{as_of_ms}")
TOKEN_COLUMNS = TOKENS
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
PREFIX = re.compile(r"[A-Za-z0-9!_.*()/\-]*")
POLL_FIRST, POLL_FACTOR, POLL_MAX = 0.2, 1.6, 5.0
QUERY_TIMEOUT_S = 1800


class AthenaQueryError(RuntimeError):
    """The query failed or was cancelled; the message carries Athena's reason and the query execution id."""


# ---------------------------------------------------------------------------------------------------------------------
# SQL text and parameters
# ---------------------------------------------------------------------------------------------------------------------
def _ident(value: str, key: str) -> str:
    if not IDENT.fullmatch(value or ""):
        raise ValueError(f"{key}: {value!r} is not a valid Athena identifier (letters, digits, underscore)")
    return value.lower()


def strip_comments(sql: str) -> str:
    """Drop whole-line ``--`` comments (the query's documentation stays in the file, not in every request)."""
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).strip()


def query_literals(cfg) -> dict[str, int]:
    """The three integers written into the query text: the day (epoch s) and the collection time (epoch ms)."""
    as_of = cfg.as_of or dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc)
    return {"{day_start_s}": int(cfg.day_start.timestamp()), "{day_end_s}": int(cfg.day_end.timestamp()),
            "{as_of_ms}": int(as_of.timestamp() * 1000)}


def query_text(cfg=None, database: str = "bedrock_logs", table: str = "invocations", with_comments: bool = False) -> str:
    """daily_usage.sql for the configured table and, given a RunConfig, its day and collection time.

    Substituted: the table name (validated identifiers) and the three integers of :func:`query_literals` (``int``
    values, so nothing else can get in). Without ``cfg`` the placeholders stay (for display)."""
    sql = QUERY_FILE.read_text()
    name = f"{_ident(database, 'athena_database')}.{_ident(table, 'athena_table')}"
    if name != SQL_TABLE:
        sql = sql.replace(SQL_TABLE, name)
    if cfg is not None:
        for k, v in query_literals(cfg).items():
            sql = sql.replace(k, str(int(v)))
    return sql if with_comments else strip_comments(sql)


def principal_filter(params) -> str:
    """The principal filter for ``params.app_filter``: ``*`` (everyone) or ``|``-separated names / ARNs.

    An application of ``apps.yaml`` whose every rule names exact roles, users or principal ARNs becomes that list (the
    pricing stage still attributes exactly; this only makes Athena scan-and-return less). An application matched by
    globs, request metadata, profiles or models cannot be pre-filtered: ``*``. A value that is not an application name
    is taken as role / user names or principal ARNs itself. Either way it is a *value* (an execution parameter).
    """
    want = (params.app_filter or "").strip()
    if not want:
        return ALL
    from tracker_utils.config import resolve_path
    import yaml
    path = resolve_path(params.apps_file)
    rules = (yaml.safe_load(path.read_text()) or {}).get("apps", []) if path.exists() else []
    mine = [r for r in rules if str(r.get("app")) == want]
    if not mine:
        return want
    from tracker_utils.apps import principal_parts
    names: list[str] = []
    for r in mine:
        m = r.get("match") or {}
        got = []
        for cond in ("role", "user", "principal_arn"):
            if cond in m:
                vals = m[cond] if isinstance(m[cond], (list, tuple)) else [m[cond]]
                # a principal ARN (session removed) is matched by its role / user name: a superset, priced exactly later
                got += [principal_parts(str(v))[2] if cond == "principal_arn" else str(v) for v in vals]
        if not got or any(ch in v for v in got for ch in "*?[|"):
            return ALL
        names += got
    return "|".join(dict.fromkeys(names))


def query_values(cfg, principal: str = ALL) -> list:
    """The execution parameters of daily_usage.sql, in order, as Python values (see the file's header)."""
    t0 = cfg.day_start
    last = t0 + dt.timedelta(hours=24 + cfg.params.window_after_hours - 1)
    return [cfg.params.account, cfg.region, f"{t0:%Y/%m/%d/%H}", f"{last:%Y/%m/%d/%H}", principal, principal, principal]


def athena_parameter(value) -> str:
    """One ExecutionParameters entry: Athena parses each as a literal, so strings are single-quoted (quotes doubled)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))
    return "'" + str(value).replace("'", "''") + "'"


def create_table_sql(params, regions: list[str] | None = None, database: str | None = None,
                     accounts: list[str] | None = None) -> str:
    """The CREATE EXTERNAL TABLE statement for the configured bucket, prefix, accounts (default: ``params.account``;
    several for a central bucket) and regions (all validated)."""
    from tracker_utils.config import KNOWN_REGIONS
    bucket, prefix = params.logs_bucket, params.logs_prefix.strip("/")
    accounts = list(accounts or [params.account])
    if not BUCKET.fullmatch(bucket or ""):
        raise ValueError(f"logs_bucket: {bucket!r} is not a valid S3 bucket name")
    if not PREFIX.fullmatch(prefix):
        raise ValueError(f"logs_prefix: {prefix!r} has characters the DDL cannot hold")
    for account in accounts:
        if not re.fullmatch(r"\d{12}", account or ""):
            raise ValueError(f"account: {account!r} is not a 12-digit account id")
    regions = list(regions or params.regions)
    bad = [r for r in regions if r not in KNOWN_REGIONS]
    if bad:
        raise ValueError(f"regions: unknown {bad}")
    base = (prefix + "/" if prefix else "") + "AWSLogs/"
    sql = DDL_FILE.read_text()
    for k, v in {"{database}": _ident(database or params.athena_database, "athena_database"),
                 "{table}": _ident(params.athena_table, "athena_table"),
                 "{location}": f"s3://{bucket}/{base}", "{accounts}": ",".join(accounts),
                 "{regions}": ",".join(regions), "{first_hour}": FIRST_HOUR}.items():
        sql = sql.replace(k, v)
    return strip_comments(sql)


def org_tables(p) -> list[dict]:
    """The tables of a run: one per (database, table), over one bucket and prefix, with every account that logs
    there (a central bucket: several) and the union of their regions. Each: {"params", "accounts", "regions"}.
    Two accounts naming one table over different buckets or prefixes is an error: the table holds one location, and
    the other account's queries would find nothing (its usage silently missing)."""
    from tracker_utils.config import member_params
    tables: dict[tuple, dict] = {}
    for m in member_params(p):
        key = (_ident(m.athena_database, "athena_database"), _ident(m.athena_table, "athena_table"))
        t = tables.setdefault(key, {"params": m, "accounts": [], "regions": []})
        first = t["params"]
        if (first.logs_bucket, first.logs_prefix.strip("/")) != (m.logs_bucket, m.logs_prefix.strip("/")):
            raise ValueError(f"athena_table: accounts {first.account} (s3://{first.logs_bucket}/{first.logs_prefix}) "
                             f"and {m.account} (s3://{m.logs_bucket}/{m.logs_prefix}) name one table "
                             f"{key[0]}.{key[1]} over two locations; set athena_table on the account of the other "
                             "bucket")
        t["accounts"].append(m.account)
        t["regions"] += [r for r in m.regions if r not in t["regions"]]
    return list(tables.values())


def org_table_sql(p) -> list[str]:
    """The CREATE EXTERNAL TABLE statements of a run (one per table of :func:`org_tables`)."""
    return [create_table_sql(t["params"], t["regions"], accounts=t["accounts"]) for t in org_tables(p)]


# ---------------------------------------------------------------------------------------------------------------------
# running a query
# ---------------------------------------------------------------------------------------------------------------------
def _workgroup_arn(ctx: AwsContext, workgroup: str) -> str:
    return f"arn:aws:athena:{ctx.region}:{ctx.account or '<account>'}:workgroup/{workgroup}"


def run_query(ctx: AwsContext, sql: str, parameters: list[str] | None, database: str, workgroup: str = "primary",
              output: str = "", timeout_s: float = QUERY_TIMEOUT_S, sleep=time.sleep) -> tuple[list[str], list[list], dict]:
    """Start a query, poll it with backoff, read every result page. Returns (column names, rows, info).

    Rows are lists of strings (None for SQL NULL), without the header row Athena puts first on the first page.
    """
    athena = ctx.client("athena")
    wg_arn = _workgroup_arn(ctx, workgroup)
    kw: dict = {"QueryString": sql, "QueryExecutionContext": {"Database": database, "Catalog": CATALOG},
                "WorkGroup": workgroup}
    if parameters:
        kw["ExecutionParameters"] = list(parameters)
    if output:
        kw["ResultConfiguration"] = {"OutputLocation": output}
    op = "StartQueryExecution"
    try:
        qid = athena.start_query_execution(**kw)["QueryExecutionId"]
        op = "GetQueryExecution"
        delay, deadline, polls = POLL_FIRST, time.monotonic() + timeout_s, 0
        while True:
            q = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            polls += 1
            state = q["Status"]["State"]
            if state == "SUCCEEDED":
                break
            if state in ("FAILED", "CANCELLED"):
                reason = q["Status"].get("StateChangeReason", "") or q["Status"].get("AthenaError", {}).get("ErrorMessage", "")
                if re.search(r"access denied|not authorized|insufficient permissions|AccessDenied", reason, re.I):
                    raise AwsAccessError(f"AccessDenied: Athena query {qid} {state}: {reason.splitlines()[0][:300]} "
                                         "(Athena reads the logs and writes results with your permissions: "
                                         "see docs/iam-policy.json)")
                raise AthenaQueryError(f"Athena query {qid} {state}: {reason.splitlines()[0][:300] if reason else 'no reason given'}")
            if time.monotonic() > deadline:
                raise AthenaQueryError(f"Athena query {qid} still {state} after {timeout_s:.0f}s (cancel it in the console "
                                       "or raise the timeout)")
            sleep(delay)
            delay = min(POLL_MAX, delay * POLL_FACTOR)
        op = "GetQueryResults"
        columns: list[str] = []
        rows: list[list] = []
        pages = 0
        for page in athena.get_paginator("get_query_results").paginate(
                QueryExecutionId=qid, PaginationConfig={"PageSize": 1000}):
            rs = page.get("ResultSet", {})
            if not columns:
                columns = [c.get("Label") or c.get("Name") for c in rs.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
            page_rows = [[d.get("VarCharValue") for d in r.get("Data", [])] for r in rs.get("Rows", [])]
            if pages == 0 and page_rows and columns and page_rows[0] == columns:
                page_rows = page_rows[1:]           # the header row
            rows.extend(page_rows)
            pages += 1
    except aws_errors() as e:
        raise explain(e, "athena", op, wg_arn) from None
    stats = q.get("Statistics", {}) if isinstance(q, dict) else {}
    info = {"query_execution_id": qid, "polls": polls, "result_pages": pages, "result_rows": len(rows),
            "data_scanned_bytes": int(stats.get("DataScannedInBytes", 0) or 0),
            "engine_ms": int(stats.get("EngineExecutionTimeInMillis", 0) or 0)}
    return columns, rows, info


def create_table(ctx: AwsContext, params, regions: list[str] | None = None) -> list[str]:
    """CREATE DATABASE IF NOT EXISTS and CREATE EXTERNAL TABLE IF NOT EXISTS (partition projection). Returns query ids."""
    db = _ident(params.athena_database, "athena_database")
    ids = []
    ddl = org_table_sql(params) if params.accounts and not regions else [create_table_sql(params, regions)]
    for sql in [f"CREATE DATABASE IF NOT EXISTS {db}"] + ddl:
        _, _, info = run_query(ctx, sql, None, database=db if ids else "default", workgroup=params.athena_workgroup,
                               output=params.athena_output)
        ids.append(info["query_execution_id"])
    return ids


# ---------------------------------------------------------------------------------------------------------------------
# result -> LogsResult
# ---------------------------------------------------------------------------------------------------------------------
def _int(v) -> int:
    if v is None or v == "":
        return 0
    return int(v) if not isinstance(v, str) else int(float(v)) if "." in v or "e" in v.lower() else int(v)


def _bool(v) -> bool:
    return v if isinstance(v, bool) else str(v).lower() == "true"


def _meta(v) -> str:
    """request metadata as the local reader writes it: compact JSON with sorted keys, '' when absent or empty."""
    if v is None or v == "":
        return ""
    try:
        m = json.loads(v) if isinstance(v, str) else v
    except ValueError:
        return str(v)
    return orjson.dumps(m, option=orjson.OPT_SORT_KEYS).decode() if isinstance(m, dict) and m else ""


def _usage_row(r, ix: dict, fate: str) -> dict:
    """One aggregated row of the query as a frame row of the local reader's shape (no request id, file or line)."""
    hour = dt.datetime.fromtimestamp(_int(r[ix["hour_s"]]), dt.timezone.utc)
    dms = r[ix["delivered_ms"]]
    delivered = dt.datetime.fromtimestamp(_int(dms) / 1000, dt.timezone.utc) if dms not in (None, "") else hour
    return {
        "request_id": "", "timestamp": hour, "operation": r[ix["operation"]] or "", "model_id": r[ix["model_id"]] or "",
        "principal": r[ix["principal"]] or "", "region": r[ix["region"]] or "",
        "inference_region": r[ix["inference_region"]] or "",
        **{c: _int(r[ix[c]]) for c in TOKEN_COLUMNS},
        "error_code": r[ix["error_code"]] or "", "latency": r[ix["latency"]] or "",
        "request_metadata": _meta(r[ix["request_metadata"]]), "file": "", "line": 0, "delivered_at": delivered,
        "records": _int(r[ix["records"]]), "_late": fate == "late",
        # the query reads no response bodies: no TTL split, every cache write is priced as 5m (the records of a
        # group with cache writes count as assumed: an upper bound, the query does not count them one by one)
        "cache_write_1h_tokens": 0, "cache_ttl_assumed": _int(r[ix["records"]]) if _int(r[ix["cache_write_tokens"]]) else 0,
        # optional: a query without the column (written before service tiers were read) names no tier
        "service_tier": (r[ix["service_tier"]] or "") if "service_tier" in ix else "",
    }


def _frames(usage: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The used and late frames, typed and ordered like the local reader's."""
    df = pd.DataFrame(usage, columns=FRAME_COLUMNS + ["_late"])
    for c in logsrc.INT_COLUMNS + ["records"]:
        df[c] = df[c].astype("int64")
    for c in ("timestamp", "delivered_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    df["_late"] = df["_late"].astype(bool)
    df = df.sort_values(["timestamp", "model_id", "principal", "operation", "request_metadata", "error_code"],
                        kind="stable").reset_index(drop=True)
    used = df[~df["_late"]].drop(columns="_late").reset_index(drop=True)
    late = df[df["_late"]].drop(columns="_late").reset_index(drop=True)
    return used, late


def _quality(counts: dict, total: dict) -> dict:
    if sum(counts.values()) != total["records_read"]:
        raise AthenaQueryError(f"query counts do not add up: {counts} vs {total}")
    by_kind = {k: counts[k] for k in ("duplicate", "malformed") if counts[k]}
    return {
        "files_read": total["files_read"],
        "files_bad": {},
        "records_read": total["records_read"],
        "records_used": counts["used"],
        "records_late": counts["late"],
        "records_outside_day": counts["outside_day"],
        "records_duplicate": counts["duplicate"],
        "records_malformed": counts["malformed"],
        "records_other_region": counts["other_region"],
        "records_quarantined_by_kind": dict(sorted(by_kind.items())),
    }


def result_to_logs(columns: list[str], rows: list[list], info: dict | None = None,
                   principal: str = ALL, region: str | None = None) -> logsrc.LogsResult:
    """Turn the query's rows (strings from Athena, typed values from DuckDB) into a LogsResult."""
    missing = [c for c in RESULT_COLUMNS if c not in columns]
    if missing:
        raise AthenaQueryError(f"query result lacks column(s) {missing}")
    ix = {c: columns.index(c) for c in RESULT_COLUMNS + OPTIONAL_COLUMNS if c in columns}
    usage, counts, total = [], {**dict.fromkeys(FATES, 0), "other_region": 0}, None
    other_regions: dict[str, int] = {}
    for r in rows:
        if _int(r[ix["is_total"]]):
            total = {"records_read": _int(r[ix["records"]]), "files_read": _int(r[ix["files"]])}
            continue
        fate = r[ix["fate"]]
        if fate not in counts:
            raise AthenaQueryError(f"query result has an unknown fate {fate!r}")
        n = _int(r[ix["records"]])
        counts[fate] += n
        named = r[ix["region"]] or ""
        if fate in ("used", "late") and region and named and named != region:
            counts[fate] -= n                    # a record naming another region is not this region's usage
            counts["other_region"] += n
            other_regions[named] = other_regions.get(named, 0) + n
        elif fate in ("used", "late"):
            usage.append(_usage_row(r, ix, fate))
    if total is None:
        raise AthenaQueryError("query result has no total row")
    used, late = _frames(usage)
    quality = _quality(counts, total)
    quality["records_other_region_by_region"] = dict(sorted(other_regions.items()))
    quality["cache_ttl_assumed"] = int(used["cache_ttl_assumed"].sum())
    quality["cache_ttl_source"] = "athena: no response bodies are read; every cache write is priced as 5m"
    if principal != ALL:
        # the filter is applied while scanning: the counts cover the filtered principals' records only
        quality["principal_filter"] = principal
    if info:
        quality["athena"] = dict(info)
    quar = pd.DataFrame(columns=logsrc.QUARANTINE_COLUMNS)
    return logsrc.LogsResult(used=used, late=late, quarantine=quar, quality=quality, files=[])


def athena_context(p, region: str, ctx: AwsContext | None = None) -> AwsContext:
    """Where the queries run: with ``athena_role_arn`` that role (the account holding the table, e.g. the one table
    over an organization's central bucket), else ``ctx`` (the account's own credentials)."""
    if not p.athena_role_arn:
        return ctx if ctx is not None else AwsContext.from_params(p, region)
    import os
    return AwsContext.create(region=region, account=p.athena_role_arn.split(":")[4] if p.athena_role_arn.count(":") >= 5
                             else "", endpoint_url=p.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
                             max_attempts=p.max_attempts, role_arn=p.athena_role_arn)


def collect(ctx: AwsContext, cfg) -> logsrc.LogsResult:
    """Aggregate one date and region of invocation logs in Athena (see the module docstring for the contract)."""
    p = cfg.params
    principal = principal_filter(p)
    values = query_values(cfg, principal)
    columns, rows, info = run_query(ctx, query_text(cfg, p.athena_database, p.athena_table),
                                    [athena_parameter(v) for v in values], database=_ident(p.athena_database, "athena_database"),
                                    workgroup=p.athena_workgroup, output=p.athena_output)
    return result_to_logs(columns, rows, info, principal, cfg.region)

"""Bedrock model invocation logs: gzipped JSON lines in, one tidy frame of counts and ids out.

Prompts and responses never leave this module: a record is reduced to its ids, timestamps and token counts as
soon as it is parsed. Every line read is accounted for: used, outside the day, delivered after the collection
time (late), or quarantined with its file, line and reason.
"""
from __future__ import annotations

import datetime as dt
import re
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import orjson
import pandas as pd

try:  # ISA-L inflate is 2-3x faster than zlib; same stream format
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover
    _zlib = zlib

OPERATIONS = {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"}
SCHEMA_VERSIONS = {"1.0"}
PERMISSION_CHECK = "amazon-bedrock-logs-permission-check"
FILE_TS = re.compile(r"(\d{8}T\d{6})(\d{0,3})Z_")

COLUMNS = ["request_id", "timestamp", "operation", "model_id", "principal", "region", "inference_region",
           "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "error_code", "latency",
           "request_metadata", "file", "line", "delivered_at"]
INT_COLUMNS = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "line"]
QUARANTINE_COLUMNS = ["kind", "file", "line", "request_id", "reason"]


class StrictError(RuntimeError):
    """Raised in strict mode at the first bad record or file."""


@dataclass
class LogObject:
    """One object of the log prefix: where it is, when it was delivered, and how to read its bytes."""

    key: str
    size: int
    delivered_at: dt.datetime
    etag: str
    read: Callable[[], bytes] = field(repr=False, compare=False)


def delivered_at_from_key(key: str, fallback: dt.datetime) -> dt.datetime:
    """The delivery time is in the file name (``20260606T070102Z_<hex>.json.gz``); else the object's LastModified."""
    m = FILE_TS.search(key.rsplit("/", 1)[-1])
    if not m:
        return fallback
    t = dt.datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc)
    if m.group(2):
        t += dt.timedelta(milliseconds=int(m.group(2).ljust(3, "0")))
    return t


def is_log_key(key: str) -> bool:
    """A log batch, not a ``data/`` sidecar body and not the permission-check marker."""
    name = key.rsplit("/", 1)[-1]
    return "/data/" not in key and name != PERMISSION_CHECK and name.endswith(".json.gz")


def hour_prefixes(base: str, day: dt.date, after_hours: int) -> list[str]:
    """``<base>/YYYY/MM/DD/HH/`` for every hour of the day and ``after_hours`` hours after it."""
    t0 = dt.datetime.combine(day, dt.time(0))
    return [f"{base}/{(t0 + dt.timedelta(hours=h)):%Y/%m/%d/%H}/" for h in range(24 + after_hours)]


def log_base(prefix: str, account: str, region: str) -> str:
    p = prefix.strip("/")
    return (p + "/" if p else "") + f"AWSLogs/{account}/BedrockModelInvocationLogs/{region}"


def list_local(root: Path, base: str, day: dt.date, after_hours: int) -> tuple[list[LogObject], dict]:
    """List a local folder laid out like the bucket. Returns the objects and what was skipped."""
    objs, skipped = [], Counter()
    for pfx in hour_prefixes(base, day, after_hours):
        folder = root / pfx
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            key = pfx + p.name
            if p.is_dir():
                skipped["data_sidecar_folder" if p.name == "data" else "folder"] += 1
                continue
            if not is_log_key(key):
                skipped["permission_check" if p.name == PERMISSION_CHECK else "not_a_log_file"] += 1
                continue
            st = p.stat()
            mtime = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc)
            objs.append(LogObject(key=key, size=st.st_size, delivered_at=delivered_at_from_key(key, mtime),
                                  etag=f"{st.st_size}-{st.st_mtime_ns}", read=_reader(p)))
    return objs, dict(skipped)


class _reader:
    def __init__(self, path: Path):
        self.path = str(path)

    def __call__(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()


def _inflate(data: bytes) -> tuple[bytes, str | None]:
    """Decompress a gzip stream (possibly multi-member). Returns (bytes, problem or None)."""
    if not data:
        return b"", "empty_file"
    if data[:2] != b"\x1f\x8b":
        return b"", "not_gzip"
    out, rest = [], data
    while rest:
        d = _zlib.decompressobj(31)
        try:
            out.append(d.decompress(rest))
        except Exception as e:  # noqa: BLE001 - any inflate error is a damaged file
            return b"".join(out), f"corrupt_gzip: {e}"
        if not d.eof:
            return b"".join(out), "truncated_gzip"
        rest = d.unused_data
        if rest and rest[:2] != b"\x1f\x8b":
            break
    return b"".join(out), None


def _count(v, name: str, required: bool) -> int:
    if v is None:
        if required:
            raise _Bad("missing_token_counts", f"{name} is missing")
        return 0
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer() and v >= 0:
            return int(v)
        raise _Bad("bad_token_count", f"{name} is not an integer: {v!r}")
    if v < 0:
        raise _Bad("bad_token_count", f"{name} is negative: {v}")
    return v


class _Bad(Exception):
    def __init__(self, kind: str, reason: str):
        self.kind, self.reason = kind, reason


def _parse_line(raw: bytes):
    try:
        r = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad("invalid_utf8", "line is not valid UTF-8") from None
        raise _Bad("invalid_json", f"not JSON: {str(e)[:80]}") from None
    if not isinstance(r, dict):
        raise _Bad("invalid_json", "line is not a JSON object")
    rid = r.get("requestId")
    if r.get("schemaType", "ModelInvocationLog") != "ModelInvocationLog":
        raise _Bad("unknown_schema", f"schemaType {r.get('schemaType')!r}")
    if str(r.get("schemaVersion", "1.0")) not in SCHEMA_VERSIONS:
        raise _Bad("unknown_schema_version", f"schemaVersion {r.get('schemaVersion')!r}")
    if not isinstance(rid, str) or not rid:
        raise _Bad("missing_field", "requestId is missing")
    op = r.get("operation")
    if op not in OPERATIONS:
        raise _Bad("unknown_operation", f"operation {op!r}")
    model_id = r.get("modelId")
    if not isinstance(model_id, str) or not model_id:
        raise _Bad("missing_field", "modelId is missing")
    ts = r.get("timestamp")
    try:
        t = dt.datetime.fromisoformat(ts)
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        raise _Bad("bad_timestamp", f"timestamp {ts!r}") from None
    inp, out = r.get("input") or {}, r.get("output") or {}
    if not isinstance(inp, dict) or not isinstance(out, dict):
        raise _Bad("missing_token_counts", "input/output is not an object")
    counts = (_count(inp.get("inputTokenCount"), "inputTokenCount", True),
              _count(out.get("outputTokenCount"), "outputTokenCount", True),
              _count(inp.get("cacheReadInputTokenCount"), "cacheReadInputTokenCount", False),
              _count(inp.get("cacheWriteInputTokenCount"), "cacheWriteInputTokenCount", False))
    ident = r.get("identity") or {}
    meta = r.get("requestMetadata")
    perf = r.get("performanceConfig") or {}
    return (rid, t.astimezone(dt.timezone.utc), op, model_id, ident.get("arn", "") if isinstance(ident, dict) else "",
            r.get("region") or "", r.get("inferenceRegion") or "", *counts, r.get("errorCode") or "",
            (perf.get("latency") or "") if isinstance(perf, dict) else "",
            orjson.dumps(meta, option=orjson.OPT_SORT_KEYS).decode() if isinstance(meta, dict) and meta else "")


def parse_object(key: str, data: bytes, delivered_at: dt.datetime, strict: bool = False):
    """Parse one log object. Returns (rows, problems, records_read, file_problem)."""
    text, problem = _inflate(data)
    rows, problems, n = [], [], 0
    if problem and strict:
        raise StrictError(f"{key}: {problem}")
    for i, raw in enumerate(text.split(b"\n"), start=1):
        if not raw.strip():
            continue
        n += 1
        try:
            rows.append((*_parse_line(raw), key, i, delivered_at))
        except _Bad as b:
            if strict:
                raise StrictError(f"{key} line {i}: {b.kind}: {b.reason}") from None
            rid = ""
            m = re.search(rb'"requestId"\s*:\s*"([^"]{1,64})"', raw[:4096])
            if m:
                rid = m.group(1).decode("utf-8", "replace")
            problems.append((b.kind, key, i, rid, b.reason))
    if problem and problem != "empty_file" and text and not text.endswith(b"\n") and rows:
        # the last line of a truncated stream is cut: it was counted as a problem above if unparseable
        pass
    return rows, problems, n, problem


def _work(args):
    key, data_or_reader, delivered_at, strict = args
    data = data_or_reader() if callable(data_or_reader) else data_or_reader
    return key, len(data), *parse_object(key, data, delivered_at, strict)


@dataclass
class LogsResult:
    used: pd.DataFrame
    late: pd.DataFrame
    quarantine: pd.DataFrame
    quality: dict
    files: list[dict]


def frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in INT_COLUMNS:
        df[c] = df[c].astype("int64")
    for c in ("timestamp", "delivered_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


def collect(objects: Iterable[LogObject], day: dt.date, as_of: dt.datetime | None = None, strict: bool = False,
            workers: int = 1) -> LogsResult:
    """Read every object, assign records to days by their own timestamp, de-duplicate by requestId.

    ``as_of``: the collection time. Objects delivered after it are read (when listed) but their records count as
    late delivery, not as logs: this is what a collection at that time saw, and it sizes what arrived later.
    """
    objects = sorted(objects, key=lambda o: o.key)
    jobs = [(o.key, o.read, o.delivered_at, strict) for o in objects]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as ex:
            results = list(ex.map(_work, jobs, chunksize=max(1, len(jobs) // (workers * 8))))
    else:
        results = [_work(j) for j in jobs]
    all_rows, problems, files = [], [], []
    q = Counter()
    records_read = 0
    for (key, size, rows, probs, n, fproblem), o in zip(results, objects):
        records_read += n
        all_rows.extend(rows)
        problems.extend(probs)
        files.append({"key": key, "size": size, "etag": o.etag, "delivered_at": o.delivered_at.isoformat(),
                      "records": n, "problem": fproblem or ""})
        if fproblem:
            kind = fproblem.split(":")[0]
            q[f"file_{kind}"] += 1
            problems.append((kind, key, 0, "", fproblem))
    df = frame(all_rows)
    dup = df.duplicated("request_id", keep="first")
    for r in df[dup].itertuples(index=False):
        problems.append(("duplicate", r.file, r.line, r.request_id, "requestId seen before in this collection"))
    df = df[~dup]
    d0 = pd.Timestamp(dt.datetime.combine(day, dt.time(0)), tz="UTC")
    in_day = (df["timestamp"] >= d0) & (df["timestamp"] < d0 + pd.Timedelta(days=1))
    outside = int((~in_day).sum())
    df = df[in_day]
    if as_of is not None:
        is_late = df["delivered_at"] > pd.Timestamp(as_of)
    else:
        is_late = pd.Series(False, index=df.index)
    late, used = df[is_late].reset_index(drop=True), df[~is_late].reset_index(drop=True)
    quar = pd.DataFrame(problems, columns=QUARANTINE_COLUMNS)
    record_problems = quar[quar["line"] > 0]
    by_kind = record_problems["kind"].value_counts().to_dict()
    quality = {
        "files_read": len(objects),
        "files_bad": {k[5:]: v for k, v in q.items()},
        "records_read": records_read,
        "records_used": len(used),
        "records_late": len(late),
        "records_outside_day": outside,
        "records_duplicate": int(by_kind.get("duplicate", 0)),
        "records_malformed": int(sum(v for k, v in by_kind.items() if k != "duplicate")),
        "records_quarantined_by_kind": {k: int(v) for k, v in sorted(by_kind.items())},
    }
    assert quality["records_read"] == len(used) + len(late) + outside + len(record_problems), quality
    return LogsResult(used=used, late=late, quarantine=quar, quality=quality, files=files)

"""Bedrock model invocation logs: gzipped JSON lines in, one tidy frame of counts and ids out.

Prompts and responses never leave this module: a record is reduced to its ids, timestamps and token counts as
soon as it is parsed. Every line read is accounted for: used, outside the day, delivered after the collection
time (late), or quarantined with its file, line and reason.

How it runs in bounded memory at the speed of the disk (``benchmarks/collect.py`` measures it):

- an object is inflated with ISA-L in 4 MiB pieces and cut into lines without copying; each line is parsed exactly
  with orjson (a scan for the few fields would be fooled by tool schemas or stream events that carry real
  ``inputTokenCount`` keys inside a body), and only the ids, times and counts are kept;
- objects are spread over ``workers`` processes started with ``spawn`` (this module imports neither pandas nor
  pyarrow, so a worker stays near 45 MB). Local files are streamed from disk by the workers; any other reader (an S3
  download, a closure over a client) is called in the parent by a few threads and the bytes go to the workers;
- a worker spills its rows, dictionary-encoded, in batches of ``BATCH_ROWS`` to a part file; the parent keeps one
  64-bit hash per record (8 bytes), finds the hashes seen twice, and in a second pass over the parts settles
  duplicates exactly (by comparing the request ids themselves), splits the day, the late and the outside rows, and
  streams them into ``collect_logs.parquet`` and ``collect_logs_late.parquet`` row group by row group;
- with ``out_dir`` (what ``collect.run`` passes) the frames in the result are read from those files on first use,
  and a manifest (``collect_logs_manifest.json``) makes a re-run over unchanged objects (same keys, sizes, ETags,
  day, collection time, mode and parser) return at once without reading anything.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pickle
import re
import shutil
import sys
import tempfile
import time
import types
import zlib
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import orjson

from tracker_utils.schema import TOKENS

try:  # ISA-L inflate is 2-3x faster than zlib; same stream format
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover
    _zlib = zlib

OPERATIONS = {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"}
SCHEMA_VERSIONS = {"1.0"}
SCHEMA_TYPE = "ModelInvocationLog"
PERMISSION_CHECK = "amazon-bedrock-logs-permission-check"
FILE_TS = re.compile(r"(\d{8}T\d{6})(\d{0,3})Z_")

COLUMNS = ["request_id", "timestamp", "operation", "model_id", "principal", "region", "inference_region",
           "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "error_code", "latency",
           "request_metadata", "file", "line", "delivered_at"]
INT_COLUMNS = [*TOKENS, "line"]
QUARANTINE_COLUMNS = ["kind", "file", "line", "request_id", "reason"]
# string columns with few distinct values: dictionary-encoded from the parser to the parquet file
DICT_COLUMNS = ["operation", "model_id", "principal", "region", "inference_region", "error_code", "latency",
                "request_metadata"]

USED_FILE = "collect_logs.parquet"
LATE_FILE = "collect_logs_late.parquet"
QUARANTINE_FILE = "collect_quarantine.parquet"
MANIFEST_FILE = "collect_logs_manifest.json"
CACHE_VERSION = 1                 # bump when the parser's output for the same bytes changes

MAX_LINE_BYTES = 8 << 20          # a record is at most ~250 KB (bodies over 100 KB go to data/); longer lines are bad
CHUNK_BYTES = 4 << 20             # inflate this much at a time
BLOCK_BYTES = 1 << 20             # compressed bytes fed to the inflater (and read from disk) at a time
BATCH_ROWS = 8192                 # rows a worker holds before spilling them
ROW_GROUP_ROWS = 131072           # rows per parquet row group
PARALLEL_MIN_BYTES = 4 << 20      # below this much compressed input, worker processes cost more than they save
GZIP_MAGIC = b"\x1f\x8b"
I64_MAX = (1 << 63) - 1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_US = dt.timedelta(microseconds=1)
_MIN_US, _MAX_US = -(I64_MAX // 1000), I64_MAX // 1000   # what datetime64[ns] can hold
_SAFE = re.compile(r"[A-Za-z0-9._:/@+=,-]{1,64}")
_RID = re.compile(rb'"requestId"\s*:\s*"([A-Za-z0-9._:-]{1,64})"')


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
                                  etag=f"{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}", read=_reader(p)))
    return objs, dict(skipped)


class _reader:
    """Reads a local file; picklable, and streamed in blocks by the workers instead of read whole."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __call__(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()


def default_workers(jobs: int = 1) -> int:
    """Worker processes for one collection when ``jobs`` collections run side by side: the cores, shared."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


# --- one record ---------------------------------------------------------------------------------------------------
class _Bad(Exception):
    def __init__(self, kind: str, reason: str):
        self.kind, self.reason = kind, reason


def _show(v) -> str:
    """A value for a reason text: numbers and short id-like strings as they are, anything else by type only (a
    misplaced prompt must not reach the quarantine file)."""
    if v is None or isinstance(v, (bool, int, float)):
        return repr(v)
    if isinstance(v, str):
        return repr(v) if _SAFE.fullmatch(v) else f"<text of {len(v)} characters>"
    return f"<{type(v).__name__}>"


def _count(v, name: str, required: bool) -> int:
    if v is None:
        if required:
            raise _Bad("missing_token_counts", f"{name} is missing")
        return 0
    if type(v) is int:
        if v < 0:
            raise _Bad("bad_token_count", f"{name} is negative: {v}")
        if v > I64_MAX:
            raise _Bad("bad_token_count", f"{name} is out of range: {v}")
        return v
    if type(v) is float and v.is_integer() and 0 <= v <= I64_MAX:
        return int(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
        raise _Bad("bad_token_count", f"{name} is negative: {v}")
    raise _Bad("bad_token_count", f"{name} is not an integer: {_show(v)}")


def _ts_ns(ts) -> int:
    if type(ts) is not str:
        raise _Bad("bad_timestamp", f"timestamp {_show(ts)}")
    try:
        t = dt.datetime.fromisoformat(ts)
    except ValueError:
        raise _Bad("bad_timestamp", f"timestamp {_show(ts)}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    us = (t - _EPOCH) // _US
    if not _MIN_US <= us <= _MAX_US:
        raise _Bad("bad_timestamp", f"timestamp {_show(ts)} is out of range")
    return us * 1000


def _opt_str(v, name: str) -> str:
    if v is None:
        return ""
    if type(v) is str:
        return v
    raise _Bad("bad_field", f"{name} is not a string: {_show(v)}")


def _record(r, tcache: dict, line: int) -> tuple:
    """A parsed line to (request_id, ts_ns, the 8 ``DICT_COLUMNS`` values, 4 counts, line), or :class:`_Bad`.
    The one definition of a good record."""
    if type(r) is not dict:
        raise _Bad("invalid_json", "line is not a JSON object")
    get = r.get
    st = get("schemaType", SCHEMA_TYPE)
    if st != SCHEMA_TYPE:
        raise _Bad("unknown_schema", f"schemaType {_show(st)}")
    sv = get("schemaVersion", "1.0")
    if sv != "1.0" and (isinstance(sv, (dict, list)) or str(sv) not in SCHEMA_VERSIONS):
        raise _Bad("unknown_schema_version", f"schemaVersion {_show(sv)}")
    rid = get("requestId")
    if type(rid) is not str or not rid:
        raise _Bad("missing_field", "requestId is missing")
    op = get("operation")
    if type(op) is not str or op not in OPERATIONS:
        raise _Bad("unknown_operation", f"operation {_show(op)}")
    model_id = get("modelId")
    if type(model_id) is not str or not model_id:
        raise _Bad("missing_field", "modelId is missing")
    ts = get("timestamp")
    t = tcache.get(ts) if type(ts) is str else None
    if t is None:
        t = _ts_ns(ts)
        tcache[ts] = t
    inp, out = get("input") or {}, get("output") or {}
    if type(inp) is not dict or type(out) is not dict:
        raise _Bad("missing_token_counts", "input/output is not an object")
    it = inp.get("inputTokenCount")
    if type(it) is not int or not 0 <= it <= I64_MAX:
        it = _count(it, "inputTokenCount", True)
    ot = out.get("outputTokenCount")
    if type(ot) is not int or not 0 <= ot <= I64_MAX:
        ot = _count(ot, "outputTokenCount", True)
    cr = inp.get("cacheReadInputTokenCount", 0)
    if type(cr) is not int or not 0 <= cr <= I64_MAX:
        cr = _count(cr, "cacheReadInputTokenCount", False)
    cw = inp.get("cacheWriteInputTokenCount", 0)
    if type(cw) is not int or not 0 <= cw <= I64_MAX:
        cw = _count(cw, "cacheWriteInputTokenCount", False)
    ident = get("identity")
    if type(ident) is dict:
        arn = ident.get("arn")
        if type(arn) is not str:
            arn = _opt_str(arn, "identity.arn")
    elif ident is None:
        arn = ""
    else:
        raise _Bad("bad_field", f"identity is not an object: {_show(ident)}")
    region = get("region")
    if type(region) is not str:
        region = _opt_str(region, "region")
    infreg = get("inferenceRegion")
    if type(infreg) is not str:
        infreg = _opt_str(infreg, "inferenceRegion")
    err = get("errorCode")
    if type(err) is not str:
        err = _opt_str(err, "errorCode")
    perf = get("performanceConfig")
    if perf is None:
        latency = ""
    elif type(perf) is dict:
        latency = _opt_str(perf.get("latency"), "performanceConfig.latency")
    else:
        raise _Bad("bad_field", f"performanceConfig is not an object: {_show(perf)}")
    meta = get("requestMetadata")
    if meta is None:
        meta_s = ""
    elif type(meta) is dict:
        meta_s = orjson.dumps(meta, option=orjson.OPT_SORT_KEYS).decode() if meta else ""
    else:
        raise _Bad("bad_field", f"requestMetadata is not an object: {_show(meta)}")
    return rid, t, op, model_id, arn, region, infreg, err, latency, meta_s, it, ot, cr, cw, line


def _rid_of(raw, r=None) -> str:
    """The request id of a bad line, for the quarantine: only when it looks like an id."""
    if type(r) is dict:
        v = r.get("requestId")
        return v if type(v) is str and _SAFE.fullmatch(v) else ""
    m = _RID.search(bytes(raw[:4096]))
    return m.group(1).decode() if m else ""


# --- one object -----------------------------------------------------------------------------------------------------
def _blocks_of(src) -> Iterator:
    """Compressed input in blocks: from bytes, or streamed from a local file."""
    if isinstance(src, _reader):
        with open(src.path, "rb") as f:
            while True:
                b = f.read(BLOCK_BYTES)
                if not b:
                    return
                yield b
    else:
        mv = memoryview(src)
        for i in range(0, len(mv), BLOCK_BYTES):
            yield mv[i:i + BLOCK_BYTES]


def _inflate(blocks: Iterator, problems: list) -> Iterator[bytes]:
    """Decompress a gzip stream (possibly multi-member) into pieces of at most ``CHUNK_BYTES``. A problem with the
    stream is appended to ``problems`` (what was inflated before it is still yielded)."""
    it = iter(blocks)
    buf = bytes(next(it, b""))
    if not buf:
        problems.append("empty_file")
        return
    if len(buf) < 2:
        buf += bytes(next(it, b""))
    if buf[:2] != GZIP_MAGIC:
        problems.append("not_gzip")
        for _ in it:   # consume, so the size read is the object's
            pass
        return
    d = _zlib.decompressobj(31)
    try:
        while True:
            out = d.decompress(buf, CHUNK_BYTES)
            if out:
                yield out
            if d.eof:
                rest = d.unused_data
                while len(rest) < 2:
                    nxt = next(it, None)
                    if nxt is None:
                        break
                    rest += bytes(nxt)
                if not rest:
                    return
                if rest[:2] != GZIP_MAGIC:
                    garbage = bool(rest.strip(b"\0"))
                    for b in it:
                        garbage = garbage or bool(bytes(b).strip(b"\0"))
                    if garbage:   # zero padding is allowed after a gzip stream; anything else is not
                        problems.append("trailing_garbage")
                    return
                d, buf = _zlib.decompressobj(31), rest
                continue
            buf = d.unconsumed_tail
            if not buf:
                nxt = next(it, None)
                if nxt is None:
                    while not d.eof:
                        out = d.decompress(b"", CHUNK_BYTES)
                        if not out:
                            break
                        yield out
                    if not d.eof:
                        problems.append("truncated_gzip")
                    return
                buf = nxt
    except Exception as e:  # noqa: BLE001 - any inflate error is a damaged file
        problems.append(f"corrupt_gzip: {e}")


def _head(pieces: list, n: int = 4096) -> bytes:
    """The first ``n`` bytes of a line held in pieces."""
    out, size = [], 0
    for p in pieces:
        out.append(bytes(p[:n - size]))
        size += len(out[-1])
        if size >= n:
            break
    return b"".join(out)


def _lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, object, bytes | None]]:
    """(line number, line, None) for every non-empty line, or (line number, None, head) for a line longer than
    ``MAX_LINE_BYTES`` (skipped without being held). Lines are memoryviews into the chunk where they fit in one."""
    lineno = 0
    carry: list = []
    carry_len = 0
    head = None          # set while skipping an over-long line
    limit = MAX_LINE_BYTES
    for chunk in chunks:
        pos, n = 0, len(chunk)
        if carry or head is not None:
            nl = chunk.find(b"\n")
            if nl < 0:
                if head is None:
                    carry.append(chunk)
                    carry_len += n
                    if carry_len > limit:
                        head, carry, carry_len = _head(carry), [], 0
                continue
            lineno += 1
            if head is not None:
                yield lineno, None, head
                head = None
            elif carry_len + nl > limit:
                yield lineno, None, _head(carry + [chunk[:4096]])
            else:
                carry.append(chunk[:nl])
                yield lineno, b"".join(carry), None
            carry, carry_len, pos = [], 0, nl + 1
        mv = memoryview(chunk)
        find = chunk.find
        while True:
            nl = find(b"\n", pos)
            if nl < 0:
                break
            lineno += 1
            if nl > pos:
                if nl - pos > limit:
                    yield lineno, None, bytes(mv[pos:pos + 4096])
                else:
                    yield lineno, mv[pos:nl], None
            pos = nl + 1
        if pos < n:
            if n - pos > limit:
                head = bytes(mv[pos:pos + 4096])
            else:
                carry, carry_len = [mv[pos:]], n - pos
    if head is not None:
        yield lineno + 1, None, head
    elif carry:
        yield lineno + 1, b"".join(carry), None


def _scan(key: str, src, strict: bool, sink: Callable[[list], None]) -> tuple[int, list, str | None, int]:
    """Parse one object. Good rows go to ``sink`` in batches; returns (records read, problems, file problem, bytes)."""
    fproblems: list = []
    problems: list = []
    nbytes = 0

    def counted(blocks):
        nonlocal nbytes
        for b in blocks:
            nbytes += len(b)
            yield b

    rows: list = []
    append = rows.append
    loads = orjson.loads
    tcache: dict = {}
    n = 0
    for lineno, raw, head in _lines(_inflate(counted(_blocks_of(src)), fproblems)):
        if raw is None:
            n += 1
            if strict:
                raise StrictError(f"{key} line {lineno}: line_too_long: longer than {MAX_LINE_BYTES} bytes")
            problems.append(("line_too_long", key, lineno, _rid_of(head),
                             f"line longer than {MAX_LINE_BYTES} bytes"))
            continue
        try:
            r = loads(raw)
        except orjson.JSONDecodeError as e:
            b = bytes(raw)
            if not b.strip():
                continue
            n += 1
            try:
                b.decode("utf-8")
                kind, reason = "invalid_json", f"not JSON: {str(e)[:80]}"
            except UnicodeDecodeError:
                kind, reason = "invalid_utf8", "line is not valid UTF-8"
            if strict:
                raise StrictError(f"{key} line {lineno}: {kind}: {reason}") from None
            problems.append((kind, key, lineno, _rid_of(b), reason))
            continue
        n += 1
        try:
            append(_record(r, tcache, lineno))
        except _Bad as bad:
            if strict:
                raise StrictError(f"{key} line {lineno}: {bad.kind}: {bad.reason}") from None
            problems.append((bad.kind, key, lineno, _rid_of(raw, r), bad.reason))
            continue
        if len(rows) >= BATCH_ROWS:
            sink(rows)
            rows = []
            append = rows.append
            if len(tcache) > 100_000:
                tcache.clear()
    if rows:
        sink(rows)
    fproblem = fproblems[0] if fproblems else None
    if fproblem and strict:
        raise StrictError(f"{key}: {fproblem}")
    return n, problems, fproblem, nbytes


# --- spilling rows compactly ----------------------------------------------------------------------------------------
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _hash_ids(blob: bytes, offsets: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each request id (only used to find candidates; duplicates are confirmed on the ids)."""
    n = len(offsets) - 1
    lens = np.diff(offsets)
    if n and (lens == lens[0]).all() and lens[0] > 0:
        width = int(lens[0])
        words = -(-width // 8)
        padded = np.zeros((n, words * 8), dtype=np.uint8)
        padded[:, :width] = np.frombuffer(blob, dtype=np.uint8).reshape(n, width)
        w = padded.view("<u8")
        h = np.full(n, width, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(words):
                h = _mix(h ^ w[:, j])
        return h
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        out[i] = int.from_bytes(hashlib.blake2b(blob[offsets[i]:offsets[i + 1]], digest_size=8).digest(), "little")
    return out


def _pack(rows: list) -> dict:
    """Rows of one batch to numpy columns: request ids as UTF-8 bytes and offsets, few-valued strings as codes."""
    cols = list(zip(*rows))
    n = len(rows)
    enc = [s.encode() for s in cols[0]]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, enc), dtype=np.int64, count=n), out=offsets[1:])
    blob = b"".join(enc)
    batch = {"n": n, "rid": blob, "rid_offsets": offsets.astype(np.int32) if offsets[-1] < (1 << 31) else offsets,
             "key": _hash_ids(blob, offsets), "timestamp": np.array(cols[1], dtype=np.int64)}
    for name, col in zip(DICT_COLUMNS, cols[2:10]):
        values = list(dict.fromkeys(col))
        index = {v: i for i, v in enumerate(values)}
        batch[name] = (np.fromiter(map(index.__getitem__, col), dtype=np.int32, count=n), values)
    for name, col in zip(INT_COLUMNS, cols[10:]):
        batch[name] = np.array(col, dtype=np.int64)
    return batch


def _scan_to_part(i: int, key: str, src, strict: bool, part) -> dict:
    """Worker job: parse object ``i`` and spill its rows to ``part`` (a path, or a file open for appending).
    Returns counts, problems, the id hashes and where the rows are: (path, start, end) or None."""
    if callable(src) and not isinstance(src, _reader):
        src = src()
    keys: list = []
    rows_n = 0
    own = not hasattr(part, "write")
    fh = None if own else part
    start = None

    def sink(rows):
        nonlocal fh, rows_n, start
        b = _pack(rows)
        keys.append(b["key"])
        rows_n += b["n"]
        if fh is None:
            fh = open(part, "wb")
        if start is None:
            start = fh.tell()
        pickle.dump(b, fh, protocol=5)

    try:
        n, problems, fproblem, nbytes = _scan(key, src, strict, sink)
    finally:
        if own and fh is not None:
            fh.close()
    where = None
    if rows_n:
        where = (str(part) if own else fh.name, start, None if own else fh.tell())
    return {"i": i, "records": n, "rows": rows_n, "problems": problems, "file_problem": fproblem, "bytes": nbytes,
            "keys": np.concatenate(keys) if keys else np.empty(0, dtype=np.uint64), "part": where}


def _read_part(where: tuple) -> Iterator[dict]:
    path, start, end = where
    with open(path, "rb") as f:
        f.seek(start)
        while end is None or f.tell() < end:
            try:
                yield pickle.load(f)
            except EOFError:
                return


# --- running the objects ------------------------------------------------------------------------------------------
class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


@contextmanager
def _plain_main():
    """Start ``spawn`` children without re-importing the caller's ``__main__`` (a script without a
    ``if __name__ == "__main__"`` guard would run again in every worker): they only need this module."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _worker_loop(jobs, results) -> None:
    while True:
        job = jobs.get()
        if job is None:
            return
        try:
            results.put(("ok", job[0], _scan_to_part(*job)))
        except BaseException as e:  # noqa: BLE001 - hand every failure to the parent
            try:
                pickle.dumps(e)
            except Exception:  # noqa: BLE001
                e = RuntimeError(f"{type(e).__name__}: {e}")
            results.put(("err", job[0], e))


def _run(objects: list[LogObject], strict: bool, spill: Path, workers: int) -> Iterator[dict]:
    """Scan every object, yielding results in the objects' order."""
    parts = [str(spill / f"part-{i:06d}.pkl") for i in range(len(objects))]
    total = sum(max(0, o.size or 0) for o in objects)
    if workers <= 1 or len(objects) < 2 or total < PARALLEL_MIN_BYTES:
        with open(spill / "parts.pkl", "wb") as fh:     # one file for all: many small objects cost no file each
            for i, o in enumerate(objects):
                r = _scan_to_part(i, o.key, o.read, strict, fh)
                fh.flush()
                yield r
        return
    import multiprocessing as mp
    import queue
    from concurrent.futures import ThreadPoolExecutor
    ctx = mp.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_worker_loop, args=(jobs, results), daemon=True, name=f"bedrock-logs-{k}")
             for k in range(min(workers, len(objects)))]
    with _plain_main():
        for p in procs:
            p.start()
    # jobs queued ahead of the one awaited: all of them when the workers read local files themselves (a job is a
    # path); a few when the bytes travel with the job
    depth = len(objects) if all(isinstance(o.read, _reader) for o in objects) else 4 * len(procs)
    # local files are streamed by the workers themselves; any other reader (an S3 download with its own prefetching
    # threads, a closure over a client) is called here, a few objects ahead, and the bytes go to the workers
    readers = ThreadPoolExecutor(4)
    try:
        srcs = _prefetch(readers, objects, depth)
        submitted = 0
        done: dict = {}
        for want in range(len(objects)):
            while submitted < len(objects) and submitted - want < depth:
                jobs.put((submitted, objects[submitted].key, next(srcs), strict, parts[submitted]))
                submitted += 1
            while want not in done:
                try:
                    status, i, value = results.get(timeout=1.0)
                except queue.Empty:
                    dead = [p for p in procs if not p.is_alive()]
                    if dead:
                        raise RuntimeError(f"a log reader process died (exit code {dead[0].exitcode})") from None
                    continue
                done[i] = (status, value)
            status, value = done.pop(want)
            if status == "err":      # raised in key order: every earlier object was read without a problem
                raise value
            yield value
    finally:
        readers.shutdown(wait=False, cancel_futures=True)
        for _ in procs:
            jobs.put(None)
        for p in procs:
            p.join(2)
            if p.is_alive():
                p.terminate()
                p.join(5)
        jobs.close()
        results.close()
        jobs.cancel_join_thread()
        results.cancel_join_thread()


def _prefetch(pool, objects: list[LogObject], depth: int) -> Iterator:
    pending: deque = deque()
    for o in objects:
        pending.append(_Done(o.read) if isinstance(o.read, _reader) else pool.submit(o.read))
        if len(pending) >= depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _repeated(keys: list[np.ndarray], parts: int = 16) -> np.ndarray:
    """The hashes that occur more than once, one slice of the hash range at a time (so the sort's copy is small)."""
    out = []
    step = np.uint64(1 << 60)
    for k in range(parts):
        lo = np.uint64(k) * step
        sel = [a[(a >= lo) & (a - lo < step)] for a in keys] if parts > 1 else keys
        x = np.concatenate(sel) if sel else np.empty(0, dtype=np.uint64)
        del sel
        x.sort()
        out.append(np.unique(x[1:][x[1:] == x[:-1]]))
    return np.concatenate(out)


# --- the result -----------------------------------------------------------------------------------------------------
class LogsResult:
    """What a collection found. ``used``, ``late`` and ``quarantine`` are DataFrames; when the collection was written
    to a folder they are read from its parquet files on first use (``paths``), so holding a result costs nothing."""

    def __init__(self, used=None, late=None, quarantine=None, quality: dict | None = None, files: list | None = None,
                 paths: dict | None = None, cached: bool = False):
        self._frames = {"used": used, "late": late, "quarantine": quarantine}
        self.quality = quality or {}
        self.files = files or []
        self.paths = paths or {}
        self.cached = cached
        self.timings: dict = {}

    def _get(self, name: str):
        if self._frames[name] is None and name in self.paths:
            import pandas as pd
            self._frames[name] = pd.read_parquet(self.paths[name])
        return self._frames[name]

    def _set(self, name: str, value) -> None:
        self._frames[name] = value

    used = property(lambda self: self._get("used"), lambda self, v: self._set("used", v))
    late = property(lambda self: self._get("late"), lambda self, v: self._set("late", v))
    quarantine = property(lambda self: self._get("quarantine"), lambda self, v: self._set("quarantine", v))

    def __repr__(self) -> str:
        q = self.quality
        return (f"LogsResult(records_read={q.get('records_read')}, used={q.get('records_used')}, "
                f"late={q.get('records_late')}, cached={self.cached}, paths={sorted(self.paths)})")


def _schema():
    import pyarrow as pa
    ts = pa.timestamp("ns", tz="UTC")
    dict_t = pa.dictionary(pa.int32(), pa.string())
    types = {"request_id": pa.string(), "timestamp": ts, "delivered_at": ts, "file": dict_t,
             **{c: dict_t for c in DICT_COLUMNS}, **{c: pa.int64() for c in INT_COLUMNS}}
    return pa.schema([(c, types[c]) for c in COLUMNS])


def _table(b: dict, key: str, delivered_ns: int, schema):
    import pyarrow as pa
    n = b["n"]
    off = b["rid_offsets"]
    rid_t = pa.string() if off.dtype == np.int32 else pa.large_string()
    arrays = {
        "request_id": pa.Array.from_buffers(rid_t, n, [None, pa.py_buffer(off), pa.py_buffer(b["rid"])]),
        "timestamp": pa.Array.from_buffers(schema.field("timestamp").type, n, [None, pa.py_buffer(b["timestamp"])]),
        "delivered_at": pa.Array.from_buffers(schema.field("delivered_at").type, n,
                                              [None, pa.py_buffer(np.full(n, delivered_ns, dtype=np.int64))]),
        "file": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([key], pa.string())),
        "line": pa.array(b["line"]),
    }
    if rid_t != pa.string():
        arrays["request_id"] = arrays["request_id"].cast(pa.string())
    for c in DICT_COLUMNS:
        codes, values = b[c]
        arrays[c] = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(values, pa.string()))
    for c in TOKENS:
        arrays[c] = pa.array(b[c])
    return pa.Table.from_arrays([arrays[c] for c in COLUMNS], schema=schema)


class _Writer:
    """Rows to one parquet file, in row groups of ``ROW_GROUP_ROWS``, encoded on a background thread (pyarrow lets
    go of the GIL) while the next row group is being put together; the file appears only when complete."""

    def __init__(self, path: Path, schema):
        import pyarrow.parquet as pq
        from concurrent.futures import ThreadPoolExecutor
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.w = pq.ParquetWriter(str(self.tmp), schema, store_schema=False, compression="zstd", compression_level=1,
                                  use_dictionary=["file", *DICT_COLUMNS])
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="parquet")
        self.pending = None
        self.buf: list = []
        self.n = 0
        self.rows = 0

    def add(self, table) -> None:
        if table.num_rows:
            self.buf.append(table)
            self.n += table.num_rows
            self.rows += table.num_rows
            if self.n >= ROW_GROUP_ROWS:
                self.flush()

    def _wait(self) -> None:
        if self.pending is not None:
            p, self.pending = self.pending, None
            p.result()

    def flush(self) -> None:
        if self.buf:
            import pyarrow as pa
            table = pa.concat_tables(self.buf)
            self.buf, self.n = [], 0
            self._wait()             # at most one row group being written, one being gathered
            self.pending = self.pool.submit(self._write, table)

    def _write(self, table) -> None:
        import pyarrow as pa
        # one dictionary per column and row group: the writer encodes that ~40% faster than a dictionary per batch
        table = table.unify_dictionaries().combine_chunks()
        self.w.write_table(table, row_group_size=1 << 30)
        del table
        pa.default_memory_pool().release_unused()

    def close(self) -> None:
        self.flush()
        self._wait()
        self.pool.shutdown()
        self.w.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            try:
                self._wait()
            except Exception:  # noqa: BLE001 - the first error is the one being raised
                pass
            self.pool.shutdown()
            self.w.close()
        finally:
            if self.tmp.exists():
                self.tmp.unlink()


def frame(rows: list[tuple]):
    """Rows in ``COLUMNS`` order (as :func:`parse_object` returns them) to a DataFrame."""
    import pandas as pd
    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in INT_COLUMNS:
        df[c] = df[c].astype("int64")
    for c in ("timestamp", "delivered_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


def parse_object(key: str, data: bytes, delivered_at: dt.datetime, strict: bool = False):
    """Parse one log object. Returns (rows in ``COLUMNS`` order, problems, records_read, file_problem)."""
    out: list = []
    n, problems, fproblem, _ = _scan(key, data, strict, out.extend)
    rows = [(r[0], _EPOCH + dt.timedelta(microseconds=r[1] // 1000), *r[2:7], *r[10:14], *r[7:10], key, r[14],
             delivered_at) for r in out]
    return rows, problems, n, fproblem


# --- the collection -------------------------------------------------------------------------------------------------
def _ns(t: dt.datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return ((t - _EPOCH) // _US) * 1000


_CODE: str | None = None


def _code_version() -> str:
    """This module's own hash: a changed parser never reuses what an older one wrote."""
    global _CODE
    if _CODE is None:
        _CODE = hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:16]
    return _CODE


def _signature(objects: list[LogObject], day: dt.date, as_of: dt.datetime | None, strict: bool) -> dict:
    return {"version": CACHE_VERSION, "code": _code_version(), "day": day.isoformat(),
            "as_of": as_of.isoformat() if as_of else None,
            "strict": bool(strict), "max_line_bytes": MAX_LINE_BYTES,
            "objects": [[o.key, int(o.size), str(o.etag), o.delivered_at.isoformat()] for o in objects]}


def _stat(p: Path) -> list:
    st = p.stat()
    return [st.st_size, st.st_mtime_ns]


def _cached(out_dir: Path, sig: dict) -> LogsResult | None:
    """The result of an earlier collection over the same objects, if its files are still what it wrote."""
    mpath = out_dir / MANIFEST_FILE
    try:
        m = json.loads(mpath.read_text())
        if m.get("signature") != sig:
            return None
        paths = {k: out_dir / v for k, v in (("used", USED_FILE), ("late", LATE_FILE), ("quarantine", QUARANTINE_FILE))}
        if any(_stat(paths[k]) != m["outputs"][k] for k in paths):
            return None
        return LogsResult(quality=m["quality"], files=m["files"], paths=paths, cached=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def collect(objects: Iterable[LogObject], day: dt.date, as_of: dt.datetime | None = None, strict: bool = False,
            workers: int = 1, out_dir: str | Path | None = None) -> LogsResult:
    """Read every object, assign records to days by their own timestamp, de-duplicate by requestId.

    ``as_of``: the collection time. Objects delivered after it are read (when listed) but their records count as
    late delivery, not as logs: this is what a collection at that time saw, and it sizes what arrived later.

    ``workers``: processes reading objects side by side (see :func:`default_workers`). ``out_dir``: write
    ``collect_logs.parquet``, ``collect_logs_late.parquet`` and ``collect_quarantine.parquet`` there and return a
    result that reads them on first use; a second call over unchanged objects reuses them without reading anything.
    Without ``out_dir`` the frames are built in memory (fine for small inputs and tests).

    ``strict``: raise :class:`StrictError` at the first bad file or record in key order; a duplicated requestId,
    which needs every object read, raises after all objects are read.
    """
    objects = sorted(objects, key=lambda o: o.key)
    sig = _signature(objects, day, as_of, strict)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        hit = _cached(out_dir, sig)
        if hit is not None:
            return hit
        (out_dir / MANIFEST_FILE).unlink(missing_ok=True)
        for old in [*out_dir.glob(".collect_logs*"), *out_dir.glob(f".{QUARANTINE_FILE}.*")]:
            # spill and temp files this module left in a killed run (one collection per folder at a time)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        spill = Path(tempfile.mkdtemp(prefix=".collect_logs.", dir=out_dir))
        target = out_dir
    else:
        spill = Path(tempfile.mkdtemp(prefix="bedrock-logs-"))
        target = spill
    try:
        res = _collect(objects, day, as_of, strict, workers, spill, target)
        if out_dir is None:
            for name in ("used", "late", "quarantine"):
                getattr(res, name)         # read now: the folder goes away
            res.paths = {}
        else:
            m = {"signature": sig, "quality": res.quality, "files": res.files,
                 "outputs": {k: _stat(p) for k, p in res.paths.items()}}
            _write_json(out_dir / MANIFEST_FILE, m)
        return res
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def _collect(objects: list[LogObject], day: dt.date, as_of, strict: bool, workers: int, spill: Path,
             target: Path) -> LogsResult:
    # pass 1: parse every object (in parallel), spill rows, keep one hash per row
    t0 = time.perf_counter()
    results: list = [None] * len(objects)
    keys: list = []
    for k, r in enumerate(_run(objects, strict, spill, workers)):
        keys.append(r.pop("keys"))
        results[r["i"]] = r
        if k == 0:
            import pandas as pd         # while the workers read (it takes a moment to import)
            import pyarrow.parquet  # noqa: F401
    import pandas as pd
    dupkeys = _repeated(keys)
    del keys

    # pass 2: settle duplicates exactly, split the day, write the frames
    t1 = time.perf_counter()
    d0 = _ns(dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc))
    d1 = d0 + 86400 * 10**9
    as_of_ns = _ns(as_of) if as_of is not None else None
    schema = _schema()
    paths = {"used": target / USED_FILE, "late": target / LATE_FILE, "quarantine": target / QUARANTINE_FILE}
    used_w, late_w = _Writer(paths["used"], schema), _Writer(paths["late"], schema)
    problems: list = []
    dup_problems: list = []
    files: list = []
    q = Counter()
    seen: dict = {}
    records_read = outside = 0
    try:
        for o, r in zip(objects, results):
            records_read += r["records"]
            problems.extend(r["problems"])
            files.append({"key": o.key, "size": r["bytes"], "etag": o.etag, "delivered_at": o.delivered_at.isoformat(),
                          "records": r["records"], "problem": r["file_problem"] or ""})
            if r["file_problem"]:
                kind = r["file_problem"].split(":")[0]
                q[f"file_{kind}"] += 1
                problems.append((kind, o.key, 0, "", r["file_problem"]))
            if not r["part"]:
                continue
            dns = _ns(o.delivered_at)
            is_late = as_of_ns is not None and dns > as_of_ns
            for b in _read_part(r["part"]):
                keep = np.ones(b["n"], dtype=bool)
                if len(dupkeys):
                    cand = np.flatnonzero(np.isin(b["key"], dupkeys))
                    off = b["rid_offsets"]
                    for j in cand.tolist():
                        rid = b["rid"][off[j]:off[j + 1]].decode()
                        if rid in seen:
                            keep[j] = False
                            dup_problems.append(("duplicate", o.key, int(b["line"][j]), rid,
                                                 "requestId seen before in this collection"))
                        else:
                            seen[rid] = True
                ts = b["timestamp"]
                in_day = (ts >= d0) & (ts < d1)
                outside += int((keep & ~in_day).sum())
                keep &= in_day
                if not keep.any():
                    continue
                t = _table(b, o.key, dns, schema)
                if not keep.all():
                    import pyarrow as pa
                    t = t.filter(pa.array(keep))
                (late_w if is_late else used_w).add(t)
        if strict and dup_problems:
            _, f, line, rid, reason = dup_problems[0]
            raise StrictError(f"{f} line {line}: duplicate: {reason} ({rid})")
        used_w.close()
        late_w.close()
    except BaseException:
        used_w.abort()
        late_w.abort()
        raise
    problems.extend(dup_problems)
    quar = pd.DataFrame(problems, columns=QUARANTINE_COLUMNS)
    quar["line"] = quar["line"].astype("int64")
    tmp = paths["quarantine"].with_name(f".{QUARANTINE_FILE}.{os.getpid()}.tmp")
    quar.to_parquet(tmp, index=False)
    os.replace(tmp, paths["quarantine"])
    record_problems = quar[quar["line"] > 0]
    by_kind = record_problems["kind"].value_counts().to_dict()
    quality = {
        "files_read": len(objects),
        "files_bad": {k[5:]: v for k, v in q.items()},
        "records_read": records_read,
        "records_used": used_w.rows,
        "records_late": late_w.rows,
        "records_outside_day": outside,
        "records_duplicate": int(by_kind.get("duplicate", 0)),
        "records_malformed": int(sum(v for k, v in by_kind.items() if k != "duplicate")),
        "records_quarantined_by_kind": {k: int(v) for k, v in sorted(by_kind.items())},
    }
    assert quality["records_read"] == used_w.rows + late_w.rows + outside + len(record_problems), quality
    res = LogsResult(quality=quality, files=files, paths=paths, quarantine=quar)
    res.timings = {"read_seconds": round(t1 - t0, 3), "write_seconds": round(time.perf_counter() - t1, 3)}
    return res

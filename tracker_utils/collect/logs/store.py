"""What a collection writes: the parquet files of used and late records, and the manifest that lets a re-run over
unchanged objects return at once.

In: spilled batches (:mod:`spill`). Out: ``collect_logs.parquet``, ``collect_logs_late.parquet`` (written row group
by row group, each file appearing only when complete), ``collect_quarantine.parquet`` and
``collect_logs_manifest.json`` (names from :class:`tracker_utils.schema.COLLECT`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from tracker_utils.collect.logs import scan
from tracker_utils.collect.logs.listing import LogObject
from tracker_utils.collect.logs.records import COLUMNS, DICT_COLUMNS, INT_COLUMNS
from tracker_utils.schema import COLLECT, TOKENS, TTL_COLUMNS

USED_FILE = COLLECT.LOGS
LATE_FILE = COLLECT.LOGS_LATE
QUARANTINE_FILE = COLLECT.QUARANTINE
MANIFEST_FILE = COLLECT.MANIFEST
OUTPUTS = {"used": USED_FILE, "late": LATE_FILE, "quarantine": QUARANTINE_FILE}
CACHE_VERSION = 2                 # bump when the parser's output for the same bytes changes
ROW_GROUP_ROWS = 131072           # rows per parquet row group


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
        self.other_days: dict[str, dict[str, int]] = {}   # day -> {object key: records of that day in it}

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


def _table(items: list, schema):
    """One table from the kept rows of several spilled batches: ``items`` are (batch, keep mask, object key,
    delivery ns), in order. Gathering the small batches of many small objects into one table costs one set of
    array constructions instead of one per object (a demo day has ~200 objects of one or two records)."""
    import pyarrow as pa
    idx = [np.flatnonzero(keep) for _, keep, _, _ in items]
    n = sum(len(i) for i in idx)
    rids, lens = [], []
    for (b, keep, _, _), i in zip(items, idx):
        off = b["rid_offsets"].astype(np.int64)
        if len(i) == b["n"]:
            rids.append(b["rid"])
            lens.append(np.diff(off))
        else:
            starts, ends = off[i], off[i + 1]
            rids.append(b"".join(b["rid"][a:z] for a, z in zip(starts.tolist(), ends.tolist())))
            lens.append(ends - starts)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.concatenate(lens), out=offsets[1:])
    big = offsets[-1] >= (1 << 31)
    rid_t = pa.large_string() if big else pa.string()
    arrays = {
        "request_id": pa.Array.from_buffers(rid_t, n, [None, pa.py_buffer(offsets if big else offsets.astype(np.int32)),
                                                       pa.py_buffer(b"".join(rids))]),
        "timestamp": _ints(schema.field("timestamp").type, n, [b["timestamp"][i] for (b, *_), i in zip(items, idx)]),
        "delivered_at": _ints(schema.field("delivered_at").type, n,
                              [np.full(len(i), dns, dtype=np.int64) for (*_, dns), i in zip(items, idx)]),
        "file": _dictionary([(np.zeros(len(i), dtype=np.int32), [key]) for (_, _, key, _), i in zip(items, idx)]),
    }
    if big:
        arrays["request_id"] = arrays["request_id"].cast(pa.string())
    for c in DICT_COLUMNS:
        arrays[c] = _dictionary([(b[c][0][i], b[c][1]) for (b, *_), i in zip(items, idx)])
    for c in ("line", *TOKENS, *TTL_COLUMNS):
        arrays[c] = pa.array(np.concatenate([b[c][i] for (b, *_), i in zip(items, idx)]))
    return pa.Table.from_arrays([arrays[c] for c in COLUMNS], schema=schema)


def _ints(typ, n: int, parts: list):
    import pyarrow as pa
    return pa.Array.from_buffers(typ, n, [None, pa.py_buffer(np.ascontiguousarray(np.concatenate(parts), np.int64))])


def _dictionary(parts: list):
    """One dictionary array from (codes, values) parts, each with its own values: the values are merged in order of
    first appearance and each part's codes mapped onto them."""
    import pyarrow as pa
    index: dict = {}
    mapped = []
    for codes, values in parts:
        remap = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int32, count=len(values))
        mapped.append(remap[codes] if len(codes) else codes.astype(np.int32))
    return pa.DictionaryArray.from_arrays(pa.array(np.concatenate(mapped), pa.int32()), pa.array(list(index), pa.string()))


GATHER_ROWS = 8192                # rows of small batches held, then gathered into one table


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
        self.schema = schema
        self.buf: list = []
        self.gathered: list = []
        self.n = self.gathered_n = 0
        self.rows = 0

    def add(self, batch: dict, keep, key: str, delivered_ns: int) -> None:
        """The rows of a spilled batch where ``keep`` is true, from object ``key`` delivered at ``delivered_ns``."""
        k = int(keep.sum())
        if not k:
            return
        self.gathered.append((batch, keep, key, delivered_ns))
        self.gathered_n += batch["n"]        # rows held (kept or not): what bounds the memory
        self.rows += k
        if self.gathered_n >= GATHER_ROWS:
            self._gather()

    def _gather(self) -> None:
        if self.gathered:
            table = _table(self.gathered, self.schema)
            self.gathered, self.gathered_n = [], 0
            self.buf.append(table)
            self.n += table.num_rows
            if self.n >= ROW_GROUP_ROWS:
                self.flush()

    def _wait(self) -> None:
        if self.pending is not None:
            p, self.pending = self.pending, None
            p.result()

    def flush(self) -> None:
        if self.gathered:
            self._gather()          # adds to buf, and may flush by itself
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


# --- the manifest: a re-run over unchanged objects reads nothing ---------------------------------------------------
_CODE: str | None = None


def _code_version() -> str:
    """The hash of this package's code: a changed parser never reuses what an older one wrote."""
    global _CODE
    if _CODE is None:
        h = hashlib.sha1()
        for p in sorted(Path(__file__).parent.glob("*.py")):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        _CODE = h.hexdigest()[:16]
    return _CODE


def _signature(objects: list[LogObject], day: dt.date, as_of: dt.datetime | None, strict: bool,
               region: str | None = None, max_tokens: int | None = None) -> dict:
    return {"version": CACHE_VERSION, "code": _code_version(), "day": day.isoformat(),
            "as_of": as_of.isoformat() if as_of else None, "region": region, "max_tokens": max_tokens,
            "strict": bool(strict), "max_line_bytes": scan.MAX_LINE_BYTES, "examples": scan.EXAMPLES,
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
        paths = {k: out_dir / v for k, v in OUTPUTS.items()}
        if any(_stat(paths[k]) != m["outputs"][k] for k in paths):
            return None
        res = LogsResult(quality=m["quality"], files=m["files"], paths=paths, cached=True)
        res.other_days = m.get("other_days", {})
        return res
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)

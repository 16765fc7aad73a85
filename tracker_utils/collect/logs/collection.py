"""A collection: every object of a day read once, every record counted once, in its own day, or named.

In: :class:`LogObject` entries, the day, the collection time. Out: a :class:`store.LogsResult` whose ``quality``
accounts for every line read: used, outside the day, delivered after the collection time (late), or quarantined
with its file, line and reason.

Two passes: the objects are parsed (in parallel) and spilled with one 64-bit hash per record; then the hashes seen
twice are settled exactly on the request ids, the day, late and outside rows are split, and streamed to parquet.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np

from tracker_utils.collect.logs import pool, scan, spill, store
from tracker_utils.collect.logs.listing import LogObject
from tracker_utils.collect.logs.records import COLUMNS, EPOCH, INT_COLUMNS, QUARANTINE_COLUMNS, StrictError, ns
from tracker_utils.collect.logs.store import LogsResult


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
    n, problems, fproblem, _ = scan._scan(key, data, strict, out.extend)
    rows = [(r[0], EPOCH + dt.timedelta(microseconds=r[1] // 1000), *r[2:7], *r[10:14], *r[7:10], key, r[14],
             delivered_at) for r in out]
    return rows, problems, n, fproblem


def collect(objects: Iterable[LogObject], day: dt.date, as_of: dt.datetime | None = None, strict: bool = False,
            workers: int = 1, out_dir: str | Path | None = None) -> LogsResult:
    """Read every object, assign records to days by their own timestamp, de-duplicate by requestId.

    ``as_of``: the collection time. Objects delivered after it are read (when listed) but their records count as
    late delivery, not as logs: this is what a collection at that time saw, and it sizes what arrived later.

    ``workers``: processes reading objects side by side (see :func:`pool.default_workers`). ``out_dir``: write
    ``collect_logs.parquet``, ``collect_logs_late.parquet`` and ``collect_quarantine.parquet`` there and return a
    result that reads them on first use; a second call over unchanged objects reuses them without reading anything.
    Without ``out_dir`` the frames are built in memory (fine for small inputs and tests).

    ``strict``: raise :class:`StrictError` at the first bad file or record in key order; a duplicated requestId,
    which needs every object read, raises after all objects are read.
    """
    objects = sorted(objects, key=lambda o: o.key)
    sig = store._signature(objects, day, as_of, strict)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        hit = store._cached(out_dir, sig)
        if hit is not None:
            return hit
        (out_dir / store.MANIFEST_FILE).unlink(missing_ok=True)
        for old in [*out_dir.glob(".collect_logs*"), *out_dir.glob(f".{store.QUARANTINE_FILE}.*")]:
            # spill and temp files this module left in a killed run (one collection per folder at a time)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        spill_dir = Path(tempfile.mkdtemp(prefix=".collect_logs.", dir=out_dir))
        target = out_dir
    else:
        spill_dir = Path(tempfile.mkdtemp(prefix="bedrock-logs-"))
        target = spill_dir
    try:
        res = _collect(objects, day, as_of, strict, workers, spill_dir, target)
        if out_dir is None:
            for name in ("used", "late", "quarantine"):
                getattr(res, name)         # read now: the folder goes away
            res.paths = {}
        else:
            m = {"signature": sig, "quality": res.quality, "files": res.files,
                 "outputs": {k: store._stat(p) for k, p in res.paths.items()}}
            store._write_json(out_dir / store.MANIFEST_FILE, m)
        return res
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)


class _Pass2:
    """The second pass: settles duplicates on the ids, splits day / late / outside, and writes the frames."""

    def __init__(self, day: dt.date, as_of, dupkeys: np.ndarray, target: Path):
        self.d0 = ns(dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc))
        self.d1 = self.d0 + 86400 * 10**9
        self.as_of_ns = ns(as_of) if as_of is not None else None
        self.dupkeys = dupkeys
        self.schema = store._schema()
        self.paths = {k: target / v for k, v in store.OUTPUTS.items()}
        self.used = store._Writer(self.paths["used"], self.schema)
        self.late = store._Writer(self.paths["late"], self.schema)
        self.problems: list = []
        self.dup_problems: list = []
        self.files: list = []
        self.file_kinds = Counter()
        self.seen: dict = {}
        self.records_read = self.outside = 0

    def add_object(self, o: LogObject, r: dict) -> None:
        self.records_read += r["records"]
        self.problems.extend(r["problems"])
        self.files.append({"key": o.key, "size": r["bytes"], "etag": o.etag,
                           "delivered_at": o.delivered_at.isoformat(), "records": r["records"],
                           "problem": r["file_problem"] or ""})
        if r["file_problem"]:
            kind = r["file_problem"].split(":")[0]
            self.file_kinds[kind] += 1
            self.problems.append((kind, o.key, 0, "", r["file_problem"]))
        if not r["part"]:
            return
        dns = ns(o.delivered_at)
        writer = self.late if self.as_of_ns is not None and dns > self.as_of_ns else self.used
        for b in spill._read_part(r["part"]):
            keep = self._first_copies(b, o.key)
            ts = b["timestamp"]
            in_day = (ts >= self.d0) & (ts < self.d1)
            self.outside += int((keep & ~in_day).sum())
            keep &= in_day
            if not keep.any():
                continue
            t = store._table(b, o.key, dns, self.schema)
            if not keep.all():
                import pyarrow as pa
                t = t.filter(pa.array(keep))
            writer.add(t)

    def _first_copies(self, b: dict, key: str) -> np.ndarray:
        """True for the rows of batch ``b`` whose request id was not seen before in this collection."""
        keep = np.ones(b["n"], dtype=bool)
        if not len(self.dupkeys):
            return keep
        off = b["rid_offsets"]
        for j in np.flatnonzero(np.isin(b["key"], self.dupkeys)).tolist():
            rid = b["rid"][off[j]:off[j + 1]].decode()
            if rid in self.seen:
                keep[j] = False
                self.dup_problems.append(("duplicate", key, int(b["line"][j]), rid,
                                          "requestId seen before in this collection"))
            else:
                self.seen[rid] = True
        return keep

    def close(self, strict: bool) -> None:
        if strict and self.dup_problems:
            _, f, line, rid, reason = self.dup_problems[0]
            raise StrictError(f"{f} line {line}: duplicate: {reason} ({rid})")
        self.used.close()
        self.late.close()

    def abort(self) -> None:
        self.used.abort()
        self.late.abort()

    def quarantine(self):
        """All problems, to ``collect_quarantine.parquet``; returns the frame."""
        import pandas as pd
        quar = pd.DataFrame(self.problems + self.dup_problems, columns=QUARANTINE_COLUMNS)
        quar["line"] = quar["line"].astype("int64")
        path = self.paths["quarantine"]
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        quar.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return quar

    def quality(self, quar, files_read: int) -> dict:
        record_problems = quar[quar["line"] > 0]
        by_kind = record_problems["kind"].value_counts().to_dict()
        quality = {
            "files_read": files_read,
            "files_bad": dict(self.file_kinds),
            "records_read": self.records_read,
            "records_used": self.used.rows,
            "records_late": self.late.rows,
            "records_outside_day": self.outside,
            "records_duplicate": int(by_kind.get("duplicate", 0)),
            "records_malformed": int(sum(v for k, v in by_kind.items() if k != "duplicate")),
            "records_quarantined_by_kind": {k: int(v) for k, v in sorted(by_kind.items())},
        }
        accounted = self.used.rows + self.late.rows + self.outside + len(record_problems)
        assert quality["records_read"] == accounted, quality
        return quality


def _collect(objects: list[LogObject], day: dt.date, as_of, strict: bool, workers: int, spill_dir: Path,
             target: Path) -> LogsResult:
    # pass 1: parse every object (in parallel), spill rows, keep one hash per row
    t0 = time.perf_counter()
    results: list = [None] * len(objects)
    keys: list = []
    for k, r in enumerate(pool.run(objects, strict, spill_dir, workers)):
        keys.append(r.pop("keys"))
        results[r["i"]] = r
        if k == 0:
            import pandas  # noqa: F401  - while the workers read (it takes a moment to import)
            import pyarrow.parquet  # noqa: F401
    dupkeys = spill._repeated(keys)
    del keys
    # pass 2: settle duplicates exactly, split the day, write the frames
    t1 = time.perf_counter()
    p2 = _Pass2(day, as_of, dupkeys, target)
    try:
        for o, r in zip(objects, results):
            p2.add_object(o, r)
        p2.close(strict)
    except BaseException:
        p2.abort()
        raise
    quar = p2.quarantine()
    res = LogsResult(quality=p2.quality(quar, len(objects)), files=p2.files, paths=p2.paths, quarantine=quar)
    res.timings = {"read_seconds": round(t1 - t0, 3), "write_seconds": round(time.perf_counter() - t1, 3)}
    return res

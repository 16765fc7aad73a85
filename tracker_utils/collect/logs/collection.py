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
import re
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np

from tracker_utils.collect.logs import pool, scan, spill, store
from tracker_utils.collect.logs.listing import LogObject
from tracker_utils.collect.logs.records import (COLUMNS, EPOCH, INT_COLUMNS, MAX_TOKENS, QUARANTINE_COLUMNS,
                                                StrictError, ns)
from tracker_utils.collect.logs.store import LogsResult
from tracker_utils.schema import TOKENS


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
    n, found, fproblem, _ = scan._scan(key, data, strict, out.extend)
    problems = found.examples
    rows = [(r[0], EPOCH + dt.timedelta(microseconds=r[1] // 1000), *r[2:7], *r[10:14], *r[7:10], key, r[14],
             delivered_at, *r[15:17], r[17]) for r in out]
    return rows, problems, n, fproblem


def collect(objects: Iterable[LogObject], day: dt.date, as_of: dt.datetime | None = None, strict: bool = False,
            workers: int = 1, out_dir: str | Path | None = None, region: str | None = None,
            max_tokens: int = MAX_TOKENS) -> LogsResult:
    """Read every object, assign records to days by their own timestamp, de-duplicate by requestId.

    Every record read is counted once, in exactly one bucket: used, late, outside the day (by day, in
    ``records_of_other_days``), malformed (by kind), duplicate, or of another region (``region``: the region of
    the prefix; a record naming another one is not this region's usage). Of two copies of a request the first
    delivered is kept (key order: an S3 key carries its delivery hour and time); copies whose counts differ are
    counted in ``records_duplicate_conflicting``. Token counts above ``max_tokens`` are implausible.

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
    sig = store._signature(objects, day, as_of, strict, region, max_tokens)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        hit = store._cached(out_dir, sig)
        if hit is not None:
            return hit
        (out_dir / store.MANIFEST_FILE).unlink(missing_ok=True)
        _remove_leftovers(out_dir)
        spill_dir = Path(tempfile.mkdtemp(prefix=f".collect_logs.{os.getpid()}.", dir=out_dir))
        target = out_dir
    else:
        spill_dir = Path(tempfile.mkdtemp(prefix="bedrock-logs-"))
        target = spill_dir
    try:
        res = _collect(objects, day, as_of, strict, workers, spill_dir, target, region, max_tokens)
        if out_dir is None:
            for name in ("used", "late", "quarantine"):
                getattr(res, name)         # read now: the folder goes away
            res.paths = {}
        else:
            m = {"signature": sig, "quality": res.quality, "files": res.files, "other_days": res.other_days,
                 "outputs": {k: store._stat(p) for k, p in res.paths.items()}}
            store._write_json(out_dir / store.MANIFEST_FILE, m)
        return res
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_leftovers(out_dir: Path) -> None:
    """Spill folders and temp files of killed collections; those of a live process (another run) are left alone."""
    for old in [*out_dir.glob(".collect_logs*"), *out_dir.glob(f".{store.QUARANTINE_FILE}.*")]:
        pids = [int(x) for x in re.findall(r"\.(\d+)\.", old.name + ".")]
        if pids and _alive(pids[0]) and pids[0] != os.getpid():
            continue
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)


DUPLICATE_RULE = ("the first delivered copy is kept (key order: an S3 key carries its delivery hour and time); "
                  "later copies are counted as duplicates")
MALFORMED_EXCLUDES = {"duplicate", "other_region"}


class _Pass2:
    """The second pass: settles duplicates on the ids, checks the region, splits day / late / other days, and
    writes the frames. Problems are counted by kind; only examples are kept (``scan.EXAMPLES`` per kind and file)."""

    def __init__(self, day: dt.date, as_of, dupkeys: np.ndarray, target: Path, region: str | None):
        self.d0 = ns(dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc))
        self.d1 = self.d0 + DAY_NS
        self.as_of_ns = ns(as_of) if as_of is not None else None
        self.dupkeys = dupkeys
        self.region = region
        self.schema = store._schema()
        self.paths = {k: target / v for k, v in store.OUTPUTS.items()}
        self.used = store._Writer(self.paths["used"], self.schema)
        self.late = store._Writer(self.paths["late"], self.schema)
        self.examples: list = []
        self.counts = Counter()            # bad records by kind (duplicates and other regions included)
        self.files: list = []
        self.file_kinds = Counter()
        self.seen: dict = {}               # request id -> (file, line, counts) of the copy kept
        self.conflicts: list = []
        self.conflicting = 0
        self.other_regions = Counter()
        self.other_days: dict[str, Counter] = {}
        self.records_read = 0
        self.ttl_assumed = 0               # used records with cache writes and no TTL detail (priced as 5m)

    def add_object(self, o: LogObject, r: dict) -> None:
        self.records_read += r["records"]
        self.examples.extend(r["problems"])
        self.counts.update(r["problem_counts"])
        self.files.append({"key": o.key, "size": r["bytes"], "etag": o.etag,
                           "delivered_at": o.delivered_at.isoformat(), "records": r["records"],
                           "problem": r["file_problem"] or ""})
        if r["file_problem"]:
            kind = r["file_problem"].split(":")[0]
            self.file_kinds[kind] += 1
            self.examples.append((kind, o.key, 0, "", r["file_problem"]))
        if not r["part"]:
            return
        dns = ns(o.delivered_at)
        writer = self.late if self.as_of_ns is not None and dns > self.as_of_ns else self.used
        shown = Counter()                  # examples of this object, by kind
        for b in spill._read_part(r["part"]):
            keep = self._first_copies(b, o.key, shown)
            keep &= self._in_region(b, o.key, keep, shown)
            ts = b["timestamp"]
            in_day = (ts >= self.d0) & (ts < self.d1)
            self._other_days(ts[keep & ~in_day], o.key)
            keep &= in_day
            if not keep.any():
                continue
            if writer is self.used:
                self.ttl_assumed += int(b["cache_ttl_assumed"][keep].sum())
            writer.add(b, keep, o.key, dns)

    def _example(self, shown: Counter, kind: str, key: str, line: int, rid: str, reason: str) -> None:
        self.counts[kind] += 1
        if shown[kind] < scan.EXAMPLES:
            shown[kind] += 1
            self.examples.append((kind, key, line, rid, reason))

    def _first_copies(self, b: dict, key: str, shown: Counter) -> np.ndarray:
        """True for the rows of batch ``b`` whose request id was not seen before in this collection."""
        keep = np.ones(b["n"], dtype=bool)
        if not len(self.dupkeys):
            return keep
        off = b["rid_offsets"]
        for j in np.flatnonzero(np.isin(b["key"], self.dupkeys)).tolist():
            rid = b["rid"][off[j]:off[j + 1]].decode()
            line = int(b["line"][j])
            counts = tuple(int(b[t][j]) for t in TOKENS)
            first = self.seen.get(rid)
            if first is None:
                self.seen[rid] = (key, line, counts)
                continue
            keep[j] = False
            if counts != first[2]:
                self.conflicting += 1
                if len(self.conflicts) < scan.EXAMPLES:
                    self.conflicts.append({"request_id": rid, "kept": {"file": first[0], "line": first[1],
                                                                       **dict(zip(TOKENS, first[2]))},
                                           "dropped": {"file": key, "line": line, **dict(zip(TOKENS, counts))}})
                why = (f"requestId seen before in this collection, with other counts (kept {first[0]} line "
                       f"{first[1]}: {'/'.join(map(str, first[2]))}; this copy: {'/'.join(map(str, counts))})")
            else:
                why = "requestId seen before in this collection"
            self._example(shown, "duplicate", key, line, rid, why)
        return keep

    def _in_region(self, b: dict, key: str, keep: np.ndarray, shown: Counter) -> np.ndarray:
        """False for the rows that name a region other than the prefix's (counted, with an example)."""
        codes, values = b["region"]
        bad = [i for i, v in enumerate(values) if v and self.region and v != self.region]
        if not bad:
            return np.ones(b["n"], dtype=bool)
        other = np.isin(codes, bad) & keep
        for j in np.flatnonzero(other).tolist():
            name = values[codes[j]]
            self.other_regions[name] += 1
            off = b["rid_offsets"]
            self._example(shown, "other_region", key, int(b["line"][j]), b["rid"][off[j]:off[j + 1]].decode(),
                          f"the record names region {name}, found under the prefix of {self.region}")
        return ~other

    def _other_days(self, ts: np.ndarray, key: str) -> None:
        """Records of other days, counted per day and object (so that the day they belong to can read them)."""
        if not len(ts):
            return
        days, n = np.unique(ts // DAY_NS, return_counts=True)
        for d, c in zip(days.tolist(), n.tolist()):
            iso = (EPOCH + dt.timedelta(days=d)).date().isoformat()
            self.other_days.setdefault(iso, Counter())[key] += c

    def close(self, strict: bool) -> None:
        if strict and self.counts.get("duplicate"):
            _, f, line, rid, reason = next(e for e in self.examples if e[0] == "duplicate")
            raise StrictError(f"{f} line {line}: duplicate: {reason} ({rid})")
        self.used.close()
        self.late.close()

    def abort(self) -> None:
        self.used.abort()
        self.late.abort()

    def quarantine(self):
        """The examples of every problem, to ``collect_quarantine.parquet``; returns the frame."""
        import pandas as pd
        quar = pd.DataFrame(self.examples, columns=QUARANTINE_COLUMNS)
        quar["line"] = quar["line"].astype("int64")
        path = self.paths["quarantine"]
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        quar.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return quar

    def quality(self, files_read: int) -> dict:
        by_kind = {k: int(v) for k, v in sorted(self.counts.items()) if v}
        outside = sum(sum(c.values()) for c in self.other_days.values())
        quality = {
            "files_read": files_read,
            "files_bad": dict(self.file_kinds),
            "records_read": self.records_read,
            "records_used": self.used.rows,
            "records_late": self.late.rows,
            "records_outside_day": outside,
            "records_of_other_days": {d: sum(c.values()) for d, c in sorted(self.other_days.items())},
            "records_duplicate": by_kind.get("duplicate", 0),
            "records_duplicate_conflicting": self.conflicting,
            "duplicate_rule": DUPLICATE_RULE,
            "duplicate_conflicts": self.conflicts,
            "records_other_region": by_kind.get("other_region", 0),
            "records_other_region_by_region": dict(sorted(self.other_regions.items())),
            "records_malformed": sum(v for k, v in by_kind.items() if k not in MALFORMED_EXCLUDES),
            "records_quarantined_by_kind": by_kind,
            "quarantine_examples_per_kind_and_file": scan.EXAMPLES,
            "cache_ttl_assumed": self.ttl_assumed,
        }
        accounted = sum(quality[k] for k in IDENTITY)
        assert quality["records_read"] == accounted, quality
        return quality


# every record read is in exactly one of these (the README's table says the same)
IDENTITY = ("records_used", "records_late", "records_outside_day", "records_malformed", "records_duplicate",
            "records_other_region")
DAY_NS = 86400 * 10**9


def _collect(objects: list[LogObject], day: dt.date, as_of, strict: bool, workers: int, spill_dir: Path,
             target: Path, region: str | None = None, max_tokens: int = MAX_TOKENS) -> LogsResult:
    # pass 1: parse every object (in parallel), spill rows, keep one hash per row
    t0 = time.perf_counter()
    results: list = [None] * len(objects)
    keys: list = []
    for k, r in enumerate(pool.run(objects, strict, spill_dir, workers, max_tokens)):
        keys.append(r.pop("keys"))
        results[r["i"]] = r
        if k == 0:
            import pandas  # noqa: F401  - while the workers read (it takes a moment to import)
            import pyarrow.parquet  # noqa: F401
    dupkeys = spill._repeated(keys)
    del keys
    # pass 2: settle duplicates exactly, split the day, write the frames
    t1 = time.perf_counter()
    p2 = _Pass2(day, as_of, dupkeys, target, region)
    try:
        for o, r in zip(objects, results):
            p2.add_object(o, r)
        p2.close(strict)
    except BaseException:
        p2.abort()
        raise
    quar = p2.quarantine()
    res = LogsResult(quality=p2.quality(len(objects)), files=p2.files, paths=p2.paths, quarantine=quar)
    res.other_days = {d: dict(sorted(c.items())) for d, c in sorted(p2.other_days.items())}
    res.timings = {"read_seconds": round(t1 - t0, 3), "write_seconds": round(time.perf_counter() - t1, 3)}
    return res

"""Rows spilled compactly: a batch of parsed rows to numpy columns in a part file, with one 64-bit hash per
request id kept by the parent to find duplicates.

In: rows from :func:`scan._scan`. Out: part files of pickled batches, and the hashes of every row.
"""
from __future__ import annotations

import hashlib
import pickle
from typing import Iterator

import numpy as np

from tracker_utils.collect.logs import scan
from tracker_utils.collect.logs.listing import LocalFile
from tracker_utils.collect.logs.records import DICT_COLUMNS, INT_COLUMNS

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


SHORT_ID = 64                     # ids up to this many bytes are hashed vectorised; longer ones with BLAKE2b


def _hash_ids(blob: bytes, offsets: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each request id, a function of the id's bytes alone (never of the other ids in the batch),
    so that two copies of a request in different batches always meet. It only finds candidates: duplicates are
    confirmed on the ids themselves."""
    n = len(offsets) - 1
    lens = np.diff(offsets).astype(np.int64)
    out = np.empty(n, dtype=np.uint64)
    if not n:
        return out
    short = lens <= SHORT_ID
    if short.any():
        out[short] = _mix_hash(blob, np.asarray(offsets[:-1], dtype=np.int64)[short], lens[short])
    for i in np.flatnonzero(~short).tolist():
        out[i] = int.from_bytes(hashlib.blake2b(blob[offsets[i]:offsets[i + 1]], digest_size=8).digest(), "little")
    return out


def _mix_hash(blob: bytes, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """h = len; then h = mix(h ^ word) for each 8-byte little-endian word of the id (the last one zero-padded)."""
    width = int(lens.max()) if len(lens) else 0
    words = max(1, -(-width // 8))
    cols = np.arange(words * 8, dtype=np.int64)
    data = np.frombuffer(blob, dtype=np.uint8)
    idx = starts[:, None] + cols[None, :]
    inside = cols[None, :] < lens[:, None]
    padded = np.where(inside, data[np.minimum(idx, max(len(data) - 1, 0))] if len(data) else 0, 0).astype(np.uint8)
    w = np.ascontiguousarray(padded).view("<u8")
    nwords = -(-lens // 8)
    h = lens.astype(np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words):
            h = np.where(j < nwords, _mix(h ^ w[:, j]), h)
    return h


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
    # a row: id, time, the dictionary columns but the last, the integers, then the service tier (the last one)
    nd = 1 + len(DICT_COLUMNS)
    for name, col in zip(DICT_COLUMNS, [*cols[2:nd], cols[-1]]):
        values = list(dict.fromkeys(col))
        index = {v: i for i, v in enumerate(values)}
        batch[name] = (np.fromiter(map(index.__getitem__, col), dtype=np.int32, count=n), values)
    for name, col in zip(INT_COLUMNS, cols[nd:-1]):
        batch[name] = np.array(col, dtype=np.int64)
    return batch


def _scan_to_part(i: int, key: str, src, strict: bool, part, max_tokens: int = scan.MAX_TOKENS) -> dict:
    """Worker job: parse object ``i`` and spill its rows to ``part`` (a path, or a file open for appending).
    Returns counts, problems, the id hashes and where the rows are: (path, start, end) or None."""
    if callable(src) and not isinstance(src, LocalFile):
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
        n, problems, fproblem, nbytes = scan._scan(key, src, strict, sink, max_tokens)
    finally:
        if own and fh is not None:
            fh.close()
    where = None
    if rows_n:
        where = (str(part) if own else fh.name, start, None if own else fh.tell())
    return {"i": i, "records": n, "rows": rows_n, "problems": problems.examples, "problem_counts": problems.counts,
            "file_problem": fproblem, "bytes": nbytes,
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


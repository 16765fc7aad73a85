"""One log object: compressed bytes in, parsed rows and problems out.

The object is inflated (ISA-L when installed) in pieces of at most ``CHUNK_BYTES`` and cut into lines without
copying; each line is parsed exactly with orjson and reduced by :func:`records._record`.
"""
from __future__ import annotations

import zlib
from typing import Callable, Iterable, Iterator

import orjson

from tracker_utils.collect.logs.listing import LocalFile
from tracker_utils.collect.logs.records import MAX_TOKENS, StrictError, _Bad, _fast_record, _record, _rid_of

try:  # ISA-L inflate is 2-3x faster than zlib; same stream format
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover
    _zlib = zlib

MAX_LINE_BYTES = 8 << 20          # a record is at most ~250 KB (bodies over 100 KB go to data/); longer lines are bad
CHUNK_BYTES = 4 << 20             # inflate this much at a time
BLOCK_BYTES = 1 << 20             # compressed bytes fed to the inflater (and read from disk) at a time
BATCH_ROWS = 8192                 # rows a worker holds before spilling them
GZIP_MAGIC = b"\x1f\x8b"
EXAMPLES = 20                     # quarantine examples kept per kind and file (every one is counted)


class Problems:
    """Bad records of one object: every one counted by kind, the first ``EXAMPLES`` of each kind kept with their
    line and reason (memory does not grow with the number of bad lines)."""

    def __init__(self, key: str, strict: bool):
        self.key, self.strict = key, strict
        self.counts: dict[str, int] = {}
        self.examples: list[tuple] = []

    def add(self, kind: str, lineno: int, reason: str, raw=None, parsed=None) -> None:
        if self.strict:
            raise StrictError(f"{self.key} line {lineno}: {kind}: {reason}")
        n = self.counts.get(kind, 0)
        self.counts[kind] = n + 1
        if n < EXAMPLES:
            rid = _rid_of(raw, parsed) if raw is not None else ""
            self.examples.append((kind, self.key, lineno, rid, reason))


def _blocks_of(src) -> Iterator:
    """Compressed input in blocks: from bytes, or streamed from a local file."""
    if isinstance(src, LocalFile):
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


def _not_json(raw, err) -> tuple[str, str] | None:
    """Why a line orjson refused is bad: (kind, reason), or None for a blank line."""
    b = bytes(raw)
    if not b.strip():
        return None
    try:
        b.decode("utf-8")
        return "invalid_json", f"not JSON: {str(err)[:80]}"
    except UnicodeDecodeError:
        return "invalid_utf8", "line is not valid UTF-8"


def _scan(key: str, src, strict: bool, sink: Callable[[list], None],
          max_tokens: int = MAX_TOKENS) -> tuple[int, Problems, str | None, int]:
    """Parse one object. Good rows go to ``sink`` in batches; returns (records read, problems, file problem, bytes)."""
    fproblems: list = []
    problems = Problems(key, strict)
    bad = problems.add
    nbytes = 0

    def counted(blocks):
        nonlocal nbytes
        for b in blocks:
            nbytes += len(b)
            yield b

    rows: list = []
    append = rows.append
    loads, fast = orjson.loads, _fast_record
    tcache: dict = {}
    n = 0
    for lineno, raw, head in _lines(_inflate(counted(_blocks_of(src)), fproblems)):
        if raw is None:
            n += 1
            bad("line_too_long", lineno, f"line longer than {MAX_LINE_BYTES} bytes", head)
            continue
        n += 1
        row = fast(raw, tcache, lineno, max_tokens)
        if row is None:                      # not plainly good: the exact path, with the reason
            try:
                r = loads(raw)
            except orjson.JSONDecodeError as e:
                why = _not_json(raw, e)
                if why is None:              # a blank line is not a record
                    n -= 1
                else:
                    bad(why[0], lineno, why[1], bytes(raw))
                continue
            try:
                row = _record(r, tcache, lineno, max_tokens)
            except _Bad as b:
                bad(b.kind, lineno, b.reason, raw, r)
                continue
        append(row)
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

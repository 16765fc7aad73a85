"""Where the log objects are: the S3 layout of invocation logs, and a local folder laid out like it.

In: a prefix, account, region and day. Out: :class:`LogObject` entries (key, size, delivery time, ETag, reader).
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

PERMISSION_CHECK = "amazon-bedrock-logs-permission-check"
FILE_TS = re.compile(r"(\d{8}T\d{6})(\d{0,3})Z_")


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
                                  etag=f"{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}", read=LocalFile(p)))
    return objs, dict(skipped)


class LocalFile:
    """Reads a local file; picklable, and streamed in blocks by the workers instead of read whole."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __call__(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()

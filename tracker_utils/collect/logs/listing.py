"""Where the log objects are: the S3 layout of invocation logs, and a local folder laid out like it.

In: a prefix, account, region and day. Out: :class:`LogObject` entries (key, size, delivery time, ETag, reader).
"""
from __future__ import annotations

import datetime as dt
import errno
import os
import re
import stat
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


def list_local(root: Path, base: str, day: dt.date, after_hours: int,
               boundary: Path | None = None) -> tuple[list[LogObject], dict]:
    """List a local folder laid out like the bucket. Returns the objects and what was skipped, by reason.

    Only regular files are read: FIFOs, devices and sockets, dangling symlinks, symlink loops and symlinks that
    leave ``boundary`` (default ``root``; the collect stage passes ``data_root``) are skipped and counted, so that
    they can neither hang nor fail a run."""
    objs, skipped = [], Counter()
    limit = Path(os.path.realpath(boundary if boundary is not None else root))
    for pfx in hour_prefixes(base, day, after_hours):
        folder = root / pfx
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            key = pfx + p.name
            why, st = _not_readable(p, limit)
            if why == "folder":
                skipped["data_sidecar_folder" if p.name == "data" else "folder"] += 1
                continue
            if not is_log_key(key):
                skipped["permission_check" if p.name == PERMISSION_CHECK else "not_a_log_file"] += 1
                continue
            if why:
                skipped[why] += 1
                continue
            mtime = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc)
            objs.append(LogObject(key=key, size=st.st_size, delivered_at=delivered_at_from_key(key, mtime),
                                  etag=f"{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}", read=LocalFile(p)))
    return objs, dict(skipped)


def local_object(root: Path, key: str, boundary: Path | None = None) -> tuple[LogObject | None, str]:
    """One object of a local folder by key (an object handed over by another day's collection), or why not."""
    p = root / key
    why, st = _not_readable(p, Path(os.path.realpath(boundary if boundary is not None else root)))
    if why or not is_log_key(key):
        return None, why or "not_a_log_file"
    mtime = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc)
    return LogObject(key=key, size=st.st_size, delivered_at=delivered_at_from_key(key, mtime),
                     etag=f"{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}", read=LocalFile(p)), ""


def _not_readable(p: Path, limit: Path) -> tuple[str, os.stat_result | None]:
    """Why ``p`` is not read ("" when it is a regular file to read), and its stat."""
    try:
        lst = os.lstat(p)
    except FileNotFoundError:
        return "missing", None
    except OSError:
        return "unreadable", None
    if stat.S_ISLNK(lst.st_mode):
        try:
            target = Path(os.path.realpath(p, strict=True))
        except RuntimeError:
            return "symlink_loop", None
        except OSError as e:
            return ("symlink_loop" if e.errno == errno.ELOOP else "dangling_symlink"), None
        if target != limit and limit not in target.parents:
            return "symlink_outside_data_root", None
        try:
            st = os.stat(target)
        except OSError:
            return "unreadable", None
    else:
        st = lst
    if stat.S_ISDIR(st.st_mode):
        return "folder", st
    if not stat.S_ISREG(st.st_mode):
        return "not_a_regular_file", None
    return "", st


class LocalFile:
    """Reads a local file; picklable, and streamed in blocks by the workers instead of read whole."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __call__(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()

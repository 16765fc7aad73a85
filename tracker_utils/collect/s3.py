"""Invocation logs and CUR files from S3: listings read to their last page, objects downloaded ahead of the reader.

In: an :class:`~tracker_utils.collect.aws.AwsContext` and a day (or a CUR ``s3://`` URI). Out:
:class:`~tracker_utils.collect.logs.LogObject` s whose ``read`` downloads the object (the same shape the local
folder reader gives), or the local paths of the downloaded CUR files.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import threading
import time
import weakref
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tracker_utils.collect import logs as logsrc
from tracker_utils.collect.aws import GET_THREADS, LIST_THREADS, AwsContext, aws_errors, explain

PREFETCH_WINDOW = 64                          # objects downloaded ahead of the reader (bounds memory)

_RETRY_BODY_ERRORS: tuple | None = None


def _body_errors() -> tuple:
    """Exceptions that mean "the connection broke while the body was streaming": worth a fresh GET."""
    global _RETRY_BODY_ERRORS
    if _RETRY_BODY_ERRORS is None:
        from botocore import exceptions as be
        import urllib3.exceptions as ue
        _RETRY_BODY_ERRORS = (be.ResponseStreamingError, be.IncompleteReadError, be.ReadTimeoutError,
                              be.ConnectionClosedError, be.EndpointConnectionError, be.ConnectionError,
                              ue.ProtocolError, ue.ReadTimeoutError, ConnectionError, TimeoutError, _ShortBody)
    return _RETRY_BODY_ERRORS


class _ShortBody(IOError):
    pass


def get_object_bytes(client, bucket: str, key: str, attempts: int = 8) -> bytes:
    """GET one object, whole. A body cut off mid-transfer (reset, timeout, short read) is fetched again."""
    errors = _body_errors()
    for attempt in range(1, attempts + 1):
        try:
            resp = client.get_object(Bucket=bucket, Key=key)
            data = resp["Body"].read()
            want = resp.get("ContentLength")
            if want is not None and len(data) != int(want):
                raise _ShortBody(f"{key}: got {len(data)} of {want} bytes")
            return data
        except aws_errors() as e:
            raise explain(e, "s3", "GetObject", f"arn:aws:s3:::{bucket}/{key}") from None
        except errors:
            if attempt == attempts:
                raise
            time.sleep(min(5.0, 0.1 * 2 ** (attempt - 1)) * (0.5 + random.random()))
    raise AssertionError("unreachable")


_WORKER_CONTEXTS: dict[tuple, AwsContext] = {}


class _Prefetcher:
    """Downloads log objects on a thread pool a bounded window ahead of the (sequential) reader."""

    def __init__(self, ctx: AwsContext, keys: list[str], threads: int = GET_THREADS, window: int = PREFETCH_WINDOW):
        self.ctx, self.keys, self.window = ctx, keys, window
        self.index = {k: i for i, k in enumerate(keys)}
        self.futures: dict[str, Any] = {}
        self.submitted = 0
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="s3-get")
        self.client = ctx.client("s3")
        weakref.finalize(self, self.pool.shutdown, wait=False, cancel_futures=True)

    def _submit(self, key: str):
        return self.pool.submit(get_object_bytes, self.client, self.ctx.bucket, key, self.ctx.max_attempts)

    def get(self, key: str) -> bytes:
        i = self.index.get(key)
        with self.lock:
            if i is not None:
                upto = min(len(self.keys), max(self.submitted, i) + self.window)
                for j in range(max(self.submitted, i), upto):
                    k = self.keys[j]
                    if k not in self.futures:
                        self.futures[k] = self._submit(k)
                self.submitted = max(self.submitted, upto)
            fut = self.futures.pop(key, None)
        if fut is None:
            return get_object_bytes(self.client, self.ctx.bucket, key, self.ctx.max_attempts)
        return fut.result()


class S3Reader:
    """``LogObject.read``: the object's bytes. Picklable: in another process it opens its own session."""

    def __init__(self, spec: dict, key: str, prefetcher: "_Prefetcher | None" = None):
        self.spec, self.key, self.prefetcher = spec, key, prefetcher

    def __getstate__(self):          # the thread pool stays in this process
        return {"spec": self.spec, "key": self.key, "prefetcher": None}

    def __call__(self) -> bytes:
        if self.prefetcher is not None:
            return self.prefetcher.get(self.key)
        k = tuple(sorted(self.spec.items()))
        ctx = _WORKER_CONTEXTS.get(k)
        if ctx is None:
            ctx = _WORKER_CONTEXTS[k] = AwsContext.create(**self.spec)
        return get_object_bytes(ctx.client("s3"), self.spec["bucket"], self.key, self.spec["max_attempts"])


def _list_prefix(client, bucket: str, prefix: str) -> tuple[list[dict], list[str]]:
    """Every object and sub-folder directly under ``prefix`` (all pages)."""
    contents, folders = [], []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            contents.extend(page.get("Contents", []) or [])
            folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", []) or [])
    except aws_errors() as e:
        raise explain(e, "s3", "ListObjectsV2", f"arn:aws:s3:::{bucket}") from None
    return contents, folders


def list_log_objects(ctx: AwsContext, day: dt.date, after_hours: int) -> tuple[list[logsrc.LogObject], dict]:
    """List every log batch of the day's hour folders and ``after_hours`` more (records are filed by delivery time).

    Each hour folder is listed with a delimiter, to its last page; ``data/`` sidecar folders and anything that is not
    a ``.json.gz`` batch are counted in the returned ``skipped`` dict (same keys as the local reader). The objects'
    ``read`` downloads them on a shared thread pool, ahead of the reader.
    """
    base = logsrc.log_base(ctx.prefix, ctx.account, ctx.region)
    client = ctx.client("s3")
    prefixes = logsrc.hour_prefixes(base, day, after_hours)
    with ThreadPoolExecutor(max_workers=LIST_THREADS, thread_name_prefix="s3-list") as ex:
        listed = list(ex.map(lambda p: _list_prefix(client, ctx.bucket, p), prefixes))
    found, skipped = [], Counter()
    for pfx, (contents, folders) in zip(prefixes, listed):
        for f in folders:
            skipped["data_sidecar_folder" if f.rstrip("/").rsplit("/", 1)[-1] == "data" else "folder"] += 1
        for o in contents:
            key = o["Key"]
            if key.endswith("/"):
                skipped["folder"] += 1
                continue
            if not logsrc.is_log_key(key):
                name = key.rsplit("/", 1)[-1]
                skipped["permission_check" if name == logsrc.PERMISSION_CHECK else "not_a_log_file"] += 1
                continue
            lm = o.get("LastModified") or dt.datetime.now(dt.timezone.utc)
            if lm.tzinfo is None:
                lm = lm.replace(tzinfo=dt.timezone.utc)
            found.append((key, int(o.get("Size", 0)), logsrc.delivered_at_from_key(key, lm.astimezone(dt.timezone.utc)),
                          str(o.get("ETag", "")).strip('"')))
    found.sort(key=lambda x: x[0])
    pf = _Prefetcher(ctx, [f[0] for f in found]) if found else None
    spec = ctx.spec()
    objs = [logsrc.LogObject(key=k, size=s, delivered_at=d, etag=e, read=S3Reader(spec, k, pf))
            for k, s, d, e in found]
    return objs, dict(skipped)



def _split_s3(uri: str) -> tuple[str, str]:
    m = re.fullmatch(r"s3://([^/]+)/?(.*)", uri)
    if not m:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return m.group(1), m.group(2)


def fetch_cur(ctx: AwsContext, s3_uri: str, dest: Path) -> list[Path]:
    """Download the CUR 2.0 export files (``.parquet``, ``.csv.gz``, ``.csv``) under ``s3_uri`` into ``dest``.

    Every listing page is read; a file already downloaded with the same size and ETag is not fetched again.
    Returns the local paths, sorted (for :func:`tracker_utils.collect.bill.read_cur`).
    """
    bucket, prefix = _split_s3(s3_uri)
    client = ctx.client("s3")
    objs = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []) or []:
                if o["Key"].endswith((".parquet", ".csv.gz", ".csv")):
                    objs.append(o)
    except aws_errors() as e:
        raise explain(e, "s3", "ListObjectsV2", f"arn:aws:s3:::{bucket}") from None
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / ".etags.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}

    def one(o) -> Path:
        rel = o["Key"][len(prefix):].lstrip("/") if o["Key"].startswith(prefix) else o["Key"]
        parts = [p for p in rel.split("/") if p not in ("", ".", "..")]
        local = dest.joinpath(*parts) if parts else dest / o["Key"].rsplit("/", 1)[-1]
        etag = str(o.get("ETag", "")).strip('"')
        if local.exists() and local.stat().st_size == o.get("Size") and manifest.get(str(local)) == etag:
            return local
        data = get_object_bytes(client, bucket, o["Key"], ctx.max_attempts)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, local)
        manifest[str(local)] = etag
        return local

    with ThreadPoolExecutor(max_workers=GET_THREADS, thread_name_prefix="cur-get") as ex:
        paths = list(ex.map(one, objs))
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    if not paths:
        raise FileNotFoundError(f"no CUR .parquet / .csv.gz files under {s3_uri}")
    return sorted(paths)



def handed_object(ctx: AwsContext, entry: dict) -> logsrc.LogObject:
    """An object another day's collection listed (key, size, ETag, delivery time): read like any other."""
    return logsrc.LogObject(key=entry["key"], size=int(entry.get("size", 0)),
                            delivered_at=dt.datetime.fromisoformat(entry["delivered_at"]),
                            etag=str(entry.get("etag", "")), read=S3Reader(ctx.spec(), entry["key"]))


__all__ = ["S3Reader", "fetch_cur", "get_object_bytes", "handed_object", "list_log_objects"]

"""Reading many objects side by side: a small pool of ``spawn`` worker processes, results in key order.

In: :class:`LogObject` entries. Out: one result per object (counts, problems, id hashes, where its rows were
spilled), yielded in the objects' order. Small inputs are read in this process. Local files are streamed by the
workers themselves; any other reader (an S3 download, a closure over a client) is called here by a few threads and
the bytes go to the workers. Neither pandas nor pyarrow is imported on this path, so a worker stays near 45 MB.
"""
from __future__ import annotations

import os
import pickle
import sys
import types
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tracker_utils.collect.logs import spill
from tracker_utils.collect.logs.listing import LocalFile, LogObject

PARALLEL_MIN_BYTES = 4 << 20      # below this much compressed input, worker processes cost more than they save


def default_workers(jobs: int = 1) -> int:
    """Worker processes for one collection when ``jobs`` collections run side by side: the cores, shared."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


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
            results.put(("ok", job[0], spill._scan_to_part(*job)))
        except BaseException as e:  # noqa: BLE001 - hand every failure to the parent
            try:
                pickle.dumps(e)
            except Exception:  # noqa: BLE001
                e = RuntimeError(f"{type(e).__name__}: {e}")
            results.put(("err", job[0], e))


def run(objects: list[LogObject], strict: bool, spill_dir: Path, workers: int,
        max_tokens: int = spill.scan.MAX_TOKENS) -> Iterator[dict]:
    """Scan every object, yielding results in the objects' order."""
    total = sum(max(0, o.size or 0) for o in objects)
    if workers <= 1 or len(objects) < 2 or total < PARALLEL_MIN_BYTES:
        with open(spill_dir / "parts.pkl", "wb") as fh:     # one file for all: many small objects cost no file each
            for i, o in enumerate(objects):
                r = spill._scan_to_part(i, o.key, o.read, strict, fh, max_tokens)
                fh.flush()
                yield r
        return
    yield from _run_parallel(objects, strict, spill_dir, workers, max_tokens)


def _run_parallel(objects: list[LogObject], strict: bool, spill_dir: Path, workers: int,
                  max_tokens: int) -> Iterator[dict]:
    import multiprocessing as mp
    from concurrent.futures import ThreadPoolExecutor
    parts = [str(spill_dir / f"part-{i:06d}.pkl") for i in range(len(objects))]
    ctx = mp.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_worker_loop, args=(jobs, results), daemon=True, name=f"bedrock-logs-{k}")
             for k in range(min(workers, len(objects)))]
    with _plain_main():
        for p in procs:
            p.start()
    # jobs queued ahead of the one awaited: all of them when the workers read local files themselves (a job is a
    # path); a few when the bytes travel with the job
    depth = len(objects) if all(isinstance(o.read, LocalFile) for o in objects) else 4 * len(procs)
    readers = ThreadPoolExecutor(4)
    try:
        srcs = _prefetch(readers, objects, depth)
        submitted = 0
        done: dict = {}
        for want in range(len(objects)):
            while submitted < len(objects) and submitted - want < depth:
                jobs.put((submitted, objects[submitted].key, next(srcs), strict, parts[submitted], max_tokens))
                submitted += 1
            status, value = _await(want, done, results, procs)
            if status == "err":      # raised in key order: every earlier object was read without a problem
                raise value
            yield value
    finally:
        readers.shutdown(wait=False, cancel_futures=True)
        _stop(procs, jobs, results)


def _await(want: int, done: dict, results, procs) -> tuple[str, object]:
    """The result of job ``want``, keeping the others that arrive first; fails when a worker died."""
    import queue
    while want not in done:
        try:
            status, i, value = results.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in procs if not p.is_alive()]
            if dead:
                raise RuntimeError(f"a log reader process died (exit code {dead[0].exitcode})") from None
            continue
        done[i] = (status, value)
    return done.pop(want)


def _stop(procs, jobs, results) -> None:
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
        pending.append(_Done(o.read) if isinstance(o.read, LocalFile) else pool.submit(o.read))
        if len(pending) >= depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()

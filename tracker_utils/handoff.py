"""Records that belong to another day: what one day's collection hands to the day they belong to.

A collection of day D can find records of day X (a late re-delivery past ``window_after_hours``, a batch that
straddles days). D counts them in ``records_of_other_days`` and writes, for X, the log objects that hold them:
``<output_dir>/_handoff/<region>/<X>/<D>.json``. X's collection reads those objects too, so the records land in
their own day; until it has, X's report is *stale* (the runner redoes it, the index says so).
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tracker_utils.io import read_json, write_json

FOLDER = "_handoff"
MAX_DAYS = 400                  # days one collection hands records to (the rest are only counted)


def folder(output_dir: str | Path, region: str, day: str) -> Path:
    return Path(output_dir) / FOLDER / region / day


def write(output_dir: str | Path, region: str, from_day: str, other_days: dict[str, dict[str, int]],
          objects: dict[str, dict]) -> int:
    """For each other day, the objects of ``from_day``'s collection that hold its records. Returns days written."""
    n = 0
    for day, keys in sorted(other_days.items())[:MAX_DAYS]:
        if day == from_day:
            continue
        entries = [{**objects[k], "records": int(c)} for k, c in sorted(keys.items()) if k in objects]
        if entries:
            write_json(folder(output_dir, region, day) / f"{from_day}.json",
                       {"from_day": from_day, "day": day, "region": region, "objects": entries,
                        "records": sum(e["records"] for e in entries)})
            n += 1
    return n


def received(output_dir: str | Path, region: str, day: str) -> list[dict]:
    """The objects other days' collections handed to ``day`` (each with key, size, etag, delivered_at, records)."""
    out: dict[str, dict] = {}
    d = folder(output_dir, region, day)
    if not d.is_dir():
        return []
    for f in sorted(d.glob("*.json")):
        try:
            for o in read_json(f).get("objects", []):
                out.setdefault(o["key"], o)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return [out[k] for k in sorted(out)]


def pending(output_dir: str | Path, region: str, day: str, run_folder: Path) -> int:
    """Records handed to ``day`` that its report has not read (0 when it has, or when it has no report)."""
    files_json = run_folder / "data" / "collect_files.json"
    objs = received(output_dir, region, day)
    if not objs or not (run_folder / "summary.json").exists():
        return 0
    try:
        read = {f["key"] for f in json.loads(files_json.read_text())}
    except (OSError, ValueError, TypeError, KeyError):
        read = set()
    return sum(int(o.get("records", 0)) for o in objs if o["key"] not in read)


def delivered_at(o: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(o["delivered_at"])

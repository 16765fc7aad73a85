"""The catalog: every date and region under an outputs folder, whichever run made it, and the periods built on it.

In: ``outputs/<date>/<region>/`` folders (``summary.json`` when complete, ``run.json`` when a run finished or
failed). Out: :class:`Entry` rows (complete, failed or incomplete; stale when other days handed it records it has
not counted) and :class:`Period` s. A period is what a roll-up and a chargeback are built for: by default a calendar
month, month to date (from its first reported day to its last), written to ``outputs/periods/<name>/``.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from tracker_utils import handoff
from tracker_utils.config import resolve_path
from tracker_utils.io import read_json

DATE_DIR = re.compile(r"\d{4}-\d{2}-\d{2}")
PERIODS = "periods"


@dataclass
class Entry:
    date: str
    region: str
    status: str                      # complete | failed | incomplete
    summary: dict | None = None
    error: str = ""
    where: str = ""
    stale_records: int = 0


@dataclass(frozen=True)
class Period:
    start: str
    end: str
    regions: tuple = ()
    name: str = ""

    @property
    def dates(self) -> list[str]:
        d0, d1 = dt.date.fromisoformat(self.start), dt.date.fromisoformat(self.end)
        return [(d0 + dt.timedelta(days=i)).isoformat() for i in range((d1 - d0).days + 1)]

    @property
    def label(self) -> str:
        return self.name or f"{self.start}_{self.end}"

    def folder(self, output_dir: str | Path) -> Path:
        return resolve_path(output_dir) / PERIODS / self.label

    @property
    def is_month(self) -> bool:
        return bool(re.fullmatch(r"\d{4}-\d{2}", self.name))


def entry(output_dir: str | Path, date: str, region: str, outcome=None) -> Entry:
    """The state of one date and region: complete (its summary), failed (where and why), or incomplete."""
    rd = resolve_path(output_dir) / date / region
    e = Entry(date, region, "incomplete")
    info = dict(outcome.__dict__) if outcome is not None else {}
    if not info and (rd / "run.json").exists():
        try:
            info = read_json(rd / "run.json")
        except Exception:  # noqa: BLE001 - unreadable: no information
            info = {}
    if (rd / "summary.json").exists():
        try:
            e.summary, e.status = read_json(rd / "summary.json"), "complete"
            e.stale_records = handoff.pending(resolve_path(output_dir), region, date, rd)
        except Exception as exc:  # noqa: BLE001 - unreadable: treat as incomplete
            e.error = f"summary.json unreadable: {exc}"
    elif info.get("status") == "failed":
        e.status = "failed"
        e.error = (info.get("error") or "").splitlines()[0] if info.get("error") else ""
        nb = info.get("failed_notebook") or "setup"
        e.where = f"{nb}.ipynb" + (f" cell {info['failed_cell']}" if info.get("failed_cell") else "")
    elif info.get("status") == "complete":
        e.error = "finished but summary.json is missing"
    return e


def scan(output_dir: str | Path) -> list[Entry]:
    """Every date and region folder under ``output_dir`` that a run started, in date and region order."""
    out = resolve_path(output_dir)
    found = []
    for d in sorted(p for p in out.glob("*") if p.is_dir() and DATE_DIR.fullmatch(p.name)):
        for r in sorted(p for p in d.iterdir() if p.is_dir()):
            if (r / "summary.json").exists() or (r / "run.json").exists() or (r / "data").is_dir():
                found.append(entry(out, d.name, r.name))
    return found


def month_of(date: str) -> str:
    return date[:7]


def month_period(output_dir: str | Path, month: str, regions, upto: str | None = None,
                 with_catalog: bool = False) -> Period:
    """The month to date: from its first reported day (or ``upto``) to its last, for ``regions`` (and, with
    ``with_catalog``, every other region the catalog has that month: a run of fewer regions never shrinks it)."""
    entries = [e for e in scan(output_dir) if month_of(e.date) == month]
    if with_catalog:
        regions = sorted(set(regions) | {e.region for e in entries})
    days = [e.date for e in entries if e.region in regions]
    if upto and month_of(upto) == month:
        days.append(upto)
    y, m = map(int, month.split("-"))
    if not days:
        days = [f"{month}-01"]
    last = min(max(days), f"{month}-{calendar.monthrange(y, m)[1]:02d}")
    return Period(min(days), last, tuple(regions), month)


def span_period(start: str, end: str, regions) -> Period:
    """A period of any dates; a whole calendar month is named after the month."""
    d0, d1 = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    whole = d0.day == 1 and d0.year == d1.year and d0.month == d1.month and \
        d1.day == calendar.monthrange(d1.year, d1.month)[1]
    return Period(start, end, tuple(regions), start[:7] if whole else "")


def periods_of(dates: list[str]) -> list[str]:
    """The calendar months a run's dates touch."""
    return sorted({month_of(d) for d in dates})


def periods_written(output_dir: str | Path) -> list[Path]:
    """Every period folder with a roll-up or chargeback, newest name first."""
    base = resolve_path(output_dir) / PERIODS
    return sorted((p for p in base.glob("*") if p.is_dir()), key=lambda p: p.name, reverse=True) if base.is_dir() else []


@dataclass
class Month:
    name: str
    entries: list[Entry] = field(default_factory=list)


def by_month(entries: list[Entry]) -> list[Month]:
    months: dict[str, Month] = {}
    for e in entries:
        months.setdefault(month_of(e.date), Month(month_of(e.date))).entries.append(e)
    return [months[k] for k in sorted(months, reverse=True)]

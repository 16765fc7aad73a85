"""Days and applications whose cost departs from their trailing median.

A value is compared with the median of the same series over the ``window_days`` calendar days before it (params
``anomaly_window_days``); it is flagged ``high`` above ``factor`` x that median and ``low`` below median / ``factor``
(params ``anomaly_factor``). Rules that keep the flags meaningful:

- at least ``min_history`` earlier values must lie in the window, otherwise the value is ``no history`` (not flagged);
- a day with no completed run is missing, not zero: it is simply not in the series. An application absent from a
  completed day *is* zero that day (the caller fills it, see :func:`flag_table`);
- differences smaller than ``floor`` dollars are never flagged (a $0.004 app doubling is noise, not news);
- a series that was zero over the whole window and now costs at least ``floor`` is flagged ``new``.

Money stays :class:`~decimal.Decimal` throughout; the ratio is a float for display only.
"""
from __future__ import annotations

import datetime as dt
import statistics
from decimal import Decimal
from typing import Iterable, Mapping

import pandas as pd

from tracker_utils.money import usd
from tracker_utils.text import count

FLOOR = Decimal("0.01")
MIN_HISTORY = 2


def _day(d) -> dt.date:
    return d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10])


def flag_series(values: Mapping[str, Decimal], window_days: int = 7, factor: float = 2.0,
                min_history: int = MIN_HISTORY, floor: Decimal = FLOOR) -> list[dict]:
    """One row per date of ``values`` ({ISO date: amount}), oldest first, with its baseline and flag.

    Row keys: date, value, baseline (trailing median or None), history (earlier values in the window),
    ratio (value / baseline, None when the baseline is zero or missing), flag ("high" | "low" | "new" | "").
    """
    if window_days < 1:
        raise ValueError("anomaly_window_days must be at least 1")
    if factor <= 1:
        raise ValueError("anomaly_factor must be above 1")
    f = Decimal(str(factor))
    floor = Decimal(floor)
    series = sorted((_day(k), Decimal(str(v))) for k, v in values.items())
    out = []
    for i, (day, value) in enumerate(series):
        lo = day - dt.timedelta(days=window_days)
        hist = [v for d, v in series[:i] if lo <= d < day]
        row = {"date": day.isoformat(), "value": value, "baseline": None, "history": len(hist), "ratio": None, "flag": ""}
        if len(hist) < min_history:
            row["flag"] = ""
            row["note"] = "no history"
            out.append(row)
            continue
        med = statistics.median(hist)
        row["baseline"] = med
        row["ratio"] = float(value / med) if med else None
        if med == 0:
            if value >= floor:
                row["flag"] = "new"
        elif value > f * med and value - med >= floor:
            row["flag"] = "high"
        elif value * f < med and med - value >= floor:
            row["flag"] = "low"
        out.append(row)
    return out


def flag_table(rows: Iterable[Mapping], keys: list[str], window_days: int = 7, factor: float = 2.0,
               dates: Iterable[str] | None = None, value: str = "value", min_history: int = MIN_HISTORY,
               floor: Decimal = FLOOR) -> pd.DataFrame:
    """Flags for many series at once.

    ``rows``: mappings with ``date``, the ``keys`` columns and ``value`` (Decimal or decimal string). ``dates``: the
    days that have data (completed runs); a key absent on one of them counts as zero that day. Default: every date
    seen in ``rows``. Returns a frame with the key columns, date, value, baseline, history, ratio and flag.
    """
    rows = list(rows)
    all_dates = sorted(set(dates) if dates is not None else {str(r["date"]) for r in rows})
    series: dict[tuple, dict[str, Decimal]] = {}
    for r in rows:
        k = tuple(r[c] for c in keys)
        s = series.setdefault(k, {})
        s[str(r["date"])] = s.get(str(r["date"]), Decimal(0)) + Decimal(str(r[value]))
    out = []
    for k, s in series.items():
        filled = {d: s.get(d, Decimal(0)) for d in all_dates}
        for row in flag_series(filled, window_days, factor, min_history, floor):
            out.append({**dict(zip(keys, k)), **row})
    cols = [*keys, "date", "value", "baseline", "history", "ratio", "flag"]
    df = pd.DataFrame(out)
    if df.empty:
        return pd.DataFrame(columns=cols)
    return df[cols].sort_values([*keys, "date"]).reset_index(drop=True)


def _app_value(app: dict, bill_present: bool) -> Decimal:
    return Decimal(app["billed_share_usd"]) if bill_present else Decimal(app["cost_usd"])


def from_summaries(summaries: Iterable[dict], window_days: int = 7, factor: float = 2.0,
                   min_history: int = MIN_HISTORY, floor: Decimal = FLOOR) -> pd.DataFrame:
    """Flags for each region's daily total and each (region, application), from per-date-region summaries.

    Daily totals use the billed cost; applications their share of the bill (their cost from logs on a day with
    no bill). Returns columns: level ("day" | "application"), region, app, date, value, baseline, history, ratio, flag.
    """
    summaries = list(summaries)
    day_rows, app_rows = [], []
    dates_by_region: dict[str, set] = {}
    for s in summaries:
        dates_by_region.setdefault(s["region"], set()).add(s["date"])
        billed = Decimal(s["totals"]["billed_cost_usd"])
        bill_present = billed != 0
        day_rows.append({"region": s["region"], "app": "", "date": s["date"],
                         "value": billed if bill_present else Decimal(s["totals"]["logs_cost_usd"])})
        for a in s.get("apps", []):
            app_rows.append({"region": s["region"], "app": a["app"], "date": s["date"], "value": _app_value(a, bill_present)})
    frames = []
    for region, dates in sorted(dates_by_region.items()):
        d = flag_table([r for r in day_rows if r["region"] == region], ["region", "app"], window_days, factor, dates,
                       min_history=min_history, floor=floor)
        a = flag_table([r for r in app_rows if r["region"] == region], ["region", "app"], window_days, factor, dates,
                       min_history=min_history, floor=floor)
        frames += [d.assign(level="day"), a.assign(level="application")]
    cols = ["level", "region", "app", "date", "value", "baseline", "history", "ratio", "flag"]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


def describe(row: Mapping, factor: float) -> str:
    """One sentence for a flagged row."""
    who = f"{row['app']} in {row['region']}" if row.get("app") else f"total spend in {row['region']}"
    v = usd(row["value"])
    if row["flag"] == "new":
        return f"{who} on {row['date']}: {v}, after nothing in the previous {count(row['history'], 'day')}"
    base = usd(row["baseline"])
    ratio = f"{row['ratio']:.1f}x" if row.get("ratio") is not None else ""
    return (f"{who} on {row['date']}: {v}, {ratio} the trailing median of {base} over "
            f"{row['history']} earlier day{'s' if row['history'] != 1 else ''} (flagged beyond {factor:g}x either way)")

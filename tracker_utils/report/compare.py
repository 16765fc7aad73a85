"""What changed: a period against the one of equal length just before it, and the last week against the one before.

In: :class:`~tracker_utils.report.period.RollupData` and the earlier completed summaries of the catalog. Out: the
roll-up's comparison box: billed cost then and now, and the applications and models ranked by their contribution
to the change in billed cost (an application's share of the bill; a model's billed cost).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from tracker_utils.money import dec, pct
from tracker_utils.report.html import Money, box, esc, table
from tracker_utils.report.period import RollupData, completed_summaries


def previous(rd: RollupData) -> tuple[str, str, list[dict]]:
    """The period of equal length just before this one, and its completed summaries (same regions)."""
    d0, d1 = dt.date.fromisoformat(rd.params.start), dt.date.fromisoformat(rd.params.end)
    n = (d1 - d0).days + 1
    p0, p1 = d0 - dt.timedelta(days=n), d0 - dt.timedelta(days=1)
    return p0.isoformat(), p1.isoformat(), completed_summaries(rd.params.output_dir, rd.params.regions,
                                                               before=p1.isoformat(), after=p0.isoformat())


def contributions(now: list[dict], before: list[dict], what: str) -> pd.DataFrame:
    """Billed cost per application (``what="app"``) or model (``"model"``) in both, the change, and its share of
    the total change; largest contribution first."""
    def sums(ss):
        acc: dict[str, Decimal] = {}
        for s in ss:
            items = ([(a["app"], a["billed_share_usd"]) for a in s.get("apps", [])] if what == "app" else
                     [(m.get("name", m["model"]), m["billed"]["cost_usd"]) for m in s.get("models", [])])
            for k, v in items:
                acc[k] = acc.get(k, Decimal(0)) + dec(v)
        return acc
    a, b = sums(now), sums(before)
    total = sum(a.values(), Decimal(0)) - sum(b.values(), Decimal(0))
    rows = [{"name": k, "before": b.get(k, Decimal(0)), "now": a.get(k, Decimal(0)),
             "change": a.get(k, Decimal(0)) - b.get(k, Decimal(0))} for k in sorted(set(a) | set(b))]
    df = pd.DataFrame(rows, columns=["name", "before", "now", "change"])
    if df.empty:
        return df
    df["share"] = [pct(c, total) if total else "n/a" for c in df["change"]]
    return df.sort_values("change", key=lambda s: s.map(abs), ascending=False).reset_index(drop=True)


def _week(rd: RollupData, everything: list[dict]) -> str:
    """The period's last 7 days against the 7 before them (billed, all regions)."""
    end = dt.date.fromisoformat(rd.params.end)
    days = {s["date"]: Decimal(0) for s in everything}
    for s in everything:
        days[s["date"]] += dec(s["totals"]["billed_cost_usd"])
    w1 = sum((v for d, v in days.items() if end - dt.timedelta(days=6) <= dt.date.fromisoformat(d) <= end), Decimal(0))
    w0 = sum((v for d, v in days.items()
              if end - dt.timedelta(days=13) <= dt.date.fromisoformat(d) <= end - dt.timedelta(days=7)), Decimal(0))
    if not w0:
        return "Week over week: no reports for the week before the last 7 days."
    return f"Week over week: the last 7 days {Money(w1)}, the 7 before {Money(w0)} ({pct(w1 - w0, w0)} change)."


def compare_box(rd: RollupData, top: int = 8) -> str:
    p0, p1, before = previous(rd)
    now = rd.summaries
    if not now:
        return ""
    if not before:
        return box(f"<b>What changed</b>: no report for the previous period of equal length ({esc(p0)} to {esc(p1)}): "
                   "nothing to compare yet. " + esc(_week(rd, now)), "note")
    b_total = sum((dec(s["totals"]["billed_cost_usd"]) for s in before), Decimal(0))
    n_total = sum((dec(s["totals"]["billed_cost_usd"]) for s in now), Decimal(0))
    parts = []
    for what, label in (("app", "Application"), ("model", "Model")):
        df = contributions(now, before, what).head(top)
        if df.empty:
            continue
        show = pd.DataFrame({label: [rd.r(x) for x in df["name"]], f"{p0} to {p1}": [Money(v) for v in df["before"]],
                             "This period": [Money(v) for v in df["now"]], "Change": [Money(v) for v in df["change"]],
                             "Share of the change": df["share"]})
        parts.append(table(show, {f"{p0} to {p1}", "This period", "Change", "Share of the change"}))
    head = (f"<b>What changed</b> against {esc(p0)} to {esc(p1)} ({len(before)} date-region reports): billed "
            f"{Money(b_total)} then, {Money(n_total)} now ({pct(n_total - b_total, b_total)} change). "
            + esc(_week(rd, now + before)))
    return box(head + "".join(parts), "note")

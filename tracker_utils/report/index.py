"""``outputs/index.html``: the catalog of every report in the outputs folder, by month, with every period's roll-up
and chargeback files."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from tracker_utils import handoff
from tracker_utils.config import Params, resolve_path, run_dir
from tracker_utils.io import read_json
from tracker_utils.report.html import badge, box, esc, wrap
from tracker_utils.report import catalog
from tracker_utils.report.period import redacted_states, redactor_for
from tracker_utils.report.rollup import RollupData, headline, runs_table
from tracker_utils.text import count


INDEX_CSS = """<style>
body{margin:24px;max-width:1240px}
</style>"""


def stale_elsewhere(p: Params, states: list[dict]) -> list[tuple[str, str, int]]:
    """Days with handed-over records and no entry in ``states`` (no report yet, or outside the catalog) whose
    report, if any, has not counted them."""
    out = resolve_path(p.output_dir)
    here = {(s["date"], s["region"]) for s in states}
    found = []
    for day_dir in sorted((out / handoff.FOLDER).glob("*/*")):
        region, day = day_dir.parent.name, day_dir.name
        if (day, region) in here or region not in p.regions:
            continue
        n = handoff.pending(out, region, day, run_dir(p.output_dir, day, region))
        if n:
            found.append((day, region, n))
    return found


def _period_links(out: Path, name: str, roll: dict | None, r=lambda v: v) -> tuple[str, str]:
    """The links of one period folder: its roll-up and its files, or why there is none."""
    folder = out / catalog.PERIODS / name
    roll = roll if roll is not None else (read_json(folder / "rollup.json") if (folder / "rollup.json").exists() else {})
    files = " &middot; ".join(f"<a href='{catalog.PERIODS}/{esc(name)}/{f}'>{f}</a>"
                              for f in ("chargeback.csv", "chargeback.json", "focus.csv", "by_day_region.csv", "alerts.json")
                              if (folder / f).exists())
    if (folder / "rollup.html").exists() and roll.get("status") != "failed":
        return (f"<a href='{catalog.PERIODS}/{esc(name)}/rollup.html'><b>Roll-up {esc(name)}</b></a>"
                + (f" &middot; {files}" if files else "")), "note"
    if roll.get("status") == "failed":
        return f"{badge('failed', 'bad')} The roll-up report of {esc(name)} failed: {esc(r(roll.get('error', '')))}", "bad"
    return f"No roll-up report of {esc(name)} yet.", "warn"


def write_index(p: Params, outcomes, rollups: dict | None = None) -> Path:
    """``outputs/index.html``: the catalog of every date and region under the outputs folder, whichever run made
    it, by month, with status (stale and failed ones marked), and a link to every period's roll-up and files."""
    out = resolve_path(p.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    by = {(o.date, o.region): o for o in (outcomes or [])}
    entries = {(e.date, e.region): e for e in catalog.scan(out)}
    for d in p.dates:                 # the chains this run asked for, even those that never started
        for rg in p.regions:
            entries.setdefault((d, rg), catalog.entry(out, d, rg))
    for (d, rg), o in by.items():
        if catalog.DATE_DIR.fullmatch(d):
            entries[(d, rg)] = catalog.entry(out, d, rg, o)
    months = catalog.by_month([entries[k] for k in sorted(entries)])
    r = redactor_for(p, [e.__dict__ for e in entries.values()])
    rollups = rollups or {}
    sections = []
    for m in months:
        states = redacted_states(r, [e.__dict__ for e in m.entries])
        rd = RollupData(r.params(p), states, pd.DataFrame(), [], r)
        links, kind = _period_links(out, m.name, rollups.get(m.name), r)
        sections.append(f"<h2>{esc(_month_name(m.name))}</h2>" + box(links, kind)
                        + (headline(rd) if rd.summaries else "") + runs_table(rd))
    others = [f.name for f in catalog.periods_written(out) if f.name not in {m.name for m in months}]
    if others:
        sections.append("<h2>Other periods</h2>" + "".join(box(_period_links(out, n, rollups.get(n), r)[0], "note")
                                                          for n in others))
    n_all = len(entries)
    n_ok = sum(e.status == "complete" for e in entries.values())
    n_failed = sum(e.status == "failed" for e in entries.values())
    n_stale = sum(bool(e.stale_records) for e in entries.values())
    n_inc = n_all - n_ok - n_failed
    counts = (f"{n_ok} complete" + (f", {badge(f'{n_failed} failed', 'bad')}" if n_failed else "")
              + (f", {badge(f'{n_stale} stale', 'warn')}" if n_stale else "")
              + (f", {badge(f'{n_inc} incomplete', 'warn')}" if n_inc else ""))
    stale = stale_elsewhere(p, [e.__dict__ for e in entries.values()])
    body = (f"<h1>Amazon Bedrock usage reports</h1><p class='sub'>Account {esc(r(p.account))} &middot; "
            f"{n_all} date-region reports in this folder: {counts} &middot; "
            f"updated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC</p>"
            + "".join(sections)
            + (box("".join(f"{badge('stale', 'warn')} {esc(d)} {esc(rg)}: stale: {count(n, 'record')} of this day "
                           "arrived after its report; run that day again to count them<br>" for d, rg, n in stale), "warn")
               if stale else "")
            + "<p class='sub'>A report is complete when its summary.json exists. Failed, stale and incomplete ones are "
              "redone by running a command that covers them again (completed ones are skipped).</p>")
    page = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
            f"<title>Bedrock usage reports</title>{INDEX_CSS}</head><body>" + wrap(body) + "</body></html>")
    idx = out / "index.html"
    tmp = idx.with_suffix(".html.tmp")
    tmp.write_text(page)
    tmp.replace(idx)
    return idx


def _month_name(month: str) -> str:
    try:
        return dt.date.fromisoformat(f"{month}-01").strftime("%B %Y")
    except ValueError:
        return month

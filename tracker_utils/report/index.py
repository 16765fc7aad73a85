"""``outputs/index.html``: the page that links every report of a run, the roll-up and the chargeback files."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from tracker_utils import handoff
from tracker_utils.config import Params, resolve_path, run_dir
from tracker_utils.io import read_json
from tracker_utils.report.html import badge, box, esc, wrap
from tracker_utils.report.rollup import RollupData, headline, redacted_states, redactor_for, run_states, runs_table


INDEX_CSS = """<style>
body{margin:24px;max-width:1240px}
</style>"""


def stale_elsewhere(p: Params, states: list[dict]) -> list[tuple[str, str, int]]:
    """Reports outside this run that records found by it (or earlier) belong to, and that have not counted them."""
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


def write_index(p: Params, outcomes, rollup_result: dict | None = None) -> Path:
    """``outputs/index.html``: links to every report and the roll-up; each date-region's verdict, billed and
    logs cost; failed and incomplete runs shown as such."""
    out = resolve_path(p.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    states = run_states(p, outcomes)
    r = redactor_for(p, states)
    states = redacted_states(r, states)
    rd = RollupData(r.params(p), states, pd.DataFrame(), [], r)
    rollup_result = rollup_result if rollup_result is not None else (
        read_json(out / "rollup.json") if (out / "rollup.json").exists() else {})
    if (out / "rollup.html").exists() and rollup_result.get("status") != "failed":
        roll = ("<a href='rollup.html'><b>Roll-up report for the whole run</b></a> (trends, chargeback, anomalies, "
                "reconciliation) &middot; chargeback: <a href='chargeback.csv'>CSV</a> &middot; "
                "<a href='chargeback.json'>JSON</a>")
        kind = "note"
    elif rollup_result.get("status") == "failed":
        roll = f"{badge('failed', 'bad')} The roll-up report failed: {esc(r(rollup_result.get('error', '')))}"
        kind = "bad"
    else:
        roll = "No roll-up report yet."
        kind = "warn"
    stale = stale_elsewhere(p, states)
    if stale:
        roll += "".join(f"<br>{badge('stale', 'warn')} <a href='{esc(d)}/{esc(r)}/report.html'>{esc(d)} {esc(r)}</a>: "
                        f"stale: {n:,} record{'s' if n != 1 else ''} of this day arrived after its report (found by "
                        "this run; run that day again to count them)" for d, r, n in stale)
        kind = "warn" if kind == "note" else kind
    n_ok = sum(s["status"] == "complete" for s in states)
    n_failed = sum(s["status"] == "failed" for s in states)
    n_inc = len(states) - n_ok - n_failed
    counts = (f"{n_ok} complete" + (f", {badge(f'{n_failed} failed', 'bad')}" if n_failed else "")
              + (f", {badge(f'{n_inc} incomplete', 'warn')}" if n_inc else ""))
    body = (f"<h1>Amazon Bedrock usage reports</h1><p class='sub'>Account {esc(r(p.account))} &middot; {esc(p.start)} to {esc(p.end)} "
            f"&middot; regions {esc(', '.join(p.regions))} &middot; {len(states)} date-region reports: {counts} &middot; "
            f"updated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC</p>"
            + box(roll, kind) + (headline(rd) if rd.summaries else "")
            + "<h2>Reports by date and region</h2>" + runs_table(rd)
            + "<p class='sub'>A report is complete when its summary.json exists. Failed and incomplete ones are redone "
              "by running the same command again (completed ones are skipped).</p>")
    page = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
            f"<title>Bedrock usage reports {esc(p.start)} to {esc(p.end)}</title>{INDEX_CSS}</head><body>"
            + wrap(body) + "</body></html>")
    idx = out / "index.html"
    tmp = idx.with_suffix(".html.tmp")
    tmp.write_text(page)
    tmp.replace(idx)
    return idx

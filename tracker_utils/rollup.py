"""The run's index page (``outputs/index.html``) linking every report."""
from __future__ import annotations

import html
from pathlib import Path

from .config import Params, resolve_path, run_dir
from .io import read_json


def write_index(p: Params, outcomes) -> Path:
    out = resolve_path(p.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for d in p.dates:
        for r in p.regions:
            rd = run_dir(p.output_dir, d, r)
            s = rd / "summary.json"
            if s.exists():
                sm = read_json(s)
                t = sm["totals"]
                rows.append(f"<tr><td>{d}</td><td>{r}</td><td><a href='{d}/{r}/report.html'>report</a></td>"
                            f"<td>${t['billed_cost_usd']}</td><td>${t['logs_cost_usd']}</td>"
                            f"<td>{html.escape(sm['verdict'])}</td></tr>")
            else:
                rows.append(f"<tr><td>{d}</td><td>{r}</td><td>incomplete</td><td></td><td></td><td></td></tr>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>Bedrock usage reports</title></head><body>"
            "<h1>Bedrock usage reports</h1><table border=1 cellpadding=4><tr><th>date</th><th>region</th><th>report</th>"
            "<th>billed</th><th>from logs</th><th>verdict</th></tr>" + "".join(rows) + "</table></body></html>")
    idx = out / "index.html"
    idx.write_text(page)
    return idx

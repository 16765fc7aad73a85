"""A period's data: the completed summaries and priced logs of its dates and regions, and its totals.

In: a params snapshot whose start, end and regions are the period's (see :mod:`catalog`), and the outputs folder.
Out: :class:`RollupData`, read by the roll-up page (:mod:`rollup`), the chargeback files (:mod:`chargeback`) and
the budgets (:mod:`budgets`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tracker_utils.apps import is_unattributed
from tracker_utils.config import Params, load_params, resolve_path, run_dir
from tracker_utils.io import read_json, read_parquet
from tracker_utils.money import dsum
from tracker_utils.report import catalog
from tracker_utils.report.html import show
from tracker_utils.report.redact import Redactor, run_principals
from tracker_utils.schema import TOKENS


# --- what the run produced -----------------------------------------------------------------------------------
def run_states(p: Params, outcomes=None) -> list[dict]:
    """One entry per date and region of ``p``'s dates and regions: status complete | failed | incomplete, its
    summary if complete, and how many records other days handed it that it has not counted (stale)."""
    by = {(o.date, o.region): o for o in (outcomes or [])}
    return [catalog.entry(p.output_dir, d, r, by.get((d, r))).__dict__ for d in p.dates for r in p.regions]


def completed_summaries(output_dir: str | Path, regions: list[str] | None = None, before: str | None = None,
                        after: str | None = None) -> list[dict]:
    """Every completed summary in an output folder (optionally of some regions and within [after, before])."""
    out = []
    for pth in sorted(resolve_path(output_dir).glob("*/*/summary.json")):
        try:
            s = read_json(pth)
        except Exception:  # noqa: BLE001
            continue
        if "totals" not in s or (regions and s.get("region") not in regions):
            continue
        if (before and s["date"] > before) or (after and s["date"] < after):
            continue
        out.append(s)
    return out


# --- the roll-up's data --------------------------------------------------------------------------------------
@dataclass
class RollupData:
    params: Params                  # start, end and regions are the period's
    states: list[dict]
    price_logs: pd.DataFrame
    history: list[dict] = field(default_factory=list)    # earlier completed days (for the anomaly baseline)
    redactor: Redactor = field(default_factory=Redactor)
    interactive: bool = False
    period: str = ""                # the period's name: its files go to outputs/periods/<period>/

    @property
    def summaries(self) -> list[dict]:
        return [s["summary"] for s in self.states if s["status"] == "complete"]

    @property
    def out_dir(self) -> Path:
        """Where this period's roll-up and chargeback files go."""
        p = self.params
        return catalog.Period(p.start, p.end, tuple(p.regions), self.period).folder(p.output_dir)

    @property
    def r(self) -> Redactor:
        return self.redactor

    def show(self, *items) -> None:
        show(*items)


def load(params_file: str = "", output_dir: str = "", interactive: bool = False, period: str = "") -> RollupData:
    """The period's completed summaries and invocation-log frames (the notebook's one call after its parameters).
    The params file (a snapshot the runner wrote) holds the period's start, end and regions."""
    overrides = {"output_dir": output_dir} if output_dir else {}
    p = load_params(params_file or None, overrides)
    states = run_states(p)
    frames = []
    for st in states:
        if st["status"] != "complete":
            continue
        f = run_dir(p.output_dir, st["date"], st["region"]) / "data" / "price_logs.parquet"
        if f.exists():
            frames.append(read_parquet(f).assign(date=st["date"], region=st["region"]))
    pl = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["date", "region", "principal", "principal_name", "principal_kind", "app", "team", "cost_centre",
                 "base_model", "invocations", "sessions", *TOKENS, "cost_usd"])
    start = (dt.date.fromisoformat(p.start) - dt.timedelta(days=p.anomaly_window_days)).isoformat()
    history = completed_summaries(p.output_dir, p.regions, before=(dt.date.fromisoformat(p.start) - dt.timedelta(days=1)).isoformat(),
                                  after=start)
    r = redactor_for(p, states)
    return RollupData(r.params(p), redacted_states(r, states), r.frame(pl), [r.obj(h) for h in history], r,
                      interactive, period)


def redactor_for(p: Params, states: list[dict]) -> Redactor:
    """The period's redactor (a no-op unless ``redact``): it knows every principal of the completed date-regions."""
    principals: set[str] = set()
    if p.redact:
        for st in states:
            if st["status"] == "complete":
                principals |= run_principals(run_dir(p.output_dir, st["date"], st["region"]))
    return Redactor(p.redact, p.account, principals)


def redacted_states(r: Redactor, states: list[dict]) -> list[dict]:
    """The states as a shared page shows them: summaries and error messages redacted (values, before rendering)."""
    return [{**st, "summary": r.obj(st["summary"]), "error": r(st["error"])} for st in states] if r.enabled else states


def totals(rd: RollupData) -> dict:
    ss = rd.summaries
    billed = dsum(s["totals"]["billed_cost_usd"] for s in ss)
    logs = dsum(s["totals"]["logs_cost_usd"] for s in ss)
    cw = dsum(s["totals"]["cloudwatch_cost_usd"] for s in ss)
    apps = [a for s in ss for a in s.get("apps", [])]
    un = dsum(a["billed_share_usd"] for a in apps if is_unattributed(a))
    share = dsum(a["billed_share_usd"] for a in apps)
    return {"billed": billed, "logs": logs, "cloudwatch": cw, "unattributed": un, "apps_share": share,
            "logs_invocations": sum(s["totals"]["logs_invocations"] for s in ss),
            "cloudwatch_invocations": sum(s["totals"]["cloudwatch_invocations"] for s in ss),
            "days": len({s["date"] for s in ss}), "runs": len(ss), "lower_bound": any(s["totals"].get("lower_bound") for s in ss)}



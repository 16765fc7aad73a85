"""The ground truth: what a correct pipeline must report for every date and region, in the ``summary.json`` shape.

In: a ``DemoSpec``, the invocations (what really happened), the log files as written, the bill lines and the
price book. Out: ``ground_truth``, a dict of runs keyed ``<date>/<region>`` with per-model logs, CloudWatch and
billed totals, the known gaps between them, per-app totals and data-quality counts. It is computed from the
generator's own list, not by the pipeline's code.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from tracker_utils.demo.batch import batch_jobs, cost_lines_truth, jobs_of
from tracker_utils.demo.logs import _log_prefix
from tracker_utils.demo.operations import operations_truth
from tracker_utils.demo.spec import Q, TOKEN_KEYS, UNIT_OF, UNKNOWN_MODEL, DemoSpec, Inv
from tracker_utils.price.book import PriceBook


def _zero() -> dict:
    return {"invocations": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0,
            "cost": Decimal(0)}


def _add(acc: dict, inv: Inv, book: PriceBook, count_errors: bool = True) -> None:
    acc["invocations"] += 1
    for k in TOKEN_KEYS:
        acc[k] += getattr(inv, k)
    acc["cost"] += _cost(inv, book)


def _cost(inv: Inv, book: PriceBook) -> Decimal:
    total = Decimal(0)
    if ":provisioned-model/" in inv.model_id:       # billed by the model-unit hour, not per token
        return total
    for k in TOKEN_KEYS:
        t = getattr(inv, k)
        if t:
            p = book.unit_price(inv.base_model, inv.region, inv.scope, inv.tier, UNIT_OF[k], inv.day) \
                if inv.base_model != UNKNOWN_MODEL else None
            if p is not None:
                total += Decimal(t) * p / 1000
    return total


def _fmt(acc: dict) -> dict:
    d = {k: v for k, v in acc.items() if k != "cost"}
    d["cost_usd"] = str(acc["cost"].quantize(Q))
    return d


# --- what the collector reads, and what happened ------------------------------------------------------------------
def _files_in_window(spec: DemoSpec, region: str, d0: dt.datetime, files: dict) -> dict:
    """The log files the collector reads for a day starting ``d0``: hour folders from 00:00 up to the window end."""
    prefix = _log_prefix(spec, region)
    window_end = d0 + dt.timedelta(days=1, hours=spec.window_after_hours)
    return {k: b for k, b in files.items() if k.startswith(prefix + "/")
            and d0 <= dt.datetime.strptime(k[len(prefix) + 1:len(prefix) + 14], "%Y/%m/%d/%H").replace(
                tzinfo=dt.timezone.utc) < window_end}


def _model(models: dict[str, dict], base: str) -> dict:
    """The per-model accumulator for ``base``, created on first use."""
    if base not in models:
        models[base] = {"model": base, "model_ids_seen": set(), "logs": _zero(), "cloudwatch": _zero(),
                        "billed": Decimal(0), "gaps": {}}
    return models[base]


def _gap(m: dict, kind: str, book: PriceBook, inv: Inv | None = None, sign: int = 1, cost: Decimal | None = None,
         tokens: dict | None = None) -> None:
    """Add to model ``m``'s gap ``kind``: one invocation (its tokens, cost and hour), a cost, or token counts."""
    g = m["gaps"].setdefault(kind, {"kind": kind, **{k: v for k, v in _zero().items()}, "hours": set()})
    if inv is not None:
        g["invocations"] += sign
        for k in TOKEN_KEYS:
            g[k] += sign * getattr(inv, k)
        g["cost"] += sign * _cost(inv, book)
        g["hours"].add(inv.ts.hour)
    if cost is not None:
        g["cost"] += cost
    for k, v in (tokens or {}).items():
        g[k] += v


# --- per model: logs, CloudWatch, bill and the gaps between them ---------------------------------------------------
def _models_from_calls(models: dict, mine: list[Inv], logs: list[Inv], late: list[Inv], lost: list[Inv],
                       edge: list[Inv], book: PriceBook) -> None:
    """Logs and CloudWatch totals per model, and the gaps the invocations explain (failed, late, lost, day edge)."""
    for inv in logs:
        m = _model(models, inv.base_model)
        m["model_ids_seen"].add(inv.model_id)
        _add(m["logs"], inv, book)
        if inv.error:
            _gap(m, "failed_calls", book, inv, sign=-1)
    for inv in mine:
        if inv.error is None:
            m = _model(models, inv.base_model)
            m["model_ids_seen"].add(inv.model_id)
            _add(m["cloudwatch"], inv, book)
    for inv in late:
        _gap(_model(models, inv.base_model), "late_delivery", book, inv)
    for inv in lost:
        _gap(_model(models, inv.base_model), "logging_outage", book, inv)
    for inv in edge:
        _gap(_model(models, inv.base_model), "day_edge", book, inv)


_TOK = {"input": "input_tokens", "output": "output_tokens"}


def _batch_line_gaps(m: dict, cost: Decimal, truths: list[dict], region: str, day: str, book: PriceBook,
                     jobs: list) -> None:
    """A batch line: the manifests of the day's jobs explain their tokens (at the book's batch price), the rest of
    the line (a job whose manifest is missing) is usage never logged."""
    unit = truths[0]["unit"]
    tok = _TOK[unit]
    billed = sum(t["tokens"] for t in truths)
    seen = [j for j in jobs if j.manifest]
    tm = sum(getattr(j, tok) for j in seen)
    cm = sum((Decimal(getattr(j, tok)) * book.unit_price(j.base_model, region, j.scope, "batch", unit, day) / 1000
              for j in seen), Decimal(0))
    if tm:
        _gap(m, "batch", book, cost=cm, tokens={tok: tm})
    if billed > tm:
        _gap(m, "unlogged_endpoint", book, cost=cost - cm, tokens={tok: billed - tm})


def _bill_line_gaps(m: dict, cost: Decimal, truths: list[dict], region: str, day: str, book: PriceBook,
                    jobs: list = ()) -> None:
    """The gaps one bill line explains: unlogged endpoint, unpriced model or price mismatch (tokens, then cost)."""
    if truths[0].get("record_type"):          # a credit, refund or discount: a term of the net bill
        return _gap(m, truths[0]["record_type"], book, cost=cost)
    if truths[0]["tier"] == "batch":
        return _batch_line_gaps(m, cost, truths, region, day, book, list(jobs))
    if truths[0]["tier"] == "provisioned":
        return _gap(m, "provisioned", book, cost=cost)
    book_cost = Decimal(0)
    for t in truths:
        tok = {"input": "input_tokens", "output": "output_tokens", "cache_read": "cache_read_tokens",
               "cache_write_5m": "cache_write_tokens"}[t["unit"]]
        if t["tier"] == "mantle":
            _gap(m, "unlogged_endpoint", book, tokens={tok: t["tokens"]})
        elif t["model"] == UNKNOWN_MODEL:
            _gap(m, "unpriced_model", book, tokens={tok: t["tokens"]})
        elif t.get("stale"):
            _gap(m, "price_mismatch", book, tokens={tok: t["tokens"]})
        if t.get("stale"):
            book_cost += Decimal(t["tokens"]) * book.unit_price(t["model"], region, t["scope"], "standard",
                                                                t["unit"], day) / 1000
    t0 = truths[0]
    if t0["tier"] == "mantle":
        _gap(m, "unlogged_endpoint", book, cost=cost)
    elif t0["model"] == UNKNOWN_MODEL:
        _gap(m, "unpriced_model", book, cost=cost)
    elif t0.get("stale"):
        _gap(m, "price_mismatch", book, cost=cost - book_cost)


def _models_from_bill(models: dict, bills: dict, region: str, day: str, book: PriceBook, jobs: list = ()) -> None:
    """Billed cost per model from the day's bill lines in ``region``, and the gaps those lines explain."""
    for service, usage, qty, cost, truths in bills.get(day, []):
        if truths[0]["region"] != region:
            continue
        assert len({t["model"] for t in truths}) == 1, usage
        m = _model(models, truths[0]["model"])
        m["billed"] += cost
        _bill_line_gaps(m, cost, truths, region, day, book, jobs)


def _format_models(models: dict) -> list[dict]:
    """The models in the summary.json shape, sorted, with their gaps sorted by kind."""
    out_models = []
    for base in sorted(models):
        m = models[base]
        gaps = []
        for kind in sorted(m["gaps"]):
            g = m["gaps"][kind]
            gg = _fmt({k: g[k] for k in ("invocations", *TOKEN_KEYS, "cost")})
            if kind in ("unlogged_endpoint", "unpriced_model", "price_mismatch", "batch", "provisioned"):
                gg["invocations"] = 0
            gaps.append({"kind": kind, **gg, "hours": sorted(g["hours"])})
        out_models.append({"model": base, "model_ids_seen": sorted(m["model_ids_seen"]),
                           "logs": _fmt(m["logs"]), "cloudwatch": _fmt(m["cloudwatch"]),
                           "billed": {"cost_usd": str(m["billed"].quantize(Q))}, "gaps": gaps})
    return out_models


# --- per app, totals, one run -------------------------------------------------------------------------------------
def _app_totals(logs: list[Inv], bills: dict, region: str, day: str, book: PriceBook, jobs: list = ()) -> list[dict]:
    """Logged usage per app, plus an empty row for billed usage that has no logs (bedrock-mantle, a batch job no
    manifest explains)."""
    apps: dict[str, dict] = defaultdict(_zero)
    for inv in logs:
        _add(apps[inv.app], inv, book)
    unlogged = sum((c for _, _, _, c, t in bills.get(day, []) if t[0]["region"] == region
                    and t[0]["tier"] == "mantle"), Decimal(0)) + sum(j.input_tokens for j in jobs if not j.manifest)
    if unlogged:
        apps["(unlogged usage: batch, bedrock-mantle)"] = _zero()
    return [{"app": a, **{k: v for k, v in _fmt(apps[a]).items() if k in ("invocations", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd")}} for a in sorted(apps)]


def _totals(models: dict, mine: list[Inv], logs: list[Inv]) -> dict:
    """The run's cost by source (logs, CloudWatch, bill) and its invocation counts."""
    return {
        "logs_cost_usd": str(sum((m["logs"]["cost"] for m in models.values()), Decimal(0)).quantize(Q)),
        "cloudwatch_cost_usd": str(sum((m["cloudwatch"]["cost"] for m in models.values()), Decimal(0)).quantize(Q)),
        "billed_cost_usd": str(sum((m["billed"] for m in models.values()), Decimal(0)).quantize(Q)),
        **_net_gross(models),
        "logs_invocations": len(logs),
        "cloudwatch_invocations": sum(1 for inv in mine if inv.error is None),
    }


def _net_gross(models: dict) -> dict:
    """The net bill, the gross (list-price) bill and its adjustments (credit, refund, discount), exact then rounded."""
    adj = {k: sum((m["gaps"][k]["cost"] for m in models.values() if k in m["gaps"]), Decimal(0))
           for k in ("credit", "refund", "discount")}
    net = sum((m["billed"] for m in models.values()), Decimal(0))
    return {"net_cost_usd": str(net.quantize(Q)), "gross_cost_usd": str((net - sum(adj.values())).quantize(Q)),
            "adjustments_usd": {k: str(v.quantize(Q)) for k, v in adj.items()}}


def _run_truth(spec: DemoSpec, region: str, day: str, invs: list[Inv], files: dict, bills: dict,
               book: PriceBook) -> dict:
    """What a correct pipeline reports for one date and region."""
    d0 = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=dt.timezone.utc)
    as_of = d0 + dt.timedelta(days=1, hours=spec.as_of_hours)
    in_window = _files_in_window(spec, region, d0, files)
    read = [inv for b in in_window.values() for inv in b]
    outside = sum(1 for inv in read if inv.day != day)
    mine = [inv for inv in invs if inv.region == region and inv.day == day]
    logs = [inv for inv in mine if inv.delivered is not None and inv.delivered <= as_of]
    late = [inv for inv in mine if inv.late]
    lost = [inv for inv in mine if inv.delivered is None]
    edge = [inv for inv in logs if inv.delivered.date() != inv.ts.date()]
    models: dict[str, dict] = {}
    jobs = jobs_of(batch_jobs(spec), region, day)
    _models_from_calls(models, mine, logs, late, lost, edge, book)
    _models_from_bill(models, bills, region, day, book, jobs)
    out_models = _format_models(models)
    apps = _app_totals(logs, bills, region, day, book, jobs)
    unpriced = sorted({inv.base_model for inv in mine if inv.base_model == UNKNOWN_MODEL})
    return {
        "date": day, "region": region, "models": out_models,
        "apps": apps,
        "totals": _totals(models, mine, logs),
        **cost_lines_truth(spec, region, day, jobs, logs, bills, book),
        "data_quality": {"files_read": len(in_window), "records_read": len(read),
                         "records_malformed": 0, "records_duplicate": 0,
                         "records_outside_day": outside, "records_late": len(late),
                         "unpriced_models": unpriced},
    }


def ground_truth(spec: DemoSpec, invs: list[Inv], files: dict, bills: dict, book: PriceBook) -> dict:
    """The ground truth for every date and region, keyed ``<date>/<region>``, with the spec it was built from."""
    runs = {}
    for region in spec.regions:
        for day in spec.dates:
            runs[f"{day}/{region}"] = _run_truth(spec, region, day, invs, files, bills, book)
            runs[f"{day}/{region}"]["operations"] = operations_truth(region, day, spec.dates, invs)
    return {"spec": {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.__dict__.items()},
            "as_of": f"+{spec.as_of_hours:g}h", "runs": runs}

"""The words of reconcile: each model's gaps, the day's gaps all models together, and the verdict sentence.

In: the exact per-model ledger (:func:`tracker_utils.reconcile.ledger.reconcile`). Out: the ``models``, ``gaps``
and ``verdict`` parts of ``summary.json``. The sentence of each gap kind is a template in :mod:`tracker_utils.gaps`;
this module fills it in. Money is rounded here, once, when written.
"""
from __future__ import annotations

from decimal import Decimal

from tracker_utils import gaps as gapkinds
from tracker_utils.money import dec, money, usd
from tracker_utils.reconcile.ledger import Gap
from tracker_utils.schema import COUNTS

FIELDS = ("name", "n", "abs_n", "signed_n", "cost", "abs_cost", "neg_cost", "hrs", "when", "detail", "usage",
          "tolerance")


def hours_text(hours) -> str:
    return ", ".join(f"{h:02d}:00" for h in sorted(hours))


def _in_hours(hours) -> str:
    hours = sorted(hours)
    return f" in {len(hours)} hour{'s' if len(hours) != 1 else ''} ({hours_text(hours)} UTC)" if hours else ""


def fill(template: str, **fields) -> str:
    """A gap sentence: ``template`` with the named fields (every field of :data:`FIELDS` is known, blank if unset)."""
    return template.format_map({**dict.fromkeys(FIELDS, ""), **fields})


def explain(kind: str, g: Gap, display_name: str) -> str:
    """One model's gap of one kind, in a sentence."""
    s = g.sizes
    hrs = _in_hours(g.hours)
    usage = ""
    if kind == "unexplained":
        counts = (f"{s['invocations']:+,} invocations, {s['input_tokens']:+,} input and {s['output_tokens']:+,} "
                  f"output tokens{hrs}") if any(s[k] for k in COUNTS) else ""
        usage = ", ".join(x for x in [counts, usd(s["cost"]) if s["cost"] else ""] if x)
    return fill(gapkinds.kind(kind).per_model, name=display_name, n=f"{s['invocations']:,}",
                abs_n=f"{abs(s['invocations']):,}", cost=usd(s["cost"]), neg_cost=usd(-s["cost"]), hrs=hrs,
                detail=("; " + "; ".join(dict.fromkeys(g.details))) if g.details else "", usage=usage,
                tolerance=" (within tolerance)" if g.within_tolerance else "")


def gap_sentence(g: dict, cost: Decimal) -> str:
    """One plain sentence for a day's gap of one kind, all models together (the report's verdict box)."""
    n = g["invocations"]
    k = gapkinds.kind(g["kind"])
    return fill(k.per_day, n=f"{n:,}", abs_n=f"{abs(n):,}", signed_n=f"{n:+,}", cost=usd(cost),
                abs_cost=usd(abs(cost)), when=_in_hours(g.get("hours") or []) if k.hours else "",
                tolerance=" (within tolerance)" if g.get("within_tolerance") else "")


def summarise(models: dict, display: dict, tol_tokens_pct: float = 0.5, tol_cost_pct: float = 1.0,
              tol_cost_abs: float = 0.0001) -> list[dict]:
    """The per-model part of ``summary.json``: counts, costs (rounded once, here) and the gaps in table order."""
    out = []
    for base in sorted(models):
        m = models[base]
        model_gaps = []
        for kind in gapkinds.ORDER:
            g = m["gaps"].get(kind)
            if g is None:
                continue
            if kind == "unexplained":
                limit = max(dec(tol_cost_abs), abs(m["billed"]) * dec(tol_cost_pct) / 100)
                g.within_tolerance = abs(g.sizes["cost"]) <= limit and all(
                    abs(g.sizes[k]) * 100 <= tol_tokens_pct * max(m["cloudwatch"][k], 1) for k in COUNTS)
            model_gaps.append(g.to_dict(explain(kind, g, display.get(base, base))))
        out.append({"model": base, "name": display.get(base, base), "model_ids_seen": sorted(m["model_ids_seen"]),
                    "logs": {**{k: m["logs"][k] for k in COUNTS}, "cost_usd": money(m["logs"]["cost"])},
                    "cloudwatch": {**{k: m["cloudwatch"][k] for k in COUNTS},
                                   "cost_usd": money(m["cloudwatch"]["cost"])},
                    "billed": {"cost_usd": money(m["billed"]), "lines": m["bill_lines"]},
                    "gaps": model_gaps})
    return out


def roll_up_gaps(models: list[dict]) -> list[dict]:
    """The day's gaps, one per kind, all models together."""
    acc: dict[str, dict] = {}
    for m in models:
        for g in m["gaps"]:
            a = acc.setdefault(g["kind"], {"kind": g["kind"], **{k: 0 for k in COUNTS}, "cost": Decimal(0),
                                           "hours": set(), "models": [], "usage_gap": False, "in_logs": g["in_logs"]})
            for k in COUNTS:
                a[k] += g[k]
            a["cost"] += Decimal(g["cost_usd"])
            a["hours"] |= set(g["hours"])
            a["models"].append(m["model"])
            a["usage_gap"] = a["usage_gap"] or g["usage_gap"]
            if g["kind"] == "unexplained":
                a["within_tolerance"] = a.get("within_tolerance", True) and g.get("within_tolerance", False)
    out = []
    for kind in gapkinds.ORDER:
        if kind in acc:
            a = acc[kind]
            cost = a.pop("cost")
            a["cost_usd"] = money(cost)
            a["hours"] = sorted(a["hours"])
            a["explanation"] = gap_sentence(a, cost)
            out.append(a)
    return out


def _opening(billed: Decimal, logs_cost: Decimal, bill_present: bool, scope_gap: bool,
             covered_logs_cost: Decimal | None) -> str:
    if bill_present and billed:
        base = covered_logs_cost if scope_gap and covered_logs_cost is not None else logs_cost
        pct = (base / billed * 100)
        return (f"The logs explain {pct.quantize(Decimal('0.1'))}% of the {usd(billed)} billed"
                + (" for the models the bill covers" if scope_gap else ""))
    if bill_present:
        return f"Nothing was billed; the logs priced at the book come to {usd(logs_cost)}"
    return f"No bill was collected; the logs priced at the book come to {usd(logs_cost)}"


def _unexplained(gaps: list[dict]) -> str:
    unexp = next((g for g in gaps if g["kind"] == "unexplained"), None)
    if unexp is None:
        return "nothing is unexplained"
    if unexp.get("within_tolerance"):
        return f"{usd(abs(Decimal(unexp['cost_usd'])))} is within tolerance; nothing else is unexplained"
    return f"{usd(abs(Decimal(unexp['cost_usd'])))} and {unexp['invocations']:+,} invocations are unexplained"


def verdict(billed: Decimal, logs_cost: Decimal, gaps: list[dict], logs_inv: int, cw_inv: int, bill_present: bool,
            unpriced: list[str], covered_logs_cost: Decimal | None = None, arrivals: dict | None = None) -> str:
    """The day's verdict: how much of the bill the logs explain, each named gap, and what is left unexplained."""
    scope_gap = any(g["kind"] == "scope" for g in gaps)
    parts = [_opening(billed, logs_cost, bill_present, scope_gap, covered_logs_cost)]
    for g in gaps:
        if g["kind"] in ("unexplained", "failed_calls", "day_edge", "rounding"):
            continue
        txt = f"{usd(abs(Decimal(g['cost_usd'])))} is {gapkinds.TEXT[g['kind']]}"
        if gapkinds.kind(g["kind"]).hours:
            txt += _in_hours(g["hours"])
        parts.append(txt)
    if cw_inv:
        short = cw_inv - logs_inv
        parts.append(f"the logs hold {logs_inv:,} invocations against CloudWatch's {cw_inv:,}"
                     + (f" ({short:+,} = {Decimal(short * 100) / Decimal(cw_inv):.1f}% short)" if short > 0 else ""))
    parts.append(_unexplained(gaps))
    if arrivals and arrivals.get("new_records_of_day"):
        parts.append(f"{arrivals['new_records_of_day']:,} records arrived after the previous collection "
                     f"({arrivals['previous_as_of']}) in {len(arrivals['hours'])} hour(s) "
                     f"({hours_text(arrivals['hours'])} UTC): late delivery, now included")
    s = "; ".join(parts) + "."
    if unpriced:
        s += f" Unpriced models ({', '.join(unpriced)}) make the logs' total a lower bound."
    return s

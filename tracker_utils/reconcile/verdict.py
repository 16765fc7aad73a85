"""The words of reconcile: each model's gaps, the day's gaps all models together, and the verdict sentence.

In: the exact per-model ledger (:func:`tracker_utils.reconcile.ledger.reconcile`). Out: the ``models``, ``gaps``
and ``verdict`` parts of ``summary.json``. The sentence of each gap kind is a template in :mod:`tracker_utils.gaps`;
this module fills it in. Money is rounded here, once, when written.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tracker_utils import gaps as gapkinds
from tracker_utils.money import dec, money, usd
from tracker_utils.reconcile.ledger import Gap
from tracker_utils.schema import COUNTS, TOKENS
from tracker_utils.text import count

FIELDS = ("name", "n", "abs_n", "signed_n", "invocations", "calls", "abs_calls", "cost", "abs_cost", "neg_cost", "hrs",
          "when", "detail", "usage", "tolerance")


def _counts(n: int) -> dict:
    return {"n": f"{n:,}", "abs_n": f"{abs(n):,}", "signed_n": f"{n:+,}", "invocations": count(n, "invocation"),
            "calls": count(n, "call"), "abs_calls": count(abs(n), "call")}


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
        counts = (f"{count(s['invocations'], 'invocation', True)}, {s['input_tokens']:+,} input and "
                  f"{s['output_tokens']:+,} output tokens{hrs}") if any(s[k] for k in COUNTS) else ""
        usage = ", ".join(x for x in [counts, usd(s["cost"]) if s["cost"] else ""] if x)
    return fill(gapkinds.kind(kind).per_model, name=display_name, **_counts(s["invocations"]),
                cost=usd(s["cost"]), neg_cost=usd(-s["cost"]), hrs=hrs,
                detail=("; " + "; ".join(dict.fromkeys(g.details))) if g.details else "", usage=usage,
                tolerance=" (within tolerance)" if g.within_tolerance else "")


def gap_sentence(g: dict, cost: Decimal) -> str:
    """One plain sentence for a day's gap of one kind, all models together (the report's verdict box)."""
    n = g["invocations"]
    k = gapkinds.kind(g["kind"])
    return fill(k.per_day, **_counts(n), cost=usd(cost),
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
        return f"{usd(Decimal(unexp['cost_usd']))} is within tolerance; nothing else is unexplained"
    return (f"{usd(Decimal(unexp['cost_usd']))} and {count(unexp['invocations'], 'invocation', True)} "
            f"{'is' if abs(unexp['invocations']) == 1 else 'are'} unexplained")


CLOUDWATCH_ABSENT = ("CloudWatch has no AWS/Bedrock metrics for this day (none recorded, or older than the 14 days "
                     "ListMetrics covers), so whether the logs are complete cannot be checked")


def verdict(billed: Decimal, logs_cost: Decimal, gaps: list[dict], logs_inv: int, cw_inv: int, bill_present: bool,
            unpriced: list[str], covered_logs_cost: Decimal | None = None, arrivals: dict | None = None,
            cloudwatch: bool = True) -> str:
    """The day's verdict: how much of the bill the logs explain, each named gap (with its sign), and what is left
    unexplained; when CloudWatch has no data, that completeness cannot be checked."""
    scope_gap = any(g["kind"] == "scope" for g in gaps)
    parts = [_opening(billed, logs_cost, bill_present, scope_gap, covered_logs_cost)]
    for g in gaps:
        if g["kind"] in ("unexplained", "failed_calls", "day_edge", "rounding"):
            continue
        txt = f"{usd(Decimal(g['cost_usd']))} is {gapkinds.TEXT[g['kind']]}"
        if gapkinds.kind(g["kind"]).hours:
            txt += _in_hours(g["hours"])
        parts.append(txt)
    if not cloudwatch:
        parts.append(CLOUDWATCH_ABSENT)
    elif cw_inv:
        short = cw_inv - logs_inv
        parts.append(f"the logs hold {count(logs_inv, 'invocation')} against CloudWatch's {cw_inv:,}"
                     + (f" ({short:+,} = {Decimal(short * 100) / Decimal(cw_inv):.1f}% short)" if short > 0 else ""))
    parts.append(_unexplained(gaps))
    if arrivals and arrivals.get("new_records_of_day"):
        parts.append(f"{count(arrivals['new_records_of_day'], 'record')} arrived after the previous collection "
                     f"({arrivals['previous_as_of']}){_in_hours(arrivals['hours'])}: late delivery, now included")
    s = "; ".join(parts) + "."
    if unpriced:
        s += f" Unpriced models ({', '.join(unpriced)}) make the logs' total a lower bound."
    return s


# --- the status ladder ---------------------------------------------------------------------------------------------
STATUSES = ("reconciled", "explained", "partial", "unreconciled", "no_data")     # best to worst, then no data
# already counted, within tolerance, never billed, or a term of the net bill (credit, refund, discount)
NOT_A_DIFFERENCE = {"day_edge", "rounding", "failed_calls", *gapkinds.ADJUSTMENT_KINDS, *gapkinds.COST_LINE_KINDS}


@dataclass
class Evidence:
    """What the status of one date and region is decided on (all exact)."""
    billed: Decimal
    cw_invocations: int
    gaps: list[dict]
    unpriced: list[str]
    cloudwatch: bool
    bill_present: bool
    bill_closed: bool
    quality: dict
    tol_tokens_pct: float
    tol_cost_pct: float
    tol_cost_abs: float
    has_bill_lines: bool = True


def _sized(g: dict) -> bool:
    """A named gap that is a real difference: the ledger names one only beyond its tolerance (a bill line within
    the cost tolerance is ``rounding``), so any size counts."""
    return bool(Decimal(g["cost_usd"])) or bool(g["invocations"]) or any(g.get(t) for t in TOKENS)


def status(e: Evidence) -> tuple[str, list[str]]:
    """The date-region's place on the ladder, and the sentences that put it there.

    reconciled: every difference within tolerance, everything priced, CloudWatch present, the bill closed;
    explained: differences beyond tolerance, each one named and sized; partial: something limits what can be known
    (an unpriced model, no CloudWatch, no bill or a bill not yet final, many quarantined records, records of another
    region); unreconciled: an unexplained amount beyond tolerance; no_data: no logs, no metrics and no bill."""
    q = e.quality
    if not q.get("records_read") and not e.cw_invocations and not e.has_bill_lines:
        return "no_data", ["No invocation logs, no CloudWatch metrics and no bill lines for this date and region."]
    unexp = next((g for g in e.gaps if g["kind"] == "unexplained"), None)
    if unexp is not None and not unexp.get("within_tolerance"):
        return "unreconciled", [f"{usd(Decimal(unexp['cost_usd']))} and {count(unexp['invocations'], 'invocation', True)} "
                                "are not explained by any known cause (beyond tolerance)."]
    partial = _partial_reasons(e)
    if partial:
        return "partial", partial
    named = [g for g in e.gaps if g["kind"] not in NOT_A_DIFFERENCE | {"unexplained"} and _sized(g)]
    if named:
        return "explained", ["Differences beyond tolerance, each one named and sized: "
                             + "; ".join(f"{gapkinds.TEXT[g['kind']]} {usd(Decimal(g['cost_usd']))}" for g in named) + "."]
    return "reconciled", ["Every difference is within tolerance, every model is priced, and CloudWatch and the bill "
                          "are present."]


def _partial_reasons(e: Evidence) -> list[str]:
    q, out = e.quality, []
    if (q.get("logs_location") or {}).get("finding"):      # the logs were looked for in the wrong place
        f = q["logs_location"]["finding"]
        out.append(f[0].upper() + f[1:] + ("" if f.endswith(".") else "."))
    if (q.get("logging_started") or {}).get("finding"):    # logging switched on partway through the day
        f = q["logging_started"]["finding"]
        out.append(f[0].upper() + f[1:] + ("" if f.endswith(".") else "."))
    if e.unpriced:
        out.append(f"{', '.join(e.unpriced)} {'has' if len(e.unpriced) == 1 else 'have'} no price in the book: the cost "
                   "from logs is a lower bound.")
    if not e.cloudwatch:
        out.append(CLOUDWATCH_ABSENT + ".")
    if not e.bill_present:
        out.append("No bill was collected: nothing says what AWS charged.")
    elif not e.bill_closed:
        out.append("The bill for this day is not final yet (Cost Explorer keeps adjusting a day for about 48 hours).")
    read, bad = q.get("records_read", 0), q.get("records_malformed", 0)
    if bad and bad * 100 > e.tol_tokens_pct * max(read, 1):
        out.append(f"{count(bad, 'malformed record')} ({Decimal(bad * 100) / Decimal(max(read, 1)):.1f}% of those read) "
                   "were quarantined: their usage is not counted.")
    if q.get("records_other_region"):
        out.append(f"{count(q['records_other_region'], 'record')} found under this region's prefix name another region.")
    return out

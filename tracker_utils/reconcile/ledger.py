"""Stage 3, reconcile: logs vs CloudWatch vs the bill, with every difference sized and named.

Two identities hold for every model, date and region, and every gap is one term of one of them:

- usage:  CloudWatch - logs = late_delivery + logging_outage + failed_calls + unexplained   (invocations and tokens)
- money:  billed - logs cost = (the cost of the usage gaps) + price_mismatch + unlogged_endpoint + unpriced_model
                               + scope + unexplained

``day_edge`` is sized but already counted (the kit reads the next day's first hour folders). Which source answers
which question: totals come from the bill; the per-application split comes from the logs, scaled to the bill per
model where the logs are short; CloudWatch says whether the logs are complete.
"""
from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal

import pandas as pd

from tracker_utils import gaps
from tracker_utils.config import RunConfig
from tracker_utils.io import read_json, read_parquet, write_json, write_parquet
from tracker_utils.money import allocate, dec, dsum, money, usd
from tracker_utils.schema import COUNTS, TOKENS

UNIT_TOKEN = {"input": "input_tokens", "output": "output_tokens", "cache_read": "cache_read_tokens",
              "cache_write_5m": "cache_write_tokens", "cache_write_1h": "cache_write_tokens"}
UNIT_COST = {"input": "cost_input", "output": "cost_output", "cache_read": "cost_cache_read",
             "cache_write_5m": "cost_cache_write", "cache_write_1h": "cost_cache_write"}
KIND_ORDER, KIND_TEXT, USAGE_KINDS = gaps.ORDER, gaps.TEXT, gaps.USAGE_KINDS


def bill_scope_of(scope: str) -> str:
    return "global" if scope == "global" else "regional"


def _zero() -> dict:
    return {**{k: 0 for k in COUNTS}, "cost": Decimal(0)}


class Gap:
    def __init__(self, kind: str):
        self.kind = kind
        self.sizes = _zero()
        self.hours: set[int] = set()
        self.details: list[str] = []
        self.within_tolerance = False

    def add(self, counts: dict | None = None, cost: Decimal = Decimal(0), hour: int | None = None, sign: int = 1):
        for k in COUNTS:
            self.sizes[k] += sign * int((counts or {}).get(k, 0))
        self.sizes["cost"] += sign * cost
        if hour is not None:
            self.hours.add(hour)

    def to_dict(self, explanation: str) -> dict:
        d = {"kind": self.kind, **{k: self.sizes[k] for k in COUNTS}, "cost_usd": money(self.sizes["cost"]),
             "hours": sorted(self.hours), "explanation": explanation,
             "usage_gap": gaps.kind(self.kind).usage_gap or (self.kind == "unexplained" and any(self.sizes[k] for k in COUNTS)),
             "in_logs": gaps.kind(self.kind).in_logs}
        if self.kind == "unexplained":
            d["within_tolerance"] = self.within_tolerance
        return d


def _hours_text(hours) -> str:
    return ", ".join(f"{h:02d}:00" for h in sorted(hours))


def _sum_frame(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Integer sums and exact decimal cost sums per key."""
    if df.empty:
        return pd.DataFrame(columns=keys + COUNTS + ["cost"])
    g = df.groupby(keys, dropna=False)
    out = g[[c for c in COUNTS if c in df]].sum()
    out["cost"] = g["cost_usd"].agg(dsum)
    return out.reset_index()


def _cost_by_unit(df: pd.DataFrame) -> dict:
    return {u: dsum(df[c]) for u, c in UNIT_COST.items() if u != "cache_write_1h"} if not df.empty else {}


def _billing_tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+|(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])", name.lower()) if t}


def _guess_model(billing_name: str, candidates: list[str]) -> str | None:
    want = _billing_tokens(billing_name)
    hits = [m for m in candidates if want and want <= _billing_tokens(m)]
    return hits[0] if len(hits) == 1 else None


def reconcile(price_logs: pd.DataFrame, price_late: pd.DataFrame, price_cw: pd.DataFrame, bill: pd.DataFrame,
              delivery: pd.DataFrame, bill_info: dict, unpriced: list[str], tol_tokens_pct: float = 0.5,
              tol_cost_pct: float = 1.0, tol_cost_abs: float = 0.0001, display: dict | None = None):
    """Return (models: list of per-model dicts, hourly frame, usage-type frame)."""
    display = display or {}
    models: dict[str, dict] = {}

    def model(base: str) -> dict:
        if base not in models:
            models[base] = {"model": base, "model_ids_seen": set(), "logs": _zero(), "cloudwatch": _zero(),
                            "billed": Decimal(0), "bill_lines": 0, "gaps": {}}
        return models[base]

    def gap(base: str, kind: str) -> Gap:
        g = model(base)["gaps"]
        if kind not in g:
            g[kind] = Gap(kind)
        return g[kind]

    # --- logs vs CloudWatch, per hour and model id -----------------------------------------------------------
    keys = ["hour", "model_id", "base_model"]
    logs_all = _sum_frame(price_logs, keys)
    logs_err = _sum_frame(price_logs[price_logs["status"] != "ok"] if not price_logs.empty else price_logs, keys)
    late = _sum_frame(price_late, keys)
    cw = _sum_frame(price_cw, keys)
    frames = {"logs": logs_all, "err": logs_err, "late": late, "cw": cw}
    idx = set()
    for f in frames.values():
        idx |= set(map(tuple, f[keys].itertuples(index=False)))
    lookup = {name: {tuple(r[:3]): r for r in f[keys + COUNTS + ["cost"]].itertuples(index=False, name=None)}
              for name, f in frames.items()}
    fail_by_hour = defaultdict(int)
    ok_by_hour = defaultdict(int)
    if not delivery.empty:
        for r in delivery.itertuples(index=False):
            if r.metric.endswith("DeliveryFailure"):
                fail_by_hour[pd.Timestamp(r.hour).hour] += int(r.value)
            elif r.metric.endswith("DeliverySuccess"):
                ok_by_hour[pd.Timestamp(r.hour).hour] += int(r.value)

    def vec(name, k):
        r = lookup[name].get(k)
        if r is None:
            return {**{c: 0 for c in COUNTS}, "cost": Decimal(0)}
        return {**{c: int(v) for c, v in zip(COUNTS, r[3:3 + len(COUNTS)])}, "cost": r[-1]}

    hourly_rows = []
    for k in sorted(idx, key=lambda t: (pd.Timestamp(t[0]), t[1])):
        hour_ts, model_id, base = k
        h = pd.Timestamp(hour_ts).hour
        m = model(base)
        m["model_ids_seen"].add(model_id)
        L, E, La, C = vec("logs", k), vec("err", k), vec("late", k), vec("cw", k)
        for c in COUNTS:
            m["logs"][c] += L[c]
            m["cloudwatch"][c] += C[c]
        m["logs"]["cost"] += L["cost"]
        m["cloudwatch"]["cost"] += C["cost"]
        if E["invocations"]:
            gap(base, "failed_calls").add(E, E["cost"], h, sign=-1)
        if La["invocations"]:
            gap(base, "late_delivery").add(La, La["cost"], h)
        R = {c: C[c] - (L[c] - E[c]) - La[c] for c in COUNTS}
        R_cost = C["cost"] - (L["cost"] - E["cost"]) - La["cost"]
        cause = ""
        if any(R.values()) or R_cost:
            short = R["invocations"] > 0 or any(R[t] > 0 for t in TOKENS)
            if short and fail_by_hour.get(h, 0) > 0:
                cause = "logging_outage"
            else:
                cause = "unexplained"
                if short and delivery.empty:
                    gap(base, cause).details.append(
                        "no log-delivery metrics were recorded, so late delivery and a logging outage cannot be told "
                        "apart: re-collect later, and check ModelInvocationLogsS3DeliveryFailure")
            gap(base, cause).add(R, R_cost, h)
        elif E["invocations"]:
            cause = "failed_calls"
        if La["invocations"] and not cause:
            cause = "late_delivery"
        hourly_rows.append({"hour": hour_ts, "model_id": model_id, "base_model": base,
                            **{f"logs_{c}": L[c] for c in COUNTS}, "logs_errors": E["invocations"],
                            **{f"late_{c}": La[c] for c in COUNTS},
                            **{f"cloudwatch_{c}": C[c] for c in COUNTS},
                            "delivery_failures": fail_by_hour.get(h, 0), "delivery_successes": ok_by_hour.get(h, 0),
                            "residual_invocations": R["invocations"], "cause": cause or "match",
                            "logs_cost_usd": money(L["cost"]), "cloudwatch_cost_usd": money(C["cost"])})
    # day edge: already in the logs, sized for the record
    if not price_logs.empty and "day_edge" in price_logs:
        edge = price_logs[price_logs["day_edge"]]
        for r in _sum_frame(edge, ["hour", "base_model"]).itertuples(index=False):
            gap(r.base_model, "day_edge").add({c: getattr(r, c) for c in COUNTS}, r.cost, pd.Timestamp(r.hour).hour)

    # --- the bill vs CloudWatch priced, per model, unit, scope and tier -----------------------------------------
    tol_pct, tol_abs = dec(tol_cost_pct), dec(tol_cost_abs)
    cw_by = {}
    if not price_cw.empty:
        for (base, bscope), f in price_cw.assign(bscope=price_cw["scope"].map(bill_scope_of)).groupby(["base_model", "bscope"]):
            cw_by[(base, bscope)] = {"cost": _cost_by_unit(f), "tokens": {t: int(f[t].sum()) for t in TOKENS}}
    logs_by = {}
    if not price_logs.empty:
        for (base, bscope), f in price_logs.assign(bscope=price_logs["scope"].map(bill_scope_of)).groupby(["base_model", "bscope"]):
            logs_by[(base, bscope)] = {"cost": _cost_by_unit(f), "tokens": {t: int(f[t].sum()) for t in TOKENS}}
    ut_rows = []
    billed_keys = set()
    unpriced_candidates = sorted(set(unpriced))
    for r in bill.itertuples(index=False):
        cost = dec(r.cost_usd)
        tokens = int(r.tokens)
        base = r.base_model
        tcol = UNIT_TOKEN.get(r.unit)
        note, kind = "", ""
        cw_cost = logs_cost = None
        cw_tokens = logs_tokens = None
        if not r.matched:
            guess = _guess_model(r.billing_name or "", unpriced_candidates) if r.recognized else None
            if guess:
                base, kind = guess, "unpriced_model"
                note = f"usage type {r.usage_type} is not in the price book; its name matches {guess}"
            else:
                base, kind = "(unmatched bill lines)", "unexplained"
                note = f"usage type {r.usage_type} ({r.service}) matches no model in the book" + (
                    f": {r.reason}" if not r.recognized and r.reason else "")
        elif r.tier not in ("standard",) or r.endpoint != "runtime":
            kind = "unlogged_endpoint"
            note = f"{r.usage_type}: {r.tier} tier via {r.endpoint}; such usage has no invocation logs or runtime metrics"
        elif tcol is None:
            kind = "unexplained"
            note = f"{r.usage_type}: not a token usage type"
        else:
            billed_keys.add((base, r.scope, r.unit))
            c = cw_by.get((base, r.scope))
            lg = logs_by.get((base, r.scope))
            cw_cost = (c or {}).get("cost", {}).get(r.unit, Decimal(0))
            cw_tokens = (c or {}).get("tokens", {}).get(tcol, 0)
            logs_cost = (lg or {}).get("cost", {}).get(r.unit, Decimal(0))
            logs_tokens = (lg or {}).get("tokens", {}).get(tcol, 0)
            if base in unpriced_candidates and cw_cost == 0:
                kind = "unpriced_model"
                note = f"{r.usage_type} billed for a model/region the book has no price for"
            else:
                diff = cost - cw_cost
                limit = max(tol_abs, abs(cw_cost) * tol_pct / 100)
                if abs(diff) > limit:
                    kind = "price_mismatch"
                    implied = (cost * 1000 / Decimal(cw_tokens)) if cw_tokens else None
                    note = (f"{r.usage_type}: billed {usd(cost)} for {cw_tokens:,} CloudWatch tokens, the book says "
                            f"{usd(cw_cost)}" + (f" (the bill implies ${implied.quantize(Decimal('0.0000001'))}/1K)" if implied else ""))
                elif diff:
                    kind = "rounding"
                    note = f"{r.usage_type}: {usd(diff)} within the cost tolerance"
        m = model(base)
        m["billed"] += cost
        m["bill_lines"] += 1
        if kind:
            g = gap(base, kind)
            if kind == "price_mismatch":
                g.add({tcol: cw_tokens}, cost - cw_cost)
            elif kind == "rounding":
                g.add(None, cost - cw_cost)
            else:
                g.add({tcol: tokens} if tcol else None, cost)
            if note:
                g.details.append(note)
        ut_rows.append({"usage_type": r.usage_type, "service": r.service, "base_model": base, "unit": r.unit,
                        "tier": r.tier, "scope": r.scope, "endpoint": r.endpoint, "billed_tokens": tokens,
                        "billed_cost_usd": money(cost),
                        "cloudwatch_tokens": cw_tokens, "cloudwatch_cost_usd": money(cw_cost) if cw_cost is not None else None,
                        "logs_tokens": logs_tokens, "logs_cost_usd": money(logs_cost) if logs_cost is not None else None,
                        "bill_vs_cloudwatch": "agrees" if kind in ("", "rounding") else kind,
                        "bill_vs_logs": ("agrees" if logs_cost is not None and abs(cost - logs_cost) <= max(tol_abs, abs(logs_cost) * tol_pct / 100)
                                         else "differs") if logs_cost is not None else "n/a",
                        "note": note})
    # CloudWatch usage with no bill line at all
    scope_limited = bill_info.get("scope") == "first_party"
    bill_missing = bill_info.get("missing") or bill_info.get("source") == "none"
    for (base, bscope), c in ({} if bill_missing else cw_by).items():
        for unit, ccost in c["cost"].items():
            if not ccost or (base, bscope, unit) in billed_keys:
                continue
            kind = "scope" if scope_limited else "unexplained"
            g = gap(base, kind)
            g.add({UNIT_TOKEN[unit]: -c["tokens"][UNIT_TOKEN[unit]]} if kind == "scope" else None, -ccost)
            if kind == "scope":
                g.details.append(f"{display.get(base, base)} {unit}: {usd(ccost)} of CloudWatch usage has no bill line; the bill "
                                 "query was limited to SERVICE = 'Amazon Bedrock' and missed Marketplace "
                                 "'(Amazon Bedrock Edition)' lines")
            else:
                g.details.append(f"{display.get(base, base)} {unit}: {usd(ccost)} of CloudWatch usage has no bill line"
                                 + (" (no bill was collected)" if bill_missing else " (Cost Explorer lags about 24 h; re-collect)"))
    return models, pd.DataFrame(hourly_rows), pd.DataFrame(ut_rows)


def explain(kind: str, g: Gap, display_name: str) -> str:
    s = g.sizes
    hrs = f" in {len(g.hours)} hour{'s' if len(g.hours) != 1 else ''} ({_hours_text(g.hours)} UTC)" if g.hours else ""
    detail = ("; " + "; ".join(dict.fromkeys(g.details))) if g.details else ""
    if kind == "late_delivery":
        return (f"{s['invocations']:,} invocations of {display_name}{hrs} were delivered to the log bucket after the "
                f"collection time; re-collect to include them ({usd(s['cost'])})")
    if kind == "logging_outage":
        return (f"{s['invocations']:,} invocations of {display_name}{hrs} are counted by CloudWatch but missing from the logs, "
                f"and the S3 log-delivery failure metric is non-zero then ({usd(s['cost'])})")
    if kind == "failed_calls":
        return (f"{-s['invocations']:,} failed or throttled calls of {display_name}{hrs} are in the logs with an errorCode; "
                "CloudWatch does not count them as invocations and they are not billed")
    if kind == "day_edge":
        return (f"{s['invocations']:,} invocations of {display_name} from the last minutes of the day were filed under the "
                f"next day's first hour folder; they are counted here ({usd(s['cost'])})")
    if kind == "unpriced_model":
        return f"{display_name} has no price in the book: its logs and CloudWatch usage are priced at $0; billed {usd(s['cost'])}{detail}"
    if kind == "price_mismatch":
        return f"the bill for {display_name} differs from CloudWatch tokens at the book's price by {usd(s['cost'])}{detail}"
    if kind == "unlogged_endpoint":
        return f"{usd(s['cost'])} billed for {display_name} with no invocation logs or runtime metrics{detail}"
    if kind == "scope":
        return f"{usd(-s['cost'])} of {display_name} usage is missing from the bill{detail}"
    if kind == "rounding":
        return f"the bill for {display_name} differs from CloudWatch at the book's price by {usd(s['cost'])}, within the cost tolerance{detail}"
    usage = f"{s['invocations']:+,} invocations, {s['input_tokens']:+,} input and {s['output_tokens']:+,} output tokens{hrs}" \
        if any(s[k] for k in COUNTS) else ""
    return (f"unexplained for {display_name}: " + ", ".join(x for x in [usage, usd(s['cost']) if s['cost'] else ""] if x)
            + (" (within tolerance)" if g.within_tolerance else "") + detail)


def summarise(models: dict, display: dict, tol_tokens_pct: float = 0.5, tol_cost_pct: float = 1.0,
              tol_cost_abs: float = 0.0001) -> list[dict]:
    out = []
    for base in sorted(models):
        m = models[base]
        gaps = []
        for kind in KIND_ORDER:
            g = m["gaps"].get(kind)
            if g is None:
                continue
            if kind == "unexplained":
                limit = max(dec(tol_cost_abs), abs(m["billed"]) * dec(tol_cost_pct) / 100)
                g.within_tolerance = abs(g.sizes["cost"]) <= limit and all(
                    abs(g.sizes[k]) * 100 <= tol_tokens_pct * max(m["cloudwatch"][k], 1) for k in COUNTS)
            gaps.append(g.to_dict(explain(kind, g, display.get(base, base))))
        out.append({"model": base, "name": display.get(base, base), "model_ids_seen": sorted(m["model_ids_seen"]),
                    "logs": {**{k: m["logs"][k] for k in COUNTS}, "cost_usd": money(m["logs"]["cost"])},
                    "cloudwatch": {**{k: m["cloudwatch"][k] for k in COUNTS}, "cost_usd": money(m["cloudwatch"]["cost"])},
                    "billed": {"cost_usd": money(m["billed"]), "lines": m["bill_lines"]},
                    "gaps": gaps})
    return out


def gap_sentence(g: dict, cost: Decimal) -> str:
    """One plain sentence for a day's gap of one kind, all models together (the report's verdict box)."""
    n, hrs = g["invocations"], g.get("hours") or []
    when = (f" in {len(hrs)} hour{'s' if len(hrs) != 1 else ''} ({_hours_text(hrs)} UTC)"
            if hrs and g["kind"] in ("late_delivery", "logging_outage") else "")
    return {
        "late_delivery": f"{n:,} calls{when} reached the log bucket after the collection time: {usd(cost)}; "
                         "collect again to include them",
        "logging_outage": f"{n:,} calls{when} are counted by CloudWatch but missing from the logs (log delivery "
                          f"failed): {usd(cost)}",
        "failed_calls": f"{abs(n):,} calls failed or were throttled: they are in the logs, not counted by CloudWatch, "
                        "not billed",
        "day_edge": f"{n:,} calls from the last minutes of the day were filed in the next day's folder and are "
                    f"counted: {usd(cost)}",
        "unpriced_model": f"{usd(cost)} billed for a model the price book does not know (priced at $0 in the logs)",
        "price_mismatch": f"{usd(cost)} difference between the bill and the price book's price",
        "unlogged_endpoint": f"{usd(cost)} billed for usage that is never logged (batch jobs, bedrock-mantle)",
        "scope": f"{usd(abs(cost))} of usage is missing from the bill query (Marketplace lines)",
        "rounding": f"{usd(cost)} between the bill and CloudWatch at the book's prices, within the cost tolerance",
    }.get(g["kind"], f"{usd(cost)} and {n:+,} calls are not explained by any known cause"
                     + (" (within tolerance)" if g.get("within_tolerance") else ""))


def roll_up_gaps(models: list[dict]) -> list[dict]:
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
    for kind in KIND_ORDER:
        if kind in acc:
            a = acc[kind]
            cost = a.pop("cost")
            a["cost_usd"] = money(cost)
            a["hours"] = sorted(a["hours"])
            a["explanation"] = gap_sentence(a, cost)
            out.append(a)
    return out


def verdict(billed: Decimal, logs_cost: Decimal, gaps: list[dict], logs_inv: int, cw_inv: int, bill_present: bool,
            unpriced: list[str], covered_logs_cost: Decimal | None = None, arrivals: dict | None = None) -> str:
    parts = []
    scope_gap = any(g["kind"] == "scope" for g in gaps)
    if bill_present and billed:
        base = covered_logs_cost if scope_gap and covered_logs_cost is not None else logs_cost
        pct = (base / billed * 100)
        parts.append(f"The logs explain {pct.quantize(Decimal('0.1'))}% of the {usd(billed)} billed"
                     + (" for the models the bill covers" if scope_gap else ""))
    elif bill_present:
        parts.append(f"Nothing was billed; the logs priced at the book come to {usd(logs_cost)}")
    else:
        parts.append(f"No bill was collected; the logs priced at the book come to {usd(logs_cost)}")
    for g in gaps:
        if g["kind"] in ("unexplained", "failed_calls", "day_edge", "rounding"):
            continue
        c = Decimal(g["cost_usd"])
        txt = f"{usd(abs(c))} is {KIND_TEXT[g['kind']]}"
        if g["kind"] in ("late_delivery", "logging_outage") and g["hours"]:
            txt += f" in {len(g['hours'])} hour{'s' if len(g['hours']) != 1 else ''} ({_hours_text(g['hours'])} UTC)"
        parts.append(txt)
    if cw_inv:
        short = cw_inv - logs_inv
        parts.append(f"the logs hold {logs_inv:,} invocations against CloudWatch's {cw_inv:,}"
                     + (f" ({short:+,} = {Decimal(short * 100) / Decimal(cw_inv):.1f}% short)" if short > 0 else ""))
    unexp = next((g for g in gaps if g["kind"] == "unexplained"), None)
    if unexp is None:
        parts.append("nothing is unexplained")
    elif unexp.get("within_tolerance"):
        parts.append(f"{usd(abs(Decimal(unexp['cost_usd'])))} is within tolerance; nothing else is unexplained")
    else:
        parts.append(f"{usd(abs(Decimal(unexp['cost_usd'])))} and {unexp['invocations']:+,} invocations are unexplained")
    if arrivals and arrivals.get("new_records_of_day"):
        parts.append(f"{arrivals['new_records_of_day']:,} records arrived after the previous collection "
                     f"({arrivals['previous_as_of']}) in {len(arrivals['hours'])} hour(s) "
                     f"({_hours_text(arrivals['hours'])} UTC): late delivery, now included")
    s = "; ".join(parts) + "."
    if unpriced:
        s += f" Unpriced models ({', '.join(unpriced)}) make the logs' total a lower bound."
    return s


UNLOGGED_APP = "(unlogged usage: batch, bedrock-mantle)"
NO_LOGS_APP = "(billed, no invocation logs)"


def apps_table(price_logs: pd.DataFrame, models: dict) -> list[dict]:
    """Per application from the logs, plus its share of the bill.

    ``models`` is the exact per-model ledger (from :func:`reconcile`). Each model's billed cost, less what was billed
    for usage that is never logged (batch jobs, bedrock-mantle), is split over the applications in proportion to
    their logs cost for that model (by tokens where the model is unpriced). Never-logged usage and bills for models
    with no logs at all are rows of their own. Shares are exact until the output, then rounded with the largest
    remainder, so that they add up exactly to the rounded bill.
    """
    unlogged_total, no_logs_total = Decimal(0), Decimal(0)
    split: dict[str, tuple[str, Decimal, Decimal]] = {}     # model -> (how, attributable, logs basis)
    for base, m in models.items():
        g = m["gaps"].get("unlogged_endpoint")
        unlogged = g.sizes["cost"] if g is not None else Decimal(0)
        attributable = m["billed"] - unlogged
        unlogged_total += unlogged
        lc = m["logs"]["cost"]
        tokens = sum(m["logs"][t] for t in TOKENS)
        if lc:
            split[base] = ("cost", attributable, lc)
        elif tokens:
            split[base] = ("tokens", attributable, Decimal(tokens))
        else:
            no_logs_total += attributable
    out = []
    if not price_logs.empty:
        for (app, team, cc), f in price_logs.groupby(["app", "team", "cost_centre"]):
            billed = Decimal(0)
            for base, fm in f.groupby("base_model"):
                how, attributable, basis = split.get(base, ("", Decimal(0), Decimal(0)))
                if how == "cost":
                    billed += attributable * dsum(fm["cost_usd"]) / basis
                elif how == "tokens":
                    billed += attributable * sum(int(fm[t].sum()) for t in TOKENS) / basis
            out.append({"app": app, "team": team, "cost_centre": cc, "invocations": int(f["invocations"].sum()),
                        **{t: int(f[t].sum()) for t in TOKENS}, "cost_usd": money(dsum(f["cost_usd"])),
                        "billed_share_usd": billed})
    for name, amount in ((UNLOGGED_APP, unlogged_total), (NO_LOGS_APP, no_logs_total)):
        if amount:
            out.append({"app": name, "team": "", "cost_centre": "", "invocations": 0, **{t: 0 for t in TOKENS},
                        "cost_usd": money(Decimal(0)), "billed_share_usd": amount})
    total = sum((m["billed"] for m in models.values()), Decimal(0))
    if out:
        shares = allocate({i: a["billed_share_usd"] for i, a in enumerate(out)}, total=total)
        for i, a in enumerate(out):
            a["billed_share_usd"] = str(shares[i])
    return sorted(out, key=lambda a: a["app"])


def bill_lines(bill: pd.DataFrame) -> pd.DataFrame:
    """One line per usage type: a CUR export splits lines by IAM principal and operation; the comparison does not."""
    if bill.empty:
        return bill
    keys = [c for c in bill.columns if c not in ("quantity", "tokens", "cost_usd", "principal", "operation")]
    g = bill.groupby(keys, dropna=False, sort=True)
    out = g["tokens"].sum().reset_index()
    out["quantity"] = g["quantity"].agg(lambda v: str(dsum(v))).values
    out["cost_usd"] = g["cost_usd"].agg(lambda v: str(dsum(v))).values
    return out


def bill_principals(bill: pd.DataFrame) -> list[dict]:
    """Cost per IAM principal straight from the bill, when the CUR 2.0 export has line_item_iam_principal."""
    if bill.empty or "principal" not in bill or not (bill["principal"].fillna("") != "").any():
        return []
    out = [{"principal": p or "(none)", "cost_usd": money(dsum(f["cost_usd"]))}
           for p, f in bill.fillna({"principal": ""}).groupby("principal")]
    return sorted(out, key=lambda r: -Decimal(r["cost_usd"]))


def run(cfg: RunConfig) -> dict:
    p = cfg.params
    collect = read_json(cfg.data("collect.json"))
    price = read_json(cfg.data("price.json"))
    price_logs = read_parquet(cfg.data("price_logs.parquet"))
    price_late = read_parquet(cfg.data("price_logs_late.parquet"))
    price_cw = read_parquet(cfg.data("price_cloudwatch.parquet"))
    bill_raw = read_parquet(cfg.data("price_bill.parquet"))
    bill = bill_lines(bill_raw)
    cw_raw = read_parquet(cfg.data("collect_cloudwatch.parquet"))
    delivery = cw_raw[cw_raw["model_id"] == ""]
    display = price.get("display_names", {})
    models_raw, hourly, usage_types = reconcile(
        price_logs, price_late, price_cw, bill, delivery, collect["bill"], price["unpriced_models"],
        p.tolerance_tokens_pct, p.tolerance_cost_pct, p.tolerance_cost_abs, display)
    models = summarise(models_raw, display, p.tolerance_tokens_pct, p.tolerance_cost_pct, p.tolerance_cost_abs)
    gaps = roll_up_gaps(models)
    # totals are exact sums of the exact per-model amounts, rounded once when written
    billed = sum((m["billed"] for m in models_raw.values()), Decimal(0))
    logs_cost = sum((m["logs"]["cost"] for m in models_raw.values()), Decimal(0))
    cw_cost = sum((m["cloudwatch"]["cost"] for m in models_raw.values()), Decimal(0))
    logs_inv = sum(m["logs"]["invocations"] for m in models)
    cw_inv = sum(m["cloudwatch"]["invocations"] for m in models)
    bill_present = not collect["bill"].get("missing") and collect["bill"].get("source") != "none"
    dq = dict(collect["data_quality"])
    dq["unpriced_models"] = price["unpriced_models"]
    dq["provisioned_models"] = price.get("provisioned_models", [])
    dq["unmatched_bill_usage_types"] = price.get("unmatched_bill_usage_types", [])
    dq["bill_unplaced_lines"] = collect["bill"].get("unplaced_lines", [])
    summary = {
        "date": cfg.date, "region": cfg.region,
        "verdict": verdict(billed, logs_cost, gaps, logs_inv, cw_inv, bill_present, price["unpriced_models"],
                           sum((m["logs"]["cost"] for m in models_raw.values() if m["bill_lines"]), Decimal(0)),
                           collect["data_quality"].get("arrived_since_previous_collection")),
        "models": models,
        "apps": apps_table(price_logs, models_raw),
        "totals": {"billed_cost_usd": money(billed), "logs_cost_usd": money(logs_cost),
                   "cloudwatch_cost_usd": money(cw_cost), "logs_invocations": logs_inv, "cloudwatch_invocations": cw_inv,
                   "explained_pct": str((logs_cost / billed * 100).quantize(Decimal("0.1"))) if billed else None,
                   "lower_bound": bool(price["unpriced_models"]),
                   "bill_scope": collect["bill"].get("scope", "all")},
        "gaps": gaps,
        "bill_principals": bill_principals(bill_raw),
        "data_quality": dq,
        "sources": {"logs": collect["source"], "engine": collect["engine"], "as_of": collect["as_of"],
                    "bill": collect["bill"].get("source"), "cloudwatch": collect["cloudwatch"]["recorded"]},
        "method": ("Totals come from the bill. Applications are split by the invocation logs; each application's "
                   "billed share is its logs cost scaled, per model, by that model's billed / logs cost (by tokens "
                   "where the model is unpriced). CloudWatch tells whether the logs are complete."),
    }
    write_parquet(hourly, cfg.data("reconcile_hourly.parquet"))
    write_parquet(usage_types, cfg.data("reconcile_usage_types.parquet"))
    write_json(cfg.data("summary.json"), summary)
    return summary

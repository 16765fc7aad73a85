"""The ledger: logs vs CloudWatch vs the bill, per model, with every difference sized and named as a gap.

Two identities hold for every model, date and region, and every gap is one term of one of them:

- usage:  CloudWatch - logs = late_delivery + logging_outage + failed_calls + unexplained   (invocations and tokens)
- money:  billed - logs cost = (the cost of the usage gaps) + price_mismatch + unlogged_endpoint + unpriced_model
                               + scope + credit + refund + discount + batch + provisioned + unexplained

``batch`` is what the jobs' manifests explain of the bill's batch lines (at the book's batch price); ``provisioned``
is the bill's model-unit hours, a cost line of its own.

``billed`` is net: a credit, refund or discount bill line (its ``record_type``) is sized as a gap of that kind and is
never compared with the book, so a discounted account is not a ``price_mismatch``; ``gross`` is billed without them.

``day_edge`` is sized but already counted (the kit reads the next day's first hour folders). Which source answers
which question: totals come from the bill; the per-application split comes from the logs, scaled to the bill per
model where the logs are short; CloudWatch says whether the logs are complete.

In: the price stage's frames. Out: the exact per-model ledger (Decimal, never rounded here), the hourly comparison
and the usage-type comparison. The words are in :mod:`verdict`, the application split in :mod:`shares`.
"""
from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal

import pandas as pd

from tracker_utils import gaps
from tracker_utils.money import dec, dsum, money, usd
from tracker_utils.text import count
from tracker_utils.schema import COUNTS, TOKENS

UNIT_TOKEN = {"input": "input_tokens", "output": "output_tokens", "cache_read": "cache_read_tokens",
              "cache_write_5m": "cache_write_tokens", "cache_write_1h": "cache_write_tokens"}
UNIT_COST = {"input": "cost_input", "output": "cost_output", "cache_read": "cost_cache_read",
             "cache_write_5m": "cost_cache_write_5m", "cache_write_1h": "cost_cache_write_1h"}
# the tokens a bill line of each unit is compared with (cache writes split by TTL; see pricer.price_frame)
UNIT_COMPARE = {**UNIT_TOKEN, "cache_write_5m": "cache_write_5m_tokens", "cache_write_1h": "cache_write_1h_tokens"}


# tiers whose calls are logged and counted by CloudWatch: a bill line of one is compared with the usage of that tier
LOGGED_TIERS = ("standard", "flex", "priority", "latency_optimized")
ADJUSTMENTS_MODEL = "(account credits, refunds and discounts)"   # adjustment lines that name no model


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


def _sum_frame(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Integer sums and exact decimal cost sums per key."""
    if df.empty:
        return pd.DataFrame(columns=keys + COUNTS + ["cost"])
    g = df.groupby(keys, dropna=False)
    out = g[[c for c in COUNTS if c in df]].sum()
    out["cost"] = g["cost_usd"].agg(dsum)
    return out.reset_index()


def _cost_by_unit(df: pd.DataFrame) -> dict:
    """Cost per billing unit; a frame priced before the TTL split has all its cache writes at 5m."""
    if df.empty:
        return {}
    cols = {**UNIT_COST, "cache_write_5m": "cost_cache_write"} if "cost_cache_write_5m" not in df else UNIT_COST
    return {u: dsum(df[c]) for u, c in cols.items() if c in df}


def _tokens_by_unit(df: pd.DataFrame) -> dict:
    """Token sums, and the cache writes split by TTL (``cache_write_5m_tokens`` = total - 1h)."""
    out = {t: int(df[t].sum()) for t in TOKENS}
    h1 = int(df["cache_write_1h_tokens"].sum()) if "cache_write_1h_tokens" in df else 0
    return {**out, "cache_write_1h_tokens": h1, "cache_write_5m_tokens": out["cache_write_tokens"] - h1}


def _billing_tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+|(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])", name.lower()) if t}


def _guess_model(billing_name: str, candidates: list[str]) -> str | None:
    want = _billing_tokens(billing_name)
    hits = [m for m in candidates if want and want <= _billing_tokens(m)]
    return hits[0] if len(hits) == 1 else None


class Ledger:
    """The per-model ledger of one date and region, filled by :meth:`usage` and :meth:`bill`."""

    def __init__(self, display: dict | None = None):
        self.display = display or {}
        self.models: dict[str, dict] = {}
        self.cloudwatch = True            # False when CloudWatch has no usage at all for the day
        self.recorded_hours: set[int] = set()
        self.started: str = ""             # "HH:MM" when logging was switched on this day (collect's finding)

    def model(self, base: str) -> dict:
        if base not in self.models:
            self.models[base] = {"model": base, "model_ids_seen": set(), "logs": _zero(), "cloudwatch": _zero(),
                                 "billed": Decimal(0), "bill_lines": 0, "gaps": {}}
        return self.models[base]

    def gap(self, base: str, kind: str) -> Gap:
        g = self.model(base)["gaps"]
        if kind not in g:
            g[kind] = Gap(gaps.kind(kind).name)
        return g[kind]

    # --- logs vs CloudWatch, per hour and model id -------------------------------------------------------------
    def usage(self, price_logs: pd.DataFrame, price_late: pd.DataFrame, price_cw: pd.DataFrame,
              delivery: pd.DataFrame) -> pd.DataFrame:
        """Sizes the usage gaps hour by hour; returns the hourly comparison."""
        keys = ["hour", "model_id", "base_model"]
        errors = price_logs[price_logs["status"] != "ok"] if not price_logs.empty else price_logs
        frames = {"logs": _sum_frame(price_logs, keys), "err": _sum_frame(errors, keys),
                  "late": _sum_frame(price_late, keys), "cw": _sum_frame(price_cw, keys)}
        idx = set()
        for f in frames.values():
            idx |= set(map(tuple, f[keys].itertuples(index=False)))
        lookup = {name: {tuple(r[:3]): r for r in f[keys + COUNTS + ["cost"]].itertuples(index=False, name=None)}
                  for name, f in frames.items()}
        fail, ok = _delivery_by_hour(delivery)
        self.cloudwatch = not price_cw.empty
        # hours that hold at least one log record (of any model, delivered on time or late)
        self.recorded_hours = {pd.Timestamp(r[0]).hour for name in ("logs", "late")
                               for r, n in zip(frames[name][keys].itertuples(index=False, name=None),
                                               frames[name]["invocations"]) if int(n)}
        rows = []
        for k in sorted(idx, key=lambda t: (pd.Timestamp(t[0]), t[1])):
            L, E, La, C = (_vec(lookup[name].get(k)) for name in ("logs", "err", "late", "cw"))
            cause, residual = self._hour(k, L, E, La, C, fail, no_delivery_metrics=delivery.empty)
            h = pd.Timestamp(k[0]).hour
            rows.append({"hour": k[0], "model_id": k[1], "base_model": k[2],
                         **{f"logs_{c}": L[c] for c in COUNTS}, "logs_errors": E["invocations"],
                         **{f"late_{c}": La[c] for c in COUNTS},
                         **{f"cloudwatch_{c}": C[c] for c in COUNTS},
                         "delivery_failures": fail.get(h, 0), "delivery_successes": ok.get(h, 0),
                         "residual_invocations": residual, "cause": cause or "match",
                         "logs_cost_usd": money(L["cost"]), "cloudwatch_cost_usd": money(C["cost"])})
        self._day_edge(price_logs)
        return pd.DataFrame(rows)

    def _hour(self, k: tuple, L: dict, E: dict, La: dict, C: dict, fail: dict, no_delivery_metrics: bool):
        """One hour and model id: adds to the model's totals and gaps; returns (cause, residual invocations)."""
        hour_ts, model_id, base = k
        h = pd.Timestamp(hour_ts).hour
        m = self.model(base)
        m["model_ids_seen"].add(model_id)
        for c in [*COUNTS, "cost"]:
            m["logs"][c] += L[c]
            m["cloudwatch"][c] += C[c]
        if E["invocations"]:
            self.gap(base, "failed_calls").add(E, E["cost"], h, sign=-1)
        if La["invocations"]:
            self.gap(base, "late_delivery").add(La, La["cost"], h)
        R = {c: C[c] - (L[c] - E[c]) - La[c] for c in [*COUNTS, "cost"]}
        cause = ""
        if not self.cloudwatch:           # nothing to compare with: no usage is called unexplained for it
            return ("late_delivery" if La["invocations"] else "no_cloudwatch"), 0
        if any(R.values()):
            short = R["invocations"] > 0 or any(R[t] > 0 for t in TOKENS)
            if short and fail.get(h, 0) > 0:
                cause = "logging_outage"
            elif short and self.started and h <= int(self.started[:2]):
                cause = "missing_delivery"            # before (or in the hour) logging was switched on
                self.gap(base, cause).details.append(
                    f"CloudWatch counts {count(C['invocations'], 'invocation')} at {h:02d}:00 UTC; logging started "
                    f"at {self.started} UTC, so calls before it were never logged")
            elif short and h not in self.recorded_hours:
                cause = "missing_delivery"
                self.gap(base, cause).details.append(
                    f"CloudWatch counts {count(C['invocations'], 'invocation')} at {h:02d}:00 UTC and no log record of "
                    "that hour exists, in its folder or later ones: re-collect after 24 hours to tell a late batch "
                    "from a lost one"
                    + ("; turn on the log-delivery metrics (ModelInvocationLogsS3DeliveryFailure) to see failures"
                       if no_delivery_metrics else ""))
            else:
                cause = "unexplained"
                if short and no_delivery_metrics:
                    self.gap(base, cause).details.append(
                        "no log-delivery metrics were recorded, so late delivery and a logging outage cannot be told "
                        "apart: re-collect later, and check ModelInvocationLogsS3DeliveryFailure")
            self.gap(base, cause).add(R, R["cost"], h)
        elif E["invocations"]:
            cause = "failed_calls"
        if La["invocations"] and not cause:
            cause = "late_delivery"
        return cause, R["invocations"]

    def _day_edge(self, price_logs: pd.DataFrame) -> None:
        """Records of the day filed under the next day's first hour: already in the logs, sized for the record."""
        if not price_logs.empty and "day_edge" in price_logs:
            edge = price_logs[price_logs["day_edge"]]
            for r in _sum_frame(edge, ["hour", "base_model"]).itertuples(index=False):
                self.gap(r.base_model, "day_edge").add({c: getattr(r, c) for c in COUNTS}, r.cost,
                                                       pd.Timestamp(r.hour).hour)

    # --- the bill vs CloudWatch priced, per model, unit, scope and tier ------------------------------------------
    def bill(self, bill: pd.DataFrame, price_logs: pd.DataFrame, price_cw: pd.DataFrame, bill_info: dict,
             unpriced: list[str], tol: tuple[Decimal, Decimal], batch: pd.DataFrame | None = None) -> pd.DataFrame:
        """Sizes the money gaps line by line; returns the usage-type comparison."""
        cw_by, logs_by = _by_scope(price_cw), _by_scope(price_logs)
        batch_by = _batch_by_scope(batch)
        rows, billed_keys = [], set()
        candidates = sorted(set(unpriced))
        for r in bill.itertuples(index=False):
            line = _BillLine(r, cw_by, logs_by, candidates, tol, batch_by)
            if line.batch_key:
                billed_keys.add(line.batch_key)
            if line.compared:
                billed_keys.add((line.base, r.scope, r.tier, r.unit))
            m = self.model(line.base)
            m["billed"] += line.cost
            m["bill_lines"] += 1
            if line.kind:
                self._bill_gap(line)
            rows.append(line.row())
        self._unbilled(cw_by, billed_keys, bill_info)
        self._unbilled_batch(batch_by, billed_keys, bill_info)
        return pd.DataFrame(rows)

    def _unbilled_batch(self, batch_by: dict, billed_keys: set, bill_info: dict) -> None:
        """Batch jobs whose manifests hold tokens no bill line bills: the bill is short of them (or not final)."""
        if bill_info.get("missing") or bill_info.get("source") == "none":
            return
        for (base, bscope), b in batch_by.items():
            for unit, cost in b["cost"].items():
                if ("batch", base, bscope, unit) in billed_keys or not b["tokens"][UNIT_TOKEN[unit]]:
                    continue
                g = self.gap(base, "unexplained")
                g.add(None, -cost)
                g.details.append(f"{self.display.get(base, base)} batch {unit}: {usd(cost)} of batch jobs "
                                 f"({', '.join(b['jobs'])}) has no bill line (Cost Explorer lags about 24 h; re-collect)")

    def _bill_gap(self, line: "_BillLine") -> None:
        for kind, counts, cost, note in line.parts:      # a batch line: the manifests' part, and the rest
            g = self.gap(line.base, kind)
            g.add(counts, cost)
            if note:
                g.details.append(note)
        if line.parts:
            return
        g = self.gap(line.base, line.kind)
        if line.kind == "price_mismatch":
            g.add({line.tcol: line.cw_tokens}, line.cost - line.cw_cost)
        elif line.kind == "rounding":
            g.add(None, line.cost - line.cw_cost)
        elif line.kind in gaps.ADJUSTMENT_KINDS:
            g.add(None, line.cost)
        else:
            g.add({line.tcol: line.tokens} if line.tcol else None, line.cost)
        if line.note:
            g.details.append(line.note)

    def _unbilled(self, cw_by: dict, billed_keys: set, bill_info: dict) -> None:
        """CloudWatch usage with no bill line at all."""
        scope_limited = bill_info.get("scope") == "first_party"
        bill_missing = bill_info.get("missing") or bill_info.get("source") == "none"
        for (base, bscope, tier), c in ({} if bill_missing else cw_by).items():
            name = self.display.get(base, base) + ("" if tier == "standard" else f" ({tier})")
            for unit, ccost in c["cost"].items():
                if not ccost or (base, bscope, tier, unit) in billed_keys:
                    continue
                if scope_limited:
                    g = self.gap(base, "scope")
                    g.add({UNIT_TOKEN[unit]: -c["tokens"][UNIT_COMPARE[unit]]}, -ccost)
                    g.details.append(f"{name} {unit}: {usd(ccost)} of CloudWatch usage has no bill line; the bill "
                                     "query was limited to SERVICE = 'Amazon Bedrock' and missed Marketplace "
                                     "'(Amazon Bedrock Edition)' lines")
                else:
                    g = self.gap(base, "unexplained")
                    g.add(None, -ccost)
                    g.details.append(f"{name} {unit}: {usd(ccost)} of CloudWatch usage has no bill line"
                                     + (" (no bill was collected)" if bill_missing
                                        else " (Cost Explorer lags about 24 h; re-collect)"))


class _BillLine:
    """One bill line, matched to the model it bills and compared with CloudWatch (and the logs) at the book."""

    def __init__(self, r, cw_by: dict, logs_by: dict, unpriced: list[str], tol: tuple[Decimal, Decimal],
                 batch_by: dict | None = None):
        self.r, self.tol = r, tol
        self.cost, self.tokens, self.base = dec(r.cost_usd), int(r.tokens), r.base_model
        self.tcol = UNIT_TOKEN.get(r.unit)
        self.note = self.kind = ""
        self.cw_cost = self.logs_cost = self.cw_tokens = self.logs_tokens = None
        self.manifest_tokens = self.manifest_cost = None
        self.compared = False
        self.parts: list[tuple] = []        # (kind, counts, cost, note) when one line is several terms
        self.batch_key = None
        rtype = getattr(r, "record_type", "usage") or "usage"       # bills collected before record types: usage
        if rtype in gaps.ADJUSTMENT_KINDS:
            self._adjustment(rtype, unpriced)
        elif not r.matched:
            self._unmatched(unpriced)
        elif r.tier == "provisioned":
            self.kind, self.tcol, self.tokens = "provisioned", None, 0
            self.note = f"{r.usage_type}: {r.quantity} model-unit hours, {usd(self.cost)}"
        elif r.tier == "batch" and r.endpoint == "runtime" and self.tcol and r.unit in ("input", "output"):
            self._batch((batch_by or {}).get((self.base, r.scope)) or {})
        elif r.tier not in LOGGED_TIERS or r.endpoint != "runtime":
            self.kind = "unlogged_endpoint"
            self.note = (f"{r.usage_type}: {r.tier} tier via {r.endpoint}; such usage has no invocation logs or "
                         "runtime metrics")
        elif self.tcol is None:
            self.kind, self.note = "unexplained", f"{r.usage_type}: not a token usage type"
        else:
            k = (self.base, r.scope, r.tier)        # a -flex line against the flex calls, and so on
            self._compare(cw_by.get(k) or {}, logs_by.get(k) or {}, unpriced)

    def _batch(self, b: dict) -> None:
        """A batch line against the manifests of the jobs of the day (same model, scope and unit): what they hold is
        ``batch`` (at the book's batch price), what no manifest explains stays ``unlogged_endpoint``; with the tokens
        equal, a cost beyond the tolerance is a ``price_mismatch``."""
        r, tol_abs, tol_pct = self.r, self.tol[0], self.tol[1]
        tm = int(b.get("tokens", {}).get(self.tcol, 0))
        cm = b.get("cost", {}).get(r.unit, Decimal(0))
        self.manifest_tokens, self.manifest_cost = tm, cm
        if not tm:
            self.kind = "unlogged_endpoint"
            self.note = f"{r.usage_type}: batch usage that no job manifest of the day explains"
            return
        self.kind, self.batch_key = "batch", ("batch", self.base, r.scope, r.unit)
        jobs = ", ".join(b.get("jobs", []))
        if not cm:          # the book has no batch price for the model (listed as unpriced): sized by the bill
            self.parts = [("batch", {self.tcol: self.tokens}, self.cost,
                           f"{r.usage_type}: the jobs {jobs}; the book has no batch price, the bill's cost is used")]
            return
        self.parts = [("batch", {self.tcol: tm}, cm, f"{r.usage_type}: {tm:,} tokens in the manifests of {jobs}")]
        rest, diff = self.tokens - tm, self.cost - cm
        if rest > 0:
            self.parts.append(("unlogged_endpoint", {self.tcol: rest}, diff,
                               f"{r.usage_type}: {rest:,} batch tokens ({usd(diff)}) no job manifest explains"))
        elif rest < 0:
            self.parts.append(("unexplained", {self.tcol: rest}, diff,
                               f"{r.usage_type}: the manifests hold {-rest:,} tokens more than the bill"))
        elif abs(diff) > max(tol_abs, abs(cm) * tol_pct / 100):
            self.parts.append(("price_mismatch", {self.tcol: tm}, diff,
                               f"{r.usage_type}: billed {usd(self.cost)} for the manifests' {tm:,} tokens, the book's "
                               f"batch price says {usd(cm)}"))
        elif diff:
            self.parts.append(("rounding", None, diff, f"{r.usage_type}: {usd(diff)} within the cost tolerance"))

    def _adjustment(self, rtype: str, unpriced: list[str]) -> None:
        """A credit, refund or discount line: a term of the net bill, sized by its cost, on the model it names (a
        model the book lacks, by its billing name, as :meth:`_unmatched`)."""
        r = self.r
        self.kind, self.tcol, self.tokens = rtype, None, 0
        if not r.matched:
            guess = _guess_model(r.billing_name or "", unpriced) if r.recognized else None
            self.base = guess or ADJUSTMENTS_MODEL
        what = r.usage_type or "no usage type"
        self.note = f"{gaps.kind(rtype).label}: {usd(self.cost)} ({what})"

    def _unmatched(self, unpriced: list[str]) -> None:
        r = self.r
        guess = _guess_model(r.billing_name or "", unpriced) if r.recognized else None
        if guess:
            self.base, self.kind = guess, "unpriced_model"
            self.note = f"usage type {r.usage_type} is not in the price book; its name matches {guess}"
        else:
            self.base, self.kind = "(unmatched bill lines)", "unexplained"
            self.note = f"usage type {r.usage_type} ({r.service}) matches no model in the book" + (
                f": {r.reason}" if not r.recognized and r.reason else "")

    def _compare(self, c: dict, lg: dict, unpriced: list[str]) -> None:
        r, tol_abs, tol_pct = self.r, self.tol[0], self.tol[1]
        self.compared = True
        self.cw_cost = c.get("cost", {}).get(r.unit, Decimal(0))
        self.cw_tokens = c.get("tokens", {}).get(UNIT_COMPARE[r.unit], 0)
        self.logs_cost = lg.get("cost", {}).get(r.unit, Decimal(0))
        self.logs_tokens = lg.get("tokens", {}).get(UNIT_COMPARE[r.unit], 0)
        if self.base in unpriced and self.cw_cost == 0:
            self.kind = "unpriced_model"
            self.note = f"{r.usage_type} billed for a model/region the book has no price for"
            return
        diff = self.cost - self.cw_cost
        if abs(diff) > max(tol_abs, abs(self.cw_cost) * tol_pct / 100):
            self.kind = "price_mismatch"
            implied = (self.cost * 1000 / Decimal(self.cw_tokens)) if self.cw_tokens else None
            self.note = (f"{r.usage_type}: billed {usd(self.cost)} for {self.cw_tokens:,} CloudWatch tokens, the book "
                         f"says {usd(self.cw_cost)}"
                         + (f" (the bill implies ${implied.quantize(Decimal('0.0000001'))}/1K)" if implied else ""))
        elif diff:
            self.kind, self.note = "rounding", f"{r.usage_type}: {usd(diff)} within the cost tolerance"

    def row(self) -> dict:
        r, tol_abs, tol_pct = self.r, self.tol[0], self.tol[1]
        vs_logs = "n/a"
        if self.logs_cost is not None:
            near = abs(self.cost - self.logs_cost) <= max(tol_abs, abs(self.logs_cost) * tol_pct / 100)
            vs_logs = "agrees" if near else "differs"
        return {"usage_type": r.usage_type, "record_type": getattr(r, "record_type", "usage") or "usage",
                "service": r.service, "base_model": self.base, "unit": r.unit,
                "tier": r.tier, "scope": r.scope, "endpoint": r.endpoint, "billed_tokens": self.tokens,
                "billed_cost_usd": money(self.cost), "cloudwatch_tokens": self.cw_tokens,
                "cloudwatch_cost_usd": money(self.cw_cost) if self.cw_cost is not None else None,
                "logs_tokens": self.logs_tokens,
                "logs_cost_usd": money(self.logs_cost) if self.logs_cost is not None else None,
                "manifest_tokens": self.manifest_tokens,
                "manifest_cost_usd": money(self.manifest_cost) if self.manifest_cost is not None else None,
                "bill_vs_cloudwatch": "agrees" if self.kind in ("", "rounding") else self.kind,
                "bill_vs_logs": vs_logs, "note": self.note}


def _vec(r) -> dict:
    if r is None:
        return _zero()
    return {**{c: int(v) for c, v in zip(COUNTS, r[3:3 + len(COUNTS)])}, "cost": r[-1]}


def _delivery_by_hour(delivery: pd.DataFrame) -> tuple[dict, dict]:
    """S3 log-delivery failures and successes per hour of the day (CloudWatch's delivery metrics)."""
    fail, ok = defaultdict(int), defaultdict(int)
    for r in delivery.itertuples(index=False) if not delivery.empty else ():
        if r.metric.endswith("DeliveryFailure"):
            fail[pd.Timestamp(r.hour).hour] += int(r.value)
        elif r.metric.endswith("DeliverySuccess"):
            ok[pd.Timestamp(r.hour).hour] += int(r.value)
    return fail, ok


def _batch_by_scope(batch: pd.DataFrame | None) -> dict:
    """The manifests' tokens and batch cost per billing unit, and the job names, per (base model, bill scope)."""
    out: dict = {}
    if batch is None or batch.empty:
        return out
    for (base, bscope), f in batch.assign(bscope=batch["scope"].map(bill_scope_of)).groupby(["base_model", "bscope"]):
        out[(base, bscope)] = {"tokens": {"input_tokens": int(f["input_tokens"].sum()),
                                          "output_tokens": int(f["output_tokens"].sum())},
                               "cost": {"input": dsum(f["cost_input"]), "output": dsum(f["cost_output"])},
                               "jobs": sorted(f["job_name"])}
    return out


def _by_scope(df: pd.DataFrame) -> dict:
    """Cost per billing unit and tokens, per (base model, bill scope, tier); provisioned throughput is billed by the
    hour, so its tokens are not compared with the per-token lines."""
    out = {}
    if not df.empty and "tier" in df:
        df = df[df["tier"] != "provisioned"]
    if not df.empty:
        df = df.assign(bscope=df["scope"].map(bill_scope_of), tier=df["tier"] if "tier" in df else "standard")
        for (base, bscope, tier), f in df.groupby(["base_model", "bscope", "tier"]):
            out[(base, bscope, tier)] = {"cost": _cost_by_unit(f), "tokens": _tokens_by_unit(f)}
    return out


def reconcile(price_logs: pd.DataFrame, price_late: pd.DataFrame, price_cw: pd.DataFrame, bill: pd.DataFrame,
              delivery: pd.DataFrame, bill_info: dict, unpriced: list[str], tol_tokens_pct: float = 0.5,
              tol_cost_pct: float = 1.0, tol_cost_abs: float = 0.0001, display: dict | None = None,
              logging_started: str = "", batch: pd.DataFrame | None = None):
    """Return (models: the exact per-model ledger, hourly frame, usage-type frame). ``logging_started`` ("HH:MM"):
    logging was switched on that day; the shortfall up to its hour is a missing delivery. ``batch``: the priced
    jobs."""
    ledger = Ledger(display)
    ledger.started = logging_started
    hourly = ledger.usage(price_logs, price_late, price_cw, delivery)
    usage_types = ledger.bill(bill, price_logs, price_cw, bill_info, unpriced, (dec(tol_cost_abs), dec(tol_cost_pct)),
                              batch)
    return ledger.models, hourly, usage_types

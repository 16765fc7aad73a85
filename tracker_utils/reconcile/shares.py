"""Chargeback: each application's share of the bill, exact until the output, then adding up exactly to it.

In: the priced logs (``price_logs.parquet``) and the exact per-model ledger. Out: the ``apps`` rows of
``summary.json``.
"""
from __future__ import annotations

from decimal import Decimal

import pandas as pd

from tracker_utils.money import allocate, dec, dsum, money
from tracker_utils.schema import TOKENS

UNLOGGED_APP = "(unlogged usage: batch, bedrock-mantle)"
NO_LOGS_APP = "(billed, no invocation logs)"


def gap_cost(m: dict, kind: str) -> Decimal:
    g = m["gaps"].get(kind)
    return g.sizes["cost"] if g is not None else Decimal(0)


def _split(models: dict) -> tuple[dict, Decimal, Decimal]:
    """Per model: (how its bill is split, the amount split, the logs basis); and the bill never logged, and the
    bill of models with no logs at all. Batch jobs and provisioned throughput are split on their own
    (:func:`cost_lines`)."""
    unlogged_total, no_logs_total = Decimal(0), Decimal(0)
    split: dict[str, tuple[str, Decimal, Decimal]] = {}
    for base, m in models.items():
        unlogged = gap_cost(m, "unlogged_endpoint")
        attributable = m["billed"] - unlogged - gap_cost(m, "batch") - gap_cost(m, "provisioned")
        unlogged_total += unlogged
        lc = m["logs"]["cost"]
        tokens = sum(m["logs"][t] for t in TOKENS)
        if lc:
            split[base] = ("cost", attributable, lc)
        elif tokens:
            split[base] = ("tokens", attributable, Decimal(tokens))
        else:
            no_logs_total += attributable
    return split, unlogged_total, no_logs_total


def _app_row(key: tuple, f: pd.DataFrame, split: dict) -> dict:
    """One application's usage, cost from logs and exact share of the bill, with where the share comes from."""
    app, team, cc = key
    billed = unpriced = priced_logs = Decimal(0)
    for base, fm in f.groupby("base_model"):
        how, attributable, basis = split.get(base, ("", Decimal(0), Decimal(0)))
        if how == "cost":
            logs = dsum(fm["cost_usd"])
            billed += attributable * logs / basis
            priced_logs += logs
        elif how == "tokens":          # a model with no price: split by tokens, all of it scaled
            part = attributable * sum(int(fm[t].sum()) for t in TOKENS) / basis
            billed += part
            unpriced += part
    matched = bool(f["matched"].all()) if "matched" in f else True
    return {"app": app, "team": team, "cost_centre": cc, "matched": matched,
            "invocations": int(f["invocations"].sum()), **{t: int(f[t].sum()) for t in TOKENS},
            "cost_usd": money(dsum(f["cost_usd"])), "billed_share_usd": billed,
            "unpriced_share_usd": money(unpriced), "beyond_logs_share_usd": money(billed - unpriced - priced_logs)}


PROVISIONED_METHOD = ("Provisioned throughput: the bill's model-unit hours of a model are split over the applications "
                      "by their share of the tokens (input, output, cache) the logs show on that model's provisioned "
                      "model ARNs (params/inference_profiles.yaml names the model behind each ARN); with no such "
                      "tokens the cost is a row of its own.")
IDLE_PROVISIONED_APP = "(provisioned throughput, no logged use)"


def _add(out: dict, key: tuple, what: str, amount: Decimal, matched: bool) -> None:
    row = out.setdefault(key, {"batch": Decimal(0), "provisioned": Decimal(0), "matched": True})
    row[what] += amount
    row["matched"] = row["matched"] and matched


def cost_lines(price_logs: pd.DataFrame, models: dict, batch: pd.DataFrame | None) -> tuple[dict, Decimal]:
    """Per application (app, team, cost centre): its exact part of each model's ``batch`` gap (split by the cost of
    its jobs at the batch price, by their tokens where the book has no batch price) and ``provisioned`` gap (split
    by its tokens on that model's provisioned ARNs); and the provisioned cost no logged token explains."""
    out: dict = {}
    idle = Decimal(0)
    prov = price_logs[price_logs["tier"] == "provisioned"] if not price_logs.empty and "tier" in price_logs \
        else price_logs.iloc[0:0]
    for base, m in models.items():
        for kind, frame in (("batch", batch), ("provisioned", prov)):
            amount = gap_cost(m, kind)
            f = frame[frame["base_model"] == base] if frame is not None and not frame.empty else None
            if not amount:
                continue
            if f is None or f.empty:
                idle += amount          # a batch gap always has jobs; provisioned capacity may sit unused
                continue
            keys = list(zip(f["app"], f["team"], f["cost_centre"]))
            toks = [sum(int(v) for v in vals) for vals in zip(*(f[t] for t in TOKENS if t in f))]
            weights = [dec(c) for c in f["cost_usd"]] if kind == "batch" and dsum(f["cost_usd"]) else toks
            total = sum(weights, Decimal(0))
            for k, w, ok in zip(keys, weights, f["matched"]):
                if w or not total:         # a job with no tokens (no manifest) gets nothing, and no row
                    _add(out, k, kind, amount * Decimal(w) / total if total else amount / len(keys), bool(ok))
    return out, idle


ADJUSTMENTS = ("credit", "refund", "discount")      # gaps.ADJUSTMENT_KINDS: the net bill's own terms


def gross_models(models: dict) -> dict:
    """The ledger with each model's bill at list price: its credits, refunds and discounts taken out."""
    out = {}
    for base, m in models.items():
        adj = sum((gap_cost(m, k) for k in ADJUSTMENTS), Decimal(0))
        out[base] = {**m, "billed": m["billed"] - adj}
    return out


def apps_table(price_logs: pd.DataFrame, models: dict, batch: pd.DataFrame | None = None) -> list[dict]:
    """:func:`net_apps_table`, and beside each row's share of the (net) bill its ``gross_share_usd``: the same split
    of the gross bill (credits, refunds and discounts taken out), which adds up exactly to the gross bill."""
    rows = net_apps_table(price_logs, models, batch)
    if not any(gap_cost(m, k) for m in models.values() for k in ADJUSTMENTS):
        return [{**a, "gross_share_usd": a["billed_share_usd"]} for a in rows]
    gross = {(a["app"], a["team"], a["cost_centre"]): a for a in net_apps_table(price_logs, gross_models(models), batch)}
    for a in rows:
        g = gross.pop((a["app"], a["team"], a["cost_centre"]), None)
        a["gross_share_usd"] = g["billed_share_usd"] if g else money(Decimal(0))
    for g in gross.values():           # a row with a gross share only (its model's bill fully credited)
        rows.append({**g, "gross_share_usd": g["billed_share_usd"], "billed_share_usd": money(Decimal(0)),
                     "share_of_bill_pct": None})
    return sorted(rows, key=lambda a: a["app"])


def net_apps_table(price_logs: pd.DataFrame, models: dict, batch: pd.DataFrame | None = None) -> list[dict]:
    """Per application from the logs, plus its share of the bill.

    ``models`` is the exact per-model ledger (from :func:`reconcile`). Each model's billed cost, less what was billed
    for usage that is never logged (batch jobs, bedrock-mantle), is split over the applications in proportion to
    their logs cost for that model (by tokens where the model is unpriced). Never-logged usage and bills for models
    with no logs at all are rows of their own. Shares are exact until the output, then rounded with the largest
    remainder, so that they add up exactly to the rounded bill; so do the percentages, at 2 decimals.

    Each row says where its share comes from: ``unpriced_share_usd`` is the part from scaling a model with no
    price, ``beyond_logs_share_usd`` the part above the application's cost from logs for priced models (usage the
    logs lack, or a price the book has wrong; negative when the bill is below the logs).
    """
    split, unlogged_total, no_logs_total = _split(models)
    extra, idle = cost_lines(price_logs, models, batch)
    out = []
    if not price_logs.empty:
        for key, f in price_logs.groupby(["app", "team", "cost_centre"]):
            out.append(_app_row(key, f, split))
    for a in out:
        e = extra.pop((a["app"], a["team"], a["cost_centre"]), None)
        a["batch_share_usd"], a["provisioned_share_usd"] = (e["batch"], e["provisioned"]) if e else (Decimal(0),) * 2
        a["billed_share_usd"] += a["batch_share_usd"] + a["provisioned_share_usd"]
    for (app, team, cc), e in sorted(extra.items()):       # applications seen only in batch jobs
        out.append({"app": app, "team": team, "cost_centre": cc, "matched": e["matched"], "invocations": 0,
                    **{t: 0 for t in TOKENS}, "cost_usd": money(Decimal(0)),
                    "billed_share_usd": e["batch"] + e["provisioned"], "unpriced_share_usd": money(Decimal(0)),
                    "beyond_logs_share_usd": money(Decimal(0)), "batch_share_usd": e["batch"],
                    "provisioned_share_usd": e["provisioned"]})
    for name, amount in ((UNLOGGED_APP, unlogged_total), (NO_LOGS_APP, no_logs_total), (IDLE_PROVISIONED_APP, idle)):
        if amount:
            out.append({"app": name, "team": "", "cost_centre": "", "matched": True, "invocations": 0,
                        **{t: 0 for t in TOKENS}, "cost_usd": money(Decimal(0)), "billed_share_usd": amount,
                        "unpriced_share_usd": money(Decimal(0)), "beyond_logs_share_usd": money(amount),
                        "batch_share_usd": Decimal(0), "provisioned_share_usd": amount if name == IDLE_PROVISIONED_APP
                        else Decimal(0)})
    total = sum((m["billed"] for m in models.values()), Decimal(0))
    if out:
        shares = allocate({i: a["billed_share_usd"] for i, a in enumerate(out)}, total=total)
        pcts = allocate({i: a["billed_share_usd"] * 100 / total for i, a in enumerate(out)}, q=Decimal("0.01"),
                        total=Decimal(100)) if total else {i: None for i in range(len(out))}
        for col in ("batch_share_usd", "provisioned_share_usd"):   # each adds up exactly to its cost lines
            parts = allocate({i: a[col] for i, a in enumerate(out)})
            for i, a in enumerate(out):
                a[col] = str(parts[i])
        for i, a in enumerate(out):
            a["billed_share_usd"] = str(shares[i])
            a["share_of_bill_pct"] = str(pcts[i]) if pcts[i] is not None else None
    return sorted(out, key=lambda a: a["app"])

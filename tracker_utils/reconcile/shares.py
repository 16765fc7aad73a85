"""Chargeback: each application's share of the bill, exact until the output, then adding up exactly to it.

In: the priced logs (``price_logs.parquet``) and the exact per-model ledger. Out: the ``apps`` rows of
``summary.json``.
"""
from __future__ import annotations

from decimal import Decimal

import pandas as pd

from tracker_utils.money import allocate, dsum, money
from tracker_utils.schema import TOKENS

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

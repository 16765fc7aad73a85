"""An organization's bill, read in a member account's collection: the payer's lines, kept for one account.

The payer's bill (Cost Explorer grouped by LINKED_ACCOUNT, or CUR 2.0 with ``line_item_usage_account_id``) holds the
lines of every member account. A member's chain keeps its own and states what else was on the bill (per account,
lines and cost), so that the organization's views can tell accounts with no logs (``account_not_logged``) and
accounts absent from the bill.
"""
from __future__ import annotations

import pandas as pd

from tracker_utils.money import dec, plain


class NoAccountColumn(ValueError):
    """A consolidated bill whose lines do not name their member account."""


def member_lines(bill: pd.DataFrame, account: str) -> tuple[pd.DataFrame, dict]:
    """(the lines of ``account``, what the bill holds per account: {id: {"lines", "cost_usd"}}). Lines that name no
    account on a consolidated bill are an error: the request lacked LINKED_ACCOUNT (or the CUR export its
    ``line_item_usage_account_id`` column), and splitting it by guess would move one account's cost to another."""
    if not len(bill):
        return bill, {"this": account, "on_bill": {}}
    nameless = bill["account"].fillna("") == ""
    if nameless.any():
        raise NoAccountColumn(
            f"consolidated bill: {int(nameless.sum())} line(s) name no member account (Cost Explorer needs GroupBy "
            "LINKED_ACCOUNT, CUR 2.0 the line_item_usage_account_id column); set consolidated_bill: false for the "
            "bill of one account")
    on_bill = {}
    for a, g in bill.groupby("account", sort=True):
        regions = g["region"].fillna("").astype(str)
        on_bill[str(a)] = {"lines": int(len(g)), "cost_usd": _sum(g["cost_usd"]),
                           "by_region": {r: _sum(x["cost_usd"]) for r, x in g.groupby(regions, sort=True)}}
    mine = bill[bill["account"] == account].reset_index(drop=True)
    return mine, {"this": account, "on_bill": on_bill}


def _sum(values) -> str:
    return plain(sum((dec(c) for c in values), dec(0)))


def payer_context(p):
    """The AWS context that reads the payer's bill: ``payer_role_arn`` assumed, or ``payer_profile``, or the chain."""
    import os

    from tracker_utils.collect.aws import CE_REGION, AwsContext
    return AwsContext.create(region=CE_REGION, account=p.account,
                             endpoint_url=p.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
                             profile=p.payer_profile, max_attempts=p.max_attempts, role_arn=p.payer_role_arn)


def monitoring_context(p, region: str):
    """``(ctx, source account)`` reading CloudWatch through the monitoring account ``cloudwatch_account``
    (cross-account observability: ``cloudwatch_role_arn`` assumed, or ``cloudwatch_profile``, or the chain), or
    ``(None, "")`` when metrics are read in the account itself (no ``cloudwatch_account``, or it is this account)."""
    import os

    from tracker_utils.collect.aws import AwsContext
    if not p.cloudwatch_account or p.cloudwatch_account == p.account:
        return None, ""
    ctx = AwsContext.create(region=region, account=p.cloudwatch_account,
                            endpoint_url=p.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
                            profile=p.cloudwatch_profile, max_attempts=p.max_attempts, role_arn=p.cloudwatch_role_arn)
    return ctx, p.account


def fetch_linked_cost_explorer(ctx, day, cache_dir, now=None) -> dict:
    """The payer's Bedrock bill of ``day`` per member account: one GetCostAndUsage request per Bedrock service,
    grouped by [LINKED_ACCOUNT, USAGE_TYPE] (the API takes two GroupBy dimensions), every page. Each request costs
    $0.01: the recording is cached in ``cache_dir/costexplorer/<date>.linked.json`` under the single-account rule
    (reused once the day closed, or when fetched in the last 15 minutes)."""
    import datetime as dt
    from pathlib import Path

    from tracker_utils.collect import aws
    from tracker_utils.collect.bill import linked_request
    from tracker_utils.io import read_json, write_json
    now = now or dt.datetime.now(dt.timezone.utc)
    path = Path(cache_dir) / "costexplorer" / f"{day.isoformat()}.linked.json"
    if path.exists():
        try:
            cached = read_json(path)
            fetched = dt.datetime.fromisoformat(str(cached["fetched_at"]))
            if (aws.ce_day_closed(day, fetched) or now - fetched < dt.timedelta(minutes=15)) and cached.get("requests"):
                return {**cached, "from_cache": True}
        except (ValueError, TypeError, OSError, KeyError):
            pass
    services, calls = aws._discover_services(ctx, day)
    ce = ctx.client("ce", aws.CE_REGION)
    end = (day + dt.timedelta(days=1)).isoformat()
    requests = []
    try:
        for service in services:
            req, pages, token = linked_request(service, day.isoformat(), end), [], None
            while True:
                resp = ce.get_cost_and_usage(**req, **({"NextPageToken": token} if token else {}))
                pages.append(aws._jsonable(resp))
                calls += 1
                token = resp.get("NextPageToken")
                if not token:
                    break
            requests.append({"service": service, "request": req, "pages": pages})
    except aws.aws_errors() as e:
        raise aws.explain(e, "ce", "GetCostAndUsage") from None
    rec = {"linked": True, "requests": requests, "fetched_at": now.isoformat(timespec="seconds"), "scope": "all",
           "closed": aws.ce_day_closed(day, now), "requests_made": calls}
    write_json(path, rec)
    return rec

"""The bill: what AWS charges for the invocations, as Cost Explorer pages and as CUR 2.0 export rows.

In: a ``DemoSpec``, the invocations and the price book. Out: ``_bill_lines`` (service, usage type, quantity, cost
and the truth behind each line, including the injected batch, bedrock-mantle, Marketplace, unknown-model and
stale-price lines), ``_ce_pages`` (GetCostAndUsage request and pages) and ``_cur_rows`` (CUR 2.0 rows).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from tracker_utils.demo.spec import (
    BILLING_NAMES, FP_UNIT, MARKETPLACE, MP_UNIT, REGION_CODE, TOKEN_KEYS, UNIT_OF, UNKNOWN_MODEL, UNKNOWN_MODEL_PRICES,
    DemoSpec, Inv,
)
from tracker_utils.demo.batch import BATCH_ROLE, PROVISIONED, batch_jobs, jobs_of
from tracker_utils.price.book import PriceBook

PROVISIONED_MARK = ":provisioned-model/"


def _money(d: Decimal) -> str:
    return format(d.normalize(), "f") if d else "0"


def _metered_tokens(invs: list[Inv], day: str) -> dict[tuple, dict[str, int]]:
    """Tokens of the day's successful calls per bill line (region, model, scope, tier, unit) and IAM principal."""
    acc: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))   # line -> IAM principal -> tokens
    for inv in invs:
        if inv.day != day or inv.error or PROVISIONED_MARK in inv.model_id:   # provisioned: billed by the hour
            continue
        for k in TOKEN_KEYS:
            t = getattr(inv, k)
            if t:
                acc[(inv.region, inv.base_model, inv.scope, inv.tier, UNIT_OF[k])][_iam_principal(inv.arn)] += t
    return acc


def _add_unlogged_usage(spec: DemoSpec, day: str, acc: dict[tuple, dict[str, int]]) -> None:
    """Injected usage that is billed but never logged: a batch job (day 3) and bedrock-mantle calls (day 1)."""
    dates = spec.dates
    batch_role = f"arn:aws:iam::{spec.account}:role/NightlyBatch-BedrockRole"
    if "us-east-1" in spec.regions:
        # batch jobs (never logged, no runtime metrics): their tokens, billed on the day each job ends
        job_role = f"arn:aws:iam::{spec.account}:role/{BATCH_ROLE}"
        for j in jobs_of(batch_jobs(spec), "us-east-1", day):
            acc[("us-east-1", j.base_model, j.scope, "batch", "input")][job_role] += j.input_tokens
            acc[("us-east-1", j.base_model, j.scope, "batch", "output")][job_role] += j.output_tokens
        # provisioned throughput: model-unit hours, all day
        acc[("us-east-1", PROVISIONED["model"], "in_region", "provisioned", "model_unit_hours")][""] += \
            24 * PROVISIONED["model_units"]
        if day == dates[0]:                           # bedrock-mantle (OpenAI-compatible) calls: not logged
            acc[("us-east-1", "openai.gpt-oss-120b-1:0", "in_region", "mantle", "input")][batch_role] += 185_000
            acc[("us-east-1", "openai.gpt-oss-120b-1:0", "in_region", "mantle", "output")][batch_role] += 64_000


def _aws_price(book: PriceBook, day: str, region: str, model: str, scope: str, tier: str, unit: str,
               truth: dict) -> Decimal:
    """What AWS charges per 1,000 tokens: the book's price, except the unknown model and the stale Nova Lite price."""
    if tier == "provisioned":
        price = PROVISIONED["usd_per_model_unit_hour"]
    elif model == UNKNOWN_MODEL:
        price = UNKNOWN_MODEL_PRICES[unit]
    else:
        price = book.unit_price(model, region, scope, "standard" if tier == "mantle" else tier, unit, day)
        if price is None:
            raise RuntimeError(f"demo needs a price for {model} {region} {scope} {tier} {unit} in params/prices.csv")
        if region == "ap-northeast-2" and model == "amazon.nova-lite-v1:0":
            price = price * Decimal("1.1")        # AWS raised the price; the book is stale
            truth["stale"] = True
    return price


def _usage_type(region: str, model: str, scope: str, tier: str, unit: str, tokens: int) -> tuple[str, str, Decimal]:
    """(service, usage type, quantity) as the bill names them: first-party or Marketplace shape."""
    rc = REGION_CODE[region]
    if model in MARKETPLACE:
        suffix = "_Global" if scope == "global" else ""
        service = MARKETPLACE[model]
        usage = f"{rc}-MP:{rc}_{MP_UNIT[unit]}{suffix}-Units"
        qty = Decimal(tokens) / Decimal(1_000_000)
    else:
        service = "Amazon Bedrock"
        name = BILLING_NAMES[model]
        if tier == "provisioned":
            return service, PROVISIONED["usage_type"].replace("USE1", rc, 1), Decimal(tokens)
        if tier == "mantle":
            usage = f"{rc}-{name}-mantle-{FP_UNIT[unit]}-standard"
        else:
            usage = f"{rc}-{name}-{FP_UNIT[unit]}" + ("-batch" if tier == "batch" else "") \
                    + ("-latency-optimized" if tier == "latency_optimized" else "") \
                    + ("-cross-region-global" if scope == "global" else "")
        qty = Decimal(tokens) / Decimal(1000)
    return service, usage, qty


def _merge_by_usage_type(lines: list[tuple]) -> list[tuple[str, str, Decimal, Decimal, list[dict]]]:
    """Lines with the same usage type (geo and in-region of one model) are one line on the bill."""
    merged: dict[tuple[str, str], list] = {}
    for service, usage, qty, cost, truth in lines:
        if (service, usage) in merged:
            m = merged[(service, usage)]
            m[0] += qty
            m[1] += cost
            m[2].append(truth)
        else:
            merged[(service, usage)] = [qty, cost, [truth]]
    return [(s, u, q, c, t) for (s, u), (q, c, t) in merged.items()]


def per_unit(unit: str) -> int:
    """Quantity a demo price is quoted for: model-unit hours by the hour, tokens by the thousand."""
    return 1 if unit == "model_unit_hours" else 1000


def _bill_lines(spec: DemoSpec, invs: list[Inv], book: PriceBook, day: str) -> list[tuple[str, str, Decimal, Decimal, dict]]:
    """(service, usage type, quantity, cost, truth) per line: CloudWatch's tokens at AWS's prices, plus injections."""
    acc = _metered_tokens(invs, day)
    _add_unlogged_usage(spec, day, acc)
    lines = []
    for (region, model, scope, tier, unit), by_principal in sorted(acc.items()):
        tokens = sum(by_principal.values())
        truth = {"region": region, "model": model, "scope": scope, "tier": tier, "unit": unit, "tokens": tokens,
                 "by_principal": dict(by_principal)}
        price = _aws_price(book, day, region, model, scope, tier, unit, truth)
        cost = Decimal(tokens) * price / per_unit(unit)
        truth["price"] = price
        service, usage, qty = _usage_type(region, model, scope, tier, unit, tokens)
        lines.append((service, usage, qty, cost, truth))
    return _merge_by_usage_type(lines)


# --- the bill's adjustments (single-account demo only; the demo organization's bill has none) ---------------------
EDP_RATE = Decimal("0.03")               # the account's Enterprise Discount Program: 3% of first-party usage
CREDIT = ("USE1-Claude4.5Sonnet-input-tokens-cross-region-global", Decimal("-0.10"))   # a promotional credit
ADJUSTMENT_TYPES = {"discount": "EdpDiscount", "credit": "Credit"}    # RECORD_TYPE / line_item_line_item_type


def adjustment_day(spec: DemoSpec) -> str:
    """The day the bill carries the EDP discount and the promotional credit: the second day (the first if one)."""
    return spec.dates[min(1, len(spec.dates) - 1)]


def _adjustment_lines(spec: DemoSpec, day: str, lines: list) -> list[tuple[str, str, Decimal, Decimal, list[dict]]]:
    """On :func:`adjustment_day`: an EDP discount line (-3%) per first-party usage line of the day, and a credit of
    $0.10 on one usage type; (service, usage type, 0, cost, [truth]) with the truth's ``record_type``."""
    if day != adjustment_day(spec):
        return []
    out = []
    for service, usage, _, cost, truths in lines:
        t0 = truths[0]
        base = {"region": t0["region"], "model": t0["model"], "scope": t0["scope"], "tier": "adjustment",
                "unit": t0["unit"], "tokens": 0, "by_principal": {}, "price": Decimal(0)}
        if service == "Amazon Bedrock" and cost:
            out.append((service, usage, Decimal(0), -cost * EDP_RATE, [{**base, "record_type": "discount"}]))
        if usage == CREDIT[0]:
            out.append((service, usage, Decimal(0), CREDIT[1], [{**base, "record_type": "credit"}]))
    return out


def _adjustment_cur_rows(spec: DemoSpec, bills: dict) -> list[dict]:
    """The CUR 2.0 rows of the adjustment lines in ``bills``: one per line, no principal, no usage amount."""
    rows = []
    for day, lines in bills.items():
        for service, usage, _, cost, truths in lines:
            t = truths[0]
            if not t.get("record_type"):
                continue
            rows.append({"line_item_usage_start_date": f"{day}T00:00:00Z", "line_item_usage_end_date": f"{day}T23:59:59Z",
                         "line_item_product_code": "AmazonBedrock", "product_servicecode": "AmazonBedrock",
                         "line_item_usage_type": usage, "line_item_operation": "InvokeModelInference",
                         "line_item_usage_amount": 0.0, "line_item_unblended_cost": float(cost),
                         "line_item_line_item_type": ADJUSTMENT_TYPES[t["record_type"]],
                         "product_region_code": t["region"], "bill_billing_entity": "AWS",
                         "product_product_name": service, "line_item_iam_principal": ""})
    return rows


def _iam_principal(arn: str) -> str:
    """What CUR 2.0's line_item_iam_principal holds: the role (not the session) or the user."""
    if ":assumed-role/" in arn:
        head, rest = arn.split(":assumed-role/", 1)
        return head.replace(":sts::", ":iam::") + ":role/" + rest.split("/", 1)[0]
    return arn


def _cur_rows(spec: DemoSpec, bills: dict) -> list[dict]:
    """CUR 2.0 export rows for the demo's bill: one per day, usage type and IAM principal, plus tax and S3 rows."""
    rows = []
    for day, lines in bills.items():
        start = f"{day}T00:00:00Z"
        for service, usage, _, _, truths in lines:
            mp = service != "Amazon Bedrock"
            for t in truths:
                quoted = 1_000_000 if mp else per_unit(t["unit"])
                for principal, tokens in sorted(t["by_principal"].items()):
                    rows.append({
                        "line_item_usage_start_date": start, "line_item_usage_end_date": start[:11] + "23:59:59Z",
                        "line_item_product_code": "prod-demo7h2k3haiku" if mp else "AmazonBedrock",
                        "product_servicecode": "prod-demo7h2k3haiku" if mp else "AmazonBedrock",
                        "line_item_usage_type": usage,
                        "line_item_operation": "InvokeModelStreamingInference" if t["unit"] == "output" else "InvokeModelInference",
                        "line_item_usage_amount": float(Decimal(tokens) / quoted),
                        "line_item_unblended_cost": float(Decimal(tokens) * t["price"] / per_unit(t["unit"])),
                        "line_item_line_item_type": "Usage", "product_region_code": t["region"],
                        "bill_billing_entity": "AWS Marketplace" if mp else "AWS",
                        "product_product_name": service if mp else "Amazon Bedrock",
                        "line_item_iam_principal": principal})
        rows.append({**rows[-1], "line_item_line_item_type": "Tax", "line_item_usage_type": "Tax",
                     "line_item_usage_amount": 0.0, "line_item_unblended_cost": 1.23,
                     "line_item_iam_principal": ""})
        rows.append({**rows[-1], "line_item_product_code": "AmazonS3", "product_servicecode": "AmazonS3",
                     "line_item_line_item_type": "Usage", "line_item_usage_type": "USE1-TimedStorage-ByteHrs",
                     "product_product_name": "Amazon Simple Storage Service", "line_item_unblended_cost": 4.56,
                     "bill_billing_entity": "AWS"})
    return rows


def _adjustment_pages(day: str, adjustments: list) -> dict:
    """The adjustments request (the kit's, see ``collect.aws.adjustments_request``) and its one page, grouped by
    [RECORD_TYPE, USAGE_TYPE] (no page of groups on a day without adjustments: one empty page)."""
    from tracker_utils.collect.aws import adjustments_request
    d1 = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    acc: dict = defaultdict(Decimal)
    for _, usage, _, cost, truths in adjustments:
        acc[(ADJUSTMENT_TYPES[truths[0]["record_type"]], usage)] += cost
    groups = [{"Keys": list(k), "Metrics": {"UnblendedCost": {"Amount": _money(c), "Unit": "USD"},
                                            "UsageQuantity": {"Amount": "0", "Unit": "N/A"}}}
              for k, c in sorted(acc.items())]
    page = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": "RECORD_TYPE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            "ResultsByTime": [{"TimePeriod": {"Start": day, "End": d1}, "Total": {}, "Groups": groups,
                               "Estimated": False}], "DimensionValueAttributes": []}
    services = ["Amazon Bedrock", *sorted(set(MARKETPLACE.values()))]
    return {"request": adjustments_request(dt.date.fromisoformat(day), services), "pages": [page]}


def _ce_pages(day: str, lines, page_size: int = 12, adjustments: list | None = None) -> dict:
    d1 = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    groups = [{"Keys": [s, u], "Metrics": {"UnblendedCost": {"Amount": _money(c), "Unit": "USD"},
                                            "UsageQuantity": {"Amount": _money(q), "Unit": "N/A"}}}
              for s, u, q, c, _ in sorted(lines, key=lambda x: (x[0], x[1]))]
    pages = []
    for i in range(0, max(len(groups), 1), page_size):
        page = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
                "ResultsByTime": [{"TimePeriod": {"Start": day, "End": d1}, "Total": {}, "Groups": groups[i:i + page_size],
                                   "Estimated": False}],
                "DimensionValueAttributes": []}
        if i + page_size < len(groups):
            page["NextPageToken"] = f"page-{i + page_size}"
        pages.append(page)
    request = {"TimePeriod": {"Start": day, "End": d1}, "Granularity": "DAILY",
               "Metrics": ["UnblendedCost", "UsageQuantity"],
               "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
               "Filter": {"Or": [{"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"]}},
                                 {"Dimensions": {"Key": "SERVICE", "Values": sorted(set(MARKETPLACE.values())),
                                                 "MatchOptions": ["EQUALS"]}}]}}
    out = {"request": request, "pages": pages}
    if adjustments is not None:          # the single-account demo's recording: the adjustments request too
        out["adjustments"] = _adjustment_pages(day, adjustments)
    return out

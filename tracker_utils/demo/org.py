"""The demo organization: member accounts of one payer, their logs (a central bucket and an account's own), their
CloudWatch recordings, and the consolidated bill (Cost Explorer by LINKED_ACCOUNT, CUR 2.0 by account).

In: a root directory, the start day and number of days, the price book. Out: ``build_org_demo`` writes, under
``root``, the layout of the single-account demo with the accounts apart where AWS keeps them apart:

- ``s3/<bucket>/<prefix>/AWSLogs/<account>/...``: each logged member's invocation logs (two members share the
  central bucket ``org-central-bedrock-logs``, one logs into its own ``lab-bedrock-logs``);
- ``cloudwatch/<account>/<region>/<date>.json``: each logged member's metrics (read in that account);
- ``batch/<account>/<region>/<date>.json``: each logged member's ListModelInvocationJobs recording, the manifests in
  ``s3/demo-batch-output/`` (job ids of each account's own);
- ``costexplorer/<date>.json``: the payer's recording, one ``[LINKED_ACCOUNT, USAGE_TYPE]`` request per service;
- ``cur/bedrock-export/data/BILLING_PERIOD=YYYY-MM/part-00000.parquet`` with ``line_item_usage_account_id``;
- ``ground_truth.json``: ``accounts`` (each logged member's ground truth, in the single-account shape, keyed
  ``<date>/<region>``), ``not_logged`` (the bill of the account with no logging, per ``<date>/<region>``) and
  ``consolidated`` (the whole bill per day), computed from the generator's invocations, not by the pipeline.

Each member is the single-account generator run with its own account id, bucket, seed, size and regions; one more
account has Bedrock usage on the bill and no logging at all (``account_not_logged``). The single-account demo is
not touched.
"""
from __future__ import annotations

import json
import shutil
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tracker_utils.demo.batch import batch_jobs, write_batch
from tracker_utils.demo.bill import _bill_lines, _cur_rows, _money, per_unit
from tracker_utils.demo.logs import write_logs
from tracker_utils.demo.metrics import _cw_pages
from tracker_utils.demo.spec import Q, DemoSpec
from tracker_utils.demo.traffic import generate
from tracker_utils.demo.truth import ground_truth
from tracker_utils.price.book import PriceBook

CENTRAL_BUCKET = "org-central-bedrock-logs"


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    bucket: str              # "" = no logging configured (the account is on the bill only)
    regions: tuple
    seed: int
    per_day: int


MEMBERS = (
    Member("111122223333", "shop", CENTRAL_BUCKET, ("us-east-1", "ap-northeast-2"), 7101, 1.0),
    Member("444455556666", "search", CENTRAL_BUCKET, ("us-east-1",), 7202, 0.8),
    Member("777788889999", "lab", "lab-bedrock-logs", ("us-east-1", "ap-northeast-2"), 7303, 1.2),
    Member("210987654321", "sandbox", "", ("us-east-1",), 7404, 0.2),
)


def org_accounts(members=MEMBERS) -> list[dict]:
    """The ``accounts:`` of the demo organization's params: the members with logging (the others are not listed)."""
    return [{"id": m.id, "name": m.name, "logs_bucket": m.bucket, "regions": list(m.regions)}
            for m in members if m.bucket]


def org_overrides(members=MEMBERS) -> dict:
    """The params of a run of the demo organization (over the data root and output folder): its accounts, the
    central bucket as the default, the bill read as the payer's."""
    return {"accounts": org_accounts(members), "logs_bucket": CENTRAL_BUCKET}


def _spec(m: Member, start: str, days: int, per_day: int) -> DemoSpec:
    return DemoSpec(account=m.id, bucket=m.bucket or f"unused-{m.id}", regions=m.regions, start=start, days=days,
                    per_day=max(1, int(per_day * m.per_day)), seed=m.seed)


def _linked_ce(day: str, bills: dict[str, list], page_size: int = 12) -> dict:
    """The payer's GetCostAndUsage recording of ``day``: per service, groups [LINKED_ACCOUNT, USAGE_TYPE]."""
    import datetime as dt

    from tracker_utils.collect.bill import linked_request
    d1 = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    by_service: dict[str, list] = defaultdict(list)
    for acct, lines in sorted(bills.items()):
        for service, usage, qty, cost, _ in lines:
            by_service[service].append({"Keys": [acct, usage], "Metrics": {
                "UnblendedCost": {"Amount": _money(cost), "Unit": "USD"},
                "UsageQuantity": {"Amount": _money(qty), "Unit": "N/A"}}})
    defs = [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}]
    requests = []
    for service, groups in sorted(by_service.items()):
        groups.sort(key=lambda g: g["Keys"])
        pages = []
        for i in range(0, len(groups), page_size):
            page = {"GroupDefinitions": defs, "DimensionValueAttributes": [],
                    "ResultsByTime": [{"TimePeriod": {"Start": day, "End": d1}, "Total": {},
                                       "Groups": groups[i:i + page_size], "Estimated": False}]}
            if i + page_size < len(groups):
                page["NextPageToken"] = f"page-{i + page_size}"
            pages.append(page)
        requests.append({"service": service, "request": linked_request(service, day, d1), "pages": pages})
    return {"linked": True, "requests": requests}


def _bill_by_region(lines: list) -> dict[str, Decimal]:
    """A day's bill lines of one account per region (the region of each line's truth)."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for _, _, _, _, truths in lines:
        for t in truths:
            out[t["region"]] += Decimal(t["tokens"]) * t["price"] / per_unit(t["unit"])
    return out


def build_org_demo(root: str | Path, start: str = "2026-11-02", days: int = 3, per_day: int = 3000,
                   members=MEMBERS, book: PriceBook | None = None) -> dict:
    """Write the demo organization under ``root`` (replacing what is there) and return its ground truth."""
    book = book or PriceBook.load()
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    truth: dict = {"accounts": {}, "not_logged": {}, "consolidated": {}, "members": [m.__dict__ for m in members]}
    bills: dict[str, dict[str, list]] = defaultdict(dict)        # day -> account -> lines
    import pandas as pd
    cur_rows = []
    for m in members:
        spec = _spec(m, start, days, per_day)
        invs = generate(spec, book)
        acct_bills = {day: _bill_lines(spec, invs, book, day) for day in spec.dates}
        for day, lines in acct_bills.items():
            bills[day][m.id] = lines
        cur_rows += [{**r, "line_item_usage_account_id": m.id} for r in _cur_rows(spec, acct_bills)]
        if not m.bucket:
            truth["not_logged"][m.id] = {f"{day}/{r}": str(c.quantize(Q)) for day, lines in acct_bills.items()
                                         for r, c in sorted(_bill_by_region(lines).items())}
            continue
        files = write_logs(root, spec, invs)
        write_batch(root, spec, batch_jobs(spec), account_dir=True)
        for region in spec.regions:
            for day in spec.dates:
                p = root / "cloudwatch" / m.id / region / f"{day}.json"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(json.dumps(_cw_pages(region, day, invs), indent=1))
        truth["accounts"][m.id] = ground_truth(spec, invs, files, acct_bills, book)
    whole = Decimal(0)
    for day, by_acct in sorted(bills.items()):
        (root / "costexplorer").mkdir(exist_ok=True)
        (root / "costexplorer" / f"{day}.json").write_text(json.dumps(_linked_ce(day, by_acct), indent=1))
        total = sum((c for lines in by_acct.values() for _, _, _, c, _ in lines), Decimal(0))
        truth["consolidated"][day] = str(total.quantize(Q))
        whole += total
    truth["consolidated_total"] = str(whole.quantize(Q))     # rounded once: not the sum of the rounded days
    cur = root / "cur" / "bedrock-export" / "data" / f"BILLING_PERIOD={start[:7]}" / "part-00000.parquet"
    cur.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(cur_rows).to_parquet(cur, index=False)
    (root / "ground_truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True))
    (root / "README.md").write_text(
        "# Demo organization (generated by tracker_utils.demo.org, do not edit)\n\n"
        + "".join(f"- {m.id} {m.name}: " + (f"logs in s3://{m.bucket}" if m.bucket else "no logging, bill only")
                  + f", {', '.join(m.regions)}\n" for m in members)
        + "\nThe bill is the payer's: costexplorer/ by LINKED_ACCOUNT, cur/ with line_item_usage_account_id.\n")
    return truth

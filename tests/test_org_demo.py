"""The demo organization end to end: 3 member accounts (two in a central bucket, one in its own), one account on
the bill with no logging, one consolidated bill. Each member's summaries equal its ground truth per date and region;
the organization total equals the consolidated bill; the unlogged account is the gap account_not_logged."""
from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest

from tests.test_pipeline import compare_summary

DAYS = 2


@pytest.fixture(scope="module")
def org_run(tmp_path_factory):
    from tracker_utils.demo.org import build_org_demo, org_overrides
    from tracker_utils.run import runner
    root = tmp_path_factory.mktemp("demo_org")
    out = tmp_path_factory.mktemp("outputs_org")
    truth = build_org_demo(root, start="2026-11-02", days=DAYS, per_day=300)
    ov = {"data_root": str(root), "output_dir": str(out), "start": "2026-11-02", "end": "2026-11-03",
          **org_overrides()}
    lines: list[str] = []
    outcomes = runner.run("", ov, force=True, jobs=1, log=lines.append)
    return root, out, ov, truth, outcomes, lines


@pytest.mark.slow
def test_every_member_summary_equals_its_ground_truth(org_run):
    _, out, _, truth, outcomes, _ = org_run
    assert all(o.status in ("complete", "skipped") for o in outcomes), [(o.account, o.date, o.region, o.error)
                                                                          for o in outcomes]
    assert sorted({o.account for o in outcomes}) == sorted(truth["accounts"])
    n = 0
    for acct, t in truth["accounts"].items():
        for key, want in t["runs"].items():
            got = json.loads((out / acct / key / "summary.json").read_text())     # outputs/<account>/<date>/<region>/
            assert compare_summary(got, want) == [], (acct, key)
            n += 1
    assert n == len(outcomes) == DAYS * (2 + 1 + 2)
    assert not (out / "2026-11-02").exists()          # an organization has no single-account layout


@pytest.mark.slow
def test_organization_total_equals_the_consolidated_bill(org_run):
    _, out, _, truth, _, lines = org_run
    doc = json.loads((out / "organization.json").read_text())
    want = Decimal(truth["consolidated_total"])
    assert Decimal(doc["organization_total_usd"]) == want
    assert [d["consolidated_usd"] for d in doc["days"]] == [truth["consolidated"][d] for d in sorted(truth["consolidated"])]
    assert doc["balanced"] and doc["complete"]
    # per account: the bill of each account, and the org total is their sum (within the 6-decimal rounding)
    per = {a["account"]: Decimal(a["billed_cost_usd"]) for a in doc["accounts"]}
    assert abs(sum(per.values()) - want) <= Decimal("0.000001") * len(per)
    for acct, t in truth["accounts"].items():
        reported = sum(Decimal(r["totals"]["billed_cost_usd"]) for r in t["runs"].values())
        assert abs(per[acct] - reported) <= Decimal("0.000001") * len(t["runs"]), acct
    index = (out / "index.html").read_text()
    for acct, t in truth["accounts"].items():
        for key in t["runs"]:
            assert f"{acct}/{key}/report.html" in index
    assert (out / "111122223333" / "index.html").exists()     # each member's own index and periods
    assert "central bucket org-central-bedrock-logs: accounts 111122223333, 444455556666 (one listing per account and " \
           "region)" in lines


@pytest.mark.slow
def test_account_not_logged_is_sized_and_stated(org_run):
    _, out, _, truth, _, lines = org_run
    doc = json.loads((out / "organization.json").read_text())
    got = {(g["account"], f"{g['date']}/{g['region']}"): Decimal(g["cost_usd"]) for g in doc["account_not_logged"]}
    want = {(a, k): Decimal(v) for a, runs in truth["not_logged"].items() for k, v in runs.items()}
    assert set(got) == set(want) and all(abs(got[k] - want[k]) <= Decimal("0.000001") for k in want)
    assert all(g["kind"] == "account_not_logged" for g in doc["account_not_logged"])
    assert [x for x in lines if x.startswith("ACCOUNT NOT LOGGED 210987654321")]
    assert "210987654321" in {a["account"] for a in doc["accounts"] if not a["logged"]}


@pytest.mark.slow
def test_an_account_absent_from_the_bill_is_stated_and_redaction_aliases_accounts(org_run, tmp_path):
    from tracker_utils.config import load_params, member_params
    from tracker_utils.report.organization import organization, write_organization
    _, out, ov, _, _, _ = org_run
    extra = {**ov, "accounts": ov["accounts"] + [{"id": "999988887777", "name": "new", "regions": ["us-east-1"]}]}
    p = load_params(None, extra)
    doc = organization(p, member_params(p), [])
    assert {x["account"] for x in doc["absent_from_bill"]} == {"999988887777"}
    assert any(s.startswith("ABSENT FROM BILL 999988887777") for s in doc["statements"])
    assert not doc["complete"]              # its reports do not exist: never complete on partial data
    shared = dataclasses.replace(load_params(None, ov), redact=True, output_dir=str(tmp_path))
    write_organization(shared, [dataclasses.replace(m, output_dir=str(out / m.account)) for m in member_params(
        load_params(None, ov))], [])
    text = (tmp_path / "organization.json").read_text() + (tmp_path / "index.html").read_text() + \
        (tmp_path / "periods" / "2026-11" / "rollup.html").read_text() + \
        (tmp_path / "periods" / "2026-11" / "rollup.json").read_text()
    for acct in ("111122223333", "444455556666", "777788889999", "210987654321"):
        assert acct not in text
    assert "account-" in text


@pytest.mark.slow
def test_organization_chargeback_has_an_account_column_and_adds_up_to_the_bill(org_run):
    import csv
    _, out, _, truth, _, _ = org_run
    doc = json.loads((out / "periods" / "2026-11" / "chargeback.json").read_text())
    want = Decimal(truth["consolidated_total"])
    assert Decimal(doc["consolidated_bill_usd"]) == want
    # each member's rows add up to its own billed (money.allocate), so only the 6-decimal rounding of 4 accounts
    assert abs(Decimal(doc["organization_billed_usd"]) - want) <= Decimal("0.000001") * len(doc["accounts"])
    rows = list(csv.DictReader((out / "periods" / "2026-11" / "chargeback.csv").open()))
    assert rows and list(rows[0])[:2] == ["account", "account_name"]
    by = {}
    for x in rows:
        by[x["account"]] = by.get(x["account"], Decimal(0)) + Decimal(x["billed_share_usd"])
    assert by == {a["account"]: Decimal(a["billed_usd"]) for a in doc["accounts"]}
    sandbox = [x for x in rows if x["account"] == "210987654321"]
    assert len(sandbox) == 1 and Decimal(sandbox[0]["billed_share_usd"]) == sum(
        Decimal(v) for v in truth["not_logged"]["210987654321"].values())


@pytest.mark.slow
def test_rollup_of_an_organization_rolls_up_each_member_and_the_organization(org_run):
    from tracker_utils.run import runner
    _, out, ov, truth, _, _ = org_run
    (out / "organization.json").unlink()
    res = runner.rollup("", ov, period="2026-11", log=lambda *_: None)
    assert res["status"] == "complete", res["error"]
    assert sorted(res["accounts"]) == sorted(truth["accounts"])
    assert all(r["status"] == "complete" for r in res["accounts"].values())
    doc = json.loads((out / "organization.json").read_text())
    assert Decimal(doc["organization_total_usd"]) == Decimal(truth["consolidated_total"])


def _table_rows(page: str, heading: str) -> list[list[str]]:
    """The body rows of the table under ``<h2>heading</h2>``, each cell as its visible text."""
    import html
    import re
    part = page.split(f"<h2>{heading}</h2>", 1)[1].split("</table>", 1)[0]
    body = part.split("<tbody>", 1)[1]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


@pytest.mark.slow
def test_organization_period_rollup_has_an_account_column_and_totals_the_consolidated_bill(org_run):
    from tracker_utils.money import cents, plain
    _, out, _, truth, _, _ = org_run
    folder = out / "periods" / "2026-11"
    doc = json.loads((folder / "rollup.json").read_text())
    want = Decimal(truth["consolidated_total"])
    assert Decimal(doc["organization_total_usd"]) == want and doc["balanced"] and doc["complete"]
    assert doc["accounts_billed_usd"] == doc["organization_total_usd"]     # the accounts' exact bills add up to it
    per = {a["account"]: a for a in doc["accounts"]}
    assert set(per) == set(truth["accounts"]) | set(truth["not_logged"])
    for acct, t in truth["accounts"].items():                       # each member: its reports' billed cost
        runs = t["runs"].values()
        assert abs(Decimal(per[acct]["billed_usd"]) - sum(Decimal(r["totals"]["billed_cost_usd"]) for r in runs)) \
            <= Decimal("0.000001") * len(runs), acct
        assert per[acct]["reports"] == len(runs) and per[acct]["logged"]
    sandbox = per["210987654321"]
    assert not sandbox["logged"] and sandbox["reports"] == 0
    assert abs(Decimal(sandbox["billed_usd"]) - sum(Decimal(v) for v in truth["not_logged"]["210987654321"].values())) \
        <= Decimal("0.000001") * len(truth["not_logged"]["210987654321"])
    assert {(r["account"], r["region"]) for r in doc["regions"]} == {
        (a, k.split("/")[1]) for a, t in truth["accounts"].items() for k in t["runs"]} | {
        (a, k.split("/")[1]) for a, runs in truth["not_logged"].items() for k in runs}
    # the page: an account column, one row per account and the organization's, whose cents are the bill rounded once
    page = (folder / "rollup.html").read_text()
    # (the hover shows the exact amount as the kit writes it on pages: no trailing zeros, 29.68751 for 29.687510)
    assert f"organization total <b><span title='{plain(want)} USD'>{cents(want)}</span></b>" in page
    rows = _table_rows(page, "Accounts")
    assert [r[0] for r in rows] == sorted(per) + ["organization"]
    shown = [Decimal(r[4].replace("$", "").replace(",", "")) for r in rows]
    assert shown[-1] == Decimal(cents(want).replace("$", "").replace(",", "")) == sum(shown[:-1])
    regions = _table_rows(page, "Accounts and regions")
    assert len(regions) == len(doc["regions"]) + 1 and regions[-1][0] == "organization"
    assert sum(Decimal(r[3].replace("$", "").replace(",", "")) for r in regions[:-1]) == shown[-1]
    index = (out / "index.html").read_text()
    assert "periods/2026-11/rollup.html" in index and "{{" not in index + page

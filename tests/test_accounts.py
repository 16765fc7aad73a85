"""Organizations: accounts in the params file, the bill per member account, account_not_logged."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tracker_utils.config import ParamError, Params, central_buckets, check_chains, load_params, member_params


def _org(tmp_path, text: str):
    f = tmp_path / "org.yaml"
    f.write_text(text)
    return load_params(f)


def test_no_accounts_is_one_account_as_before():
    p = load_params()
    assert p.accounts == []
    assert member_params(p) == [p]
    assert central_buckets(p) == {}


def test_accounts_take_the_top_level_defaults_and_own_folders(tmp_path):
    p = _org(tmp_path, f"""
output_dir: {tmp_path}/out
logs_bucket: org-central-logs
regions: [us-east-1, ap-northeast-2]
accounts:
  - {{id: "111111111111", name: shop}}
  - {{id: "222222222222", name: search, regions: [us-east-1], role_arn: "arn:aws:iam::222222222222:role/Tracker"}}
  - {{id: "333333333333", name: lab, logs_bucket: lab-logs, logs_prefix: "", profile: lab}}
""")
    ms = member_params(p)
    assert [m.account for m in ms] == ["111111111111", "222222222222", "333333333333"]
    assert [m.logs_bucket for m in ms] == ["org-central-logs", "org-central-logs", "lab-logs"]
    assert [m.logs_prefix for m in ms] == [p.logs_prefix, p.logs_prefix, ""]
    assert ms[1].regions == ["us-east-1"] and ms[0].regions == ["us-east-1", "ap-northeast-2"]
    assert ms[1].role_arn.endswith(":role/Tracker") and ms[2].profile == "lab"
    assert all(m.consolidated_bill and not m.accounts for m in ms)
    assert [m.output_dir for m in ms] == [str(tmp_path / "out" / a) for a in
                                          ("111111111111", "222222222222", "333333333333")]
    assert central_buckets(p) == {"org-central-logs": ["111111111111", "222222222222"]}
    assert check_chains(p) == len(p.dates) * (2 + 1 + 2)


@pytest.mark.parametrize("text, says", [
    ("accounts: [{id: 1234}]", "accounts[0].id"),
    ("accounts: [{id: '111111111111', bucket: x}]", "accounts[0].bucket"),
    ("accounts: [{id: '111111111111'}, {id: '111111111111'}]", "listed twice"),
    ("accounts: [{id: '111111111111', role_arn: r, profile: p}]", "not both"),
    ("accounts: [{id: '111111111111', regions: [us-east1]}]", "unknown region"),
    ("accounts: shop", "expected a list"),
])
def test_bad_accounts_are_one_clear_error(tmp_path, text, says):
    with pytest.raises(ParamError, match=says.replace("[", r"\[").replace("]", r"\]")):
        _org(tmp_path, text + "\n")


def test_params_snapshot_keeps_the_accounts(tmp_path):
    from tracker_utils.config import write_snapshot
    p = _org(tmp_path, "accounts: [{id: '111111111111', name: shop}]\n")
    f = write_snapshot(p, tmp_path / "x.snapshot.json")
    assert load_params(f).accounts == p.accounts
    assert isinstance(Params().accounts, list)


# --- the bill per member account ------------------------------------------------------------------------------------
def _group(acct, usage, qty, cost):
    return {"Keys": [acct, usage], "Metrics": {"UnblendedCost": {"Amount": cost, "Unit": "USD"},
                                               "UsageQuantity": {"Amount": qty, "Unit": "N/A"}}}


def _linked_rec():
    from tracker_utils.collect.bill import linked_request
    defs = [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}]
    day = {"Start": "2026-11-02", "End": "2026-11-03"}
    fp = [{"GroupDefinitions": defs, "ResultsByTime": [{"TimePeriod": day, "Estimated": False, "Groups": [
        _group("111111111111", "USE1-NovaLite-input-tokens", "2", "0.00012"),
        _group("222222222222", "USE1-NovaLite-input-tokens", "10", "0.0006")]}], "NextPageToken": "p2"},
          {"GroupDefinitions": defs, "ResultsByTime": [{"TimePeriod": day, "Estimated": False, "Groups": [
              _group("111111111111", "APN2-Claude4Sonnet-output-tokens", "1.5", "0.0225")]}]}]
    mp_service = "Claude 3 Haiku (Amazon Bedrock Edition)"
    mp = [{"GroupDefinitions": defs, "ResultsByTime": [{"TimePeriod": day, "Estimated": False, "Groups": [
        _group("222222222222", "USE1-MP:USE1_InputTokenCount-Units", "0.5", "0.125")]}]}]
    return {"linked": True, "requests": [
        {"service": "Amazon Bedrock", "request": linked_request("Amazon Bedrock", "2026-11-02", "2026-11-03"),
         "pages": fp},
        {"service": mp_service, "request": linked_request(mp_service, "2026-11-02", "2026-11-03"), "pages": mp}]}


def test_linked_cost_explorer_is_split_by_member_account():
    from tracker_utils.collect.bill import parse_linked_cost_explorer, split_by_account
    rec = _linked_rec()
    assert all(len(r["request"]["GroupBy"]) == 2 for r in rec["requests"])       # the API's limit
    df = parse_linked_cost_explorer(rec)
    by = split_by_account(df)
    assert sorted(by) == ["111111111111", "222222222222"]
    a, b = by["111111111111"], by["222222222222"]
    assert sum(Decimal(c) for c in a.cost_usd) == Decimal("0.02262")
    assert sum(Decimal(c) for c in b.cost_usd) == Decimal("0.1256")
    assert set(b.service) == {"Amazon Bedrock", "Claude 3 Haiku (Amazon Bedrock Edition)"}
    assert a.set_index("usage_type").loc["USE1-NovaLite-input-tokens", "tokens"] == 2000
    assert set(a.region) == {"us-east-1", "ap-northeast-2"} and b.recognized.all()


def test_cur_is_split_by_line_item_usage_account_id(tmp_path):
    import pandas as pd

    from tracker_utils.collect.bill import read_cur, split_by_account
    base = {"line_item_usage_start_date": "2026-11-02T00:00:00Z", "line_item_product_code": "AmazonBedrock",
            "product_servicecode": "AmazonBedrock", "line_item_operation": "InvokeModelInference",
            "line_item_line_item_type": "Usage", "product_region_code": "us-east-1", "bill_billing_entity": "AWS",
            "product_product_name": "Amazon Bedrock", "line_item_iam_principal": ""}
    rows = [{**base, "line_item_usage_account_id": acct, "line_item_usage_type": "USE1-NovaLite-input-tokens",
             "line_item_usage_amount": q, "line_item_unblended_cost": c}
            for acct, q, c in [("111111111111", "1", "0.00006"), ("111111111111", "2", "0.00012"),
                               ("333333333333", "7", "0.00042")]]
    pd.DataFrame(rows).to_csv(tmp_path / "cur.csv", index=False)
    df, _ = read_cur([tmp_path / "cur.csv"], "2026-11-02", "2026-11-02")
    by = split_by_account(df)
    assert {a: (len(g), str(sum(Decimal(c) for c in g.cost_usd))) for a, g in by.items()} == {
        "111111111111": (1, "0.00018"), "333333333333": (1, "0.00042")}
    assert int(by["111111111111"].tokens.iloc[0]) == 3000


def test_a_member_keeps_its_lines_and_states_the_others():
    from tracker_utils.collect.accounts import NoAccountColumn, member_lines
    from tracker_utils.collect.bill import parse_cost_explorer_pages, parse_linked_cost_explorer
    df = parse_linked_cost_explorer(_linked_rec())
    mine, info = member_lines(df, "111111111111")
    assert len(mine) == 2 and set(mine.account) == {"111111111111"}
    assert info["on_bill"]["222222222222"] == {"lines": 2, "cost_usd": "0.1256",
                                               "by_region": {"us-east-1": "0.1256"}}
    assert info["on_bill"]["111111111111"]["by_region"] == {"ap-northeast-2": "0.0225", "us-east-1": "0.00012"}
    none, _ = member_lines(df, "999999999999")
    assert len(none) == 0
    single = parse_cost_explorer_pages(_linked_rec()["requests"][0]["pages"][:0] + [
        {"ResultsByTime": [{"TimePeriod": {"Start": "2026-11-02"}, "Groups": [
            {"Keys": ["Amazon Bedrock", "USE1-NovaLite-input-tokens"],
             "Metrics": {"UnblendedCost": {"Amount": "1"}, "UsageQuantity": {"Amount": "1"}}}]}]}])
    with pytest.raises(NoAccountColumn, match="LINKED_ACCOUNT"):
        member_lines(single, "111111111111")


@pytest.fixture(scope="module")
def org_demo(tmp_path_factory):
    """A small demo organization (one day), built once for this module."""
    from tracker_utils.demo.org import build_org_demo
    root = tmp_path_factory.mktemp("org") / "org"
    return root, build_org_demo(root, days=1, per_day=120)


def test_the_org_demo_bill_is_the_same_per_account_in_cost_explorer_and_cur(org_demo):
    """The payer's two bills of the demo organization (CE by LINKED_ACCOUNT, CUR 2.0 by line_item_usage_account_id)
    give every account the same cost and tokens, and the bill of the unlogged account equals its ground truth."""
    import json

    from tracker_utils.collect.bill import parse_linked_cost_explorer, read_cur, split_by_account
    root, truth = org_demo
    ce = split_by_account(parse_linked_cost_explorer(json.loads(
        (root / "costexplorer" / "2026-11-02.json").read_text())))
    cur, _ = read_cur([root / "cur"], "2026-11-02", "2026-11-02")
    cur = split_by_account(cur)
    assert sorted(ce) == sorted(cur) == ["111122223333", "210987654321", "444455556666", "777788889999"]
    for a in ce:
        c1, c2 = (sum(Decimal(x) for x in f.cost_usd) for f in (ce[a], cur[a]))
        assert abs(c1 - c2) <= Decimal("0.000001"), a
        assert int(ce[a].tokens.sum()) == int(cur[a].tokens.sum()), a
    whole = sum(sum(Decimal(x) for x in f.cost_usd) for f in ce.values())
    assert abs(whole - Decimal(truth["consolidated"]["2026-11-02"])) <= Decimal("0.000001")
    nl = sum(Decimal(x) for x in ce["210987654321"].cost_usd)
    assert abs(nl - sum(Decimal(v) for v in truth["not_logged"]["210987654321"].values())) <= Decimal("0.000001")


@pytest.mark.parametrize("cost_source", ["ce", "cur"])
def test_a_member_collection_keeps_its_lines_of_the_payer_bill(org_demo, tmp_path, cost_source):
    """collect's bill step for one member of the demo organization: its own lines, the others stated per account."""
    import json

    import pandas as pd

    from tracker_utils.collect import stage
    from tracker_utils.config import RunConfig, run_dir
    from tracker_utils.demo.org import org_overrides
    from tracker_utils.schema import COLLECT
    root, _ = org_demo
    p = load_params(None, {**org_overrides(), "data_root": str(root), "output_dir": str(tmp_path / "o"),
                           "start": "2026-11-02", "end": "2026-11-02", "cost_source": cost_source,
                           "cur": str(root / "cur")})
    m = member_params(p)[1]                                   # search: us-east-1 only, in the central bucket
    cfg = RunConfig(params=m, date="2026-11-02", region="us-east-1", run_dir=run_dir(m.output_dir, "2026-11-02",
                                                                                       "us-east-1"))
    cfg.data_dir.mkdir(parents=True)
    ce = json.loads((root / "costexplorer" / "2026-11-02.json").read_text())
    info = stage._collect_bill(cfg, ce if cost_source == "ce" else None)
    bill = pd.read_parquet(cfg.data(COLLECT.BILL))
    assert set(bill.account) == {"444455556666"} and set(bill.region) == {"us-east-1"}
    assert sorted(info["accounts"]["on_bill"]) == ["111122223333", "210987654321", "444455556666", "777788889999"]
    mine = info["accounts"]["on_bill"]["444455556666"]["by_region"]["us-east-1"]
    assert abs(sum(Decimal(str(c)) for c in bill.cost_usd) - Decimal(mine)) <= Decimal("0.000001")


def test_demo_org_command_builds_the_organization_and_runs_its_accounts(tmp_path, monkeypatch):
    """``bedrock-tracker demo --org``: the organization's files and a run of its accounts (the run itself is
    tests/test_org_demo.py); the single-account demo's folder is not touched."""
    import json

    from tracker_utils.run import cli, runner
    seen = {}

    def fake_run(params_file, overrides, **kw):
        seen.update(overrides)
        return runner.RunResult([], [])
    monkeypatch.setattr(runner, "run", fake_run)
    root, out = tmp_path / "org", tmp_path / "out"
    assert cli.main(["-q", "demo", "--org", "--data-root", str(root), "--output-dir", str(out), "--per-day", "60",
                     "--end", "2026-11-02"]) == 0
    truth = json.loads((root / "ground_truth.json").read_text())
    assert sorted(truth["accounts"]) == ["111122223333", "444455556666", "777788889999"]
    assert sorted(truth["not_logged"]) == ["210987654321"]
    assert [a["id"] for a in seen["accounts"]] == sorted(truth["accounts"])
    assert seen["data_root"] == str(root) and seen["output_dir"] == str(out) and seen["source"] == "demo"
    buckets = {a["logs_bucket"] for a in seen["accounts"]}
    assert len(buckets) == 2                                  # a central bucket and an own one
    for acct in truth["accounts"]:
        assert list((root / "s3").glob(f"*/**/AWSLogs/{acct}/BedrockModelInvocationLogs/us-east-1/*"))

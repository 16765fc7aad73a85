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

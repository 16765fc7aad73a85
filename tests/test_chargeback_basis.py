"""The chargeback allocates the net bill (default) or the gross one, says which, and both add up exactly.

Hand-computed case (Claude 3 Haiku, $0.00025 / $0.00125 per 1K input / output tokens): application A logs 1,000 input
and 500 output tokens ($0.000875), B 600 and 300 ($0.000525). The gross bill is their $0.0014; an EDP discount of 3%
($-0.000042) on the model and a promotional credit of $-0.0002 that names no model make the net bill $0.001158.
"""
from __future__ import annotations

from decimal import Decimal as D
from types import SimpleNamespace

import pandas as pd
import pytest

from tracker_utils.config import ParamError, load_params
from tracker_utils.reconcile import ledger as R
from tracker_utils.reconcile.shares import NO_LOGS_APP, apps_table
from tracker_utils.report import chargeback as C
from tests.test_reconcile import IN, OUT, bill_line, line

GROSS, DISCOUNT, CREDIT = D("0.0014"), D("-0.000042"), D("-0.0002")
NET = GROSS + DISCOUNT + CREDIT


def _summary(adjusted: bool = True) -> dict:
    logs = pd.DataFrame([{**line(10, 5, 1000, 500), "app": "A"}, {**line(11, 3, 600, 300), "app": "B"}])
    bill = [bill_line("USE1-Claude3Haiku-input-tokens", "input", 1600, D(1600) * IN / 1000),
            bill_line("USE1-Claude3Haiku-output-tokens", "output", 800, D(800) * OUT / 1000)]
    bill = [{**b, "record_type": "usage"} for b in bill]
    if adjusted:
        bill += [{**bill_line("USE1-Claude3Haiku-input-tokens", "input", 0, DISCOUNT), "record_type": "discount"},
                 {**bill_line("", "input", 0, CREDIT, matched=False, billing_name=None), "record_type": "credit"}]
    models, _, _ = R.reconcile(logs, logs.iloc[0:0], logs, pd.DataFrame(bill),
                               pd.DataFrame(columns=["hour", "model_id", "metric", "value"]),
                               {"scope": "all", "source": "ce"}, [])
    billed = sum((m["billed"] for m in models.values()), D(0))
    adj = {"discount": DISCOUNT, "credit": CREDIT, "refund": D(0)} if adjusted else {}
    return {"date": "2026-11-03", "region": "us-east-1", "apps": apps_table(logs, models),
            "totals": {"billed_cost_usd": str(billed), "gross_cost_usd": str(billed - sum(adj.values(), D(0))),
                       "adjustments_usd": {k: str(v) for k, v in adj.items()}, "logs_cost_usd": "0.0014",
                       "cloudwatch_cost_usd": "0.0014", "logs_invocations": 8, "cloudwatch_invocations": 8}}


def test_each_application_has_a_net_and_a_gross_share_that_add_up_exactly():
    s = _summary()
    assert D(s["totals"]["billed_cost_usd"]) == NET == D("0.001158")
    by = {a["app"]: (D(a["billed_share_usd"]), D(a["gross_share_usd"])) for a in s["apps"]}
    # net: the model's $0.001358 split 875:525 (largest remainder at 6 decimals), the credit a row of its own
    assert by == {"A": (D("0.000849"), D("0.000875")), "B": (D("0.000509"), D("0.000525")),
                  NO_LOGS_APP: (CREDIT, D(0))}
    assert sum(n for n, _ in by.values()) == NET and sum(g for _, g in by.values()) == GROSS


def _rd(summary: dict, basis: str | None):
    params = SimpleNamespace(start="2026-11-03", end="2026-11-03", regions=["us-east-1"], chargeback_basis=basis,
                             account="123456789012")
    return SimpleNamespace(summaries=[summary], params=params, states=[], r=lambda x: x, price_logs=pd.DataFrame())


@pytest.mark.parametrize("basis, total", [("net", NET), ("gross", GROSS), (None, NET)])
def test_the_chargeback_allocates_its_basis(basis, total):
    df = C.chargeback_frame(_rd(_summary(), basis))
    assert sum(df["billed_share_usd"], D(0)) == total
    assert C.basis_total(_rd(_summary(), basis)) == total
    assert sum(df["share_of_bill_pct"].dropna(), D(0)) == D(100)


def test_net_and_gross_chargebacks_differ_by_the_adjustments_exactly():
    net = C.chargeback_frame(_rd(_summary(), "net")).set_index("app")["billed_share_usd"]
    gross = C.chargeback_frame(_rd(_summary(), "gross")).set_index("app")["billed_share_usd"]
    assert sum(gross, D(0)) - sum(net, D(0)) == -(DISCOUNT + CREDIT) == D("0.000242")


def test_the_basis_is_stated_in_the_json_and_on_the_page(tmp_path):
    import json
    rd = _rd(_summary(), "gross")
    rd.out_dir, rd.period = tmp_path, "2026-11"
    _, jp = C.write_chargeback(rd)
    doc = json.loads(jp.read_text())
    assert (doc["basis"], D(doc["basis_usd"])) == ("gross", GROSS)
    assert sum(D(a["billed_share_usd"]) for a in doc["applications"]) == GROSS
    assert "gross bill (list price" in doc["method"]
    assert "chargeback_basis: gross" in C.chargeback_table(rd)


def test_a_day_without_adjustments_has_equal_shares_and_old_summaries_are_named():
    s = _summary(adjusted=False)
    assert all(a["gross_share_usd"] == a["billed_share_usd"] for a in s["apps"])
    old = _summary()
    for a in old["apps"]:
        del a["gross_share_usd"]
    with pytest.raises(ValueError, match="no gross shares"):
        C.chargeback_frame(_rd(old, "gross"))
    assert sum(C.chargeback_frame(_rd(old, "net"))["billed_share_usd"], D(0)) == NET


def test_the_parameter_is_validated():
    assert load_params(None, {"chargeback_basis": "gross"}).chargeback_basis == "gross"
    assert load_params(None, {}).chargeback_basis == "net"
    with pytest.raises(ParamError):
        load_params(None, {"chargeback_basis": "list"})


def test_the_daily_headline_names_net_gross_and_the_terms():
    from tracker_utils.report import daily
    s = {**_summary(), "apps": []}
    s["totals"].update({"explained_pct": "100.0", "lower_bound": False})
    d = SimpleNamespace(summary=s, history=[])
    f = daily.headline_figures(d)
    assert (f["billed"], f["gross"], f["adjustments"]) == (NET, GROSS, {"discount": DISCOUNT, "credit": CREDIT})
    html = daily.headline(d)
    assert "net: gross &lt;$0.01, credit -&lt;$0.01, discount -&lt;$0.01" in html
    plain = {**_summary(adjusted=False), "apps": []}
    plain["totals"].update({"explained_pct": "100.0", "lower_bound": False})
    assert "net: gross" not in daily.headline(SimpleNamespace(summary=plain, history=[]))

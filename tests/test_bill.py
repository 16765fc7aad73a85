"""Bill parsers: Cost Explorer pages and CUR 2.0 files.  Every expected number is computed by hand."""
import json
from datetime import datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tracker_utils.money import plain as dec_str
from tracker_utils.collect.bill import (BILL_COLUMNS, empty_bill, parse_cost_explorer_pages,
                                        read_cur)

# NB: "shape" is also a pandas attribute, so that column is always read as df["shape"].
GROUP_DEFS = [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}]
HAIKU_MP = "Claude 3 Haiku (Amazon Bedrock Edition)"
SONNET45_MP = "Claude Sonnet 4.5 (Amazon Bedrock Edition)"


def _g(service, usage_type, cost, qty, unit="N/A"):
    return {"Keys": [service, usage_type],
            "Metrics": {"UnblendedCost": {"Amount": cost, "Unit": "USD"},
                        "UsageQuantity": {"Amount": qty, "Unit": unit}}}


def _period(day, nxt, groups, estimated=False):
    return {"TimePeriod": {"Start": day, "End": nxt}, "Total": {}, "Groups": groups, "Estimated": estimated}


# Two pages of one DAILY request grouped by SERVICE, USAGE_TYPE.
PAGES = [
    {"GroupDefinitions": GROUP_DEFS, "NextPageToken": "page-2",
     "ResultsByTime": [_period("2025-10-18", "2025-10-19", [
         # Nova Lite $0.00006/1K: 10.625K tokens -> $0.0006375
         _g("Amazon Bedrock", "USE1-NovaLite-input-tokens", "0.0006375", "10.625"),
         # Claude 3 Haiku MP $0.25/M and $1.25/M: 2,556 and 13,987 tokens (the seed's bill)
         _g(HAIKU_MP, "USE1-MP:USE1_InputTokenCount-Units", "0.000639", "0.002556"),
         _g(HAIKU_MP, "USE1-MP:USE1_OutputTokenCount-Units", "0.01748375", "0.013987"),
     ])],
     "DimensionValueAttributes": [], "ResponseMetadata": {"HTTPStatusCode": 200}},
    {"GroupDefinitions": GROUP_DEFS,
     "ResultsByTime": [
         _period("2025-10-18", "2025-10-19", [
             # Claude 4 Sonnet long context global $0.0225/1K: 1K tokens
             _g("Amazon Bedrock Service", "USE1-Claude4Sonnet-output-tokens-long-context-cross-region-global",
                "0.0225", "1"),
             _g("Amazon Bedrock", "USE1-NovaLite-Customization-Training", "1.5", "0.5", "Hours"),
             _g("Amazon Simple Storage Service", "USE1-TimedStorage-ByteHrs", "0.01", "3"),
         ]),
         _period("2025-10-19", "2025-10-20", [
             _g("Amazon Bedrock", "USE1-NovaLite-output-tokens", "0.000240000", "1.0000000000"),
             # 0.0000015 M tokens = 1.5 tokens -> rounds half-up to 2
             _g(SONNET45_MP, "USW2-MP:USW2_cache_write_tokens_1h_long_ctx_standard-Units", "0.0000099", "0.0000015"),
         ], estimated=True),
     ]},
]


def _row(df, **kw):
    sel = df
    for k, v in kw.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, kw
    return sel.iloc[0]


def _sum(series):
    return sum((Decimal(x) for x in series), Decimal(0))


def test_ce_pages_both_shapes_and_pagination():
    df = parse_cost_explorer_pages(PAGES)
    assert list(df.columns) == BILL_COLUMNS
    assert len(df) == 8
    assert set(df["source"]) == {"ce"} and set(df["principal"]) == {""} and set(df["operation"]) == {""}

    nova = _row(df, usage_type="USE1-NovaLite-input-tokens")
    assert (nova.date, nova.service, nova["shape"], nova.billing_name, nova.unit) == \
        ("2025-10-18", "Amazon Bedrock", "first_party", "NovaLite", "input")
    assert (nova.quantity, nova.cost_usd, nova.tokens, nova.region) == ("10.625", "0.0006375", 10625, "us-east-1")

    hin = _row(df, usage_type="USE1-MP:USE1_InputTokenCount-Units")
    hout = _row(df, usage_type="USE1-MP:USE1_OutputTokenCount-Units")
    assert (hin.service, hin["shape"], hin.billing_name, hin.tokens) == (HAIKU_MP, "marketplace", None, 2556)
    assert (hout.unit, hout.tokens, hout.cost_usd) == ("output", 13987, "0.01748375")

    lc = _row(df, service="Amazon Bedrock Service")
    assert (lc.scope, lc.long_context, lc.tokens, lc.tier) == ("global", True, 1000, "standard")

    train = _row(df, usage_type="USE1-NovaLite-Customization-Training")
    assert (train.recognized, train.tokens, train.unit, train.cost_usd) == (False, 0, "other", "1.5")

    s3 = _row(df, service="Amazon Simple Storage Service")
    assert (s3.recognized, s3.reason, s3.tokens) == (False, "not a Bedrock service", 0)

    out = _row(df, usage_type="USE1-NovaLite-output-tokens")   # estimated day kept, normalised strings
    assert (out.date, out.quantity, out.cost_usd, out.tokens) == ("2025-10-19", "1", "0.00024", 1000)
    cw = _row(df, service=SONNET45_MP)
    assert (cw.unit, cw.long_context, cw.tokens, cw.cost_usd) == ("cache_write_1h", True, 2, "0.0000099")

    # exact totals: 0.0006375 + 0.000639 + 0.01748375 + 0.0225 = 0.04126025 recognized on day 1
    day1 = df[(df.date == "2025-10-18") & df.recognized]
    assert _sum(day1.cost_usd) == Decimal("0.04126025")
    bedrock = df[df.service != "Amazon Simple Storage Service"]
    assert _sum(bedrock.cost_usd) == Decimal("1.54151015")   # 0.04126025 + 1.5 + (0.00024 + 0.0000099)
    assert _sum(df.cost_usd) == Decimal("1.55151015")
    assert int(df.tokens.sum()) == 10625 + 2556 + 13987 + 1000 + 1000 + 2
    assert df.tokens.dtype == "int64" and df.recognized.dtype == bool and df.long_context.dtype == bool


def test_ce_json_round_trip_and_page_order_do_not_matter():
    a = parse_cost_explorer_pages(PAGES)
    b = parse_cost_explorer_pages(json.loads(json.dumps(PAGES[::-1])))
    assert a.equals(b)


def test_ce_single_key_and_operation_grouping():
    one_key = [{"ResultsByTime": [_period("2025-10-18", "2025-10-19", [
        {"Keys": ["USE1-NovaLite-input-tokens"],
         "Metrics": {"UnblendedCost": {"Amount": "0.00006"}, "UsageQuantity": {"Amount": "1"}}}])]}]
    r = parse_cost_explorer_pages(one_key).iloc[0]
    assert (r.service, r.usage_type, r.tokens, r.recognized) == ("", "USE1-NovaLite-input-tokens", 1000, True)
    with_op = [{"GroupDefinitions": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"},
                                     {"Type": "DIMENSION", "Key": "OPERATION"}],
                "ResultsByTime": [_period("2025-10-18", "2025-10-19", [
                    {"Keys": ["USE1-NovaLite-input-tokens", "InvokeModelStreamingInference"],
                     "Metrics": {"UnblendedCost": {"Amount": "0"}, "UsageQuantity": {"Amount": "0"}}}])]}]
    r = parse_cost_explorer_pages(with_op).iloc[0]
    assert (r.operation, r.quantity, r.cost_usd) == ("InvokeModelStreamingInference", "0", "0")


def test_ce_empty_and_empty_bill():
    e = empty_bill()
    assert list(e.columns) == BILL_COLUMNS and len(e) == 0
    assert e.tokens.dtype == "int64" and e.recognized.dtype == bool
    got = parse_cost_explorer_pages([{"ResultsByTime": [_period("2025-10-18", "2025-10-19", [])]}])
    assert list(got.columns) == BILL_COLUMNS and len(got) == 0 and (got.dtypes == e.dtypes).all()


def test_dec_str_normalises():
    assert dec_str(Decimal("6.3750E-4")) == "0.0006375"
    assert dec_str(Decimal("0E-10")) == "0" and dec_str(Decimal("-0.00")) == "0"
    assert dec_str(Decimal("1E+2")) == "100" and dec_str(Decimal("-0.250")) == "-0.25"


# --- CUR 2.0 ------------------------------------------------------------------------------------
APP_A = "arn:aws:iam::111122223333:role/AppA-BedrockRole"
APP_B = "arn:aws:iam::111122223333:role/AppB-BedrockRole"
SONNET46_MP = "Claude Sonnet 4.6 (Amazon Bedrock Edition)"
# (start, product_code, usage_type, operation, amount, cost, line_item_type, region, entity, product_name, principal)
CUR_ROWS = [
    ("2025-10-18T01:00:00Z", "AmazonBedrock", "USE1-NovaLite-input-tokens", "InvokeModelInference",
     "4", "0.00024", "Usage", "us-east-1", "AWS", "Amazon Bedrock", APP_A),
    ("2025-10-18T05:00:00Z", "AmazonBedrock", "USE1-NovaLite-input-tokens", "InvokeModelInference",
     "6.625", "0.0003975", "Usage", "us-east-1", "AWS", "Amazon Bedrock", APP_A),
    ("2025-10-18T05:00:00Z", "AmazonBedrock", "USE1-NovaLite-input-tokens", "InvokeModelInference",
     "1", "0.00006", "Usage", "us-east-1", "AWS", "Amazon Bedrock", APP_B),
    ("2025-10-18T23:59:59Z", "AmazonBedrockService", "USE1-Claude4Sonnet-input-tokens-cross-region-global-batch",
     "InvokeModelInference", "2", "0.003", "Usage", "us-east-1", "AWS", "Amazon Bedrock Service", APP_B),
    ("2025-10-19T10:00:00Z", "prod-ffvjxvh4ltq64", "USE2-MP:USE2_InputTokenCount_Global-Units",
     "InvokeModelInference", "0.001", "0.003", "Usage", "us-east-2", "AWS Marketplace", SONNET46_MP, APP_A),
    ("2025-10-19T10:00:00Z", "prod-ffvjxvh4ltq64", "USE2-MP:USE2_InputTokenCount_Global-Units",
     "InvokeModelStreamingInference", "0.0005", "0.0015", "Usage", "us-east-2", "AWS Marketplace", SONNET46_MP, APP_A),
    # not kept, but counted
    ("2025-10-18T00:00:00Z", "AmazonBedrock", "", "", "0", "0.10", "Tax", "", "AWS", "Amazon Bedrock", ""),
    ("2025-10-19T00:00:00Z", "prod-ffvjxvh4ltq64", "", "", "0", "0.05", "Tax", "", "AWS Marketplace", SONNET46_MP, ""),
    ("2025-10-19T00:00:00Z", "AmazonBedrock", "USE1-NovaLite-input-tokens", "", "0", "-0.25", "Credit",
     "us-east-1", "AWS", "Amazon Bedrock", ""),
    # out of the [2025-10-18, 2025-10-19] window (UTC day)
    ("2025-10-17T23:59:59Z", "AmazonBedrock", "USE1-NovaLite-input-tokens", "InvokeModelInference",
     "100", "0.006", "Usage", "us-east-1", "AWS", "Amazon Bedrock", APP_A),
    ("2025-10-20T00:00:00Z", "AmazonBedrock", "USE1-NovaLite-input-tokens", "InvokeModelInference",
     "100", "0.006", "Tax", "us-east-1", "AWS", "Amazon Bedrock", APP_A),
    # not Bedrock at all
    ("2025-10-18T03:00:00Z", "AmazonS3", "USE1-TimedStorage-ByteHrs", "StandardStorage",
     "10", "1.00", "Usage", "us-east-1", "AWS", "Amazon Simple Storage Service", APP_A),
    ("2025-10-18T03:00:00Z", "prod-someothersaas", "USE1-MP:USE1_Users-Units", "",
     "1", "9.99", "Usage", "us-east-1", "AWS Marketplace", "Some SaaS Product", ""),
]
NAMES = ["line_item_usage_start_date", "line_item_product_code", "line_item_usage_type", "line_item_operation",
         "line_item_usage_amount", "line_item_unblended_cost", "line_item_line_item_type", "product_region_code",
         "bill_billing_entity", "product_product_name", "line_item_iam_principal"]


def _cur_table(typed: bool, principal=True, product_map=False) -> pa.Table:
    cols = {n: [r[i] for r in CUR_ROWS] for i, n in enumerate(NAMES)}
    cols["product_servicecode"] = cols["line_item_product_code"]
    cols["line_item_resource_id"] = ["r"] * len(CUR_ROWS)   # not projected
    if typed:  # parquet as AWS writes it: timestamp + double amounts
        cols["line_item_usage_start_date"] = pa.array(
            [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in cols["line_item_usage_start_date"]],
            pa.timestamp("ms", tz="UTC"))
        for c in ("line_item_usage_amount", "line_item_unblended_cost"):
            cols[c] = pa.array([float(x) for x in cols[c]], pa.float64())
    if not principal:
        del cols["line_item_iam_principal"]
    if product_map:  # CUR 2.0 `product` map: a real map in parquet, JSON text in CSV
        pairs = [[("product_name", n), ("region", "x")] for n in cols.pop("product_product_name")]
        cols["product"] = pa.array(pairs, pa.map_(pa.string(), pa.string())) if typed \
            else [json.dumps(dict(p)) for p in pairs]
    return pa.table(cols)


def _write_csv_gz(table, path):
    with pa.CompressedOutputStream(str(path), "gzip") as out:
        pacsv.write_csv(table, out)


EXPECTED_EXCLUDED = {"Tax": {"rows": 2, "cost_usd": "0.15"}}      # the Credit row is a bill line (record_type)


def _check_cur(df, report, files=1, factor=1):
    assert list(df.columns) == BILL_COLUMNS and set(df.source) == {"cur"}
    assert report["rows_read"] == 13 * factor and report["rows_used"] == 7 * factor
    assert report["rows_bedrock_in_range"] == 9 * factor and report["files"] == files
    assert report["rows_bedrock_without_date"] == 0
    assert report["excluded"] == {k: {"rows": v["rows"] * factor,
                                      "cost_usd": dec_str(Decimal(v["cost_usd"]) * factor)}
                                  for k, v in EXPECTED_EXCLUDED.items()}
    assert report["adjustments"] == {"credit": {"rows": factor, "cost_usd": dec_str(Decimal("-0.25") * factor)}}
    credit = df[df.record_type == "credit"]
    assert len(credit) == 1 and (credit.iloc[0].usage_type, credit.iloc[0].date) == ("USE1-NovaLite-input-tokens",
                                                                                     "2025-10-19")
    assert Decimal(credit.iloc[0].cost_usd) == Decimal("-0.25") * factor and credit.iloc[0].tokens == 0
    df = df[df.record_type == "usage"]
    assert len(df) == 5                                  # rows 1+2 aggregate; the MP pair differs by operation
    a = _row(df, usage_type="USE1-NovaLite-input-tokens", principal=APP_A)
    m = factor
    assert (a.date, a.service, a.operation, a.region) == ("2025-10-18", "Amazon Bedrock", "InvokeModelInference", "us-east-1")
    assert Decimal(a.quantity) == Decimal("10.625") * m and Decimal(a.cost_usd) == Decimal("0.0006375") * m
    assert a.tokens == 10625 * m
    b = _row(df, usage_type="USE1-NovaLite-input-tokens", principal=APP_B)
    assert (b.quantity, b.tokens) == (dec_str(Decimal(m)), 1000 * m)
    svc = _row(df, service="Amazon Bedrock Service")
    assert (svc.date, svc.tier, svc.scope, svc.tokens, svc.principal) == ("2025-10-18", "batch", "global", 2000 * m, APP_B)
    mp = df[df.service == SONNET46_MP]
    assert list(mp.operation) == ["InvokeModelInference", "InvokeModelStreamingInference"]
    assert list(mp.tokens) == [1000 * m, 500 * m] and set(mp["shape"]) == {"marketplace"}
    assert set(mp.date) == {"2025-10-19"} and set(mp.region) == {"us-east-2"} and set(mp.scope) == {"global"}
    # exact totals: 0.0006375 + 0.00006 + 0.003 + 0.003 + 0.0015 = 0.0081975
    assert _sum(df.cost_usd) == Decimal("0.0081975") * m
    assert df.tokens.dtype == "int64" and df.recognized.all()


def test_cur_parquet(tmp_path):
    pq.write_table(_cur_table(typed=True), tmp_path / "part-0.parquet")
    df, report = read_cur([tmp_path / "part-0.parquet"], "2025-10-18", "2025-10-19")
    _check_cur(df, report)


def test_cur_csv_gz(tmp_path):
    _write_csv_gz(_cur_table(typed=False), tmp_path / "part-0.csv.gz")
    df, report = read_cur([str(tmp_path / "part-0.csv.gz")], "2025-10-18", "2025-10-19")
    _check_cur(df, report)


def test_cur_folder_recursive_mixed_formats(tmp_path):
    (tmp_path / "BILLING_PERIOD=2025-10" / "sub").mkdir(parents=True)
    pq.write_table(_cur_table(typed=True), tmp_path / "BILLING_PERIOD=2025-10" / "a.parquet")
    _write_csv_gz(_cur_table(typed=False), tmp_path / "BILLING_PERIOD=2025-10" / "sub" / "b.csv.gz")
    (tmp_path / "BILLING_PERIOD=2025-10" / "manifest.json").write_text("{}")
    df, report = read_cur([tmp_path], "2025-10-18", "2025-10-19")
    _check_cur(df, report, files=2, factor=2)


def test_cur_without_principal_and_with_product_map(tmp_path):
    _write_csv_gz(_cur_table(typed=False, principal=False, product_map=True), tmp_path / "x.csv.gz")
    df, report = read_cur([tmp_path], "2025-10-18", "2025-10-19")
    assert set(df.principal) == {""}
    assert list(df.record_type).count("credit") == 1
    df = df[df.record_type == "usage"]
    assert len(df) == 4                                   # both principals of NovaLite merge
    nova = _row(df, usage_type="USE1-NovaLite-input-tokens")
    assert (nova.quantity, nova.cost_usd, nova.tokens) == ("11.625", "0.0006975", 11625)
    assert set(df[df["shape"] == "marketplace"].service) == {SONNET46_MP}
    assert report["excluded"] == EXPECTED_EXCLUDED


def test_cur_parquet_product_map(tmp_path):
    pq.write_table(_cur_table(typed=True, product_map=True), tmp_path / "m.parquet")
    df, report = read_cur(tmp_path / "m.parquet", "2025-10-18", "2025-10-19")
    _check_cur(df, report)


def test_cur_window_and_errors(tmp_path):
    pq.write_table(_cur_table(typed=True), tmp_path / "p.parquet")
    df, report = read_cur([tmp_path], "2025-10-20", "2025-10-20")
    assert len(df) == 0 and list(df.columns) == BILL_COLUMNS
    assert report["rows_used"] == 0 and report["excluded"] == {"Tax": {"rows": 1, "cost_usd": "0.006"}}
    with pytest.raises(FileNotFoundError):
        read_cur([tmp_path / "nothing-here"], "2025-10-18", "2025-10-19")
    pq.write_table(pa.table({"a": [1]}), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="missing columns"):
        read_cur([tmp_path / "bad.parquet"], "2025-10-18", "2025-10-19")
    bad = _cur_table(typed=False).set_column(
        NAMES.index("line_item_unblended_cost"), "line_item_unblended_cost", pa.array(["N/A"] * len(CUR_ROWS)))
    _write_csv_gz(bad, tmp_path / "bad_amount.csv.gz")
    with pytest.raises(ValueError, match="not a decimal"):
        read_cur([tmp_path / "bad_amount.csv.gz"], "2025-10-18", "2025-10-19")

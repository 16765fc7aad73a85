"""Usage-type parser: every form in bedrock-facts.md section 3, expected values written by hand."""
import pytest

from tracker_utils.usage_types import (REGION_CODES, UsageType, is_bedrock_service, parse_usage_type,
                                       region_prefix)

FIELDS = ("shape", "region", "region_code", "billing_name", "unit", "tier", "scope", "endpoint",
          "long_context", "tokens_per_unit")
FP, MP = "first_party", "marketplace"
E1 = ("us-east-1", "USE1")
W2 = ("us-west-2", "USW2")

# usage type -> (shape, region, region_code, billing_name, unit, tier, scope, endpoint, long_context, tokens_per_unit)
RECOGNIZED = {
    # --- first party, AWS CUR doc examples
    "USE1-Claude4.6Sonnet-input-tokens":
        (FP, *E1, "Claude4.6Sonnet", "input", "standard", "regional", "runtime", False, 1000),
    "USE1-Claude4.6Sonnet-cache-read-input-token-count":
        (FP, *E1, "Claude4.6Sonnet", "cache_read", "standard", "regional", "runtime", False, 1000),
    "USE1-Claude4.6Sonnet-output-tokens-cross-region-global":
        (FP, *E1, "Claude4.6Sonnet", "output", "standard", "global", "runtime", False, 1000),
    "USE1-Nova2.0Lite-input-tokens-flex":
        (FP, *E1, "Nova2.0Lite", "input", "flex", "regional", "runtime", False, 1000),
    "USE1-gpt-oss-120b-output-tokens-priority":
        (FP, *E1, "gpt-oss-120b", "output", "priority", "regional", "runtime", False, 1000),
    "USE1-openai.gpt-oss-120b-mantle-input-tokens-standard":
        (FP, *E1, "openai.gpt-oss-120b", "input", "standard", "regional", "mantle", False, 1000),
    # --- first party, other real examples
    "USE1-NovaLite-input-tokens":
        (FP, *E1, "NovaLite", "input", "standard", "regional", "runtime", False, 1000),
    "USE1-NovaPro-input-tokens-latency-optimized":
        (FP, *E1, "NovaPro", "input", "latency_optimized", "regional", "runtime", False, 1000),
    "USE1-NovaMicro-input-tokens-batch":
        (FP, *E1, "NovaMicro", "input", "batch", "regional", "runtime", False, 1000),
    "USE1-NovaPro-cache-read-input-token-count":
        (FP, *E1, "NovaPro", "cache_read", "standard", "regional", "runtime", False, 1000),
    "USE1-Claude3Haiku-input-tokens":
        (FP, *E1, "Claude3Haiku", "input", "standard", "regional", "runtime", False, 1000),
    "USE1-Llama3-1-405B-output-tokens-batch":
        (FP, *E1, "Llama3-1-405B", "output", "batch", "regional", "runtime", False, 1000),
    "USE1-TitanEmbeddingV2-Text-input-tokens":
        (FP, *E1, "TitanEmbeddingV2-Text", "input", "standard", "regional", "runtime", False, 1000),
    "USE1-TitanEmbeddingsG1-Text-input-tokens":
        (FP, *E1, "TitanEmbeddingsG1-Text", "input", "standard", "regional", "runtime", False, 1000),
    "USE1-TitanTextLite-input-tokens":
        (FP, *E1, "TitanTextLite", "input", "standard", "regional", "runtime", False, 1000),
    "USE1-NovaLite-input-tokens-custom-model":
        (FP, *E1, "NovaLite", "input", "custom_model", "regional", "runtime", False, 1000),
    "USE1-Claude4.6Opus-output-tokens":
        (FP, *E1, "Claude4.6Opus", "output", "standard", "regional", "runtime", False, 1000),
    # --- first party, AmazonBedrockService offer
    "USE1-Claude4Sonnet-input-tokens-cross-region-global-batch":
        (FP, *E1, "Claude4Sonnet", "input", "batch", "global", "runtime", False, 1000),
    "USE1-Claude4Sonnet-output-tokens-long-context-cross-region-global":
        (FP, *E1, "Claude4Sonnet", "output", "standard", "global", "runtime", True, 1000),
    # --- first party, grammar forms without a doc example string
    "USE1-Claude4.6Sonnet-cache-write-input-token-count":
        (FP, *E1, "Claude4.6Sonnet", "cache_write_5m", "standard", "regional", "runtime", False, 1000),
    "USE1-Claude4.6Sonnet-cache-write-input-token-count-cross-region-global":
        (FP, *E1, "Claude4.6Sonnet", "cache_write_5m", "standard", "global", "runtime", False, 1000),
    "USE1-Claude4.6Sonnet-input-tokens-cross-region-geo":   # geo suffix [U]: regional
        (FP, *E1, "Claude4.6Sonnet", "input", "standard", "regional", "runtime", False, 1000),
    # 1h cache write spellings seen in third-party code [U]
    "USE1-Claude4.6Opus-cache-write-1h-input-token-count":
        (FP, *E1, "Claude4.6Opus", "cache_write_1h", "standard", "regional", "runtime", False, 1000),
    "USE1-Claude4.6Opus-cache-write-input-token-count-1h":
        (FP, *E1, "Claude4.6Opus", "cache_write_1h", "standard", "regional", "runtime", False, 1000),
    # mantle spellings seen in third-party code [U]
    "USW2-anthropic.claude-opus-4-8-mantle-cache-write-tokens-global-standard":
        (FP, *W2, "anthropic.claude-opus-4-8", "cache_write_5m", "standard", "global", "mantle", False, 1000),
    "EU-TitanEmbeddingV2-Text-input-tokens":
        (FP, "eu-west-1", "EU", "TitanEmbeddingV2-Text", "input", "standard", "regional", "runtime", False, 1000),
    "APN2-Claude3Haiku-output-tokens":
        (FP, "ap-northeast-2", "APN2", "Claude3Haiku", "output", "standard", "regional", "runtime", False, 1000),
    # --- Marketplace, camel
    "USE1-MP:USE1_InputTokenCount-Units":
        (MP, *E1, None, "input", "standard", "regional", "runtime", False, 1_000_000),
    "USW2-MP:USW2_OutputTokenCount_Global-Units":
        (MP, *W2, None, "output", "standard", "global", "runtime", False, 1_000_000),
    "USE1-MP:USE1_CacheReadInputTokenCount-Units":
        (MP, *E1, None, "cache_read", "standard", "regional", "runtime", False, 1_000_000),
    "USE1-MP:USE1_CacheWriteInputTokenCount-Units":
        (MP, *E1, None, "cache_write_5m", "standard", "regional", "runtime", False, 1_000_000),
    "USE1-MP:USE1_CacheWrite1hInputTokenCount_Global-Units":
        (MP, *E1, None, "cache_write_1h", "standard", "global", "runtime", False, 1_000_000),
    "USE1-MP:USE1_InputTokenCount_Batch-Units":
        (MP, *E1, None, "input", "batch", "regional", "runtime", False, 1_000_000),
    "USE1-MP:USE1_InputTokenCount_Global_Batch-Units":
        (MP, *E1, None, "input", "batch", "global", "runtime", False, 1_000_000),
    "USE2-MP:USE2_InputTokenCount-Units":
        (MP, "us-east-2", "USE2", None, "input", "standard", "regional", "runtime", False, 1_000_000),
    "USE2-MP:USE2_InputTokenCount_Global-Units":
        (MP, "us-east-2", "USE2", None, "input", "standard", "global", "runtime", False, 1_000_000),
    "USW2-MP:USW2_InputTokenCount-Units":
        (MP, *W2, None, "input", "standard", "regional", "runtime", False, 1_000_000),
    "EU-MP:EU_InputTokenCount_Global-Units":
        (MP, "eu-west-1", "EU", None, "input", "standard", "global", "runtime", False, 1_000_000),
    # --- Marketplace, snake
    "USW2-MP:USW2_input_tokens_standard-Units":
        (MP, *W2, None, "input", "standard", "regional", "runtime", False, 1_000_000),
    "USW2-MP:USW2_output_tokens_global_standard-Units":
        (MP, *W2, None, "output", "standard", "global", "runtime", False, 1_000_000),
    "USW2-MP:USW2_cache_read_tokens_standard-Units":
        (MP, *W2, None, "cache_read", "standard", "regional", "runtime", False, 1_000_000),
    "USW2-MP:USW2_cache_write_tokens_1h_long_ctx_standard-Units":
        (MP, *W2, None, "cache_write_1h", "standard", "regional", "runtime", True, 1_000_000),
    "USW2-MP:USW2_cache_write_tokens_standard-Units":
        (MP, *W2, None, "cache_write_5m", "standard", "regional", "runtime", False, 1_000_000),
}


@pytest.mark.parametrize("usage_type", list(RECOGNIZED))
def test_recognized_forms(usage_type):
    u = parse_usage_type(usage_type)
    assert isinstance(u, UsageType)
    assert u.usage_type == usage_type
    assert (u.recognized, u.reason) == (True, None)
    assert tuple(getattr(u, f) for f in FIELDS) == RECOGNIZED[usage_type]


def test_suffix_is_never_matched_loosely():
    # CacheWrite1hInputTokenCount ends with InputTokenCount: must be 1h cache write, not input
    assert parse_usage_type("USE1-MP:USE1_CacheWrite1hInputTokenCount-Units").unit == "cache_write_1h"
    assert parse_usage_type("USE1-MP:USE1_CacheReadInputTokenCount-Units").unit == "cache_read"
    # a component that merely ends with a known one is not recognized
    u = parse_usage_type("USE1-MP:USE1_FooInputTokenCount-Units")
    assert (u.shape, u.recognized) == ("marketplace", False)
    assert "FooInputTokenCount" in u.reason


def test_customization_training_is_reported_not_raised():
    u = parse_usage_type("USE1-NovaLite-Customization-Training")
    assert (u.shape, u.region, u.region_code, u.billing_name) == (FP, "us-east-1", "USE1", "NovaLite")
    assert (u.unit, u.tier, u.tokens_per_unit, u.recognized) == ("other", "training", 1, False)
    assert "customization" in u.reason


@pytest.mark.parametrize("usage_type, shape, reason_part", [
    ("garbage", "unknown", "prefix"),
    ("", "unknown", "prefix"),
    (None, "unknown", "prefix"),
    ("XXX9-Claude3Haiku-input-tokens", "unknown", "XXX9"),
    ("USE1-", "unknown", "prefix"),
    ("USE1-NovaLite-input-tokens-bogus", FP, "token type"),
    ("USE1-NovaLite-Images", FP, "token type"),
    ("USE1-NovaLite-output-tokens-batch-flex", FP, "conflicting tiers"),
    ("USE1-NovaLite-output-tokens-batch-batch", FP, "repeated"),
    ("USE1-NovaLite-output-tokens-1h", FP, "1h"),
    ("EU-Claude4.5Sonnet-reserved-1-month-input-tokens-per-minute-cross-region-global", FP, "reserved"),
    ("USE1-MP:USW2_InputTokenCount-Units", MP, "differ"),
    ("ZZZ1-MP:ZZZ1_InputTokenCount-Units", MP, "ZZZ1"),
    ("USE1-MP:USE1_InputTokenCount_Batch_Global-Units", MP, "component"),
    ("USE1-MP:USE1_output_tokens_1h_standard-Units", MP, "_1h"),
    ("USE1-MP:USE1_InputTokenCount", FP, "token type"),  # no -Units: not Marketplace grammar
])
def test_unknown_forms_are_reported_not_raised(usage_type, shape, reason_part):
    u = parse_usage_type(usage_type)
    assert u.recognized is False
    assert u.shape == shape
    assert reason_part.lower() in u.reason.lower()
    assert u.tokens_per_unit == 1


def test_non_bedrock_service_is_reported():
    u = parse_usage_type("USE1-TimedStorage-ByteHrs", service="Amazon Simple Storage Service")
    assert (u.recognized, u.reason, u.shape) == (False, "not a Bedrock service", "unknown")
    for s in ("Amazon Bedrock", "Amazon Bedrock Service", "Claude 3 Haiku (Amazon Bedrock Edition)"):
        assert is_bedrock_service(s)
        assert parse_usage_type("USE1-MP:USE1_InputTokenCount-Units", service=s).recognized
    assert not is_bedrock_service(None) and not is_bedrock_service("AWS Marketplace")


# --- region table -------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix, region", [
    ("APN2", "ap-northeast-2"),   # Seoul
    ("APE1", "ap-east-1"),        # Hong Kong
    ("APS1", "ap-southeast-1"),   # Singapore
    ("APS3", "ap-south-1"),       # Mumbai
])
def test_region_table_asia(prefix, region):
    assert REGION_CODES[prefix] == region
    assert region_prefix(region) == prefix


BRIEF_TABLE = """USE1 us-east-1, USE2 us-east-2, USW1 us-west-1, USW2 us-west-2, CAN1 ca-central-1,
CAN2 ca-west-1, SAE1 sa-east-1, EUC1 eu-central-1, EUC2 eu-central-2, EUW2 eu-west-2, EUW3 eu-west-3,
EUN1 eu-north-1, EUS1 eu-south-1, EUS2 eu-south-2, APN1 ap-northeast-1, APN2 ap-northeast-2,
APN3 ap-northeast-3, APS1 ap-southeast-1, APS2 ap-southeast-2, APS3 ap-south-1, APS4 ap-southeast-3,
APS5 ap-south-2, APS6 ap-southeast-4, APS7 ap-southeast-5, APE1 ap-east-1, MES1 me-south-1,
MEC1 me-central-1, AFS1 af-south-1, ILC1 il-central-1, MXC1 mx-central-1, UGW1 us-gov-west-1,
UGE1 us-gov-east-1"""


def test_region_table_complete_and_invertible():
    for item in BRIEF_TABLE.replace("\n", " ").split(","):
        prefix, region = item.split()
        assert REGION_CODES[prefix] == region
        assert region_prefix(region) == prefix
    # eu-west-1 is "EU" in the bill and the price list; "EUW1" is accepted as an alias
    assert REGION_CODES["EU"] == REGION_CODES["EUW1"] == "eu-west-1"
    assert region_prefix("eu-west-1") == "EU"
    # every region maps back to a prefix that maps to it
    for region in set(REGION_CODES.values()):
        assert REGION_CODES[region_prefix(region)] == region


def test_region_prefix_unknown_raises_clear_keyerror():
    with pytest.raises(KeyError, match="mars-east-1"):
        region_prefix("mars-east-1")


def test_every_prefix_parses():
    for prefix, region in REGION_CODES.items():
        u = parse_usage_type(f"{prefix}-NovaLite-input-tokens")
        assert (u.recognized, u.region, u.region_code) == (True, region, prefix)
        m = parse_usage_type(f"{prefix}-MP:{prefix}_OutputTokenCount-Units")
        assert (m.recognized, m.region, m.unit) == (True, region, "output")

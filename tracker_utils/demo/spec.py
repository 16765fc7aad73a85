"""What the demo account is: its constants (billing names, region codes, units), the ``DemoSpec`` that sizes it,
the ``Inv`` record of one invocation, and the applications that call Bedrock in each region.

In: nothing but the price book's token names. Out: the shared vocabulary every other demo module uses.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from tracker_utils.schema import TOKENS


CANARY = "CANARY-PROMPT-7f3a9c"          # planted in every prompt and response; must never reach outputs/
UNKNOWN_MODEL = "anthropic.claude-opus-5-5-20261101-v1:0"
UNKNOWN_MODEL_PRICES = {"input": Decimal("0.006"), "output": Decimal("0.03")}   # what "AWS" bills it at
APP_PROFILE_ARN = "arn:aws:bedrock:us-east-1:{account}:application-inference-profile/a1b2c3d4e5f6"
APP_PROFILE_SOURCE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
# provisioned throughput for Nova Lite (params/inference_profiles.yaml names the model behind the ARN)
PROVISIONED_ARN = "arn:aws:bedrock:us-east-1:{account}:provisioned-model/pm7x2k9q4w1e"
Q = Decimal("0.000001")

# The demo's view of AWS billing: first-party billing names and the Marketplace-billed model.
BILLING_NAMES = {
    "anthropic.claude-3-7-sonnet-20250219-v1:0": "Claude3.7Sonnet",
    "anthropic.claude-sonnet-4-5-20250929-v1:0": "Claude4.5Sonnet",
    "anthropic.claude-sonnet-4-20250514-v1:0": "Claude4Sonnet",
    "anthropic.claude-haiku-4-5-20251001-v1:0": "Claude4.5Haiku",
    "amazon.nova-lite-v1:0": "NovaLite",
    "amazon.nova-pro-v1:0": "NovaPro",
    "amazon.titan-embed-text-v2:0": "TitanEmbeddingV2-Text",
    "meta.llama3-3-70b-instruct-v1:0": "Llama3-3-70B",
    "openai.gpt-oss-120b-1:0": "openai.gpt-oss-120b",
    UNKNOWN_MODEL: "Claude5.5Opus",
}
MARKETPLACE = {"anthropic.claude-3-haiku-20240307-v1:0": "Claude 3 Haiku (Amazon Bedrock Edition)"}
REGION_CODE = {"us-east-1": "USE1", "ap-northeast-2": "APN2", "us-west-2": "USW2", "eu-central-1": "EUC1"}
FP_UNIT = {"input": "input-tokens", "output": "output-tokens", "cache_read": "cache-read-input-token-count",
           "cache_write_5m": "cache-write-input-token-count"}
MP_UNIT = {"input": "InputTokenCount", "output": "OutputTokenCount", "cache_read": "CacheReadInputTokenCount",
           "cache_write_5m": "CacheWriteInputTokenCount"}
TOKEN_KEYS = tuple(TOKENS)
UNIT_OF = {"input_tokens": "input", "output_tokens": "output", "cache_read_tokens": "cache_read",
           "cache_write_tokens": "cache_write_5m"}
SERVED_BY = {"us": ["us-east-1", "us-east-2", "us-west-2"], "apac": ["ap-northeast-2", "ap-northeast-1", "ap-southeast-1"],
             "global": ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "ap-northeast-1"]}


@dataclass
class DemoSpec:
    account: str = "123456789012"
    bucket: str = "demo-bedrock-logs"
    prefix: str = "bedrock/invocation-logs"
    regions: tuple = ("us-east-1", "ap-northeast-2")
    start: str = "2026-11-02"
    days: int = 3
    per_day: int = 3000                 # invocations a day in us-east-1 (ap-northeast-2 gets half)
    seed: int = 20261102
    as_of_hours: float = 1.0            # the collection runs this long after the day ends (params: logs_as_of "+1h")
    window_after_hours: int = 3         # hour folders after the day that the collector reads
    large_body_bytes: int = 120_000     # > 100 KB goes to the data/ sidecar

    @property
    def dates(self) -> list[str]:
        d0 = dt.date.fromisoformat(self.start)
        return [(d0 + dt.timedelta(days=i)).isoformat() for i in range(self.days)]


# --- the account's applications ---------------------------------------------------------------------------------
# (app, weight, principal kind, principal name, sessions, models[(model id, weight, operations)], tokens profile, metadata)
def _apps(region: str, account: str):
    prof = APP_PROFILE_ARN.format(account=account)
    prov = PROVISIONED_ARN.format(account=account)
    if region == "us-east-1":
        return [
            ("Chatbot", 30, "role", "ChatbotProd-BedrockRole", 40,
             [("global.anthropic.claude-sonnet-4-5-20250929-v1:0", 6, ["Converse", "ConverseStream"]),
              ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 4, ["ConverseStream"])], "chat", None),
            ("DocSummarizer", 18, "role", "DocSummarizer-BedrockRole", 25,
             [("us.anthropic.claude-3-7-sonnet-20250219-v1:0", 5, ["InvokeModel"]),
              ("anthropic.claude-3-haiku-20240307-v1:0", 5, ["InvokeModelWithResponseStream", "InvokeModel"])], "doc", None),
            ("CodeReview", 10, "role", "CodeReview-BedrockRole", 15,
             [("us.meta.llama3-3-70b-instruct-v1:0", 8, ["Converse"]),
              ("global." + UNKNOWN_MODEL, 2, ["Converse"])], "code", None),
            ("SearchIndexer", 15, "role", "SearchIndexer-BedrockRole", 12,
             [("amazon.titan-embed-text-v2:0", 1, ["InvokeModel"])], "embed", None),
            ("SupportAgent", 10, "role", "SharedLambda-BedrockRole", 30, [(prof, 1, ["Converse", "ConverseStream"])], "chat", None),
            ("Triage", 6, "role", "SharedPlatform-BedrockRole", 10,
             [("amazon.nova-lite-v1:0", 1, ["Converse"])], "short", {"project": "triage"}),
            ("KnowledgeIngest", 4, "role", "SharedPlatform-BedrockRole", 10,
             [("amazon.nova-lite-v1:0", 1, ["InvokeModel"])], "short", {"project": "kb-ingest"}),
            # two applications share the provisioned Nova Lite: its model-unit hours are split by their tokens
            ("Moderation", 4, "role", "Moderation-BedrockRole", 6, [(prov, 1, ["Converse"])], "short", None),
            ("Triage", 2, "role", "SharedPlatform-BedrockRole", 10, [(prov, 1, ["Converse"])], "short",
             {"project": "triage"}),
            ("Analytics", 5, "user", "alice", 1,
             [("us.anthropic.claude-3-7-sonnet-20250219-v1:0", 1, ["Converse", "InvokeModelWithResponseStream"])], "doc", None),
            ("Analytics", 3, "user", "bob.data", 1, [("anthropic.claude-3-haiku-20240307-v1:0", 1, ["InvokeModel"])], "doc", None),
            ("unattributed", 2, "user", "carol", 1, [("anthropic.claude-3-haiku-20240307-v1:0", 1, ["Converse"])], "short", None),
        ]
    return [
        ("Chatbot", 30, "role", "ChatbotProd-BedrockRole", 20,
         [("apac.anthropic.claude-sonnet-4-20250514-v1:0", 6, ["ConverseStream", "Converse"]),
          ("global.anthropic.claude-haiku-4-5-20251001-v1:0", 4, ["Converse"])], "chat", None),
        ("DocSummarizer", 20, "role", "DocSummarizer-BedrockRole", 10,
         [("anthropic.claude-3-haiku-20240307-v1:0", 1, ["InvokeModelWithResponseStream", "InvokeModel"])], "doc", None),
        ("CodeReview", 15, "role", "CodeReview-BedrockRole", 8,
         [("apac.amazon.nova-lite-v1:0", 1, ["Converse"])], "code", None),
        ("SearchIndexer", 20, "role", "SearchIndexer-BedrockRole", 6,
         [("amazon.titan-embed-text-v2:0", 1, ["InvokeModel"])], "embed", None),
        ("Triage", 10, "role", "SharedPlatform-BedrockRole", 5,
         [("apac.amazon.nova-lite-v1:0", 1, ["Converse"])], "short", {"project": "triage"}),
        ("Analytics", 5, "user", "alice", 1,
         [("apac.anthropic.claude-sonnet-4-20250514-v1:0", 1, ["Converse"])], "doc", None),
    ]


# latency-optimized inference (issue 19, a tier the demo exercises): a share of CodeReview's Llama 3.3 calls in
# us-east-1 (request ids starting with "0" or "1", about 1 in 8) go to Nova Pro with performanceConfig.latency
# "optimized", billed under USE1-NovaPro-*-tokens-latency-optimized at the book's latency-optimized price
LATENCY_OPTIMIZED = {"app": "CodeReview", "from": "us.meta.llama3-3-70b-instruct-v1:0", "to": "amazon.nova-pro-v1:0",
                     "ids": ("0", "1")}
CACHE_MODELS = ("claude-sonnet-4-5", "claude-sonnet-4-2025", "claude-haiku-4-5", "claude-3-7-sonnet")


@dataclass
class Inv:
    ts: dt.datetime
    region: str
    model_id: str
    base_model: str
    scope: str
    app: str
    arn: str
    operation: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    request_id: str
    metadata: dict | None = None
    error: str | None = None
    delivered: dt.datetime | None = None     # None: never delivered (logging outage)
    late: bool = False
    large: bool = False
    inference_region: str | None = None
    latency: str | None = None               # performanceConfig.latency ("optimized": the latency-optimized tier)

    @property
    def tier(self) -> str:
        """The price book's tier of the call (what the bill bills it at)."""
        return "latency_optimized" if self.latency == "optimized" else "standard"

    @property
    def day(self) -> str:
        return self.ts.date().isoformat()


# --- operations (issue 18): latency and quotas with known values ----------------------------------------------------
# CloudWatch InvocationLatency percentiles (ms) per model family, the same in every hour and for the whole day, so the
# report's figures can be checked by hand: p90 = 2 x p50, p99 = 4 x p50. Matched on a substring of the model id.
LATENCY_P50_MS = (("claude-sonnet-4-5", 1200), ("claude-3-7-sonnet", 1500), ("claude-3-haiku", 400),
                  ("claude-haiku-4-5", 600), ("claude-sonnet-4-2025", 1100), ("llama3-3-70b", 900),
                  ("titan-embed", 50), ("nova-lite", 300), ("nova-pro", 250), ("opus-5-5", 2000), ("application-inference-profile", 600))
# Service Quotas names of the demo's models (what follows "... per minute for "); the unknown model has none.
QUOTA_MODEL_NAMES = {
    "anthropic.claude-sonnet-4-5-20250929-v1:0": "Anthropic Claude Sonnet 4.5 V1",
    "anthropic.claude-3-7-sonnet-20250219-v1:0": "Anthropic Claude 3.7 Sonnet V1",
    "anthropic.claude-3-haiku-20240307-v1:0": "Anthropic Claude 3 Haiku",
    "anthropic.claude-haiku-4-5-20251001-v1:0": "Anthropic Claude Haiku 4.5",
    "anthropic.claude-sonnet-4-20250514-v1:0": "Anthropic Claude Sonnet 4 V1",
    "meta.llama3-3-70b-instruct-v1:0": "Meta Llama 3.3 70B Instruct",
    "amazon.titan-embed-text-v2:0": "Amazon Titan Text Embeddings V2",
    "amazon.nova-lite-v1:0": "Amazon Nova Lite",
    "amazon.nova-pro-v1:0": "Amazon Nova Pro",
}
QUOTA_TPM, QUOTA_RPM = 2_000_000, 2_000     # the account's default quotas (far above the demo's traffic)
# (region, model id) whose tokens-per-minute quota is set just above its busiest minute: it peaks over 80%
TIGHT_QUOTA = (("us-east-1", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
               ("ap-northeast-2", "apac.anthropic.claude-sonnet-4-20250514-v1:0"))

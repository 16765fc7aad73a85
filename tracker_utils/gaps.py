"""The gap kinds: one table that every stage and page reads (order, labels, colour, what kind of gap it is).

A gap is one term of one of the two identities that hold for every model, date and region:

- usage:  CloudWatch - logs = late_delivery + logging_outage + missing_delivery + failed_calls + unexplained
- money:  billed - logs cost = (the cost of the usage gaps) + price_mismatch + unlogged_endpoint + unpriced_model
                               + scope + rounding + credit + refund + discount + batch + provisioned + unexplained

``billed`` is the net bill; ``credit``, ``refund`` and ``discount`` (negative) are what makes it differ from the
gross (list-price) bill, so the gross is ``billed - credit - refund - discount``.

``day_edge`` is sized but already in the logs. Each kind carries its sentences: ``per_model`` (a model's gap in
the report's tables) and ``per_day`` (all models together, in the verdict box). They are ``str.format`` templates
filled by :mod:`tracker_utils.reconcile.verdict` with these fields, already formatted:

- ``name`` the model's display name; ``n`` / ``abs_n`` / ``signed_n`` the invocations (``1,234`` / unsigned /
  ``+1,234``), and with their noun: ``invocations`` ("1 invocation", "12 invocations"), ``calls`` / ``abs_calls``
  ("1 call"); ``cost`` / ``abs_cost`` / ``neg_cost`` the cost in dollars; ``hrs`` / ``when`` " in 2 hours (14:00,
  15:00 UTC)" or ""; ``detail`` "; " and the model's notes, or ""; ``usage`` the signed usage and cost of an
  unexplained gap; ``tolerance`` " (within tolerance)" or "".
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GapKind:
    name: str
    label: str            # a phrase for sentences: "late log delivery"
    short: str            # a chart legend: "late logs"
    colour: str           # chart colour (hex)
    usage_gap: bool       # a term of the usage identity (CloudWatch - logs)
    in_logs: bool         # sized but already counted in the logs
    hours: bool           # its hours are worth naming in the day's verdict
    per_model: str        # sentence for one model's gap (see the fields above)
    per_day: str          # sentence for the day's gap of this kind, all models together


KINDS: tuple[GapKind, ...] = (
    GapKind("late_delivery", "late log delivery", "late logs", "#f0a030", True, False, True,
            "{invocations} of {name}{hrs} were delivered to the log bucket after the collection time; re-collect "
            "to include them ({cost})",
            "{calls}{when} reached the log bucket after the collection time: {cost}; collect again to include them"),
    GapKind("logging_outage", "a logging outage", "logging outage", "#d04040", True, False, True,
            "{invocations} of {name}{hrs} are counted by CloudWatch but missing from the logs, and the S3 "
            "log-delivery failure metric is non-zero then ({cost})",
            "{calls}{when} are counted by CloudWatch but missing from the logs (log delivery failed): {cost}"),
    GapKind("missing_delivery", "a missing log delivery", "missing delivery", "#e07060", True, False, True,
            "{invocations} of {name}{hrs} are counted by CloudWatch in hours with no log record at all ({cost}){detail}",
            "{calls}{when} are counted by CloudWatch in hours that have no log record at all, in their folder or "
            "later ones: a log delivery is missing ({cost}); re-collect later to tell a late batch from a lost one"),
    GapKind("failed_calls", "failed or throttled calls", "failed calls", "#9060c0", True, False, False,
            "{abs_calls} of {name}{hrs} failed or were throttled: they are in the logs with an errorCode; CloudWatch "
            "does not count them as invocations and they are not billed",
            "{abs_calls} failed or were throttled: they are in the logs, not counted by CloudWatch, not billed"),
    GapKind("day_edge", "records filed under the next day's folder", "day edge", "#a0a0a0", False, True, False,
            "{invocations} of {name} from the last minutes of the day were filed under the next day's first hour "
            "folder; they are counted here ({cost})",
            "{calls} from the last minutes of the day were filed in the next day's folder and are counted: {cost}"),
    GapKind("unpriced_model", "a model the price book does not know", "unpriced model", "#808080", False, False, False,
            "{name} has no price in the book: its logs and CloudWatch usage are priced at $0; billed {cost}{detail}",
            "{cost} billed for a model the price book does not know (priced at $0 in the logs)"),
    GapKind("price_mismatch", "a price the book has wrong", "price mismatch", "#c06080", False, False, False,
            "the bill for {name} differs from CloudWatch tokens at the book's price by {cost}{detail}",
            "{cost} difference between the bill and the price book's price"),
    GapKind("unlogged_endpoint", "usage that is never logged (batch, bedrock-mantle)", "batch / mantle", "#4090c0",
            False, False, False,
            "{cost} billed for {name} with no invocation logs or runtime metrics{detail}",
            "{cost} billed for usage that is never logged (batch jobs, bedrock-mantle)"),
    # batch jobs and provisioned throughput: cost lines of their own (not discrepancies), from the jobs' manifests and
    # the bill's model-unit hours; attributed to applications by the jobs and by token share on the provisioned model
    GapKind("batch", "batch inference jobs (from their manifests)", "batch jobs", "#2f7fb0", False, False, False,
            "{cost} billed for batch jobs of {name}, explained by the jobs' manifests{detail}",
            "{cost} billed for batch inference jobs, explained by their manifests"),
    GapKind("provisioned", "provisioned throughput (model-unit hours)", "provisioned", "#7a6fb0", False, False, False,
            "{cost} billed for provisioned throughput of {name} (model-unit hours, not per token){detail}",
            "{cost} billed for provisioned throughput (model-unit hours, split by token share on the model)"),
    GapKind("scope", "bill lines the bill query missed", "bill scope", "#60a060", False, False, False,
            "{neg_cost} of {name} usage is missing from the bill{detail}",
            "{abs_cost} of usage is missing from the bill query (Marketplace lines)"),
    GapKind("rounding", "bill rounding within the cost tolerance", "rounding", "#c0b040", False, False, False,
            "the bill for {name} differs from CloudWatch at the book's price by {cost}, within the cost "
            "tolerance{detail}",
            "{cost} between the bill and CloudWatch at the book's prices, within the cost tolerance"),
    # net and gross: the bill's own adjustments (Cost Explorer RECORD_TYPE, CUR line_item_line_item_type), sized from
    # their bill lines; the usage lines are compared with the book at list price (gross), these make the net
    GapKind("credit", "credits (promotional or support)", "credits", "#50b0a0", False, False, False,
            "credits reduce the bill for {name} by {neg_cost}: the usage lines are at list price, the net bill is "
            "lower{detail}",
            "{abs_cost} of credits (promotional or support) reduce the net bill; the usage is billed at list price"),
    GapKind("refund", "refunds", "refunds", "#70c070", False, False, False,
            "refunds reduce the bill for {name} by {neg_cost}{detail}",
            "{abs_cost} of refunds reduce the net bill"),
    GapKind("discount", "discounts (EDP, private pricing)", "discounts", "#3070a0", False, False, False,
            "discounts (EDP, private pricing) reduce the bill for {name} by {neg_cost}: the usage lines are at list "
            "price, the net bill is lower{detail}",
            "{abs_cost} of discounts (EDP, private pricing) reduce the net bill; the usage is billed at list price"),
    # an organization: Bedrock usage on the payer's bill of a member account whose logs are not configured
    # (not in ``accounts:``); sized from its bill lines, per date and region (tracker_utils.report.organization)
    GapKind("account_not_logged", "usage of an account with no logs configured", "account not logged", "#b07030",
            False, False, False,
            "{cost} billed to account {name}, which has no invocation logs configured{detail}",
            "{cost} billed to accounts with no invocation logs configured (add them to accounts: to see their use)"),
    GapKind("unexplained", "unexplained", "unexplained", "#202020", False, False, False,
            "unexplained for {name}: {usage}{tolerance}{detail}",
            "{cost} and {signed_n} calls are not explained by any known cause{tolerance}"),
)

BY_NAME = {k.name: k for k in KINDS}
ORDER = [k.name for k in KINDS]
USAGE_KINDS = tuple(k.name for k in KINDS if k.usage_gap)
TEXT = {k.name: k.label for k in KINDS}
SHORT = {k.name: k.short for k in KINDS}
COLOURS = {k.name: k.colour for k in KINDS}
ADJUSTMENT_KINDS = ("credit", "refund", "discount")      # net vs gross: terms of the bill, not differences
COST_LINE_KINDS = ("batch", "provisioned")               # cost lines of their own: terms of the bill, not differences


def kind(name: str) -> GapKind:
    """The kind called ``name``; a KeyError names the known kinds."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown gap kind {name!r}; known: {', '.join(ORDER)}") from None

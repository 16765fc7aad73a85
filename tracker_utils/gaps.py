"""The gap kinds: one table that every stage and page reads (order, labels, colour, what kind of gap it is).

A gap is one term of one of the two identities that hold for every model, date and region:

- usage:  CloudWatch - logs = late_delivery + logging_outage + failed_calls + unexplained
- money:  billed - logs cost = (the cost of the usage gaps) + price_mismatch + unlogged_endpoint + unpriced_model
                               + scope + rounding + unexplained

``day_edge`` is sized but already in the logs. The per-model and per-day sentences that use a gap's sizes are
written in :mod:`tracker_utils.reconcile.verdict`; the plain phrase of each kind (``text``) lives here.
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


KINDS: tuple[GapKind, ...] = (
    GapKind("late_delivery", "late log delivery", "late logs", "#f0a030", True, False, True),
    GapKind("logging_outage", "a logging outage", "logging outage", "#d04040", True, False, True),
    GapKind("failed_calls", "failed or throttled calls", "failed calls", "#9060c0", True, False, False),
    GapKind("day_edge", "records filed under the next day's folder", "day edge", "#a0a0a0", False, True, False),
    GapKind("unpriced_model", "a model the price book does not know", "unpriced model", "#808080", False, False, False),
    GapKind("price_mismatch", "a price the book has wrong", "price mismatch", "#c06080", False, False, False),
    GapKind("unlogged_endpoint", "usage that is never logged (batch, bedrock-mantle)", "batch / mantle", "#4090c0",
            False, False, False),
    GapKind("scope", "bill lines the bill query missed", "bill scope", "#60a060", False, False, False),
    GapKind("rounding", "bill rounding within the cost tolerance", "rounding", "#c0b040", False, False, False),
    GapKind("unexplained", "unexplained", "unexplained", "#202020", False, False, False),
)

BY_NAME = {k.name: k for k in KINDS}
ORDER = [k.name for k in KINDS]
USAGE_KINDS = tuple(k.name for k in KINDS if k.usage_gap)
TEXT = {k.name: k.label for k in KINDS}
SHORT = {k.name: k.short for k in KINDS}
COLOURS = {k.name: k.colour for k in KINDS}


def kind(name: str) -> GapKind:
    """The kind called ``name``; a KeyError names the known kinds."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown gap kind {name!r}; known: {', '.join(ORDER)}") from None

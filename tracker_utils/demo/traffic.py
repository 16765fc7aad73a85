"""The invocations that really happened: a seeded, deterministic list of ``Inv`` for every region and day.

In: a ``DemoSpec`` and the price book (to resolve each model id's scope and base model).
Out: ``generate(spec, book)``, the sorted list of invocations with delivery times and the injected discrepancies
(late delivery, logging outage, failed calls, one large body per region and day) already applied.
"""
from __future__ import annotations

import datetime as dt
import random
import uuid

from tracker_utils.demo.spec import CACHE_MODELS, LATENCY_OPTIMIZED, SERVED_BY, UNKNOWN_MODEL, DemoSpec, Inv, _apps
from tracker_utils.apps import UNATTRIBUTED
from tracker_utils.price.book import PriceBook


def _tokens(rng: random.Random, profile: str, model_id: str) -> tuple[int, int, int, int]:
    def ln(mu, sigma, lo=1):
        return max(lo, int(rng.lognormvariate(mu, sigma)))
    if profile == "embed":
        return ln(5.3, 0.6), 0, 0, 0
    if profile == "short":
        inp, out = ln(5.5, 0.5), ln(4.0, 0.6)
    elif profile == "code":
        inp, out = ln(7.0, 0.6), ln(5.5, 0.6)
    elif profile == "doc":
        inp, out = ln(7.4, 0.7), ln(5.2, 0.5)
    else:
        inp, out = ln(6.2, 0.8), ln(5.3, 0.7)
    cr = cw = 0
    if profile == "chat" and any(m in model_id for m in CACHE_MODELS):
        r = rng.random()
        if r < 0.55:
            cr = ln(7.6, 0.3)
        elif r < 0.65:
            cw = ln(7.5, 0.3)
    return inp, out, cr, cw


def _scope_and_base(model_id: str, book: PriceBook, region: str) -> tuple[str, str]:
    if model_id.endswith(UNKNOWN_MODEL):
        return ("global" if model_id.startswith("global.") else "in_region"), UNKNOWN_MODEL
    r = book.resolve(model_id, region)
    return r.scope, r.base_model


def _hour_weights() -> list[float]:
    import math
    return [1.0 + 0.85 * math.sin((h - 8) / 24 * 2 * math.pi) for h in range(24)]


def _ceil5(t: dt.datetime) -> dt.datetime:
    t2 = t.replace(second=0, microsecond=0)
    add = (5 - t2.minute % 5) % 5
    if add == 0 and t > t2:
        add = 5
    return t2 + dt.timedelta(minutes=add)


def _calls_that_day(spec: DemoSpec, region: str, di: int) -> int:
    """Invocations on day ``di`` in ``region``: ``per_day`` (half outside us-east-1) times a weekday factor."""
    return int(spec.per_day * (1.0 if region == "us-east-1" else 0.5) * (1.0, 1.15, 0.9, 1.05, 1.0, 0.6, 0.5)[di % 7])


def _invocation(rng: random.Random, spec: DemoSpec, book: PriceBook, region: str, di: int, d0: dt.datetime,
                apps: list, app_w: list, sessions: dict, weights: list[float]) -> Inv:
    """One call on day ``di`` (starting ``d0``): hour, app, caller, model, tokens, served-by region, error, delivery."""
    h = rng.choices(range(24), weights)[0]
    ts = d0 + dt.timedelta(hours=h, seconds=rng.randrange(3600))
    app = rng.choices(apps, app_w)[0]
    name, kind, pname = app[0], app[2], app[3]
    if kind == "role":
        arn = f"arn:aws:sts::{spec.account}:assumed-role/{pname}/{rng.choice(sessions[pname])}"
    else:
        arn = f"arn:aws:iam::{spec.account}:user/{pname}"
    model_id, _, ops = rng.choices(app[5], [m[1] for m in app[5]])[0]
    scope, base = _scope_and_base(model_id, book, region)
    i, o, cr, cw = _tokens(rng, app[6], model_id)
    op = rng.choice(ops)
    inv = Inv(ts=ts, region=region, model_id=model_id, base_model=base, scope=scope, app=name, arn=arn,
              operation=op, input_tokens=i, output_tokens=o, cache_read_tokens=cr, cache_write_tokens=cw,
              request_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
              metadata=dict(app[7]) if app[7] else None)
    if name == UNATTRIBUTED:                 # no rule: the kit names the usage after its principal
        inv.app = f"{kind}:{pname}"
    if kind == "role" and pname == "SharedPlatform-BedrockRole" and rng.random() < 0.03:
        inv.metadata, inv.app = None, f"role:{pname}"      # a caller that forgot its metadata: no rule matches
    pfx = model_id.split(".")[0]
    if scope in ("geo", "global"):
        inv.inference_region = rng.choice(SERVED_BY["global" if scope == "global" else pfx if pfx in SERVED_BY else "us"])
    r = rng.random()
    injected_hour = (region == "us-east-1" and di == 1 and h in (14, 15)) or (region != "us-east-1" and di == 0 and h == 9)
    if r < 0.012 and not injected_hour:
        inv.error = rng.choice(["ThrottlingException", "ThrottlingException", "ValidationException", "ModelErrorException"])
        inv.input_tokens = inv.output_tokens = inv.cache_read_tokens = inv.cache_write_tokens = 0
    inv.delivered = _ceil5(ts + dt.timedelta(seconds=rng.randrange(40, 540)))
    return inv


def _inject_late_delivery_and_outage(spec: DemoSpec, out: list[Inv]) -> None:
    """Late delivery (us-east-1, day 2, 14:00-15:00) and the logging outage (other regions, day 1, 09:00)."""
    dates = spec.dates
    for inv in out:
        hour = inv.ts.hour
        if inv.region == "us-east-1" and len(dates) > 1 and inv.day == dates[1] and hour in (14, 15) \
                and inv.model_id.startswith(("global.anthropic.claude-sonnet", "us.anthropic.claude-3-7", "amazon.titan")) \
                and int(inv.request_id[:2], 16) < 150:
            inv.late = True   # delivered after the collection (1 h after the day) but before the window closes
            nxt = dt.datetime.combine(inv.ts.date() + dt.timedelta(days=1), dt.time(0), tzinfo=dt.timezone.utc)
            inv.delivered = nxt + dt.timedelta(hours=spec.as_of_hours, minutes=25 + 5 * (hour - 14) + int(inv.request_id[2], 16) % 3 * 5)
        if inv.region != "us-east-1" and inv.day == dates[0] and hour == 9:
            inv.delivered = None   # logging outage: never delivered


def _latency_optimized(out: list[Inv]) -> None:
    """A share of one application's calls, chosen by request id (no random draw: the rest of the demo is unchanged),
    sent to the latency-optimized tier of another model (see ``spec.LATENCY_OPTIMIZED``)."""
    lo = LATENCY_OPTIMIZED
    for inv in out:
        if inv.region == "us-east-1" and inv.app == lo["app"] and inv.model_id == lo["from"] \
                and inv.request_id.startswith(lo["ids"]):
            inv.model_id = inv.base_model = lo["to"]
            inv.scope, inv.inference_region, inv.latency = "in_region", None, "optimized"


def _mark_large_bodies(out: list[Inv]) -> None:
    """One large request per region and day: its body goes to the data/ sidecar."""
    seen = set()
    for inv in out:
        k = (inv.region, inv.day)
        if k not in seen and inv.error is None and inv.delivered is not None and not inv.late and inv.ts.hour == 12 \
                and inv.model_id.startswith(("us.anthropic", "apac.anthropic", "global.anthropic.claude-sonnet")):
            seen.add(k)
            inv.large = True


def generate(spec: DemoSpec, book: PriceBook) -> list[Inv]:
    """Every invocation in every region and day, sorted by (region, time, request id), with the injections applied."""
    rng = random.Random(spec.seed)
    weights = _hour_weights()
    out: list[Inv] = []
    for region in spec.regions:
        apps = _apps(region, spec.account)
        app_w = [a[1] for a in apps]
        sessions = {a[3]: [f"{a[3].split('-')[0].lower()}-{rng.getrandbits(32):08x}" for _ in range(a[4])] for a in apps}
        for di, day in enumerate(spec.dates):
            d0 = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=dt.timezone.utc)
            n = _calls_that_day(spec, region, di)
            for _ in range(n):
                out.append(_invocation(rng, spec, book, region, di, d0, apps, app_w, sessions, weights))
    out.sort(key=lambda x: (x.region, x.ts, x.request_id))
    # injections -------------------------------------------------------------------------------------------
    _latency_optimized(out)
    _inject_late_delivery_and_outage(spec, out)
    _mark_large_bodies(out)
    return out

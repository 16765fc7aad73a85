"""One log record: the schema of a good record, and the reasons a line is not one.

In: a parsed JSON line. Out: a tuple of ids, times and counts (prompts and responses are dropped here), or a
:class:`_Bad` with the quarantine kind and a reason that never quotes a body.
"""
from __future__ import annotations

import datetime as dt
import re

import msgspec
import orjson

from tracker_utils.schema import TOKENS, TTL_COLUMNS

OPERATIONS = {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"}
SCHEMA_VERSIONS = {"1.0"}
SCHEMA_TYPE = "ModelInvocationLog"

COLUMNS = ["request_id", "timestamp", "operation", "model_id", "principal", "region", "inference_region",
           "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "error_code", "latency",
           "request_metadata", "file", "line", "delivered_at", *TTL_COLUMNS, "service_tier"]
INT_COLUMNS = [*TOKENS, "line", *TTL_COLUMNS]
QUARANTINE_COLUMNS = ["kind", "file", "line", "request_id", "reason"]
# string columns with few distinct values: dictionary-encoded from the parser to the parquet file
DICT_COLUMNS = ["operation", "model_id", "principal", "region", "inference_region", "error_code", "latency",
                "request_metadata", "service_tier"]
# the service tier a record names (top-level ``serviceTier``: a string, or an object with ``type``); "" when absent.
# Any tier-like name is kept as written: the price stage prices the ones the book knows and names the others.

I64_MAX = (1 << 63) - 1
MAX_TOKENS = 10_000_000           # default max_tokens_per_record: above this a count is implausible, never summed
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_US = dt.timedelta(microseconds=1)
_MIN_US, _MAX_US = -(I64_MAX // 1000), I64_MAX // 1000   # what datetime64[ns] can hold
_SAFE = re.compile(r"[A-Za-z0-9._:/@+=,-]{1,64}")
_TIER = re.compile(r"[A-Za-z0-9_-]{1,32}")
_RID = re.compile(rb'"requestId"\s*:\s*"([A-Za-z0-9._:-]{1,64})"')


def ns(t: dt.datetime) -> int:
    """A time as nanoseconds since the epoch (naive times are UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return ((t - EPOCH) // _US) * 1000


class StrictError(RuntimeError):
    """Raised in strict mode at the first bad record or file."""


# --- one record ---------------------------------------------------------------------------------------------------
class _Bad(Exception):
    def __init__(self, kind: str, reason: str):
        self.kind, self.reason = kind, reason


def _show(v) -> str:
    """A value for a reason text: numbers and short id-like strings as they are, anything else by type only (a
    misplaced prompt must not reach the quarantine file)."""
    if v is None or isinstance(v, (bool, int, float)):
        return repr(v)
    if isinstance(v, str):
        return repr(v) if _SAFE.fullmatch(v) else f"<text of {len(v)} characters>"
    return f"<{type(v).__name__}>"


def _count(v, name: str, required: bool, max_tokens: int = MAX_TOKENS) -> int:
    """A token count: an integer from 0 to ``max_tokens`` (a JSON float with an integer value is one)."""
    if v is None:
        if required:
            raise _Bad("missing_token_counts", f"{name} is missing")
        return 0
    if type(v) is float and v.is_integer():
        v = int(v)
    if type(v) is int:
        if v < 0:
            raise _Bad("bad_token_count", f"{name} is negative: {v}")
        if v > max_tokens:
            shown = f"{v:,}" if v < 10**30 else f"{v:.3e}"
            raise _Bad("implausible_token_count",
                       f"{name} is {shown}, above max_tokens_per_record ({max_tokens:,})")
        return v
    if isinstance(v, float) and v < 0:
        raise _Bad("bad_token_count", f"{name} is negative: {v}")
    raise _Bad("bad_token_count", f"{name} is not an integer: {_show(v)}")


def _ts_ns(ts) -> int:
    if type(ts) is not str:
        raise _Bad("bad_timestamp", f"timestamp {_show(ts)}")
    try:
        t = dt.datetime.fromisoformat(ts)
    except ValueError:
        raise _Bad("bad_timestamp", f"timestamp {_show(ts)}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    us = (t - EPOCH) // _US
    if not _MIN_US <= us <= _MAX_US:
        raise _Bad("bad_timestamp", f"timestamp {_show(ts)} is out of range")
    return us * 1000


def _opt_str(v, name: str) -> str:
    if v is None:
        return ""
    if type(v) is str:
        return v
    raise _Bad("bad_field", f"{name} is not a string: {_show(v)}")


def _record(r, tcache: dict, line: int, max_tokens: int = MAX_TOKENS) -> tuple:
    """A parsed line to (request_id, ts_ns, the first 8 ``DICT_COLUMNS`` values, 4 counts, line, 1h cache writes,
    TTL assumed (0/1), service tier), or :class:`_Bad`. The one definition of a good record."""
    if type(r) is not dict:
        raise _Bad("invalid_json", "line is not a JSON object")
    get = r.get
    st = get("schemaType", SCHEMA_TYPE)
    if st != SCHEMA_TYPE:
        raise _Bad("unknown_schema", f"schemaType {_show(st)}")
    sv = get("schemaVersion", "1.0")
    if sv != "1.0" and (isinstance(sv, (dict, list)) or str(sv) not in SCHEMA_VERSIONS):
        raise _Bad("unknown_schema_version", f"schemaVersion {_show(sv)}")
    rid = get("requestId")
    if type(rid) is not str or not rid:
        raise _Bad("missing_field", "requestId is missing")
    op = get("operation")
    if type(op) is not str or op not in OPERATIONS:
        raise _Bad("unknown_operation", f"operation {_show(op)}")
    model_id = get("modelId")
    if type(model_id) is not str or not model_id:
        raise _Bad("missing_field", "modelId is missing")
    ts = get("timestamp")
    t = tcache.get(ts) if type(ts) is str else None
    if t is None:
        t = _ts_ns(ts)
        tcache[ts] = t
    inp, out = get("input") or {}, get("output") or {}
    if type(inp) is not dict or type(out) is not dict:
        raise _Bad("missing_token_counts", "input/output is not an object")
    it = inp.get("inputTokenCount")
    if type(it) is not int or not 0 <= it <= max_tokens:
        it = _count(it, "inputTokenCount", True, max_tokens)
    ot = out.get("outputTokenCount")
    if type(ot) is not int or not 0 <= ot <= max_tokens:
        ot = _count(ot, "outputTokenCount", True, max_tokens)
    cr = inp.get("cacheReadInputTokenCount")
    if cr is None:                      # the other spelling (LiteLLM PR #31693): both are accepted
        cr = inp.get("cacheReadInputTokens", 0)
    if type(cr) is not int or not 0 <= cr <= max_tokens:
        cr = _count(cr, "cacheReadInputTokenCount", False, max_tokens)
    cw = inp.get("cacheWriteInputTokenCount")
    if cw is None:
        cw = inp.get("cacheWriteInputTokens", 0)
    if type(cw) is not int or not 0 <= cw <= max_tokens:
        cw = _count(cw, "cacheWriteInputTokenCount", False, max_tokens)
    w1h, assumed = (0, 0) if not cw else _ttl_split(out.get("outputBodyJson"), cw)
    return (rid, t, op, model_id, *_context(get), it, ot, cr, cw, line, w1h, assumed,
            _service_tier(get("serviceTier")))


def _service_tier(v) -> str:
    """``serviceTier`` as a tier name: the string, or the object's ``type`` ("" when absent or null). Anything else,
    or a value that does not look like a name, is a bad field (never quoted: it could be text)."""
    if type(v) is dict:
        v = v.get("type")
        name = "serviceTier.type"
    else:
        name = "serviceTier"
    if v is None:
        return ""
    if type(v) is not str:
        raise _Bad("bad_field", f"{name} is not a string: {_show(v)}")
    if v and not _TIER.fullmatch(v):
        raise _Bad("bad_field", f"{name} is not a tier name: {_show(v)}")
    return v


def _tokens(v) -> int | None:
    """A count inside a response body: an integer >= 0, else None (a body oddity never rejects the record)."""
    if type(v) is float and v.is_integer():
        v = int(v)
    return v if type(v) is int and v >= 0 else None


def _usage_with_ttl(body):
    """The usage block of a response body that carries a TTL split, or None. Converse: ``usage``; ConverseStream:
    the final ``metadata`` event's ``usage``; Anthropic InvokeModel: ``usage``; its stream: the last event with a
    ``usage`` (``message_delta``) or ``message.usage`` (``message_start``) that has ``cache_creation``. Only the
    last three events and the first are looked at: the usage is there, and the work does not grow with the stream."""
    if type(body) is dict:
        u = body.get("usage")
        return u if type(u) is dict and ("cacheDetails" in u or "cache_creation" in u) else None
    if type(body) is not list or not body:
        return None
    for ev in (*body[:-4:-1], body[0]) if len(body) > 3 else body[::-1]:
        if type(ev) is not dict:
            continue
        for holder in (ev.get("metadata"), ev, ev.get("message")):
            u = holder.get("usage") if type(holder) is dict else None
            if type(u) is dict and ("cacheDetails" in u or "cache_creation" in u):
                return u
    return None


def _ttl_split(body, cw: int) -> tuple[int, int]:
    """(1-hour cache-write tokens, 1 if the TTL is assumed) for a record with ``cw`` cache-write tokens.

    The top-level count is the total; the body only says how much of it is 1h. No detail, a sidecar body, or a detail
    that does not fit the total (unreadable counts, more 1h tokens than written): priced as 5m, counted as assumed."""
    u = _usage_with_ttl(body)
    if u is None:
        return 0, 1
    details = u.get("cacheDetails")
    if type(details) is list:
        h = 0
        for d in details:
            if type(d) is not dict:
                return 0, 1
            n = _tokens(d.get("inputTokens"))
            if n is None:
                return 0, 1
            if d.get("ttl") == "1h":
                h += n
    else:
        cc = u.get("cache_creation")
        h = _tokens(cc.get("ephemeral_1h_input_tokens", 0)) if type(cc) is dict else None
    if h is None or h > cw:
        return 0, 1
    return h, 0


def _context(get) -> tuple[str, str, str, str, str, str]:
    """The optional string fields of a record: principal, region, inference region, error, latency, metadata."""
    ident = get("identity")
    if type(ident) is dict:
        arn = ident.get("arn")
        if type(arn) is not str:
            arn = _opt_str(arn, "identity.arn")
    elif ident is None:
        arn = ""
    else:
        raise _Bad("bad_field", f"identity is not an object: {_show(ident)}")
    region = get("region")
    if type(region) is not str:
        region = _opt_str(region, "region")
    infreg = get("inferenceRegion")
    if type(infreg) is not str:
        infreg = _opt_str(infreg, "inferenceRegion")
    err = get("errorCode")
    if type(err) is not str:
        err = _opt_str(err, "errorCode")
    perf = get("performanceConfig")
    if perf is None:
        latency = ""
    elif type(perf) is dict:
        latency = _opt_str(perf.get("latency"), "performanceConfig.latency")
    else:
        raise _Bad("bad_field", f"performanceConfig is not an object: {_show(perf)}")
    meta = get("requestMetadata")
    if meta is None:
        meta_s = ""
    elif type(meta) is dict:
        meta_s = orjson.dumps(meta, option=orjson.OPT_SORT_KEYS).decode() if meta else ""
    else:
        raise _Bad("bad_field", f"requestMetadata is not an object: {_show(meta)}")
    return arn, region, infreg, err, latency, meta_s


# --- the fast path: typed decoding of the envelope only -------------------------------------------------------------
# msgspec decodes just the fields below and skips everything else (the prompt and response bodies) without building
# it; the response body is kept as raw bytes and parsed only when the record wrote to the cache. A line the fast path
# cannot take whole (any missing or odd field, malformed JSON) goes through ``orjson.loads`` and :func:`_record`, so
# every bad line keeps its exact reason. Bytes the kit never reads (the bodies) are checked for JSON syntax, not for
# UTF-8: a good envelope around a damaged prompt is a counted record.
class _In(msgspec.Struct, gc=False):
    inputTokenCount: int = -1
    cacheReadInputTokenCount: int | None = None
    cacheReadInputTokens: int | None = None
    cacheWriteInputTokenCount: int | None = None
    cacheWriteInputTokens: int | None = None


class _Out(msgspec.Struct, gc=False):
    outputTokenCount: int = -1
    outputBodyJson: msgspec.Raw = msgspec.Raw(b"")


class _Ident(msgspec.Struct, gc=False):
    arn: str | None = None


class _Perf(msgspec.Struct, gc=False):
    latency: str | None = None


class _Tier(msgspec.Struct, gc=False):
    type: str | None = None


class _Envelope(msgspec.Struct, gc=False):
    schemaType: str = SCHEMA_TYPE
    schemaVersion: str = "1.0"
    requestId: str = ""
    operation: str = ""
    modelId: str = ""
    timestamp: str = ""
    input: _In | None = None
    output: _Out | None = None
    identity: _Ident | None = None
    region: str | None = None
    inferenceRegion: str | None = None
    errorCode: str | None = None
    performanceConfig: _Perf | None = None
    requestMetadata: msgspec.Raw = msgspec.Raw(b"")
    serviceTier: str | _Tier | None = None


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
DecodeError = msgspec.DecodeError


def _fast_record(raw, tcache: dict, line: int, max_tokens: int = MAX_TOKENS) -> tuple | None:
    """What :func:`_record` returns for a well-formed line, decoded without its bodies; None for any line that is
    not plainly good (the caller then takes the exact path)."""
    try:
        e = _decode_envelope(raw)
    except DecodeError:
        return None
    inp, out = e.input, e.output
    if (inp is None or out is None or e.schemaType != SCHEMA_TYPE or e.schemaVersion not in SCHEMA_VERSIONS
            or not e.requestId or e.operation not in OPERATIONS or not e.modelId):
        return None
    it, ot = inp.inputTokenCount, out.outputTokenCount
    cr = inp.cacheReadInputTokenCount
    if cr is None:
        cr = inp.cacheReadInputTokens or 0
    cw = inp.cacheWriteInputTokenCount
    if cw is None:
        cw = inp.cacheWriteInputTokens or 0
    if not (0 <= it <= max_tokens and 0 <= ot <= max_tokens and 0 <= cr <= max_tokens and 0 <= cw <= max_tokens):
        return None
    ts = e.timestamp
    t = tcache.get(ts)
    if t is None:
        try:
            t = _ts_ns(ts)
        except _Bad:
            return None
        tcache[ts] = t
    w1h, assumed = (0, 0) if not cw else _ttl_split(_body(out.outputBodyJson), cw)
    meta = e.requestMetadata
    if meta:
        key = bytes(meta)                # bytes keys beside the str keys of the times: the two never collide
        meta = tcache.get(key)
        if meta is None:
            meta = tcache[key] = _metadata(key)
        if meta is False:
            return None
    else:
        meta = ""
    tier = e.serviceTier
    if tier is None:
        tier = ""
    elif type(tier) is not str:
        tier = tier.type or ""
    if tier and not _TIER.fullmatch(tier):
        return None                      # the exact path gives the reason
    ident, perf = e.identity, e.performanceConfig
    return (e.requestId, t, e.operation, e.modelId,
            (ident.arn or "") if ident is not None else "", e.region or "", e.inferenceRegion or "",
            e.errorCode or "", (perf.latency or "") if perf is not None else "", meta,
            it, ot, cr, cw, line, w1h, assumed, tier)


def _metadata(raw: bytes) -> str | bool:
    """``requestMetadata`` as the exact path writes it (keys sorted; "" when null or empty), False when it is not
    an object. Few distinct values repeat over a day, so the caller caches it by the raw bytes."""
    try:
        v = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    if v is None or v == {}:
        return ""
    if type(v) is not dict:
        return False
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()


def _body(raw: msgspec.Raw):
    """A response body kept raw by the fast path, parsed (None when absent or not readable)."""
    if not raw:
        return None
    try:
        return orjson.loads(memoryview(raw))
    except orjson.JSONDecodeError:
        return None


def _rid_of(raw, r=None) -> str:
    """The request id of a bad line, for the quarantine: only when it looks like an id."""
    if type(r) is dict:
        v = r.get("requestId")
        return v if type(v) is str and _SAFE.fullmatch(v) else ""
    m = _RID.search(bytes(raw[:4096]))
    return m.group(1).decode() if m else ""


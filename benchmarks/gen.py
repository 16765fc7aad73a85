"""A deterministic day of Bedrock invocation logs at realistic body sizes, laid out like the S3 bucket.

Fast by templating: records are byte templates filled with slices of a pre-built, JSON-escaped text corpus
(English-like words, Korean, code with quotes and newlines, and look-alike ``"inputTokenCount"`` text), so a million
records take about a minute on two cores, most of it gzip. The same ``--records`` and generator version always give
the same bytes (seeded per file), and a finished set is cached under ``.bench/`` with a ``done.json`` marker.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import zlib
from multiprocessing import Pool
from pathlib import Path

import numpy as np

GEN_VERSION = 3
ACCOUNT = "123456789012"
BUCKET = "bench-bedrock-logs"
PREFIX = "bedrock/invocation-logs"
REGION = "us-east-1"
DAY = dt.date(2026, 11, 2)
FILES = 200                 # files of the day; a few more hold neighbouring days' records
PROMPT_MEAN = 2600          # bytes of prompt text per record, lognormal
RESPONSE_MEAN = 1000        # bytes of response text per record, lognormal
SEED = 20261102


def base_key() -> str:
    return f"{PREFIX}/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/{REGION}"


# --- the text corpus -------------------------------------------------------------------------------------------
def _corpus(seed: int = SEED, size: int = 6_000_000) -> tuple[bytes, np.ndarray]:
    """JSON-escaped text (no surrounding quotes) and the positions of its spaces (safe cut points)."""
    rng = np.random.default_rng(seed)
    syll = ["ka", "lo", "mi", "ne", "tu", "ra", "si", "po", "an", "er", "in", "on", "st", "th", "ch", "re", "de", "ly",
            "ment", "tion", "ing", "ed", "co", "pro", "ex", "bill", "cost", "data", "run", "log"]
    vocab = []
    for _ in range(6000):
        k = int(rng.integers(1, 4))
        vocab.append("".join(syll[int(i)] for i in rng.integers(0, len(syll), k)))
    vocab += ["the", "a", "of", "to", "and", "is", "in", "for", "on", "with", "customer", "invoice", "refund", "model"]
    w = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    w /= w.sum()
    hangul = ["".join(chr(0xAC00 + int(c)) for c in rng.integers(0, 11172, int(rng.integers(1, 4)))) for _ in range(800)]
    code = [
        'def f(x):\\n    return x[\\"inputTokenCount\\"] + 1\\n',
        '{\\"inputTokenCount\\": 999, \\"outputTokenCount\\": 5, \\"requestId\\": \\"fake\\"}',
        'if (a \\u003c b) { printf(\\"%d\\\\n\\", a); }\\n',
        'path C:\\\\Users\\\\me\\\\file.txt\\t(copy)\\n',
        '\\"modelId\\":\\"amazon.fake\\",\\"timestamp\\":\\"1999-01-01T00:00:00Z\\"',
        'emoji \\ud83d\\ude00 and caf\\u00e9\\n',
    ]
    parts: list[str] = []
    n = 0
    words = rng.choice(len(vocab), size=size // 5, p=w)
    kinds = rng.random(size // 5)
    for wi, kind in zip(words.tolist(), kinds.tolist()):
        if kind < 0.015:
            s = hangul[wi % len(hangul)]
        elif kind < 0.018:
            s = code[wi % len(code)]
        elif kind < 0.06:
            s = vocab[wi] + "."
        elif kind < 0.07:
            s = vocab[wi] + "\\n"
        else:
            s = vocab[wi]
        parts.append(s)
        n += len(s) + 1
        if n >= size:
            break
    text = (" ".join(parts) + " ").encode("utf-8")
    spaces = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 32)
    return text, spaces


_CORPUS: tuple[bytes, np.ndarray] | None = None


def corpus() -> tuple[bytes, np.ndarray]:
    global _CORPUS
    if _CORPUS is None:
        _CORPUS = _corpus()
    return _CORPUS


# --- the account -----------------------------------------------------------------------------------------------
MODELS = [  # (model id, weight, operations, cache?)
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", 20, ("Converse", "ConverseStream"), True),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 10, ("ConverseStream", "InvokeModelWithResponseStream"), True),
    ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", 8, ("InvokeModel",), True),
    ("anthropic.claude-3-haiku-20240307-v1:0", 12, ("InvokeModel", "InvokeModelWithResponseStream"), False),
    ("us.anthropic.claude-haiku-4-5-20251001-v1:0", 10, ("Converse", "InvokeModel"), True),
    ("amazon.nova-lite-v1:0", 10, ("Converse",), False),
    ("us.meta.llama3-3-70b-instruct-v1:0", 6, ("Converse",), False),
    ("amazon.titan-embed-text-v2:0", 10, ("InvokeModel",), False),
    (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/a1b2c3d4e5f6", 8, ("Converse", "ConverseStream"), True),
    (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/global.anthropic.claude-opus-4-6-v1", 4,
     ("InvokeModelWithResponseStream",), True),
    ("openai.gpt-oss-120b-1:0", 2, ("Converse",), False),
]
ROLES = ["ChatbotProd-BedrockRole", "DocSummarizer-BedrockRole", "CodeReview-BedrockRole", "SearchIndexer-BedrockRole",
         "SharedLambda-BedrockRole", "SharedPlatform-BedrockRole", "Batch-Etl-Role", "Support-Agent-Role"]
USERS = ["alice", "bob.data", "carol", "dave@example.com"]
ERRORS = ["ThrottlingException", "ThrottlingException", "ValidationException", "ModelErrorException"]
SERVED = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "ap-northeast-1"]


def _principals(rng) -> list[bytes]:
    out = []
    for r in ROLES:
        for _ in range(40):
            out.append(f"arn:aws:sts::{ACCOUNT}:assumed-role/{r}/{r.split('-')[0].lower()}-{int(rng.integers(1 << 32)):08x}".encode())
    out += [f"arn:aws:iam::{ACCOUNT}:user/{u}".encode() for u in USERS]
    return out


def file_plan(n: int) -> list[dict]:
    """Which files exist: delivery time, folder, how many records and which day their timestamps fall in."""
    rng = np.random.default_rng(SEED)
    d0 = dt.datetime.combine(DAY, dt.time(0), tzinfo=dt.timezone.utc)
    weights = 1.0 + 0.8 * np.sin((np.arange(FILES) / FILES * 24 - 8) / 24 * 2 * np.pi)
    weights /= weights.sum()
    counts = np.floor(weights * n).astype(int)
    counts[: n - counts.sum()] += 1
    plan = []
    span = 86400 / FILES
    for k in range(FILES):
        start = d0 + dt.timedelta(seconds=k * span)
        delivered = start + dt.timedelta(seconds=span + 120 + int(rng.integers(0, 180)))
        plan.append({"k": k, "t0": start.timestamp(), "span": span, "records": int(counts[k]), "delivered": delivered})
    # neighbours: yesterday's stragglers in today's first folder, tomorrow's records in the window after the day
    extra = max(1, n // 2000)
    plan.append({"k": FILES, "t0": (d0 - dt.timedelta(seconds=300)).timestamp(), "span": 290, "records": extra,
                 "delivered": d0 + dt.timedelta(seconds=200)})
    plan.append({"k": FILES + 1, "t0": (d0 + dt.timedelta(days=1, minutes=20)).timestamp(), "span": 600, "records": extra,
                 "delivered": d0 + dt.timedelta(days=1, minutes=35)})
    for p in plan:
        w = p["delivered"]
        p["key"] = f"{base_key()}/{w:%Y/%m/%d/%H}/{w:%Y%m%dT%H%M%S}Z_{int(rng.integers(1 << 62)):016x}.json.gz"
    return plan


def _uuid(b: bytes) -> bytes:
    h = bytearray(b)
    h[6] = (h[6] & 0x0F) | 0x40
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}".encode()


def _records(p: dict, text: bytes, spaces: np.ndarray) -> list[bytes]:
    n = p["records"]
    rng = np.random.default_rng([SEED, p["k"]])
    principals = _principals(np.random.default_rng(SEED + 7))
    mw = np.array([m[1] for m in MODELS], dtype=float)
    mi = rng.choice(len(MODELS), size=n, p=mw / mw.sum())
    ts = np.sort(p["t0"] + rng.random(n) * p["span"]).astype(np.int64)
    pi = rng.integers(0, len(principals), n)
    pm, rm = p.get("prompt_mean", PROMPT_MEAN), p.get("response_mean", RESPONSE_MEAN)
    plen = np.clip(rng.lognormal(np.log(pm) - 0.32, 0.8, n), min(40, pm), 90_000).astype(np.int64)
    rlen = np.clip(rng.lognormal(np.log(rm) - 0.32, 0.8, n), 10, 60_000).astype(np.int64)
    pstart = rng.integers(0, len(spaces) - 40_000, n)
    rstart = rng.integers(0, len(spaces) - 40_000, n)
    u = rng.random((n, 8))
    ids = rng.bytes(16 * n)
    tok_in = (plen // 4 + 5).tolist()
    tok_out = (rlen // 4 + 1).tolist()
    out = []
    for i in range(n):
        model, _, ops, cache = MODELS[mi[i]]
        op = ops[int(u[i, 0] * len(ops))]
        a = int(spaces[pstart[i]]) + 1
        b = int(spaces[np.searchsorted(spaces, a + plen[i])])
        prompt = text[a:b]
        a = int(spaces[rstart[i]]) + 1
        b = int(spaces[np.searchsorted(spaces, a + rlen[i])])
        resp = text[a:b]
        t = dt.datetime.fromtimestamp(int(ts[i]), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        rid = _uuid(ids[16 * i:16 * i + 16])
        it, ot = tok_in[i], tok_out[i]
        cr = cw = 0
        if cache and u[i, 1] < 0.5:
            cr = int(2000 + u[i, 2] * 30000)
        elif cache and u[i, 1] < 0.6:
            cw = int(1000 + u[i, 2] * 20000)
        err = u[i, 3] < 0.01
        if err:
            it = ot = cr = cw = 0
        embed = model.startswith("amazon.titan-embed")
        if embed:
            if len(prompt) > 600:
                prompt = prompt[:max(0, prompt.rfind(b" ", 0, 600))]   # a space is never inside an escape
            ot, cr, cw = 0, 0, 0
            ibody = b'{"inputText":"' + prompt + b'","dimensions":256,"normalize":true}'
            emb = ",".join(f"{x:.6f}" for x in (u[i, 4:8].tolist() * 16)).encode()
            obody = b'{"embedding":[' + emb + b'],"inputTextTokenCount":' + str(it).encode() + b'}'
        elif op.startswith("Converse"):
            tools = b""
            if u[i, 5] < 0.1:   # a tool schema with a look-alike key as a real key in the request body
                tools = (b',"toolConfig":{"tools":[{"toolSpec":{"name":"meter","inputSchema":{"json":{"type":"object",'
                         b'"properties":{"inputTokenCount":{"type":"integer"},"outputTokenCount":{"type":"integer"}}}}}}]}')
            ibody = (b'{"messages":[{"role":"user","content":[{"text":"' + prompt + b'"}]}],"system":[{"text":"You are a '
                     b'helpful assistant."}],"inferenceConfig":{"maxTokens":2048,"temperature":0.5}' + tools + b'}')
            usage = (b'{"inputTokens":%d,"outputTokens":%d,"totalTokens":%d,"cacheReadInputTokens":%d,'
                     b'"cacheWriteInputTokens":%d}' % (it, ot, it + ot + cr + cw, cr, cw))
            if op == "Converse":
                obody = (b'{"output":{"message":{"role":"assistant","content":[{"text":"' + resp + b'"}]}},'
                         b'"stopReason":"end_turn","metrics":{"latencyMs":%d},"usage":' % int(300 + u[i, 6] * 5000) + usage + b'}')
            else:
                cut = resp.rfind(b" ", 0, len(resp) // 2) + 1
                obody = (b'[{"messageStart":{"role":"assistant"}},{"contentBlockDelta":{"delta":{"text":"' + resp[:cut]
                         + b'"},"contentBlockIndex":0}},{"contentBlockDelta":{"delta":{"text":"' + resp[cut:]
                         + b'"},"contentBlockIndex":0}},{"contentBlockStop":{"contentBlockIndex":0}},'
                         b'{"messageStop":{"stopReason":"end_turn"}},{"metadata":{"usage":' + usage
                         + b',"metrics":{"latencyMs":%d}}}]' % int(300 + u[i, 6] * 5000))
        else:
            ibody = (b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":2000,"messages":[{"role":"user","content":"'
                     + prompt + b'"}]}')
            if op == "InvokeModel":
                obody = (b'{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude","content":[{"type":"text",'
                         b'"text":"' + resp + b'"}],"stop_reason":"end_turn","usage":{"input_tokens":%d,"output_tokens":%d,'
                         b'"cache_read_input_tokens":%d,"cache_creation_input_tokens":%d}}' % (it, ot, cr, cw))
            else:
                cut = resp.rfind(b" ", 0, len(resp) // 2) + 1
                obody = (b'[{"type":"message_start","message":{"role":"assistant"}},{"type":"content_block_delta","index":0,'
                         b'"delta":{"type":"text_delta","text":"' + resp[:cut] + b'"}},{"type":"content_block_delta","index":0,'
                         b'"delta":{"type":"text_delta","text":"' + resp[cut:] + b'"}},{"type":"message_stop",'
                         b'"amazon-bedrock-invocationMetrics":{"inputTokenCount":%d,"outputTokenCount":%d,"invocationLatency":%d,'
                         b'"firstByteLatency":%d,"cacheReadInputTokenCount":%d,"cacheWriteInputTokenCount":%d}}]'
                         % (it, ot, int(500 + u[i, 6] * 9000), int(100 + u[i, 6] * 900), cr, cw))
        if u[i, 7] < 0.001:
            inp = (b'{"inputContentType":"application/json","inputBodyS3Path":"s3://' + BUCKET.encode() + b'/'
                   + base_key().encode() + b'/data/' + rid + b'_input.json.gz","inputTokenCount":%d,'
                   b'"cacheReadInputTokenCount":%d,"cacheWriteInputTokenCount":%d}' % (it, cr, cw))
        else:
            inp = (b'{"inputContentType":"application/json","inputBodyJson":' + ibody + b',"inputTokenCount":%d,'
                   b'"cacheReadInputTokenCount":%d,"cacheWriteInputTokenCount":%d}' % (it, cr, cw))
        if err:
            outp = b'{"outputContentType":"application/json","outputTokenCount":0}'
        else:
            outp = b'{"outputContentType":"application/json","outputBodyJson":' + obody + b',"outputTokenCount":%d}' % ot
        arn = principals[pi[i]]
        extra = b""
        if err:
            extra += b',"errorCode":"' + ERRORS[int(u[i, 4] * 4)].encode() + b'"'
        if model.startswith(("global.", "us.")) or "inference-profile" in model:
            extra += b',"inferenceRegion":"' + SERVED[int(u[i, 5] * 5)].encode() + b'"'
        if u[i, 6] < 0.2:
            extra += b',"requestMetadata":{"project":"p%d","team":"t%d"}' % (int(u[i, 6] * 50), int(u[i, 6] * 20))
        if u[i, 6] > 0.98:
            extra += b',"performanceConfig":{"latency":"optimized"}'
        core = (b'"timestamp":"' + t + b'","accountId":"' + ACCOUNT.encode() + b'","region":"us-east-1","requestId":"'
                + rid + b'","operation":"' + op.encode() + b'","modelId":"' + model.encode() + b'"')
        ident = b'"identity":{"arn":"' + arn + b'"}'
        head = b'"schemaType":"ModelInvocationLog","schemaVersion":"1.0"'
        if p["k"] % 2:   # 2026 order: timestamp first, identity and schema last
            rec = b'{' + core + b',"input":' + inp + b',"output":' + outp + extra + b',' + ident + b',' + head + b'}'
        else:            # 2024 order: schema first
            rec = b'{' + head + b',' + core[:core.find(b',"region"')] + b',' + ident + core[core.find(b',"region"'):] \
                  + b',"input":' + inp + b',"output":' + outp + extra + b'}'
        out.append(rec)
    if p["k"] == 7 and n > 3:      # a re-delivered record: same requestId twice in the day
        out.append(out[1])
    return out


def _write_file(args) -> tuple[str, int, int, int]:
    root, p = args
    text, spaces = corpus()
    lines = _records(p, text, spaces)
    raw = b"\n".join(lines) + b"\n"
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    gz = c.compress(raw) + c.flush()
    path = Path(root) / p["key"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gz)
    ts = p["delivered"].timestamp()
    os.utime(tmp, (ts, ts))
    os.replace(tmp, path)
    return p["key"], len(lines), len(raw), len(gz)


def ensure(root: Path, n: int, log=print, prompt_mean: int = PROMPT_MEAN, response_mean: int = RESPONSE_MEAN) -> dict:
    """The data set for ``n`` records under ``root`` (built once, then reused). Returns its description."""
    root = Path(root)
    done = root / "done.json"
    if done.exists():
        info = json.loads(done.read_text())
        if info.get("version") == GEN_VERSION and info.get("records_requested") == n and \
                info.get("prompt_mean", PROMPT_MEAN) == prompt_mean and \
                info.get("response_mean", RESPONSE_MEAN) == response_mean:
            return info
    import shutil
    if root.exists():
        shutil.rmtree(root)
    s3 = root / "s3" / BUCKET
    plan = file_plan(n)
    for p in plan:
        p["prompt_mean"], p["response_mean"] = prompt_mean, response_mean
    log(f"generating {n:,} records in {len(plan)} files under {root} (once; cached) ...")
    import time
    t0 = time.perf_counter()
    with Pool(os.cpu_count() or 1) as pool:
        res = pool.map(_write_file, [(str(s3), p) for p in plan], chunksize=1)
    # what a real prefix also holds: the permission-check marker and a data/ sidecar body
    (s3 / PREFIX / "amazon-bedrock-logs-permission-check").write_bytes(b"")
    side = s3 / base_key() / f"{DAY:%Y/%m/%d}/12/data/00000000-0000-4000-8000-000000000000_input.json.gz"
    side.parent.mkdir(parents=True, exist_ok=True)
    side.write_bytes(zlib.compress(b'{"messages":[]}'))
    info = {"version": GEN_VERSION, "records_requested": n, "prompt_mean": prompt_mean, "response_mean": response_mean,
            "records": sum(r[1] for r in res), "files": len(res),
            "json_bytes": sum(r[2] for r in res), "gz_bytes": sum(r[3] for r in res),
            "base": base_key(), "bucket": BUCKET, "day": DAY.isoformat(),
            "seconds": round(time.perf_counter() - t0, 1)}
    done.write_text(json.dumps(info, indent=1))
    log(f"  {info['records']:,} records, {info['json_bytes'] / 1e6:,.0f} MB JSON, {info['gz_bytes'] / 1e6:,.0f} MB gzip, "
        f"{info['seconds']} s")
    return info

"""The S3 invocation logs: one gzipped JSON-lines file per region and delivery time, in the real record schema.

In: the demo root, a ``DemoSpec`` and the invocations from ``traffic.generate``.
Out: files under ``s3/<bucket>/...`` (mtimes set to the delivery time, large bodies in ``data/`` sidecars) and
``write_logs``' map of file key to the invocations in that file, for the ground truth's file counts.
"""
from __future__ import annotations

import gzip
import json
import os
import random
from collections import defaultdict
from pathlib import Path

from tracker_utils.demo.spec import CANARY, DemoSpec, Inv


def _body(inv: Inv, rng: random.Random) -> tuple[dict, object]:
    prompt = f"{CANARY} Summarise ticket #{rng.randrange(10**6)} for customer {rng.choice(['Ana', 'Min-jun', 'Li', 'Sam'])}."
    answer = f"{CANARY} The customer reports a billing issue; next step is a refund review."
    if inv.model_id.startswith("amazon.titan-embed"):
        return {"inputText": prompt, "dimensions": 512}, {"embedding": [0.01, -0.02, 0.03], "inputTextTokenCount": inv.input_tokens}
    if inv.operation in ("Converse", "ConverseStream"):
        inp = {"messages": [{"role": "user", "content": [{"text": prompt}]}], "inferenceConfig": {"maxTokens": 1024}}
        usage = {"inputTokens": inv.input_tokens, "outputTokens": inv.output_tokens,
                 "totalTokens": inv.input_tokens + inv.output_tokens,
                 "cacheReadInputTokens": inv.cache_read_tokens, "cacheWriteInputTokens": inv.cache_write_tokens}
        if inv.operation == "Converse":
            return inp, {"output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                         "stopReason": "end_turn", "metrics": {"latencyMs": 900}, "usage": usage}
        return inp, [{"messageStart": {"role": "assistant"}}, {"contentBlockDelta": {"delta": {"text": answer}}},
                     {"messageStop": {"stopReason": "end_turn"}}, {"metadata": {"usage": usage, "metrics": {"latencyMs": 1200}}}]
    inp = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 2000, "messages": [{"role": "user", "content": prompt}]}
    if inv.operation == "InvokeModel":
        return inp, {"id": "msg_demo", "type": "message", "role": "assistant", "content": [{"type": "text", "text": answer}],
                     "usage": {"input_tokens": inv.input_tokens, "output_tokens": inv.output_tokens}}
    return inp, [{"type": "message_start"}, {"type": "content_block_delta", "delta": {"text": answer}},
                 {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                     "inputTokenCount": inv.input_tokens, "outputTokenCount": inv.output_tokens,
                     "invocationLatency": 1500, "firstByteLatency": 300}}]


def _record(inv: Inv, spec: DemoSpec, rng: random.Random, sidecar_uri: str | None, new_order: bool) -> dict:
    inp_body, out_body = _body(inv, rng)
    inp = {"inputContentType": "application/json"}
    if sidecar_uri:
        inp["inputBodyS3Path"] = sidecar_uri
    else:
        inp["inputBodyJson"] = inp_body
    inp.update({"inputTokenCount": inv.input_tokens, "cacheReadInputTokenCount": inv.cache_read_tokens,
                "cacheWriteInputTokenCount": inv.cache_write_tokens})
    out = {"outputContentType": "application/json", "outputTokenCount": inv.output_tokens}
    if inv.error is None:
        out["outputBodyJson"] = out_body
    head = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0"}
    body = {"timestamp": inv.ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "accountId": spec.account,
            "identity": {"arn": inv.arn}, "region": inv.region, "requestId": inv.request_id,
            "operation": inv.operation, "modelId": inv.model_id, "input": inp, "output": out}
    if inv.error:
        body["errorCode"] = inv.error
    if inv.inference_region:
        body["inferenceRegion"] = inv.inference_region
    if inv.metadata:
        body["requestMetadata"] = inv.metadata
    if inv.latency:
        body["performanceConfig"] = {"latency": inv.latency}
    return {**body, **head} if new_order else {**head, **body}


def _log_prefix(spec: DemoSpec, region: str) -> str:
    return f"{spec.prefix}/AWSLogs/{spec.account}/BedrockModelInvocationLogs/{region}"


def write_logs(root: Path, spec: DemoSpec, invs: list[Inv]) -> dict:
    """Write log files. Returns {file key: [request ids]} for the ground truth's file counts."""
    rng = random.Random(spec.seed + 1)
    s3 = root / "s3" / spec.bucket
    files: dict[str, list[Inv]] = defaultdict(list)
    for inv in invs:
        if inv.delivered is None:
            continue
        files[(inv.region, inv.delivered)].append(inv)
    (s3 / spec.prefix).mkdir(parents=True, exist_ok=True)
    (s3 / spec.prefix / "amazon-bedrock-logs-permission-check").write_bytes(b"")
    written: dict[str, list[Inv]] = {}
    for (region, when), batch in sorted(files.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        folder = f"{_log_prefix(spec, region)}/{when:%Y/%m/%d/%H}"
        key = f"{folder}/{when:%Y%m%dT%H%M%SZ}_{rng.getrandbits(64):016x}.json.gz"
        lines = []
        for inv in batch:
            sidecar = None
            if inv.large:
                skey = f"{folder}/data/{inv.request_id}_input.json.gz"
                big = {"messages": [{"role": "user", "content": CANARY + " " + "x" * spec.large_body_bytes}]}
                p = s3 / skey
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(gzip.compress(json.dumps(big).encode(), mtime=0))
                sidecar = f"s3://{spec.bucket}/{skey}"
            lines.append(json.dumps(_record(inv, spec, rng, sidecar, new_order=when.day % 2 == 0), separators=(",", ":")))
        path = s3 / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
        ts = when.timestamp()
        os.utime(path, (ts, ts))
        written[key] = batch
    return written

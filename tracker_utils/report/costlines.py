"""The report's and the roll-up's lines for batch jobs and provisioned throughput: small tables through the
templates (every value escaped), each with the sentence that states how its cost is attributed.

In: ``summary.json``'s ``batch`` and ``provisioned`` sections (one day and region), or the period's summaries.
"""
from __future__ import annotations

from decimal import Decimal

import pandas as pd

from tracker_utils.money import dsum
from tracker_utils.report.html import Money, esc, table


def _has(summary: dict) -> bool:
    p = summary.get("provisioned") or {}
    return bool((summary.get("batch") or {}).get("jobs")) or bool(p.get("models")) or bool(p.get("unknown_model_ids"))


def cost_lines(summary: dict) -> str:
    """One day and region: the batch jobs (application, model, manifest, tokens, cost at the batch rate) and the
    provisioned models (model-unit hours billed, the ARNs used, their tokens); nothing when there are none."""
    if not _has(summary):
        return ""
    out = []
    b = summary.get("batch") or {}
    if b.get("jobs"):
        df = pd.DataFrame({
            "Batch job": [j["job_name"] for j in b["jobs"]], "Application": [j["app"] for j in b["jobs"]],
            "Model": [j["model_id"] for j in b["jobs"]], "Status": [j["status"] for j in b["jobs"]],
            "Manifest": ["read" if j["manifest_found"] else "missing" for j in b["jobs"]],
            "Input tokens": [f"{j['input_tokens']:,}" for j in b["jobs"]],
            "Output tokens": [f"{j['output_tokens']:,}" for j in b["jobs"]],
            "Cost at the batch rate": [Money(Decimal(j["cost_usd"])) for j in b["jobs"]]})
        missing = [j["job_name"] for j in b["jobs"] if not j["manifest_found"]]
        out.append(table(df, {"Input tokens", "Output tokens", "Cost at the batch rate"},
                         [i for i, j in enumerate(b["jobs"]) if not j["manifest_found"]])
                   + f"<p class='sub'>{esc(b.get('method', ''))} Billed for batch and explained by the manifests: "
                     f"{Money(Decimal(b.get('billed_usd') or 0)).__html__()}."
                   + (f" No manifest for {esc(', '.join(missing))}: its usage stays usage that is never logged."
                      if missing else "") + "</p>")
    p = summary.get("provisioned") or {}
    if p.get("models"):
        df = pd.DataFrame({
            "Provisioned model": [m["model"] for m in p["models"]],
            "Provisioned model ARNs": [", ".join(m["model_ids"]) or "(none in the logs)" for m in p["models"]],
            "Invocations": [f"{m['invocations']:,}" for m in p["models"]],
            "Tokens": [f"{m['tokens']:,}" for m in p["models"]],
            "Billed (model-unit hours)": [Money(Decimal(m["billed_usd"])) for m in p["models"]]})
        out.append(table(df, {"Invocations", "Tokens", "Billed (model-unit hours)"})
                   + f"<p class='sub'>{esc(p.get('method', ''))}</p>")
    if p.get("unknown_model_ids"):
        out.append(f"<p class='sub'><b>Provisioned models of unknown origin</b>: "
                   f"{esc(', '.join(p['unknown_model_ids']))}. Their tokens cost nothing per token and no model-unit "
                   "hours can be split over them: add the model behind each ARN (GetProvisionedModelThroughput's "
                   "modelArn) as <code>source</code> in params/inference_profiles.yaml.</p>")
    return "<h3>Batch jobs and provisioned throughput</h3>" + "".join(out)


def period_cost_lines(summaries: list[dict]) -> str:
    """A period: per day and region, the batch jobs' bill and the provisioned throughput's bill."""
    rows = [s for s in summaries if _has(s)]
    if not rows:
        return ""
    df = pd.DataFrame({
        "Date": [s["date"] for s in rows], "Region": [s["region"] for s in rows],
        "Batch jobs": [f"{len((s.get('batch') or {}).get('jobs', [])):,}" for s in rows],
        "Batch (from manifests)": [Money(Decimal((s.get("batch") or {}).get("billed_usd") or 0)) for s in rows],
        "Provisioned throughput": [Money(dsum([m["billed_usd"] for m in (s.get("provisioned") or {}).get("models", [])]))
                                   for s in rows]})
    return ("<h3>Batch jobs and provisioned throughput</h3>"
            + table(df, {"Batch jobs", "Batch (from manifests)", "Provisioned throughput"})
            + "<p class='sub'>Batch jobs are split over applications by their jobs' cost at the batch rate, provisioned "
              "throughput by the applications' tokens on the provisioned model (see each day's report).</p>")

"""Small displays for the collect, price and reconcile notebooks (what an analyst checks after each stage).

Every value from data goes through the kit's escape (:func:`~tracker_utils.report.html.esc`) or its autoescaped
templates (:func:`~tracker_utils.report.html.table`): nothing a log record holds reaches the notebook as markup.
"""
from __future__ import annotations

import pandas as pd

from tracker_utils.config import RunConfig
from tracker_utils.io import read_parquet
from tracker_utils.report.html import esc, show, table


def _frame_table(df: pd.DataFrame, num=()) -> str:
    return table(df.astype(object).where(df.notna(), "").astype(str), num)


def show_collect(summary: dict) -> None:
    dq = summary["data_quality"]
    rows = [(k, v) for k, v in dq.items() if not isinstance(v, dict) or v]
    bill = summary.get("bill") or {}
    show(f"<p>Logs read as of <b>{esc(summary['as_of'])}</b> ({esc(summary['source'])}, engine {esc(summary['engine'])}); "
         f"bill: {esc(bill.get('source'))} (scope {esc(bill.get('scope'))}); collect took {esc(summary['seconds'])} s.</p>",
         _frame_table(pd.DataFrame(rows, columns=["data quality", "value"])))


def show_price(cfg: RunConfig, summary: dict) -> None:
    pl = read_parquet(cfg.data("price_logs.parquet"))
    if summary["unpriced_models"]:
        show(f"<b style='color:#b00'>Unpriced models (priced at $0, totals are a lower bound): "
             f"{esc(', '.join(map(str, summary['unpriced_models'])))}</b>")
    if not pl.empty:
        from tracker_utils.money import dsum
        g = pl.groupby(["base_model", "scope"]).agg(invocations=("invocations", "sum"),
                                                    input_tokens=("input_tokens", "sum"),
                                                    output_tokens=("output_tokens", "sum"),
                                                    cost_usd=("cost_usd", dsum)).reset_index()
        show(_frame_table(g, {"invocations", "input_tokens", "output_tokens", "cost_usd"}))


def show_reconcile(cfg: RunConfig, summary: dict) -> None:
    rows = [{"kind": g["kind"], "invocations": g["invocations"], "input_tokens": g["input_tokens"],
             "output_tokens": g["output_tokens"], "cost_usd": g["cost_usd"], "hours": g["hours"]} for g in summary["gaps"]]
    df = pd.DataFrame(rows, columns=["kind", "invocations", "input_tokens", "output_tokens", "cost_usd", "hours"])
    show(f"<p><b>Verdict.</b> {esc(summary['verdict'])}</p>",
         _frame_table(df, {"invocations", "input_tokens", "output_tokens", "cost_usd"}) if rows else "")

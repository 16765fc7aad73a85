"""Small displays for the collect, price and reconcile notebooks (what an analyst checks after each stage)."""
from __future__ import annotations

import pandas as pd
from IPython.display import HTML, Markdown, display

from tracker_utils.config import RunConfig
from tracker_utils.io import read_parquet


def show_collect(summary: dict) -> None:
    dq = summary["data_quality"]
    rows = [(k, v) for k, v in dq.items() if not isinstance(v, dict) or v]
    display(Markdown(f"Logs read as of **{summary['as_of']}** ({summary['source']}, engine {summary['engine']}); "
                     f"bill: {summary['bill'].get('source')} (scope {summary['bill'].get('scope')}); "
                     f"collect took {summary['seconds']} s."))
    display(pd.DataFrame(rows, columns=["data quality", "value"]))


def show_price(cfg: RunConfig, summary: dict) -> None:
    pl = read_parquet(cfg.data("price_logs.parquet"))
    if summary["unpriced_models"]:
        display(HTML(f"<b style='color:#b00'>Unpriced models (priced at $0, totals are a lower bound): "
                     f"{', '.join(summary['unpriced_models'])}</b>"))
    if not pl.empty:
        from tracker_utils.money import dsum
        g = pl.groupby(["base_model", "scope"]).agg(invocations=("invocations", "sum"),
                                                    input_tokens=("input_tokens", "sum"),
                                                    output_tokens=("output_tokens", "sum"),
                                                    cost_usd=("cost_usd", dsum)).reset_index()
        display(g)


def show_reconcile(cfg: RunConfig, summary: dict) -> None:
    display(Markdown("**Verdict.** " + summary["verdict"]))
    rows = [{"kind": g["kind"], "invocations": g["invocations"], "input_tokens": g["input_tokens"],
             "output_tokens": g["output_tokens"], "cost_usd": g["cost_usd"], "hours": g["hours"]} for g in summary["gaps"]]
    display(pd.DataFrame(rows))

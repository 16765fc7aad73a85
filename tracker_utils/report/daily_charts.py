"""The daily report's charts: matplotlib figures drawn from a loaded ``daily.ReportData``.

:mod:`tracker_utils.report.daily` assembles the page and re-exports every name here, so ``daily.chart_apps`` and the
others keep working. The frames behind the charts (``apps_frame``, ``models_frame``) live here too: the page's tables
use them as well.
"""
from __future__ import annotations

from decimal import Decimal

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from tracker_utils.apps import unmatched  # noqa: E402
from tracker_utils.gaps import COLOURS as GAP_COLOURS, SHORT as GAP_SHORT  # noqa: E402
from tracker_utils.money import dsum, usd  # noqa: E402
from tracker_utils.report.charts import (APP_COLOR, UNATTR_COLOR, WIDTH_IN, _bar_labels, _bars_fig,  # noqa: E402
                                         _usd_axis, model_label)
from tracker_utils.text import count

# ``ReportData`` in the annotations is :class:`tracker_utils.report.daily.ReportData`, not imported (even under
# TYPE_CHECKING, which lint-imports counts): daily imports this module, and the report package has no import cycles.


# --- applications ---------------------------------------------------------------------------------------------
def apps_frame(d: ReportData) -> pd.DataFrame:
    rows = d.summary["apps"]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.sort_values("billed_share_usd", key=lambda s: s.map(Decimal), ascending=False)
    return df.reset_index(drop=True)


def chart_apps(d: ReportData):
    """Cost by application: share of the bill, unattributed in orange."""
    df = apps_frame(d)
    fig, ax = _bars_fig(df, 0.42, "no invocation logs")
    if not df.empty:
        a = df.iloc[::-1]
        vals = a["billed_share_usd"].map(float)
        total = float(dsum(df["billed_share_usd"])) or 1.0
        labels = [f"{r.app}  ({r.team or 'no team'}, {r.cost_centre or 'no cost centre'})" for r in a.itertuples()]
        nomatch = list(unmatched(a))
        colors = [UNATTR_COLOR if x else APP_COLOR for x in nomatch]
        bars = ax.barh([d.r(x) for x in labels], vals, color=colors)
        top = max(vals.max(), 1e-9)
        _bar_labels(ax, bars, [f"{usd(Decimal(v))}  ({float(Decimal(v)) / total * 100:.1f}%)" for v in a["billed_share_usd"]], top)
        for t, x in zip(ax.get_yticklabels(), nomatch):
            if x:
                t.set_color(UNATTR_COLOR)
                t.set_fontweight("bold")
        ax.set_xlim(0, top * 1.22)
        _usd_axis(ax)
    ax.set_title("Cost by application: share of the bill (USD); orange = matched no rule", loc="left", fontsize=12)
    ax.set_xlabel("USD (logs cost of each model scaled to what was billed)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# --- models ---------------------------------------------------------------------------------------------------
def models_frame(d: ReportData) -> pd.DataFrame:
    rows = []
    for m in d.summary["models"]:
        rows.append({"model": m["model"], "name": m.get("name", m["model"]),
                     "logs_invocations": m["logs"]["invocations"], "cloudwatch_invocations": m["cloudwatch"]["invocations"],
                     "tokens": sum(m["cloudwatch"].get(k, 0) for k in ("input_tokens", "output_tokens", "cache_read_tokens",
                                                                          "cache_write_tokens")),
                     "logs_cost": Decimal(m["logs"]["cost_usd"]), "cloudwatch_cost": Decimal(m["cloudwatch"]["cost_usd"]),
                     "billed": Decimal(m["billed"]["cost_usd"]), "gaps": ", ".join(g["kind"] for g in m["gaps"]),
                     "gap_list": m["gaps"]})
    return pd.DataFrame(rows)


def chart_models(d: ReportData):
    """Cost by model: billed next to the cost from logs."""
    df = models_frame(d)
    fig, ax = _bars_fig(df, 0.5, "no usage")
    if not df.empty:
        m = df.sort_values("billed").reset_index(drop=True)
        y = range(len(m))
        h = 0.38
        b1 = ax.barh([i + h / 2 for i in y], m["billed"].map(float), h, label="Billed", color="#6a9a50")
        ax.barh([i - h / 2 for i in y], m["logs_cost"].map(float), h, label="Cost from logs", color=APP_COLOR)
        top = max(float(m[["billed", "logs_cost"]].max().max()), 1e-9)
        _bar_labels(ax, b1, [usd(v) for v in m["billed"]], top)
        ax.set_yticks(list(y), [d.r(model_label(n)) for n in m["name"]])
        ax.set_xlim(0, top * 1.15)
        _usd_axis(ax)
        ax.legend(loc="lower right")
    ax.set_title("Cost by model (USD): billed vs cost from logs", loc="left", fontsize=12)
    ax.set_xlabel("USD")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def chart_costs(d: ReportData):
    """Both cost charts in one figure (kept for callers of the first version)."""
    return chart_apps(d)


# --- hour by hour ---------------------------------------------------------------------------------------------
def chart_hourly(d: ReportData):
    """Invocations per hour (logs vs CloudWatch, gap hours shaded) and a heat map of tokens per model and hour."""
    h = d.hourly
    n_models = max(1, h["base_model"].nunique()) if not h.empty else 1
    fig, axes = plt.subplots(2, 1, figsize=(WIDTH_IN, 3.6 + 0.42 * n_models + 1.6),
                             gridspec_kw={"height_ratios": [3.6, 0.42 * n_models + 0.6]})
    ax, hm = axes
    if not h.empty:
        h = h.assign(hr=pd.to_datetime(h["hour"], utc=True).dt.hour)
        by = h.groupby("hr")[["logs_invocations", "cloudwatch_invocations", "late_invocations"]].sum().reindex(range(24), fill_value=0)
        outage = set(h.loc[h["cause"].isin(["logging_outage", "unexplained"]), "hr"])
        late = set(h.loc[h["late_invocations"] > 0, "hr"])
        for hr in outage:
            ax.axvspan(hr - 0.5, hr + 0.5, color="#d04040", alpha=0.15, lw=0)
        for hr in late - outage:
            ax.axvspan(hr - 0.5, hr + 0.5, color="#f0a030", alpha=0.2, lw=0)
        ax.plot(by.index, by["cloudwatch_invocations"], label="CloudWatch (all calls AWS counted)", color="#333", lw=2, marker="o", ms=3)
        ax.plot(by.index, by["logs_invocations"], label="Invocation logs", color=APP_COLOR, lw=2, ls="--", marker="o", ms=3)
        from matplotlib.patches import Patch
        handles, _ = ax.get_legend_handles_labels()
        if late - outage:
            handles.append(Patch(color="#f0a030", alpha=0.3, label="late log delivery"))
        if outage:
            handles.append(Patch(color="#d04040", alpha=0.3, label="logging outage / unexplained"))
        ax.legend(handles=handles, loc="upper left", fontsize=9)
        ax.set_ylim(0, max(1, by[["logs_invocations", "cloudwatch_invocations"]].max().max()) * 1.25)
        tok = h.assign(tokens=h["cloudwatch_input_tokens"] + h["cloudwatch_output_tokens"]
                       + h["cloudwatch_cache_read_tokens"] + h["cloudwatch_cache_write_tokens"])
        name_of = {m["model"]: model_label(m.get("name", m["model"]), 28) for m in d.summary["models"]}
        piv = tok.pivot_table(index="base_model", columns="hr", values="tokens", aggfunc="sum", fill_value=0)
        piv = piv.reindex(columns=range(24), fill_value=0)
        piv = piv.loc[piv.sum(axis=1).sort_values(ascending=False).index]
        im = hm.imshow(piv.values / 1000, aspect="auto", cmap="Blues", interpolation="nearest")
        hm.set_yticks(range(len(piv.index)), [d.r(name_of.get(i, model_label(i))) for i in piv.index], fontsize=9)
        hm.set_xticks(range(24), [f"{i:02d}" for i in range(24)], fontsize=8)
        cb = fig.colorbar(im, ax=hm, pad=0.01, fraction=0.03)
        cb.set_label("thousand tokens")
    else:
        ax.text(0.5, 0.5, "no hourly data", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(range(24), [f"{i:02d}" for i in range(24)], fontsize=8)
    ax.set_xlim(-0.5, 23.5)
    ax.set_title("Invocations per hour (UTC): CloudWatch vs logs; shaded hours have gaps", loc="left", fontsize=12)
    ax.set_xlabel("hour of the day (UTC)")
    ax.set_ylabel("invocations")
    ax.grid(alpha=0.3)
    hm.set_title("Tokens per model and hour (UTC, CloudWatch: input + output + cache)", loc="left", fontsize=12)
    hm.set_xlabel("hour of the day (UTC)")
    fig.tight_layout()
    return fig




# --- reconciliation -------------------------------------------------------------------------------------------
def _gap_labels(gaps: list[dict]) -> list[tuple[str, str]]:
    """(text, colour) for each gap of a model worth writing on the chart: every cost, and usage-only gaps by calls."""
    out = []
    for g in gaps:
        k, c = g["kind"], Decimal(g["cost_usd"])
        if k == "day_edge":
            continue
        if abs(c) >= Decimal("0.00005"):
            sign = "+" if c > 0 else "-"
            out.append((f"{GAP_SHORT.get(k, k)} {sign}{usd(abs(c))}", GAP_COLOURS.get(k, "#000")))
        elif g["invocations"]:
            out.append((f"{GAP_SHORT.get(k, k)} ({count(abs(g['invocations']), 'call')})", GAP_COLOURS.get(k, "#000")))
    return out


def chart_reconciliation(d: ReportData):
    """Per model: logs, CloudWatch and the bill side by side, each model's differences written beside it by cause;
    below, the day's bridge from the cost from logs to the bill, one step per cause."""
    models = models_frame(d)
    n = max(1, len(models))
    fig, (ax, wf) = plt.subplots(2, 1, figsize=(WIDTH_IN, 0.78 * n + 1.4 + 3.4),
                                 gridspec_kw={"height_ratios": [0.78 * n + 1.0, 3.0]})
    if not models.empty:
        _model_bars(ax, d, models)
        _bridge(wf, *_bridge_steps(d.summary))
    ax.set_title("Logs vs CloudWatch vs bill per model (USD); differences labelled by cause", loc="left", fontsize=12)
    ax.set_xlabel("USD")
    ax.grid(axis="x", alpha=0.3)
    wf.set_title("From the cost in the logs to the bill: what each cause adds (USD)", loc="left", fontsize=12)
    fig.tight_layout()
    return fig


def _model_bars(ax, d: ReportData, models: pd.DataFrame) -> None:
    """Per model: billed, CloudWatch and logs bars, the bill written beside them and up to three differences by cause."""
    m = models.sort_values("billed", ascending=True).reset_index(drop=True)
    y = list(range(len(m)))
    h = 0.26
    ax.barh([i + h for i in y], m["billed"].map(float), h, label="Billed", color="#6a9a50")
    ax.barh(y, m["cloudwatch_cost"].map(float), h, label="CloudWatch usage (book prices)", color="#999")
    ax.barh([i - h for i in y], m["logs_cost"].map(float), h, label="Cost from logs (book prices)", color=APP_COLOR)
    top = max(float(m[["logs_cost", "cloudwatch_cost", "billed"]].max().max()), 1e-9)
    for i, row in m.iterrows():
        end = max(float(row["logs_cost"]), float(row["cloudwatch_cost"]), float(row["billed"]))
        ax.text(end + top * 0.01, i + h, f"billed {usd(row['billed'])}", va="center", fontsize=8, color="#3b6a2a")
        labels = _gap_labels(row["gap_list"])
        x0 = top * 1.17
        for j, (txt, col) in enumerate(labels[:3]):
            ax.text(x0, i + h - j * h, txt, va="center", ha="left", fontsize=9, color=col, fontweight="bold")
    ax.axvline(top * 1.15, color="#ccc", lw=1)
    ax.text(top * 1.17, len(m) - 0.45, "differences by cause", fontsize=9, color="#556", va="bottom")
    ax.set_xlim(0, top * 1.68)
    ax.set_ylim(-0.6, len(m) - 0.1)
    ax.set_yticks(y, [d.r(model_label(nm, 26)) for nm in m["name"]], fontsize=9)
    ax.set_xticks([v for v in ax.get_xticks() if 0 <= v <= top * 1.12])
    ax.legend(loc="lower right", fontsize=9, bbox_to_anchor=(0.68, 0.0))
    _usd_axis(ax)


def _bridge_steps(summary: dict) -> tuple[Decimal, Decimal, list[tuple[str, Decimal]]]:
    """(cost from logs, billed, [(cause, USD)...]): the causes that are not in the logs, then what is left unexplained."""
    t = summary["totals"]
    logs, billed = Decimal(t["logs_cost_usd"]), Decimal(t["billed_cost_usd"])
    steps = [(g["kind"], Decimal(g["cost_usd"])) for g in summary["gaps"] if not g.get("in_logs")
             and abs(Decimal(g["cost_usd"])) >= Decimal("0.00005")]
    rest = billed - logs - sum((v for _, v in steps), Decimal(0))
    if abs(rest) >= Decimal("0.00005"):
        steps.append(("unexplained", rest))
    return logs, billed, steps


def _bridge(wf, logs: Decimal, billed: Decimal, steps: list[tuple[str, Decimal]]) -> None:
    """The day's bridge from the cost from logs to the bill, one bar per cause."""
    labels, lefts, widths, colors = ["Cost from logs"], [0.0], [float(logs)], [APP_COLOR]
    run = logs
    for kind, v in steps:
        labels.append(GAP_SHORT.get(kind, kind))
        lefts.append(float(min(run, run + v)))
        widths.append(abs(float(v)))
        colors.append(GAP_COLOURS.get(kind, "#000"))
        run += v
    labels.append("Billed")
    lefts.append(0.0)
    widths.append(float(billed))
    colors.append("#6a9a50")
    ys = list(range(len(labels)))[::-1]
    bars = wf.barh(ys, widths, left=lefts, color=colors, height=0.6)
    wf.set_yticks(ys, labels)
    vals = [logs] + [v for _, v in steps] + [billed]
    # every bar inside the axes, a step past the bill or below zero included (logs and bill at 0 while CloudWatch
    # counts usage: the steps are the whole picture)
    span = max([float(billed), float(logs), 1e-9] + [lf + w for lf, w in zip(lefts, widths)])
    lo = min([0.0] + lefts)
    for i, (b, v) in enumerate(zip(bars, vals)):
        txt = usd(v) if i in (0, len(vals) - 1) else ("+" if v > 0 else "-") + usd(abs(v))
        wf.text(b.get_x() + b.get_width() + span * 0.01, b.get_y() + b.get_height() / 2, txt, va="center", fontsize=9)
    wf.set_xlim(lo - (span - lo) * 0.02 if lo < 0 else 0, span * 1.18)
    _usd_axis(wf)
    wf.grid(axis="x", alpha=0.3)

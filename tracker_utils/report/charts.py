"""Matplotlib helpers shared by the report, the roll-up and the explorer: sizes, colours, axes."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402

# Text is text: no label, title, legend or tick of any chart is parsed as mathtext (a model id or an application
# name holding "$...$" is drawn as written). The one switch, set where every chart module gets ``plt``.
TEXT_RC = {"text.parse_math": False, "text.usetex": False}
matplotlib.rcParams.update(TEXT_RC)

from tracker_utils.apps import UNATTRIBUTED  # noqa: E402
from tracker_utils.text import visible  # noqa: E402

APP_COLOR, UNATTR_COLOR = "#4a78b0", "#e07b00"
# series colours without orange, which is kept for "unattributed"
PALETTE = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79",
           "#637939", "#843c39"]


def series_color(key: str, i: int) -> str:
    return UNATTR_COLOR if key == UNATTRIBUTED else PALETTE[i % len(PALETTE)]
DPI = 100
WIDTH_IN = 12.0          # 1200 px: fits a 1280-px-wide page
MAX_PX = 1240


def model_label(name: str, n: int = 30) -> str:
    """A short model label for charts: the display name, or a raw id without vendor prefix, date and version."""
    s = visible(name)
    if s.startswith("arn:"):
        s = s.rsplit("/", 1)[-1]
    elif "." in s and " " not in s:
        s = re.sub(r"^(us|eu|apac|jp|au|ca|global)\.", "", s)
        s = s.split(".", 1)[-1]
        s = re.sub(r"-\d{8}", "", s)
        s = re.sub(r"-v\d+(:\d+)?$", "", s)
    return s if len(s) <= n else s[:n - 1] + "…"


def _new_fig(h: float, rows: int = 1, cols: int = 1, **kw):
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, h), **kw)
    return fig, axes


def _bars_fig(df, per_row: float, empty_text: str):
    """A figure for one horizontal bar per row of ``df`` (``per_row`` inches each), with ``empty_text`` written in
    the middle when ``df`` is empty."""
    fig, ax = _new_fig(max(2.2, per_row * len(df) + 1.2))
    if df.empty:
        ax.text(0.5, 0.5, empty_text, ha="center", va="center", transform=ax.transAxes)
    return fig, ax


def _usd_axis(ax, axis: str = "x"):
    from matplotlib.ticker import FuncFormatter
    fmt = FuncFormatter(lambda v, _: f"${v:,.2f}" if abs(v) >= 0.01 or v == 0 else f"${v:.4f}")
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def _bar_labels(ax, bars, texts, inside_max: float):
    for b, t in zip(bars, texts):
        w = b.get_width()
        ax.text(w + inside_max * 0.01, b.get_y() + b.get_height() / 2, t, va="center", ha="left", fontsize=9)


"""The HTML kit shared by the report, the roll-up and the explorer: one Jinja2 environment with autoescape.

Values from data are escaped by autoescape; fragments the kit already built are passed as :class:`Markup`.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Iterable

from decimal import Decimal

import jinja2
import pandas as pd
from markupsafe import Markup

from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.transforms import Bbox

from tracker_utils.money import CENT, allocate, cents, dec, plain
from tracker_utils.report.charts import DPI, MAX_PX, plt
from tracker_utils.text import visible  # noqa: F401 - the kit's one helper, re-exported

TEMPLATES = Path(__file__).parent / "templates"
def _finalize(v):
    """Every ``{{ value }}`` of a template: text made visible (then autoescaped); kit-built Markup left as it is."""
    return v if isinstance(v, Markup) or not isinstance(v, str) else visible(v)


ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=False,
                         finalize=_finalize)
CSS_TEXT = (TEMPLATES / "report.css").read_text()
# Styles for every fragment. ``tex2jax_ignore`` keeps MathJax (loaded by nbconvert's template) from reading
# "$1.20 ... $3.40" as a formula. Selectors are specific enough to win over JupyterLab's table styles.
CSS = f"\n<style>\n{CSS_TEXT}</style>\n"


def render(name: str, **kw) -> str:
    """Render a template of ``report/templates`` (autoescaped) to a string."""
    return ENV.get_template(name).render(**kw)


def safe(s) -> Markup:
    """Mark a fragment the kit built (already escaped) as safe HTML."""
    return Markup("" if s is None else str(s))


def esc(v) -> str:
    """The one explicit escape: a value from data as HTML text (invisible characters shown as escapes)."""
    return html.escape(visible(v))


class Money:
    """A money cell: dollars and cents on the page ("<$0.01" under half a cent), the exact amount on hover."""

    def __init__(self, exact, shown: Decimal | None = None):
        self.exact = dec(exact)
        self.shown = self.exact if shown is None else shown

    def __str__(self) -> str:
        if self.shown == 0 and self.exact:
            return ("-" if self.exact < 0 else "") + "<$0.01"
        return cents(self.shown)

    def __html__(self) -> str:
        return f"<span title='{esc(plain(self.exact))} USD'>{esc(str(self))}</span>"


def money_cells(values: Iterable, total=None) -> list[Money]:
    """A column of money cells whose cents add up exactly to the cents of ``total`` (default: the exact sum), so a
    table's total row equals the headline it explains (largest remainder, as for the bill's shares)."""
    exact = [dec(v) for v in values]
    if not exact:
        return []
    shown = allocate(dict(enumerate(exact)), q=CENT, total=sum(exact, Decimal(0)) if total is None else dec(total))
    return [Money(e, shown[i]) for i, e in enumerate(exact)]


def wrap(body: str) -> str:
    return "\n" + render("wrap.html.j2", css=CSS_TEXT, body=safe(body))


def box(body: str, kind: str = "note") -> str:
    return render("box.html.j2", body=safe(body), kind=kind)


def badge(text: str, kind: str = "ok") -> str:
    return render("badge.html.j2", text=text, kind=kind)


def kpis(items: list[tuple[str, str, str]]) -> str:
    return render("kpis.html.j2", items=items)


def table(df: pd.DataFrame, num: Iterable[str] = (), highlight: Iterable[int] = (), total: bool = False,
          raw: Iterable[str] = ()) -> str:
    """An HTML table; ``num`` columns right-aligned, rows in ``highlight`` shaded, the last row bold when ``total``.
    Cells are escaped except in ``raw`` columns (pre-built HTML)."""
    num, raw, highlight = set(num), set(raw), set(highlight)
    columns = [{"name": "" if c is None else str(c), "num": c in num} for c in df.columns]
    rows, n = [], len(df)
    for i, r in enumerate(df.itertuples(index=False)):
        cells = [(safe(v) if c in raw else v if hasattr(v, "__html__") else ("" if v is None else str(v)), c in num)
                 for c, v in zip(df.columns, r)]
        rows.append({"cls": "tot" if total and i == n - 1 else "hl" if i in highlight else "", "cells": cells})
    return render("table.html.j2", columns=columns, rows=rows)


def fig_html(fig, alt: str = "") -> str:
    """A figure as an embedded PNG (closed afterwards); alt text from the axes titles unless given."""
    if not alt:
        alt = "; ".join(t for t in ([fig._suptitle.get_text()] if fig._suptitle else []) +
                        [ax.get_title(loc) for ax in fig.axes for loc in ("left", "center", "right")] if t)
    buf = io.BytesIO()
    # tight_layout leaves a placeholder layout engine behind, and savefig draws a figure that has one a second time
    # (text laid out, nothing rendered) before the real draw: a third of a chart's time. The layout is already done.
    if isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        fig.set_layout_engine(None)
    # Never wider than a 1280-px page, even when a legend outside the axes widens the tight box. A figure whose
    # content fits inside it (the usual case after tight_layout) is saved as it is: cropping to the tight box would
    # resize the canvas and lay every text out again, which costs a fifth of a chart's time.
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    w, h = fig.get_size_inches()
    if not (box.width < 3 * w and box.height < 3 * h):      # an artist far off its axes: keep the figure's own box
        box = Bbox.from_bounds(0, 0, w, h)
    width_px = box.width * DPI
    dpi = min(DPI, int(DPI * MAX_PX / width_px)) if width_px else DPI        # whole dots: never wider than MAX_PX
    inside = box.x0 >= 0 and box.y0 >= 0 and box.x1 <= w and box.y1 <= h
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", pil_kwargs={"compress_level": 3},   # 6: 2x the time
                bbox_inches=None if inside and dpi == DPI else box.padded(plt.rcParams["savefig.pad_inches"]))
    plt.close(fig)
    b64 = base64.b64encode(buf.getvalue()).decode()
    return f"<figure><img alt='{esc(alt)}' src='data:image/png;base64,{b64}'></figure>"


def show(*items) -> None:
    """Display HTML strings (wrapped in the kit's styles) and figures (as PNG) in a notebook. The strings were built
    from values already redacted (see :class:`~tracker_utils.report.redact.Redactor`): nothing here rewrites markup."""
    from IPython.display import HTML, display
    from matplotlib.figure import Figure
    for it in items:
        if it is None or (isinstance(it, str) and not it.strip()):
            continue
        if isinstance(it, Figure):
            display(HTML(wrap(fig_html(it))))
        else:
            display(HTML(wrap(str(it))))

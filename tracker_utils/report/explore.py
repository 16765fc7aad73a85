"""The explorer (``notebooks/explore.ipynb``): every collected run, sliced by date range, region, application,
model and metric.

One function draws the views for a :class:`Selection` (:func:`render`). The static path (``interactive=False``,
papermill, tests) calls it once with the notebook's parameters; the interactive path (:func:`app`) builds
ipywidgets controls whose change handler calls the *same* function inside a ``widgets.Output``, so tables and
charts update in place. Nothing here waits for a front end: no ``interact``, no blocking.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from tracker_utils.apps import unmatched
from tracker_utils.config import load_params, resolve_path
from tracker_utils.io import read_json, read_parquet
from tracker_utils.money import dec, money, prorate, usd
from tracker_utils.report.charts import APP_COLOR, PALETTE, UNATTR_COLOR, WIDTH_IN, _usd_axis, model_label
from tracker_utils.report.html import box, esc, kpis, show, table
from tracker_utils.report.redact import Redactor

from tracker_utils.schema import TOKENS
from tracker_utils.text import count
METRICS = {"billed": "Share of the bill (USD)", "cost": "Cost from logs (USD)", "invocations": "Invocations",
           "tokens": "Tokens (input + output + cache)", "input_tokens": "Input tokens", "output_tokens": "Output tokens"}
MONEY = {"billed", "cost"}


@dataclass
class ExploreData:
    logs: pd.DataFrame                      # every price_logs row, with date, region, cost (float) and tokens
    summaries: dict                         # {(date, region): summary} of completed runs
    incomplete: list                        # [(date, region)] with logs but no summary.json yet
    names: dict                             # base model id -> display name
    redactor: Redactor = field(default_factory=Redactor)

    @property
    def dates(self) -> list[str]:
        return sorted(self.logs["date"].unique()) if not self.logs.empty else []

    @property
    def regions(self) -> list[str]:
        return sorted(self.logs["region"].unique()) if not self.logs.empty else []

    @property
    def apps(self) -> list[str]:
        return sorted(self.logs["app"].unique()) if not self.logs.empty else []

    @property
    def models(self) -> list[str]:
        return sorted(m for m in self.logs["model"].unique() if m) if not self.logs.empty else []

    def colour(self, name: str, kind: str = "app") -> str:
        """One colour per application (or model) in every view, whatever is selected."""
        names = self.apps if kind == "app" else self.models
        if kind == "app" and name in self._no_rule:
            return UNATTR_COLOR
        return PALETTE[names.index(name) % len(PALETTE)] if name in names else APP_COLOR

    @property
    def _no_rule(self) -> set:
        return set(self.logs.loc[unmatched(self.logs), "app"]) if not self.logs.empty else set()


@dataclass(frozen=True)
class Selection:
    start: str = ""
    end: str = ""
    regions: tuple = ()
    apps: tuple = ()
    models: tuple = ()
    metric: str = "billed"

    @classmethod
    def parse(cls, start: str = "", end: str = "", regions="", apps="", models="", metric: str = "billed") -> "Selection":
        def split(v):
            if isinstance(v, str):
                return tuple(x.strip() for x in v.split(",") if x.strip())
            return tuple(v or ())
        if metric not in METRICS:
            raise ValueError(f"metric: {metric!r} is not one of {sorted(METRICS)}")
        for k, v in (("start", start), ("end", end)):
            if v:
                dt.date.fromisoformat(v)
        return cls(start, end, split(regions), split(apps), split(models), metric)


def load(output_dir: str = "", params_file: str = "") -> ExploreData:
    """Read every ``<output_dir>/<date>/<region>/data/price_logs.parquet`` and the completed summaries."""
    p = load_params(params_file or None, {"output_dir": output_dir} if output_dir else {})
    root = resolve_path(p.output_dir)
    frames, summaries, incomplete, names = [], {}, [], {}
    for f in sorted(root.glob("*/*/data/price_logs.parquet")):
        date, region = f.parent.parent.parent.name, f.parent.parent.name
        try:
            dt.date.fromisoformat(date)
            df = read_parquet(f)
        except Exception:  # noqa: BLE001 - not a run folder, or a half-written file
            continue
        s_path = f.parent.parent / "summary.json"
        if s_path.exists():
            try:
                summaries[(date, region)] = s = read_json(s_path)
                names.update(s.get("display_names", {}))
                names.update({m["model"]: m.get("name", m["model"]) for m in s.get("models", [])})
            except Exception:  # noqa: BLE001
                incomplete.append((date, region))
        else:
            incomplete.append((date, region))
            pj = f.parent / "price.json"
            if pj.exists():
                try:
                    names.update(read_json(pj).get("display_names", {}))
                except Exception:  # noqa: BLE001
                    pass
        if df.empty:
            continue
        frames.append(df.assign(date=date, region=region))
    cols = ["date", "region", "app", "team", "cost_centre", "base_model", "principal", "principal_name", "principal_kind",
            "invocations", *TOKENS, "cost_usd"]
    logs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    logs = logs.assign(model=logs["base_model"].map(lambda b: names.get(b, b)) if not logs.empty else pd.Series(dtype=object),
                       cost=logs["cost_usd"].map(lambda v: dec(v)) if not logs.empty else pd.Series(dtype=object),
                       tokens=sum(logs[t] for t in TOKENS) if not logs.empty else pd.Series(dtype="int64"))
    logs = _with_billed(logs, summaries)
    principals = logs["principal"].dropna().unique() if not logs.empty else []
    r = Redactor(p.redact, p.account, principals)
    # values redacted before anything is rendered (never the markup)
    return ExploreData(r.frame(logs), {k: r.obj(v) for k, v in summaries.items()}, sorted(incomplete), names, r)


def _with_billed(logs: pd.DataFrame, summaries: dict) -> pd.DataFrame:
    """Each row's part of its application's share of the bill that day (by cost from logs, by tokens when there is
    none; largest remainder, so an application's rows add up exactly to its share), and a row for each share with
    no logs (never-logged usage, models with no logs): the metric the roll-up's chargeback uses."""
    billed = pd.Series([Decimal(0)] * len(logs), index=logs.index, dtype=object)
    extra = []
    groups = logs.groupby(["date", "region", "app"]).groups if not logs.empty else {}
    for (date, region), s in summaries.items():
        for a in s.get("apps", []):
            share = dec(a["billed_share_usd"])
            idx = groups.get((date, region, a["app"]))
            if idx is None or not len(idx):
                extra.append({"date": date, "region": region, "app": a["app"], "team": a.get("team", ""),
                              "cost_centre": a.get("cost_centre", ""), "base_model": "", "model": "", "principal": "",
                              "principal_name": "", "principal_kind": "", "matched": a.get("matched", True),
                              "invocations": 0, **{t: 0 for t in TOKENS}, "tokens": 0, "cost_usd": "0",
                              "cost": Decimal(0), "billed": share})
                continue
            parts = prorate(share, {i: logs.at[i, "cost"] for i in idx}, {i: int(logs.at[i, "tokens"]) for i in idx})
            for i, v in parts.items():
                billed.at[i] = v
    out = logs.assign(billed=billed)
    return pd.concat([out, pd.DataFrame(extra)], ignore_index=True) if extra else out


def export_csv(data: ExploreData, sel: Selection, path: str | Path) -> Path:
    """The current selection as CSV: per day, region, application and model, usage, cost from logs and share of
    the bill (exact decimals)."""
    df = select(data, sel)
    keys = ["date", "region", "app", "team", "cost_centre", "model"]
    cols = [*keys, "invocations", *TOKENS, "cost_usd", "billed_share_usd"]
    if df.empty:
        pd.DataFrame(columns=cols).to_csv(path, index=False)
        return Path(path)
    g = df.groupby(keys, dropna=False).agg(invocations=("invocations", "sum"), **{t: (t, "sum") for t in TOKENS},
                                           cost_usd=("cost", lambda v: money(sum(v, Decimal(0)))),
                                           billed_share_usd=("billed", lambda v: money(sum(v, Decimal(0))))).reset_index()
    g[cols].to_csv(path, index=False)
    return Path(path)


def select(data: ExploreData, sel: Selection) -> pd.DataFrame:
    df = data.logs
    if df.empty:
        return df
    m = pd.Series(True, index=df.index)
    if sel.start:
        m &= df["date"] >= sel.start
    if sel.end:
        m &= df["date"] <= sel.end
    if sel.regions:
        m &= df["region"].isin(sel.regions)
    if sel.apps:
        m &= df["app"].isin(sel.apps)
    if sel.models:
        m &= df["model"].isin(sel.models) | df["base_model"].isin(sel.models)
    return df[m]


def _agg(df: pd.DataFrame, keys: list[str], metric: str) -> pd.DataFrame:
    """Sum the metric per key (cost exactly, as Decimal)."""
    if df.empty:
        return pd.DataFrame(columns=[*keys, "value"])
    if metric in MONEY:
        g = df.groupby(keys)[metric].agg(lambda s: sum(s, Decimal(0)))
    else:
        g = df.groupby(keys)[metric].sum()
    return g.rename("value").reset_index()


def _fmt(metric: str):
    return (lambda v: usd(v)) if metric in MONEY else (lambda v: f"{int(v):,}")


def figures(data: ExploreData, sel: Selection) -> dict:
    """The views' charts for a selection: daily trend per application, and totals per model."""
    df = select(data, sel)
    label = METRICS[sel.metric]
    out = {}
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.0))
    daily = _agg(df, ["date", "app"], sel.metric)
    if daily.empty:
        ax.text(0.5, 0.5, "nothing selected", ha="center", va="center", transform=ax.transAxes)
    else:
        piv = daily.pivot(index="date", columns="app", values="value").fillna(0).sort_index()
        piv = piv.astype(float)
        order = piv.sum().sort_values(ascending=False).index.tolist()
        x = list(range(len(piv.index)))
        bottom = [0.0] * len(x)
        for i, app_name in enumerate(order):
            vals = piv[app_name].tolist()
            ax.bar(x, vals, bottom=bottom, color=data.colour(app_name), label=app_name,
                   width=0.6)
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_xticks(x, [dt.date.fromisoformat(d).strftime("%a %d %b") for d in piv.index], fontsize=9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
        if sel.metric in MONEY:
            _usd_axis(ax, "y")
    ax.set_title(f"{label} per day and application", loc="left", fontsize=12)
    ax.set_ylabel(label)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out["daily"] = fig

    by_model = _agg(df[df["model"] != ""], ["model"], sel.metric)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, max(2.0, 0.42 * len(by_model) + 1.0)))
    if by_model.empty:
        ax.text(0.5, 0.5, "nothing selected", ha="center", va="center", transform=ax.transAxes)
    else:
        by_model = by_model.assign(f=by_model["value"].map(float)).sort_values("f")
        bars = ax.barh([data.redactor(model_label(m, 34)) for m in by_model["model"]], by_model["f"],
                       color=[data.colour(m, "model") for m in by_model["model"]])
        top = max(by_model["f"].max(), 1e-9)
        fmt = _fmt(sel.metric)
        for b, v in zip(bars, by_model["value"]):
            ax.text(b.get_width() + top * 0.01, b.get_y() + b.get_height() / 2, fmt(v), va="center", fontsize=9)
        ax.set_xlim(0, top * 1.15)
        if sel.metric in MONEY:
            _usd_axis(ax, "x")
    ax.set_title(f"{label} per model", loc="left", fontsize=12)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out["models"] = fig
    return out


def tables(data: ExploreData, sel: Selection) -> dict:
    """The views' tables (HTML) for a selection."""
    df = select(data, sel)
    fmt = _fmt(sel.metric)
    label = METRICS[sel.metric]
    out = {}
    if df.empty:
        return {"apps": "<p>Nothing matches this selection.</p>"}
    cost = sum(df["cost"], Decimal(0))
    t_days = sorted(df["date"].unique())
    billed = sum((Decimal(s["totals"]["billed_cost_usd"]) for (d, r), s in data.summaries.items()
                  if d in t_days and r in set(df["region"])), Decimal(0))
    out["kpis"] = kpis([
        ("Cost from logs", usd(cost), f"{count(len(t_days), 'day')}, {count(df['region'].nunique(), 'region')}"),
        ("Invocations", f"{int(df['invocations'].sum()):,}", "in the invocation logs"),
        ("Tokens", f"{int(df['tokens'].sum()):,}", "input + output + cache"),
        ("Billed, same days and regions", usd(billed) if billed else "n/a", "whole bill, not filtered by application or model"),
    ])
    no_rule = set(df.loc[unmatched(df), "app"]) if not df.empty else set()
    g = df.groupby(["app", "team", "cost_centre"]).agg(invocations=("invocations", "sum"), tokens=("tokens", "sum"),
                                                        cost=("cost", lambda s: sum(s, Decimal(0))),
                                                        billed=("billed", lambda s: sum(s, Decimal(0)))).reset_index()
    key = sel.metric if sel.metric in ("billed", "cost", "tokens") else "invocations"
    g = g.sort_values(key, ascending=False, key=lambda s: s.map(float)).reset_index(drop=True)
    show_df = pd.DataFrame({"Application": g["app"], "Team": g["team"].replace("", "(none)"),
                            "Cost centre": g["cost_centre"].replace("", "(none)"), "Invocations": g["invocations"].map("{:,}".format),
                            "Tokens": g["tokens"].map("{:,}".format), "Cost from logs": g["cost"].map(usd),
                            "Share of the bill": g["billed"].map(usd)})
    out["apps"] = table(show_df, {"Invocations", "Tokens", "Cost from logs", "Share of the bill"},
                        [i for i, a in enumerate(g["app"]) if a in no_rule])
    piv = _agg(df, ["model", "app"], sel.metric)
    if not piv.empty:
        wide = piv.pivot(index="model", columns="app", values="value")
        wide = wide.loc[wide.apply(lambda r: sum(float(v) for v in r if pd.notna(v)), axis=1).sort_values(ascending=False).index]
        cells = wide.apply(lambda col: col.map(lambda v: fmt(v) if pd.notna(v) else ""))
        cells.insert(0, "Model", [data.redactor(m) for m in cells.index])
        out["pivot"] = f"<p><b>{esc(label)} by model and application</b></p>" + table(cells.reset_index(drop=True),
                                                                                     set(cells.columns) - {"Model"})
    reg = _agg(df, ["date", "region"], sel.metric)
    reg = reg.assign(value=reg["value"].map(fmt))
    wide = reg.pivot(index="date", columns="region", values="value").fillna("").reset_index().rename(columns={"date": "Date"})
    out["regions"] = f"<p><b>{esc(label)} by day and region</b></p>" + table(wide, set(wide.columns) - {"Date"})
    return out


def render(data: ExploreData, sel: Selection) -> list:
    """Everything the explorer shows for one selection, in order (HTML strings and figures)."""
    items = [f"<p class='sub'>Selection: {esc(sel.start or (data.dates[0] if data.dates else ''))} to "
             f"{esc(sel.end or (data.dates[-1] if data.dates else ''))}; regions {esc(', '.join(sel.regions) or 'all')}; "
             f"applications {esc(', '.join(sel.apps) or 'all')}; "
             f"models {esc(', '.join(sel.models) or 'all')}; metric {esc(METRICS[sel.metric])}</p>"]
    t = tables(data, sel)
    items.append(t.get("kpis", ""))
    figs = figures(data, sel)
    items += [figs["daily"], t.get("apps", ""), figs["models"], t.get("pivot", ""), t.get("regions", "")]
    return items


def header(data: ExploreData) -> str:
    n = len(data.summaries)
    inc = (box(f"<b>{count(len(data.incomplete), 'run')} without summary.json</b> (failed or still running) are included from "
               f"their logs: {esc(', '.join(f'{d} {r}' for d, r in data.incomplete))}", "warn") if data.incomplete else "")
    span = f"{data.dates[0]} to {data.dates[-1]}" if data.dates else "no data"
    return (f"<h1>Amazon Bedrock usage explorer</h1><p class='sub'>{n} completed date-region run(s), {span}, regions "
            f"{esc(', '.join(data.regions) or 'none')}; figures are from the invocation logs priced at the price book.</p>" + inc)


def show_static(data: ExploreData, sel: Selection) -> None:
    """The static path: draw the views once (batch runs, papermill, exported HTML)."""
    show(*render(data, sel))


def app(data: ExploreData, sel: Selection | None = None):
    """The interactive path: controls plus a ``widgets.Output`` redrawn in place by :func:`render` on every change."""
    import ipywidgets as w
    sel = sel or Selection()
    dates = data.dates or [dt.date.today().isoformat()]
    start = sel.start if sel.start in dates else dates[0]
    end = sel.end if sel.end in dates else dates[-1]
    style = {"description_width": "90px"}
    c_dates = w.SelectionRangeSlider(options=dates, index=(dates.index(start), dates.index(end)), description="Dates",
                                     layout=w.Layout(width="520px"), style=style, readout=False)
    c_range = w.HTML()          # the slider's own readout cuts the dates off: the range is written out here
    c_regions = w.SelectMultiple(options=data.regions, value=tuple(r for r in sel.regions if r in data.regions),
                                 description="Regions", rows=4, style=style)
    c_apps = w.SelectMultiple(options=data.apps, value=tuple(a for a in sel.apps if a in data.apps),
                              description="Applications", rows=6, style=style)
    c_models = w.SelectMultiple(options=data.models, value=tuple(m for m in sel.models if m in data.models),
                                description="Models", rows=6, style=style, layout=w.Layout(width="380px"))
    c_metric = w.ToggleButtons(options=[(v, k) for k, v in METRICS.items()], value=sel.metric, description="Metric",
                               style=style)
    hint = w.HTML("<small>Nothing selected in a list means all. Ctrl/Cmd-click to pick several.</small>")
    c_export = w.Button(description="Export selection (CSV)", layout=w.Layout(width="220px"))
    c_saved = w.HTML()
    out = w.Output()

    def current() -> Selection:
        a, b = c_dates.value
        return Selection(a, b, tuple(c_regions.value), tuple(c_apps.value), tuple(c_models.value), c_metric.value)

    def redraw(_=None):
        a, b = c_dates.value
        c_range.value = f"<b>{esc(a)}</b> to <b>{esc(b)}</b>"
        with out:
            out.clear_output(wait=True)
            show(*render(data, current()))

    def export(_=None):
        sel_now = current()
        path = export_csv(data, sel_now, Path.cwd() / f"explore_selection_{sel_now.start}_{sel_now.end}.csv")
        c_saved.value = f"<small>written: {esc(str(path))}</small>"

    c_export.on_click(export)

    for c in (c_dates, c_regions, c_apps, c_models, c_metric):
        c.observe(redraw, names="value")
    redraw()
    controls = w.VBox([w.HBox([c_dates, c_range]), w.HBox([c_regions, c_apps, c_models]), c_metric,
                       w.HBox([hint, c_export, c_saved])])
    ui = w.VBox([controls, out])
    ui.redraw = redraw            # for tests and for re-drawing after new runs
    ui.controls = {"dates": c_dates, "regions": c_regions, "apps": c_apps, "models": c_models, "metric": c_metric,
                   "range": c_range, "export": c_export}
    ui.export = export
    ui.output = out
    return ui


def main(output_dir: str = "", params_file: str = "", interactive: bool = False, start: str = "", end: str = "",
         regions: str = "", apps: str = "", models: str = "", metric: str = "billed"):
    """The notebook's one call: static views, or the widget app when ``interactive``."""
    data = load(output_dir, params_file)
    sel = Selection.parse(start, end, regions, apps, models, metric)
    show(header(data))
    if interactive:
        from IPython.display import display
        ui = app(data, sel)
        display(ui)
        return ui
    show_static(data, sel)
    return data

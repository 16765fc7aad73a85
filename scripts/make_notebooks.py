"""Write the kit's notebooks (thin: a parameters cell, one resolve() call, calls into tracker_utils).

Run after editing the cell texts here: ``python scripts/make_notebooks.py``. The notebooks are committed without
outputs; a test checks that.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1] / "notebooks"

PARAMS = '''date: str = "2026-11-02"  # ISO day, UTC
region: str = "us-east-1"  # AWS region whose usage is reported
params_file: str = ""  # params YAML (empty: params/default.yaml)
output_dir: str = ""  # folder for the date and region outputs (empty: from the params file)
interactive: bool = True  # False in batch runs (papermill): no widgets'''

RESOLVE = '''from tracker_utils import config
cfg = config.resolve(date=date, region=region, params_file=params_file, output_dir=output_dir, interactive=interactive)
print(f"{cfg.date} {cfg.region}: {cfg.run_dir}")'''

# the shared report prints nothing about paths
RESOLVE_QUIET = '''from tracker_utils import config
cfg = config.resolve(date=date, region=region, params_file=params_file, output_dir=output_dir, interactive=interactive)'''

NOTEBOOKS = {
    "01_collect": [
        ("md", "# 1. Collect\nInvocation logs, CloudWatch `AWS/Bedrock` metrics and the bill for one date and region, "
               "as tidy frames in `data/collect_*.parquet`. Prompts and responses stop here."),
        ("code", "from tracker_utils import collect, report_stages\n"
                 "summary = collect.run(cfg)\n"
                 "report_stages.show_collect(summary)"),
    ],
    "02_price": [
        ("md", "# 2. Price\nTokens times the price book (`params/prices.csv`), exactly. Unknown models are priced at "
               "nothing and listed, never priced as another model."),
        ("code", "from tracker_utils import pricing, report_stages\n"
                 "summary = pricing.run(cfg)\n"
                 "report_stages.show_price(cfg, summary)"),
    ],
    "03_reconcile": [
        ("md", "# 3. Reconcile\nLogs vs CloudWatch vs the bill, per hour and model, with every gap sized and named."),
        ("code", "from tracker_utils import reconcile, report_stages\n"
                 "summary = reconcile.run(cfg)\n"
                 "report_stages.show_reconcile(cfg, summary)"),
    ],
    "04_report": [
        ("code", "from tracker_utils import report\n"
                 "d = report.load(cfg)\n"
                 "d.show(report.title(d), report.quality_top(d), report.headline(d), report.verdict_box(d), "
                 "report.anomaly_box(d))"),
        ("md", "## Cost by application\nApplications, teams and cost centres come from the rules in `params/apps.yaml` "
               "(roles, users, request metadata, application inference profiles). Each application's share of the bill "
               "scales its cost in the logs, model by model, to what was billed. Usage no rule matches is shown as "
               "*unattributed*."),
        ("code", "d.show(report.chart_apps(d), report.apps_table(d))"),
        ("md", "## Cost by model"),
        ("code", "d.show(report.chart_models(d), report.models_table(d))"),
        ("md", "## Hour by hour"),
        ("code", "d.show(report.chart_hourly(d))"),
        ("md", "## Reconciliation: logs vs CloudWatch vs the bill\nEvery difference is sized and named by its cause."),
        ("code", "d.show(report.chart_reconciliation(d), report.gaps_table(d))"),
        ("md", "### Bill lines"),
        ("code", "d.show(report.usage_types_table(d))"),
        ("md", "## Top principals"),
        ("code", "d.show(report.top_principals(d), report.quality_bottom(d), report.footer(d))"),
    ],
}

# Notebooks over the whole output folder rather than one date and region.
ROLLUP_PARAMS = '''params_file: str = ""  # params YAML of the run (empty: params/default.yaml)
output_dir: str = ""  # the run's output folder (empty: from the params file)
interactive: bool = True  # False in batch runs (papermill): no widgets'''

EXPLORE_PARAMS = '''params_file: str = ""  # params YAML (empty: params/default.yaml); its output_dir is read
output_dir: str = ""  # folder holding <date>/<region>/ runs (empty: from the params file)
interactive: bool = True  # False in batch runs (papermill): static views, no widgets
start: str = ""  # first ISO day shown (empty: the first collected)
end: str = ""  # last ISO day shown (empty: the last collected)
regions: str = ""  # comma-separated regions (empty: all)
apps: str = ""  # comma-separated applications (empty: all)
models: str = ""  # comma-separated model names (empty: all)
metric: str = "cost"  # cost | invocations | tokens | input_tokens | output_tokens'''

OTHER = {
    "05_rollup": (ROLLUP_PARAMS, [
        ("code", "from tracker_utils import rollup\n"
                 "rd = rollup.load(params_file=params_file, output_dir=output_dir, interactive=interactive)\n"
                 "rollup.write_chargeback(rd)\n"
                 "rd.show(rollup.title(rd), rollup.status_box(rd), rollup.headline(rd), rollup.verdict_box(rd), "
                 "rollup.anomaly_box(rd))"),
        ("md", "## Chargeback by application\nTeams and cost centres from `params/apps.yaml`; *unattributed* is usage "
               "no rule matches."),
        ("code", "rd.show(rollup.chargeback_table(rd))"),
        ("md", "## Daily trends"),
        ("code", "rd.show(rollup.chart_trend_models(rd), rollup.chart_trend_apps(rd))"),
        ("md", "## Every date and region"),
        ("code", "rd.show(rollup.runs_table(rd), rollup.region_table(rd))"),
        ("md", "## Top principals"),
        ("code", "rd.show(rollup.top_principals(rd), rollup.footer(rd))"),
    ]),
    "explore": (EXPLORE_PARAMS, [
        ("md", "# Explore Bedrock usage\nEvery collected run in the output folder. With `interactive = True` (JupyterLab) "
               "the controls redraw the tables and charts in place; with `interactive = False` (papermill) the same "
               "views are drawn once for the parameters above."),
        ("code", "from tracker_utils import explore\n"
                 "ui = explore.main(output_dir=output_dir, params_file=params_file, interactive=interactive, start=start, "
                 "end=end, regions=regions, apps=apps, models=models, metric=metric)"),
    ]),
}

def build(name: str, cells: list[tuple[str, str]], params: str = PARAMS, resolve: str | None = RESOLVE) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "bedrock-tracker", "display_name": "Bedrock Usage Tracker (Python)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    p = new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + ([new_code_cell(resolve)] if resolve else [])
    for kind, text in cells:
        nb.cells.append(new_markdown_cell(text) if kind == "md" else new_code_cell(text))
    for i, c in enumerate(nb.cells):
        c["id"] = f"{name.replace('_', '-')}-{i}"
    return nb


def main() -> None:
    ROOT.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        resolve = RESOLVE_QUIET if name == "04_report" else RESOLVE
        nbformat.write(build(name, cells, resolve=resolve), str(ROOT / f"{name}.ipynb"))
        print(ROOT / f"{name}.ipynb")
    for name, (params, cells) in OTHER.items():
        nbformat.write(build(name, cells, params=params, resolve=None), str(ROOT / f"{name}.ipynb"))
        print(ROOT / f"{name}.ipynb")


if __name__ == "__main__":
    main()

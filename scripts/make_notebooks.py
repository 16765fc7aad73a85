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
        ("code", "from IPython.display import HTML, Markdown, display\n"
                 "from tracker_utils import report\n"
                 "d = report.load(cfg)\n"
                 "display(Markdown(report.title(d)))\n"
                 "display(HTML(report.quality_box(d)))\n"
                 "display(HTML(report.headline(d)))\n"
                 "display(HTML(report.verdict_box(d)))"),
        ("md", "## Cost by application and model\nApplications come from the invocation logs (rules in "
               "`params/apps.yaml`); their share of the bill scales each model's logs cost to what was billed."),
        ("code", "display(HTML(report.apps_table(d)))\n"
                 "display(HTML(report.models_table(d)))\n"
                 "fig = report.chart_costs(d)"),
        ("md", "## Hour by hour"),
        ("code", "fig = report.chart_hourly(d)"),
        ("md", "## Reconciliation: logs vs CloudWatch vs the bill"),
        ("code", "fig = report.chart_reconciliation(d)\n"
                 "display(HTML(report.gaps_table(d)))\n"
                 "display(HTML(report.usage_types_table(d)))"),
        ("md", "## Top principals"),
        ("code", "display(HTML(report.top_principals(d)))"),
    ],
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "bedrock-tracker", "display_name": "Bedrock Usage Tracker (Python)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    p = new_code_cell(PARAMS)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, new_code_cell(RESOLVE)]
    for kind, text in cells:
        nb.cells.append(new_markdown_cell(text) if kind == "md" else new_code_cell(text))
    for i, c in enumerate(nb.cells):
        c["id"] = f"{name.replace('_', '-')}-{i}"
    return nb


def main() -> None:
    ROOT.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(name, cells), str(ROOT / f"{name}.ipynb"))
        print(ROOT / f"{name}.ipynb")


if __name__ == "__main__":
    main()

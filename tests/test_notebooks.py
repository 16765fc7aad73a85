"""Notebooks are committed thin and clean: no outputs, the first code cell is the only `parameters` cell."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))


def test_the_four_pipeline_notebooks_exist():
    names = {p.stem for p in NOTEBOOKS}
    assert {"01_collect", "02_price", "03_reconcile", "04_report"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_outputs_committed(path):
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a code cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a code cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_only_parameters_cell(path):
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and "parameters" in code[0].metadata.get("tags", []), f"{path.name}: first code cell not tagged parameters"
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    # literals only, each with a type annotation and a help comment
    tree = ast.parse(code[0].source)
    for node in tree.body:
        assert isinstance(node, ast.AnnAssign), f"{path.name}: parameters cell must hold annotated literals only"
        ast.literal_eval(node.value)
    for line in code[0].source.splitlines():
        assert "#" in line, f"{path.name}: parameter without a help comment: {line}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_sees_every_parameter(path):
    import papermill as pm
    params = pm.inspect_notebook(str(path))
    code = [c for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"]
    names = [n.target.id for n in ast.parse(code[0].source).body]
    assert list(params) == names
    assert all(p["help"] for p in params.values())

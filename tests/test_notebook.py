"""examples/quickstart.ipynb runs end to end in a fresh kernel (a search, its leaderboard, a plot, the final model
and a prediction), with its parameters cell pointed at this test's folders and at the suite's tiny search space
(the demo's, smaller: every cell runs as it is, in a quarter of the time); and it is stored without outputs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import tiny_space

pytestmark = pytest.mark.slow
NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def test_the_quickstart_notebook_is_stored_without_outputs():
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code and all(not cell["outputs"] and cell["execution_count"] is None for cell in code)


def test_the_quickstart_notebook_runs(tmp_path):
    import nbclient  # the test extra's: pip install -e ".[test]"
    import nbformat
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(tiny_space(tmp_path, "unused")))  # the notebook names its experiment
    parameters[0].source = (f"space = {str(space)!r}\nstorage = {str(tmp_path / 'results')!r}\n"
                            f"cache_dir = {str(tmp_path / 'cache')!r}")
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    shown = "\n".join(str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
                      for output in outputs)
    assert "val/acc/mean" in shown and "final model: ensemble of" in shown and "label_1" in shown
    assert any("image/png" in output.get("data", {}) for output in outputs)  # the plot
    logged = "".join(output.get("text", "") for output in outputs if output.get("name") == "stderr")
    assert "trials 6/6 done" in logged  # the search's progress, shown in the notebook (stderr)
    experiments = list((tmp_path / "results").iterdir())
    assert len(experiments) == 1 and (experiments[0] / "final" / "model.onnx").is_file()

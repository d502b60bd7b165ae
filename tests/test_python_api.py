"""The Python API mirrors the CLI (issue 22): `import radgen` loads no torch, and examples/python_api.py runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_radgen_loads_no_torch_and_the_api_resolves_lazily():
    code = (
        "import json, sys, radgen; no_torch = 'torch' not in sys.modules; import radgen.api; "
        "same = radgen.train is radgen.api.train and radgen.release is radgen.api.release; "
        "print(json.dumps([no_torch, same, sorted(radgen.__all__)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    no_torch, same, names = json.loads(out.stdout)
    assert no_torch and same
    assert {"load_dataset", "train", "load", "evaluate", "augment", "classify", "release"} <= set(names)


def test_python_api_example_runs(tmp_path, data_dir):
    env = {**os.environ, "RADGEN_DATA_DIR": str(data_dir)}
    res = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python_api.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "samples (8, 1, 28, 28)" in res.stdout and "released 64 images" in res.stdout
    sheet = json.loads((tmp_path / "synthetic" / "datasheet.json").read_text())
    assert sheet["n"] == 64 and sheet["generator"]["budget"]["steps"] == 4

"""The radgen command line, end to end on the real data kit."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from radgen.cli import main
from radgen.data import DATASETS


def test_list_datasets_prints_every_registered_source(capsys):
    assert main(["list", "datasets", "-v"]) == 0
    out = capsys.readouterr().out
    for e in DATASETS:
        assert e.name in out and e.description[:30] in out
    assert "options: window, stride, series_uid" in out


@pytest.mark.data_kit
def test_inspect_json_counts_and_imbalance(capsys):
    assert main(["data", "inspect", "chest_xray_full_64", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["splits"]["train"]["classes"] == {"NORMAL": 1292, "PNEUMONIA": 3585}
    assert s["splits"]["test"]["images"] == 613 and s["total"]["images"] == 5506
    assert s["splits"]["train"]["imbalance_ratio"] == round(3585 / 1292, 3)
    assert s["stored"] == {"height": 64, "width": 64, "channels": 1, "dtype": "uint8", "storage": "memory"}


@pytest.mark.data_kit
def test_inspect_text_shows_sizes_modes_and_grid(tmp_path, capsys):
    grid = tmp_path / "grid.png"
    assert main(["data", "inspect", "chest_xray_folder", "--grid", str(grid), "--per-class", "4"]) == 0
    out = capsys.readouterr().out
    assert "original modes  L: 185, RGB: 15" in out  # MANIFEST section 4
    assert "NORMAL" in out and "2.64:1" in out
    img = np.asarray(Image.open(grid).convert("L"))
    assert img.shape[0] > 100 and img.shape[1] > 300 and img.std() > 20  # a real picture, two class rows


@pytest.mark.data_kit
def test_inspect_cxr14_csv_only(capsys):
    assert main(["data", "inspect", "cxr14"]) == 0
    out = capsys.readouterr().out
    assert "112120 images, 30805 patients, 14 conditions" in out and "Hernia" in out


def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "radgen", "version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("radgen 0.1.0")
    r = subprocess.run(
        [sys.executable, "-m", "radgen", "data", "inspect", "nope"], capture_output=True, text=True, timeout=120
    )
    assert (
        r.returncode == 2
        and r.stderr.strip().startswith("radgen: error: unknown dataset 'nope'")
        and "Traceback" not in r.stderr
    )


def test_help_and_version_import_no_torch():
    """``radgen --help`` and ``radgen --version`` build the whole parser without importing torch (or numpy,
    Lightning): the commands' libraries are imported when a command runs."""
    code = (
        "import sys\n"
        "from radgen.cli import main\n"
        "for argv in (['--help'], ['--version'], ['reproduce', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        "print(sorted(m for m in ('torch', 'numpy', 'lightning', 'yaml') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "radgen 0.1.0" in r.stdout and "seed003-table5" in r.stdout  # the version, and reproduce's names
    assert r.stdout.strip().splitlines()[-1] == "[]"

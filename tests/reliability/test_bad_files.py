"""Red-team cases (issue 16, deliverable 4): skipped bad files are printed and recorded, an empty class or split
is an error, and a warm cache never bypasses --on-bad-file error."""

from __future__ import annotations

import json

import pytest

from radgen.cli import main
from radgen.data import load_dataset
from radgen.errors import BadFileError, DataError
from radgen.training import load_run_config, train
from tests.data.test_bad_inputs import REAL_JPEG, _kaggle_tree


def _truncate(path, data: bytes) -> None:
    path.write_bytes(data[: len(data) // 3])


def test_skips_are_printed_and_a_warm_cache_does_not_bypass_on_bad_file_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RADGEN_CACHE_DIR", str(tmp_path / "cache"))
    root = _kaggle_tree(tmp_path / "cx")
    _truncate(root / "train/NORMAL/IM-0099-0001.jpeg", REAL_JPEG.read_bytes())
    for _ in range(2):  # the second load comes from the cache, and still says so
        ds = load_dataset("chest_xray_folder", path=str(root), size=16, progress=False)
        err = capsys.readouterr().err
        assert "radgen: warning: chest_xray_folder: skipped 1 bad file, first: " in err
        assert "IM-0099-0001.jpeg (corrupt or truncated image" in err and len(ds.bad_files) == 1
    assert ds.from_cache
    with pytest.raises(BadFileError, match="IM-0099-0001.jpeg"):  # the cache key holds on_bad_file
        load_dataset("chest_xray_folder", path=str(root), size=16, on_bad_file="error", progress=False)


def test_a_class_left_empty_by_bad_files_is_an_error(tmp_path, capsys):
    root = _kaggle_tree(tmp_path / "cx")
    data = REAL_JPEG.read_bytes()
    for f in sorted((root / "train/PNEUMONIA").iterdir()):
        f.unlink()
        _truncate(f.with_suffix(".jpeg"), data)
    with pytest.raises(DataError, match=r"class 'PNEUMONIA' .* has no training images \(skipped 3 bad files, first"):
        load_dataset("chest_xray_folder", path=str(root), size=16, cache=False, progress=False)
    # inspect shows it instead of refusing
    assert main(["data", "inspect", "chest_xray_folder", "--path", str(root), "--size", "16", "--no-cache"]) == 0
    assert "skipped 3 bad files" in capsys.readouterr().err


def test_training_records_skipped_files_in_run_json_and_the_report(tmp_path, capsys):
    root = _kaggle_tree(tmp_path / "cx", n=4)
    _truncate(root / "train/NORMAL/IM-0099-0001.jpeg", REAL_JPEG.read_bytes())
    cfg = load_run_config(
        "tiny",
        [
            f"data={{name: chest_xray_folder, path: {root}, size: 16, cache: false}}",
            f"output_dir={tmp_path / 'runs'}",
            "train.epochs=1",
            "train.progress_bar=false",
            "train.sample_every=0",
            "train.checkpoint_every=0",
        ],
    )
    r = train(cfg)
    assert "skipped 1 bad file" in capsys.readouterr().err
    bad = json.loads((r.run_dir / "run.json").read_text())["data"]["bad_files"]
    assert bad["count"] == 1 and bad["first"][0].split(":")[0].endswith("IM-0099-0001.jpeg")
    assert main(["report", str(r.run_dir)]) == 0
    assert "**1 bad files skipped** (first: " in (r.run_dir / "report.md").read_text()


def test_a_garbage_dcm_beside_a_series_is_a_bad_file_not_a_second_series(tmp_path, capsys):
    import shutil

    from tests.conftest import DATA

    d = tmp_path / "series"
    shutil.copytree(DATA / "ct/dicom_series/pancreas_ct_12slices", d)
    (d / "zz_garbage.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"garbage" * 50)
    ds = load_dataset("ct_dicom", path=str(d), cache=False, progress=False)
    assert len(ds["train"]) == 12 and len(ds.bad_files) == 1 and ds.bad_files[0][0].endswith("zz_garbage.dcm")
    assert "skipped 1 bad file, first: " in capsys.readouterr().err

"""A path wherever a dataset name goes (issue 22): every source kind is detected from its files, ambiguity and
unknown formats are one-line errors, and the path form loads and prints what the named form does."""

from __future__ import annotations

import gzip
import shutil
import struct

import numpy as np
import pytest
from PIL import Image

from radgen.cli import main
from radgen.data import load_dataset
from radgen.data.detect import detect_source
from radgen.errors import ConfigError, DataError

KIT = [
    ("pneumoniamnist", "pneumoniamnist", "pneumoniamnist/pneumoniamnist.npz"),
    ("pneumoniamnist/pneumoniamnist.npz", "pneumoniamnist", "pneumoniamnist/pneumoniamnist.npz"),
    ("chest_xray_pneumonia/chest_xray_64.npz", "chest_xray_64", "chest_xray_pneumonia/chest_xray_64.npz"),
    (
        "chest_xray_pneumonia/chest_xray_full_64.npz",
        "chest_xray_full_64",
        "chest_xray_pneumonia/chest_xray_full_64.npz",
    ),
    ("mnist", "mnist", "mnist"),
    ("fashion_mnist/train-labels-idx1-ubyte.gz", "fashion_mnist", "fashion_mnist"),
    ("cxr14_sample", "cxr14", "cxr14_sample"),
    ("cxr14_sample/Data_Entry_2017_v2020.csv.gz", "cxr14", "cxr14_sample"),
    ("ct/chest_ct.nii.gz", "ct_nifti", "ct/chest_ct.nii.gz"),
    ("ct/dicom_series/pancreas_ct_12slices", "ct_dicom", "ct/dicom_series/pancreas_ct_12slices"),
    ("chest_xray_sample", "chest_xray_folder", "chest_xray_sample"),
]


@pytest.mark.parametrize(("given", "source", "resolved"), KIT)
def test_every_kit_format_is_detected(data_dir, given, source, resolved):
    name, path, why = detect_source(data_dir / given)
    assert (name, path) == (source, data_dir / resolved) and why


def _tree(root, classes, n=2):
    for split in ("train", "test"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(root / split / c / f"{i}.png")


def test_class_trees_generic_and_kaggle(tmp_path):
    _tree(tmp_path / "pets", ["cats", "dogs"])
    _tree(tmp_path / "cxr", ["NORMAL", "PNEUMONIA"])
    assert detect_source(tmp_path / "pets")[0] == "image_folder"
    assert detect_source(tmp_path / "cxr")[0] == "chest_xray_folder"
    ds = load_dataset(str(tmp_path / "pets"), cache=False, progress=False)
    assert ds.class_names == ("cats", "dogs") and ds["test"].class_counts() == {"cats": 2, "dogs": 2}


def test_ambiguous_folder_lists_the_candidates(data_dir, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(data_dir / "cxr14_sample" / "Data_Entry_2017_v2020.csv.gz", mixed)
    dcm = next((data_dir / "ct" / "dicom_series" / "pancreas_ct_12slices").iterdir())
    shutil.copy(dcm, mixed / "slice.dcm")
    with pytest.raises(ConfigError, match=r"ambiguous.*cxr14.*ct_dicom.*--path"):
        detect_source(mixed)


def test_unknown_formats_say_what_was_tried(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"no dataset format recognised; tried: .*MedMNIST.*class-per-folder"):
        detect_source(tmp_path / "notes.txt")
    with pytest.raises(DataError, match="no such file or folder"):
        detect_source(tmp_path / "missing")
    np.savez(
        tmp_path / "blood.npz",
        **{f"{s}_{k}": np.zeros((2, 8)) for s in ("train", "val", "test") for k in ("images", "labels")},
    )
    with pytest.raises(DataError, match="8 label columns"):
        detect_source(tmp_path / "blood.npz")
    idx = tmp_path / "digits"
    idx.mkdir()
    with gzip.open(idx / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIBBBB", 0x801, 2, 1, 2, 3, 4)[:10])
    with pytest.raises(DataError, match="neither MNIST's nor Fashion-MNIST's"):
        detect_source(idx)


def test_path_form_loads_and_prints_as_the_named_form(data_dir, capsys):
    by_path = load_dataset(str(data_dir / "pneumoniamnist"), progress=False)
    by_name = load_dataset("pneumoniamnist", progress=False)
    assert {s: len(by_path[s]) for s in by_path} == {s: len(by_name[s]) for s in by_name}
    assert main(["data", "inspect", "pneumoniamnist"]) == 0
    named = capsys.readouterr().out
    assert main(["data", "inspect", str(data_dir / "pneumoniamnist")]) == 0
    cap = capsys.readouterr()
    assert cap.out == named
    assert "reading" in cap.err and "as pneumoniamnist" in cap.err
    assert main(["data", "inspect", str(data_dir), "--path", "x"]) == 2

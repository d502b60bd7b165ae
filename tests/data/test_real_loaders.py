"""Every loader on the real files in ../shared/data, against the MANIFEST's exact counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radgen.data import DataConfig, load_dataset, make_source
from tests.conftest import DATA

# name -> {split: {class: count}} (MANIFEST.md sections 1-9)
EXPECTED = {
    "chest_xray_full_64": {
        "train": {"NORMAL": 1292, "PNEUMONIA": 3585},
        "val": {"NORMAL": 8, "PNEUMONIA": 8},
        "test": {"NORMAL": 231, "PNEUMONIA": 382},
    },
    "chest_xray_64": {"train": {"NORMAL": 361, "PNEUMONIA": 1040}},
    "chest_xray_128": {"train": {"NORMAL": 361, "PNEUMONIA": 1040}},
    "chest_xray_folder": {"train": {"NORMAL": 55, "PNEUMONIA": 145}},
    "pneumoniamnist": {
        "train": {"normal": 1214, "pneumonia": 3494},
        "val": {"normal": 135, "pneumonia": 389},
        "test": {"normal": 234, "pneumonia": 390},
    },
    "fashion_mnist": {
        "train": dict.fromkeys(
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            6000,
        ),
        "test": dict.fromkeys(
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            1000,
        ),
    },
    "ct_dicom": {"train": {"CT": 12}},
    "ct_nifti": {"train": {"CT": 133}},
}
SIZES = {
    "chest_xray_full_64": 64,
    "chest_xray_64": 64,
    "chest_xray_128": 128,
    "chest_xray_folder": 64,
    "pneumoniamnist": 28,
    "fashion_mnist": 28,
    "ct_dicom": 512,
    "ct_nifti": 512,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_shapes_and_range(name):
    ds = load_dataset(name, progress=False)
    assert {s: ds[s].class_counts() for s in ds} == EXPECTED[name]
    for split in ds:
        s = ds[split]
        x, y = s[0]
        assert x.dtype == torch.float32 and x.shape == (1, SIZES[name], SIZES[name])
        assert y.dtype == torch.int64
        imgs = s.images
        assert imgs.shape == (len(s), 1, SIZES[name], SIZES[name])
        assert float(imgs.min()) >= 0.0 and float(imgs.max()) <= 1.0
        assert float(imgs.std()) > 0.05  # real images, not blanks
        assert len(s.paths) == len(s) and all(s.paths)


def test_mnist_counts_match_official_label_histogram():
    ds = load_dataset("mnist", progress=False)
    assert len(ds["train"]) == 60000 and len(ds["test"]) == 10000
    assert ds["train"].class_counts()["0"] == 5923 and ds["train"].class_counts()["1"] == 6742
    assert ds["test"].class_counts()["5"] == 892
    # the first training digit of MNIST is a 5
    assert int(ds["train"].labels[0]) == 5


def test_kaggle_patient_ids_and_split_patient_disjoint():
    ds = load_dataset("chest_xray_full_64", progress=False)
    assert len(set(ds["train"].patients)) == 2724  # MANIFEST section 9
    assert len(set(ds["test"].patients)) == 421
    assert all(ds["train"].patients)
    folder = load_dataset("chest_xray_folder", progress=False)
    assert len(set(folder["train"].patients)) == 153  # MANIFEST section 4
    subtypes = folder["train"].meta["subtype"]
    assert (subtypes == "bacteria").sum() == 104 and (subtypes == "virus").sum() == 41


def test_folder_resize_matches_the_kit_arrays_built_from_the_same_originals():
    """The 200 JPEGs resized by radgen agree with chest_xray_64.npz (same files, same Lanczos)."""
    folder = load_dataset("chest_xray_folder", size=64, progress=False)["train"]
    arrays = load_dataset("chest_xray_64", progress=False)["train"]
    index = {f: i for i, f in enumerate(arrays.meta["file"])}
    rows = [index[p] for p in folder.paths]
    a = folder.pixels.float()
    b = arrays.pixels[torch.tensor(rows)].float()
    mad = (a - b).abs().mean(dim=(1, 2, 3))
    assert torch.equal(folder.labels, arrays.labels[torch.tensor(rows)])
    assert float(mad.median()) < 1.5 and float(mad.max()) < 4.0  # grey levels out of 255 (JPEG draft decode)


def test_val_from_train_is_patient_level_and_stratified():
    ds = load_dataset("chest_xray_64", val_from_train=0.1, split_ratio=0.8, seed=3, progress=False)
    assert set(ds) == {"train", "val", "test"}
    sets = {s: set(ds[s].patients) for s in ds}
    assert (
        not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    )
    assert sum(len(ds[s]) for s in ds) == 1401
    assert abs(len(ds["test"]) / 1401 - 0.2) < 0.02

    def ratio(s):
        return ds[s].class_counts()["NORMAL"] / len(ds[s])

    assert abs(ratio("val") - ratio("train")) < 0.05 and abs(ratio("test") - ratio("train")) < 0.05
    again = load_dataset("chest_xray_64", val_from_train=0.1, split_ratio=0.8, seed=3, progress=False)
    assert again["val"].paths == ds["val"].paths  # seeded


def test_split_membership_and_missing_split_error():
    ds = load_dataset("chest_xray_64", progress=False)
    assert "train" in ds and "test" not in ds and ds.get("test") is None
    from radgen.errors import ConfigError

    with pytest.raises(ConfigError, match="has no split 'test'; available: train"):
        ds["test"]


def test_official_val_is_kept_when_val_is_carved():
    ds = load_dataset("chest_xray_full_64", val_from_train=0.1, progress=False)
    assert len(ds["val_official"]) == 16 and len(ds["train"]) + len(ds["val"]) == 4877


def test_channels_three_and_imagenet_view():
    ds = load_dataset("pneumoniamnist", channels=3, normalize="imagenet", progress=False)
    x, _ = ds["test"][0]
    raw = ds["test"].with_view(channels=1, normalize="none")[0][0][0]
    assert x.shape == (3, 28, 28)
    for c, (m, s) in enumerate(zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))):
        torch.testing.assert_close(x[c], (raw - m) / s)


def test_ct_dicom_sorted_by_z_and_in_hounsfield_units():
    ds = load_dataset("ct_dicom", progress=False)["train"]
    z = ds.meta["slice_z"].astype(float)
    assert list(z) == sorted(z) and z[0] == -239.0 and z[-1] == -228.0  # MANIFEST section 6
    # reference: HU straight from pydicom, stored value x RescaleSlope + RescaleIntercept, per file
    import pydicom

    folder = DATA / "ct/dicom_series/pancreas_ct_12slices"
    for name, lo, hi in zip(ds.paths, ds.meta["hu_min"].astype(float), ds.meta["hu_max"].astype(float)):
        ref = pydicom.dcmread(folder / name)
        hu = ref.pixel_array.astype(np.float64) * float(ref.RescaleSlope) + float(ref.RescaleIntercept)
        assert (lo, hi) == (hu.min(), hu.max())
    assert ds.meta["hu_min"].astype(float)[0] == -1024.0 and ds.meta["hu_max"].astype(float)[0] == 1203.0  # MANIFEST 6
    strided = load_dataset("ct_dicom", options={"stride": 4}, size=64, progress=False)["train"]
    assert len(strided) == 3 and strided.image_size == (64, 64)


def test_ct_window_maps_hu_linearly():
    lung = load_dataset("ct_dicom", options={"window": "lung"}, progress=False)["train"]
    custom = load_dataset("ct_dicom", options={"window": [1500, -600]}, progress=False)["train"]
    soft = load_dataset("ct_dicom", progress=False)["train"]
    torch.testing.assert_close(lung.pixels, custom.pixels, rtol=0, atol=0)  # preset == explicit [W, L]
    # W400/L40 maps [-160, 240] HU to [0, 1]: air (-1024 HU) is 0; W1500/L-600 maps [-1350, 150]: air is 326/1500
    assert float(soft.pixels.min()) == 0.0
    assert float(lung.pixels.min()) == pytest.approx((-1024 + 1350) / 1500, abs=1e-6)
    assert float((soft.pixels == 0).float().mean()) > float((lung.pixels == 0).float().mean())


def test_cxr14_csv_alone():
    src = make_source(DataConfig(name="cxr14"))
    info = src.describe()
    assert info["rows"] == 112120 and info["patients"] == 30805 and info["conditions"] == 14
    freq = {r["condition"]: r["images"] for r in info["frequency"]}
    assert freq["Hernia"] == 227 and freq["Cardiomegaly"] == 2776 and freq["No Finding"] == 60361
    assert info["images_found"] == 0 and info["images_missing"] == 112120

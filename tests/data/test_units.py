"""Transforms, splits, patient ids, cache and the synthetic-file loaders (CXR14, CT, folders)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from radgen.data import load_dataset
from radgen.data.ct import apply_window, display_orient
from radgen.data.patients import kaggle_patient_id, kaggle_subtype
from radgen.data.splits import group_split
from radgen.data.transforms import Preprocess, center_crop_square, equalize_histogram, resize


@pytest.mark.parametrize(
    "name,pid,sub",
    [
        ("person1003_virus_1685.jpeg", "person1003", "virus"),
        ("train/PNEUMONIA/person1_bacteria_1.jpeg", "person1", "bacteria"),
        ("IM-0117-0001.jpeg", "IM-0117", ""),
        ("NORMAL2-IM-0927-0001.jpeg", "NORMAL2-IM-0927", ""),
        ("scan.png", "", ""),
    ],
)
def test_kaggle_patient_ids(name, pid, sub):
    assert kaggle_patient_id(name) == pid and kaggle_subtype(name) == sub


def test_center_crop_and_resize_shapes_and_values():
    img = np.arange(6 * 10, dtype=np.uint8).reshape(6, 10)
    c = center_crop_square(img)
    assert c.shape == (6, 6) and c[0, 0] == img[0, 2]
    assert resize(np.full((50, 70), 77, np.uint8), 16).shape == (16, 16)
    assert np.all(resize(np.full((50, 70), 77, np.uint8), 16) == 77)  # constant stays constant
    f = resize(np.full((50, 70), 0.25, np.float32), 8)
    assert f.dtype == np.float32 and np.allclose(f, 0.25, atol=1e-6)
    p = Preprocess(size=16, crop="center", equalize="histogram")
    assert p(np.random.default_rng(0).integers(0, 255, (30, 50), dtype=np.uint8)).shape == (16, 16)


def test_histogram_equalization_against_formula():
    rng = np.random.default_rng(0)
    img = rng.integers(100, 140, size=(64, 64), dtype=np.uint8)  # narrow range
    out = equalize_histogram(img)
    hist = np.bincount(img.ravel(), minlength=256)
    cdf = np.cumsum(hist)
    cmin = cdf[hist.nonzero()[0][0]]
    ref = np.round(255 * (cdf - cmin) / (cdf[-1] - cmin)).astype(np.uint8)[img]
    np.testing.assert_array_equal(out, ref)
    assert out.min() == 0 and out.max() == 255
    # the CDF of the output is close to the identity (uniform histogram)
    q = np.quantile(out, [0.25, 0.5, 0.75])
    assert np.allclose(q, [64, 128, 191], atol=12)
    # float path agrees with the uint8 path on the same levels
    f = equalize_histogram(img.astype(np.float32) / 255.0)
    assert np.abs(f * 255 - out).max() <= 3.5
    assert np.array_equal(equalize_histogram(np.full((4, 4), 9, np.uint8)), np.full((4, 4), 9, np.uint8))


def test_group_split_keeps_patients_together_and_stratifies():
    groups = np.array([f"p{i // 3}" for i in range(900)])  # 300 patients, 3 images each
    labels = np.array([0 if int(g[1:]) < 75 else 1 for g in groups])  # 1:3 imbalance by patient
    rest, held = group_split(labels, groups, 0.2, seed=5)
    assert len(rest) + len(held) == 900 and not set(rest) & set(held)
    assert not set(groups[rest]) & set(groups[held])
    assert abs(len(held) / 900 - 0.2) < 0.01
    assert abs(labels[held].mean() - labels.mean()) < 0.02
    again = group_split(labels, groups, 0.2, seed=5)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(group_split(labels, groups, 0.2, seed=6)[1], held)
    # items without a patient id are their own group
    rest2, held2 = group_split(np.zeros(10, int), [""] * 10, 0.3, seed=0)
    assert len(held2) == 3


def test_cache_hit_gives_identical_data_and_options_change_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("RADGEN_CACHE_DIR", str(tmp_path / "cache"))
    a = load_dataset("chest_xray_folder", size=32, progress=False)
    b = load_dataset("chest_xray_folder", size=32, progress=False)
    assert not a.from_cache and b.from_cache
    assert torch.equal(a["train"].pixels, b["train"].pixels) and a["train"].paths == b["train"].paths
    assert np.array_equal(a["train"].meta["orig_width"], b["train"].meta["orig_width"])
    c = load_dataset("chest_xray_folder", size=32, equalize="histogram", progress=False)
    assert not c.from_cache and len(list((tmp_path / "cache").glob("chest_xray_folder-*/manifest.json"))) == 2
    # a damaged cache file is rebuilt, not trusted
    for f in (tmp_path / "cache").glob("*/*.npy"):
        f.write_bytes(b"garbage")
    d = load_dataset("chest_xray_folder", size=32, progress=False)
    assert not d.from_cache and torch.equal(d["train"].pixels, a["train"].pixels)
    # arrays at their stored size are not cached (reading them is already fast)
    load_dataset("pneumoniamnist", progress=False)
    assert len(list((tmp_path / "cache").glob("pneumoniamnist*"))) == 0


def test_cxr14_with_images_multilabel_single_label_and_missing(tmp_path):
    d = tmp_path / "cxr14"
    (d / "images").mkdir(parents=True)
    rows = [
        ("00000001_000.png", "Cardiomegaly", 1),
        ("00000001_001.png", "Cardiomegaly|Emphysema", 1),
        ("00000002_000.png", "No Finding", 2),
        ("00000003_000.png", "Mass", 3),
        ("00000004_000.png", "Hernia", 4),
    ]
    lines = ["Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position"]
    for i, (name, labels, pid) in enumerate(rows):
        lines.append(f"{name},{labels},0,{pid},50,M,PA")
        if name != "00000004_000.png":  # one image is missing from the folder
            Image.fromarray(np.full((40, 40), 30 * i, np.uint8)).save(d / "images" / name)
    (d / "Data_Entry_2017_v2020.csv").write_text("\n".join(lines) + "\n")
    ds = load_dataset("cxr14", path=str(d), size=16, progress=False)
    s = ds["train"]
    assert s.task == "multilabel" and len(s) == 4 and s.labels.shape == (4, 4)
    assert s.class_names[0] == "Cardiomegaly"  # most frequent first
    assert s.class_counts() == {"Cardiomegaly": 2, "Emphysema": 1, "Hernia": 0, "Mass": 1}
    assert any("1 of 5 images named in the CSV are missing" in n for n in ds.notes)
    assert s.item_meta(0)["patient"] == "cxr14-1"
    single = load_dataset("cxr14", path=str(d), size=16, options={"label_mode": "single"}, progress=False)["train"]
    assert single.class_names[0] == "No Finding" and len(single) == 3  # the 2-finding row is left out
    (d / "train_val_list.txt").write_text("00000001_000.png\n00000001_001.png\n00000002_000.png\n")
    (d / "test_list.txt").write_text("00000003_000.png\n00000004_000.png\n")
    official = load_dataset("cxr14", path=str(d), size=16, progress=False)
    assert len(official["train"]) == 3 and len(official["test"]) == 1


def test_dicom_ordering_by_position_not_file_order(tmp_path):
    """Synthetic series: files named in reverse z order, time tags scrambled, slope/intercept set."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    series = generate_uid()
    for i, z in enumerate([-10.0, 0.0, -5.0]):
        meta = FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        ds = FileDataset(str(tmp_path / f"{i}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.Modality, ds.PatientID, ds.SeriesInstanceUID = "CT", "P1", series
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, z], [1, 0, 0, 0, 1, 0]
        ds.InstanceNumber, ds.StudyTime = 3 - i, f"1200{i}0"
        ds.Rows = ds.Columns = 8
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.RescaleSlope, ds.RescaleIntercept = 2, -1000
        ds.PixelData = np.full((8, 8), int((z + 20) * 10), np.int16).tobytes()  # HU = 2 * v - 1000
        ds.save_as(tmp_path / f"{i}.dcm", enforce_file_format=True)
    out = load_dataset("ct_dicom", path=str(tmp_path), options={"window": [2000, 0]}, cache=False, progress=False)[
        "train"
    ]
    assert list(out.meta["slice_z"].astype(float)) == [-10.0, -5.0, 0.0]
    hu = np.array([2 * (z + 20) * 10 - 1000 for z in (-10.0, -5.0, 0.0)])
    expected = np.clip((hu + 1000) / 2000, 0, 1)
    np.testing.assert_allclose(out.pixels[:, 0, 0, 0].numpy(), expected, atol=1e-6)


def test_window_and_display_orientation_formulas():
    np.testing.assert_allclose(apply_window(np.array([-160.0, 40.0, 240.0, 1000.0]), 400, 40), [0.0, 0.5, 1.0, 1.0])
    a = np.arange(6).reshape(2, 3)
    assert np.array_equal(display_orient(a, [1, 0, 0, 0, 1, 0]), a)
    assert np.array_equal(display_orient(a, [1, 0, 0, 0, -1, 0]), a[::-1])
    assert np.array_equal(display_orient(a, [-1, 0, 0, 0, 1, 0]), a[:, ::-1])


def test_nifti_orientation_radiological(tmp_path):
    """A bright voxel at patient anterior-right must land at the image's top-left."""
    import nibabel as nib

    vol = np.full((20, 20, 3), -1000, np.int16)
    vol[17, 17, 1] = 500  # RAS+: high x = patient Right, high y = Anterior
    nib.save(nib.Nifti1Image(vol, np.diag([1.0, 1.0, 2.0, 1.0])), tmp_path / "v.nii.gz")
    s = load_dataset("ct_nifti", path=str(tmp_path / "v.nii.gz"), cache=False, progress=False)["train"]
    assert len(s) == 3
    img = s.pixels[1, 0].numpy()
    r, c = np.unravel_index(img.argmax(), img.shape)
    assert (r, c) == (2, 2)  # top-left quadrant: anterior up, patient right on the left
    # the same volume stored L-P-S (flipped x and y axes) gives the same picture
    flipped = vol[::-1, ::-1]
    nib.save(
        nib.Nifti1Image(
            flipped,
            np.diag([-1.0, -1.0, 2.0, 1.0]) + np.array([[0, 0, 0, 19], [0, 0, 0, 19], [0, 0, 0, 0], [0, 0, 0, 0]]),
        ),
        tmp_path / "w.nii.gz",
    )
    s2 = load_dataset("ct_nifti", path=str(tmp_path / "w.nii.gz"), cache=False, progress=False)["train"]
    assert torch.equal(s2.pixels, s.pixels)


def test_generic_image_folder_without_splits_and_split_ratio(tmp_path):
    for cls in ("cats", "dogs"):
        for i in range(10):
            p = tmp_path / cls / f"{i}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((12, 9, 3), 20 * i, np.uint8)).save(p)  # RGB input
    ds = load_dataset("image_folder", path=str(tmp_path), size=8, split_ratio=0.8, progress=False)
    assert ds.class_names == ("cats", "dogs") and len(ds["train"]) == 16 and len(ds["test"]) == 4
    assert ds["train"].class_counts() == {"cats": 8, "dogs": 8}
    assert ds["train"].item_meta(0)["mode"] == "RGB"


def test_kaggle_zip_wrapper_folder_is_entered(tmp_path):
    root = tmp_path / "download" / "chest_xray"
    for split in ("train", "val"):
        for cls in ("NORMAL", "PNEUMONIA"):
            p = root / split / cls / "IM-0001-0001.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((10, 10), np.uint8)).save(p)
    (tmp_path / "download" / "__MACOSX").mkdir()
    ds = load_dataset("chest_xray_folder", path=str(tmp_path / "download"), size=8, cache=False, progress=False)
    assert set(ds) == {"train", "val"}

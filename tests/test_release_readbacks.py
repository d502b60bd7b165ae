"""A radgen release read back by the tools users already have (issue 35): MONAI's ``LoadImage`` (PNG and DICOM),
Hugging Face ``datasets``' ``imagefolder`` and medmnist's dataset class (with the subclass a user writes, as
``docs/tutorials/release.md`` shows). Each reader must give back every image and label of the release: the
pixels of the release's ``.npz`` and its labels, split by split.

Each tool's test skips with the reason when the tool is absent: MONAI and ``datasets`` are in the ``dev`` extra
(CI runs them); medmnist is not (its package requires torchvision, which radgen's environment excludes), so its
class is tested where it is installed, and ``test_the_npz_has_medmnists_keys_and_dtypes`` checks without it what
medmnist's ``MedMNIST2D`` reads (``{split}_images`` uint8 (N, 28, 28) through ``PIL.Image.fromarray``,
``{split}_labels`` (N, 1) cast with ``astype(int)``) against the official PneumoniaMNIST file of the data kit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from radgen.models.base import build_model
from radgen.models.export import save_exported

SPLITS = ("train", "val", "test")
CLASS_NAMES = ["normal", "pneumonia"]


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory, data_dir) -> Path:
    """A release (PNG, .npz and DICOM over three splits) of an untrained tiny class-conditional VAE whose
    run learned from PneumoniaMNIST (the release's privacy audit reads the real training split)."""
    from radgen.api import release

    root = tmp_path_factory.mktemp("readback")
    run = root / "cvae-run"
    model = build_model(
        {"name": "vae", "latent_dim": 2, "hidden": [16], "conditional": "one_hot"},
        image_size=28,
        channels=1,
        num_classes=2,
    )
    save_exported(model, run / "export", extra={"data": {"class_names": CLASS_NAMES}})
    (run / "config.yaml").write_text(
        yaml.safe_dump({"model": {"name": "vae"}, "data": {"name": "pneumoniamnist", "val_from_train": 0.1}})
    )
    (run / "run.json").write_text(json.dumps({"model": "vae"}))
    out, _ = release(
        run, n=24, out=root / "rel", formats=("png", "npz", "dicom"), splits=(0.5, 0.25, 0.25), progress=False
    )
    return out


def _truth(out: Path) -> tuple[dict, dict[str, dict[int, tuple[np.ndarray, int]]]]:
    """(the datasheet, split -> {image number -> (pixels, label)}) from the release's .npz: image number i is
    ``synthetic_{i:05d}`` of every format, the i - (images of the splits before) th row of ``{split}_images``."""
    sheet = json.loads((out / "datasheet.json").read_text())
    z = np.load(out / f"{sheet['name']}.npz", allow_pickle=False)
    truth, start = {}, 0
    for split in SPLITS:
        imgs, labels = z[f"{split}_images"], z[f"{split}_labels"]
        truth[split] = {start + j: (imgs[j], int(labels[j, 0])) for j in range(len(imgs))}
        start += len(imgs)
    assert start == sheet["n"] and all(truth[s] for s in SPLITS)  # every split holds images
    return sheet, truth


def _number(path: str | Path) -> int:
    return int(Path(path).stem.split("_")[1])  # synthetic_00012.png -> 12


def _label_of_folder(sheet: dict) -> dict[str, int]:
    """Class folder name -> the release's label index (the datasheet maps classes to folders)."""
    return {folder: sheet["label_index"][name] for name, folder in sheet["class_folders"].items()}


def test_monai_loadimage_reads_every_png_and_dicom_of_the_release(release_dir):
    """MONAI's ``LoadImage`` (PIL reader for PNG, pydicom reader for DICOM) gives the release's pixels; its
    spatial axes are (x, y), so each image is the .npz row transposed. Labels: the class folder, through the
    datasheet's mapping, in a MONAI ``Dataset`` of {image, label} dicts (MONAI's own pattern)."""
    pytest.importorskip("monai", reason="MONAI is not installed (pip install -e '.[dev]' installs monai==1.6.1)")
    from monai.data import Dataset
    from monai.transforms import LoadImage, LoadImaged

    sheet, truth = _truth(release_dir)
    folder_label = _label_of_folder(sheet)
    for kind, root, reader in (("png", release_dir, "PILReader"), ("dcm", release_dir / "dicom", "PydicomReader")):
        load = LoadImage(image_only=True, reader=reader)
        for split in SPLITS:
            files = sorted((root / split).rglob(f"*.{kind}"))
            items = [{"image": str(f), "label": folder_label[f.parent.name]} for f in files]
            ds = Dataset(items, transform=LoadImaged(keys="image", image_only=True, reader=reader))
            assert sorted(_number(f) for f in files) == sorted(truth[split])  # every image, no other
            for f, item in zip(files, ds):
                pixels, label = truth[split][_number(f)]
                np.testing.assert_array_equal(item["image"].numpy().T, pixels)
                assert item["label"] == label
            np.testing.assert_array_equal(load(str(files[0])).numpy().T, truth[split][_number(files[0])][0])


def test_hf_datasets_imagefolder_reads_every_image_and_label_of_the_release(release_dir, tmp_path, monkeypatch):
    """``load_dataset("imagefolder", data_dir=RELEASE)``: splits train/validation/test (``datasets`` names the
    ``val`` folder ``validation``), labels from the class folders. Its ``ClassLabel`` indexes the folder names in
    sorted order, so a label is mapped through its name to the release's index (equal here: normal < pneumonia)."""
    pytest.importorskip("datasets", reason="datasets is not installed (pip install -e '.[dev]' installs it)")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # imagefolder is packaged with datasets: nothing is downloaded
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    from datasets import Image as HFImage
    from datasets import load_dataset

    sheet, truth = _truth(release_dir)
    folder_label = _label_of_folder(sheet)
    dsd = load_dataset("imagefolder", data_dir=str(release_dir), cache_dir=str(tmp_path / "hf"))
    assert set(dsd) == {"train", "validation", "test"}
    for split, hf_split in zip(SPLITS, ("train", "validation", "test")):
        ds = dsd[hf_split]
        names = ds.features["label"].names
        assert len(ds) == len(truth[split]) == sum(sheet["counts"][split].values())
        paths = ds.cast_column("image", HFImage(decode=False))["image"]
        assert sorted(_number(p["path"]) for p in paths) == sorted(truth[split])  # no DICOM or other file in
        for row, p in zip(ds, paths):
            pixels, label = truth[split][_number(p["path"])]
            np.testing.assert_array_equal(np.asarray(row["image"]), pixels)
            assert folder_label[names[row["label"]]] == label


def test_the_npz_has_medmnists_keys_and_dtypes(release_dir, data_dir):
    """What medmnist's ``MedMNIST2D`` reads, compared with the official pneumoniamnist.npz: the same six split
    arrays (names, dtypes, image and label shapes), images that ``PIL.Image.fromarray`` opens in the same mode,
    labels that ``astype(int)`` turns into the class index; the one extra member is radgen's JSON string, which
    loads without pickle."""
    sheet, truth = _truth(release_dir)
    ours = np.load(release_dir / f"{sheet['name']}.npz", allow_pickle=False)
    official = np.load(data_dir / "pneumoniamnist" / "pneumoniamnist.npz", allow_pickle=False)
    assert set(ours.files) - set(official.files) == {"radgen_release"}
    assert set(official.files) - set(ours.files) == set()
    for key in official.files:
        assert ours[key].dtype == official[key].dtype == np.uint8, key
        assert ours[key].shape[1:] == official[key].shape[1:], key
        assert len(ours[key]) == len(truth[key.split("_")[0]]), key
    for split in SPLITS:
        img, target = ours[f"{split}_images"][0], ours[f"{split}_labels"][0].astype(int)
        assert Image.fromarray(img).mode == Image.fromarray(official[f"{split}_images"][0]).mode == "L"
        assert target.shape == (1,) and int(target[0]) in (0, 1)
    assert json.loads(str(ours["radgen_release"]))["class_names"] == CLASS_NAMES


def test_medmnist_class_reads_the_release_npz_with_a_three_line_subclass(release_dir, tmp_path, monkeypatch):
    """medmnist's ``PneumoniaMNIST`` opens ``ROOT/pneumoniamnist.npz`` and asserts the official split sizes in
    ``__len__``; the subclass a user writes lifts that assertion, and the release's .npz is linked under that
    name. medmnist's own class then reads every image and label of the release."""
    monkeypatch.setenv("HOME", str(tmp_path))  # medmnist makes ~/.medmnist when imported
    medmnist = pytest.importorskip(
        "medmnist", reason="medmnist is not installed (its package requires torchvision, which radgen excludes)"
    )

    class SyntheticPneumoniaMNIST(medmnist.PneumoniaMNIST):
        def __len__(self):
            return self.imgs.shape[0]  # medmnist asserts the official split sizes here

    sheet, truth = _truth(release_dir)
    root = tmp_path / "medmnist_root"
    root.mkdir()
    (root / "pneumoniamnist.npz").symlink_to(release_dir / f"{sheet['name']}.npz")
    with pytest.raises(AssertionError):  # medmnist's class as it is refuses a file of another length
        len(medmnist.PneumoniaMNIST(split="train", root=str(root)))
    for split in SPLITS:
        ds = SyntheticPneumoniaMNIST(split=split, root=str(root))
        expected = [truth[split][i] for i in sorted(truth[split])]
        assert len(ds) == len(expected)
        for (img, target), (pixels, label) in zip(ds, expected):
            np.testing.assert_array_equal(np.asarray(img), pixels)
            assert target.tolist() == [label]

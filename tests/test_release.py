"""radgen release (issue 22): a synthetic dataset in the Kaggle folder layout, a MedMNIST-style .npz and
DICOM, with a datasheet whose hashes match the files, refused when the memorization audit flags copies."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from radgen.cli import main
from radgen.models.base import build_model
from radgen.models.export import save_exported
from radgen.release import class_counts, split_counts


def test_largest_remainder_counts_by_hand():
    assert split_counts(10, (0.8, 0.1, 0.1)) == {"train": 8, "val": 1, "test": 1}
    assert split_counts(7, (0.5, 0.25, 0.25)) == {
        "train": 3,
        "val": 2,
        "test": 2,
    }  # 3.5, 1.75, 1.75: remainders .75 first
    assert class_counts(10, {0: 1214, 1: 3494}) == {0: 3, 1: 7}  # 2.58, 7.42
    assert sum(class_counts(101, {0: 1.0, 1: 1.0, 2: 1.0}).values()) == 101


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir) -> Path:
    """A run folder of an (untrained) tiny class-conditional VAE on PneumoniaMNIST 28 px."""
    d = tmp_path_factory.mktemp("rel") / "cvae-run"
    model = build_model(
        {"name": "vae", "latent_dim": 2, "hidden": [16], "conditional": "one_hot"},
        image_size=28,
        channels=1,
        num_classes=2,
    )
    save_exported(model, d / "export", extra={"data": {"class_names": ["normal", "pneumonia"]}})
    data = {"name": "pneumoniamnist", "val_from_train": 0.1}
    (d / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "vae"}, "data": data}))
    (d / "run.json").write_text(json.dumps({"model": "vae"}))
    return d


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_release_round_trip(run, tmp_path, capsys):
    from radgen.data import load_dataset

    out = tmp_path / "release"
    args = [str(run), "--n", "30", "--out", str(out), "--format", "png,npz,dicom", "--splits", "0.6,0.2,0.2"]
    assert main(["release", *args, "--no-progress"]) == 0
    sheet = json.loads((out / "datasheet.json").read_text())
    assert sheet["n"] == 30 and sheet["class_names"] == ["normal", "pneumonia"]
    assert {s: sum(c.values()) for s, c in sheet["counts"].items()} == {"train": 18, "val": 6, "test": 6}
    # the training split's class mix (carved train of PneumoniaMNIST: about 26 % normal)
    normal = sum(c["normal"] for c in sheet["counts"].values())
    assert 5 <= normal <= 11

    # the folder layout loads back with the stated counts
    ds = load_dataset("image_folder", path=str(out), cache=False, progress=False)
    for split in ("train", "val", "test"):
        assert ds[split].class_counts() == sheet["counts"][split]

    # the .npz holds the same pixels as the PNGs, with the same labels
    z = np.load(out / f"{sheet['name']}.npz", allow_pickle=False)
    assert z["train_images"].shape == (18, 28, 28) and z["train_labels"].shape == (18, 1)
    first = sorted((out / "train").rglob("*.png"))[0]
    i = int(first.stem.split("_")[1])
    np.testing.assert_array_equal(np.asarray(Image.open(first)), z["train_images"][i])
    assert z["train_labels"][i, 0] == sheet["label_index"][first.parent.name]

    # DICOM: derived, synthetic, no patient identifiers, same pixels
    import pydicom

    dcm = pydicom.dcmread(out / "dicom" / "train" / first.parent.name / f"{first.stem}.dcm")
    assert list(dcm.ImageType) == ["DERIVED", "SECONDARY"] and dcm.ConversionType == "SYN"
    assert "SYNTHETIC" in dcm.SeriesDescription and "Synthetic image" in dcm.ImageComments
    assert str(dcm.PatientName) == "" and dcm.PatientID == ""
    np.testing.assert_array_equal(dcm.pixel_array, z["train_images"][i])

    # every hash in SHA256SUMS matches its file, and the datasheet records SHA256SUMS's own hash
    lines = (out / "SHA256SUMS").read_text().splitlines()
    assert len(lines) == 30 + 30 + 1  # PNGs, DICOMs, the .npz
    for line in lines:
        digest, rel = line.split("  ", 1)
        assert sha(out / rel) == digest
    assert sha(out / "SHA256SUMS") == sheet["sha256sums_sha256"]
    assert sheet["generator"]["weights_sha256"] == sha(run / "export" / "weights.safetensors")
    assert "Intended use" in (out / "DATASHEET.md").read_text()

    # --overwrite replaces the release (a folder with sub-folders) but not once a foreign file is in it
    assert main(["release", *args, "--no-progress", "--overwrite", "--seed", "1"]) == 0
    (out / "train" / "mine.txt").write_text("x")
    capsys.readouterr()
    assert main(["release", *args, "--no-progress", "--overwrite"]) == 2
    assert "mine.txt" in capsys.readouterr().err and (out / "train" / "mine.txt").is_file()


def _replaying(monkeypatch, images: torch.Tensor) -> None:
    """Make the exported model's sample() return random images of ``images``."""
    import radgen.models

    real_load = radgen.models.load_exported

    def load(folder, **kw):
        model, meta = real_load(folder, **kw)

        def sample(n, *, labels=None, generator=None, **_):
            return images[torch.randint(0, len(images), (n,), generator=generator)]

        model.sample = sample
        return model, meta

    monkeypatch.setattr(radgen.models, "load_exported", load)


def test_release_refuses_a_copying_generator(run, tmp_path, monkeypatch, capsys):
    from radgen.data import load_dataset

    _replaying(monkeypatch, load_dataset("pneumoniamnist", val_from_train=0.1, progress=False)["train"].images)
    out = tmp_path / "copies"
    assert main(["release", str(run), "--n", "40", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("radgen: error:") and "--force" in err and err.count("\n") == 1
    assert not out.exists()
    assert main(["release", str(run), "--n", "40", "--out", str(out), "--no-progress", "--force"]) == 0
    sheet = json.loads((out / "datasheet.json").read_text())
    assert sheet["forced"] and sheet["memorization_audit"]["fraction_flagged"] > 0.9
    assert "copy audit flags" in sheet["forced_over"]
    # the refusal and the forced release are both in the run's audit log, and in the datasheet
    assert [e["decision"] for e in sheet["audit_log"]][-2:] == ["refused", "released with --force"]
    md = (out / "DATASHEET.md").read_text()
    assert "| refused |" in md and "Every audit of this run" in md and "Membership inference" in md


def test_release_of_unseen_real_images_is_flagged_at_about_the_nominal_rate(run, tmp_path, monkeypatch):
    """Real images the run never trained on (MedMNIST's official val, disjoint from the carved train and val)
    stand in for a generator that copies nothing: flagged at about the nominal 1 % (plus the official val's few
    films identical to training films, which are copies), and released; membership inference near chance."""
    from radgen.data import load_dataset

    _replaying(monkeypatch, load_dataset("pneumoniamnist", val_from_train=0.1, progress=False)["val_official"].images)
    out = tmp_path / "novel"
    assert main(["release", str(run), "--n", "150", "--out", str(out), "--no-progress"]) == 0
    sheet = json.loads((out / "datasheet.json").read_text())
    rate = sheet["memorization_audit"]["fraction_flagged"]
    assert sheet["memorization_audit"]["nominal_rate"] == 0.01
    assert rate <= 0.06, rate  # nominal 0.01; binomial sd at n=150 about 0.008, plus the official val's duplicates
    assert abs(sheet["privacy"]["membership_inference"]["black_box"]["auc"] - 0.5) < 0.1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--n", "0", "--n 0"), ("--format", "tiff", "--format tiff"), ("--splits", "0.5,0.2,0.2", "--splits")],
)
def test_release_refuses_bad_options_before_writing(run, tmp_path, capsys, option, value, message):
    out = tmp_path / "x"
    args = ["release", str(run), "--n", "5", "--out", str(out), "--no-progress", option, value]
    assert main(args) == 2
    assert message in capsys.readouterr().err and not out.exists()
